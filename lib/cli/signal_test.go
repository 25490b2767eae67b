package cli

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestNotifyStop: SIGTERM, SIGINT and SIGHUP come to the channel, with
// their kill(1) names; SIGHUP ignored where the program started stays
// ignored (not relayed).
func TestNotifyStop(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	c := make(chan os.Signal, 4)
	NotifyStop(c)
	defer signal.Stop(c)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		syscall.Kill(os.Getpid(), sig)
		select {
		case got := <-c:
			if got != sig || SignalName(got) != map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig] {
				t.Errorf("got %v (%s); want %v", got, SignalName(got), sig)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v not relayed", sig)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case got := <-c:
		t.Errorf("ignored SIGHUP relayed: %v", got)
	case <-time.After(100 * time.Millisecond):
	}
}
