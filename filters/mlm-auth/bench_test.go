package main

import (
	"fmt"
	"io"
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
			var subs strings.Builder
			for i := range 100_000 {
				fmt.Fprintf(&subs, "user%d@example.net\n", i)
			}
			subs.WriteString("poster@example.org\n")
			dir := mlmtest.ListDir(b, map[string]string{"address": "dev@lists.example.org\n",
				"policy": policy + "\n", "subscribers": subs.String()})
			mlmtest.BenchRecords(b, func(in io.Reader) error {
				return run(dir, in, io.Discard, time.Unix(1764417600, 0))
			})
		})
	}
}
