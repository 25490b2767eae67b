// peakrss runs a command and prints its peak resident set size in KiB on
// standard error as the last line, "peakrss: N". The tests measure
// through it because Linux counts a parent's peak in a child's ru_maxrss
// when the child is started with vfork, as Go does: a small parent keeps
// that floor low.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peakrss command [args...]")
		os.Exit(64)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "peakrss: %v\n", err)
		os.Exit(75)
	}
	fmt.Fprintf(os.Stderr, "peakrss: %d\n", cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	os.Exit(cmd.ProcessState.ExitCode())
}
