package tests

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
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
	hWrite(t, mbox, "From alice@example.org Sun Nov 29 12:00:00 2026\nFrom: alice@example.org\nSubject: hello\n\nbody\n\n")
	for _, tc := range []struct {
		prog  string
		args  []string
		stdin string // a file, or "" for /dev/null
	}{
		{"mlm-auth", []string{dir}, rec},
		{"mlm-hdr", []string{dir}, rec},
		{"mlm-members", []string{dir}, rec},
		{"mlm-split", []string{dir}, rec},
		{"mlm-throttle", []string{dir}, rec},
		{"mlm-unwrap", nil, rec},
		{"mlm-bsmtp", nil, rec},
		{"mlm-mbox", []string{"-x"}, rec},
		{"mlm-mbox", []string{"-r", "bob@example.org"}, mbox},
		{"mlm-wrap", []string{"-f", "alice@example.org", "-r", "dev@lists.example.org"}, post},
		{"mlm-sendmail", []string{"-r", "127.0.0.1:9", dir}, ""},
		{"mlm-who", []string{dir}, ""},
		{"mlm-accept", []string{"-o", "-", "-f", "alice@example.org", "-r", "dev@lists.example.org", dir}, post},
		{"mlm-moderate", []string{dir, "list"}, ""},
		{"mlm-sub", []string{"-v", dir, "bob@example.org"}, ""},
		{"mlm-unsub", []string{"-v", dir, "alice@example.org"}, ""},
	} {
		t.Run(tc.prog+" "+strings.Join(tc.args[:min(len(tc.args), 1)], " "), func(t *testing.T) {
			stdin := tc.stdin
			if stdin == "" {
				stdin = os.DevNull
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
