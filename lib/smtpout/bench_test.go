package smtpout_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"mlm/lib/smtpout"
	"mlm/lib/smtpsink"
	"mlm/lib/stream"
)

// strMsg is a message held in memory.
type strMsg string

func (m strMsg) Reader() io.Reader { return strings.NewReader(string(m)) }
func (m strMsg) Len() int64        { return int64(len(m)) }

// BenchmarkSend measures one connection's transactions of 100
// recipients and a 4 KB message, PIPELINING, to the Go sink on
// 127.0.0.1 (which keeps nothing): recipients a second, and what the
// client and the sink allocate for each.
func BenchmarkSend(b *testing.B) {
	s, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := smtpout.Dial(context.Background(), s.Addr(), smtpout.Options{Helo: "lists.example.org", Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rcpts := make([]stream.Path, 100)
	for i := range rcpts {
		rcpts[i].Mailbox = fmt.Sprintf("m%07d@d%d.example", i, i%10)
	}
	msg := strMsg("Subject: x\n\n" + strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\n", 64))
	from := stream.Path{Mailbox: "list-bounces@lists.example.org"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, _, err := c.Send(from, rcpts, msg, false)
		if err != nil || len(res) != len(rcpts) || res[0].Reply.Code != 250 {
			b.Fatalf("Send: %d results, %v", len(res), err)
		}
	}
	b.ReportMetric(float64(b.N*len(rcpts))/b.Elapsed().Seconds(), "rcpts/s")
}
