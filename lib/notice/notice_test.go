package notice

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/msg"
	"mlm/lib/sysexit"
)

// list is a list directory with just its address.
func list(t *testing.T) *listdir.Dir {
	t.Helper()
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func header(t *testing.T, s string) *msg.Header {
	t.Helper()
	h, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(s)), msg.MaxHeader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRefuse: a notice goes to a sender MaxPerDay times a day, and
// never where RFC 3834 says no reply goes.
func TestRefuse(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	plain := header(t, "Subject: x\n\n")
	now := time.Unix(1_795_867_200, 0)
	for i := 1; i <= MaxPerDay+1; i++ {
		sent, err := Refuse(d, fmt.Sprintf("p%d.n1", i), "bob@example.net", plain, "was rejected", now)
		if err != nil || sent != (i <= MaxPerDay) {
			t.Fatalf("notice %d: %v, %v", i, sent, err)
		}
	}
	if sent, _ := Refuse(d, "q1.n1", "bob@example.net", plain, "was rejected", now.Add(24*time.Hour)); !sent {
		t.Errorf("the next day: no notice")
	}
	for name, tc := range map[string]struct {
		sender string
		h      string
	}{
		"null sender":   {"", "Subject: x\n\n"},
		"auto-replied":  {"carol@example.com", "Auto-Submitted: auto-replied\n\n"},
		"bulk":          {"carol@example.com", "Precedence: bulk\n\n"},
		"from a list":   {"carol@example.com", "List-Id: <x.example.com>\n\n"},
		"mailer-daemon": {"MAILER-DAEMON@example.com", "Subject: x\n\n"},
		"owner-":        {"owner-x@example.com", "Subject: x\n\n"},
		"-request":      {"x-request@example.com", "Subject: x\n\n"},
		"-bounces":      {"other-bounces+dev=lists.example.org@example.com", "Subject: x\n\n"},
		// The list's own address, which would take the notice as a
		// post (a review); and with a tag.
		"the list":  {"dev@lists.example.org", "Subject: x\n\n"},
		"the list+": {"DEV+x@Lists.Example.org", "Subject: x\n\n"},
	} {
		// No notice, and no error: a refused post must not wait for one.
		if sent, err := Refuse(d, "r1.n1", tc.sender, header(t, tc.h), "was rejected", now); sent || err != nil {
			t.Errorf("%s: Refuse = %v, %v; want no notice and no error", name, sent, err)
		}
	}
	if sent, _ := Refuse(d, "s1.n1", "dave@example.com", header(t, "Auto-Submitted: no\n\n"), "was rejected", now); !sent {
		t.Errorf("Auto-Submitted: no: no notice")
	}
}

// TestRefuseAutoReplied: a refusal, a direct response to the post,
// carries Auto-Submitted: auto-replied (RFC 3834 sections 3.1.7 and
// 5); a notice that answers nothing, auto-generated.
func TestRefuseAutoReplied(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	if sent, err := Refuse(d, "p1.n1", "bob@example.net", header(t, "Subject: x\n\n"), "was rejected", now); err != nil || !sent {
		t.Fatalf("Refuse = %v, %v", sent, err)
	}
	b, err := os.ReadFile(filepath.Join(d.Path, "queue", "outgoing", "new", "p1.n1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n:Auto-Submitted: auto-replied\n:Precedence: bulk\n:X-Auto-Response-Suppress: All\n") {
		t.Errorf("refusal:\n%s", b)
	}
	// Also the fields that autoresponders which do not read
	// Auto-Submitted read (R71: an answer to a hold notice that says
	// nothing of itself approves the post).
	m := &Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi"}
	if b := string(m.Bytes("1", "x.org", now)); !strings.Contains(b, "\nAuto-Submitted: auto-generated\nPrecedence: bulk\nX-Auto-Response-Suppress: All\n") {
		t.Errorf("notice:\n%s", b)
	}
}

// TestRefuseAttachesLittle: a refusal attaches of the post's header only
// the fields that tell its sender which message it answers (From, To,
// Cc, Subject, Date, Message-ID), in their order, each of 1000 octets
// at most: the envelope sender it goes to may be forged, and the whole
// header, up to 64 KiB of a spammer's text, went to the victim under
// the list's name (R71).
func TestRefuseAttachesLittle(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	long := "Cc: " + strings.Repeat("c", 1000) + "@example.org\n"
	h := "Received: from spam.example\nFrom: Bob <bob@example.net>\nX-Ad: BUY http://spam.example/\nsubject: buy\n now\n" +
		strings.Repeat("X-Ad: CHEAP PILLS\n", 600) + long + "Message-ID: <m1@example.net>\n" +
		strings.Repeat("Subject: CHEAP PILLS again\n", 60) + "\n" // the first of each name alone (R74)
	now := time.Unix(1_795_867_200, 0)
	if sent, err := Refuse(d, "p2.n1", "bob@example.net", header(t, h), "was rejected", now); err != nil || !sent {
		t.Fatalf("Refuse = %v, %v", sent, err)
	}
	b, err := os.ReadFile(filepath.Join(d.Path, "queue", "outgoing", "new", "p2.n1"))
	if err != nil {
		t.Fatal(err)
	}
	want := ":From: Bob <bob@example.net>\n:subject: buy\n: now\n:Message-ID: <m1@example.net>\n:\n"
	if !strings.Contains(string(b), want) || strings.Contains(string(b), "X-Ad") || strings.Contains(string(b), "Received:") || strings.Contains(string(b), "ccccc") || strings.Contains(string(b), "again") {
		t.Errorf("refusal:\n%s\nwant attached only\n%s", b, want)
	}
}

// TestRefuseInReplyTo: a refusal names the post it answers by its
// Message-ID in In-Reply-To (RFC 5322 section 3.6.4, RFC 3834 section
// 3.1), so that the sender's mail program threads it with the post; a
// Message-ID that is no msg-id is not named.
func TestRefuseInReplyTo(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	for i, tc := range []struct{ mid, want string }{
		{"<p1.123@example.net>", "<p1.123@example.net>"},
		{"  <x$y@[127.0.0.1]> ", "<x$y@[127.0.0.1]>"},
		{"<two@a> <three@b>", ""},
		{"p1@example.net", ""},
		{"<a..b@example.net>", ""},
		{"", ""},
	} {
		id := fmt.Sprintf("m%d.n1", i)
		h := "Subject: x\n\n"
		if tc.mid != "" {
			h = "Message-ID: " + tc.mid + "\n" + h
		}
		if sent, err := Refuse(d, id, fmt.Sprintf("bob%d@example.net", i), header(t, h), "was rejected", now); err != nil || !sent {
			t.Fatalf("Refuse = %v, %v", sent, err)
		}
		b, err := os.ReadFile(filepath.Join(d.Path, "queue", "outgoing", "new", id))
		if err != nil {
			t.Fatal(err)
		}
		has := strings.Contains(string(b), "\n:In-Reply-To: ")
		if tc.want == "" && has || tc.want != "" && !strings.Contains(string(b), "\n:In-Reply-To: "+tc.want+"\n") {
			t.Errorf("Message-ID %q: want In-Reply-To %q in:\n%s", tc.mid, tc.want, b)
		}
	}
}

// TestRefuseReferences: a refusal's References (RFC 3834 section
// 3.1.4, RFC 5322 section 3.6.4) are the post's, else its In-Reply-To
// if that names one message, then its Message-ID, a line each; a long
// chain keeps its first and its last; what is no msg-id is left out,
// so no other text of the post gets into the field; and a post without
// a well-formed Message-ID gets none.
func TestRefuseReferences(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	var long []string
	for i := range 11 {
		long = append(long, fmt.Sprintf("<r%d@x.example>", i))
	}
	kept := append(append([]string{long[0]}, long[3:]...), "<m@x.example>") // ten
	for i, tc := range []struct{ fields, want string }{
		{"Message-ID: <m@x.example>\n", ":References: <m@x.example>\n"},
		{"Message-ID: <m@x.example>\nReferences: <a@x.example>\n\t<b@x.example>\nIn-Reply-To: <b@x.example>\n",
			":References: <a@x.example>\n: <b@x.example>\n: <m@x.example>\n"},
		{"Message-ID: <m@x.example>\nIn-Reply-To: <b@x.example> (bob's)\n", ":References: <b@x.example>\n: <m@x.example>\n"},
		{"Message-ID: <m@x.example>\nIn-Reply-To: <a@x.example> <b@x.example>\n", ":References: <m@x.example>\n"},
		{"Message-ID: <m@x.example>\nReferences: <a@x.example> junk\r\nBcc: x <c..d@x.example>\n",
			":References: <a@x.example>\n: <m@x.example>\n"},
		{"Message-ID: <m@x.example>\nReferences: " + strings.Join(long, " ") + "\n",
			":References: " + strings.Join(kept, "\n: ") + "\n"},
		{"Message-ID: <m@x.example>\nReferences: <a@x.example><b@x.example>\n",
			":References: <a@x.example>\n: <b@x.example>\n: <m@x.example>\n"},
		{"References: <a@x.example>\n", ""},
	} {
		id := fmt.Sprintf("m%d.n1", i)
		if sent, err := Refuse(d, id, fmt.Sprintf("bob%d@example.net", i), header(t, tc.fields+"Subject: x\n\n"), "was rejected", now); err != nil || !sent {
			t.Fatalf("Refuse = %v, %v", sent, err)
		}
		b, err := os.ReadFile(filepath.Join(d.Path, "queue", "outgoing", "new", id))
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(b), "\n:\n") // the notice's own, not the post's attached
		has := strings.Contains(head, "\n:References:")
		if tc.want == "" && has || tc.want != "" && !strings.Contains(head, "\n"+tc.want+":Auto-Submitted:") {
			t.Errorf("%q: want References\n%s in:\n%s", tc.fields, tc.want, b)
		}
	}
}

// TestRefuseQuotesSubject: a refusal quotes the post's Subject as the
// poster's mail program showed it, its encoded-words decoded, in the
// notice's UTF-8, with octets of no charset it can show as U+FFFD.
func TestRefuseQuotesSubject(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	for i, tc := range []struct{ subject, want string }{
		{"=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?Q?K=F6ln?=", "Grüße aus Köln"},
		{"caf\xe9 =?x-unknown?q?=E9t=E9?=", "caf\uFFFD \uFFFDt\uFFFD"},
		{"plain", "plain"},
		{"=?koi8-r?q?=F0=D2=C9=D7=C5=D4?=", "Привет"},
		{"=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"},
	} {
		id := fmt.Sprintf("q%d.n1", i)
		if sent, err := Refuse(d, id, fmt.Sprintf("bob%d@example.net", i), header(t, "Subject: "+tc.subject+"\n\n"), "was rejected", now); err != nil || !sent {
			t.Fatalf("Refuse = %v, %v", sent, err)
		}
		b, err := os.ReadFile(filepath.Join(d.Path, "queue", "outgoing", "new", id))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\n:  "+tc.want+"\n:was rejected.\n") {
			t.Errorf("Subject %q: want it quoted as %q in:\n%s", tc.subject, tc.want, b)
		}
	}
}

// TestRefuseSpellings: one mailbox spelt many ways (quotes and quoted
// pairs that add nothing, RFC 5321 section 4.1.2; the domain's case; a
// "+" subaddress, RFC 5233) is
// one sender: MaxPerDay notices a day in all, not MaxPerDay a spelling,
// of which a local part of n octets has 2^n and more; and a role
// address quoted, or with a subaddress, is the role's.
func TestRefuseSpellings(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	plain := header(t, "Subject: x\n\n")
	now := time.Unix(1_795_867_200, 0)
	sent := 0
	for i, s := range []string{"bob@example.net", `"bob"@example.net`, `"b\ob"@example.net`, `"\b\o\b"@Example.NET`, `"bo\b"@example.net`, `"\bob"@example.net`, "bob+1@example.net", `"bob+2"@example.net`, "Bob+@example.net"} {
		ok, err := Refuse(d, fmt.Sprintf("p%d.n1", i), s, plain, "was rejected", now)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			sent++
		}
	}
	if sent != MaxPerDay {
		t.Errorf("%d notices to bob@example.net spelt nine ways; want %d", sent, MaxPerDay)
	}
	for _, s := range []string{`"MAILER-DAEMON"@example.com`, `"postmaster"@example.com`, `"owner-x"@example.com`,
		"MAILER-DAEMON+x@example.com", "postmaster+x@example.com", "x-request+1@example.com", "x-owner+1@example.com"} {
		if ok, _ := Refuse(d, "r1.n1", s, plain, "was rejected", now); ok {
			t.Errorf("%s: a notice went", s)
		}
	}
}

// TestCountKey: a "+" detail is no part of the mailbox a count is
// for, in a local part that needs its quotes too.
func TestCountKey(t *testing.T) {
	for s, want := range map[string]string{
		"Bob+1@Example.NET":           "bob@example.net",
		`"bob+2"@example.net`:         "bob@example.net",
		`"bob smith+1"@example.net`:   `"bob smith"@example.net`,
		`"Bob Smith+x y"@example.net`: `"bob smith"@example.net`,
		`"bob+ smith"@example.net`:    "bob@example.net",
		`"a\"b+c"@example.net`:        `"a\"b"@example.net`,
		`"+bob smith"@example.net`:    `"+bob smith"@example.net`,
		"+bob@example.net":            "+bob@example.net",
		`"bob smith"@example.net`:     `"bob smith"@example.net`,
	} {
		if got := countKey(s); got != want {
			t.Errorf("countKey(%q) = %q; want %q", s, got, want)
		}
	}
}

// TestCountClockBack: a clock set back over midnight (UTC) finds a count
// of the day after: it still counts, for that day, so the sender gets no
// day's notices more, then or once the clock is that day again. A count
// of the day before is 0, and so is one of two days on. (From a review.)
func TestCountClockBack(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	plain := header(t, "Subject: x\n\n")
	midnight := time.Unix(1_795_910_400, 0) // 2026-11-28 00:00 UTC
	for i := 1; i <= MaxPerDay; i++ {
		if sent, err := Refuse(d, fmt.Sprintf("p%d.n1", i), "bob@example.net", plain, "was rejected", midnight.Add(10*time.Second)); err != nil || !sent {
			t.Fatalf("notice %d: %v, %v", i, sent, err)
		}
	}
	for _, at := range []time.Duration{-10 * time.Second, 20 * time.Second, 24*time.Hour - time.Second} {
		if sent, err := Refuse(d, "q"+at.String()+".n1", "bob@example.net", plain, "was rejected", midnight.Add(at)); err != nil || sent {
			t.Errorf("at midnight %+v, after %d notices: %v, %v; want no notice", at, MaxPerDay, sent, err)
		}
	}
	if sent, err := Refuse(d, "r1.n1", "bob@example.net", plain, "was rejected", midnight.Add(24*time.Hour)); err != nil || !sent {
		t.Errorf("the next day: %v, %v; want a notice", sent, err)
	}
	// The clock two days back (set years ahead, then mended): the count
	// of a day so far on does not stand.
	if sent, err := Refuse(d, "s1.n1", "bob@example.net", plain, "was rejected", midnight.Add(-24*time.Hour)); err != nil || !sent {
		t.Errorf("two days back: %v, %v; want a notice", sent, err)
	}
}

// TestCountOldFormat: a count written before the notices' ids were kept
// ("DAY N") still counts.
func TestCountOldFormat(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	replies := filepath.Join(d.Path, listdir.StateDir, "replies")
	os.MkdirAll(replies, 0o700)
	name := hex.EncodeToString(sha("bob@example.net")[:12])
	os.WriteFile(filepath.Join(replies, name), []byte(now.UTC().Format("2006-01-02")+" 2\n"), 0o600)
	plain := header(t, "Subject: x\n\n")
	if sent, err := Refuse(d, "p1.n1", "Bob@example.net", plain, "was rejected", now); err != nil || !sent {
		t.Errorf("third notice: %v, %v; want true, nil", sent, err)
	}
	if sent, err := Refuse(d, "p2.n1", "bob@example.net", plain, "was rejected", now); err != nil || sent {
		t.Errorf("fourth notice: %v, %v; want false, nil", sent, err)
	}
}

func TestBytes(t *testing.T) {
	m := &Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "café\r\nBcc: evil@x", Text: "hi", Headers: []byte("Subject: s\r\n\r\n")}
	b := string(m.Bytes("1.M1P1,1", "x.org", time.Unix(0, 0)))
	if strings.Contains(b, "\nBcc:") || strings.Contains(b, "\r") {
		t.Errorf("header injection or CR:\n%s", b)
	}
	for _, want := range []string{"Message-ID: <1.M1P1.1@x.org>\n", "Subject: =?utf-8?q?caf=C3=A9__Bcc:_evil@x?=\n", "Auto-Submitted: auto-generated\n", "Content-Type: text/rfc822-headers\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("missing %q in:\n%s", want, b)
		}
	}
}

// TestASCIIMailboxes: a mailbox whose domain alone is not ASCII goes in
// From, To and Reply-To in its A-labels, the same mailbox: mlm-sendmail
// sends such an envelope to a relay without SMTPUTF8 in them, and a
// header must then be ASCII (RFC 6532). "To: zoe@bücher.example" went
// so, raw UTF-8. One whose local part is not ASCII stays as it is: its
// notice goes with SMTPUTF8, or not at all.
func TestASCIIMailboxes(t *testing.T) {
	m := &Message{From: "dev-owner@lïsts.example", To: []string{"zoe@bücher.example", "jörg@bücher.example"},
		ReplyTo: "dev-request@lïsts.example", Subject: "s", Text: "hi"}
	b := string(m.Bytes("1", "x.org", time.Unix(0, 0)))
	for _, want := range []string{"From: dev-owner@xn--lsts-5pa.example\n", "zoe@xn--bcher-kva.example", "jörg@bücher.example",
		"Reply-To: dev-request@xn--lsts-5pa.example\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("missing %q in:\n%s", want, b)
		}
	}
}

// TestMessageID: the Message-ID's left side is a dot-atom-text (RFC
// 5322 section 3.6.4) for any record id, whose grammar allows "." at its
// start, at its end and twice in a row (a host name with a final dot
// gives "R9f3a.lists1." and a notice id "R9f3a.lists1..n1").
func TestMessageID(t *testing.T) {
	dotAtom := regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*$`)
	for _, id := range []string{"1.M1P1,1", "R9f3a.lists1..n1", ".x.n1", "x.", "a...b", "a,,b", "a..b"} {
		m := &Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi"}
		h := header(t, string(m.Bytes(id, "x.org", time.Unix(0, 0))))
		v := h.Fields.Get("Message-ID")
		left, ok := strings.CutSuffix(strings.TrimPrefix(v, "<"), "@x.org>")
		if !ok || !dotAtom.MatchString(left) {
			t.Errorf("id %q: Message-ID %q; want a dot-atom-text before the @", id, v)
		}
	}
}

// TestLongHeaderLine: a post's header line over 998 octets goes into
// the notice quoted-printable, every line of the notice within 998
// octets, and decodes to the header as it was; a header without one
// goes as it is, 8bit.
func TestLongHeaderLine(t *testing.T) {
	hdr := "Subject: s\r\nX-Long: " + strings.Repeat("é-long ", 250) + "\r\n\r\n"
	m := &Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi", Headers: []byte(hdr)}
	b := string(m.Bytes("1.M1P1", "x.org", time.Unix(0, 0)))
	for _, l := range strings.Split(b, "\n") {
		if len(l) > 998 {
			t.Errorf("line of %d octets: %.60q…", len(l), l)
		}
	}
	p := attached(t, []byte(b))
	if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding: %q; want quoted-printable", cte)
	}
	got, _ := io.ReadAll(p.Body)
	if want := strings.ReplaceAll(hdr, "\r\n", "\n"); strings.ReplaceAll(string(got), "\r\n", "\n") != want {
		t.Errorf("decoded header:\n%q\nwant\n%q", got, want)
	}
	short := string((&Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi", Headers: []byte("Subject: é\n\n")}).Bytes("1", "x.org", time.Unix(0, 0)))
	if !strings.Contains(short, "Content-Type: text/rfc822-headers; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nSubject: é\n") {
		t.Errorf("a short header is not as it was, 8bit:\n%s", short)
	}
}

// TestHeaderControls: a post's header with a NUL or a CR of its own,
// which 8bit may not carry (RFC 2045 section 2.8), goes into the notice
// quoted-printable, and decodes to the header as it was (a review).
func TestHeaderControls(t *testing.T) {
	for _, hdr := range []string{"Subject: a\x00b\r\n\r\n", "Subject: a\rb\r\n\r\n", "Subject: a\rb\n\n"} {
		m := &Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi", Headers: []byte(hdr)}
		b := m.Bytes("1.M1P1", "x.org", time.Unix(0, 0))
		if i := bytes.IndexAny(b, "\x00\r"); i >= 0 {
			t.Errorf("%q: the notice holds %q", hdr, b[i])
		}
		p := attached(t, b)
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("%q: Content-Transfer-Encoding: %q; want quoted-printable", hdr, cte)
		}
		got, _ := io.ReadAll(p.Body)
		if want := strings.ReplaceAll(hdr, "\r\n", "\n"); strings.ReplaceAll(string(got), "\r\n", "\n") != want {
			t.Errorf("decoded header:\n%q\nwant\n%q", got, want)
		}
	}
}

// TestHeadersCharset: the attached header's part says the charset its
// text is in: UTF-8 fields (RFC 6532) in a part with no charset are
// US-ASCII text (RFC 2046 section 4.1.2), which Python's email reads as
// "Subject: \ufffd\ufffd"; an ASCII header needs none, and one in no
// charset known (8-bit octets that are not UTF-8) gets none, and goes
// quoted-printable: 8bit, it was no valid MIME (R93 F5).
func TestHeadersCharset(t *testing.T) {
	for _, tc := range []struct{ hdr, charset, cte string }{
		{"Subject: caf\u00e9\n\n", "utf-8", "8bit"},
		{"Subject: cafe\n\n", "", "8bit"},
		{"Subject: caf\xe9\n\n", "", "quoted-printable"},
		{"Subject: caf\u00e9\nX-Long: " + strings.Repeat("x", 1000) + "\n\n", "utf-8", "quoted-printable"},
	} {
		b := (&Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi", Headers: []byte(tc.hdr)}).Bytes("1", "x.org", time.Unix(0, 0))
		p := attached(t, b)
		_, params, _ := p.Header.ContentType()
		if params["charset"] != tc.charset {
			t.Errorf("header %.30q: charset %q; want %q", tc.hdr, params["charset"], tc.charset)
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != tc.cte {
			t.Errorf("header %.30q: Content-Transfer-Encoding %q; want %q", tc.hdr, cte, tc.cte)
		}
		if !utf8.Valid(b) {
			t.Errorf("header %.30q: the notice holds octets that are not UTF-8", tc.hdr)
		}
		if got, _ := io.ReadAll(p.Body); strings.ReplaceAll(string(got), "\r\n", "\n") != tc.hdr {
			t.Errorf("header %.30q: decoded %.30q", tc.hdr, got)
		}
	}
}

// TestManyModerators: a notice to many moderators has its To field
// folded, every line within 78 octets, and still names them all.
func TestManyModerators(t *testing.T) {
	var to []string
	for i := range 40 {
		to = append(to, fmt.Sprintf("moderator-number-%02d@department.example.org", i))
	}
	m := &Message{From: "dev-owner@x.org", To: to, Subject: "s", Text: "hi"}
	b := string(m.Bytes("1.M1P1,1", "x.org", time.Unix(0, 0)))
	for _, l := range strings.Split(b, "\n") {
		if len(l) > 78 {
			t.Errorf("line of %d octets: %q", len(l), l)
		}
	}
	as, err := header(t, b).Mail().AddressList("To")
	if err != nil || len(as) != len(to) {
		t.Fatalf("To: %d addresses, %v; want %d", len(as), err, len(to))
	}
	for i, a := range as {
		if a.Address != to[i] {
			t.Errorf("address %d: %s; want %s", i, a.Address, to[i])
		}
	}
}

// TestClean: text from a message quoted in a notice or a listing is one
// line of printable characters, cut to at most its length between two
// characters.
func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Re: x", 10, "Re: x"},
		{"a\r\nBcc: b\x1b[2J\x7f\u009b1m", 100, "a  Bcc: b [2J  1m"},
		{"ü" + strings.Repeat("x", 10), 10, "üxxxxxxxx…"},
		{strings.Repeat("x", 9) + "ü", 10, "xxxxxxxxx…"},
		{"ü€", 1, "…"},
		// A joiner beside ASCII joins nothing and hides that the
		// address is another: "ali<ZWJ>ce@" read as alice@'s. Between
		// the letters of a script that needs one (Persian's ZWNJ), or
		// in an emoji sequence, it is kept.
		{"ali\u200dce@example.org", 100, "ali ce@example.org"},
		{"bob\u200c@example.org", 100, "bob @example.org"},
		{"\u200dbob@example.org\u200d", 100, " bob@example.org "},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", 100, "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"},
		{"family \U0001f468\u200d\U0001f469\u200d\U0001f467", 100, "family \U0001f468\u200d\U0001f469\u200d\U0001f467"},
		// Nor beyond ASCII between the letters of a script that has
		// no use for one: "ми<ZWJ>хаил@" read as михаил@'s, a member
		// (RFC 6531) whom a moderator would approve it as.
		{"\u043c\u0438\u200d\u0445\u0430\u0438\u043b@example.org", 100, "\u043c\u0438 \u0445\u0430\u0438\u043b@example.org"},
		{"j\u00fc\u200c\u00f6rg@example.org", 100, "j\u00fc \u00f6rg@example.org"},
		{"\u7530\u200d\u4e2d@example.org", 100, "\u7530 \u4e2d@example.org"},
		{"\u03b1\u200c\u03b2", 100, "\u03b1 \u03b2"},
		// A script that needs one keeps it: Devanagari's half forms
		// after a virama, and emoji sequences after a variation
		// selector or a skin tone.
		{"\u0915\u094d\u200d\u0937 \u0915\u094d\u200c\u0937", 100, "\u0915\u094d\u200d\u0937 \u0915\u094d\u200c\u0937"},
		{"\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f469\U0001f3fd\u200d\U0001f4bb", 100, "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f469\U0001f3fd\u200d\U0001f4bb"},
		// The flags of England, Scotland and Wales are a black flag
		// and tag characters (format characters, U+E0020 to U+E007F),
		// kept there; a tag elsewhere is invisible, and goes.
		{"Scotland \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f!", 100, "Scotland \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f!"},
		{"ali\U000e0061ce@x \U000e0067\U000e007f", 100, "ali ce@x   "},
	} {
		if got := Clean(tc.in, tc.n); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestSweepReplies: once a day, the reply counts not changed for two
// days go, with their lock files; a lock file goes only with its count,
// however old it is itself.
func TestSweepReplies(t *testing.T) {
	d := list(t)
	replies := filepath.Join(d.Path, listdir.StateDir, "replies")
	os.MkdirAll(replies, 0o700)
	now := time.Now()
	age := func(name string, d time.Duration) {
		p := filepath.Join(replies, name)
		os.WriteFile(p, []byte("x\n"), 0o600)
		if err := os.Chtimes(p, now.Add(-d), now.Add(-d)); err != nil {
			t.Fatal(err)
		}
	}
	age("old", 72*time.Hour)
	age("old.lock", 72*time.Hour)
	age("recent", time.Hour)
	age("recent.lock", 120*time.Hour)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	if _, err := Refuse(d, "p1.n1", "bob@example.net", header(t, "Subject: x\n\n"), "was rejected", now); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"old": false, "old.lock": false, "recent": true, "recent.lock": true, "swept": true} {
		if _, err := os.Stat(filepath.Join(replies, name)); (err == nil) != want {
			t.Errorf("%s there: %v; want %v", name, err == nil, want)
		}
	}
	age("later", 72*time.Hour) // swept today already: stays until tomorrow
	Refuse(d, "p2.n1", "carol@example.net", header(t, "Subject: x\n\n"), "was rejected", now)
	if _, err := os.Stat(filepath.Join(replies, "later")); err != nil {
		t.Errorf("swept twice in a day: %v", err)
	}
	Refuse(d, "p3.n1", "carol@example.net", header(t, "Subject: x\n\n"), "was rejected", now.Add(24*time.Hour))
	if _, err := os.Stat(filepath.Join(replies, "later")); err == nil {
		t.Errorf("not swept the next day")
	}
}

// TestRefuseSendFails: a notice that cannot be queued (here the
// outgoing queue's tmp/ is a file) is not counted against the sender's
// daily limit: after more failed tries than the limit, the try that
// works still sends the notice, and only it counts.
func TestRefuseSendFails(t *testing.T) {
	d := list(t)
	out := d.Queue(listdir.Outgoing)
	if err := out.Create(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(out.Path, "tmp")
	os.Remove(tmp)
	os.WriteFile(tmp, nil, 0o600)
	now := time.Unix(1_795_867_200, 0)
	plain := header(t, "Subject: x\n\n")
	for i := range MaxPerDay + 1 {
		if sent, err := Refuse(d, "p1.n1", "bob@example.net", plain, "was rejected", now); sysexit.Code(err) != sysexit.TempFail {
			t.Fatalf("try %d with tmp/ a file: %v, %v; want a temporary error", i+1, sent, err)
		}
	}
	os.Remove(tmp)
	os.Mkdir(tmp, 0o700)
	if sent, err := Refuse(d, "p1.n1", "bob@example.net", plain, "was rejected", now); err != nil || !sent {
		t.Fatalf("Refuse once tmp/ is mended = %v, %v; want true, nil", sent, err)
	}
	if !out.Has("p1.n1") {
		t.Errorf("p1.n1 not queued")
	}
	for i := 2; i <= MaxPerDay; i++ {
		if sent, err := Refuse(d, fmt.Sprintf("p%d.n1", i), "bob@example.net", plain, "was rejected", now); err != nil || !sent {
			t.Errorf("notice %d: %v, %v; want true, nil", i, sent, err)
		}
	}
}

// TestRefuseRetried: Refuse called again for the same notice, as a
// stage tried again after it queued the notice calls it, counts it once.
func TestRefuseRetried(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_795_867_200, 0)
	plain := header(t, "Subject: x\n\n")
	for i, id := range []string{"p1.n1", "p1.n1", "p1.n1", "p2.n1", "p3.n1"} {
		if sent, err := Refuse(d, id, "bob@example.net", plain, "was rejected", now); err != nil || !sent {
			t.Errorf("Refuse %d (%s) = %v, %v; want true, nil", i+1, id, sent, err)
		}
	}
	if sent, err := Refuse(d, "p4.n1", "bob@example.net", plain, "was rejected", now); err != nil || sent {
		t.Errorf("Refuse over the limit = %v, %v; want false, nil", sent, err)
	}
}

// TestRefuseRetriedDelivered: a stage tried again after it queued a
// notice that has since been delivered (its record gone from the
// outgoing queue, its delivery journal left) does not queue it again,
// though the count does not name it: the try before died between the
// queueing and the count, or the count is of the day before (the first
// try at 23:59 UTC, the second after midnight).
func TestRefuseRetriedDelivered(t *testing.T) {
	for name, tc := range map[string]struct {
		lose  bool          // the count is lost, as a crash after the queueing leaves it
		later time.Duration // from the first try to the second
	}{
		"crash before the count": {lose: true, later: time.Minute},
		"past midnight":          {later: 20 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			d := list(t)
			out := d.Queue(listdir.Outgoing)
			if err := out.Create(); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 28, 23, 59, 50, 0, time.UTC)
			plain := header(t, "Subject: x\n\n")
			if sent, err := Refuse(d, "p1.n1", "bob@example.net", plain, "was rejected", now); err != nil || !sent {
				t.Fatalf("first Refuse = %v, %v; want true, nil", sent, err)
			}
			// Delivered: mlm-sendmail's journal, the record gone.
			journal := filepath.Join(d.Path, listdir.StateDir, "journal")
			os.MkdirAll(journal, 0o700)
			os.WriteFile(filepath.Join(journal, "p1.n1"), []byte("done\n"), 0o600)
			os.Remove(filepath.Join(out.Path, "new", "p1.n1"))
			if tc.lose {
				os.Remove(filepath.Join(d.Path, listdir.StateDir, "replies", hex.EncodeToString(sha("bob@example.net")[:12])))
			}
			if sent, err := Refuse(d, "p1.n1", "bob@example.net", plain, "was rejected", now.Add(tc.later)); err != nil || !sent {
				t.Errorf("Refuse tried again = %v, %v; want true, nil", sent, err)
			}
			if out.Has("p1.n1") {
				t.Errorf("p1.n1 queued a second time, after it was delivered")
			}
		})
	}
}

// TestIsAutomatic: any Auto-Submitted or Precedence field makes a
// message automatic, not only the first, as mlm-auth reads them: a
// program adds one to a message that had its own (an autoresponder's
// "auto-replied" after the poster's "no"), and a notice to it would
// start a loop.
func TestIsAutomatic(t *testing.T) {
	for s, want := range map[string]bool{
		"Subject: x\n\n":                                              false,
		"Auto-Submitted: no\nSubject: x\n\n":                          false,
		"Auto-Submitted: no\nAuto-Submitted: auto-replied\n\n":        true,
		"Precedence: first-class\nPrecedence: bulk\n\n":               true,
		"Auto-Submitted: No (a comment)\nPrecedence: first-class\n\n": false,
		"List-Id: <dev.lists.example.org>\n\n":                        true,
		// Autoresponders' own signs.
		"Precedence: auto_reply\n\n":            true,
		"Precedence: Auto_Reply \n\n":           true,
		"X-Autoreply: yes\n\n":                  true,
		"X-Autoreply: no\n\n":                   false,
		"X-Autorespond: Out of office\n\n":      true,
		"X-Auto-Response-Suppress: All\n\n":     true,
		"X-Auto-Response-Suppress: DR, OOF\n\n": true,
		"X-Auto-Response-Suppress: DR, RN\n\n":  false,
	} {
		if got := IsAutomatic(header(t, s)); got != want {
			t.Errorf("IsAutomatic(%q) = %v; want %v", s, got, want)
		}
	}
}

// TestBulk: each of the three Precedence values of bulk mail, in any
// case and with space around it, and no other, as mlm-auth holds a
// non-member's bulk mail and no notice answers it.
func TestBulk(t *testing.T) {
	for v, want := range map[string]bool{
		"bulk":         true,
		"junk":         true,
		"list":         true,
		" List ":       true,
		"JUNK":         true,
		"\tBulk":       true,
		"":             false,
		"first-class":  false,
		"bulk-ish":     false,
		"normal; bulk": false,
	} {
		if got := Bulk(v); got != want {
			t.Errorf("Bulk(%q) = %v; want %v", v, got, want)
		}
	}
}

// attached returns the second part of the notice b: its header attached.
func attached(t *testing.T, b []byte) *message.Entity {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	mr := ent.MultipartReader()
	if _, err := mr.NextPart(); err != nil {
		t.Fatal(err)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzQuote: whatever a field holds, its quote in a notice is UTF-8,
// holds no control character (no line break to forge a line of the
// notice with), and is at most n octets and an ellipsis.
func FuzzQuote(f *testing.F) {
	f.Add("=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?Q?K=F6ln?=", 200)
	f.Add("=?koi8-r?q?=F0=D2?= =?x-unknown?b?6Q==?= caf\xe9\r\n x", 5)
	f.Add("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", 3)
	f.Fuzz(func(t *testing.T, v string, n int) {
		n = n & 0x3ff
		q := Quote(v, n)
		if !utf8.ValidString(q) || strings.ContainsFunc(q, sysexit.IsControl) {
			t.Fatalf("Quote(%q, %d) = %q", v, n, q)
		}
		if len(q) > n+len("…") {
			t.Fatalf("Quote(%q, %d) = %q: %d octets", v, n, q, len(q))
		}
	})
}

// FuzzReferences: whatever a post's header holds, a reply's References
// are at most maxReferences msg-ids, each one a line may hold, the last
// the post's Message-ID.
func FuzzReferences(f *testing.F) {
	f.Add("<m@x.example>", "<a@x.example> <b@x.example>", "<b@x.example>")
	f.Add("<m@x.example>", "", "<a@x> (x) <b@y>")
	f.Fuzz(func(t *testing.T, mid, refs, irt string) {
		var b strings.Builder
		for _, f := range [][2]string{{"Message-ID", mid}, {"References", refs}, {"In-Reply-To", irt}} {
			if strings.ContainsAny(f[1], "\r\n") {
				return
			}
			b.WriteString(f[0] + ": " + f[1] + "\n")
		}
		h, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(b.String()+"\n")), msg.MaxHeader)
		if err != nil {
			return
		}
		ids := references(h)
		if len(ids) > maxReferences {
			t.Fatalf("%d msg-ids", len(ids))
		}
		for _, id := range ids {
			if len(id) > 900 || !msgIDSyntax.MatchString(id) {
				t.Fatalf("References has %q", id)
			}
		}
		if len(ids) > 0 && ids[len(ids)-1] != msgID(h.Fields.Get("Message-ID")) {
			t.Fatalf("References %q end not with the Message-ID %q", ids, h.Fields.Get("Message-ID"))
		}
	})
}

// TestSweepKeepsHeldLock: the first run of a day sweeps the counts of
// two days ago and their lock files, but not a lock file a run holds
// (one that took it before midnight and is sending its notice): removed,
// the next run would make a new one and hold "the" sender's lock too,
// both would count, and one count overwrite the other, a notice over
// the daily limit.
func TestSweepKeepsHeldLock(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	dir := d.File(filepath.Join(listdir.StateDir, "replies"))
	os.MkdirAll(dir, 0o700)
	day1 := time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC)
	name := hex.EncodeToString(sha(countKey("bob@example.net"))[:12])
	lock := filepath.Join(dir, name+".lock")
	old := day1.Add(-72 * time.Hour)
	for _, f := range []string{name, name + ".lock", "carol.lock"} {
		os.WriteFile(filepath.Join(dir, f), []byte("2026-11-28 1 x\n"), 0o600)
		os.Chtimes(filepath.Join(dir, f), old, old)
	}
	os.WriteFile(filepath.Join(dir, "swept"), []byte("2026-12-01\n"), 0o600) // swept today
	in, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	var held os.FileInfo
	go func() {
		_, err := Counted(d, "p1.n1", countKey("bob@example.net"), MaxPerDay, day1, func(bool) error {
			held, _ = os.Stat(lock)
			close(in)
			<-release
			return nil
		})
		done <- err
	}()
	<-in
	sweepReplies(dir, day1.Add(2*time.Second)) // the next day's first run
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if now, err := os.Stat(lock); err != nil || !os.SameFile(held, now) {
		t.Errorf("the lock file a run held was removed by the sweep (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "carol.lock")); err == nil {
		t.Errorf("an old lock file no one held was not swept")
	}
}

// TestSendCommaID: a notice whose id has a "," is refused, and nothing
// queued: mlm-sendmail keys a delivery journal by the id before its
// first ",", so the notice would share the journal of the post "p", and
// a recipient the post was delivered to would be kept from the notice.
func TestSendCommaID(t *testing.T) {
	d := list(t)
	if err := d.Queue(listdir.Outgoing).Create(); err != nil {
		t.Fatal(err)
	}
	m := &Message{From: "dev-owner@lists.example.org", To: []string{"bob@example.net"}, Subject: "s", Text: "hi"}
	if err := Send(d, "p,2.n1", m, time.Unix(1_795_867_200, 0)); err == nil {
		t.Errorf("Send with a comma in the id: no error")
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Path, "queue", "outgoing", "new")); len(ents) != 0 {
		t.Errorf("Send with a comma in the id queued %d records", len(ents))
	}
}

// FuzzCountKey: whatever a sender's address, the mailbox its notices
// count against (countKey) is the same for each spelling of it a
// forger may make up: the local part in other case, a "+" detail
// added, the quotes of a local part that needs none, the domain in
// other case; and a count file written for it reads back as written
// (readCount).
func FuzzCountKey(f *testing.F) {
	f.Add("bob@example.org", "x", 3, "1795867200.M1P1 n2")
	f.Add(`"bob smith"@Example.ORG`, "1", 0, "")
	f.Add(`"bob+1"@example.org`, "2", 9, "a")
	f.Add("b\"o@x", "", 1, "a b")
	f.Fuzz(func(t *testing.T, sender, detail string, n int, ids string) {
		if addr.CheckMailbox(sender) != nil || !regexp.MustCompile(`^[a-zA-Z0-9]*$`).MatchString(detail) {
			return
		}
		k := countKey(sender)
		at := strings.LastIndexByte(sender, '@')
		local, domain := sender[:at], sender[at+1:]
		plain := regexp.MustCompile(`^[a-zA-Z0-9.]+$`).MatchString(local) && !strings.Contains(local, "..") &&
			local[0] != '.' && local[len(local)-1] != '.'
		var spellings []string
		if plain {
			spellings = append(spellings,
				strings.ToUpper(local)+"@"+domain,
				local+"+"+detail+"@"+domain,
				`"`+local+`"@`+domain,
				`"`+local+"+"+detail+`"@`+domain,
				local+"@"+strings.ToUpper(domain))
		}
		for _, s := range spellings {
			if addr.CheckMailbox(s) != nil {
				continue
			}
			if got := countKey(s); got != k {
				t.Errorf("countKey(%q) = %q; countKey(%q) = %q", s, got, sender, k)
			}
		}
		if got := countKey(k); got != k {
			t.Errorf("countKey(%q) = %q; countKey of that = %q", sender, k, got)
		}
		// The count file, as counted writes it.
		n &= 0xffff
		f := strings.Fields(ids)
		path := filepath.Join(t.TempDir(), "count")
		line := fmt.Sprintf("%s %d %s\n", "2026-12-05", n, strings.Join(f, " "))
		if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		if gn, gids, day := readCount(path, "2026-12-05"); gn != n || !slices.Equal(gids, f) && len(f)+len(gids) > 0 || day != "2026-12-05" {
			t.Errorf("readCount(%q) = %d, %q, %s; want %d, %q, 2026-12-05", line, gn, gids, day, n, f)
		}
		if gn, gids, day := readCount(path, "2026-12-06"); gn != 0 || gids != nil || day != "2026-12-06" {
			t.Errorf("readCount(%q) on the day after = %d, %q, %s; want 0, none, 2026-12-06", line, gn, gids, day)
		}
		// Read with the clock set back a day: the count of its day;
		// two days, none.
		if gn, gids, day := readCount(path, "2026-12-04"); gn != n || !slices.Equal(gids, f) && len(f)+len(gids) > 0 || day != "2026-12-05" {
			t.Errorf("readCount(%q) on the day before = %d, %q, %s; want %d, %q, 2026-12-05", line, gn, gids, day, n, f)
		}
		if gn, gids, day := readCount(path, "2026-12-03"); gn != 0 || gids != nil || day != "2026-12-03" {
			t.Errorf("readCount(%q) two days before = %d, %q, %s; want 0, none, 2026-12-03", line, gn, gids, day)
		}
	})
}

// TestAttachable: a notice attaches the header without its Approved
// fields, and of a header over 64 KiB, the whole fields within it from
// the top (a review): a refusal to a denied sender carried the list
// password, and a forged post's header of up to 1 MiB went to the
// address it named.
func TestAttachable(t *testing.T) {
	var big strings.Builder
	big.WriteString("Subject: x\nApproved: S3cret\nAPPROVED:\n S3cret\n")
	for i := 0; big.Len() < 200<<10; i++ {
		fmt.Fprintf(&big, "X-Pad-%d: %s\n %s\n", i, strings.Repeat("a", 60), strings.Repeat("b", 60))
	}
	big.WriteString("\n")
	for _, hdr := range []string{"Subject: x\nApproved: S3cret\n\n", big.String()} {
		b := (&Message{From: "dev-owner@x.org", To: []string{"a@x.org"}, Subject: "s", Text: "hi", Headers: []byte(hdr)}).Bytes("1", "x.org", time.Unix(0, 0))
		got, _ := io.ReadAll(attached(t, b).Body)
		if bytes.Contains(got, []byte("S3cret")) || !bytes.HasPrefix(got, []byte("Subject: x\n")) || len(got) > 64<<10+1 {
			t.Errorf("attached %d octets, starting %.60q", len(got), got)
		}
		stripped := strings.Replace(hdr, "Approved: S3cret\nAPPROVED:\n S3cret\n", "", 1)
		if hdr == big.String() && (!strings.HasPrefix(stripped, string(got)) || !regexp.MustCompile(`\n b{60}\n$`).Match(got) || len(got) < 60<<10) {
			t.Errorf("attached of 200 KiB: %d octets, ending %q; want whole fields, near 64 KiB", len(got), got[max(0, len(got)-80):])
		}
	}
}
