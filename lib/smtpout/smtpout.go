// Package smtpout is mlm's SMTP and LMTP client (RFC 5321, RFC 2033): one
// connection that carries many transactions, with ESMTP PIPELINING
// (RFC 2920) when the server offers it (unless told not to), STARTTLS
// (RFC 3207), AUTH PLAIN (RFC 4954), SIZE (RFC 1870), 8BITMIME
// (RFC 6152) and SMTPUTF8 (RFC 6531), and a result for every recipient.
// It is part of mlm's internals, not a public API.
//
// Message octets reach the wire only through lib/wire, which makes every
// line end in CRLF and stuffs dots, so no bare CR or LF can end the data
// early (SMTP smuggling). Commands are built only from paths and
// parameters that lib/stream has checked.
//
// Replies are classified where they are read: 2xx done, 4xx and every
// network error or timeout temporary, 5xx permanent (RFC 5321 §4.2.1).
// A positive reply a command cannot have (a 250 to DATA, a 354 to RCPT)
// or one the server sends unasked means the conversation is out of step:
// the connection is given up, temporarily, and no recipient counts as
// delivered unless a 2xx came after its data. A reply is read into a
// bounded buffer (readBuffer, MaxReplyLines) and every wait is bounded
// by the timeouts.
package smtpout

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"mlm/lib/addr"
	"mlm/lib/ascii"
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
	Timeout  time.Duration // for each command, reply and write; RFC 5321 §4.5.3.2 suggests minutes
	// DataTimeout is the least time the reply to the final dot is waited
	// for (0: the package's DataTimeout, RFC 5321's 10 minutes); tests
	// make it short.
	DataTimeout time.Duration
	// NoPipelining makes the client take the server as not offering
	// PIPELINING (Has says so): one command, one reply, as RFC 5321
	// has it, for a server that offers it and mishandles it (see
	// ErrPipelining).
	NoPipelining bool
	// Hook, if set, is called at two moments of a transaction, for a
	// caller's crash tests: "rcpt" after each reply to RCPT is read,
	// "dot" once the final dot is written and flushed, before its reply.
	Hook func(event string)
}

// Client is one connection.
type Client struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	opts Options
	ext  map[string]string // EHLO keywords (upper case) and their parameters
	err  error             // the error that made the connection unusable
	Addr string
	// BeforeDot, if set, is called in every transaction once the whole
	// message is written, before the final dot is: the dot, and so the
	// server's taking the message, waits for it to return. A caller
	// makes the outcome of its previous transaction durable meanwhile,
	// and may Flush first, so that the server reads the message while
	// only the dot waits.
	// If it fails, the dot is never sent: the connection is given up,
	// the server takes nothing, and Send returns the error. (Send runs
	// one transaction: a caller makes each one's outcome durable before
	// the next one's dot.)
	BeforeDot func() error
	held      *heldTx // a transaction whose final dot Hold left in the buffer
	// A held transaction whose dot's reply is read, and whose done waits
	// until the replies read after it are found in step (see confirm).
	replied *heldTx
	// The last reply of one line read, and that line (without its line
	// end): a server gives the same reply to most RCPTs, which read
	// takes again without parsing it or allocating (see again).
	lastLine  string
	lastReply Reply
	replies   []Reply   // a transaction's replies to RCPT, for the next to reuse
	used      time.Time // when a reply was last waited for (see Gone)
	// The last 250 to MAIL and its sender; and whether one has differed
	// from the one before it to the same sender (the server's replies
	// vary), or to another, or been the same as the one before it to
	// another (they do not name the sender): see tellsMail.
	lastMail                            Reply
	lastMailFrom                        string
	mailVaries, mailSame, mailPerSender bool
	mailAlike                           string // the base (see base) of two senders answered alike
}

// Gone reports whether the server has closed the connection, or said
// something unasked, while it stood idle with no reply owed: a 421 for
// its idle timeout (Postfix's smtpd_timeout), then its end. The next
// transaction would read that for its MAIL's reply and fail; the caller
// dials anew instead, at no cost to a record's tries (R79). A connection
// used less than goneIdle ago is taken for live without a look, and one
// with a held dot (Hold), whose reply may be on its way, is not gone.
// The look waits a millisecond at most.
func (c *Client) Gone() bool {
	if c.err != nil {
		return true
	}
	if c.held != nil || c.replied != nil || time.Since(c.used) < goneIdle {
		return false
	}
	if c.br.Buffered() == 0 {
		// (A deadline passed already fails the read before it is
		// tried: one a little ahead lets octets waiting be read.)
		c.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.br.Peek(1)
		c.conn.SetReadDeadline(time.Time{})
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			c.used = time.Now()
			return false
		}
	}
	c.err = sysexit.Temp(fmt.Errorf("%s: %w", c.Addr, errGone))
	return true
}

// goneIdle is how long a connection stands idle before Gone looks at
// it: a server's idle timeout is minutes (RFC 5321 §4.5.3.2.7: 5).
const goneIdle = time.Second

// errGone is the error of a connection Gone found closed.
var errGone = errors.New("closed by the server while idle")

// heldTx is a transaction whose final dot is written to the buffer, not
// yet sent, and whose reply is not yet read: for the recipients the
// server accepted, done is owed their results.
type heldTx struct {
	accepted []stream.Path
	done     func([]Result, error)
	sent     bool     // a write to the connection that may carry the dot was made
	res      []Result // from the dot's reply, once read
	mail     Reply    // the reply to its MAIL (see ownReplies)
	from     string   // its sender's mailbox (see tellsMail)
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
		c.err = err
		c.Close() // with QUIT, after a refusal (leftInStep)
		return nil, err
	}
	return c, nil
}

// readBuffer bounds what one reply line can make the client hold.
const readBuffer = 16 << 10

func (c *Client) reset(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, readBuffer)
	c.bw = bufio.NewWriterSize(timedWriter{c}, 64<<10)
}

// timedWriter gives every write to the connection the timeout of its own
// (RFC 5321 §4.5.3.2.5: a time per data block, not for the message), so
// a large message on a slow link is not cut off, and a server that stops
// reading is still given up.
type timedWriter struct{ c *Client }

func (w timedWriter) Write(p []byte) (int, error) {
	if w.c.held != nil {
		w.c.held.sent = true // (this write may carry it)
	}
	w.c.conn.SetWriteDeadline(time.Now().Add(w.c.opts.Timeout))
	return w.c.conn.Write(p)
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

// ehlo greets with EHLO (LHLO for LMTP) and keeps the extensions the
// reply offers. A server that refuses EHLO for good (5xx) is greeted
// again with HELO, as RFC 5321 §3.2 asks of a client, and offers none:
// no PIPELINING, SIZE or 8BITMIME, nor STARTTLS or AUTH, so a client
// that requires those then fails as for a server that does not offer
// them. LMTP has no such fallback (RFC 2033 §4.1).
func (c *Client) ehlo() error {
	verb := "EHLO"
	if c.opts.LMTP {
		verb = "LHLO"
	}
	lines, r, err := c.greet(verb)
	if err == nil && r.Code/100 == 5 && verb == "EHLO" {
		refused := r
		verb = "HELO"
		if lines, r, err = c.greet(verb); err != nil {
			// A server that refused EHLO and went away: its
			// refusal says why, the lost connection does not.
			return classify("EHLO", refused)
		}
	}
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return classify(verb, r)
	}
	c.ext = map[string]string{}
	if verb == "HELO" {
		return nil
	}
	for _, l := range lines[1:] {
		// (A line with no keyword, "250-", offers nothing.)
		if k, v, _ := strings.Cut(l, " "); k != "" {
			c.ext[strings.ToUpper(k)] = v
		}
	}
	if c.opts.NoPipelining {
		delete(c.ext, "PIPELINING")
	}
	return nil
}

// greet sends verb with our name and reads the reply.
func (c *Client) greet(verb string) ([]string, Reply, error) {
	if err := c.write(verb + " " + c.opts.Helo); err != nil {
		return nil, Reply{}, err
	}
	if err := c.flush(); err != nil {
		return nil, Reply{}, err
	}
	return c.readLines()
}

// Has reports whether the server offers an extension.
func (c *Client) Has(ext string) bool { _, ok := c.ext[ext]; return ok }

// Close quits politely, waiting at most 10 seconds (or the timeout, if
// shorter) for the reply to QUIT, and closes the connection. After an
// error that made the connection unusable it only closes it: a server
// out of step or gone answers nothing worth waiting for.
func (c *Client) Close() error {
	closed := sysexit.Temp(errors.New("connection closed"))
	if c.held != nil {
		// A held dot is not sent (Release sends it): the data is left
		// unended, the server takes nothing, and QUIT would be taken
		// for a line of the message.
		c.fail(closed)
	}
	if c.err == nil || leftInStep(c.err) {
		c.err = closed
		c.opts.Timeout = min(c.opts.Timeout, 10*time.Second)
		if c.write("QUIT") == nil && c.flush() == nil {
			c.read()
		}
	}
	return c.conn.Close()
}

// leftInStep reports whether err, that made the connection unusable, is a
// reply of the server's that left the conversation in step, the server
// waiting for a command: a refusal of MAIL after its RSET, of the
// greeting or of STARTTLS, say. The client then says QUIT before it
// closes, as RFC 5321 section 4.1.1.10 asks, rather than leave the
// server to log a lost connection; not after a 421, the server closing.
func leftInStep(err error) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Code != 421
}

// write writes a command line and its CRLF into the buffer (a
// bufio.Writer's error sticks: the last write's is every one's).
func (c *Client) write(line string) error {
	c.bw.WriteString(line)
	_, err := c.bw.WriteString("\r\n")
	return sysexit.Temp(err)
}

// Flush sends what is written and not yet sent: from BeforeDot, the
// message, or what of it the buffer holds.
func (c *Client) Flush() error { return c.flush() }

func (c *Client) flush() error {
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

// MaxReplyLines bounds a multi-line reply, and MaxReplyLine what is kept
// of one line (RFC 5321 §4.5.3.1.5 says 512 octets; some servers send
// more): the rest of a longer one is left out, up to the read buffer
// (readBuffer), past which the line is garbled.
const (
	MaxReplyLines = 100
	MaxReplyLine  = 2048
)

// MaxReplyText bounds the text a Reply keeps, which goes with each
// recipient's result into retry and bounce records: a server that gives
// every RCPT a reply of MaxReplyLines long lines would otherwise make a
// transaction's results hold some 100 MB.
const MaxReplyText = 1000

// ErrGarbled is a reply that is not one.
var ErrGarbled = errors.New("garbled reply")

// ErrUnexpected is the error, wrapped, for a reply out of step with the
// commands: a positive reply the command cannot have (250 to DATA, 354
// to RCPT, 251 to MAIL), or one the server sent before it was asked.
// The connection is given up; it is temporary.
var ErrUnexpected = errors.New("reply out of sequence")

// ErrPipelining is the error, wrapped, when the replies to a group of
// pipelined commands (MAIL, the RCPTs and DATA, RFC 2920) show the
// server mishandles PIPELINING: a reply out of step (ErrUnexpected: in
// the wrong order, surplus), or none within the timeout after MAIL's
// (the commands after the first swallowed, as by a server that drops
// the rest of what one read brought; a server silent to MAIL is only
// slow, or gone). None of the transaction's data went: the server has
// no message of it, and a connection with Options.NoPipelining may take
// the recipients at once. (A dot held before the group is another
// transaction's: its reply counts as lost, see Hold.)
var ErrPipelining = errors.New("pipelined commands mishandled")

// ErrLostReply is the error, wrapped, when the connection fails after the
// final dot and before its reply: the server may have taken the message
// (RFC 1047). Trying again is the one way a recipient can get a message
// twice.
var ErrLostReply = errors.New("reply to the end of data lost")

// MaxPipelined is the most recipients one transaction carries: beyond
// it a pipelining client could fill both sides' buffers and deadlock
// (RFC 2920 §3.1); more recipients make more transactions, each its
// own Send.
const MaxPipelined = 500

// DataTimeout is the least time the reply to the final dot is waited for
// (RFC 5321 §4.5.3.2.6), unless Options.DataTimeout says otherwise.
var DataTimeout = 10 * time.Minute

func (c *Client) read() (Reply, error) {
	r, ok := c.again()
	var err error
	if !ok {
		_, r, err = c.readLines()
	}
	if err == nil && r.Code == 421 && (c.replied == nil || c.ownReplies(c.replied)) {
		// The server is closing (RFC 5321 §3.8: a reply any command
		// may get): the replies it gave before are taken to stand,
		// a held dot's among them (see confirm), rather than a
		// server's limit of messages a connection costing a duplicate;
		// but not a held dot's that may be another's (ownReplies),
		// which the failure that follows voids (a review).
		c.confirm()
	}
	return r, err
}

// again takes the next reply if it is a line in the read buffer the same
// as the last reply of one line read (lastLine), and returns what that
// line was read as: it needs no read, so no timeout either.
func (c *Client) again() (Reply, bool) {
	if c.lastLine == "" {
		return Reply{}, false
	}
	b, _ := c.br.Peek(c.br.Buffered())
	n := bytes.IndexByte(b, '\n')
	if n < 0 || n+1 > MaxReplyLine {
		return Reply{}, false // (one too long is readLines' to refuse)
	}
	line := b[:n]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if string(line) != c.lastLine {
		return Reply{}, false
	}
	c.br.Discard(n + 1)
	return c.lastReply, true
}

// readLines reads one reply, possibly multi-line, within the timeout:
// one for the whole reply, so a server cannot stretch it line by line.
func (c *Client) readLines() ([]string, Reply, error) {
	var lines []string
	var first string // the first line, without its line end
	code := 0
	armed := false
	for {
		// The timeout runs from the first read the reply needs: none,
		// mostly, for the replies to pipelined commands after the first.
		if !armed && !c.lineBuffered() {
			now := time.Now()
			c.conn.SetReadDeadline(now.Add(c.opts.Timeout))
			armed, c.used = true, now
		}
		b, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: line too long", c.Addr, ErrGarbled))
		}
		if err != nil {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w", c.Addr, err))
		}
		if len(b) > MaxReplyLine {
			// Longer than MaxReplyLine, within the read buffer: its
			// first MaxReplyLine octets are the line, the rest is
			// left out. Refused as garbled, a 250 to the final dot
			// on such a line was a lost reply, and every retry sent
			// the post again (R92 F3).
			b = b[:MaxReplyLine]
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
		if len(lines) == 1 {
			first = s
		}
		if len(lines) > MaxReplyLines {
			return nil, Reply{}, sysexit.Temp(fmt.Errorf("%s: %w: too many lines", c.Addr, ErrGarbled))
		}
		if len(s) == 3 || s[3] == ' ' {
			break
		}
	}
	r := Reply{Code: code, Text: lines[0]}
	if len(lines) > 1 {
		r.Text = strings.Join(lines, " ")
	}
	if e, rest, ok := strings.Cut(r.Text, " "); ok || e != "" {
		if isEnhanced(e, code) {
			r.Enhanced, r.Text = e, rest
		}
	}
	if len(r.Text) > MaxReplyText {
		// A copy, not a slice that keeps the whole text alive; cut
		// where a UTF-8 character starts.
		r.Text = strings.Clone(sysexit.Cut(r.Text, MaxReplyText))
	}
	if len(lines) == 1 {
		c.lastLine, c.lastReply = first, r
	}
	return lines, r, nil
}

// isEnhanced reports an RFC 3463 status code whose class matches the
// reply's.
func isEnhanced(s string, code int) bool {
	if len(s) < 5 || s[0] != byte('0'+code/100) || s[1] != '.' {
		return false
	}
	// Then 1*3digit "." 1*3digit (RFC 3463 §2): no sign, no fourth digit.
	digits, dots := 0, 0
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9' && digits < 3:
			digits++
		case c == '.' && digits > 0 && dots == 0:
			digits, dots = 0, 1
		default:
			return false
		}
	}
	return dots == 1 && digits > 0
}

// lineBuffered reports whether a whole reply line is in the read buffer.
func (c *Client) lineBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// Result is what became of one recipient.
type Result struct {
	Rcpt  stream.Path
	Reply Reply
	// Whole marks a reply to the message, not to the recipient: to
	// MAIL, to DATA, or to the final dot of SMTP (LMTP's replies to
	// it are each recipient's), or the client's own refusal of a
	// message over the server's SIZE or of a sender that needs
	// SMTPUTF8 the server lacks. A 5xx so is no sign of a bad
	// address: a content filter's, say.
	Whole bool
}

// whole marks each of res as Whole, and returns it.
func whole(res []Result) []Result {
	for i := range res {
		res[i].Whole = true
	}
	return res
}

// Message is what Send sends: a message that can be read from the start
// as often as needed (a transaction may have to be repeated for the
// recipients a 452 left over), and its size. A Message that also has an
// SMTPSize method (lib/spool's) gives its size as SIZE (RFC 1870) counts
// it, CRLF line ends included and stuffed dots not; otherwise Len stands
// for it.
type Message interface {
	Reader() io.Reader
	Len() int64
}

// smtpSize is the message's size for SIZE: SMTPSize if it has one.
func smtpSize(m Message) int64 {
	if w, ok := m.(interface{ SMTPSize() int64 }); ok {
		return w.SMTPSize()
	}
	return m.Len()
}

// Send runs one transaction for rcpts, at most MaxPipelined of them, and
// returns a result for each: 2xx delivered, 4xx deferred, 5xx failed;
// but for those the server refused as too many (452, or 552 5.5.3: RFC
// 5321 §4.5.3.1.10), which are in rest, for another transaction, unless
// it refused every one so: then that is their result (4xx: it takes
// none now). An error means the connection is unusable and the
// recipients without a result must be tried again (those listed in
// results have theirs, those in rest never had the data); a connection
// lost after the final dot leaves the accepted recipients without a
// result too: they may have been delivered (RFC 1047), the one duplicate
// window. A 421 to an RCPT or to DATA (the server closing) ends the
// transaction: the refusals before it stand, in results; those it took
// are in rest, with those refused as too many; the others have no
// result; and the error names the 421 (see standing). A 421 after the
// data is a result, not a lost reply: for every recipient, or with LMTP
// for the one it answered and those after, the replies before it
// standing, and the error is the 421's. After an error the client sends
// nothing more: Send returns the same error, and Close only closes.
func (c *Client) Send(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool) (results []Result, rest []stream.Path, err error) {
	results, rest, _, err = c.send(from, rcpts, msg, eightBit, nil)
	return results, rest, err
}

// Hold is Send, but it may leave the transaction's final dot in the
// buffer, to go out in one write with what comes next on the
// connection: the next transaction's commands, whose replies come
// behind the dot's (RFC 2920 §3.1 lets MAIL follow the data in a group),
// so that a transaction costs the client and the server one turn each
// way rather than two. It does (held) when the server offers
// PIPELINING, the transaction has ChainMax recipients at most, and none
// is left for another transaction: then results has only the
// recipients refused before the data, and the others' results go to
// done once the dot's reply is read and the replies after it, to the
// commands that went out with it, are found in step (see confirm): by
// the next Send or Hold, before it sends data of its own or returns, or
// by Release. done is called once, in the goroutine of that call and
// before its BeforeDot, so a caller records the outcome there, and that
// BeforeDot can wait for it. An error done is given leaves the
// recipients without a result as Send's does: ErrLostReply if the dot
// may have gone out (or its reply may have been another command's),
// ErrNotSent if it cannot have (Close, or a failure before anything
// more was sent): the data was never ended, and the server has nothing.
// A 421 to the held dot gives done its results (see Send) and no error;
// the call that read it fails with the 421 (Release), or with ErrBefore
// (the next transaction), and the connection is given up.
func (c *Client) Hold(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool, done func([]Result, error)) (results []Result, rest []stream.Path, held bool, err error) {
	return c.send(from, rcpts, msg, eightBit, done)
}

// Release sends the final dot Hold left in the buffer, if any, and reads
// its reply for its done. An error makes the connection unusable.
func (c *Client) Release() error {
	if c.held == nil {
		return nil
	}
	if err := c.flush(); err != nil {
		c.fail(err)
		return err
	}
	if err := c.settle(); err != nil {
		c.err = err
		return err
	}
	c.confirm() // nothing was read after it
	return nil
}

// ChainMax is the most recipients a transaction may have to hold its
// final dot, or to have its commands go out behind one held (see Hold);
// before a larger one, a held dot goes alone. A server answers a group
// of pipelined commands once it has read them all (RFC 2920 §3.2 lets
// it), so the commands behind a dot keep its reply, and what waits for
// that reply, for as long as the server takes over them: for a few,
// less than the turn saved; for 100 on loopback, more (against
// smtp-sink, 5 to 11% slower). Personalised mail, one recipient a
// transaction, is where a turn costs most.
const ChainMax = 10

// ErrBefore is the error, wrapped, of a transaction whose commands went
// out behind a held dot whose reply could not be read: the connection
// failed, but this transaction's data never went, and it is not the
// one to blame.
var ErrBefore = errors.New("the connection failed on the reply to the transaction before")

// ErrNotSent is the error, wrapped, a held transaction's done is given
// when its final dot never went out: the server has nothing, and the
// recipients are to be tried again.
var ErrNotSent = errors.New("the end of data was not sent")

func (c *Client) send(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool, done func([]Result, error)) (results []Result, rest []stream.Path, held bool, err error) {
	if c.err != nil {
		return nil, nil, false, c.err
	}
	if len(rcpts) > MaxPipelined {
		return nil, nil, false, fmt.Errorf("smtpout: %d recipients for one transaction, more than %d", len(rcpts), MaxPipelined)
	}
	if c.held != nil && (len(rcpts) > ChainMax || !c.tellsMail(c.held, from)) {
		// Their replies would keep the dot's waiting, behind the
		// server's work on them, or the dot's could not be told from
		// the next MAIL's: it goes alone first.
		if err := c.releaseBefore(); err != nil {
			return nil, nil, false, err
		}
	}
	results, refused, held, err := c.transaction(from, rcpts, msg, eightBit, done)
	if err == nil {
		c.confirm()
	}
	if err == nil && len(refused) == len(rcpts) {
		for _, r := range refused {
			if r.Reply.Code >= 500 {
				r.Reply = Reply{Code: 452, Enhanced: "4.5.3", Text: "too many recipients: " + r.Reply.String()}
			}
			results = append(results, r)
		}
		refused = nil
	}
	for _, r := range refused {
		rest = append(rest, r.Rcpt)
	}
	if err == nil && !held && c.held != nil {
		// The transaction sent nothing (SIZE or SMTPUTF8 ruled it
		// out): the dot held before it goes now, not after whatever
		// comes next.
		if err := c.releaseBefore(); err != nil {
			return results, rest, false, err
		}
	}
	if err != nil {
		c.fail(err)
	}
	return results, rest, held, err
}

// releaseBefore releases a held dot ahead of a transaction that will
// not carry it; a failure is that transaction's, and the connection's,
// ErrBefore.
func (c *Client) releaseBefore() error {
	if err := c.Release(); err != nil {
		c.err = before(err)
		return c.err
	}
	return nil
}

// before is the error of a transaction behind a held dot whose reply
// was lost: ErrBefore, not the lost reply, which is the held one's.
func before(err error) error {
	return sysexit.Temp(fmt.Errorf("%w: %v", ErrBefore, err))
}

// fail makes the connection unusable, and gives a held transaction's
// done the error: lost if its dot may have gone out, else not sent.
func (c *Client) fail(err error) {
	c.err = err
	if h := c.replied; h != nil {
		c.replied = nil
		if outOfStep(err) || !c.ownReplies(h) {
			// Its reply may have been another command's (see confirm).
			h.done(nil, sysexit.Temp(fmt.Errorf("%w: %w", ErrLostReply, err)))
		} else {
			// The connection lost, or a timeout, with every reply
			// read after the dot's in step: that reply was its own,
			// and stands. Voided, it had the recipients sent the
			// post again, for a relay that closes after a message
			// without a 421, or is reset (R92 F1).
			h.done(h.res, nil)
		}
	}
	if h := c.held; h != nil {
		c.held = nil
		if h.sent {
			h.done(nil, sysexit.Temp(fmt.Errorf("%w: %w", ErrLostReply, err)))
		} else {
			h.done(nil, sysexit.Temp(fmt.Errorf("%s: %w: %w", c.Addr, ErrNotSent, err)))
		}
	}
}

// outOfStep reports an error that shows the replies out of step with
// the commands: one a command cannot have, or one that is no reply.
// Then no reply read before it can be trusted to answer the command it
// seemed to (see confirm); a lost connection or a timeout shows nothing
// of the kind.
func outOfStep(err error) bool {
	return errors.Is(err, ErrUnexpected) || errors.Is(err, ErrGarbled)
}

// ownReplies reports whether h's results, the replies to its held dot,
// read before the connection failed or the server said 421, must be its
// own, and not the replies to the next MAIL and after, which a server
// that left out the dot's reply gave in their place
// (TestHoldReplyMissing is that server not closing). Only a 2xx needs
// to stand, a duplicate if voided: a refusal counts as lost, and the
// recipient is tried again, at no cost (a review: the next MAIL's
// refusal had them fail for good). A 2xx must not be what the server
// said to h's own MAIL: a server answers each MAIL alike ("250 2.1.0
// Ok", "250 OK", "250 ok"), and its dot otherwise ("250 2.0.0 Ok: queued
// as 4XyZ", "250 OK id=1tA9bC-000123-XY", "250 ok 1733500000 qp 4711").
// Nor, but to LMTP, of addressing status (RFC 3463's X.1.Y), MAIL's and
// RCPT's, not a message's: Sendmail's MAIL reply names the sender, and
// differs from one VERP transaction to the next. (Cyrus's LMTP answers
// each recipient after the data "250 2.1.5 Ok".) Else the replies count
// as lost, as before, a duplicate at worst, where taken they could be
// recipients never delivered (a review).
func (c *Client) ownReplies(h *heldTx) bool {
	for _, r := range h.res {
		_, subject, ok := strings.Cut(r.Reply.Enhanced, ".")
		switch {
		case !r.Reply.OK(), r.Reply == h.mail:
			return false
		case ok && strings.HasPrefix(subject, "1.") && !c.opts.LMTP:
			return false
		}
	}
	return true
}

// tellsMail reports whether ownReplies can tell a 250 to MAIL
// FROM:<from>, given in place of the held dot's reply that a server
// left out, from the dot's: by its enhanced code (X.1.Y), or, without
// one, by its being the reply h's own MAIL got. That holds only of a
// server whose replies to MAIL do not vary. For the sender of h, it is
// taken on trust (Exim's "250 OK", qmail's "250 ok") until two replies
// to one sender have differed on the connection, or two to different
// senders have, unless two to one sender have been alike: a server
// whose replies vary without naming the sender (a counter) has the
// first dot of a run of one sender trusted. For another sender (VERP),
// not without proof: a server may name the sender (qpsmtpd's "250
// <dev-bounces+bob=...>, sender OK", go-smtp's "250 2.0.0 Roger,
// accepting mail from <...>", or the null sender's in its own words; a
// review), and each MAIL then gets a reply of its own. There it holds
// only once two replies to different senders have been the same on the
// connection, and none have differed, and only between the VERP forms
// of one address. Else the held dot goes alone (send): a turn more,
// where a reply taken for the dot's would be recipients journaled
// delivered and never sent.
func (c *Client) tellsMail(h *heldTx, from stream.Path) bool {
	if _, subject, ok := strings.Cut(h.mail.Enhanced, "."); ok && strings.HasPrefix(subject, "1.") && !c.opts.LMTP {
		return true
	}
	switch {
	case c.mailVaries:
		return false
	case from.Mailbox == h.from:
		// On trust, unless the replies have differed between senders:
		// a counter differs so too (a review). Then, once two to one
		// sender have been alike.
		return !c.mailPerSender || c.mailSame
	}
	// Learnt only of the VERP forms of one address, h's and from's: a
	// server that names the sender less its +detail answers two VERP
	// senders alike, and the null sender, or a stranger's address the
	// owner queue passes on, otherwise (reviews). (A server whose reply
	// holds the time to the second, alike for two, differs for the next
	// past the second's turn: that is left.)
	b := base(from.Mailbox)
	return b == base(h.from) && b == c.mailAlike && !c.mailPerSender
}

// base is mailbox without the +detail of its local part: the address
// whose VERP form it is; "" for the null sender. Its case as it is: a
// server that names the sender names it so (a review).
func base(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 {
		return mailbox
	}
	local := mailbox[:at]
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + mailbox[at:]
}

// tooMany reports a reply to RCPT that refuses a recipient as one too
// many for the transaction: 452, or 552 with 5.5.3 (RFC 5321
// §4.5.3.1.10 on RFC 821's 552; a 552 without it, a full mailbox, stays
// permanent, as Postfix takes it).
func tooMany(r Reply) bool {
	return r.Code == 452 || r.Code == 552 && r.Enhanced == "5.5.3"
}

// sizeLimit is the server's fixed maximum message size from its SIZE
// keyword, 0 if it gives none (RFC 1870 §4).
func (c *Client) sizeLimit() int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(c.ext["SIZE"]), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// inStep returns an error for a positive reply that cmd cannot have: the
// server is out of step (a reply surplus, lost or out of order), and no
// reply after it can be trusted to answer the command it seems to.
func (c *Client) inStep(cmd string, r Reply, want ...int) error {
	if r.Code >= 400 || slices.Contains(want, r.Code) {
		return nil
	}
	return sysexit.Temp(fmt.Errorf("%s: %w: %s: %s", c.Addr, ErrUnexpected, cmd, r))
}

// transaction sends one MAIL, the RCPTs and DATA, pipelined if offered.
// refused are the recipients refused as too many, with their replies,
// for another transaction; they are known, and returned, even when the
// connection fails after the RCPTs. With done, it may hold the final dot
// (see Hold).
func (c *Client) transaction(from stream.Path, rcpts []stream.Path, msg Message, eightBit bool, done func([]Result, error)) (results, refused []Result, held bool, err error) {
	if err := c.unasked("MAIL"); err != nil {
		return nil, nil, false, err
	}
	mail := "MAIL FROM:<" + from.Mailbox + ">"
	needUTF8 := !ascii.Is(from.Mailbox)
	for _, r := range rcpts {
		needUTF8 = needUTF8 || !ascii.Is(r.Mailbox)
	}
	var onWire []string // the recipients' mailboxes as RCPT gives them, if not as they are
	if needUTF8 && !c.Has("SMTPUTF8") {
		// RFC 6531 §3.2: an address that is not ASCII cannot go to
		// this server. One whose domain alone is not goes with its
		// A-labels, the same mailbox (RFC 5890). A sender
		// that cannot fails every recipient; a recipient that cannot
		// fails alone, and the others go on.
		noUTF8 := Reply{Code: 553, Enhanced: "5.6.7", Text: "the server does not offer SMTPUTF8"}
		asASCII := func(m string) (string, bool) {
			if ascii.Is(m) {
				return m, true
			}
			return addr.ASCIIDomain(m)
		}
		f, fromOK := asASCII(from.Mailbox)
		mail = "MAIL FROM:<" + f + ">"
		var plain []stream.Path
		for _, r := range rcpts {
			m, ok := asASCII(r.Mailbox)
			if fromOK && ok {
				plain = append(plain, r)
				onWire = append(onWire, m)
			} else {
				results = append(results, Result{Rcpt: r, Reply: noUTF8, Whole: !fromOK})
			}
		}
		if len(plain) == 0 {
			return results, nil, false, nil
		}
		rcpts, needUTF8 = plain, false
	}
	if needUTF8 {
		mail += " SMTPUTF8"
	}
	if limit := c.sizeLimit(); limit > 0 && smtpSize(msg) > limit {
		// RFC 1870 §6.1: a message over the server's fixed maximum is
		// not sent; the server would refuse it 552 (§6.2), and so does
		// the client, for every recipient, without a command.
		return append(results, whole(All(rcpts, Reply{Code: 552, Enhanced: "5.3.4", Text: fmt.Sprintf("message size %d exceeds the server's fixed maximum message size %d", smtpSize(msg), limit)}))...), nil, false, nil
	}
	if eightBit && c.Has("8BITMIME") {
		mail += " BODY=8BITMIME"
	}
	if c.Has("SIZE") {
		mail += " SIZE=" + strconv.FormatInt(smtpSize(msg), 10)
	}
	for _, p := range from.Params {
		if ext, ok := mailExt[strings.ToUpper(strings.SplitN(p, "=", 2)[0])]; ok && c.Has(ext) {
			if p, ok := param(p, needUTF8); ok {
				mail += " " + p
			}
		}
	}
	// writeRcpt writes a RCPT command into the buffer, piece by piece.
	writeRcpt := func(i int) error {
		r := rcpts[i]
		c.bw.WriteString("RCPT TO:<")
		if onWire != nil {
			c.bw.WriteString(onWire[i])
		} else {
			c.bw.WriteString(r.Mailbox)
		}
		c.bw.WriteByte('>')
		for _, p := range r.Params {
			if ext, ok := rcptExt[strings.ToUpper(strings.SplitN(p, "=", 2)[0])]; ok && c.Has(ext) {
				if p, ok := param(p, needUTF8); ok {
					c.bw.WriteByte(' ')
					c.bw.WriteString(p)
				}
			}
		}
		return c.write("")
	}
	// Every reply is checked against its command as it is read; one out
	// of step ends the session before any reply after it is believed.
	var mr, dr Reply // the replies to MAIL and DATA; dr.Code 0 if not sent
	if cap(c.replies) < len(rcpts) {
		c.replies = make([]Reply, 0, len(rcpts))
	}
	replies := c.replies[:0] // (none kept past this transaction: results copy them)
	var shut *Reply          // an RCPT's 421, pipelined: the server closing
	if c.Has("PIPELINING") {
		sendAll := func() error { // (a write's error sticks: flush returns it)
			c.write(mail)
			for i := range rcpts {
				writeRcpt(i)
			}
			c.write("DATA")
			return c.flush()
		}
		// A dot held before these commands goes out with them, and its
		// reply comes first. A connection lost on the way, or on that
		// reply, is not this transaction's to blame: its data never
		// went.
		if err := sendAll(); err != nil {
			if c.held != nil {
				err = before(err)
			}
			return results, nil, false, err
		}
		if err := c.settle(); err != nil {
			return results, nil, false, before(err)
		}
		if mr, err = c.read(); err != nil {
			return results, nil, false, err
		}
		if err := c.inStep("MAIL", mr, 250); err != nil {
			return results, nil, false, mishandled(err)
		}
		// A server that refused MAIL may close at once (421), and
		// never answer the RCPTs and DATA that went with it: the
		// refusal is the transaction's error, not the lost replies.
		mailErr := func(err error) error {
			if merr := mailRefused(mr); merr != nil {
				return merr
			}
			if shut != nil {
				// The server said it was closing: replies that do
				// not come (a timeout) are no sign of PIPELINING
				// mishandled.
				return closingErr(shut, err)
			}
			return mishandled(err)
		}
		for range rcpts {
			rr, err := c.read()
			if err != nil {
				if closedAfter(shut, mr, err) {
					return standing(rcpts, replies, results, closingErr(shut, err))
				}
				return results, nil, false, mailErr(err)
			}
			if rr.Code == 421 {
				shut = &rr
			}
			ok := []int{250, 251}
			if mr.Code != 250 {
				ok = nil // no recipient without a sender
			}
			if err := c.inStep("RCPT", rr, ok...); err != nil {
				return results, nil, false, mishandled(err)
			}
			replies = append(replies, rr)
			c.hook("rcpt")
		}
		if dr, err = c.read(); err != nil {
			if closedAfter(shut, mr, err) {
				return standing(rcpts, replies, results, closingErr(shut, err))
			}
			return results, nil, false, mailErr(err)
		}
		if err := c.inStep("DATA", dr, 354); err != nil {
			return results, nil, false, mishandled(err)
		}
		if shut != nil && mr.Code == 250 && dr.Code != 354 {
			// An RCPT's 421, and no data to come: the server closing,
			// as after the connection's end.
			return standing(rcpts, replies, results, sysexit.Temp(closingErr(shut, &ReplyError{Cmd: "DATA", Reply: dr})))
		}
	} else {
		if mr, err = c.cmd(mail); err != nil {
			return results, nil, false, err
		}
		if err := c.inStep("MAIL", mr, 250); err != nil {
			return results, nil, false, err
		}
		for i := range rcpts {
			if mr.Code != 250 {
				break
			}
			if err := c.unasked("RCPT"); err != nil {
				if closing421(err) {
					return standing(rcpts, replies, results, err)
				}
				return results, nil, false, err
			}
			if err := writeRcpt(i); err != nil {
				return results, nil, false, err
			}
			if err := c.flush(); err != nil {
				return results, nil, false, err
			}
			rr, err := c.read()
			if err != nil {
				return results, nil, false, err
			}
			if err := c.inStep("RCPT", rr, 250, 251); err != nil {
				return results, nil, false, err
			}
			replies = append(replies, rr)
			c.hook("rcpt")
			if rr.Code == 421 {
				// The server closing: no more commands, and the
				// replies before stand (see standing).
				return standing(rcpts, replies, results, sysexit.Temp(&ReplyError{Cmd: "RCPT", Reply: rr}))
			}
		}
	}
	if mr.Code == 250 {
		if c.lastMail.Code != 0 {
			same, differ := c.lastMailFrom == from.Mailbox, mr != c.lastMail
			c.mailVaries = c.mailVaries || same && differ
			c.mailSame = c.mailSame || same && !differ
			c.mailPerSender = c.mailPerSender || !same && differ
			if b := base(from.Mailbox); !same && !differ && b == base(c.lastMailFrom) {
				c.mailAlike = b
			}
		}
		c.lastMail, c.lastMailFrom = mr, from.Mailbox
	}
	if err := mailRefused(mr); err != nil {
		c.endEmpty(dr)
		if c.rset() == nil {
			c.confirm()
		}
		return results, nil, false, err
	}
	own := len(results) // the client's own, before any reply
	accepted := make([]stream.Path, 0, len(rcpts))
	for i, r := range rcpts {
		switch {
		case mr.Code != 250:
			results = append(results, Result{Rcpt: r, Reply: mr, Whole: true})
		case replies[i].Code == 250 || replies[i].Code == 251:
			accepted = append(accepted, r)
		case tooMany(replies[i]):
			refused = append(refused, Result{Rcpt: r, Reply: replies[i]})
		default:
			results = append(results, Result{Rcpt: r, Reply: replies[i]})
		}
	}
	if dr.Code == 0 && len(accepted) > 0 {
		if err := c.unasked("DATA"); err != nil {
			if closing421(err) {
				// The refusals stand; the recipients taken go
				// again (see standing).
				return results, takenToo(refused, accepted), false, err
			}
			return results[:own], nil, false, err
		}
		if dr, err = c.cmd("DATA"); err != nil {
			return results, refused, false, err
		}
		if err := c.inStep("DATA", dr, 354); err != nil {
			// (A surplus reply shifts replies without PIPELINING
			// too: none of those before this one stands.)
			return results[:own], nil, false, err
		}
	}
	if dr.Code == 421 && len(accepted) > 0 {
		// The server closing at DATA (RFC 5321 §3.8), with the data
		// never sent: as after a 421 to MAIL or an RCPT, the recipients
		// it took have no result, and go again on another connection
		// now, not to the retry queue, in rest (see standing); the
		// refusals before stand.
		return results, takenToo(refused, accepted), false, sysexit.Temp(&ReplyError{Cmd: "DATA", Reply: dr})
	}
	if len(accepted) == 0 || dr.Code != 354 {
		if len(accepted) > 0 {
			results = append(results, whole(All(accepted, dr))...)
		}
		if err := c.endEmpty(dr); err != nil {
			return results, refused, false, err
		}
		if err := c.rset(); err != nil {
			if errors.Is(err, ErrUnexpected) {
				// So may the replies before it have been: one
				// unasked shifts every reply after it to the
				// command after. None of them stands.
				return results[:own], nil, false, err
			}
			if re := (*ReplyError)(nil); len(accepted) > 0 && errors.As(err, &re) && re.Reply.Code == 421 {
				// Recipients taken, DATA refused, and RSET given
				// 421: that refusal may have been the last RCPT's
				// reply, shifted by one unasked, and the 421
				// DATA's. Nothing was sent: the recipients taken
				// go again rather than fail on a reply that may
				// not be theirs (a review). The RCPT refusals
				// stand, as before any 421 (see standing): a
				// server that closes past its count of errors,
				// DATA's refusal the last, answers the next
				// command, RSET, 421 (Postfix does), and dropping
				// them had them refused again on every connection
				// (a review). With no reply at all to RSET (the
				// connection closed), none was left over to be
				// shifted, and DATA's refusal stands too.
				return results[:len(results)-len(accepted)], takenToo(refused, accepted), false, err
			}
			return results, refused, false, err
		}
		return results, refused, false, nil
	}
	// Every reply so far in step: a held dot's stands, and is recorded
	// before this transaction's BeforeDot.
	c.confirm()
	dw := wire.NewDataWriter(c.bw)
	if _, err := io.Copy(dw, msg.Reader()); err != nil {
		return results, refused, false, sysexit.Temp(err)
	}
	if c.BeforeDot != nil {
		if err := c.BeforeDot(); err != nil {
			return results, refused, false, sysexit.Temp(err)
		}
	}
	if err := dw.Close(); err != nil {
		return results, refused, false, sysexit.Temp(err)
	}
	if done != nil && len(refused) == 0 && len(rcpts) <= ChainMax && c.Has("PIPELINING") {
		// (The dot is in the buffer: a write of it that bypassed the
		// buffer, the one way it can have gone out already, leaves it
		// empty.)
		c.held = &heldTx{accepted: accepted, done: done, sent: c.bw.Buffered() == 0, mail: mr, from: from.Mailbox}
		return results, nil, true, nil
	}
	if err := c.flush(); err != nil {
		return results, refused, false, err
	}
	c.hook("dot")
	final, err := c.finals(accepted)
	if len(results) == 0 {
		return final, refused, false, err // (not copied, as a rule)
	}
	return append(results, final...), refused, false, err
}

// unasked is an error if octets wait to be read before cmd goes out,
// when every command sent has had its reply: a surplus reply, and every
// reply after it would answer the wrong command. Checked before each
// command of a transaction spoken one at a time, and before RSET, so
// that a reply nobody asked for shows before a 421 and the connection's
// end could leave nothing after it to show it (see standing). Before
// RCPT, DATA and RSET, though not before MAIL, a 421 that waits is no
// surplus but the server closing, which RFC 5321 §3.8 lets it say
// without a command (Postfix does, past its count of errors, before the
// next command comes): the error is then cmd's 421 (closing421). Before
// MAIL, nothing of the transaction has gone out, and a 421 waiting is
// left to be called out of step: the connection is given up, and the
// next try goes on, the same either way.
func (c *Client) unasked(cmd string) error {
	if c.br.Buffered() == 0 {
		return nil
	}
	b, _ := c.br.Peek(min(c.br.Buffered(), 64))
	if cmd != "MAIL" && bytes.HasPrefix(b, []byte("421")) {
		r, err := c.read()
		if err != nil {
			return err
		}
		if r.Code == 421 {
			return classify(cmd, r)
		}
	}
	return sysexit.Temp(fmt.Errorf("%s: %w: %q before %s", c.Addr, ErrUnexpected, b, cmd))
}

// closing421 reports whether err is a 421 (a ReplyError's): the server
// closing.
func closing421(err error) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Reply.Code == 421
}

// takenToo is refused, those refused as too many, and the recipients
// taken, for another transaction (Send's rest: see standing).
func takenToo(refused []Result, taken []stream.Path) []Result {
	for _, r := range taken {
		refused = append(refused, Result{Rcpt: r})
	}
	return refused
}

// closedAfter reports whether err, a read's after an RCPT was answered
// 421 (shut) and MAIL 250 (mr), is the server closing the connection, as
// RFC 5321 §3.8 says it does after a 421: an end of the stream or a
// reset, not a timeout (a server that may not have read the commands,
// see mishandled) nor a garbled reply.
func closedAfter(shut *Reply, mr Reply, err error) bool {
	return shut != nil && mr.Code == 250 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
}

// standing is the outcome of a transaction whose server closed after a
// 421 to one of its RCPTs (replies: those read, in step, MAIL's 250
// before them): the replies before the 421 stand, as read says, so that
// a server that counts refusals and closes past a limit (Postfix's
// smtpd_hard_error_limit, 20 by default: "421 4.7.0 Error: too many
// errors") does not have the same recipients refused again on every
// connection, and the batch never sent (a review). A refusal is each
// recipient's result; those it took (there was no data) and those it
// refused as too many are for another transaction (refused, Send's
// rest), and so are, with no result, the 421's own, those it never
// answered and any whose replies came after the 421: the caller may
// send the first before the others, which the server has not yet
// refused. err is the transaction's error, the connection unusable.
//
// The rule is the server's word: a 421 is taken to say that the replies
// before it were in step. Nothing after it can show a reply nobody asked
// for, which would make each refusal the next recipient's; without
// PIPELINING, unasked finds one that came in the same read as an
// earlier reply, but not one that comes later, and in a pipelined group
// none is seen. A misbehaving server could so
// fail a recipient on another's refusal; a default Postfix would
// otherwise never have a batch with more than 20 unknown users sent.
func standing(rcpts []stream.Path, replies []Reply, results []Result, err error) ([]Result, []Result, bool, error) {
	var refused []Result
	for i, rr := range replies {
		if rr.Code == 421 {
			break // the server closing: no reply after it stands
		}
		switch {
		case rr.Code == 250, rr.Code == 251, tooMany(rr):
			refused = append(refused, Result{Rcpt: rcpts[i], Reply: rr})
		default:
			results = append(results, Result{Rcpt: rcpts[i], Reply: rr})
		}
	}
	return results, refused, false, err
}

// closingErr is err, the connection's failure after an RCPT was answered
// 421, the server closing (nil: none was), with that reply before it, so
// that the report names the server's word and not just the EOF that
// followed. It wraps err: its class stays.
func closingErr(shut *Reply, err error) error {
	if shut == nil {
		return err
	}
	return fmt.Errorf("RCPT: %s; then %w", shut, err)
}

// mishandled marks an error in the replies to pipelined commands as
// ErrPipelining when it is a reply out of step, or a timeout once MAIL's
// reply came; any other (the connection lost, a garbled reply) is left
// as it is.
func mishandled(err error) error {
	var ne net.Error
	if errors.Is(err, ErrUnexpected) || errors.As(err, &ne) && ne.Timeout() {
		return sysexit.Temp(fmt.Errorf("%w: %w", ErrPipelining, err))
	}
	return err
}

// settle reads the reply to a held final dot, which has gone out. A
// failure goes to its done at once; the results wait for confirm, but
// those of a 421, which go to done at once, and its error is settle's.
func (c *Client) settle() error {
	h := c.held
	if h == nil {
		return nil
	}
	c.held = nil
	c.hook("dot")
	res, err := c.finals(h.accepted)
	if err != nil && len(res) > 0 {
		// A 421: its results stand, the connection does not (see
		// finals), nor do the commands that went with the dot.
		h.done(res, nil)
		return err
	}
	if err != nil {
		h.done(res, err)
		return err
	}
	h.res, c.replied = res, h
	return nil
}

// confirm gives a held transaction's done the results of its dot's
// reply, once the replies read after it, to the commands that went out
// behind the dot, have been found in step: a reply the server left out,
// or one it added before the dot's, would have made another command's
// reply seem the dot's, and the replies after it one command late, which
// the checks of those find out. Until then fail voids them if it finds
// such a reply (outOfStep), or if they may be another command's
// (ownReplies); a connection lost or a timeout shows neither.
func (c *Client) confirm() {
	if h := c.replied; h != nil {
		c.replied = nil
		h.done(h.res, nil)
	}
}

// finals reads the reply to a final dot, sent, for the accepted
// recipients: one, or with LMTP one each (RFC 2033 §4.2). An error gives
// none a result: it is ErrLostReply, since the message may have been
// taken. With LMTP that holds for the replies read before it too: a
// reply the server left out would have given each after it to the
// recipient before, which the client cannot tell from a server that
// stopped, so each recipient is tried again rather than given another's
// reply.
// But a 421 is no lost reply: the server says it is closing (RFC 5321
// §3.8), and the replies it gave before stand, as read takes them to. It
// ends the reading: it is the result of the recipient it answered and of
// each after it (with SMTP, of all), temporary, and it comes back as the
// error too, with the results (the one error that does), so that the
// connection is given up, as after a 421 to MAIL or RSET. Else a server
// that closed on the third of four recipients had the two delivered
// before it sent the post again.
func (c *Client) finals(accepted []stream.Path) ([]Result, error) {
	// RFC 5321 §4.5.3.2.6: wait at least 10 minutes for the reply to
	// the final dot; the server may be scanning the message.
	dt := c.opts.DataTimeout
	if dt <= 0 {
		dt = DataTimeout
	}
	if c.opts.Timeout < dt {
		saved := c.opts.Timeout
		c.opts.Timeout = dt
		defer func() { c.opts.Timeout = saved }()
	}
	// A reply to the dot that is neither 2xx, 4xx nor 5xx is out of
	// step: the real one may be lost or still to come, so the message
	// may have been taken.
	final := func() (Reply, error) {
		fr, err := c.read()
		if err == nil && fr.Code < 400 && !fr.OK() {
			err = fmt.Errorf("%w: %s", ErrUnexpected, fr)
		}
		if err != nil {
			return fr, sysexit.Temp(fmt.Errorf("%w: %w", ErrLostReply, err))
		}
		return fr, nil
	}
	if !c.opts.LMTP {
		fr, err := final()
		if err != nil {
			return nil, err
		}
		return whole(All(accepted, fr)), closing(fr)
	}
	var results []Result
	for i, r := range accepted {
		fr, err := final()
		if err != nil {
			return nil, err
		}
		if err := closing(fr); err != nil {
			return append(results, All(accepted[i:], fr)...), err
		}
		results = append(results, Result{Rcpt: r, Reply: fr})
	}
	return results, nil
}

// closing is the error of a 421 to the final dot (see finals), nil for
// any other reply.
func closing(r Reply) error {
	if r.Code != 421 {
		return nil
	}
	return classify("end of data", r)
}

// endEmpty ends at once the data a server invited (354) though no
// recipient was accepted, or MAIL was refused (RFC 2920 §3.1: the
// client sends DATA, and the server must refuse it; one that does not
// gets an empty message and its reply is ignored), so the connection
// stays in step.
func (c *Client) endEmpty(dr Reply) error {
	if dr.Code != 354 {
		return nil
	}
	if err := c.write("."); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.read()
	return err
}

// hook calls Options.Hook, if set.
func (c *Client) hook(event string) {
	if c.opts.Hook != nil {
		c.opts.Hook(event)
	}
}

// mailRefused turns a refusal of MAIL into a temporary error for the
// whole session: "530 authenticate first" or "554 client host rejected"
// say nothing about the recipients, who must not bounce for it, and
// "452 4.3.1 insufficient system storage" says the relay takes nothing
// for now; another relay (DESIGN.md §6.2 fails over on 4xx), or a later
// try, may take them. 552 (the message is too big for SIZE) is the
// message's fault and stays a result for every recipient. A 421 ends the
// session too: the server is closing the connection (RFC 5321 §3.8), as
// one that timed an idle client out says to its next command, and a new
// connection may take the recipients at once.
func mailRefused(r Reply) error {
	if r.Code >= 400 && r.Code != 552 {
		return sysexit.Temp(&ReplyError{Cmd: "MAIL", Reply: r})
	}
	return nil
}

// mailExt and rcptExt name the extension each parameter a path may
// carry needs on MAIL and on RCPT (RFC 3461). Any other parameter, or
// one on the other command's path (NOTIFY on the sender, RET on a
// recipient, which a server would refuse 501 or 555), is left out, as is
// one the server does not offer: BODY, SMTPUTF8 and SIZE the client
// gives itself.
var (
	mailExt = map[string]string{"RET": "DSN", "ENVID": "DSN"}
	rcptExt = map[string]string{"NOTIFY": "DSN", "ORCPT": "DSN"}
)

// param returns a path's parameter p as it goes on MAIL or RCPT: as it
// is in a transaction with SMTPUTF8; in one without, where no command may
// carry an octet over 127 (RFC 6531), an ORCPT of type utf-8 in its
// unitext form goes in its xtext form, each character that is not ASCII
// as \x{HEX} (RFC 6533 section 3), and any other parameter that is not
// ASCII not at all (false): it has no such form (xtext is ASCII, RFC
// 3461 section 4), and the server would refuse the command, 501,
// failing the recipient for good, or the sender and every recipient.
func param(p string, smtputf8 bool) (string, bool) {
	if smtputf8 || ascii.Is(p) {
		return p, true
	}
	kw, v, _ := strings.Cut(p, "=")
	typ, a, ok := strings.Cut(v, ";")
	if !ascii.EqualFold(kw, "ORCPT") || !ok || !ascii.EqualFold(typ, "utf-8") {
		return "", false
	}
	var b strings.Builder
	b.WriteString(p[:len(p)-len(a)])
	for _, r := range a {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\x{%X}", r)
		}
	}
	return b.String(), true
}

// All is the result r for each of rcpts.
func All(rcpts []stream.Path, r Reply) []Result {
	res := make([]Result, len(rcpts))
	for i, p := range rcpts {
		res[i] = Result{Rcpt: p, Reply: r}
	}
	return res
}

// rset ends a failed transaction so the connection can carry the next.
func (c *Client) rset() error {
	if err := c.unasked("RSET"); err != nil {
		return err
	}
	r, err := c.cmd("RSET")
	if err != nil {
		return err
	}
	// RSET has no reply but 250 (RFC 5321 §4.1.1.5), and 421 as any
	// command has (see read): any other, even a refusal, may be a reply
	// shifted by one.
	switch r.Code {
	case 250:
		return nil
	case 421:
		return classify("RSET", r)
	}
	return sysexit.Temp(fmt.Errorf("%s: %w: RSET: %s", c.Addr, ErrUnexpected, r))
}
