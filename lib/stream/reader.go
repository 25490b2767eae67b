package stream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"unsafe"

	"mlm/lib/addr"
)

// Reader states.
const (
	rIdle    = iota // between records
	rMessage        // after S: message lines may follow
	rRcpts          // message ended: R or E next
)

// Reader reads an MLM1 stream and checks it as it goes. Its methods are
// Next, to start each record, then Message and Recipient. Any of them may
// be skipped: what the caller does not read is read, checked and
// discarded. Every error is sticky; a violation of the format is a
// *SyntaxError classified EX_DATAERR, a read error is unclassified.
//
// The Reader keeps its own buffer of input. Message lines are checked a
// buffer at a time (find each LF, look at the octet after it), and a
// message copied to a Writer goes out as the very lines it came in as,
// so passing a record on costs little more than reading it.
type Reader struct {
	rd         io.Reader
	buf        []byte // input; unread octets are buf[r:w]
	r, w       int
	rerr       error // what rd returned with its last octets: io.EOF or an error
	nread      int64 // octets rd has given
	line       int64 // number of the last line read
	state      int
	pending    []byte // R or E line that ended the message, not yet used
	cur        []byte // message octets of the current line not yet returned
	last       []byte // the message line nextPiece read last, as it came
	scratch    []byte // decoded message lines on their way to a writer
	arena      []byte // envelope lines, see keep
	lastS      string // the last sender line, and its path
	lastSender Path
	lastA      []lastAttr // the last attribute lines read in each place
	same       envBlock   // the envelope lines after MLM1 of a record before, see Next
	nr         int64      // R lines so far in this record
	skip       bool       // Next reads the record's rest: a plain recipient's Path is not made
	noCopy     bool       // EachRecipientNoCopy: a plain recipient's Path is over buf, not kept
	semi       int        // payload length of the previous message line if it was ";", else -1
	err        error
	blocks     []headerBlock // Next's, see headerBlock
	reused     *Header       // Next's every time, after ReuseHeader
	reusedA    []Attr        // and the room for its attributes, grown as records need
	moves      int64         // times fill moved octets in buf
	filled     bool          // the last read filled buf
	isFile     int8          // rd is a regular file: 1, or not: -1; 0 until asked
	env        readEnv       // the envelope lines of the last record Next read
}

// bufSize is the Reader's buffer to begin with: several of the longest
// lines, so that a read brings in many message lines at once.
//
// bufMax is what it grows to once a read of a regular file (a queued
// stream) has filled it: the file is then read a MiB at a time. Each read
// call costs time of its own: on a 1 GB stream of 4 KB posts on tmpfs,
// reads of 1 MiB took mlm-check 7-15% less CPU than reads of 256 KiB. A
// pipe gives at most what it holds, 64 KiB by default and 256 KiB between
// mlm-pipeline's stages, so a Reader of a pipe keeps its first buffer,
// full or not: a larger one would only be memory.
const (
	bufSize = 4 * MaxLine
	bufMax  = 16 * MaxLine
)

// NewReader returns a Reader that reads from r. If r is a regular file
// (see regular), the Reader reads it in larger pieces once it has seen
// that the file fills its buffer.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{rd: r, buf: make([]byte, bufSize), semi: -1}
	rd.env.r = rd
	return rd
}

// Reset makes r a Reader of rd, as NewReader would, whatever it had
// read, but keeps its buffer: a program that reads many short streams,
// one a file (mlm-moderate's list of the held posts), takes the buffer
// once, not once each. Headers and their strings from before stay the
// caller's, untouched.
func (r *Reader) Reset(rd io.Reader) {
	*r = Reader{rd: rd, buf: r.buf, semi: -1}
	r.env.r = r
}

// Offset returns the number of input octets the Reader has taken from its
// buffer. Right after Next it is where in the input the record's message
// starts, as CopyEncoded writes it. Elsewhere it may lie past a line the
// Reader holds (the R or E line that ended a message) or inside a line.
func (r *Reader) Offset() int64 { return r.nread - int64(r.w-r.r) }

// Line returns the number of the last line read, counting from 1.
func (r *Reader) Line() int64 { return r.line }

func (r *Reader) fail(format string, a ...any) error {
	if r.err == nil {
		r.err = dataErr(&SyntaxError{Line: r.line, Msg: fmt.Sprintf(format, a...)})
	}
	return r.err
}

// fill moves the unread octets to the front of the buffer, a larger one
// if the last read filled it (see bufMax), and reads more after them. It
// returns false once rd has nothing more to give.
func (r *Reader) fill() bool {
	if r.rerr != nil {
		return false
	}
	switch {
	case r.filled && len(r.buf) < bufMax && r.regular():
		buf := make([]byte, bufMax)
		r.w = copy(buf, r.buf[r.r:r.w])
		r.buf, r.r = buf, 0
		r.moves++
	case r.r > 0:
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
		r.moves++
	}
	for i := 0; i < 100; i++ {
		n, err := r.rd.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			err, n = errors.New("stream: reader returned a bad count"), 0
		}
		r.filled = n > 0 && n == len(r.buf)-r.w
		r.w += n
		r.nread += int64(n)
		if err != nil {
			r.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	r.rerr = io.ErrNoProgress
	return false
}

// regular reports whether rd reads a regular file: it has a Stat method,
// as an *os.File has (or a wrapper of one that passes it on), which says
// so. It asks once.
func (r *Reader) regular() bool {
	if r.isFile == 0 {
		r.isFile = -1
		if f, ok := r.rd.(interface{ Stat() (fs.FileInfo, error) }); ok {
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				r.isFile = 1
			}
		}
	}
	return r.isFile > 0
}

// readLine returns the next line including its LF; the slice is valid
// until the next read. At a clean end of stream it returns io.EOF.
func (r *Reader) readLine() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if i := bytes.IndexByte(r.buf[r.r:r.w], '\n'); i >= 0 {
			b := r.buf[r.r : r.r+i+1]
			r.r += i + 1
			r.line++
			switch {
			case i == 0:
				return nil, r.fail("empty line")
			case i >= MaxLine:
				return nil, r.fail("line longer than %d octets", MaxLine)
			}
			return b, nil
		}
		if r.w-r.r >= MaxLine {
			r.line++
			return nil, r.fail("line longer than %d octets", MaxLine)
		}
		if !r.fill() {
			break
		}
	}
	err := r.rerr
	switch {
	case err == io.EOF && r.r < r.w:
		r.line++
		return nil, r.fail("last line has no LF")
	case err == io.EOF && r.state == rIdle:
		return nil, io.EOF
	case err == io.EOF:
		return nil, r.fail("end of input inside record")
	}
	r.err = err
	return nil, err
}

// envelopeLine checks that an envelope line (without its LF) holds no
// control octet and returns it as a string of the arena (keep).
func (r *Reader) envelopeLine(b []byte) (string, error) {
	if ctlFree(b) {
		return r.keep(b), nil
	}
	for _, c := range b {
		if c == '\r' {
			return "", r.fail("CR in envelope line")
		}
		if c < ' ' || c == 0x7f {
			return "", r.fail("control octet %q in envelope line", c)
		}
	}
	return string(b), nil
}

// keep returns b as a string. Envelope lines are short and many; rather
// than allocate each, keep copies them one after another into an arena,
// arenaSize octets at a time, and hands out strings over it. A part of
// the arena given out is never written again (a full arena is left to
// the strings that use it and a new one made), which is what makes
// those strings immutable.
//
// So a string held keeps at most arenaSize octets of other lines in
// memory, whichever record they came from. A caller that holds many
// strings of a long input, each for long and few of them together (a
// record's recipients gathered by domain, say), clones them.
func (r *Reader) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaSize/2 {
		// A long one (an attribute) is a string of its own, and the
		// arena in use stays in use.
		return string(b)
	}
	if len(b) > cap(r.arena)-len(r.arena) {
		r.arena = make([]byte, 0, arenaSize)
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	return unsafe.String(&r.arena[start], len(b))
}

const arenaSize = 4096 // several records' envelope lines, mostly

// ctlFree reports whether b holds no control octet (below SP) and no DEL,
// looking at 8 octets at a time: the classic "has a byte less than n" and
// "has a zero byte" word tests, exact as to whether there is one.
func ctlFree(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		del := x ^ (ones * 0x7f)
		if ((x-ones*' ')&^x|(del-ones)&^del)&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// kind names a line by its first octet, for messages.
func kind(c byte) string {
	switch c {
	case 'M':
		return "start line"
	case 'A':
		return "attribute line"
	case 'S':
		return "sender line"
	case ':', ';':
		return "message line"
	case 'R':
		return "recipient line"
	case 'E':
		return "end line"
	}
	return fmt.Sprintf("line of unknown type %q", c)
}

// A readEnv is where in the Reader's buffer the envelope lines of the
// record Next read last lie, and what Next gave for them: so a Writer
// writes what a caller left of them as it was, the lines as they came,
// checked then, a copy at once and no work a line. The lines stay where
// they are until fill next moves the buffer's octets.
type readEnv struct {
	r      *Reader
	ok     bool                 // all of them read, and not moved since
	moves  int64                // r.moves when Next read them
	id     string               // the record's id as given
	start  int                  // where the MLM1 line starts
	ends   [maxEnvAttrs + 1]int // where it ends, then each of the first n A lines
	n      int
	attrs  [maxEnvAttrs]Attr // the first n attributes as given
	sStart int               // the S line, its mailbox as given and its number of parameters
	sEnd   int
	sender string
	params int
}

// maxEnvAttrs is how many of a record's attribute lines a readEnv holds.
const maxEnvAttrs = 15

// note takes in the attribute Next has just added to h, if its line is
// the next of those held.
func (e *readEnv) note(h *Header) {
	if i := len(h.Attrs) - 1; i < e.n {
		e.attrs[i] = h.Attrs[i]
	}
}

// same reports whether a and b are one string, the same octets at the
// same place: what a caller did not touch. (Strings are immutable, so
// it also means they say the same.)
func same(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

// asRead returns what of h's envelope lines its Reader has as it read
// them: the MLM1 line if h has the id Next gave (nil if not); the A lines
// of the first k attributes, if h has those Next gave; the S line if h
// has the sender Next gave (nil if not). A Header copied from one Next
// gave, another record's id and attributes in it, has them too. They lie
// in the Reader's buffer and stay valid until its next read.
//
// Only a Reader after ReuseHeader gives Headers these lines, and only
// the lines of the record Next read last are at hand; but a copy of an
// earlier record's Header that has the same attribute or sender (the
// same string, as a Reader shares them between records) is as well
// served by its line: it says the same.
func (h *Header) asRead() (mLine, aLines []byte, k int, sLine []byte) {
	e := h.env
	if e == nil || !e.ok || e.moves != e.r.moves {
		return nil, nil, 0, nil
	}
	buf := e.r.buf
	if same(h.ID, e.id) {
		mLine = buf[e.start:e.ends[0]]
	}
	for k < e.n && k < len(h.Attrs) {
		a, b := &h.Attrs[k], &e.attrs[k]
		if !same(a.Name, b.Name) || !same(a.Value, b.Value) || !same(a.line, b.line) {
			break
		}
		k++
	}
	aLines = buf[e.ends[0]:e.ends[k]]
	if e.params == 0 && len(h.Sender.Params) == 0 && same(h.Sender.Mailbox, e.sender) {
		sLine = buf[e.sStart:e.sEnd]
	}
	return mLine, aLines, k, sLine
}

// A lastAttr is an attribute line and what it says.
type lastAttr struct {
	line string
	a    Attr
}

// maxLastA is how many of a record's first attribute lines the Reader
// remembers.
const maxLastA = 16

// An envBlock is the A and S lines of a record, as they came and whole
// in the buffer: what they gave, and where each line ends after the
// first starts. Records of a stream mostly share all of them; Next
// takes them as one, compared as octets with the record's (see Next).
type envBlock struct {
	lines  []byte
	attrs  []Attr
	ends   [maxEnvAttrs]int // the end of each of the first A lines (readEnv's)
	sStart int
	sender Path
}

// maxBlock is the longest envBlock kept: more than mlm-accept and a
// pipeline's stages give a record.
const maxBlock = 2048

// keep makes blk the envelope lines of the record Next has just read,
// if they are all in the buffer still and have no sender parameters
// (a Path's Params are a slice a caller may change), else leaves it.
func (blk *envBlock) keep(r *Reader, h *Header) {
	e := &r.env
	if !e.ok || len(h.Sender.Params) > 0 || r.r-e.ends[0] > maxBlock {
		return
	}
	blk.lines = append(blk.lines[:0], r.buf[e.ends[0]:r.r]...)
	blk.attrs = append(blk.attrs[:0], h.Attrs...)
	for i := 1; i <= e.n; i++ {
		blk.ends[i-1] = e.ends[i] - e.ends[0]
	}
	blk.sStart, blk.sender = e.sStart-e.ends[0], h.Sender
}

// take reads the envelope lines after the MLM1 line of the record Next
// is reading as blk's, if they are the very same octets, and reports
// whether it did. Those octets were checked when blk was kept, and say
// what they said then.
func (blk *envBlock) take(r *Reader, h *Header) bool {
	n := len(blk.lines)
	if n == 0 || !bytes.HasPrefix(r.buf[r.r:r.w], blk.lines) {
		return false
	}
	e := &r.env
	h.Attrs = append(h.Attrs, blk.attrs...)
	e.n = min(len(blk.attrs), maxEnvAttrs)
	for i := range e.n {
		e.ends[i+1] = e.ends[0] + blk.ends[i]
		e.attrs[i] = blk.attrs[i]
	}
	e.sStart = e.ends[0] + blk.sStart
	r.r += n
	r.line += int64(len(blk.attrs)) + 1
	h.Sender = blk.sender
	return true
}

// headerBlock is a Header with room for the attributes most records
// have, allocated as one, and blocksAtOnce of them at a time: a Header
// held keeps the others of its allocation in memory, some 7 KiB, and the
// arenas they point into, a few more. (Not with the arena: a block
// points into arenas, an arena to nothing, so no held Header keeps a
// chain of earlier records alive.)
type headerBlock struct {
	h     Header
	attrs [8]Attr
}

const blocksAtOnce = 16

// Next reads the start of the next record up to and including its sender.
// It returns io.EOF at the clean end of the stream.
func (r *Reader) Next() (*Header, error) {
	// The rest of the record before, unread by the caller: checked, its
	// recipients not kept (skip), or a stream of many would make garbage
	// for nothing, an arena for every hundred.
	for r.state != rIdle {
		r.skip = true
		_, err := r.Recipient()
		r.skip = false
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	b, err := r.readLine()
	if err != nil {
		return nil, err
	}
	if b[0] != 'M' {
		return nil, r.fail("%s where a record must start", kind(b[0]))
	}
	s, err := r.envelopeLine(b[:len(b)-1])
	if err != nil {
		return nil, err
	}
	id, ok := strings.CutPrefix(s, "MLM1 ")
	if !ok {
		v, _, _ := strings.Cut(s, " ")
		if strings.HasPrefix(v, "MLM") && v != "MLM1" {
			return nil, r.fail("unsupported version %q", v)
		}
		return nil, r.fail("malformed start line")
	}
	if err := CheckID(id); err != nil {
		return nil, r.fail("%v", err)
	}
	e := &r.env
	e.ok, e.id, e.moves, e.start, e.n, e.ends[0] = false, id, r.moves, r.r-len(b), 0, r.r
	h := r.reused
	var hb *headerBlock // h's, if it is in one
	if h != nil {
		h.ID, h.Attrs = id, r.reusedA[:0]
	} else {
		if len(r.blocks) == 0 {
			r.blocks = make([]headerBlock, blocksAtOnce)
		}
		hb = &r.blocks[0]
		r.blocks = r.blocks[1:]
		h = &hb.h
		h.ID, h.Attrs = id, hb.attrs[:0]
	}
	if r.same.take(r, h) {
		return outOfBlock(r.begin(h), hb), nil
	}
	for {
		b, err := r.readLine()
		if err == io.EOF {
			return nil, r.fail("end of input inside record")
		}
		if err != nil {
			return nil, err
		}
		if b[0] != 'A' && b[0] != 'S' {
			return nil, r.fail("%s before the sender line", kind(b[0]))
		}
		if b[0] == 'A' && len(h.Attrs) == MaxAttrs {
			return nil, r.fail("more than %d attribute lines", MaxAttrs)
		}
		if b[0] == 'A' && e.n < len(e.attrs) && e.ends[e.n] == r.r-len(b) {
			e.n++
			e.ends[e.n] = r.r
		}
		// An attribute line the same as the last record's in its place
		// (records of a stream mostly share them) was checked then.
		if i := len(h.Attrs); b[0] == 'A' && i < len(r.lastA) && string(b[:len(b)-1]) == r.lastA[i].line {
			h.Attrs = append(h.Attrs, r.lastA[i].a)
			e.note(h)
			continue
		}
		s, err := r.envelopeLine(b[:len(b)-1])
		if err != nil {
			return nil, err
		}
		switch {
		case s[0] == 'A' && len(s) > 1 && s[1] == ' ':
			name, raw, ok := strings.Cut(s[2:], "=")
			if !ok {
				return nil, r.fail("attribute line without =")
			}
			if err := CheckAttrName(name); err != nil {
				return nil, r.fail("%v", err)
			}
			v, err := UnescapeValue(raw)
			if err != nil {
				return nil, r.fail("%v", err)
			}
			a := Attr{Name: name, Value: v, line: s}
			if i := len(h.Attrs); i < len(r.lastA) {
				r.lastA[i] = lastAttr{s, a}
			} else if i < maxLastA {
				r.lastA = append(r.lastA, lastAttr{s, a})
			}
			h.Attrs = append(h.Attrs, a)
			e.note(h)
		case s[0] == 'S' && len(s) > 1 && s[1] == ' ':
			// Records of a stream mostly share their sender: a line
			// without parameters as the last one is the same path.
			if s != r.lastS || len(r.lastSender.Params) > 0 {
				p, err := ParsePath(s[2:], true)
				if err != nil {
					return nil, r.fail("sender: %v", err)
				}
				// Copies: the records after this one share them, and
				// would keep the arena they are in.
				s = strings.Clone(s)
				r.lastS, r.lastSender = s, Path{Mailbox: strings.Clone(p.Mailbox), Params: p.Params}
			}
			h.Sender = r.lastSender
			e.sStart = r.r - len(b)
			r.begin(h)
			r.same.keep(r, h)
			return outOfBlock(h, hb), nil
		default:
			return nil, r.fail("%s without a space after its tag", kind(s[0]))
		}
	}
}

// outOfBlock is h, from block hb (nil if none), in an allocation of its
// own if its attributes outgrew the block's room: they are then in an
// allocation of their own too, which the block would keep in memory as
// long as any Header of its allocation is held, or the Reader has not
// handed them all out. A record's attributes may be 64 MiB (MaxAttrs
// lines of MaxLine), and so sixteen records' would be kept for one.
// (The room in a block holds eight at most, and half a MiB of them.)
func outOfBlock(h *Header, hb *headerBlock) *Header {
	if hb == nil || cap(h.Attrs) <= len(hb.attrs) {
		return h
	}
	own := new(Header)
	*own, *hb = *h, headerBlock{}
	return own
}

// begin ends Next's reading of the envelope lines of h, its sender's
// the last, and returns h.
func (r *Reader) begin(h *Header) *Header {
	e := &r.env
	e.sEnd, e.sender, e.params = r.r, h.Sender.Mailbox, len(h.Sender.Params)
	e.ok = e.moves == r.moves
	if r.reused != nil {
		h.env = e               // see ReuseHeader
		r.reusedA = h.Attrs[:0] // grown here, if at all: the Reader's own
	}
	r.state, r.nr, r.semi, r.pending = rMessage, 0, -1, nil
	return h
}

// ReuseHeader makes Next return the same Header for every record from
// then on, overwritten, not a new one: for a caller that lets go of each
// record's Header (and its Attrs) before it reads the next, as a filter
// that passes records on one at a time does. It spares an allocation
// for every record, and the collector's work on it. The strings the
// Header gives stay valid as ever.
//
// Such a Header, and a copy of it, also take a Writer straight to the
// envelope lines in the Reader's buffer (see asRead): so the caller
// writes them only from the goroutine that reads. (mlm-sendmail, which
// keeps Headers and writes them from other goroutines, does not call
// ReuseHeader, and its Headers have no such lines.)
func (r *Reader) ReuseHeader() {
	if r.reused == nil {
		// Room for what a record gathers on its way (a trace from each
		// stage and more) beyond what mlm-accept gives it.
		r.reused, r.reusedA = new(Header), make([]Attr, 0, 16)
	}
}

// Each calls fn for every record of the stream until the end of the
// stream or the first error, which it returns. Whatever fn leaves unread
// of a record is read and checked before the next one.
func (r *Reader) Each(fn func(h *Header) error) error {
	for {
		h, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
}

// Message returns the message of the current record. It reads nothing
// once the record's recipients have been reached.
func (r *Reader) Message() io.Reader { return msgReader{r} }

// HeaderBlock appends the current message's header block to dst and
// returns it: every message line up to and including the first empty one
// (LF or CRLF), or the whole message if it has none, as octets. The
// Reader is left at the first line of the body, so that the body still
// reaches a Writer through Message as the very lines it came in as.
// Once dst holds more than max octets it stops, inside a line if need
// be: a result longer than max means the block is longer. It is for a
// stage that edits the header block and passes the body on, called
// before anything else of the message is read.
func (r *Reader) HeaderBlock(dst []byte, max int) ([]byte, error) {
	atStart := true // dst ends a line (or holds nothing of the message); always so after a ":" line
	for len(dst) <= max {
		if len(r.cur) == 0 && r.err == nil && r.state == rMessage && r.semi < 0 {
			// Whole ":" lines in the buffer, the common case: a header
			// line is short, and nextPiece's checks are a ":" line's
			// tag and length.
			b := r.buf[r.r:r.w]
			q, lines, done := 0, int64(0), false
			for q < len(b) && b[q] == ':' && len(dst) <= max {
				i := bytes.IndexByte(b[q+1:], '\n')
				if i < 0 || i+2 > MaxLine {
					break
				}
				line := b[q+1 : q+i+2]
				dst = append(dst, line...)
				q += i + 2
				lines++
				if done = isEmptyLine(line); done {
					break
				}
			}
			r.r += q
			r.line += lines
			if done {
				return dst, nil
			}
			if q > 0 {
				continue // atStart still: whole lines went in
			}
		}
		if err := r.nextPiece(); err == io.EOF {
			return dst, nil
		} else if err != nil {
			return dst, err
		}
		piece := r.cur
		r.cur = nil
		dst = append(dst, piece...)
		if atStart && isEmptyLine(piece) {
			return dst, nil
		}
		atStart = piece[len(piece)-1] == '\n'
	}
	return dst, nil
}

// isEmptyLine reports whether a message line is empty: LF, or CRLF.
func isEmptyLine(l []byte) bool { return string(l) == "\n" || string(l) == "\r\n" }

type msgReader struct{ r *Reader }

// Read fills p with message octets, as many lines as are at hand without
// waiting for more input.
func (m msgReader) Read(p []byte) (int, error) {
	r := m.r
	n := 0
	for n < len(p) {
		if len(r.cur) > 0 {
			k := copy(p[n:], r.cur)
			r.cur = r.cur[k:]
			n += k
			continue
		}
		if k := r.decodeLines(p[n:]); k > 0 {
			n += k
			continue
		}
		if n > 0 {
			break
		}
		if err := r.nextPiece(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// decodeLines copies the payloads of the whole ":" lines at the head of
// the buffer into p while they fit, and returns how many octets it
// copied. It finds each line's end to copy it, so it checks each line on
// the way (as colonRun would, which it does not call: that would be a
// second pass over the same octets).
func (r *Reader) decodeLines(p []byte) int {
	if r.err != nil || r.state != rMessage || r.semi >= 0 {
		return 0
	}
	n, q, lines := decodeRun(p, r.buf[r.r:r.w])
	r.r += q
	r.line += int64(lines)
	return n
}

// decodeRun copies the payloads of the whole ":" lines of at most MaxLine
// octets at the start of b into p while they fit: p[:n] is the payloads
// of b[:q], lines lines. p beyond n may be written.
func decodeRun(p, b []byte) (n, q, lines int) {
	n, q, lines = decodeFast(p, b)
	for q < len(b) && b[q] == ':' {
		i := bytes.IndexByte(b[q+1:], '\n') // the payload's length, LF excluded
		if i < 0 || i+2 > MaxLine || n+i+1 > len(p) {
			break
		}
		n += copy(p[n:], b[q+1:q+i+2])
		q += i + 2
		lines++
	}
	return n, q, lines
}

// WriteTo copies the rest of the message to w. To a Writer standing at
// the start of a line, whole message lines go across as they are, a
// buffer at a time; to a bufio.Writer, runs of lines are decoded
// straight into its buffer; to anything else, runs of lines go decoded,
// a buffer at a time.
func (m msgReader) WriteTo(w io.Writer) (int64, error) {
	r := m.r
	sw, _ := w.(*Writer)
	bw, _ := w.(*bufio.Writer)
	var n int64
	for {
		if len(r.cur) == 0 {
			var k int64
			var err error
			switch {
			case sw != nil && sw.atLineStart():
				span, lines := r.rawSpan()
				if len(span) > 0 {
					k, err = int64(len(span))-lines, sw.writeLines(span)
				}
			case w == io.Discard:
				span, lines := r.rawSpan()
				k = int64(len(span)) - lines
			case bw != nil:
				if bw.Available() < min(minRoom, bw.Size()/2) {
					err = bw.Flush()
				}
				// Written onto itself: AvailableBuffer's way, which
				// costs less than decoding elsewhere and copying.
				if p := bw.AvailableBuffer(); err == nil {
					if d := r.decodeLines(p[:cap(p)]); d > 0 {
						var m int
						m, err = bw.Write(p[:d])
						k = int64(m)
					}
				}
			case sw == nil:
				if r.scratch == nil {
					r.scratch = make([]byte, MaxLine)
				}
				if d := r.decodeLines(r.scratch); d > 0 {
					_, err = w.Write(r.scratch[:d])
					k = int64(d)
				}
			}
			n += k
			if err != nil {
				return n, err
			}
			if k > 0 {
				continue
			}
			if err := r.nextPiece(); err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
		}
		k, err := w.Write(r.cur)
		n += int64(k)
		r.cur = r.cur[k:]
		if err != nil {
			return n, err
		}
	}
}

// minRoom is the least room in a bufio.Writer's buffer WriteTo decodes
// into (or half the buffer, if less); with less, it flushes the buffer
// first.
const minRoom = 4 << 10

// rawSpan returns the ":" lines at the head of the buffer, checked, and
// their number, and consumes them; nothing if the next line is of
// another kind, follows a ";" piece or is not wholly in the buffer
// (nextPiece deals with those). Only called between lines of a message
// (cur empty).
func (r *Reader) rawSpan() ([]byte, int64) {
	if r.err != nil || r.state != rMessage || r.semi >= 0 {
		return nil, 0
	}
	n, lines := colonRun(r.buf[r.r:r.w])
	span := r.buf[r.r : r.r+n]
	r.r += n
	r.line += lines
	return span, lines
}

// CopyEncoded writes the rest of the current message to w as the stream
// carries it: its ":" and ";" lines, checked, tags and LFs included. A
// stage that must hold the message (until it has seen the recipients)
// keeps it so and gives it back to a Writer with WriteEncoded, never
// decoding and encoding it again. It returns the number of octets
// written.
func (r *Reader) CopyEncoded(w io.Writer) (int64, error) {
	var n int64
	for {
		if len(r.cur) > 0 {
			return n, errors.New("stream: CopyEncoded after part of a line was read")
		}
		span, _ := r.rawSpan()
		if len(span) == 0 {
			err := r.nextPiece()
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			span, r.cur = r.last, nil
		}
		k, err := w.Write(span)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
}

// discard reads and checks the rest of the message.
func (r *Reader) discard() error {
	_, err := msgReader{r}.WriteTo(io.Discard)
	return err
}

// nextPiece reads message lines until one carries octets, setting cur, or
// returns io.EOF at the end of the message.
func (r *Reader) nextPiece() error {
	for len(r.cur) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.state != rMessage {
			return io.EOF
		}
		b, err := r.readLine()
		if err != nil {
			return err
		}
		r.last = b
		switch b[0] {
		case ':', ';':
			// Canonical form: a ";" piece is followed by more message
			// only if it is full, and a full piece is not followed by an
			// empty ":" line (the two would fit on one line).
			if r.semi >= 0 && r.semi < MaxPiece {
				return r.fail("message line after a short %q piece", ';')
			}
			if b[0] == ';' {
				if len(b) == 2 {
					return r.fail("empty %q piece", ';')
				}
				r.semi, r.cur = len(b)-2, b[1:len(b)-1]
			} else {
				if r.semi == MaxPiece && len(b) == 2 {
					return r.fail("empty %q line after a full %q piece", ':', ';')
				}
				r.semi, r.cur = -1, b[1:]
			}
		case 'R', 'E':
			r.pending, r.state = b, rRcpts
			return io.EOF
		default:
			return r.fail("%s in message", kind(b[0]))
		}
	}
	return nil
}

// EachRecipient calls fn for every recipient of the current record, then
// reads and checks its end line. It returns fn's first error, or nil at
// the end of the record.
func (r *Reader) EachRecipient(fn func(p Path) error) error {
	for {
		p, err := r.Recipient()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// EachRecipientNoCopy is EachRecipient for an fn that is done with each
// recipient when it returns, as one that writes it out is: a plain
// recipient's strings are then the Reader's buffer, which what it reads
// next overwrites, so fn must copy any string it keeps (strings.Clone,
// Path.Clone). EachRecipient copies every recipient line (see keep):
// 2 MiB of memory for 100,000 recipients, and a page fault for each
// 4 KiB of it.
func (r *Reader) EachRecipientNoCopy(fn func(p Path) error) error {
	r.noCopy = true
	defer func() { r.noCopy = false }()
	return r.EachRecipient(fn)
}

// Recipient returns the next recipient of the current record, and io.EOF
// once the end line has been read and its count checked. Unread message
// octets are read and discarded first.
func (r *Reader) Recipient() (Path, error) {
	if r.state == rMessage {
		if err := r.discard(); err != nil {
			return Path{}, err
		}
	}
	if r.err != nil {
		return Path{}, r.err
	}
	if r.state == rIdle {
		return Path{}, io.EOF
	}
	b := r.pending
	r.pending = nil
	if b == nil {
		var err error
		if b, err = r.readLine(); err != nil {
			return Path{}, err
		}
	}
	// Most recipient lines are "R <mailbox>" of a plain mailbox, checked
	// here in one pass: no control octet, no parameter, no ">" inside.
	if n := len(b); n > 6 && b[0] == 'R' && b[1] == ' ' && b[2] == '<' && b[n-2] == '>' &&
		addr.Plain(unsafe.String(&b[3], n-5)) && r.nr < MaxCount {
		r.nr++
		if r.skip {
			return Path{}, nil
		}
		var s string
		if r.noCopy {
			s = unsafe.String(&b[2], n-3)
		} else {
			s = r.keep(b[2 : n-1])
		}
		return Path{Mailbox: s[1 : len(s)-1], line: s}, nil
	}
	switch b[0] {
	case 'R', 'E':
	case ':', ';':
		return Path{}, r.fail("message line after a recipient line")
	default:
		return Path{}, r.fail("%s among recipients", kind(b[0]))
	}
	s, err := r.envelopeLine(b[:len(b)-1])
	if err != nil {
		return Path{}, err
	}
	switch {
	case len(s) > 2 && s[:2] == "R ":
		p, err := ParsePath(s[2:], false)
		if err != nil {
			return Path{}, r.fail("recipient: %v", err)
		}
		if r.nr == MaxCount {
			return Path{}, r.fail("more than %d recipients", int64(MaxCount))
		}
		r.nr++
		p.line = s[2:]
		return p, nil
	case len(s) > 2 && s[:2] == "E ":
		c := s[2:]
		if len(c) > 10 || (c[0] == '0' && len(c) > 1) {
			return Path{}, r.fail("bad count %q", c)
		}
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return Path{}, r.fail("bad count %q", c)
		}
		if int64(n) != r.nr {
			return Path{}, r.fail("count %d, but %d recipient lines", n, r.nr)
		}
		r.state = rIdle
		return Path{}, io.EOF
	}
	return Path{}, r.fail("malformed %s", kind(s[0]))
}
