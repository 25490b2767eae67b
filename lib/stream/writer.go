package stream

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"mlm/lib/sysexit"
)

// Writer states, in the order a record passes through them.
const (
	wIdle    = iota // between records
	wAttrs          // after MLM1, before S
	wMessage        // after S: message bytes
	wRcpts          // after the first R
)

// ErrOrder is returned for a Writer call out of record order.
var ErrOrder = errors.New("stream: call out of record order")

// Writer writes an MLM1 stream. Calls must follow the record order:
// Begin, Attr*, Sender, Write*, Recipient*, End. Every value from outside
// is checked; a bad one is an EX_DATAERR error and nothing is written for
// it. Write errors of the underlying writer are EX_TEMPFAIL. Flush must be
// called (and checked) at the end.
type Writer struct {
	w     *bufio.Writer
	out   io.Writer // what w writes to
	state int
	n     int64  // R lines in this record
	na    int    // A lines in this record
	line  []byte // pending message octets of the current line, < MaxPiece+1
	err   error  // sticky write error

	sender string // the last sender checked, a valid mailbox or ""
	tail   []byte // the last octets of the message written, see Tail
	attrs  [attrsKept]keptAttr
	nextA  int  // the slot of attrs WriteAttr fills next
	sized  bool // the buffer has had its one chance to grow: see fit
}

// A keptAttr is an attribute line WriteAttr wrote, checked, escaped and
// ready to write again. A stage adds the same attributes to record after
// record (its state, the poster, its trace a second at a time): the
// Writer keeps the last attrsKept of at most keptLen octets, each with its
// name and value, and writes a line again for the same strings (most
// often the very same: their pointers compare equal at once).
type keptAttr struct {
	name, value string
	line        []byte // "A name=value" escaped, and LF
}

const (
	attrsKept = 4
	keptLen   = 256
)

// tailLen is how many of the message's last octets Tail keeps: enough
// for a last line "-- " with the line end before it and its own, CRLF.
const tailLen = 6

// Tail returns the last octets (up to 6) of the message written so far
// in this record, for a stage that appends to it (a footer must start on
// a line of its own, and after a paragraph of flowed text that its last
// line may leave open). It is valid until the next call on w, and says
// nothing after WriteEncoded.
func (w *Writer) Tail() []byte { return w.tail }

// noteTail adds p, message octets just written, to the tail.
func (w *Writer) noteTail(p []byte) {
	if len(p) >= tailLen {
		w.tail = append(w.tail[:0], p[len(p)-tailLen:]...)
		return
	}
	w.tail = append(w.tail, p...)
	w.tail = w.tail[max(0, len(w.tail)-tailLen):]
}

// NewWriter returns a Writer that writes to w. Its buffer may grow
// once the output outgrows it, to what w takes best (see fit).
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, writeSize), out: w}
}

// writeSize is the Writer's buffer to begin with: a pipe's by default,
// and room for a record of some KiB, which most Writers write and no
// more (a queue file's).
//
// writeMax is what it may grow to: see fit.
const (
	writeSize = 64 << 10
	writeMax  = 1 << 20
)

// fit readies the buffer for n more octets. The first time they would
// not fit, so that the buffer would be written out, it asks what the
// output takes best (outSize) and grows to that, once. A write to a pipe
// of more than the pipe holds waits on the reader for the rest, so a
// Writer to a pipe writes its buffer what the pipe holds at a time (a
// long run of a message goes whole: see writeLines). Measured on a 1
// GB stream of 4 KB posts, the stream passed on (medians of 7): into
// mlm-pipeline's 256 KiB pipes, 64 KiB writes took 10% more wall time
// and 16% more CPU than 256 KiB ones; into a 64 KiB pipe, 256 KiB writes
// took 28% more wall time and 1 MiB writes 43% more than 64 KiB ones. A
// file or a device takes a write of any size at once, and each write
// costs a system call: the Writer writes it 1 MiB at a time, as a Reader
// reads a file (to a file in tmpfs 4% less wall time than 64 KiB writes,
// to /dev/null 12%). Anything else (a socket, a writer that is not a
// file) keeps the first buffer.
func (w *Writer) fit(n int) {
	if !w.sized && n > w.w.Available() {
		w.grow()
	}
}

// grow is fit's growth, once.
func (w *Writer) grow() {
	w.sized = true
	size := outSize(w.out)
	if size <= w.w.Size() || w.err != nil {
		return
	}
	if err := w.w.Flush(); err != nil {
		w.setErr(err)
		return
	}
	w.w = bufio.NewWriterSize(w.out, size)
}

// outSize is the buffer a Writer to out grows to (see fit), or 0 for
// none.
func outSize(out io.Writer) int {
	f, ok := out.(*os.File)
	if !ok {
		return 0
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		return 0
	case st.Mode()&fs.ModeNamedPipe != 0:
		return min(pipeSize(f), writeMax)
	case st.Mode()&fs.ModeSocket != 0:
		return 0
	}
	return writeMax
}

// PipeSize is what out holds if it is a pipe that says (F_GETPIPE_SZ),
// else 0. A write of more to a pipe waits on its reader for the rest.
func PipeSize(out io.Writer) int {
	f, ok := out.(*os.File)
	if !ok {
		return 0
	}
	if st, err := f.Stat(); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		return 0
	}
	return pipeSize(f)
}

func (w *Writer) setErr(err error) error {
	if err != nil && w.err == nil {
		w.err = sysexit.Temp(err)
	}
	return w.err
}

// put writes tag, the strings s and LF, a line of at most MaxLine
// octets.
func (w *Writer) put(tag byte, s ...string) error {
	if w.err != nil {
		return w.err
	}
	n := 2
	for _, x := range s {
		n += len(x)
	}
	if n > MaxLine {
		return tooLong(tag, n)
	}
	w.fit(n)
	w.w.WriteByte(tag)
	for _, x := range s {
		w.w.WriteString(x)
	}
	return w.setErr(w.w.WriteByte('\n'))
}

// putRead writes prefix, line and LF: a line as a Reader read it, and
// checked then, within MaxLine.
func (w *Writer) putRead(prefix, line string) error {
	if w.err != nil {
		return w.err
	}
	w.fit(len(prefix) + len(line) + 1)
	w.w.WriteString(prefix)
	w.w.WriteString(line)
	return w.setErr(w.w.WriteByte('\n'))
}

// pathFits returns an error if the line of tag and p would be over
// MaxLine octets.
func pathFits(tag byte, p Path) error {
	if n := pathLen(p); n > MaxLine {
		return tooLong(tag, n)
	}
	return nil
}

// pathLen is the length of the line of a tag and p.
func pathLen(p Path) int {
	n := 5 + len(p.Mailbox) // tag, " <", ">", LF
	for _, x := range p.Params {
		n += 1 + len(x)
	}
	return n
}

// putPath writes tag, SP, p and LF; pathFits has said the line fits.
func (w *Writer) putPath(tag byte, p Path) error {
	if w.err != nil {
		return w.err
	}
	w.fit(pathLen(p))
	w.w.WriteByte(tag)
	w.w.WriteString(" <")
	w.w.WriteString(p.Mailbox)
	w.w.WriteByte('>')
	for _, x := range p.Params {
		w.w.WriteByte(' ')
		w.w.WriteString(x)
	}
	return w.setErr(w.w.WriteByte('\n'))
}

// tooLong is the error of an envelope line that would be n octets, over
// MaxLine: nothing is written for it, as for any bad value.
func tooLong(tag byte, n int) error {
	return dataErr(fmt.Errorf("%s of %d octets, over %d", kind(tag), n, MaxLine))
}

// Begin starts a record. After a write that failed, it returns that
// error, not ErrOrder for the record the failure cut short: a reader
// gone is said as such, not as a fault of the writer's (a review).
func (w *Writer) Begin(id string) error {
	if w.err != nil {
		return w.err
	}
	if w.state != wIdle {
		return ErrOrder
	}
	if err := CheckID(id); err != nil {
		return dataErr(err)
	}
	w.state, w.n, w.na = wAttrs, 0, 0
	return w.put('M', "LM1 ", id)
}

// Attr writes an attribute, escaping its value.
func (w *Writer) Attr(name, value string) error {
	return w.WriteAttr(Attr{Name: name, Value: value})
}

// WriteAttr writes a, in the encoded form it was read in if a came from a
// Reader.
func (w *Writer) WriteAttr(a Attr) error {
	if w.state != wAttrs {
		return ErrOrder
	}
	if w.na == MaxAttrs {
		// What a Reader refuses is not written: the stage that would
		// add one too many fails, not the next.
		return dataErr(fmt.Errorf("stream: more than %d attribute lines", MaxAttrs))
	}
	err := w.writeAttr(a)
	if err == nil {
		w.na++
	}
	return err
}

// writeAttr is WriteAttr but for the order and the count.
func (w *Writer) writeAttr(a Attr) error {
	if a.sameAsRead() {
		// As read, and checked then: a filter passes an attribute
		// through byte for byte, escapes and all.
		return w.putRead("", a.line)
	}
	for i := range w.attrs {
		if k := &w.attrs[i]; k.line != nil && a.Name == k.name && a.Value == k.value {
			return w.putLine(k.line)
		}
	}
	if err := CheckAttrName(a.Name); err != nil {
		return dataErr(err)
	}
	v := EscapeValue(a.Value)
	if n := len(a.Name) + len(v) + 4; n <= keptLen {
		k := &w.attrs[w.nextA]
		w.nextA = (w.nextA + 1) % attrsKept
		k.name, k.value = a.Name, a.Value
		k.line = append(append(append(append(k.line[:0], "A "...), a.Name...), '='), v...)
		k.line = append(k.line, '\n')
		return w.putLine(k.line)
	}
	return w.put('A', " ", a.Name, "=", v)
}

// putLine writes line, LF and all, of at most MaxLine octets.
func (w *Writer) putLine(line []byte) error {
	if w.err != nil {
		return w.err
	}
	w.fit(len(line))
	_, err := w.w.Write(line)
	return w.setErr(err)
}

// Sender writes the envelope sender; message bytes may follow.
func (w *Writer) Sender(p Path) error {
	if w.state != wAttrs {
		return ErrOrder
	}
	// Records of a stream mostly share their sender: the last one
	// checked is not checked again.
	if len(p.Params) > 0 || p.Mailbox != w.sender {
		if err := CheckPath(p, true); err != nil {
			return dataErr(fmt.Errorf("sender: %v", err))
		}
		if len(p.Params) == 0 {
			w.sender = p.Mailbox
		}
	}
	if err := pathFits('S', p); err != nil {
		return err
	}
	w.state, w.tail = wMessage, w.tail[:0]
	return w.putPath('S', p)
}

// WriteHeader writes h: Begin, every attribute, Sender. What is still as
// a Reader read it (see asRead) goes out as the lines it came in,
// checked then.
func (w *Writer) WriteHeader(h *Header) error {
	mLine, aLines, k, sLine := h.asRead()
	if mLine == nil {
		if err := w.Begin(h.ID); err != nil {
			return err
		}
	} else {
		// As Begin does, but for the checks and the writes.
		if w.err != nil {
			return w.err
		}
		if w.state != wIdle {
			return ErrOrder
		}
		w.state, w.n, w.na = wAttrs, 0, 0
		w.fit(len(mLine))
		if _, err := w.w.Write(mLine); err != nil {
			return w.setErr(err)
		}
	}
	w.fit(len(aLines))
	if _, err := w.w.Write(aLines); err != nil {
		return w.setErr(err)
	}
	w.na += k // no more than MaxAttrs: a Reader read them
	for _, a := range h.Attrs[k:] {
		if err := w.WriteAttr(a); err != nil {
			return err
		}
	}
	if sLine == nil {
		return w.Sender(h.Sender)
	}
	w.state, w.tail = wMessage, w.tail[:0]
	w.fit(len(sLine))
	_, err := w.w.Write(sLine)
	return w.setErr(err)
}

// Write writes message octets. A line is written as soon as its LF
// arrives; octets of a line longer than MaxPiece go out in ";" pieces of
// exactly MaxPiece octets.
func (w *Writer) Write(p []byte) (int, error) {
	if w.state != wMessage {
		return 0, ErrOrder
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.noteTail(p)
	w.fit(len(w.line) + 2*n + 2) // at most: a tag for each octet, an LF
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i >= 0 && len(w.line) == 0 && i <= MaxPiece {
			// Whole short lines: no need to hold them. As many as fit
			// go into the buffer's room at once, the tags between:
			// most of them by encodeFast, the rest a line at a time.
			b := w.w.AvailableBuffer()
			if nd, ns, _ := encodeFast(b[:cap(b)], p); ns > 0 {
				b, p = b[:nd], p[ns:]
				i = bytes.IndexByte(p, '\n')
			}
			for i >= 0 && i <= MaxPiece && len(b)+i+2 <= cap(b) {
				b = append(append(b, ':'), p[:i+1]...)
				p = p[i+1:]
				i = bytes.IndexByte(p, '\n')
			}
			if len(b) > 0 {
				w.w.Write(b)
				continue
			}
			w.w.WriteByte(':')
			w.w.Write(p[:i+1])
			p = p[i+1:]
			continue
		}
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		for len(seg) > 0 {
			if len(w.line) == MaxPiece {
				w.piece()
			}
			k := min(MaxPiece-len(w.line), len(seg))
			w.line = append(w.line, seg[:k]...)
			seg = seg[k:]
		}
		if i < 0 {
			break
		}
		w.w.WriteByte(':')
		w.w.Write(w.line)
		w.w.WriteByte('\n')
		w.line = w.line[:0]
		p = p[i+1:]
	}
	// bufio.Writer keeps its first error; an empty Write returns it.
	if _, err := w.w.Write(nil); err != nil {
		return 0, w.setErr(err)
	}
	return n, nil
}

// atLineStart reports whether the message being written stands at the
// start of a line, where whole encoded lines may follow.
func (w *Writer) atLineStart() bool {
	return w.state == wMessage && len(w.line) == 0 && w.err == nil
}

// writeLines writes ":" lines as they are. The caller (a Reader's
// message, through WriteTo) has checked them and w stands at the start of
// a line.
func (w *Writer) writeLines(b []byte) error {
	w.fit(len(b))
	if len(b) >= writeSize {
		// A run of 64 KiB or more goes out from where it is, after what
		// the buffer holds, as a bufio.Writer writes one larger than its
		// buffer: copied into a buffer grown larger (see fit), a 1 MB
		// message would cost a copy more: 19% more of mlm-hdr's time.
		if err := w.w.Flush(); err != nil {
			return w.setErr(err)
		}
		if n, err := w.out.Write(b); err != nil || n < len(b) {
			return w.setErr(cmp.Or(err, io.ErrShortWrite))
		}
	} else if _, err := w.w.Write(b); err != nil {
		return w.setErr(err)
	}
	// The tail: the last lines' payloads, without their tags; at once
	// if the last line holds tailLen of them (no LF among the octets
	// before its LF, so no tag either).
	if n := len(b); n > tailLen && bytes.IndexByte(b[n-tailLen-1:n-1], '\n') < 0 {
		w.noteTail(b[n-tailLen:])
		return nil
	}
	var last [tailLen]byte
	k := tailLen
	for end := len(b); end > 0 && k > 0; {
		start := bytes.LastIndexByte(b[:end-1], '\n') + 1
		for i := end - 1; i > start && k > 0; i-- {
			k--
			last[k] = b[i]
		}
		end = start
	}
	w.noteTail(last[k:])
	return nil
}

// WriteEncoded writes as the message the encoded lines a Reader's
// CopyEncoded wrote to src, as they are, and ends the message: only
// recipients may follow. They are not checked again: src must hold
// nothing else. Nothing of the message may have been written before.
//
// A src that says its length (a Len method), of 64 KiB or more, goes
// past the Writer's buffer, whatever the buffer grew to (see fit),
// straight to the writer under it: so the file a spool is backed by goes
// to an *os.File by sendfile(2), never through memory.
func (w *Writer) WriteEncoded(src io.Reader) (int64, error) {
	if !w.atLineStart() {
		if w.err != nil {
			return 0, w.err
		}
		return 0, ErrOrder
	}
	l, ok := src.(interface{ Len() int })
	if ok {
		w.fit(l.Len())
	}
	to := io.Writer(w.w) // (after fit: it may give w a new buffer)
	if ok && l.Len() >= writeSize {
		if err := w.Flush(); err != nil {
			return 0, err
		}
		to = w.out
	}
	n, err := io.Copy(to, src)
	w.state = wRcpts
	if err != nil {
		return n, w.setErr(err)
	}
	return n, nil
}

// piece writes the held octets as a ";" line.
func (w *Writer) piece() {
	w.fit(len(w.line) + 2)
	w.w.WriteByte(';')
	w.w.Write(w.line)
	w.w.WriteByte('\n')
	w.line = w.line[:0]
}

// endMessage writes the held partial last line, if any.
func (w *Writer) endMessage() error {
	if w.state == wMessage {
		if len(w.line) > 0 {
			w.piece()
		}
		w.state = wRcpts
	}
	return w.err
}

// Recipient writes an envelope recipient, ending the message.
func (w *Writer) Recipient(p Path) error {
	if w.state != wMessage && w.state != wRcpts {
		return ErrOrder
	}
	// A recipient as read was checked then: its line goes out as it came.
	read := p.sameAsRead()
	if !read {
		if err := CheckPath(p, false); err != nil {
			return dataErr(fmt.Errorf("recipient: %v", err))
		}
		if err := pathFits('R', p); err != nil {
			return err
		}
	}
	if w.n == MaxCount {
		return dataErr(errors.New("too many recipients"))
	}
	if err := w.endMessage(); err != nil {
		return err
	}
	w.n++
	if read {
		return w.putRead("R ", p.line)
	}
	return w.putPath('R', p)
}

// End ends the record with the count of its recipients.
func (w *Writer) End() error {
	if w.state != wMessage && w.state != wRcpts {
		return ErrOrder
	}
	if err := w.endMessage(); err != nil {
		return err
	}
	w.state = wIdle
	if w.err != nil {
		return w.err
	}
	// (In the buffer's free space: a local array would escape through
	// Write and cost an allocation for every record.)
	w.fit(len("E \n") + 20)
	_, err := w.w.Write(append(strconv.AppendInt(append(w.w.AvailableBuffer(), "E "...), w.n, 10), '\n'))
	return w.setErr(err)
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.setErr(w.w.Flush())
}

// WriteRecord writes one whole record to out: h, the message read from
// body, and rcpts. Read errors are unclassified; write errors temporary.
// Its buffer is one of recordBufs, not one of its own: a Writer's took
// 64 KiB anew for each record of a few hundred octets, and the bounce
// records of 2,000 recipients some 20% of mlm-sendmail's CPU, much of
// it clearing memory and faulting it in.
func WriteRecord(out io.Writer, h *Header, body io.Reader, rcpts []Path) error {
	b := recordBufs.Get().(*bufio.Writer)
	b.Reset(out)
	w := &Writer{w: b, out: out}
	defer func() {
		if w.w == b { // (not grown: see fit)
			b.Reset(nil)
			recordBufs.Put(b)
		}
	}()
	if err := w.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.Copy(w, body); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := w.Recipient(r); err != nil {
			return err
		}
	}
	if err := w.End(); err != nil {
		return err
	}
	return w.Flush()
}

// recordBufs are WriteRecord's buffers.
var recordBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeSize) }}

// CopyRecord writes the record r is at, whose header is h, to w: the
// header, the rest of the message and the recipients.
func CopyRecord(w *Writer, r *Reader, h *Header) error {
	if err := w.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.Copy(w, r.Message()); err != nil {
		return err
	}
	return CopyRecipients(w, r)
}

// CopyRecipients writes the rest of the recipients of the record r is at
// to w and ends the record.
func CopyRecipients(w *Writer, r *Reader) error {
	if err := r.EachRecipientNoCopy(w.Recipient); err != nil {
		return err
	}
	return w.End()
}
