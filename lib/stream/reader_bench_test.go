package stream

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// benchStream is 4,000 records of a 4 KB message of 72-octet lines,
// about 17 MB, like the stream `make bench` feeds the filters.
func benchStream(b *testing.B) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	line := strings.Repeat("x", 72) + "\n"
	msg := "Subject: bench\n\n" + strings.Repeat(line, 55)
	for i := 0; i < 4000; i++ {
		h := &Header{ID: "p" + string(rune('a'+i%26)), Sender: Path{Mailbox: "a@example.org"}}
		if err := w.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, msg)
		w.Recipient(Path{Mailbox: "b@example.org"})
		w.End()
	}
	w.Flush()
	return buf.Bytes()
}

// BenchmarkCheck is mlm-check's work: read and check a stream, in
// memory, without the pipe. Its MB/s is the Reader's ceiling for every
// filter.
func BenchmarkCheck(b *testing.B) {
	data := benchStream(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := NewReader(bytes.NewReader(data)).Each(func(*Header) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
