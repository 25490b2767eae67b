package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/stream"
)

// BenchmarkRecords runs mlm-split at its default of 100 recipients a
// record: on 1,000 of the bench's 4 KB posts of one recipient each, as
// the bench's filter rows read them, and on one post to 10,000
// members in 10 domains, as a list's post comes from mlm-members.
func BenchmarkRecords(b *testing.B) {
	h, msg := mlmtest.Message(b, stream.NewReader(bytes.NewReader(mlmtest.Posts(b, 1))))
	stream := func(records, rcpts int) []byte {
		var in bytes.Buffer
		for i := 0; i < records; i++ {
			var ps []stream.Path
			for j := 0; j < rcpts; j++ {
				n := i*rcpts + j
				ps = append(ps, stream.Path{Mailbox: fmt.Sprintf("m%07d@d%d.example", n, n%10)})
			}
			if err := stream.WriteRecord(&in, h, strings.NewReader(msg), ps); err != nil {
				b.Fatal(err)
			}
		}
		return in.Bytes()
	}
	for _, c := range []struct {
		name           string
		records, rcpts int
	}{{"one", 1000, 1}, {"many", 1, 10000}} {
		b.Run(c.name, func(b *testing.B) {
			in := stream(c.records, c.rcpts)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := run(&args{}, bytes.NewReader(in), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
