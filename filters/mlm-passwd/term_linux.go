package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// noEcho turns off the echo of the terminal f, if f is one, and returns
// what sets it back; ok is false if f is no terminal. Until restore is
// called, a signal that ends the program (an interrupt typed at the
// prompt) sets the echo back first, then ends it as it would have, so
// the shell is not left typing blind.
func noEcho(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ECHONL
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	ended := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		signal.Stop(sigs)
		return nil, false
	}
	go func() {
		defer close(ended)
		select {
		case sig := <-sigs:
			_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			select {} // the signal ends the program
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-ended
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}, true
}
