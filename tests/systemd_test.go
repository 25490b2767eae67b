package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// systemdPath is the PATH systemd gives a service that sets none, with
// the programs' directory in place of /usr/local/bin.
var systemdPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// unitCopies writes the units of examples/systemd into a new directory,
// with the programs' directory for /usr/local/bin and base for
// /srv/lists, and returns it.
func unitCopies(t *testing.T, base string) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(root, "examples", "systemd", "mlm-*"))
	if len(files) != 5 {
		t.Fatalf("examples/systemd holds %d units; want 5", len(files))
	}
	for _, f := range files {
		text := exampleText(t, filepath.Join("systemd", filepath.Base(f)), base)
		// The user mlm need not exist here. systemd-analyze verify (252)
		// does not look it up, but the copy names a user that does, the
		// one running the tests, so that it is a unit that could run.
		text = strings.ReplaceAll(text, "\nUser=mlm\n", "\nUser="+u.Username+"\n")
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestExampleSystemdVerify: systemd-analyze verify finds nothing to say
// about the units of examples/systemd, as instances for the list dev.
func TestExampleSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	base := t.TempDir()
	os.Mkdir(filepath.Join(base, "dev"), 0o755)
	units := unitCopies(t, base)
	// A template is verified through an instance: given the path of
	// mlm-run@dev.service, verify loads mlm-run@.service from the same
	// directory. --man=no: the Documentation= pages need not be
	// installed here. Bad settings are warnings (exit 0), so any output
	// fails the test; a missing program in ExecStart= is an error.
	cmd := exec.Command(analyze, "verify", "--man=no",
		filepath.Join(units, "mlm-run@dev.service"),
		filepath.Join(units, "mlm-expire@dev.service"),
		filepath.Join(units, "mlm-expire@dev.timer"),
		filepath.Join(units, "mlm-remind@dev.service"),
		filepath.Join(units, "mlm-remind@dev.timer"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// execStart returns the command of a unit's ExecStart= for the instance
// dev, split into words as systemd splits it (the examples quote
// nothing).
func execStart(t *testing.T, units, unit string) []string {
	t.Helper()
	const key = "ExecStart="

	b, err := os.ReadFile(filepath.Join(units, unit))
	if err != nil {
		t.Fatal(err)
	}
	var cmd []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			if cmd != nil {
				t.Fatalf("%s: more than one %s", unit, key)
			}
			if strings.ContainsAny(v, `"'\$`) || strings.ContainsAny(v[:1], "-@:+!") {
				t.Fatalf("%s: ExecStart=%s needs more than splitting at blanks", unit, v)
			}
			cmd = strings.Fields(strings.ReplaceAll(v, "%i", "dev"))
		}
	}
	if cmd == nil {
		t.Fatalf("%s: no %s", unit, key)
	}
	return cmd
}

// service starts a unit's command as systemd would: in /, with only
// systemd's PATH and the user's variables.
func service(argv []string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=" + strings.Replace(systemdPath, "/usr/local/bin", binDir, 1),
		"HOME=" + os.Getenv("HOME"), "USER=" + os.Getenv("USER"), "LOGNAME=" + os.Getenv("USER"),
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// TestService: service runs a command as systemd runs a unit's: in /,
// with systemd's PATH and the user's variables alone. From the tests'
// directory, with their environment, a unit whose command needs either
// would pass.
func TestService(t *testing.T) {
	cmd, out := service([]string{"/bin/sh", "-c", "pwd; env"})
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir, rest, _ := strings.Cut(out.String(), "\n")
	var env []string
	for _, v := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
		if name, _, _ := strings.Cut(v, "="); !slices.Contains([]string{"PWD", "OLDPWD", "SHLVL", "_"}, name) { // the shell's own
			env = append(env, v)
		}
	}
	slices.Sort(env)
	want := []string{"HOME=" + os.Getenv("HOME"), "LOGNAME=" + os.Getenv("USER"),
		"PATH=" + strings.Replace(systemdPath, "/usr/local/bin", binDir, 1), "USER=" + os.Getenv("USER")}
	if dir != "/" || !slices.Equal(env, want) {
		t.Errorf("service ran in %s with %q; want / and %q", dir, env, want)
	}
}

// TestExampleSystemdRun: the command of examples/systemd/mlm-run@.service
// delivers a post waiting when it starts and one that comes while it
// runs, says nothing, and on SIGTERM, as systemctl stop sends it, exits 0.
func TestExampleSystemdRun(t *testing.T) {
	base, dir, srv := exampleList(t)
	argv := execStart(t, unitCopies(t, base), "mlm-run@.service")
	postTo(t, dir, "before the start")
	cmd, out := service(argv)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	postTo(t, dir, "while it runs")
	// The post wakes it; else a pass every 10 seconds: allow several.
	deadline := time.Now().Add(60 * time.Second)
	for len(srv.Messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("delivered %d posts; want 2", n)
	}
	// Its record done too: a SIGTERM while its stages run stops them,
	// and says so (mlm-run(1)).
	for queued(t, dir, "outgoing")+claimed(t, dir, "outgoing") != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || out.Len() != 0 {
		t.Errorf("%v after SIGTERM: %v, output %q; want exit 0 and none", argv, err, out)
	}
	if n := queued(t, dir, "incoming") + queued(t, dir, "outgoing") + queued(t, dir, "retry"); n != 0 {
		t.Errorf("%d records still wait", n)
	}
}

// TestDaemonTakesPostAsItLands: the unit's command, with an interval of
// an hour, delivers a post that comes after its first pass has ended:
// mlm-accept's record in the incoming queue wakes it. Without the watch
// it would wait for the hour.
func TestDaemonTakesPostAsItLands(t *testing.T) {
	base, dir, srv := exampleList(t)
	argv := execStart(t, unitCopies(t, base), "mlm-run@.service")
	argv = append([]string{argv[0], "-i", "1h"}, argv[1:]...)
	postTo(t, dir, "before the start")
	cmd, out := service(argv)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) { // a safety net, not a measure
				cmd.Process.Kill()
				cmd.Wait() // (then its output is whole)
				t.Fatalf("after 20 s: %s; output %q", what, out)
			}
		}
	}
	waitFor("the post waiting at the start is not delivered", func() bool {
		return len(srv.Messages()) == 1 && queued(t, dir, "incoming")+queued(t, dir, "outgoing")+claimed(t, dir, "outgoing") == 0
	})
	// The first pass has ended. Its own record in the outgoing queue
	// woke another, at once; this lets that one end too, so that what
	// takes the next post is the watch of the incoming queue.
	time.Sleep(300 * time.Millisecond)
	postTo(t, dir, "after the first pass")
	waitFor("the post that came after the first pass waits for -i", func() bool { return len(srv.Messages()) == 2 })
	// And its record is done: a SIGTERM while its stages run stops
	// them, and says so (mlm-run(1)).
	waitFor("the delivered post's record is not done", func() bool {
		return queued(t, dir, "outgoing")+claimed(t, dir, "outgoing") == 0
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || out.Len() != 0 {
		t.Errorf("%v after SIGTERM: %v, output %q; want exit 0 and none", argv, err, out)
	}
}

// claimed is the count of records in the list's queue q that a runner
// has claimed.
func claimed(t *testing.T, dir, q string) int {
	t.Helper()
	return len(mlmtest.Names(t, filepath.Join(dir, "queue", q, "cur")))
}

// TestClaimed: claimed counts the records a runner holds in cur/, not
// those waiting in new/ or being written in tmp/.
func TestClaimed(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"cur/a", "cur/b", "new/c", "tmp/d", "tmp/e", "tmp/f"} {
		os.MkdirAll(filepath.Join(dir, "queue", "outgoing", filepath.Dir(f)), 0o755)
		hWrite(t, filepath.Join(dir, "queue", "outgoing", f), "")
	}
	if n := claimed(t, dir, "outgoing"); n != 2 {
		t.Errorf("claimed = %d; want 2", n)
	}
}

// TestExampleSystemdExpire: the command of
// examples/systemd/mlm-expire@.service discards a post held for eight
// days, says nothing and exits 0; that of mlm-remind@.service, a unit
// of its own, reminds the moderators of the others.
func TestExampleSystemdExpire(t *testing.T) {
	base, dir, _ := exampleList(t)
	argv := execStart(t, unitCopies(t, base), "mlm-expire@.service")
	held := holdOld(t, dir)
	cmd, out := service(argv)
	if err := cmd.Run(); err != nil || out.Len() != 0 {
		t.Errorf("%v: %v, output %q; want exit 0 and none", argv, err, out)
	}
	if _, err := os.Stat(held); !os.IsNotExist(err) {
		t.Errorf("the held post of eight days is still there: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "moderators"), []byte("mod@example.org\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "queue", "hold", "new", "1795000001.M2P2"), []byte("MLM1 1795000001.M2P2\nS <stranger@example.net>\n:Subject: held now\n:\n:hello\nE 0\n"), 0o600)
	argv = execStart(t, unitCopies(t, base), "mlm-remind@.service")
	cmd, out = service(argv)
	if err := cmd.Run(); err != nil || out.Len() != 0 {
		t.Errorf("%v: %v, output %q; want exit 0 and none", argv, err, out)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "queue", "outgoing", "new", "reminder.*")); len(n) != 1 {
		t.Errorf("outgoing/new has reminders %v; want one, of the post held now", n)
	}
}

// TestExampleSystemdNoList: for an instance whose list directory is not
// there (a name mistyped), mlm-run@.service gets as far as mlm-run, whose
// status is one that RestartPreventExitStatus names: the unit stops.
// Its ReadWritePaths without "-" made systemd fail to set up the
// service's namespace (226), before mlm-run, and Restart=on-failure
// start it again every 10 seconds for ever.
func TestExampleSystemdNoList(t *testing.T) {
	base, _, _ := exampleList(t)
	units := unitCopies(t, base)
	b, err := os.ReadFile(filepath.Join(units, "mlm-run@.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "%i", "typo")
	var prevent []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "ReadWritePaths="); ok {
			for _, p := range strings.Fields(v) {
				if _, err := os.Stat(strings.TrimPrefix(p, "-")); err != nil && !strings.HasPrefix(p, "-") {
					t.Errorf("ReadWritePaths=%s: %v, which fails the start before mlm-run; want it prefixed with -", p, err)
				}
			}
		}
		if v, ok := strings.CutPrefix(line, "RestartPreventExitStatus="); ok {
			prevent = append(prevent, strings.Fields(v)...)
		}
	}
	argv := execStart(t, units, "mlm-run@.service")
	argv[len(argv)-1] = filepath.Join(base, "typo")
	cmd, out := service(argv)
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%v: %v; want it to exit for a list that is not there", argv, err)
	}
	if code := strconv.Itoa(ee.ExitCode()); !slices.Contains(prevent, code) {
		t.Errorf("%v: exit %s (%q); want one of RestartPreventExitStatus %v", argv, code, out, prevent)
	}
}
