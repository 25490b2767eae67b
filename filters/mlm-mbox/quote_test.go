package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"mlm/lib/stream"
)

// through passes in through a quoter, step octets a Write, and ends it.
func through(t *testing.T, style string, unquote bool, in string, step int) string {
	t.Helper()
	var b strings.Builder
	q := newQuoter(&b, style, unquote)
	for p := []byte(in); len(p) > 0; {
		k := min(step, len(p))
		if n, err := q.Write(p[:k]); n != k || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p[:k], n, err)
		}
		p = p[k:]
	}
	if _, err := q.end(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	quoteRE   = map[string]*regexp.Regexp{"mboxrd": regexp.MustCompile(`(?m)^(>*From )`), "mboxo": regexp.MustCompile(`(?m)^(From )`)}
	unquoteRE = map[string]*regexp.Regexp{"mboxrd": regexp.MustCompile(`(?m)^>(>*From )`), "mboxo": regexp.MustCompile(`(?m)^>(From )`)}
)

// FuzzQuote: however the octets come, a Write at a time, the quoter
// quotes as mboxrd's or mboxo's regular expression does, and unquotes
// as its reverse does; with mboxrd, unquoting gives back the input.
func FuzzQuote(f *testing.F) {
	f.Add("From x\n>From y\n>>From z\nFrom", 1, false)
	f.Add(">\n>F\n>Fro\nFrom\n>From\r\nxFrom \nFFrom \n>>>", 2, true)
	f.Add("a\nb\n>From ", 3, false)
	f.Fuzz(func(t *testing.T, in string, step int, mboxo bool) {
		style := "mboxrd"
		if mboxo {
			style = "mboxo"
		}
		step = 1 + max(step, -step, 0)%(len(in)+1)
		want := quoteRE[style].ReplaceAllString(in, ">$1")
		got := through(t, style, false, in, step)
		if got != want {
			t.Fatalf("%s quote(%q) by %d = %q; want %q", style, in, step, got, want)
		}
		back := through(t, style, true, got, step)
		if want := unquoteRE[style].ReplaceAllString(got, "$1"); back != want {
			t.Fatalf("%s unquote(%q) by %d = %q; want %q", style, got, step, back, want)
		}
		if style == "mboxrd" && back != in {
			t.Fatalf("mboxrd unquote(quote(%q)) = %q", in, back)
		}
	})
}

// longStream writes a stream of two records, each one line of size
// octets and then end after its header: one ">From " and x's, one '>'s
// and "From y", to a file, and returns its name.
func longStream(t *testing.T, size int, end string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "long.mlm")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := stream.NewWriter(f)
	chunk := make([]byte, 64<<10)
	for i, fill := range []byte{'x', '>'} {
		h := &stream.Header{ID: "l," + string(rune('1'+i)), Attrs: []stream.Attr{{Name: "received", Value: "1795867200"}}, Sender: stream.Path{Mailbox: "a@example.org"}}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: long\n\n")
		first, last := ">From ", ""
		if fill == '>' {
			first, last = "", "From y"
		}
		io.WriteString(w, first)
		for n := size - len(first) - len(last); n > 0; n -= len(chunk) {
			w.Write(bytes.Repeat([]byte{fill}, min(n, len(chunk))))
		}
		io.WriteString(w, last+end)
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return name
}

// allocated runs fn and returns the octets the heap allocated meanwhile.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// exportFile exports the stream in the file name to a new file and
// returns that one's name and the octets the export allocated.
func exportFile(t *testing.T, name string, a *args) (string, uint64) {
	t.Helper()
	in, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(name + ".out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var rerr error
	n := allocated(func() { rerr = run(a, in, out) })
	if rerr != nil {
		t.Fatal(rerr)
	}
	return out.Name(), n
}

// TestExportLongLine: records whose message is one line of 16 MiB
// without an LF export in a bounded amount of memory: under 4 MiB
// allocated in all (buffers: the stream reader's grows to 1 MiB on a
// file), a quarter of one line, so no line is held (go-mbox's Writer held it, and
// copied all of it again on each Write: quadratic). The mbox has the
// lines whole, one '>' added to each.
func TestExportLongLine(t *testing.T) {
	const size = 16 << 20
	mbox, n := exportFile(t, longStream(t, size, ""), &args{Export: true, Quoting: "mboxrd"})
	t.Logf("export allocated %d octets", n)
	if n > 4<<20 {
		t.Errorf("export of two lines of %d octets allocated %d octets", size, n)
	}
	// The mbox, read a line at a time, 64 KiB at most.
	out, err := os.Open(mbox)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	br := bufio.NewReaderSize(out, 64<<10)
	want := []struct {
		start string
		size  int
	}{
		{"From a@example.org Sat Nov 28 12:00:00 2026\n", 0},
		{"Subject: long\n", 0}, {"\n", 0},
		{">>From xx", size + 2},
		{"\n", 0},
		{"From a@example.org Sat Nov 28 12:00:00 2026\n", 0},
		{"Subject: long\n", 0}, {"\n", 0},
		{">>>>", size + 2},
		{"\n", 0},
	}
	for i, w := range want {
		var line []byte
		n, tail := 0, ""
		for {
			b, err := br.ReadSlice('\n')
			if len(line) == 0 {
				line = append(line, b[:min(len(b), len(w.start))]...)
			}
			n += len(b)
			tail += string(b)
			tail = tail[max(0, len(tail)-8):]
			if err == nil {
				break
			}
			if err != bufio.ErrBufferFull {
				t.Fatalf("line %d: %v", i+1, err)
			}
		}
		if w.size == 0 {
			w.size = len(w.start)
		}
		if string(line) != w.start || n != w.size {
			t.Errorf("line %d: %q… of %d octets; want %q… of %d", i+1, line, n, w.start, w.size)
		}
		if i == 8 && tail != ">From y\n" {
			t.Errorf("line %d ends %q", i+1, tail)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("more after the mbox: %v", err)
	}
}

// TestImportLongLine: the mbox of two lines of 16 MiB imports in a
// bounded amount of memory too, under 4 MiB allocated in all, and gives
// back the records exported byte for byte: the line of '>' before
// "From y", longer than import's 64 KiB buffer, loses its one '>' too
// (only a line's first 64 KiB were unquoted).
func TestImportLongLine(t *testing.T) {
	const size = 16 << 20
	orig := longStream(t, size, "\n")
	mbox, _ := exportFile(t, orig, &args{Export: true, Quoting: "mboxrd"})
	back, n := exportFile(t, mbox, &args{ID: new("l"), Quoting: "mboxrd"})
	t.Logf("import allocated %d octets", n)
	if n > 4<<20 {
		t.Errorf("import of two lines of %d octets allocated %d octets", size, n)
	}
	a, err := os.Open(orig)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ra, rb := bufio.NewReader(a), bufio.NewReader(b)
	for off := 0; ; off++ {
		ca, ea := ra.ReadByte()
		cb, eb := rb.ReadByte()
		if ca != cb || ea != eb {
			t.Fatalf("imported stream differs from the one exported at octet %d: %q, %v; want %q, %v", off, cb, eb, ca, ea)
		}
		if ea != nil {
			break
		}
	}
}
