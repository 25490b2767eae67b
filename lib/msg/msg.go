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
	h := &Header{}
	fields := 0
	for atStart := true; ; {
		line, err := br.ReadSlice('\n')
		h.Raw = append(h.Raw, line...)
		if len(h.Raw) > max {
			return h, sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w (over %d octets)", ErrHeaderTooLong, max))
		}
		if atStart && len(line) > 0 && !isWSP(line[0]) && !isEmptyLine(line) {
			if fields++; fields > MaxFields {
				return h, sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w (over %d)", ErrTooManyFields, MaxFields))
			}
		}
		if atStart = err != bufio.ErrBufferFull; !atStart {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, err
		}
		if string(line) == "\n" || string(line) == "\r\n" {
			break
		}
	}
	// Parse a copy that surely ends in an empty line.
	parse := append(bytes.TrimRight(append([]byte(nil), h.Raw...), "\r\n"), "\r\n\r\n"...)
	if len(bytes.TrimSpace(h.Raw)) == 0 {
		return h, nil
	}
	f, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(parse)))
	if err != nil {
		return h, sysexit.Perm(sysexit.DataErr, fmt.Errorf("header: %v", err))
	}
	h.Fields = f
	return h, nil
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
	i := 0
	for ; i < len(raw); i++ {
		if c := raw[i]; c == 0 || c == '\r' && i+1 < len(raw) && raw[i+1] != '\n' {
			break
		}
	}
	if i == len(raw) {
		return nil // a CR at the very end is a line ending cut short
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

// Mail returns the fields with RFC 5322 accessors (addresses, Date).
func (h *Header) Mail() *mail.Header { return &mail.Header{Header: message.Header{Header: h.Fields}} }
