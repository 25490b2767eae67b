package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/sysexit"
)

// TestDaemonRereadsStages: with -D, a stages file mended while the run
// goes on is taken up at the next pass: the queue's records are then
// processed, without a restart.
func TestDaemonRereadsStages(t *testing.T) {
	d := startDaemon(t, "cat\r\n") // a CR: refused
	rec := d.record("1.r")
	d.waitFor(t, "no pass met the stages file", func() bool { return strings.Contains(d.errs.String(), "stages/requests") })
	if _, err := os.Stat(rec); err != nil {
		t.Fatalf("the record went with its stages file wrong: %v", err)
	}
	os.WriteFile(filepath.Join(d.dir, "stages", "requests"), []byte("cat\n"), 0o644)
	d.waitFor(t, "the record still waits, its stages file mended", func() bool { _, err := os.Stat(rec); return os.IsNotExist(err) })
	d.stop(t)
}

// TestDaemonWakes: with -D, a record that lands in a queue with stages
// is taken up as it lands, not at the next pass, an -i of an hour away:
// the daemon watches the queues' new/ (inotify(7)).
func TestDaemonWakes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	d := startDaemonArgs(t, "cat\n", args{Interval: time.Hour}, "1.r")
	// The first pass takes the first record.
	d.waitFor(t, "the first record waits", isGone(filepath.Join(d.dir, "queue", "requests", "new", "1.r")))
	// Its scan is over: only a wake-up takes the second.
	d.waitFor(t, "the record put after the first pass waits for -i", isGone(d.put(t, "2.r")))
	d.stop(t)
	if d.errs.String() != "" {
		t.Errorf("stderr %q", d.errs.String())
	}
}

// TestDaemonWakesLists: with -l, a record that lands in a list's queue
// wakes the daemon too, and one put while the list's lock is held waits
// for the pass after the lock is let go.
func TestDaemonWakesLists(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	d := startDaemonArgs(t, "cat\n", args{Interval: 50 * time.Millisecond, Lists: true}, "1.r")
	d.waitFor(t, "the first record waits", isGone(filepath.Join(d.dir, "queue", "requests", "new", "1.r")))
	lock, err := listdir.LockFD(filepath.Join(d.dir, listdir.LockFile), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rec := d.put(t, "2.r")
	time.Sleep(200 * time.Millisecond) // passes that leave the list (not a measure: see below)
	if _, err := os.Stat(rec); err != nil {
		t.Errorf("the record put while the list's lock is held: %v; want it waiting", err)
	}
	lock.Close()
	d.waitFor(t, "the record put while the list was locked waits, the lock let go", isGone(rec))
	d.stop(t)
	if d.errs.String() != "" {
		t.Errorf("stderr %q", d.errs.String())
	}
}

// TestDaemonWakesRename: a record renamed into new/ wakes the daemon as
// one linked there does. A writer may rename its file from tmp/ into
// new/ (DESIGN.md §4, as a maildir writer does), and an administrator
// who has a record tried again moves it from bad/ to new/ by a rename.
func TestDaemonWakesRename(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	d := startDaemonArgs(t, "cat\n", args{Interval: time.Hour}, "1.r")
	q := filepath.Join(d.dir, "queue", "requests")
	d.waitFor(t, "the first record waits", isGone(filepath.Join(q, "new", "1.r")))
	// Its scan is over: only a wake-up takes the second.
	tmp, rec := filepath.Join(q, "tmp", "2.r"), filepath.Join(q, "new", "2.r")
	if err := os.WriteFile(tmp, []byte("MLM1 2.r\nS <a@example.org>\n:Subject: x\nE 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, rec); err != nil {
		t.Fatal(err)
	}
	d.waitFor(t, "the record renamed into new/ after the first pass waits for -i", isGone(rec))
	d.stop(t)
	if d.errs.String() != "" {
		t.Errorf("stderr %q", d.errs.String())
	}
}

// TestDaemonWakeNoLoop: a record whose stages fail goes back to new/,
// which the daemon watches; that wake-up finds it waiting out its
// backoff, and it is not tried again. With -f, which tries every record
// at every pass, the daemon does not watch at all: the record would be
// tried again and again, each try waking the next.
func TestDaemonWakeNoLoop(t *testing.T) {
	for _, flush := range []bool{false, true} {
		tmp := t.TempDir()
		tries, stage := filepath.Join(tmp, "tries"), filepath.Join(tmp, "stage")
		os.WriteFile(stage, []byte("#!/bin/sh\nprintf . >> "+tries+"\nexit 75\n"), 0o755)
		d := startDaemonArgs(t, stage+"\n", args{Interval: time.Hour, Flush: flush}, "1.r")
		d.waitFor(t, "the record is not tried", func() bool { _, err := os.Stat(tries); return err == nil })
		// (A loop would have tried it again by now, many times over.)
		time.Sleep(500 * time.Millisecond)
		d.stop(t)
		if b, _ := os.ReadFile(tries); len(b) != 1 {
			t.Errorf("-f %v: the record was tried %d times, not once", flush, len(b))
		}
	}
}

// TestDaemonUnsettledWaits: after a pass that could not settle a record,
// a wake-up does not start the next pass: a record left in cur/ unsettled
// is swept back to new/ by the next pass, which would wake the one
// after, and so on, a try after another with no pause. The passes come
// every -i then. (From a review: a Defer that failed, the record owned by
// another user, was tried 344 times in 5 s.) Here the stage removes its
// own record, and Done fails.
func TestDaemonUnsettledWaits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	stage := filepath.Join(t.TempDir(), "stage")
	os.WriteFile(stage, []byte("#!/bin/sh\nrm queue/requests/cur/*\n"), 0o755)
	d := startDaemonArgs(t, stage+"\n", args{Interval: time.Hour}, "1.r")
	d.waitFor(t, "the record's Done does not fail", func() bool { return strings.Contains(d.errs.String(), "1.r") })
	rec := d.put(t, "2.r")
	// (A wake-up would have taken it by now.)
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(rec); err != nil {
		t.Errorf("a wake-up started a pass after one that could not settle a record: %v; stderr %q", err, d.errs.String())
	}
	d.stop(t)
}

// TestDaemonListsUnsettled: with -l, a list whose pass could not settle a
// record (the stage removes it the first time, and Done fails) is not
// woken by the records that land in it after, as a list's own -D is not
// (TestDaemonUnsettledWaits), until the next pass over every list, which
// SIGHUP starts at once, -i an hour away; after that pass, its records
// wake it again. (A review found builds that broke each of the three
// pass every test.)
func TestDaemonListsUnsettled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	tmp := t.TempDir()
	once, stage := filepath.Join(tmp, "once"), filepath.Join(tmp, "stage")
	os.WriteFile(stage, []byte("#!/bin/sh\nif [ ! -e "+once+" ]; then : > "+once+"; rm queue/requests/cur/*; fi\ncat > /dev/null\n"), 0o755)
	d := startDaemonArgs(t, stage+"\n", args{Interval: time.Hour, Lists: true}, "1.r")
	d.waitFor(t, "the record's Done does not fail", func() bool { return strings.Contains(d.errs.String(), "1.r") })
	rec := d.put(t, "2.r")
	// (A wake-up would have taken it by now.)
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(rec); err != nil {
		t.Fatalf("a wake-up took the list after a pass that could not settle a record: %v; stderr %q", err, d.errs.String())
	}
	hangup <- syscall.SIGHUP
	d.waitFor(t, "the record waits after SIGHUP", isGone(rec))
	d.waitFor(t, "the record put after the pass over every list waits", isGone(d.put(t, "3.r")))
	d.stop(t)
}

// TestDaemonNoWatch: with no inotify instance to be had (EMFILE, their
// limit reached), -D says so once, naming the limit, not "too many open
// files", and goes on at its interval.
func TestDaemonNoWatch(t *testing.T) {
	newWatcher = func() (*queue.Watcher, error) { return nil, os.NewSyscallError("inotify_init1", syscall.EMFILE) }
	t.Cleanup(func() { newWatcher = queue.NewWatcher })
	d := startDaemon(t, "cat\n")
	d.waitFor(t, "the record put waits", isGone(d.put(t, "1.r")))
	d.stop(t)
	want := "mlm-run: no inotify instance (fs.inotify.max_user_instances reached, or the open files' limit): inotify_init1: too many open files: records wait for the next pass (-i)\n"
	if got := d.errs.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// isGone is whether the file rec is not there.
func isGone(rec string) func() bool {
	return func() bool { _, err := os.Stat(rec); return os.IsNotExist(err) }
}

// A daemon is mlm-run -D at work on a list of a requests queue.
type daemon struct {
	dir    string
	errs   *mlmtest.LockedBuffer // its standard error
	done   chan error            // its end
	cancel context.CancelFunc
}

// startDaemon makes a list whose requests queue has the stages file
// stages, and starts mlm-run -D on it, a pass every 10 ms.
func startDaemon(t *testing.T, stages string) *daemon {
	t.Helper()
	return startDaemonArgs(t, stages, args{Interval: 10 * time.Millisecond})
}

// startDaemonArgs is startDaemon with a's -i and -f, and the records
// ids in the queue before it starts.
func startDaemonArgs(t *testing.T, stages string, a args, ids ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, daemonList(t, stages), a, ids...)
}

// daemonList makes a list whose requests queue has stages.
func daemonList(t *testing.T, stages string) string {
	t.Helper()
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
	for _, sub := range []string{"stages", "queue/requests/tmp", "queue/requests/new", "queue/requests/cur", "queue/requests/bad"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "stages", "requests"), []byte(stages), 0o644)
	return dir
}

// startDaemonIn is startDaemonArgs, of the list dir.
func startDaemonIn(t *testing.T, dir string, a args, ids ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &daemon{dir: dir, errs: &mlmtest.LockedBuffer{}, done: make(chan error, 1), cancel: cancel}
	for _, id := range ids {
		d.record(id)
	}
	var out mlmtest.LockedBuffer
	target := dir
	if a.Lists {
		target = filepath.Dir(dir) // (the test's temporary directories: no other list)
	}
	go func() {
		d.done <- run(ctx, &args{Target: target, Lists: a.Lists, Daemon: true, Interval: a.Interval, Flush: a.Flush, Workers: 1, Retries: 1,
			MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, d.errs)
	}()
	return d
}

// record puts a record in the requests queue, and returns its file.
func (d *daemon) record(id string) string {
	rec := filepath.Join(d.dir, "queue", "requests", "new", id)
	os.WriteFile(rec, []byte("MLM1 "+id+"\nS <a@example.org>\n:Subject: x\nE 0\n"), 0o600)
	return rec
}

// put puts a record in the requests queue as a writer of a queue does
// (tmp/, then a link), and returns its file in new/.
func (d *daemon) put(t *testing.T, id string) string {
	t.Helper()
	q := queue.New(filepath.Join(d.dir, "queue", "requests"))
	if err := q.Put(id, time.Time{}, func(w io.Writer) error {
		_, err := io.WriteString(w, "MLM1 "+id+"\nS <a@example.org>\n:Subject: x\nE 0\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(q.Path, "new", id)
}

// waitFor waits for ok, and fails the test with what if 20 s go by
// first (a safety net, not a measure), or if the run ends.
func (d *daemon) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-d.done:
			t.Fatalf("the run ended with %v (%d): %s", err, sysexit.Code(err), what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %s; stderr %q", what, d.errs.String())
		}
	}
}

// stop ends the run, which must end without an error, once no record
// of the requests queue is claimed: the run's stop stops a record's
// stages (as -t), which the tests that stop a run between records do
// not want.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.waitFor(t, "a record is claimed still", func() bool {
		ents, err := os.ReadDir(filepath.Join(d.dir, "queue", "requests", "cur"))
		return err != nil || len(ents) == 0
	})
	d.cancel()
	if err := <-d.done; err != nil {
		t.Fatal(err)
	}
}

// bareQueue makes a queue directory holding a record for each id.
func bareQueue(t *testing.T, ids ...string) string {
	t.Helper()
	q := t.TempDir()
	if err := queue.New(q).Create(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := os.WriteFile(filepath.Join(q, "new", id), []byte("MLM1 "+id+"\nS <>\n:x\nE 0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

// TestNoRecordAfterSignal: a signal (ctx ending) while every worker is
// busy starts no more records: the one running is stopped, as -t stops
// it, and waits again with the others. The record after it was given
// out once a worker was free, the signal notwithstanding. (From a
// review; the running record is stopped since R74 and R75: a service
// manager's SIGKILL after its stop timeout cut deliveries short.)
func TestNoRecordAfterSignal(t *testing.T) {
	q := bareQueue(t, "1795867200.r1", "1795867200.r2", "1795867200.r3")
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// The signal once the first record's stage runs; then the
		// stage may end.
		for {
			if b, _ := os.ReadFile(started); len(b) > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		os.WriteFile(release, nil, 0o600)
	}()
	var out, errs mlmtest.LockedBuffer
	err := run(ctx, &args{Target: q, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute,
		Command: []string{"--", "sh", "-c", "echo started >> " + started + "; while [ ! -e " + release + " ]; do sleep 0.01; done; cat >/dev/null"}}, &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(started)
	if n := strings.Count(string(b), "started"); n != 1 {
		t.Errorf("%d records started; want 1, the one running when the signal came", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(q, "new")); len(ents) != 3 {
		t.Errorf("%d records wait in new/; want the one stopped and the 2 not started", len(ents))
	}
}

// TestCutWaitsLittle: a record whose stages -t stopped waits -w, the
// shortest wait, not the wait that grows with the post's age to -W, as
// after a failure: a delivery longer than -t (a large list at its
// rates) goes on at the next turn (R72). A failure of an old record
// still waits -W.
func TestCutWaitsLittle(t *testing.T) {
	for _, c := range []struct {
		name string
		cmd  string
		wait time.Duration
	}{
		{"cut", "sleep 30", time.Minute},
		{"failed", "exit 75", time.Hour},
	} {
		q := bareQueue(t, "1600000000.old") // years old: a backoff of -W
		var out, errs mlmtest.LockedBuffer
		start := time.Now()
		err := run(context.Background(), &args{Target: q, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour,
			Timeout: 200 * time.Millisecond, Command: []string{"--", "sh", "-c", c.cmd}}, &out, &errs)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(q, "new", "1600000000.old"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ready := fi.ModTime().Sub(start); ready < c.wait-10*time.Second || ready > c.wait+10*time.Second {
			t.Errorf("%s: ready in %v; want about %v", c.name, ready, c.wait)
		}
	}
}

// TestZeroTimeout: -t 0 is a usage error, as -j 0 is: with it no stage
// could start, and every record would wait for ever while mlm-run said 0.
func TestZeroTimeout(t *testing.T) {
	q := bareQueue(t, "1795867200.z")
	var out, errs mlmtest.LockedBuffer
	err := run(context.Background(), &args{Target: q, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour,
		Command: []string{"--", "cat"}}, &out, &errs)
	if sysexit.Code(err) != sysexit.Usage {
		t.Errorf("-t 0: %v (%d); want a usage error", err, sysexit.Code(err))
	}
}

// TestNameOneLine: a file in new/ under a name another writer chose is
// run (queue.Claim takes any name), and a failure names it on standard
// error with its control characters as \xHH: a name may hold an escape
// that would retitle or clear the terminal of whoever reads the log.
func TestNameOneLine(t *testing.T) {
	q := bareQueue(t, "1795867200.x\x1b]0;owned\a\x1b[2J")
	var out, errs mlmtest.LockedBuffer
	err := run(context.Background(), &args{Target: q, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute,
		Command: []string{"--", "sh", "-c", "cat >/dev/null; kill -TERM $$"}}, &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	s := errs.String()
	if !strings.Contains(s, `1795867200.x\x1b]0;owned\x07\x1b[2J`) {
		t.Errorf("stderr %q; want the name with its controls as \\xHH", s)
	}
	if strings.ContainsFunc(strings.TrimSuffix(s, "\n"), func(r rune) bool { return r < ' ' && r != '\n' || r == 0x7f }) {
		t.Errorf("stderr %q holds a control character", s)
	}
}

// TestClaimOwnStages: with -j, a record's claim is held by its own
// stages and by no stage of another record. Here the stage of x2, started
// while y was claimed, leaves a process running; y's stages then fail
// (75). A run with -f must try y again at once. When every stage
// inherited every claimed record's descriptor, that process held y's
// lock: every run skipped y without a word and said 0, for as long as
// the process lived (here five minutes; a daemonised helper, for ever).
// (From a review.)
func TestClaimOwnStages(t *testing.T) {
	q := bareQueue(t, "1795867200.y", "1795867200.x1", "1795867200.x2")
	// Oldest first, so the feed is fixed: y and x1 at once, then x2 in
	// x1's place while y's stage still runs.
	for i, id := range []string{"1795867200.y", "1795867200.x1", "1795867200.x2"} {
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		if err := os.Chtimes(filepath.Join(q, "new", id), at, at); err != nil {
			t.Fatal(err)
		}
	}
	d := t.TempDir()
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(d, "helper")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	// Each wait gives up after 30 s, so that a run out of order fails
	// rather than hangs.
	wait := func(f string) string {
		return "i=0; while [ ! -e " + f + " ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; "
	}
	script := "d=" + d + "; read -r magic id; case $id in " +
		"*.y) if [ -e $d/y-once ]; then cat >/dev/null; exit 0; fi; : > $d/y-once; " + wait("$d/helper") + "cat >/dev/null; exit 75;; " +
		"*.x1) " + wait("$d/y-once") + "cat >/dev/null;; " +
		"*.x2) sleep 300 </dev/null >/dev/null 2>&1 & echo $! > $d/helper.new; mv $d/helper.new $d/helper; cat >/dev/null;; " +
		"esac"
	a := &args{Target: q, Workers: 2, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute, Command: []string{"--", "sh", "-c", script}}
	var out, errs mlmtest.LockedBuffer
	if err := run(context.Background(), a, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "helper")); err != nil {
		t.Fatalf("x2's stage left no process: %v; stderr %q", err, errs.String())
	}
	if _, err := os.Stat(filepath.Join(q, "new", "1795867200.y")); err != nil {
		t.Fatalf("y is not waiting in new/ after its 75: %v; stderr %q", err, errs.String())
	}
	a.Flush = true
	if err := run(context.Background(), a, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(q, "new")); len(ents) != 0 {
		t.Errorf("%s still waits in new/ after a run with -f; want it tried and done (stderr %q)", ents[0].Name(), errs.String())
	}
}

// TestLeftHolding: a stage that leaves a process outside its process
// group (setsid), holding the record's claim, and fails 75: the record
// waits, locked, and no pass will claim it while that process lives;
// mlm-run says so once, where every pass after skips it without a word.
// A stage that fails with nothing left holding it says nothing of it.
func TestLeftHolding(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	d := t.TempDir()
	t.Cleanup(func() {
		// (The left process writes its id a moment after the stage
		// has gone.)
		for i := 0; i < 1000; i++ {
			if b, err := os.ReadFile(filepath.Join(d, "pid")); err == nil && strings.HasSuffix(string(b), "\n") {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	for _, tc := range []struct {
		script string
		said   bool
	}{
		{"cat >/dev/null; exit 75", false},
		// (the left process holds the stage's descriptors, 3 among
		// them: the claim; its id goes to d for the cleanup)
		{"cat >/dev/null; setsid sh -c 'echo $$ > " + d + "/pid; exec sleep 300' >/dev/null 2>&1 & exit 75", true},
	} {
		q := bareQueue(t, "1795867200.a")
		a := &args{Target: q, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute, Command: []string{"--", "sh", "-c", tc.script}}
		var out, errs mlmtest.LockedBuffer
		if err := run(context.Background(), a, &out, &errs); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(q, "new", "1795867200.a")); err != nil {
			t.Fatalf("%s: the record is not waiting in new/: %v", tc.script, err)
		}
		if said := strings.Contains(errs.String(), "1795867200.a: still locked after its stages ended"); said != tc.said {
			t.Errorf("%s: said it is still locked: %v, want %v; stderr %q", tc.script, said, tc.said, errs.String())
		}
	}
}

// TestDaemonNoList: with -D, a directory that is not a list (67), or
// -- without a command (64), ends the run with that status, as without
// -D: no pass can mend them, and mlm-run@.service keeps a unit that
// exits so from restarting (RestartPreventExitStatus=64 67). The runner
// went on instead, a line every pass, for ever, its unit active.
func TestDaemonNoList(t *testing.T) {
	for _, c := range []struct {
		name   string
		target string
		cmd    []string
		code   int
	}{
		{"no address", retired(t), nil, sysexit.NoUser},
		{"no command", bareQueue(t), []string{"--"}, sysexit.Usage},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out, errs mlmtest.LockedBuffer
		err := run(ctx, &args{Target: c.target, Command: c.cmd, Daemon: true, Interval: 10 * time.Millisecond, Workers: 1, Retries: 1,
			MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, &errs)
		cancel()
		if sysexit.Code(err) != c.code {
			t.Errorf("%s: -D ended with %v (%d); want %d at once", c.name, err, sysexit.Code(err), c.code)
		}
	}
}

// retired is a list directory whose address file is gone and whose
// queues are not: a list retired, as mlm-listdir(5) says.
func retired(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, listdir.QueueDir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDaemonDirGone: with -D, a list directory that was there and is
// gone for a while (its file system unmounted, the list being restored
// from a backup, moved aside and back) is reported at each pass, and
// the run goes on: once it is back its records are processed. The run
// ended with 67 at the first pass without it, which no restart of
// examples/systemd/mlm-run@.service (RestartPreventExitStatus=64 67)
// undid: the list's mail waited in its queues for good, while
// mlm-accept, for which such a directory is a temporary failure, went
// on queueing it.
//
// An empty directory left where the list was is the same: the mount
// point of a list's own file system, not mounted (a nofail mount that
// failed, an fsck), or a list being restored; -D ended 67 for it.
func TestDaemonDirGone(t *testing.T) {
	for _, c := range []struct {
		name, said string
		empty      bool // an empty directory where the list was
	}{
		{"gone", "no such", false},
		{"empty", "no address and no queue", true},
		{"queues back first", "no such list", true}, // a restore by tar or cp -a (R74)
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, "cat\n")
			// A pass has found the list once it has taken a record:
			// then the directory goes (a sleep would be a guess, too
			// short on a slow machine, where the run rightly ends 67
			// for a list never found).
			first := d.record("0.r")
			d.waitFor(t, "the first record still waits", func() bool { _, err := os.Stat(first); return os.IsNotExist(err) })
			aside := d.dir + ".aside"
			if err := os.Rename(d.dir, aside); err != nil {
				t.Fatal(err)
			}
			if c.empty {
				if err := os.Mkdir(d.dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if c.name == "queues back first" {
				if err := os.Mkdir(filepath.Join(d.dir, "queue"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			d.waitFor(t, "no pass reported the directory gone", func() bool { return strings.Contains(d.errs.String(), c.said) })
			time.Sleep(50 * time.Millisecond) // some more passes without it
			if c.empty {
				if err := os.RemoveAll(d.dir); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(aside, d.dir); err != nil {
				t.Fatal(err)
			}
			rec := d.record("1.r")
			d.waitFor(t, "the record still waits, its list back", func() bool { _, err := os.Stat(rec); return os.IsNotExist(err) })
			d.stop(t)
		})
	}
}

// TestUnreadRequests: records that have waited over a day in a
// queue/requests that no stage reads are told of once a day, with why
// (R95 F2: a list made before stages/requests existed keeps them there
// unread); fresh ones, ones deferred to later and a served queue's are
// not.
func TestUnreadRequests(t *testing.T) {
	for _, c := range []struct {
		name, stages, owner string
		want                string // in the line; "" for none
	}{
		{"no stages/requests", "", "", "1 records have waited unread in queue/requests for over a day: the list has no stages/requests"},
		{"no owner", "# none\n", "", "1 records have waited unread in queue/requests for over a day: the list has no owner"},
		{"owners now", "# none\n", "owner@example.org\n", "1 records have waited unread in queue/requests for over a day: stages/requests names no stages"},
		{"served", "cat\n", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			// No state/, as mlm-newlist makes a list (a review).
			files := map[string]string{"address": "dev@lists.example.org\n"}
			if c.stages != "" {
				files["stages/requests"] = c.stages
			}
			if c.owner != "" {
				files["owner"] = c.owner
			}
			dir := mlmtest.ListDir(t, files)
			q := openList(t, dir).Queue(listdir.Requests)
			if err := q.Create(); err != nil {
				t.Fatal(err)
			}
			rec := func(id string) string { return "MLM1 " + id + "\nS <a@example.org>\n:Subject: x\nE 0\n" }
			mlmtest.AgedFile(t, filepath.Join(q.Path, "new", "1795000000.old"), rec("1795000000.old"), 25*time.Hour)
			mlmtest.AgedFile(t, filepath.Join(q.Path, "new", "1795000001.fresh"), rec("1795000001.fresh"), 23*time.Hour)
			mlmtest.AgedFile(t, filepath.Join(q.Path, "new", "1795000002.later"), rec("1795000002.later"), -time.Hour)
			a := &args{Target: dir, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}
			for i := range 2 {
				var out, errs mlmtest.LockedBuffer
				if err := run(context.Background(), a, &out, &errs); err != nil {
					t.Fatalf("run %d: %v (stderr %q)", i+1, err, errs.String())
				}
				got := errs.String()
				switch {
				case i == 0 && c.want != "" && (!strings.Contains(got, c.want) || strings.Count(got, "\n") != 1):
					t.Errorf("run 1: stderr %q; want one line with %q", got, c.want)
				case (i == 1 || c.want == "") && got != "":
					t.Errorf("run %d: stderr %q; want none", i+1, got)
				}
			}
		})
	}
}

// openList opens the list directory dir.
func openList(t *testing.T, dir string) *listdir.Dir {
	t.Helper()
	l, err := listdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestListsRootOthers: root's -l says that another user's list is that
// user's to run, and makes no lock file in it: made by root, mode 0600,
// it kept the list's own cron jobs from their lock for good (a review).
func TestListsRootOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	parent := t.TempDir()
	// (The test's directories, root's, 0700: nobody could not look in.)
	os.Chmod(parent, 0o755)
	os.Chmod(filepath.Dir(parent), 0o755)
	dir := filepath.Join(parent, "dev")
	if err := os.MkdirAll(filepath.Join(dir, "queue"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644)
	for _, p := range []string{dir, filepath.Join(dir, "queue"), filepath.Join(dir, "address")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	var out, errs mlmtest.LockedBuffer
	err := run(context.Background(), &args{Target: parent, Lists: true, Workers: 1, Retries: 1, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, &errs)
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(errs.String(), dir+": owned by ") {
		t.Errorf("root's run of another user's list: %v (%d), stderr %q; want 75 and why", err, sysexit.Code(err), errs.String())
	}
	if _, err := os.Lstat(filepath.Join(dir, listdir.LockFile)); err == nil {
		t.Errorf("root made a lock file in another user's list")
	}
}

// TestSchedule: with -D -l, the lists go as slots free, each once in
// line; one woken while at work goes again when it ends; one that could
// not settle a record is not woken until the next pass over all.
func TestSchedule(t *testing.T) {
	s := newSchedule(2)
	take := func(want ...string) {
		t.Helper()
		var got []string
		for {
			d, ok := s.next()
			if !ok {
				break
			}
			got = append(got, d)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("taken %q, want %q", got, want)
		}
	}
	s.all([]string{"a", "b", "c"})
	take("a", "b") // two slots
	s.woken([]string{"c", "a", "d", "d"})
	take() // none free
	s.end("b", false)
	take("c")
	s.end("a", false) // woken at work: again, after d, in line before it
	take("d")
	s.end("c", false)
	take("a")
	s.end("a", true) // unsettled: its wake-ups wait for the next pass over all
	s.woken([]string{"a"})
	take()
	s.end("d", false)
	take()
	if s.busy() != 0 {
		t.Errorf("%d at work, want none", s.busy())
	}
	s.all([]string{"a", "b"})
	take("a", "b")
	s.woken([]string{"a"}) // at work: again when it ends
	s.end("a", true)       // but it could not settle a record
	take()
	s.end("b", false)
	take()

	// Woken lists go before those of a pass over all that wait still.
	s.all([]string{"p", "q", "r", "c"})
	take("p", "q")
	s.woken([]string{"r", "x"})
	s.end("p", false)
	s.end("q", false)
	take("r", "x")
	s.end("r", false)
	s.end("x", false)
	// A list whose lock another holds: kept, tried again once at
	// unhold; held again then, left for the next pass over all.
	s.all([]string{"c"})
	take("c")
	s.end("c", false)
	if !s.hold("c") {
		t.Error("hold c: not kept")
	}
	take()
	// Woken while held: left for unhold, not tried at once.
	s.woken([]string{"c"})
	take()
	s.unhold()
	take("c")
	s.end("c", false)
	if s.hold("c") {
		t.Error("hold c again, after unhold's try: kept; want it left for the pass over all")
	}
	s.unhold()
	take()
	s.all([]string{"c"})
	take("c")
	s.end("c", false)
	if !s.hold("c") {
		t.Error("hold c after a pass over all: not kept")
	}
}

// TestDaemonListsStop: with -D -l, a stop (ctx's end: SIGTERM, SIGINT)
// while a list is at work stops its stages and waits for them: the run
// ends with the record back in new/, to wait, none left claimed, and no
// stage running.
func TestDaemonListsStop(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	marks := t.TempDir()
	script := filepath.Join(marks, "slow")
	// (It runs until stopped, a net of 30 s.)
	os.WriteFile(script, []byte(`echo $$ > "$0.pid.new"; mv "$0.pid.new" "$0.pid"
i=0
while [ $i -lt 3000 ]; do i=$((i+1)); sleep 0.01; done
`), 0o644)
	d := startDaemonArgs(t, "sh "+script+"\n", args{Interval: time.Hour, Lists: true}, "1795867200.r")
	d.waitFor(t, "the stage starts", func() bool { _, err := os.Stat(script + ".pid"); return err == nil })
	b, _ := os.ReadFile(script + ".pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	d.cancel()
	if err := <-d.done; err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the run ended before its stage, %d, still running", pid)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.dir, "queue", "requests", "cur")); len(ents) != 0 {
		t.Errorf("the run ended with %s claimed", ents[0].Name())
	}
	if _, err := os.Stat(filepath.Join(d.dir, "queue", "requests", "new", "1795867200.r")); err != nil {
		t.Errorf("the record is not waiting in new/: %v", err)
	}
}

// TestDaemonListsHeld: with -D -l, a list woken while another process
// holds its lock is tried again a moment later, not left for the pass
// over every list, -i later (an hour here): a list's own lock, let go as
// its pass ends, could be held a moment longer by a stage of another
// list forked meanwhile, and the wake-up was lost (a review). The
// record has waited past overdue, so the run says when it finds the
// lock held, and the test lets it go then.
func TestDaemonListsHeld(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	// The pass over every list at the start watches its queues, as the
	// first record's going shows: a list never passed is not watched.
	d := startDaemonArgs(t, "cat\n", args{Interval: time.Hour, Lists: true}, "1.r")
	d.waitFor(t, "the first record goes", isGone(filepath.Join(d.dir, "queue", "requests", "new", "1.r")))
	lock, err := listdir.LockFD(filepath.Join(d.dir, listdir.LockFile), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// (Its time an hour back as it lands: waited past overdue.)
	q := queue.New(filepath.Join(d.dir, "queue", "requests"))
	if err := q.Put("1795000000.r", time.Now().Add(-time.Hour), func(w io.Writer) error {
		_, err := io.WriteString(w, "MLM1 1795000000.r\nS <a@example.org>\n:Subject: x\nE 0\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(q.Path, "new", "1795000000.r")
	d.waitFor(t, "the run finds the list's lock held", func() bool { return strings.Contains(d.errs.String(), "locked by another process") })
	lock.Close()
	d.waitFor(t, "the record goes, the lock let go, before -i", isGone(rec))
	d.cancel()
	if err := <-d.done; err != nil {
		t.Fatal(err)
	}
}

// TestDaemonListsHeldAtStart: with -D -l, a list whose lock another
// holds as the run begins has its queues watched all the same: a record
// that lands once the lock is let go goes, where it waited for the next
// pass over every list (-i, an hour here). The lock is let go once the
// list was tried twice, at the start and a moment later (heldRetry),
// and left for that pass, as each try says (overdueFor 0), so that
// only a wake-up takes it. (Records land until one goes: one that
// landed before the watch began would wake nothing.)
func TestDaemonListsHeldAtStart(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	defer func(retry, due time.Duration) { heldRetry, overdueFor = retry, due }(heldRetry, overdueFor)
	heldRetry, overdueFor = 10*time.Millisecond, 0
	dir := daemonList(t, "cat\n")
	lock, err := listdir.LockFD(filepath.Join(dir, listdir.LockFile), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(filepath.Join(dir, "queue", "requests"))
	// (Its time an hour back: waited past overdue, which is said.)
	if err := q.Put("1795000000.r", time.Now().Add(-time.Hour), func(w io.Writer) error {
		_, err := io.WriteString(w, "MLM1 1795000000.r\nS <a@example.org>\n:Subject: x\nE 0\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d := startDaemonIn(t, dir, args{Interval: time.Hour, Lists: true})
	d.waitFor(t, "the run finds the list's lock held twice", func() bool { return strings.Count(d.errs.String(), "locked by another process") >= 2 })
	lock.Close()
	n := 0
	d.waitFor(t, "a record that lands wakes the list", func() bool {
		n++
		d.put(t, strconv.Itoa(1795000000+n)+".r")
		return isGone(filepath.Join(q.Path, "new", "1795000000.r"))()
	})
	d.cancel()
	if err := <-d.done; err != nil {
		t.Fatal(err)
	}
}

// TestDaemonListsSlow: with -D -l, a list whose stages take long keeps
// a slot, not the other lists' new mail: a record that lands in another
// list after its turn goes at once, where a pass over every list ended
// with its slowest, and the daemon waited for it before it looked at
// its wake-ups again (a review). The slow list's stage waits for the
// test to let it go (a net of 30 s, not a measure).
func TestDaemonListsSlow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("directories are watched on Linux only")
	}
	parent, marks := t.TempDir(), t.TempDir()
	release := filepath.Join(marks, "slow.release")
	qs := map[string]*queue.Queue{}
	for name, stage := range map[string]string{
		"a": "", // (a script: a stage takes no blanks)
		"b": "cat",
	} {
		dir := filepath.Join(parent, name)
		os.MkdirAll(filepath.Join(dir, "stages"), 0o755)
		os.WriteFile(filepath.Join(dir, "address"), []byte(name+"@lists.example.org\n"), 0o644)
		if name == "a" {
			script := filepath.Join(marks, "slow")
			os.WriteFile(script, []byte(`: > "$0.started"
i=0
while [ ! -e "$0.release" ] && [ $i -lt 3000 ]; do i=$((i+1)); sleep 0.01; done
cat >/dev/null
`), 0o644)
			stage = "sh " + script
		}
		os.WriteFile(filepath.Join(dir, "stages", "owner"), []byte(stage+"\n"), 0o644)
		qs[name] = openList(t, dir).Queue(listdir.OwnerQ)
		if err := qs[name].Create(); err != nil {
			t.Fatal(err)
		}
	}
	put := func(name, id string) string {
		if err := qs[name].Put(id, time.Time{}, func(w io.Writer) error {
			_, err := io.WriteString(w, "MLM1 "+id+"\nS <>\n:x\nE 0\n")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(qs[name].Path, "new", id)
	}
	put("a", "1795867200.a")
	first := put("b", "1795867200.b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &daemon{dir: filepath.Join(parent, "b"), errs: &mlmtest.LockedBuffer{}, done: make(chan error, 1), cancel: cancel}
	var out mlmtest.LockedBuffer
	go func() {
		d.done <- run(ctx, &args{Target: parent, Lists: true, Daemon: true, Interval: time.Hour, Workers: 1, Retries: 1, ListsAtOnce: 2,
			MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, d.errs)
	}()
	d.waitFor(t, "a's stage starts", func() bool { _, err := os.Stat(filepath.Join(marks, "slow.started")); return err == nil })
	d.waitFor(t, "b's first record goes", isGone(first))
	second := put("b", "1795867201.b")
	d.waitFor(t, "b's second record goes while a's stage runs", isGone(second))
	if _, err := os.Stat(release); err == nil {
		t.Fatal("a's stage was let go")
	}
	os.WriteFile(release, nil, 0o644)
	d.waitFor(t, "a's record settled, its stage let go", func() bool { ents, _ := os.ReadDir(filepath.Join(qs["a"].Path, "cur")); return len(ents) == 0 })
	cancel()
	if err := <-d.done; err != nil {
		t.Fatal(err)
	}
	if d.errs.String() != "" {
		t.Errorf("stderr %q", d.errs.String())
	}
}

// countWriter counts its writes, and keeps what they wrote.
type countWriter struct {
	n int
	b strings.Builder
}

func (w *countWriter) Write(p []byte) (int, error) { w.n++; return w.b.Write(p) }

// TestLastLinePrefix: with -l, a stage's lines go on each after its
// list, the whole lines of a write in one write (a write each was
// seventeen times as slow; a review), a line longer than maxPrefixed
// in pieces, each after the prefix, and one of just that length with
// no empty line made up after it (a review); flush passes a last line
// without LF on.
func TestLastLinePrefix(t *testing.T) {
	w := &countWriter{}
	l := &lastLine{w: w, prefix: "l/a: "}
	l.Write([]byte("one\ntwo\nthr"))
	l.Write([]byte("ee\n"))
	exact := strings.Repeat("x", maxPrefixed-len("l/a: "))
	l.Write([]byte(exact + "\n"))
	long := strings.Repeat("y", maxPrefixed)
	l.Write([]byte(long + "\nlast"))
	l.flush()
	want := "l/a: one\nl/a: two\nl/a: three\nl/a: " + exact + "\n" +
		"l/a: " + long[:maxPrefixed-5] + "\nl/a: " + long[maxPrefixed-5:] + "\nl/a: last\n"
	if got := w.b.String(); got != want {
		t.Errorf("passed on %d octets, %q...; want %d, %q...", len(got), got[:min(len(got), 40)], len(want), want[:40])
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference at %d: %q, want %q", i, got[i:min(i+20, len(got))], want[i:min(i+20, len(want))])
				break
			}
		}
	}
	if w.n != 5 {
		t.Errorf("%d writes; want 5: one for the whole lines of each write, one for the last", w.n)
	}
	if l.String() != "last" {
		t.Errorf("the last line: %q; want last", l.String())
	}
}

// TestRetryWorkers: -r runs that many records of a list's retry queue at
// once, and -j the other queues'. Each retry record's stage waits until
// the others' have begun, so that all end only if they run at once (a
// net of 30 s fails them, 75, rather than hang); with -r 1 each waits in
// vain (a net of 0.3 s) and both wait in the queue after the run. The
// requests and outgoing queues, at -j 1, run their records one by one
// whatever -r says. (The default, 4, is run-retry-workers.txtar's.)
func TestRetryWorkers(t *testing.T) {
	scripts := t.TempDir()
	meet := filepath.Join(scripts, "meet")
	os.WriteFile(meet, []byte(`read -r magic id
: > "$D/in.$id"
i=0
while [ "$(ls "$D" | grep -c '^in\.')" -lt "$M" ]; do
	i=$((i+1))
	if [ $i -ge "$N" ]; then rm "$D/in.$id"; exit 75; fi
	sleep 0.01
done
cat >/dev/null
`), 0o644)
	// A record's stage notes another's running beside it.
	alone := filepath.Join(scripts, "alone")
	os.WriteFile(alone, []byte(`read -r magic id
if [ -n "$(ls "$O")" ]; then : > "$D/overlap"; fi
: > "$O/$id"
sleep 0.2
rm "$O/$id"
cat >/dev/null
`), 0o644)
	for _, tc := range []struct {
		retries, records int
		net              string // tries of 10 ms each that a stage waits for the others
		left             int    // records of the retry queue waiting after the run
	}{
		{2, 2, "3000", 0},
		{3, 3, "3000", 0},
		{1, 2, "30", 2},
	} {
		dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
		marks, running := t.TempDir(), t.TempDir()
		t.Setenv("D", marks)
		t.Setenv("O", running)
		t.Setenv("N", tc.net)
		t.Setenv("M", strconv.Itoa(tc.records))
		ids := []string{"1795867200.a", "1795867200.b", "1795867200.c"}
		for _, q := range []string{"retry", "requests", "outgoing"} {
			if err := queue.New(filepath.Join(dir, "queue", q)).Create(); err != nil {
				t.Fatal(err)
			}
			n := len(ids)
			if q == "retry" {
				n = tc.records
			}
			for _, id := range ids[:n] {
				if err := os.WriteFile(filepath.Join(dir, "queue", q, "new", id), []byte("MLM1 "+id+"\nS <a@example.org>\n:Subject: x\nE 0\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		os.MkdirAll(filepath.Join(dir, "stages"), 0o700)
		os.WriteFile(filepath.Join(dir, "stages", "retry"), []byte("sh "+meet+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "stages", "requests"), []byte("sh "+alone+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "stages", "outgoing"), []byte("sh "+alone+"\n"), 0o644)
		var out, errs mlmtest.LockedBuffer
		err := run(context.Background(), &args{Target: dir, Workers: 1, Retries: tc.retries, MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, &errs)
		if tc.left == 0 && err != nil {
			t.Fatalf("-r %d: %v; stderr %q", tc.retries, err, errs.String())
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "queue", "retry", "new")); len(ents) != tc.left {
			t.Errorf("-r %d: %d retry records wait, want %d; stderr %q", tc.retries, len(ents), tc.left, errs.String())
		}
		for _, q := range []string{"requests", "outgoing"} {
			if ents, _ := os.ReadDir(filepath.Join(dir, "queue", q, "new")); len(ents) != 0 {
				t.Errorf("-r %d: %d %s records wait, want none; stderr %q", tc.retries, len(ents), q, errs.String())
			}
		}
		if _, err := os.Stat(filepath.Join(marks, "overlap")); err == nil {
			t.Errorf("-r %d: two records of the requests or outgoing queue ran at once with -j 1", tc.retries)
		}
	}
}
