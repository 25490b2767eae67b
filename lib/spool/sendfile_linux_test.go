package spool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// countSends counts the sendfile calls until the test ends, and makes
// the n-th (from 1) fail with err, if n > 0.
func countSends(t *testing.T, n int, err error) *int {
	calls := new(int)
	t.Cleanup(func() { sendfile = unix.Sendfile })
	sendfile = func(out, in int, off *int64, count int) (int, error) {
		*calls++
		if *calls == n {
			if err == nil {
				return 0, nil // the file at its end
			}
			return 0, err
		}
		return unix.Sendfile(out, in, off, min(count, 50000)) // several calls
	}
	return calls
}

// backedSpool is a spool backed by a file holding a junk prefix and msg.
func backedSpool(t *testing.T, msg []byte) *Spool {
	name := filepath.Join(t.TempDir(), "item")
	if err := os.WriteFile(name, append([]byte("junk\n"), msg...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s := New(MemLimit)
	t.Cleanup(func() { s.Close() })
	s.Backed(f, 5)
	if _, err := s.Write(msg); err != nil || !s.ref {
		t.Fatalf("not backed: %v", err)
	}
	return s
}

// pipeCopy copies r into a pipe and returns what came out of it.
func pipeCopy(t *testing.T, r io.Reader) ([]byte, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(pr); got <- b }()
	_, err = io.Copy(pw, r)
	pw.Close()
	return <-got, err
}

// TestSendfile: a backed spool's message goes to an *os.File by
// sendfile, byte for byte, to a pipe and to a regular file; to a file
// open for appending, which sendfile refuses, through memory.
func TestSendfile(t *testing.T) {
	msg := make([]byte, 300<<10)
	for i := range msg {
		msg[i] = ":ab\n"[i%4]
	}
	s := backedSpool(t, msg)
	calls := countSends(t, 0, nil)
	got, err := pipeCopy(t, s.Reader())
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("to a pipe: %d octets of %d, %v", len(got), len(msg), err)
	}
	if *calls < 2 {
		t.Errorf("to a pipe: %d sendfile calls", *calls)
	}
	// Full and non-blocking: the rest goes through memory, which waits.
	calls = countSends(t, 2, unix.EAGAIN)
	got, err = pipeCopy(t, s.Reader())
	if err != nil || !bytes.Equal(got, msg) || *calls != 2 {
		t.Fatalf("after EAGAIN: %d octets of %d, %v, %d sendfile calls", len(got), len(msg), err, *calls)
	}
	for _, flag := range []int{0, os.O_APPEND} {
		*calls = 0
		name := filepath.Join(t.TempDir(), "out")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|flag, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("before\n")
		r := s.Reader()
		r.Read(make([]byte, 10)) // WriteTo starts where reading stopped
		_, err = io.Copy(f, r)
		f.Close()
		got, _ := os.ReadFile(name)
		if err != nil || !bytes.Equal(got, append([]byte("before\n"), msg[10:]...)) {
			t.Errorf("to a file (flags %#x): %d octets, %v", flag, len(got), err)
		}
		if *calls == 0 {
			t.Errorf("to a file (flags %#x): sendfile not tried", flag)
		}
	}
}

// TestSendfileFails: a failure of sendfile midway is temporary, and a
// file that ends before the message is said to be cut short.
func TestSendfileFails(t *testing.T) {
	msg := bytes.Repeat([]byte(":x\n"), 100<<10)
	s := backedSpool(t, msg)
	countSends(t, 3, unix.EIO)
	if _, err := pipeCopy(t, s.Reader()); sysexit.Code(err) != sysexit.TempFail || !bytes.Contains([]byte(err.Error()), []byte("sendfile")) {
		t.Errorf("sendfile failing: %v (exit %d), want a temporary error", err, sysexit.Code(err))
	}
	countSends(t, 2, nil)
	if _, err := pipeCopy(t, s.Reader()); sysexit.Code(err) != sysexit.TempFail || !bytes.Contains([]byte(err.Error()), []byte("short")) {
		t.Errorf("file ending early: %v (exit %d), want a temporary error", err, sysexit.Code(err))
	}
	// The reader gone: the write after says so (and on standard output
	// would be death by SIGPIPE: split-sigpipe.txtar).
	calls := countSends(t, 0, nil)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer pw.Close()
	if _, err := io.Copy(pw, s.Reader()); !errors.Is(err, syscall.EPIPE) || *calls != 1 {
		t.Errorf("reader gone: %v after %d sendfile calls, want EPIPE after 1", err, *calls)
	}
}

// TestOwnFileNotSent: the spool's own file, written over by the next
// message, never goes by sendfile: a pipe would hold its pages, not a
// copy, and its reader could find the next message in place of this one.
func TestOwnFileNotSent(t *testing.T) {
	calls := countSends(t, 0, nil)
	s := New(1000)
	defer s.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var want []byte
	for _, c := range []byte("ab") {
		m := bytes.Repeat([]byte{c}, 16<<10) // two fit in the pipe unread
		want = append(want, m...)
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(m); err != nil || s.f == nil {
			t.Fatalf("not in a file: %v", err)
		}
		if _, err := io.Copy(pw, s.Reader()); err != nil {
			t.Fatal(err)
		}
	}
	pw.Close()
	if got, _ := io.ReadAll(pr); !bytes.Equal(got, want) {
		t.Errorf("the pipe gave %q... (%d octets), want %q... (%d)", got[:4], len(got), want[:4], len(want))
	}
	if *calls != 0 {
		t.Errorf("%d sendfile calls from the spool's own file", *calls)
	}
}
