package tests

// Disk faults (issue 6): for each program that writes durably, each
// fault of the disk under it must give exit 75 (mlm-run: the record left
// waiting and the run reporting it), leave nothing half-visible in a
// queue, and once the fault is gone a re-run must deliver the record
// exactly once, byte for byte.
//
// Real faults where the kernel can make them: a full tmpfs, a full ext4
// on a loop device, a tmpfs out of inodes, a read-only remount, a low
// RLIMIT_NOFILE. The faults a local file system gives only by chance
// (ENOSPC from fsync or close, a failing link or rename) are injected
// with strace, into every call or, with -P, into the calls on one path:
// strace counts calls per thread, and Go's threads make "the Nth call"
// a matter of luck, so no injection here counts.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// diskSubject is one program set up over a directory that may fault.
type diskSubject struct {
	mnt string // the directory the fault is made in
	// late is set for a fault that strikes after the work has left the
	// host (a delivery the journal then fails to record): a duplicate is
	// then the one answer that loses nothing.
	late bool
	// run runs the program once, behind wrap, from the programs in bin.
	run func(t *testing.T, wrap []string, bin string) diskResult
	// failed checks a run under the fault: its status and report, and
	// that nothing is half-visible.
	failed func(t *testing.T, r diskResult)
	// done reports whether a run finished the work.
	done func(t *testing.T, r diskResult) bool
	// verify checks, after a run that finished, that the work is there
	// exactly once, byte for byte.
	verify func(t *testing.T)
}

// diskFault makes a fault for a subject: the file system to set it up
// on, then the fault itself, returning the wrapper to run the program
// behind, the directory of the programs to run, and what clears it.
type diskFault struct {
	name  string
	mount diskMount
	make  func(t *testing.T, s *diskSubject) (wrap []string, bin string, clear func())
	late  bool
	// harmless is set for a fault that strikes once the work is
	// durable (a close after a successful fsync): the run must simply
	// succeed, and this is the result asserted.
	harmless string
}

// The faults every durable writer meets in the directory it writes.
var diskRealFaults = []diskFault{
	{"ENOSPC at write (full tmpfs)", diskTmpfs("size=2m"), func(t *testing.T, s *diskSubject) ([]string, string, func()) {
		return nil, binDir, diskFill(t, s.mnt)
	}, false, ""},
	{"ENOSPC at write (full ext4 on a loop device)", diskExt4, func(t *testing.T, s *diskSubject) ([]string, string, func()) {
		return nil, binDir, diskFill(t, s.mnt)
	}, false, ""},
	{"no inode left (tmpfs nr_inodes)", diskTmpfs("size=8m,nr_inodes=400"), func(t *testing.T, s *diskSubject) ([]string, string, func()) {
		return nil, binDir, diskExhaustInodes(t, s.mnt)
	}, false, ""},
	{"EROFS (tmpfs remounted read-only)", diskTmpfs("size=8m"), func(t *testing.T, s *diskSubject) ([]string, string, func()) {
		diskRemount(t, s.mnt, "ro")
		return nil, binDir, func() { diskRemount(t, s.mnt, "rw") }
	}, false, ""},
}

// diskInject is a fault injected with strace: the arguments after the
// program's wrapper; static asks for the programs built without cgo.
func diskInject(name string, static bool, args func(s *diskSubject) []string) diskFault {
	return diskFault{name, diskNoMount, func(t *testing.T, s *diskSubject) ([]string, string, func()) {
		bin := binDir
		if static {
			bin = diskStaticBin(t)
		}
		return diskStrace(t, args(s)...), bin, nil
	}, false, ""}
}

// diskLate marks a fault that strikes after the work left the host.
func diskLate(f diskFault) diskFault { f.late = true; return f }

// diskCases runs the subject made by newSubject under each fault: the
// fault, then the same run again once it has cleared.
func diskCases(t *testing.T, prog, result string, faults []diskFault, newSubject func(*testing.T, diskMount) *diskSubject) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if f.harmless != "" {
				mlmtest.Fault(t, "disk", f.name+" in "+prog, f.harmless)
			} else {
				mlmtest.Fault(t, "disk", f.name+" in "+prog, result)
			}
			s := newSubject(t, f.mount)
			s.late = f.late
			wrap, bin, clear := f.make(t, s)
			r := s.run(t, wrap, bin)
			if f.harmless != "" {
				if !s.done(t, r) {
					t.Errorf("exit %d: %s; want success", r.code, diskShort(r.stderr))
				}
				s.verify(t)
				return
			}
			s.failed(t, r)
			if clear != nil {
				clear()
			}
			r = s.run(t, nil, binDir)
			if !s.done(t, r) {
				t.Fatalf("once the fault cleared: exit %d: %s", r.code, diskShort(r.stderr))
			}
			s.verify(t)
		})
	}
	// Too many open files: every limit from 3 descriptors up fails
	// cleanly, until the first that is enough.
	t.Run("EMFILE", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "EMFILE (RLIMIT_NOFILE 3, 4, ... until it works) in "+prog, result)
		s := newSubject(t, diskNoMount)
		for n := 3; ; n++ {
			if n > 64 {
				t.Fatalf("still failing with 64 descriptors")
			}
			r := s.run(t, diskNoFile(n), binDir)
			if n == 3 && r.code == 0 {
				// Three are standard input, output and error: nothing
				// more opens, so the limit did not take.
				t.Fatalf("works with RLIMIT_NOFILE 3: the limit was not set (%v)", diskNoFile(n))
			}
			if r.code == 0 && s.done(t, r) {
				t.Logf("works from RLIMIT_NOFILE %d on", n)
				break
			}
			msg, _, _ := strings.Cut(r.stderr, "\n")
			t.Logf("RLIMIT_NOFILE %d: exit %d: %s", n, r.code, msg)
			s.failed(t, r)
		}
		s.verify(t)
	})
}

// diskQueueWriteFaults are injected into a program that writes a record
// into a queue (lib/queue Put): at each step of its commit.
var diskQueueWriteFaults = []diskFault{
	diskInject("ENOSPC at fsync of the record (strace)", false, func(s *diskSubject) []string {
		return []string{"-e", "inject=fsync:error=ENOSPC"}
	}),
	diskInject("ENOSPC at fsync of new/ after the link (strace -P new/)", false, func(s *diskSubject) []string {
		return []string{"-P", filepath.Join(s.mnt, "new"), "-e", "inject=fsync:error=ENOSPC"}
	}),
	diskInject("ENOSPC at close of the record (strace, static build)", true, func(s *diskSubject) []string {
		return []string{"-e", "inject=close:error=ENOSPC"}
	}),
	diskInject("ENOSPC at link into new/ (strace)", false, func(s *diskSubject) []string {
		return []string{"-e", "inject=?link,linkat:error=ENOSPC"}
	}),
}

// diskPost is the post mlm-accept takes: CRLF header, a NUL, 8-bit, a
// body line that looks like an envelope line, no final LF; 30 KB.
var diskPost = "From: alice@example.org\r\nSubject: disk\r\n\r\nR <mallory@example.net>\n\x00 \xe9\n" +
	strings.Repeat("a line of the post\n", 1500) + "no final LF"

// TestDiskAccept: mlm-accept, MTA to queue/incoming.
func TestDiskAccept(t *testing.T) {
	faults := append(append([]diskFault(nil), diskRealFaults...), diskQueueWriteFaults...)
	diskCases(t, "mlm-accept", "exit 75, one 4.3.0 line, nothing in new/ or cur/; once cleared, the MTA's retry queues the post exactly once, byte-exact",
		faults, diskAcceptSubject)
}

func diskAcceptSubject(t *testing.T, mount diskMount) *diskSubject {
	dir := newList(t)
	q := diskPath(t, filepath.Join(dir, "queue", "incoming"))
	mount(t, q)
	diskQueueDirs(t, q)
	line := regexp.MustCompile(`^4\.3\.0 mlm-accept: [^\n]*\n$`)
	return &diskSubject{
		mnt: q,
		run: func(t *testing.T, wrap []string, bin string) diskResult {
			return diskExec(t, wrap, diskPost, []string{"SENDER=alice@example.org", "RECIPIENT=dev@lists.example.org"},
				filepath.Join(bin, "mlm-accept"), dir)
		},
		failed: func(t *testing.T, r diskResult) {
			t.Helper()
			if r.code != 75 || !line.MatchString(r.stderr) {
				t.Errorf("under the fault: exit %d, stderr %q; want 75 and one 4.3.0 line", r.code, diskShort(r.stderr))
			}
			// A record left in new/ is queued: the MTA, told 75, sends
			// the post again, and the list gets it twice.
			if n := mlmtest.Names(t, filepath.Join(q, "new")); len(n) != 0 {
				t.Errorf("exit %d, yet new/ holds %v: the MTA's retry will queue the post a second time", r.code, n)
			}
			if n := mlmtest.Names(t, filepath.Join(q, "cur")); len(n) != 0 {
				t.Errorf("cur/ holds %v", n)
			}
			diskTmpLeft(t, q)
		},
		done: func(t *testing.T, r diskResult) bool { return r.code == 0 },
		verify: func(t *testing.T) {
			t.Helper()
			n := mlmtest.Names(t, filepath.Join(q, "new"))
			if len(n) != 1 {
				t.Fatalf("new/ holds %d records %v; want the post exactly once", len(n), n)
			}
			if got := diskMessage(t, filepath.Join(q, "new", n[0])); got != diskPost {
				t.Errorf("the queued message differs from the post (%d octets, want %d)", len(got), len(diskPost))
			}
		},
	}
}

// TestDiskEnqueue: mlm-enqueue, a stream of three records into a queue.
func TestDiskEnqueue(t *testing.T) {
	faults := append(append([]diskFault(nil), diskRealFaults...), diskQueueWriteFaults...)
	diskCases(t, "mlm-enqueue", "exit 75, new/ holds only whole records, cur/ nothing; once cleared, a re-run leaves each record in new/ exactly once, byte-exact",
		faults, diskEnqueueSubject)
}

func diskEnqueueSubject(t *testing.T, mount diskMount) *diskSubject {
	q := diskPath(t, openTempDir(t, "mlm-disk-")) + "/q"
	if err := os.Mkdir(q, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(t, q)
	diskQueueDirs(t, q)
	in, recs := diskRecords(3, 500)
	return &diskSubject{
		mnt: q,
		run: func(t *testing.T, wrap []string, bin string) diskResult {
			return diskExec(t, wrap, in, nil, filepath.Join(bin, "mlm-enqueue"), q)
		},
		failed: func(t *testing.T, r diskResult) {
			t.Helper()
			if r.code != 75 || !strings.HasPrefix(r.stderr, "mlm-enqueue: ") {
				t.Errorf("under the fault: exit %d, stderr %q; want 75 and the reason", r.code, diskShort(r.stderr))
			}
			diskQueued(t, filepath.Join(q, "new"), recs)
			if n := mlmtest.Names(t, filepath.Join(q, "cur")); len(n) != 0 {
				t.Errorf("cur/ holds %v", n)
			}
			diskTmpLeft(t, q)
		},
		done: func(t *testing.T, r diskResult) bool { return r.code == 0 },
		verify: func(t *testing.T) {
			t.Helper()
			if n := diskQueued(t, filepath.Join(q, "new"), recs); len(n) != len(recs) {
				t.Errorf("new/ holds %v; want the %d records", n, len(recs))
			}
		},
	}
}

// TestDiskRun: mlm-run moving records from one queue to the next with
// mlm-enqueue, the next queue's disk at fault: the stage fails, the
// record waits in its queue and the run reports it.
func TestDiskRun(t *testing.T) {
	faults := append(append([]diskFault(nil), diskRealFaults...),
		diskInject("ENOSPC at every fsync (strace, run and stage)", false, func(s *diskSubject) []string {
			return []string{"-e", "inject=fsync:error=ENOSPC"}
		}),
		diskInject("ENOSPC at fsync of the next queue's new/ (strace -P)", false, func(s *diskSubject) []string {
			return []string{"-P", filepath.Join(s.mnt, "new"), "-e", "inject=fsync:error=ENOSPC"}
		}),
		diskInject("ENOSPC at link into the next queue (strace)", false, func(s *diskSubject) []string {
			return []string{"-e", "inject=?link,linkat:error=ENOSPC"}
		}),
	)
	diskCases(t, "mlm-run", "the record waits, whole, in new/ of its queue (cur/ unclaimed), the run reports the stage's failure (exit 0, or 75 when mlm-run itself is hit); once cleared, mlm-run -f moves each record exactly once, byte-exact",
		faults, diskRunSubject)
}

func diskRunSubject(t *testing.T, mount diskMount) *diskSubject {
	base := openTempDir(t, "mlm-disk-")
	from, to := filepath.Join(base, "from"), diskPath(t, base)+"/to"
	diskQueueDirs(t, from)
	if err := os.Mkdir(to, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(t, to)
	diskQueueDirs(t, to)
	_, recs := diskRecords(2, 500)
	for id, rec := range recs {
		if err := os.WriteFile(filepath.Join(from, "new", id), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &diskSubject{
		mnt: to,
		run: func(t *testing.T, wrap []string, bin string) diskResult {
			return diskExec(t, wrap, "", nil, filepath.Join(bin, "mlm-run"), "-f", from, "--", filepath.Join(bin, "mlm-enqueue"), to)
		},
		failed: func(t *testing.T, r diskResult) {
			t.Helper()
			if (r.code != 0 && r.code != 75) || r.stderr == "" {
				t.Errorf("under the fault: exit %d, stderr %q; want 0 or 75, and the failure reported", r.code, diskShort(r.stderr))
			}
			waiting := append(diskQueued(t, filepath.Join(from, "new"), recs), diskQueued(t, filepath.Join(from, "cur"), recs)...)
			moved := diskQueued(t, filepath.Join(to, "new"), recs)
			for id := range recs {
				if !diskContains(waiting, id) && !diskContains(moved, id) {
					t.Errorf("record %s is neither waiting nor moved: lost", id)
				}
			}
			if len(waiting) == 0 {
				t.Errorf("no record waits: the fault went unnoticed")
			}
			if n := mlmtest.Names(t, filepath.Join(from, "bad")); len(n) != 0 {
				t.Errorf("bad/ holds %v: a disk fault is not a permanent failure", n)
			}
			diskUnclaimed(t, from)
			diskTmpLeft(t, to)
		},
		done: func(t *testing.T, r diskResult) bool {
			return r.code == 0 && len(mlmtest.Names(t, filepath.Join(from, "new")))+len(mlmtest.Names(t, filepath.Join(from, "cur"))) == 0
		},
		verify: func(t *testing.T) {
			t.Helper()
			if n := diskQueued(t, filepath.Join(to, "new"), recs); len(n) != len(recs) {
				t.Errorf("the next queue holds %v; want the %d records", n, len(recs))
			}
			for _, d := range []string{"new", "cur", "bad"} {
				if n := mlmtest.Names(t, filepath.Join(from, d)); len(n) != 0 {
					t.Errorf("the queue's %s/ still holds %v", d, n)
				}
			}
		},
	}
}

func diskContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDiskRunSettle: mlm-run's own moves in the queue it runs (claim,
// done, defer, fail) on a disk at fault. The faults that strike while a
// stage runs are made by the stage itself, so they come at a fixed point.
func TestDiskRunSettle(t *testing.T) {
	type setup struct {
		from, to string
		recs     map[string]string
		id       string
	}
	mk := func(t *testing.T) setup {
		base := openTempDir(t, "mlm-disk-")
		from, to := diskPath(t, base)+"/from", filepath.Join(base, "to")
		os.Mkdir(from, 0o755)
		diskTmpfs("size=2m")(t, from)
		diskQueueDirs(t, from)
		diskQueueDirs(t, to)
		_, recs := diskRecords(1, 500)
		var id string
		for id = range recs {
			if err := os.WriteFile(filepath.Join(from, "new", id), []byte(recs[id]), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return setup{from, to, recs, id}
	}
	runWith := func(t *testing.T, s setup, wrap []string, stage ...string) diskResult {
		return diskExec(t, wrap, "", nil, filepath.Join(binDir, "mlm-run"), append([]string{"-f", s.from, "--"}, stage...)...)
	}
	enqueue := func(s setup) []string { return []string{filepath.Join(binDir, "mlm-enqueue"), s.to} }
	// after checks the second run, with the plain stage: the record is
	// moved exactly once and the queue is empty.
	after := func(t *testing.T, s setup) {
		t.Helper()
		if r := runWith(t, s, nil, enqueue(s)...); r.code != 0 {
			t.Errorf("once the fault cleared: exit %d: %s", r.code, diskShort(r.stderr))
		}
		if n := diskQueued(t, filepath.Join(s.to, "new"), s.recs); len(n) != 1 {
			t.Errorf("the next queue holds %v; want the record once", n)
		}
		for _, d := range []string{"new", "cur", "bad"} {
			if n := mlmtest.Names(t, filepath.Join(s.from, d)); len(n) != 0 {
				t.Errorf("%s/ still holds %v", d, n)
			}
		}
	}
	// kept checks that the record is still the queue's, whole and not
	// claimed: in new/, or in cur/ for the next sweep.
	kept := func(t *testing.T, s setup, r diskResult) {
		t.Helper()
		if r.code != 75 || r.stderr == "" {
			t.Errorf("under the fault: exit %d, stderr %q; want 75 and the reason", r.code, diskShort(r.stderr))
		}
		n := append(diskQueued(t, filepath.Join(s.from, "new"), s.recs), diskQueued(t, filepath.Join(s.from, "cur"), s.recs)...)
		if len(n) != 1 {
			t.Errorf("the record is not kept in the queue: new/ and cur/ hold %v", n)
		}
		diskUnclaimed(t, s.from)
	}

	t.Run("EROFS at claim", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "EROFS (queue remounted read-only) at claim in mlm-run", "exit 75, the record stays in new/; once rw, moved exactly once")
		s := mk(t)
		diskRemount(t, s.from, "ro")
		kept(t, s, runWith(t, s, nil, enqueue(s)...))
		diskRemount(t, s.from, "rw")
		after(t, s)
	})
	t.Run("EROFS at done", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "EROFS (queue remounted read-only while the stage ran) at done in mlm-run", "exit 75, the record unclaimed in cur/, the next queue has it; once rw, the sweep returns it and the re-run leaves it in the next queue exactly once")
		s := mk(t)
		stage := fmt.Sprintf("%s %s && mount -o remount,ro %s", enqueue(s)[0], s.to, s.from)
		kept(t, s, runWith(t, s, nil, "sh", "-c", stage))
		diskRemount(t, s.from, "rw")
		after(t, s)
	})
	t.Run("EROFS at defer", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "EROFS (queue remounted read-only while the stage ran) at defer in mlm-run", "exit 75, the record unclaimed in cur/; once rw, the sweep returns it and it is moved exactly once")
		s := mk(t)
		stage := fmt.Sprintf("cat >/dev/null; mount -o remount,ro %s; exit 75", s.from)
		kept(t, s, runWith(t, s, nil, "sh", "-c", stage))
		diskRemount(t, s.from, "rw")
		after(t, s)
	})
	t.Run("ENOSPC at fail", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "ENOSPC (full tmpfs) writing bad/ID.err in mlm-run", "exit 75, nothing in bad/, the record back in new/ to wait its backoff (not run again at the next pass); once cleared, the record in bad/ once with its reason")
		s := mk(t)
		clear := diskFill(t, s.from)
		stage := []string{"sh", "-c", "cat >/dev/null; echo 5.6.0 refused >&2; exit 65"}
		kept(t, s, runWith(t, s, nil, stage...))
		// Left in cur/, a sweep would return it as it was, ready, to
		// run its stages again on every pass.
		if info, err := os.Stat(filepath.Join(s.from, "new", s.id)); err != nil || !info.ModTime().After(time.Now()) {
			t.Errorf("the record is not back in new/ waiting its backoff: %v", err)
		}
		if n := mlmtest.Names(t, filepath.Join(s.from, "bad")); len(n) != 0 {
			t.Errorf("bad/ holds %v under the fault", n)
		}
		clear()
		if r := runWith(t, s, nil, stage...); r.code != 0 {
			t.Errorf("once cleared: exit %d: %s", r.code, diskShort(r.stderr))
		}
		got := mlmtest.Names(t, filepath.Join(s.from, "bad"))
		if strings.Join(got, " ") != s.id+" "+s.id+".err" {
			t.Fatalf("bad/ holds %v; want the record and its .err", got)
		}
		if b, _ := os.ReadFile(filepath.Join(s.from, "bad", s.id)); string(b) != s.recs[s.id] {
			t.Errorf("bad/%s is not the record, byte for byte", s.id)
		}
		if b, _ := os.ReadFile(filepath.Join(s.from, "bad", s.id+".err")); !strings.Contains(string(b), "5.6.0 refused") {
			t.Errorf("bad/%s.err = %q; want the stage's reason", s.id, b)
		}
	})
	t.Run("ENOSPC at fsync of cur/", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "ENOSPC at fsync of cur/ after done (strace -P) in mlm-run", "exit 75; the record, done, is in the next queue; a re-run leaves it there exactly once")
		s := mk(t)
		r := runWith(t, s, diskStrace(t, "-P", filepath.Join(s.from, "cur"), "-e", "inject=fsync:error=ENOSPC"), enqueue(s)...)
		if r.code != 75 || r.stderr == "" {
			t.Errorf("under the fault: exit %d, stderr %q; want 75 and the reason", r.code, diskShort(r.stderr))
		}
		diskUnclaimed(t, s.from)
		after(t, s)
	})
	t.Run("ENOSPC at claim", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "ENOSPC at rename new/ to cur/ (strace -P) in mlm-run", "exit 75, the record stays in new/; once cleared, moved exactly once")
		s := mk(t)
		kept(t, s, runWith(t, s, diskStrace(t, "-P", filepath.Join(s.from, "new", s.id), "-e", "inject=?rename,renameat,?renameat2:error=ENOSPC"), enqueue(s)...))
		if n := mlmtest.Names(t, filepath.Join(s.from, "new")); len(n) != 1 {
			t.Errorf("new/ holds %v; want the record", n)
		}
		after(t, s)
	})
}

// TestDiskSub: mlm-sub, the members file written anew and renamed.
func TestDiskSub(t *testing.T) {
	faults := append(append([]diskFault(nil), diskRealFaults...),
		diskInject("ENOSPC at fsync of the new file (strace)", false, func(s *diskSubject) []string {
			return []string{"-e", "inject=fsync:error=ENOSPC"}
		}),
		diskInject("ENOSPC at close of the new file (strace, static build)", true, func(s *diskSubject) []string {
			return []string{"-e", "inject=close:error=ENOSPC"}
		}),
		diskInject("ENOSPC at rename into place (strace -P subscribers)", false, func(s *diskSubject) []string {
			return []string{"-P", filepath.Join(s.mnt, "dev", "subscribers"), "-e", "inject=?rename,renameat,?renameat2:error=ENOSPC"}
		}),
		diskInject("ENOSPC at fsync of the list directory after the rename (strace -P)", false, func(s *diskSubject) []string {
			return []string{"-P", filepath.Join(s.mnt, "dev"), "-e", "inject=fsync:error=ENOSPC"}
		}),
	)
	diskCases(t, "mlm-sub", "exit 75, subscribers the old file (or, after the rename, the whole new one), no temporary file; once cleared, each address in it exactly once",
		faults, diskSubSubject)
}

func diskSubSubject(t *testing.T, mount diskMount) *diskSubject {
	base := diskPath(t, openTempDir(t, "mlm-disk-"))
	mount(t, base)
	dir := filepath.Join(base, "dev")
	mlm(t, "", nil, "mlm-newlist", dir, "dev@lists.example.org")
	var old strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&old, "member%04d@example.org\n", i)
	}
	mlm(t, old.String(), nil, "mlm-sub", dir)
	before, err := os.ReadFile(filepath.Join(dir, "subscribers"))
	if err != nil {
		t.Fatal(err)
	}
	add := []string{"new1@example.org", "new2@example.net", "new3@example.com"}
	want := string(before) + strings.Join(add, "\n") + "\n"
	noTemp := func(t *testing.T) {
		t.Helper()
		for _, n := range mlmtest.Names(t, dir) {
			if strings.Contains(n, ".tmp") {
				t.Errorf("the list directory keeps %s", n)
			}
		}
	}
	return &diskSubject{
		mnt: base,
		run: func(t *testing.T, wrap []string, bin string) diskResult {
			return diskExec(t, wrap, "", nil, filepath.Join(bin, "mlm-sub"), append([]string{dir}, add...)...)
		},
		failed: func(t *testing.T, r diskResult) {
			t.Helper()
			if r.code != 75 || !strings.HasPrefix(r.stderr, "mlm-sub: ") {
				t.Errorf("under the fault: exit %d, stderr %q; want 75 and the reason", r.code, diskShort(r.stderr))
			}
			got, err := os.ReadFile(filepath.Join(dir, "subscribers"))
			if err != nil {
				t.Errorf("subscribers: %v", err)
			} else if string(got) != string(before) && string(got) != want {
				t.Errorf("subscribers is neither the old file nor the new one (%d octets)", len(got))
			}
			noTemp(t)
		},
		done: func(t *testing.T, r diskResult) bool { return r.code == 0 },
		verify: func(t *testing.T) {
			t.Helper()
			if got, _ := os.ReadFile(filepath.Join(dir, "subscribers")); string(got) != want {
				t.Errorf("subscribers (%d octets) is not the old file plus each new address once (%d octets)", len(got), len(want))
			}
			noTemp(t)
		},
	}
}

// TestDiskSubUnchanged: on a full disk, a change that changes nothing
// (mlm-sub of a member, mlm-unsub of an address that is none, as a
// confirmation taken again or a cron job does) succeeds and writes
// nothing, while one that changes the file fails and leaves it. Each
// such no-op wrote a copy of the file first, and failed with 75 for
// want of room for it.
func TestDiskSubUnchanged(t *testing.T) {
	mlmtest.Fault(t, "disk", "a full tmpfs under mlm-sub of a member and mlm-unsub of no member", "exit 0, the file as it was, no temporary file; mlm-sub of a new address exit 75, the file as it was")
	s := diskSubSubject(t, diskTmpfs("size=2m"))
	dir := filepath.Join(s.mnt, "dev")
	// A file larger than what a change buffers before it writes.
	var more strings.Builder
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&more, "more%05d@example.net\n", i)
	}
	mlm(t, more.String(), nil, "mlm-sub", dir)
	before, err := os.ReadFile(filepath.Join(dir, "subscribers"))
	if err != nil {
		t.Fatal(err)
	}
	clear := diskFill(t, s.mnt)
	defer clear()
	for _, c := range []struct {
		code      int
		prog, arg string
	}{
		{0, "mlm-sub", "member0150@EXAMPLE.org"},
		{0, "mlm-unsub", "nobody@example.org"},
		{75, "mlm-sub", "new1@example.org"},
	} {
		r := diskExec(t, nil, "", nil, filepath.Join(binDir, c.prog), dir, c.arg)
		if r.code != c.code {
			t.Errorf("%s %s on a full disk: exit %d, %s; want %d", c.prog, c.arg, r.code, diskShort(r.stderr), c.code)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "subscribers")); string(got) != string(before) {
			t.Errorf("%s %s changed subscribers", c.prog, c.arg)
		}
		for _, n := range mlmtest.Names(t, dir) {
			if strings.Contains(n, ".tmp") {
				t.Errorf("%s %s left %s", c.prog, c.arg, n)
			}
		}
	}
}

// The record mlm-sendmail delivers, and its message.
const (
	diskSendID   = "1795867200.M9P9.disk,1"
	diskSendPost = "1795867200.M9P9.disk"
	diskSendMsg  = "From: alice@example.org\nSubject: journal\n\nR <mallory@example.net>\n\x00 \xe9\nno final LF"
)

var diskSendRcpts = []string{"rcpt1@example.net", "rcpt2@example.net", "rcpt3@example.net"}

// TestDiskSendmail: mlm-sendmail's journal (state/journal) at fault,
// delivering through a sendmail program that logs every transaction.
func TestDiskSendmail(t *testing.T) {
	journal := func(s *diskSubject) string { return filepath.Join(s.mnt, "journal", diskSendPost) }
	faults := append(append([]diskFault(nil), diskRealFaults...),
		diskLate(diskInject("ENOSPC at write of the journal (strace -P, after the transaction)", false, func(s *diskSubject) []string {
			return []string{"-P", journal(s), "-e", "inject=write:error=ENOSPC"}
		})),
		diskLate(diskInject("ENOSPC at fsync of the journal (strace -P, after the transaction)", false, func(s *diskSubject) []string {
			return []string{"-P", journal(s), "-e", "inject=fsync:error=ENOSPC"}
		})),
		func() diskFault {
			f := diskInject("ENOSPC at close of the journal (strace -P, after its fsync)", false, func(s *diskSubject) []string {
				return []string{"-P", journal(s), "-e", "inject=close:error=ENOSPC"}
			})
			f.harmless = "exit 0: the journal was fsynced before the close; each recipient exactly once, and a re-run sends nothing"
			return f
		}(),
	)
	diskCases(t, "mlm-sendmail", "exit 75 (or 0 with the recipients in a retry record), the journal of whole lines; once cleared, every recipient has the message exactly once, byte-exact (twice only where the fault struck after the server took it), and a re-run sends nothing",
		faults, func(t *testing.T, mount diskMount) *diskSubject { return diskSendmailSubject(t, mount, "") })

	// A full disk in the middle of a journal line: the journal holds a
	// line of an earlier batch, and room for 10 more octets only.
	t.Run("ENOSPC in the middle of a journal line", func(t *testing.T) {
		mlmtest.Fault(t, "disk", "ENOSPC in the middle of a journal line (full tmpfs) in mlm-sendmail", "exit 75, no partial line left in the journal; once cleared, each recipient exactly once, and later runs send nothing")
		var prior strings.Builder
		for i := 1; prior.Len()+24 <= 4086-20; i++ {
			fmt.Fprintf(&prior, "D prior%04d@example.org\n", i)
		}
		prior.WriteString("D " + strings.Repeat("p", 4086-prior.Len()-15) + "@example.org\n")
		s := diskSendmailSubject(t, diskTmpfs("size=2m"), prior.String())
		clear := diskFill(t, s.mnt)
		s.failed(t, s.run(t, nil, binDir))
		clear()
		if r := s.run(t, nil, binDir); !s.done(t, r) {
			t.Fatalf("once the fault cleared: exit %d: %s", r.code, diskShort(r.stderr))
		}
		s.verify(t)
	})
}

// diskSendmailSubject sets up a list whose state/ is on the file system
// mount makes, with journal text for the post there already if not "".
func diskSendmailSubject(t *testing.T, mount diskMount, journal string) *diskSubject {
	dir := newList(t)
	state := diskPath(t, dir) + "/state"
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	mount(t, state)
	jdir := filepath.Join(state, "journal")
	if err := os.Mkdir(jdir, 0o700); err != nil {
		t.Fatal(err)
	}
	jfile := filepath.Join(jdir, diskSendPost)
	if journal != "" {
		if err := os.WriteFile(jfile, []byte(journal), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logDir := openTempDir(t, "mlm-disk-log-")
	fake := filepath.Join(logDir, "sendmail")
	script := fmt.Sprintf("#!/bin/sh\nf=$(mktemp %s/tx.XXXXXX) || exit 75\n{ printf '%%s\\n' \"$*\"; cat; } > \"$f\" || exit 75\n", logDir)
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var rec strings.Builder
	rec.WriteString("MLM1 " + diskSendID + "\nA list=dev@lists.example.org\nA received=1795867200\nS <dev-bounces@lists.example.org>\n")
	msg := diskSendMsg
	for {
		line, rest, ok := strings.Cut(msg, "\n")
		if !ok {
			rec.WriteString(";" + line + "\n")
			break
		}
		rec.WriteString(":" + line + "\n")
		msg = rest
	}
	for _, r := range diskSendRcpts {
		rec.WriteString("R <" + r + ">\n")
	}
	fmt.Fprintf(&rec, "E %d\n", len(diskSendRcpts))
	in := rec.String()

	// deliveries counts the transactions each recipient was in, and
	// checks each message as the sendmail program got it.
	deliveries := func(t *testing.T) map[string]int {
		t.Helper()
		got := map[string]int{}
		files, _ := filepath.Glob(filepath.Join(logDir, "tx.*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			args, body, _ := strings.Cut(string(b), "\n")
			if body != diskSendMsg {
				t.Errorf("%s: the message differs from the record's (%d octets, want %d)", filepath.Base(f), len(body), len(diskSendMsg))
			}
			_, rcpts, _ := strings.Cut(args, " -- ")
			for _, r := range strings.Fields(rcpts) {
				got[r]++
			}
		}
		return got
	}
	wholeLines := func(t *testing.T) {
		t.Helper()
		b, err := os.ReadFile(jfile)
		if err != nil || len(b) == 0 {
			return
		}
		if !strings.HasPrefix(string(b), journal) {
			t.Errorf("the journal's earlier lines changed")
		}
		if b[len(b)-1] != '\n' {
			i := strings.LastIndexByte(string(b), '\n')
			t.Errorf("the journal ends in a partial line %q: the next line appended joins it", b[i+1:])
		}
	}
	s := &diskSubject{mnt: state}
	s.run = func(t *testing.T, wrap []string, bin string) diskResult {
		return diskExec(t, wrap, in, nil, filepath.Join(bin, "mlm-sendmail"), "-c", "1", "-s", fake, dir)
	}
	s.failed = func(t *testing.T, r diskResult) {
		t.Helper()
		switch {
		case r.code == 75 && r.stderr != "":
		case r.code == 0 && strings.HasPrefix(r.stdout, "MLM1 "+diskSendID+",r-"):
			// The sendmail program could not run: the recipients are
			// deferred, in a record for the retry queue.
		default:
			t.Errorf("under the fault: exit %d, stdout %q, stderr %q; want 75 and the reason", r.code, diskShort(r.stdout), diskShort(r.stderr))
		}
		wholeLines(t)
	}
	s.done = func(t *testing.T, r diskResult) bool { return r.code == 0 && r.stdout == "" }
	s.verify = func(t *testing.T) {
		t.Helper()
		got := deliveries(t)
		for _, r := range diskSendRcpts {
			switch {
			case got[r] == 1:
			case got[r] == 2 && s.late:
				t.Logf("%s got the message twice: the journal failed after the server took it", r)
			default:
				t.Errorf("%s got the message %d times; want once", r, got[r])
			}
		}
		wholeLines(t)
		b, _ := os.ReadFile(jfile)
		var lines []string
		for _, l := range strings.Split(strings.TrimPrefix(string(b), journal), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		sort.Strings(lines)
		if want := "D " + strings.Join(diskSendRcpts, "\nD "); strings.Join(lines, "\n") != want {
			t.Errorf("the journal's lines for the batch are %q; want %q", lines, want)
		}
		// The journal now speaks for every recipient: another run of
		// the record sends nothing.
		if r := s.run(t, nil, binDir); r.code != 0 || r.stdout != "" {
			t.Errorf("a further run: exit %d, stdout %q: %s", r.code, diskShort(r.stdout), diskShort(r.stderr))
		}
		after := deliveries(t)
		for _, r := range diskSendRcpts {
			if after[r] != got[r] {
				t.Errorf("a further run sent %s the message again", r)
			}
		}
	}
	return s
}
