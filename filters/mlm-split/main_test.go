package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){prog: main, "peakrss": peakrss})
}

func TestScript(t *testing.T) { mlmtest.Run(t) }

// peakrss runs its arguments as a command and prints the command's peak
// resident set in KiB on standard error, "peakrss: N".
func peakrss() {
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
