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
// connections to the Go sink on 127.0.0.1, the journal written to a new
// directory each time: what mlm-sendmail allocates for a recipient (with
// the sink's own, in the same process), and recipients a second.
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
	parent := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		dir := filepath.Join(parent, fmt.Sprint(n))
		for _, d := range []string{"tmp", "new", "cur", "bad"} {
			if err := os.MkdirAll(filepath.Join(dir, "queue", "bounces", d), 0o700); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 20, Timeout: 10 * time.Second, Lifetime: 120 * time.Hour}
		if err := run(a, bytes.NewReader(in.Bytes()), io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*records*per)/b.Elapsed().Seconds(), "rcpts/s")
}
