package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

// TestPasswdDeleteFsync: mlm-passwd -d fsyncs the list directory after it
// removes the password, before exit 0, so that a password taken away (it
// leaked) does not come back after a power loss (strace).
func TestPasswdDeleteFsync(t *testing.T) {
	mlmtest.Fault(t, "crash", "power loss after mlm-passwd -d (strace)", "the list directory fsynced after the unlink, before exit 0")
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	dir := newList(t)
	set := exec.Command(filepath.Join(binDir, "mlm-passwd"), dir)
	set.Stdin = strings.NewReader("sesame\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("mlm-passwd: %v: %s", err, out)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	if out, err := exec.Command("strace", "-f", "-o", trace, "-e", "trace=openat,unlinkat,fsync,exit_group",
		filepath.Join(binDir, "mlm-passwd"), "-d", dir).CombinedOutput(); err != nil {
		t.Fatalf("strace mlm-passwd -d: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "password")); !os.IsNotExist(err) {
		t.Fatalf("password still there: %v", err)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// unlinkat of the password, then the directory opened and that
	// descriptor fsynced, then the exit.
	log := string(b)
	m := regexp.MustCompile(`unlinkat\(AT_FDCWD, "` + regexp.QuoteMeta(filepath.Join(dir, "password")) + `"`).FindStringIndex(log)
	if m == nil {
		t.Fatalf("no unlink of the password in:\n%s", log)
	}
	rest := log[m[1]:]
	open := regexp.MustCompile(`openat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `", [^)]*\) = (\d+)`).FindStringSubmatchIndex(rest)
	if open == nil {
		t.Fatalf("the list directory is not opened after the unlink:\n%s", rest)
	}
	fd := rest[open[2]:open[3]]
	after := rest[open[1]:]
	sync := strings.Index(after, "fsync("+fd)
	exit := strings.Index(after, "exit_group(0")
	if sync < 0 || exit < 0 || exit < sync {
		t.Errorf("no fsync of the list directory (fd %s) before exit 0:\n%s", fd, after)
	}
}
