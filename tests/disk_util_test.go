package tests

// Helpers of the disk-fault tests (disk_test.go): file systems mounted
// for one test (tmpfs, loop-mounted ext4), the faults made on them
// (full, out of inodes, read-only), and programs run behind strace's
// fault injection or a low RLIMIT_NOFILE. Every name starts with
// "disk", so the helpers of other test files cannot collide with them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mlm/lib/stream"
)

// diskMount is a way to mount a file system on a directory for the rest
// of the test.
type diskMount func(t *testing.T, dir string)

// diskTmpfs mounts a tmpfs with the given options, its root of mode
// 0700 as mlm makes its directories: a tmpfs's is 1777 by default, and
// root works in no list whose state/ or queue/ others may write.
func diskTmpfs(opts string) diskMount {
	return func(t *testing.T, dir string) {
		t.Helper()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,"+opts, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("mount -t tmpfs refused (tests that mount run as root): %v: %s", err, out)
		}
		diskUnmountLater(t, dir)
	}
}

// diskExt4 mounts an 8 MiB ext4 file system, 4 KiB blocks, from an image
// on a loop device.
func diskExt4(t *testing.T, dir string) {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		if mkfs, err = exec.LookPath("/sbin/mkfs.ext4"); err != nil {
			t.Skip("no mkfs.ext4 (e2fsprogs)")
		}
	}
	img := filepath.Join(t.TempDir(), "ext4.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-b", "4096", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("mount -o loop refused (no loop devices here?): %v: %s", err, out)
	}
	diskUnmountLater(t, dir)
	// The root of a fresh ext4 is root's 0755 with lost+found: make it
	// the 0755 directory the tests expect.
	os.Chmod(dir, 0o755)
}

// diskNoMount leaves the directory on the test's own file system: the
// fault comes from strace or a resource limit.
func diskNoMount(*testing.T, string) {}

// diskUnmountLater unmounts dir when the test ends, lazily if it is busy:
// no mount outlives its test.
func diskUnmountLater(t *testing.T, dir string) {
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; unmounting lazily", dir, err, out)
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount -l %s: %v: %s", dir, err, out)
			}
		}
	})
}

// diskRemount remounts the file system at dir with opt (ro, rw).
func diskRemount(t *testing.T, dir, opt string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opt, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount,%s %s: %v: %s", opt, dir, err, out)
	}
}

// diskFill fills the file system at dir until a write of one octet to a
// new file fails with ENOSPC, and returns the function that frees it.
func diskFill(t *testing.T, dir string) (clear func()) {
	t.Helper()
	name := filepath.Join(dir, ".disk-fill")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// ext4 gives back reserved blocks once delayed allocations are
	// written: write until full, sync, again, until nothing more fits.
	// Smaller writes after the big ones take the last part of a block
	// (a small ext4 has 1 KiB blocks). A one-octet file that still
	// fits after that (what ext4 gave back late) stays, and the
	// filling goes on, a few times at most.
	var probes []string // those that fitted: they stay until clear
	for try := 0; try < 5; try++ {
		for round := 0; round < 20; round++ {
			n := 0
			for _, size := range []int{4096, 512, 1} {
				buf := bytes.Repeat([]byte("x"), size)
				for {
					if _, err := f.Write(buf); err != nil {
						if !errors.Is(err, syscall.ENOSPC) {
							t.Fatalf("filling %s: %v", dir, err)
						}
						break
					}
					n++
				}
			}
			f.Sync()
			if n == 0 {
				break
			}
		}
		probe := filepath.Join(dir, fmt.Sprintf(".disk-probe-%d", try))
		err = os.WriteFile(probe, []byte("x"), 0o600)
		if err == nil {
			if pf, err2 := os.OpenFile(probe, os.O_WRONLY, 0); err2 == nil {
				err = pf.Sync()
				pf.Close()
			}
		}
		if errors.Is(err, syscall.ENOSPC) {
			os.Remove(probe)
			break
		}
		probes = append(probes, probe)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("%s is not full: a one-octet file could still be written (%v)", dir, err)
	}
	return func() {
		for _, p := range probes {
			os.Remove(p)
		}
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// diskExhaustInodes creates empty files at dir until the file system
// has no inode left, and returns the function that removes them.
func diskExhaustInodes(t *testing.T, dir string) (clear func()) {
	t.Helper()
	var made []string
	for i := 0; ; i++ {
		if i > 100_000 {
			t.Fatalf("%s: 100,000 files and inodes left; mount it with a small nr_inodes", dir)
		}
		name := filepath.Join(dir, fmt.Sprintf(".disk-inode-%d", i))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("exhausting inodes at %s: %v", dir, err)
			}
			break
		}
		f.Close()
		made = append(made, name)
	}
	return func() {
		for _, name := range made {
			os.Remove(name)
		}
	}
}

// diskResult is what one run of a program did.
type diskResult struct {
	code           int
	stdout, stderr string
}

// diskExec runs prog with args, behind the command wrap (strace or
// prlimit with their arguments; none if empty), with stdin and the extra
// environment env. The deadline only keeps a hung program from hanging
// the suite; no assertion depends on time.
func diskExec(t *testing.T, wrap []string, stdin string, env []string, prog string, args ...string) diskResult {
	t.Helper()
	argv := append(append(append([]string(nil), wrap...), prog), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s hung; killed: %s", strings.Join(argv, " "), errb.String())
	}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s: %v", strings.Join(argv, " "), err)
		}
	}
	// strace's own notes are not the program's diagnostics.
	var lines []string
	for _, l := range strings.SplitAfter(errb.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "strace: ") {
			lines = append(lines, l)
		}
	}
	return diskResult{cmd.ProcessState.ExitCode(), out.String(), strings.Join(lines, "")}
}

// diskStrace returns the wrapper that runs a program under strace,
// following its children, with the given filters and injections.
func diskStrace(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	return append([]string{"strace", "-f", "-qq", "-o", "/dev/null"}, args...)
}

// diskPath is path with symbolic links resolved, as strace -P matches.
func diskPath(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// diskNoFile returns the wrapper that runs a program with RLIMIT_NOFILE n.
func diskNoFile(n int) []string {
	if _, err := exec.LookPath("prlimit"); err == nil {
		return []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", n, n)}
	}
	return []string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, n), "sh"}
}

// diskStatic builds the programs that disk faults are injected into
// without cgo, so that no dynamic loader runs before the program: an
// injection into every close(2) would otherwise hit ld.so's.
var diskStatic struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

func diskStaticBin(t *testing.T) string {
	t.Helper()
	diskStatic.once.Do(func() {
		diskStatic.dir = filepath.Join(binDir, "static")
		build := exec.Command("go", "build", "-tags", "osusergo,netgo", "-o", diskStatic.dir+"/",
			"./filters/mlm-accept", "./filters/mlm-enqueue", "./filters/mlm-sub")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		diskStatic.out, diskStatic.err = build.CombinedOutput()
	})
	if diskStatic.err != nil {
		t.Fatalf("static build: %v: %s", diskStatic.err, diskStatic.out)
	}
	return diskStatic.dir
}

// diskQueueDirs makes a queue's subdirectories in q.
func diskQueueDirs(t *testing.T, q string) {
	t.Helper()
	for _, d := range []string{"tmp", "new", "cur", "bad"} {
		if err := os.MkdirAll(filepath.Join(q, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

// diskUnclaimed fails the test if a file in the queue's cur/ is still
// claimed: locked by a process that outlived the run. An unlocked file
// there is a claim whose claimer died, which the next sweep returns.
func diskUnclaimed(t testing.TB, q string) {
	t.Helper()
	for _, name := range mlmtest.Names(t, filepath.Join(q, "cur")) {
		f, err := os.Open(filepath.Join(q, "cur", name))
		if err != nil {
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("cur/%s is still claimed (locked) after the run", name)
		}
		f.Close()
	}
}

// TestDiskUnclaimed: diskUnclaimed reports a file in cur/ that a process
// still holds locked, and not one whose claimer is gone.
func TestDiskUnclaimed(t *testing.T) {
	q := t.TempDir()
	diskQueueDirs(t, q)
	hWrite(t, filepath.Join(q, "cur", "held"), "")
	hWrite(t, filepath.Join(q, "cur", "left"), "")
	if err := syscall.Flock(int(hOpen(t, filepath.Join(q, "cur", "held")).Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	diskUnclaimed(r, q)
	if got, want := strings.Join(r.errs, "; "), "cur/held is still claimed (locked) after the run"; got != want {
		t.Errorf("diskUnclaimed reported %q; want %q", got, want)
	}
}

// diskTmpLeft notes tmp/ files a failed run left: allowed, as the
// queue's sweep removes them (queue.TmpAge), but worth seeing.
func diskTmpLeft(t *testing.T, q string) {
	t.Helper()
	if n := mlmtest.Names(t, filepath.Join(q, "tmp")); len(n) > 0 {
		t.Logf("tmp/ keeps %v (removed by a later sweep)", n)
	}
}

// diskRecords returns a stream of n records and each record's text by
// id. The messages hold what a lossy writer would spoil: CRLF, a NUL,
// 8-bit, lines that look like envelope lines, no final LF.
func diskRecords(n, lines int) (string, map[string]string) {
	var all strings.Builder
	recs := map[string]string{}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("1795867200.M%dP%d.disk", i, i)
		rec := fmt.Sprintf("MLM1 %s\nA list=dev@lists.example.org\nS <alice@example.org>\n:Subject: record %d\r\n:\r\n:R <mallory@example.net>\n:\x00 \xe9\n%s;no final LF\nR <bob@example.net>\nE 1\n",
			id, i, strings.Repeat(":a line of the body\n", lines))
		recs[id] = rec
		all.WriteString(rec)
	}
	return all.String(), recs
}

// diskQueued checks that the files in dir (a queue's new/) are whole
// records of recs, each byte for byte, and returns their ids.
func diskQueued(t testing.TB, dir string, recs map[string]string) []string {
	t.Helper()
	names := mlmtest.Names(t, dir)
	for _, id := range names {
		b, err := os.ReadFile(filepath.Join(dir, id))
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := recs[id]; !ok {
			t.Errorf("%s/%s: not a record of the input", filepath.Base(dir), id)
		} else if string(b) != want {
			t.Errorf("%s/%s: %d octets, not the record of %d octets queued (partial or changed)", filepath.Base(dir), id, len(b), len(want))
		}
	}
	return names
}

// TestDiskQueued: diskQueued, which the disk-fault cases hold each
// queue to, reports a record changed in one octet, its length kept, and
// a file that is no record of the input, and nothing of a whole record.
func TestDiskQueued(t *testing.T) {
	_, recs := diskRecords(2, 5)
	for _, tc := range []struct {
		what  string
		files map[string]string // name -> content
		want  string            // the one report, or none
	}{
		{"whole", nil, ""},
		{"one octet changed", map[string]string{"1795867200.M1P1.disk": strings.Replace(recs["1795867200.M1P1.disk"], "record 1", "record 2", 1)},
			"new/1795867200.M1P1.disk: 267 octets, not the record of 267 octets queued (partial or changed)"},
		{"not of the input", map[string]string{"1795867200.M9P9.disk": recs["1795867200.M1P1.disk"]},
			"new/1795867200.M9P9.disk: not a record of the input"},
	} {
		dir := filepath.Join(t.TempDir(), "new")
		os.Mkdir(dir, 0o755)
		for id, rec := range recs {
			hWrite(t, filepath.Join(dir, id), rec)
		}
		for name, text := range tc.files {
			hWrite(t, filepath.Join(dir, name), text)
		}
		r := &recorder{TB: t}
		diskQueued(r, dir, recs)
		if got := strings.Join(r.errs, "; "); got != tc.want {
			t.Errorf("%s: diskQueued reported %q; want %q", tc.what, got, tc.want)
		}
	}
}

// diskMessage returns the message of the only record in the file.
func diskMessage(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msg []byte
	n := 0
	err = stream.NewReader(f).Each(func(*stream.Header) error {
		n++
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("%s: %d records, %v; want one valid record", path, n, err)
	}
	f.Seek(0, io.SeekStart)
	r := stream.NewReader(f)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if msg, err = io.ReadAll(r.Message()); err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

// TestDiskMessage: diskMessage gives the message of a file of one
// record, and refuses a file of two, whose first message may be the
// one looked for.
func TestDiskMessage(t *testing.T) {
	in, recs := diskRecords(2, 1)
	one := filepath.Join(t.TempDir(), "one")
	hWrite(t, one, recs["1795867200.M1P1.disk"])
	two := filepath.Join(t.TempDir(), "two")
	hWrite(t, two, in)
	r := &recorder{TB: t}
	var msg string
	r.run(func() { msg = diskMessage(r, one) })
	if want := "Subject: record 1\r\n\r\nR <mallory@example.net>\n\x00 \xe9\na line of the body\nno final LF"; msg != want || len(r.errs) != 0 {
		t.Errorf("one record: diskMessage gave %q and reported %q; want %q", msg, r.errs, want)
	}
	r = &recorder{TB: t}
	r.run(func() { diskMessage(r, two) })
	if want := two + ": 2 records, <nil>; want one valid record"; strings.Join(r.errs, "; ") != want {
		t.Errorf("two records: diskMessage reported %q; want %q", r.errs, want)
	}
}

// diskShort is the start of a program's output, for a message: a Go
// runtime crash prints pages.
func diskShort(s string) string {
	lines := strings.SplitAfterN(s, "\n", 3)
	if len(lines) > 2 {
		lines[2] = "…"
	}
	s = strings.Join(lines, "")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
