package spool

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// maxSend is the most one sendfile(2) call is asked to copy.
const maxSend = 1 << 30

var sendfile = unix.Sendfile // a test's to replace

// sendTo copies the rest of the message to dst with sendfile(2). It
// reports done = false where the kernel cannot do it for this pair of
// files (dst opened for appending, say), having copied nothing, where
// dst is full and non-blocking, or where the reader of a pipe has gone;
// the caller then copies the rest through memory.
func (r *fileReader) sendTo(dst *os.File) (n int64, done bool, err error) {
	in, err := r.f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	out, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	done = true
	var serr error
	rerr := in.Read(func(sfd uintptr) bool {
		werr := out.Write(func(dfd uintptr) bool {
			for r.left > 0 {
				k, err := sendfile(int(dfd), int(sfd), &r.off, int(min(r.left, maxSend)))
				if k > 0 {
					n += int64(k)
					r.left -= int64(k)
				}
				switch {
				case errors.Is(err, unix.EAGAIN):
					// dst is non-blocking and full. Go may not be
					// watching it (made non-blocking by another
					// process): a write waits, or fails, as it
					// would have without sendfile.
					done = false
					return true
				case errors.Is(err, unix.EINTR):
				case err != nil && n == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)):
					done = false
					return true
				case errors.Is(err, unix.EPIPE):
					// The reader has gone. A write says so as Go
					// does: on standard output or error, death by
					// SIGPIPE, which a pipeline reads as the next
					// stage's doing (mlm-run), not as a failure.
					done = false
					return true
				case err != nil:
					serr = sysexit.Temp(&os.SyscallError{Syscall: "sendfile", Err: err})
					return true
				case k == 0:
					serr = r.short()
					return true
				}
			}
			return true
		})
		if serr == nil && werr != nil {
			serr = sysexit.Temp(werr)
		}
		return true
	})
	if serr == nil && rerr != nil {
		serr = sysexit.Temp(rerr)
	}
	return n, done, serr
}
