// Package mimewalk follows the MIME structure of a message body as it
// streams past (RFC 2045, RFC 2046 §5), counting parts and nesting, in
// memory and time bounded by its limits whatever the input. It never
// builds a tree and never holds a part: it only finds the delimiter
// lines of the multiparts it is inside and reads the Content-Type of
// each part's header. It decodes nothing but one kind of part (below).
// It is part of mlm's internals, not a public API.
//
// go-message's full parse takes about 95 s and 1.1 GiB on a body nested
// 16,000 deep or cut into 100,000 parts; a Walker takes one pass over the
// octets and at most a few hundred KiB (a few MiB for encoded messages
// nested a hundred deep, each walked by a Walker with buffers of its
// own), and says when a body goes past its limits (Default: 100 levels,
// 10,000 parts), so that a program can hold such a message rather than
// pass it on to readers that would walk it all.
//
// What counts: a multipart with a boundary, and a message part, are one
// level each; every part of a multipart, at any level, is a part. A
// message part is message/rfc822 or message/global, or, as Python's
// email reads it, any other message type but delivery-status, which it
// reads as blocks of fields, each a part of the type the block gives,
// as the walk does, a level. A message part in base64 or quoted-printable,
// which RFC 2046 §5.2.1 forbids and mail readers decode all the same, is
// walked as they read it: decoded, a line at a time, by a Walker of its
// own. Python's email reads a message part as it is, whatever its
// encoding: once the walk meets one in any encoding but 7bit, 8bit or
// binary, a twin of it walks the rest so, and a limit the twin goes past
// is the walk's. A multipart whose boundary an enclosing one already uses
// is taken as a single part, so that every delimiter line means one
// thing. A part whose Content-Type, or Content-Transfer-Encoding, is
// given twice, the first and last differing, is ErrType where that makes
// it a multipart or message to readers that take one and not to those
// that take the other (Ambiguous); so is a multipart's or message's
// Content-Transfer-Encoding over MaxField, which readers may trim to
// "base64" and decode. A missing close delimiter is no error: the body
// simply ends.
package mimewalk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"

	"mlm/lib/ascii"
	"mlm/lib/msg"
)

// Limits bounds a walk.
type Limits struct {
	Depth int // most levels of nesting: a multipart in a multipart is 2
	Parts int // most parts, counted at every level
}

// Default are the limits mlm holds messages to: deeper or more parts
// than any mail client writes (a reply thread forwarded as attachments
// is a few levels; a large archive a few thousand parts).
var Default = Limits{Depth: 100, Parts: 10_000}

// MaxField is the longest Content-Type field of a part that is read,
// its name, folding and line ends counted, and the longest line a
// delimiter may be; a part whose Content-Type is longer is an error
// (ErrField). (The post's own is measured as a value, by its caller.)
const MaxField = 8 << 10

// Errors a walk ends with.
var (
	ErrDepth = errors.New("MIME structure nested too deep")
	ErrParts = errors.New("MIME structure has too many parts")
	ErrField = fmt.Errorf("MIME part with a Content-Type over %d octets", MaxField)
	ErrType  = errors.New("MIME multipart with a Content-Type that cannot be read")
)

// level is one multipart or message the walk is inside.
type level struct {
	boundary string   // its key in bounds (see enter); "" for a message/rfc822 level
	alias    string   // its other key: the boundary as Python's email reads it, if another
	multi    bool     // a multipart, not a message/rfc822
	closes   bool     // the readers agree on its close delimiter (see delimiter)
	begun    bool     // a delimiter line of its has been seen
	digest   bool     // multipart/digest: a part is message/rfc822 by default
	enc      *encoded // a message in base64 or quoted-printable, walked decoded
	qp       bool     // the twin's: a message in quoted-printable, walked as it is
	blocks   bool     // a message/delivery-status: blocks of fields (see block)
}

// encoded is a message part whose octets are encoded: its lines are
// decoded as they come and fed to a Walker of its own, whose limits are
// what the enclosing walk has left.
type encoded struct {
	sub  *Walker
	base int    // the levels outside the message
	qp   bool   // quoted-printable, not base64
	bits uint32 // base64: the sextets of a quad not yet complete...
	n    int    // ... and how many; quoted-printable: octets of an escape read, "=" and pend, or 3 (below)
	pads int    // base64: how many of them are "="
	pend byte   // quoted-printable: the octet after the "="
	out  []byte // decoded octets not yet fed
}

// Walker follows the structure of one body fed to it with Write.
type Walker struct {
	lim    Limits
	stack  []level
	bounds map[string]int // boundary -> its level in stack
	inHead bool           // reading a part's (or an enclosed message's) header
	line   []byte         // the current line, at most MaxField+4 octets kept
	over   bool           // the current line is longer than what is kept
	blank  bool           // ... and what was not kept is only space, tab, CR
	cr     bool           // the last octet fed was a CR ending a line, unless an LF follows
	field  []byte         // header: the Content-Type field being read
	ct     string         // header: its value, once complete
	lastCT string         // header: the last Content-Type's value (Ambiguous)
	defCT  string         // header: the type of a part without one
	cte    string         // header: Content-Transfer-Encoding
	lastTE string         // header: the last Content-Transfer-Encoding's value
	seenCT bool           // header: a Content-Type field was read...
	seenTE bool           // ... a Content-Transfer-Encoding field
	longTE bool           // ... one too long to read (see headerLine)
	inCT   bool           // header: the field being read is Content-Type
	inCTE  bool           // header: ... Content-Transfer-Encoding
	after  int            // 1 + the level whose delimiter line the last line was; 0 if none
	parts  int
	deep   int // deepest nesting seen
	err    error
	// asIs walks every message part as it is, whatever its encoding, as
	// Python's email does: the twin's way.
	asIs bool
	// top is a Walker that New made, not one of an encoded message's:
	// the one that makes a twin.
	top bool
	// twin walks the body as it is (asIs) from the first encoded
	// message part on, when the top Walker meets one: a copy of the
	// top one then, fed all that follows. What it goes past counts
	// (see Err).
	twin *Walker
	// Where the leaves are (OnLeaf): the offset of the current line,
	// the octets of it fed so far, its last two, and how many octets
	// ended the line before; the leaf open, if one is.
	pos, lineLen int64
	tail         [2]byte
	prevEOL      int64
	leaf         *Leaf
	onLeaf       func(Leaf)
	// Where the header being read started, and the line being dealt
	// with (OnHeader); whether it is a header OnHeader gives.
	headAt, lineAt int64
	headIn         bool
	onHeader       func(Leaf)
}

// A Leaf is a part that holds no other: no multipart or message, a
// text or an attachment, at any level; or a message part in base64 or
// quoted-printable, which the walk follows decoded, and which is
// encoded octets in the body. Its body is the octets from Start up to
// End in what the Walker was fed; the line end before the delimiter
// line that ends it is not its own but the delimiter's (RFC 2046
// §5.1.1).
type Leaf struct {
	Type      string // its Content-Type value ("" if it has none, and no default)
	Encoding  string // its Content-Transfer-Encoding value, in lower case
	Start     int64
	End       int64
	InMessage bool // it is in a message part, not only in multiparts
}

// OnLeaf has f called with each leaf of the body as its end is found,
// in their order. Only the parts whose octets are the body's count: not
// those in a message part in base64 or quoted-printable, which is
// walked decoded (it is a leaf itself), nor the blocks of a
// message/delivery-status. A leaf the walk is in when it fails is not
// given.
func (w *Walker) OnLeaf(f func(Leaf)) { w.onLeaf = f }

// OnHeader has f called, once a Walker has OnLeaf's too, with the
// header block of each part in a message part, as its end is found: a
// forwarded message's own header, and its parts', as the body has them
// (not those of a message part in base64 or quoted-printable, which is a
// leaf). Its Start is where the block's first line starts, and its End
// where the empty line that ends it starts, or, for a header a
// delimiter line ends, the line end before it (the delimiter's), or the
// end of the body. Only Start, End and InMessage, true, are set.
func (w *Walker) OnHeader(f func(Leaf)) { w.onHeader = f }

// closeLeaf ends the leaf open, if one is, at end.
func (w *Walker) closeLeaf(end int64) {
	if l := w.leaf; l != nil {
		w.leaf = nil
		l.End = max(end, l.Start)
		if w.err == nil {
			w.onLeaf(*l)
		}
	}
}

// New returns a Walker for a body whose header's Content-Type value is
// contentType ("" if it has none), within lim. A multipart's value over
// MaxField is an error (ErrField) at once, as a part's is: the Walker is
// Done, with its Err.
func New(contentType string, lim Limits) *Walker {
	return NewPart(contentType, "", lim)
}

// NewPart is New for a body whose header gives a
// Content-Transfer-Encoding as well: a message/rfc822 body in base64 or
// quoted-printable is walked decoded.
func NewPart(contentType, encoding string, lim Limits) *Walker {
	w := &Walker{lim: lim, bounds: map[string]int{}, top: true}
	w.enter(contentType, strings.ToLower(strings.TrimSpace(encoding)))
	return w
}

// Check walks all of body within Default, its last line too (End), and
// returns the first limit it goes past, or nil.
func Check(contentType string, body []byte) error {
	w := New(contentType, Default)
	w.Write(body)
	w.End()
	return w.Err()
}

// Err is the limit the body went past, or nil so far: as mail readers
// that decode an encoded message part read it, or as Python's email,
// which reads it as it is, counts its levels and parts. (A multipart's
// Content-Type that cannot be read in the lines as they are of a message
// in quoted-printable is no fault: the encoding writes fields that read
// so, "boundary=3D..." or "bound=" at the end of a line, which the
// decoded walk reads. The twin takes such a part for a single part, and
// walks on.)
func (w *Walker) Err() error {
	if t := w.twin; w.err == nil && t != nil {
		return t.err
	}
	return w.err
}

// Parts is the number of parts seen so far, at every level, as the
// reader that counts more reads them.
func (w *Walker) Parts() int {
	n := w.parts
	if e := w.encTop(); e != nil {
		n += e.sub.Parts()
	}
	if w.twin != nil {
		n = max(n, w.twin.Parts())
	}
	return n
}

// Depth is the deepest nesting seen so far: 0 for a body that is no
// multipart, 1 for a multipart of simple parts.
func (w *Walker) Depth() int {
	if w.twin != nil {
		return max(w.deep, w.twin.deep)
	}
	return w.deep
}

// Done reports whether feeding more would change nothing: the walk has
// failed, the body is no multipart or message at all, or its outermost
// multipart is closed (an epilogue holds no structure).
func (w *Walker) Done() bool {
	return w.Err() != nil || w.done() && (w.twin == nil || w.twin.done())
}

// done is Done for this Walker, its twin aside.
func (w *Walker) done() bool { return w.err != nil || len(w.stack) == 0 }

// Write feeds body octets, in any pieces. It never fails: a body past the
// limits is reported by Err, and once Done, Write ignores what follows.
//
// A line ends in LF, CRLF or a bare CR: SMTP has only CRLF, and the
// sending (lib/wire) makes a line end of each, so a reader sees a bare
// CR end a line as well.
func (w *Walker) Write(p []byte) (int, error) {
	n := len(p)
	twinned := w.twin != nil
	if twinned {
		w.twin.Write(p)
	}
	for len(p) > 0 && !w.done() {
		if w.cr {
			// The last piece ended in CR: with this LF, a CRLF;
			// without, a bare CR that ended the line.
			w.cr = false
			if p[0] == '\n' {
				w.keep(p[:1])
				p = p[1:]
			}
			w.endLine()
			if !twinned && w.twin != nil {
				twinned = true
				w.twin.Write(p) // what follows the line that made it
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		end := i
		if j := bytes.IndexByte(seg, '\r'); j >= 0 && (j < len(seg)-1 || i < 0) {
			end = j // a bare CR, or a CR that ends the piece
		}
		if end < 0 {
			w.keep(p)
			break
		}
		w.keep(p[:end+1])
		p = p[end+1:]
		if i < 0 && end == len(seg)-1 && len(p) == 0 && seg[end] == '\r' {
			w.cr = true // the CR ends the piece: an LF may follow
			break
		}
		w.endLine()
		if !twinned && w.twin != nil {
			twinned = true
			w.twin.Write(p) // what follows the line that made it
		}
	}
	return n, nil
}

// keep adds octets of the current line to what is kept of it. In an
// encoded message, a line longer than what is kept is fed as it comes:
// the kept part once it is full, then the rest.
func (w *Walker) keep(b []byte) {
	if w.onLeaf != nil && len(b) > 0 {
		w.lineLen += int64(len(b))
		if len(b) >= 2 {
			w.tail = [2]byte{b[len(b)-2], b[len(b)-1]}
		} else {
			w.tail = [2]byte{w.tail[1], b[0]}
		}
	}
	room := MaxField + 4 - len(w.line)
	if len(b) <= room {
		w.line = append(w.line, b...)
		return
	}
	w.line = append(w.line, b[:room]...)
	e := w.encTop()
	if !w.over {
		w.over, w.blank = true, true
		if e != nil {
			w.feed(e, w.line)
		}
	}
	if e != nil {
		w.feed(e, b[room:])
	}
	if w.blank && len(bytes.Trim(b[room:], " \t\r\n")) > 0 {
		w.blank = false
	}
}

// endLine deals with a complete line and forgets it.
func (w *Walker) endLine() {
	line := w.line
	start := w.pos
	w.lineAt = start
	if w.onLeaf != nil {
		w.pos += w.lineLen
		w.lineLen = 0
		defer func(eol int64) { w.prevEOL = eol }(eolLen(w.tail))
		w.tail = [2]byte{}
	}
	// A delimiter ends a part's header too, as Go's multipart reader
	// finds delimiters before it reads a header.
	after := w.after
	w.after = 0
	// The header being read, as delimiter, which begins the next
	// part's, leaves it.
	head, headAt := w.inHead && w.headIn, w.headAt
	isDelim := (!w.over || w.blank) && w.delimiter(line, after)
	switch {
	case isDelim:
		switch {
		case head && after != 0 && headAt == start:
			// The header a delimiter line began, empty, and this
			// one right after it: Python's email passes over this
			// line, and the part's header, if it is still read,
			// starts after it (review r34: a close delimiter here
			// left the header given empty, and its fields not at all).
			if w.inHead && w.headAt == headAt {
				w.headAt = w.pos
			}
		case head:
			w.header(headAt, start-w.prevEOL)
			if w.headAt == headAt {
				w.headIn = false // no next part's begun: it is given
			}
		}
		w.closeLeaf(start - w.prevEOL)
	case w.inHead:
		w.headerLine(line, w.over)
	case !w.over:
		if e := w.encTop(); e != nil {
			w.feed(e, line)
		} else if w.inBlocks() && len(bytes.TrimRight(line, "\r\n")) == 0 {
			w.block() // after a block's multipart or message
		}
	}
	w.line, w.over, w.blank = w.line[:0], false, false
}

// block starts a block of fields of a message/delivery-status, which
// Python's email reads as a message of its own, of the type the block
// gives: a part. A block ends at a blank line, or, if it is a multipart
// or message, at the first blank line after it.
func (w *Walker) block() {
	w.parts++
	if w.parts > w.lim.Parts {
		w.err = fmt.Errorf("%w (over %d)", ErrParts, w.lim.Parts)
		return
	}
	w.startHeader()
}

// inBlocks reports whether the walk is in the blocks of a
// message/delivery-status, and not in a part or message of one.
func (w *Walker) inBlocks() bool {
	n := len(w.stack)
	return n > 0 && w.stack[n-1].blocks
}

// encTop is the encoded message the walk is in, if it is in one: its
// lines are no business of this Walker's but for the delimiters of the
// multiparts around it.
func (w *Walker) encTop() *encoded {
	if n := len(w.stack); n > 0 && w.err == nil {
		return w.stack[n-1].enc
	}
	return nil
}

// feed decodes octets of an encoded message and feeds them to its
// Walker; a limit that Walker goes past is the walk's.
func (w *Walker) feed(e *encoded, b []byte) {
	if e.qp {
		e.quotedPrintable(b)
	} else {
		e.base64(b)
	}
	w.flush(e, false)
}

// flush feeds what e has decoded to its Walker, and, at the message's
// end, ends it.
func (w *Walker) flush(e *encoded, end bool) {
	e.sub.Write(e.out)
	e.out = e.out[:0]
	if end {
		e.sub.end()
	}
	w.deep = max(w.deep, e.base+e.sub.Depth())
	switch err := e.sub.Err(); {
	case err == nil:
	case errors.Is(err, ErrDepth):
		w.err = fmt.Errorf("%w (over %d levels)", ErrDepth, w.lim.Depth)
	case errors.Is(err, ErrParts):
		w.err = fmt.Errorf("%w (over %d)", ErrParts, w.lim.Parts)
	default:
		w.err = err
	}
}

// b64 is the value of each base64 character (RFC 2045 §6.8), 64 for the
// padding "=", and 0xff for the other octets, which are skipped, as mail
// readers skip them.
var b64 = func() (t [256]byte) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = byte(i)
	}
	return t
}()

// base64 decodes b onto out, a quad at a time, as Thunderbird does: an
// "=" is a sextet of its quad, of no value, and the quad gives one octet
// fewer for each (one at least), so that padding in the middle ends a
// quad and what follows is decoded on its own, as where each line was
// encoded by itself. Octets outside the alphabet are skipped.
func (e *encoded) base64(b []byte) {
	for _, c := range b {
		v := b64[c]
		switch v {
		case 0xff:
			continue
		case 64:
			v = 0
			e.pads++
		}
		e.bits, e.n = e.bits<<6|uint32(v), e.n+1
		if e.n == 4 {
			quad := [3]byte{byte(e.bits >> 16), byte(e.bits >> 8), byte(e.bits)}
			e.out = append(e.out, quad[:max(1, 3-e.pads)]...)
			e.bits, e.n, e.pads = 0, 0, 0
		}
	}
}

// quotedPrintable decodes b onto out (RFC 2045 §6.7): "=" and two hex
// digits an octet, "=" at the end of a line a soft line break, and any
// other "=" itself, with the two octets after it, as Thunderbird takes
// it: an "=" among them begins no escape, and a line end among them is
// one.
func (e *encoded) quotedPrintable(b []byte) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case e.n == 0 && c == '=':
			e.n = 1
		case e.n == 0:
			e.out = append(e.out, c)
		case e.n == 1 && c == '\n':
			e.n = 0 // a soft line break
		case e.n == 1 && (c == '\r' || unhex(c) >= 0):
			e.pend, e.n = c, 2
		case e.n == 1:
			// No escape: "=", c and the octet after it are themselves.
			e.out = append(e.out, '=', c)
			e.n = 3
		case e.n == 2 && e.pend == '\r':
			e.n = 0 // a soft line break, CRLF or a bare CR
			if c != '\n' {
				i--
			}
		case e.n == 2 && unhex(c) >= 0:
			e.out = append(e.out, byte(unhex(e.pend)<<4|unhex(c)))
			e.n = 0
		case e.n == 2:
			// No escape after all: "=", the digit and c are themselves.
			e.out = append(e.out, '=', e.pend, c)
			e.n = 0
		default: // n 3: the second octet after an "=" that is no escape
			e.out = append(e.out, c)
			e.n = 0
		}
	}
}

// finish decodes what is left at the end: the octets of a last quad
// with no padding.
func (e *encoded) finish() {
	switch {
	case e.qp:
	case e.n == 2: // 12 bits: an octet
		e.out = append(e.out, byte(e.bits>>4))
	case e.n == 3: // 18 bits: two
		e.out = append(e.out, byte(e.bits>>10), byte(e.bits>>2))
	}
	e.bits, e.n, e.pads = 0, 0, 0
}

// NewDecoder returns a reader of r decoded from the
// Content-Transfer-Encoding encoding (in lower case), as mail readers
// decode a part and as the walk decodes a message part: base64 skipping
// octets outside its alphabet, quoted-printable keeping an "=" that
// begins no escape. Any other encoding is read as it is. Its only
// errors are r's.
func NewDecoder(r io.Reader, encoding string) io.Reader {
	if encoding != "base64" && encoding != "quoted-printable" {
		return r
	}
	return &decoder{r: r, e: encoded{qp: encoding == "quoted-printable"}, buf: make([]byte, 32<<10)}
}

type decoder struct {
	r   io.Reader
	e   encoded
	buf []byte
	off int // of e.out, read
	err error
}

func (d *decoder) Read(p []byte) (int, error) {
	for d.off == len(d.e.out) {
		if d.err != nil {
			return 0, d.err
		}
		d.e.out, d.off = d.e.out[:0], 0
		n, err := d.r.Read(d.buf)
		if d.e.qp {
			d.e.quotedPrintable(d.buf[:n])
		} else {
			d.e.base64(d.buf[:n])
		}
		if err != nil {
			if err == io.EOF {
				d.e.finish()
			}
			d.err = err
		}
	}
	n := copy(p, d.e.out[d.off:])
	d.off += n
	return n, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// delimiter deals with a delimiter line of an enclosing multipart and
// reports whether line is one. after is 1 + the level whose delimiter
// line the line before was, or 0.
func (w *Walker) delimiter(line []byte, after int) bool {
	// "--" alone, the body's last line with no line end, is one: an
	// empty boundary's.
	if len(line) < 2 || line[0] != '-' || line[1] != '-' || len(w.bounds) == 0 {
		return false
	}
	b := string(bytes.TrimRight(line[2:], " \t\r\n"))
	closing := false
	i, ok := w.bounds[b]
	if !ok {
		// A close delimiter is "--", the boundary and "--", nothing
		// between (RFC 2046 §5.1.1): "--x --" is a body line to
		// Python's email, which reads on. A boundary the readers read
		// two ways (with its space or without, with its comment or
		// without) has a close delimiter of each, and neither closes
		// it: the other reader reads on, and so does the walk.
		//
		// Before the first delimiter line, Go's mime/multipart (and
		// go-message's) reads a close delimiter that ends in LF as a
		// line of the preamble, and reads on: so does the walk.
		if b, closing = strings.CutSuffix(b, "--"); closing {
			i, ok = w.bounds[b]
			ok = ok && w.stack[i].closes && w.stack[i].begun
		}
	}
	if !ok {
		return false
	}
	if closing && after == i+1 {
		// Python's email passes over the delimiter lines, close ones
		// too, that follow a delimiter line, and reads on.
		w.after = after
		return true
	}
	// RFC 2046 §5.1.2: an outer delimiter ends whatever is open inside.
	w.pop(i + 1)
	if closing {
		w.pop(i)
		return true
	}
	w.after = i + 1
	w.stack[i].begun = true
	w.parts++
	if w.parts > w.lim.Parts {
		w.err = fmt.Errorf("%w (over %d)", ErrParts, w.lim.Parts)
		return true
	}
	w.startHeader()
	if w.stack[i].digest {
		w.defCT = "message/rfc822" // RFC 2046 §5.1.5
	}
	return true
}

// pop leaves every level from n on.
func (w *Walker) pop(n int) {
	for len(w.stack) > n {
		top := w.stack[len(w.stack)-1]
		if top.multi {
			delete(w.bounds, top.boundary)
			delete(w.bounds, top.alias)
		}
		if e := top.enc; e != nil && w.err == nil {
			// The octets of the message's last quad, then its end:
			// what it counted is the walk's.
			e.finish()
			w.flush(e, true)
			w.parts += e.sub.Parts()
		}
		w.stack = w.stack[:len(w.stack)-1]
	}
	w.inHead = false
}

// End ends the body: its last line, which may have no line end and is a
// line to mail readers all the same (a delimiter, it may be the part
// past the limit), is walked, by the twin too. Write must not follow.
func (w *Walker) End() {
	w.end()
	if w.twin != nil {
		w.twin.end()
	}
}

// end ends the body of an encoded message: its last line, which may have
// no line end and is a line to mail readers all the same, and every level
// it is in, those of the encoded messages in it with their last lines.
func (w *Walker) end() {
	if !w.done() && (len(w.line) > 0 || w.cr) {
		w.cr = false
		w.endLine()
	}
	if w.inHead && w.headIn {
		w.giveHeader(w.pos) // the body ends in it
	}
	w.closeLeaf(w.pos)
	w.pop(0)
}

// giveHeader gives OnHeader the header being read, in a message part,
// which ends at end.
func (w *Walker) giveHeader(end int64) {
	w.header(w.headAt, end)
	w.headIn = false
}

// header gives OnHeader the header of a part in a message part from
// start to end.
func (w *Walker) header(start, end int64) {
	if w.onHeader != nil && w.onLeaf != nil && w.err == nil {
		w.onHeader(Leaf{Start: start, End: max(end, start), InMessage: true})
	}
}

// eolLen is how many octets end a line whose last two are t: LF or a
// bare CR one, CRLF two; none end the body's last line, if it has no
// line end.
func eolLen(t [2]byte) int64 {
	switch {
	case t == [2]byte{'\r', '\n'}:
		return 2
	case t[1] == '\n' || t[1] == '\r':
		return 1
	}
	return 0
}

func (w *Walker) startHeader() {
	w.inHead, w.inCT, w.inCTE = true, false, false
	w.headAt = w.pos
	w.headIn = slices.ContainsFunc(w.stack, func(l level) bool { return !l.multi && !l.blocks })
	w.field, w.ct, w.cte, w.defCT = w.field[:0], "", "", ""
	w.lastCT, w.lastTE, w.seenCT, w.seenTE, w.longTE = "", "", false, false, false
}

// headerLine reads one line of a part's header; the empty line ends it.
// A line that is no field, after a multipart's or message's type, is
// ErrType: Python's email ends the header there, the walk reads on.
func (w *Walker) headerLine(line []byte, long bool) {
	s := bytes.TrimRight(line, "\r\n")
	if len(s) == 0 {
		if !long {
			w.endField()
			w.inHead = false
			if Ambiguous(w.ct, w.lastCT, w.cte, w.lastTE) && !w.inQP() {
				w.err = ErrType // (in the twin's quoted-printable lines no fault: see enter)
				return
			}
			ct := w.ct
			if ct == "" {
				ct = w.defCT
			}
			if w.longTE && !Flat(ct) && !w.inQP() {
				// A Content-Transfer-Encoding too long to read may be
				// "base64" with padding or empty folded lines, which
				// readers drop and then decode the message: its
				// encoding cannot be read.
				w.err = ErrType
				return
			}
			if w.inBlocks() && Flat(ct) {
				w.block() // the block ends at its blank line
				return
			}
			if w.headIn {
				w.giveHeader(w.lineAt)
			}
			n := len(w.stack)
			w.enter(ct, w.cte)
			// A leaf: a part that entered no level, or a message
			// part in base64 or quoted-printable, whose octets are
			// this walk's as they are.
			if w.onLeaf != nil && w.err == nil && (len(w.stack) == n || len(w.stack) == n+1 && w.stack[n].enc != nil) {
				w.leaf = &Leaf{Type: ct, Encoding: w.cte, Start: w.pos,
					InMessage: slices.ContainsFunc(w.stack[:n], func(l level) bool { return !l.multi })}
			}
		}
		return
	}
	if s[0] == ' ' || s[0] == '\t' {
		w.addField(line, long)
		return
	}
	w.endField()
	name, _, ok := bytes.Cut(s, []byte(":"))
	if (!ok || !isName(name)) && !bytes.HasPrefix(s, []byte("From ")) {
		// No field to Python's email (a From_ line it passes over):
		// its header ends here, without a blank line, and the body
		// starts with this line; other readers, and the walk, pass
		// over it, or take "Name :" for a field. A multipart's or
		// message's body to one is a header to the other.
		ct := w.ct
		if ct == "" {
			ct = w.defCT
		}
		if !Flat(ct) && !w.inQP() {
			w.err = ErrType // (in the twin's quoted-printable lines no fault: see enter)
			return
		}
	}
	if !ok && !long {
		return
	}
	if !ok {
		// A name, and more white space before its colon than is kept
		// of the line: go-message drops it from the name and reads
		// the field, a field too long to read (see addField).
		name = s
	}
	name = bytes.TrimRight(name, " \t")
	w.inCT = ascii.EqualFold(string(name), "Content-Type")
	w.inCTE = ascii.EqualFold(string(name), "Content-Transfer-Encoding")
	w.addField(line, long)
}

// isName reports a field name as Python's email reads one: printable
// ASCII, no space (RFC 5322 ftext).
func isName(name []byte) bool {
	for _, c := range name {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// addField adds a line to the field being read, if it is one that
// matters.
func (w *Walker) addField(line []byte, long bool) {
	if !w.inCT && !w.inCTE {
		return
	}
	if long || len(w.field)+len(line) > MaxField {
		if w.inCT {
			w.err = ErrField
		}
		w.longTE = w.longTE || w.inCTE
		w.inCT, w.inCTE, w.field = false, false, w.field[:0]
		return
	}
	w.field = append(w.field, line...)
}

// endField completes the field being read.
func (w *Walker) endField() {
	if w.inCT || w.inCTE {
		_, v, _ := bytes.Cut(w.field, []byte(":"))
		val := unfold(v)
		// The first of each is the walk's; the last is kept for
		// Ambiguous.
		if w.inCT {
			if !w.seenCT {
				w.ct = val
			}
			w.lastCT, w.seenCT = val, true
		} else {
			if !w.seenTE {
				w.cte = strings.ToLower(val)
			}
			w.lastTE, w.seenTE = strings.ToLower(val), true
		}
	}
	w.inCT, w.inCTE, w.field = false, false, w.field[:0]
}

// unfold returns a field's value as go-message gives it: each line
// trimmed of space and tab, the lines joined by one space. White space
// inside a line is kept: it may be a quoted boundary's ("a  b").
func unfold(v []byte) string {
	var b strings.Builder
	for _, l := range bytes.FieldsFunc(v, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = bytes.Trim(l, " \t"); len(l) > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.Write(l)
		}
	}
	return b.String()
}

// enter starts the body of an entity with this Content-Type and
// Content-Transfer-Encoding.
func (w *Walker) enter(contentType, cte string) {
	if w.err != nil {
		return
	}
	mt, params, err := ParseType(contentType)
	if err != nil && !Flat(contentType) && !w.inQP() {
		// A multipart (or message) all the same to readers that read
		// past what is wrong in it, a parameter given twice above all
		// ("boundary=a; boundary=b", where Python's email takes the
		// first): its parts cannot be counted here, and may be past
		// any limit. (In the twin's lines of a message in
		// quoted-printable it is no fault: see Err.)
		w.err = ErrType
		return
	}
	if err != nil {
		return // a simple part, as go-message reads it
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if len(contentType) > MaxField {
			// The body's own (a part's is never so long): its
			// delimiter lines would be too long to be seen, and mail
			// readers see them.
			w.err = ErrField
			return
		}
		// The boundary as Go's mime reads it, and as Python's email
		// does (pyBoundary), which may differ, or be the only one.
		b, ok := params["boundary"]
		a, pyOK := pyBoundary(contentType)
		switch {
		case !ok && !pyOK:
			return
		case !ok:
			b = a
		case !pyOK:
			a = b
		}
		// A boundary that ends in space, which RFC 2046 forbids, is
		// one to the readers: with its space (Go's), or without
		// (Python's). Its key is without, as a delimiter line is
		// looked up without its padding: a line with the space or
		// without is a delimiter, as one reader or the other reads it.
		// An empty one (boundary="") is one too: "--" alone delimits.
		given := b
		b = strings.TrimRight(b, " \t")
		if _, dup := w.bounds[b]; dup {
			return
		}
		if !w.push(level{boundary: b, multi: true, closes: b == given, digest: mt == "multipart/digest"}) {
			return
		}
		w.bounds[b] = len(w.stack) - 1
		// Python's email reads the value as it is written, with a
		// comment after it, or quotes around a part of it: its
		// delimiters are this multipart's too.
		if a = strings.TrimRight(a, " \t"); a != b {
			w.stack[len(w.stack)-1].closes = false
			if _, dup := w.bounds[a]; !dup {
				w.bounds[a] = len(w.stack) - 1
				w.stack[len(w.stack)-1].alias = a
			}
		}
	case mt == "message/delivery-status":
		if w.push(level{blocks: true}) {
			w.block()
		}
	case isMessage(mt):
		if w.asIs || cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary" {
			if w.push(level{qp: w.asIs && cte == "quoted-printable"}) {
				w.startHeader()
			}
			return
		}
		// Python's email reads it as it is, whatever the encoding:
		// the twin does, from the first such part on.
		if w.top && w.twin == nil {
			w.makeTwin(contentType, cte)
		}
		if cte == "base64" || cte == "quoted-printable" {
			base := len(w.stack)
			e := &encoded{base: base, qp: cte == "quoted-printable"}
			if w.push(level{enc: e}) {
				e.sub = &Walker{lim: Limits{Depth: w.lim.Depth - base, Parts: w.lim.Parts - w.parts}, bounds: map[string]int{}}
				e.sub.enter("message/rfc822", "")
			}
		}
		// Any other encoding is none a reader decodes: the message
		// is opaque to them, and to the walk (but for the twin's).
	}
}

// makeTwin makes w's twin as w enters its first encoded message part:
// a copy of w as it stands, every level of it walked as it is so far,
// that enters the part as it is.
func (w *Walker) makeTwin(contentType, cte string) {
	t := &Walker{lim: w.lim, stack: slices.Clone(w.stack), bounds: maps.Clone(w.bounds),
		parts: w.parts, deep: w.deep, defCT: w.defCT, asIs: true}
	t.enter(contentType, cte)
	w.twin = t
}

// ParseType is mime.ParseMediaType, which takes no comments, on a value
// that may hold RFC 2045's: "multipart/mixed; boundary=x (a comment)" is
// a multipart to the mail readers, and must be one to the walk, whose
// limits would otherwise not count its parts.
//
// So is a parameter's value that holds a tspecial ("=", "?", "/", ...)
// outside the quotes it should be in, as in "boundary=----=_Part_1": the
// mail readers take it up to the ";" that ends it.
//
// A boundary given both as boundary= and in RFC 2231's form is an error,
// as one given twice in one form is: readers take one or the other. So
// is one in RFC 2231's form but for one boundary*= in us-ascii or utf-8
// that mime.ParseMediaType decodes: it drops one in any other charset,
// or none, or with a bad %-escape, and reads continuations otherwise
// than Python's email, which reads a boundary in each.
func ParseType(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && strings.Contains(v, "(") {
		v = msg.Uncomment(v)
		mt, params, err = mime.ParseMediaType(v)
	}
	if err != nil {
		if q, ok := quoteValues(v); ok {
			if mt2, params2, err2 := mime.ParseMediaType(q); err2 == nil {
				mt, params, err = mt2, params2, nil
			}
		}
	}
	if err == nil {
		switch plain, ext, odd := boundaryForms(v); {
		case plain && ext > 0:
			return "", nil, errBoundaryTwice
		case ext > 0 && (odd || ext > 1 || params["boundary"] == ""):
			return "", nil, errBoundary2231
		}
	}
	return mt, params, err
}

var (
	errBoundaryTwice = errors.New("mime: boundary given as boundary= and in RFC 2231's form")
	errBoundary2231  = errors.New("mime: boundary in an RFC 2231 form that readers read differently")
)

// boundaryForms reports how v gives a boundary: as boundary= (plain),
// and in how many parameters of RFC 2231's form (boundary*=,
// boundary*0=, boundary*1*=, ...), odd if one is not boundary*= or its
// charset is neither us-ascii nor utf-8. mime.ParseMediaType takes the
// RFC 2231 form over the other, Python's email the first given, as it
// does of "boundary=a; boundary=b", which ParseMediaType refuses.
func boundaryForms(v string) (plain bool, ext int, odd bool) {
	if !strings.Contains(v, "*") {
		return false, 0, false // most values: no RFC 2231 form
	}
	for _, seg := range splitParams(v)[1:] {
		name, val, _ := strings.Cut(seg, "=")
		name = ascii.Lower(strings.TrimSpace(name))
		plain = plain || name == "boundary"
		if strings.HasPrefix(name, "boundary*") {
			ext++
			cs, _, _ := strings.Cut(strings.Trim(strings.TrimSpace(val), `"`), "'")
			cs = ascii.Lower(cs)
			odd = odd || name != "boundary*" || cs != "us-ascii" && cs != "utf-8"
		}
	}
	return plain, ext, odd
}

// pyBoundary returns the boundary of a Content-Type value as Python's
// email reads it (Message.get_boundary), and whether it has one: the
// first parameter named boundary (pyParams), its value as it is written
// up to the ";" after it, comments and all, unquoted as
// email.utils.unquote does, once, then once more on the way out, then
// again (quotes or angle brackets around all of it go each time), its
// trailing white space dropped. Failing that, one in RFC 2231's form
// (boundary*=, the one ParseType lets by): what follows its charset and
// language, %-escapes undone, comments and all.
func pyBoundary(v string) (string, bool) {
	ext, isExt := "", false
	for _, seg := range pyParams(v)[1:] {
		name, val, _ := strings.Cut(seg, "=")
		switch ascii.Lower(strings.Trim(name, pySpace)) {
		case "boundary":
			val = pyUnquote(strings.Trim(val, pySpace))
			val = pyUnquote(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(val) + `"`)
			return strings.TrimRight(pyUnquote(val), pySpace), true
		case "boundary*":
			if !isExt {
				ext, isExt = pyUnquote(strings.Trim(val, pySpace)), true
			}
		}
	}
	if !isExt {
		return "", false
	}
	if u, err := url.PathUnescape(ext); err == nil {
		ext = u
	}
	if parts := strings.SplitN(ext, "'", 3); len(parts) == 3 {
		ext = parts[2]
	}
	return strings.TrimRight(ext, pySpace), true
}

// pySpace is the white space of Python's str.strip, in ASCII.
const pySpace = " \t\n\r\v\f\x1c\x1d\x1e\x1f"

// pyParams splits v at each ";" as Python's email does (_parseparam): at
// one before which the '"' are even in number, less those after a
// backslash, so that in boundary="x\\"; ... the quote is still open.
func pyParams(v string) []string {
	var segs []string
	quotes := 0 // '"' less `\"` in v[start:i]
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			if i > start && v[i-1] == '\\' {
				continue
			}
			quotes++
		case ';':
			if quotes%2 == 0 {
				segs, start, quotes = append(segs, v[start:i]), i+1, 0
			}
		}
	}
	return append(segs, v[start:])
}

// pyUnquote is email.utils.unquote: s without the quotes around all of
// it, its backslashes and quotes after a backslash unescaped, or without
// the angle brackets around all of it.
func pyUnquote(s string) string {
	switch {
	case len(s) > 1 && s[0] == '"' && s[len(s)-1] == '"':
		return strings.ReplaceAll(strings.ReplaceAll(s[1:len(s)-1], `\\`, `\`), `\"`, `"`)
	case len(s) > 1 && s[0] == '<' && s[len(s)-1] == '>':
		return s[1 : len(s)-1]
	}
	return s
}

// quoteValues returns v with each parameter value that is not quoted in
// quotes, and whether it quoted any.
func quoteValues(v string) (string, bool) {
	var b strings.Builder
	quoted := false
	for i, seg := range splitParams(v) {
		if i > 0 {
			b.WriteByte(';')
		}
		name, val, ok := strings.Cut(seg, "=")
		val = strings.TrimSpace(val)
		if i == 0 || !ok || val == "" || val[0] == '"' {
			b.WriteString(seg)
			continue
		}
		b.WriteString(name + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(val) + `"`)
		quoted = true
	}
	return b.String(), quoted
}

// splitParams splits v at each ";" outside quotes.
func splitParams(v string) []string {
	var segs []string
	for {
		i := msg.IndexUnquoted(v, ";")
		if i < 0 {
			return append(segs, v)
		}
		segs, v = append(segs, v[:i]), v[i+1:]
	}
}

// inQP reports whether the walk is in a message in quoted-printable
// that it walks as it is.
func (w *Walker) inQP() bool {
	return slices.ContainsFunc(w.stack, func(l level) bool { return l.qp })
}

// push enters one more level, unless that is one too many.
func (w *Walker) push(l level) bool {
	if len(w.stack) >= w.lim.Depth {
		w.err = fmt.Errorf("%w (over %d levels)", ErrDepth, w.lim.Depth)
		return false
	}
	w.stack = append(w.stack, l)
	w.deep = max(w.deep, len(w.stack))
	return true
}

// Ambiguous reports whether a header whose first Content-Type and
// Content-Transfer-Encoding fields have the values ct and cte, and whose
// last have lastCT and lastCTE, reads one way to mail readers that take a
// field's first occurrence (Python's email, go-message) and another to
// those that take its last (mutt): the types differ, or the encodings
// do, and a multipart or message is among the types. The walk reads the
// first; a structure behind the last would go uncounted. Values compare
// with runs of white space as one space, an encoding in any case.
func Ambiguous(ct, lastCT, cte, lastCTE string) bool {
	if ct == lastCT && cte == lastCTE {
		return false // one field each, or none: the common case
	}
	if Flat(ct) && Flat(lastCT) {
		return false
	}
	norm := func(v string) string { return strings.Join(strings.Fields(v), " ") }
	return norm(ct) != norm(lastCT) || ascii.Lower(norm(cte)) != ascii.Lower(norm(lastCTE))
}

// Flat reports that a body with this Content-Type value has no structure
// to follow, so a Walker for it would be Done at once, without parsing
// the field: most mail is a single text part. It looks only at the media
// type, as mime.ParseMediaType takes it (comments aside), and says false
// when unsure.
func Flat(contentType string) bool {
	if strings.Contains(contentType, "(") {
		contentType = msg.Uncomment(contentType)
	}
	base, _, _ := strings.Cut(contentType, ";")
	mt := strings.TrimSpace(strings.ToLower(base))
	return !strings.HasPrefix(mt, "multipart/") && !strings.HasPrefix(mt, "message/")
}

// isMessage reports a media type (in lower case) whose body is a
// message to mail readers: message/rfc822 and message/global, and, to
// Python's email, every other message type but delivery-status, whose
// blocks it reads otherwise (see block; Thunderbird takes message/news
// for a message too).
func isMessage(mt string) bool {
	return strings.HasPrefix(mt, "message/") && mt != "message/delivery-status"
}
