package main

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-message"

	"mlm/lib/mimewalk"
	"mlm/lib/mlmtest"
	"mlm/lib/password"
	"mlm/lib/stream"
)

// pw is the list password of partsList: with an "&", which HTML writes
// "&amp;", and a letter beyond ASCII.
const pw = "s3cr&t-é"

// partsList is passList of pw; authPost's posts come from
// a@example.org, who is no member.
func partsList(t *testing.T) string { return passList(t, pw) }

// qpText is s in quoted-printable, LF line ends.
func qpText(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

const (
	plainText = "Hello members,\nthe meeting moves to Tuesday.\n"
	htmlText  = "<div dir=\"ltr\"><div>Hello members,</div><div>the meeting moves to Tuesday.</div></div>\n"
	pdf       = "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\n"
)

// readerParts returns the text of every text part of m, decoded as a
// mail reader decodes it (go-message), and the raw octets of the others.
func readerParts(t *testing.T, m string) (texts, others []string) {
	t.Helper()
	e, err := message.Read(strings.NewReader(m))
	if err != nil {
		t.Fatalf("%v in\n%s", err, m)
	}
	err = e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil || p.MultipartReader() != nil {
			return err
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return err
		}
		if mt, _, _ := p.Header.ContentType(); strings.HasPrefix(mt, "text/") || mt == "" {
			texts = append(texts, string(b))
		} else {
			others = append(others, string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v in\n%s", err, m)
	}
	return texts, others
}

// TestPasswordInParts: the list password on the first line of the
// post's text, in the forms mail programs send it: a base64 body, the
// text/plain part of a multipart/alternative in base64 or
// quoted-printable, beside an HTML part that says the same, or the first
// part of a multipart/mixed. The post passes, and the password reaches
// the members in no part, as readers show the parts (a forwarded
// message's among them, which go-message shows as it is): the line is taken
// out of the text/plain part, "Approved: password" out of the HTML. The
// rest reads as it did; a part without the password, and the header,
// pass byte for byte.
func TestPasswordInParts(t *testing.T) {
	dir := partsList(t)
	escaped := "s3cr&amp;t-é"
	const head = "From: a@example.org\nSubject: news\nMIME-Version: 1.0\n"
	alt := func(plainCTE, plain, htmlCTE, html string) string {
		return head + "Content-Type: multipart/alternative; boundary=\"000000000000b1\"\n\n" +
			"--000000000000b1\nContent-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: " + plainCTE + "\n\n" + plain +
			"--000000000000b1\nContent-Type: text/html; charset=\"UTF-8\"\nContent-Transfer-Encoding: " + htmlCTE + "\n\n" + html +
			"--000000000000b1--\n"
	}
	for _, tc := range []struct {
		name, m     string
		texts       []string // what readers show of the text parts that pass
		keep        []string // octets that pass as they came
		notInOutput []string // in no form
	}{
		{"gmail base64", alt("base64", mlmtest.Base64Lines("Approved: "+pw+"\n"+plainText),
			"base64", mlmtest.Base64Lines("<div dir=\"ltr\"><div>Approved: "+escaped+"</div><div>Hello members,</div><div>the meeting moves to Tuesday.</div></div>\n")),
			[]string{plainText, "<div dir=\"ltr\"><div></div><div>Hello members,</div><div>the meeting moves to Tuesday.</div></div>\n"},
			[]string{"--000000000000b1\nContent-Type: text/html"}, nil},
		{"outlook quoted-printable", alt("quoted-printable", qpText("Approved: "+pw+"\n"+plainText),
			"quoted-printable", qpText("<html><body><p class=\"MsoNormal\"><b>Approved:</b>&nbsp;"+escaped+"<o:p></o:p></p>"+
				"<p class=\"MsoNormal\">Hello members, the meeting moves to Tuesday, as agreed in the last call with everyone.<o:p></o:p></p></body></html>\n")),
			[]string{strings.TrimSuffix(plainText, "\n"), "<html><body><p class=\"MsoNormal\"><b></b><o:p></o:p></p><p class=\"MsoNormal\">Hello members, the meeting moves to Tuesday, as agreed in the last call with everyone.<o:p></o:p></p></body></html>"},
			[]string{"Hello members,\n"}, nil},
		{"thunderbird mixed", head + "Content-Type: multipart/mixed; boundary=\"------------x7\"\n\nThis is a multi-part message in MIME format.\n" +
			"--------------x7\nContent-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: 8bit\n\nApproved: " + pw + "\n" + plainText + "\n" +
			"--------------x7\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n" + pdf + "\n--------------x7--\n",
			[]string{plainText},
			[]string{"This is a multi-part message in MIME format.\n--------------x7\nContent-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: 8bit\n\n" + plainText +
				"\n--------------x7\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n" + pdf + "\n--------------x7--\n"}, nil},
		{"base64 body", head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("Approved: "+pw+"\r\n"+strings.Repeat("A long post. ", 200)),
			[]string{strings.Repeat("A long post. ", 200)}, nil, nil},
		{"nested", head + "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n" +
			"--i\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("Approved: "+pw+"\n"+plainText) +
			"--i\nContent-Type: text/html; charset=utf-8\n\n<p>Approved:\n" + escaped + "</p>" + htmlText + "--i--\n" +
			"--o\nContent-Type: message/rfc822\n\nSubject: forwarded\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nApproved: s3cr&t-=C3=A9 was the line\n" +
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("Subject: in\nContent-Type: text/html\n\n<p>Approved: "+escaped+"</p>\n") +
			"--o\nContent-Type: text/plain; name=notes.txt\nContent-Disposition: attachment\n\nno password here\n--o--\n",
			[]string{plainText, "<p></p>" + strings.TrimSuffix(htmlText, "\n"), "no password here"},
			[]string{"--o\nContent-Type: text/plain; name=notes.txt\nContent-Disposition: attachment\n\nno password here\n--o--\n"}, nil},
		{"CRLF", strings.ReplaceAll(alt("base64", mlmtest.Base64Lines("Approved: "+pw+"\n"+plainText), "quoted-printable", qpText("<p>Approved: "+escaped+"</p>"+htmlText)), "\n", "\r\n"),
			[]string{plainText, "<p></p>" + strings.TrimSuffix(htmlText, "\n")}, []string{"\r\n--000000000000b1--\r\n"}, []string{"\n\n", "=\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, held := authPost(t, dir, "p", tc.m)
			wantPassed(t, "p", out, held)
			_, m := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
			texts, others := readerParts(t, m)
			for _, s := range append(append(others, texts...), m) {
				if strings.Contains(s, "s3cr") {
					t.Errorf("the password passed on, in\n%s\nof\n%s", s, m)
				}
			}
			if strings.Join(texts, "|") != strings.Join(tc.texts, "|") {
				t.Errorf("text parts\n%q\nwant\n%q", texts, tc.texts)
			}
			headEnd := strings.Index(tc.m, "\n\n")
			if strings.Contains(tc.m, "\r\n") {
				headEnd = strings.Index(tc.m, "\r\n\r\n")
			}
			if !strings.HasPrefix(m, tc.m[:headEnd]) {
				t.Errorf("header changed:\n%s", m)
			}
			for _, k := range tc.keep {
				if !strings.Contains(m, k) {
					t.Errorf("%q changed in\n%s", k, m)
				}
			}
			for _, k := range tc.notInOutput {
				if strings.Contains(m, k) {
					t.Errorf("%q in\n%s", k, m)
				}
			}
			if strings.Contains(tc.m, "\r\n") && regexp.MustCompile(`[^\r]\n`).MatchString(m) {
				t.Errorf("LF line ends in a CRLF message:\n%q", m)
			}
		})
	}
}

// TestPasswordInPartsWrong: a wrong password, or none, on the first line
// of a multipart post's text changes nothing: the post is judged as any
// other, and held or passed as it came, byte for byte.
func TestPasswordInPartsWrong(t *testing.T) {
	dir := partsList(t)
	for id, first := range map[string]string{"wrong": "Approved: s3cr&t-e\n", "none": "Hi,\n", "second": "Hi,\nApproved: " + pw + "\n"} {
		m := "From: a@example.org\nSubject: x\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" +
			mlmtest.Base64Lines(first+plainText) + "--b\nContent-Type: text/html\n\n<p>" + first + "</p>\n--b--\n"
		out, held := authPost(t, dir, id, m)
		wantHeld(t, id, out, held, "the%20sender%20is%20not%20a%20member")
		if _, got := mlmtest.Message(t, stream.NewReader(bytes.NewReader(held))); got != m {
			t.Errorf("%s: held\n%s\nwant\n%s", id, got, m)
		}
	}
}

// TestCut: cut takes out every "Approved: password" of a plain text,
// wherever the reads and its buffer cut the text, as ReplaceAll does on
// the whole.
func TestCut(t *testing.T) {
	f := newTextFinder([]string{pw})
	at := 64<<10 - 7 // across the first buffer's end
	text := strings.Repeat("x", at) + "APPROVED:\t" + pw + " and approved:" + strings.Repeat(" ", 20) + pw +
		" and Approved : " + pw + strings.Repeat("y", 70<<10) + "Approved:\n" + pw + " Approved: s3cr&amp;t-é"
	want := f.re.ReplaceAllString(text, "")
	var b bytes.Buffer
	n, err := cut(&b, iotest.HalfReader(strings.NewReader(text)), f)
	if b.String() != want || n != 4 || err != nil || strings.Count(want, "s3cr") != 1 {
		t.Errorf("cut %d (%v), %d octets left; want 4, %d, the password once (in HTML's form)", n, err, b.Len(), len(want))
	}
}

// TestHTMLFinder: "Approved: password" is taken out of HTML as a browser
// shows it, in the forms Gmail, Outlook and Apple Mail write, the tags
// in it kept. Found by review: a password Gmail writes with &#39; and
// &quot;, that Outlook wraps, spell-checks or styles, or that has a run
// of spaces, went on to the members.
func TestHTMLFinder(t *testing.T) {
	for _, tc := range []struct{ pw, html, want string }{
		{`it's "x"`, `<div>Approved: it&#39;s &quot;x&quot;</div>`, `<div></div>`},
		{"a&b <c> d", "<p class=MsoNormal>Approved: a&amp;b\r\n&lt;c&gt; d<o:p></o:p></p>", "<p class=MsoNormal><o:p></o:p></p>"},
		{"a&b <c> d", "Approved: <span class=SpellE>a&amp;b</span> &lt;c&gt; d.", "<span class=SpellE></span>."},
		{"a  b", "<div>Approved: a&nbsp; b</div>", "<div></div>"},
		{"pässwörd", "Approved: p&#228;ssw&#xF6;rd", ""},
		{"pässwörd", "Approved:&nbsp;p&auml;ssw&ouml;rd!", "!"},
		{"a&b <c> d", "<b>Approved:</b><span lang=EN-US style='font-size:11.0pt;font-family:\"Calibri\",sans-serif;mso-fareast-font-family:Calibri;mso-fareast-theme-font:minor-latin;mso-ansi-language:EN-US'> a&#38;b &#60;c&#62; d</span>",
			"<b></b><span lang=EN-US style='font-size:11.0pt;font-family:\"Calibri\",sans-serif;mso-fareast-font-family:Calibri;mso-fareast-theme-font:minor-latin;mso-ansi-language:EN-US'></span>"},
		{"pw", "Approved:" + strings.Repeat("<i>\n", 11) + "pw" + strings.Repeat("</i>", 11), strings.Repeat("<i>", 11) + strings.Repeat("</i>", 11)},
		{"pw", "approved:pw APPROVED : pw", " "},
		{"secret.example.com", `<div dir="ltr">Approved: <a href="http://secret.example.com">secret.example.com</a></div>`, `<div dir="ltr"></a></div>`},
		{"pw", "Approved: pwd and <a title='Approved: pw'>x</a> Approved: p w", "d and <a title='Approved: pw'>x</a> Approved: p w"},
	} {
		f := newHTMLFinder([]string{tc.pw})
		for _, size := range []int{1, 64 << 10} {
			var b bytes.Buffer
			if _, err := cutIn(&b, strings.NewReader(tc.html), f, size); b.String() != tc.want || err != nil {
				t.Errorf("%q in %q (size %d): %q, %v; want %q", tc.pw, tc.html, size, b.String(), err, tc.want)
			}
		}
	}
}

// passList is a list of one member, b@example.org, whose password is
// given.
func passList(t *testing.T, given string) string {
	t.Helper()
	dir := membersList(t, "b@example.org\n")
	hash, err := password.Hash(given)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(hash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPasswordLineForms: the first line of the text is read as readers
// show it: from its charset (Latin-1, as Outlook writes a password beyond
// ASCII), after blank lines and a byte-order mark, and in format=flowed
// with the lines that flow into it (Thunderbird wraps a long passphrase
// so). The post passes, without the password in any form; an HTML part
// in windows-1252 loses it too. Found by review: each was held with the
// password in it, which a moderator's approval sent on. In format=flowed,
// a line that gives the password alone, a space after it, is the line
// (R73: it flowed into the next, gave no password, and went on).
func TestPasswordLineForms(t *testing.T) {
	const phrase = "correct horse battery staple and more words"
	lists := map[string]string{pw: partsList(t), phrase: passList(t, phrase)}
	const head = "From: a@example.org\nSubject: x\nMIME-Version: 1.0\n"
	for _, tc := range []struct {
		name, pw, m, body string // body: what passes of the body
	}{
		{"latin-1", pw, head + "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
			"Approved: s3cr&t-=E9\nHello\n--b\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n<p>Approved: s3cr&amp;t-\xe9</p><p>Hello</p>\n--b--\n",
			"--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nHello\n--b\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n<p></p><p>Hello</p>\n--b--\n"},
		{"flowed", phrase, head + "Content-Type: text/plain; charset=utf-8; format=flowed\n\nApproved: correct horse battery \nstaple and more words\nHello\n", "Hello\n"},
		{"flowed delsp", phrase, head + "Content-Type: text/plain; format=flowed; delsp=yes\nContent-Transfer-Encoding: quoted-printable\n\nApproved: correct horse battery =20\nstaple and more words\nHello\n", "Hello\n"},
		// A space after the password makes its line flow into the
		// next: the line alone gives it, and goes (it stayed, for the
		// members to read).
		{"flowed, space after", pw, head + "Content-Type: text/plain; charset=utf-8; format=flowed\n\nApproved: " + pw + " \nHello list,\n", "Hello list,\n"},
		{"flowed parts, space after", pw, head + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; format=flowed\n\nApproved: " + pw + " \nHello list,\n--b--\n",
			"--b\nContent-Type: text/plain; format=flowed\n\nHello list,\n--b--\n"},
		{"blank lines", pw, head + "Content-Type: text/plain; charset=utf-8\n\n\n\r\nApproved: " + pw + "\nHello\n", "Hello\n"},
		{"byte-order mark", pw, head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("\ufeffApproved: "+pw+"\nHello\n"), mlmtest.Base64Lines("Hello\n")},
	} {
		out, held := authPost(t, lists[tc.pw], "p", tc.m)
		wantPassed(t, tc.name, out, held)
		_, m := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
		if _, body, _ := strings.Cut(m, "\n\n"); body != tc.body {
			t.Errorf("%s: passed\n%q\nwant\n%q", tc.name, body, tc.body)
		}
	}
}

// TestPasswordInForwardedHeader: where the first line gave the password,
// a forwarded message's header (the poster's own copy of a post, sent
// with it) loses each Approved field that gives it, whole, with its
// continuation lines and line end (a review): in a message part as it
// is, which was not looked at, and the password went to the members;
// and in base64, where its text went and its line end stayed, an empty
// line that ended the header there. Its other fields, a wrong password's
// among them, stay.
func TestPasswordInForwardedHeader(t *testing.T) {
	dir := partsList(t)
	const inner = "From: x@example.net\nApproved: " + pw + "\nApproved: nope\nSubject: fwd\nApproved:\n =?utf-8?q?s3cr&t-=C3=A9?=\nX-Y: z\n\nold post\n"
	const want = "From: x@example.net\nApproved: nope\nSubject: fwd\nX-Y: z\n\nold post\n"
	head := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nApproved: " + pw + "\n" + plainText
	for _, tc := range []struct{ name, part, wantPart string }{
		{"as it is", "Content-Type: message/rfc822\n\n" + inner, "Content-Type: message/rfc822\n\n" + want},
		{"base64", "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(inner),
			"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(want)},
		{"quoted-printable", "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n" + qpText(inner),
			"Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n" + qpText(want)},
		// An encoding no reader decodes: its header's field goes
		// whole too (a critical read: its text went, and its line
		// end stayed, an empty line that ended the header there).
		{"x-unknown", "Content-Type: message/rfc822\nContent-Transfer-Encoding: x-unknown\n\n" + inner,
			"Content-Type: message/rfc822\nContent-Transfer-Encoding: x-unknown\n\n" + want},
		{"a digest's", "Content-Type: multipart/digest; boundary=d\n\n--d\n\n" + inner + "--d--\n",
			"Content-Type: multipart/digest; boundary=d\n\n--d\n\n" + want + "--d--\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, held := authPost(t, dir, "p", head+"--o\n"+tc.part+"--o--\n")
			wantPassed(t, "p", out, held)
			_, m := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
			if wantM := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
				"--o\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + plainText + "--o\n" + tc.wantPart + "--o--\n"; m != wantM {
				t.Errorf("passed\n%s\nwant\n%s", m, wantM)
			}
		})
	}
}

// TestPasswordInForwardedOther: where the first line gave the password,
// a forwarded message in an encoding no reader decodes loses it as a
// text part does, and one as it is, or in base64, loses each field of
// its header that gives it, whole ("Subject: Fwd: Approved: password"):
// critical reads found cutMessage copied the first as it was, and left
// the others' fields alone.
func TestPasswordInForwardedOther(t *testing.T) {
	dir := partsList(t)
	head := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nApproved: " + pw + "\n" + plainText
	for name, part := range map[string]string{
		"x-unknown": "Content-Type: message/rfc822\nContent-Transfer-Encoding: x-unknown\n\nSubject: fwd\n\nApproved: " + pw + "\nold\n",
		"7bit":      "Content-Type: message/rfc822\n\nFrom: x@example.net\nSubject: Fwd: Approved: " + pw + "\nX-Y: z\n\nold\n",
		"base64": "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
			mlmtest.Base64Lines("From: x@example.net\nSubject: Fwd: Approved: "+pw+"\nComments: Approved: "+pw+"\nX-Y: z\n\nold\n"),
	} {
		out, held := authPost(t, dir, "p", head+"--o\n"+part+"--o--\n")
		wantPassed(t, name, out, held)
		_, m := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
		if strings.Contains(m, "s3cr") {
			t.Errorf("%s: the password passed on, in\n%s", name, m)
		}
		if name == "7bit" && !strings.Contains(m, "\nContent-Type: message/rfc822\n\nFrom: x@example.net\nX-Y: z\n\nold\n") {
			t.Errorf("%s: the forwarded message\n%s", name, m)
		}
		if name == "base64" {
			e, err := message.Read(strings.NewReader(m))
			if err != nil {
				t.Fatal(err)
			}
			mr := e.MultipartReader()
			mr.NextPart()
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			inner, _ := io.ReadAll(p.Body)
			if string(inner) != "From: x@example.net\nX-Y: z\n\nold\n" {
				t.Errorf("%s: the forwarded message\n%q", name, inner)
			}
		}
	}
}

// TestForwardedHeaderEnd: in a forwarded message in base64, what the
// finder takes is taken from its header and from its body apart: the
// empty line between, which a header's last "...Approved:" and a body's
// first line would span, stays (a critical read: it went, and the body
// was read as header lines).
func TestForwardedHeaderEnd(t *testing.T) {
	dir := partsList(t)
	const inner = "From: x@example.net\nSubject: the word is Approved:\n\n" + pw + "\nline 2\n"
	head := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nApproved: " + pw + "\n" + plainText
	part := "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(inner)
	out, held := authPost(t, dir, "p", head+"--o\n"+part+"--o--\n")
	wantPassed(t, "p", out, held)
	_, m := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
	if !strings.Contains(m, part) {
		t.Errorf("the forwarded message changed:\n%s", m)
	}
}

// fwdPost sends a post whose first line gives pass, its second part
// part, and returns what follows its first part in what passed ("HELD"
// if held).
func fwdPost(t *testing.T, dir, pass, part string) string {
	t.Helper()
	m := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain; charset=utf-8\n\nApproved: " + pass + "\nhello\n--o\n" + part
	out, held := authPost(t, dir, "p", m)
	if held != nil || len(out) == 0 {
		return "HELD"
	}
	_, got := mlmtest.Message(t, stream.NewReader(bytes.NewReader(out)))
	_, rest, _ := strings.Cut(got, "hello\n--o\n")
	return rest
}

// b64Message is a message/rfc822 part of inner in base64.
func b64Message(inner string) string {
	return "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(inner)
}

// decodedMessage is what fwdPost returned of a b64Message, decoded.
func decodedMessage(part string) string {
	_, body, _ := strings.Cut(part, "\n\n")
	body, _, _ = strings.Cut(body, "--o--")
	b, _ := io.ReadAll(mimewalk.NewDecoder(strings.NewReader(body), "base64"))
	return string(b)
}

// TestForwardedFieldsWhole: a forwarded message's header loses each
// field that gives the password whole, as it is and in base64, and
// every line left is a field or a field's continuation (a critical
// read: cut from within a field, the password's text left "X-" or "2",
// lines of no field that ended the header there, or " (moderator)",
// which folded into the field before); a field in encoded-words that
// gives it goes too; a header no empty line ends, a delimiter's or the
// body's end, is read too; one over 1 MiB, or with bare CRs, loses the
// password's text. A wrong password changes nothing.
func TestForwardedFieldsWhole(t *testing.T) {
	dir := passList(t, "letmein")
	for _, field := range []string{"X-Approved: letmein", "Approved: letmein2", "Approved: letmein (moderator)", "Subject: =?utf-8?q?Fwd:_Approved:_letmein?=",
		"Comments: Fwd: Approved\n : letmein", // as readers show it, "Approved : letmein" (a critical read)
	} {
		inner := "From: x@example.net\nSubject: s\n" + field + "\nX-Y: z\n\nbody\n"
		for enc, part := range map[string]string{"7bit": "Content-Type: message/rfc822\n\n" + inner, "base64": b64Message(inner)} {
			got := fwdPost(t, dir, "letmein", part+"--o--\n")
			if enc == "base64" {
				got = decodedMessage(got)
			}
			got = strings.TrimPrefix(got, "Content-Type: message/rfc822\n\n")
			if want := "From: x@example.net\nSubject: s\nX-Y: z\n\nbody\n"; !strings.HasPrefix(got, want) {
				t.Errorf("%s, %q: passed\n%q\nwant\n%q", enc, field, got, want)
			}
		}
	}
	for name, part := range map[string]string{
		"delimiter":   "Content-Type: message/rfc822\n\nFrom: x@example.net\nApproved: letmein\nSubject: s\n--o--\n",
		"end of body": "Content-Type: message/rfc822\n\nFrom: x@example.net\nApproved: letmein\nSubject: s\n",
		"a part's":    "Content-Type: message/rfc822\n\nFrom: x@example.net\nContent-Type: multipart/mixed; boundary=i\n\n--i\nApproved: letmein\nContent-Type: text/plain\n--i--\n--o--\n",
		// (My first read of such headers lost the next part's.)
		"after a part's":     "Content-Type: message/rfc822\n\nFrom: x@example.net\nContent-Type: multipart/mixed; boundary=i\n\n--i\nA: 1\n--i\nApproved: letmein\nB: 2\n\nbody\n--i--\n--o--\n",
		"over 1 MiB":         "Content-Type: message/rfc822\n\nFrom: x@example.net\nApproved: letmein\nX-Big: " + strings.Repeat("a", 1<<20) + "\nSubject: s\n\nbody\n--o--\n",
		"over 1 MiB, base64": b64Message("From: x@example.net\nApproved: letmein\nX-Big: "+strings.Repeat("a", 1<<20)+"\nSubject: s\n\nbody\n") + "--o--\n",
	} {
		got := fwdPost(t, dir, "letmein", part)
		if strings.Contains(name, "base64") {
			got = decodedMessage(got)
		}
		if got == "HELD" || strings.Contains(got, "letmein") || strings.Contains(part, "Subject: s\n") && !strings.Contains(got, "Subject: s\n") {
			t.Errorf("%s: passed\n%.200q", name, got)
		}
	}
	// Bare CRs, which readers take for line ends and an Edit does not
	// (a critical read: the header was one field, and went whole; in
	// base64 the whole message did): the password's text goes, as
	// from a text part.
	inner := "From: x@example.net\rSubject: s\rApproved: letmein\rX-Y: z\r\rbody text\r"
	for enc, part := range map[string]string{"7bit": "Content-Type: message/rfc822\n\n" + inner + "\n--o--\n", "base64": b64Message(inner) + "--o--\n"} {
		got := fwdPost(t, dir, "letmein", part)
		if enc == "base64" {
			got = decodedMessage(got)
		}
		if strings.Contains(got, "letmein") || !strings.Contains(got, "From: x@example.net\rSubject: s\r") || !strings.Contains(got, "body text") {
			t.Errorf("bare CRs, %s: passed %q; want From, Subject and the body kept, the password not", enc, got)
		}
	}
	part := b64Message("From: x\nApproved: letmein\n\nApproved: letmein\n") + "--o--\n"
	m := "From: a@example.org\nSubject: news\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain\n\nApproved: wrong\nhello\n--o\n" + part
	if _, held := authPost(t, dir, "w", m); !bytes.Contains(held, []byte(":"+strings.ReplaceAll(strings.TrimSuffix(part, "\n"), "\n", "\n:")+"\n")) {
		t.Errorf("a wrong password: held\n%s\nwant the part as it came", held)
	}
}

// TestForwardedBareCR: a forwarded header with bare CRs, which readers
// take for line ends, is split into fields as they read it, and loses
// each that gives the password, an encoded one too, in any encoding; a
// NUL before the CR hides nothing (critical reads: the header was one
// field and went whole, body and all in base64; then the password's
// text alone went, and an encoded-word password passed). And a part's
// header after a close delimiter right after a delimiter, which Python's
// email reads as the part's, is read too.
func TestForwardedBareCR(t *testing.T) {
	dir := passList(t, "letmein")
	for name, part := range map[string]string{
		"encoded Subject":      "Content-Type: message/rfc822\n\nFrom: x@example.net\rSubject: =?utf-8?q?Fwd:_Approved:_letmein?=\rX-Y: z\r\rbody text\r\n--o--\n",
		"encoded Subject, b64": b64Message("From: x@example.net\rSubject: =?utf-8?q?Fwd:_Approved:_letmein?=\rX-Y: z\r\rbody text\r") + "--o--\n",
		"encoded Approved":     "Content-Type: message/rfc822\n\nFrom: x@example.net\rApproved: =?utf-8?q?letmein?=\rX-Y: z\r\rbody text\r\n--o--\n",
		"folded Approved":      "Content-Type: message/rfc822\n\nFrom: x@example.net\rApproved:\r letmein\rX-Y: z\r\rbody text\r\n--o--\n",
		"CRLF and one bare CR": "Content-Type: message/rfc822\n\nFrom: x@example.net\r\nSubject: =?utf-8?q?Fwd:_Approved:_letmein?=\r\nX-Y: a\rb\r\n\r\nbody text\r\n--o--\n",
		"a NUL first":          "Content-Type: message/rfc822\n\nFrom: x@example.net\x00\rSubject: s\rApproved: letmein\rX-Y: z\r\rbody text\r\n--o--\n",
		"a NUL first, b64":     b64Message("From: x@example.net\x00\rSubject: s\rApproved: letmein\rX-Y: z\r\rbody text\r") + "--o--\n",
		// A body of more lines than a header may have fields, which a
		// read of the header by LF alone counted as its (a critical
		// read).
		"many lines, b64":       b64Message("From: x@example.net\rSubject: =?utf-8?q?Fwd:_Approved:_letmein?=\rX-Y: z\r\rbody text\r"+strings.Repeat("a\n", 10001)) + "--o--\n",
		"CRLF, many lines, b64": b64Message("From: x@example.net\r\nApproved: =?utf-8?q?letmein?=\r\nX-Y: z\r\r\nbody text\r\n"+strings.Repeat("a\r\n", 10001)) + "--o--\n",
		"after close delimiter": "Content-Type: message/rfc822\n\nFrom: x@example.net\nContent-Type: multipart/mixed; boundary=i\n\n--i\n--i--\nApproved: letmein\nSubject: s\n\nbody text\n--i--\n--o--\n",
	} {
		got := fwdPost(t, dir, "letmein", part)
		if strings.Contains(name, "b64") {
			got = decodedMessage(got)
		}
		if got == "HELD" || strings.Contains(got, "letmein") || !strings.Contains(got, "From: x@example.net") || !strings.Contains(got, "body text") {
			t.Errorf("%s: passed %q; want From and the body kept, the password not", name, got)
		}
	}
}

// TestApprovedLineChecksOnce: in format=flowed, a first line that does
// not flow is checked once, not alone and again joined, the same text:
// a password is a slow hash, and anyone can send a post (R74: a wrong
// password cost twice the CPU in every flowed post).
func TestApprovedLineChecksOnce(t *testing.T) {
	for _, c := range []struct {
		head  string
		calls int
	}{
		{"Approved: wrong\nHello\n", 1},
		{"Approved: wrong \nHello\n", 2}, // it flows: alone, then joined
	} {
		n := 0
		right := func(string) bool { n++; return false }
		if _, ok := approvedLine([]byte(c.head), true, form{flowed: true}, right); ok || n != c.calls {
			t.Errorf("%q: %v, %d checks; want false, %d", c.head, ok, n, c.calls)
		}
	}
}
