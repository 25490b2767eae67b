package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mlm/lib/mlmtest"
)

// TestExampleMaildropSystemUser: examples/maildrop/mailfilter, run by
// maildrop as a user whose login shell is none (nobody's,
// /usr/sbin/nologin, as that of a user made with adduser --system),
// hands the post to mlm-accept. maildrop runs the command of "to"
// with its SHELL, which it takes from the password file, not from the
// environment: without SHELL set in the filter, nologin ran it, said
// "This account is currently not available." and exited 1, which the
// MTA bounces.
func TestExampleMaildropSystemUser(t *testing.T) {
	maildrop, err := exec.LookPath("maildrop")
	if err != nil {
		t.Skip("no maildrop")
	}
	if os.Geteuid() != 0 {
		t.Skip("running maildrop as nobody needs root")
	}
	list := newList(t)
	b, err := os.ReadFile(filepath.Join(root, "examples", "maildrop", "mailfilter"))
	if err != nil {
		t.Fatal(err)
	}
	filter := filepath.Join(filepath.Dir(list), "mailfilter")
	if err := os.WriteFile(filter, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(filter, 65534, 65534)
	filepath.Walk(list, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	// As Postfix's local(8) runs a mailbox_command: the user's login
	// shell in SHELL.
	cmd := exec.Command(maildrop, "-f", "alice@example.org", filter)
	cmd.Dir = filepath.Dir(list)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SHELL=/usr/sbin/nologin", "MLMBIN=" + binDir, "LIST=" + list}
	cmd.Stdin = strings.NewReader(smallPost)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("maildrop as nobody: %v, output %q; want exit 0 and none", err, out)
	}
	if n := mlmtest.Names(t, filepath.Join(list, "queue", "incoming", "new")); len(n) != 1 {
		t.Errorf("incoming/new = %v; want the post", n)
	}
}
