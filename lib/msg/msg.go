// Package msg reads the header of one RFC 5322 message without changing
// a byte of it: the raw header block is kept as read, a parsed copy
// (go-message's textproto) answers questions about it, and the body stays
// an unread stream. It is part of mlm's internals, not a public API.
//
// go-message rewrites LF headers as CRLF when it writes them back, so a
// filter that passes a message on writes Raw, never the parsed Header
// (DESIGN.md §3).
package msg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"mlm/lib/sysexit"
)

// MaxHeader is the default limit on the size of a header block.
const MaxHeader = 1 << 20

// MaxFields is the most fields a header block may have. go-message
// keeps about 150 octets for each field it parses, so a 1 MiB block of
// 350,000 empty fields would cost 160 MB; real mail has a few dozen, and
// a few hundred Received fields after a long loop.
const MaxFields = 10_000

// ErrHeaderTooLong is returned, classified EX_DATAERR, for a header block
// over the limit; ErrTooManyFields for one of more than MaxFields fields.
var (
	ErrHeaderTooLong = errors.New("header too long")
	ErrTooManyFields = errors.New("header has too many fields")
)

// Header is a message's header block as read, and its parsed fields.
type Header struct {
	Raw    []byte           // every octet of the block, its ending blank line included if there was one
	Fields textproto.Header // parsed from a copy of Raw
}

// ReadHeader reads the header block from br: every line up to and
// including the first empty one (LF or CRLF), or to the end of input. br
// is left at the first octet of the body. Past max octets, or
// MaxFields fields, it returns what it read so far with ErrHeaderTooLong
// or ErrTooManyFields. A block that go-message cannot parse is returned
// with the parse error, classified EX_DATAERR.
func ReadHeader(br *bufio.Reader, max int) (*Header, error) {
	raw, err := readBlock(br, max, nil)
	h := &Header{Raw: raw}
	if err == nil {
		h.Fields, err = parse(raw)
	}
	return h, err
}

// Parse returns the header of raw, a block CheckBlock passed.
func Parse(raw []byte) (*Header, error) {
	f, err := parse(raw)
	return &Header{Raw: raw, Fields: f}, err
}

// CheckBlock checks raw, a header block read from a stream with a limit
// of max octets (stream.Reader's HeaderBlock, which stops past it), for a
// filter that needs only the raw block, such as one that edits it
// (Edit). It refuses what ReadHeader refuses, and what CheckOctets does,
// without parsing the block: past MaxFields fields, past max octets,
// refused by go-message (scan), holding a bare CR or a NUL. go-message
// parses it only to tell why it refuses it, once the fields are counted.
func CheckBlock(raw []byte, max int) error {
	fields, ok := scan(raw)
	switch {
	case fields > MaxFields:
		return errTooManyFields()
	case len(raw) > max:
		return errTooLong(max)
	case !ok:
		_, err := parse(raw)
		return err
	}
	return CheckOctets(raw)
}

func errTooLong(max int) error {
	return sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w (over %d octets)", ErrHeaderTooLong, max))
}

func errTooManyFields() error {
	return sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w (over %d)", ErrTooManyFields, MaxFields))
}

// readBlock reads the header block from br, appending it to raw.
func readBlock(br *bufio.Reader, max int, raw []byte) ([]byte, error) {
	fields := 0
	for atStart := true; ; {
		line, err := br.ReadSlice('\n')
		raw = append(raw, line...)
		if len(raw) > max {
			return raw, errTooLong(max)
		}
		if atStart && len(line) > 0 && !isWSP(line[0]) && !isEmptyLine(line) {
			if fields++; fields > MaxFields {
				return raw, errTooManyFields()
			}
		}
		// A line longer than br's buffer comes in pieces: only a piece
		// that starts a line can be the empty line that ends the block.
		whole := atStart
		if atStart = err != bufio.ErrBufferFull; !atStart {
			continue
		}
		if err == io.EOF {
			return raw, nil
		}
		if err != nil {
			return raw, err
		}
		if whole && (string(line) == "\n" || string(line) == "\r\n") {
			return raw, nil
		}
	}
}

// parse parses a copy of raw that surely ends in an empty line with
// go-message; a block of nothing but an empty line is no fields. (A line
// that is blank but not empty, of space, tab or a form feed, is no field
// either: a header of one is refused as go-message refuses it, since a
// filter that adds fields before it would make it a field's line.)
func parse(raw []byte) (textproto.Header, error) {
	if noFields(raw) {
		return textproto.Header{}, nil
	}
	cp := append(bytes.TrimRight(append([]byte(nil), raw...), "\r\n"), "\r\n\r\n"...)
	f, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(cp)))
	if err != nil {
		// go-message's error quotes the line, line end included.
		return textproto.Header{}, sysexit.Perm(sysexit.DataErr, fmt.Errorf("header: %s", strings.TrimSuffix(err.Error(), "\r\n")))
	}
	return f, nil
}

// scan reports whether parse would accept raw, without parsing it: it
// is go-message's textproto.ReadHeader reduced to its checks. The copy
// parse reads loses the block's final line endings. Its first line must
// not start with space or tab; then up to an empty line (as
// bufio.Reader.ReadLine strips LF or CRLF), a line that does not start
// with space or tab (which continue a field) must hold a colon, and the
// name before it, without space and tab around it, printable US-ASCII
// octets only (an empty one is skipped). A colon only on a continuation
// line leaves the line ending inside the name, which is refused as well.
// When in doubt it says no: parse then gives the answer and the error.
//
// It also counts the fields as it goes, as readBlock does: every line
// that is not empty (LF or CRLF) and starts with neither space nor tab,
// up to the empty line that ends the block.
func scan(raw []byte) (fields int, ok bool) {
	if noFields(raw) {
		return crLines(raw), true
	}
	b := trimEOL(raw)
	if i := bytes.IndexByte(raw[len(b):], '\n'); i >= 0 {
		// The line endings trimEOL took: after the LF that ended the
		// last line, lines of CRs.
		fields = crLines(raw[len(b)+i+1:])
	}
	ok = !isWSP(b[0])
	for len(b) > 0 {
		n := lineLen(b)
		line := b[:n]
		b = b[n:]
		if isWSP(line[0]) {
			continue
		}
		if isEmptyLine(line) { // "" once ReadLine strips its ending
			return fields, ok
		}
		fields++
		if !ok {
			continue
		}
		i := colon(line)
		if i < 0 {
			ok = false
			continue
		}
		ok = printable(trimWSP(line[:i]))
	}
	return fields, ok
}

// printable reports whether a field name is all printable US-ASCII
// (33-126), which scan, and Edit.ResetChecked with it, ask of a name
// before the colon.
func printable(name []byte) bool {
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// crLines counts the lines of t, octets CR and LF only, that readBlock
// counts as fields: all but an empty one ("\r\r\n", a CR alone at the
// very end).
func crLines(t []byte) int {
	n := 0
	for len(t) > 0 {
		k := lineLen(t)
		if !isEmptyLine(t[:k]) {
			n++
		}
		t = t[k:]
	}
	return n
}

// noFields reports whether a block holds nothing but line-ending
// octets: no input, an empty line (LF or CRLF), a CR at the end of input.
func noFields(raw []byte) bool { return len(trimEOL(raw)) == 0 }

// trimEOL is bytes.TrimRight(b, "\r\n"), without the cutset's set up.
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// colon returns the index of the first colon in line, or -1. A name is
// short: a loop finds the colon after it sooner than IndexByte.
func colon(line []byte) int {
	for i, c := range line {
		if c == ':' {
			return i
		}
	}
	return -1
}

// ErrBareCR and ErrNUL are returned, wrapped and classified EX_DATAERR,
// by CheckOctets.
var (
	ErrBareCR = errors.New("bare CR")
	ErrNUL    = errors.New("NUL octet")
)

// CheckOctets refuses a header block holding a CR that does not end a
// line (before its LF) or a NUL, which RFC 5322 §2.2 and §3.2.3 forbid
// in a header. A bare CR is the dangerous one: mlm reads lines up to LF,
// but on the wire every bare CR becomes CRLF (lib/wire), so
// "X-A: b\rList-Id: <forged>" would reach readers as a field mlm never
// saw, past strip lists and list fields alike. A NUL ends strings in
// readers written in C. The error names the field, or the line.
func CheckOctets(raw []byte) error {
	i := firstBad(raw)
	if i < 0 {
		return nil
	}
	what := ErrBareCR
	if raw[i] == 0 {
		what = ErrNUL
	}
	start := i // the start of the field: of the line, then of its first line
	for start > 0 && (raw[start-1] != '\n' || isWSP(raw[start])) {
		start--
	}
	where := fmt.Sprintf("line %d", bytes.Count(raw[:i], []byte("\n"))+1)
	if n, ok := fieldName(raw[start:i]); ok && CheckName(n) == nil {
		where = "field " + n
	}
	return sysexit.Perm(sysexit.DataErr, fmt.Errorf("header: %w in %s", what, where))
}

// firstBad returns the index of the first NUL or bare CR in raw, or -1.
// A CR at the very end is a line ending cut short. Both octets are
// looked for with bytes.IndexByte, since every message pays for this.
func firstBad(raw []byte) int {
	end := bytes.IndexByte(raw, 0) // a CR after the first NUL does not matter
	if end < 0 {
		end = len(raw)
	}
	for off := 0; off < end; {
		i := bytes.IndexByte(raw[off:end], '\r')
		if i < 0 {
			break
		}
		if off += i + 1; off < len(raw) && raw[off] != '\n' {
			return off - 1
		}
	}
	if end == len(raw) {
		return -1
	}
	return end
}

// Mail returns the fields with RFC 5322 accessors (addresses, Date).
func (h *Header) Mail() *mail.Header { return &mail.Header{Header: message.Header{Header: h.Fields}} }
