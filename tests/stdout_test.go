package tests

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/smtpsink"
	"mlm/lib/smtpsink/sinktest"
)

// TestStdoutClosed: each program whose standard output carries its work,
// started with it closed (">&-"), where the Go runtime gives it a
// /dev/null that throws the work away, exits 75 with one line and
// changes nothing in the list; started with ">/dev/null", the same run
// exits 0, so the refusal is the closed descriptor's.
func TestStdoutClosed(t *testing.T) {
	mlmtest.Fault(t, "disk", "standard output closed (>&-) for a program whose output is its work",
		"exit 75, one line naming standard output, nothing in the list changed; with >/dev/null the same run exits 0")
	dir := hPlainList(t)
	tmp := t.TempDir()
	post := filepath.Join(tmp, "post")
	hWrite(t, post, "From: alice@example.org\nTo: dev@lists.example.org\nSubject: hello\n\nbody\n")
	rec := filepath.Join(tmp, "rec.mlm")
	hWrite(t, rec, mlm(t, "From: alice@example.org\nTo: dev@lists.example.org\nSubject: hello\n\nbody\n", nil,
		"mlm-wrap", "-f", "alice@example.org", "-r", "dev@lists.example.org"))
	mbox := filepath.Join(tmp, "mbox")
	msgs := filepath.Join(tmp, "msgs")
	if err := os.Mkdir(msgs, 0o700); err != nil {
		t.Fatal(err)
	}
	hWrite(t, mbox, "From alice@example.org Sun Nov 29 12:00:00 2026\nFrom: alice@example.org\nSubject: hello\n\nbody\n\n")
	for i, tc := range []struct {
		prog  string
		args  []string
		stdin string // a file, or "" for /dev/null
		owes  bool   // its standard output carries its work
	}{
		{"mlm-auth", []string{dir}, rec, true},
		{"mlm-hdr", []string{dir}, rec, true},
		{"mlm-members", []string{dir}, rec, true},
		{"mlm-split", []string{dir}, rec, true},
		{"mlm-throttle", []string{dir}, rec, true},
		{"mlm-unwrap", nil, rec, true},
		{"mlm-unwrap", []string{"-e", "-d", msgs}, rec, true}, // -e: the envelopes, -d not used
		{"mlm-bsmtp", nil, rec, true},
		{"mlm-mbox", []string{"-x"}, rec, true},
		{"mlm-mbox", []string{"-r", "bob@example.org"}, mbox, true},
		{"mlm-wrap", []string{"-f", "alice@example.org", "-r", "dev@lists.example.org"}, post, true},
		{"mlm-sendmail", []string{"-r", "127.0.0.1:9", dir}, "", true},
		{"mlm-who", []string{dir}, "", true},
		{"mlm-accept", []string{"-o", "-", "-f", "alice@example.org", "-r", "dev@lists.example.org", dir}, post, true},
		{"mlm-moderate", []string{dir, "list"}, "", true},
		{"mlm-sub", []string{"-v", dir, "bob@example.org"}, "", true},
		{"mlm-unsub", []string{"-v", dir, "alice@example.org"}, "", true},
		{"mlm-newlist", []string{filepath.Join(tmp, "new"), "new@lists.example.org"}, "", true},
		// -p passes the records on there (R89 F5).
		{"mlm-enqueue", []string{"-p", filepath.Join(dir, "queue", "incoming")}, rec, true},
		// Nothing owed on standard output: these run as before. (-R's
		// is the retry queue's last stage, with mlm-run's own standard
		// output, which a daemon's /dev/null may be.)
		{"mlm-sendmail", []string{"-R", "-r", "127.0.0.1:9", dir}, "", false},
		{"mlm-moderate", []string{dir, "expire"}, "", false},
		{"mlm-sub", []string{dir, "carol@example.org"}, "", false},
		// -d writes each message to a file of its own, and nothing
		// on standard output.
		{"mlm-unwrap", []string{"-d", msgs}, rec, false},
		{"mlm-accept", []string{"-f", "alice@example.org", "-r", "dev@lists.example.org", dir}, post, false},
		{"mlm-enqueue", []string{filepath.Join(dir, "queue", "owner")}, rec, false},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.prog), func(t *testing.T) {
			stdin := tc.stdin
			if stdin == "" {
				stdin = os.DevNull
			}
			if !tc.owes {
				if code, stderr := runRedirected(t, stdin, ">&-", tc.prog, tc.args...); code != 0 {
					t.Errorf(">&-: exit %d, stderr %q; want 0, as nothing is owed on standard output", code, stderr)
				}
				return
			}
			before := contents(t, dir)
			code, stderr := runRedirected(t, stdin, ">&-", tc.prog, tc.args...)
			want := tc.prog + ": standard output: closed, "
			if tc.prog == "mlm-accept" {
				want = "4.3.0 " + want // as an MTA reads it: try again
			}
			if code != 75 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, want) {
				t.Errorf(">&-: exit %d, stderr %q; want 75 and one line starting %q", code, stderr, want)
			}
			if after := contents(t, dir); !maps.Equal(after, before) {
				t.Errorf(">&-: the list changed")
			}
			if tc.prog == "mlm-newlist" {
				if _, err := os.Stat(tc.args[0]); !os.IsNotExist(err) {
					t.Errorf(">&-: the list directory was made (%v)", err)
				}
			}
			if code, stderr := runRedirected(t, stdin, ">/dev/null", tc.prog, tc.args...); code != 0 {
				t.Errorf(">/dev/null: exit %d, stderr %q; want 0", code, stderr)
			}
		})
	}
}

// runRedirected runs a built program through sh with its standard input
// from the file in and its standard output as redir says, and returns
// its exit status and standard error.
func runRedirected(t *testing.T, in, redir, prog string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `exec "$@" <"$0" ` + redir, in, filepath.Join(binDir, prog)}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")) // for mlm-run's stages
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", prog, err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// contents maps each regular file under dir, by its path relative to
// it, to what it holds.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		got[p[len(dir):]] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestStdoutClosedRun: mlm-run started with its standard output closed,
// as a daemon's may be, hands it to each queue's last stage. The retry
// queue's, mlm-sendmail -R, writes nothing there: it delivers a waiting
// record all the same, and no stage fails for the closed descriptor.
func TestStdoutClosedRun(t *testing.T) {
	dir := hPlainList(t)
	defer1 := sinktest.Sink(t, smtpsink.Options{DataReply: sinktest.Reply(t, "451 4.3.0 try again later")})
	hWrite(t, filepath.Join(dir, "relay"), defer1.Addr()+"\n")
	post := filepath.Join(t.TempDir(), "post")
	hWrite(t, post, "From: alice@example.org\nTo: dev@lists.example.org\nMessage-ID: <1@example.org>\nSubject: hello\n\nbody\n")
	if code, stderr := runRedirected(t, post, ">/dev/null", "mlm-accept", "-f", "alice@example.org", "-r", "dev@lists.example.org", dir); code != 0 {
		t.Fatalf("mlm-accept: exit %d: %s", code, stderr)
	}
	runRedirected(t, os.DevNull, ">/dev/null", "mlm-run", "-f", dir) // deferred: to the retry queue
	if q := waiting(t, dir); len(q) != 1 || !strings.HasPrefix(q[0], "/retry/new/") {
		t.Fatalf("queues hold %q after the deferral; want one record, in retry/new/", q)
	}
	accept := sinktest.Sink(t, smtpsink.Options{})
	hWrite(t, filepath.Join(dir, "relay"), accept.Addr()+"\n")
	code, stderr := runRedirected(t, os.DevNull, ">&-", "mlm-run", "-f", dir)
	if code != 0 || stderr != "" {
		t.Errorf("mlm-run >&-: exit %d, stderr %q; want 0 and nothing said", code, stderr)
	}
	if q := waiting(t, dir); len(q) != 0 {
		t.Errorf("queues hold %q; want none: the retry delivered", q)
	}
	if n := len(accept.Messages()); n != 1 {
		t.Errorf("the relay took %d messages; want 1", n)
	}
}

// waiting lists the records in the queues of the list dir: new/, cur/
// and bad/ files, by their paths below queue/.
func waiting(t *testing.T, dir string) []string {
	t.Helper()
	var q []string
	for f := range contents(t, filepath.Join(dir, "queue")) {
		if strings.Contains(f, "/new/") || strings.Contains(f, "/cur/") || strings.Contains(f, "/bad/") {
			q = append(q, f)
		}
	}
	return q
}
