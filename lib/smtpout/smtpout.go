// Package smtpout is mlm's SMTP and LMTP client (RFC 5321, RFC 2033): one
// connection that carries many transactions, with ESMTP PIPELINING
// (RFC 2920) when the server offers it, STARTTLS (RFC 3207), AUTH PLAIN
// (RFC 4954), SIZE (RFC 1870), 8BITMIME (RFC 6152) and SMTPUTF8
// (RFC 6531), and a result for every recipient. It is part of mlm's
// internals, not a public API.
//
// Message octets reach the wire only through lib/wire, which makes every
// line end in CRLF and stuffs dots, so no bare CR or LF can end the data
// early (SMTP smuggling). Commands are built only from paths and
// parameters that lib/stream has checked.
//
// Replies are classified where they are read: 2xx done, 4xx and every
// network error or timeout temporary, 5xx permanent (RFC 5321 §4.2.1).
package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
	"mlm/lib/wire"
)

// Reply is a server's reply: the code, the enhanced status code if it
// gave one (RFC 3463), and the text of its lines joined by spaces.
type Reply struct {
	Code     int
	Enhanced string
	Text     string
}

func (r Reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// ParseReply parses a reply written on one line, "CODE [ENHANCED]
// [TEXT]", as in "550 5.1.1 no such user" or "421 closing" (for
// configuration and tests; replies from a server are read by Client).
func ParseReply(s string) (Reply, error) {
	if strings.ContainsAny(s, "\r\n") {
		return Reply{}, fmt.Errorf("reply %q: CR or LF in reply", s)
	}
	code, rest, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(code)
	if len(code) != 3 || err != nil || n < 200 || n > 599 {
		return Reply{}, fmt.Errorf("reply %q: code must be three digits from 200 to 599", s)
	}
	r := Reply{Code: n, Text: rest}
	if e, text, _ := strings.Cut(rest, " "); isEnhanced(e, n) {
		r.Enhanced, r.Text = e, text
	}
	return r, nil
}

// UnmarshalText lets a Reply be a command-line flag.
func (r *Reply) UnmarshalText(b []byte) error {
	v, err := ParseReply(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// OK reports a positive (2xx) reply.
func (r Reply) OK() bool { return r.Code/100 == 2 }

// Temporary reports a 4xx reply; Permanent a 5xx one.
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a 5xx reply.
func (r Reply) Permanent() bool { return r.Code >= 500 }

// ReplyError is a reply that failed a whole command.
type ReplyError struct {
	Cmd string
	Reply
}

func (e *ReplyError) Error() string { return e.Cmd + ": " + e.Reply.String() }

// classify makes a failure reply an error of the right class.
func classify(cmd string, r Reply) error {
	e := &ReplyError{Cmd: cmd, Reply: r}
	if r.Permanent() {
		return sysexit.Perm(sysexit.NoPerm, e)
	}
	return sysexit.Temp(e)
}

// Options for a connection.
type Options struct {
	Helo     string      // our name in EHLO/LHLO
	LMTP     bool        // speak LMTP (RFC 2033): LHLO, a reply per recipient after DATA
	TLS      *tls.Config // if set, STARTTLS is required before anything else
	User     string      // if set, AUTH PLAIN with Password (only after TLS or on loopback)
	Password string
	Timeout  time.Duration // for each command and reply; RFC 5321 §4.5.3.2 suggests minutes
}

// Client is one connection.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	opts Options
	ext  map[string]string // EHLO keywords (upper case) and their parameters
	Addr string
}

// Dial connects to addr, reads the greeting and greets with EHLO (or
// LHLO), then does STARTTLS and AUTH as the options say.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	d := net.Dialer{Timeout: opts.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, sysexit.Temp(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &Client{conn: conn, opts: opts, Addr: addr}
	c.reset(conn)
	if err := c.hello(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) reset(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 16<<10)
	c.bw = bufio.NewWriterSize(conn, 64<<10)
}

// hello reads the greeting and does EHLO, STARTTLS, EHLO again, AUTH.
func (c *Client) hello() error {
	r, err := c.read()
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return classify("greeting", r)
	}
	if err := c.ehlo(); err != nil {
		return err
	}
	if c.opts.TLS != nil {
		if _, ok := c.ext["STARTTLS"]; !ok {
			return sysexit.Errorf(sysexit.TempFail, "%s: STARTTLS required but not offered", c.Addr)
		}
		if r, err := c.cmd("STARTTLS"); err != nil {
			return err
		} else if r.Code != 220 {
			return classify("STARTTLS", r)
		}
		cfg := c.opts.TLS.Clone()
		if cfg.ServerName == "" {
			// Check the certificate against the name we dialled.
			cfg.ServerName, _, _ = net.SplitHostPort(c.Addr)
		}
		tc := tls.Client(c.conn, cfg)
		c.conn.SetDeadline(time.Now().Add(c.opts.Timeout))
		if err := tc.Handshake(); err != nil {
			return sysexit.Temp(err)
		}
		c.reset(tc)
		if err := c.ehlo(); err != nil {
			return err
		}
	}
	if c.opts.User != "" {
		if c.opts.TLS == nil && !isLoopback(c.conn.RemoteAddr()) {
			return sysexit.Errorf(sysexit.TempFail, "%s: refusing AUTH without TLS", c.Addr)
		}
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + c.opts.User + "\x00" + c.opts.Password))
		if r, err := c.cmd("AUTH PLAIN " + resp); err != nil {
			return err
		} else if r.Code != 235 {
			return classify("AUTH", r)
		}
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func (c *Client) ehlo() error {
	verb := "EHLO"
	if c.opts.LMTP {
		verb = "LHLO"
	}
	if err := c.write(verb + " " + c.opts.Helo); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	lines, r, err := c.readLines()
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return classify(verb, r)
	}
	c.ext = map[string]string{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Has reports whether the server offers an extension.
func (c *Client) Has(ext string) bool { _, ok := c.ext[ext]; return ok }

// Close quits politely and closes the connection.
func (c *Client) Close() error {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if c.write("QUIT") == nil && c.flush() == nil {
		c.read()
	}
	return c.conn.Close()
}

func (c *Client) write(line string) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.opts.Timeout))
	_, err := c.bw.WriteString(line + "\r\n")
	return sysexit.Temp(err)
}

func (c *Client) flush() error {
	c.conn.SetWriteDeadline(time.Now().Add(c.opts.Timeout))
	return sysexit.Temp(c.bw.Flush())
}

func (c *Client) cmd(line string) (Reply, error) {
	if err := c.write(line); err != nil {
		return Reply{}, err
	}
	if err := c.flush(); err != nil {
		return Reply{}, err
	}
	return c.read()
}

// MaxReplyLines bounds a multi-line reply, and MaxReplyLine one line
// (RFC 5321 §4.5.3.1.5 says 512 octets; some servers send more).
const (
	MaxReplyLines = 100
	MaxReplyLine  = 2048
)

// ErrGarbled is a reply that is not one.
var ErrGarbled = errors.New("garbled reply")

// ErrLostReply is the error, wrapped, when the connection fails after the
// final dot and before its reply: the server may have taken the message
// (RFC 1047). Trying again is the one way a recipient can get a message
// twice.
var ErrLostReply = errors.New("reply to the end of data lost")

// MaxPipelined is the most recipients one transaction carries: beyond
// it a pipelining client could fill both sides' buffers and deadlock
// (RFC 2920 §3.1); more recipients make more transactions.
const MaxPipelined = 500

// DataTimeout is the least time the reply to the final dot is waited for
// (RFC 5321 §4.5.3.2.6).
var DataTimeout = 10 * time.Minute

func (c *Client) read() (Reply, error) {
	_, r, err := c.readLines()
	return r, err
}

// readLines reads one reply, possibly multi-line.
func (c *Client) readLines() ([]string, Reply, error) {
	var lines []string
	code := 0
	for {
		c.conn.SetReadDeadline(time.Now().Add(c.opts.Timeout))
		b, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(b) > MaxReplyLine {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: line too long", c.Addr, ErrGarbled))
		}
		if err != nil {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w", c.Addr, err))
		}
		s := strings.TrimRight(string(b), "\r\n")
		if len(s) < 3 || (len(s) > 3 && s[3] != ' ' && s[3] != '-') {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: %q", c.Addr, ErrGarbled, s))
		}
		n, err := strconv.Atoi(s[:3])
		if err != nil || n < 200 || n > 599 || (code != 0 && n != code) {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: %q", c.Addr, ErrGarbled, s))
		}
		code = n
		text := ""
		if len(s) > 4 {
			text = s[4:]
		}
		lines = append(lines, text)
		if len(lines) > MaxReplyLines {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: too many lines", c.Addr, ErrGarbled))
		}
		if len(s) == 3 || s[3] == ' ' {
			break
		}
	}
	r := Reply{Code: code, Text: strings.Join(lines, " ")}
	if e, rest, ok := strings.Cut(r.Text, " "); ok || e != "" {
		if isEnhanced(e, code) {
			r.Enhanced, r.Text = e, rest
		}
	}
	return lines, r, nil
}

// isEnhanced reports an RFC 3463 status code whose class matches the
// reply's.
func isEnhanced(s string, code int) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || p[0] != strconv.Itoa(code/100) {
		return false
	}
	for _, x := range p[1:] {
		if n, err := strconv.Atoi(x); err != nil || n < 0 || n > 999 || x == "" {
			return false
		}
	}
	return true
}

// Result is what became of one recipient.
type Result struct {
	Rcpt  stream.Path
	Reply Reply
}

// Message is what Send sends: a message that can be read from the start
// as often as needed (a transaction may have to be repeated for the
// recipients a 452 left over), its size, and whether it holds 8-bit
// octets.
type Message interface {
	Reader() io.Reader
	Len() int64
}

// Send runs one transaction, or more if the server limits recipients with
// 452 (RFC 5321 §4.5.3.1.10), and returns a result for every recipient:
// 2xx delivered, 4xx deferred, 5xx failed. An error means the connection
// is unusable and the recipients without a result must be tried again
// (those listed in results have theirs); a connection lost after the
// final dot leaves the accepted recipients without a result too: they may
// have been delivered (RFC 1047), the one duplicate window.
func (c *Client) Send(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool) ([]Result, error) {
	var results []Result
	for len(rcpts) > 0 {
		batch := rcpts[:min(len(rcpts), MaxPipelined)]
		res, rest, err := c.transaction(from, batch, msg, eightBit)
		rest = append(rest, rcpts[len(batch):]...)
		results = append(results, res...)
		if err != nil {
			return results, err
		}
		if len(rest) == len(rcpts) {
			// 452 for every recipient: the server takes none now.
			for _, r := range rest {
				results = append(results, Result{Rcpt: r, Reply: Reply{Code: 452, Enhanced: "4.5.3", Text: "too many recipients"}})
			}
			break
		}
		rcpts = rest
	}
	return results, nil
}

// transaction sends one MAIL, the RCPTs and DATA, pipelined if offered.
// rest are the recipients refused with 452, for another transaction.
func (c *Client) transaction(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool) (results []Result, rest []stream.Path, err error) {
	mail := "MAIL FROM:<" + from.Mailbox + ">"
	needUTF8 := !isASCII(from.Mailbox)
	for _, r := range rcpts {
		needUTF8 = needUTF8 || !isASCII(r.Mailbox)
	}
	if needUTF8 {
		if !c.Has("SMTPUTF8") {
			for _, r := range rcpts {
				results = append(results, Result{Rcpt: r, Reply: Reply{Code: 553, Enhanced: "5.6.7", Text: "the server does not offer SMTPUTF8"}})
			}
			return results, nil, nil
		}
		mail += " SMTPUTF8"
	}
	if eightBit && c.Has("8BITMIME") {
		mail += " BODY=8BITMIME"
	}
	if c.Has("SIZE") {
		mail += " SIZE=" + strconv.FormatInt(msg.Len(), 10)
	}
	for _, p := range from.Params {
		if k := strings.ToUpper(strings.SplitN(p, "=", 2)[0]); k != "BODY" && k != "SMTPUTF8" && k != "SIZE" && c.Has(paramExt[k]) {
			mail += " " + p
		}
	}
	pipe := c.Has("PIPELINING")
	if err := c.write(mail); err != nil {
		return nil, nil, err
	}
	if !pipe {
		if err := c.flush(); err != nil {
			return nil, nil, err
		}
	}
	var mr Reply
	if !pipe {
		if mr, err = c.read(); err != nil {
			return nil, nil, err
		}
		if mr.Code != 250 {
			if err := mailRefused(mr); err != nil {
				c.rset()
				return nil, nil, err
			}
			return all(rcpts, mr), nil, c.rset()
		}
	}
	var accepted []stream.Path
	var replies []Reply
	for _, r := range rcpts {
		line := "RCPT TO:<" + r.Mailbox + ">"
		for _, p := range r.Params {
			if k := strings.ToUpper(strings.SplitN(p, "=", 2)[0]); c.Has(paramExt[k]) {
				line += " " + p
			}
		}
		if err := c.write(line); err != nil {
			return results, nil, err
		}
		if !pipe {
			if err := c.flush(); err != nil {
				return results, nil, err
			}
			rr, err := c.read()
			if err != nil {
				return results, nil, err
			}
			replies = append(replies, rr)
		}
	}
	if pipe {
		if err := c.write("DATA"); err != nil {
			return nil, nil, err
		}
		if err := c.flush(); err != nil {
			return nil, nil, err
		}
		if mr, err = c.read(); err != nil {
			return nil, nil, err
		}
		for range rcpts {
			rr, err := c.read()
			if err != nil {
				return nil, nil, err
			}
			replies = append(replies, rr)
		}
	}
	if mr.Code != 250 {
		if err := mailRefused(mr); err != nil {
			if pipe {
				c.read() // the reply to DATA, so the connection stays in step
			}
			c.rset()
			return nil, nil, err
		}
	}
	for i, r := range rcpts {
		rr := replies[i]
		switch {
		case mr.Code != 250:
			results = append(results, Result{Rcpt: r, Reply: mr})
		case rr.Code == 250 || rr.Code == 251:
			accepted = append(accepted, r)
		case rr.Code == 452:
			rest = append(rest, r)
		default:
			results = append(results, Result{Rcpt: r, Reply: rr})
		}
	}
	var dr Reply
	if pipe {
		if dr, err = c.read(); err != nil { // the reply to DATA
			return results, nil, err
		}
	} else if len(accepted) > 0 {
		if dr, err = c.cmd("DATA"); err != nil {
			return results, nil, err
		}
	}
	if len(accepted) == 0 || dr.Code != 354 {
		if len(accepted) > 0 {
			results = append(results, all(accepted, dr)...)
		}
		if dr.Code == 354 {
			// A server that said go ahead with no recipient: end the
			// data at once; its reply is a refusal.
			if err := c.write("."); err != nil {
				return results, rest, err
			}
			if err := c.flush(); err != nil {
				return results, rest, err
			}
			if _, err := c.read(); err != nil {
				return results, rest, err
			}
		}
		return results, rest, c.rset()
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.opts.Timeout))
	dw := wire.NewDataWriter(c.bw)
	if _, err := io.Copy(dw, msg.Reader()); err != nil {
		return results, nil, sysexit.Temp(err)
	}
	if err := dw.Close(); err != nil {
		return results, nil, sysexit.Temp(err)
	}
	if err := c.flush(); err != nil {
		return results, nil, err
	}
	// RFC 5321 §4.5.3.2.6: wait at least 10 minutes for the reply to
	// the final dot; the server may be scanning the message.
	if c.opts.Timeout < DataTimeout {
		saved := c.opts.Timeout
		c.opts.Timeout = DataTimeout
		defer func() { c.opts.Timeout = saved }()
	}
	if c.opts.LMTP {
		for _, r := range accepted {
			fr, err := c.read()
			if err != nil {
				return results, nil, sysexit.Temp(fmt.Errorf("%w: %v", ErrLostReply, err))
			}
			results = append(results, Result{Rcpt: r, Reply: fr})
		}
		return results, rest, nil
	}
	fr, err := c.read()
	if err != nil {
		return results, nil, sysexit.Temp(fmt.Errorf("%w: %v", ErrLostReply, err))
	}
	return append(results, all(accepted, fr)...), rest, nil
}

// mailRefused turns a 5xx reply to MAIL into a temporary error for the
// whole session: "530 authenticate first" or "554 client host rejected"
// say nothing about the recipients, who must not bounce for it; another
// relay, or a later try, may take them. 552 (the message is too big for
// SIZE) is the message's fault and stays a result for every recipient.
func mailRefused(r Reply) error {
	if r.Permanent() && r.Code != 552 {
		return sysexit.Temp(&ReplyError{Cmd: "MAIL", Reply: r})
	}
	return nil
}

// paramExt names the extension a MAIL or RCPT parameter needs.
var paramExt = map[string]string{
	"RET": "DSN", "ENVID": "DSN", "NOTIFY": "DSN", "ORCPT": "DSN",
}

func all(rcpts []stream.Path, r Reply) []Result {
	res := make([]Result, len(rcpts))
	for i, p := range rcpts {
		res[i] = Result{Rcpt: p, Reply: r}
	}
	return res
}

// rset ends a failed transaction so the connection can carry the next.
func (c *Client) rset() error {
	r, err := c.cmd("RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return classify("RSET", r)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
