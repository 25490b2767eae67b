package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"mlm/lib/stream"
)

// BenchmarkRecords runs mlm-hdr with a list directory on a stream of
// 1,000 posts of 4 KB each, as a list receives them: without and with a
// footer, and, for reference, stream.CopyRecord's plain copy.
func BenchmarkRecords(b *testing.B) {
	for _, name := range []string{"plain", "footer", "copy"} {
		b.Run(name, func(b *testing.B) {
			footer := ""
			if name == "footer" {
				footer = "Footer.\n"
			}
			dir := b.TempDir()
			os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
			os.WriteFile(dir+"/strip", []byte("Return-Path\n"), 0o644)
			if footer != "" {
				os.WriteFile(dir+"/footer", []byte(footer), 0o644)
			}
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
				if name == "copy" {
					copyStream(b, bytes.NewReader(in))
				} else if err := run(&args{Dir: dir}, bytes.NewReader(in), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// copyStream copies a stream record by record.
func copyStream(b *testing.B, in io.Reader) {
	r := stream.NewReader(in)
	w := stream.NewWriter(io.Discard)
	if err := r.Each(func(h *stream.Header) error { return stream.CopyRecord(w, r, h) }); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
