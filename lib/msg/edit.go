package msg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"mlm/lib/addr"
	"mlm/lib/ascii"
)

// MaxLine is the longest header line RFC 5322 §2.1.1 allows, without its
// line ending.
const MaxLine = 998

// Edit is a header block being edited as raw fields: a field is its first
// line and its continuation lines, line endings included, exactly as read.
// Fields nobody touches are written back byte for byte; fields added use
// the block's own line ending (EOL). Nothing goes through go-message's
// writer, which would turn LF into CRLF.
//
// A filter edits every message it passes on, so an Edit is made to cost
// little: each field's name is read once, when the block is split, fields
// added go on a list of their own rather than being inserted, and Reset
// reuses an Edit's memory for the next message.
type Edit struct {
	added  []field // fields added, in order: the top of the block
	fields []field // the fields of the block as read that are left, in order
	end    []byte  // the empty line that ends the block; nil if it had none
	eol    string  // "\n" or "\r\n", from the first line
	buf    []byte  // octets of fields added or changed
	out    []byte  // the edited block, for WriteTo
	names  uint64  // nameBit of every field's name that is or was here
}

// field is one raw field, its name the first n octets of b; n is 0 for
// a line that is not a field. (The name is not a string of its own: it
// would be one more allocation, or a map's lookup, for every field of
// every message, most never asked for.)
type field struct {
	b []byte
	n int
}

// nameBit is a name's bit in Edit.names, from its length and its first
// and last octets, without regard to case: a lookup of a name whose bit
// is not set there is answered without a look at any field, as most are
// (a filter asks for many fields a post has not got). Names are at least
// one octet long.
func nameBit(name string) uint64 {
	return 1 << ((uint(len(name)) + 7*uint(name[0]|0x20) + 3*uint(name[len(name)-1]|0x20)) & 63)
}

// has reports whether a field named name may be in e: false means none
// is.
func (e *Edit) has(name string) bool { return name != "" && e.names&nameBit(name) != 0 }

// name returns f's name as a string.
func (f *field) name() string { return name(f.b[:f.n]) }

// nameOver returns f's name as a string over f's octets, valid while
// they are: for a comparison, never to keep. f has a name.
func (f *field) nameOver() string { return unsafe.String(&f.b[0], f.n) }

// NewEdit splits raw, a header block as ReadHeader returns it, into
// fields. Any octets are accepted: a line that is not a field (no colon,
// or a continuation line with nothing to continue) becomes a field with
// no name, which no name matches and which is written back unchanged.
// The fields share raw's memory.
func NewEdit(raw []byte) *Edit {
	e := &Edit{}
	e.Reset(raw)
	return e
}

// Reset makes e an Edit of raw, as NewEdit does, reusing e's memory: a
// filter keeps one Edit for all the messages it passes on.
func (e *Edit) Reset(raw []byte) {
	clear(e.added)
	clear(e.fields)
	*e = Edit{added: e.added[:0], fields: e.fields[:0], eol: "\n", buf: e.buf[:0], out: e.out[:0]}
	if i := bytes.IndexByte(raw, '\n'); i > 0 && raw[i-1] == '\r' {
		e.eol = "\r\n"
	}
	for off := 0; off < len(raw); {
		n := lineLen(raw[off:])
		line := raw[off : off+n]
		if isEmptyLine(line) {
			// ReadHeader stops at the first empty line; keep anything
			// after it as the end, so that Bytes gives back raw.
			e.end = raw[off:]
			break
		}
		if len(e.fields) > 0 && isWSP(line[0]) {
			f := &e.fields[len(e.fields)-1]
			k := len(f.b) + n
			f.b = raw[off+n-k : off+n : off+n]
		} else {
			f := field{b: line[:n:n]}
			if nb, ok := nameBytes(line); ok {
				f.n = len(nb) // line starts with it: no space before a name
				e.names |= nameBit(f.nameOver())
			}
			e.fields = append(e.fields, f)
		}
		off += n
	}
}

// ResetChecked is Reset(raw), and CheckBlock(raw, max)'s answer: for a
// filter that checks each block it edits, and lets e go if raw fails. A
// block of plain fields (every line a field with a name of visible
// ASCII, or a continuation of one; the empty line at the end and nothing
// after it), as nearly every post has, is split once and checked on the
// way, where CheckBlock and Reset would each find every line's end. Any
// other block is checked by CheckBlock itself, so the answer is
// CheckBlock's whatever raw holds.
func (e *Edit) ResetChecked(raw []byte, max int) error {
	e.Reset(raw)
	if !e.plain() || len(e.fields) > MaxFields || len(raw) > max {
		return CheckBlock(raw, max)
	}
	return CheckOctets(raw)
}

// plain reports whether the block Reset split is one of plain fields
// (see ResetChecked), which scan would pass with as many fields: each
// field's name, before its colon on its first line, is printable ASCII
// (33-126), and the block ends with its empty line.
func (e *Edit) plain() bool {
	if !isEmptyLine(e.end) {
		return false
	}
	for i := range e.fields {
		if f := &e.fields[i]; f.n == 0 || !printable(f.b[:f.n]) {
			return false
		}
	}
	return true
}

// commonNames are the field names of nearly every post, as they are
// usually spelt: name takes them from here rather than allocating.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range strings.Fields(`From To Cc Subject Date Message-ID Message-Id
		In-Reply-To References Reply-To Sender Return-Path Received Delivered-To
		MIME-Version Mime-Version Content-Type Content-Transfer-Encoding
		Content-Disposition Content-Language User-Agent X-Mailer
		DKIM-Signature Authentication-Results Received-SPF ARC-Seal
		ARC-Message-Signature ARC-Authentication-Results
		List-Id List-Help List-Post List-Subscribe List-Unsubscribe
		List-Unsubscribe-Post List-Owner List-Archive Precedence X-Loop`) {
		m[n] = n
	}
	return m
}()

// name returns a field name as a string.
func name(nb []byte) string {
	if n, ok := commonNames[string(nb)]; ok {
		return n
	}
	return string(nb)
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
	n, ok := nameBytes(f)
	return string(n), ok
}

// nameBytes is fieldName without a copy: the name is part of f.
func nameBytes(f []byte) ([]byte, bool) {
	if len(f) == 0 || isWSP(f[0]) {
		return nil, false
	}
	// One pass over the first line: names are short.
	for i, c := range f {
		switch c {
		case ':':
			n := trimWSP(f[:i])
			return n, len(n) > 0
		case '\n':
			return nil, false
		}
	}
	return nil, false
}

// trimWSP is bytes.Trim(b, " \t"), without the cutset's set up.
func trimWSP(b []byte) []byte {
	for len(b) > 0 && isWSP(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWSP(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// unfold returns a raw field's value as go-message gives it: line endings
// and the space around them removed, lines joined by one space.
func unfold(f []byte) string {
	v := f[bytes.IndexByte(f, ':')+1:]
	if n := lineLen(v); n == len(v) {
		// One line, the common case: no joining, one allocation.
		v = bytes.TrimSuffix(bytes.TrimSuffix(v, []byte("\n")), []byte("\r"))
		return string(trimWSP(v))
	}
	var parts []string
	for l := range strings.SplitSeq(string(v), "\n") {
		l = strings.Trim(strings.TrimSuffix(l, "\r"), " \t")
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// IsAddress reports whether the value v of a field that holds one
// address, as X-Loop does, is the address a: the whole value, so that
// dev@host is not webdev@host's, the same but for case (addr.Lower's),
// space around it, and angle brackets with a display name before them
// or none ("Dev <dev@host>", as some programs write X-Loop), and its
// domain's labels spelt as A-labels or U-labels (addr.DomainKey), and
// comments aside, wherever they are ("dev@host (me)", "<dev (x) @host>"),
// with the white space around them, and quotes that add nothing to the
// local part ("\"dev\"@host", RFC 5321 section 4.1.2). A value that
// names two addresses is neither's, whichever comes first, and so is one
// with a comment or a quoted string that does not end.
func IsAddress(v, a string) bool {
	v, ok := uncomment(v)
	if !ok {
		return false
	}
	v = strings.TrimSpace(v)
	if s, ok := strings.CutSuffix(v, ">"); ok {
		if i := strings.LastIndexByte(s, '<'); i >= 0 {
			if !isPhrase(s[:i]) {
				return false
			}
			v = s[i+1:]
		}
	} else {
		v = strings.TrimPrefix(v, "<")
	}
	v = unquotedSpaceless(v)
	if v == a || addr.Lower(v) == addr.Lower(a) {
		return true
	}
	// addr.Key undoes quotes that add nothing, lowers the local part
	// and gives the domain's key.
	kv, ka := addr.Key(v), addr.Key(a)
	return strings.Contains(kv, "@") && kv == ka
}

// unquotedSpaceless is s without the spaces and tabs outside its quoted
// strings: those a comment left, or folding, between an address's
// tokens ("dev @ host"), where a quoted local part keeps its own ("a b").
func unquotedSpaceless(s string) string {
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case !quoted && (c == ' ' || c == '\t'):
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isPhrase reports whether s, what comes before an angle-addr, can be
// its display name (RFC 5322 section 3.4): it has no ',', '<', '>' or
// ';' outside quoted strings and comments, which would end or start
// another address.
func isPhrase(s string) bool { return IndexUnquoted(Uncomment(s), ",<>;") < 0 }

// IndexUnquoted returns the index of the first octet of s that is one of
// chars and outside a quoted string (RFC 5322 §3.2.4, quoted-pairs and
// all), or -1.
func IndexUnquoted(s, chars string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && strings.IndexByte(chars, c) >= 0:
			return i
		}
	}
	return -1
}

// Uncomment replaces the comments of a structured field's value (RFC
// 5322 §3.2.2: parentheses, nested, with quoted-pairs, outside quoted
// strings) with a space each.
func Uncomment(v string) string {
	u, _ := uncomment(v)
	return u
}

// uncomment is Uncomment, and reports whether every comment of v ends
// (and every quoted string).
func uncomment(v string) (string, bool) {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(v) {
					b.WriteByte(v[i+1])
				}
			}
			i++
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					b.WriteByte(' ')
				}
			}
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth = 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), depth == 0 && !quoted
}

// MaxListID is the longest list-id, in octets (RFC 2919 section 2).
const MaxListID = 255

// ListIDOf returns the list-id of a List-Id field's value (RFC 2919:
// a phrase, then the id in angle brackets), lowered: what is between the
// last angle brackets outside comments, so that a foreign list's value
// that names another id in its phrase or a comment is its own id; or
// the whole value, trimmed, if it has none.
func ListIDOf(v string) string {
	v = Uncomment(v)
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		v, _, _ = strings.Cut(v[i+1:], ">")
	}
	return ascii.Lower(strings.TrimSpace(v))
}

// is reports whether f is named name (case-insensitive).
func (f *field) is(name string) bool {
	return f.n == len(name) && f.n > 0 && ascii.EqualFold(f.nameOver(), name)
}

// IDLeft is a record id as a Message-ID's left side, a dot-atom-text
// (RFC 5322 section 3.6.4): "," is not atext and becomes ".", and a "."
// that would start or end it, or follow another, becomes "=", which no
// record id holds. (A record id may have them: a host name with a final
// dot gives ids ending in ".", and notice ids with "..".)
func IDLeft(id string) string {
	b := []byte(strings.ReplaceAll(id, ",", "."))
	for i, c := range b {
		if c == '.' && (i == 0 || i == len(b)-1 || b[i-1] == '.') {
			b[i] = '='
		}
	}
	return string(b)
}

// singular are the fields a message has once at most (RFC 5322
// section 3.6, the table at its end), spelt as there.
var singular = [...]string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References", "Subject"}

// OnlyOnce reports whether name is of a field a message has once at
// most (RFC 5322 section 3.6).
func OnlyOnce(name string) bool { return singularIndex(name) >= 0 }

// singularIndex returns the index in singular of name, in any case; -1
// if it is not there. By the name's length first: it is asked of every
// field of every post (Repeated), most of them of no length there.
func singularIndex(name string) int {
	var i, j int
	switch len(name) {
	case 2:
		i, j = 4, 5 // To, Cc
	case 3:
		i, j = 6, 6 // Bcc
	case 4:
		i, j = 0, 1 // Date, From
	case 6:
		i, j = 2, 2 // Sender
	case 7:
		i, j = 10, 10 // Subject
	case 8:
		i, j = 3, 3 // Reply-To
	case 10:
		i, j = 7, 9 // Message-ID, References
	case 11:
		i, j = 8, 8 // In-Reply-To
	default:
		return -1
	}
	switch {
	case ascii.EqualFold(name, singular[i]):
		return i
	case ascii.EqualFold(name, singular[j]):
		return j
	}
	return -1
}

// Repeated returns the first field, in block order, that a message has
// once at most (OnlyOnce) and e has more than once, its name as RFC 5322
// spells it; "" if there is none.
func (e *Edit) Repeated() string {
	var seen uint16
	for _, fs := range e.all() {
		for i := range fs {
			if fs[i].n == 0 {
				continue
			}
			k := singularIndex(fs[i].nameOver())
			if k < 0 {
				continue
			}
			if seen&(1<<k) != 0 {
				return singular[k]
			}
			seen |= 1 << k
		}
	}
	return ""
}

// all returns the fields in block order: those added, then the rest.
func (e *Edit) all() [2][]field { return [2][]field{e.added, e.fields} }

// Names returns the name of every field, in order, as written.
func (e *Edit) Names() []string {
	var ns []string
	for _, fs := range e.all() {
		for _, f := range fs {
			if f.n > 0 {
				ns = append(ns, f.name())
			}
		}
	}
	return ns
}

// Values returns the unfolded value of every field named name, in order.
func (e *Edit) Values(name string) []string {
	if !e.has(name) {
		return nil
	}
	var vs []string
	for _, fs := range e.all() {
		for _, f := range fs {
			if f.is(name) {
				vs = append(vs, unfold(f.b))
			}
		}
	}
	return vs
}

// Field returns the first field named name as the block has it: name,
// colon, value and line ending, continuation lines included. It is e's
// memory, valid until the next Reset: for a lookup (a map's key read
// from it costs no copy), not to keep.
func (e *Edit) Field(name string) ([]byte, bool) {
	if !e.has(name) {
		return nil, false
	}
	for _, fs := range e.all() {
		for i := range fs {
			if f := &fs[i]; f.is(name) {
				return f.b, true
			}
		}
	}
	return nil, false
}

// FirstLast returns the unfolded values of the first and the last field
// named name, "" for none: what a reader that takes a field's first
// occurrence and one that takes its last each read. With one such field,
// the common case, both are the one value, unfolded once, and no slice
// is made (Values' would be).
func (e *Edit) FirstLast(name string) (first, last string) {
	if !e.has(name) {
		return "", ""
	}
	var fb, lb []byte
	for _, fs := range e.all() {
		for i := range fs {
			if f := &fs[i]; f.is(name) {
				if fb == nil {
					fb = f.b
				}
				lb = f.b
			}
		}
	}
	if fb == nil {
		return "", ""
	}
	first = unfold(fb)
	if &lb[0] == &fb[0] {
		return first, first
	}
	return first, unfold(lb)
}

// HasValue reports whether e has a field named name whose value is more
// than white space and line ends, without unfolding it. (The block's
// fields first, where a post's own are.)
func (e *Edit) HasValue(name string) bool {
	if !e.has(name) {
		return false
	}
	for _, fs := range [2][]field{e.fields, e.added} {
		for i := range fs {
			if f := &fs[i]; f.is(name) && !blank(f.b[f.n+bytes.IndexByte(f.b[f.n:], ':')+1:]) {
				return true
			}
		}
	}
	return false
}

// blank reports whether b is white space and line ends alone.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// Value returns the unfolded value of the first field named name, and
// whether there is one.
func (e *Edit) Value(name string) (string, bool) {
	f, ok := e.Field(name)
	if !ok {
		return "", false
	}
	return unfold(f), true
}

// Del deletes every field named name and returns how many it deleted.
func (e *Edit) Del(name string) int {
	if !e.has(name) {
		return 0
	}
	return e.delRaw(func(f *field) bool { return f.is(name) })
}

// DelFunc deletes every field whose name del reports true for and returns
// how many it deleted. name is the block's own octets: del must not keep
// it past its return.
func (e *Edit) DelFunc(del func(name string) bool) int {
	return e.delRaw(func(f *field) bool { return f.n > 0 && del(f.nameOver()) })
}

// DelValue deletes every field named name whose unfolded value del
// reports true for, and returns how many it deleted.
func (e *Edit) DelValue(name string, del func(value string) bool) int {
	if !e.has(name) {
		return 0
	}
	return e.delRaw(func(f *field) bool { return f.is(name) && del(unfold(f.b)) })
}

// DelField deletes every field del reports true for, given the field as
// the block has it (name, colon, value, continuation lines and line
// ends; a line that is no field alike), and returns how many it
// deleted. del must not keep the octets past its return.
func (e *Edit) DelField(del func(field []byte) bool) int {
	return e.delRaw(func(f *field) bool { return del(f.b) })
}

// delRaw deletes every field del reports true for.
func (e *Edit) delRaw(del func(f *field) bool) int {
	n := len(e.added) + len(e.fields)
	e.added = deleteFields(e.added, del)
	e.fields = deleteFields(e.fields, del)
	return n - len(e.added) - len(e.fields)
}

func deleteFields(fs []field, del func(f *field) bool) []field {
	k := 0
	for i := range fs {
		if del(&fs[i]) {
			continue
		}
		if k != i { // a field moves only after a deletion
			fs[k] = fs[i]
		}
		k++
	}
	clear(fs[k:])
	return fs[:k]
}

// Add checks name and value (CheckField) and adds the field "name: value"
// at the top of the block, after the fields added before it, so that
// fields added one by one appear in the order they were added.
func (e *Edit) Add(name, value string) error {
	if err := CheckField(name, value); err != nil {
		return err
	}
	start := len(e.buf)
	e.buf = appendField(e.buf, name, value, e.eol)
	e.added = append(e.added, field{e.buf[start:len(e.buf):len(e.buf)], len(name)}) // CheckName: nothing to trim
	e.names |= nameBit(name)
	return nil
}

// appendField appends "name: value" and eol to b.
func appendField(b []byte, name, value, eol string) []byte {
	b = append(append(b, name...), ':')
	if value != "" {
		b = append(append(b, ' '), value...)
	}
	return append(b, eol...)
}

// Fields are fields to add to many blocks, checked once (AddFields).
type Fields struct {
	names []string
	lf    [][]byte // each field with an LF line ending
	crlf  [][]byte // and with CRLF
	bits  uint64   // nameBit of every name
}

// Add checks name and value (CheckField) and appends the field
// "name: value" to fs.
func (fs *Fields) Add(name, value string) error {
	if err := CheckField(name, value); err != nil {
		return err
	}
	fs.names = append(fs.names, name)
	fs.bits |= nameBit(name)
	fs.lf = append(fs.lf, appendField(nil, name, value, "\n"))
	fs.crlf = append(fs.crlf, appendField(nil, name, value, "\r\n"))
	return nil
}

// AddWords checks name and each word (CheckName, CheckValue) and appends
// the field "name: " and the words joined by spaces to fs, folded (an
// EOL and a space before a word) where a line would pass 76 octets: a
// line that holds an encoded-word may not (RFC 2047 section 2), and one
// value, a display name of many encoded-words, may be more than the
// MaxLine octets of one line. The first word too goes on the next line
// where it does not fit after the name; a longer word is on a line of
// its own. No line may pass MaxLine.
func (fs *Fields) AddWords(name string, words []string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	b := append([]byte(name), ':')
	n := len(b)
	for _, w := range words {
		if err := CheckValue(w); err != nil {
			return err
		}
		if w == "" || isWSP(w[0]) || isWSP(w[len(w)-1]) {
			return fmt.Errorf("%w: %q is no word of field %s", ErrField, w, name)
		}
		if n > 0 && n+1+len(w) > 76 {
			b, n = append(b, '\n'), 0
		}
		b, n = append(append(b, ' '), w...), n+1+len(w)
		if n > MaxLine {
			return fmt.Errorf("%w: field %s has a line %d octets long, over %d", ErrField, name, n, MaxLine)
		}
	}
	fs.names = append(fs.names, name)
	fs.bits |= nameBit(name)
	fs.lf = append(fs.lf, append(b, '\n'))
	fs.crlf = append(fs.crlf, append(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), '\r', '\n'))
	return nil
}

// Len returns the number of fields in fs.
func (fs *Fields) Len() int { return len(fs.names) }

// AddFields adds the fields of fs in order, as Add would add each of
// them, without checking them again. e and fs share their octets, which
// neither changes.
func (e *Edit) AddFields(fs *Fields) {
	b := fs.lf
	if e.eol == "\r\n" {
		b = fs.crlf
	}
	for i, name := range fs.names {
		e.added = append(e.added, field{b[i], len(name)})
	}
	e.names |= fs.bits
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
// the field is kept. Where the first line would then be over MaxLine
// octets, the space is a fold (EOL and a space): the same value, on two
// lines; or, where white space before the value leaves no room for text
// on the first line, text goes on a line of its own after it. A line
// that holds an encoded-word is held to 76 octets so (RFC 2047 section
// 2), and text that holds one is folded between its words where a line
// of it would pass 76: all but a first word too long to fit after the
// name, which stays on the first line. text is not checked: it must be a
// valid value (CheckValue) of at most MaxLine-2 octets.
func (e *Edit) Prefix(name, text string) bool {
	if !e.has(name) {
		return false
	}
	for _, fs := range e.all() {
		for i := range fs {
			if fs[i].is(name) {
				e.prefix(&fs[i], text)
				return true
			}
		}
	}
	return false
}

// maxWordLine is the longest line that holds an encoded-word (RFC 2047
// section 2), without its line ending.
const maxWordLine = 76

func (e *Edit) prefix(fd *field, text string) {
	f := fd.b
	colon := bytes.IndexByte(f, ':') + 1
	p := colon
	for p < len(f) && isWSP(f[p]) {
		p++
	}
	first := bytes.IndexByte(f, '\n')
	if first < 0 {
		first = len(f)
	}
	if first > 0 && f[first-1] == '\r' {
		first--
	}
	value := p < len(f) && f[p] != '\r' && f[p] != '\n' // on the first line
	// The longest line of text, and of text with the value's first
	// line after it.
	textLimit, lineLimit := MaxLine, MaxLine
	// (The regular expression only where "=?" is: the prefix and
	// the Subject of most posts have none, and this is each post's.)
	if strings.Contains(text, "=?") && wordParts.MatchString(text) {
		textLimit, lineLimit = maxWordLine, maxWordLine
	} else if value && bytes.Contains(f[p:first], []byte("=?")) && wordParts.Match(f[p:first]) {
		lineLimit = maxWordLine
	}
	lead := ""
	if p == colon {
		lead = " "
	}
	col := p + len(lead)
	// (Not for 76: a first word that does not fit after the name would
	// go after white space alone, which a reader shows.)
	own := col+len(text) > MaxLine
	if own {
		// So much white space before the value, or on a first line of
		// nothing else, that the text does not fit after it: the text
		// goes on a line of its own.
		lead, col = e.eol+" ", 1
	}
	t, end := foldWords(text, col, textLimit, e.eol)
	ins := lead + t
	if value {
		switch {
		case own:
			ins += e.eol // as before: the value on the line after the text's own
		case end+1+first-p > lineLimit:
			ins += e.eol // the value goes on the next line
		}
		ins += " "
	}
	start := len(e.buf)
	e.buf = append(append(append(e.buf, f[:p]...), ins...), f[p:]...)
	fd.b = e.buf[start:len(e.buf):len(e.buf)]
}

// foldWords returns text, which starts at column col of its line, with
// an EOL before a space between two words where a line would pass limit,
// and the column its last line ends at.
func foldWords(text string, col, limit int, eol string) (string, int) {
	if col+len(text) <= limit {
		return text, col + len(text)
	}
	var b strings.Builder
	for i, w := range strings.Split(text, " ") {
		if i > 0 {
			if w != "" && col > 1 && col+1+len(w) > limit {
				b.WriteString(eol)
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String(), col
}

// EnsureBody makes the block end in an empty line, so that a body may
// follow: a block read to the end of its input has none, and its last
// line may lack a line ending. (The last field is one of the block's own:
// fields added end in EOL.)
func (e *Edit) EnsureBody() {
	if e.end != nil {
		return
	}
	if n := len(e.fields); n > 0 {
		if f := e.fields[n-1].b; f[len(f)-1] != '\n' {
			// A last line ending in CR needs only its LF: a CR
			// more would be a bare one.
			eol := e.eol
			if f[len(f)-1] == '\r' {
				eol = "\n"
			}
			e.fields[n-1].b = append(f[:len(f):len(f)], eol...)
		}
	}
	e.end = []byte(e.eol)
}

// Bytes returns the edited block.
func (e *Edit) Bytes() []byte { return e.appendTo(nil) }

func (e *Edit) appendTo(b []byte) []byte {
	for _, fs := range e.all() {
		for _, f := range fs {
			b = append(b, f.b...)
		}
	}
	return append(b, e.end...)
}

// WriteTo writes the edited block to w, in one Write.
func (e *Edit) WriteTo(w io.Writer) (int64, error) {
	e.out = e.appendTo(e.out[:0])
	n, err := w.Write(e.out)
	return int64(n), err
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
