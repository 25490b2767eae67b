package main

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mlm/lib/mimewalk"
	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzPost: whatever a post holds, mlm-auth of an open list passes it on
// with its message byte for byte, holds it, or refuses it as data (65)
// in one line of printable text; it never fails otherwise. The list has
// a password (which the fuzzer does not guess), so that every post's
// text is looked at for it.
func FuzzPost(f *testing.F) {
	f.Add("From: a@example.org\nSubject: x\n\nbody\n")
	f.Add("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n")
	f.Add("From: =?utf-8?q?A?= <a@example.org>, b@\nAuto-Submitted: auto-replied\n\n")
	f.Add("List-Id: <dev.lists.example.org>\nApproved: secret\n\n")
	f.Add("From: a@example.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\nQXBwcm92ZWQ6IHNlY3JldAo=\n--b\nContent-Type: text/html\n\nApproved: secret\n--b--\n")
	f.Add("")
	dir := fuzzList(f, "open")
	f.Fuzz(func(t *testing.T, m string) {
		var in bytes.Buffer
		h := &stream.Header{ID: "r", Attrs: []stream.Attr{{Name: "list", Value: "dev@lists.example.org"}},
			Sender: stream.Path{Mailbox: "a@example.org"}}
		if err := stream.WriteRecord(&in, h, strings.NewReader(m), []stream.Path{{Mailbox: "b@example.net"}}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(dir, &in, &out, time.Unix(1764417600, 0))
		if mlmtest.Refused(t, sysexit.Report, prog, err, sysexit.DataErr) {
			return
		}
		if out.Len() == 0 {
			return // held
		}
		if _, got := mlmtest.Message(t, stream.NewReader(&out)); got != m {
			t.Fatalf("passed %q as %q", m, got)
		}
	})
}

// fuzzList is a list of the policy whose password is "letmein"
// (letmeinHash), with the queues a post may go to.
func fuzzList(f *testing.F, policy string) string {
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n", "policy": policy + "\n",
		"secret": "0123456789abcdef0123456789abcdef\n", "owner": "owner@example.org\n", "password": letmeinHash + "\n"})
	for _, q := range []string{"hold", "moderate", "owner", "outgoing"} {
		if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
			f.Fatal(err)
		}
	}
	return dir
}

// FuzzQPLine: the first line of a quoted-printable body, its soft line
// breaks joined, is read from within head, ends at an LF or at the end
// of a body that ends in head, and joins lines only at soft breaks;
// qpLine never panics.
func FuzzQPLine(f *testing.F) {
	f.Add([]byte("Approved: let=\nme=\nin\nrest\n"), false)
	f.Add([]byte("Approved: =3D=\r\n\r\nx"), true)
	f.Add([]byte("=\n=\n="), true)
	f.Add([]byte("Approved: pw=\n\nnext paragraph\n"), false)
	f.Fuzz(func(t *testing.T, head []byte, atEOF bool) {
		_, n, ok := qpLine(head, atEOF)
		if !ok {
			return
		}
		if n <= 0 || n > len(head) {
			t.Fatalf("qpLine(%q) took %d octets of %d", head, n, len(head))
		}
		if head[n-1] != '\n' && !(atEOF && n == len(head)) {
			t.Fatalf("qpLine(%q) ends at %d, at no LF and not the body's end", head, n)
		}
		// Each line it joins to the next ends in a soft break.
		lines := bytes.SplitAfter(head[:n], []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines[:len(lines)-1] {
			if !bytes.HasSuffix(bytes.TrimRight(l, " \t\r\n"), []byte("=")) {
				t.Fatalf("qpLine(%q) joined %q, with no soft break, to the next: %q", head, l, head[:n])
			}
		}
	})
}

// FuzzCut: cut takes out of plain text what ReplaceAll does, read in
// pieces of any size, for any password; out of HTML, the same in pieces
// as whole.
func FuzzCut(f *testing.F) {
	f.Add("xx<b>Approved:</b>&nbsp;p&amp;w yy approved :\n\np&w", "p&w", 3)
	f.Add("Approved:Approved: pwpw", "pw", 1)
	f.Add("Approved: <span>p</span>&#119;", "pw", 0)
	f.Fuzz(func(t *testing.T, text, pw string, size int) {
		if strings.TrimSpace(pw) == "" || len(pw) > 64 {
			return
		}
		size = 64 + abs(size)%300
		tf := newTextFinder([]string{pw})
		var b bytes.Buffer
		n, err := cutIn(&b, strings.NewReader(text), tf, size)
		want := tf.re.ReplaceAllString(text, "")
		if b.String() != want || err != nil || n != len(tf.re.FindAllStringIndex(text, -1)) {
			t.Fatalf("cut %q (%d, %v); want %q", b.String(), n, err, want)
		}
		hf := newHTMLFinder([]string{pw})
		var whole, pieces bytes.Buffer
		cutIn(&whole, strings.NewReader(text), hf, 1<<20)
		cutIn(&pieces, strings.NewReader(text), hf, size)
		if whole.String() != pieces.String() {
			t.Fatalf("HTML cut in pieces of %d: %q; whole: %q", size, pieces.String(), whole.String())
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// FuzzPasswordInParts: a post whose text/plain part, in any encoding,
// starts with the list password, beside an HTML part of any text that
// gives it too, passes; its text part reads as it did but for the line,
// the HTML part as it did but for each "Approved: password", and what
// precedes the text part passes byte for byte. mlm-auth never fails.
func FuzzPasswordInParts(f *testing.F) {
	f.Add("Hello\nmembers\n", "<div>Approved: letmein</div><p>Hi</p>", 0, 1)
	f.Add("", "Approved:\r\n letmein", 1, 2)
	f.Add(strings.Repeat("\xff=\r", 50), "a", 2, 0)
	dir := fuzzList(f, "members")
	encs := []string{"base64", "quoted-printable", "8bit"}
	encode := func(s, enc string) string {
		switch enc {
		case "base64":
			return mlmtest.Base64Lines(s)
		case "quoted-printable":
			return qpText(s) + "\n"
		}
		return s + "\n"
	}
	f.Fuzz(func(t *testing.T, text, html string, plainEnc, htmlEnc int) {
		pe, he := encs[abs(plainEnc)%3], encs[abs(htmlEnc)%2] // (the HTML in an encoding no delimiter is in)
		if pe == "8bit" && strings.Contains(text, "--=_b") || strings.Contains(text+html, "\r") {
			return // (quoted-printable writes line ends as it will: see qpText)
		}
		html = "<p>Approved: letmein</p>" + html
		head := "From: a@example.org\nSubject: x\nContent-Type: multipart/alternative; boundary=\"=_b\"\n\n--=_b\nContent-Transfer-Encoding: " + pe + "\n\n"
		m := head + encode("Approved: letmein\n"+text, pe) + "--=_b\nContent-Type: text/html\nContent-Transfer-Encoding: " + he + "\n\n" + encode(html, he) + "--=_b--\n"
		out, _ := authPost(t, dir, "r", m)
		if len(out) == 0 {
			t.Fatalf("held\n%q", m)
		}
		_, got := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
		if !strings.HasPrefix(got, head) {
			t.Fatalf("passed\n%q\nfor\n%q", got, m)
		}
		body := got[strings.Index(got, "\n\n")+2:]
		w := mimewalk.New("multipart/alternative; boundary=\"=_b\"", mimewalk.Default)
		var parts []string
		w.OnLeaf(func(l mimewalk.Leaf) {
			d, _ := io.ReadAll(mimewalk.NewDecoder(strings.NewReader(body[l.Start:l.End]), l.Encoding))
			parts = append(parts, string(d))
		})
		w.Write([]byte(body))
		w.End()
		var cutHTML bytes.Buffer
		cutIn(&cutHTML, strings.NewReader(html), newHTMLFinder([]string{"letmein"}), 1<<20)
		wantText, wantHTML := text, cutHTML.String()
		if len(parts) != 2 || parts[0] != wantText || parts[1] != wantHTML {
			t.Fatalf("parts %q; want %q, %q", parts, wantText, wantHTML)
		}
	})
}

// FuzzForwarded: where the first line gave the password, a forwarded
// message in any encoding (as it is, base64, quoted-printable, one no
// reader decodes) passes without the Approved field of its header that
// gives it, and with the rest of its header whole: no empty line left
// where a field went, nor the header's own taken, whatever its other
// fields and its body hold. mlm-auth never fails.
func FuzzForwarded(f *testing.F) {
	f.Add("Fwd: Approved: letmein", "hello\n", 0)
	f.Add("the word is Approved:", "letmein\nline 2\n", 1)
	f.Add("x", "Approved: letmein\n", 3)
	dir := fuzzList(f, "members")
	f.Fuzz(func(t *testing.T, subject, body string, enc int) {
		e := fwdEncodings[abs(enc)%len(fwdEncodings)]
		if strings.ContainsAny(subject, "\r\n") || strings.Contains(subject+body, "\r") || strings.Contains(subject+body, "=_o") {
			return
		}
		inner := "From: x@example.net\nApproved: letmein\nSubject: " + subject + "\nX-End: 1\n\n" + body
		if hdr, ok := forwardedHeader(t, dir, e, inner); ok {
			checkForwarded(t, hdr, inner)
		}
	})
}

// fwdEncodings are the encodings a forwarded message is fuzzed in.
var fwdEncodings = []string{"7bit", "base64", "quoted-printable", "x-unknown"}

// forwardedHeader runs a post through mlm-auth in the list dir whose
// first line gives the password, "letmein", and whose second part is
// inner forwarded in the encoding enc, and returns the header of the
// forwarded message that passed, decoded; false if the post was held
// (a structure the walk refuses, as it is).
func forwardedHeader(t *testing.T, dir, enc, inner string) (string, bool) {
	t.Helper()
	part := inner
	switch enc {
	case "base64":
		part = mlmtest.Base64Lines(inner)
	case "quoted-printable":
		part = qpText(inner) + "\n"
	}
	m := "From: a@example.org\nSubject: x\nContent-Type: multipart/mixed; boundary=\"=_o\"\n\n--=_o\n\nApproved: letmein\nhi\n" +
		"--=_o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: " + enc + "\n\n" + part + "\n--=_o--\n"
	out, _ := authPost(t, dir, "r", m)
	if len(out) == 0 {
		return "", false
	}
	_, got := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
	i := strings.Index(got, "Content-Transfer-Encoding: "+enc+"\n\n")
	if i < 0 {
		t.Fatalf("passed\n%q\nfor\n%q", got, m)
	}
	fwd := got[i+len("Content-Transfer-Encoding: "+enc+"\n\n"):]
	fwd = fwd[:strings.LastIndex(fwd, "\n--=_o--")]
	d := []byte(fwd)
	if enc == "base64" || enc == "quoted-printable" {
		d, _ = io.ReadAll(mimewalk.NewDecoder(strings.NewReader(fwd), enc))
	}
	hdr, _, _ := strings.Cut(strings.ReplaceAll(string(d), "\r\n", "\n"), "\n\n")
	return hdr, true
}

// checkForwarded fails t unless hdr, the header of a forwarded message
// that passed, is inner's but for whole fields that went: From first,
// X-End last, no "Approved: letmein", and each line a field or the
// continuation of one.
func checkForwarded(t *testing.T, hdr, inner string) {
	t.Helper()
	lines := strings.Split(hdr, "\n")
	if lines[0] != "From: x@example.net" || lines[len(lines)-1] != "X-End: 1" || regexp.MustCompile(`Approved:\s*letmein`).MatchString(hdr) {
		t.Fatalf("the forwarded message's header\n%q\nof\n%q", hdr, inner)
	}
	for _, l := range lines {
		if n, _, ok := strings.Cut(l, ":"); !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") && (!ok || n == "" || strings.ContainsAny(n, " \t")) {
			t.Fatalf("the forwarded message's header has the line %q, no field:\n%q\nof\n%q", l, hdr, inner)
		}
	}
}

// FuzzForwardedField (a critical read's): FuzzForwarded with a field of
// any name and value in the forwarded message's header: whatever goes
// of it goes whole.
func FuzzForwardedField(f *testing.F) {
	f.Add("X-Approved", "letmein", 0)
	f.Add("Approved", "letmein2", 1)
	f.Add("Approved", "letmein (moderator)", 2)
	f.Add("Comments", "Approved: letmein", 3)
	f.Add("Subject", "=?utf-8?q?Approved:_letmein?=", 0)
	dir := fuzzList(f, "members")
	f.Fuzz(func(t *testing.T, name, value string, enc int) {
		e := fwdEncodings[abs(enc)%len(fwdEncodings)]
		if name == "" || strings.ContainsAny(value, "\r\n") || strings.Contains(value, "=_o") {
			return
		}
		for _, c := range []byte(name) {
			if c < 0x21 || c > 0x7e || c == ':' {
				return
			}
		}
		inner := "From: x@example.net\nApproved: letmein\nSubject: s\n" + name + ": " + value + "\nX-End: 1\n\nbody\n"
		if hdr, ok := forwardedHeader(t, dir, e, inner); ok {
			checkForwarded(t, hdr, inner)
		}
	})
}
