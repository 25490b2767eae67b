package main

import (
	"bytes"
	"io"
	"os"
	"testing"

	"mlm/lib/mlmtest"
)

// BenchmarkRecords runs mlm-hdr with a list directory on a stream of
// 1,000 posts of 4 KB each, as a list receives them: without and with a
// footer. lib/stream's BenchmarkPass is the floor: the records copied
// with no editing.
func BenchmarkRecords(b *testing.B) {
	for _, name := range []string{"plain", "footer"} {
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
				if err := run(&args{Dir: dir}, bytes.NewReader(in), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
