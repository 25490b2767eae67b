package smtpsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/stream"
)

type backend struct{ s *Server }

func (b backend) NewSession(sc *smtp.Conn) (smtp.Session, error) {
	c, ok := sc.Conn().(*conn)
	if !ok {
		return nil, errors.New("connection not from the sink's listener")
	}
	return &session{s: b.s, c: c}, nil
}

// session is one connection's SMTP state; go-smtp calls its methods
// from the connection's goroutine (LMTPData and BDAT's Data from a
// goroutine of their own, while the connection's waits).
type session struct {
	s *Server
	c *conn

	begun bool   // a MAIL command was accepted
	txn   string // "connection.transaction"
	from  stream.Path
	utf8  bool
	rcpts []stream.Path // accepted at RCPT
	raw   []string      // the same, as go-smtp knows them
	ncmd  int           // RCPT commands in this transaction
}

var (
	errDroppedReply = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection dropped"}
	errNested       = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "nested MAIL command"}
	errTooBig       = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "message size exceeds fixed maximum message size"}
	errTooMany      = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "too many recipients"}
	errUTF8         = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "non-ASCII address without SMTPUTF8"}
	errKeep         = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot keep the message"}
	errTooManyErrs  = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Error: too many errors"}
)

// pastLimit reports whether the connection has had Options.ErrorLimit
// refusals: the next MAIL or RCPT is then not served but answered 421
// (errTooManyErrs), and the connection closed once that is written.
func (s *session) pastLimit() bool {
	lim := s.s.opt.ErrorLimit
	if lim > 0 && s.c.refusals.Load() >= int64(lim) && !s.c.dropped.Load() {
		s.c.closeAfter.Store(true)
		return true
	}
	return false
}

// counted is err, a MAIL's or an RCPT's reply, counted for
// Options.ErrorLimit if it is a refusal, but for too many recipients
// (452), as Postfix counts.
func (s *session) counted(err error) error {
	if err != nil && err != errDroppedReply && err != errClosing && err != errTooMany {
		s.c.refusals.Add(1)
	}
	return err
}

func (s *session) Reset() {
	s.begun, s.rcpts, s.raw, s.ncmd = false, nil, nil, 0
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.pastLimit() {
		return errTooManyErrs
	}
	return s.counted(s.mail(from, opts))
}

func (s *session) mail(from string, opts *smtp.MailOptions) error {
	s.c.delayAt("mail")
	if s.c.dropped.Load() {
		return errDroppedReply
	}
	if s.s.isStopping() {
		return errClosing
	}
	if s.begun {
		return errNested
	}
	if r := s.s.opt.MailReply; r != nil && !r.OK() {
		return smtpError(*r)
	}
	if size := s.s.opt.Size; size > 0 && opts.Size > size {
		return errTooBig
	}
	p, err := checkPath(from, opts.UTF8, true)
	if err != nil {
		return err
	}
	if opts.Body != "" {
		p.Params = append(p.Params, "BODY="+string(opts.Body))
	}
	if opts.UTF8 {
		p.Params = append(p.Params, "SMTPUTF8")
	}
	if opts.Return != "" {
		p.Params = append(p.Params, "RET="+string(opts.Return))
	}
	if opts.EnvelopeID != "" {
		p.Params = append(p.Params, "ENVID="+xtext(opts.EnvelopeID))
	}
	if err := checkParams(p, true); err != nil {
		return err
	}
	s.Reset()
	s.c.txn++
	s.begun, s.from, s.utf8 = true, p, opts.UTF8
	s.txn = strconv.FormatInt(s.c.seq, 10) + "." + strconv.Itoa(s.c.txn)
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.pastLimit() {
		return errTooManyErrs
	}
	return s.counted(s.rcpt(to, opts))
}

func (s *session) rcpt(to string, opts *smtp.RcptOptions) error {
	s.c.delayAt("rcpt")
	if s.c.dropped.Load() {
		return errDroppedReply
	}
	if s.s.isStopping() {
		return errClosing
	}
	o := &s.s.opt
	s.ncmd++
	if o.DropAfterRcpt > 0 && s.ncmd == o.DropAfterRcpt {
		s.c.drop()
		return errDroppedReply
	}
	p, err := checkPath(to, s.utf8, false)
	if err != nil {
		s.s.rejected.Add(1)
		return err
	}
	if o.MaxRcpt > 0 && len(s.rcpts) >= o.MaxRcpt {
		s.s.rejected.Add(1)
		return errTooMany
	}
	if r, ok := match(o.Replies, p.Mailbox); ok && !r.OK() {
		s.s.rejected.Add(1)
		return smtpError(r)
	}
	if len(opts.Notify) > 0 {
		n := make([]string, len(opts.Notify))
		for i, v := range opts.Notify {
			n[i] = string(v)
		}
		p.Params = append(p.Params, "NOTIFY="+strings.Join(n, ","))
	}
	if opts.OriginalRecipient != "" {
		v := xtext(opts.OriginalRecipient)
		if opts.OriginalRecipientType == smtp.DSNAddressTypeUTF8 {
			v = utf8AddrXtext(opts.OriginalRecipient)
		}
		p.Params = append(p.Params, "ORCPT="+string(opts.OriginalRecipientType)+";"+v)
	}
	if err := checkParams(p, false); err != nil {
		s.s.rejected.Add(1)
		return err
	}
	s.rcpts = append(s.rcpts, p)
	s.raw = append(s.raw, to)
	return nil
}

func (s *session) Data(r io.Reader) error { return s.data(r, nil) }

func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error { return s.data(r, st) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// data reads the message and settles the transaction: the reply for each
// recipient (nil is the default 2xx), what is kept and counted, and
// whether the reply is dropped. st is nil for SMTP.
func (s *session) data(r io.Reader, st smtp.StatusCollector) error {
	if s.c.dropped.Load() {
		return errDroppedReply
	}
	if !s.s.enter() {
		return errClosing
	}
	defer s.s.leave()
	o := &s.s.opt

	replies := make([]*Reply, len(s.rcpts))
	var acc []stream.Path
	for i, p := range s.rcpts {
		replies[i] = o.DataReply
		if r, ok := match(o.LMTPReply, p.Mailbox); ok {
			replies[i] = &r
		}
		if replies[i] == nil || replies[i].OK() {
			acc = append(acc, p)
		}
	}
	if st == nil && len(acc) < len(s.rcpts) {
		acc = nil // SMTP: one reply for all
	}

	var rec *record
	var keepErr error
	if o.Dir != "" && len(acc) > 0 {
		rec, keepErr = newRecord(o.Dir, s.txn, s.from)
	}
	var buf *bytes.Buffer
	if o.Keep && len(acc) > 0 {
		buf = new(bytes.Buffer)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var n int64
	tooBig := false
	for {
		k, err := r.Read(*bp)
		if k > 0 {
			n += int64(k)
			tooBig = tooBig || o.Size > 0 && n > o.Size
			if !tooBig && rec != nil {
				rec.Write((*bp)[:k])
			}
			if !tooBig && buf != nil {
				buf.Write((*bp)[:k])
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if rec != nil {
				rec.abort()
			}
			return err // the client went away or reset: no transaction
		}
	}

	// refuse replaces every recipient's reply.
	refuse := func(e *smtp.SMTPError) {
		for i := range replies {
			replies[i] = &Reply{Code: e.Code, Enhanced: fmt.Sprintf("%d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2]), Text: e.Message}
		}
		acc = nil
	}
	switch {
	case tooBig:
		if rec != nil {
			rec.abort()
		}
		refuse(errTooBig)
	case keepErr != nil:
		s.s.book.Lock()
		s.s.fail(fmt.Errorf("record: %v", keepErr))
		s.s.book.Unlock()
		refuse(errKeep)
	case len(acc) > 0:
		if rec != nil {
			if err := rec.finish(acc); err != nil {
				s.s.book.Lock()
				s.s.fail(fmt.Errorf("record: %v", err))
				s.s.book.Unlock()
				refuse(errKeep)
				break
			}
		}
		m := &Message{Txn: s.txn, Sender: s.from, Rcpts: acc}
		if buf != nil {
			m.Data = buf.Bytes()
		}
		if err := s.s.commit(m, n); err != nil {
			if rec != nil {
				os.Remove(rec.final)
			}
			refuse(errKeep)
		} else {
			s.c.refusals.Store(0) // a message taken: errors forgiven, as Postfix does
		}
	}
	s.s.rejected.Add(int64(len(s.rcpts) - len(acc)))
	if len(acc) == 0 {
		s.s.touch()
	}

	s.c.delayAt("dot")
	if k := s.s.dots.Add(1); o.DropAfterDot > 0 && k%int64(o.DropAfterDot) == 0 {
		s.c.drop()
		if st != nil {
			for _, raw := range s.raw {
				st.SetStatus(raw, errDroppedReply)
			}
		}
		return errDroppedReply
	}

	ok := &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "accepted as " + s.txn}
	reply := func(r *Reply) error {
		if r == nil {
			return ok
		}
		return smtpError(*r)
	}
	if st == nil && len(replies) > 0 {
		return reply(replies[0]) // SMTP: the same for every recipient
	}
	for i, raw := range s.raw {
		st.SetStatus(raw, reply(replies[i]))
	}
	return nil
}

// record is a kept transaction being written under a temporary name.
type record struct {
	f          *os.File
	w          *stream.Writer
	tmp, final string
	err        error
}

// newRecord starts DIR/.tmp.ID, to be renamed DIR/ID.
func newRecord(dir, txn string, from stream.Path) (*record, error) {
	id := stream.NewID()
	r := &record{tmp: filepath.Join(dir, ".tmp."+id), final: filepath.Join(dir, id)}
	f, err := os.OpenFile(r.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	r.f, r.w = f, stream.NewWriter(f)
	h := &stream.Header{ID: id, Attrs: []stream.Attr{{Name: "x-sink-txn", Value: txn}}, Sender: from}
	if err := r.w.WriteHeader(h); err != nil {
		r.abort()
		return nil, err
	}
	return r, nil
}

func (r *record) Write(p []byte) {
	if r.err == nil {
		_, r.err = r.w.Write(p)
	}
}

func (r *record) abort() {
	r.f.Close()
	os.Remove(r.tmp)
}

// finish writes the recipients and the end line and renames the file
// into place; no fsync, the sink is for tests.
func (r *record) finish(rcpts []stream.Path) error {
	err := r.err
	for _, p := range rcpts {
		if err == nil {
			err = r.w.Recipient(p)
		}
	}
	if err == nil {
		err = r.w.End()
	}
	if err == nil {
		err = r.w.Flush()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(r.tmp, r.final)
	}
	if err != nil {
		os.Remove(r.tmp)
	}
	return err
}

// checkPath returns the path of an address from MAIL or RCPT. go-smtp
// hands over a quoted local part unquoted; it is quoted again, so the
// address is the one the client sent in its canonical form (RFC 5321
// §4.1.2). A bad address is refused 553 (RFC 5321 §3.3, RFC 3463 5.1.3
// and 5.1.7); a non-ASCII one needs SMTPUTF8 on MAIL (RFC 6531 §3.4).
// checkParams refuses, 501 5.5.4, the parameters kept of a path that a
// record could not hold (an ENVID over RFC 3461's 100 characters, an
// ORCPT over 500: stream.CheckPath), which go-smtp takes: refused here,
// not after the data, where the record could not be written.
func checkParams(p stream.Path, sender bool) error {
	if err := stream.CheckPath(p, sender); err != nil {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "bad parameter: " + err.Error()}
	}
	return nil
}

func checkPath(raw string, utf8ok, sender bool) (stream.Path, error) {
	if raw == "" && sender {
		return stream.Path{}, nil
	}
	mb := raw
	err := addr.CheckMailbox(mb)
	if at := strings.LastIndexByte(raw, '@'); at > 0 && (err != nil || raw[0] == '"') {
		// Not a Dot-string, or one that starts with a quote (which no
		// Dot-string does, so the client sent it quoted, quotes and
		// all: "\"a\""@x comes as "a"@x).
		q := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(raw[:at]) + `"` + raw[at:]
		if qerr := addr.CheckMailbox(q); qerr == nil || raw[0] == '"' {
			mb, err = q, qerr
		}
	}
	if err != nil {
		code := smtp.EnhancedCode{5, 1, 3}
		if sender {
			code = smtp.EnhancedCode{5, 1, 7}
		}
		return stream.Path{}, &smtp.SMTPError{Code: 553, EnhancedCode: code, Message: "bad address: " + err.Error()}
	}
	if !utf8ok && !ascii.Is(mb) {
		return stream.Path{}, errUTF8
	}
	return stream.Path{Mailbox: mb}, nil
}

// xtext encodes s as RFC 3461 §4 xtext.
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '!' && c <= '~' && c != '+' && c != '=' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "+%02X", c)
		}
	}
	return b.String()
}

// utf8AddrXtext encodes s as RFC 6533 §3 utf-8-addr-xtext.
func utf8AddrXtext(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= utf8.RuneSelf || r >= '!' && r <= '~' && r != '+' && r != '=' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\x{%X}`, r)
		}
	}
	return b.String()
}
