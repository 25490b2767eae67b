package tests

import (
	"fmt"
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
	log := straceLog(t, "trace=openat,unlinkat,fsync,exit_group", filepath.Join(binDir, "mlm-passwd"), "-d", dir)
	if _, err := os.Stat(filepath.Join(dir, "password")); !os.IsNotExist(err) {
		t.Fatalf("password still there: %v", err)
	}
	// unlinkat of the password, then the directory opened and that
	// descriptor fsynced, then the exit.
	unlink := regexp.MustCompile(`unlinkat\(AT_FDCWD, "` + regexp.QuoteMeta(filepath.Join(dir, "password")) + `"`)
	if err := syncedAfter(log, unlink, dir); err != nil {
		t.Error(err)
	}
}

// straceLog runs argv under strace -f, tracing what filter names
// (strace's -e), and returns the trace.
func straceLog(t *testing.T, filter string, argv ...string) string {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace")
	if out, err := exec.Command("strace", append([]string{"-f", "-o", trace, "-e", filter}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("strace %s: %v: %s", strings.Join(argv, " "), err, out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncedAfter reports why not, if the strace log does not, after the
// first call event matches, open the directory dir and fsync that
// descriptor before exit 0: the step that makes what the call did to
// dir's names durable.
func syncedAfter(log string, event *regexp.Regexp, dir string) error {
	m := event.FindStringIndex(log)
	if m == nil {
		return fmt.Errorf("no %s in:\n%s", event, log)
	}
	rest := log[m[1]:]
	open := regexp.MustCompile(`openat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `/?", [^)]*\) = (\d+)`).FindStringSubmatchIndex(rest)
	if open == nil {
		return fmt.Errorf("%s is not opened after %s, so never fsynced:\n%s", dir, event, rest)
	}
	fd := rest[open[2]:open[3]]
	after := rest[open[1]:]
	sync := regexp.MustCompile(`\bfsync\(` + fd + `\)`).FindStringIndex(after)
	exit := strings.Index(after, "exit_group(0")
	if sync == nil || exit < 0 || exit < sync[0] {
		return fmt.Errorf("no fsync of %s (fd %s) before exit 0:\n%s", dir, fd, after)
	}
	return nil
}

// TestSyncedAfter: syncedAfter, which the fsync-of-a-directory cases are
// held to, takes an fsync of the directory's own descriptor after the
// event and before exit 0, and nothing else: an fsync of another file,
// one before the event or none.
func TestSyncedAfter(t *testing.T) {
	unlink := regexp.MustCompile(`unlinkat\(AT_FDCWD, "/l/dev/password"`)
	const (
		event = "10 unlinkat(AT_FDCWD, \"/l/dev/password\", 0) = 0\n"
		open  = "10 openat(AT_FDCWD, \"/l/dev\", O_RDONLY|O_CLOEXEC) = 3\n"
		other = "10 openat(AT_FDCWD, \"/l/dev/subscribers\", O_RDONLY|O_CLOEXEC) = 4\n"
		exit  = "10 exit_group(0) = ?\n"
	)
	for _, tc := range []struct {
		what, log string
		ok        bool
	}{
		{"the directory fsynced", event + open + "10 fsync(3) = 0\n" + exit, true},
		{"another file fsynced", event + open + other + "10 fsync(4) = 0\n" + exit, false},
		{"fsynced before the event", open + "10 fsync(3) = 0\n" + event + exit, false},
		{"opened, not fsynced", event + open + exit, false},
		{"fsynced, then exit 75", event + open + "10 fsync(3) = 0\n10 exit_group(75) = ?\n", false},
	} {
		if err := syncedAfter(tc.log, unlink, "/l/dev"); (err == nil) != tc.ok {
			t.Errorf("%s: syncedAfter gave %v; want it taken: %v", tc.what, err, tc.ok)
		}
	}
}
