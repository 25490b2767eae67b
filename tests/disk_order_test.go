package tests

// The order of a durable write, seen in the system calls (strace -y),
// and what a write whose directory fsync fails leaves. On the order:
// a fault injected into every fsync fails the run at the directory's
// fsync whether or not the file's own came before it, so only the order
// shows a file published before it is on disk.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

var (
	diskFsyncRe = regexp.MustCompile(`\bf(?:data)?sync\(\d+<([^>]*)>`)
	// link(2) or rename(2) and their *at forms: the first two quoted
	// paths are from and to.
	diskPublishRe = regexp.MustCompile(`\b(?:link|linkat|rename|renameat|renameat2)\((?:[^"]*?)"([^"]*)",(?:[^"]*?)"([^"]*)"`)
)

// diskOrder runs prog under strace and checks that each file it links
// or renames into dir was fsynced before, and dir after: flushed to
// disk, published, the directory flushed. It returns how many it saw.
func diskOrder(t *testing.T, dir, stdin, prog string, args ...string) int {
	t.Helper()
	log := filepath.Join(t.TempDir(), "strace")
	wrap := diskStrace(t, "-y", "-e", "trace=fsync,fdatasync,link,linkat,rename,renameat,renameat2")
	wrap[4] = log // -o
	if r := diskExec(t, wrap, stdin, nil, filepath.Join(binDir, prog), args...); r.code != 0 {
		t.Fatalf("%s: exit %d: %s", prog, r.code, r.stderr)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return diskOrderLog(t, string(b), dir, prog)
}

// diskOrderLog checks an strace -y log of prog as diskOrder says, and
// returns how many files it saw published into dir.
func diskOrderLog(t testing.TB, log, dir, prog string) int {
	t.Helper()
	synced := map[string]bool{}
	var pending []string // published into dir, the directory not fsynced since
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "resumed>") {
			continue
		}
		if m := diskFsyncRe.FindStringSubmatch(line); m != nil {
			synced[m[1]] = true
			if m[1] == dir {
				pending = nil
			}
			continue
		}
		m := diskPublishRe.FindStringSubmatch(line)
		if m == nil || filepath.Dir(m[2]) != dir || !strings.HasSuffix(line, "= 0") {
			continue
		}
		n++
		if !synced[m[1]] {
			t.Errorf("%s published %s as %s before it fsynced it", prog, m[1], m[2])
		}
		pending = append(pending, m[2])
	}
	if len(pending) > 0 {
		t.Errorf("%s exited 0 with %v published and %s not fsynced after", prog, pending, dir)
	}
	return n
}

// TestDiskOrderLog: diskOrderLog reports a file linked into the
// directory before its fsync, and a directory not fsynced after a link,
// and takes the order of a durable write.
func TestDiskOrderLog(t *testing.T) {
	const (
		syncTmp = "7 fsync(3</q/tmp/r1>) = 0\n"
		link    = "7 linkat(AT_FDCWD, \"/q/tmp/r1\", AT_FDCWD, \"/q/new/r1\", 0) = 0\n"
		syncNew = "7 fsync(4</q/new>) = 0\n"
	)
	for _, tc := range []struct {
		what, log, want string
	}{
		{"in order", syncTmp + link + syncNew, ""},
		{"linked before its fsync", link + syncTmp + syncNew, "mlm-enqueue published /q/tmp/r1 as /q/new/r1 before it fsynced it"},
		{"new/ not fsynced after", syncNew + syncTmp + link, "mlm-enqueue exited 0 with [/q/new/r1] published and /q/new not fsynced after"},
	} {
		r := &recorder{TB: t}
		if n := diskOrderLog(r, tc.log, "/q/new", "mlm-enqueue"); n != 1 || strings.Join(r.errs, "; ") != tc.want {
			t.Errorf("%s: diskOrderLog saw %d and reported %q; want 1 and %q", tc.what, n, r.errs, tc.want)
		}
	}
}

// TestDiskFsyncBeforePublish: mlm-enqueue (a link into new/) and mlm-sub
// (a rename over subscribers) flush each file before its name appears,
// and the directory after, as mlm-enqueue(1) and DESIGN.md §4 say.
func TestDiskFsyncBeforePublish(t *testing.T) {
	t.Run("mlm-enqueue", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "order of fsync, link and directory fsync (strace -y) in mlm-enqueue", "each record fsynced before its link into new/, new/ fsynced after")
		q := diskPath(t, openTempDir(t, "mlm-disk-")) + "/q"
		diskQueueDirs(t, q)
		in, recs := diskRecords(3, 50)
		if n := diskOrder(t, filepath.Join(q, "new"), in, "mlm-enqueue", q); n != len(recs) {
			t.Errorf("saw %d links into new/; want %d", n, len(recs))
		}
	})
	t.Run("mlm-sub", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "order of fsync, rename and directory fsync (strace -y) in mlm-sub", "the new subscribers fsynced before its rename, the list directory fsynced after")
		dir := filepath.Join(diskPath(t, openTempDir(t, "mlm-disk-")), "dev")
		mlm(t, "", nil, "mlm-newlist", dir, "dev@lists.example.org")
		if n := diskOrder(t, dir, "", "mlm-sub", dir, "new1@example.org"); n == 0 {
			t.Errorf("saw no rename into the list directory")
		}
	})
}

// TestDiskEnqueueTakesBack: where the fsync of new/ after the link
// fails, mlm-enqueue exits 75 and takes the record it linked back out of
// new/: the stage before keeps its input and runs again, and a copy left
// in new/, claimed and delivered meanwhile, would be queued a second
// time by that run.
func TestDiskEnqueueTakesBack(t *testing.T) {
	mlmtest.Fault(t, "disk", "ENOSPC at fsync of new/ after the link (strace -P new/) in mlm-enqueue", "exit 75 and new/ without the record it linked")
	q := diskPath(t, openTempDir(t, "mlm-disk-")) + "/q"
	diskQueueDirs(t, q)
	in, _ := diskRecords(1, 50)
	r := diskExec(t, diskStrace(t, "-P", filepath.Join(q, "new"), "-e", "inject=fsync:error=ENOSPC"), in, nil, filepath.Join(binDir, "mlm-enqueue"), q)
	if r.code != 75 {
		t.Errorf("exit %d: %s; want 75", r.code, r.stderr)
	}
	if n := mlmtest.Names(t, filepath.Join(q, "new")); len(n) != 0 {
		t.Errorf("after exit %d, new/ holds %v: a record not known to be durable, which the run tried again queues a second time once it has gone", r.code, n)
	}
}
