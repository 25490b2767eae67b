package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
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
			in := mlmtest.Posts(b, 1000)
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
