package wire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

// data is in as DATA, written in chunks; through a bufio.Writer of
// bufSize octets unless that is 0. It fails t unless every way gives
// the same octets.
func data(t testing.TB, in []byte, chunk int) []byte {
	var want []byte
	for _, bufSize := range []int{0, 16, 4096, 64 << 10} {
		var b bytes.Buffer
		var w io.Writer = &b
		bw := bufio.NewWriterSize(&b, bufSize)
		if bufSize > 0 {
			w = bw
		}
		d := NewDataWriter(w)
		for p := in; len(p) > 0; {
			k := min(chunk, len(p))
			if _, err := d.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if bufSize == 0 {
			want = b.Bytes()
		} else if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("%q in chunks of %d: through a bufio.Writer of %d octets %q; want %q", in, chunk, bufSize, b.Bytes(), want)
		}
	}
	return want
}

func TestDataWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a\n", "a\r\n.\r\n"},
		{"a", "a\r\n.\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"a\rb\r", "a\r\nb\r\n.\r\n"},
		{".\n..x\n", "..\r\n...x\r\n.\r\n"},
		{"x\n.\r\n", "x\r\n..\r\n.\r\n"},
		{"x\r.\r", "x\r\n..\r\n.\r\n"},
		{"a\n\r\n.\n", "a\r\n\r\n..\r\n.\r\n"},
		{"\x00.\xff\n", "\x00.\xff\r\n.\r\n"},
		{"a\n\r", "a\r\n\r\n.\r\n"}, // a last line of a bare CR alone
		{"\r", "\r\n.\r\n"},
	}
	// Larger than a bufio.Writer's buffer, which Write converts into
	// a piece at a time: lines ending in LF, CRLF and CR, some starting
	// with a dot.
	var in, want strings.Builder
	for i := 0; in.Len() < 100000; i++ {
		line := strings.Repeat("x", 1+i%97)
		if i%5 == 0 {
			line = "." + line
		}
		in.WriteString(line + []string{"\n", "\r\n", "\r"}[i%3])
		if i%5 == 0 {
			want.WriteString(".")
		}
		want.WriteString(line + "\r\n")
	}
	want.WriteString(".\r\n")
	tests = append(tests, struct{ in, want string }{in.String(), want.String()})
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 1000, 1 << 20} {
			if got := data(t, []byte(tc.in), chunk); string(got) != tc.want {
				t.Errorf("data(%q, chunk %d) = %q; want %q", tc.in, chunk, got, tc.want)
			}
		}
	}
}

// TestDataWriterFails: a write that fails, into a bufio.Writer or not,
// says how much of p it took and why, and every write and Close after
// it fails too.
func TestDataWriterFails(t *testing.T) {
	in := []byte(strings.Repeat("a line of text\n", 1000))
	for _, bufSize := range []int{0, 4096, 64 << 10} {
		var w io.Writer = &mlmtest.FailAfter{N: 5000}
		if bufSize > 0 {
			w = bufio.NewWriterSize(w, bufSize)
		}
		d := NewDataWriter(w)
		n, err := d.Write(in)
		if bw, ok := w.(*bufio.Writer); ok && err == nil {
			err = bw.Flush() // 64 KiB: the whole message fits in the buffer
			n = 0
		}
		if err == nil || n >= len(in) {
			t.Errorf("buffer %d: Write = %d, %v; want less than %d and an error", bufSize, n, err, len(in))
		}
		if _, err := d.Write([]byte("x\n")); err == nil {
			t.Errorf("buffer %d: a Write after a failed one: no error", bufSize)
		}
		if err := d.Close(); err == nil {
			t.Errorf("buffer %d: Close after a failed Write: no error", bufSize)
		}
	}
}

// TestDataWriterAllocs: into a bufio.Writer, a message is converted
// without a scratch slice of its own, however large, and small writes
// into a partly filled buffer flush nothing.
func TestDataWriterAllocs(t *testing.T) {
	in := []byte(strings.Repeat(".line\n", 20000)) // 120 KB, 240 KB as DATA
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	// A DataWriter for each message, as for each transaction.
	if n := testing.AllocsPerRun(10, func() { NewDataWriter(bw).Write(in) }); n > 1 {
		t.Errorf("%v allocations a DataWriter and a Write of %d octets; want 1 at most", n, len(in))
	}
	var c countWriter
	bw = bufio.NewWriterSize(&c, 4096)
	d := NewDataWriter(bw)
	for range 1000 {
		d.Write([]byte("x"))
	}
	if c.writes > 1 {
		t.Errorf("1,000 one-octet writes through a 4 KiB buffer: %d writes under it; want 1 at most", c.writes)
	}
}

type countWriter struct{ writes int }

func (c *countWriter) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

// FuzzDataWriter: the output has only CRLF line endings, exactly one
// terminator at its end, and no line that is a lone "." before it.
func FuzzDataWriter(f *testing.F) {
	f.Add([]byte("a\r\n.\r\nb"), uint8(1))
	f.Add([]byte("\n.\r\r.\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		out := data(t, in, int(chunk)+1)
		if !bytes.HasSuffix(out, []byte("\r\n.\r\n")) && string(out) != ".\r\n" {
			t.Fatalf("bad end: %q", out)
		}
		body := out[:len(out)-3]
		for i, c := range body {
			if c == '\n' && (i == 0 || body[i-1] != '\r') {
				t.Fatalf("bare LF at %d in %q", i, out)
			}
			if c == '\r' && (i+1 >= len(body) || body[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", i, out)
			}
		}
		for _, line := range bytes.Split(body, []byte("\r\n")) {
			if string(line) == "." {
				t.Fatalf("lone dot inside data: %q", out)
			}
		}
		// Unstuffing and dropping the CRs gives back the input with bare
		// CRs as LFs and a final line ending added.
		var back []byte
		for _, line := range bytes.SplitAfter(body, []byte("\r\n")) {
			line = bytes.TrimPrefix(line, []byte("."))
			back = append(back, bytes.TrimSuffix(line, []byte("\r\n"))...)
			if bytes.HasSuffix(line, []byte("\r\n")) {
				back = append(back, '\n')
			}
		}
		norm := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
		if len(norm) > 0 && norm[len(norm)-1] != '\n' {
			norm = append(norm, '\n')
		}
		if !bytes.Equal(back, norm) {
			t.Fatalf("content changed: %q -> %q", in, back)
		}
	})
}

// BenchmarkDataWriter encodes 1 MiB in one Write: lines ended by LF, by
// CR alone (no LF anywhere: each line's search for a CR must stop at the
// next line, not run to the end), and by CRLF.
func BenchmarkDataWriter(b *testing.B) {
	for _, end := range []string{"\n", "\r", "\r\n"} {
		line := bytes.Repeat([]byte("x"), 78)
		in := bytes.Repeat(append(line, end...), (1<<20)/(len(line)+len(end)))
		b.Run(strconv.Quote(end), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			d := NewDataWriter(io.Discard)
			for i := 0; i < b.N; i++ {
				if _, err := d.Write(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
