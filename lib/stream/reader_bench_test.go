package stream

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
)

// benchStream is 4,000 records of a 4 KB message of 72-octet lines,
// about 17 MB, with the attributes mlm-accept writes, like the stream
// `make bench` feeds the filters.
func benchStream(b *testing.B) []byte { return benchRecords(b, 4000, 1) }

// benchRecords is records records of benchStream's, each with rcpts
// recipients.
func benchRecords(b *testing.B, records, rcpts int) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	line := strings.Repeat("x", 72) + "\n"
	msg := "Subject: bench\n\n" + strings.Repeat(line, 55)
	for i := 0; i < records; i++ {
		h := &Header{ID: "1764417600.b" + strconv.Itoa(i) + ".bench", Sender: Path{Mailbox: "poster@example.org"},
			Attrs: []Attr{{Name: "list", Value: "dev@lists.example.org"}, {Name: "orig-rcpt", Value: "dev@lists.example.org"},
				{Name: "state", Value: "new"}, {Name: "received", Value: "1764417600"}, {Name: "trace", Value: "mlm-accept:1764417600"}}}
		if err := w.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, msg)
		for j := 0; j < rcpts; j++ {
			w.Recipient(Path{Mailbox: "m" + strconv.Itoa(i*rcpts+j) + "@d" + strconv.Itoa(j%10) + ".example"})
		}
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
		r := NewReader(bytes.NewReader(data))
		r.ReuseHeader()
		if err := r.Each(func(*Header) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPass is a filter's work: read, check and write a stream, the
// messages going across as they came.
func BenchmarkPass(b *testing.B) { benchPass(b, benchStream(b)) }

// BenchmarkPassBatches is BenchmarkPass on 400 batches of 100
// recipients each, as mlm-split gives mlm-throttle and mlm-sendmail:
// the recipient lines' cost.
func BenchmarkPassBatches(b *testing.B) { benchPass(b, benchRecords(b, 400, 100)) }

func benchPass(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, w := NewReader(bytes.NewReader(data)), NewWriter(io.Discard)
		r.ReuseHeader()
		if err := r.Each(func(h *Header) error { return CopyRecord(w, r, h) }); err != nil {
			b.Fatal(err)
		}
		w.Flush()
	}
}
