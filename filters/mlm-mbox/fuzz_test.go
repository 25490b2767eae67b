package main

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzImport: whatever the input, mlm-mbox writes a valid stream of
// records, or refuses the input as data (65) on one line of printable
// text. (What it wrote before a refusal may end inside a record, which
// the next reader refuses in turn.)
func FuzzImport(f *testing.F) {
	f.Add("From a@example.org Sun Nov 29 12:00:00 2026\nSubject: x\n\nFrom the start\n>From quoted\n\n", false)
	f.Add("From MAILER-DAEMON Sun Nov 29 12:00:00 2026\r\n\r\nFrom <> x\n", true)
	f.Add("not an mbox\n", false)
	f.Add("From a\nx", false)
	f.Fuzz(func(t *testing.T, in string, mboxo bool) {
		a := &args{ID: new("b"), Quoting: "mboxrd"}
		if mboxo {
			a.Quoting = "mboxo"
		}
		var out bytes.Buffer
		err := run(a, strings.NewReader(in), &out)
		if mlmtest.Refused(t, sysexit.Report, prog, err, sysexit.DataErr) {
			return
		}
		r := stream.NewReader(&out)
		if err := r.Each(func(*stream.Header) error { return nil }); err != nil {
			t.Fatalf("%q imported as %q: %v", in, out.Bytes(), err)
		}
	})
}

// fromLine is a line mboxrd quotes: ">" on a line of ">*From ".
var fromLine = regexp.MustCompile(`(?m)^(>*From )`)

// FuzzRoundTrip: messages written as an mboxrd writer writes them come
// back byte for byte, one record each, whatever lines they hold.
func FuzzRoundTrip(f *testing.F) {
	f.Add("Subject: a\n\nFrom here\n>From there\n\n", "From x\n\n\n")
	f.Add("", "\r\n")
	f.Add("x\r\n\r\n", "y")
	f.Fuzz(func(t *testing.T, m1, m2 string) {
		var mbox strings.Builder
		var want []string
		for _, m := range []string{m1, m2} {
			if !strings.HasSuffix(m, "\n") && m != "" {
				m += "\n" // an mbox message ends in a line end
			}
			want = append(want, m)
			mbox.WriteString("From sender@example.org Sun Nov 29 12:00:00 2026\n")
			mbox.WriteString(fromLine.ReplaceAllString(m, ">$1"))
			mbox.WriteString("\n")
		}
		var out bytes.Buffer
		if err := run(&args{ID: new("b"), Quoting: "mboxrd"}, strings.NewReader(mbox.String()), &out); err != nil {
			t.Fatalf("%q: %v", mbox.String(), err)
		}
		r := stream.NewReader(&out)
		for i, m := range want {
			h, got := mlmtest.Message(t, r)
			if got != m || h.Sender.Mailbox != "sender@example.org" {
				t.Errorf("message %d of %q: %q from %q; want %q", i+1, mbox.String(), got, h.Sender.Mailbox, m)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%q: more than %d records (%v)", mbox.String(), len(want), err)
		}
	})
}

// obsFromWritten is m as export writes it: each header line that starts
// "From " and then white space and a colon starts "From:". The header
// ends at the first empty line.
func obsFromWritten(m string) string {
	var b strings.Builder
	for rest := m; rest != ""; {
		line, next := rest, ""
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i+1], rest[i+1:]
		}
		if line == "\n" || line == "\r\n" {
			b.WriteString(rest)
			break
		}
		if tail, ok := strings.CutPrefix(line, "From "); ok {
			if tail = strings.TrimLeft(tail, " \t"); strings.HasPrefix(tail, ":") {
				line = "From" + tail
			}
		}
		b.WriteString(line)
		rest = next
	}
	return b.String()
}

// FuzzExportImport: records exported and imported again, both by
// default (mboxrd), give back their messages byte for byte, CR and
// ">From" lines too; only a last line without an LF gains one. With
// -q mboxo both ways, ">From " at the start of a line comes back as
// "From " (mboxo's own loss), and nothing else changes.
func FuzzExportImport(f *testing.F) {
	f.Add("Subject: a\n\nFrom here\n>From there\n>>From deep\n", "From x", false)
	f.Add("", "\r\n", false)
	f.Add("x\r\n\r\n>From y\r\n", "\n\n", true)
	f.Add(">", ">Fr", false)
	f.Add("From : a\nFrom \t :b\r\n\r\nFrom : c\n", "X: y\nFrom :", true)
	f.Add("no field\nFrom : a\n\nFrom : b\n", "From : a\nno field\n", false)
	f.Fuzz(func(t *testing.T, m1, m2 string, mboxo bool) {
		style := "mboxrd"
		if mboxo {
			style = "mboxo"
		}
		var in bytes.Buffer
		w := stream.NewWriter(&in)
		for i, m := range []string{m1, m2} {
			h := &stream.Header{ID: "r" + strconv.Itoa(i), Attrs: []stream.Attr{{Name: "received", Value: "1795867200"}}, Sender: stream.Path{Mailbox: "sender@example.org"}}
			if err := w.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, m)
			if err := w.End(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var mbox, out bytes.Buffer
		if err := run(&args{Export: true, Quoting: style}, &in, &mbox); err != nil {
			t.Fatalf("export of %q, %q: %v", m1, m2, err)
		}
		if err := run(&args{ID: new("b"), Quoting: style}, bytes.NewReader(mbox.Bytes()), &out); err != nil {
			t.Fatalf("import of %q: %v", mbox.Bytes(), err)
		}
		r := stream.NewReader(&out)
		for i, m := range []string{m1, m2} {
			if m != "" && !strings.HasSuffix(m, "\n") {
				m += "\n"
			}
			if mboxo {
				m = unquoteRE["mboxo"].ReplaceAllString(m, "$1")
			}
			if _, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(m)), msg.MaxHeader); err == nil {
				m = obsFromWritten(m) // (in a header that parses only)
			}
			h, got := mlmtest.Message(t, r)
			if got != m || h.Sender.Mailbox != "sender@example.org" {
				t.Errorf("message %d of %q: %q from %q; want %q", i+1, mbox.Bytes(), got, h.Sender.Mailbox, m)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%q: more than 2 records (%v)", mbox.Bytes(), err)
		}
	})
}
