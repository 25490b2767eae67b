package main

import (
	"bytes"
	"io"
	"os"
	"testing"

	"mlm/lib/mlmtest"
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
			in := mlmtest.Posts(b, 1000)
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
