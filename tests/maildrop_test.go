package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"mlm/lib/mlmtest"
)

// maildropFilter finds maildrop, which the tests run as nobody (so as
// root, else they skip), and writes examples/maildrop/mailfilter into
// dir as nobody's, mode 0600, as maildrop wants it.
func maildropFilter(t *testing.T, dir string) (maildrop, filter string) {
	t.Helper()
	maildrop, err := exec.LookPath("maildrop")
	if err != nil {
		t.Skip("no maildrop")
	}
	if os.Geteuid() != 0 {
		t.Skip("running maildrop as nobody needs root")
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", "maildrop", "mailfilter"))
	if err != nil {
		t.Fatal(err)
	}
	filter = filepath.Join(dir, "mailfilter")
	if err := os.WriteFile(filter, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(filter, 65534, 65534)
	return maildrop, filter
}

// TestExampleMaildropSystemUser: examples/maildrop/mailfilter, run by
// maildrop as a user whose login shell is none (nobody's,
// /usr/sbin/nologin, as that of a user made with adduser --system),
// hands the post to mlm-accept. maildrop runs the command of "to"
// with its SHELL, which it takes from the password file, not from the
// environment: without SHELL set in the filter, nologin ran it, said
// "This account is currently not available." and exited 1, which the
// MTA bounces.
func TestExampleMaildropSystemUser(t *testing.T) {
	list := newList(t)
	maildrop, filter := maildropFilter(t, filepath.Dir(list))
	filepath.Walk(list, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	// As Postfix's local(8) runs a mailbox_command: the user's login
	// shell in SHELL. The sender as the MTA gives it: -f, or SENDER,
	// empty for a bounce, which maildrop's FROM (the message's own
	// Return-Path without -f) does not stand in for: such a bounce was
	// taken for the member's post.
	const bounce = "Return-Path: <bob@example.org>\nFrom: MAILER-DAEMON@example.net\nSubject: failure\n\nundeliverable\n"
	for _, c := range []struct {
		name      string
		args, env []string
		msg, want string
	}{
		{"-f", []string{"-f", "alice@example.org"}, nil, smallPost, "S <alice@example.org>"},
		{"SENDER", nil, []string{"SENDER=carol@example.org"}, bounce, "S <carol@example.org>"},
		{"SENDER empty", nil, []string{"SENDER="}, bounce, "S <>"},
		{"-f MAILER-DAEMON", []string{"-f", "MAILER-DAEMON"}, nil, bounce, "S <>"},
	} {
		incoming := filepath.Join(list, "queue", "incoming", "new")
		before := mlmtest.Names(t, incoming)
		cmd := exec.Command(maildrop, append(c.args, filter)...)
		cmd.Dir = filepath.Dir(list)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "SHELL=/usr/sbin/nologin", "MLMBIN=" + binDir, "LIST=" + list}, c.env...)
		cmd.Stdin = strings.NewReader(c.msg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Errorf("%s: maildrop as nobody: %v, output %q; want exit 0 and none", c.name, err, out)
		}
		after := mlmtest.Names(t, incoming)
		if len(after) != len(before)+1 {
			t.Fatalf("%s: incoming/new = %v; want the post added", c.name, after)
		}
		for _, n := range after {
			if slices.Contains(before, n) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(incoming, n))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "\n"+c.want+"\n") {
				t.Errorf("%s: the record has no %q:\n%s", c.name, c.want, b)
			}
		}
	}
}

// TestExampleMaildropStatus: the command of examples/maildrop/mailfilter
// passes on mlm-accept's own statuses, 75 to keep the message and 64,
// 65, 67 and 77 to bounce it, and makes every other 75: the shell's 127
// for an mlm-accept not found (not installed yet, or mid-upgrade), 126
// for one not executable, maildrop's 255 for one killed (the OOM
// killer's SIGKILL), which MTAs bounce, losing the post (R78).
func TestExampleMaildropStatus(t *testing.T) {
	dir := openTempDir(t, "maildrop") // for nobody
	maildrop, filter := maildropFilter(t, dir)
	for _, c := range []struct {
		name   string
		script string // the mlm-accept MLMBIN finds, "" for none
		mode   os.FileMode
		want   int
	}{
		{"not found", "", 0, 75},
		{"not executable", "#!/bin/sh\nexit 0\n", 0o644, 75},
		{"killed", "#!/bin/sh\nkill -9 $$\n", 0o755, 75},
		{"exit 1", "#!/bin/sh\nexit 1\n", 0o755, 75},
		{"exit 75", "#!/bin/sh\nexit 75\n", 0o755, 75},
		{"exit 65", "#!/bin/sh\nexit 65\n", 0o755, 65},
		{"exit 67", "#!/bin/sh\nexit 67\n", 0o755, 67},
		{"exit 77", "#!/bin/sh\nexit 77\n", 0o755, 77},
		{"exit 0", "#!/bin/sh\ncat >/dev/null\n", 0o755, 0},
	} {
		bin := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if c.script != "" {
			if err := os.WriteFile(filepath.Join(bin, "mlm-accept"), []byte(c.script), c.mode); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(maildrop, "-f", "alice@example.org", filter)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "SHELL=/usr/sbin/nologin", "MLMBIN=" + bin, "LIST=/nonexistent/dev"}
		cmd.Stdin = strings.NewReader(smallPost)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := cmd.ProcessState.ExitCode(); got != c.want {
			t.Errorf("%s: maildrop exited %d (output %q); want %d", c.name, got, out, c.want)
		}
	}
}
