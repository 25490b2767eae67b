package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzWrap: whatever the message, sender, recipient and attribute,
// mlm-wrap writes one record carrying them as given (the message byte
// for byte, less a From_ line with -F), or nothing for an empty message,
// or refuses them (64 or 65) on one line of printable text.
func FuzzWrap(f *testing.F) {
	f.Add("Subject: x\n\nbody\n", "alice@example.org", "bob@example.net", "x-a=1 %", false)
	f.Add("From alice@example.org Sun Nov 29 12:00:00 2026\nSubject: x\r\n\r\nno final LF", "", "<bob@example.net>", "list=dev@lists.example.org", true)
	f.Add("From <> Sun Nov 29\n", "-", "a\nR <mallory@example.net>", "X=1", true)
	f.Add("", "alice@example.org", "bob@example.net", "a=", false)
	f.Fuzz(func(t *testing.T, m, sender, rcpt, attr string, fromLine bool) {
		id := "r1"
		a := &args{Attr: []string{attr}, Rcpt: []string{rcpt}, FromLine: fromLine, ID: &id}
		if sender != "-" {
			a.Sender = &sender
		}
		var out bytes.Buffer
		err := run(a, strings.NewReader(m), &out)
		if mlmtest.Refused(t, sysexit.Report, prog, err, sysexit.DataErr, sysexit.Usage) {
			if out.Len() > 0 {
				t.Fatalf("refused (%v), yet wrote %q", err, out.Bytes())
			}
			return
		}
		if m == "" {
			if out.Len() > 0 {
				t.Fatalf("wrote %q for no message", out.Bytes())
			}
			return
		}
		r := stream.NewReader(&out)
		h, got := mlmtest.Message(t, r)
		want := m
		if fromLine && strings.HasPrefix(m, "From ") {
			_, want, _ = strings.Cut(m, "\n")
		}
		if got != want {
			t.Errorf("message %q; want %q", got, want)
		}
		name, value, _ := strings.Cut(attr, "=") // NAME alone is NAME=
		if h.ID != "r1" || len(h.Attrs) != 1 || h.Attrs[0].Name != name || h.Attrs[0].Value != value {
			t.Errorf("header %+v for -a %q", h, attr)
		}
		if a.Sender != nil && h.Sender.Mailbox != sender {
			t.Errorf("sender %q from -f %q", h.Sender.Mailbox, sender)
		}
		p, err := r.Recipient()
		if err != nil || p.Mailbox != rcpt {
			t.Errorf("recipient %q, %v from -r %q", p.Mailbox, err, rcpt)
		}
		if _, err := r.Recipient(); err != io.EOF {
			t.Errorf("a second recipient: %v", err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("after the record: %v; want the end", err)
		}
	})
}
