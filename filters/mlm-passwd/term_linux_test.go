package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/password"
)

// pty returns the two ends of a new pseudo-terminal: the master, which
// the test reads and types into, and the terminal a program gets.
func pty(t *testing.T) (master, term *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return master, term
}

// typing is mlm-passwd run on a terminal: what it writes there is
// screen, and type answers a prompt.
type typing struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	term   *os.File
	screen mlmtest.LockedBuffer
}

func startTyping(t *testing.T, dir string) *typing {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), prog)
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	ty := &typing{t: t}
	ty.master, ty.term = pty(t)
	ty.cmd = exec.Command(bin, dir)
	ty.cmd.Stdin, ty.cmd.Stdout, ty.cmd.Stderr = ty.term, ty.term, ty.term
	ty.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := ty.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b := make([]byte, 512)
		for {
			n, err := ty.master.Read(b)
			ty.screen.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	return ty
}

// await waits for the screen to show s after the first n octets, and
// returns where it ends. (Its limit is for a program that never asks;
// no test depends on how fast it does.)
func (ty *typing) await(s string, n int) int {
	ty.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if i := strings.Index(ty.screen.String()[n:], s); i >= 0 {
			return n + i + len(s)
		}
	}
	ty.t.Fatalf("the screen never showed %q: %q", s, ty.screen.String())
	return 0
}

func (ty *typing) typ(s string) {
	ty.t.Helper()
	if _, err := ty.master.WriteString(s); err != nil {
		ty.t.Fatal(err)
	}
}

// wait returns the exit status, and checks that the terminal echoes
// again.
func (ty *typing) wait() int {
	ty.t.Helper()
	err := ty.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	case err != nil:
		ty.t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(ty.term.Fd()), unix.TCGETS)
	if err != nil {
		ty.t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		ty.t.Errorf("the terminal was left without echo")
	}
	return code
}

// TestTerminal: on a terminal, mlm-passwd asks for the password twice,
// and what is typed is not shown; two that differ change nothing (65);
// an interrupt at the prompt leaves the terminal echoing.
func TestTerminal(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		dir := newList(t)
		ty := startTyping(t, dir)
		n := ty.await("New password: ", 0)
		ty.typ("s3cret word\n")
		ty.await("Retype new password: ", n)
		ty.typ("s3cret word\n")
		if code := ty.wait(); code != 0 {
			t.Fatalf("exit %d: %q", code, ty.screen.String())
		}
		if !password.Check(stored(t, dir), "s3cret word") {
			t.Errorf("the password set is not the one typed")
		}
		if s := ty.screen.String(); strings.Contains(s, "s3cret") {
			t.Errorf("the password was shown as typed: %q", s)
		}
	})
	t.Run("differ", func(t *testing.T) {
		dir := newList(t)
		ty := startTyping(t, dir)
		n := ty.await("New password: ", 0)
		ty.typ("one\n")
		n = ty.await("Retype new password: ", n)
		ty.typ("two\n")
		if code := ty.wait(); code != 65 {
			t.Fatalf("exit %d, want 65: %q", code, ty.screen.String())
		}
		ty.await("mlm-passwd: the two passwords typed differ; nothing is changed", n)
		if _, err := os.Stat(filepath.Join(dir, listdir.Password)); !os.IsNotExist(err) {
			t.Errorf("a password was set from two that differ: %v", err)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		dir := newList(t)
		ty := startTyping(t, dir)
		ty.await("New password: ", 0)
		if err := ty.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := ty.wait(); code != 128+int(syscall.SIGINT) {
			t.Errorf("exit %d, want death by SIGINT: %q", code, ty.screen.String())
		}
		if _, err := os.Stat(filepath.Join(dir, listdir.Password)); !os.IsNotExist(err) {
			t.Errorf("a password was set: %v", err)
		}
	})
}
