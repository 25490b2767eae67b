package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newList makes a list directory with mlm-newlist in a directory every
// user may enter, and returns its path.
func newList(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(openTempDir(t, "mlm-list-"), "dev")
	if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), dir, "dev@lists.example.org").CombinedOutput(); err != nil {
		t.Fatalf("mlm-newlist: %v: %s", err, out)
	}
	return dir
}

// openTempDir makes a directory that the other users some tests run
// programs as (nobody, Exim's) may enter, removed when the test ends;
// t.TempDir's parent is closed to them.
func openTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// accept runs mlm-accept on dir with Postfix's environment.
func accept(t *testing.T, dir string, msg io.Reader, setup func(*exec.Cmd)) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mlm-accept"), dir)
	cmd.Env = append(os.Environ(), "SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org")
	cmd.Stdin = msg
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if setup != nil {
		setup(cmd)
	}
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("mlm-accept: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

const smallPost = "From: alice@example.org\nSubject: x\n\nhello\n"

// TestAcceptReadOnlyQueue: a queue the MTA's user cannot write is a
// temporary failure, one line starting 4.3.0, and nothing is queued.
func TestAcceptReadOnlyQueue(t *testing.T) {
	mlmtest.Fault(t, "disk", "queue not writable by mlm-accept (run as nobody)", "exit 75 with 4.3.0, nothing queued")
	dir := newList(t)
	q := filepath.Join(dir, "queue", "incoming")
	var setup func(*exec.Cmd)
	if os.Geteuid() == 0 {
		// root ignores modes: run as nobody, for whom the list is read-only.
		setup = func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
	} else {
		os.Chmod(filepath.Join(q, "tmp"), 0o500)
	}
	code, stderr := accept(t, dir, strings.NewReader(smallPost), setup)
	if code != 75 || !regexp.MustCompile(`^4\.3\.0 mlm-accept: incoming: .*permission denied\n$`).MatchString(stderr) {
		t.Errorf("read-only queue: exit %d, stderr %q; want 75 and one 4.3.0 line", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "new")); len(n) != 0 {
		t.Errorf("new/ = %v", n)
	}
}

// TestAcceptMissingQueue: no incoming queue at all is 75 too.
func TestAcceptMissingQueue(t *testing.T) {
	mlmtest.Fault(t, "disk", "queue directory missing for mlm-accept", "exit 75 with 4.3.0")
	dir := newList(t)
	os.RemoveAll(filepath.Join(dir, "queue", "incoming"))
	code, stderr := accept(t, dir, strings.NewReader(smallPost), nil)
	if code != 75 || !strings.HasPrefix(stderr, "4.3.0 mlm-accept: incoming: ") {
		t.Errorf("missing queue: exit %d, stderr %q", code, stderr)
	}
}

// TestAcceptDiskFull: on a full file system mlm-accept exits 75 and
// leaves nothing in new/ or tmp/; once there is room it succeeds.
func TestAcceptDiskFull(t *testing.T) {
	mlmtest.Fault(t, "disk", "ENOSPC on a full tmpfs in mlm-accept", "exit 75, nothing in new/ or tmp/, success after space is freed")
	dir := newList(t)
	q := filepath.Join(dir, "queue", "incoming")
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,size=64k", "tmpfs", q).Run(); err != nil {
		t.Skipf("mount refused: %v", err)
	}
	defer exec.Command("umount", q).Run()
	for _, d := range []string{"tmp", "new", "cur", "bad"} {
		os.Mkdir(filepath.Join(q, d), 0o700)
	}
	big := smallPost + strings.Repeat("0123456789abcdef\n", 20_000) // 340 KB
	code, stderr := accept(t, dir, strings.NewReader(big), nil)
	if code != 75 || !regexp.MustCompile(`^4\.3\.0 mlm-accept: incoming: .*no space left on device\n$`).MatchString(stderr) {
		t.Errorf("full disk: exit %d, stderr %q; want 75, 4.3.0, ENOSPC", code, stderr)
	}
	if n := append(mlmtest.Names(t, filepath.Join(q, "new")), mlmtest.Names(t, filepath.Join(q, "tmp"))...); len(n) != 0 {
		t.Errorf("left behind: %v", n)
	}
	if code, stderr := accept(t, dir, strings.NewReader(smallPost), nil); code != 0 {
		t.Errorf("after the fault: exit %d, %s", code, stderr)
	}
}

// TestAcceptKilled: killed with SIGKILL while reading, mlm-accept leaves
// nothing in new/: the MTA, which saw no exit 0, will retry.
func TestAcceptKilled(t *testing.T) {
	mlmtest.Fault(t, "crash", "SIGKILL of mlm-accept while it reads the message", "nothing in new/; no exit 0, so the MTA retries")
	dir := newList(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "mlm-accept"), dir)
	cmd.Env = append(os.Environ(), "SENDER=alice@example.org")
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	// Half a message, then wait until it is writing its tmp file.
	pw.Write([]byte(smallPost + strings.Repeat("line\n", 20_000)))
	tmp := filepath.Join(dir, "queue", "incoming", "tmp")
	for i := 0; len(mlmtest.Names(t, tmp)) == 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	pw.Close()
	if len(mlmtest.Names(t, tmp)) == 0 {
		t.Errorf("killed before it wrote anything; the test proves nothing")
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
		t.Errorf("new/ after SIGKILL = %v; want empty", n)
	}
	if cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("exit 0 after SIGKILL")
	}
}

// TestAcceptTerminated: SIGTERM (a shutdown's, or a hand's) while
// mlm-accept writes the record is a temporary failure, exit 75 with one
// 4.3.0 line, not a death by signal, which Exim's pipe transport takes
// as a permanent failure and bounces the post (unless freeze_signal).
// A refusal already made stands, as at the deadline. A signal ignored
// by whoever started it (nohup) stays ignored: the post is queued.
func TestAcceptTerminated(t *testing.T) {
	mlmtest.Fault(t, "crash", "SIGTERM, SIGINT or SIGHUP of mlm-accept while it writes the record", "exit 75, one 4.3.0 line (a refusal made already: its status), nothing in new/; the MTA retries, Exim included")
	for _, tc := range []struct {
		sig     syscall.Signal
		maxsize string
		ignored bool // started with the signal ignored, as by nohup(1)
		code    int
		stderr  string
	}{
		{syscall.SIGTERM, "", false, 75, "4.3.0 mlm-accept: terminated\n"},
		{syscall.SIGINT, "", false, 75, "4.3.0 mlm-accept: interrupt\n"},
		{syscall.SIGHUP, "", false, 75, "4.3.0 mlm-accept: hangup\n"},
		{syscall.SIGTERM, "100", false, 65, "5.3.4 mlm-accept: message bigger than 100 octets\n"},
		{syscall.SIGHUP, "", true, 0, ""},
	} {
		name := tc.sig.String() + map[bool]string{true: " over maxsize"}[tc.maxsize != ""] + map[bool]string{true: " under nohup"}[tc.ignored]
		t.Run(name, func(t *testing.T) {
			dir := newList(t)
			if tc.maxsize != "" {
				if err := os.WriteFile(filepath.Join(dir, "maxsize"), []byte(tc.maxsize+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The child's disposition is set either way: this test may
			// itself run with SIGHUP or SIGINT ignored (under nohup, or
			// started in the background by a shell without job control),
			// and mlm-accept, which keeps an inherited SIG_IGN, would
			// then wait on its open input for ever. Caught here, the
			// signal is the default again in the child (execve); a
			// shell's trap '' ignores it there (and could not undo an
			// ignore it inherited itself).
			cmd := exec.Command(filepath.Join(binDir, "mlm-accept"), dir)
			if tc.ignored {
				cmd = exec.Command("sh", "-c", `trap '' `+strings.TrimPrefix(unix.SignalName(tc.sig), "SIG")+`; exec "$0" "$@"`, cmd.Path, dir)
			} else {
				caught := make(chan os.Signal, 1)
				signal.Notify(caught, tc.sig)
				defer signal.Stop(caught)
			}
			pw, stderr := startFed(t, cmd)
			// More than a pipe holds, so the write below returns only
			// once mlm-accept has read most of it: by then it writes its
			// tmp file (or, over maxsize, has refused the message and
			// reads the rest), with its signal handlers long set.
			pw.Write([]byte(smallPost + strings.Repeat("line\n", 100_000)))
			tmp := filepath.Join(dir, "queue", "incoming", "tmp")
			if tc.maxsize == "" && len(mlmtest.Names(t, tmp)) == 0 {
				t.Fatalf("nothing in tmp/ after 500 kB read; the test proves nothing")
			}
			cmd.Process.Signal(tc.sig)
			if tc.ignored {
				// Still reading: the end of the post is its to queue.
				pw.Close()
			}
			cmd.Wait()
			if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
				t.Errorf("mlm-accept died by %v; want exit %d, which every MTA reads as it should", ws.Signal(), tc.code)
			} else if code := cmd.ProcessState.ExitCode(); code != tc.code || stderr.String() != tc.stderr {
				t.Errorf("after %v: exit %d, stderr %q; want %d and %q", tc.sig, code, stderr.String(), tc.code, tc.stderr)
			}
			want := 0
			if tc.ignored {
				want = 1
			}
			if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != want {
				t.Errorf("new/ after %v = %v; want %d records", tc.sig, n, want)
			}
		})
	}
}

// startFed starts cmd, mlm-accept for a post from alice to the list,
// its input the read end of a pipe, and returns the write end and what
// it writes on standard error. A hang fails the test rather than stop
// the whole run: cmd is killed after two minutes.
func startFed(t *testing.T, cmd *exec.Cmd) (*os.File, *bytes.Buffer) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	cmd.Env = append(os.Environ(), "SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org")
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	watchdog := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	t.Cleanup(func() { watchdog.Stop() })
	return pw, &stderr
}

// TestAcceptNohup: a signal ignored by whoever started mlm-accept
// (nohup) stays ignored, whenever it comes. SIGHUP, then SIGTERM, sent
// while mlm-accept waits for the rest of the post, end it as the SIGTERM
// alone does, "terminated", never "hangup": the runtime hands on the
// signals it catches in the order of their numbers, so one caught
// SIGHUP would be acted on first. (TestAcceptTerminated's post queued
// after a SIGHUP under nohup is queued too when the SIGHUP is caught, if
// the post ends before mlm-accept acts on it.)
func TestAcceptNohup(t *testing.T) {
	dir := newList(t)
	// SIGTERM caught here is the default again in the child (execve),
	// should this test run with it ignored; the shell's trap ignores
	// SIGHUP there, as nohup(1) does.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGTERM)
	defer signal.Stop(caught)
	cmd := exec.Command("sh", "-c", `trap '' HUP; exec "$0" "$@"`, filepath.Join(binDir, "mlm-accept"), dir)
	pw, stderr := startFed(t, cmd)
	// More than a pipe holds: the write returns once mlm-accept reads
	// the post, its signal handlers long set.
	pw.Write([]byte(smallPost + strings.Repeat("line\n", 100_000)))
	cmd.Process.Signal(syscall.SIGHUP)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		t.Errorf("mlm-accept died by %v; want exit 75", ws.Signal())
	} else if code := cmd.ProcessState.ExitCode(); code != 75 || stderr.String() != "4.3.0 mlm-accept: terminated\n" {
		t.Errorf("SIGHUP under nohup, then SIGTERM: exit %d, stderr %q; want 75 and %q", code, stderr.String(), "4.3.0 mlm-accept: terminated\n")
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
		t.Errorf("new/ = %v; want nothing queued", n)
	}
}

// TestAcceptSignalWhileCommitting: a SIGTERM that comes once mlm-accept
// commits the record, here as strace injects it at the link of the
// record into new/, waits for the commit: exit 0 and the record queued.
// Never 75 from then on: a record linked into new/ a moment later, or
// already, is a post the MTA then delivers a second time. strace holds
// the link's return for 0.2 s, so that a handler that would exit 75 has
// run by then; the code that waits passes whatever the delay.
func TestAcceptSignalWhileCommitting(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	dir := newList(t)
	// Caught here, SIGTERM is the default again in the child (execve),
	// should this test run with it ignored.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGTERM)
	defer signal.Stop(caught)
	cmd := exec.Command("strace", "-f", "-o", "/dev/null", "-e", "trace=%file,%desc", "-e", "inject=link,linkat:signal=SIGTERM:delay_exit=200000",
		filepath.Join(binDir, "mlm-accept"), dir)
	cmd.Env = append(os.Environ(), "SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org")
	cmd.Stdin = strings.NewReader(smallPost)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new"))
	if err != nil || stderr.String() != "" || len(n) != 1 {
		t.Errorf("SIGTERM at the record's fsync: %v, stderr %q, new/ %v; want exit 0, nothing said, the record queued", err, stderr.String(), n)
	}
}

// TestAcceptFsyncOrder: exit 0 comes only after the record is fsynced,
// linked into new/ and the directory fsynced, in that order (strace).
func TestAcceptFsyncOrder(t *testing.T) {
	mlmtest.Fault(t, "crash", "order of durable steps in mlm-accept (strace)", "open tmp, fsync tmp, link into new/, fsync new/, then exit 0")
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	dir := newList(t)
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command("strace", "-f", "-o", trace, "-e", "trace=openat,fsync,link,linkat,exit_group",
		filepath.Join(binDir, "mlm-accept"), dir)
	cmd.Env = append(os.Environ(), "SENDER=alice@example.org")
	cmd.Stdin = strings.NewReader(smallPost)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace mlm-accept: %v: %s", err, out)
	}
	steps := fsyncSteps(t, trace)
	want := []string{"open tmp", "fsync tmp", "link tmp new", "open new/", "fsync new/", "exit 0"}
	if strings.Join(steps, "; ") != strings.Join(want, "; ") {
		t.Errorf("order of durable steps:\n got %v\nwant %v", steps, want)
	}
}

// fsyncSteps reduces an strace log to the steps that make a record
// durable, naming file descriptors by what they were opened for.
func fsyncSteps(t *testing.T, trace string) []string {
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds := map[string]string{}
	// Go's threads interleave, so a call may be logged "unfinished" and
	// "resumed" on two lines: match where the call starts. A failed
	// fsync or link makes mlm-accept exit non-zero, which is checked.
	open := regexp.MustCompile(`openat\(AT_FDCWD, "([^"]+)", ([^)]*)\) = (\d+)`)
	fsync := regexp.MustCompile(`fsync\((\d+)`)
	link := regexp.MustCompile(`link(?:at)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"`)
	exit := regexp.MustCompile(`exit_group\((\d+)`)
	kind := func(p string) string {
		switch {
		case strings.Contains(p, "/queue/incoming/tmp/"):
			return "tmp"
		case strings.HasSuffix(p, "/queue/incoming/new"):
			return "new/"
		case strings.Contains(p, "/queue/incoming/new/"):
			return "new"
		}
		return ""
	}
	var steps []string
	exited := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := open.FindStringSubmatch(line); m != nil && kind(m[1]) != "" {
			fds[m[3]] = kind(m[1])
			steps = append(steps, "open "+kind(m[1]))
		} else if m := fsync.FindStringSubmatch(line); m != nil && fds[m[1]] != "" {
			steps = append(steps, "fsync "+fds[m[1]])
		} else if m := link.FindStringSubmatch(line); m != nil {
			steps = append(steps, fmt.Sprintf("link %s %s", kind(m[1]), kind(m[2])))
		} else if m := exit.FindStringSubmatch(line); m != nil && !exited {
			// Only the first counts: strace once logged the one exit
			// on two lines, in one CI run of many.
			steps = append(steps, "exit "+m[1])
			exited = true
		}
	}
	return steps
}

// TestAcceptDeadline: an MTA that never ends the message gets a
// temporary failure when the deadline passes, not a hung delivery.
func TestAcceptDeadline(t *testing.T) {
	mlmtest.Fault(t, "input", "a message that never ends (stdin held open) to mlm-accept", "exit 75 at the deadline with 4.3.0")
	dir := newList(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	pw.Write([]byte(smallPost))
	code, stderr := accept(t, dir, pr, func(c *exec.Cmd) { c.Args = append(c.Args[:1], "-T", "200ms", dir) })
	if code != 75 || stderr != "4.3.0 mlm-accept: deadline of 200ms exceeded\n" {
		t.Errorf("deadline: exit %d, stderr %q", code, stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "incoming", "new")); len(n) != 0 {
		t.Errorf("new/ = %v", n)
	}
}

// TestAcceptDeadlineAfterVerdict: a message found too big is refused
// (65) even if the MTA, still writing it, keeps mlm-accept reading past
// its deadline: the refusal stands, not a temporary failure.
func TestAcceptDeadlineAfterVerdict(t *testing.T) {
	dir := newList(t)
	if err := os.WriteFile(filepath.Join(dir, "maxsize"), []byte("100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	pw.Write([]byte("Subject: big\n\n" + strings.Repeat("x", 1000) + "\n"))
	code, stderr := accept(t, dir, pr, func(c *exec.Cmd) { c.Args = append(c.Args[:1], "-T", "200ms", dir) })
	if code != 65 || stderr != "5.3.4 mlm-accept: message bigger than 100 octets\n" {
		t.Errorf("exit %d, stderr %q; want 65 and the size", code, stderr)
	}
}
