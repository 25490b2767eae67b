package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/sysexit"
)

// TestSameEnvelope: a record whose A and S lines are the very octets of
// a record's before (Next takes them as one, see envBlock) reads as any
// other, whatever came between, wherever the reads cut the input, and
// whatever the caller did to the Headers before it: its attributes, its
// sender and its parameters, the line count and the offset, and what a
// Writer writes of it.
func TestSameEnvelope(t *testing.T) {
	senders := []Path{{Mailbox: "a@x.example"}, {Mailbox: "b@x.example", Params: []string{"SMTPUTF8"}}, {}}
	attrs := [][]Attr{{{Name: "list", Value: "l@x.example"}, {Name: "state", Value: "new"}},
		{{Name: "list", Value: "l@x.example"}, {Name: "state", Value: "new"}, {Name: "trace", Value: "t:1"}},
		{{Name: "list", Value: "l@x.example"}}, nil}
	var in []byte
	var want []Header
	var lines, offsets []int64
	for i := range 300 {
		// Runs of the same lines, of the same attributes with another
		// sender, and back to lines kept before.
		h := Header{ID: fmt.Sprintf("r%d", i), Attrs: attrs[(i/3+i/17)%len(attrs)], Sender: senders[(i/5)%len(senders)]}
		rec := refEncode(&h, bytes.Repeat([]byte("body\n"), i%40), testRcpts)
		start := bytes.Index(rec, []byte("\nS ")) + 1
		end := start + bytes.IndexByte(rec[start:], '\n') + 1
		lines = append(lines, int64(bytes.Count(in, []byte("\n"))+bytes.Count(rec[:end], []byte("\n"))))
		offsets = append(offsets, int64(len(in)+end))
		want = append(want, h)
		in = append(in, rec...)
	}
	bad := append(slices.Clip(in), "MLM1 last\nA list=l@x.example\nA state=new\nS <a@x.example>\nX\n"...)
	badLine := int64(bytes.Count(bad, []byte("\n")))
	for _, chunk := range []int{7, 100, 4093, len(in)} {
		for _, reuse := range []bool{false, true} {
			what := fmt.Sprintf("reads of %d, ReuseHeader %v", chunk, reuse)
			r := NewReader(&chunked{bad, chunk})
			if reuse {
				r.ReuseHeader()
			}
			var out bytes.Buffer
			w := NewWriter(&out)
			i := 0
			err := r.Each(func(h *Header) error {
				if i == len(want) {
					return nil // the bad one: read, to its error
				}
				wh := &want[i]
				switch {
				case h.ID != wh.ID || !slices.EqualFunc(h.Attrs, wh.Attrs, func(a, b Attr) bool { return a.Name == b.Name && a.Value == b.Value }):
					t.Fatalf("%s: record %d: %q %v; want %q %v", what, i, h.ID, h.Attrs, wh.ID, wh.Attrs)
				case h.Sender.Mailbox != wh.Sender.Mailbox || !slices.Equal(h.Sender.Params, wh.Sender.Params):
					t.Fatalf("%s: record %d: sender %v; want %v", what, i, h.Sender, wh.Sender)
				case r.Line() != lines[i] || r.Offset() != offsets[i]:
					t.Fatalf("%s: record %d: line %d, offset %d; want %d, %d", what, i, r.Line(), r.Offset(), lines[i], offsets[i])
				}
				if err := CopyRecord(w, r, h); err != nil {
					return err
				}
				// What a caller may do to its Header once done with it.
				for k := range h.Attrs {
					h.Attrs[k].Value = "changed"
				}
				if len(h.Sender.Params) > 0 {
					h.Sender.Params[0] = "BODY=8BITMIME"
				}
				i++
				return nil
			})
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != badLine {
				t.Fatalf("%s: error %v; want one at line %d", what, err, badLine)
			}
			if i != len(want) {
				t.Fatalf("%s: %d records read; want %d", what, i, len(want))
			}
			w.Flush()
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("%s: %d octets in, %d passed on, not the same", what, len(in), out.Len())
			}
		}
	}
}

// TestRecipientLines: a recipient line reads as ParsePath reads what
// follows "R ", refused or not, and the Path read writes back as the
// line came, whether its mailbox is plain (one pass, see addr.Plain) or
// not.
func TestRecipientLines(t *testing.T) {
	for _, line := range []string{
		"R <a@b>", "R <bob.smith+x@mail-1.example.org>", "R <a@bc", "R <a@b>x", "R <a@b> NOTIFY=NEVER",
		"R <a@b> ", "R  <a@b>", "R <a..b@x>", "R <a@b>>", "R <a@b\t>", "R <a@b\x01>", "R <>", "R <ü@ü.de>",
		`R <"a b"@x>`, "R <a@[1.2.3.4]>", "R <a@-b>", "R <a@b.>", "R <@b>", "R <a@>", "R a@b", "R <a@b> X",
	} {
		in := "MLM1 x\nS <>\n" + line + "\nE 1\n"
		want, werr := ParsePath(line[2:], false)
		r := NewReader(strings.NewReader(in))
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		p, err := r.Recipient()
		var se *SyntaxError
		switch {
		case (err != nil) != (werr != nil):
			t.Errorf("%q: %v; ParsePath: %v", line, err, werr)
		case err != nil && (!errors.As(err, &se) || se.Line != 3):
			t.Errorf("%q: %v; want a syntax error at line 3", line, err)
		case err != nil:
		case r.Line() != 3:
			t.Errorf("%q: Line() %d after it; want 3", line, r.Line())
		case p.Mailbox != want.Mailbox || !slices.Equal(p.Params, want.Params) || p.line != line[2:]:
			t.Errorf("%q: %q %q (line %q); want %q %q", line, p.Mailbox, p.Params, p.line, want.Mailbox, want.Params)
		default:
			var out bytes.Buffer
			w := NewWriter(&out)
			w.WriteHeader(&Header{ID: "x"})
			w.Recipient(p)
			w.End()
			if err := w.Flush(); err != nil || out.String() != in {
				t.Errorf("%q: written as %q, %v", line, out.String(), err)
			}
		}
	}
}

// TestRecipientsMax: the record's last recipient line may be one, plain
// or not, but no more: MaxCount holds on either path.
func TestRecipientsMax(t *testing.T) {
	for _, line := range []string{"R <a@b>", "R <\"a b\"@x>"} {
		r := NewReader(strings.NewReader("MLM1 x\nS <>\n" + line + "\n" + line + "\n"))
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		r.nr = MaxCount - 1
		if _, err := r.Recipient(); err != nil {
			t.Fatalf("%q: the last recipient one may have: %v", line, err)
		}
		_, err := r.Recipient()
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 4 || !strings.Contains(se.Msg, "more than") {
			t.Errorf("%q: one recipient too many read with %v; want the error at line 4", line, err)
		}
	}
}

// FuzzSameEnvelope: records whose envelope lines come again (Next takes
// them as one block, see envBlock) read in one stream as each reads
// alone, from a Reader that has kept nothing: the same Header, line,
// offset and octets passed on, or the same error at the same line;
// wherever the reads cut the stream, with ReuseHeader or not, and
// whatever the caller did to the Headers before.
func FuzzSameEnvelope(f *testing.F) {
	f.Add([]byte("A list=l@x.example\nA state=new\nS <a@x.example>\n"), []byte("A list=l@x.example\nS <b@x.example> SMTPUTF8\n"), uint8(0x5a), uint16(7))
	f.Add([]byte("A list=l@x.example\nS <a@x.example>\n"), []byte("A list=l@x.example\nS <a@x.example>\nS <>\n"), uint8(0xf0), uint16(100))
	f.Add([]byte("S <>\n"), []byte("A x=%41\nS <\xc3\xbc@x.example>\n"), uint8(0x33), uint16(1))
	f.Add([]byte("A a=1\nA b=2\nA c=3\nA d=4\nA e=5\nA f=6\nA g=7\nA h=8\nA i=9\nS <a@b>\n"), []byte("A a=1\nS <a@b>\n"), uint8(0x0f), uint16(30))
	many := strings.Repeat("A a=1\n", 17) + "S <a@b>\n" // more than maxEnvAttrs
	f.Add([]byte(many), []byte(many+"A late=1\n"), uint8(0x6c), uint16(4093))
	long := "A x=" + strings.Repeat("y", maxBlock) + "\nS <a@b>\n" // more than maxBlock
	f.Add([]byte(long), []byte("S <a@b>\n"), uint8(0x39), uint16(500))
	f.Fuzz(func(t *testing.T, env1, env2 []byte, pattern uint8, chunk uint16) {
		for _, env := range [][]byte{env1, env2} {
			// Envelope lines only: anything else would make records
			// of its own, and the two readings could not be matched.
			for l := range bytes.Lines(env) {
				if len(l) < 2 || l[len(l)-1] != '\n' || l[0] != 'A' && l[0] != 'S' {
					t.Skip()
				}
			}
		}
		type read struct {
			h            Header
			line, offset int64
			read         bool // Next gave h
			out          []byte
			err          error
		}
		const n = 8
		var recs [n][]byte
		var alone [n]read
		for i := range n {
			recs[i] = fmt.Appendf(nil, "MLM1 r%d\n%s:body %d\nR <a@b>\nE 1\n", i, [][]byte{env1, env2}[pattern>>i&1], i)
			a := &alone[i]
			r := NewReader(bytes.NewReader(recs[i]))
			h, err := r.Next()
			if err == nil {
				a.read, a.h, a.line, a.offset = true, *h, r.Line(), r.Offset()
				a.h.Attrs = slices.Clone(h.Attrs)
				a.h.Sender.Params = slices.Clone(h.Sender.Params)
				var out bytes.Buffer
				w := NewWriter(&out)
				if err = CopyRecord(w, r, h); err == nil {
					err = w.Flush()
				}
				a.out = out.Bytes()
			}
			if err == nil {
				_, err = r.Next()
				if err == io.EOF {
					err = nil
				}
			}
			a.err = err
		}
		all := bytes.Join(recs[:], nil)
		for _, c := range []struct {
			reads int
			reuse bool
		}{{int(chunk)%len(all) + 1, false}, {int(chunk)%len(all) + 1, true}, {len(all), false}, {len(all), true}} {
			r := NewReader(&chunked{all, c.reads})
			if c.reuse {
				r.ReuseHeader()
			}
			var lines, offset int64 // of the records before
			i := 0
			var out bytes.Buffer
			err := r.Each(func(h *Header) error {
				a := &alone[i]
				switch {
				case !a.read:
					t.Fatalf("record %d read; alone: %v", i, a.err)
				case h.ID != a.h.ID || !slices.EqualFunc(h.Attrs, a.h.Attrs, func(x, y Attr) bool { return x.Name == y.Name && x.Value == y.Value }):
					t.Fatalf("record %d: %q %v; alone %q %v", i, h.ID, h.Attrs, a.h.ID, a.h.Attrs)
				case h.Sender.Mailbox != a.h.Sender.Mailbox || !slices.Equal(h.Sender.Params, a.h.Sender.Params):
					t.Fatalf("record %d: sender %v; alone %v", i, h.Sender, a.h.Sender)
				case r.Line() != lines+a.line || r.Offset() != offset+a.offset:
					t.Fatalf("record %d: line %d, offset %d; alone %d, %d after %d, %d", i, r.Line(), r.Offset(), a.line, a.offset, lines, offset)
				}
				out.Reset()
				w := NewWriter(&out)
				if err := CopyRecord(w, r, h); err != nil {
					return err
				}
				w.Flush()
				if !bytes.Equal(out.Bytes(), a.out) {
					t.Fatalf("record %d passed on as %q; alone %q", i, out.Bytes(), a.out)
				}
				// What a caller may do to its Header once done with it.
				for k := range h.Attrs {
					h.Attrs[k].Value = "changed"
				}
				for k := range h.Sender.Params {
					h.Sender.Params[k] = "BODY=8BITMIME"
				}
				lines += int64(bytes.Count(recs[i], []byte("\n")))
				offset += int64(len(recs[i]))
				i++
				return nil
			})
			if i < n && alone[i].err == nil || i == n && err != nil {
				t.Fatalf("reads of %d, ReuseHeader %v: %d records read, then %v", c.reads, c.reuse, i, err)
			}
			if i == n {
				continue
			}
			var se, ae *SyntaxError
			switch {
			case !errors.As(err, &se) || !errors.As(alone[i].err, &ae):
				t.Fatalf("record %d: %v; alone %v", i, err, alone[i].err)
			case se.Line != lines+ae.Line || se.Msg != ae.Msg:
				t.Fatalf("record %d: %v; alone %v after %d lines", i, err, alone[i].err, lines)
			}
		}
	})
}

// TestMaxAttrs: a record of MaxAttrs attribute lines reads, and one of
// more is refused at the line past them, whole in the buffer or not, so
// a record of millions (2,000,000 lines took 435 MB) does not sit in
// memory. (From a review.)
func TestMaxAttrs(t *testing.T) {
	for _, n := range []int{MaxAttrs, MaxAttrs + 1} {
		in := "MLM1 x\n" + strings.Repeat("A a=1\n", n) + "S <>\n:x\nE 0\n"
		for _, chunk := range []int{7, len(in)} {
			r := NewReader(&chunked{[]byte(in), chunk})
			h, err := r.Next()
			var se *SyntaxError
			switch {
			case n == MaxAttrs && (err != nil || len(h.Attrs) != n):
				t.Errorf("%d attributes, reads of %d: %v", n, chunk, err)
			case n > MaxAttrs && (!errors.As(err, &se) || se.Line != int64(MaxAttrs+2)):
				t.Errorf("%d attributes, reads of %d: %v; want an error at line %d", n, chunk, err, MaxAttrs+2)
			}
		}
	}
}

// TestWriterMaxAttrs: a Writer writes no more attribute lines to a
// record than a Reader takes: the stage that would add one past
// MaxAttrs fails, EX_DATAERR, not the stage after it. A record read with
// MaxAttrs and passed on as read is written whole, the lines as read
// counting as its attributes.
func TestWriterMaxAttrs(t *testing.T) {
	in := "MLM1 x\n" + strings.Repeat("A a=1\n", MaxAttrs) + "S <>\n:x\nE 0\n"
	for _, reuse := range []bool{false, true} {
		r := NewReader(strings.NewReader(in + in))
		if reuse {
			r.ReuseHeader()
		}
		var out bytes.Buffer
		w := NewWriter(&out)
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := CopyRecord(w, r, h); err != nil {
			t.Fatalf("reuse %v: a record of %d attributes: %v", reuse, MaxAttrs, err)
		}
		w.Flush()
		if out.String() != in {
			t.Errorf("reuse %v: written %d octets; want the record as read", reuse, out.Len())
		}
		if h, err = r.Next(); err != nil {
			t.Fatal(err)
		}
		h.Attrs = append(h.Attrs, Attr{Name: "trace", Value: "stage:1"})
		if err := w.WriteHeader(h); sysexit.Code(err) != sysexit.DataErr || !strings.Contains(fmt.Sprint(err), "more than 1000 attribute lines") {
			t.Errorf("reuse %v: one attribute more: %v; want a data error", reuse, err)
		}
	}
	w := NewWriter(io.Discard)
	w.Begin("y")
	for i := range MaxAttrs {
		if err := w.Attr("x-n", strconv.Itoa(i)); err != nil {
			t.Fatalf("attribute %d: %v", i+1, err)
		}
	}
	if err := w.Attr("x-n", "last"); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("attribute %d: %v; want a data error", MaxAttrs+1, err)
	}
}

// TestSkipRecipients: the recipients a caller leaves unread are checked
// by Next as it goes on (a count that differs is refused at its line)
// without their Paths being made; and the next record's are read as
// ever, Paths and all.
func TestSkipRecipients(t *testing.T) {
	in := "MLM1 a\nS <>\n:x\nR <a@b.example>\nR <\"q r\"@b.example>\nE 2\n" +
		"MLM1 b\nS <>\nR <c@d.example>\nE 1\n" +
		"MLM1 c\nS <>\nR <e@f.example>\nR <g@h.example>\nE 1\n"
	r := NewReader(strings.NewReader(in))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil { // a's left unread
		t.Fatal(err)
	}
	if p, err := r.Recipient(); err != nil || p.Mailbox != "c@d.example" || p.String() != "<c@d.example>" {
		t.Fatalf("b's recipient after a's were skipped: %q, %v", p.Mailbox, err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	var se *SyntaxError
	if _, err := r.Next(); !errors.As(err, &se) || se.Line != 15 || !strings.Contains(se.Msg, "count 1, but 2") {
		t.Errorf("c's count, its recipients skipped: %v; want the error at line 15", err)
	}
}
