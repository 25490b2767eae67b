package tests

// Hostile input (issue 6): control octets in settings, envelopes, member
// files and header fields; shell metacharacters in every envelope value;
// huge bodies, lines and headers; MIME bombs; two lists subscribed to
// each other. Each case states its row of the fault table first
// (mlmtest.Fault) and asserts outcomes that do not depend on time: exit
// codes, one-line messages, the bytes that go out, and peak RSS.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mlm/lib/addr"
	"mlm/lib/mlmtest"
	"mlm/lib/notice"
	"mlm/lib/stream"
)

// hOutcome is what a program did.
type hOutcome struct {
	code   int
	stderr string // without peakrss's line
	rss    int64  // peak resident set, KiB
}

// hRun runs a built program under peakrss with stdin, stdout and extra
// environment, and returns its exit status, stderr and peak RSS.
func hRun(t *testing.T, stdin io.Reader, stdout io.Writer, env []string, prog string, args ...string) hOutcome {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "peakrss"), append([]string{filepath.Join(binDir, prog)}, args...)...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	if stdout == nil {
		cmd.Stdout = io.Discard
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", prog, err)
	}
	s := stderr.String()
	i := strings.LastIndex(s, "peakrss: ")
	var kib int64
	if i < 0 {
		t.Fatalf("%s: no peakrss line in %q", prog, s)
	}
	if _, err := fmt.Sscanf(s[i:], "peakrss: %d\n", &kib); err != nil {
		t.Fatalf("%s: peakrss said %q", prog, s[i:])
	}
	return hOutcome{cmd.ProcessState.ExitCode(), s[:i], kib}
}

// hRunFile is hRun from one file to another ("" for none).
func hRunFile(t *testing.T, in, out string, env []string, prog string, args ...string) hOutcome {
	t.Helper()
	var stdin io.Reader = strings.NewReader("")
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stdin = f
	}
	var stdout io.Writer
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		bw := bufio.NewWriterSize(f, 1<<20)
		defer bw.Flush()
		stdout = bw
	}
	return hRun(t, stdin, stdout, env, prog, args...)
}

// hOneLine checks that a program said exactly one line on stderr,
// "prog: context: reason" (after an enhanced status code for programs an
// MTA runs), matching re.
func hOneLine(t testing.TB, o hOutcome, re string) {
	t.Helper()
	if strings.Count(o.stderr, "\n") != 1 || !strings.HasSuffix(o.stderr, "\n") || !regexp.MustCompile(re).MatchString(o.stderr) {
		t.Errorf("stderr %q; want one line matching %s", o.stderr, re)
	}
}

// TestHOneLine: hOneLine, which the hostile-input cases hold each
// program's report to, takes one line that matches, and reports two
// lines, a line without its newline, and a line that does not match.
func TestHOneLine(t *testing.T) {
	const re = `^5\.6\.0 mlm-accept: `
	for _, tc := range []struct {
		stderr string
		ok     bool
	}{
		{"5.6.0 mlm-accept: header too big\n", true},
		{"5.6.0 mlm-accept: header too big\nand a second line\n", false},
		{"5.6.0 mlm-accept: header too big", false},
		{"4.3.0 mlm-accept: header too big\n", false},
		{"", false},
	} {
		r := &recorder{TB: t}
		hOneLine(r, hOutcome{stderr: tc.stderr}, re)
		if ok := len(r.errs) == 0; ok != tc.ok {
			t.Errorf("stderr %q: hOneLine reported %q; want it taken: %v", tc.stderr, r.errs, tc.ok)
		}
	}
}

// hNewList makes a list directory for address with mlm-newlist,
// owned by owner@example.org, and returns its path.
func hNewList(t *testing.T, base, address string) string {
	t.Helper()
	local, _, _ := strings.Cut(address, "@")
	dir := filepath.Join(base, local)
	if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), "-o", "owner@example.org", dir, address).CombinedOutput(); err != nil {
		t.Fatalf("mlm-newlist: %v: %s", err, out)
	}
	return dir
}

// hWrite writes a file, failing the test on error.
func hWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hRecord is one record of a stream file, message included.
type hRecord struct {
	h     *stream.Header
	msg   []byte
	rcpts []string
}

// hRecords reads every record of a stream file (small ones only).
func hRecords(t *testing.T, name string) []hRecord {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []hRecord
	r := stream.NewReader(bufio.NewReader(f))
	err = r.Each(func(h *stream.Header) error {
		m, err := io.ReadAll(r.Message())
		if err != nil {
			return err
		}
		rec := hRecord{h: h, msg: m}
		err = r.EachRecipient(func(p stream.Path) error { rec.rcpts = append(rec.rcpts, p.Mailbox); return nil })
		recs = append(recs, rec)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return recs
}

// hQueued returns the records in a queue's new/ directory.
func hQueued(t *testing.T, dir, q string) []hRecord {
	t.Helper()
	var recs []hRecord
	for _, n := range mlmtest.Names(t, filepath.Join(dir, "queue", q, "new")) {
		recs = append(recs, hRecords(t, filepath.Join(dir, "queue", q, "new", n))...)
	}
	return recs
}

// hNames returns the names of the fields of a message's header.
func hNames(m []byte) []string {
	head, _, _ := bytes.Cut(m, []byte("\n\n"))
	var names []string
	for l := range strings.SplitSeq(string(head), "\n") {
		if n, _, ok := strings.Cut(l, ":"); ok && l != "" && l[0] != ' ' && l[0] != '\t' {
			names = append(names, n)
		}
	}
	return names
}

// hListFields are the fields mlm-hdr adds for dev@lists.example.org with
// no other settings.
const hListFields = "List-Id: <dev.lists.example.org>\n" +
	"List-Help: <mailto:dev-owner@lists.example.org?subject=help>\n" +
	"List-Post: <mailto:dev@lists.example.org>\n" +
	"List-Subscribe: <mailto:dev-owner@lists.example.org?subject=subscribe>\n" +
	"List-Unsubscribe: <mailto:dev-owner@lists.example.org?subject=unsubscribe>\n" +
	"List-Owner: <mailto:dev-owner@lists.example.org>\n" +
	"Precedence: list\n" +
	"X-Loop: dev@lists.example.org\n"

// hPlainList makes dev@lists.example.org with alice@example.org a member
// and nothing that changes a post but the list fields.
func hPlainList(t *testing.T) string {
	t.Helper()
	dir := newList(t)
	os.Remove(filepath.Join(dir, "strip"))
	mlm(t, "", nil, "mlm-sub", dir, "alice@example.org")
	// An owner, whom the request fields name (mlm-hdr(1)).
	mlm(t, "", nil, "mlm-sub", "-l", "owner", dir, "owner@example.org")
	return dir
}

// TestHostileControls: CR, LF and NUL in the subject prefix, the list
// address, member addresses, a From display name and the envelope are
// refused with the right code and one line, or harmless; never a header
// field or recipient of their making in what goes out.
func TestHostileControls(t *testing.T) {
	post := "From: Alice <alice@example.org>\nMessage-ID: <hi@example.org>\nSubject: hi\n\nbody\n"
	rec := func(t *testing.T, dir, msg string) string {
		t.Helper()
		name := filepath.Join(t.TempDir(), "in.mlm")
		o := hRun(t, strings.NewReader(msg), nil, []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", "-o", name, dir)
		if o.code != 0 {
			t.Fatalf("mlm-accept: %d %s", o.code, o.stderr)
		}
		return name
	}

	for _, tc := range []struct{ name, prefix, line string }{
		{"CR", "[dev]\rX-Injected: 1\n", `^mlm-hdr: prefix: bad header field: control octet '\\r' in field value\n$`},
		{"NUL", "[d\x00ev]\n", `^mlm-hdr: prefix: bad header field: control octet '\\x00' in field value\n$`},
		{"LF", "[dev]\nX-Injected: 1\n", ""},
	} {
		t.Run("prefix "+tc.name, func(t *testing.T) {
			result := "mlm-hdr exit 75, one line naming prefix; nothing written"
			if tc.line == "" {
				result = "first line only: Subject [dev] hi, no injected field"
			}
			mlmtest.Fault(t, "input", tc.name+" in the subject prefix setting", result)
			dir := hPlainList(t)
			hWrite(t, filepath.Join(dir, "prefix"), tc.prefix)
			in := rec(t, dir, post)
			var out bytes.Buffer
			o := hRun(t, hOpen(t, in), &out, nil, "mlm-hdr", dir)
			if tc.line != "" {
				if o.code != 75 || out.Len() != 0 {
					t.Errorf("exit %d, %d octets out; want 75 and nothing", o.code, out.Len())
				}
				hOneLine(t, o, tc.line)
				return
			}
			if o.code != 0 {
				t.Fatalf("exit %d: %s", o.code, o.stderr)
			}
			want := hListFields + "From: Alice <alice@example.org>\nMessage-ID: <hi@example.org>\nSubject: [dev] hi\n\nbody\n"
			if m := hMessage(t, out.Bytes()); m != want {
				t.Errorf("message %q; want %q", m, want)
			}
		})
	}

	for _, tc := range []struct{ name, address string }{
		{"CR", "dev@lists.example.org\rX-Injected: 1\n"},
		{"NUL", "dev@lists.exam\x00ple.org\n"},
		{"LF", "dev@lists.example.org\nBcc: mallory@example.net\n"},
	} {
		t.Run("address "+tc.name, func(t *testing.T) {
			harmless := tc.name == "LF"
			result := "every program exit 75 (4.3.0 from mlm-accept), one line naming address; nothing hQueued or written"
			if harmless {
				result = "first line only; no injected field or recipient"
			}
			mlmtest.Fault(t, "input", tc.name+" in the list address file", result)
			dir := hPlainList(t)
			in := rec(t, dir, post) // made while the address was good
			hWrite(t, filepath.Join(dir, "address"), tc.address)
			env := []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}
			o := hRun(t, strings.NewReader(post), nil, env, "mlm-accept", dir)
			if harmless {
				if o.code != 0 {
					t.Fatalf("mlm-accept: %d %s", o.code, o.stderr)
				}
				var out bytes.Buffer
				stages := hRun(t, hOpen(t, in), &out, nil, "mlm-pipeline", "mlm-auth", dir, "--", "mlm-hdr", dir, "--", "mlm-members", dir)
				if stages.code != 0 {
					t.Fatalf("stages: %d %s", stages.code, stages.stderr)
				}
				recs := hRecords(t, hTemp(t, out.Bytes()))
				if len(recs) != 1 || !slices.Equal(recs[0].rcpts, []string{"alice@example.org"}) || bytes.Contains(out.Bytes(), []byte("Bcc")) ||
					string(recs[0].msg) != hListFields+post || recs[0].h.Sender.Mailbox != "dev-bounces@lists.example.org" {
					t.Errorf("out %q", out.Bytes())
				}
				return
			}
			if o.code != 75 {
				t.Errorf("mlm-accept: exit %d; want 75", o.code)
			}
			hOneLine(t, o, `^4\.3\.0 mlm-accept: address: ".*" is not an address: `)
			if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
				t.Errorf("hQueued %v", n)
			}
			for _, prog := range []string{"mlm-auth", "mlm-hdr", "mlm-members"} {
				var out bytes.Buffer
				o := hRun(t, hOpen(t, in), &out, nil, prog, dir)
				if o.code != 75 || out.Len() != 0 {
					t.Errorf("%s: exit %d, %d octets out; want 75 and nothing", prog, o.code, out.Len())
				}
				hOneLine(t, o, `^`+prog+`: address: ".*" is not an address: `)
			}
		})
	}

	t.Run("members file", func(t *testing.T) {
		mlmtest.Fault(t, "input", "CR, LF, NUL in member addresses in the subscribers file",
			"mlm-members exit 0, one line per bad line (file, line number, reason; skipped), only valid members as R lines")
		dir := hPlainList(t)
		hWrite(t, filepath.Join(dir, "subscribers"),
			"alice@example.org\nbob@example.net\rR <mallory@example.net>\ncar\x00ol@example.net\ndave@example.net\r\nR <eve@example.net>\nfrank@example.net;\n")
		in := rec(t, dir, post)
		var out bytes.Buffer
		o := hRun(t, hOpen(t, in), &out, nil, "mlm-members", dir)
		if o.code != 0 {
			t.Fatalf("exit %d: %s", o.code, o.stderr)
		}
		recs := hRecords(t, hTemp(t, out.Bytes()))
		if len(recs) != 1 || !slices.Equal(recs[0].rcpts, []string{"alice@example.org", "dave@example.net"}) {
			t.Errorf("recipients %v; want alice, dave", recs[0].rcpts)
		}
		lines := strings.Split(strings.TrimSuffix(o.stderr, "\n"), "\n")
		want := []string{`^mlm-members: subscribers: line 2: .*; skipped$`, `^mlm-members: subscribers: line 3: .*; skipped$`,
			`^mlm-members: subscribers: line 5: .*; skipped$`, `^mlm-members: subscribers: line 6: .*; skipped$`}
		if len(lines) != len(want) {
			t.Fatalf("stderr %q; want %d lines", o.stderr, len(want))
		}
		for i, re := range want {
			if !regexp.MustCompile(re).MatchString(lines[i]) || strings.Contains(lines[i], "example.net") {
				t.Errorf("line %q; want %s without the address", lines[i], re)
			}
		}
	})

	t.Run("mlm-sub", func(t *testing.T) {
		mlmtest.Fault(t, "input", "CR, LF, NUL in an address given to mlm-sub",
			"exit 65, one line naming the bad address quoted; nothing changed (a CRLF line end on stdin is only a line end)")
		dir := hPlainList(t)
		before, _ := os.ReadFile(filepath.Join(dir, "subscribers"))
		// argv cannot hold a NUL (execve), stdin can.
		for _, a := range []string{"bob@example.net\r", "bob@example.net\nmallory@example.net", "bob@exa\rmple.net"} {
			o := hRun(t, nil, nil, nil, "mlm-sub", dir, "ok@example.net", a)
			if o.code != 65 {
				t.Errorf("mlm-sub %q: exit %d; want 65", a, o.code)
			}
			hOneLine(t, o, `^mlm-sub: argument 2 ".*": .*; nothing changed\n$`)
		}
		for _, a := range []string{"bob@exa\rmple.net", "b\x00ob@example.net", "bob@example.net\x00\r"} {
			o := hRun(t, strings.NewReader("ok@example.net\n"+a+"\n"), nil, nil, "mlm-sub", dir)
			if o.code != 65 {
				t.Errorf("mlm-sub < %q: exit %d; want 65", a, o.code)
			}
			hOneLine(t, o, `^mlm-sub: line 2 ".*": .*; nothing changed\n$`)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "subscribers")); !bytes.Equal(before, after) {
			t.Errorf("subscribers changed: %q", after)
		}
		if o := hRun(t, strings.NewReader("bob@example.net\r\n"), nil, nil, "mlm-sub", dir); o.code != 0 {
			t.Errorf("CRLF line: exit %d %s", o.code, o.stderr)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "subscribers")); string(after) != string(before)+"bob@example.net\n" {
			t.Errorf("subscribers after a CRLF line: %q", after)
		}
	})

	for _, tc := range []struct{ name, from string }{
		{"CR", "From: Alice\rBcc: mallory@example.net <alice@example.org>\n"},
		{"NUL", "From: Ali\x00ce <alice@example.org>\n"},
	} {
		t.Run("From display name "+tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "input", tc.name+" in a From display name (raw)",
				"mlm-accept exits 65 with 5.6.0, one line naming the field, nothing queued, for the MTA to bounce; mlm-auth and mlm-hdr exit 65, one line naming the hRecord and field")
			dir := hPlainList(t)
			msg := tc.from + "Subject: hi\n\nbody\n"
			// The record made by mlm-wrap: mlm-accept refuses it.
			var wrapped bytes.Buffer
			if o := hRun(t, strings.NewReader(msg), &wrapped, nil, "mlm-wrap", "-f", "alice@example.org"); o.code != 0 {
				t.Fatalf("mlm-wrap: %d %s", o.code, o.stderr)
			}
			in := filepath.Join(t.TempDir(), "in.mlm")
			hWrite(t, in, wrapped.String())
			id := hRecords(t, in)[0].h.ID
			what := map[string]string{"CR": "bare CR", "NUL": "NUL octet"}[tc.name]
			for _, prog := range []string{"mlm-auth", "mlm-hdr"} {
				var out bytes.Buffer
				o := hRun(t, hOpen(t, in), &out, nil, prog, dir)
				if o.code != 65 || out.Len() != 0 {
					t.Errorf("%s: exit %d, %d octets out; want 65 and nothing", prog, o.code, out.Len())
				}
				hOneLine(t, o, `^`+prog+`: `+regexp.QuoteMeta(id)+`: header: `+what+` in field From\n$`)
			}
			// At intake: refused for the MTA to bounce, with the
			// reason (it was taken, and sat in incoming/bad/).
			o := hRun(t, strings.NewReader(msg), nil, []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
			if o.code != 65 {
				t.Errorf("mlm-accept: exit %d; want 65", o.code)
			}
			hOneLine(t, o, `^5\.6\.0 mlm-accept: header: `+what+` in field From\n$`)
			if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
				t.Errorf("queued %v", n)
			}
		})
	}

	t.Run("From display name encoded", func(t *testing.T) {
		mlmtest.Fault(t, "input", "CR LF NUL as RFC 2047 encoded-words in a From display name",
			"held; the moderators' notice has only its own header fields, no injected line")
		dir := hPlainList(t)
		mlm(t, "", nil, "mlm-sub", "-l", "moderators", dir, "mod@example.org")
		msg := "From: =?utf-8?q?Evil=0D=0ABcc:_mallory@example.net=00?= <stranger@example.com>\nSubject: =?utf-8?q?x=0D=0AX-Injected:_1?=\n\nbody\n"
		mlm(t, msg, []string{"SENDER=stranger@example.com", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
		if o := hRun(t, nil, nil, nil, "mlm-run", dir); o.code != 0 {
			t.Fatalf("mlm-run: %d %s", o.code, o.stderr)
		}
		held := hQueued(t, dir, "hold")
		notices := hQueued(t, dir, "outgoing")
		if len(held) != 1 || string(held[0].msg) != msg || len(notices) != 1 {
			t.Fatalf("held %d, notices %d", len(held), len(notices))
		}
		n := notices[0]
		want := []string{"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "Auto-Submitted", "Precedence", "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"}
		if got := hNames(n.msg); !slices.Equal(got, want) || !slices.Equal(n.rcpts, []string{"mod@example.org"}) {
			t.Errorf("notice fields %v, recipients %v", got, n.rcpts)
		}
		for l := range strings.SplitSeq(string(n.msg), "\n") {
			if strings.HasPrefix(l, "Bcc") || strings.HasPrefix(l, "X-Injected") || strings.ContainsAny(l, "\r\x00") {
				t.Errorf("notice line %q", l)
			}
		}
	})

	for _, tc := range []struct{ name, v string }{{"CR", "alice@example.org\r"}, {"LF", "alice@example.org\nR <mallory@example.net>"}, {"NUL", "ali\x00ce@example.org"}} {
		t.Run("SENDER "+tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "input", tc.name+" in SENDER (NUL: in the From_ line, as no environment can hold one), and in RECIPIENT",
				"mlm-accept exit 65, one line 5.1.7 (sender) or 5.1.3 (recipient); nothing queued")
			dir := hPlainList(t)
			var o hOutcome
			if tc.name == "NUL" {
				o = hRun(t, strings.NewReader("From "+tc.v+" Sat Nov 28 12:00:00 2026\n"+post), nil, []string{"RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
			} else {
				o = hRun(t, strings.NewReader(post), nil, []string{"SENDER=" + tc.v, "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
			}
			if o.code != 65 {
				t.Errorf("sender: exit %d; want 65", o.code)
			}
			hOneLine(t, o, `^5\.1\.7 mlm-accept: `)
			if tc.name != "NUL" {
				o = hRun(t, strings.NewReader(post), nil, []string{"SENDER=alice@example.org", "RECIPIENT=dev+" + tc.v}, "mlm-accept", dir)
				if o.code != 65 {
					t.Errorf("RECIPIENT: exit %d; want 65", o.code)
				}
				hOneLine(t, o, `^5\.1\.3 mlm-accept: recipient: `)
			}
			if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
				t.Errorf("queued %v", n)
			}
		})
	}
}

// hOpen opens a file for the rest of the test.
func hOpen(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// hTemp writes b to a new file and returns its name.
func hTemp(t *testing.T, b []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "out.mlm")
	hWrite(t, name, string(b))
	return name
}

// hMessage returns the message of the one hRecord of a stream.
func hMessage(t *testing.T, s []byte) string {
	t.Helper()
	recs := hRecords(t, hTemp(t, s))
	if len(recs) != 1 {
		t.Fatalf("%d records; want 1", len(recs))
	}
	return string(recs[0].msg)
}

// TestHostileNoShell: shell metacharacters in SENDER, RECIPIENT, the
// members, the owner, the moderators and so in the VERP extension go
// from mlm-accept through mlm-run's default stages and mlm-sendmail to
// an SMTP sink without a shell ever being started (strace), and arrive
// byte for byte.
func TestHostileNoShell(t *testing.T) {
	mlmtest.Fault(t, "input", "shell metacharacters (; $() backticks | && quotes) in SENDER, RECIPIENT, members, owner, moderators, VERP extension",
		"no execve of any shell (strace -f), only mlm programs; every address delivered exactly as given")
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	base := openTempDir(t, "mlm-shell-")
	dir := hNewList(t, base, "dev@lists.example.org")
	atoms := []string{"a|b&&c@example.org", "$HOME`id`'x'@example.org", "x{y}|z@example.org"}
	quoted := []string{`"; rm -rf / #"@example.org`, `"$(touch /tmp/pwned)"@example.org`, "\"`id`|x&&y\"@example.org", `"it's \"q\""@example.org`}
	sender := atoms[0]
	members := append(append([]string{}, atoms...), quoted...)
	owners := []string{`"owner;$(id)"@example.org`, "own`er`@example.org"}
	moderators := []string{`"mod && reboot"@example.org`, "mod|cat@example.org"}
	hWrite(t, filepath.Join(dir, "subscribers"), strings.Join(members, "\n")+"\n")
	hWrite(t, filepath.Join(dir, "owner"), strings.Join(owners, "\n")+"\n")
	hWrite(t, filepath.Join(dir, "moderators"), strings.Join(moderators, "\n")+"\n")
	hWrite(t, filepath.Join(dir, "stages", "outgoing"), "mlm-split -v .\nmlm-throttle .\nmlm-sendmail .\nmlm-enqueue queue/retry\n")

	keep := filepath.Join(base, "kept")
	os.Mkdir(keep, 0o755)
	sinkAddr := startMlmSink(t, base, nil, "-D", keep)
	hWrite(t, filepath.Join(dir, "relay"), sinkAddr+"\n")

	trace := filepath.Join(base, "trace")
	traced := func(stdin string, env []string, prog string, args ...string) {
		t.Helper()
		n := len(mlmtest.Names(t, base))
		cmd := exec.Command("strace", append([]string{"-f", "-e", "trace=execve", "-o", fmt.Sprintf("%s.%d", trace, n), filepath.Join(binDir, prog)}, args...)...)
		cmd.Env = append(append(os.Environ(), "PATH="+binDir+":/usr/bin:/bin"), env...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", prog, args, err, out)
		}
	}
	body := "Text with $(id) and `id`; | && '\"\n"
	post := "From: " + sender + "\nMessage-ID: <noshell@example.org>\nSubject: $(reboot) `id` | x && y; 'q' \"q\"\n\n" + body
	traced(post, []string{"SENDER=" + sender, "RECIPIENT=dev+$HOME`id`|a&&b'q'{x}@lists.example.org"}, "mlm-accept", dir)
	stranger := `"not;a|member&&$(id)"@example.net`
	held := "From: " + stranger + "\nSubject: held\n\nheld\n"
	traced(held, []string{"SENDER=" + stranger, "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	toOwner := "From: x@example.net\nSubject: to the owner\n\nhi\n"
	traced(toOwner, []string{"SENDER=x@example.net", "RECIPIENT=dev-owner+`id`$x|y&&z@lists.example.org"}, "mlm-accept", dir)
	traced("", nil, "mlm-run", dir)
	traced("", nil, "mlm-run", dir) // the owner's mail reaches outgoing after it was run

	// Every execve is of one of ours, found on PATH; none is a shell.
	shells := regexp.MustCompile(`(^|/)(sh|bash|dash|zsh|ksh|mksh|ash|csh|tcsh|fish|busybox)$`)
	execve := regexp.MustCompile(`execve\("([^"]*)"`)
	files, _ := filepath.Glob(trace + ".*")
	progs := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range execve.FindAllStringSubmatch(string(b), -1) {
			base := filepath.Base(m[1])
			if shells.MatchString(m[1]) || !strings.HasPrefix(base, "mlm-") {
				t.Errorf("execve of %q", m[1])
			}
			progs[base] = true
		}
	}
	t.Logf("programs executed: %v", slices.Sorted(maps.Keys(progs)))
	for _, p := range []string{"mlm-accept", "mlm-run", "mlm-auth", "mlm-hdr", "mlm-members", "mlm-split", "mlm-sendmail"} {
		if !progs[p] {
			t.Errorf("no execve of %s: the trace missed the path", p)
		}
	}

	// Every address got its mail, once, byte for byte, VERP where it can.
	got := map[string][]string{}
	for i := 0; i < 300; i++ {
		got = map[string][]string{}
		for _, n := range mlmtest.Names(t, keep) {
			for _, r := range hRecords(t, filepath.Join(keep, n)) {
				m := string(bytes.ReplaceAll(r.msg, []byte("\r\n"), []byte("\n"))) // as SMTP carried it
				subject := "?"
				switch {
				case m == hListFields+post:
					subject = "post"
				case strings.Contains(m, "\nSubject: dev@lists.example.org: a post awaits moderation\n") && strings.Contains(m, "\nSubject: held\n"):
					subject = "notice"
				case m == toOwner:
					subject = "owner"
				}
				for _, rc := range r.rcpts {
					got[rc] = append(got[rc], subject+" from "+r.h.Sender.Mailbox)
				}
			}
		}
		if len(got) == len(members)+len(owners)+len(moderators) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range members {
		m := hCanon(m)
		from := "dev-bounces@lists.example.org"
		if slices.Contains(atoms, m) {
			l, d, _ := strings.Cut(m, "@")
			from = "dev-bounces+" + l + "=" + d + "@lists.example.org"
		}
		if want := []string{"post from " + from}; !slices.Equal(got[m], want) {
			t.Errorf("%s got %q; want %q", m, got[m], want)
		}
	}
	for _, m := range moderators {
		if l, d, _ := strings.Cut(m, "@"); !slices.Equal(got[m], []string{"notice from dev-bounces+" + l + "=" + d + "@lists.example.org"}) &&
			!slices.Equal(got[m], []string{"notice from dev-bounces@lists.example.org"}) {
			t.Errorf("%s got %q; want the notice", m, got[m])
		}
	}
	for _, m := range owners {
		if len(got[m]) != 1 || !strings.HasPrefix(got[m][0], "owner from ") {
			t.Errorf("%s got %q; want the owner's mail", m, got[m])
		}
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Errorf("/tmp/pwned exists")
	}
}

// hCanon is a mailbox in the canonical form RFC 5321 §4.1.2 asks of a
// sender, and the sink writes: a quoted local part that needs no quotes
// loses them ("`id`|x"@h is `id`|x@h).
func hCanon(m string) string {
	at := strings.LastIndexByte(m, '@')
	if l := m[:at]; len(l) > 2 && l[0] == '"' && l[len(l)-1] == '"' && !strings.ContainsAny(l[1:len(l)-1], `\"`) &&
		addr.CheckMailbox(l[1:len(l)-1]+m[at:]) == nil {
		return l[1:len(l)-1] + m[at:]
	}
	return m
}

// hBig writes a message file of a header and a body made by body,
// and returns its name.
func hBig(t *testing.T, dir, name, header string, body func(w io.Writer)) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString(header)
	body(bw)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// hFileSum returns the SHA-256 of prefix and a file.
func hFileSum(t *testing.T, name, prefix string) [32]byte {
	t.Helper()
	h := sha256.New()
	io.WriteString(h, prefix)
	if _, err := io.Copy(h, hOpen(t, name)); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// hMessageSum returns the SHA-256 of the messages of a stream file, as
// mlm-unwrap gives them.
func hMessageSum(t *testing.T, name string) [32]byte {
	t.Helper()
	h := sha256.New()
	if o := hRun(t, hOpen(t, name), h, nil, "mlm-unwrap"); o.code != 0 {
		t.Fatalf("mlm-unwrap %s: %d %s", name, o.code, o.stderr)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestHostileSizes: a 50 MB body, a 10 MB line without a newline, a
// 2 MiB header and 100,000 header fields through mlm-accept (maxsize
// raised to 64 MiB), mlm-auth, mlm-hdr and mlm-members: each passes the
// message byte for byte (mlm-hdr adding only the list's fields) or
// refuses it with 65 and one line, within a peak RSS ceiling.
func TestHostileSizes(t *testing.T) {
	const ceiling = 32 << 10 // KiB
	dir := hPlainList(t)
	hWrite(t, filepath.Join(dir, "maxsize"), fmt.Sprint(64<<20)+"\n")
	work := t.TempDir()
	head := "From: alice@example.org\nMessage-ID: <big@example.org>\nSubject: big\n"
	line := strings.Repeat("0123456789abcdef", 4)[:63] + "\n"
	type want struct{ accept, auth, hdr, members int }
	const tooLong, tooMany = `header too long \(over 1048576 octets\)`, `header has too many fields \(over 10000\)`
	for _, tc := range []struct {
		name, fault string
		header      string
		body        func(w io.Writer)
		want        want
		refusal     string
	}{
		{"body50MB", "a 50 MB body (maxsize 64 MiB)", head + "\n", func(w io.Writer) {
			for i := 0; i < 50<<20/64; i++ {
				io.WriteString(w, line)
			}
		}, want{0, 0, 0, 0}, ""},
		{"line10MB", "a 10 MB line without a newline, at the end of the body", head + "\n", func(w io.Writer) {
			for i := 0; i < 10<<20/64; i++ {
				io.WriteString(w, line[:63]+"x")
			}
		}, want{0, 0, 0, 0}, ""},
		{"header2MiB", "a 2 MiB header", head, func(w io.Writer) {
			for i := 0; i < 2<<20/1024; i++ {
				io.WriteString(w, "X-Pad: "+strings.Repeat(line[:63], 16)[7:]+"\n")
			}
			io.WriteString(w, "\nbody\n")
		}, want{65, 65, 65, 0}, tooLong},
		{"fields100k", "100,000 header fields (0.85 MB)", head, func(w io.Writer) {
			for i := 0; i < 100_000; i++ {
				fmt.Fprintf(w, "X: %x\n", i)
			}
			io.WriteString(w, "\nbody\n")
		}, want{65, 65, 65, 0}, tooMany},
		{"fields10k", "10,000 header fields (the most mlm reads)", head, func(w io.Writer) {
			for i := 0; i < 10_000-3; i++ { // with head's 3
				io.WriteString(w, "X:\n")
			}
			io.WriteString(w, "\nbody\n")
		}, want{0, 0, 0, 0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			result := "exit 0 from mlm-accept, mlm-auth, mlm-hdr, mlm-members; message byte for byte (+ list fields); peak RSS < 32 MiB each"
			if tc.want.auth == 65 {
				result = "mlm-accept exits 65 with 5.6.0, one line (" + strings.ReplaceAll(tc.refusal, `\`, "") +
					"), nothing queued, for the MTA to bounce to the sender; so do mlm-auth and mlm-hdr with a record made by mlm-wrap; mlm-members passes it byte for byte; peak RSS < 32 MiB each"
			}
			mlmtest.Fault(t, "input", tc.fault, result)
			in := hBig(t, work, tc.name+".eml", tc.header, tc.body)
			rec := filepath.Join(work, tc.name+".mlm")
			env := []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}
			check := func(prog string, o hOutcome, code int, out, prefix string) {
				t.Helper()
				t.Logf("%s: exit %d, peak RSS %d KiB", prog, o.code, o.rss)
				if o.code != code {
					t.Fatalf("%s: exit %d (%s); want %d", prog, o.code, o.stderr, code)
				}
				if o.rss > ceiling {
					t.Errorf("%s: peak RSS %d KiB; want under %d", prog, o.rss, ceiling)
				}
				if code != 0 {
					hOneLine(t, o, `^`+prog+`: [^:]+: `+tc.refusal+`\n$`)
					return
				}
				if o.stderr != "" {
					t.Errorf("%s: stderr %q", prog, o.stderr)
				}
				if hMessageSum(t, out) != hFileSum(t, in, prefix) {
					t.Errorf("%s: the message changed", prog)
				}
			}
			if tc.want.accept == 0 {
				check("mlm-accept", hRunFile(t, in, "", env, "mlm-accept", "-o", rec, dir), 0, rec, "")
			} else {
				// Refused at intake, as mlm-auth would refuse it for
				// good (it was taken, and sat in incoming/bad/,
				// nobody telling the sender); nothing queued.
				o := hRunFile(t, in, "", env, "mlm-accept", dir)
				if o.code != tc.want.accept || o.rss > ceiling {
					t.Fatalf("mlm-accept: exit %d, peak RSS %d KiB; want %d under %d", o.code, o.rss, tc.want.accept, ceiling)
				}
				hOneLine(t, o, `^5\.6\.0 mlm-accept: `+tc.refusal+`\n$`)
				if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
					t.Errorf("queued %v", n)
				}
				// The stages' own checks, on a record made otherwise.
				if o := hRunFile(t, in, rec, nil, "mlm-wrap", "-f", "alice@example.org"); o.code != 0 {
					t.Fatalf("mlm-wrap: %d %s", o.code, o.stderr)
				}
			}
			auth := rec + ".auth"
			check("mlm-auth", hRunFile(t, rec, auth, nil, "mlm-auth", dir), tc.want.auth, auth, "")
			hdr := rec + ".hdr"
			check("mlm-hdr", hRunFile(t, rec, hdr, nil, "mlm-hdr", dir), tc.want.hdr, hdr, hListFields)
			mem := rec + ".members"
			check("mlm-members", hRunFile(t, rec, mem, nil, "mlm-members", dir), tc.want.members, mem, "")
		})
	}
	t.Run("over maxsize", func(t *testing.T) {
		mlmtest.Fault(t, "input", "a 50 MB body over the default maxsize (10 MiB)",
			"mlm-accept exit 65, one line 5.3.4; nothing hQueued; peak RSS < 48 MiB")
		small := hPlainList(t)
		in := hBig(t, work, "over.eml", head+"\n", func(w io.Writer) {
			for i := 0; i < 50<<20/64; i++ {
				io.WriteString(w, line)
			}
		})
		o := hRunFile(t, in, "", []string{"SENDER=alice@example.org"}, "mlm-accept", small)
		if o.code != 65 || o.rss > ceiling {
			t.Errorf("exit %d, peak RSS %d KiB; want 65 under %d", o.code, o.rss, ceiling)
		}
		hOneLine(t, o, `^5\.3\.4 mlm-accept: message bigger than 10485760 octets\n$`)
		if n := mlmtest.Names(t, filepath.Join(small, "queue", "incoming", "new")); len(n) != 0 {
			t.Errorf("hQueued %v", n)
		}
	})
}

// TestHostileFlood: a stranger's large messages, one after another, to
// the request address, which nothing takes by default, stop being taken
// once the queue holds maxqueuedsize (100 MiB): mlm-accept refuses them
// (77, 5.2.2: nothing takes the queue), and a post is still taken.
// Posts, held, stop at ten times that bound: mlm-auth refuses them then. Answers to a moderation
// address that no held post could have asked for are refused (77) and
// not queued: each sat in moderate/bad/ for ever.
func TestHostileFlood(t *testing.T) {
	const bound = 100 << 20
	work := t.TempDir()
	line := strings.Repeat("0123456789abcdef", 4)[:63] + "\n"
	in := hBig(t, work, "big.eml", "From: mallory@example.net\nSubject: subscribe\n\n", func(w io.Writer) {
		for i := 0; i < 9_500_000/64; i++ {
			io.WriteString(w, line)
		}
	})
	t.Run("bounces", func(t *testing.T) {
		mlmtest.Fault(t, "input", "9.5 MB messages from a stranger to the bounce address, one after another (nothing takes queue/bounces)",
			"queued until the queue holds 100 MiB (maxqueuedsize), then mlm-accept exits 77, one line 5.2.2 (nothing takes the queue: the MTA bounces at once), nothing queued; a post is still taken")
		dir := hPlainList(t)
		env := []string{"SENDER=mallory@example.net", "RECIPIENT=dev-bounces@lists.example.org"}
		newDir := filepath.Join(dir, "queue", "bounces", "new")
		var sizes []int64
		for len(sizes) < 20 {
			o := hRunFile(t, in, "", env, "mlm-accept", dir)
			if o.code == 77 {
				hOneLine(t, o, `^5\.2\.2 mlm-accept: bounces: queue full, and nothing here takes it \(stages/bounces\): [0-9]+ octets, maxqueuedsize or more\n$`)
				break
			}
			if o.code != 0 {
				t.Fatalf("mlm-accept: exit %d %s", o.code, o.stderr)
			}
			names := mlmtest.Names(t, newDir)
			info, err := os.Stat(filepath.Join(newDir, names[len(names)-1]))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, info.Size()) // (all the same size)
		}
		var total int64
		for _, n := range sizes {
			total += n
		}
		if len(sizes) == 20 || total < bound || total-sizes[0] >= bound {
			t.Fatalf("%d records, %d octets, queued; want those up to %d octets and one more", len(sizes), total, bound)
		}
		if n := mlmtest.Names(t, newDir); len(n) != len(sizes) {
			t.Errorf("%d records in new/; want %d", len(n), len(sizes))
		}
		if n := mlmtest.Names(t, filepath.Join(dir, "queue", "bounces", "tmp")); len(n) != 0 {
			t.Errorf("tmp/ left %v", n)
		}
		post := filepath.Join(work, "post.eml")
		hWrite(t, post, "From: alice@example.org\nSubject: still here\n\nhello\n")
		if o := hRunFile(t, post, "", []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir); o.code != 0 {
			t.Errorf("a post: exit %d %s; want 0", o.code, o.stderr)
		}
	})
	t.Run("hold", func(t *testing.T) {
		mlmtest.Fault(t, "input", "9.5 MB posts from strangers, one after another, each held for a moderator",
			"held until the hold queue holds ten times maxqueuedsize (here 10 MiB: 100 MiB); then mlm-auth refuses each, nothing held, its sender, a stranger, not told (R93 F1: backscatter), standard error told")
		dir := hPlainList(t)
		hWrite(t, filepath.Join(dir, "maxqueuedsize"), fmt.Sprint(10<<20)+"\n")
		rec := filepath.Join(work, "post.mlm")
		holdDir := filepath.Join(dir, "queue", "hold", "new")
		held, refused, said := 0, 0, 0
		for i := 0; i < 20 && refused < notice.MaxPerDay+1; i++ {
			if o := hRunFile(t, in, rec, []string{"SENDER=mallory@example.net", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", "-o", "-", dir); o.code != 0 {
				t.Fatalf("mlm-accept: exit %d %s", o.code, o.stderr)
			}
			o := hRunFile(t, rec, "", nil, "mlm-auth", dir)
			if o.code != 0 {
				t.Fatalf("mlm-auth: exit %d %s", o.code, o.stderr)
			}
			if strings.Contains(o.stderr, "fill their queue") && strings.Contains(o.stderr, "no notice to the sender, whom the list does not know") {
				said++
			}
			n := len(mlmtest.Names(t, holdDir))
			if n == held {
				refused++
			}
			held = n
		}
		if held < 10 || held > 12 || refused != notice.MaxPerDay+1 || said != refused {
			t.Fatalf("%d posts held, %d refused, %d said so on standard error; want those up to 100 MiB and one more, then each refused, and said so", held, refused, said)
		}
		var refusals int
		outgoing := filepath.Join(dir, "queue", "outgoing", "new")
		for _, name := range mlmtest.Names(t, outgoing) {
			b, err := os.ReadFile(filepath.Join(outgoing, name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "fill their queue") && strings.Contains(string(b), "\nR <mallory@example.net>\n") {
				refusals++
			}
		}
		if refusals != 0 {
			t.Errorf("%d refusals to the sender; want none: a stranger's address is most often forged", refusals)
		}
	})
	t.Run("moderate", func(t *testing.T) {
		mlmtest.Fault(t, "input", "answers to dev-accept+TOKEN from strangers: no cookie, made-up ones (spelt right or not), expired ones, from the null sender",
			"mlm-accept exits 77, one line 5.7.1, nothing queued (each sat in queue/moderate/bad/ for ever)")
		dir := hPlainList(t)
		for _, c := range []struct{ sender, token, why string }{
			{"mallory@example.net", "", "bad or forged cookie"},
			{"mallory@example.net", "+aaaa", "bad or forged cookie"},
			{"mallory@example.net", "+zzzzzzz-aaaaaaaaaaaaaaa", "bad or forged cookie"},
			{"mallory@example.net", "+zzzzzzz-aaaaaaaaaaaaaaaa", "bad or forged cookie"}, // (spelt right: no post held)
			{"mallory@example.net", "+1-aaaaaaaaaaaaaaaa", "expired cookie"},
			{"", "+zzzzzzz-aaaaaaaaaaaaaaaa", "a message from the null sender answers no hold notice"},
		} {
			env := []string{"SENDER=" + c.sender, "RECIPIENT=dev-accept" + c.token + "@lists.example.org"}
			o := hRunFile(t, in, "", env, "mlm-accept", dir)
			if o.code != 77 {
				t.Errorf("%q from %q: exit %d %s; want 77", c.token, c.sender, o.code, o.stderr)
				continue
			}
			hOneLine(t, o, `^5\.7\.1 mlm-accept: .*`+c.why+`\n$`)
		}
		for _, sub := range []string{"new", "tmp", "bad"} {
			if n := mlmtest.Names(t, filepath.Join(dir, "queue", "moderate", sub)); len(n) != 0 {
				t.Errorf("moderate/%s: %v", sub, n)
			}
		}
	})
}

// TestHostileMIME: a body nested 16,000 deep and one of 100,000 parts
// are held by mlm-auth (past mimewalk's 100 levels or 10,000 parts),
// byte for byte, with a notice; once approved, mlm-hdr passes them
// without walking them for the footer. A missing close delimiter and
// unknown charsets break nothing. Peak RSS stays small throughout.
func TestHostileMIME(t *testing.T) {
	const ceiling = 32 << 10 // KiB
	var deep strings.Builder
	deep.WriteString("From: alice@example.org\nMessage-ID: <deep@example.org>\nSubject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n")
	for i := 1; i < 16_000; i++ {
		fmt.Fprintf(&deep, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	deep.WriteString("--b16000\n\nleaf\n")
	for i := 16_000; i >= 1; i-- {
		fmt.Fprintf(&deep, "--b%d--\n", i)
	}
	many := "From: alice@example.org\nMessage-ID: <many@example.org>\nSubject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n" +
		strings.Repeat("--x\nContent-Type: text/plain\n\nx\n", 100_000) + "--x--\n"
	footer := "-- \nThe dev list\n"
	footPart := "--x\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\n" + footer

	for _, tc := range []struct {
		name, fault, result string
		msg, reason, out    string
	}{
		{"deep", "MIME nested 16,000 deep (multipart in multipart)", "mlm-auth holds it (over 100 levels), byte for byte, notice to the moderators; approved, it goes out without footer; peak RSS < 32 MiB",
			deep.String(), "MIME structure nested too deep (over 100 levels)", hListFields + deep.String()},
		{"parts", "MIME with 100,000 parts", "mlm-auth holds it (over 10,000 parts), byte for byte, notice to the moderators; approved, it goes out without footer; peak RSS < 32 MiB",
			many, "MIME structure has too many parts (over 10000)", hListFields + many},
		{"unclosed", "multipart/mixed without its close delimiter", "passes; no footer (nowhere to put it); every other octet unchanged",
			"From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: open\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nhello\n--x\n\nno end",
			"", hListFields + "From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: open\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nhello\n--x\n\nno end"},
		{"charset", "unknown charsets: text/plain; charset=x-unknown-42, and in an encoded-word Subject", "passes; footer appended; every other octet unchanged",
			"From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: =?x-unknown-42?q?caf=E9?=\nContent-Type: text/plain; charset=x-unknown-42\n\ncaf\xe9\n",
			"", hListFields + "From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: =?x-unknown-42?q?caf=E9?=\nContent-Type: text/plain; charset=x-unknown-42\n\ncaf\xe9\n" + footer},
		{"charset parts", "multipart/mixed with parts in unknown charsets", "passes; footer part before the close delimiter; every other octet unchanged",
			"From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: parts\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain; charset=x-nope\n\n\xff\xfe\n--x\nContent-Type: text/html; charset=\"\"\n\n<p>\n--x--\n",
			"", hListFields + "From: alice@example.org\nMessage-ID: <mime@example.org>\nSubject: parts\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain; charset=x-nope\n\n\xff\xfe\n--x\nContent-Type: text/html; charset=\"\"\n\n<p>\n" + footPart + "--x--\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "input", tc.fault, tc.result)
			dir := hPlainList(t)
			hWrite(t, filepath.Join(dir, "footer"), footer)
			hWrite(t, filepath.Join(dir, "stages", "outgoing"), "# delivery is not part of this test\n")
			mlm(t, "", nil, "mlm-sub", "-l", "moderators", dir, "mod@example.org")
			env := []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}

			// mlm-auth alone, for its peak RSS and its verdict.
			rec := filepath.Join(t.TempDir(), "in.mlm")
			if o := hRun(t, strings.NewReader(tc.msg), nil, env, "mlm-accept", "-o", rec, dir); o.code != 0 {
				t.Fatalf("mlm-accept: %d %s", o.code, o.stderr)
			}
			auth := rec + ".auth"
			o := hRunFile(t, rec, auth, []string{"MLM_NOW=1795867200"}, "mlm-auth", dir)
			t.Logf("mlm-auth: exit %d, peak RSS %d KiB", o.code, o.rss)
			if o.code != 0 || o.stderr != "" || o.rss > ceiling {
				t.Errorf("mlm-auth: exit %d, %q, peak RSS %d KiB; want 0, silence, under %d", o.code, o.stderr, o.rss, ceiling)
			}
			passed := hRecords(t, auth)
			held := hQueued(t, dir, "hold")
			if tc.reason == "" {
				if len(passed) != 1 || string(passed[0].msg) != tc.msg || len(held) != 0 {
					t.Fatalf("passed %d, held %d; want it passed byte for byte", len(passed), len(held))
				}
			} else {
				if len(passed) != 0 || len(held) != 1 || string(held[0].msg) != tc.msg {
					t.Fatalf("passed %d, held %d; want it held byte for byte", len(passed), len(held))
				}
				if r, _ := held[0].h.Get("hold-reason"); r != tc.reason {
					t.Errorf("hold-reason %q; want %q", r, tc.reason)
				}
				notices := hQueued(t, dir, "outgoing")
				if len(notices) != 1 || !slices.Equal(notices[0].rcpts, []string{"mod@example.org"}) || !bytes.Contains(notices[0].msg, []byte(tc.reason)) {
					t.Errorf("notices %d; want one to the moderator giving the reason", len(notices))
				}
				// mlm-hdr on it as mlm-moderate would pass it on: no
				// footer, no walk past the limits.
				hdr := rec + ".hdr"
				o := hRunFile(t, filepath.Join(dir, "queue", "hold", "new", held[0].h.ID), hdr, nil, "mlm-hdr", dir)
				t.Logf("mlm-hdr: exit %d, peak RSS %d KiB", o.code, o.rss)
				if o.code != 0 || o.rss > ceiling {
					t.Errorf("mlm-hdr: exit %d %s, peak RSS %d KiB", o.code, o.stderr, o.rss)
				}
				if m := hRecords(t, hdr); len(m) != 1 || string(m[0].msg) != tc.out {
					t.Errorf("mlm-hdr changed more than the list fields")
				}
				for _, q := range []string{"hold", "outgoing"} {
					for _, n := range mlmtest.Names(t, filepath.Join(dir, "queue", q, "new")) {
						os.Remove(filepath.Join(dir, "queue", q, "new", n))
					}
				}
			}

			// The whole way: accepted, run, held or out; approved if held.
			mlm(t, tc.msg, env, "mlm-accept", dir)
			mlm(t, "", nil, "mlm-run", dir)
			if tc.reason != "" {
				held := hQueued(t, dir, "hold")
				if len(held) != 1 {
					t.Fatalf("held %d; want 1", len(held))
				}
				mlm(t, "", nil, "mlm-moderate", dir, "approve", held[0].h.ID)
				mlm(t, "", nil, "mlm-run", dir)
			}
			var out []hRecord
			for _, r := range hQueued(t, dir, "outgoing") {
				if s, _ := r.h.Get("state"); s == "expanded" {
					out = append(out, r)
				}
			}
			if len(out) != 1 || string(out[0].msg) != tc.out || !slices.Equal(out[0].rcpts, []string{"alice@example.org"}) {
				t.Errorf("%d posts out; want one, to alice, the message as expected", len(out))
			}
		})
	}
}

// TestHostileLoop: lists a@ and b@ are members of each other (with
// alice on both). A post to a goes to b, comes back into b's incoming
// and out to a again; there mlm-auth finds a's own X-Loop, which b's
// mlm-hdr kept, and holds it. Delivery is replaced by feeding each
// record's message for the other list into its mlm-accept, as the MTA
// would.
func TestHostileLoop(t *testing.T) {
	mlmtest.Fault(t, "input", "two lists subscribed to each other; a post to one",
		"a -> b -> a, then held in a's queue/hold (hold-reason loop), notice to a's owner; nothing more goes round")
	base := openTempDir(t, "mlm-loop-")
	lists := map[string]string{}
	for _, l := range []string{"a", "b"} {
		addr := l + "@lists.example.org"
		lists[addr] = hNewList(t, base, addr)
		hWrite(t, filepath.Join(lists[addr], "stages", "outgoing"), "# delivery: the test\n")
	}
	mlm(t, "alice@example.org\nb@lists.example.org\n", nil, "mlm-sub", lists["a@lists.example.org"])
	mlm(t, "alice@example.org\na@lists.example.org\n", nil, "mlm-sub", lists["b@lists.example.org"])
	mlm(t, "From: Alice <alice@example.org>\nSubject: round and round\n\nhello\n",
		[]string{"SENDER=alice@example.org", "RECIPIENT=a@lists.example.org"}, "mlm-accept", lists["a@lists.example.org"])

	var hops, notices []string
	for round := 0; round < 10; round++ {
		moved := 0
		for _, addr := range []string{"a@lists.example.org", "b@lists.example.org"} {
			dir := lists[addr]
			mlm(t, "", nil, "mlm-run", dir)
			out := filepath.Join(dir, "queue", "outgoing", "new")
			for _, n := range mlmtest.Names(t, out) {
				for _, r := range hRecords(t, filepath.Join(out, n)) {
					if bytes.Contains(r.msg, []byte("a post awaits moderation")) {
						notices = append(notices, addr+" to "+strings.Join(r.rcpts, ","))
					}
					for _, rc := range r.rcpts {
						if other, ok := lists[rc]; ok {
							hops = append(hops, addr+" -> "+rc)
							mlm(t, string(r.msg), []string{"SENDER=" + r.h.Sender.Mailbox, "RECIPIENT=" + rc}, "mlm-accept", other)
							moved++
						}
					}
				}
				os.Remove(filepath.Join(out, n)) // delivered
			}
		}
		if moved == 0 {
			break
		}
	}
	if want := []string{"a@lists.example.org -> b@lists.example.org", "b@lists.example.org -> a@lists.example.org"}; !slices.Equal(hops, want) {
		t.Errorf("hops %q; want %q", hops, want)
	}
	if want := []string{"a@lists.example.org to owner@example.org"}; !slices.Equal(notices, want) {
		t.Errorf("notices %q; want %q", notices, want)
	}
	held := hQueued(t, lists["a@lists.example.org"], "hold")
	if len(held) != 1 {
		t.Fatalf("a holds %d; want 1", len(held))
	}
	if r, _ := held[0].h.Get("hold-reason"); r != "loop: the list's own mail came back to it" {
		t.Errorf("hold-reason %q", r)
	}
	if !bytes.Contains(held[0].msg, []byte("\nX-Loop: a@lists.example.org\n")) || !bytes.Contains(held[0].msg, []byte("X-Loop: b@lists.example.org\n")) {
		t.Errorf("held message lacks the X-Loop marks: %q", held[0].msg)
	}
	if n := len(hQueued(t, lists["b@lists.example.org"], "hold")); n != 0 {
		t.Errorf("b holds %d; want 0", n)
	}
}
