package stream

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// growInput is records enough to outgrow writeMax, with room: every
// message of messages(), long lines in ";" pieces among them, and one
// record of more recipients than a 256 KiB buffer holds R lines of.
func growInput() []byte {
	var in []byte
	for i := 0; len(in) < 3*writeMax/2; i++ {
		for _, msg := range messages() {
			h := &Header{ID: fmt.Sprintf("r%d", i), Attrs: []Attr{{Name: "n", Value: strconv.Itoa(i)}}, Sender: Path{Mailbox: "s@x.example"}}
			in = append(in, refEncode(h, bytes.Repeat(msg, 1+i%5), testRcpts)...)
		}
		if i == 1 {
			in = append(in, refEncode(testHeader, []byte("a\n"), manyRcpts(writeMax/40))...)
		}
	}
	return in
}

// manyRcpts is n distinct recipients.
func manyRcpts(n int) []Path {
	p := make([]Path, n)
	for i := range p {
		p[i] = Path{Mailbox: "m" + strconv.Itoa(i) + "@d" + strconv.Itoa(i%10) + ".example"}
	}
	return p
}

// An output is where a test's Writer writes, what it wrote there and the
// buffer the Writer should end up with.
type output struct {
	w    io.Writer
	got  func() []byte // nil: nothing to read back
	size int
}

// pipeOut is a pipe of size octets (the kernel's own if 0), read to the
// end as it is written; false if it cannot be had.
func pipeOut(t *testing.T, size int) (output, bool) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	if size > 0 {
		if _, err := unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, size); err != nil {
			return output{}, false
		}
	}
	holds, err := unix.FcntlInt(pw.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(pr); done <- b }()
	return output{w: pw, size: max(writeSize, min(holds, writeMax)), got: func() []byte {
		pw.Close()
		return <-done
	}}, true
}

// TestWriterGrows: a Writer whose output outgrows its first buffer grows
// it, once, to what the output takes best: a pipe's size (up to
// writeMax), writeMax for a file or a device; it keeps the first for a
// socket and for what is not a file. Every way a filter passes a stream
// on, every output gets the stream as it came, the octets the Writer held
// when it grew included.
func TestWriterGrows(t *testing.T) {
	in := growInput()
	outs := map[string]func(t *testing.T) (output, bool){
		"buffer": func(t *testing.T) (output, bool) {
			var b bytes.Buffer
			return output{w: &b, size: writeSize, got: b.Bytes}, true
		},
		"file": func(t *testing.T) (output, bool) {
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return output{w: f, size: writeMax, got: func() []byte {
				b, err := os.ReadFile(f.Name())
				if err != nil {
					t.Fatal(err)
				}
				return b
			}}, true
		},
		"null": func(t *testing.T) (output, bool) {
			f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return output{w: f, size: writeMax}, true
		},
		"pipe":      func(t *testing.T) (output, bool) { return pipeOut(t, 0) },
		"pipe-256k": func(t *testing.T) (output, bool) { return pipeOut(t, 256<<10) },
		"pipe-4m":   func(t *testing.T) (output, bool) { return pipeOut(t, 4<<20) },
		"socket": func(t *testing.T) (output, bool) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
			t.Cleanup(func() { a.Close(); b.Close() })
			done := make(chan []byte, 1)
			go func() { got, _ := io.ReadAll(b); done <- got }()
			return output{w: a, size: writeSize, got: func() []byte {
				unix.Shutdown(fds[0], unix.SHUT_WR)
				return <-done
			}}, true
		},
	}
	for oname, open := range outs {
		for wname, way := range copyWays {
			t.Run(oname+"/"+wname, func(t *testing.T) {
				out, ok := open(t)
				if !ok {
					t.Skip("no such output here")
				}
				w := NewWriter(out.w)
				if _, err := passOnTo(w, NewReader(bytes.NewReader(in)), way); err != nil {
					t.Fatal(err)
				}
				if w.w.Size() != out.size {
					t.Errorf("a buffer of %d octets, want %d", w.w.Size(), out.size)
				}
				if out.got == nil {
					return
				}
				if got := out.got(); !bytes.Equal(got, in) {
					t.Fatalf("%d octets in, %d written, not the same", len(in), len(got))
				}
			})
		}
	}
}

// TestWriterGrowsOnRecipients: recipients of the Writer's own (not as a
// Reader read them), more than its first buffer holds, make it grow too,
// and are all written.
func TestWriterGrowsOnRecipients(t *testing.T) {
	name := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rcpts := manyRcpts(writeMax / 10)
	w := NewWriter(f)
	err = w.WriteHeader(&Header{ID: testHeader.ID, Attrs: testHeader.Attrs, Sender: testHeader.Sender})
	for _, p := range rcpts {
		if err == nil {
			err = w.Recipient(p)
		}
	}
	if err == nil {
		err = w.End()
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	if w.w.Size() != writeMax {
		t.Errorf("a buffer of %d octets, want %d", w.w.Size(), writeMax)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := refEncode(testHeader, nil, rcpts); !bytes.Equal(got, want) {
		t.Fatalf("%d octets written, want %d, not the same", len(got), len(want))
	}
}

// TestWriterGrowFails: a Writer whose write fails as its buffer grows
// (a file open for reading only) keeps its buffer and says so with a
// temporary error, at once and at Flush.
func TestWriterGrowFails(t *testing.T) {
	name := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f)
	if err := w.Begin("x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sender(Path{}); err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("a line\n"), 1000)
	var werr error
	for i := 0; i < 2*writeSize/len(line) && werr == nil; i++ {
		_, werr = w.Write(line)
	}
	if sysexit.Code(werr) != sysexit.TempFail {
		t.Errorf("Write = %v; want a temporary error", werr)
	}
	if err := w.Flush(); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Flush = %v; want a temporary error", err)
	}
	if w.w.Size() != writeSize {
		t.Errorf("a buffer of %d octets, want %d", w.w.Size(), writeSize)
	}
}

// shortWriter takes half of a write of more than a Writer's first
// buffer, and says nothing of the rest.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) {
	if len(p) > writeSize {
		return len(p) / 2, nil
	}
	return len(p), nil
}

// TestWriterShortWrite: a message run long enough to go past the
// buffer, to a writer that takes only part of it and says no error, is
// a temporary error, not a record cut short in silence.
func TestWriterShortWrite(t *testing.T) {
	in := refEncode(testHeader, bytes.Repeat([]byte("a line of a long message\n"), 3*writeSize/25), testRcpts)
	r := NewReader(bytes.NewReader(in))
	w := NewWriter(shortWriter{})
	err := r.Each(func(h *Header) error { return CopyRecord(w, r, h) })
	if err == nil {
		err = w.Flush()
	}
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("passed on with %v; want a temporary error", err)
	}
}

// TestWriterGrowsOnMessage: a message written in short lines, in pieces
// of any size, makes the Writer grow as soon as it has more than its
// first buffer, before the record ends.
func TestWriterGrowsOnMessage(t *testing.T) {
	for _, chunk := range []int{1, 7, 4096, 3 * writeSize} {
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("a line of a message\n"), 3*writeSize/20)
		w := NewWriter(f)
		err = w.WriteHeader(&Header{ID: testHeader.ID, Attrs: testHeader.Attrs, Sender: testHeader.Sender})
		for p := msg; len(p) > 0 && err == nil; p = p[min(chunk, len(p)):] {
			_, err = w.Write(p[:min(chunk, len(p))])
		}
		if err != nil {
			t.Fatal(err)
		}
		if w.w.Size() != writeMax {
			t.Errorf("pieces of %d: a buffer of %d octets, want %d", chunk, w.w.Size(), writeMax)
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.Name())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := refEncode(testHeader, msg, nil); !bytes.Equal(got, want) {
			t.Fatalf("pieces of %d: %d octets written, want %d, not the same", chunk, len(got), len(want))
		}
	}
}

// TestPipeSize: PipeSize says what a pipe holds, as the kernel sets it,
// and 0 for a file, a device, a socket, a closed pipe and what is not a
// file.
func TestPipeSize(t *testing.T) {
	for _, size := range []int{0, 8 << 10, 256 << 10} {
		t.Run(fmt.Sprintf("pipe %d", size), func(t *testing.T) {
			out, ok := pipeOut(t, size)
			if !ok {
				t.Skipf("no pipe of %d octets here", size)
			}
			f := out.w.(*os.File)
			want, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
			if err != nil {
				t.Fatal(err)
			}
			if size > 0 && want != size {
				t.Fatalf("a pipe asked for %d octets holds %d", size, want)
			}
			if got := PipeSize(f); got != want {
				t.Errorf("pipe of %d: PipeSize %d", want, got)
			}
			out.got()
			if got := PipeSize(f); got != 0 {
				t.Errorf("closed pipe: PipeSize %d; want 0", got)
			}
		})
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock := os.NewFile(uintptr(fds[0]), "socket")
	defer sock.Close()
	defer unix.Close(fds[1])
	for name, w := range map[string]io.Writer{"file": file, "null": null, "socket": sock, "buffer": &bytes.Buffer{}} {
		if got := PipeSize(w); got != 0 {
			t.Errorf("%s: PipeSize %d; want 0", name, got)
		}
	}
}

// TestWriteRecordBuffers: WriteRecord's buffers, shared from record to
// record (recordBufs), leave nothing of one record in the next: records
// of short and long lines, one without a final LF, one too long for the
// buffer to a file (whose Writer grows its own), written one after
// another and at once, are each what a Writer of its own writes.
func TestWriteRecordBuffers(t *testing.T) {
	long := strings.Repeat("a long line ", 20000) + "\n" + strings.Repeat("x", 3<<20)
	msgs := []string{"Subject: a\n\nshort\n", long, "Subject: b\n\nno LF at the end", "Subject: c\n\n" + strings.Repeat("line\n", 30000)}
	own := func(msg string) string {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.WriteHeader(testHeader)
		io.WriteString(w, msg)
		w.Recipient(Path{Mailbox: "r@example.net"})
		w.End()
		w.Flush()
		return b.String()
	}
	check := func(i int, msg string) {
		var got string
		if i%2 == 1 {
			f, err := os.Create(filepath.Join(t.TempDir(), "rec"))
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if err := WriteRecord(f, testHeader, strings.NewReader(msg), []Path{{Mailbox: "r@example.net"}}); err != nil {
				t.Error(err)
			}
			b, _ := os.ReadFile(f.Name())
			got = string(b)
		} else {
			var b bytes.Buffer
			if err := WriteRecord(&b, testHeader, strings.NewReader(msg), []Path{{Mailbox: "r@example.net"}}); err != nil {
				t.Error(err)
			}
			got = b.String()
		}
		if want := own(msg); got != want {
			t.Errorf("record %d: %d octets, not those of a Writer of its own (%d)", i, len(got), len(want))
		}
	}
	for i := range 12 {
		check(i, msgs[i%len(msgs)])
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() { defer wg.Done(); check(i, msgs[(i*3)%len(msgs)]) }()
	}
	wg.Wait()
}
