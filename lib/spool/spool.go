// Package spool holds one message for a stage that must see what follows
// it before passing it on (the recipients, in MLM1 order): its first
// octets in memory, up to a limit, and the rest in an unlinked temporary
// file, so memory stays bounded whatever the message size; or, where the
// message is in a file already (Backed), in that file. It is part of
// mlm's internals, not a public API.
package spool

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"mlm/lib/sysexit"
)

// MemLimit is the default number of octets held in memory.
const MemLimit = 1 << 20

// Spool is a rewindable buffer for one message.
type Spool struct {
	limit int
	mem   bytes.Buffer
	f     *os.File
	n     int64
	size  int64  // SMTPSize, once counted; -1 before
	buf   []byte // checkSrc's, once it has compared
	src   *os.File
	off   int64 // the message is src from off on (Backed)
	ref   bool  // and the spool holds none of it: Reader reads src
}

// New returns an empty Spool that keeps up to limit octets in memory.
func New(limit int) *Spool { return &Spool{limit: limit, size: -1} }

// Backed says that what is written until the next Reset is also in f,
// from offset off on, and stays there unchanged. The spool then holds a
// small message in memory, and one that outgrows 64 KiB (or the memory
// limit, if less) not at all: Reader reads it from f. A stage whose input
// is a file (a queue item) so never copies a large message to a
// temporary file. Where it stops holding the message, the spool compares
// its first octets with f's and fails, temporarily, if they differ: a
// wrong offset, or a file changed under it. Call it after Reset, before
// the first Write.
func (s *Spool) Backed(f *os.File, off int64) {
	if s.n == 0 {
		s.src, s.off = f, off
	}
}

// backedMem is what a backed spool holds in memory: a small message is
// copied faster than it is read again for every record, and a larger one
// is not worth copying once more.
const backedMem = 64 << 10

// checkLen is how many of a backed message's first octets are compared
// with the file's.
const checkLen = 4096

// Write appends p. Errors (a full disk) are temporary. The message's
// first octets, up to the limit, stay in memory; only the rest goes to
// the file, so what memory holds is never written out again.
func (s *Spool) Write(p []byte) (int, error) {
	s.size = -1
	if s.src != nil {
		return s.writeBacked(p)
	}
	n := 0
	if room := s.limit - s.mem.Len(); room > 0 {
		n, _ = s.mem.Write(p[:min(len(p), room)])
		s.n += int64(n)
		p = p[n:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", "mlm-spool-")
		if err != nil {
			return n, sysexit.Temp(err)
		}
		os.Remove(f.Name())
		s.f = f
	}
	k, err := s.f.Write(p)
	s.n += int64(k)
	return n + k, sysexit.Temp(err)
}

func (s *Spool) writeBacked(p []byte) (int, error) {
	if !s.ref && s.n+int64(len(p)) > int64(min(s.limit, backedMem)) {
		if err := s.checkSrc(p); err != nil {
			return 0, err
		}
		s.ref = true
		s.mem.Reset()
	}
	if !s.ref {
		s.mem.Write(p)
	}
	s.n += int64(len(p))
	return len(p), nil
}

// checkSrc compares the first octets of the message, those in memory and
// then p's, with the backing file's.
func (s *Spool) checkSrc(p []byte) error {
	m := s.mem.Bytes()
	m = m[:min(len(m), checkLen)]
	q := p[:min(len(p), checkLen-len(m))]
	if s.buf == nil {
		s.buf = make([]byte, readSize)
	}
	got := s.buf[:len(m)+len(q)]
	k, err := s.src.ReadAt(got, s.off)
	switch {
	case k < len(got) && err != nil && err != io.EOF:
		return sysexit.Temp(err)
	case k < len(got) || !bytes.Equal(got[:len(m)], m) || !bytes.Equal(got[len(m):], q):
		return sysexit.Temp(fmt.Errorf("spool: the input does not hold the message at offset %d", s.off))
	}
	return nil
}

// Len is the number of octets written since the last Reset.
func (s *Spool) Len() int64 { return s.n }

// SMTPSize is the message's size as SIZE (RFC 1870 §3) counts it: the
// octets sent after the 354 to DATA, every line ended in CRLF as lib/wire
// sends it, whatever its line ends (a CRLF stays two octets), but neither
// the dots that stuffing doubles nor the final dot line. It reads the
// message again, once, so that only the stage that needs the figure (the
// one speaking SMTP) pays for it. If the spool cannot be read it says
// Len, which may be less: the sending then fails on the same read,
// temporarily, where a size too large could have been refused for good.
func (s *Spool) SMTPSize() int64 {
	if s.size >= 0 {
		return s.size
	}
	var c sizeCounter
	if _, err := io.Copy(&c, s.Reader()); err != nil {
		return s.n
	}
	s.size = c.n + c.extra
	if c.n > 0 && c.last != '\n' && c.last != '\r' {
		s.size += 2
	}
	return s.size
}

// sizeCounter counts what lib/wire's DATA encoding adds to what is
// written to it, the stuffed dots aside: a CR for every LF, an LF for
// every CR, but nothing for a CRLF.
type sizeCounter struct {
	n, extra int64
	last     byte // the last octet written
}

func (c *sizeCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	crlf := bytes.Count(p, []byte("\r\n"))
	if c.last == '\r' && p[0] == '\n' {
		crlf++ // a CRLF across two writes
	}
	c.extra += int64(bytes.Count(p, []byte{'\n'}) + bytes.Count(p, []byte{'\r'}) - 2*crlf)
	c.last = p[len(p)-1]
	c.n += int64(len(p))
	return len(p), nil
}

// Reader returns a reader of everything written since the last Reset. It
// is valid until the next Write or Reset; several may be read at once,
// from goroutines of their own, once SMTPSize has been asked (it keeps
// its count in the spool).
func (s *Spool) Reader() io.Reader { return s.Section(0, s.n) }

// Section returns a reader of the n octets written at offset off since
// the last Reset, for a stage that holds several messages one after
// another. Like Reader's, it is valid until the next Write or Reset. A
// section beyond what was written reads as a temporary error.
func (s *Spool) Section(off, n int64) io.Reader {
	m := int64(s.mem.Len())
	switch {
	case off < 0 || n < 0 || off > s.n-n:
		return errReader{sysexit.Temp(fmt.Errorf("spool: no octets %d to %d in %d", off, off+n, s.n))}
	case s.ref:
		return &fileReader{f: s.src, off: s.off + off, s: s, left: n}
	case off+n <= m:
		return bytes.NewReader(s.mem.Bytes()[off : off+n])
	case off >= m:
		return &fileReader{f: s.f, off: off - m, s: s, left: n}
	}
	return &spillReader{bytes.NewReader(s.mem.Bytes()[off:]), &fileReader{f: s.f, s: s, left: off + n - m}}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// spillReader reads a message that outgrew memory: its first octets from
// memory, the rest from the spool's file.
type spillReader struct {
	mem  *bytes.Reader
	file *fileReader
}

func (r *spillReader) Read(p []byte) (int, error) {
	if r.mem.Len() > 0 {
		return r.mem.Read(p)
	}
	return r.file.Read(p)
}

func (r *spillReader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.mem.WriteTo(w)
	if err != nil {
		return n, err
	}
	k, err := r.file.WriteTo(w)
	return n + k, err
}

// Len returns the number of octets not yet read.
func (r *spillReader) Len() int { return r.mem.Len() + r.file.Len() }

// fileReader reads the message from the file it is backed by, or the
// part of it beyond memory from the spool's file. Its WriteTo, which
// io.Copy calls, reads the file in pieces of readSize, where a
// bufio.Writer's ReadFrom would read it in pieces of the writer's buffer
// (64 KiB for a stream Writer, to begin with): a 1 MB message costs 4
// reads and about as many writes rather than 16 of each.
type fileReader struct {
	f    *os.File
	off  int64 // where in f the next read starts
	s    *Spool
	left int64 // octets not yet read
}

const readSize = 256 << 10

// readBufs are WriteTo's buffers, not the spool's own: readers of one
// spool may run at once (mlm-sendmail's connections, each sending one
// message of verp=yes to recipients of its own).
var readBufs = sync.Pool{New: func() any { return new([readSize]byte) }}

// Len returns the number of octets not yet read.
func (r *fileReader) Len() int { return int(r.left) }

// Read reads the file, and says so if it ends before the message does
// (cut short behind the stage's back): a temporary error, as the stage
// may find it whole when it runs again.
func (r *fileReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	k, err := r.f.ReadAt(p[:min(int64(len(p)), r.left)], r.off)
	r.off += int64(k)
	r.left -= int64(k)
	switch {
	case r.left == 0:
		err = nil
	case err == io.EOF:
		err = r.short()
	case err != nil:
		err = sysexit.Temp(err)
	}
	return k, err
}

func (r *fileReader) short() error {
	return sysexit.Temp(fmt.Errorf("spool: message file ended %d octets short", r.left))
}

// WriteTo writes the rest of the message to w. From the file a spool is
// Backed by, to an *os.File, the kernel copies it (sendfile(2)), so the
// octets never pass through the process: into a pipe they go as
// references to the file's pages, not copies. That is why only that
// file, which stays unchanged, goes so: the spool's own file is written
// over by the next message, while a pipe may still hold pages of it.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if f, ok := w.(*os.File); ok && r.f == r.s.src {
		var done bool
		var err error
		n, done, err = r.sendTo(f)
		if done || err != nil {
			return n, err
		}
	}
	buf := readBufs.Get().(*[readSize]byte)
	defer readBufs.Put(buf)
	for {
		k, err := r.Read(buf[:])
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr == nil && m < k {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Reset empties the spool, keeping its file or memory for reuse. The
// file is written over, not truncated: what lies past Len is never read,
// and overwriting its blocks costs much less than giving them back and
// taking them again for every message.
func (s *Spool) Reset() error {
	s.n, s.size = 0, -1
	s.src, s.ref = nil, false
	s.mem.Reset()
	if s.f != nil {
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			// Writes would land past what Reader reads: start afresh.
			s.f.Close()
			s.f = nil
			return sysexit.Temp(err)
		}
	}
	return nil
}

// InFile reports whether the spool has a temporary file, which it keeps
// from one message to the next until Close.
func (s *Spool) InFile() bool { return s.f != nil }

// Close releases the temporary file, if any.
func (s *Spool) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
