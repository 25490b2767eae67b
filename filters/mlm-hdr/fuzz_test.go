package main

import (
	"bufio"
	"bytes"
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
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n",
		"prefix": "[dev]\n", "strip": "DKIM-Signature\n"})
	fields := map[string]string{
		"List-Id":          "<dev.lists.example.org>",
		"List-Post":        "<mailto:dev@lists.example.org>",
		"List-Unsubscribe": "<mailto:dev-unsubscribe@lists.example.org>",
		"Precedence":       "list",
	}
	f.Fuzz(func(t *testing.T, m string) {
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: "r"}, strings.NewReader(m), nil); err != nil {
			t.Fatal(err)
		}
		err := run(&args{Dir: dir}, &in, &out)
		if mlmtest.Refused(t, sysexit.Report, prog, err, sysexit.DataErr) {
			return
		}
		_, got := mlmtest.Message(t, stream.NewReader(&out))
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
		// Decoded as mlm-hdr decodes it: leniently, as mail readers do.
		if s := msg.DecodeText(h.Fields.Get("Subject")); !strings.Contains(s, "[dev]") {
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
