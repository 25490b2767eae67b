package main

import (
	"io"
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
			files := map[string]string{"address": "dev@lists.example.org\n", "strip": "Return-Path\n"}
			if name == "footer" {
				files["footer"] = "Footer.\n"
			}
			dir := mlmtest.ListDir(b, files)
			mlmtest.BenchRecords(b, func(in io.Reader) error {
				return run(&args{Dir: dir}, in, io.Discard)
			})
		})
	}
}
