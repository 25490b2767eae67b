package tests

import (
	"bytes"
	"errors"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/listdir"
	"mlm/lib/smtpsink"
)

// exampleList makes an open list, dev@lists.example.org, in base/dev,
// with one member, bob@example.net, and a test SMTP server as its relay.
// The examples' /srv/lists/ is base.
func exampleList(t *testing.T) (base, dir string, srv *smtpsink.Server) {
	t.Helper()
	base = t.TempDir()
	dir = filepath.Join(base, "dev")
	mlm(t, "", nil, "mlm-newlist", "-p", "open", dir, "dev@lists.example.org")
	srv = sinkRelay(t, dir)
	mlm(t, "", nil, "mlm-sub", dir, "bob@example.net")
	return base, dir, srv
}

// postTo hands a post from alice to the list, as an MTA would.
func postTo(t *testing.T, dir, subject string) {
	t.Helper()
	post := "From: alice@example.org\nTo: dev@lists.example.org\nSubject: " + subject + "\n\nhello\n"
	mlm(t, post, []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
}

// holdOld puts a held post into the list's hold queue that has waited
// eight days, longer than the default modexpire of seven.
func holdOld(t *testing.T, dir string) string {
	t.Helper()
	id := "1795000000.M1P1"
	file := filepath.Join(dir, "queue", "hold", "new", id)
	rec := "MLM1 " + id + "\nS <stranger@example.net>\n:Subject: held\n:\n:hello\nE 0\n"
	if err := os.WriteFile(file, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-8 * 24 * time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	return file
}

// exampleText reads a file of examples/ with the programs' directory in
// place of /usr/local/bin and base in place of /srv/lists.
func exampleText(t *testing.T, name, base string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("/usr/local/bin", binDir, "/srv/lists/", base+"/").Replace(string(b))
}

// crontab is a parsed crontab: its variables and its jobs' commands.
type crontab struct {
	env  []string
	jobs []string
}

var (
	cronVar = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
	cronJob = regexp.MustCompile(`^(?:@[a-z]+|(?:\S+\s+){4}\S+)\s+(.+)$`)
)

// parseCrontab reads a crontab(5): NAME=value lines, and jobs of five
// time fields (or an @word) and a command; a % in a command would be a
// newline to cron, so it is refused.
func parseCrontab(t *testing.T, text string) crontab {
	t.Helper()
	var c crontab
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if m := cronVar.FindStringSubmatch(line); m != nil {
			c.env = append(c.env, m[1]+"="+m[2])
			continue
		}
		m := cronJob.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("crontab: not a job: %q", line)
		}
		if strings.Contains(m[1], "%") {
			t.Errorf("crontab: %q: cron takes %% for a newline", m[1])
		}
		c.jobs = append(c.jobs, m[1])
	}
	return c
}

// job returns the one command that contains s.
func (c crontab) job(t *testing.T, s string) string {
	t.Helper()
	var found []string
	for _, j := range c.jobs {
		if strings.Contains(j, s) {
			found = append(found, j)
		}
	}
	if len(found) != 1 {
		t.Fatalf("crontab: %d jobs run %s; want 1", len(found), s)
	}
	return found[0]
}

// run runs a command as cron does: the crontab's SHELL (default /bin/sh)
// with -c, the environment cron sets (HOME, LOGNAME, SHELL) and the
// crontab's variables, nothing inherited. It returns the exit status
// and what the job wrote, which cron would mail.
func (c crontab) run(t *testing.T, cmd string) (int, string) {
	t.Helper()
	env := []string{"HOME=" + t.TempDir(), "LOGNAME=mlm", "SHELL=/bin/sh"}
	env = append(env, c.env...)
	shell := "/bin/sh"
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, "SHELL="); ok {
			shell = v
		}
	}
	p := exec.Command(shell, "-c", cmd)
	p.Env = env
	var out bytes.Buffer
	p.Stdout, p.Stderr = &out, &out
	err := p.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", cmd, err)
	}
	return p.ProcessState.ExitCode(), out.String()
}

func queued(t *testing.T, dir, q string) int {
	t.Helper()
	return len(mlmtest.Names(t, filepath.Join(dir, "queue", q, "new")))
}

// TestExampleCron: examples/cron/crontab's jobs, run as cron runs them,
// deliver a waiting post, remind the moderators of a held one, expire
// an old one and remove unread bounces and requests of a week,
// print nothing (cron would mail it) and exit 0.
func TestExampleCron(t *testing.T) {
	base, dir, srv := exampleList(t)
	c := parseCrontab(t, exampleText(t, "cron/crontab", base))
	if len(c.jobs) != 4 {
		t.Errorf("crontab has %d jobs; want 4", len(c.jobs))
	}
	for _, j := range c.jobs {
		if !strings.HasPrefix(j, "mlm-lock ") {
			t.Errorf("crontab: %q does not run under mlm-lock", j)
		}
	}
	postTo(t, dir, "by cron")
	held := holdOld(t, dir)
	// And one held now, which the reminder tells the moderators of
	// (the old one's cookies have run out: expire drops it).
	os.WriteFile(filepath.Join(dir, "moderators"), []byte("mod@example.org\n"), 0o600)
	fresh := filepath.Join(dir, "queue", "hold", "new", "1795000001.M2P2")
	os.WriteFile(fresh, []byte("MLM1 1795000001.M2P2\nS <stranger@example.net>\n:Subject: held now\n:\n:hello\nE 0\n"), 0o600)

	if code, out := c.run(t, c.job(t, "mlm-run")); code != 0 || out != "" {
		t.Errorf("the mlm-run job: exit %d, output %q; want 0 and none", code, out)
	}
	if n := queued(t, dir, "incoming") + queued(t, dir, "outgoing") + queued(t, dir, "retry"); n != 0 {
		t.Errorf("%d records still wait after the mlm-run job", n)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || len(msgs[0].Rcpts) != 1 || msgs[0].Rcpts[0].Mailbox != "bob@example.net" {
		t.Errorf("delivered %d messages (%+v); want the post, to bob@example.net", len(msgs), msgs)
	}

	if code, out := c.run(t, c.job(t, " remind")); code != 0 || out != "" {
		t.Errorf("the remind job: exit %d, output %q; want 0 and none", code, out)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "queue", "outgoing", "new", "reminder.*")); len(n) != 1 {
		t.Errorf("outgoing/new has reminders %v; want one, of the held post", n)
	} else if b, _ := os.ReadFile(n[0]); !strings.Contains(string(b), "\n:   Subject: held now\n") || strings.Contains(string(b), "\n:   Subject: held\n") {
		t.Errorf("the reminder does not show the post held now alone:\n%s", b)
	}
	if code, out := c.run(t, c.job(t, " expire")); code != 0 || out != "" {
		t.Errorf("the expire job: exit %d, output %q; want 0 and none", code, out)
	}
	if _, err := os.Stat(held); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the held post of eight days is still there: %v", err)
	}

	// Unread mail to -bounces and -request: of a week and an hour, and
	// of an hour less than a week, in new/; of eight days in bad/ (the
	// site's to look at) and in cur/ (a run has it); one deferred, which
	// waits with a time to come.
	const day = 24 * time.Hour
	aged := func(q, sub, id string, age time.Duration) string {
		return mlmtest.AgedFile(t, filepath.Join(dir, "queue", q, sub, id), "MLM1 "+id+"\nS <>\n:\nE 0\n", age)
	}
	gone := []string{aged("bounces", "new", "1795000002.M3P3", 7*day+time.Hour), aged("requests", "new", "1795000003.M4P4", 7*day+time.Hour)}
	kept := []string{aged("bounces", "new", "1795000004.M5P5", 7*day-time.Hour), aged("requests", "new", "1795000005.M6P6", 7*day-time.Hour),
		aged("bounces", "bad", "1795000006.M7P7", 8*day), aged("bounces", "cur", "1795000007.M8P8", 8*day),
		aged("owner", "new", "1795000008.M9P9", 8*day), aged("bounces", "new", "1795000009.M10P10", -time.Hour)}
	if code, out := c.run(t, c.job(t, " find ")); code != 0 || out != "" {
		t.Errorf("the find job: exit %d, output %q; want 0 and none", code, out)
	}
	for _, f := range gone {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s, of eight days, is still there: %v", f, err)
		}
	}
	for _, f := range kept {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s is gone: %v", f, err)
		}
	}
	// A list without one of the two queues (an old one, or one a site
	// took a queue from): the other's old mail still goes, and nothing
	// is said; find with two starting points said "No such file or
	// directory" and exited 1, mailed every night (R104).
	if err := os.RemoveAll(filepath.Join(dir, "queue", "requests")); err != nil {
		t.Fatal(err)
	}
	old := aged("bounces", "new", "1795000010.M11P11", 7*day+time.Hour)
	if code, out := c.run(t, c.job(t, " find ")); code != 0 || out != "" {
		t.Errorf("the find job, the requests queue gone: exit %d, output %q; want 0 and none", code, out)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the requests queue gone, %s, of eight days, is still there: %v", old, err)
	}
	// A list whose queue/ is a link to a spool elsewhere, as mlm-run
	// takes it: its old mail goes too (find does not follow a link it
	// starts at), and no other queue's (a review).
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.Rename(filepath.Join(dir, "queue"), spool); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(spool, filepath.Join(dir, "queue")); err != nil {
		t.Fatal(err)
	}
	old = aged("bounces", "new", "1795000011.M12P12", 7*day+time.Hour)
	if code, out := c.run(t, c.job(t, " find ")); code != 0 || out != "" {
		t.Errorf("the find job, queue/ a link: exit %d, output %q; want 0 and none", code, out)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("queue/ a link, %s, of eight days, is still there: %v", old, err)
	}
	for _, f := range kept {
		if _, err := os.Stat(f); err != nil && !strings.Contains(f, "requests") {
			t.Errorf("queue/ a link, %s is gone: %v", f, err)
		}
	}
}

// TestExampleCronLists: the line examples/cron/crontab gives a host of
// many lists, run as cron runs it, delivers a waiting post of a list in
// the directory, prints nothing and exits 0; a file of the site's there
// is no list.
func TestExampleCronLists(t *testing.T) {
	base, dir, srv := exampleList(t)
	text := exampleText(t, "cron/crontab", base)
	c := parseCrontab(t, text)
	m := regexp.MustCompile(`(?m)^#   \* \* \* \* \*\t(mlm-run -l .*)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("crontab: no commented line for many lists")
	}
	line := strings.ReplaceAll(m[1], "/srv/lists", base) // (exampleText's replaces /srv/lists/)
	os.WriteFile(filepath.Join(base, "aliases"), []byte("dev: \"|mlm-accept "+dir+"\"\n"), 0o644)
	postTo(t, dir, "by one run for all")
	for range 2 { // (the second finds the list's lock file made by the first)
		if code, out := c.run(t, line); code != 0 || out != "" {
			t.Errorf("%s: exit %d, output %q; want 0 and none", line, code, out)
		}
	}
	if msgs := srv.Messages(); len(msgs) != 1 {
		t.Errorf("delivered %d messages; want the post", len(msgs))
	}
}

// TestExampleCronLocked: the mlm-run job of examples/cron/crontab, while
// the list lock is held by a run that takes too long, waits, then fails
// 75 with one line and leaves the post waiting; once the lock is free
// the next run delivers it.
func TestExampleCronLocked(t *testing.T) {
	base, dir, srv := exampleList(t)
	c := parseCrontab(t, exampleText(t, "cron/crontab", base))
	job := c.job(t, "mlm-run")
	// The job waits 50 seconds for the lock; 1 does the same here, sooner.
	if !strings.Contains(job, " -t 50s ") {
		t.Fatalf("the mlm-run job %q has no -t 50s", job)
	}
	short := strings.Replace(job, " -t 50s ", " -t 1s ", 1)
	postTo(t, dir, "after the lock")

	holder := exec.Command(filepath.Join(binDir, "mlm-lock"), dir, "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	lock := filepath.Join(dir, listdir.LockFile)
	for i := 0; ; i++ { // until the holder has it
		f, err := listdir.LockFD(lock, 0)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			break
		}
		if err == nil {
			f.Close()
		}
		if i == 1000 {
			t.Fatalf("mlm-lock did not take %s", lock)
		}
		time.Sleep(10 * time.Millisecond)
	}

	code, out := c.run(t, short)
	if want := "mlm-lock: " + lock + ": still locked after 1s\n"; code != 75 || out != want {
		t.Errorf("the mlm-run job, lock held: exit %d, output %q; want 75 and %q", code, out, want)
	}
	if n := queued(t, dir, "incoming"); n != 1 {
		t.Errorf("incoming holds %d posts; want the 1 waiting", n)
	}

	holder.Process.Kill()
	holder.Wait()
	if code, out := c.run(t, job); code != 0 || out != "" {
		t.Errorf("the mlm-run job, lock free: exit %d, output %q; want 0 and none", code, out)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("delivered %d messages; want 1", n)
	}
}

// TestMembersUnderListLock: a program run under the list lock, as the
// cron jobs run mlm-run and a request handler stage would be, changes the
// members at once: mlm-sub and mlm-unsub take members.lock, not the list
// lock it holds.
func TestMembersUnderListLock(t *testing.T) {
	dir := newList(t)
	mlm(t, "", nil, "mlm-lock", "-n", dir, "mlm-sub", dir, "new@example.org")
	mlm(t, "", nil, "mlm-lock", "-n", dir, "sh", "-c", `mlm-sub "$1" a@example.org b@example.org && mlm-unsub "$1" a@example.org`, "sh", dir)
	b, err := os.ReadFile(filepath.Join(dir, "subscribers"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	if strings.Join(got, " ") != "new@example.org b@example.org" {
		t.Errorf("members %q; want new@example.org and b@example.org", got)
	}
}

// TestLockReadOnly: mlm-lock locks a file its user may read but not
// write, as flock(1) does: another user's cron job may have made it.
func TestLockReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as nobody")
	}
	dir := openTempDir(t, "mlm-lock-ro-")
	lock := filepath.Join(dir, "lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "mlm-lock"), "-n", lock, "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mlm-lock as nobody on a file it can only read: %v: %s", err, out)
	}
}

// TestLockCannotMake: a lock file this user may not make is named with
// that reason, not as missing: the directory is there.
func TestLockCannotMake(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as nobody")
	}
	dir := openTempDir(t, "mlm-lock-nomake-")
	cmd := exec.Command(filepath.Join(binDir, "mlm-lock"), "-n", dir, "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if want := "mlm-lock: " + filepath.Join(dir, "lock") + ": permission denied\n"; err == nil || string(out) != want {
		t.Errorf("mlm-lock as nobody in a directory it cannot write: %v: %q; want 75 and %q", err, out, want)
	}
}
