package mlmtest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Pipelining is how a PipelineRelay takes pipelined commands (RFC 2920):
// the command lines one read of it brings, when it brings more than one.
// On loopback a write of a few hundred octets is one read: a client's
// MAIL, RCPTs and DATA, written together, are read together, and a
// command written alone, its reply awaited, is read alone.
type Pipelining int

const (
	// PipelineOK takes each command in turn and answers it, in order.
	PipelineOK Pipelining = iota
	// PipelineSwallow answers the first command and drops the others
	// unread, as a server that reads a line and then empties its input
	// buffer does.
	PipelineSwallow
	// PipelineReverse takes each command in turn, and sends the replies
	// last first.
	PipelineReverse
)

// PipelineRelay is an SMTP server on 127.0.0.1 that offers PIPELINING
// and takes pipelined commands as its Pipelining says; a command that
// comes alone it answers as RFC 5321 asks. It takes every recipient and
// every message, and keeps what it took.
type PipelineRelay struct {
	how   Pipelining
	addr  string
	mu    sync.Mutex
	took  []string // the recipients of each message taken, in order
	reads int      // reads that brought more than one command
}

// StartPipelineRelay starts a PipelineRelay, stopped when the test ends.
func StartPipelineRelay(tb testing.TB, how Pipelining) *PipelineRelay {
	tb.Helper()
	r := &PipelineRelay{how: how}
	r.addr = Serve(tb, func(_ int, c net.Conn) { r.serve(c) })
	return r
}

// Addr is the relay's address.
func (r *PipelineRelay) Addr() string { return r.addr }

// Delivered is the recipients of every message the relay took, sorted,
// a recipient as often as it was given one.
func (r *PipelineRelay) Delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.took))
}

// Pipelined is how many reads brought the relay more than one command.
func (r *PipelineRelay) Pipelined() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// serve plays one connection, for a minute at most.
func (r *PipelineRelay) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	say := func(lines ...string) { io.WriteString(c, strings.Join(lines, "\r\n")+"\r\n") }
	line := func() (string, bool) {
		l, err := br.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err == nil
	}
	say("220 pipeline ESMTP")
	if _, ok := line(); !ok {
		return
	}
	say("250-pipeline", "250-PIPELINING", "250 8BITMIME")
	var rcpts []string
	for {
		// A command, and the whole lines the same read brought.
		l, ok := line()
		if !ok {
			return
		}
		group := []string{l}
		for {
			b, _ := br.Peek(br.Buffered())
			if bytes.IndexByte(b, '\n') < 0 {
				break
			}
			l, _ := line()
			group = append(group, l)
		}
		if len(group) > 1 {
			r.mu.Lock()
			r.reads++
			r.mu.Unlock()
			if r.how == PipelineSwallow {
				group = group[:1]
			}
		}
		var replies []string
		data, quit := false, false
		for _, l := range group {
			u := strings.ToUpper(l)
			switch {
			case strings.HasPrefix(u, "MAIL FROM:"):
				rcpts = nil
				replies = append(replies, "250 2.1.0 ok")
			case strings.HasPrefix(u, "RCPT TO:<"):
				a, _, _ := strings.Cut(l[len("RCPT TO:<"):], ">")
				rcpts = append(rcpts, a)
				replies = append(replies, "250 2.1.5 ok")
			case u == "DATA" && len(rcpts) > 0:
				data = true
				replies = append(replies, "354 go ahead")
			case u == "DATA":
				replies = append(replies, "554 5.5.1 no valid recipients")
			case u == "RSET":
				rcpts = nil
				replies = append(replies, "250 2.0.0 ok")
			case u == "QUIT":
				quit = true
				replies = append(replies, "221 2.0.0 bye")
			default:
				replies = append(replies, "502 5.5.2 what")
			}
		}
		if r.how == PipelineReverse {
			slices.Reverse(replies)
		}
		say(replies...)
		if quit {
			return
		}
		if !data {
			continue
		}
		for {
			l, ok := line()
			if !ok {
				return // the message was not ended: not taken
			}
			if l == "." {
				break
			}
		}
		r.mu.Lock()
		r.took = append(r.took, rcpts...)
		r.mu.Unlock()
		rcpts = nil
		say("250 2.0.0 queued")
	}
}
