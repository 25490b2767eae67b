package mlmtest

import (
	"syscall"
	"time"
)

// SpinCPU uses d of the process's CPU, most of it in its own loop (a
// look at the CPU used is a system call): samples for a CPU profile,
// however busy the host. Its result is there to keep the loop.
//
//go:noinline
func SpinCPU(d time.Duration) (x uint64) {
	for start := cpuUsed(); cpuUsed()-start < d; {
		for i := range 1 << 20 {
			x = x*31 + uint64(i)
		}
	}
	return x
}

// cpuUsed is the CPU the process has used so far.
func cpuUsed() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
