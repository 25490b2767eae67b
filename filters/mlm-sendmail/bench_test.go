package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlm/lib/smtpsink"
	"mlm/lib/smtpsink/sinktest"
	"mlm/lib/stream"
)

// BenchmarkBatches delivers a post to 10,000 members as mlm-split makes
// its batches, 100 records of 100 recipients and a 4 KB message, over 20
// connections to the Go sink on 127.0.0.1, into a new list directory
// (list) each time, every recipient counted at the sink: recipients a
// second, and what mlm-sendmail allocates (with the sink's own, in the
// same process).
func BenchmarkBatches(b *testing.B) {
	srv := sinktest.Sink(b, smtpsink.Options{})
	msg := "Subject: x\n\n" + strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\n", 64)
	var in bytes.Buffer
	const records, per = 100, 100
	for i := range records {
		h := &stream.Header{ID: fmt.Sprintf("p1,%d", i+1), Attrs: []stream.Attr{{Name: "received", Value: "1795867200"}}, Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}}
		ps := make([]stream.Path, per)
		for j := range ps {
			ps[j].Mailbox = fmt.Sprintf("m%07d@d%d.example", i*per+j, i%10)
		}
		if err := stream.WriteRecord(&in, h, strings.NewReader(msg), ps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir := list(b)
		b.StartTimer()
		a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 20, Timeout: 10 * time.Second, Lifetime: 120 * time.Hour}
		if err := run(a, bytes.NewReader(in.Bytes()), io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	if got, want := srv.Counts().Recipients, int64(b.N*records*per); got != want {
		b.Fatalf("the sink accepted %d recipients; want %d", got, want)
	}
	b.ReportMetric(float64(b.N*records*per)/b.Elapsed().Seconds(), "rcpts/s")
}

// BenchmarkRetryLookup is a retry's look-up of a record of 100
// recipients in the journal of a post delivered to 1,000,000 others,
// read whole (no journal-from): the time a journal line takes.
func BenchmarkRetryLookup(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	const lines = 1_000_000
	for i := range lines {
		fmt.Fprintf(&sb, "D m%07d@d%d.example\n", i, i%10)
	}
	if err := os.WriteFile(filepath.Join(dir, "p"), []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	ps := make([]stream.Path, 100)
	for i := range ps {
		ps[i].Mailbox = fmt.Sprintf("r%07d@d%d.example", i, i%10)
	}
	for b.Loop() {
		j := newJournal(dir)
		j.filter()
		if todo, _, err := j.lookup("p", "p,1", ps, ""); err != nil || len(todo) != len(ps) {
			b.Fatal(len(todo), err)
		}
		j.close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
