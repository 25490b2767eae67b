package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/cookie"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/mimewalk"
	"mlm/lib/mlmtest"
	"mlm/lib/notice"
	"mlm/lib/password"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// TestFromCache: the From values whose addresses are remembered across
// records are short ones only, so the cache's memory is bounded by size
// as well as count; a long one is read each time all the same.
func TestFromCache(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "policy": "open\n"}))
	if err != nil {
		t.Fatal(err)
	}
	l := &list{d: d, policy: "open", in: members.NewMemo(d), from: map[string][]string{}}
	long := strings.TrimSuffix(strings.Repeat("b@example.org,\n ", 100), ",\n ")
	for _, from := range []string{"a@example.org", long, long} {
		var in bytes.Buffer
		err := stream.WriteRecord(&in, &stream.Header{ID: "r", Sender: stream.Path{Mailbox: "x@example.net"}},
			strings.NewReader("From: "+from+"\nSubject: x\n\nbody\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(&in)
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.read(r, h)
		if err != nil {
			t.Fatal(err)
		}
		// The sender, and the From addresses up to maxAuthors.
		if want := min(strings.Count(from, "@"), maxAuthors) + 1; len(p.posters) != want {
			t.Errorf("From of %d octets: %d posters; want %d", len(from), len(p.posters), want)
		}
		if want := strings.Count(from, "@") > maxAuthors; p.authors != want {
			t.Errorf("From of %d octets: authors = %v; want %v", len(from), p.authors, want)
		}
	}
	if _, ok := l.from["From: a@example.org\n"]; !ok || len(l.from) != 1 {
		t.Errorf("cached %d From fields; want only the short one", len(l.from))
	}
}

// TestHoldNotice: the moderators' notice of a held post attaches its
// header as held: a right list password mlm-auth took out of a post it
// then held for its structure is not mailed to them in clear; and a
// hold reason quoting the poster's Auto-Submitted is cleaned of control
// characters.
func TestHoldNotice(t *testing.T) {
	hash, err := password.Hash("S3cretPw")
	if err != nil {
		t.Fatal(err)
	}
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "policy": "open\n",
		"password": hash + "\n", "secret": "0123456789abcdef0123456789abcdef\n", "moderators": "mod@example.org\n"})
	for _, q := range []string{"hold", "outgoing"} {
		if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
			t.Fatal(err)
		}
	}
	var deep strings.Builder
	for i := range mimewalk.Default.Depth + 1 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	for id, m := range map[string]string{
		"p1": "From: a@example.org\nApproved: S3cretPw\nSubject: x\n" + deep.String(),
		"p2": "From: a@example.org\nAuto-Submitted: auto-generated\x1b[2J\x07 -- Reason: fine\nSubject: y\n\nbody\n",
	} {
		var in bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: "a@example.org"}},
			strings.NewReader(m), []stream.Path{{Mailbox: "b@example.net"}}); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, io.Discard, time.Unix(1764417600, 0)); err != nil {
			t.Fatal(err)
		}
		n, err := os.ReadFile(filepath.Join(dir, "queue", "outgoing", "new", id+".n1"))
		if err != nil {
			t.Fatalf("%s: no notice: %v", id, err)
		}
		text, _, _ := bytes.Cut(n, []byte("text/rfc822-headers")) // the header attached as it came
		if bytes.Contains(n, []byte("S3cretPw")) || bytes.ContainsAny(text, "\x1b\x07") {
			t.Errorf("%s: the notice holds the password, or its text a control character:\n%s", id, n)
		}
		if id == "p2" && !bytes.Contains(n, []byte("automatic message (Auto-Submitted: auto-generated")) {
			t.Errorf("%s: the notice lacks the reason:\n%s", id, n)
		}
	}
}

// TestHoldNoNoticeLoop: automatic mail from the null sender or a role
// address, such as another list's hold notice, is held without a notice
// (a review): two lists whose moderators were each other told each
// other of the other's notice for ever. Automatic mail from a person's
// address (a vacation reply), and a role address's mail that is not
// automatic, still get one.
func TestHoldNoNoticeLoop(t *testing.T) {
	dir := openList(t)
	for id, tc := range map[string]struct {
		sender, auto string
		notice       bool
	}{
		"list":     {"staff-bounces@lists.example.org", "Auto-Submitted: auto-generated\n", false},
		"null":     {"", "Auto-Submitted: auto-replied\n", false},
		"daemon":   {"MAILER-DAEMON@example.net", "Auto-Submitted: auto-replied\n", false},
		"vacation": {"bob@example.net", "Auto-Submitted: auto-replied\n", true},
		"role":     {"staff-bounces@lists.example.org", "", true}, // held as the list is moderated
		// Another list's post, come back round (a critical read: its
		// List-Id made it automatic, and a loop was told to no one).
		"listpost": {"staff-bounces@lists.example.org", "List-Id: <staff.lists.example.org>\nPrecedence: list\n", true},
	} {
		if tc.auto == "" {
			if err := os.WriteFile(filepath.Join(dir, "policy"), []byte("moderated\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: tc.sender}},
			strings.NewReader("From: Staff <staff-owner@lists.example.org>\n"+tc.auto+"Subject: x\n\nbody\n"), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, &out, time.Unix(1764417600, 0)); err != nil {
			t.Fatal(err)
		}
		held, _ := os.ReadFile(filepath.Join(dir, "queue", "hold", "new", id))
		if out.Len() > 0 || len(held) == 0 {
			t.Errorf("%s: passed %q, held %d octets; want it held", id, out.Bytes(), len(held))
		}
		_, err := os.Stat(filepath.Join(dir, "queue", "outgoing", "new", id+".n1"))
		if notice := err == nil; notice != tc.notice {
			t.Errorf("%s: a notice %v; want %v", id, notice, tc.notice)
		}
	}
}

// TestIDNListLoop: a list whose domain alone is not ASCII knows its own
// mail by its List-Id in either spelling: A-labels, as mlm-hdr writes it
// now, and U-labels, as it wrote it before (a critical read: the old
// spelling passed once the new was the list's id).
func TestIDNListLoop(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte("dev@b\u00fccher.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, field := range map[string]string{"alabels": "List-Id: <dev.xn--bcher-kva.example>\n", "ulabels": "List-Id: Dev <dev.b\u00fccher.example>\n",
		"case": "List-Id: <DEV.B\u00dcCHER.example>\n"} {
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: "alice@example.org"}},
			strings.NewReader("From: alice@example.org\n"+field+"Subject: x\n\nbody\n"), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, &out, time.Unix(1764417600, 0)); err != nil {
			t.Fatal(err)
		}
		held, _ := os.ReadFile(filepath.Join(dir, "queue", "hold", "new", id))
		if out.Len() > 0 || !strings.Contains(string(held), "A hold-reason=loop") {
			t.Errorf("%s: passed %q; want it held as a loop", id, out.Bytes())
		}
	}
	// An id within 255 octets in A-labels is 530 in U-labels: its own
	// List-Id in them is the list's all the same (a critical read: the
	// limit of 255 let it by).
	long := strings.Repeat("\u4e2d", 56)
	a := "xn--fiq" + strings.Repeat("a", 55)
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte("dev@"+a+"."+a+"."+a+".example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var in, out bytes.Buffer
	stream.WriteRecord(&in, &stream.Header{ID: "long", Sender: stream.Path{Mailbox: "alice@example.org"}},
		strings.NewReader("From: alice@example.org\nList-Id: <dev."+long+"."+long+"."+long+".example>\nSubject: x\n\nbody\n"), nil)
	if err := run(dir, &in, &out, time.Unix(1764417600, 0)); err != nil {
		t.Fatal(err)
	}
	if held, _ := os.ReadFile(filepath.Join(dir, "queue", "hold", "new", "long")); out.Len() > 0 || !strings.Contains(string(held), "A hold-reason=loop") {
		t.Errorf("a List-Id of 530 octets in U-labels, the list's own: passed %q; want it held as a loop", out.Bytes())
	}
}

// TestLongIDNotice: a post whose id is as long as a queue takes is held
// with its notice, and a refused one gets its refusal, under an id
// notice.ID fits (a review): ID.n1 was past the queue's limit, and the
// post was held, no one told, and the run failed (65).
func TestLongIDNotice(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "deny"), []byte("eve@spam.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for sender, m := range map[string]string{
		"a@example.org":    "From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n", // held
		"eve@spam.example": "From: eve@spam.example\nSubject: x\n\nbody\n",                // refused
	} {
		id := strings.Repeat(sender[:1], queue.MaxID)
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: sender}}, strings.NewReader(m), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, &out, time.Unix(1764417600, 0)); err != nil {
			t.Fatalf("%s: %v", sender, err)
		}
		n := notice.ID(id, ".n1")
		if len(n) > queue.MaxID {
			t.Fatalf("notice.ID = %d octets", len(n))
		}
		if _, err := os.Stat(filepath.Join(dir, "queue", "outgoing", "new", n)); err != nil {
			t.Errorf("%s: no notice: %v", sender, err)
		}
	}
}

// TestHoldEncodedNesting: a post whose structure goes past the limits
// inside a message in base64, which mail readers decode and walk, is
// held: the post's own body so encoded, or a part of it; so is one in an
// encoding no reader decodes, which Python's email walks as it is.
func TestHoldEncodedNesting(t *testing.T) {
	dir := openList(t)
	deep := "Subject: deep\n" + strings.Repeat("Content-Type: message/rfc822\n\n", mimewalk.Default.Depth+1) + "bottom\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(deep))
	for id, m := range map[string]string{
		"e1": "From: a@example.org\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + b64 + "\n",
		"e2": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n" +
			"Content-Transfer-Encoding: base64\n\n" + b64 + "\n--o--\n",
		// No reader decodes it: Python's email walks it as it is.
		"e3": "From: a@example.org\nContent-Type: message/rfc822\nContent-Transfer-Encoding: x-uuencode\n\n" + deep,
	} {
		out, held := authPost(t, dir, id, m)
		wantHeld(t, id, out, held, "MIME%20structure%20nested%20too%20deep")
	}
}

// TestHoldContentTypeTwice: a post, or a part of it, with two
// Content-Type fields, or two Content-Transfer-Encoding fields, whose
// first and last differ, a multipart or message among the types, is
// held: mail readers take the first (Python's email, go-message) or the
// last (mutt), so a structure past the limits behind the one the walk
// reads was passed to the members whose readers take the other.
func TestHoldContentTypeTwice(t *testing.T) {
	dir := openList(t)
	deep := "Subject: deep\n" + strings.Repeat("Content-Type: message/rfc822\n\n", mimewalk.Default.Depth+1) + "bottom\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(deep))
	for id, m := range map[string]string{
		"t1": "From: a@example.org\nContent-Type: text/plain\nContent-Type: message/rfc822\n\n" + deep,
		"t2": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain\n" +
			"Content-Type: message/rfc822\n\n" + deep + "--o--\n",
		"t3": "From: a@example.org\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n" +
			"Content-Transfer-Encoding: base64\n\n" + b64 + "\n",
		"t4": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n" +
			"Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\n" + b64 + "\n--o--\n",
		// The same twice, or two simple types: nothing to tell.
		"p1": "From: a@example.org\nContent-Type: text/plain\nContent-Type:  text/plain\n\nhi\n",
		"p2": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: text/plain\n" +
			"Content-Type: text/html\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\naGk=\n--o--\n",
	} {
		out, held := authPost(t, dir, id, m)
		if id[0] == 't' {
			wantHeld(t, id, out, held, unreadable)
		} else {
			wantPassed(t, id, out, held)
		}
	}
}

// TestHoldAnyMessageType: a part of any message type but
// delivery-status (message/news, message/partial, message/x-anything) is
// a message to Python's email, which walks what is in it, as it does a
// message/rfc822 (and Thunderbird takes message/news for one): a
// structure past the limits in such a part, or the post's body, is held;
// a bounce's report passes.
func TestHoldAnyMessageType(t *testing.T) {
	dir := openList(t)
	many := "Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\nx\n", mimewalk.Default.Parts+1) + "--b--\n"
	for id, m := range map[string]string{
		"n1": "From: a@example.org\nContent-Type: message/news\n\n" + many,
		"n2": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/x-anything\n\n" +
			many + "--o--\n",
		"n3": "From: a@example.org\nSubject: deep\n" + strings.Repeat("Content-Type: Message/Partial\n\n", mimewalk.Default.Depth+1) + "bottom\n",
		// A bounce's report, a receipt: they pass.
		"p1": "From: a@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=o\n\n--o\n\nx\n" +
			"--o\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; b@example.org\n" +
			"Action: failed\n\n--o\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; b@example.org\n\n--o--\n",
	} {
		out, held := authPost(t, dir, id, m)
		if id[0] == 'n' {
			wantHeld(t, id, out, held, "MIME%20structure")
		} else {
			wantPassed(t, id, out, held)
		}
	}
}

// TestHoldBoundaryTwice: a multipart whose boundary is given both as
// boundary= and in RFC 2231's form is held: Go's mime takes the one
// form, Python's email the other, and walks the parts under it, here
// more than the limit allows.
func TestHoldBoundaryTwice(t *testing.T) {
	dir := openList(t)
	parts := "--b\n\nx\n" + strings.Repeat("--a\n\nx\n", mimewalk.Default.Parts+1) + "--a--\n--b--\n"
	for id, m := range map[string]string{
		"w1": "From: a@example.org\nContent-Type: multipart/mixed; boundary=a; boundary*=utf-8''b\n\n" + parts,
		"w2": "From: a@example.org\nContent-Type: multipart/mixed; boundary*0=b; BOUNDARY=\"a\"\n\n" + parts,
		// The same in a part.
		"w3": "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: " +
			"multipart/mixed; boundary=a; boundary*=utf-8''b\n\n" + parts + "--o--\n",
	} {
		out, held := authPost(t, dir, id, m)
		wantHeld(t, id, out, held, unreadable)
	}
}

// TestHoldDeliveryStatus: Python's email reads a message/delivery-status
// as blocks of fields, each a message of its own, of its own type: a
// multipart of more parts than the limit allows in a block, or more
// blocks than that, is held; a bounce's report passes (see
// TestHoldAnyMessageType).
func TestHoldDeliveryStatus(t *testing.T) {
	dir := openList(t)
	report := "From: a@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=o\n\n--o\n\nx\n" +
		"--o\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
	many := strings.Repeat("--b\n\nx\n", mimewalk.Default.Parts+1) + "--b--\n"
	for id, m := range map[string]string{
		"d1": report + "Content-Type: multipart/mixed; boundary=b\n\n" + many + "--o--\n",
		"d2": "From: a@example.org\nContent-Type: message/delivery-status\n\nContent-Type: multipart/mixed; boundary=b\n\n" + many,
		"d3": report + strings.Repeat("Action: failed\n\n", mimewalk.Default.Parts+1) + "--o--\n",
	} {
		out, held := authPost(t, dir, id, m)
		wantHeld(t, id, out, held, tooMany)
	}
}

// TestHoldNoField: a line that is no field in a part's header, after
// a multipart's Content-Type, ends the header for Python's email, which
// then walks the parts that follow though no blank line came; other
// readers, and the walk, read on: such a post is held.
func TestHoldNoField(t *testing.T) {
	dir := openList(t)
	m := "From: a@example.org\nContent-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n" +
		"junk\n" + strings.Repeat("--i\nx\n", mimewalk.Default.Parts+1) + "--i--\n--o--\n"
	out, held := authPost(t, dir, "j1", m)
	wantHeld(t, "j1", out, held, unreadable)
}

// TestHoldLastLine: the body's last line, with no line end, is a line to
// mail readers all the same: a delimiter there is one more part, here
// the 10,001st, and the post is held; a close delimiter there ends the
// 10,000 parts, and the post passes.
func TestHoldLastLine(t *testing.T) {
	dir := openList(t)
	parts := "From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("--b\n\nx\n", mimewalk.Default.Parts)
	out, held := authPost(t, dir, "e1", parts+"--b")
	wantHeld(t, "e1", out, held, tooMany)
	out, held = authPost(t, dir, "e2", parts+"--b--")
	wantPassed(t, "e2", out, held)
}

// TestStructureUnlinked: the copy of a multipart post's body, made as
// its structure is walked, is a file unlinked at once in TMPDIR: none is
// left there, whether the post passes or is held.
func TestStructureUnlinked(t *testing.T) {
	dir := openList(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	parts := "From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n"
	out, held := authPost(t, dir, "u1", parts)
	wantPassed(t, "u1", out, held)
	if !bytes.Contains(out, []byte(":--b--\n")) {
		t.Errorf("u1: passed %q; want the body whole", out)
	}
	out, held = authPost(t, dir, "u2", strings.Replace(parts, "--b--", strings.Repeat("--b\n", mimewalk.Default.Parts), 1))
	wantHeld(t, "u2", out, held, tooMany)
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) > 0 {
		t.Errorf("TMPDIR holds %v (%v); want nothing", ents, err)
	}
}

// TestHoldBoundaryComment: Python's email takes a comment after a
// boundary for part of it, where other readers drop it: the parts under
// the boundary as Python's email reads it count, and more than the limit
// allows are held.
func TestHoldBoundaryComment(t *testing.T) {
	dir := openList(t)
	m := "From: a@example.org\nContent-Type: multipart/mixed; boundary=x (c)\n\n" +
		strings.Repeat("--x (c)\n\nx\n", mimewalk.Default.Parts+1) + "--x (c)--\n"
	out, held := authPost(t, dir, "k1", m)
	wantHeld(t, "k1", out, held, tooMany)
}

// TestBulkAnyField: on an open list a non-member's post is held for any
// Precedence field saying bulk, not the first alone (a poster's program
// may add one to a post that had its own).
func TestBulkAnyField(t *testing.T) {
	dir := openList(t)
	for id, prec := range map[string]string{"b1": "normal", "b2": "normal\nPrecedence: bulk"} {
		out, held := authPost(t, dir, id, "From: a@example.org\nPrecedence: "+prec+"\nSubject: x\n\nbody\n")
		if id == "b2" {
			wantHeld(t, id, out, held, "bulk")
		} else {
			wantPassed(t, id, out, held)
		}
	}
}

// openList makes an open list with a moderator, and its hold and
// outgoing queues.
func openList(t *testing.T) string {
	t.Helper()
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "policy": "open\n",
		"secret": "0123456789abcdef0123456789abcdef\n", "moderators": "mod@example.org\n"})
	for _, q := range []string{"hold", "outgoing"} {
		if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOpenReadsNoMembers: on an open list, a post that is no bulk mail
// passes without a look at the member files, which decide on bulk mail
// alone; bulk mail from a non-member is looked up, and held. The
// subscribers file here is a FIFO, which a read refuses: a temporary
// failure where it is read.
func TestOpenReadsNoMembers(t *testing.T) {
	dir := openList(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "subscribers"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, held := authPost(t, dir, "p1", "From: a@example.org\nSubject: x\n\nbody\n")
	wantPassed(t, "p1", out, held)
	var in bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "p2", Sender: stream.Path{Mailbox: "a@example.org"}},
		strings.NewReader("From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, io.Discard, time.Unix(1764417600, 0)); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("bulk mail, subscribers unreadable: %v; want a temporary failure", err)
	}
	if err := os.Remove(filepath.Join(dir, "subscribers")); err != nil {
		t.Fatal(err)
	}
	out, held = authPost(t, dir, "p3", "From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n")
	wantHeld(t, "p3", out, held, "bulk%20mail%20from%20a%20non-member")
}

// authPost runs mlm-auth on the record id, from a@example.org, of the
// message m, and returns what it passed on and what it held (nil if
// nothing).
func authPost(t *testing.T, dir, id, m string) (out, held []byte) {
	t.Helper()
	var in, o bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: "a@example.org"}},
		strings.NewReader(m), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
		t.Fatal(err)
	}
	held, _ = os.ReadFile(filepath.Join(dir, "queue", "hold", "new", id))
	return o.Bytes(), held
}

// The hold reasons of a walk's faults, as the attribute holds them.
const (
	unreadable = "MIME%20multipart%20with%20a%20Content-Type%20that%20cannot%20be%20read"
	tooMany    = "MIME%20structure%20has%20too%20many%20parts"
)

// wantHeld fails the test unless the post id was held, for a reason
// that starts with reason, and nothing passed on.
func wantHeld(t *testing.T, id string, out, held []byte, reason string) {
	t.Helper()
	if held == nil || len(out) > 0 || !bytes.Contains(held, []byte("\nA hold-reason="+reason)) {
		t.Errorf("%s: passed %d octets, held %v (%q); want held for %s", id, len(out), held != nil, held[:min(len(held), 200)], reason)
	}
}

// wantPassed fails the test unless the post id was passed on, not held.
func wantPassed(t *testing.T, id string, out, held []byte) {
	t.Helper()
	if held != nil || len(out) == 0 {
		t.Errorf("%s: passed %d octets, held %v; want passed", id, len(out), held != nil)
	}
}

// wantPasswordOut asserts that the record id passed, and the list
// password ("letmein") with it: no field or line that gave it.
func wantPasswordOut(t *testing.T, id string, out, held []byte) {
	t.Helper()
	wantPassed(t, id, out, held)
	if bytes.Contains(out, []byte("letmein")) {
		t.Errorf("%s: the password passed on:\n%s", id, out)
	}
}

// TestFromLatin1Name: a member's post whose From gives a name in raw
// Latin-1 octets, as old mail programs write it, is the member's post,
// from an envelope sender that is not the member's as from one that is.
func TestFromLatin1Name(t *testing.T) {
	dir := membersList(t, "joerg@example.de\n")
	for id, from := range map[string]string{"ascii": "Joerg <joerg@example.de>", "latin1": "J\xf6rg M\xfcller <joerg@example.de>"} {
		out, held := forwardedPost(t, dir, id, from)
		wantPassed(t, id, out, held)
	}
}

// TestHoldFieldTwice: a post that gives a field a message has once at
// most (RFC 5322 section 3.6) more than once is held, in whatever case
// the names are spelt: readers differ on which one they show, so a
// second From would be shown for the first, which was judged, and
// receivers such as Gmail refuse such mail, each member's copy there
// bouncing. Fields a message may repeat pass.
func TestHoldFieldTwice(t *testing.T) {
	dir := openList(t)
	for id, m := range map[string]string{
		"from":  "From: a@example.org\nSubject: x\nFrom: boss@example.com\n\nbody\n",
		"subj":  "From: a@example.org\nSubject: x\nSUBJECT: y\n\nbody\n",
		"msgid": "From: a@example.org\nMessage-ID: <1@example.org>\nMessage-Id: <2@example.org>\n\nbody\n",
		"cc":    "From: a@example.org\r\nCc: b@example.org\r\ncc: c@example.org\r\n\r\nbody\r\n",
		"date":  "Date: Sun, 29 Nov 2026 12:00:00 +0000\nFrom: a@example.org\nDate: Mon, 30 Nov 2026 12:00:00 +0000\n\nbody\n",
		// Fields a message may have many of, and one of each of the rest.
		"p1": "Received: by a\nReceived: by b\nResent-From: r@example.org\nResent-From: s@example.org\n" +
			"Comments: 1\nComments: 2\nKeywords: k\nKeywords: l\nX-A: 1\nX-A: 2\n" +
			"Date: Sun, 29 Nov 2026 12:00:00 +0000\nFrom: a@example.org\nSender: a@example.org\nReply-To: a@example.org\n" +
			"To: dev@lists.example.org\nCc: c@example.org\nMessage-ID: <1@example.org>\nIn-Reply-To: <0@example.org>\n" +
			"References: <0@example.org>\nSubject: x\n\nFrom: in the body\nFrom: again\n",
	} {
		out, held := authPost(t, dir, id, m)
		if id[0] == 'p' {
			wantPassed(t, id, out, held)
			continue
		}
		name := map[string]string{"from": "From", "subj": "Subject", "msgid": "Message-ID", "cc": "Cc", "date": "Date"}[id]
		wantHeld(t, id, out, held, name+":%20given%20more%20than%20once")
	}
}

// TestHoldNoFrom: a post with no From field, or none with a valid
// address, is held, from a member's envelope sender too: it has no
// author to show, and receivers such as Gmail refuse it. Valid ones
// pass, a list of them too.
func TestHoldNoFrom(t *testing.T) {
	dir := openList(t)
	for id, m := range map[string]string{
		"none":  "Subject: x\nTo: dev@lists.example.org\n\nFrom: a@example.org\n",
		"empty": "From: \nSubject: x\n\nbody\n",
		"group": "From: undisclosed-recipients:;\nSubject: x\n\nbody\n",
		"text":  "From: somebody\nSubject: x\n\nbody\n",
		"noat":  "From: Somebody <somebody>\nSubject: x\n\nbody\n",
		"pass1": "From: a@example.org\nSubject: x\n\nbody\n",
		"pass2": "From: \"A. Person\" <a@example.org>, b@example.org\nSubject: x\n\nbody\n",
		"pass3": "FROM: =?utf-8?q?J=C3=B6rg?= <a@example.org>\r\nSubject: x\r\n\r\nbody\r\n",
	} {
		out, held := authPost(t, dir, id, m)
		if strings.HasPrefix(id, "pass") {
			wantPassed(t, id, out, held)
			continue
		}
		wantHeld(t, id, out, held, "no%20valid%20address%20in%20From:")
	}
}

// TestFromQuotedLocalPart: a From whose mailbox has a quoted local part
// that needs its quotes ("john smith"@example.org, RFC 5322 section
// 3.4.1 and RFC 5321 section 4.1.2) is a valid author: the post is not
// held for want of one, and a member with that mailbox may post from a
// forwarder's envelope sender, as a member with a plain one may.
// go-message gives the local part with its quotes undone.
func TestFromQuotedLocalPart(t *testing.T) {
	dir := membersList(t, "\"john smith\"@example.org\n\"a\\\"b\"@example.org\n")
	for id, from := range map[string]string{
		"bare":   `"john smith"@example.org`,
		"angle":  `John Smith <"john smith"@example.org>`,
		"pair":   `"a\"b"@example.org`,
		"group":  `team: "john smith"@example.org;`,
		"second": `a@example.net, John <"john smith"@example.org>`,
	} {
		out, held := forwardedPost(t, dir, id, from)
		wantPassed(t, id, out, held)
	}
}

// TestFromWrittenWrong: a From that mail programs wrote wrong, which
// does not parse as an address list, is a member's all the same by the
// mailboxes in its angle brackets, as readers find them: a display name
// with an unquoted "," or "@" or "[", an obsolete route. One with none
// valid is held for having no author, and one whose member's address
// a reader shows as a display name is a non-member's.
func TestFromWrittenWrong(t *testing.T) {
	dir := membersList(t, "alice@example.org\n")
	for id, from := range map[string]string{
		"comma":  "Smith, Alice <alice@example.org>",
		"at":     "alice@example.org <alice@example.org>",
		"square": "Alice [Admin] <alice@example.org>",
		"route":  "<@relay.example:alice@example.org>",
		"word":   "=?utf-8?q?J=C3=B6rg,_Smith?= <alice@example.org>",
		"bad":    "Smith, Alice <al..ice@example.org>",
		// A member's address that a reader shows as text in the
		// display name of a non-member's (Thunderbird reads an
		// encoded-word or a domain literal whole): not the author.
		"hidden":  "=?utf-8?q?<alice@example.org>?= <evil@example.net>",
		"literal": "Evil [<alice@example.org>] <evil@example.net>",
	} {
		out, held := forwardedPost(t, dir, id, from)
		switch id {
		case "bad":
			wantHeld(t, id, out, held, "no%20valid%20address%20in%20From:")
			continue
		case "hidden", "literal":
			wantHeld(t, id, out, held, "the%20sender%20is%20not%20a%20member")
			continue
		}
		wantPassed(t, id, out, held)
	}
}

// membersList makes a list of policy members whose subscribers file
// holds subscribers, with its hold and outgoing queues.
func membersList(t *testing.T, subscribers string) string {
	t.Helper()
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "policy": "members\n",
		"secret": "0123456789abcdef0123456789abcdef\n", "moderators": "mod@example.org\n",
		"subscribers": subscribers})
	for _, q := range []string{"hold", "outgoing"} {
		if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// forwardedPost runs mlm-auth on the record id of a post with the From
// value from, come through a forwarder (its envelope sender no member's,
// so that the From alone can make it a member's), and returns what it
// passed on and what it held (nil if nothing).
func forwardedPost(t *testing.T, dir, id, from string) (out, held []byte) {
	t.Helper()
	var in, o bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: "srs0+x@forwarder.example"}},
		strings.NewReader("From: "+from+"\nSubject: x\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
		t.Fatal(err)
	}
	held, _ = os.ReadFile(filepath.Join(dir, "queue", "hold", "new", id))
	return o.Bytes(), held
}

// TestDenyQuoted: a pattern of deny names a mailbox however its local
// part is spelt, with quotes that add nothing ("eve"@ is eve@, RFC 5321
// section 4.1.2) or without, in the envelope sender as in From, where
// go-message undoes them: a denied address quoted in MAIL FROM passed
// an open list, and was told nothing. One of allow is matched so too.
func TestDenyQuoted(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "deny"), []byte("eve@spam.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, sender := range map[string]string{"plain": "eve@spam.example", "quoted": `"eve"@spam.example`, "pair": `"e\ve"@spam.example`} {
		var in, o bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: sender}},
			strings.NewReader("From: someone@example.net\nSubject: x\n\nbody\n"), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
			t.Fatal(err)
		}
		if o.Len() > 0 {
			t.Errorf("%s: %s passed; want refused", id, sender)
		}
		if _, err := os.Stat(filepath.Join(dir, "queue", "outgoing", "new", id+".n1")); err != nil {
			t.Errorf("%s: %s told nothing: %v", id, sender, err)
		}
	}
	// A members list: a post from an allowed address quoted in MAIL FROM
	// passes, as one from the member it is would.
	dir = membersList(t, "")
	if err := os.WriteFile(filepath.Join(dir, "allow"), []byte("bob@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var in, o bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "allow", Sender: stream.Path{Mailbox: `"bob"@example.org`}},
		strings.NewReader("From: Bob <bob@forwarder.example>\nSubject: x\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
		t.Fatal(err)
	}
	held, _ := os.ReadFile(filepath.Join(dir, "queue", "hold", "new", "allow"))
	wantPassed(t, "allow", o.Bytes(), held)
}

// TestPasswordQuotedPrintable: the list password on the first line of a
// body in quoted-printable is found as readers show the line, and the
// line removed: a password with "=" in it, or a space typed after it,
// comes encoded ("s3cr=3Dt", "s3cr=t=20"), and a member's post that
// passed anyway carried it to every member.
func TestPasswordQuotedPrintable(t *testing.T) {
	hash, err := password.Hash("s3cr=t")
	if err != nil {
		t.Fatal(err)
	}
	dir := membersList(t, "a@example.org\n")
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(hash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, line := range map[string]string{"eq": "Approved: s3cr=3Dt", "space": "Approved: s3cr=3Dt=20", "crlf": "Approved: s3cr=3Dt\r",
		// A soft break before an empty line ends the line there, as
		// readers show it (a review): the next paragraph is not part
		// of it.
		"soft-empty": "Approved: s3cr=3Dt=\n"} {
		out, held := authPost(t, dir, id, "From: a@example.org\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"+
			"Content-Transfer-Encoding: Quoted-Printable\n\n"+line+"\nhello=\n there\n")
		wantPassed(t, id, out, held)
		if bytes.Contains(out, []byte("s3cr")) || !bytes.Contains(out, []byte("\n:hello=\n: there\n")) {
			t.Errorf("%s: passed\n%s\nwant the password's line removed, the rest as it was", id, out)
		}
	}
	// A line that goes on to the next (a soft line break) is no
	// password's: readers show the two as one.
	out, held := authPost(t, dir, "soft", "From: a@example.org\nSubject: x\nContent-Transfer-Encoding: quoted-printable\n\n"+
		"Approved: s3cr=3Dt=\nhello\n")
	wantPassed(t, "soft", out, held)
	if !bytes.Contains(out, []byte("\n:Approved: s3cr=3Dt=\n:hello\n")) {
		t.Errorf("soft: passed\n%s\nwant the lines kept", out)
	}
	// A body in another encoding: the line is taken as it is.
	out, held = authPost(t, dir, "7bit", "From: a@example.org\nSubject: x\n\nApproved: s3cr=3Dt\nhello\n")
	wantPassed(t, "7bit", out, held)
	if !bytes.Contains(out, []byte("\n:Approved: s3cr=3Dt\n")) {
		t.Errorf("7bit: passed\n%s\nwant the line kept (no password)", out)
	}
}

// TestDenyShellClass: a class of a pattern is negated by "!", as the
// shell's case negates one ("[!a]"), as well as by "^": "[!a]*@" was a
// class of "!" and "a", and denied the addresses it was written to spare.
func TestDenyShellClass(t *testing.T) {
	for _, pat := range []string{"[!a]*@evil.example", "[^a]*@evil.example", `[!\a]*@evil.example`} {
		dir := openList(t)
		if err := os.WriteFile(filepath.Join(dir, "deny"), []byte(pat+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for id, sender := range map[string]string{"bob": "bob@evil.example", "alice": "alice@evil.example", "bang": "!x@evil.example"} {
			var in, o bytes.Buffer
			if err := stream.WriteRecord(&in, &stream.Header{ID: id, Sender: stream.Path{Mailbox: sender}},
				strings.NewReader("From: "+sender+"\nSubject: x\n\nbody\n"), nil); err != nil {
				t.Fatal(err)
			}
			if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
				t.Fatal(err)
			}
			if passed, want := o.Len() > 0, id == "alice"; passed != want {
				t.Errorf("deny %s: %s passed %v; want %v", pat, sender, passed, want)
			}
		}
	}
}

// TestDenyQuotedPattern: a pattern whose local part is in quotes that add
// nothing matches the address without them, as a poster's quotes are
// undone, and as the shell's case reads it (a review): it matched
// nothing. Quotes that are needed, or hold a pattern character, stay.
func TestDenyQuotedPattern(t *testing.T) {
	for pat, senders := range map[string]map[string]bool{
		`"eve"@spam.example`: {"eve@spam.example": true, `"eve"@spam.example`: true, "eve2@spam.example": false},
		`"e*"@spam.example`:  {"eve@spam.example": false},
		`"a b"@spam.example`: {`"a b"@spam.example`: true, "ab@spam.example": false},
		// A quoted poster's domain as spelt (a review: an IPv6
		// literal's key, RFC 5952's, is not the pattern's spelling).
		`*@\[ipv6:2001:db8:0:0::1\]`: {`"eve"@[IPv6:2001:db8:0:0::1]`: true, "eve@[IPv6:2001:DB8:0:0::1]": true},
	} {
		dir := openList(t)
		if err := os.WriteFile(filepath.Join(dir, "deny"), []byte(pat+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for sender, denied := range senders {
			var in, o bytes.Buffer
			if err := stream.WriteRecord(&in, &stream.Header{ID: "p", Sender: stream.Path{Mailbox: sender}},
				strings.NewReader("From: a@example.org\nSubject: x\n\nbody\n"), nil); err != nil {
				t.Fatal(err)
			}
			if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
				t.Fatal(err)
			}
			if passed := o.Len() > 0; passed == denied {
				t.Errorf("deny %s: %s passed %v; want %v", pat, sender, passed, !denied)
			}
		}
	}
}

// TestHoldNoticeCookies: the two addresses of a hold notice carry the
// cookies mlm-moderate checks: the accept address's for "accept" and the
// reject address's for "reject", each for the held post and good until
// modexpire after the hold, and not a second after.
func TestHoldNoticeCookies(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "modexpire"), []byte("3600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, held := authPost(t, dir, "p1", "From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n")
	wantHeld(t, "p1", out, held, "bulk%20mail")
	// The cookies' expiry, by which mlm-moderate keeps the record of the
	// post settled.
	if !bytes.Contains(held, []byte("\nA hold-until=1764421200\n")) {
		t.Errorf("the held copy has no hold-until of the cookies' expiry:\n%s", held)
	}
	n, err := os.ReadFile(filepath.Join(dir, "queue", "outgoing", "new", "p1.n1"))
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	until := time.Unix(1764417600+3600, 0)
	for _, action := range []string{"accept", "reject"} {
		m := regexp.MustCompile(`\n:  dev-` + action + `\+([0-9a-z]+-[a-z2-7]{16})@lists\.example\.org\n`).FindSubmatch(n)
		if m == nil {
			t.Fatalf("no %s address in the notice:\n%s", action, n)
		}
		tok := string(m[1])
		if err := cookie.Check(key, action, "dev@lists.example.org", "p1", tok, until); err != nil {
			t.Errorf("the %s address's cookie, at modexpire after the hold: %v; want good", action, err)
		}
		if err := cookie.Check(key, action, "dev@lists.example.org", "p1", tok, until.Add(time.Second)); err != cookie.ErrExpired {
			t.Errorf("the %s address's cookie, a second after modexpire: %v; want expired", action, err)
		}
		other := map[string]string{"accept": "reject", "reject": "accept"}[action]
		if err := cookie.Check(key, other, "dev@lists.example.org", "p1", tok, until); err != cookie.ErrForged {
			t.Errorf("the %s address's cookie, for %s: %v; want forged", action, other, err)
		}
	}
}

// TestHoldNoticeHeldBefore: a post held by a try before this one, whose
// notice could not be queued then, gets a notice whose time to answer
// runs from when it was held, as mlm-moderate's expire counts it: its
// cookies and its date ran from the try again, past the expire that
// dropped the post, and an answer in time was refused (a review).
func TestHoldNoticeHeldBefore(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "modexpire"), []byte("3600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Held half an hour before, as the try before left it.
	heldAt := time.Unix(1764417600-1800, 0)
	held := filepath.Join(dir, "queue", "hold", "new", "p1")
	if err := os.WriteFile(held, []byte("MLM1 p1\nS <a@example.org>\n:Subject: x\n:\n:body\nE 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(held, heldAt, heldAt); err != nil {
		t.Fatal(err)
	}
	authPost(t, dir, "p1", "From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n")
	wantNoticeUntil(t, dir, heldAt.Add(time.Hour))
}

// wantNoticeUntil fails the test unless the notice of the held post p1
// says it is dropped after until, and its accept address's cookie is
// good until then and not a second after.
func wantNoticeUntil(t *testing.T, dir string, until time.Time) {
	t.Helper()
	n, err := os.ReadFile(filepath.Join(dir, "queue", "outgoing", "new", "p1.n1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(n, []byte("dropped after "+until.UTC().Format(time.RFC1123))) {
		t.Errorf("the notice does not say the post is dropped after %s:\n%s", until.UTC().Format(time.RFC1123), n)
	}
	m := regexp.MustCompile(`\n:  dev-accept\+([0-9a-z]+-[a-z2-7]{16})@lists\.example\.org\n`).FindSubmatch(n)
	if m == nil {
		t.Fatalf("no accept address in the notice:\n%s", n)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	if err := cookie.Check(key, "accept", "dev@lists.example.org", "p1", string(m[1]), until.Add(time.Second)); err != cookie.ErrExpired {
		t.Errorf("the accept cookie a second after the held post expires: %v; want expired", err)
	}
	if err := cookie.Check(key, "accept", "dev@lists.example.org", "p1", string(m[1]), until); err != nil {
		t.Errorf("the accept cookie when the held post expires: %v; want good", err)
	}
}

// TestHoldNoticeFileClockBehind: a post this run holds has its time to
// answer from now, not from its file's time, which is the file system's
// clock: one behind this host's (NFS), or an MLM_NOW ahead of it, gave a
// notice whose cookies had expired when it was made (a review).
func TestHoldNoticeFileClockBehind(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "modexpire"), []byte("3600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	var in bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "p1", Sender: stream.Path{Mailbox: "a@example.org"}},
		strings.NewReader("From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, io.Discard, now); err != nil {
		t.Fatal(err)
	}
	wantNoticeUntil(t, dir, now.Add(time.Hour))
}

// TestHoldNoticeDashID: a held record whose id starts with "-" (the
// stream's grammar allows it) gets a notice whose command line takes it
// after "--": "mlm-moderate DIR approve -h" printed the help and
// approved nothing, with 0 (a review).
func TestHoldNoticeDashID(t *testing.T) {
	dir := openList(t)
	authPost(t, dir, "-h", "From: a@example.org\nPrecedence: bulk\nSubject: x\n\nbody\n")
	n, err := os.ReadFile(filepath.Join(dir, "queue", "outgoing", "new", "-h.n1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := " approve -- -h\n"; !bytes.Contains(n, []byte(want)) {
		t.Errorf("the notice has no %q:\n%s", want, n)
	}
}

// TestApprovedWithoutPassword: on a list without a password an Approved
// field means nothing: a member's post with one passes, as without it.
func TestApprovedWithoutPassword(t *testing.T) {
	dir := membersList(t, "a@example.org\n")
	out, held := authPost(t, dir, "p1", "From: a@example.org\nApproved: anything\nSubject: x\n\nbody\n")
	wantPassed(t, "p1", out, held)
}

// TestMemberFiles: on a members list, the addresses of digest, nomail
// and posters may post as subscribers do; an address in none is held.
func TestMemberFiles(t *testing.T) {
	dir := membersList(t, "sub@example.org\n")
	for f, a := range map[string]string{"digest": "dig@example.org", "nomail": "nm@example.org", "posters": "extra@example.org"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, held := forwardedPost(t, dir, f, a)
		wantPassed(t, f, out, held)
	}
	out, held := forwardedPost(t, dir, "stranger", "stranger@example.org")
	wantHeld(t, "stranger", out, held, "the%20sender%20is%20not%20a%20member")
}

// TestUnknownPolicy: a policy that is none of open, members and
// moderated (a typo) is a temporary failure: the posts wait in their
// queue until the list is mended, and none is judged by another policy.
// So is an empty first line (a review): a file cut short, or the value
// a line down, is not the default, which would let a moderated list's
// members post; only a missing file is.
func TestUnknownPolicy(t *testing.T) {
	for _, policy := range []string{"moderatd\n", "", "  \n", "\nmoderated\n"} {
		dir := membersList(t, "a@example.org\n")
		if err := os.WriteFile(filepath.Join(dir, "policy"), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: "p1", Sender: stream.Path{Mailbox: "a@example.org"}},
			strings.NewReader("From: a@example.org\nSubject: x\n\nbody\n"), nil); err != nil {
			t.Fatal(err)
		}
		err := run(dir, &in, &out, time.Unix(1764417600, 0))
		first, _, _ := strings.Cut(policy, "\n")
		want := fmt.Sprintf("unknown policy %q", strings.TrimSpace(first))
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("policy %q: %v; want a temporary failure: %s", policy, err, want)
		}
		if out.Len() > 0 {
			t.Errorf("policy %q: passed %q; want nothing", policy, out.Bytes())
		}
	}
}

// TestPasswordUnreadable: a password file that cannot be read is a
// temporary failure, not a list without a password: a post that gives
// the password waits (75) until the list is mended, rather than being
// judged as if its Approved field meant nothing.
func TestPasswordUnreadable(t *testing.T) {
	dir := membersList(t, "a@example.org\n")
	// (A directory: root, who runs the tests, reads any file.)
	if err := os.Mkdir(filepath.Join(dir, "password"), 0o700); err != nil {
		t.Fatal(err)
	}
	var in, out bytes.Buffer
	if err := stream.WriteRecord(&in, &stream.Header{ID: "p1", Sender: stream.Path{Mailbox: "a@example.org"}},
		strings.NewReader("From: a@example.org\nApproved: s3cret\nSubject: x\n\nbody\n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, &in, &out, time.Unix(1764417600, 0)); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("password unreadable: %v; want a temporary failure", err)
	}
	if out.Len() > 0 {
		t.Errorf("password unreadable: passed %q; want nothing", out.Bytes())
	}
}

// letmeinHash is the hash of the password "letmein", of one round, which
// costs a test nothing to check.
const letmeinHash = "pbkdf2-sha256$1$0011$cd40eec6eec30c148654953c2dbec69ae1d91b58a3a4cfee2254609f87e42a1f"

// passwordList is a members list of bob@example.net alone whose password
// is letmein (a hash of one iteration, as auth-policy's).
func passwordList(t *testing.T) string {
	t.Helper()
	dir := membersList(t, "bob@example.net\n")
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(letmeinHash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPasswordLineLength: the password on the body's first line is
// looked for within its first 1024 octets: a line of 1024 octets, its
// LF included, that gives it passes, and the line is removed; one of
// 1025 is not looked at, and the non-member's post is held with it.
func TestPasswordLineLength(t *testing.T) {
	dir := passwordList(t)
	line := func(n int) string {
		return "Approved:" + strings.Repeat(" ", n-len("Approved:letmein\n")) + "letmein\n"
	}
	out, held := authPost(t, dir, "p1", "From: a@example.org\nSubject: x\n\n"+line(1024)+"text\n")
	wantPasswordOut(t, "p1", out, held)
	out, held = authPost(t, dir, "p2", "From: a@example.org\nSubject: x\n\n"+line(1025)+"text\n")
	wantHeld(t, "p2", out, held, "the%20sender%20is%20not%20a%20member")
}

// TestPasswordLineCase: "Approved:" on the body's first line is a field
// name, taken in any case, as in the header: "APPROVED: letmein" passes
// the post, and the line is removed.
func TestPasswordLineCase(t *testing.T) {
	dir := passwordList(t)
	out, held := authPost(t, dir, "p1", "From: a@example.org\nSubject: x\n\nAPPROVED: letmein\ntext\n")
	wantPasswordOut(t, "p1", out, held)
}

// TestPasswordBudget: the checks of the list password that find it
// wrong take at most checkBudget an hour, all runs together (R71 F7: a
// stranger's posts of guesses took a third of a CPU-second each,
// without end). Each check spends the hash's iterations
// (state/password.checks), and one that finds the password gives them
// back; a post that gives a password once the hour's budget is spent is
// held, unchecked, the right password as a wrong one, and whatever it
// gave is taken out as a right password would be. Another hour's
// spending is none.
func TestPasswordBudget(t *testing.T) {
	mlmtest.Fault(t, "input", "a stranger's flood of posts of wrong list passwords",
		"their checks take at most the rounds of 60 of mlm-passwd's hashes an hour, all runs together; past them a password is taken out unchecked and the post held")
	dir := passwordList(t)
	checks := filepath.Join(dir, "state", "password.checks")
	spent := func() string {
		b, _ := os.ReadFile(checks)
		return string(b)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(checks, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantSpent := func(when string, n int) {
		t.Helper()
		if got, want := spent(), fmt.Sprintf("2025-11-29T12 %d\n", n); got != want {
			t.Errorf("spent %s: %q; want %q", when, got, want)
		}
	}
	// Two wrong fields and a wrong first line: three checks of one
	// iteration each (letmeinHash); a stranger's post, so held for it.
	out, held := authPost(t, dir, "p1", "From: a@example.org\nApproved: one\nApproved: two\nSubject: x\n\nApproved: three\ntext\n")
	wantHeld(t, "p1", out, held, "wrong%20list%20password")
	wantSpent("after three wrong checks", 3)
	// The last of the budget: a right password passes, and costs none.
	write(fmt.Sprintf("2025-11-29T12 %d\n", checkBudget-1))
	out, held = authPost(t, dir, "p2", "From: a@example.org\nApproved: letmein\nSubject: x\n\ntext\n")
	wantPassed(t, "p2", out, held)
	wantSpent("after a right check", checkBudget-1)
	// A wrong one takes it.
	out, held = authPost(t, dir, "p3", "From: a@example.org\nApproved: wrong\nSubject: x\n\ntext\n")
	wantHeld(t, "p3", out, held, "wrong%20list%20password")
	wantSpent("after the last wrong check", checkBudget)
	// Spent: the right password, in a field or on the first line, is
	// not checked; the post is held, without it.
	for id, m := range map[string]string{
		"p4": "From: a@example.org\nApproved: letmein\nSubject: x\n\ntext\n",
		"p5": "From: a@example.org\nSubject: x\n\nApproved: letmein\ntext\n",
	} {
		out, held = authPost(t, dir, id, m)
		wantHeld(t, id, out, held, "the%20list%20password%20was%20not%20checked")
		if bytes.Contains(held, []byte("letmein")) || !bytes.Contains(held, []byte(":text\n")) {
			t.Errorf("%s: held %q; want the text without the password", id, held)
		}
	}
	wantSpent("by unchecked posts", checkBudget)
	// A post without a password is judged as before.
	out, held = authPost(t, dir, "p6", "From: bob@example.net\nSubject: x\n\ntext\n")
	wantPassed(t, "p6", out, held)
	// Spending of the hour before is none now.
	write(fmt.Sprintf("2025-11-29T11 %d\n", checkBudget))
	out, held = authPost(t, dir, "p7", "From: a@example.org\nApproved: letmein\nSubject: x\n\ntext\n")
	wantPassed(t, "p7", out, held)
	wantSpent("in a new hour, after a right check", 0)
}

// TestPasswordCost: a wrong check spends the hash's iterations, 600,000
// for a hash as mlm-passwd makes it; a right one none.
func TestPasswordCost(t *testing.T) {
	dir := membersList(t, "bob@example.net\n")
	h, err := password.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pw    string
		spent int
	}{{"s3cret", 0}, {"guess", password.Iterations}} {
		authPost(t, dir, c.pw, "From: bob@example.net\nApproved: "+c.pw+"\nSubject: x\n\ntext\n")
		b, _ := os.ReadFile(filepath.Join(dir, "state", "password.checks"))
		if want := fmt.Sprintf("2025-11-29T12 %d\n", c.spent); string(b) != want {
			t.Errorf("after %s: spent %q; want %q", c.pw, b, want)
		}
	}
}

// TestPasswordRightThenWrong: behind a right Approved: field, a first
// line of the body that gives another word is the poster's text, and
// stays: only the password is taken out.
func TestPasswordRightThenWrong(t *testing.T) {
	dir := passwordList(t)
	out, held := authPost(t, dir, "p1", "From: a@example.org\nApproved: letmein\nSubject: x\n\nApproved: by the board\ntext\n")
	wantPasswordOut(t, "p1", out, held)
	if !bytes.Contains(out, []byte(":Approved: by the board\n")) {
		t.Errorf("passed %q; want the first line kept", out)
	}
}

// TestPasswordSpentWrapped (R90 F1): with the hour's checks spent, a
// passphrase that format=flowed wraps over two lines is taken out whole,
// unchecked, as a right one is: the first line alone was, and the rest
// went to the moderators and, once approved, to the members.
func TestPasswordSpentWrapped(t *testing.T) {
	dir := passwordList(t)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state", "password.checks"), []byte(fmt.Sprintf("2025-11-29T12 %d\n", checkBudget)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, held := authPost(t, dir, "p1", "From: a@example.org\nSubject: x\nContent-Type: text/plain; charset=utf-8; format=flowed\n\nApproved: correct horse \nbattery staple\nThe text.\n")
	wantHeld(t, "p1", out, held, "the%20list%20password%20was%20not%20checked")
	if bytes.Contains(held, []byte("horse")) || bytes.Contains(held, []byte("battery")) || !bytes.Contains(held, []byte(":The text.\n")) {
		t.Errorf("held %q; want the wrapped line out whole, the text kept", held)
	}
}

// TestPasswordBodyTakesFields (R90 F4): where the body's first line
// gives the password, every Approved: field goes too, one that holds the
// password among other words as well.
func TestPasswordBodyTakesFields(t *testing.T) {
	dir := passwordList(t)
	out, held := authPost(t, dir, "p1", "From: a@example.org\nApproved: letmein (board)\nSubject: x\n\nApproved: letmein\ntext\n")
	wantPasswordOut(t, "p1", out, held)
}

// TestDenyFolded (R90 F9): a pattern of deny matches a sender whose
// local part differs from it only in case as a member's key folds it:
// deny οδος@ refuses ΟΔΟΣ@ (final sigma as sigma), as it did Οδος@. A
// domain keeps final sigma, a letter of its own there.
func TestDenyFolded(t *testing.T) {
	dir := openList(t)
	if err := os.WriteFile(filepath.Join(dir, "deny"), []byte("οδος@example.gr\n*@σας.example\nξενος*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// (A pattern of no "@" is no local part to fold: it matches its
	// own spelling, as it did, R91 F5.)
	for sender, denied := range map[string]bool{"οδος@example.gr": true, "ΟΔΟΣ@example.gr": true, "Οδος@example.gr": true,
		"a@σας.example": true, "a@σασ.example": false, "ξενος@example.org": true} {
		var in, o bytes.Buffer
		if err := stream.WriteRecord(&in, &stream.Header{ID: "d", Sender: stream.Path{Mailbox: sender}},
			strings.NewReader("From: someone@example.net\nSubject: x\n\nbody\n"), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, &in, &o, time.Unix(1764417600, 0)); err != nil {
			t.Fatal(err)
		}
		if (o.Len() == 0) != denied {
			t.Errorf("%s: passed %v; want denied %v", sender, o.Len() > 0, denied)
		}
	}
}
