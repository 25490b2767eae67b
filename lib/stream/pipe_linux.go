package stream

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is what the pipe f holds (F_GETPIPE_SZ), or 0 if it will not
// say.
func pipeSize(f *os.File) int {
	c, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	c.Control(func(fd uintptr) {
		if k, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
			n = k
		}
	})
	return n
}
