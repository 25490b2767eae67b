package spool

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
	"mlm/lib/wire"
)

func TestSpool(t *testing.T) {
	s := New(10)
	defer s.Close()
	big := make([]byte, 2*readSize+12345) // three of WriteTo's reads
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	for _, want := range [][]byte{[]byte("short"), bytes.Repeat([]byte("0123456789"), 1000), nil, []byte("x"), big, []byte("after")} {
		for i := 0; i < len(want); i += 7000 {
			s.Write(want[i:min(i+7000, len(want))])
		}
		got, err := io.ReadAll(s.Reader())
		if err != nil || !bytes.Equal(got, want) || s.Len() != int64(len(want)) {
			t.Fatalf("spool of %d octets gave %d: %v", len(want), len(got), err)
		}
		var copied bytes.Buffer // through the Reader's WriteTo, if it has one
		if n, err := io.Copy(&copied, s.Reader()); err != nil || n != int64(len(want)) || !bytes.Equal(copied.Bytes(), want) {
			t.Fatalf("spool of %d octets copied %d (%d): %v", len(want), copied.Len(), n, err)
		}
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if s.f == nil {
		t.Errorf("spool over its limit did not move to a file")
	}
}

// TestSpoolFileUnlinked: the file a message beyond the memory limit
// goes to has no name in TMPDIR, even while it is in use: a stage killed
// with it open, as a crash or a queue runner's time limit ends one,
// leaves no copy of the post behind to fill the disk.
func TestSpoolFileUnlinked(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := New(10)
	defer s.Close()
	s.Write(bytes.Repeat([]byte("a post's line\n"), 100))
	if !s.InFile() {
		t.Fatal("spool over its limit did not move to a file")
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("TMPDIR holds %s while the spool is in use; want its file unlinked", e.Name())
	}
}

// TestCopyError: a copy from the spool's file stops at the first failed
// write and says how much went.
func TestCopyError(t *testing.T) {
	s := New(10)
	defer s.Close()
	s.Write(make([]byte, readSize+100))
	n, err := io.Copy(&mlmtest.FailAfter{N: readSize + 10}, s.Reader())
	if err == nil || n != readSize+10 {
		t.Fatalf("copy to a writer failing after %d octets: %d, %v", readSize+10, n, err)
	}
}

// TestSMTPSizeAgain: SMTPSize is counted once, and again after a Write or
// a Reset.
func TestSMTPSizeAgain(t *testing.T) {
	s := New(4)
	defer s.Close()
	for _, step := range []struct {
		write string
		reset bool
		want  int64
	}{{"a\n", false, 3}, {"", false, 3}, {".b\n", false, 7}, {"", true, 0}, {"c", false, 3}} {
		if step.reset {
			s.Reset()
		}
		s.Write([]byte(step.write))
		if got := s.SMTPSize(); got != step.want {
			t.Errorf("after %q (reset %v): SMTPSize %d, want %d", step.write, step.reset, got, step.want)
		}
	}
}

// wireSize is the size of m as SIZE (RFC 1870) counts it: as lib/wire
// encodes it for DATA, without the final dot line and without the dot
// that stuffing put before every line that starts with one.
func wireSize(t testing.TB, m []byte) int64 {
	var b bytes.Buffer
	d := wire.NewDataWriter(&b)
	if _, err := d.Write(m); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	data, ok := bytes.CutSuffix(b.Bytes(), []byte(".\r\n"))
	if !ok {
		t.Fatalf("%q: DATA %q has no final dot line", m, b.Bytes())
	}
	stuffed := 0
	for _, l := range bytes.SplitAfter(data, []byte("\r\n")) {
		if len(l) > 0 && l[0] == '.' {
			stuffed++
		}
	}
	return int64(len(data) - stuffed)
}

// TestSMTPSize: SMTPSize is the size SIZE counts of what lib/wire puts
// on the wire, whatever the line ends (a CRLF is sent as it is) and
// however many lines start with a dot, however the message was cut into
// writes.
func TestSMTPSize(t *testing.T) {
	for _, m := range []string{"", "a\n", ".\n", "a\n.b\n..\n", "x", "no LF at the end", "a\nb\n.", "\n\n.\n", "\r0", "a\r.b\r", "a\r\nb\r\n", "\r\n.\r\n\r", "x\r\r\n\n\r.", "a\r\n"} {
		for cut := 1; cut <= len(m)+1; cut++ {
			s := New(4)
			for i := 0; i < len(m); i += cut {
				s.Write([]byte(m[i:min(i+cut, len(m))]))
			}
			got, want := s.SMTPSize(), wireSize(t, []byte(m))
			if got != want {
				t.Errorf("%q in writes of %d: SMTPSize %d; the wire has %d", m, cut, got, want)
			}
			s.Close()
		}
	}
	s := New(4)
	defer s.Close()
	s.Write([]byte("a\r\nb\rc\n"))
	if got, want := s.SMTPSize(), wireSize(t, []byte("a\r\nb\rc\n")); got != want {
		t.Errorf("CRLF and a bare CR: SMTPSize %d; the wire has %d", got, want)
	}
}

func FuzzSMTPSize(f *testing.F) {
	for _, s := range []string{"a\n.b\n", "x\r\ny\r", ".", ""} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, m []byte, cut int) {
		if cut < 1 {
			cut = 1
		}
		s := New(8)
		defer s.Close()
		for i := 0; i < len(m); i += cut {
			s.Write(m[i:min(i+cut, len(m))])
		}
		if got, want := s.SMTPSize(), wireSize(t, m); got != want {
			t.Errorf("%q: SMTPSize %d; the wire has %d", m, got, want)
		}
	})
}

// TestBacked: a backed spool keeps a small message in memory, even once
// it has a file of its own, and a large one nowhere, reading it from its
// file; it refuses a file that does not hold the message, and says so if
// that file is cut short; after Reset it is an ordinary spool again.
func TestBacked(t *testing.T) {
	name := filepath.Join(t.TempDir(), "item")
	prefix := []byte("MLM1 x\nS <>\n")
	small := bytes.Repeat([]byte(":small\n"), 100)
	big := make([]byte, backedMem+5000)
	for i := range big {
		big[i] = ".a\n"[i%3]
	}
	if err := os.WriteFile(name, append(append(append([]byte{}, prefix...), small...), big...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := New(MemLimit)
	defer s.Close()
	s.Write(make([]byte, MemLimit+1)) // not backed: a file of its own
	if s.f == nil {
		t.Fatal("a large message not backed did not go to a file")
	}
	write := func(m []byte) error {
		for i := 0; i < len(m); i += 7000 {
			if _, err := s.Write(m[i:min(i+7000, len(m))]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range []struct {
		off  int64
		want []byte
		ref  bool
	}{{int64(len(prefix)), small, false}, {int64(len(prefix) + len(small)), big, true}} {
		s.Reset()
		s.Backed(f, m.off)
		if err := write(m.want); err != nil {
			t.Fatal(err)
		}
		if s.ref != m.ref || (m.ref && s.mem.Len() > 0) || (!m.ref && s.mem.Len() != len(m.want)) {
			t.Errorf("%d octets: read from the file %v (want %v), %d in memory", len(m.want), s.ref, m.ref, s.mem.Len())
		}
		got, err := io.ReadAll(s.Reader())
		var copied bytes.Buffer
		_, cerr := io.Copy(&copied, s.Reader())
		if err != nil || cerr != nil || !bytes.Equal(got, m.want) || !bytes.Equal(copied.Bytes(), m.want) {
			t.Fatalf("%d octets: read %d (%v), copied %d (%v)", len(m.want), len(got), err, copied.Len(), cerr)
		}
		if got, want := s.SMTPSize(), wireSize(t, m.want); got != want {
			t.Errorf("%d octets: SMTPSize %d, want %d", len(m.want), got, want)
		}
	}
	// A file that does not hold the message where it is said to.
	for _, off := range []int64{int64(len(prefix) + len(small) + 1), int64(len(prefix) + len(small) + len(big) - 10)} {
		s.Reset()
		s.Backed(f, off)
		if err := write(big); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("backed at %d, not the message's offset: %v (exit %d), want a temporary error", off, err, sysexit.Code(err))
		}
	}
	s.Reset()
	s.Backed(f, int64(len(prefix)+len(small)))
	if err := write(big); err != nil {
		t.Fatal(err)
	}
	// The file cut short behind the spool's back.
	if err := os.Truncate(name, int64(len(prefix)+len(small)+100)); err != nil {
		t.Fatal(err)
	}
	cutShort(t, s)
	// Not backed after Reset: a large message goes to the spool's file.
	s.Reset()
	s.Write(make([]byte, MemLimit+1))
	if s.ref || s.src != nil {
		t.Errorf("after Reset, not backed: still reads the input")
	}
	if got, _ := io.ReadAll(s.Reader()); len(got) != MemLimit+1 {
		t.Errorf("after Reset, not backed: read %d octets, want %d", len(got), MemLimit+1)
	}
}

// TestSpillRest: memory keeps a message's first octets, up to the limit,
// and the file only the rest; a message that fits after one that did not
// stays in memory; reads may switch from Read to WriteTo midway.
func TestSpillRest(t *testing.T) {
	s := New(100)
	defer s.Close()
	msg := func(n int, c byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = c + byte(i%7)
		}
		return b
	}
	var longest int64
	for _, m := range [][]byte{msg(250, 'a'), msg(50, 'k'), msg(100, 'r'), msg(3000, 'A'), msg(180, 'z')} {
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(m); i += 7 {
			if n, err := s.Write(m[i:min(i+7, len(m))]); err != nil || n != min(7, len(m)-i) {
				t.Fatalf("write: %d, %v", n, err)
			}
		}
		if got, want := s.mem.Len(), min(len(m), 100); got != want {
			t.Errorf("%d octets: %d in memory, want %d", len(m), got, want)
		}
		_, inFile := s.Reader().(*spillReader)
		if inFile != (len(m) > 100) {
			t.Errorf("%d octets: read from the file %v", len(m), inFile)
		}
		if s.InFile() != (longest > 0 || inFile) {
			t.Errorf("%d octets: InFile %v; want true from the first message that spilled on", len(m), s.InFile())
		}
		if inFile {
			// Written over from its start, never cut: as long as the
			// longest rest so far.
			longest = max(longest, int64(len(m)-100))
			if st, err := s.f.Stat(); err != nil || st.Size() != longest {
				t.Errorf("%d octets: the file holds %d (%v), want %d", len(m), st.Size(), err, longest)
			}
		}
		for _, first := range []int{0, 30, 100, 120, len(m)} {
			r := s.Reader()
			head := make([]byte, min(first, len(m)))
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatal(err)
			}
			var rest bytes.Buffer
			if _, err := io.Copy(&rest, r); err != nil || !bytes.Equal(append(head, rest.Bytes()...), m) {
				t.Fatalf("%d octets, %d read then copied: %d octets, %v", len(m), first, len(head)+rest.Len(), err)
			}
		}
	}
	// The file cut short behind the spool's back: a temporary error.
	if err := s.f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	cutShort(t, s)
}

// TestSpillFails: where the rest of a message cannot go to a file, Write
// says how much went to memory and fails, temporarily; the spool then
// holds just that much.
func TestSpillFails(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "none"))
	s := New(100)
	defer s.Close()
	m := bytes.Repeat([]byte("0123456789"), 15)
	n, err := s.Write(m)
	if n != 100 || sysexit.Code(err) != sysexit.TempFail || s.Len() != 100 {
		t.Fatalf("write of 150 with room for 100 and no file: %d, %v (exit %d), length %d", n, err, sysexit.Code(err), s.Len())
	}
	if got, err := io.ReadAll(s.Reader()); err != nil || !bytes.Equal(got, m[:100]) {
		t.Errorf("read back %d octets, %v; want the 100 in memory", len(got), err)
	}
}

// cutShort checks that s, whose file has been cut short behind its back,
// fails temporarily when read and when copied.
func cutShort(t *testing.T, s *Spool) {
	t.Helper()
	for _, how := range []func(io.Reader) error{
		func(r io.Reader) error { _, err := io.ReadAll(r); return err },
		func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err },
	} {
		if err := how(s.Reader()); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("file cut short: %v (exit %d), want a temporary error", err, sysexit.Code(err))
		}
	}
}

// TestSection: every section of what was written reads as those octets,
// whether it lies in memory, in the spool's file, across the two, or in
// the file a spool is backed by; one beyond what was written is a
// temporary error.
func TestSection(t *testing.T) {
	msg := make([]byte, 100000) // more than a backed spool holds

	for i := range msg {
		msg[i] = byte(i * 7 / 3)
	}
	spilled := New(1000)
	defer spilled.Close()
	spilled.Write(msg)
	backed := backedSpool(t, msg)
	for name, s := range map[string]*Spool{"spilled": spilled, "backed": backed} {
		for _, sec := range [][2]int64{{0, 100000}, {0, 1000}, {10, 990}, {990, 20}, {1000, 99000}, {2500, 500}, {99999, 1}, {100000, 0}, {0, 0}} {
			off, n := sec[0], sec[1]
			got, err := io.ReadAll(s.Section(off, n))
			if err != nil || !bytes.Equal(got, msg[off:off+n]) {
				t.Errorf("%s: section %d+%d: %d octets, %v", name, off, n, len(got), err)
			}
			var copied bytes.Buffer
			if k, err := io.Copy(&copied, s.Section(off, n)); err != nil || k != n || !bytes.Equal(copied.Bytes(), msg[off:off+n]) {
				t.Errorf("%s: section %d+%d copied: %d octets, %v", name, off, n, k, err)
			}
		}
		for _, sec := range [][2]int64{{-1, 10}, {0, 100001}, {99999, 2}, {10, -1}} {
			_, err := io.ReadAll(s.Section(sec[0], sec[1]))
			if sysexit.Code(err) != sysexit.TempFail {
				t.Errorf("%s: section %d+%d: %v; want a temporary error", name, sec[0], sec[1], err)
			}
		}
	}
}

// TestSectionPastReset: a section beyond what was written since the
// last Reset is a temporary error even where the spool's file, written
// over and not truncated, still holds the octets of a longer message
// before it: those are not this message's.
func TestSectionPastReset(t *testing.T) {
	s := New(1000)
	defer s.Close()
	s.Write(bytes.Repeat([]byte("old message\n"), 10000))
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	s.Write(bytes.Repeat([]byte("new\n"), 1250)) // 5000 octets
	for _, sec := range [][2]int64{{0, 6000}, {4000, 2000}, {1000, 4001}} {
		got, err := io.ReadAll(s.Section(sec[0], sec[1]))
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("section %d+%d of 5000 octets: %d octets, %v; want a temporary error", sec[0], sec[1], len(got), err)
		}
	}
}

// TestReadersAtOnce: readers of one spool, each copying the message
// to a writer of its own, from goroutines of their own, as
// mlm-sendmail's connections do for a record of verp=yes: each gets the
// message whole, whatever the others read meanwhile (a buffer shared
// among them would be written over under one still writing from it).
func TestReadersAtOnce(t *testing.T) {
	s := New(1 << 10)
	defer s.Close()
	want := make([]byte, 6*readSize+777) // most of it in the file
	for i := range want {
		want[i] = byte(i*13/7 + i>>18)
	}
	if _, err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	s.SMTPSize()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &yielding{}
			if _, err := io.Copy(w, s.Reader()); err != nil {
				t.Error(err)
			}
			got[i] = w.b
		}()
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(g, want) {
			t.Errorf("reader %d: %d octets, not the message's %d", i, len(g), len(want))
		}
	}
}

// yielding keeps what is written to it, letting the other goroutines
// run halfway through each write.
type yielding struct{ b []byte }

func (y *yielding) Write(p []byte) (int, error) {
	y.b = append(y.b, p[:len(p)/2]...)
	runtime.Gosched()
	time.Sleep(time.Millisecond)
	y.b = append(y.b, p[len(p)/2:]...)
	return len(p), nil
}
