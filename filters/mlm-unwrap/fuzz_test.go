package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzUnwrap: whatever stream mlm-unwrap reads, a good one gives the
// messages it carries, byte for byte, one after another, or with -d one
// file each, or with -e its envelopes, one item a line, each line read
// back (an attribute's value unescaped, a path parsed) as the record
// has it: no value makes a line of its own. A stream that is not good
// is 65.
func FuzzUnwrap(f *testing.F) {
	f.Add("MLM1 x\nA list=dev@lists.example.org\nA x-note=a%20b%0Ac\nS <a@example.org> BODY=8BITMIME\n:Subject: x\n:\n;no end\nR <b@example.org> NOTIFY=NEVER\nE 1\n")
	f.Add("MLM1 x\nS <>\n:\x00\r\nE 0\nMLM1 y\nS <\"q r\"@example.org>\n:y\nR <c@example.org>\nR <d@example.org>\nE 2\n")
	f.Add("MLM1 x\nS <>\n:a\nE 1\n")
	f.Add("MLM1 x\nS <>\n:a\nE 0\nMLM1 x\nS <>\n:b\nE 0\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		var recs []rec
		r := stream.NewReader(strings.NewReader(in))
		rerr := r.Each(func(h *stream.Header) error {
			m, err := io.ReadAll(r.Message())
			if err != nil {
				return err
			}
			x := rec{h: *h, msg: string(m)}
			x.h.Attrs = append([]stream.Attr(nil), h.Attrs...)
			err = r.EachRecipient(func(p stream.Path) error { x.rcpts = append(x.rcpts, p); return nil })
			recs = append(recs, x)
			return err
		})
		check := func(what string, err error) bool {
			t.Helper()
			if rerr != nil {
				if sysexit.Code(err) != sysexit.DataErr {
					t.Fatalf("%s of %q: %v (%d); want 65 (%v)", what, in, err, sysexit.Code(err), rerr)
				}
				return false
			}
			if err != nil {
				t.Fatalf("%s of %q: %v", what, in, err)
			}
			return true
		}
		// The messages.
		var out bytes.Buffer
		if check("messages", run(&args{}, strings.NewReader(in), &out)) {
			var want strings.Builder
			for _, x := range recs {
				want.WriteString(x.msg)
			}
			if out.String() != want.String() {
				t.Errorf("messages of %q = %q; want %q", in, out.String(), want.String())
			}
		}
		// To files: one each, but for an id of a file there already
		// that holds another message, or "." or "..": 65, no file.
		dir := t.TempDir()
		err := run(&args{Dir: &dir}, strings.NewReader(in), io.Discard)
		msgs, refused := map[string]string{}, false
		for _, x := range recs {
			if m, ok := msgs[x.h.ID]; ok && m != x.msg || x.h.ID == "." || x.h.ID == ".." {
				refused = true
				break
			}
			msgs[x.h.ID] = x.msg
		}
		if rerr == nil && refused {
			if sysexit.Code(err) != sysexit.DataErr {
				t.Errorf("-d of %q: %v (%d); want 65", in, err, sysexit.Code(err))
			}
		} else if check("-d", err) {
			for id, m := range msgs {
				if b, err := os.ReadFile(filepath.Join(dir, id)); err != nil || string(b) != m {
					t.Errorf("-d of %q: %s holds %q, %v; want %q", in, id, b, err, m)
				}
			}
		}
		// The envelopes.
		out.Reset()
		if !check("-e", run(&args{Envelope: true}, strings.NewReader(in), &out)) {
			return
		}
		lines := strings.Split(out.String(), "\n")
		if lines[len(lines)-1] != "" {
			t.Fatalf("-e of %q: %q ends in no line end", in, out.String())
		}
		lines = lines[:len(lines)-1]
		next := func(id, kind string) string {
			t.Helper()
			if len(lines) == 0 || !strings.HasPrefix(lines[0], id+" "+kind+" ") {
				t.Fatalf("-e of %q: %q; want %q %s next", in, out.String(), id, kind)
			}
			l := lines[0][len(id+" "+kind+" "):]
			lines = lines[1:]
			return l
		}
		for _, x := range recs {
			for _, a := range x.h.Attrs {
				n, v, _ := strings.Cut(next(x.h.ID, "attr"), "=")
				if u, err := stream.UnescapeValue(v); n != a.Name || err != nil || u != a.Value {
					t.Errorf("-e of %q: attribute %q=%q, %v; want %q=%q", in, n, u, err, a.Name, a.Value)
				}
			}
			if p, err := stream.ParsePath(next(x.h.ID, "sender"), true); err != nil || p.String() != x.h.Sender.String() {
				t.Errorf("-e of %q: sender %v, %v; want %v", in, p, err, x.h.Sender)
			}
			if s := next(x.h.ID, "size"); s != strconv.Itoa(len(x.msg)) {
				t.Errorf("-e of %q: size %s; want %d", in, s, len(x.msg))
			}
			for _, rc := range x.rcpts {
				if p, err := stream.ParsePath(next(x.h.ID, "rcpt"), false); err != nil || p.String() != rc.String() {
					t.Errorf("-e of %q: rcpt %v, %v; want %v", in, p, err, rc)
				}
			}
			if c := next(x.h.ID, "count"); c != strconv.Itoa(len(x.rcpts)) {
				t.Errorf("-e of %q: count %s; want %d", in, c, len(x.rcpts))
			}
		}
		if len(lines) > 0 {
			t.Errorf("-e of %q: lines left over %q", in, lines)
		}
	})
}

// rec is a record as read.
type rec struct {
	h     stream.Header
	msg   string
	rcpts []stream.Path
}
