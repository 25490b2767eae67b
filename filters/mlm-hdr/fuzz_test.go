package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"mlm/lib/mimewalk"
	"slices"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzList: whatever a post's header holds, mlm-hdr of a list with a
// subject prefix and fields to strip writes a header that parses, with
// each of the list's fields once and as the list says (its own X-Loop
// among any others), the prefix in the subject, none of the stripped
// fields nor a password (Approved, Approve), and the body byte for byte;
// or it refuses the post as data (65) on one line of printable text.
func FuzzList(f *testing.F) {
	f.Add("From: a@example.org\nSubject: hi\nList-Id: <evil>\nDKIM-Signature: x\nApproved: pw\n\nbody\n")
	f.Add("Subject: =?utf-8?q?Re=3A_=5Bdev=5D?= x\r\nX-Loop: dev@lists.example.org\r\n\r\nbody")
	f.Add("Subject: [dev] Re: [dev]\n list-id: folded\n\n")
	f.Add("no header at all")
	f.Add("\f") // once taken for an empty header: the list's fields went before it
	f.Add(" \n\nbody")
	f.Add("")
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n", "owner": "owner@example.org\n",
		"prefix": "[dev]\n", "strip": "DKIM-Signature\n"})
	fields := map[string]string{
		"List-Id":          "<dev.lists.example.org>",
		"List-Post":        "<mailto:dev@lists.example.org>",
		"List-Unsubscribe": "<mailto:dev-owner@lists.example.org?subject=unsubscribe>",
		"Precedence":       "list",
	}
	f.Fuzz(func(t *testing.T, m string) {
		got, ok := fuzzRun(t, dir, m)
		if !ok {
			return
		}
		h, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(got)), msg.MaxHeader)
		if err != nil {
			t.Fatalf("%q became %q, whose header does not read: %v", m, got, err)
		}
		raw := h.Raw
		for name, want := range fields {
			if vs := h.Fields.Values(name); len(vs) != 1 || vs[0] != want {
				t.Errorf("%q became %q: %s %q; want once, %q", m, got, name, vs, want)
			}
		}
		// Another list's X-Loop stays; the list's own is there once.
		if n := strings.Count("\n"+strings.Join(h.Fields.Values("X-Loop"), "\n")+"\n", "\ndev@lists.example.org\n"); n != 1 {
			t.Errorf("%q became %q: X-Loop %q; want the list's once", m, got, h.Fields.Values("X-Loop"))
		}
		for _, name := range []string{"DKIM-Signature", "Return-Receipt-To", "Disposition-Notification-To", "X-PMRQC", "Approved", "Approve"} {
			if h.Fields.Has(name) {
				t.Errorf("%q became %q: %s not stripped", m, got, name)
			}
		}
		// Decoded as mlm-hdr decodes it: leniently, as mail readers do;
		// in any case, Unicode form or run of white space (addPrefix).
		if s := msg.DecodeText(h.Fields.Get("Subject")); !strings.Contains(prefixForm(s), "[dev]") {
			t.Errorf("%q became %q: Subject %q without the prefix", m, got, s)
		}
		inHdr, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(m)), msg.MaxHeader)
		if err != nil {
			t.Fatalf("%q passed, but its header does not read: %v", m, err)
		}
		if body := m[len(inHdr.Raw):]; got[len(raw):] != body {
			t.Errorf("%q became %q: body %q; want %q", m, got, got[len(raw):], body)
		}
	})
}

// FuzzFooter: whatever a post holds, mlm-hdr of a list with a footer
// either copies its body byte for byte, appends the footer to it, or
// inserts one part into it: never any other change. What it adds is in
// one line ending; a quoted-printable body still decodes to
// what it did, then the footer; a multipart/mixed body that Go's
// mime/multipart reads whole reads as the same parts and the footer's.
func FuzzFooter(f *testing.F) {
	for _, m := range []string{
		"Subject: x\n\nhi\n",
		"Subject: x\r\n\r\nhi",
		"Subject: x\r\n\r\nhi\r",
		"Content-Type: text/plain; format=flowed\n\nflowed \n",
		"Content-Type: text/plain; format=flowed\nContent-Transfer-Encoding: quoted-printable\n\nflowed =\n\n",
		"Content-Type: text/plain; format=flowed\nContent-Transfer-Encoding: quoted-printable\n\nHello\nworld =\n",
		"Content-Type: text/plain; format=flowed\n\nx\n-- \n",
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nabc=\n",
		"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx =3D y=20",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n",
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
		"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: multipart/alternative; boundary=a\n\n--a\n\nx\n--a--\n--m--\n",
		"Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\n\nx\n--s\n\nsig\n--s--\n",
		"Subject: x",
		"",
	} {
		f.Add(m)
	}
	footer := "-- \nfooter\n"
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n", "footer": footer})
	f.Fuzz(func(t *testing.T, m string) {
		got, ok := fuzzRun(t, dir, m)
		if !ok {
			return
		}
		inHdr, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(m)), msg.MaxHeader)
		if err != nil {
			t.Fatalf("%q passed, but its header does not read: %v", m, err)
		}
		outHdr, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(got)), msg.MaxHeader)
		if err != nil {
			t.Fatalf("%q became %q, whose header does not read: %v", m, got, err)
		}
		body, outBody := m[len(inHdr.Raw):], got[len(outHdr.Raw):]
		if body == outBody {
			return
		}
		if _, params, err := mimewalk.ParseType(outHdr.Fields.Get("Content-Type")); err == nil && strings.HasPrefix(params["boundary"], "=_mlm_") && !strings.Contains(m, params["boundary"]) {
			// Wrapped: the body as it was, the first of two parts,
			// the footer the second.
			parts, err := rawParts(outBody, params["boundary"])
			if err != nil {
				t.Fatalf("%q became %q, whose parts do not read: %v", m, got, err)
			}
			if len(parts) != 2 || !strings.HasSuffix(parts[0], "\x00"+body) || !strings.Contains(parts[1], "footer") {
				t.Fatalf("%q became %q: parts %q; want the body as it was, and the footer", m, got, parts)
			}
			return
		}
		// What was added, and where.
		pre := 0
		for pre < len(body) && body[pre] == outBody[pre] {
			pre++
		}
		post := 0
		for post < len(body)-pre && body[len(body)-1-post] == outBody[len(outBody)-1-post] {
			post++
		}
		added := outBody[pre : len(outBody)-post]
		if len(outBody) != len(body)+len(added) {
			t.Fatalf("%q became %q: the body changed, not only added to", m, got)
		}
		chk := added
		if pre > 0 && body[pre-1] == '\r' {
			chk = strings.TrimPrefix(chk, "\n") // the LF of a last line that ends in CR
		}
		if strings.Contains(strings.ReplaceAll(chk, "\r\n", ""), "\n") && strings.Contains(chk, "\r") {
			t.Fatalf("%q became %q: %q added, not all in one line ending", m, got, added)
		}
		ct := outHdr.Fields.Get("Content-Type")
		if post == 0 && !strings.Contains(ct, "multipart") {
			// Appended: a quoted-printable body still decodes as it did.
			text, err := []byte(outBody), error(nil)
			if strings.EqualFold(outHdr.Fields.Get("Content-Transfer-Encoding"), "quoted-printable") {
				was, err1 := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
				now, err2 := io.ReadAll(quotedprintable.NewReader(strings.NewReader(outBody)))
				// The text as it was, then more: as decoded, or with
				// its line ends made LF (the footer's may be CRLF where
				// the body's were LF). Not only the latter: a text that
				// ends in an encoded CR ("=0D", no line end after it)
				// is that CR and then the line end before the footer,
				// which that would read as one CRLF.
				lf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
				if err1 == nil && (err2 != nil || !bytes.HasPrefix(now, was) && !bytes.HasPrefix(lf(now), lf(was))) {
					t.Fatalf("%q became %q: decodes to %q (%v); was %q", m, got, now, err2, was)
				}
				text, err = now, err1
			}
			// Flowed text: the footer's lines read as its own, none
			// joined to the body's last paragraph.
			if mt, params, perr := mimewalk.ParseType(ct); err == nil && perr == nil && mt == "text/plain" && strings.EqualFold(params["format"], "flowed") {
				lines := unflow(strings.ReplaceAll(string(text), "\r\n", "\n"), strings.EqualFold(params["delsp"], "yes"))
				if len(lines) < 2 || lines[len(lines)-2] != "-- " || lines[len(lines)-1] != "footer" {
					t.Fatalf("%q became %q: its text reads as %q, the footer not on lines of its own", m, got, lines)
				}
			}
			if !strings.HasSuffix(added, "footer\n") && !strings.HasSuffix(added, "footer\r\n") {
				t.Fatalf("%q became %q: %q appended", m, got, added)
			}
			return
		}
		_, params, err := mimewalk.ParseType(ct)
		if err != nil || params["boundary"] == "" {
			t.Fatalf("%q became %q: %q inserted in a body of no multipart", m, got, added)
		}
		was, err := rawParts(body, params["boundary"])
		if err != nil {
			return // Go's reader does not read it: nothing to compare
		}
		now, err := rawParts(outBody, params["boundary"])
		if err != nil || len(now) != len(was)+1 || !slices.Equal(now[:len(was)], was) {
			t.Fatalf("%q became %q: parts %q (%v); were %q", m, got, now, err, was)
		}
	})
}

// rawParts returns the header and body of each part of a multipart body,
// read by Go's mime/multipart.
func rawParts(body, boundary string) ([]string, error) {
	r := multipart.NewReader(strings.NewReader(body), boundary)
	var parts []string
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, fmt.Sprint(p.Header)+"\x00"+string(b))
	}
}

// fuzzRun runs mlm-hdr of the list in dir on a record of message m and
// returns the message it passes on; false if it refused m as bad data,
// with one line, as it must.
func fuzzRun(t *testing.T, dir, m string) (string, bool) {
	t.Helper()
	var in, out bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "r"}, strings.NewReader(m), nil); err != nil {
		t.Fatal(err)
	}
	err := run(&args{Dir: dir}, &in, &out)
	if mlmtest.Refused(t, sysexit.Report, prog, err, sysexit.DataErr) {
		return "", false
	}
	_, got := mlmtest.Message(t, stream.NewReader(&out))
	return got, true
}

// FuzzMunge: whatever a post's From and Reply-To hold, mlm-hdr of a list
// with dmarc munge-all writes a header that parses, with one From: the
// list's address with a display name, whose Reply-To then names every
// author of the post's From; or the post's own, where it names no
// mailbox or only the list's.
func FuzzMunge(f *testing.F) {
	for _, s := range [][2]string{
		{"Alice <alice@example.org>", ""},
		{`"Smith, A" <a@b.example>, c@d.example`, "other@example.org"},
		{"=?utf-8?q?Ren=C3=A9e?= <r@example.org>", "=?utf-8?q?Ren=C3=A9e?= <r@example.org>"},
		{"Smith, A <a@b.example>", ""},
		{"dev@lists.example.org", ""},
		{"", ""},
		{"<>", "x"},
		{"Renée \"the\" (x) <ré@exämple.org>", ""},
		{strings.Repeat("Long name ", 80) + "<l@example.org>", strings.Repeat("a@b.example, ", 40)},
	} {
		f.Add(s[0], s[1])
	}
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n", "dmarc": "munge-all\n"})
	f.Fuzz(func(t *testing.T, from, replyTo string) {
		if strings.ContainsAny(from+replyTo, "\r\n") {
			return // fields of their own
		}
		m := "From: " + from + "\n"
		if replyTo != "" {
			m += "Reply-To: " + replyTo + "\n"
		}
		got, ok := fuzzRun(t, dir, m+"Subject: x\n\nbody\n")
		if !ok {
			return
		}
		h, err := msg.ReadHeader(bufio.NewReader(strings.NewReader(got)), msg.MaxHeader)
		if err != nil {
			t.Fatalf("%q became %q, whose header does not read: %v", m, got, err)
		}
		froms := h.Fields.Values("From")
		if len(froms) != 1 {
			t.Fatalf("%q became %q: %d From fields", m, got, len(froms))
		}
		if froms[0] == strings.Trim(from, " \t") {
			// Kept: only a From that names no mailbox, or the list's.
			if len(authorsOf(from)) > 0 && !msg.IsAddress(from, "dev@lists.example.org") {
				t.Fatalf("%q became %q: From kept", m, got)
			}
			return
		}
		as, err := msg.AddressList(froms[0])
		if err != nil || len(as) != 1 || as[0].Address != "dev@lists.example.org" || !strings.HasSuffix(as[0].Name, " via dev") {
			t.Fatalf("%q became %q: From %q (%v)", m, got, froms[0], err)
		}
		if rt := h.Fields.Values("Reply-To"); len(rt) != 1 || !namesAll(rt[0], authorsOf(from)) {
			t.Fatalf("%q became %q: Reply-To %q names not every author of %q", m, got, rt, from)
		}
	})
}
