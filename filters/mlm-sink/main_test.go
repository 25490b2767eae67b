package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mlm/lib/mlmtest"
)

// timeout bounds every wait of these tests.
const timeout = 10 * time.Second

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) {
	p := mlmtest.ScriptParams("testdata")
	p.Cmds = map[string]func(*testscript.TestScript, bool, []string){"chat": chat}
	for k, v := range mlmtest.Cmds {
		p.Cmds[k] = v
	}
	testscript.Run(t, p)
}

// chat ADDRFILE FILE waits for ADDRFILE, connects to the address in it,
// sends FILE with its LFs made CRLF in one write, and prints the replies
// (CRLF made LF) until the server closes.
func chat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: chat ADDRFILE FILE")
	}
	addr, err := waitAddr(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	c, err := net.DialTimeout("tcp", addr, timeout)
	ts.Check(err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	_, err = c.Write(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	ts.Check(err)
	out, err := io.ReadAll(c)
	ts.Check(err)
	ts.Stdout().Write(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")))
}

// waitAddr polls for the address file, which appears whole or not at all.
func waitAddr(name string) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(name)
		if err == nil {
			return strings.TrimSuffix(string(b), "\n"), nil
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sink starts the program with args and returns it with its address.
func sink(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	af := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(prog, append([]string{"-A", af, "-t", "30s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := waitAddr(af)
	if err != nil {
		t.Fatalf("no address file: %v (stderr %q)", err, stderr.String())
	}
	return cmd, &stdout, &stderr, addr
}

// wait waits for cmd to exit by itself and returns its exit status.
func wait(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatal("mlm-sink did not exit")
		return -1
	}
}

// TestSignal: SIGTERM and SIGINT stop the sink with the summary line on
// standard output and status 0, even with a connection open.
func TestSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmd, stdout, stderr, addr := sink(t, "-D", dir, "-L", filepath.Join(t.TempDir(), "ledger"))
			msg := "Subject: x\r\n\r\nhello\r\n"
			if err := smtp.SendMail(addr, nil, "a@x.example", []string{"b@x.example", "c@x.example"}, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			idle, err := net.DialTimeout("tcp", addr, timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			idle.SetDeadline(time.Now().Add(timeout))
			if _, err := idle.Read(make([]byte, 100)); err != nil {
				t.Fatalf("no greeting: %v", err)
			}
			cmd.Process.Signal(sig)
			if code := wait(t, cmd); code != 0 {
				t.Fatalf("exit status %d; want 0 (stderr %q)", code, stderr.String())
			}
			want := "connections=2 transactions=1 recipients=2 bytes=21 rejected=0 dropped=0\n"
			if stdout.String() != want || stderr.Len() != 0 {
				t.Errorf("stdout %q, stderr %q; want %q and nothing", stdout.String(), stderr.String(), want)
			}
		})
	}
}

// TestCountsLost: a counters line that cannot be written (a full disk
// under "> counts") is a failure, 75, not a run that went well.
func TestCountsLost(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	af := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(prog, "-A", af, "-t", "30s")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := waitAddr(af); err != nil {
		t.Fatalf("no address file: %v (stderr %q)", err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := wait(t, cmd); code != 75 || !strings.HasPrefix(stderr.String(), "mlm-sink: ") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 75 and one line", code, stderr.String())
	}
}

// TestNonLoopback: any address off loopback is a usage error, and
// nothing listens.
func TestNonLoopback(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:25", "example.org:25"} {
		af := filepath.Join(t.TempDir(), "addr")
		out, err := exec.Command(prog, "-l", a, "-A", af, "-t", "1s").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 {
			t.Errorf("-l %s: %v, %q; want exit 64", a, err, out)
		}
		if _, err := os.Stat(af); err == nil {
			t.Errorf("-l %s: address file written", a)
		}
	}
}

// TestDropAfterDot: the program's flag reaches the server; the client
// sees the connection end with no reply to its dot.
func TestDropAfterDot(t *testing.T) {
	cmd, stdout, _, addr := sink(t, "--drop-after-dot", "1")
	err := smtp.SendMail(addr, nil, "a@x.example", []string{"b@x.example"}, []byte("x\r\n"))
	if err == nil {
		t.Fatal("SendMail succeeded; want the connection dropped after the dot")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := wait(t, cmd); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if want := "connections=1 transactions=1 recipients=1 bytes=3 rejected=0 dropped=1\n"; stdout.String() != want {
		t.Errorf("stdout %q; want %q", stdout.String(), want)
	}
}
