package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"mlm/lib/stream"
)

// BenchmarkRecords runs mlm-auth on a stream of 1,000 posts of 4 KB each
// from one member, as a list receives them: open, and members-only with
// 100,000 subscribers, the poster last.
func BenchmarkRecords(b *testing.B) {
	for _, policy := range []string{"open", "members"} {
		b.Run(policy, func(b *testing.B) {
			dir := b.TempDir()
			os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
			os.WriteFile(dir+"/policy", []byte(policy+"\n"), 0o644)
			var subs strings.Builder
			for i := range 100_000 {
				fmt.Fprintf(&subs, "user%d@example.net\n", i)
			}
			subs.WriteString("poster@example.org\n")
			os.WriteFile(dir+"/subscribers", []byte(subs.String()), 0o644)
			var post strings.Builder
			post.WriteString("From: Poster <poster@example.org>\nTo: dev@lists.example.org\n" +
				"Subject: bench\nDate: Sun, 29 Nov 2026 12:00:00 +0000\nMessage-ID: <bench.1@example.org>\n" +
				"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
			for i := 1; post.Len() < 4096; i++ {
				fmt.Fprintf(&post, "line %03d: the quick brown fox jumps over the lazy dog, 0123456789.\n", i)
			}
			var rec bytes.Buffer
			h := &stream.Header{ID: "1764417600.b1.bench", Attrs: []stream.Attr{{Name: "list", Value: "dev@lists.example.org"}},
				Sender: stream.Path{Mailbox: "poster@example.org"}}
			if err := stream.WriteRecord(&rec, h, strings.NewReader(post.String()), nil); err != nil {
				b.Fatal(err)
			}
			in := bytes.Repeat(rec.Bytes(), 1000)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := run(dir, bytes.NewReader(in), io.Discard, time.Unix(1764417600, 0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
