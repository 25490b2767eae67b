package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mlm/lib/cookie"
	"mlm/lib/envelope"
	"mlm/lib/sysexit"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestControlsInEnvelope: CR, LF and NUL in SENDER or RECIPIENT are
// refused with 65 and nothing is written.
func TestControlsInEnvelope(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644)
	for _, bad := range []string{"a@b\nR <x@y>", "a@b\r", "a\x00@b", "a@b; rm -rf /"} {
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Sender: bad, SenderSet: true}, strings.NewReader("Subject: x\n\ny\n"), &out, time.Now())
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("SENDER %q: %v, output %q; want 65 and nothing", bad, err, out.String())
		}
		err = run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Recipient: bad}, strings.NewReader("Subject: x\n\ny\n"), &out, time.Now())
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("RECIPIENT %q: %v, output %q; want 65 and nothing", bad, err, out.String())
		}
	}
}

// ptr is a pointer to s, for an option given.
func ptr(s string) *string { return &s }

// TestLongFromLine: a first line that starts as a From_ line and runs
// past mlm-accept's 64 KiB buffer is refused (65), as mlm-wrap -F
// refuses it, and the message read to its end: it was dropped whole, and
// a message whose lines end in CR alone past the buffer was then "empty",
// or lost its first lines (a critical read).
func TestLongFromLine(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
	for _, end := range []string{"\rSubject: x\r\rbody\r", "\rSubject: x\r\rbody\r\nmore text\n", "\nSubject: x\n\nbody\n"} {
		msg := "From alice@example.org " + strings.Repeat("x", 70000) + end
		in := strings.NewReader(msg)
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Sender: "a@example.org", SenderSet: true}, in, &out, time.Now())
		if sysexit.Code(err) != sysexit.DataErr || !strings.Contains(fmt.Sprint(err), "From_ line: over 65535 octets") || in.Len() != 0 || out.Len() != 0 {
			t.Errorf("%q: %v, wrote %d octets, %d left unread; want 65, nothing written, all read", end, err, out.Len(), in.Len())
		}
	}
}

// TestReadsToEnd: a message refused is read to its end all the same, as
// mlm-accept(1) says, so that the MTA writing it never sees a broken
// pipe: one not for the list (67), from a sender that is no address
// (65), or bigger than maxsize (65), each larger than what a first read
// takes.
func TestReadsToEnd(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "maxsize": "100\n"})
	msg := "Subject: x\n\n" + strings.Repeat("0123456789\n", 20000)
	for _, c := range []struct {
		name string
		env  envelope.MTA
		code int
	}{
		{"not the list's", envelope.MTA{Sender: "a@example.org", SenderSet: true, Recipient: "other@lists.example.org"}, sysexit.NoUser},
		{"bad sender", envelope.MTA{Sender: "a b@example.org", SenderSet: true}, sysexit.DataErr},
		{"too big", envelope.MTA{Sender: "a@example.org", SenderSet: true}, sysexit.DataErr},
	} {
		in := strings.NewReader(msg)
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, c.env, in, &out, time.Now())
		if sysexit.Code(err) != c.code || in.Len() != 0 {
			t.Errorf("%s: %v, %d of %d octets left unread; want %d and all read", c.name, err, in.Len(), len(msg), c.code)
		}
	}
}

// TestAnswers: a moderator's answer is taken if its cookie was made for
// a post held or settled, for its action, and has not expired; one made
// for nothing held (a stranger's made-up cookie, spelt right), for the
// other action, or expired, and an automatic message, are refused (77)
// and nothing written: each sat in moderate/bad/ for ever (R76). With no
// secret to check by, the answer is taken, to wait for one.
func TestAnswers(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	list := "dev@lists.example.org"
	dir := mlmtest.ListDir(t, map[string]string{
		"address":               list + "\n",
		"secret":                secret + "\n",
		"queue/hold/new/h1":     "MLM1 h1\nS <a@example.org>\n:\nE 0\n",
		"state/moderated/s1":    "approve\n",
		"queue/moderate/new/.k": "",
	})
	now := time.Unix(1_800_000_000, 0)
	tok := func(action, id string, until time.Time) string {
		return cookie.Make([]byte(secret), action, list, id, until)
	}
	later := now.Add(time.Hour)
	for _, c := range []struct {
		name, rcpt, msg string
		code            int
		why             string
	}{
		{"held", "dev-accept+" + tok("accept", "h1", later), "Subject: ok\n\nok\n", 0, ""},
		{"held, reject", "dev-reject+" + tok("reject", "h1", later), "Subject: no\n\nno\n", 0, ""},
		{"held, drop", "dev-drop+" + tok("drop", "h1", later), "Subject: spam\n\nspam\n", 0, ""},
		{"drop, a reject cookie", "dev-drop+" + tok("reject", "h1", later), "Subject: spam\n\nspam\n", sysexit.NoPerm, "bad or forged cookie"},
		{"upper case", "dev-accept+" + strings.ToUpper(tok("accept", "h1", later)), "Subject: ok\n\nok\n", 0, ""},
		{"settled", "dev-accept+" + tok("accept", "s1", later), "Subject: ok\n\nok\n", 0, ""},
		{"at its expiry", "dev-accept+" + tok("accept", "h1", now), "Subject: ok\n\nok\n", 0, ""},
		{"made up", "dev-accept+" + tok("accept", "h2", later), "Subject: ok\n\nok\n", sysexit.NoPerm, "bad or forged cookie"},
		{"another secret", "dev-accept+" + cookie.Make([]byte("another secret, 32 octets long.."), "accept", list, "h1", later), "Subject: ok\n\nok\n", sysexit.NoPerm, "bad or forged cookie"},
		{"the other action", "dev-accept+" + tok("reject", "h1", later), "Subject: ok\n\nok\n", sysexit.NoPerm, "bad or forged cookie"},
		{"expired", "dev-accept+" + tok("accept", "h1", now.Add(-time.Second)), "Subject: ok\n\nok\n", sysexit.NoPerm, "expired cookie"},
		{"automatic", "dev-accept+" + tok("accept", "h1", later), "Subject: away\nAuto-Submitted: auto-replied\n\naway\n", sysexit.NoPerm, "an automatic message answers no hold notice"},
		{"automatic, Outlook", "dev-accept+" + tok("accept", "h1", later), "Subject: away\nX-Auto-Response-Suppress: All\n\naway\n", sysexit.NoPerm, "an automatic message answers no hold notice"},
	} {
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Sender: "mod@example.org", SenderSet: true, Recipient: c.rcpt + "@lists.example.org"}, strings.NewReader(c.msg), &out, now)
		uncommit()
		if sysexit.Code(err) != c.code || c.code != 0 && (!strings.Contains(fmt.Sprint(err), c.why) || out.Len() > 0) || c.code == 0 && out.Len() == 0 {
			t.Errorf("%s: %v, %d octets written; want %d %q", c.name, err, out.Len(), c.code, c.why)
		}
	}
	answer := func() (int, error) {
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Sender: "mod@example.org", SenderSet: true, Recipient: "dev-accept+" + tok("accept", "h2", later) + "@lists.example.org"}, strings.NewReader("Subject: ok\n\nok\n"), &out, now)
		uncommit()
		return out.Len(), err
	}
	// A secret too short to check by, or one that cannot be read, is a
	// fault to say, not a check to skip: the made-up cookie waits (R77).
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("short\n"), 0o600)
	if n, err := answer(); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "secret: 5 octets, under 16") || n > 0 {
		t.Errorf("a short secret: %v, %d octets written; want 75, saying so", err, n)
	}
	os.Remove(secretFile)
	os.Mkdir(secretFile, 0o755) // read as a file, it fails, as root's read of a mode 000 file would not
	if n, err := answer(); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "secret") || n > 0 {
		t.Errorf("a secret that cannot be read: %v, %d octets written; want 75, naming it", err, n)
	}
	os.Remove(secretFile)
	for _, empty := range []bool{false, true} {
		if empty {
			os.WriteFile(secretFile, []byte(" \n"), 0o600)
		}
		if n, err := answer(); err != nil || n == 0 {
			t.Errorf("no secret (empty %v): %v, %d octets written; want it taken, to wait", empty, err, n)
		}
	}
}

// uncommit undoes what committing does once a record is taken: run,
// called again in the same process, takes another.
func uncommit() {
	if committed {
		committed = false
		commitMu.Unlock()
	}
}
