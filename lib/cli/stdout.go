package cli

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// ErrStdoutClosed is CheckStdout's error: standard output was closed
// when the program started.
var ErrStdoutClosed = errors.New("standard output: closed, so what is written there would be lost (>/dev/null throws it away)")

// CheckStdout returns ErrStdoutClosed, as a temporary failure (75), if
// the program was started with its standard output closed (">&-"). A
// program whose standard output carries its work (records, mail, the
// recipients left to retry) calls it before it writes anything.
//
// The Go runtime opens /dev/null in place of a closed standard
// descriptor, so that a file opened later cannot take its number. What
// a program writes there is thrown away and its writes succeed: a stage
// started with ">&-" would lose every record and exit 0, where a C
// program's first write fails with EBADF. The runtime opens /dev/null
// for reading and writing; a shell's ">/dev/null" opens it for writing
// only, and is the way to throw output away on purpose.
func CheckStdout() error { return sysexit.Temp(checkOutput(os.Stdout)) }

// checkOutput returns ErrStdoutClosed if f is /dev/null open for
// reading and writing, as the runtime opens it; nil for anything else,
// and if f cannot be looked at (its writes will say why).
func checkOutput(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	null, err := os.Stat(os.DevNull)
	if err != nil || !os.SameFile(fi, null) {
		return nil
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_ACCMODE != unix.O_RDWR {
		return nil
	}
	return ErrStdoutClosed
}
