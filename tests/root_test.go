package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// TestRootInListOfAnother: root's mlm-sub, mlm-unsub, mlm-run,
// mlm-accept, mlm-moderate and mlm-passwd in a list the list's own
// user owns, and mlm-newlist in a directory of lists it owns, refuse, 75 and one line naming the user, and change nothing. Before,
// mlm-sub rewrote the member file as root's, mode 0600, and every post
// after stopped at mlm-auth, the list user's, with "subscribers:
// permission denied". Reading stays root's to do (mlm-who, mlm-moderate
// list), and the list's user does the same work.
func TestRootInListOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	mlm(t, "alice@example.org\n", nil, "mlm-sub", dir)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	members, _ := os.ReadFile(filepath.Join(dir, "subscribers"))

	refused := regexp.MustCompile(`^(4\.3\.0 )?mlm-[a-z]+: ` + regexp.QuoteMeta(dir) + `: owned by nobody: run this as nobody, not as root; what root writes there, nobody cannot read\n$`)
	run := func(nobody bool, stdin, prog string, args ...string) (int, string) {
		t.Helper()
		return runAs(t, nobody, stdin, prog, args...)
	}
	for _, c := range [][]string{
		{"mlm-sub", dir, "bob@example.net"},
		{"mlm-unsub", dir, "alice@example.org"},
		{"mlm-accept", dir},
		{"mlm-run", dir},
		{"mlm-run", filepath.Join(dir, "queue", "incoming"), "cat"},
		{"mlm-moderate", dir, "expire"},
		{"mlm-passwd", dir},
		{"mlm-passwd", "-d", dir},
		{"mlm-newlist", filepath.Join(dir, "sub"), "sub@lists.example.org"},
	} {
		code, stderr := run(false, smallPost, c[0], c[1:]...)
		if code != 75 || !refused.MatchString(strings.Replace(stderr, filepath.Join(dir, "queue", "incoming"), dir, 1)) {
			t.Errorf("root's %v: exit %d, stderr %q; want 75 and one line naming nobody", c, code, stderr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "subscribers")); !bytes.Equal(b, members) {
		t.Errorf("subscribers = %q; want %q, unchanged", b, members)
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
		t.Errorf("incoming/new = %v; want nothing queued", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "password")); err == nil {
		t.Errorf("root set the list's password, which the list cannot read")
	}
	if who := mlm(t, "", nil, "mlm-who", dir); who != "alice@example.org\n" {
		t.Errorf("root's mlm-who = %q", who)
	}
	mlm(t, "", nil, "mlm-moderate", dir, "list")

	// As the list's user, all of it works.
	if code, stderr := run(true, "", "mlm-sub", dir, "bob@example.net"); code != 0 {
		t.Errorf("nobody's mlm-sub: exit %d: %s", code, stderr)
	}
	if code, stderr := run(true, smallPost, "mlm-accept", dir); code != 0 {
		t.Errorf("nobody's mlm-accept: exit %d: %s", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 1 {
		t.Errorf("incoming/new = %v; want the post", n)
	}
}

// runAs runs prog as root, or as nobody, with a post's environment, and
// returns its exit status and stderr.
func runAs(t *testing.T, nobody bool, stdin, prog string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org")
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if nobody {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s: %v", prog, err)
		}
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestRootLockOfAnother: root's mlm-lock on a list another user owns,
// whose lock file is not there yet, refuses (75, naming the user) and
// makes none. It made the lock file, root's, mode 0600, and from then on
// the list's own cron job, "mlm-lock DIR mlm-run DIR" as the list's
// user, failed each time, "lock: permission denied". A lock the list's
// user made already is root's to take: taking it writes nothing.
func TestRootLockOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, lock, refused := lockOfNobody(t)
	for _, path := range []string{dir, lock} {
		if code, stderr := runAs(t, false, "", "mlm-lock", path, "true"); code != 75 || !refused.MatchString(stderr) {
			t.Errorf("root's mlm-lock %s: exit %d, stderr %q; want 75 and one line naming nobody", path, code, stderr)
		}
	}
	if _, err := os.Lstat(lock); err == nil {
		t.Errorf("root's mlm-lock made %s", lock)
	}
	if code, stderr := runAs(t, true, "", "mlm-lock", dir, "true"); code != 0 {
		t.Errorf("nobody's mlm-lock: exit %d: %s", code, stderr)
	}
	if code, stderr := runAs(t, false, "", "mlm-lock", dir, "true"); code != 0 {
		t.Errorf("root's mlm-lock of nobody's lock file: exit %d: %s", code, stderr)
	}
	if code, stderr := runAs(t, true, "", "mlm-lock", dir, "true"); code != 0 {
		t.Errorf("nobody's mlm-lock after root's: exit %d: %s", code, stderr)
	}
}

// lockOfNobody is a new list given to nobody, without its lock file,
// and what root's mlm-lock says as it refuses to make one there.
func lockOfNobody(t *testing.T) (dir, lock string, refused *regexp.Regexp) {
	t.Helper()
	dir = newList(t)
	lock = filepath.Join(dir, "lock")
	os.Remove(lock)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	return dir, lock, regexp.MustCompile(`^mlm-lock: ` + regexp.QuoteMeta(dir) + `: owned by nobody: run this as nobody, not as root; what root writes there, nobody cannot read\n$`)
}

// TestRootMembersCommandOfAnother: root's mlm-who and mlm-members in a
// list whose members-command another user could have written (the
// list is that user's, or the file is) run no command, and refuse: 75,
// one line naming the user. They ran it as root, so the list's user, or
// whoever took the account over, chose what root ran the next time root
// looked at the members. In root's own list, with root's file, it runs;
// and the list's user runs it in its own.
func TestRootMembersCommandOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	ran := filepath.Join(dir, "ran")
	cmd := filepath.Join(dir, "members-command")
	os.WriteFile(cmd, []byte("sh\n-c\necho bob@example.net; id -u >> "+ran+"\n"), 0o644)
	if who := mlm(t, "", nil, "mlm-who", dir); who != "bob@example.net\n" {
		t.Errorf("root's mlm-who in root's list = %q", who)
	}
	for _, owned := range []string{cmd, dir} {
		os.Remove(ran)
		os.Chown(owned, 65534, 65534)
		if owned == dir {
			// (as the list's user's own list has it: root reads for
			// that user only what it may read)
			os.Chown(filepath.Join(dir, "address"), 65534, 65534)
		}
		refused := regexp.MustCompile(`^mlm-(who|members): ` + regexp.QuoteMeta(cmd) + `: owned by nobody: root runs no command of another user's; run this as nobody\n$`)
		for _, c := range [][]string{{"mlm-who", dir}, {"mlm-members", dir}} {
			if code, stderr := runAs(t, false, "MLM1 1.r\nS <a@example.org>\n:Subject: x\n:\n:x\nE 0\n", c[0], c[1:]...); code != 75 || !refused.MatchString(stderr) {
				t.Errorf("root's %v, %s nobody's: exit %d, stderr %q; want 75 and one line naming nobody", c, owned, code, stderr)
			}
		}
		if b, err := os.ReadFile(ran); err == nil {
			t.Errorf("the members-command ran, as uid %q", b)
		}
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	if code, stderr := runAs(t, true, "", "mlm-who", dir); code != 0 {
		t.Errorf("nobody's mlm-who: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(ran); string(b) != "65534\n" {
		t.Errorf("the members-command ran as %q; want nobody's once", b)
	}
}

// readableList is a new list of root's whose files its list's user,
// nobody, may read, as a site that keeps the settings root's and gives
// that user the queues sets it up.
func readableList(t *testing.T) string {
	t.Helper()
	dir := newList(t)
	filepath.Walk(dir, func(p string, info os.FileInfo, _ error) error {
		if info.Mode().IsRegular() {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	return dir
}

// TestRootInQueueOfAnother: a list directory of root's whose queues
// another user owns, the list's user, as a site that keeps the settings
// root's and gives the list's user its queues only sets it up: root's
// mlm-accept there refuses (75, naming the owner of queue/). It wrote
// the record as root's, mode 0600, which the list's user could move but
// not read, and the post stopped there.
func TestRootInQueueOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := readableList(t)
	q := filepath.Join(dir, "queue")
	filepath.Walk(q, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	refused := regexp.MustCompile(`^4\.3\.0 mlm-accept: ` + regexp.QuoteMeta(q) + `: owned by nobody: run this as nobody, not as root; what root writes there, nobody cannot read\n$`)
	if code, stderr := runAs(t, false, smallPost, "mlm-accept", dir); code != 75 || !refused.MatchString(stderr) {
		t.Errorf("root's mlm-accept: exit %d, stderr %q; want 75 and one line naming nobody", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "incoming", "new")); len(n) != 0 {
		t.Fatalf("incoming/new = %v; want nothing of root's queued", n)
	}
	if code, stderr := runAs(t, true, smallPost, "mlm-accept", dir); code != 0 {
		t.Errorf("nobody's mlm-accept: exit %d: %s", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "incoming", "new")); len(n) != 1 {
		t.Errorf("incoming/new = %v; want the post", n)
	}
}

// TestRootInOneQueueOfAnother: a list of root's whose incoming and hold
// queues alone another user owns, as a site that gives one queue to
// the user who runs it sets it up: root's mlm-accept refuses to queue
// a post there, root's mlm-run to claim its records and root's mlm-auth
// to hold a post there (75, naming the queue and its owner). They wrote
// and exited 0, leaving records of root's, mode 0600, that the queue's
// user could not read, as the queue/ case was before.
func TestRootInOneQueueOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := readableList(t)
	incoming, hold := filepath.Join(dir, "queue", "incoming"), filepath.Join(dir, "queue", "hold")
	os.Chmod(filepath.Join(dir, "queue"), 0o755) // the way to the queues given away
	for _, q := range []string{incoming, hold} {
		filepath.Walk(q, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	}
	refused := func(prog, q string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^(4\.3\.0 )?` + prog + `: (incoming: )?` + regexp.QuoteMeta(q) + `: owned by nobody: run this as nobody, not as root; what root writes there, nobody cannot read$`)
	}
	if code, stderr := runAs(t, false, smallPost, "mlm-accept", dir); code != 75 || !refused("mlm-accept", incoming).MatchString(stderr) {
		t.Errorf("root's mlm-accept: exit %d, stderr %q; want 75 and one line naming queue/incoming and nobody", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(incoming, "new")); len(n) != 0 {
		t.Fatalf("incoming/new = %v; want nothing of root's queued", n)
	}
	if code, stderr := runAs(t, true, smallPost, "mlm-accept", dir); code != 0 {
		t.Fatalf("nobody's mlm-accept: exit %d: %s", code, stderr)
	}
	queued := mlmtest.Names(t, filepath.Join(incoming, "new"))
	if code, stderr := runAs(t, false, "", "mlm-run", dir); code != 75 || !refused("mlm-run", incoming).MatchString(stderr) {
		t.Errorf("root's mlm-run: exit %d, stderr %q; want 75 and a line naming queue/incoming and nobody", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(incoming, "new")); len(queued) != 1 || !slices.Equal(n, queued) {
		t.Errorf("incoming/new = %v after root's mlm-run; want %v, unclaimed", n, queued)
	}
	// alice is no member: mlm-auth holds her post.
	rec := ""
	{
		cmd := exec.Command(filepath.Join(binDir, "mlm-accept"), "-o", "-", "-f", "alice@example.org", "-r", "dev@lists.example.org", dir)
		cmd.Stdin = strings.NewReader(smallPost)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("root's mlm-accept -o -: %v", err)
		}
		rec = string(out)
	}
	code, stderr := runAs(t, false, rec, "mlm-auth", dir)
	if code != 75 || !refused("mlm-auth", hold).MatchString(stderr) {
		t.Errorf("root's mlm-auth holding a post: exit %d, stderr %q; want 75 and a line naming queue/hold and nobody", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(hold, "new")); len(n) != 0 {
		t.Errorf("hold/new = %v; want nothing of root's held", n)
	}
}

// TestRootEnqueueOfAnother: root's mlm-enqueue into a queue another
// user owns refuses (75, naming the owner) and queues nothing: a record
// it wrote there would be root's, mode 0600, which the queue's runner,
// as that user, could claim but not read, and the post would stop.
func TestRootEnqueueOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	q := filepath.Join(openTempDir(t, "mlm-root-"), "q")
	diskQueueDirs(t, q)
	filepath.Walk(q, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	rec := "MLM1 r1\nS <alice@example.org>\n:Subject: x\n:\n;body\nR <bob@example.net>\nE 1\n"
	refused := regexp.MustCompile(`^mlm-enqueue: ` + regexp.QuoteMeta(q) + `: owned by nobody: run this as nobody, not as root; what root writes there, nobody cannot read\n$`)
	if code, stderr := runAs(t, false, rec, "mlm-enqueue", q); code != 75 || !refused.MatchString(stderr) {
		t.Errorf("root's mlm-enqueue: exit %d, stderr %q; want 75 and one line naming nobody", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "new")); len(n) != 0 {
		t.Fatalf("new/ = %v; want nothing of root's queued", n)
	}
	if code, stderr := runAs(t, true, rec, "mlm-enqueue", q); code != 0 {
		t.Errorf("nobody's mlm-enqueue: exit %d: %s", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "new")); len(n) != 1 {
		t.Errorf("new/ = %v; want the record", n)
	}
}

// TestRootAcceptOutput: root's mlm-accept -o - on another user's list
// writes the record to standard output, nothing in the list, so it is
// root's to do, as mlm-who is; it was refused (75) as a post to the
// list's queue is.
func TestRootAcceptOutput(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	out := mlm(t, smallPost, []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", "-o", "-", dir)
	if !strings.HasPrefix(out, "MLM1 ") || !strings.Contains(out, "\n:hello\nE 0\n") {
		t.Errorf("root's mlm-accept -o -: %q; want the record", out)
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
		t.Errorf("incoming/new = %v; want nothing queued", n)
	}
}

// TestRootNewlistThroughLink: root's mlm-newlist refuses a list whose
// path reaches another user's directory of lists through a symbolic
// link and "..": mkdir takes the ".." where the link leads, not where
// its text does, so ROOT/link/../dev is made in the directory of lists
// the link's target is in. The check looked at the text's parent (ROOT,
// root's) and made there, in nobody's directory of lists, a list of
// root's that nobody's MTA could not write.
func TestRootNewlistThroughLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	lists, mine := linkedLists(t)
	code, stderr := runAs(t, false, "", "mlm-newlist", mine+"/link/../dev", "dev@lists.example.org")
	if code != 75 || !strings.Contains(stderr, ": owned by nobody: run this as nobody, not as root") {
		t.Errorf("root's mlm-newlist through the link: exit %d, stderr %q; want 75 naming nobody", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(lists, "dev")); err == nil {
		t.Errorf("%s/dev was made", lists)
	}
}

// TestRootLockThroughLink: root's mlm-lock refuses to make a lock file
// in another user's directory reached through a symbolic link and "..",
// as a lock path or a directory: the kernel takes the ".." where the
// link leads. The check looked at the text's parent (root's) and made
// the lock, root's, mode 0600, in nobody's directory; and a directory
// so named had its lock in the text's parent, another lock.
func TestRootLockThroughLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	lists, mine := linkedLists(t)
	for _, path := range []string{mine + "/link/../lock", mine + "/link/.."} {
		code, stderr := runAs(t, false, "", "mlm-lock", path, "true")
		if code != 75 || !strings.Contains(stderr, ": owned by nobody: run this as nobody, not as root") {
			t.Errorf("root's mlm-lock %s: exit %d, stderr %q; want 75 naming nobody", path, code, stderr)
		}
	}
	for _, lock := range []string{filepath.Join(lists, "lock"), filepath.Join(mine, "lock")} {
		if _, err := os.Lstat(lock); err == nil {
			t.Errorf("root's mlm-lock made %s", lock)
		}
	}
}

// linkedLists makes a directory of lists of nobody's, LISTS, and one of
// root's, MINE, with MINE/link a symbolic link to LISTS/inner: the
// kernel takes MINE/link/.. to be LISTS.
func linkedLists(t *testing.T) (lists, mine string) {
	t.Helper()
	base := openTempDir(t, "mlm-lists-")
	lists, mine = filepath.Join(base, "lists"), filepath.Join(base, "root")
	for _, d := range []string{filepath.Join(lists, "inner"), mine} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(lists, 65534, 65534)
	if err := os.Symlink(filepath.Join(lists, "inner"), filepath.Join(mine, "link")); err != nil {
		t.Fatal(err)
	}
	return lists, mine
}

// TestDeniedNamesList: a list root made, run by another user (the MTA's,
// nobody here), fails (75) with one line that names the file with its
// list and both users: it said "address: permission denied", which
// named neither the list nor why, in a mail log of many lists.
func TestDeniedNamesList(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run as nobody")
	}
	dir := newList(t) // root's, its files 0600
	want := regexp.MustCompile(`^(4\.3\.0 )?mlm-[a-z]+: ` + regexp.QuoteMeta(filepath.Join(dir, "address")) + `: permission denied, running as nobody; the list directory is root's\n$`)
	for _, c := range [][]string{{"mlm-accept", dir}, {"mlm-run", dir}, {"mlm-who", dir}} {
		code, stderr := runAs(t, true, smallPost, c[0], c[1:]...)
		if code != 75 || !want.MatchString(stderr) {
			t.Errorf("nobody's %v: exit %d, stderr %q; want 75 and %s", c, code, stderr, want)
		}
	}
}

// TestRootLockLinkOfAnother: root's mlm-lock on a list another user
// owns, whose lock file that user made a symbolic link (a review),
// refuses (75, naming the user) and neither makes nor opens what the
// link names. It made the link's target, root's, anywhere that user
// chose: /etc/nologin, and no one but root could log in.
func TestRootLockLinkOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, lock, refused := lockOfNobody(t)
	roots := t.TempDir()
	made, kept := filepath.Join(roots, "made-by-root"), filepath.Join(roots, "kept")
	if err := os.WriteFile(kept, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{made, kept} {
		os.Remove(lock)
		if err := os.Symlink(target, lock); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{dir, lock} {
			if code, stderr := runAs(t, false, "", "mlm-lock", path, "true"); code != 75 || !refused.MatchString(stderr) {
				t.Errorf("root's mlm-lock %s, lock linked to %s: exit %d, stderr %q; want 75 and one line naming nobody", path, target, code, stderr)
			}
		}
	}
	if _, err := os.Lstat(made); err == nil {
		t.Errorf("root's mlm-lock made %s, where the link pointed", made)
	}
	if b, _ := os.ReadFile(kept); string(b) != "root's\n" {
		t.Errorf("%s = %q; want it untouched", kept, b)
	}
}

// TestRootStagesOfAnother: root's mlm-run in a list of root's whose
// stages file, or stages directory, another user owns runs none of its
// stages (a review): 75, one line naming the user, and the queue left,
// as it runs no members-command another user owns. That user chose
// what root ran. In root's own files, root's stages run.
func TestRootStagesOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, owned := range []string{"stages/incoming", "stages"} {
		dir := newList(t)
		ran := filepath.Join(dir, "ran")
		stage := filepath.Join(dir, "stage.sh")
		if err := os.WriteFile(stage, []byte("#!/bin/sh\nid -u >> "+ran+"\ncat >/dev/null\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stages", "incoming"), []byte(stage+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, stderr := runAs(t, false, smallPost, "mlm-accept", dir); code != 0 {
			t.Fatalf("mlm-accept: exit %d: %s", code, stderr)
		}
		os.Chown(filepath.Join(dir, owned), 65534, 65534)
		refused := regexp.MustCompile(`(?m)^mlm-run: ` + regexp.QuoteMeta(filepath.Join(dir, owned)) + `: owned by nobody: root runs no command of another user's; run this as nobody$`)
		if code, stderr := runAs(t, false, "", "mlm-run", dir); code != 75 || !refused.MatchString(stderr) {
			t.Errorf("root's mlm-run, %s nobody's: exit %d, stderr %q; want 75 and a line naming nobody", owned, code, stderr)
		}
		if b, err := os.ReadFile(ran); err == nil {
			t.Errorf("%s nobody's: the stage ran, as uid %q", owned, b)
		}
		if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 1 {
			t.Errorf("%s nobody's: incoming/new = %v; want the post left", owned, n)
		}
		os.Chown(filepath.Join(dir, owned), 0, 0)
		if code, stderr := runAs(t, false, "", "mlm-run", dir); code != 0 {
			t.Errorf("root's mlm-run, %s root's again: exit %d: %s", owned, code, stderr)
		}
		if b, _ := os.ReadFile(ran); string(b) != "0\n" {
			t.Errorf("root's stage ran as %q; want root's once", b)
		}
	}
}

// TestRootReadsNothingOfAnother: root's mlm-sub in a list another user
// owns refuses before it reads the list (a review): that user could
// link the list's address to a file only root may read, and the error,
// to root's terminal or cron's mail, quoted its first line.
func TestRootReadsNothingOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:secret-hash:20228:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "address"))
	if err := os.Symlink(secret, filepath.Join(dir, "address")); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	code, stderr := runAs(t, false, "", "mlm-sub", dir, "bob@example.net")
	if code != 75 || strings.Contains(stderr, "secret-hash") || !strings.Contains(stderr, ": owned by nobody: run this as nobody") {
		t.Errorf("root's mlm-sub: exit %d, stderr %q; want 75 naming nobody, and nothing of %s", code, stderr, secret)
	}
}

// TestRootPrintsNothingOfRoots: root's read-only tools in a list of
// another user's print nothing of a file that user may not read, linked
// there as a member file: mlm-who printed the addresses in a file only
// root may read, and mlm-members sent the post to them. Both refuse (75)
// and name the user; the list's own user's mlm-who is refused by the
// system as before.
func TestRootPrintsNothingOfRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	private := filepath.Join(t.TempDir(), "private")
	if err := os.WriteFile(private, []byte("private@root-only.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(private, filepath.Join(dir, "subscribers")); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	for _, prog := range []string{"mlm-who", "mlm-members"} {
		cmd := exec.Command(filepath.Join(binDir, prog), dir)
		cmd.Stdin = strings.NewReader("MLM1 1.a.test\nA list=dev@lists.example.org\nS <alice@example.org>\n:Subject: x\n:\n:hi\nE 0\n")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err == nil {
			code = 0
		}
		if code != 75 || strings.Contains(stdout.String()+stderr.String(), "root-only") ||
			!strings.Contains(stderr.String(), "subscribers: nobody, whose list it is, may not read it") {
			t.Errorf("root's %s: exit %d, stdout %q, stderr %q; want 75 naming nobody, and nothing of %s", prog, code, stdout.String(), stderr.String(), private)
		}
	}
}

// TestRootSearchOnly: root's lock walks a path it may search but not
// read, as root does on NFS with root_squash, or without its file
// capabilities (as here: setpriv drops them): a home directory of mode
// 0711. The walk opened each directory for reading, and root's mlm-lock
// failed (75) where the kernel's own walk, which needs only search
// permission, went through.
func TestRootSearchOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv here")
	}
	home := filepath.Join(openTempDir(t, "mlm-home-"), "home")
	dev := filepath.Join(home, "lists", "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dev, "lock"), nil, 0o644)
	filepath.Walk(home, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	os.Chmod(home, 0o711)
	out, err := exec.Command(setpriv, "--bounding-set=-dac_override,-dac_read_search", filepath.Join(binDir, "mlm-lock"), "-n", dev, "echo", "locked").CombinedOutput()
	if err != nil || string(out) != "locked\n" {
		t.Errorf("root without its file capabilities, through a directory of 0711: %v: %s; want it locked", err, out)
	}
}

// TestRootLockDirLinkSaid: root's mlm-lock of a list directory that its
// user replaced with a link says so once, naming the link: the lock
// file's path came before the link's, and a lock file's own name twice
// ("lock: lock:").
func TestRootLockDirLinkSaid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	top := openTempDir(t, "mlm-lists-")
	lists, roots := filepath.Join(top, "lists"), filepath.Join(top, "roots")
	os.MkdirAll(filepath.Join(roots, "dev"), 0o755)
	os.Mkdir(lists, 0o755)
	link := filepath.Join(lists, "dev")
	if err := os.Symlink(filepath.Join(roots, "dev"), link); err != nil {
		t.Fatal(err)
	}
	os.Lchown(link, 65534, 65534)
	os.Chown(lists, 65534, 65534)
	code, stderr := runAs(t, false, "", "mlm-lock", "-n", link, "true")
	if want := "mlm-lock: " + link + ": a symbolic link, in a directory owned by nobody: root follows none there\n"; code != 75 || stderr != want {
		t.Errorf("root's mlm-lock of a list linked by nobody: exit %d, stderr %q; want 75, %q", code, stderr, want)
	}
	if _, err := os.Lstat(filepath.Join(roots, "dev", "lock")); err == nil {
		t.Errorf("root's mlm-lock made the lock file where the link pointed")
	}
}

// TestRootOthersWrite: root works in no list of its own whose directory,
// queue/ or state/ others may write (75, naming it): a member of the
// group put a link at state/journal to a directory of root's, and root's
// mlm-sendmail, with no input, swept its old files away; a link at
// state/replies had root's mlm-auth do the same; a link at a state file
// had root write over the file it named. Read-only work goes on.
func TestRootOthersWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := newList(t)
	os.WriteFile(filepath.Join(dir, "relay"), []byte("127.0.0.1:9\n"), 0o644)
	victim := t.TempDir()
	old := filepath.Join(victim, "passwd")
	os.WriteFile(old, []byte("root:x:0:0\n"), 0o644)
	then := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(old, then, then)
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	os.Chmod(state, 0o770)
	os.RemoveAll(filepath.Join(state, "journal"))
	if err := os.Symlink(victim, filepath.Join(state, "journal")); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"mlm-sendmail", dir}, {"mlm-throttle", "-r", "1000", dir}, {"mlm-auth", dir}, {"mlm-sub", dir, "bob@example.org"}} {
		code, stderr := runAs(t, false, "", c[0], c[1:]...)
		if want := c[0] + ": " + state + ": others may write in it (mode 770): "; code != 75 || !strings.HasPrefix(stderr, want) {
			t.Errorf("root's %s, state/ group-writable: exit %d, stderr %q; want 75, %q...", c[0], code, stderr, want)
		}
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("root's run swept %s, through the link at state/journal: %v", old, err)
	}
	os.Chmod(state, 0o700)
	os.Chmod(dir, 0o777)
	if code, stderr := runAs(t, false, "", "mlm-sub", dir, "bob@example.org"); code != 75 || !strings.Contains(stderr, dir+": others may write in it (mode 777)") {
		t.Errorf("root's mlm-sub, the list directory world-writable: exit %d, stderr %q; want 75 naming it", code, stderr)
	}
	if code, stderr := runAs(t, false, "", "mlm-who", dir); code != 0 {
		t.Errorf("root's mlm-who, reading only: exit %d, stderr %q; want 0", code, stderr)
	}
}

// TestRootQueueOthersWrite: root works in no queue, nor directory of
// state/, that others may write, nor in a queue another user owns, and
// sweeps none of them before it refuses (75): a link at a queue's cur/
// had root's mlm-run move every file of a directory of root's into new/
// (in nobody's queue, before it refused it); one in a journal directory
// had root's mlm-sendmail append to the file it named; mlm-enqueue and
// mlm-run on a queue directory wrote where others may (a critical read).
func TestRootQueueOthersWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	victim := t.TempDir()
	keep := filepath.Join(victim, "keep")
	fill := func() { os.WriteFile(keep, []byte("root's\n"), 0o644) }
	intact := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(keep); err != nil || string(b) != "root's\n" {
			t.Errorf("%s: root's file %q, %v; want it as it was", what, b, err)
		}
		fill()
	}
	fill()
	// A queue others may write, its cur/ and tmp/ links to root's directory.
	dir := newList(t)
	in := filepath.Join(dir, "queue", "incoming")
	os.Chmod(in, 0o777)
	for _, sub := range []string{"cur", "tmp"} {
		os.Remove(filepath.Join(in, sub))
		os.Symlink(victim, filepath.Join(in, sub))
	}
	if code, stderr := runAs(t, false, "", "mlm-run", dir); code != 75 || !strings.Contains(stderr, in+": others may write in it (mode 777)") {
		t.Errorf("root's mlm-run, incoming/ others may write: exit %d, stderr %q; want 75 naming it", code, stderr)
	}
	intact("mlm-run, incoming/ others may write")
	rec := "MLM1 r1\nS <a@example.org>\n:Subject: x\n:\n:hi\nE 0\n"
	for _, c := range [][]string{{"mlm-enqueue", in}, {"mlm-run", in, "--", "cat"}} {
		if code, stderr := runAs(t, false, rec, c[0], c[1:]...); code != 75 || !strings.Contains(stderr, in+": others may write in it") {
			t.Errorf("root's %v: exit %d, stderr %q; want 75 naming it", c, code, stderr)
		}
	}
	intact("mlm-enqueue, mlm-run on the queue")
	// hold/, a queue without stages, others may write, its cur/ and
	// new/ links to root's directory: mlm-run and mlm-moderate refuse,
	// before any sweep (a critical read: hold/ was checked by neither);
	// mlm-moderate list, which reads only, goes on.
	dir = newList(t)
	hold := filepath.Join(dir, "queue", "hold")
	os.Chmod(hold, 0o777)
	os.Remove(filepath.Join(hold, "cur"))
	os.Symlink(victim, filepath.Join(hold, "cur"))
	then := time.Now().Add(-60 * 24 * time.Hour)
	os.Chtimes(keep, then, then)
	for _, c := range [][]string{{"mlm-run", dir}, {"mlm-moderate", dir, "expire"}} {
		if code, stderr := runAs(t, false, "", c[0], c[1:]...); code != 75 || !strings.Contains(stderr, hold+": others may write in it (mode 777)") {
			t.Errorf("root's %v, hold/ others may write: exit %d, stderr %q; want 75 naming it", c, code, stderr)
		}
		intact(fmt.Sprintf("%v, hold/ others may write", c))
		os.Chtimes(keep, then, then)
	}
	if code, stderr := runAs(t, false, "", "mlm-moderate", dir, "list"); code != 0 {
		t.Errorf("root's mlm-moderate list, hold/ others may write: exit %d, stderr %q; want 0, reading only", code, stderr)
	}
	// Another user's queue, its cur/ a link to root's directory: refused
	// before any sweep.
	dir = newList(t)
	out := filepath.Join(dir, "queue", "outgoing")
	filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	os.Remove(filepath.Join(out, "cur"))
	os.Symlink(victim, filepath.Join(out, "cur"))
	if code, stderr := runAs(t, false, "", "mlm-run", dir); code != 75 || !strings.Contains(stderr, out+": owned by nobody") {
		t.Errorf("root's mlm-run, outgoing/ nobody's: exit %d, stderr %q; want 75 naming nobody", code, stderr)
	}
	intact("mlm-run, outgoing/ nobody's")
	// A journal directory others may write, state/ not.
	dir = newList(t)
	os.WriteFile(filepath.Join(dir, "relay"), []byte("127.0.0.1:9\n"), 0o644)
	journal := filepath.Join(dir, "state", "journal")
	os.MkdirAll(journal, 0o700)
	os.Chmod(journal, 0o777)
	os.Symlink(keep, filepath.Join(journal, "p1"))
	rec = "MLM1 p1,1\nA list=dev@lists.example.org\nS <dev-bounces@lists.example.org>\n:Subject: x\n:\n:hi\nR <a@example.org>\nE 1\n"
	if code, stderr := runAs(t, false, rec, "mlm-sendmail", dir); code != 75 || !strings.Contains(stderr, journal+": others may write in it (mode 777)") {
		t.Errorf("root's mlm-sendmail, state/journal others may write: exit %d, stderr %q; want 75 naming it", code, stderr)
	}
	intact("mlm-sendmail, state/journal others may write")
}
