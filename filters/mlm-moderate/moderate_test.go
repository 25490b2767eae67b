package main

import (
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
	"mlm/lib/mlmtest"
	"mlm/lib/notice"
	"mlm/lib/queue"
	"mlm/lib/sysexit"
)

var testNow = time.Unix(1_795_867_200, 0)

// heldList makes a list directory whose hold queue holds the posts ids.
func heldList(t *testing.T, ids ...string) *listdir.Dir {
	t.Helper()
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "secret": "0123456789abcdef\n"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{listdir.Hold, listdir.Incoming, listdir.Outgoing, listdir.Retry} {
		if err := d.Queue(q).Create(); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		err := d.Queue(listdir.Hold).Put(id, time.Time{}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "MLM1 %s\nA state=held\nS <poster%d@example.net>\n:Subject: post %d\n:\n:text\nE 0\n", id, i, i)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// reply is a moderator's answer by mail, as mlm-accept queues it:
// action ("accept", "reject" or "drop") for the held post id.
func reply(t *testing.T, d *listdir.Dir, n int, action, id string) string {
	t.Helper()
	key, err := d.Secret()
	if err != nil {
		t.Fatal(err)
	}
	tok := cookie.Make(key, action, d.Address(), id, testNow.Add(7*24*time.Hour))
	return fmt.Sprintf("MLM1 a%d\nA orig-rcpt=dev-%s+%s@lists.example.org\nA received=%d\nS <mod@example.org>\n:Subject: Re: held\n:\n:ok\nE 0\n",
		n, action, tok, testNow.Unix())
}

// mail runs mlm-moderate DIR mail on the stream in, and returns what it
// said on standard error and its error.
func mail(t *testing.T, d *listdir.Dir, in string) (string, error) {
	t.Helper()
	return mailAt(t, d, in, testNow)
}

// mailAt is mail run at the time now.
func mailAt(t *testing.T, d *listdir.Dir, in string, now time.Time) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stderr := os.Stderr
	os.Stderr = f
	err = run(&args{Dir: d.Path, Action: "mail"}, strings.NewReader(in), io.Discard, now)
	os.Stderr = stderr
	b, _ := os.ReadFile(f.Name())
	return string(b), err
}

// TestMailRetry: a stream of answers that ended at one that had to wait
// (75), its post being dealt with by another run, is run again, as
// mlm-run does after a 75. The answers carried out the first time are
// neither done again nor refused: the second run acts on the rest, says
// nothing, and exits 0.
func TestMailRetry(t *testing.T) {
	d := heldList(t, "h1", "h2", "h3")
	in := reply(t, d, 1, "accept", "h1") + reply(t, d, 2, "accept", "h2") + reply(t, d, 3, "reject", "h3") + reply(t, d, 4, "reject", "h3")
	hold := d.Queue(listdir.Hold).Path
	// h2 is another run's for now.
	if err := os.Rename(filepath.Join(hold, "new", "h2"), filepath.Join(hold, "cur", "h2")); err != nil {
		t.Fatal(err)
	}
	if _, err := mail(t, d, in); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("first run: %v (%d); want 75", err, sysexit.Code(err))
	}
	if !d.Queue(listdir.Incoming).Has("h1") {
		t.Fatalf("h1 not approved by the first run")
	}
	if err := os.Rename(filepath.Join(hold, "cur", "h2"), filepath.Join(hold, "new", "h2")); err != nil {
		t.Fatal(err)
	}
	if stderr, err := mail(t, d, in); err != nil || stderr != "" {
		t.Errorf("second run: %v (%d), stderr %q; want 0 and nothing said", err, sysexit.Code(err), stderr)
	}
	for _, p := range []string{"incoming/new/h1", "incoming/new/h2", "outgoing/new/h3.n2"} {
		if _, err := os.Stat(filepath.Join(d.Path, "queue", p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, id := range []string{"h1", "h2", "h3"} {
		if d.Queue(listdir.Hold).Has(id) {
			t.Errorf("%s still held", id)
		}
	}
	// An answer for a post settled otherwise is refused, saying how.
	stderr, err := mail(t, d, reply(t, d, 5, "reject", "h1"))
	if sysexit.Code(err) != sysexit.NoUser || stderr != "mlm-moderate: h1: approved already: not rejected\n" {
		t.Errorf("reject of an approved post: %v (%d), stderr %q; want 67, approved already", err, sysexit.Code(err), stderr)
	}
	if d.Queue(listdir.Outgoing).Has("h1.n2") {
		t.Errorf("the poster of an approved post told it was rejected")
	}
}

// TestMailUpperCase: an answer to an address whose case a mail program
// or an MTA changed, cookie and all, approves the post.
func TestMailUpperCase(t *testing.T) {
	d := heldList(t, "h1")
	in := reply(t, d, 1, "accept", "h1")
	rcpt := in[strings.Index(in, "orig-rcpt=")+len("orig-rcpt="):]
	rcpt = rcpt[:strings.IndexByte(rcpt, '\n')]
	in = strings.Replace(in, rcpt, strings.ToUpper(rcpt), 1)
	if stderr, err := mail(t, d, in); err != nil {
		t.Fatalf("%v (%d), stderr %q; want 0", err, sysexit.Code(err), stderr)
	}
	if !d.Queue(listdir.Incoming).Has("h1") {
		t.Errorf("h1 not approved")
	}
}

// TestMailSettlesItsPost: an answer settles the held post its cookie is
// for, not another: of two held posts, the accept of the second
// approves the second, and the first stays held.
func TestMailSettlesItsPost(t *testing.T) {
	d := heldList(t, "h1", "h2")
	if stderr, err := mail(t, d, reply(t, d, 1, "accept", "h2")); err != nil {
		t.Fatalf("%v (%d), stderr %q; want 0", err, sysexit.Code(err), stderr)
	}
	if !d.Queue(listdir.Incoming).Has("h2") || d.Queue(listdir.Hold).Has("h2") {
		t.Errorf("h2 not approved")
	}
	if d.Queue(listdir.Incoming).Has("h1") || !d.Queue(listdir.Hold).Has("h1") {
		t.Errorf("h1, which nobody answered, approved")
	}
}

// TestMailRefusedAnswers: a message from the null sender to an accept
// address (a bounce of the notice, whose Reply-To it is), or an
// automatic one (Auto-Submitted: auto-replied, a vacation reply to it),
// answers nothing, nor does one whose header cannot be read (it cannot
// be told from an automatic one): refused (77), in a line that names
// the answer's record, and the post stays held.
func TestMailRefusedAnswers(t *testing.T) {
	for _, tc := range []struct{ name, old, new, why string }{
		{"null sender", "\nS <mod@example.org>\n", "\nS <>\n", "null sender"},
		{"automatic", "\n:Subject: Re: held\n", "\n:Auto-Submitted: auto-replied\n:Subject: Re: held\n", "automatic message"},
		{"unreadable header", "\n:Subject: Re: held\n", "\n" + strings.Repeat(":X: y\n", 11000) + ":Subject: Re: held\n", "header cannot be read"},
	} {
		d := heldList(t, "h1")
		in := strings.Replace(reply(t, d, 1, "accept", "h1"), tc.old, tc.new, 1)
		if stderr, err := mail(t, d, in); sysexit.Code(err) != sysexit.NoPerm || !strings.Contains(stderr, tc.why) ||
			!strings.HasPrefix(stderr, prog+": a1: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: %v (%d), stderr %q; want 77, one line naming a1, %s", tc.name, err, sysexit.Code(err), stderr, tc.why)
		}
		if d.Queue(listdir.Incoming).Has("h1") || !d.Queue(listdir.Hold).Has("h1") {
			t.Errorf("%s: h1 approved", tc.name)
		}
	}
}

// TestMailExpired: an answer that comes after its cookie expired is
// refused (77) as an expired cookie, not as a forged one, and the post
// stays held.
func TestMailExpired(t *testing.T) {
	d := heldList(t, "h1")
	late := testNow.Add(8 * 24 * time.Hour) // the cookie is good for 7 days
	in := strings.Replace(reply(t, d, 1, "accept", "h1"), fmt.Sprintf("\nA received=%d\n", testNow.Unix()), fmt.Sprintf("\nA received=%d\n", late.Unix()), 1)
	stderr, err := mailAt(t, d, in, late)
	if sysexit.Code(err) != sysexit.NoPerm || !regexp.MustCompile(`^mlm-moderate: "dev-accept\+[0-9a-z-]+@lists\.example\.org": expired cookie\n$`).MatchString(stderr) {
		t.Errorf("a late answer: %v (%d), stderr %q; want 77, expired cookie", err, sysexit.Code(err), stderr)
	}
	if d.Queue(listdir.Incoming).Has("h1") || !d.Queue(listdir.Hold).Has("h1") {
		t.Errorf("h1 approved by a late answer")
	}
}

// TestMailFirstRefusal: of a stream of answers with two refused, each
// is said, the answer after them is acted on all the same, and the
// status is the first refusal's: 67 for a post settled otherwise, not
// the 77 of the forged cookie after it.
func TestMailFirstRefusal(t *testing.T) {
	d := heldList(t, "h1", "h2")
	if stderr, err := mail(t, d, reply(t, d, 1, "accept", "h1")); err != nil {
		t.Fatalf("approving h1: %v, stderr %q", err, stderr)
	}
	in := reply(t, d, 2, "reject", "h1") + reply(t, d, 3, "accept", "nothere") + reply(t, d, 4, "accept", "h2")
	stderr, err := mail(t, d, in)
	if sysexit.Code(err) != sysexit.NoUser {
		t.Errorf("status %v (%d); want 67, the first refusal's", err, sysexit.Code(err))
	}
	if want := `^mlm-moderate: h1: approved already: not rejected\nmlm-moderate: "dev-accept\+[0-9a-z-]+@lists\.example\.org": bad or forged cookie\n$`; !regexp.MustCompile(want).MatchString(stderr) {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	if !d.Queue(listdir.Incoming).Has("h2") {
		t.Errorf("h2, answered after the refusals, not approved")
	}
}

// TestSettledAsFirstLine: a settled mark is read as a setting is, its
// first line, not the whole file: a mark of 2 MiB with no line end (a
// file that is not what its name says; linked to /dev/zero, it ran the
// program out of memory) is a temporary failure, 75; a FIFO is refused,
// not waited on; none is no mark.
func TestSettledAsFirstLine(t *testing.T) {
	d := heldList(t)
	dir := d.File(settledDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "p1"), []byte("approve\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p2"), []byte(strings.Repeat("x", 2<<20)), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "p3"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, want string
		code     int
	}{{"p1", "approve", 0}, {"p2", "", sysexit.TempFail}, {"p3", "", sysexit.TempFail}, {"p4", "", 0}} {
		if as, err := settledAs(d, tc.id); as != tc.want || sysexit.Code(err) != tc.code {
			t.Errorf("settledAs(%s) = %q, %v; want %q, exit %d", tc.id, as, err, tc.want, tc.code)
		}
	}
}

// TestRejectLongID: a held post whose id is as long as a queue takes is
// rejected, and its poster told, under the id notice.ID fits (a review):
// ID.n2 was past the queue's limit, and every reject failed (65).
func TestRejectLongID(t *testing.T) {
	id := strings.Repeat("h", queue.MaxID)
	d := heldList(t, id)
	if err := run(&args{Dir: d.Path, Action: "reject", ID: id}, strings.NewReader(""), io.Discard, testNow); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if d.Queue(listdir.Hold).Has(id) || !d.Queue(listdir.Outgoing).Has(notice.ID(id, ".n2")) {
		t.Errorf("held still %v, notice %v; want gone, and told", d.Queue(listdir.Hold).Has(id), d.Queue(listdir.Outgoing).Has(notice.ID(id, ".n2")))
	}
}

// TestMailDrop: an answer to the drop address discards the post and
// tells no one (no notice to its sender, most often forged: R71 F4); it
// is settled as discarded, and a later answer of another kind is refused
// so.
func TestMailDrop(t *testing.T) {
	d := heldList(t, "h1")
	if stderr, err := mail(t, d, reply(t, d, 1, "drop", "h1")); err != nil || stderr != "" {
		t.Fatalf("drop: %v, stderr %q; want 0 and nothing said", err, stderr)
	}
	if d.Queue(listdir.Hold).Has("h1") || d.Queue(listdir.Incoming).Has("h1") || d.Queue(listdir.Outgoing).Has("h1.n2") {
		t.Errorf("dropped: still held, or approved, or its sender told")
	}
	if as, err := settledAs(d, "h1"); as != "discard" || err != nil {
		t.Errorf("settled as %q, %v; want discard", as, err)
	}
	// A cookie for another action is none for this one.
	d = heldList(t, "h2")
	in := strings.Replace(reply(t, d, 2, "reject", "h2"), "dev-reject+", "dev-drop+", 1)
	if _, err := mail(t, d, in); sysexit.Code(err) != sysexit.NoPerm || !d.Queue(listdir.Hold).Has("h2") {
		t.Errorf("a reject cookie at the drop address: %v; want 77, the post held", err)
	}
	stderr, err := mail(t, d, reply(t, d, 3, "drop", "h2")+reply(t, d, 4, "accept", "h2"))
	if sysexit.Code(err) != sysexit.NoUser || stderr != "mlm-moderate: h2: discarded already: not approved\n" {
		t.Errorf("accept of a dropped post: %v, stderr %q; want 67, discarded already", err, stderr)
	}
}
