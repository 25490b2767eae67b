// Package stream reads and writes MLM1, the record stream every mlm program
// passes on (DESIGN.md §3, mlm-stream(5)). It is part of mlm's internals,
// not a public API.
//
// A record is a start line, attributes, one envelope sender, the message
// (every octet on a line tagged ":" or ";"), recipients and an end line
// with their count:
//
//	MLM1 <record-id>
//	A <name>=<value>
//	S <reverse-path> [esmtp-params]
//	:<message line, without its LF>
//	;<message octets, no LF>
//	R <forward-path> [esmtp-params]
//	E <count>
//
// Both directions stream. The Writer holds at most one 64 KiB line; the
// Reader holds one line of input and hands out the message as an io.Reader
// and the recipients one at a time, so neither grows with the size of a
// message or the number of its recipients.
//
// The Writer enforces the order, splits long lines canonically and refuses
// (never cleans) a bad envelope value. The Reader checks every rule of
// DESIGN.md §3 and reports the first violation as a *SyntaxError with its
// line number, classified EX_DATAERR. Because the Reader also refuses a
// non-canonical split, encode(decode(s)) = s for every stream it accepts.
package stream

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"mlm/lib/addr"
	"mlm/lib/sysexit"
)

// Limits of the format.
const (
	MaxLine  = 65536       // longest stream line, tag and LF included
	MaxPiece = MaxLine - 2 // message octets on one ":" or ";" line
	MaxID    = 255         // longest record id
	MaxCount = 9999999999  // largest E count (ten digits)
	// MaxAttrs is the most attribute lines a record may have: a Reader
	// holds them all, with the Header, so a stream of a record of
	// millions (a fault or an attack) would take gigabytes. A long
	// pipeline adds some ten, and a trace for each stage.
	MaxAttrs = 1000
)

// Attr is one attribute. Value is decoded; a Reader also keeps the encoded
// form so that a filter passes attributes it does not know through
// byte for byte.
type Attr struct {
	Name, Value string
	line        string // the line "A name=encoded" as read, if read
}

// sameAsRead reports whether a is still what its line, if a Reader
// read one, says: neither its name nor its value changed since.
func (a *Attr) sameAsRead() bool {
	n := len(a.Name)
	if n == 0 || len(a.line) < n+3 || a.line[2:n+2] != a.Name || a.line[n+2] != '=' ||
		strings.IndexByte(a.Name, '=') >= 0 {
		return false
	}
	raw := a.line[n+3:]
	if strings.IndexByte(raw, '%') < 0 {
		return raw == a.Value
	}
	v, err := UnescapeValue(raw)
	return err == nil && v == a.Value
}

// Path is an envelope sender or recipient: the mailbox without angle
// brackets ("" is the null reverse-path <>) and its ESMTP parameters.
type Path struct {
	Mailbox string
	Params  []string
	line    string // the R line after "R " as read, if read
}

// sameAsRead reports whether p is still what its line, if a Reader read
// one, says: "<" Mailbox ">" and " " before each parameter, split where
// the Reader split it. The text alone is not enough: Mailbox "a@b> X="
// with no Params spells the line "<a@b> X=>" too. So the mailbox holds
// no ">" (the Reader ended it at the first) and no quote (one quoted is
// checked again), and no parameter holds a space.
func (p *Path) sameAsRead() bool {
	l, n := p.line, len(p.Mailbox)
	if len(l) < n+2 || l[0] != '<' || l[n+1] != '>' || l[1:n+1] != p.Mailbox ||
		strings.IndexByte(p.Mailbox, '>') >= 0 || strings.IndexByte(p.Mailbox, '"') >= 0 {
		return false
	}
	l = l[n+2:]
	if strings.Count(l, " ") != len(p.Params) {
		return false
	}
	for _, x := range p.Params {
		if len(l) < len(x)+1 || l[0] != ' ' || l[1:len(x)+1] != x {
			return false
		}
		l = l[len(x)+1:]
	}
	return l == ""
}

// Clone returns p with strings of its own, for a caller that holds a
// recipient a Reader gave for long (see Reader's keep).
func (p Path) Clone() Path {
	if p.sameAsRead() {
		// One copy, of the line, that the rest point into.
		return p.over(strings.Clone(p.line))
	}
	q := Path{Mailbox: strings.Clone(p.Mailbox)}
	for _, x := range p.Params {
		q.Params = append(q.Params, strings.Clone(x))
	}
	return q
}

// CloneInto is Clone with the copy of a recipient as read appended to
// buf, which it returns grown: for a caller that holds many recipients
// for a while, and is done with them all at once, so that one buffer,
// used again, holds them, not memory of each one's own. The strings of
// such a copy are buf's, and hold only until the caller writes over
// that part of buf. Any other Path is cloned as Clone does.
func (p Path) CloneInto(buf []byte) (Path, []byte) {
	if !p.sameAsRead() {
		return p.Clone(), buf
	}
	start := len(buf)
	buf = append(buf, p.line...) // (a line as read is never empty)
	return p.over(unsafe.String(&buf[start], len(p.line))), buf
}

// over returns p with its strings in l, a copy of its line as read.
func (p Path) over(l string) Path {
	q := Path{Mailbox: l[1 : len(p.Mailbox)+1], line: l}
	if len(p.Params) > 0 {
		q.Params = make([]string, len(p.Params))
		off := len(p.Mailbox) + 2
		for i, x := range p.Params {
			q.Params[i] = l[off+1 : off+1+len(x)]
			off += len(x) + 1
		}
	}
	return q
}

// String returns the path as it appears on an S or R line, after the tag.
func (p Path) String() string {
	s := "<" + p.Mailbox + ">"
	for _, x := range p.Params {
		s += " " + x
	}
	return s
}

// Header is what precedes a record's message: its id, its attributes in
// order and its sender.
type Header struct {
	ID     string
	Attrs  []Attr
	Sender Path
	env    *readEnv // where a Reader read it, if one did
}

// Get returns the value of the last attribute called name (the last
// occurrence wins for single-valued names) and whether there was one.
func (h *Header) Get(name string) (string, bool) {
	for i := len(h.Attrs) - 1; i >= 0; i-- {
		if h.Attrs[i].Name == name {
			return h.Attrs[i].Value, true
		}
	}
	return "", false
}

// SyntaxError is a violation of the stream format at a line of the input.
type SyntaxError struct {
	Line int64
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// CheckID returns nil if id is a valid record id: 1 to 255 octets of
// ALPHA, DIGIT, ".", "-", "_" and ",".
func CheckID(id string) error {
	if id == "" || len(id) > MaxID {
		return fmt.Errorf("record id must be 1 to %d octets", MaxID)
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			return fmt.Errorf("bad octet %q in record id", id[i])
		}
	}
	return nil
}

func isIDChar(c byte) bool { return idChars[c] }

// idChars says which octets a record id may hold: a table, as every
// record's id is checked as it is read and again as it is written.
var idChars = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == ','
	}
	return t
}()

// CheckAttrName returns nil if name is a valid attribute name: a lower-case
// letter, then up to 63 lower-case letters, digits, "-" or ".".
func CheckAttrName(name string) error {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return fmt.Errorf("bad attribute name %q", name)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bad attribute name %q", name)
		}
	}
	return nil
}

// ParseAttr parses NAME=VALUE as given on a command line; a bad name is
// a usage error (EX_USAGE).
func ParseAttr(nv string) (Attr, error) {
	name, value, _ := strings.Cut(nv, "=")
	if err := CheckAttrName(name); err != nil {
		return Attr{}, sysexit.Perm(sysexit.Usage, err)
	}
	return Attr{Name: name, Value: value}, nil
}

// CheckPath returns nil if p is a valid sender (null allowed if sender) or
// recipient path with valid ESMTP parameters.
func CheckPath(p Path, sender bool) error {
	if p.Mailbox == "" {
		if !sender {
			return errors.New("empty recipient <>")
		}
	} else if err := addr.CheckMailbox(p.Mailbox); err != nil {
		return fmt.Errorf("%q: %v", p.Mailbox, err)
	}
	for _, x := range p.Params {
		if err := addr.CheckParam(x); err != nil {
			return err
		}
	}
	if kw := addr.RepeatedParam(p.Params); kw != "" {
		return fmt.Errorf("ESMTP parameter %s given twice", kw)
	}
	return nil
}

// NewPath returns the path of a bare mailbox from outside (argv, the
// environment): "" is the null path, allowed for a sender only. A bad
// mailbox is an EX_DATAERR error.
func NewPath(mailbox string, sender bool) (Path, error) {
	p := Path{Mailbox: mailbox}
	if err := CheckPath(p, sender); err != nil {
		what := "recipient"
		if sender {
			what = "sender"
		}
		return Path{}, dataErr(fmt.Errorf("%s: %v", what, err))
	}
	return p, nil
}

// ParsePath parses what follows "S " or "R " on a stream line.
func ParsePath(s string, sender bool) (Path, error) {
	mbox, rest, err := addr.SplitPath(s)
	if err != nil {
		return Path{}, err
	}
	p := Path{Mailbox: mbox}
	if rest != "" {
		if rest[0] != ' ' {
			return Path{}, errors.New("no space after path")
		}
		p.Params = strings.Split(rest[1:], " ")
	}
	return p, CheckPath(p, sender)
}

const hexUpper = "0123456789ABCDEF"

// EscapeValue encodes an attribute value: "%", SP, controls and DEL become
// %HH with upper-case hex; every other octet is itself.
func EscapeValue(v string) string {
	n := 0
	for i := 0; i < len(v); i++ {
		if needsEscape(v[i]) {
			n++
		}
	}
	if n == 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 2*n)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(c byte) bool { return c <= ' ' || c == '%' || c == 0x7f }

// UnescapeValue decodes an encoded attribute value, refusing anything
// outside the grammar (a raw SP or control, "%" without two upper-case hex
// digits).
func UnescapeValue(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		for i := 0; i < len(s); i++ {
			if needsEscape(s[i]) {
				return "", fmt.Errorf("unescaped octet %q in attribute value", s[i])
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", errors.New("truncated %HH escape in attribute value")
			}
			hi, lo := strings.IndexByte(hexUpper, s[i+1]), strings.IndexByte(hexUpper, s[i+2])
			if hi < 0 || lo < 0 {
				return "", errors.New("bad %HH escape in attribute value")
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		case needsEscape(c):
			return "", fmt.Errorf("unescaped octet %q in attribute value", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// dataErr classifies err as bad input data.
func dataErr(err error) error { return sysexit.Perm(sysexit.DataErr, err) }
