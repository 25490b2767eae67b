package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"mlm/lib/addr"
	"mlm/lib/envelope"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzAccept: whatever the MTA gives (message, SENDER, RECIPIENT),
// mlm-accept writes one record that carries the message byte for byte
// (less an mbox From_ line) from the sender given (its local part quoted
// where the MTA gave it without the quotes it needs) and to the
// recipient given, or refuses it with a permanent status on one line of
// printable text; it never fails otherwise and never cleans a bad
// address into a good one.
func FuzzAccept(f *testing.F) {
	f.Add("Subject: x\n\nbody\n", "alice@example.org", "dev@lists.example.org")
	f.Add("From alice@example.org Sun Nov 29 12:00:00 2026\nSubject: x\r\n\r\nno final LF", "", "dev-subscribe@lists.example.org")
	f.Add("x", "a\nR <mallory@example.net>", "dev@lists.example.org")
	f.Add("", "alice@example.org", "other@example.net")
	f.Add("x\n", "#@[]", "")
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n"})
	f.Fuzz(func(t *testing.T, m, sender, rcpt string) {
		var out bytes.Buffer
		env := envelope.FromEnv(func(name string) (string, bool) {
			switch name {
			case "SENDER":
				return sender, true
			case "RECIPIENT":
				return rcpt, true
			}
			return "", false
		})
		err := run(&args{Output: ptr("-"), Dir: dir}, env, strings.NewReader(m), &out, time.Unix(1764417600, 0))
		commitMu.TryLock() // taken for good by a commit, once a process
		commitMu.Unlock()
		if mlmtest.Refused(t, sysexit.ReportDSN, prog, err, sysexit.DataErr, sysexit.NoUser) {
			if out.Len() > 0 {
				t.Fatalf("refused (%v), yet wrote %q", err, out.Bytes())
			}
			return
		}
		r := stream.NewReader(&out)
		h, got := mlmtest.Message(t, r)
		want := m
		if strings.HasPrefix(m, "From ") {
			_, want, _ = strings.Cut(m, "\n")
		}
		if got != want {
			t.Errorf("message %q; want %q", got, want)
		}
		// As given, but for qmail's null sender, and a local part
		// qmail and Exim hand over without its quotes ("john
		// smith@example.org"), quoted again.
		if h.Sender.Mailbox != sender && !(sender == "#@[]" && h.Sender.Mailbox == "") && h.Sender.Mailbox != addr.Quoted(sender) {
			t.Errorf("sender %q from SENDER %q", h.Sender.Mailbox, sender)
		}
		if v, _ := h.Get("orig-rcpt"); v != rcpt && !(rcpt == "" && v == "dev@lists.example.org") {
			t.Errorf("orig-rcpt %q from RECIPIENT %q", v, rcpt)
		}
		if _, err := r.Recipient(); err != io.EOF {
			t.Errorf("recipients: %v; want none", err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("after the record: %v; want the end", err)
		}
	})
}
