package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzPost: whatever a post holds, mlm-auth of an open list passes it on
// with its message byte for byte, holds it, or refuses it as data (65)
// in one line of printable text; it never fails otherwise.
func FuzzPost(f *testing.F) {
	f.Add("From: a@example.org\nSubject: x\n\nbody\n")
	f.Add("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n")
	f.Add("From: =?utf-8?q?A?= <a@example.org>, b@\nAuto-Submitted: auto-replied\n\n")
	f.Add("List-Id: <dev.lists.example.org>\nApproved: secret\n\n")
	f.Add("")
	dir := mlmtest.ListDir(f, map[string]string{"address": "dev@lists.example.org\n", "policy": "open\n",
		"secret": "0123456789abcdef0123456789abcdef\n", "owner": "owner@example.org\n"})
	for _, q := range []string{"hold", "moderate", "owner", "outgoing"} {
		if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
			f.Fatal(err)
		}
	}
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

// FuzzQPLine: the first line of a quoted-printable body, its soft line
// breaks joined, is read from within head, ends at an LF or at the end
// of a body that ends in head, and joins lines only at soft breaks;
// qpLine never panics.
func FuzzQPLine(f *testing.F) {
	f.Add([]byte("Approved: let=\nme=\nin\nrest\n"), false)
	f.Add([]byte("Approved: =3D=\r\n\r\nx"), true)
	f.Add([]byte("=\n=\n="), true)
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
		if bytes.Count(head[:n], []byte("\n")) > 1 && !bytes.Contains(head[:n], []byte("=")) {
			t.Fatalf("qpLine(%q) joined lines with no soft break: %q", head, head[:n])
		}
	})
}
