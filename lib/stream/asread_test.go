package stream

import (
	"bytes"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// This file holds WriteHeader's lines as read (asRead) to writing the
// same fields afresh: whatever a caller does to a Header, whenever it
// writes it, the octets and the refusals are the same.

// chunked gives its octets n at a time.
type chunked struct {
	s []byte
	n int
}

func (c *chunked) Read(b []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), c.n)], c.s)
	c.s = c.s[k:]
	return k, nil
}

// fileChunked is chunked saying it reads a regular file, as a Reader
// asks before it reads in larger pieces (see bufMax).
type fileChunked struct{ chunked }

func (*fileChunked) Stat() (fs.FileInfo, error) { return regularInfo{}, nil }

// regularInfo is a regular file's mode, and nothing else.
type regularInfo struct{ fs.FileInfo }

func (regularInfo) Mode() fs.FileMode { return 0 }

// writeBoth writes h with WriteHeader as is, and a copy of its fields
// with no Reader behind it, and fails on a difference.
func writeBoth(t *testing.T, what string, h *Header) {
	t.Helper()
	ref := &Header{ID: h.ID, Attrs: append([]Attr(nil), h.Attrs...), Sender: h.Sender}
	var a, b bytes.Buffer
	wa, wb := NewWriter(&a), NewWriter(&b)
	ea, eb := wa.WriteHeader(h), wb.WriteHeader(ref)
	wa.Flush()
	wb.Flush()
	if (ea == nil) != (eb == nil) || (ea == nil && a.String() != b.String()) {
		t.Fatalf("%s: raw path %q, %v; from the fields %q, %v", what, a.String(), ea, b.String(), eb)
	}
}

// edit changes h as op says, from strings of pool (earlier records').
func edit(h *Header, op byte, pool []Header) {
	n := len(h.Attrs)
	i := int(op>>4) % (n + 1)
	switch op % 12 {
	case 1:
		h.ID = strings.Clone(h.ID)
	case 2:
		if i < n {
			h.Attrs = append(h.Attrs[:i:i], h.Attrs[i+1:]...)
		}
	case 3:
		h.Attrs = append(h.Attrs[:i:i], append([]Attr{{Name: "z", Value: "q"}}, h.Attrs[i:]...)...)
	case 4:
		if i < n {
			h.Attrs[i].Value = strings.Clone(h.Attrs[i].Value) + "x"
		}
	case 5:
		if i+1 < n {
			h.Attrs[i], h.Attrs[i+1] = h.Attrs[i+1], h.Attrs[i]
		}
	case 6:
		if len(pool) > 0 {
			h.Sender = pool[len(pool)-1].Sender
		}
	case 7:
		if len(pool) > 0 {
			p := pool[len(pool)-1]
			if i < len(p.Attrs) && i < n {
				h.Attrs[i] = p.Attrs[i]
			}
		}
	case 8:
		h.Sender.Params = append(h.Sender.Params[:len(h.Sender.Params):len(h.Sender.Params)], "RET=FULL")
	case 9:
		h.Attrs = h.Attrs[:i]
	case 10:
		if len(pool) > 0 {
			p := pool[len(pool)-1]
			h.Attrs = append([]Attr(nil), p.Attrs...)
			h.ID = p.ID
		}
	case 11:
		h.Sender = Path{Mailbox: strings.Clone(h.Sender.Mailbox)}
	}
}

// checkAsRead reads s chunk octets at a time (all at once from 200),
// edits each Header as ops say, and writes it both ways: edited, a copy
// edited, after part of its message, after its recipients, and again
// later, up to three records on (without ReuseHeader).
func checkAsRead(t *testing.T, s []byte, ops []byte, chunk uint8, reuse bool) {
	n := int(chunk)%64 + 1
	if chunk >= 200 {
		n = len(s) + 1
	}
	checkAsReadN(t, NewReader(&chunked{s, n}), ops, reuse)
}

func checkAsReadN(t *testing.T, r *Reader, ops []byte, reuse bool) {
	if reuse {
		r.ReuseHeader()
	}
	var pool []Header // copies of earlier headers
	for rec := 0; ; rec++ {
		h, err := r.Next()
		if err != nil {
			return
		}
		var op byte
		if len(ops) > 0 {
			op, ops = ops[0], ops[1:]
		}
		// Earlier headers, written now.
		for _, p := range pool {
			p := p
			writeBoth(t, "earlier header "+p.ID, &p)
		}
		cp := *h
		cp.Attrs = append([]Attr(nil), h.Attrs...)
		edit(&cp, op, pool)
		writeBoth(t, "edited copy", &cp)
		edit(h, op, pool)
		writeBoth(t, "edited", h)
		// After some of the message.
		buf := make([]byte, int(op)*7)
		io.ReadFull(r.Message(), buf)
		writeBoth(t, "after part of the message", h)
		for {
			if _, err := r.Recipient(); err != nil {
				break
			}
		}
		writeBoth(t, "after the record", h)
		// A copy, its slices its own: with ReuseHeader, Next
		// overwrites h's.
		c := *h
		c.Attrs = slices.Clone(h.Attrs)
		c.Sender.Params = slices.Clone(h.Sender.Params)
		pool = append(pool, c)
		if len(pool) > 3 {
			pool = pool[1:]
		}
	}
}

// FuzzAsRead: checkAsRead on any input and edits.
func FuzzAsRead(f *testing.F) {
	f.Add([]byte("MLM1 a\nA list=l@x.example\nA note=one%20two\nA state=new\nS <p@x.example>\n:m\nR <r@y.example>\nE 1\n"+
		"MLM1 b\nA list=l@x.example\nA note=one%20two\nS <p@x.example>\nE 0\n"+
		"MLM1 c\nA list=l@x.example\nA note=three\nS <q@x.example> RET=HDRS\n:n\nE 0\n"+
		"MLM1 d\nA list=l@x.example\nA note=three\nS <q@x.example>\n:n\nE 0\n"), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, uint8(200), false)
	f.Add([]byte("MLM1 a\nA a=\nA b=\nA c=%20\nS <>\nE 0\nMLM1 b\nA a=\nA b=\nS <>\nE 0\n"), []byte{0x17, 0x22, 0x34}, uint8(3), true)
	f.Fuzz(func(t *testing.T, s, ops []byte, chunk uint8, reuse bool) {
		checkAsRead(t, s, ops, chunk, reuse)
	})
}

// TestAsReadBig: large envelopes across the Reader's buffer, edited and
// not, written both ways.
func TestAsReadBig(t *testing.T) {
	var in bytes.Buffer
	w := NewWriter(&in)
	seed := uint32(1)
	rnd := func(n int) int { seed = seed*1664525 + 1013904223; return int(seed>>8) % n }
	for i := 0; i < 24; i++ {
		h := &Header{ID: "r" + strings.Repeat("x", rnd(200))}
		for j := rnd(20); j > 0; j-- {
			h.Attrs = append(h.Attrs, Attr{Name: "a" + string(rune('a'+rnd(3))), Value: strings.Repeat("v", rnd(3)*rnd(30000))})
		}
		if rnd(2) == 0 {
			h.Sender = Path{Mailbox: "s@x.example"}
		}
		w.WriteHeader(h)
		w.Write(bytes.Repeat([]byte("m"), rnd(3)*rnd(40000)))
		w.End()
	}
	w.Flush()
	ops, sizes := []int{0, 51, 102, 153, 204, 255}, []int{1 << 20, 70000, 4096}
	if raceEnabled {
		ops, sizes = []int{0, 153}, []int{70000}
	}
	for _, reuse := range []bool{false, true} {
		for _, op := range ops {
			for _, n := range sizes {
				ops := bytes.Repeat([]byte{byte(op), byte(op * 3), byte(op + 5)}, 100)
				checkAsReadN(t, NewReader(&chunked{in.Bytes(), n}), ops, reuse)
				// Read as a file: the buffer grows under the headers.
				checkAsReadN(t, NewReader(&fileChunked{chunked{in.Bytes(), n}}), ops, reuse)
			}
		}
	}
}
