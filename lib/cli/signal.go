package cli

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// NotifyStop relays to c the signals that ask a program to stop:
// SIGTERM (mlm-run's -t and its stop, a service manager's, an MTA's),
// SIGINT and SIGHUP; not one ignored where the program started (nohup's
// SIGHUP), which stays ignored, in the programs it starts too.
func NotifyStop(c chan<- os.Signal) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		if !signal.Ignored(sig) {
			signal.Notify(c, sig)
		}
	}
}

// SignalName is a signal's name as a one-line error gives it: "SIGTERM",
// not Go's "terminated".
func SignalName(sig os.Signal) string {
	if sn, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(sn); name != "" {
			return name
		}
	}
	return sig.String()
}
