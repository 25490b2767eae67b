package smtpsink

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mlm/lib/ascii"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzCheckPath: whatever address go-smtp hands over from MAIL or RCPT,
// the sink either refuses it with a 553 (or SMTPUTF8's) on one line of
// text, or keeps a path the stream takes as it is, ASCII unless
// SMTPUTF8 was given, which is the address sent: the same domain, and
// the same local part once a quoted one is unquoted.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a@b.example", "a b@x.example", `a"b\c@x.example`, "ü@x.example",
		"", "@x.example", "a@[127.0.0.1]", "a@b@c.example", "a\r\n@x.example", `"a"@x.example`} {
		f.Add(s, true, true)
		f.Add(s, false, false)
	}
	f.Fuzz(func(t *testing.T, raw string, utf8ok, sender bool) {
		p, err := checkPath(raw, utf8ok, sender)
		if err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) || (se.Code != 553) || strings.ContainsFunc(se.Message, sysexit.IsControl) {
				t.Fatalf("%q refused with %#v", raw, err)
			}
			return
		}
		if raw == "" {
			if !sender || p.Mailbox != "" || p.Params != nil {
				t.Fatalf("empty address kept as %#v (sender %v)", p, sender)
			}
			return
		}
		q, err := stream.ParsePath(p.String(), sender)
		if err != nil || q.Mailbox != p.Mailbox {
			t.Fatalf("%q kept as %q, which the stream reads as %q, %v", raw, p.Mailbox, q.Mailbox, err)
		}
		if !utf8ok && !ascii.Is(p.Mailbox) {
			t.Fatalf("%q kept without SMTPUTF8", raw)
		}
		local, domain := p.Mailbox[:strings.LastIndexByte(p.Mailbox, '@')], p.Mailbox[strings.LastIndexByte(p.Mailbox, '@'):]
		if strings.HasPrefix(local, `"`) {
			var b strings.Builder
			for i := 1; i < len(local)-1; i++ {
				if local[i] == '\\' {
					i++
				}
				b.WriteByte(local[i])
			}
			local = b.String()
		}
		if local+domain != raw {
			t.Fatalf("%q kept as %q", raw, p.Mailbox)
		}
	})
}
