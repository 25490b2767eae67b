package smtpout_test

// SMTP faults, injected from a server, against the client in process:
// each test names its row of the fault table (mlmtest.Fault), asserts
// the outcome RFC 5321 asks for (temporary: an error or 4xx results, so
// the recipients are tried again; permanent: 5xx results; never a 2xx
// for a recipient whose data did not get a 2xx), that every call ends
// within the client's timeouts, and that no goroutine or descriptor is
// left behind. lib/smtpsink makes the faults it can; a scripted fake
// server on 127.0.0.1 the others (garbled, out of step, over-long).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mlm/lib/mlmtest"
	"mlm/lib/smtpout"
	"mlm/lib/smtpsink"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// opts are the client's options where no timeout is meant to pass (a
// generous one, so a loaded machine does not fail the test); short where
// one is the fault. hang bounds every call, far beyond any timeout the
// client may wait.
var (
	opts  = smtpout.Options{Helo: "lists.example.org", Timeout: 5 * time.Second, DataTimeout: 5 * time.Second}
	short = smtpout.Options{Helo: "lists.example.org", Timeout: time.Second, DataTimeout: time.Second}
)

const hang = 20 * time.Second

var sender = stream.Path{Mailbox: "dev-bounces@lists.example.org"}

func rcpts(addrs ...string) []stream.Path {
	var ps []stream.Path
	for _, a := range addrs {
		ps = append(ps, stream.Path{Mailbox: a})
	}
	return ps
}

type text string

func (m text) Reader() io.Reader { return strings.NewReader(string(m)) }
func (m text) Len() int64        { return int64(len(m)) }

const message = text("Subject: fault\n\nbody\n")

// noLeaks checks, when the test and its other cleanups are done, that
// the goroutines and open descriptors are back to what they were; it
// must be called before anything is started. Goroutines may take a
// moment to end after their connections close: a bounded poll.
func noLeaks(t *testing.T) {
	t.Helper()
	// The network poller's descriptors are made on first use: make them
	// before counting.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	g0, f0 := runtime.NumGoroutine(), mlmtest.OpenFDs(t)
	// No collection until the check is done: it would close a leaked
	// connection's descriptor that nothing holds while the check waits,
	// and hide it. (Cleanups run last first: this one after the check.)
	gc := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc) })
	t.Cleanup(func() {
		deadline := time.Now().Add(hang)
		for {
			g, f := runtime.NumGoroutine(), mlmtest.NewFDs(f0, mlmtest.OpenFDs(t))
			if g <= g0 && len(f) == 0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("leak: %d goroutines (were %d), descriptors opened and left open %v\n%s", g, g0, f, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// within runs f and fails the test if it has not returned after hang.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatalf("the client hung: no return after %v", hang)
	}
}

// dial connects, within the time limit.
func dial(t *testing.T, addr string, o smtpout.Options) (c *smtpout.Client, err error) {
	t.Helper()
	within(t, func() { c, err = smtpout.Dial(context.Background(), addr, o) })
	return c, err
}

// send sends message to the recipients on a new connection and closes
// it; a failure to connect fails the test.
func send(t *testing.T, addr string, o smtpout.Options, m smtpout.Message, to ...string) ([]smtpout.Result, error) {
	t.Helper()
	c, err := dial(t, addr, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	var res []smtpout.Result
	var rest []stream.Path
	within(t, func() { res, rest, err = c.Send(sender, rcpts(to...), m, false); c.Close() })
	if len(rest) > 0 {
		t.Errorf("recipients left for another transaction: %v", rest)
	}
	return res, err
}

// codes is the results as "rcpt=code" words, in order.
func codes(res []smtpout.Result) string {
	var w []string
	for _, r := range res {
		w = append(w, fmt.Sprintf("%s=%d", r.Rcpt.Mailbox, r.Reply.Code))
	}
	return strings.Join(w, " ")
}

// noneDelivered fails the test if a result is 2xx.
func noneDelivered(t *testing.T, res []smtpout.Result) {
	t.Helper()
	for _, r := range res {
		if r.Reply.OK() {
			t.Errorf("%s counted delivered (%v) though its data got no 2xx", r.Rcpt.Mailbox, r.Reply)
		}
	}
}

// temporary fails the test unless err is temporary and wraps each of
// want.
func temporary(t *testing.T, err error, want ...error) {
	t.Helper()
	if err == nil || sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("error %v; want a temporary one", err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("error %v; want %v", err, w)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sink is sinktest.Sink, which smtpout's tests cannot import: it
// imports smtpsink, which imports smtpout.
func sink(t *testing.T, o smtpsink.Options) *smtpsink.Server {
	t.Helper()
	o.Keep = true
	s, err := smtpsink.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reply(t *testing.T, s string) *smtpsink.Reply {
	r, err := smtpsink.ParseReply(s)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// fake is a scripted SMTP server on 127.0.0.1: script plays each
// connection. It logs every line it reads.
type fake struct {
	addr string
	mu   sync.Mutex
	log  []string
}

func serve(t *testing.T, script func(*fconn)) *fake {
	t.Helper()
	f := &fake{}
	f.addr = mlmtest.Serve(t, func(_ int, c net.Conn) {
		c.SetDeadline(time.Now().Add(hang))
		script(&fconn{f: f, c: c, br: bufio.NewReader(c)})
	})
	return f
}

func (f *fake) Addr() string { return f.addr }

// received is every line the server read, in order.
func (f *fake) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// saw reports whether the server read a line starting with prefix.
func (f *fake) saw(prefix string) bool {
	for _, l := range f.received() {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

type fconn struct {
	f  *fake
	c  net.Conn
	br *bufio.Reader
}

// say writes the lines, each with CRLF, in one write.
func (c *fconn) say(lines ...string) {
	io.WriteString(c.c, strings.Join(lines, "\r\n")+"\r\n")
}

// line reads one line, without its CRLF; "" and false at the end.
func (c *fconn) line() (string, bool) {
	l, err := c.br.ReadString('\n')
	if err != nil {
		return "", false
	}
	l = strings.TrimRight(l, "\r\n")
	c.f.mu.Lock()
	c.f.log = append(c.f.log, l)
	c.f.mu.Unlock()
	return l, true
}

// lines reads n lines; false if the client went away first.
func (c *fconn) lines(n int) bool {
	for range n {
		if _, ok := c.line(); !ok {
			return false
		}
	}
	return true
}

// hello greets and answers EHLO offering the extensions.
func (c *fconn) hello(ext ...string) bool {
	c.say("220 fake ESMTP")
	if !c.lines(1) {
		return false
	}
	r := []string{"250-fake"}
	for _, e := range ext {
		r = append(r, "250-"+e)
	}
	r[len(r)-1] = "250 " + r[len(r)-1][4:]
	c.say(r...)
	return true
}

// data reads message lines up to the final dot.
func (c *fconn) data() bool {
	for {
		l, ok := c.line()
		if !ok || l == "." {
			return ok
		}
	}
}

// rest answers whatever comes as a server that is back in step would:
// 354 to DATA and 250 to its dot, 221 to QUIT, 250 to the others.
func (c *fconn) rest() {
	for {
		l, ok := c.line()
		if !ok {
			return
		}
		switch strings.ToUpper(l) {
		case "QUIT":
			c.say("221 bye")
			return
		case "DATA":
			c.say("354 go ahead")
			if !c.data() {
				return
			}
			c.say("250 2.0.0 ok")
		default:
			c.say("250 ok")
		}
	}
}

// drain reads until the client goes away.
func (c *fconn) drain() { io.Copy(io.Discard, c.br) }

// readAll reads what the client sends, each line logged, until it
// closes.
func (c *fconn) readAll() {
	for {
		if _, ok := c.line(); !ok {
			return
		}
	}
}

// closeWrite ends what the server sends (FIN), as a server that closes
// does, while it goes on reading what the client still sends.
func (c *fconn) closeWrite() { c.c.(*net.TCPConn).CloseWrite() }

// pipelined plays a server offering PIPELINING that reads MAIL, n RCPTs
// and DATA, says replies, and then answers as rest does.
func pipelined(n int, replies ...string) func(*fconn) {
	return func(c *fconn) {
		if !c.hello("PIPELINING", "8BITMIME") || !c.lines(n+2) {
			return
		}
		c.say(replies...)
		c.rest()
	}
}

func TestFaultGreeting421(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 greeting", "connection fails, temporary (ReplyError 421); nothing sent")
	noLeaks(t)
	s := sink(t, smtpsink.Options{Greeting: reply(t, "421 4.3.2 too busy")})
	_, err := dial(t, s.Addr(), opts)
	temporary(t, err)
	var re *smtpout.ReplyError
	if !errors.As(err, &re) || re.Code != 421 {
		t.Errorf("error %v; want the 421", err)
	}
}

func TestFaultRefused(t *testing.T) {
	mlmtest.Fault(t, "smtp", "connection refused", "Dial fails, temporary")
	noLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = dial(t, addr, opts)
	temporary(t, err)
}

func TestFaultSilent(t *testing.T) {
	mlmtest.Fault(t, "smtp", "server accepts and never speaks", "Dial fails after the timeout, temporary")
	noLeaks(t)
	s := sink(t, smtpsink.Options{Stall: true})
	_, err := dial(t, s.Addr(), short)
	temporary(t, err)
	if !isTimeout(err) {
		t.Errorf("error %v; want a timeout", err)
	}
}

// TestFaultDataTimeout: the reply to the final dot is waited for as long
// as DataTimeout, however short the timeout of the other replies (RFC
// 5321 §4.5.3.2.6: a server may scan the message): a reply to the dot
// later than Timeout, well within DataTimeout, is the recipients'
// result, not a lost reply (which mlm-sendmail defers, and a retry sends
// again: a duplicate).
func TestFaultDataTimeout(t *testing.T) {
	mlmtest.Fault(t, "smtp", "reply to the final dot later than the timeout, within the data timeout", "delivered, no lost reply")
	noLeaks(t)
	s := sink(t, smtpsink.Options{Delay: time.Second, DelayAt: "dot"})
	o := opts
	o.Timeout, o.DataTimeout = 100*time.Millisecond, hang
	res, err := send(t, s.Addr(), o, message, "a@example.org")
	if err != nil || codes(res) != "a@example.org=250" {
		t.Errorf("results %s, %v; want a@example.org=250", codes(res), err)
	}
}

// TestFaultDataTimeoutDefault: with no Options.DataTimeout, the reply to
// the final dot is waited for as long as the package's DataTimeout (RFC
// 5321's 10 minutes), not the timeout of the other replies.
func TestFaultDataTimeoutDefault(t *testing.T) {
	mlmtest.Fault(t, "smtp", "reply to the final dot later than the timeout, no data timeout given", "the package's DataTimeout waited for; delivered")
	noLeaks(t)
	saved := smtpout.DataTimeout
	smtpout.DataTimeout = hang
	defer func() { smtpout.DataTimeout = saved }()
	s := sink(t, smtpsink.Options{Delay: time.Second, DelayAt: "dot"})
	o := opts
	o.Timeout, o.DataTimeout = 100*time.Millisecond, 0
	res, err := send(t, s.Addr(), o, message, "a@example.org")
	if err != nil || codes(res) != "a@example.org=250" {
		t.Errorf("results %s, %v; want a@example.org=250", codes(res), err)
	}
}

// TestFaultSlowMailNotPipelining: a server that pipelines and is silent
// to MAIL past the timeout is slow, or gone, not one that mishandles
// PIPELINING (ErrPipelining is for no reply after MAIL's): the error is
// the timeout alone, and mlm-sendmail goes on pipelining to it.
func TestFaultSlowMailNotPipelining(t *testing.T) {
	mlmtest.Fault(t, "smtp", "PIPELINING offered, reply to MAIL delayed past the timeout", "temporary timeout error, not ErrPipelining")
	noLeaks(t)
	s := sink(t, smtpsink.Options{Delay: time.Hour, DelayAt: "mail"})
	_, err := send(t, s.Addr(), short, message, "a@example.org")
	temporary(t, err)
	if !isTimeout(err) || errors.Is(err, smtpout.ErrPipelining) {
		t.Errorf("error %v; want a timeout, not ErrPipelining", err)
	}
}

// TestFaultSlow: a reply delayed past the timeouts at each step. Before
// the data: a temporary error and no result (all tried again), nothing
// accepted. After the final dot: the reply is lost (ErrLostReply), the
// recipients have no result (deferred by mlm-sendmail), and the server
// has the message: the duplicate window.
func TestFaultSlow(t *testing.T) {
	for _, step := range []string{"greeting", "mail", "rcpt", "data", "dot"} {
		t.Run(step, func(t *testing.T) {
			result := "temporary timeout error, no recipient settled, nothing accepted"
			if step == "dot" {
				result = "ErrLostReply after the data timeout: recipients without a result (deferred); the server has the message (duplicate window)"
			}
			mlmtest.Fault(t, "smtp", "reply delayed past the timeout at "+step, result)
			noLeaks(t)
			s := sink(t, smtpsink.Options{Delay: time.Hour, DelayAt: step})
			if step == "greeting" {
				_, err := dial(t, s.Addr(), short)
				temporary(t, err)
				if !isTimeout(err) {
					t.Errorf("error %v; want a timeout", err)
				}
				return
			}
			res, err := send(t, s.Addr(), short, message, "a@example.org", "b@example.org")
			if step == "dot" {
				temporary(t, err, smtpout.ErrLostReply)
			} else {
				temporary(t, err)
			}
			if !isTimeout(err) {
				t.Errorf("error %v; want a timeout", err)
			}
			if len(res) != 0 {
				t.Errorf("results %s; want none", codes(res))
			}
			want := int64(0)
			if step == "dot" {
				want = 1
			}
			if got := s.Counts().Transactions; got != want {
				t.Errorf("server accepted %d transactions; want %d", got, want)
			}
		})
	}
}

// TestFaultGarbled: replies that are not replies fail the connection,
// temporarily, wherever they come, and nothing counts as delivered.
func TestFaultGarbled(t *testing.T) {
	tests := []struct {
		fault  string
		script func(*fconn)
		dial   bool // the fault comes before Dial returns
	}{
		{"greeting not a reply ('hello there')", func(c *fconn) { c.say("hello there"); c.drain() }, true},
		{"EHLO reply code with a letter ('25O')", func(c *fconn) { c.say("220 fake"); c.lines(1); c.say("25O ok"); c.drain() }, true},
		{"'250-' continuation lines never ending", func(c *fconn) {
			c.say("220 fake")
			c.lines(1)
			for i := 0; i < 100000; i++ {
				if _, err := io.WriteString(c.c, "250-more\r\n"); err != nil {
					return
				}
			}
		}, true},
		{"continuation with another code ('250-' then '550 ')", pipelined(1, "250-sender", "550 ok"), false},
		{"non-ASCII reply code (fullwidth digits)", pipelined(1, "250 ok", "２５０ ok", "354 go"), false},
		{"reply code out of range (600)", pipelined(1, "250 ok", "600 what", "354 go"), false},
		{"empty reply line", pipelined(1, "250 ok", "", "354 go"), false},
		{"bare code with a tab ('250\\tok')", pipelined(1, "250\tok", "250 ok", "354 go"), false},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "garbled reply: "+tc.fault, "temporary ErrGarbled, connection given up, no recipient settled")
			noLeaks(t)
			f := serve(t, tc.script)
			if tc.dial {
				_, err := dial(t, f.Addr(), opts)
				temporary(t, err, smtpout.ErrGarbled)
				return
			}
			res, err := send(t, f.Addr(), opts, message, "a@example.org")
			temporary(t, err, smtpout.ErrGarbled)
			if len(res) != 0 {
				t.Errorf("results %s; want none", codes(res))
			}
			if f.saw("Subject:") {
				t.Error("the message was sent")
			}
		})
	}
}

// TestFaultNonASCIIText: 8-bit octets in a reply's text are text: the
// code decides, the text is kept.
func TestFaultNonASCIIText(t *testing.T) {
	mlmtest.Fault(t, "smtp", "non-ASCII reply text (UTF-8 and \\xff)", "not garbled: the code decides (550 fails the recipient), text kept")
	noLeaks(t)
	f := serve(t, pipelined(2, "250 2.1.0 ok", "550 5.1.1 boîte inconnue \xff", "250 2.1.5 ok", "354 go"))
	res, err := send(t, f.Addr(), opts, message, "a@example.org", "b@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(res); got != "a@example.org=550 b@example.org=250" {
		t.Errorf("results %s", got)
	}
	if len(res) > 0 && (res[0].Reply.Enhanced != "5.1.1" || res[0].Reply.Text != "boîte inconnue \xff") {
		t.Errorf("reply %+v", res[0].Reply)
	}
}

// TestFaultEmptyKeyword: an EHLO reply with a line that names no
// extension ("250-" alone, as some servers send) offers none: a path's
// parameter that no extension of the server's allows is left out, as
// with any other server, not sent because the empty keyword was taken
// for the extension of every parameter mlm does not know (and of BODY,
// SIZE and SMTPUTF8, which the client gives itself: twice on MAIL, which
// a server refuses 501, and every recipient fails).
func TestFaultEmptyKeyword(t *testing.T) {
	mlmtest.Fault(t, "smtp", "EHLO reply with an empty line ('250-')", "offers no extension: parameters no offered extension allows (RET, NOTIFY, BODY, X-...) left out of MAIL and RCPT; delivered")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if c.hello("", "8BITMIME") {
			c.rest()
		}
	})
	c, err := dial(t, f.Addr(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	from := stream.Path{Mailbox: sender.Mailbox, Params: []string{"RET=HDRS", "BODY=7BIT", "X-TRACE=1"}}
	to := []stream.Path{{Mailbox: "a@example.org", Params: []string{"NOTIFY=NEVER", "X-TRACE=1"}}}
	var res []smtpout.Result
	within(t, func() { res, _, err = c.Send(from, to, message, true); c.Close() })
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(res); got != "a@example.org=250" {
		t.Errorf("results %s", got)
	}
	for _, l := range f.received() {
		if strings.HasPrefix(l, "MAIL") && l != "MAIL FROM:<"+sender.Mailbox+"> BODY=8BITMIME" ||
			strings.HasPrefix(l, "RCPT") && l != "RCPT TO:<a@example.org>" {
			t.Errorf("sent %q; want the path and the client's own parameters alone", l)
		}
	}
}

// TestFaultLongLine: a reply line of 1 MB without CRLF, the server then
// silent: the client gives up as soon as its bounded buffer is full
// (garbled, "too long"), not at the timeout after holding the megabyte.
// TestReplyBound counts the octets it takes.
func TestFaultLongLine(t *testing.T) {
	huge := "220 " + strings.Repeat("x", 1<<20)
	tests := []struct {
		fault  string
		script func(*fconn)
		dial   bool
	}{
		{"greeting", func(c *fconn) { io.WriteString(c.c, huge); c.drain() }, true},
		{"reply to RCPT", func(c *fconn) {
			if c.hello("PIPELINING") && c.lines(3) {
				io.WriteString(c.c, "250 ok\r\n"+huge)
				c.drain()
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "1 MB reply line without CRLF ("+tc.fault+")", "temporary ErrGarbled before the timeout: read buffer bounded (16 KiB), not the megabyte")
			noLeaks(t)
			f := serve(t, tc.script)
			var err error
			if tc.dial {
				_, err = dial(t, f.Addr(), opts)
			} else {
				var res []smtpout.Result
				res, err = send(t, f.Addr(), opts, message, "a@example.org")
				noneDelivered(t, res)
			}
			temporary(t, err, smtpout.ErrGarbled)
			if isTimeout(err) {
				t.Errorf("error %v: the client waited for the end of the line", err)
			}
		})
	}
}

// TestFaultOutOfStep: replies to pipelined commands out of order,
// surplus or missing. The client cannot know which command a reply
// answers; what it can see (a positive reply a command cannot have, a
// reply no command asked for) ends the connection, temporarily, before
// any recipient counts as delivered.
func TestFaultOutOfStep(t *testing.T) {
	tests := []struct {
		fault, result string
		script        func(*fconn)
		want          error
		o             *smtpout.Options // default opts
		pipe          bool             // ErrPipelining too: pipelined, no data
	}{
		{"354 to DATA before the RCPT replies", "temporary ErrUnexpected (354 to RCPT) and ErrPipelining, none delivered, no data",
			pipelined(2, "250 ok", "354 go", "250 ok", "250 ok"), smtpout.ErrUnexpected, nil, true},
		{"RCPT replies before MAIL's (550, 250, then MAIL's 250)", "temporary ErrUnexpected (250 to RCPT after 550 to MAIL) and ErrPipelining, no recipient failed",
			pipelined(2, "550 5.1.1 no such user", "250 ok", "250 ok", "354 go"), smtpout.ErrUnexpected, nil, true},
		{"a surplus 250 after MAIL's reply", "temporary ErrUnexpected (250 to DATA) and ErrPipelining, none delivered, no data",
			pipelined(2, "250 ok", "250 extra", "250 ok", "250 ok", "354 go"), smtpout.ErrUnexpected, nil, true},
		{"250 to DATA (server without PIPELINING)", "temporary ErrUnexpected, none delivered, no data",
			func(c *fconn) {
				c.hello("8BITMIME")
				for _, r := range []string{"250 ok", "250 ok", "250 ok", "250 ok"} { // MAIL, 2 RCPT, DATA
					if !c.lines(1) {
						return
					}
					c.say(r)
				}
				c.rest()
			}, smtpout.ErrUnexpected, nil, false},
		{"252 to RCPT", "temporary ErrUnexpected and ErrPipelining, none delivered",
			pipelined(2, "250 ok", "252 cannot verify", "250 ok", "354 go"), smtpout.ErrUnexpected, nil, true},
		{"354 to the final dot", "temporary ErrLostReply and ErrUnexpected: recipients without a result (deferred, duplicate window)",
			func(c *fconn) {
				if c.hello("PIPELINING") && c.lines(4) {
					c.say("250 ok", "250 ok", "250 ok", "354 go")
					if c.data() {
						c.say("354 again")
					}
					c.drain()
				}
			}, smtpout.ErrLostReply, nil, false},
		{"reply to DATA missing", "temporary timeout and ErrPipelining, none delivered",
			pipelined(2, "250 ok", "250 ok", "250 ok"), nil, &short, true},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "replies out of step: "+tc.fault, tc.result)
			noLeaks(t)
			f := serve(t, tc.script)
			o := opts
			if tc.o != nil {
				o = *tc.o
			}
			res, err := send(t, f.Addr(), o, message, "a@example.org", "b@example.org")
			if tc.want != nil {
				temporary(t, err, tc.want)
			} else {
				temporary(t, err)
			}
			if len(res) != 0 {
				t.Errorf("results %s; want none", codes(res))
			}
			if got := errors.Is(err, smtpout.ErrPipelining); got != tc.pipe {
				t.Errorf("errors.Is(%v, ErrPipelining) = %v; want %v", err, got, tc.pipe)
			}
			if tc.want != smtpout.ErrLostReply && f.saw("Subject:") {
				t.Error("the message was sent")
			}
		})
	}
}

// TestFaultSurplusAfterDot: a surplus reply after the one to the final
// dot, in the same write. The transaction it follows stands (its 250
// came after the data); the next finds a reply nobody asked for and
// sends nothing.
func TestFaultSurplusAfterDot(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a surplus reply after the reply to the dot", "that transaction delivered; the next one on the connection: temporary ErrUnexpected, nothing sent")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if c.hello("PIPELINING") && c.lines(3) {
			c.say("250 ok", "250 ok", "354 go")
			if c.data() {
				c.say("250 2.0.0 queued", "250 2.0.0 queued again")
			}
			c.rest()
		}
	})
	c, err := dial(t, f.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res1, res2 []smtpout.Result
	var err1, err2 error
	within(t, func() {
		res1, _, err1 = c.Send(sender, rcpts("a@example.org"), message, false)
		res2, _, err2 = c.Send(sender, rcpts("b@example.org"), message, false)
	})
	if err1 != nil || codes(res1) != "a@example.org=250" {
		t.Errorf("first transaction: %s, %v; want delivered", codes(res1), err1)
	}
	temporary(t, err2, smtpout.ErrUnexpected)
	noneDelivered(t, res2)
	if f.saw("RCPT TO:<b@") {
		t.Error("the second transaction was sent")
	}
}

// TestFaultLMTPShort: LMTP, two recipients accepted, and after the dot
// one reply where two are owed, then nothing (b's 250; a's, a refusal,
// left out). Whose reply it is cannot be told, so neither recipient
// gets a result from it: both are lost replies, tried again, where a
// would have been counted delivered on b's 250. (From a review.)
func TestFaultLMTPShort(t *testing.T) {
	mlmtest.Fault(t, "smtp", "LMTP: fewer replies after the dot than recipients, then none", "temporary ErrLostReply; no result for any recipient (none delivered on another's reply)")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if !c.hello("PIPELINING") || !c.lines(4) {
			return
		}
		c.say("250 ok", "250 ok", "250 ok", "354 go")
		if !c.data() {
			return
		}
		c.say("250 2.0.0 <b@example.org> delivered") // nothing for a
		c.drain()
	})
	o := short
	o.LMTP = true
	c, err := dial(t, f.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res []smtpout.Result
	within(t, func() { res, _, err = c.Send(sender, rcpts("a@example.org", "b@example.org"), message, false) })
	temporary(t, err, smtpout.ErrLostReply)
	if len(res) != 0 {
		t.Errorf("results %s; want none", codes(res))
	}
}

// TestFaultLMTP421: LMTP, four recipients accepted, and after the dot
// 250 for the first two, then 421 for the third (the server closing,
// RFC 5321 §3.8), and the connection closed. The 421 is a reply, not a
// lost one: the two 250s stand (sent again, each would be a duplicate),
// the third and fourth get the 421, temporary (tried again, not
// bounced), and the connection is given up as after a 421 to MAIL: the
// error is the 421's, and nothing more goes out on it, not even QUIT.
// So whether the dot went alone (Send, with or without PIPELINING) or
// was held (Hold) and went out by Release or with the next
// transaction's commands, which fail, temporarily, as ErrBefore.
func TestFaultLMTP421(t *testing.T) {
	mlmtest.Fault(t, "smtp", "LMTP: 250, 250, then 421 after the dot for four recipients, and the connection closed",
		"two delivered, two the 421 (temporary); the error the 421's, not ErrLostReply; nothing more sent on the connection")
	closedAfterDot(t, true, []string{"250 2.0.0 a delivered", "250 2.0.0 b delivered", "421 4.3.2 shutting down"},
		"a@example.org=250 b@example.org=250 c@example.org=421 d@example.org=421")
}

// TestFaultDot421: SMTP, the final dot answered 421 and the connection
// closed: as TestFaultLMTP421, the 421 is every recipient's result, and
// the connection's error, so nothing more goes out on it (the next Send
// wrote MAIL to the closed connection); and a held dot's 421 is its
// result, not a lost reply.
func TestFaultDot421(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 to the final dot, and the connection closed",
		"every recipient the 421 (temporary), not ErrLostReply; the error the 421's; nothing more sent on the connection")
	closedAfterDot(t, false, []string{"421 4.3.2 shutting down"},
		"a@example.org=421 b@example.org=421 c@example.org=421 d@example.org=421")
}

// closedAfterDot plays a server (LMTP if lmtp) that accepts four
// recipients, a to d, answers their final dot with replies, the last a
// 421 4.3.2, and closes, and asserts what TestFaultLMTP421 says: want
// the results, the error the 421's, nothing more sent; for a dot sent
// alone, or held.
func closedAfterDot(t *testing.T, lmtp bool, replies []string, want string) {
	t.Helper()
	to := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"}
	for _, tc := range []struct {
		name   string
		ext    []string
		hold   bool
		behind []string // with hold: the recipients of a Send behind the held dot
	}{
		{"Send", nil, false, nil},
		{"Send pipelined", []string{"PIPELINING"}, false, nil},
		{"Hold, Release", []string{"PIPELINING"}, true, nil},
		{"Hold, Send behind", []string{"PIPELINING"}, true, []string{"z@example.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ended := make(chan struct{})
			f := serve(t, func(c *fconn) {
				defer close(ended)
				if !c.hello(tc.ext...) {
					return
				}
				for {
					l, ok := c.line()
					if !ok {
						return
					}
					if strings.ToUpper(l) != "DATA" {
						c.say("250 ok")
						continue
					}
					c.say("354 go ahead")
					if !c.data() {
						return
					}
					c.say(replies...)
					// Closed, as the client sees it; what it sends
					// after is still read, and logged.
					c.closeWrite()
					for c.lines(1) {
					}
					return
				}
			})
			o := opts
			o.LMTP = lmtp
			c, err := dial(t, f.Addr(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() }) // (if the test stops short)
			var res []smtpout.Result
			var first outcome
			within(t, func() {
				if !tc.hold {
					res, _, err = c.Send(sender, rcpts(to...), message, false)
					return
				}
				var held bool
				if res, _, held, err = c.Hold(sender, rcpts(to...), message, false, first.done); !held || err != nil || len(res) != 0 {
					t.Errorf("Hold: held %v, %s, %v; want held, nothing yet", held, codes(res), err)
				}
				if tc.behind == nil {
					err = c.Release()
				} else {
					var behind []smtpout.Result
					behind, _, err = c.Send(sender, rcpts(tc.behind...), message, false)
					temporary(t, err, smtpout.ErrBefore)
					if len(behind) != 0 {
						t.Errorf("the transaction behind the dot: results %s; want none", codes(behind))
					}
				}
				if first.calls != 1 || first.err != nil {
					t.Errorf("held transaction: done called %d times, error %v; want once, no error", first.calls, first.err)
				}
				res = first.res
			})
			if codes(res) != want {
				t.Errorf("results %s; want %s", codes(res), want)
			}
			for _, r := range res {
				if r.Reply.Code == 421 && (!r.Reply.Temporary() || r.Reply.String() != "421 4.3.2 shutting down") {
					t.Errorf("%s: %v; want the 421, temporary", r.Rcpt.Mailbox, r.Reply)
				}
			}
			if tc.behind == nil {
				temporary(t, err)
				if re := (*smtpout.ReplyError)(nil); !errors.As(err, &re) || re.Code != 421 || errors.Is(err, smtpout.ErrLostReply) {
					t.Errorf("error %v; want the 421's, not a lost reply", err)
				}
			}
			// The connection is given up: no command goes out on it.
			var again error
			within(t, func() { _, _, again = c.Send(sender, rcpts("e@example.org"), message, false); c.Close() })
			if again == nil {
				t.Error("a Send after the 421 succeeded")
			}
			within(t, func() { <-ended })
			got := f.received()
			for i, l := range got {
				if l == "." {
					got = got[i+1:]
					break
				}
			}
			var wantAfter []string // what went out with a held dot
			for _, r := range tc.behind {
				wantAfter = append(wantAfter, "MAIL FROM:<"+sender.Mailbox+">", "RCPT TO:<"+r+">", "DATA")
			}
			if strings.Join(got, "|") != strings.Join(wantAfter, "|") {
				t.Errorf("after the dot the server read %q; want %q", got, wantAfter)
			}
		})
	}
}

// TestFaultSize: the server advertises SIZE below the message. The
// client sends no transaction at all (RFC 1870 §6.1) and fails every
// recipient 552 5.3.4, permanently, as the server would.
func TestFaultSize(t *testing.T) {
	mlmtest.Fault(t, "smtp", "SIZE advertised below the message", "no MAIL, no DATA; every recipient 552 5.3.4 (permanent)")
	noLeaks(t)
	conv := &lockedBuilder{b: &strings.Builder{}}
	s := sink(t, smtpsink.Options{Size: 16, Debug: conv})
	res, err := send(t, s.Addr(), opts, message, "a@example.org", "b@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(res); got != "a@example.org=552 b@example.org=552" {
		t.Errorf("results %s", got)
	}
	for _, r := range res {
		if r.Reply.Enhanced != "5.3.4" || !r.Reply.Permanent() {
			t.Errorf("%s: %v; want 552 5.3.4", r.Rcpt.Mailbox, r.Reply)
		}
	}
	s.Close()
	if strings.Contains(conv.String(), "< MAIL") || strings.Contains(conv.String(), "< DATA") {
		t.Errorf("the client sent a transaction:\n%s", conv.String())
	}
}

type lockedBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

// String is what was written so far; the server's connections may still
// be writing after its Close.
func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestFaultNoRcptData: every RCPT refused, yet the server invites the
// data (354) and takes it (250). RFC 2920 §3.1 has the pipelining client
// send DATA anyway and the server refuse it 554; this client, invited,
// ends the data at once with the dot alone, ignores the reply, and
// counts no recipient delivered. Without PIPELINING it sends no DATA.
func TestFaultNoRcptData(t *testing.T) {
	tests := []struct {
		name, want string
		ext        []string
	}{
		{"pipelined, 550 and 450", "a@example.org=550 b@example.org=450", []string{"PIPELINING"}},
		{"not pipelined", "a@example.org=550 b@example.org=450", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "every RCPT refused, DATA answered 354 and the dot 250 ("+tc.name+")", "no message sent (at most the dot alone), no recipient delivered: 5xx failed, 4xx deferred")
			noLeaks(t)
			f := serve(t, func(c *fconn) {
				if !c.hello(tc.ext...) {
					return
				}
				if tc.ext == nil {
					for _, r := range []string{"250 ok", "550 5.1.1 no such user", "450 4.2.1 busy"} {
						if !c.lines(1) {
							return
						}
						c.say(r)
					}
				} else {
					if !c.lines(4) { // MAIL, 2 RCPT, DATA
						return
					}
					c.say("250 ok", "550 5.1.1 no such user", "450 4.2.1 busy", "354 go")
					if !c.data() {
						return
					}
					c.say("250 2.0.0 took an empty message")
				}
				c.rest()
			})
			res, err := send(t, f.Addr(), opts, message, "a@example.org", "b@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(res); got != tc.want {
				t.Errorf("results %s; want %s", got, tc.want)
			}
			noneDelivered(t, res)
			if f.saw("Subject:") {
				t.Error("the message was sent")
			}
			if tc.ext == nil && f.saw("DATA") {
				t.Error("DATA sent with no recipient accepted")
			}
			if got := strings.Join(f.received(), "|"); tc.ext != nil && !strings.Contains(got, "|DATA|.|RSET|") {
				t.Errorf("server read %q; want DATA, the dot alone, RSET", got)
			}
		})
	}
}

// TestFaultDropAfterDot: the connection closes instead of the reply to
// the final dot. The server has the message; the client cannot know:
// ErrLostReply, the recipients without a result, to be deferred (and
// perhaps delivered twice: the documented window).
func TestFaultDropAfterDot(t *testing.T) {
	mlmtest.Fault(t, "smtp", "connection dropped after the final dot", "temporary ErrLostReply, recipients without a result (deferred; duplicate window), server has the message")
	noLeaks(t)
	s := sink(t, smtpsink.Options{DropAfterDot: 1})
	res, err := send(t, s.Addr(), opts, message, "a@example.org", "b@example.org")
	temporary(t, err, smtpout.ErrLostReply)
	if len(res) != 0 {
		t.Errorf("results %s; want none", codes(res))
	}
	if got := s.Counts(); got.Transactions != 1 || got.Dropped != 1 {
		t.Errorf("server: %v; want the transaction accepted and the connection dropped", got)
	}
}

// TestFaultDropAfterRcpt: the connection closes in the middle of the
// RCPTs: a temporary error, no recipient settled, nothing accepted.
func TestFaultDropAfterRcpt(t *testing.T) {
	mlmtest.Fault(t, "smtp", "connection dropped after the 2nd RCPT", "temporary error, no recipient settled, nothing accepted")
	noLeaks(t)
	s := sink(t, smtpsink.Options{DropAfterRcpt: 2})
	res, err := send(t, s.Addr(), opts, message, "a@example.org", "b@example.org", "c@example.org")
	temporary(t, err)
	if len(res) != 0 {
		t.Errorf("results %s; want none", codes(res))
	}
	if got := s.Counts().Transactions; got != 0 {
		t.Errorf("server accepted %d transactions", got)
	}
}

// TestFaultMixedRcpt: 4xx and 5xx to RCPT among 250s: each recipient its
// own result, the message to the accepted ones only.
func TestFaultMixedRcpt(t *testing.T) {
	mlmtest.Fault(t, "smtp", "4xx and 5xx to RCPT mixed with 250", "per recipient: 250 delivered, 4xx deferred, 5xx failed; message to the accepted only")
	noLeaks(t)
	var rules []smtpsink.Rule
	for _, r := range []string{"t*=451 4.3.0 try later", "f*=550 5.1.1 no such user", "q*=421 4.3.2 not now"} {
		rule, err := smtpsink.ParseRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	s := sink(t, smtpsink.Options{Replies: rules})
	res, err := send(t, s.Addr(), opts, message, "ok1@example.org", "t1@example.org", "f1@example.org", "ok2@example.org", "q1@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := "t1@example.org=451 f1@example.org=550 q1@example.org=421 ok1@example.org=250 ok2@example.org=250"
	if got := codes(res); got != want {
		t.Errorf("results %s; want %s", got, want)
	}
	m := s.Messages()
	if len(m) != 1 || len(m[0].Rcpts) != 2 || m[0].Rcpts[0].Mailbox != "ok1@example.org" || m[0].Rcpts[1].Mailbox != "ok2@example.org" {
		t.Errorf("server kept %+v", m)
	}
}

// wired is a message that knows its size as SIZE counts it (lib/spool's
// SMTPSize).
type wired struct {
	text
	wire int64
}

func (m wired) SMTPSize() int64 { return m.wire }

// TestSizeWire: SIZE= and the check against the server's limit use the
// message's size as SIZE counts it when it gives one (CRLF counts, RFC
// 1870), not its length with LF line ends.
func TestSizeWire(t *testing.T) {
	conv := &lockedBuilder{b: &strings.Builder{}}
	s := sink(t, smtpsink.Options{Size: 1000, Debug: conv})
	m := wired{message, int64(len(message)) + 3}
	if _, err := send(t, s.Addr(), opts, m, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if want := fmt.Sprintf(" SIZE=%d", m.wire); !strings.Contains(conv.String(), want) {
		t.Errorf("MAIL without%s:\n%s", want, conv.String())
	}
	s2 := sink(t, smtpsink.Options{Size: int64(len(message)) + 2})
	res, err := send(t, s2.Addr(), opts, m, "a@example.org")
	if err != nil || codes(res) != "a@example.org=552" {
		t.Errorf("over the limit as DATA only: %s, %v; want 552", codes(res), err)
	}
}

// TestFaultNoSMTPUTF8: a server that does not offer SMTPUTF8 fails the
// recipients whose local parts are not ASCII, 553 5.6.7, and takes the
// others in the same transaction, one whose domain alone is not ASCII
// with its A-labels; a sender whose local part is not ASCII fails them
// all, with no command sent, and one whose domain is goes with its
// A-labels too. Results name each recipient as it was given.
func TestFaultNoSMTPUTF8(t *testing.T) {
	mlmtest.Fault(t, "smtp", "no SMTPUTF8 offered; one recipient (or the sender) not ASCII", "that recipient 553 5.6.7, the others delivered in the same transaction; a sender not ASCII: every recipient 553 5.6.7, no MAIL; a domain alone not ASCII: sent as A-labels")
	noLeaks(t)
	for _, tc := range []struct {
		from, want, mailLine string
		mail                 bool
	}{
		{"dev-bounces@lists.example.org", "jos\xc3\xa9@x.example=553 ascii@x.example=250 bob@b\xc3\xbccher.example=250",
			"MAIL FROM:<dev-bounces@lists.example.org>", true},
		{"dev-bounces@b\xc3\xbccher.example", "jos\xc3\xa9@x.example=553 ascii@x.example=250 bob@b\xc3\xbccher.example=250",
			"MAIL FROM:<dev-bounces@xn--bcher-kva.example>", true},
		{"d\xc3\xa9v-bounces@lists.example.org", "ascii@x.example=553 jos\xc3\xa9@x.example=553 bob@b\xc3\xbccher.example=553", "", false},
	} {
		f := serve(t, func(c *fconn) {
			if !c.hello("PIPELINING", "8BITMIME") {
				return
			}
			c.rest()
		})
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		var res []smtpout.Result
		var rest []stream.Path
		within(t, func() {
			res, rest, err = c.Send(stream.Path{Mailbox: tc.from}, rcpts("ascii@x.example", "jos\xc3\xa9@x.example", "bob@b\xc3\xbccher.example"), message, false)
			c.Close()
		})
		if err != nil || len(rest) > 0 {
			t.Errorf("from %s: %v, rest %v", tc.from, err, rest)
		}
		if got := codes(res); got != tc.want {
			t.Errorf("from %s: results %s; want %s", tc.from, got, tc.want)
		}
		for _, r := range res {
			if r.Reply.Code == 553 && r.Reply.Enhanced != "5.6.7" {
				t.Errorf("from %s: %s: %v; want 553 5.6.7", tc.from, r.Rcpt.Mailbox, r.Reply)
			}
			// The sender's refusal is the message's; a recipient's
			// its own (TestWhole).
			if r.Reply.Code == 553 && r.Whole != !tc.mail {
				t.Errorf("from %s: %s: Whole %v; want %v", tc.from, r.Rcpt.Mailbox, r.Whole, !tc.mail)
			}
		}
		if f.saw("MAIL") != tc.mail {
			t.Errorf("from %s: MAIL sent %v; want %v", tc.from, f.saw("MAIL"), tc.mail)
		}
		if got := f.received(); tc.mail && (!slices.Contains(got, tc.mailLine) || !slices.Contains(got, "RCPT TO:<bob@xn--bcher-kva.example>") || f.saw("RCPT TO:<jos")) {
			t.Errorf("from %s: the server got %q; want %s, RCPT TO:<bob@xn--bcher-kva.example> and no RCPT for jos\xc3\xa9", tc.from, got, tc.mailLine)
		}
	}
}

// TestFaultSurplusNoPipelining: without PIPELINING, a surplus reply
// after MAIL's shifts each reply after it to the next command: here a
// refusal lands on the first RCPT, and a 250 on DATA, which gives the
// shift away. No reply of that transaction stands: no recipient is
// refused (no bounce) by a reply that was not its own.
func TestFaultSurplusNoPipelining(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a surplus reply after MAIL's, no PIPELINING", "temporary ErrUnexpected at DATA; no recipient gets a result from the shifted replies")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if !c.hello("8BITMIME") || !c.lines(1) {
			return
		}
		c.say("250 ok", "550 5.1.1 unasked")
		for range 2 {
			if !c.lines(1) {
				return
			}
			c.say("250 ok")
		}
		c.drain()
	})
	res, err := send(t, f.Addr(), opts, message, "a@example.org", "b@example.org")
	temporary(t, err, smtpout.ErrUnexpected)
	if len(res) != 0 {
		t.Errorf("results %s; want none", codes(res))
	}
}

// TestFaultMailRefusedThenClose: a pipelining server that answers MAIL
// 421 and closes at once, the RCPT and DATA replies never sent: the
// error is the refusal of MAIL (which mlm-sendmail fails over on, and
// defers by), not the lost replies.
func TestFaultMailRefusedThenClose(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 to a pipelined MAIL, then the connection closed", "temporary; the error is MAIL's ReplyError; nothing sent")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if c.hello("PIPELINING") && c.lines(3) {
			c.say("421 4.3.2 shutting down")
		}
	})
	var res []smtpout.Result
	var err error
	within(t, func() { res, err = send(t, f.Addr(), opts, message, "a@example.org") })
	temporary(t, err)
	var re *smtpout.ReplyError
	if !errors.As(err, &re) || re.Cmd != "MAIL" || re.Code != 421 {
		t.Errorf("error %v; want MAIL's 421", err)
	}
	noneDelivered(t, res)
}

// TestFaultEHLORefused: a server that refuses EHLO for good (502, as an
// SMTP-only server does) is greeted with HELO and takes the message: the
// transaction is plain SMTP, no parameter on MAIL, since HELO offers no
// extension. One that refuses EHLO for the time being (421) is not
// greeted again, nor is an LMTP server that refuses LHLO.
func TestFaultEHLORefused(t *testing.T) {
	mlmtest.Fault(t, "smtp", "EHLO refused 502 (a server without ESMTP)", "HELO, then the message without ESMTP parameters; delivered")
	noLeaks(t)
	helo := func(ehlo string) func(*fconn) {
		return func(c *fconn) {
			c.say("220 fake SMTP")
			if !c.lines(1) {
				return
			}
			c.say(ehlo)
			l, ok := c.line()
			if !ok {
				return
			}
			if !strings.HasPrefix(l, "HELO ") {
				c.say("503 5.5.1 HELO first")
				c.drain()
				return
			}
			c.say("250 fake")
			c.rest()
		}
	}
	f := serve(t, helo("502 5.5.1 command not recognized"))
	res, err := send(t, f.Addr(), opts, message+"caf\xc3\xa9\n", "a@example.org")
	if err != nil || codes(res) != "a@example.org=250" {
		t.Fatalf("results %s, %v; want a@example.org=250", codes(res), err)
	}
	got := f.received()
	if len(got) < 3 || got[0] != "EHLO lists.example.org" || got[1] != "HELO lists.example.org" || got[2] != "MAIL FROM:<dev-bounces@lists.example.org>" {
		t.Errorf("server read %q; want EHLO, HELO, and MAIL without parameters", got[:min(3, len(got))])
	}

	for _, tc := range []struct {
		name string
		ehlo string
		lmtp bool
		code int
	}{
		{"421 to EHLO", "421 4.3.2 busy", false, 421},
		{"500 to LHLO", "500 5.5.1 what", true, 500},
	} {
		f := serve(t, helo(tc.ehlo))
		o := opts
		o.LMTP = tc.lmtp
		_, err := dial(t, f.Addr(), o)
		var re *smtpout.ReplyError
		if !errors.As(err, &re) || re.Code != tc.code {
			t.Errorf("%s: error %v; want its reply", tc.name, err)
		}
		if f.saw("HELO") {
			t.Errorf("%s: greeted again with HELO", tc.name)
		}
	}
}

// TestFaultHELOReplyNoExtensions: a server that refuses EHLO and answers
// HELO with a reply of several lines, whose later lines read as keywords
// ("8BITMIME", "SIZE 1000"): HELO offers no extension (RFC 5321
// §4.1.1.1), so MAIL goes without BODY or SIZE.
func TestFaultHELOReplyNoExtensions(t *testing.T) {
	mlmtest.Fault(t, "smtp", "EHLO refused 502, HELO answered with lines that look like keywords", "MAIL without ESMTP parameters; delivered")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		c.say("220 fake SMTP")
		if !c.lines(1) {
			return
		}
		c.say("502 5.5.1 command not recognized")
		if !c.lines(1) {
			return
		}
		c.say("250-fake", "250-8BITMIME", "250 SIZE 1000")
		c.rest()
	})
	res, err := send(t, f.Addr(), opts, message+"caf\xc3\xa9\n", "a@example.org")
	if err != nil || codes(res) != "a@example.org=250" {
		t.Fatalf("results %s, %v; want a@example.org=250", codes(res), err)
	}
	got := f.received()
	if len(got) < 3 || got[2] != "MAIL FROM:<dev-bounces@lists.example.org>" {
		t.Errorf("server read %q; want EHLO, HELO, and MAIL without parameters", got[:min(3, len(got))])
	}
}

// TestFaultStartTLSNotOffered: with Options.TLS, a server that does not
// offer STARTTLS is given up at once, temporarily (its site must enable
// it; mail waits): STARTTLS is not sent to it, nor is its refusal of it
// taken for a permanent failure.
func TestFaultStartTLSNotOffered(t *testing.T) {
	mlmtest.Fault(t, "smtp", "STARTTLS required, not offered", "temporary error before any command after EHLO")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if !c.hello("PIPELINING", "8BITMIME") {
			return
		}
		for {
			l, ok := c.line()
			if !ok {
				return
			}
			if strings.EqualFold(l, "STARTTLS") {
				c.say("502 5.5.1 command not recognized")
			} else {
				c.say("221 bye")
			}
		}
	})
	o := opts
	o.TLS = &tls.Config{}
	c, err := dial(t, f.Addr(), o)
	if err == nil {
		c.Close()
	}
	temporary(t, err)
	if f.saw("STARTTLS") {
		t.Errorf("server read %q; want no STARTTLS", f.received())
	}
}

// TestFaultMail552: a 552 to MAIL (the message too big for the server,
// RFC 1870 §6.2) is the message's fault: each recipient's result, for
// good, and the connection goes on; not a temporary error of the session
// that leaves them to be tried again, and refused again, for as long as
// the retries last.
func TestFaultMail552(t *testing.T) {
	mlmtest.Fault(t, "smtp", "552 to MAIL", "552 the result of every recipient; no error")
	noLeaks(t)
	s := sink(t, smtpsink.Options{MailReply: reply(t, "552 5.3.4 message too big")})
	res, err := send(t, s.Addr(), opts, message, "a@example.org", "b@example.org")
	if err != nil || codes(res) != "a@example.org=552 b@example.org=552" {
		t.Errorf("results %s, %v; want 552 for each and no error", codes(res), err)
	}
}

// TestFaultEHLORefusedThenClose: a server that refuses EHLO for good and
// closes at once, the HELO never read: the error is EHLO's refusal
// (which mlm-sendmail defers by and logs), not the lost connection.
func TestFaultEHLORefusedThenClose(t *testing.T) {
	mlmtest.Fault(t, "smtp", "EHLO refused 554, then the connection closed", "the error is EHLO's ReplyError, not the connection lost to HELO")
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		c.say("220 fake SMTP")
		if c.lines(1) {
			c.say("554 5.7.1 no service for you")
		}
	})
	_, err := dial(t, f.Addr(), opts)
	var re *smtpout.ReplyError
	if !errors.As(err, &re) || re.Cmd != "EHLO" || re.Code != 554 {
		t.Errorf("error %v; want EHLO's 554", err)
	}
}

// TestFaultPipeliningMishandled: a server that offers PIPELINING and
// mishandles it, swallowing the commands after the first one a read
// brings, or answering them last first: the transaction fails,
// temporarily, with ErrPipelining, nothing sent, no recipient settled;
// with NoPipelining the same server takes the message, one command at a
// time. A server that pipelines well is pipelined (and NoPipelining
// makes it not).
func TestFaultPipeliningMishandled(t *testing.T) {
	for _, tc := range []struct {
		fault string
		how   mlmtest.Pipelining
		o     smtpout.Options
		want  error
	}{
		{"commands after the first of a read swallowed", mlmtest.PipelineSwallow, short, nil},
		{"replies sent last first", mlmtest.PipelineReverse, opts, smtpout.ErrUnexpected},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "PIPELINING offered, "+tc.fault, "temporary ErrPipelining, nothing sent, no result; with NoPipelining delivered")
			noLeaks(t)
			r := mlmtest.StartPipelineRelay(t, tc.how)
			res, err := send(t, r.Addr(), tc.o, message, "a@example.org", "b@example.org")
			temporary(t, err, smtpout.ErrPipelining)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v; want %v", err, tc.want)
			}
			if tc.want == nil && !isTimeout(err) {
				t.Errorf("error %v; want a timeout", err)
			}
			if len(res) != 0 || len(r.Delivered()) != 0 {
				t.Errorf("results %s, server took %v; want nothing", codes(res), r.Delivered())
			}
			o := tc.o
			o.NoPipelining = true
			res, err = send(t, r.Addr(), o, message, "a@example.org", "b@example.org")
			if err != nil || codes(res) != "a@example.org=250 b@example.org=250" {
				t.Errorf("NoPipelining: results %s, %v; want both delivered", codes(res), err)
			}
			if got := strings.Join(r.Delivered(), " "); got != "a@example.org b@example.org" {
				t.Errorf("server took %q; want a and b once", got)
			}
			if n := r.Pipelined(); n != 1 {
				t.Errorf("%d reads of several commands; want the first connection's one", n)
			}
		})
	}

	t.Run("pipelined well", func(t *testing.T) {
		noLeaks(t)
		r := mlmtest.StartPipelineRelay(t, mlmtest.PipelineOK)
		res, err := send(t, r.Addr(), opts, message, "a@example.org", "b@example.org")
		if err != nil || codes(res) != "a@example.org=250 b@example.org=250" || r.Pipelined() != 1 {
			t.Errorf("results %s, %v, %d reads of several commands; want both delivered, pipelined", codes(res), err, r.Pipelined())
		}
		o := opts
		o.NoPipelining = true
		res, err = send(t, r.Addr(), o, message, "c@example.org")
		if err != nil || codes(res) != "c@example.org=250" || r.Pipelined() != 1 {
			t.Errorf("NoPipelining: results %s, %v, %d reads of several commands; want delivered, not pipelined", codes(res), err, r.Pipelined())
		}
	})
}

// TestRepliesAgain: a reply line the same as the last one read is taken
// as that one was, without a parse (a server gives most RCPTs the same
// reply); any other line, one that differs only by a trailing space, by
// a second CR, or by being the first of several lines, is read as it is.
func TestRepliesAgain(t *testing.T) {
	replies := []string{"250 sender ok",
		"450 4.2.0 busy", "450 4.2.0 busy", "550 5.1.1 no such user", "550 5.1.1 no such user",
		"450 4.2.0 busy", "450 4.2.0 busy ", "250 2.1.5 Ok", "450 4.2.0 busy\r",
		"450-4.2.0 busy", "450 4.2.0 busy", "452 4.5.3 too many", "354 go"}
	want := []smtpout.Reply{
		{Code: 450, Enhanced: "4.2.0", Text: "busy"}, {Code: 450, Enhanced: "4.2.0", Text: "busy"},
		{Code: 550, Enhanced: "5.1.1", Text: "no such user"}, {Code: 550, Enhanced: "5.1.1", Text: "no such user"},
		{Code: 450, Enhanced: "4.2.0", Text: "busy"}, {Code: 450, Enhanced: "4.2.0", Text: "busy "},
		{Code: 250, Enhanced: "2.0.0", Text: "ok"}, // accepted: the dot's reply
		{Code: 450, Enhanced: "4.2.0", Text: "busy"},
		{Code: 450, Enhanced: "4.2.0", Text: "busy 4.2.0 busy"},
	}
	f := serve(t, func(c *fconn) {
		if !c.hello("PIPELINING") || !c.lines(len(want)+3) {
			return
		}
		c.say(replies...)
		if c.data() {
			c.say("250 2.0.0 ok")
			c.rest()
		}
	})
	c, err := dial(t, f.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := make([]string, len(want)+1)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@example.org", i)
	}
	var res []smtpout.Result
	var rest []stream.Path
	within(t, func() { res, rest, err = c.Send(sender, rcpts(to...), message, false) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].Mailbox != to[len(to)-1] {
		t.Errorf("left for another transaction %v; want %s (452)", rest, to[len(to)-1])
	}
	got := map[string]smtpout.Reply{}
	for _, r := range res {
		got[r.Rcpt.Mailbox] = r.Reply
	}
	for i, w := range want {
		if g := got[to[i]]; g != w {
			t.Errorf("%s: %+v; want %+v", to[i], g, w)
		}
	}
}

// TestFaultParamNotASCII: a record's DSN parameter that is not ASCII (an
// ORCPT of type utf-8 in its unitext form, RFC 6533, as lib/stream takes
// it) goes to a server that offers DSN but not SMTPUTF8: the ORCPT goes
// in its xtext form, each character that is not ASCII as \x{HEX}; a
// parameter that has no such form (ENVID, whose xtext is ASCII, RFC 3461)
// is left out; no command carries an octet over 127, which such a server
// refuses (501), failing the recipient for good, or the sender and the
// whole record. In a transaction with SMTPUTF8 they go as they are.
func TestFaultParamNotASCII(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a DSN parameter not ASCII (ORCPT=utf-8;unitext, ENVID), no SMTPUTF8 offered", "ORCPT in its xtext form (\\x{HEX}), ENVID left out, no octet over 127 in a command; delivered")
	noLeaks(t)
	strict := func(ext ...string) func(*fconn) {
		return func(c *fconn) {
			if !c.hello(ext...) {
				return
			}
			for {
				l, ok := c.line()
				if !ok {
					return
				}
				switch {
				case strings.IndexFunc(l, func(r rune) bool { return r >= 0x80 }) >= 0 && !slices.Contains(ext, "SMTPUTF8"):
					c.say("501 5.5.4 octets over 127 without SMTPUTF8")
				case l == "QUIT":
					c.say("221 bye")
					return
				case l == "DATA":
					c.say("354 go ahead")
					if !c.data() {
						return
					}
					c.say("250 2.0.0 ok")
				default:
					c.say("250 ok")
				}
			}
		}
	}
	for _, tc := range []struct {
		ext        []string
		to         string
		mail, rcpt string
	}{
		{[]string{"PIPELINING", "DSN"}, "a@example.org",
			"MAIL FROM:<" + sender.Mailbox + ">",
			`RCPT TO:<a@example.org> ORCPT=utf-8;jos\x{E9}@b\x{FC}cher.example NOTIFY=FAILURE`},
		{[]string{"DSN"}, "a@example.org",
			"MAIL FROM:<" + sender.Mailbox + ">",
			`RCPT TO:<a@example.org> ORCPT=utf-8;jos\x{E9}@b\x{FC}cher.example NOTIFY=FAILURE`},
		{[]string{"PIPELINING", "DSN", "SMTPUTF8"}, "jos\xc3\xa9@x.example",
			"MAIL FROM:<" + sender.Mailbox + "> SMTPUTF8 ENVID=caf\xc3\xa9",
			"RCPT TO:<jos\xc3\xa9@x.example> ORCPT=utf-8;jos\xc3\xa9@b\xc3\xbccher.example NOTIFY=FAILURE"},
	} {
		f := serve(t, strict(tc.ext...))
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		from := stream.Path{Mailbox: sender.Mailbox, Params: []string{"ENVID=caf\xc3\xa9"}}
		to := []stream.Path{{Mailbox: tc.to, Params: []string{"ORCPT=utf-8;jos\xc3\xa9@b\xc3\xbccher.example", "NOTIFY=FAILURE"}}}
		var res []smtpout.Result
		within(t, func() { res, _, err = c.Send(from, to, message, false); c.Close() })
		if err != nil {
			t.Errorf("%v: %v", tc.ext, err)
		}
		if got, want := codes(res), tc.to+"=250"; got != want {
			t.Errorf("%v: results %s; want %s", tc.ext, got, want)
		}
		if got := f.received(); !slices.Contains(got, tc.mail) || !slices.Contains(got, tc.rcpt) {
			t.Errorf("%v: the server got %q; want %q and %q", tc.ext, got, tc.mail, tc.rcpt)
		}
	}
}

// TestQuitAfterRefusal: a connection given up after a refusal that left
// the conversation in step (a 554 greeting, a 454 to STARTTLS, a 550 to
// MAIL) ends with QUIT, as RFC 5321 section 4.1.1.10 asks, where the
// client closed it and the server logged a lost connection; after a
// 421, the server closing, nothing more goes out, QUIT neither.
func TestQuitAfterRefusal(t *testing.T) {
	quitThenBye := func(c *fconn) {
		if l, ok := c.line(); ok && l == "QUIT" {
			c.say("221 bye")
		}
		c.drain()
	}
	for _, tc := range []struct {
		name   string
		script func(*fconn)
		tls    bool
		send   bool
		quit   bool
	}{
		{"554 greeting", func(c *fconn) { c.say("554 5.3.2 no service"); quitThenBye(c) }, false, false, true},
		{"421 greeting", func(c *fconn) { c.say("421 4.3.2 busy") }, false, false, false}, // and it closes
		{"454 STARTTLS", func(c *fconn) {
			if c.hello("STARTTLS") && c.lines(1) {
				c.say("454 4.7.0 TLS not available")
				quitThenBye(c)
			}
		}, true, false, true},
		{"550 MAIL", func(c *fconn) {
			if c.hello() && c.lines(1) {
				c.say("550 5.7.1 sender rejected")
				c.rest()
			}
		}, false, true, true},
		{"421 MAIL", func(c *fconn) {
			if c.hello() && c.lines(1) {
				c.say("421 4.4.2 idle timeout") // and it closes
			}
		}, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := serve(t, tc.script)
			o := opts
			if tc.tls {
				o.TLS = &tls.Config{}
			}
			c, err := dial(t, f.Addr(), o)
			if tc.send {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				within(t, func() { _, _, err = c.Send(sender, rcpts("a@example.org"), message, false); c.Close() })
			}
			if err == nil {
				t.Fatal("no error; want the refusal's")
			}
			// (The server reads what comes until the client closes.)
			var quit bool
			for k := 0; k < 2000; k++ {
				if quit = f.saw("QUIT"); quit || !tc.quit {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if quit != tc.quit {
				t.Errorf("QUIT sent %v; want %v (server read %q)", quit, tc.quit, f.received())
			}
		})
	}
}

// TestFaultRcpt421Named: a server that answers an RCPT 421 and closes,
// pipelined or not: the error names the 421, then the lost connection,
// where it said only "EOF"; it stays temporary, and no mark of a
// server that mishandles PIPELINING.
func TestFaultRcpt421Named(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 to an RCPT, and the connection closed", "temporary; the error names the 421 (pipelined, then the EOF)")
	for _, pipe := range []bool{true, false} {
		noLeaks(t)
		f, _ := closing(t, pipe, 4, []string{"250 ok", "250 ok", "421 4.3.2 closing"}) // MAIL, two RCPTs, DATA
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		within(t, func() { _, _, err = c.Send(sender, rcpts("a@example.org", "b@example.org"), message, false); c.Close() })
		temporary(t, err)
		// Pipelined, the client reads on past the 421 to the end of
		// the connection; without, it stops at the 421 (see
		// TestFaultRcpt421RefusalsStand).
		want := "RCPT: 421 4.3.2 closing"
		if pipe {
			want += "; then "
		}
		if err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, smtpout.ErrPipelining) {
			t.Errorf("pipelined %v: %v; want %q, not ErrPipelining", pipe, err, want)
		}
	}
}

// TestFaultRcpt421RefusalsStand: a server that closes with 421 in the
// middle of the RCPTs, after refusing some (as Postfix does past
// smtpd_hard_error_limit): the refusals read before it stand, each its
// recipient's result; one refused as too many and those taken are for
// another transaction (rest); the 421's own and those never answered
// have none, to go again on another connection. Without PIPELINING no RCPT
// follows the 421. Else the same recipients would be refused again on
// every connection until it closed, and the batch never sent (a
// review).
func TestFaultRcpt421RefusalsStand(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 in the middle of the RCPT replies, after refusals (Postfix's error limit), and the connection closed", "temporary; the refusals before it stand (5xx failed), too many for another transaction, the rest without a result; no RCPT after the 421")
	to := rcpts("bad@example.org", "many@example.org", "good@example.org", "late@example.org", "after@example.org")
	replies := []string{"250 ok", "550 5.1.1 no such user", "452 4.5.3 too many recipients", "250 ok", "421 4.7.0 Error: too many errors"}
	for _, pipe := range []bool{true, false} {
		noLeaks(t)
		f, ended := closing(t, pipe, len(to)+2, replies) // MAIL, the RCPTs, DATA
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		var res []smtpout.Result
		var rest []stream.Path
		within(t, func() { res, rest, err = c.Send(sender, to, message, false); c.Close() })
		temporary(t, err)
		if err == nil || !strings.Contains(err.Error(), "RCPT: 421 4.7.0 Error: too many errors") {
			t.Errorf("pipelined %v: %v; want the 421 named", pipe, err)
		}
		if got := codes(res); got != "bad@example.org=550" {
			t.Errorf("pipelined %v: results %q; want the 550 standing, no other", pipe, got)
		}
		if len(rest) != 2 || rest[0].Mailbox != "many@example.org" || rest[1].Mailbox != "good@example.org" {
			t.Errorf("pipelined %v: rest %v; want many@ and good@, for another transaction", pipe, rest)
		}
		within(t, func() { <-ended }) // all the client sent, read
		if !pipe && f.saw("RCPT TO:<after@") {
			t.Errorf("without PIPELINING, an RCPT after the 421: %q", f.received())
		}
	}
}

// TestFaultAround421: the cases of a 421 from a server that may not be
// in step (a review of TestFaultRcpt421RefusalsStand's mend): no reply
// after the 421 stands, nor a DATA refusal that a 421 to RSET may have
// been shifted onto; a reply nobody asked for is found before the next
// command without PIPELINING, not taken for a refusal, but for a 421,
// which a server may send unasked (RFC 5321 §3.8); and a 421 and then
// silence is no sign of PIPELINING mishandled.
func TestFaultAround421(t *testing.T) {
	for _, tc := range []struct {
		name, fault, result string
		pipe                bool
		script              [][]string // for each read of n lines, the replies; the last read then closes
		n                   []int
		rcpts               []string
		silent              bool // no end after the replies: the client's timeout
		results, err        string
		rest                string // Send's rest, joined by spaces, if it must be
		unexpected          bool
		noRcptAfter         string
	}{
		{name: "a reply after the 421", pipe: true,
			fault: "pipelined: 550, then 421, then 550 to the next RCPT, and the connection closed", result: "the 550 before the 421 stands; none after it",
			n: []int{5}, script: [][]string{{"250 ok", "550 5.1.1 no such user", "421 4.7.0 closing", "550 5.1.1 no such user"}},
			rcpts: []string{"a@x.org", "b@x.org", "c@x.org"}, results: "a@x.org=550", err: "RCPT: 421 4.7.0 closing"},
		{name: "DATA refused after the 421", pipe: true,
			fault: "pipelined: an RCPT's 421 and DATA answered 421, and the connection closed", result: "the refusal before stands; the 421's recipient without a result (sent again), not deferred",
			n: []int{5}, script: [][]string{{"250 ok", "250 ok", "550 5.1.1 no such user", "421 4.7.0 closing", "421 4.7.0 closing"}},
			rcpts: []string{"a@x.org", "b@x.org", "c@x.org"}, results: "b@x.org=550", err: "RCPT: 421 4.7.0 closing; then DATA: 421"},
		{name: "RSET 421 after DATA refused", pipe: true,
			fault: "pipelined: a refused RCPT, DATA refused, then 421 to RSET (Postfix past its error limit), and the connection closed", result: "the RCPT refusal stands; DATA's refusal not given to the recipients taken, who go again",
			n: []int{4, 1}, script: [][]string{{"250 ok", "250 ok", "550 5.1.1 no such user", "554 5.7.1 no"}, {"421 4.7.0 Error: too many errors"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "b@x.org=550", err: "RSET: 421", rest: "a@x.org"},
		{name: "421 unasked before RSET", pipe: true,
			fault: "pipelined: a refused RCPT, DATA refused, then 421 before RSET (Postfix past its error limit: RFC 5321 3.8), and the connection closed", result: "the RCPT refusal stands; DATA's refusal not given to the recipients taken, who go again",
			n: []int{4}, script: [][]string{{"250 ok", "250 ok", "550 5.1.1 no such user", "554 5.7.1 no", "421 4.7.0 Error: too many errors"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "b@x.org=550", err: "RSET: 421", rest: "a@x.org"},
		{name: "surplus before DATA",
			fault: "without PIPELINING: a reply nobody asked for with the last RCPT's", result: "ErrUnexpected before DATA: no result, DATA not sent",
			n: []int{1, 1}, script: [][]string{{"250 ok"}, {"250 ok", "250 unasked"}},
			rcpts: []string{"a@x.org"}, results: "", unexpected: true, noRcptAfter: "DATA"},
		{name: "surplus before RSET", pipe: true,
			fault: "pipelined: DATA refused, and a reply nobody asked for after it", result: "ErrUnexpected before RSET: no result (DATA's refusal may be shifted), RSET not sent",
			n: []int{3}, script: [][]string{{"250 ok", "250 ok", "554 5.7.1 no", "250 unasked"}},
			rcpts: []string{"a@x.org"}, results: "", unexpected: true, noRcptAfter: "RSET"},
		{name: "421 unasked before DATA",
			fault: "without PIPELINING: a refused RCPT, the last, then 421 before DATA (Postfix past its error limit), and the connection closed", result: "the refusal stands; the recipient taken for another transaction; DATA not sent",
			n: []int{1, 1, 1}, script: [][]string{{"250 ok"}, {"250 ok"}, {"550 5.1.1 no such user", "421 4.7.0 Error: too many errors"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "b@x.org=550", err: "DATA: 421", rest: "a@x.org", noRcptAfter: "DATA"},
		{name: "421 unasked before an RCPT",
			fault: "without PIPELINING: a refused RCPT, then 421 before the next RCPT, and the connection closed", result: "the refusal stands, no more RCPTs, the rest without a result",
			n: []int{1, 1}, script: [][]string{{"250 ok"}, {"550 5.1.1 no such user", "421 4.7.0 Error: too many errors"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "a@x.org=550", err: "RCPT: 421", noRcptAfter: "RCPT TO:<b@"},
		{name: "MAIL refused, then 421", pipe: true,
			fault: "pipelined: MAIL refused 451, an RCPT 503, the next 421, DATA 421, and the connection closed", result: "MAIL's refusal the error; no recipient's result (the refusals without a sender say nothing of them)",
			n: []int{5}, script: [][]string{{"451 4.3.0 try later", "503 5.5.1 need MAIL", "550 5.5.1 need MAIL", "421 4.7.0 closing", "421 4.7.0 closing"}},
			rcpts: []string{"a@x.org", "b@x.org", "c@x.org"}, results: "", err: "MAIL: 451 4.3.0 try later"},
		{name: "421 then silence", pipe: true, silent: true,
			fault: "pipelined: a refused RCPT, then 421, and nothing more, the connection open", result: "temporary, not ErrPipelining: the 421 named",
			n: []int{4}, script: [][]string{{"250 ok", "550 5.1.1 no such user", "421 4.7.0 closing"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "", err: "RCPT: 421 4.7.0 closing; then "},
		{name: "unasked without PIPELINING",
			fault: "without PIPELINING: a reply nobody asked for with MAIL's, a 550, then 421, and the connection closed", result: "ErrUnexpected before the first RCPT: no result, no RCPT sent",
			n: []int{1, 1, 1}, script: [][]string{{"250 ok", "250 unasked"}, {"550 5.1.1 no such user"}, {"421 4.7.0 closing"}},
			rcpts: []string{"a@x.org", "b@x.org"}, results: "", unexpected: true, noRcptAfter: "RCPT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", tc.fault, tc.result)
			noLeaks(t)
			ended := make(chan struct{})
			f := serve(t, func(c *fconn) {
				defer close(ended)
				var ext []string
				if tc.pipe {
					ext = []string{"PIPELINING"}
				}
				if !c.hello(ext...) {
					return
				}
				for i, n := range tc.n {
					if !c.lines(n) {
						return
					}
					c.say(tc.script[i]...)
				}
				if !tc.silent {
					c.closeWrite()
				}
				c.readAll()
			})
			o := opts
			if tc.silent {
				o = short
			}
			c, err := dial(t, f.Addr(), o)
			if err != nil {
				t.Fatal(err)
			}
			var res []smtpout.Result
			var rest []stream.Path
			within(t, func() { res, rest, err = c.Send(sender, rcpts(tc.rcpts...), message, false); c.Close() })
			temporary(t, err)
			if got := codes(res); got != tc.results {
				t.Errorf("results %q; want %q", got, tc.results)
			}
			var got []string
			for _, r := range rest {
				got = append(got, r.Mailbox)
			}
			if tc.rest != "" && strings.Join(got, " ") != tc.rest {
				t.Errorf("rest %q; want %q", got, tc.rest)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v; want %q in it", err, tc.err)
			}
			if errors.Is(err, smtpout.ErrPipelining) {
				t.Errorf("error %v: ErrPipelining", err)
			}
			if tc.unexpected != errors.Is(err, smtpout.ErrUnexpected) {
				t.Errorf("error %v: ErrUnexpected %v; want %v", err, !tc.unexpected, tc.unexpected)
			}
			within(t, func() { <-ended })
			if tc.noRcptAfter != "" && f.saw(tc.noRcptAfter) {
				t.Errorf("%s sent: %q", tc.noRcptAfter, f.received())
			}
		})
	}
}

// closing serves one connection that greets, offers PIPELINING or not,
// and answers with replies: all at once once it has read n lines
// (pipelined), or one for each line; then closes, as a server does after
// a 421 (RFC 5321 §3.8), and reads, logged, what the client still
// sends. ended is closed when it is done.
func closing(t *testing.T, pipe bool, n int, replies []string) (f *fake, ended chan struct{}) {
	ended = make(chan struct{})
	f = serve(t, func(c *fconn) {
		defer close(ended)
		var ext []string
		if pipe {
			ext = []string{"PIPELINING"}
		}
		if !c.hello(ext...) {
			return
		}
		if pipe {
			if !c.lines(n) {
				return
			}
			c.say(replies...)
		} else {
			for _, r := range replies {
				if !c.lines(1) {
					return
				}
				c.say(r)
			}
		}
		c.closeWrite()
		c.readAll()
	})
	return f, ended
}

// TestFaultData421: the server closes with 421 to DATA, the data never
// sent: the recipients it took have no result, to go again at once on
// another connection, as after a 421 to MAIL or an RCPT, not to the
// retry queue; the refusals before stand; the error names the 421.
func TestFaultData421(t *testing.T) {
	mlmtest.Fault(t, "smtp", "421 to DATA, and the connection closed", "temporary, DATA's 421 named; the accepted recipients without a result (sent again elsewhere), the refusals standing")
	replies := []string{"250 ok", "250 ok", "550 5.1.1 no such user", "421 4.3.2 closing"}
	for _, pipe := range []bool{true, false} {
		noLeaks(t)
		f, ended := closing(t, pipe, len(replies), replies) // MAIL, two RCPTs, DATA
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		var res []smtpout.Result
		var rest []stream.Path
		within(t, func() {
			res, rest, err = c.Send(sender, rcpts("a@example.org", "bad@example.org"), message, false)
			c.Close()
		})
		if len(rest) != 1 || rest[0].Mailbox != "a@example.org" {
			t.Errorf("pipelined %v: rest %v; want a@, taken, for another transaction", pipe, rest)
		}
		temporary(t, err)
		var re *smtpout.ReplyError
		if !errors.As(err, &re) || re.Cmd != "DATA" || re.Reply.Code != 421 {
			t.Errorf("pipelined %v: %v; want DATA's 421", pipe, err)
		}
		if got := codes(res); got != "bad@example.org=550" {
			t.Errorf("pipelined %v: results %q; want the 550 alone", pipe, got)
		}
		within(t, func() { <-ended })
		if f.saw("RSET") {
			t.Errorf("pipelined %v: RSET after the 421: %q", pipe, f.received())
		}
	}
}

// TestWhole: a result is Whole where the reply was to the message, not
// to its recipient: the final dot's in SMTP, MAIL's, the client's own
// SIZE refusal; not an RCPT's, nor LMTP's replies after the message,
// which are each recipient's. mlm-sendmail writes no bounce record of a
// member for a Whole refusal (R79).
func TestWhole(t *testing.T) {
	rcptRule, err := smtpsink.ParseRule("f*=550 5.1.1 no such user")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    smtpsink.Options
		want string // each recipient's code, and w if Whole
	}{
		{"dot refused", smtpsink.Options{DataReply: reply(t, "554 5.7.1 message content rejected")}, "a@example.org=554w f1@example.org=554w"},
		{"MAIL refused", smtpsink.Options{MailReply: reply(t, "552 5.3.4 message too big")}, "a@example.org=552w f1@example.org=552w"},
		{"SIZE", smtpsink.Options{Size: 16}, "a@example.org=552w f1@example.org=552w"},
		{"RCPT refused", smtpsink.Options{Replies: []smtpsink.Rule{rcptRule}}, "f1@example.org=550 a@example.org=250w"},
		{"LMTP", smtpsink.Options{LMTP: true, DataReply: reply(t, "554 5.7.1 rejected")}, "a@example.org=554 f1@example.org=554"},
	} {
		s := sink(t, c.o)
		o := opts
		o.LMTP = c.o.LMTP
		res, err := send(t, s.Addr(), o, message, "a@example.org", "f1@example.org")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, r := range res {
			w := ""
			if r.Whole {
				w = "w"
			}
			got = append(got, fmt.Sprintf("%s=%d%s", r.Rcpt.Mailbox, r.Reply.Code, w))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s: results %s; want %s", c.name, g, c.want)
		}
		s.Close()
	}
}

// TestGone: a connection the server closed while it stood idle (its
// idle timeout's 421, then its end) is Gone, so that the caller dials
// anew rather than take the 421 for its next MAIL's reply, and spend a
// try on it (R79); one the server keeps open is not, and takes the next
// transaction; nor is one used within goneIdle, looked at or not.
func TestGone(t *testing.T) {
	for _, closes := range []bool{true, false} {
		said := make(chan bool, 1)
		f := serve(t, func(c *fconn) {
			if !c.hello("PIPELINING") {
				return
			}
			if closes {
				c.say("421 4.4.2 fake Error: timeout exceeded")
				c.c.Close()
				said <- true
				return
			}
			said <- true
			c.rest()
		})
		c, err := dial(t, f.Addr(), opts)
		if err != nil {
			t.Fatal(err)
		}
		<-said
		if c.Gone() {
			t.Errorf("closes %v: Gone at once; want it taken for live, not looked at", closes)
		}
		time.Sleep(1100 * time.Millisecond) // past goneIdle: looked at
		if got := c.Gone(); got != closes {
			t.Errorf("closes %v: Gone after 1.2 s idle = %v", closes, got)
		}
		if !closes {
			var res []smtpout.Result
			within(t, func() {
				res, _, err = c.Send(stream.Path{Mailbox: "s@example.org"}, rcpts("a@example.org"), message, false)
			})
			if err != nil || codes(res) != "a@example.org=250" {
				t.Errorf("a transaction after the look: %s, %v", codes(res), err)
			}
		}
		c.Close()
	}
}
