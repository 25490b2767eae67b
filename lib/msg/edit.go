package msg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLine is the longest header line RFC 5322 §2.1.1 allows, without its
// line ending.
const MaxLine = 998

// Edit is a header block being edited as raw fields: a field is its first
// line and its continuation lines, line endings included, exactly as read.
// Fields nobody touches are written back byte for byte; fields added use
// the block's own line ending (EOL). Nothing goes through go-message's
// writer, which would turn LF into CRLF.
type Edit struct {
	fields [][]byte // raw fields, in order
	end    []byte   // the empty line that ends the block; nil if it had none
	eol    string   // "\n" or "\r\n", from the first line
	top    int      // fields added so far, at the top of the block
}

// NewEdit splits raw, a header block as ReadHeader returns it, into
// fields. Any octets are accepted: a line that is not a field (no colon,
// or a continuation line with nothing to continue) becomes a field with
// no name, which no name matches and which is written back unchanged.
func NewEdit(raw []byte) *Edit {
	e := &Edit{eol: "\n"}
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		e.eol = "\r\n"
	}
	for off := 0; off < len(raw); {
		n := lineLen(raw[off:])
		line := raw[off : off+n]
		switch {
		case isEmptyLine(line):
			// ReadHeader stops at the first empty line; keep anything
			// after it as the end, so that Bytes gives back raw.
			e.end = raw[off:]
			return e
		case len(e.fields) > 0 && isWSP(line[0]):
			i := len(e.fields) - 1
			k := len(e.fields[i]) + n
			e.fields[i] = raw[off+n-k : off+n : off+n]
		default:
			e.fields = append(e.fields, line[:n:n])
		}
		off += n
	}
	return e
}

// lineLen is the length of the first line of b, its LF included.
func lineLen(b []byte) int {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i + 1
	}
	return len(b)
}

func isEmptyLine(l []byte) bool { return string(l) == "\n" || string(l) == "\r\n" }

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// EOL is the block's line ending, sniffed from its first line: CRLF if it
// ends in CRLF, otherwise LF (also for a block with no line ending).
func (e *Edit) EOL() string { return e.eol }

// fieldName returns the field name of a raw field as go-message reads it (the
// octets before the first colon, without surrounding space or tab), and
// false for a line that is not a field.
func fieldName(f []byte) (string, bool) {
	if len(f) == 0 || isWSP(f[0]) {
		return "", false
	}
	i := bytes.IndexByte(f[:lineLen(f)], ':')
	if i < 0 {
		return "", false
	}
	n := strings.Trim(string(f[:i]), " \t")
	return n, n != ""
}

// unfold returns a raw field's value as go-message gives it: line endings
// and the space around them removed, lines joined by one space.
func unfold(f []byte) string {
	i := bytes.IndexByte(f, ':')
	var parts []string
	for l := range strings.SplitSeq(string(f[i+1:]), "\n") {
		l = strings.Trim(strings.TrimSuffix(l, "\r"), " \t")
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// is reports whether raw field f is named name (case-insensitive).
func is(f []byte, name string) bool {
	n, ok := fieldName(f)
	return ok && strings.EqualFold(n, name)
}

// Names returns the name of every field, in order, as written.
func (e *Edit) Names() []string {
	var ns []string
	for _, f := range e.fields {
		if n, ok := fieldName(f); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// Values returns the unfolded value of every field named name, in order.
func (e *Edit) Values(name string) []string {
	var vs []string
	for _, f := range e.fields {
		if is(f, name) {
			vs = append(vs, unfold(f))
		}
	}
	return vs
}

// Value returns the unfolded value of the first field named name, and
// whether there is one.
func (e *Edit) Value(name string) (string, bool) {
	for _, f := range e.fields {
		if is(f, name) {
			return unfold(f), true
		}
	}
	return "", false
}

// Del deletes every field named name and returns how many it deleted.
func (e *Edit) Del(name string) int {
	return e.DelFunc(func(n string) bool { return strings.EqualFold(n, name) })
}

// DelFunc deletes every field whose name del reports true for and returns
// how many it deleted.
func (e *Edit) DelFunc(del func(name string) bool) int {
	return e.delRaw(func(f []byte) bool {
		fn, ok := fieldName(f)
		return ok && del(fn)
	})
}

// DelValue deletes every field named name whose unfolded value del
// reports true for, and returns how many it deleted.
func (e *Edit) DelValue(name string, del func(value string) bool) int {
	return e.delRaw(func(f []byte) bool { return is(f, name) && del(unfold(f)) })
}

// delRaw deletes every raw field del reports true for.
func (e *Edit) delRaw(del func(f []byte) bool) int {
	kept := e.fields[:0]
	n := 0
	for i, f := range e.fields {
		if del(f) {
			if i < e.top {
				e.top--
			}
			n++
			continue
		}
		kept = append(kept, f)
	}
	clear(e.fields[len(kept):])
	e.fields = kept
	return n
}

// Add checks name and value (CheckField) and adds the field "name: value"
// at the top of the block, after the fields added before it, so that
// fields added one by one appear in the order they were added.
func (e *Edit) Add(name, value string) error {
	if err := CheckField(name, value); err != nil {
		return err
	}
	f := name + ":"
	if value != "" {
		f += " " + value
	}
	e.fields = append(e.fields, nil)
	copy(e.fields[e.top+1:], e.fields[e.top:])
	e.fields[e.top] = []byte(f + e.eol)
	e.top++
	return nil
}

// AddField is Add for a whole field, "Name: value" (ParseField).
func (e *Edit) AddField(field string) error {
	n, v, err := ParseField(field)
	if err != nil {
		return err
	}
	return e.Add(n, v)
}

// Prefix inserts text at the start of the value of the first field named
// name, followed by a space if the value does not start on a line of its
// own, and reports whether there was such a field. Every other octet of
// the field is kept. text is not checked: it must be a valid value
// (CheckValue).
func (e *Edit) Prefix(name, text string) bool {
	for i, f := range e.fields {
		if !is(f, name) {
			continue
		}
		p := bytes.IndexByte(f, ':') + 1
		for p < len(f) && isWSP(f[p]) {
			p++
		}
		ins := text
		if p < len(f) && f[p] != '\r' && f[p] != '\n' {
			ins += " "
		}
		if p == bytes.IndexByte(f, ':')+1 {
			ins = " " + ins
		}
		nf := make([]byte, 0, len(f)+len(ins))
		nf = append(append(append(nf, f[:p]...), ins...), f[p:]...)
		e.fields[i] = nf
		return true
	}
	return false
}

// EnsureBody makes the block end in an empty line, so that a body may
// follow: a block read to the end of its input has none, and its last
// line may lack a line ending.
func (e *Edit) EnsureBody() {
	if e.end != nil {
		return
	}
	if n := len(e.fields); n > 0 {
		if f := e.fields[n-1]; f[len(f)-1] != '\n' {
			e.fields[n-1] = append(f[:len(f):len(f)], e.eol...)
		}
	}
	e.end = []byte(e.eol)
}

// Bytes returns the edited block.
func (e *Edit) Bytes() []byte {
	var b bytes.Buffer
	e.WriteTo(&b)
	return b.Bytes()
}

// WriteTo writes the edited block to w.
func (e *Edit) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, f := range append(e.fields, e.end) {
		k, err := w.Write(f)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ErrField is the error, wrapped, for a field name or value refused by
// CheckName, CheckValue, CheckField or ParseField.
var ErrField = errors.New("bad header field")

// CheckName checks a field name: RFC 5322 §3.6.8, one or more printable
// US-ASCII octets other than the colon.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty field name", ErrField)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("%w: octet %q in field name %q", ErrField, c, name)
		}
	}
	return nil
}

// CheckValue checks a field value: no control octet other than TAB (no
// CR, LF, NUL or DEL), so that it stays on one line and cannot start a
// field or end the header. Octets over 127 (RFC 6532 UTF-8) are allowed.
func CheckValue(value string) error {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: control octet %q in field value", ErrField, c)
		}
	}
	return nil
}

// CheckField checks name, value, and that the field fits on one line of
// at most MaxLine octets.
func CheckField(name, value string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckValue(value); err != nil {
		return err
	}
	if n := len(name) + 2 + len(value); n > MaxLine {
		return fmt.Errorf("%w: field %s is %d octets long, over %d", ErrField, name, n, MaxLine)
	}
	return nil
}

// ParseField splits a field given as "Name: value" at its first colon and
// checks it (CheckField). Space and tab after the colon are not part of
// the value.
func ParseField(field string) (name, value string, err error) {
	name, value, ok := strings.Cut(field, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: %q has no colon", ErrField, field)
	}
	value = strings.TrimLeft(value, " \t")
	if err := CheckField(name, value); err != nil {
		return "", "", err
	}
	return name, value, nil
}
