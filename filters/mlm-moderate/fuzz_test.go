package main

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"mlm/lib/cookie"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/notice"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzMail: whatever a reply to a hold notice holds (mail from anyone:
// its orig-rcpt, sender, received time and message), mlm-moderate mail
// settles the held post only for a cookie that is the post's and
// action's and valid when the answer came, from a sender that is not
// the null one, in a message whose header reads and is not automatic
// (notice.IsAutomatic, and, read here on its own, no Auto-Submitted
// other than "no" and no List-Id among the header's first fields); it
// then exits 0, the post approved (to incoming) or rejected (its
// poster told). Anything else is refused, 77, with one line on standard
// error, and the post stays held, nothing queued.
func FuzzMail(f *testing.F) {
	key := []byte("0123456789abcdef") // heldList's secret
	const list = "dev@lists.example.org"
	tok := func(action string) string {
		return cookie.Make(key, action, list, "h1", testNow.Add(7*24*time.Hour))
	}
	rcpt := func(action string) string { return "dev-" + action + "+" + tok(action) + "@lists.example.org" }
	now := testNow.Unix()
	f.Add(rcpt("accept"), "mod@example.org", now, "Subject: Re: held\n\nok\n")
	f.Add(rcpt("reject"), "mod@example.org", now-3600, "Subject: Re: held\r\n\r\nok\r\n")
	f.Add(rcpt("drop"), "mod@example.org", now, "Subject: Re: held\n\nspam\n")
	f.Add("dev-drop+"+tok("reject")+"@lists.example.org", "mod@example.org", now, "\n")
	f.Add(strings.ToUpper(rcpt("accept")), "mod@example.org", now, "Subject: Re: held\n\nok\n")
	f.Add(rcpt("accept"), "", now, "Subject: Re: held\n\nok\n")
	f.Add(rcpt("accept"), "mod@example.org", now, "Auto-Submitted: auto-replied\nSubject: Re: held\n\nok\n")
	f.Add(rcpt("accept"), "mod@example.org", now, "Subject: x\nauto-submitted : Auto-Generated\n\n")
	f.Add(rcpt("reject"), "mod@example.org", now, "X-Auto-Response-Suppress: OOF\nPrecedence: bulk\n\n")
	f.Add(rcpt("accept"), "mod@example.org", now, "List-Id: <x.example.org>\n\n")
	f.Add(rcpt("accept"), "mod@example.org", now, "Subject: \x00\n\n")
	f.Add(rcpt("accept"), "mod@example.org", now, " folded\nSubject: x\n\n")
	f.Add(rcpt("accept"), "mod@example.org", now+86400*30, "Subject: late\n\n")
	f.Add(rcpt("accept"), "mod@example.org", int64(0), "")
	f.Add("dev-accept+"+tok("reject")+"@lists.example.org", "mod@example.org", now, "\n")
	f.Add("dev-accept+"+tok("accept")+"@LISTS.example.org.", "mod@example.org", now, "\n")
	f.Add("dev-accept@lists.example.org", "mod@example.org", now, "\n")
	f.Add("dev-accept+x-y@lists.example.org", "mod@example.org", now, "\n")
	f.Fuzz(func(t *testing.T, origRcpt, sender string, received int64, message string) {
		h := &stream.Header{ID: "a1", Attrs: []stream.Attr{{Name: "orig-rcpt", Value: origRcpt}, {Name: "received", Value: fmt.Sprint(received)}},
			Sender: stream.Path{Mailbox: sender}}
		var in bytes.Buffer
		if err := stream.WriteRecord(&in, h, strings.NewReader(message), nil); err != nil {
			return // no record mlm-accept would write
		}
		d := heldList(t, "h1")
		stderr, err := mail(t, d, in.String())
		approved := d.Queue(listdir.Incoming).Has("h1")
		rejected := d.Queue(listdir.Outgoing).Has("h1.n2")
		held := d.Queue(listdir.Hold).Has("h1")

		// What should be.
		action, token, rerr := envelope.Route(list, origRcpt)
		at := testNow
		if received < now {
			at = time.Unix(received, 0)
		}
		hdr, herr := msg.ReadHeader(bufio.NewReader(strings.NewReader(message)), msg.MaxHeader)
		ok := rerr == nil && (action == "accept" || action == "reject" || action == "drop") && token != "" &&
			cookie.Check(key, action, list, "h1", token, at) == nil &&
			sender != "" && herr == nil && !notice.IsAutomatic(hdr)
		if ok && automatic(message) {
			t.Errorf("orig-rcpt %q, message %q: header read as %q, not automatic", origRcpt, message, hdr.Raw)
		}
		switch {
		case ok && err != nil:
			t.Fatalf("orig-rcpt %q, sender %q, received %d, message %q: %v (%d), stderr %q; want it settled", origRcpt, sender, received, message, err, sysexit.Code(err), stderr)
		case ok && (held || approved != (action == "accept") || rejected != (action == "reject")):
			t.Fatalf("orig-rcpt %q: exit 0, and held %v, approved %v, rejected %v", origRcpt, held, approved, rejected)
		case ok:
		case sysexit.Code(err) != sysexit.NoPerm:
			t.Fatalf("orig-rcpt %q, sender %q, received %d, message %q: %v (%d), stderr %q; want 77", origRcpt, sender, received, message, err, sysexit.Code(err), stderr)
		case !held || approved || rejected:
			t.Fatalf("orig-rcpt %q, sender %q, received %d, message %q refused, and held %v, approved %v, rejected %v", origRcpt, sender, received, message, held, approved, rejected)
		case !oneLine.MatchString(stderr):
			t.Errorf("orig-rcpt %q, message %q: standard error %q; want one line", origRcpt, message, stderr)
		}
	})
}

// oneLine is what mlm-moderate says of a refused answer.
var oneLine = regexp.MustCompile(`^mlm-moderate: [^\n]+\n$`)

// automatic reports, of the fields at the start of a message's header
// (until a line that is no field nor a fold), an Auto-Submitted other
// than "no" or a List-Id: the signs of RFC 3834 and RFC 2919, read
// without msg or notice.
func automatic(message string) bool {
	message = strings.ReplaceAll(message, "\r\n", "\n")
	field := regexp.MustCompile(`^([!-9;-~]+)[ \t]*:(.*)$`)
	var name, value string
	end := func() bool {
		n := strings.ToLower(name)
		v := strings.ToLower(strings.TrimSpace(value))
		return n == "list-id" || n == "auto-submitted" && v != "" && !strings.HasPrefix(v, "no")
	}
	for l := range strings.SplitSeq(message, "\n") {
		if name != "" && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			value += l
			continue
		}
		if name != "" && end() {
			return true
		}
		m := field.FindStringSubmatch(l)
		if m == nil {
			return false
		}
		name, value = m[1], m[2]
	}
	return name != "" && end()
}
