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

// ErrHeaderTooLong is returned, classified EX_DATAERR, for a header block
// over the limit.
var ErrHeaderTooLong = errors.New("header too long")

// Header is a message's header block as read, and its parsed fields.
type Header struct {
	Raw    []byte           // every octet of the block, its ending blank line included if there was one
	Fields textproto.Header // parsed from a copy of Raw
}

// ReadHeader reads the header block from br: every line up to and
// including the first empty one (LF or CRLF), or to the end of input. br
// is left at the first octet of the body. Past max octets it returns
// what it read so far with ErrHeaderTooLong. A block that go-message
// cannot parse is returned with the parse error, classified EX_DATAERR.
func ReadHeader(br *bufio.Reader, max int) (*Header, error) {
	h := &Header{}
	for {
		line, err := br.ReadSlice('\n')
		h.Raw = append(h.Raw, line...)
		if len(h.Raw) > max {
			return h, sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w (over %d octets)", ErrHeaderTooLong, max))
		}
		if err == bufio.ErrBufferFull {
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

// Mail returns the fields with RFC 5322 accessors (addresses, Date).
func (h *Header) Mail() *mail.Header { return &mail.Header{Header: message.Header{Header: h.Fields}} }
