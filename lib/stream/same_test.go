package stream

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
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
		switch {
		case (err != nil) != (werr != nil):
			t.Errorf("%q: %v; ParsePath: %v", line, err, werr)
		case err != nil:
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
