package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"mlm/lib/ascii"
	"mlm/lib/dmarc"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) {
	p := mlmtest.ScriptParams("testdata")
	p.Cmds = maps.Clone(p.Cmds)
	p.Cmds["crlfmsg"] = crlfmsg
	dns := mlmtest.DNS(t, dmarcZone, map[string]bool{"_dmarc.down.example": true})
	p.Setup = func(env *testscript.Env) error {
		env.Setenv(dmarc.ServerEnv, dns)
		return nil
	}
	testscript.Run(t, p)
}

// dmarcZone is the DNS of the scripts' authors' domains.
var dmarcZone = map[string][]string{
	"_dmarc.reject.example":     {"v=DMARC1; p=reject"},
	"_dmarc.quarantine.example": {"v=DMARC1; p=quarantine"},
	"_dmarc.none.example":       {"v=DMARC1; p=none"},
}

// crlfmsg rewrites the message lines (":" lines) of each MLM1 file with
// CRLF line endings, leaving the envelope lines alone: a CRLF message in
// a stream written as LF text.
func crlfmsg(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: crlfmsg file...")
	}
	for _, f := range args {
		b, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		lines := strings.SplitAfter(string(b), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, ":") && strings.HasSuffix(l, "\n") {
				lines[i] = strings.TrimSuffix(l, "\n") + "\r\n"
			}
		}
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(strings.Join(lines, "")), 0o644))
	}
}

// TestRefusesControls: a flag value with a control octet is a usage
// error, reported on one line, before anything is read or written.
func TestRefusesControls(t *testing.T) {
	in := "MLM1 r\nS <>\n:Subject: x\n:\n:y\nE 0\n"
	bad := []string{"X: a\nB: forged", "X: a\r\n", "X: a\rb", "X: a\x00", "X: \x1b[2J", "X: a\x7f", "X\n: a", "X\x00: a"}
	var cases []args
	for _, v := range bad {
		cases = append(cases, args{Add: []string{"Ok: 1", v}}, args{Replace: []string{v}})
	}
	for _, n := range []string{"X\n", "X\r", "X\x00", "X\nB: forged"} {
		cases = append(cases, args{Delete: []string{n}})
	}
	for _, a := range cases {
		var out strings.Builder
		err := run(&a, strings.NewReader(in), &out)
		if sysexit.Code(err) != sysexit.Usage || out.Len() > 0 {
			t.Errorf("run(%+q) = %v, output %q; want 64 and nothing", a, err, out.String())
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n\x00") {
			t.Errorf("error %q is not one line", err)
		}
	}
}

// filter runs mlm-hdr with a on one record holding message, and returns
// the message it writes.
func filter(t *testing.T, a *args, message string) string {
	t.Helper()
	var in, out bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "r"}, strings.NewReader(message), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(a, &in, &out); err != nil {
		t.Fatal(err)
	}
	_, got := mlmtest.Message(t, stream.NewReader(&out))
	return got
}

// TestLongLines: a multipart body with lines longer than the read buffer
// passes through byte for byte; a close delimiter that is not at the
// start of a line is not taken for one.
func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
	os.WriteFile(dir+"/footer", []byte("Footer.\n"), 0o644)
	head := "Content-Type: multipart/mixed; boundary=b\n\n"
	pre := "--b\n\n" + strings.Repeat("y", 200000) + "\n" + strings.Repeat("z", 65536) + "--b--\n"
	post := "--b--\nepilogue " + strings.Repeat("e", 100000)
	got := filter(t, &args{Dir: dir}, head+pre+post)
	part := "--b\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\nFooter.\n"
	_, body, _ := strings.Cut(got, "\n\n")
	if want := pre + part + post; body != want {
		i := 0
		for i < len(body) && i < len(want) && body[i] == want[i] {
			i++
		}
		t.Errorf("body differs at octet %d: got %q; want %q", i, body[i:min(i+80, len(body))], want[i:min(i+80, len(want))])
	}
}

// TestFooterPreambleClose: a close delimiter in the preamble, before
// any delimiter line, is a line of it, as mlm-auth's walk (and Go's
// mime/multipart) reads it: the footer part goes before the close that
// ends the parts. It went before the preamble's, and readers then saw
// the footer alone, the post's parts its epilogue.
func TestFooterPreambleClose(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
	os.WriteFile(dir+"/footer", []byte("Footer.\n"), 0o644)
	head := "Content-Type: multipart/mixed; boundary=b\n\n"
	pre := "--b--\n--b\n\nthe real text\n"
	got := filter(t, &args{Dir: dir}, head+pre+"--b--\n")
	part := "--b\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\nFooter.\n"
	if _, body, _ := strings.Cut(got, "\n\n"); body != pre+part+"--b--\n" {
		t.Errorf("body %q; want %q", body, pre+part+"--b--\n")
	}
}

// TestPrefixDecodes: whatever the subject, the prefixed one decodes to
// the prefix, a space and the old subject.
func TestPrefixDecodes(t *testing.T) {
	for _, prefix := range []string{"[dev]", "[dév]", "[" + strings.Repeat("é", 40) + "]"} {
		for _, subj := range []string{"hello", "=?utf-8?q?caf=C3=A9?=", "=?utf-8?b?Y2Fmw6k=?= ok", "Re:x"} {
			e := msg.NewEdit([]byte("Subject: " + subj + "\r\n\r\n"))
			if err := addPrefix(e, prefix); err != nil {
				t.Fatal(err)
			}
			v, _ := e.Value("Subject")
			if got, want := msg.DecodeText(v), prefix+" "+msg.DecodeText(subj); got != want {
				t.Errorf("prefix %q on %q: %q decodes to %q; want %q", prefix, subj, v, got, want)
			}
			if !strings.HasSuffix(string(e.Bytes()), subj+"\r\n\r\n") {
				t.Errorf("prefix %q on %q: old value changed: %q", prefix, subj, e.Bytes())
			}
		}
	}
}

// FuzzPassThrough: for any message, deleting a field it lacks gives back
// the stream byte for byte, or refuses the header as data (65); adding a
// field adds exactly that line.
func FuzzPassThrough(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody")
	f.Add("Subject: x\n  y\n\n\n--b--\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, m string) {
		var in bytes.Buffer
		h := &stream.Header{ID: "r", Attrs: []stream.Attr{{Name: "x-a", Value: "1 %"}}}
		if err := stream.WriteRecord(&in, h, strings.NewReader(m), []stream.Path{{Mailbox: "b@example.net"}}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(&args{Delete: []string{"X-Absent-Field"}}, bytes.NewReader(in.Bytes()), &out)
		if code := sysexit.Code(err); code != 0 {
			if code != sysexit.DataErr {
				t.Fatalf("run = %v; want 0 or 65", err)
			}
			return
		}
		if !bytes.Equal(out.Bytes(), in.Bytes()) {
			t.Fatalf("deleting an absent field changed %q into %q", in.Bytes(), out.Bytes())
		}
		out.Reset()
		if err := run(&args{Add: []string{"X-New: 1"}}, bytes.NewReader(in.Bytes()), &out); err != nil {
			t.Fatal(err)
		}
		_, got := mlmtest.Message(t, stream.NewReader(&out))
		eol := "\n"
		if i := strings.IndexByte(m, '\n'); i > 0 && m[i-1] == '\r' {
			eol = "\r\n"
		}
		if got != "X-New: 1"+eol+m {
			t.Fatalf("adding a field to %q gave %q", m, got)
		}
	})
}

// TestFooterLimits: a multipart/mixed body within mimewalk's limits gets
// the footer part; one past them before its close delimiter (100,000
// parts, 16,000 levels) is copied byte for byte without it, as is one
// with no close delimiter.
func TestFooterLimits(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
	os.WriteFile(dir+"/footer", []byte("Footer.\n"), 0o644)
	var deep strings.Builder
	for i := 1; i < 16_000; i++ {
		fmt.Fprintf(&deep, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	for i := 16_000; i >= 1; i-- {
		fmt.Fprintf(&deep, "--b%d--\n", i)
	}
	head := func(b string) string { return "Content-Type: multipart/mixed; boundary=" + b + "\n\n" }
	footPart := "--x\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\nFooter.\n"
	for _, tc := range []struct {
		name, head, body, want string
	}{
		{"10 parts", head("x"), strings.Repeat("--x\n\nx\n", 10) + "--x--\n", strings.Repeat("--x\n\nx\n", 10) + footPart + "--x--\n"},
		{"100,000 parts", head("x"), strings.Repeat("--x\n\nx\n", 100_000) + "--x--\n", ""},
		{"16,000 levels", head("b1"), deep.String(), ""},
		{"no close delimiter", head("x"), "--x\n\nx\n", ""},
	} {
		got := filter(t, &args{Dir: dir}, tc.head+tc.body)
		_, body, _ := strings.Cut(got, "\n\n")
		if want := cmp.Or(tc.want, tc.body); body != want {
			t.Errorf("%s: body of %d octets; want %d", tc.name, len(body), len(want))
		}
	}
}

// TestFooterReadsRight: a footer with a line that would be read as the
// multipart's delimiter goes in base64, and the post still has its two
// parts, the second the footer, its lines ending in CRLF, the canonical
// form of text in base64 (RFC 2045 section 6.8); a text/plain body in a charset where
// ASCII octets are not ASCII text (UTF-16, UTF-7, ...) gets no footer
// appended, in any encoding, but is wrapped: the first part of a new
// multipart/mixed, unchanged, the footer its second. (From a review.)
func TestFooterReadsRight(t *testing.T) {
	footer := "--------------------\nTo unsubscribe, write to dev-unsubscribe@lists.example.org\n"
	const b = "------------------"
	dir, parts, _ := footedParts(t, footer, `"`+b+`"`, b)
	if len(parts) != 2 || parts[0] != "hi" || parts[1] != strings.ReplaceAll(footer, "\n", "\r\n") {
		t.Errorf("parts %q; want \"hi\" and the footer, in CRLF lines", parts)
	}
	for _, tc := range []struct{ charset, cte, body string }{
		{"utf-16", "quoted-printable", "=FE=FF=00h=00i=00=0A\n"},
		{"UTF-16BE", "8bit", "\x00h\x00i\x00\n"},
		{"utf-32le", "7bit", "h\x00\x00\x00\n\x00\x00\x00"},
		{"utf-7", "7bit", "+AGgAaQ-\n"},
	} {
		ct := "text/plain; charset=" + tc.charset
		m := "Content-Type: " + ct + "\nContent-Transfer-Encoding: " + tc.cte + "\n\n" + tc.body
		got := filter(t, &args{Dir: dir}, m)
		if h, body, foot := unwrapped(t, got); h.Get("Content-Type") != ct || !strings.EqualFold(h.Get("Content-Transfer-Encoding"), tc.cte) || body != tc.body || foot+"\n" != footer {
			t.Errorf("charset %s, %s: %q; want the body unchanged, wrapped, and the footer", tc.charset, tc.cte, got)
		}
	}
	// EBCDIC by any of its names (IBM037 is the ebcdic-cp-us of the
	// charsets tried before), UTF-16 and UTF-32 by their cs names.
	const ebcdic = "\x88\x89\x25" // "hi\n" in IBM037
	for _, cs := range []string{"IBM037", "cp037", "csIBM037", "IBM500", "ibm-1047", "IBM01140", "CP1148", "x-IBM930", "IBM-Thai", "csUTF16", "csUTF32", "UTF16",
		// and glibc's EBCDIC pages by number (iconv -l), which its
		// table of pages had left out
		"IBM803", "IBM1166", "CP4517", "csIBM4899", "IBM-9030",
		// and by the CCSID aliases IANA's registry gives them
		"CCSID01140", "ccsid00924",
		// UCS-4 by IANA's other names, and UTF-16 by Java's (a review)
		"csUCS4", "10646-1:1993", "x-UTF-16LE-BOM"} {
		m := "Content-Type: text/plain; charset=" + cs + "\nContent-Transfer-Encoding: 8bit\n\n" + ebcdic
		if got := filter(t, &args{Dir: dir}, m); !strings.Contains(got, "\n\n"+ebcdic+"\n--=_mlm_") {
			t.Errorf("charset %s: %q; want the body unchanged, wrapped", cs, got)
		}
	}
	// ASCII's: the IBM PC pages are no EBCDIC.
	for _, cs := range []string{"iso-8859-1", "IBM437", "cp850", "csPC850Multilingual", "windows-1252", "cp1252", "IBM00858", "CCSID00858", "koi8-r", "UNICODE-1-1-UTF-8"} {
		m := "Content-Type: text/plain; charset=" + cs + "\n\nhi\n"
		if got := filter(t, &args{Dir: dir}, m); !strings.HasSuffix(got, "\nhi\n"+footer) {
			t.Errorf("charset %s: %q; want the footer appended", cs, got)
		}
	}
}

// TestFooterWrappedDelimiter: a footer that is not ASCII goes in
// quoted-printable, whose soft line breaks start new lines of their own:
// where one starts with the multipart's delimiter (the poster chooses
// the boundary), the footer goes in base64 as a footer line that starts
// so does, and the post still has its two parts, the second the footer.
func TestFooterWrappedDelimiter(t *testing.T) {
	footer := "\u00e9" + strings.Repeat("x", 69) + "--frontier\n"
	const b = "frontier"
	_, parts, body := footedParts(t, footer, b, b)
	if len(parts) != 2 || parts[0] != "hi" || parts[1] != strings.ReplaceAll(footer, "\n", "\r\n") {
		t.Errorf("parts %q; want \"hi\" and the footer, in CRLF lines (base64); body:\n%s", parts, body)
	}
}

// TestFooterFlowed: in a format=flowed body (RFC 3676) the footer is
// read line by line as written: a footer line ending in a space is not
// joined to the next, one starting with a space, ">" or "From " is not
// unstuffed or quoted, and a body whose last line ends in a space (a
// flowed line) does not take the footer's first line into its
// paragraph. Each body is read as a flowed reader does (unflow).
func TestFooterFlowed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
	footer := "dev mailing list \n  https://lists.example.org/dev\n> unsubscribe: dev-unsubscribe@lists.example.org\nFrom the owners\n-- \nend\n"
	os.WriteFile(dir+"/footer", []byte(footer), 0o644)
	want := []string{"dev mailing list", "  https://lists.example.org/dev", "> unsubscribe: dev-unsubscribe@lists.example.org", "From the owners", "-- ", "end"}
	for _, tc := range []struct {
		name, ct, cte, body string
		paras               []string // the body's own, unflowed
	}{
		{"fixed last line", "text/plain; charset=us-ascii; format=flowed", "7bit", "Hello \nworld\n", []string{"Hello world"}},
		{"flowed last line", "text/plain; format=Flowed; delsp=yes", "7bit", "Hello \nworld \n", []string{"Helloworld"}},
		{"flowed last line, no line end", "text/plain; format=flowed", "7bit", "Hello \nworld ", []string{"Hello world "}},
		{"quoted-printable", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld\n", []string{"Hello world"}},
		{"quoted-printable, flowed last line", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld=20 \t\n", []string{"Hello world "}},
		{"quoted-printable, flowed last line, no line end", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld=20", []string{"Hello world "}},
		{"quoted-printable, space before a soft break", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld =\n", []string{"Hello world "}},
		{"quoted-printable, =20 before a soft break", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld=20=  \n", []string{"Hello world "}},
		{"quoted-printable, fixed last line", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld  \n", []string{"Hello world"}},
		// Python's encoder: a soft break after the space, then the
		// hard line end on a line of its own.
		{"quoted-printable, soft break then an empty line", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld =\n\n", []string{"Hello world "}},
		{"quoted-printable, soft breaks alone", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld=20=\n=\n \n", []string{"Hello world "}},
		{"quoted-printable, soft break then text", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld =\nend\n", []string{"Hello world end"}},
		// A soft break last, after a fixed line or a flowed one (a
		// review): the decoded line it leaves open is the last.
		{"quoted-printable, soft break last, after a fixed line", "text/plain; format=flowed", "quoted-printable", "Hello\nworld =\n", []string{"Hello", "world "}},
		{"quoted-printable, soft break last, no space, after a flowed line", "text/plain; format=flowed", "quoted-printable", "Hello=20\nworld=\n", []string{"Hello world"}},
		// The signature separator is no flowed line (RFC 3676 section
		// 4.3): no empty line after it.
		{"signature separator last", "text/plain; format=flowed", "7bit", "Hello\n-- \n", []string{"Hello", "-- "}},
		{"quoted-printable, signature separator last", "text/plain; format=flowed", "quoted-printable", "Hello\n--=20\n", []string{"Hello", "-- "}},
		{"quoted-printable, a longer line ending -- ", "text/plain; format=flowed", "quoted-printable", "Hello\nx--=20\n", []string{"Hello", "x-- "}},
	} {
		m := "Content-Type: " + tc.ct + "\nContent-Transfer-Encoding: " + tc.cte + "\n\n" + tc.body
		_, body, _ := strings.Cut(filter(t, &args{Dir: dir}, m), "\n\n")
		if tc.cte == "quoted-printable" {
			b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		// "From " is stuffed (RFC 3676 section 4.4): a delivery to an
		// mbox would make it ">From ", shown as a quote.
		if strings.HasPrefix(body, "From ") || strings.Contains(body, "\nFrom ") {
			t.Errorf("%s: %q has a line that starts with \"From \"", tc.name, body)
		}
		got := unflow(body, strings.Contains(tc.ct, "delsp=yes"))
		if w := append(slices.Clone(tc.paras), want...); !slices.Equal(got, w) {
			t.Errorf("%s: %q reads as\n%q; want\n%q", tc.name, body, got, w)
		}
	}
}

// unflow returns the lines of format=flowed text as a reader shows
// them (RFC 3676 section 4): flowed lines (ending in a space, a
// signature separator "-- " aside) joined to the next, the space
// deleted with delsp, one space of stuffing removed; a quoted line (">")
// with its quote marks and "quoted " before it, since a quote is shown
// as one.
func unflow(s string, delsp bool) []string {
	var out []string
	var cur string
	open := false
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		l = strings.TrimSuffix(l, "\r")
		quoted := strings.HasPrefix(l, ">")
		l = strings.TrimPrefix(l, " ")
		flowed := strings.HasSuffix(l, " ") && l != "-- "
		if flowed && delsp {
			l = l[:len(l)-1]
		}
		if quoted && !open {
			l = "quoted " + l
		}
		cur += l
		if open = flowed; !open {
			out = append(out, cur)
			cur = ""
		}
	}
	if open {
		out = append(out, cur)
	}
	return out
}

// TestManyFieldsThenCR: a header of msg.MaxFields fields and a CR alone
// at the end of the message is one field too many, refused (65) as any
// header of more fields is, not passed on.
func TestManyFieldsThenCR(t *testing.T) {
	in := "MLM1 r\nS <a@example.org>\n" + strings.Repeat(":X: y\n", msg.MaxFields) + ";\r\nE 0\n"
	var out bytes.Buffer
	if err := run(&args{}, strings.NewReader(in), &out); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("run = %v (exit %d); want a refusal (65)", err, sysexit.Code(err))
	}
}

// footedParts runs mlm-hdr, with a list whose footer is footer, on a
// multipart/mixed post of one part, "hi", whose boundary is b, given in
// its Content-Type as param (quoted or not). It returns the list
// directory, the parts of the post it passes on, decoded, and its body.
func footedParts(t *testing.T, footer, param, b string) (dir string, parts []string, body string) {
	t.Helper()
	dir = t.TempDir()
	os.WriteFile(dir+"/address", []byte("dev@lists.example.org\n"), 0o644)
	os.WriteFile(dir+"/footer", []byte(footer), 0o644)
	m := "Content-Type: multipart/mixed; boundary=" + param + "\n\n--" + b + "\nContent-Type: text/plain\n\nhi\n--" + b + "--\n"
	_, body, _ = strings.Cut(filter(t, &args{Dir: dir}, m), "\n\n")
	return dir, decodedParts(t, body, b), body
}

// unwrapped returns, of a message mlm-hdr wrapped with the footer (a new
// multipart/mixed), its first part's header and body as they are, and
// its second part's text, decoded (its last line end the delimiter's,
// RFC 2046 section 5.1.1); it fails the test if the message is not two
// such parts.
func unwrapped(t *testing.T, m string) (textproto.MIMEHeader, string, string) {
	t.Helper()
	h, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(m)), msg.MaxHeader)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(h.Fields.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "=_mlm_") {
		t.Fatalf("%q: not wrapped (%v)", m, err)
	}
	_, body, _ := strings.Cut(m, "\n\n")
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	first, err := mr.NextRawPart()
	if err != nil {
		t.Fatalf("%q: first part: %v", m, err)
	}
	raw, err := io.ReadAll(first)
	if err != nil {
		t.Fatal(err)
	}
	foot, err := mr.NextPart() // quoted-printable decoded
	if err != nil {
		t.Fatalf("%q: second part: %v", m, err)
	}
	text, err := io.ReadAll(foot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("%q: more than two parts (%v)", m, err)
	}
	return first.Header, string(raw), string(text)
}

// decodedParts returns the text of each part of a multipart body,
// quoted-printable or base64 decoded.
func decodedParts(t *testing.T, body, boundary string) []string {
	t.Helper()
	mr := multipart.NewReader(strings.NewReader(body), boundary)
	var parts []string
	for {
		p, err := mr.NextPart() // quoted-printable decoded
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("part %d: %v; body:\n%s", len(parts)+1, err, body)
		}
		text, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			text, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
			if err != nil {
				t.Fatal(err)
			}
		}
		parts = append(parts, string(text))
	}
}

// TestFooterBOM: a byte-order mark at the start of the footer file, as
// Windows' Notepad saves one, is no part of the footer, as it is of no
// setting (listdir.BOM): it made an ASCII footer UTF-8, so that no 7bit
// post got it, and every other got an invisible U+FEFF.
func TestFooterBOM(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{
		"address": "dev@lists.example.org\n",
		"footer":  listdir.BOM + "dev mailing list\r\n",
	})
	for _, tc := range []struct{ in, want string }{
		{"Subject: x\n\nhi\n", "hi\ndev mailing list\n"},
		{"Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nhi\n", "hi\ndev mailing list\n"},
		{"Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b--\n",
			"--b\n\nhi\n--b\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\ndev mailing list\n--b--\n"},
	} {
		got := filter(t, &args{Dir: dir}, tc.in)
		if _, body, _ := strings.Cut(got, "\n\n"); body != tc.want {
			t.Errorf("footer with a BOM on %q: body %q; want %q", tc.in, body, tc.want)
		}
	}
}

// TestFooterMultipartIdentity: a multipart/mixed in any identity
// encoding, 7bit, 8bit or binary, in any case, gets the footer part
// (mlm-hdr(1)); only another encoding keeps it out.
func TestFooterMultipartIdentity(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{
		"address": "dev@lists.example.org\n",
		"footer":  "dev mailing list\n",
	})
	const part = "--b\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\ndev mailing list\n"
	for _, cte := range []string{"7bit", "8bit", "binary", "Binary"} {
		got := filter(t, &args{Dir: dir}, "Subject: x\nContent-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: "+cte+"\n\n--b\n\nhi\n--b--\n")
		if _, body, _ := strings.Cut(got, "\n\n"); body != "--b\n\nhi\n"+part+"--b--\n" {
			t.Errorf("multipart/mixed in %s: body %q; want the footer part", cte, body)
		}
	}
}

// TestListFieldsByPrefix: a post's fields whose names start with
// "List-" go, in any case; one that starts with "List" alone is the
// post's, and stays.
func TestListFieldsByPrefix(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
	got := filter(t, &args{Dir: dir}, "Listing: one\nLIST-X-Forged: <mailto:a@b>\nList-: x\nListen: two\nSubject: s\n\nhi\n")
	head, _, _ := strings.Cut(got, "\n\n")
	for _, f := range []string{"\nListing: one\n", "\nListen: two\n"} {
		if !strings.Contains(head, f) {
			t.Errorf("%q is gone from\n%s", strings.TrimSpace(f), head)
		}
	}
	for _, f := range []string{"LIST-X-Forged", "List-:"} {
		if strings.Contains(head, f) {
			t.Errorf("%q is still in\n%s", f, head)
		}
	}
}

// TestFooterInlineAnyCase: a body whose Content-Disposition is inline,
// in any case as RFC 2183 has its values, gets the footer; an
// attachment does not.
func TestFooterInlineAnyCase(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{
		"address": "dev@lists.example.org\n",
		"footer":  "dev mailing list\n",
	})
	for cd, want := range map[string]string{
		"inline":                 "hi\ndev mailing list\n",
		"Inline":                 "hi\ndev mailing list\n",
		"INLINE; filename=a.txt": "hi\ndev mailing list\n",
		"Attachment":             "hi\n",
		"attachment; filename=p": "hi\n",
	} {
		got := filter(t, &args{Dir: dir}, "Subject: x\nContent-Type: text/plain\nContent-Disposition: "+cd+"\n\nhi\n")
		if _, body, _ := strings.Cut(got, "\n\n"); body != want {
			t.Errorf("Content-Disposition: %s: body %q; want %q", cd, body, want)
		}
	}
}

// TestFooterBodyEOL: the footer goes in the line ending of the body it
// joins, where that is not the header's (a header rewritten in LF by a
// filter before mlm, over a CRLF body): appended, in the ending of the
// body's last line; as a part, in that of the multipart's first
// delimiter line, which Go's mime/multipart holds every delimiter to.
func TestFooterBodyEOL(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "footer": "-- \nfooter\n"})
	a := &args{Dir: dir, Delete: []string{"List-Id", "List-Help", "List-Post", "List-Subscribe", "List-Unsubscribe", "List-Owner", "Precedence", "X-Loop", "Message-ID"}}
	part := "--b\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n-- \r\nfooter\r\n"
	for _, tc := range []struct{ in, want string }{
		{"Subject: x\n\nhi\r\n", "Subject: x\n\nhi\r\n-- \r\nfooter\r\n"},
		{"Subject: x\r\n\r\nhi\n", "Subject: x\r\n\r\nhi\n-- \nfooter\n"},
		{"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nhi=\r\n", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nhi=\r\n\r\n--=20\r\nfooter\r\n"},
		{"Content-Type: multipart/mixed; boundary=b\n\n--b\r\n\r\nx\r\n--b--\r\n", "Content-Type: multipart/mixed; boundary=b\n\n--b\r\n\r\nx\r\n" + part + "--b--\r\n"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\n\nx\n--b--", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\n\nx\n" + strings.ReplaceAll(part, "\r\n", "\n") + "--b--"},
	} {
		if got := filter(t, a, tc.in); got != tc.want {
			t.Errorf("%q became\n%q; want\n%q", tc.in, got, tc.want)
		}
	}
}

// TestMessageIDMade: a post without a Message-ID, which receivers such
// as Gmail refuse, gets one made from its record: the record id (its ","
// as "."), a hash of the id and of the header block with LF line ends,
// and the list's domain, so that the same record gets the same one each
// time, LF or CRLF, and posts whose ids repeat get different ones. A
// post's own, in any case, is kept, and no other made; the flags may
// delete the one made, as they may any of the list's fields.
func TestMessageIDMade(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
	made := func(id, message string, a *args) (string, int) {
		t.Helper()
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id}, strings.NewReader(message), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(a, &in, &out); err != nil {
			t.Fatal(err)
		}
		_, got := mlmtest.Message(t, stream.NewReader(&out))
		e := msg.NewEdit([]byte(got))
		vs := e.Values("Message-ID")
		if len(vs) == 0 {
			return "", 0
		}
		return vs[0], len(vs)
	}
	want := func(id, header string) string {
		sum := sha256.Sum256([]byte(id + "\n" + header))
		return "<" + strings.ReplaceAll(id, ",", ".") + "." + hex.EncodeToString(sum[:8]) + "@lists.example.org>"
	}
	msgID := regexp.MustCompile(`^<[A-Za-z0-9=._-]+@lists\.example\.org>$`)
	a := &args{Dir: dir}
	head := "From: a@example.org\nSubject: x\n\n"
	got, n := made("1764417600.M1P1.h", head+"body\n", a)
	if n != 1 || got != want("1764417600.M1P1.h", head) || !msgID.MatchString(got) {
		t.Errorf("made %d, %q; want %q", n, got, want("1764417600.M1P1.h", head))
	}
	if crlf, _ := made("1764417600.M1P1.h", strings.ReplaceAll(head+"body\n", "\n", "\r\n"), a); crlf != got {
		t.Errorf("the same post in CRLF: %q; want %q", crlf, got)
	}
	if again, _ := made("1764417600.M1P1.h", head+"other body\n", a); again != got {
		t.Errorf("the same header again: %q; want %q", again, got)
	}
	other := "From: b@example.org\nSubject: y\n\n"
	if o, _ := made("1764417600.M1P1.h", other+"body\n", a); o == got || o != want("1764417600.M1P1.h", other) {
		t.Errorf("another post with the same id: %q; want %q, not %q", o, want("1764417600.M1P1.h", other), got)
	}
	if d, _ := made("x,1", head, a); d != want("x,1", head) || !msgID.MatchString(d) {
		t.Errorf("a derived id: %q; want %q", d, want("x,1", head))
	}
	// A record id with dots that would start or end a dot-atom, or
	// follow another, as a host name with a final dot gives: each "=".
	dotAtom := regexp.MustCompile(`^<[A-Za-z0-9=_-]+(\.[A-Za-z0-9=_-]+)*@lists\.example\.org>$`)
	for id, left := range map[string]string{"1764417600.M1P1.h.": "1764417600.M1P1.h=", ".x,,1": "=x.=1", "x,1.": "x.1="} {
		sum := sha256.Sum256([]byte(id + "\n" + head))
		w := "<" + left + "." + hex.EncodeToString(sum[:8]) + "@lists.example.org>"
		if got, _ := made(id, head, a); got != w || !dotAtom.MatchString(got) {
			t.Errorf("record id %q: %q; want %q, a dot-atom", id, got, w)
		}
	}
	for _, own := range []string{"Message-ID: <own@example.org>\n", "message-id: <own@example.org>\n", "MESSAGE-ID:\n <own@example.org>\n"} {
		if got, n := made("r", own+head, a); n != 1 || got != "<own@example.org>" {
			t.Errorf("a post with %q: %d, %q; want its own alone", own, n, got)
		}
	}
	// An empty one is none: it goes, and one is made.
	for _, empty := range []string{"Message-ID:\n", "Message-ID: \t\r\n", "message-id:\n \n", "Message-ID:\nMessage-Id:  \n"} {
		if got, n := made("r", empty+head, a); n != 1 || got != want("r", strings.ReplaceAll(empty+head, "\r\n", "\n")) {
			t.Errorf("a post with %q: %d, %q; want one made", empty, n, got)
		}
	}
	// Beside its own, an empty one goes too: two Message-ID fields,
	// which Gmail refuses (a review).
	for _, two := range []string{"Message-ID:\nMessage-ID: <own@example.org>\n", "Message-ID: <own@example.org>\nmessage-id: \t\n"} {
		if got, n := made("r", two+head, a); n != 1 || got != "<own@example.org>" {
			t.Errorf("a post with %q: %d, %q; want its own alone", two, n, got)
		}
	}
	if got, n := made("r", head, &args{Dir: dir, Delete: []string{"message-id"}}); n != 0 {
		t.Errorf("-d message-id: %d, %q; want none", n, got)
	}
	if got, n := made("r", head, &args{}); n != 0 {
		t.Errorf("without DIR: %d, %q; want none (no list domain)", n, got)
	}
}

// TestMessageIDDomainALabels: a list whose address has a domain in
// U-labels (an address file written by hand) makes its Message-IDs with
// the domain in A-labels, ASCII as a header field sent without SMTPUTF8
// must be.
func TestMessageIDDomainALabels(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@bücher.example\n"})
	got := filter(t, &args{Dir: dir}, "From: a@example.org\nSubject: x\n\nbody\n")
	vs := msg.NewEdit([]byte(got)).Values("Message-ID")
	if len(vs) != 1 || !strings.HasSuffix(vs[0], "@xn--bcher-kva.example>") {
		t.Errorf("Message-ID %q; want one in xn--bcher-kva.example", vs)
	}
}

// TestRequestFields: List-Help, List-Subscribe and List-Unsubscribe name
// the list's request addresses where stages/requests has stages, and
// else the owner address, with the request as the subject: nothing
// takes queue/requests by default, and a reader's Unsubscribe button
// sent mail that waited there for good, the member still on the list
// (R71, R73). A stages file of comments alone is none; one that cannot
// be read is taken for stages, and does not hold the posts; a list with
// no owners either has none of the fields, its owner queue waiting (R74).
func TestRequestFields(t *testing.T) {
	owner := []string{"List-Help: <mailto:dev-owner@lists.example.org?subject=help>",
		"List-Subscribe: <mailto:dev-owner@lists.example.org?subject=subscribe>",
		"List-Unsubscribe: <mailto:dev-owner@lists.example.org?subject=unsubscribe>"}
	served := []string{"List-Help: <mailto:dev-request@lists.example.org?subject=help>",
		"List-Subscribe: <mailto:dev-subscribe@lists.example.org>",
		"List-Unsubscribe: <mailto:dev-unsubscribe@lists.example.org>"}
	for _, c := range []struct {
		name, stages string // "" for no stages/requests file; "/" for a directory there
		owners       string
		want         []string // nil: none of the three fields
	}{
		{"no stages file", "", "owner@example.org\n", owner},
		{"comments", "# nothing takes them yet\n", "owner@example.org\n", owner},
		{"a stage", "/usr/local/libexec/dev-requests\n", "", served},
		{"unreadable", "/", "owner@example.org\n", served},
		{"no owners", "", "# none yet\n", nil},
	} {
		files := map[string]string{"address": "dev@lists.example.org\n", "owner": c.owners}
		if c.stages != "" && c.stages != "/" {
			files["stages/requests"] = c.stages
		}
		dir := mlmtest.ListDir(t, files)
		if c.stages == "/" {
			// A stages file that cannot be read (a directory) does
			// not hold the posts: it is mlm-run's to report.
			os.MkdirAll(filepath.Join(dir, "stages", "requests"), 0o755)
		}
		head, _, _ := strings.Cut(filter(t, &args{Dir: dir}, "From: a@example.org\nSubject: x\n\nbody\n"), "\n\n")
		for _, want := range c.want {
			if !strings.Contains(head, want+"\n") {
				t.Errorf("%s: missing %q in:\n%s", c.name, want, head)
			}
		}
		if c.want == nil && (strings.Contains(head, "List-Help") || strings.Contains(head, "List-Subscribe") || strings.Contains(head, "List-Unsubscribe")) {
			t.Errorf("%s: request fields where neither requests nor owners are served:\n%s", c.name, head)
		}
	}
}

// TestIDNListASCII: a list whose domain alone is not ASCII (an address
// file written by hand) sends to a server without SMTPUTF8 in its
// A-labels, without SMTPUTF8: every field mlm-hdr writes of its address
// is ASCII, in A-labels (List-Id, the mailto URLs, X-Loop, Reply-To of
// "list"), and a setting that is not ASCII is refused as on an ASCII
// list. They went as raw UTF-8, against RFC 6532. A list whose local
// part is not ASCII sends only with SMTPUTF8, and keeps them as they are.
func TestIDNListASCII(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@b\u00fccher.example\n", "replyto": "list\n", "owner": "owner@example.org\n"})
	got := filter(t, &args{Dir: dir}, "From: a@example.org\nSubject: x\n\nbody\n")
	head, _, _ := strings.Cut(got, "\n\n")
	for _, want := range []string{"List-Id: <dev.xn--bcher-kva.example>", "List-Post: <mailto:dev@xn--bcher-kva.example>",
		"List-Help: <mailto:dev-owner@xn--bcher-kva.example?subject=help>", "X-Loop: dev@xn--bcher-kva.example",
		"Reply-To: dev@xn--bcher-kva.example"} {
		if !strings.Contains(head, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, head)
		}
	}
	if !ascii.Is(head) {
		t.Errorf("a header that is not ASCII:\n%s", head)
	}
	os.WriteFile(filepath.Join(dir, "headeradd"), []byte("X-Team: \u00c9quipe\n"), 0o644)
	var in, out bytes.Buffer
	stream.WriteRecord(&in, &stream.Header{ID: "r"}, strings.NewReader("Subject: x\n\nbody\n"), nil)
	if err := run(&args{Dir: dir}, &in, &out); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "headeradd:") {
		t.Errorf("headeradd not ASCII on a list of an IDN domain = %v; want it refused (75)", err)
	}
	eai := mlmtest.ListDir(t, map[string]string{"address": "j\u00f6rg@b\u00fccher.example\n"})
	got = filter(t, &args{Dir: eai}, "From: a@example.org\nSubject: x\n\nbody\n")
	if !strings.Contains(got, "X-Loop: j\u00f6rg@b\u00fccher.example\n") {
		t.Errorf("a list whose local part is not ASCII: X-Loop changed:\n%s", got)
	}
}

// TestMungeKeepsAuthors: a list with dmarc munge-all rewrites the From
// of a post whose From, Reply-To or Cc holds a control octet, which a
// field cannot take from another as it is: the mailboxes go on, written
// anew, those of a value that does not parse as receivers find them in
// its angle brackets (R83: the From was kept, and the members'
// providers refused the post). Two fields of one name are read as one, none of
// their addresses lost.
func TestMungeKeepsAuthors(t *testing.T) {
	for _, c := range []struct {
		name, header, replyto string
		want                  []string
	}{
		{"a control in the name", "From: \"Al\x01ice\" <alice@a.example>\n", "",
			[]string{`From: "alice@a.example via dev" <dev@lists.example.org>`, `Reply-To: <alice@a.example>`}}, // the mailbox in its brackets, as receivers find it
		{"DEL after the address", "From: Alice <alice@a.example>\x7f\n", "",
			[]string{`From: "alice@a.example via dev" <dev@lists.example.org>`, `Reply-To: <alice@a.example>`}},
		{"a control in the post's Reply-To", "From: Alice <alice@a.example>\nReply-To: x\x01y <r@b.example>\n", "",
			[]string{`From: "Alice via dev" <dev@lists.example.org>`, `Reply-To: <r@b.example>, "Alice" <alice@a.example>`}},
		{"a control in the post's Cc", "From: Alice <alice@a.example>\nCc: x\x01y <c@b.example>\n", "list",
			[]string{`From: "Alice via dev" <dev@lists.example.org>`, `Cc: <c@b.example>, "Alice" <alice@a.example>`, "Reply-To: dev@lists.example.org"}},
		{"two From fields", "From: Alice <alice@a.example>\nFrom: Bob <bob@b.example>\n", "",
			[]string{`From: "Alice via dev" <dev@lists.example.org>`, "Reply-To: Alice <alice@a.example>, Bob <bob@b.example>"}},
		{"two Reply-To fields", "From: Alice <alice@a.example>\nReply-To: r1@x.example\nReply-To: r2@y.example\n", "",
			[]string{`From: "Alice via dev" <dev@lists.example.org>`, "Reply-To: r1@x.example, r2@y.example, Alice <alice@a.example>"}},
	} {
		files := map[string]string{"address": "dev@lists.example.org\n", "dmarc": "munge-all\n"}
		if c.replyto != "" {
			files["replyto"] = c.replyto + "\n"
		}
		dir := mlmtest.ListDir(t, files)
		got, ok := fuzzRun(t, dir, c.header+"Subject: x\n\nbody\n")
		if !ok {
			t.Errorf("%s: refused", c.name)
			continue
		}
		head, _, _ := strings.Cut(got, "\n\n")
		lines := strings.Split(head, "\n")
		for _, w := range c.want {
			if !slices.Contains(lines, w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, head)
			}
			name, _, _ := strings.Cut(w, ":")
			n := 0
			for _, l := range lines {
				if strings.HasPrefix(l, name+":") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: %d %s fields in\n%s", c.name, n, name, head)
			}
		}
	}
}

// TestFooterWrap: text that takes no footer appended (HTML, base64,
// UTF-16) and multipart/alternative become the first part of a new
// multipart/mixed, unchanged, with their Content- fields, and the footer
// the second (R73 F7); the new multipart's transfer encoding is the
// body's where that is 8bit or binary, and the post gets a MIME-Version
// if it had none. A signed or encrypted body, another type, and an
// attachment keep their body unchanged.
func TestFooterWrap(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "footer": "Footer.\n"})
	for _, tc := range []struct {
		name, fields, body, cte string
	}{
		{"html", "Content-Type: text/html; charset=utf-8\nContent-ID: <x@y>\nContent-Description: a post\n", "<p>hi</p>\n", ""},
		{"html, 8bit", "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n", "<p>caf\u00e9</p>\n", "8bit"},
		{"html ending in CR", "Content-Type: text/html\n", "<p>hi</p>\r", ""},
		{"html, no last line end", "Content-Type: text/html\n", "<p>hi</p>", ""},
		{"base64 text", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n", "aGkK\n", ""},
		{"alternative", "Content-Type: multipart/alternative; boundary=b\n", "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", ""},
		{"related, binary", "Content-Type: multipart/related; boundary=b\nContent-Transfer-Encoding: binary\n", "--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n", "binary"},
	} {
		got := filter(t, &args{Dir: dir}, "Subject: x\n"+tc.fields+"\n"+tc.body)
		h, body, foot := unwrapped(t, got)
		hdr, _ := msg.ReadHeader(bufio.NewReader(strings.NewReader(got)), msg.MaxHeader)
		if body != tc.body || foot != "Footer." {
			t.Errorf("%s: first part %q, footer %q; want %q and the footer", tc.name, body, foot, tc.body)
		}
		for _, l := range strings.Split(strings.TrimSuffix(tc.fields, "\n"), "\n") {
			n, v, _ := strings.Cut(l, ": ")
			if strings.EqualFold(n, "MIME-Version") {
				continue
			}
			if h.Get(n) != v || hdr.Fields.Get(n) != "" && !strings.EqualFold(n, "Content-Type") && !strings.EqualFold(n, "Content-Transfer-Encoding") {
				t.Errorf("%s: %s: %q in the part, %q in the message; want it in the part alone", tc.name, n, h.Get(n), hdr.Fields.Get(n))
			}
		}
		if cte := hdr.Fields.Get("Content-Transfer-Encoding"); cte != tc.cte || hdr.Fields.Get("MIME-Version") != "1.0" || len(hdr.Fields.Values("MIME-Version")) != 1 {
			t.Errorf("%s: Content-Transfer-Encoding %q, MIME-Version %q; want %q and one of 1.0", tc.name, cte, hdr.Fields.Values("MIME-Version"), tc.cte)
		}
	}
	for _, tc := range []struct{ name, fields, body string }{
		{"signed", "Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n", "--s\n\nx\n--s\n\nsig\n--s--\n"},
		{"encrypted", "Content-Type: multipart/encrypted; boundary=e; protocol=\"application/pgp-encrypted\"\n", "--e\n\nx\n--e--\n"},
		{"an image", "Content-Type: image/png\nContent-Transfer-Encoding: base64\n", "iVBORw0KGgo=\n"},
		{"an invitation", "Content-Type: text/calendar; method=REQUEST; charset=utf-8\n", "BEGIN:VCALENDAR\nEND:VCALENDAR\n"},
		{"an attachment", "Content-Type: text/html\nContent-Disposition: attachment; filename=a.html\n", "<p>hi</p>\n"},
		{"alternative in base64", "Content-Type: multipart/alternative; boundary=b\nContent-Transfer-Encoding: base64\n", "LS1iLS0K\n"},
		{"an unknown encoding", "Content-Type: text/html\nContent-Transfer-Encoding: x-uuencode\n", "begin 644 a\n"},
		// A control octet in a Content- field, which Go's reader takes
		// in a message's header and refuses in a part's (R86).
		{"a control in a Content- field", "Content-Type: text/html\nContent-Description: a\x01b\n", "<p>hi</p>\n"},
	} {
		m := "Subject: x\n" + tc.fields + "\n" + tc.body
		if got := filter(t, &args{Dir: dir}, m); !strings.HasSuffix(got, tc.fields+"\n"+tc.body) {
			t.Errorf("%s: %q; want the body and its fields unchanged", tc.name, got)
		}
	}
	// A CRLF header whose last line ends in a lone CR, and no body: the
	// field moved into the part gets its LF alone, not a bare CR (R86).
	got := filter(t, &args{Dir: dir}, "Subject: x\r\nContent-Type: text/html\r")
	if h, body, foot := unwrapped(t, strings.ReplaceAll(got, "\r\n", "\n")); h.Get("Content-Type") != "text/html" || body != "" || foot != "Footer." || strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\r") {
		t.Errorf("a header ending in CR: %q", got)
	}
}
