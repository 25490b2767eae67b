package smtpsink

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mlm/lib/stream"
)

// timeout bounds every network wait of a test.
const timeout = 10 * time.Second

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a raw SMTP conversation.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes s with every LF made CRLF, in one write.
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, strings.ReplaceAll(s, "\n", "\r\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// reply reads one reply, multi-line replies joined by "|", without CRLF.
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimSuffix(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "|")
		}
	}
}

// expect reads one reply per prefix and checks that each starts with it.
func (c *client) expect(prefixes ...string) {
	c.t.Helper()
	for _, p := range prefixes {
		if r := c.reply(); !strings.HasPrefix(r, p) {
			c.t.Fatalf("reply %q; want %q", r, p)
		}
	}
}

// eof checks that the server closed the connection with nothing more
// to say: end of file, not the timeout of a server that keeps it open.
func (c *client) eof() {
	c.t.Helper()
	b, err := c.br.ReadString('\n')
	if err != io.EOF || b != "" {
		c.t.Fatalf("read %q, %v; want end of file", b, err)
	}
}

func (c *client) hello() string {
	c.t.Helper()
	c.expect("220 ")
	c.send("EHLO client.example\n")
	return c.reply()
}

// records reads every record file in dir.
func records(t *testing.T, dir string) []rec {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rs []rec
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(f)
		h, err := r.Next()
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if h.ID != e.Name() {
			t.Errorf("record id %q in file %q", h.ID, e.Name())
		}
		msg, err := io.ReadAll(r.Message())
		if err != nil {
			t.Fatal(err)
		}
		x := rec{h: h, msg: string(msg)}
		for {
			p, err := r.Recipient()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			x.rcpts = append(x.rcpts, p.String())
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%s: more than one record (%v)", e.Name(), err)
		}
		f.Close()
		rs = append(rs, x)
	}
	return rs
}

type rec struct {
	h     *stream.Header
	msg   string
	rcpts []string
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPipelining: MAIL, RCPTs and DATA in one write get their replies in
// order; the kept record is the message as meant, dot-stuffing undone,
// CRLF kept; ledger, counters and stats agree.
func TestPipelining(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Ledger: filepath.Join(t.TempDir(), "ledger"), Stats: filepath.Join(t.TempDir(), "stats"), Keep: true}
	s := start(t, o)
	c := dial(t, s)
	ehlo := c.hello()
	for _, kw := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "ENHANCEDSTATUSCODES"} {
		if !slices.Contains(strings.Split(ehlo, "|"), "250-"+kw) && !strings.HasSuffix(ehlo, "250 "+kw) {
			t.Errorf("EHLO reply %q lacks %s", ehlo, kw)
		}
	}
	c.send("MAIL FROM:<bounce@list.example> BODY=8BITMIME\nRCPT TO:<a@x.example>\nRCPT TO:<\"b c\"@x.example>\nRCPT TO:<d@y.example>\nDATA\n")
	c.expect("250 ", "250 ", "250 ", "250 ", "354 ")
	c.send("Subject: dots\n\n..leading dot\n...two\n")
	io.WriteString(c.c, "bare\nLF and bare\rCR\r\n\x00\xff8bit\r\nno end")
	c.send("\n.\n")
	c.expect("250 2.0.0 accepted as 1.1")
	want := "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nbare\nLF and bare\rCR\r\n\x00\xff8bit\r\nno end\r\n"

	// a second transaction on the same connection, after RSET
	c.send("MAIL FROM:<> \nRSET\nMAIL FROM:<>\nRCPT TO:<e@x.example>\nDATA\n.\nQUIT\n")
	c.expect("250 ", "250 ", "250 ", "250 ", "354 ", "250 2.0.0 accepted as 1.3", "221 ")

	rs := records(t, dir)
	if len(rs) != 2 {
		t.Fatalf("%d records; want 2", len(rs))
	}
	slices.SortFunc(rs, func(a, b rec) int { return len(b.msg) - len(a.msg) })
	r := rs[0]
	if r.msg != want {
		t.Errorf("kept message %q; want %q", r.msg, want)
	}
	if got := r.h.Sender.String(); got != "<bounce@list.example> BODY=8BITMIME" {
		t.Errorf("sender %q", got)
	}
	if v, _ := r.h.Get("x-sink-txn"); v != "1.1" {
		t.Errorf("x-sink-txn = %q; want 1.1", v)
	}
	if want := []string{"<a@x.example>", `<"b c"@x.example>`, "<d@y.example>"}; !slices.Equal(r.rcpts, want) {
		t.Errorf("recipients %q; want %q", r.rcpts, want)
	}
	if rs[1].msg != "" || rs[1].h.Sender.Mailbox != "" || !slices.Equal(rs[1].rcpts, []string{"<e@x.example>"}) {
		t.Errorf("second record %+v", rs[1])
	}
	wantLedger := "1.1 a@x.example\n1.1 \"b c\"@x.example\n1.1 d@y.example\n1.3 e@x.example\n"
	if got := readFile(t, o.Ledger); got != wantLedger {
		t.Errorf("ledger %q; want %q", got, wantLedger)
	}
	wantCounts := Counts{Connections: 1, Transactions: 2, Recipients: 4, Bytes: int64(len(want))}
	if got := s.Counts(); got != wantCounts {
		t.Errorf("Counts() = %v; want %v", got, wantCounts)
	}
	if got := readFile(t, o.Stats); got != wantCounts.String()+"\n" {
		t.Errorf("stats %q; want %q", got, wantCounts.String())
	}
	if m := s.Messages(); len(m) != 2 || string(m[0].Data) != want || m[0].Txn != "1.1" {
		t.Errorf("Messages() = %+v", m)
	}
}

// TestNetSMTP: the standard library's client delivers to the sink.
func TestNetSMTP(t *testing.T) {
	s := start(t, Options{Keep: true})
	msg := "Subject: x\r\n\r\n.hidden\r\n"
	if err := smtp.SendMail(s.Addr(), nil, "a@x.example", []string{"b@y.example", "c@y.example"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	m := s.Messages()
	if len(m) != 1 || string(m[0].Data) != msg || len(m[0].Rcpts) != 2 {
		t.Errorf("Messages() = %+v", m)
	}
}

func TestReplyRules(t *testing.T) {
	var rules []Rule
	for _, r := range []string{
		"ok@fail.example=250 fine",
		"*@FAIL.example=550 5.1.1 no such user",
		"temp*@*=451 4.3.0 try later",
		"list-bounces+*=*@*=553 verp",
		"x?@*=550",
	} {
		rule, err := ParseRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	s := start(t, Options{Replies: rules, Ledger: filepath.Join(t.TempDir(), "ledger")})
	c := dial(t, s)
	c.hello()
	tests := []struct{ rcpt, want string }{
		{"ok@fail.example", "250 2.0.0 "},
		{"bob@fail.example", "550 5.1.1 no such user"},
		{"Bob@Fail.Example", "550 5.1.1 no such user"},
		{"temp1@a.example", "451 4.3.0 try later"},
		{"list-bounces+bob=b.example@l.example", "553 5.0.0 verp"},
		{"xy@a.example", "550 5.0.0"},
		{"xyz@a.example", "250 "},
		{"bad address", "501 "},
		{"<a@-b->", "553 5.1.3 "},
	}
	c.send("MAIL FROM:<>\n")
	c.expect("250 ")
	for _, tc := range tests {
		to := "<" + tc.rcpt + ">"
		if strings.HasPrefix(tc.rcpt, "<") || strings.Contains(tc.rcpt, " ") {
			to = tc.rcpt
		}
		c.send("RCPT TO:" + to + "\n")
		if r := c.reply(); !strings.HasPrefix(r, tc.want) {
			t.Errorf("RCPT %s: %q; want %q", tc.rcpt, r, tc.want)
		}
	}
	c.send("DATA\n.\n")
	c.expect("354 ", "250 ")
	if got := readFile(t, s.opt.Ledger); got != "1.1 ok@fail.example\n1.1 xyz@a.example\n" {
		t.Errorf("ledger %q", got)
	}
	if got := s.Counts().Rejected; got != 6 {
		t.Errorf("Rejected = %d; want 6", got)
	}
}

func TestMaxRcpt(t *testing.T) {
	rule, _ := ParseRule("*@fail.example=550 5.1.1 no")
	s := start(t, Options{MaxRcpt: 2, Replies: []Rule{rule}, Keep: true})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nRCPT TO:<b@fail.example>\nRCPT TO:<c@x.example>\nRCPT TO:<d@x.example>\nRCPT TO:<e@x.example>\nDATA\n.\n")
	c.expect("250 ", "250 ", "550 5.1.1 no", "250 ", "452 4.5.3 too many recipients", "452 4.5.3 too many recipients", "354 ", "250 ")
	// the limit is per transaction
	c.send("MAIL FROM:<>\nRCPT TO:<d@x.example>\nRCPT TO:<e@x.example>\nRCPT TO:<f@x.example>\nRSET\n")
	c.expect("250 ", "250 ", "250 ", "452 4.5.3 ", "250 ")
	if m := s.Messages(); len(m) != 1 || len(m[0].Rcpts) != 2 {
		t.Errorf("Messages() = %+v", m)
	}
	// each 452 is a recipient refused, as the 550 is
	if got := s.Counts(); got.Rejected != 4 || got.Recipients != 2 {
		t.Errorf("Counts() = %v; want rejected=4 recipients=2", got)
	}
}

// TestLMTP: one reply per accepted recipient after the message, in RCPT
// order; only the recipients with a 2xx reply are kept and counted.
func TestLMTP(t *testing.T) {
	dir := t.TempDir()
	over, _ := ParseRule("*@full.example=452 4.2.2 mailbox full")
	gone, _ := ParseRule("gone@*=550 5.1.1 gone")
	perm, _ := ParseRule("*@perm.example=552 5.2.2 over quota")
	s := start(t, Options{LMTP: true, Dir: dir, Replies: []Rule{gone}, LMTPReply: []Rule{over, perm}, Ledger: filepath.Join(t.TempDir(), "l")})
	c := dial(t, s)
	c.expect("220 ")
	c.send("EHLO x\n")
	c.expect("500 ")
	c.send("LHLO x\nMAIL FROM:<s@x.example>\nRCPT TO:<a@x.example>\nRCPT TO:<b@full.example>\nRCPT TO:<gone@x.example>\nRCPT TO:<c@perm.example>\nRCPT TO:<d@x.example>\nDATA\n")
	c.expect("250-", "250 ", "250 ", "250 ", "550 5.1.1 gone", "250 ", "250 ", "354 ")
	c.send("hello\n.\n")
	c.expect("250 2.0.0 <a@x.example> accepted as 1.1", "452 4.2.2 <b@full.example> mailbox full",
		"552 5.2.2 <c@perm.example> over quota", "250 2.0.0 <d@x.example> accepted as 1.1")
	rs := records(t, dir)
	if len(rs) != 1 || !slices.Equal(rs[0].rcpts, []string{"<a@x.example>", "<d@x.example>"}) || rs[0].msg != "hello\r\n" {
		t.Fatalf("records %+v", rs)
	}
	if got := readFile(t, s.opt.Ledger); got != "1.1 a@x.example\n1.1 d@x.example\n" {
		t.Errorf("ledger %q", got)
	}
	if got := s.Counts(); got.Recipients != 2 || got.Rejected != 3 || got.Transactions != 1 {
		t.Errorf("Counts() = %v", got)
	}

	// every recipient refused after the message: no transaction
	c.send("MAIL FROM:<>\nRCPT TO:<x@full.example>\nDATA\nx\n.\n")
	c.expect("250 ", "250 ", "354 ", "452 4.2.2 ")
	if got := s.Counts().Transactions; got != 1 {
		t.Errorf("Transactions = %d; want 1", got)
	}
}

func TestLMTPDataReply(t *testing.T) {
	r, _ := ParseReply("451 4.3.0 later")
	s := start(t, Options{LMTP: true, DataReply: &r})
	c := dial(t, s)
	c.expect("220 ")
	c.send("LHLO x\nMAIL FROM:<>\nRCPT TO:<a@x.example>\nRCPT TO:<b@x.example>\nDATA\n.\n")
	c.expect("250-", "250 ", "250 ", "250 ", "354 ", "451 4.3.0 <a@x.example> later", "451 4.3.0 <b@x.example> later")
}

// TestDropAfterDot: every 2nd final dot gets no reply; the transaction
// was accepted all the same (the reply-lost window).
func TestDropAfterDot(t *testing.T) {
	led, stats := filepath.Join(t.TempDir(), "ledger"), filepath.Join(t.TempDir(), "stats")
	s := start(t, Options{DropAfterDot: 2, Ledger: led, Stats: stats})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\n.\n")
	c.expect("250 ", "250 ", "354 ", "250 ")
	c.send("MAIL FROM:<>\nRCPT TO:<b@x.example>\nDATA\n.\nQUIT\n")
	c.expect("250 ", "250 ", "354 ")
	c.eof()
	// the drop is in the stats file by the time the client sees the end
	if got := readFile(t, stats); !strings.Contains(got, " dropped=1\n") {
		t.Errorf("stats file at the end of the dropped connection: %q; want dropped=1", got)
	}

	c = dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<b@x.example>\nDATA\n.\nQUIT\n")
	c.expect("250 ", "250 ", "354 ", "250 2.0.0 accepted as 2.1", "221 ")
	if got := readFile(t, led); got != "1.1 a@x.example\n1.2 b@x.example\n2.1 b@x.example\n" {
		t.Errorf("ledger %q", got)
	}
	if got := s.Counts(); got.Dropped != 1 || got.Transactions != 3 {
		t.Errorf("Counts() = %v", got)
	}
	// every 2nd dot, not the 2nd alone: the 4th reply is lost too
	c = dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<c@x.example>\nDATA\n.\nQUIT\n")
	c.expect("250 ", "250 ", "354 ")
	c.eof()
	if got := s.Counts(); got.Dropped != 2 || got.Transactions != 4 {
		t.Errorf("Counts() after the 4th dot = %v", got)
	}
}

// TestNestedMail: a MAIL within a transaction is refused 503 (RFC 5321
// §4.1.4), which go-smtp leaves to the sink, and the transaction goes on
// with its sender and recipients.
func TestNestedMail(t *testing.T) {
	s := start(t, Options{Keep: true})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<a@x.example>\nRCPT TO:<b@x.example>\nMAIL FROM:<c@x.example>\nRCPT TO:<d@x.example>\nDATA\nx\n.\n")
	c.expect("250 ", "250 ", "503 5.5.1 ", "250 ", "354 ", "250 2.0.0 accepted as 1.1")
	m := s.Messages()
	if len(m) != 1 || m[0].Sender.Mailbox != "a@x.example" || len(m[0].Rcpts) != 2 || m[0].Rcpts[0].Mailbox != "b@x.example" {
		t.Errorf("Messages() = %+v; want one from a@ to b@ and d@", m)
	}
}

func TestDropAfterRcpt(t *testing.T) {
	stats := filepath.Join(t.TempDir(), "stats")
	s := start(t, Options{DropAfterRcpt: 3, Keep: true, Stats: stats})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nRCPT TO:<b@x.example>\nRCPT TO:<c@x.example>\nRCPT TO:<d@x.example>\nDATA\nx\n.\nQUIT\n")
	c.expect("250 ", "250 ", "250 ")
	c.eof()
	if got := readFile(t, stats); !strings.Contains(got, " dropped=1\n") {
		t.Errorf("stats file at the end of the dropped connection: %q; want dropped=1", got)
	}
	if got := s.Counts(); got.Dropped != 1 || got.Transactions != 0 || len(s.Messages()) != 0 {
		t.Errorf("Counts() = %v", got)
	}
	// a transaction with fewer RCPT commands goes through
	c = dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nRCPT TO:<b@x.example>\nDATA\nx\n.\n")
	c.expect("250 ", "250 ", "250 ", "354 ", "250 ")
}

// TestErrorLimit: past ErrorLimit refused MAIL and RCPT commands in a
// connection, the next is answered 421 and the connection closed, as
// Postfix's smtpd_hard_error_limit does; the count is the connection's,
// and one below the limit goes on.
func TestErrorLimit(t *testing.T) {
	bad, err := ParseRule("u*=550 5.1.1 no such user")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{ErrorLimit: 2, Replies: []Rule{bad}, Keep: true})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<u1@x.example>\nRCPT TO:<a@x.example>\nRCPT TO:<u2@x.example>\nRCPT TO:<b@x.example>\nDATA\nx\n.\nQUIT\n")
	c.expect("250 ", "550 5.1.1 ", "250 ", "550 5.1.1 ", "421 4.7.0 Error: too many errors")
	c.eof()
	if got := s.Counts(); got.Dropped != 1 || got.Transactions != 0 || got.Rejected != 2 {
		t.Errorf("Counts() = %v; want the connection dropped, nothing taken, 2 refused", got)
	}
	// A new connection counts from naught; below the limit, the
	// transaction goes through, and a message taken forgives the
	// refusals before it, as Postfix does: two more are not past it.
	c = dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<u1@x.example>\nRCPT TO:<a@x.example>\nDATA\nx\n.\n")
	c.expect("250 ", "550 5.1.1 ", "250 ", "354 ", "250 ")
	if m := s.Messages(); len(m) != 1 || len(m[0].Rcpts) != 1 || m[0].Rcpts[0].Mailbox != "a@x.example" {
		t.Errorf("Messages() = %+v; want one to a@", m)
	}
	c.send("MAIL FROM:<>\nRCPT TO:<u1@x.example>\nRCPT TO:<u2@x.example>\nRCPT TO:<a@x.example>\n")
	c.expect("250 ", "550 5.1.1 ", "550 5.1.1 ", "421 4.7.0 ")
	c.eof()
	// Too many recipients (452) is not counted.
	s2 := start(t, Options{ErrorLimit: 1, MaxRcpt: 1})
	c = dial(t, s2)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nRCPT TO:<b@x.example>\nRCPT TO:<c@x.example>\nDATA\nx\n.\n")
	c.expect("250 ", "250 ", "452 4.5.3 ", "452 4.5.3 ", "354 ", "250 ")
}

func TestGreeting(t *testing.T) {
	tests := []struct {
		greeting string
		talk     func(c *client)
	}{
		{"421 4.3.2 go away", func(c *client) { c.expect("421 4.3.2 go away"); c.eof() }},
		{"554 no service here", func(c *client) {
			c.expect("554 no service here")
			c.send("EHLO x\nMAIL FROM:<>\nQUIT\n")
			c.expect("503 ", "503 ", "221 ")
			c.eof()
		}},
		{"220 sink.example ready", func(c *client) { c.expect("220 sink.example ready"); c.send("EHLO x\n"); c.expect("250-") }},
	}
	for _, tc := range tests {
		t.Run(tc.greeting, func(t *testing.T) {
			g, err := ParseReply(tc.greeting)
			if err != nil {
				t.Fatal(err)
			}
			s := start(t, Options{Greeting: &g})
			tc.talk(dial(t, s))
			if got := s.Counts(); got.Connections != 1 || got.Transactions != 0 {
				t.Errorf("Counts() = %v", got)
			}
		})
	}
}

// TestMaxConns: one connection past MaxConns is greeted with 421 and
// closed, and counts as a connection; one served that has ended makes
// room for another.
func TestMaxConns(t *testing.T) {
	s := start(t, Options{MaxConns: 1})
	c1 := dial(t, s)
	c1.expect("220 ")
	c2 := dial(t, s)
	c2.expect("421 4.7.0 too many connections from you")
	c2.eof()
	c1.send("QUIT\n")
	c1.expect("221 ")
	c1.eof()
	c3 := dial(t, s)
	c3.expect("220 ")
	if n := s.Counts().Connections; n != 3 {
		t.Errorf("%d connections counted; want 3", n)
	}
}

func TestStall(t *testing.T) {
	s := start(t, Options{Stall: true})
	c := dial(t, s)
	c.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	c.send("EHLO x\n")
	if b, err := c.br.ReadByte(); err == nil {
		t.Fatalf("stalled server said %q", b)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read: %v; want a timeout", err)
	}
	c.c.SetReadDeadline(time.Now().Add(timeout))
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatal("Close did not end a stalled connection")
	}
	c.eof()
}

func TestDelay(t *testing.T) {
	s := start(t, Options{Delay: 100 * time.Millisecond})
	// From before the dial: the greeting's delay starts when the sink
	// accepts, which may be before dial returns (it was 198 ms once,
	// from after it).
	t0 := time.Now()
	c := dial(t, s)
	c.hello()
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Errorf("greeting and EHLO reply took %v; want 2 delays", d)
	}
}

// TestSize: SIZE N is advertised; a message of exactly N octets is
// accepted, one more is refused 552, and so is a MAIL SIZE= above N.
func TestSize(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Options{Size: 10, Dir: dir})
	c := dial(t, s)
	if ehlo := c.hello(); !strings.Contains(ehlo, "250 SIZE 10") && !strings.Contains(ehlo, "250-SIZE 10|") {
		t.Errorf("EHLO reply %q does not advertise SIZE 10", ehlo)
	}
	c.send("MAIL FROM:<> SIZE=11\nMAIL FROM:<> SIZE=10\nRCPT TO:<a@x.example>\nDATA\n12345678\n.\n")
	c.expect("552 5.3.4 ", "250 ", "250 ", "354 ", "250 ")
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\n123456789\n.\n")
	c.expect("250 ", "250 ", "354 ", "552 5.3.4 ")
	if rs := records(t, dir); len(rs) != 1 || rs[0].msg != "12345678\r\n" {
		t.Errorf("records %+v", rs)
	}
	if got := s.Counts(); got.Bytes != 10 || got.Rejected != 1 {
		t.Errorf("Counts() = %v", got)
	}
}

func TestDataReply(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		reply string
		kept  int
	}{
		{"554 5.6.0 content refused", 0},
		{"451 later", 0},
		{"250 2.0.0 queued as X", 1},
	}
	for _, tc := range tests {
		t.Run(tc.reply, func(t *testing.T) {
			dir := filepath.Join(dir, tc.reply[:3])
			os.Mkdir(dir, 0o755)
			r, _ := ParseReply(tc.reply)
			stats := filepath.Join(t.TempDir(), "stats")
			s := start(t, Options{DataReply: &r, Dir: dir, Stats: stats})
			c := dial(t, s)
			c.hello()
			c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\nx\n.\n")
			want := tc.reply
			if r.Enhanced == "" {
				want = fmt.Sprintf("%d %d.0.0 %s", r.Code, r.Code/100, r.Text)
			}
			c.expect("250 ", "250 ", "354 ", want)
			if rs := records(t, dir); len(rs) != tc.kept {
				t.Errorf("%d records; want %d", len(rs), tc.kept)
			}
			if got := s.Counts().Transactions; got != int64(tc.kept) {
				t.Errorf("Transactions = %d; want %d", got, tc.kept)
			}
			// the stats file is written after each message, refused
			// or accepted, before its reply
			if got, want := readFile(t, stats), s.Counts().String()+"\n"; got != want {
				t.Errorf("stats %q; want %q", got, want)
			}
		})
	}
}

func TestSMTPUTF8(t *testing.T) {
	s := start(t, Options{Keep: true})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<jörg@x.example>\nMAIL FROM:<jörg@x.example> SMTPUTF8\nRCPT TO:<δ@ü.example>\nDATA\n.\n")
	c.expect("553 5.6.7 ", "250 ", "250 ", "354 ", "250 ")
	m := s.Messages()
	if len(m) != 1 || m[0].Sender.String() != "<jörg@x.example> SMTPUTF8" || m[0].Rcpts[0].Mailbox != "δ@ü.example" {
		t.Errorf("Messages() = %+v", m)
	}
}

func TestDSN(t *testing.T) {
	s := start(t, Options{Keep: true, DSN: true})
	c := dial(t, s)
	if ehlo := c.hello(); !strings.Contains(ehlo, "DSN") {
		t.Errorf("EHLO reply %q lacks DSN", ehlo)
	}
	c.send("MAIL FROM:<a@x.example> RET=HDRS ENVID=id+2Bx\nRCPT TO:<b@x.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bc@x.example\nDATA\n.\n")
	c.expect("250 ", "250 ", "354 ", "250 ")
	m := s.Messages()
	if len(m) != 1 {
		t.Fatalf("Messages() = %+v", m)
	}
	if got := m[0].Sender.String(); got != "<a@x.example> RET=HDRS ENVID=id+2Bx" {
		t.Errorf("sender %q", got)
	}
	if got := m[0].Rcpts[0].String(); got != "<b@x.example> NOTIFY=SUCCESS,FAILURE ORCPT=RFC822;b+2Bc@x.example" {
		t.Errorf("recipient %q", got)
	}
	// an ORCPT of type utf-8 is kept as utf-8-addr-xtext (RFC 6533),
	// its UTF-8 as it is and "+" as \x{2B}, not as xtext's +CE+B4
	c.send("MAIL FROM:<a@x.example> SMTPUTF8\nRCPT TO:<b@x.example> ORCPT=utf-8;\u03b4\\x{2B}1@x.example\nDATA\n.\n")
	c.expect("250 ", "250 ", "354 ", "250 ")
	if m = s.Messages(); len(m) != 2 {
		t.Fatalf("Messages() = %+v", m)
	}
	if got := m[1].Rcpts[0].String(); got != "<b@x.example> ORCPT=UTF-8;\u03b4\\x{2B}1@x.example" {
		t.Errorf("recipient %q", got)
	}
	// values a record could not hold (RFC 3461's limits) are refused
	// at their command, 501, not after the data (a review: 451 at the
	// data, and the sink exited 75)
	c.send("MAIL FROM:<a@x.example> ENVID=" + strings.Repeat("e", 101) + "\nMAIL FROM:<a@x.example>\nRCPT TO:<b@x.example> ORCPT=rfc822;" + strings.Repeat("o", 494) + "\nRCPT TO:<c@x.example>\nDATA\n.\n")
	c.expect("501 5.5.4 ", "250 ", "501 5.5.4 ", "250 ", "354 ", "250 ")
	if m = s.Messages(); len(m) != 3 || len(m[2].Rcpts) != 1 || m[2].Rcpts[0].Mailbox != "c@x.example" {
		t.Fatalf("Messages() = %+v", m)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
	// without --dsn the parameters are refused
	s = start(t, Options{})
	c = dial(t, s)
	c.hello()
	c.send("MAIL FROM:<a@x.example>\nRCPT TO:<b@x.example> NOTIFY=NEVER\n")
	c.expect("250 ", "504 ")
}

// TestBDAT: CHUNKING (RFC 3030) keeps the octets as sent, no unstuffing.
func TestBDAT(t *testing.T) {
	s := start(t, Options{Keep: true})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\n")
	io.WriteString(c.c, "BDAT 6\r\n..x\r\n\nBDAT 3 LAST\r\nabc")
	c.expect("250 ", "250 ", "250 ", "250 ")
	if m := s.Messages(); len(m) != 1 || string(m[0].Data) != "..x\r\n\nabc" {
		t.Errorf("Messages() = %+v", m)
	}
}

func TestCount(t *testing.T) {
	s := start(t, Options{Count: 2})
	for i := range 2 {
		select {
		case <-s.CountReached():
			t.Fatalf("count reached after %d transactions", i)
		default:
		}
		if err := smtp.SendMail(s.Addr(), nil, "a@x.example", []string{"b@x.example"}, []byte("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.CountReached():
	case <-time.After(timeout):
		t.Fatal("count not reached")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Errorf("still listening after Shutdown")
	}
}

// TestConcurrent: many connections at once; the ledger holds every
// accepted recipient exactly once, each transaction's lines together.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	led := filepath.Join(t.TempDir(), "ledger")
	s := start(t, Options{Ledger: led, Dir: dir, Stats: filepath.Join(t.TempDir(), "stats")})
	const conns, txns, rcpts = 8, 5, 20
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", s.Addr(), timeout)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(timeout))
			var b strings.Builder
			b.WriteString("EHLO x\r\n")
			for j := range txns {
				b.WriteString("MAIL FROM:<>\r\n")
				for k := range rcpts {
					fmt.Fprintf(&b, "RCPT TO:<r%d.%d.%d@x.example>\r\n", i, j, k)
				}
				b.WriteString("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
			}
			b.WriteString("QUIT\r\n")
			io.WriteString(c, b.String())
			out, _ := io.ReadAll(c)
			if n := bytes.Count(out, []byte("accepted as")); n != txns {
				t.Errorf("connection %d: %d transactions accepted; want %d", i, n, txns)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(readFile(t, led), "\n"), "\n")
	if len(lines) != conns*txns*rcpts {
		t.Fatalf("%d ledger lines; want %d", len(lines), conns*txns*rcpts)
	}
	seen := map[string]bool{}
	for i, l := range lines {
		txn, rcpt, _ := strings.Cut(l, " ")
		if seen[rcpt] {
			t.Errorf("ledger: %s twice", rcpt)
		}
		seen[rcpt] = true
		if i%rcpts != 0 && !strings.HasPrefix(lines[i-1], txn+" ") {
			t.Errorf("ledger line %d %q: transaction split", i, l)
		}
	}
	if n := len(records(t, dir)); n != conns*txns {
		t.Errorf("%d records; want %d", n, conns*txns)
	}
	if got := s.Counts(); got.Transactions != conns*txns || got.Recipients != conns*txns*rcpts || got.Connections != conns {
		t.Errorf("Counts() = %v", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.1.2.3:2525", true},
		{"[::1]:25", true},
		{"localhost:25", true},
		{"0.0.0.0:25", false},
		{":25", false},
		{"[::]:25", false},
		{"192.0.2.1:25", false},
		{"[::ffff:127.0.0.1]:25", true},
		{"example.org:25", false},
		{"127.0.0.1", false},
		{"127.0.0.1:x", false},
	}
	for _, tc := range tests {
		if err := CheckLoopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v; want ok %v", tc.addr, err, tc.ok)
		}
	}
	if _, err := Start(Options{Addr: "0.0.0.0:0"}); err == nil {
		t.Errorf("Start on 0.0.0.0 succeeded")
	}
}

func TestParse(t *testing.T) {
	replies := []struct {
		in   string
		want Reply
		ok   bool
	}{
		{"550 5.1.1 no such user", Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}, true},
		{"421", Reply{Code: 421, Enhanced: "", Text: ""}, true},
		{"451 try 4.3.0 later", Reply{Code: 451, Enhanced: "", Text: "try 4.3.0 later"}, true},
		{"250 2.0.0", Reply{Code: 250, Enhanced: "2.0.0", Text: ""}, true},
		{"600 no", Reply{}, false},
		{"55 no", Reply{}, false},
		{"550\r\n", Reply{}, false},
		{"", Reply{}, false},
	}
	for _, tc := range replies {
		got, err := ParseReply(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if tc.ok && got.String() != strings.TrimSpace(tc.in) {
			t.Errorf("ParseReply(%q).String() = %q", tc.in, got.String())
		}
	}
	rules := []struct {
		in, pat string
		code    int
		ok      bool
	}{
		{"*@fail.example=550 5.1.1 no such user", "*@fail.example", 550, true},
		{"a=b@X.example=451", "a=b@x.example", 451, true},
		{"a=500x@x=550 no", "a=500x@x", 550, true},
		{"=550 x", "", 0, false},
		{"[@x=550", "", 0, false},
		{"*@x", "", 0, false},
		{"*@x=650 no", "", 0, false},
	}
	for _, tc := range rules {
		got, err := ParseRule(tc.in)
		if (err == nil) != tc.ok || got.Pattern != tc.pat || got.Reply.Code != tc.code {
			t.Errorf("ParseRule(%q) = %+v, %v; want %q %d", tc.in, got, err, tc.pat, tc.code)
		}
	}
}

// TestKeepFailure: a record that cannot be written refuses the
// transaction 451 and is reported by Err.
func TestKeepFailure(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Options{Dir: dir})
	os.Remove(dir)
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\n.\n")
	c.expect("250 ", "250 ", "354 ", "451 4.3.0 ")
	if s.Err() == nil || s.Counts().Transactions != 0 {
		t.Errorf("Err() = %v, Counts() = %v", s.Err(), s.Counts())
	}
}

// BenchmarkPipelined measures recipients per second through one
// connection, batches of 100 with PIPELINING, ledger on.
func BenchmarkPipelined(b *testing.B) {
	s, err := Start(Options{Ledger: filepath.Join(b.TempDir(), "ledger")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	br.ReadString('\n')
	io.WriteString(c, "EHLO x\r\n")
	for l, _ := br.ReadString('\n'); strings.HasPrefix(l, "250-"); l, _ = br.ReadString('\n') {
	}
	var batch strings.Builder
	batch.WriteString("MAIL FROM:<bounce@list.example>\r\n")
	for k := range 100 {
		fmt.Fprintf(&batch, "RCPT TO:<member%d@example.org>\r\n", k)
	}
	batch.WriteString("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
	b.ResetTimer()
	for range b.N {
		io.WriteString(c, batch.String())
		for range 103 {
			if _, err := br.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rcpts/s")
}

// TestDebug: the conversation as sent on the wire, each line marked
// with its connection and direction.
func TestDebug(t *testing.T) {
	var b bytes.Buffer
	s := start(t, Options{Debug: &b, Size: 99})
	c := dial(t, s)
	c.hello()
	c.send("QUIT\n")
	c.expect("221 ")
	c.eof()
	s.Close()
	for _, want := range []string{"1> 220 localhost ESMTP Service Ready\r\n", "1< EHLO client.example\r\n", "1> 250 SIZE 99\r\n1< QUIT\r\n1> 221 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("debug output %q lacks %q", b.String(), want)
		}
	}
}

// TestDelayAt: with DelayAt only the replies to that step wait; a reply
// to the final dot waits after the transaction is settled.
func TestDelayAt(t *testing.T) {
	if _, err := Start(Options{Delay: time.Second, DelayAt: "quit"}); err == nil {
		t.Error("Start accepted DelayAt quit")
	}
	const delay = time.Hour // longer than any test: only Close ends it
	for _, step := range []string{"greeting", "mail", "rcpt", "data", "dot"} {
		t.Run(step, func(t *testing.T) {
			s := start(t, Options{Delay: delay, DelayAt: step})
			c := dial(t, s)
			// stalled reads the replies up to the delayed one, which must
			// not come.
			stalled := func() {
				t.Helper()
				c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if b, err := c.br.ReadByte(); err == nil {
					t.Fatalf("a delayed reply came: %q", b)
				}
			}
			if step == "greeting" {
				stalled()
				return
			}
			c.hello()
			c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\n")
			want := map[string]int{"mail": 0, "rcpt": 1, "data": 2, "dot": 3}[step]
			prefixes := []string{"250 ", "250 ", "354 "}
			if want < len(prefixes) {
				c.expect(prefixes[:want]...)
				stalled()
				return
			}
			c.expect(prefixes...)
			c.send("x\n.\n")
			stalled()
			if got := s.Counts(); got.Transactions != 1 {
				t.Errorf("Counts() = %v; want the transaction settled before its delayed reply", got)
			}
		})
	}
}

// TestHold: Hold is called in the stead of Delay, before the reply to
// DelayAt's step only, and the reply waits for it to return.
func TestHold(t *testing.T) {
	held, release := make(chan struct{}, 1), make(chan struct{})
	s := start(t, Options{DelayAt: "dot", Hold: func() { held <- struct{}{}; <-release }})
	c := dial(t, s)
	c.hello()
	c.send("MAIL FROM:<>\nRCPT TO:<a@x.example>\nDATA\n")
	c.expect("250 ", "250 ", "354 ")
	c.send("x\n.\n")
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("Hold not called before the reply to the dot")
	}
	if got := s.Counts(); got.Transactions != 1 {
		t.Errorf("Counts() = %v; want the transaction settled before its held reply", got)
	}
	c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := c.br.ReadByte(); err == nil {
		t.Fatalf("a held reply came: %q", b)
	}
	c.c.SetReadDeadline(time.Time{})
	close(release)
	c.expect("250 ")
}

// TestHoldPerReply: Delay, and Hold in its stead, come once before each
// reply, not before each line of a multi-line one: a client's wait for
// the EHLO reply is one Delay, as mlm-sink(1) says.
func TestHoldPerReply(t *testing.T) {
	var n atomic.Int64
	s := start(t, Options{Hold: func() { n.Add(1) }})
	c := dial(t, s)
	if ehlo := c.hello(); strings.Count(ehlo, "|") < 2 {
		t.Fatalf("EHLO reply %q; want several lines", ehlo)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("Hold called %d times for the greeting and the EHLO reply; want 2", got)
	}
}

// TestHoldRefused: after a greeting that refuses service, every reply
// waits as Delay says (mlm-sink(1): before each reply, the greeting
// included), the 221 to QUIT too, as it does after any other greeting.
func TestHoldRefused(t *testing.T) {
	var mu sync.Mutex
	holds := 0
	g, err := ParseReply("554 5.3.2 no service here")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Greeting: &g, Hold: func() { mu.Lock(); holds++; mu.Unlock() }})
	c := dial(t, s)
	c.send("NOOP\nQUIT\n")
	c.expect("554 ", "503 ", "221 ")
	c.eof()
	mu.Lock()
	defer mu.Unlock()
	if holds != 3 {
		t.Errorf("Hold called %d times; want 3, before each reply", holds)
	}
}

// TestReplaceFile: the file is replaced whole; a FIFO in its place is
// left as it is (as a device would be), and no temporary file stays.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "stats")
	for _, data := range []string{"one\n", "two\n"} {
		if err := ReplaceFile(name, data); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(name); string(b) != data {
			t.Errorf("stats = %q; want %q", b, data)
		}
		// readable by all, as a file the test reads as another user
		// would be: not os.CreateTemp's 0600
		if fi, err := os.Stat(name); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o644 {
			t.Errorf("stats mode %v; want 0644", fi.Mode())
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	if err := ReplaceFile(fifo, "x\n"); err == nil {
		t.Errorf("ReplaceFile over a FIFO: no error")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced")
	}
	if n, _ := filepath.Glob(filepath.Join(dir, ".*")); len(n) != 0 {
		t.Errorf("temporary files left: %v", n)
	}
}
