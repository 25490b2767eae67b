package queue

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"mlm/lib/durable"
	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

// newQueue is a queue made in a temporary directory.
func newQueue(t *testing.T) *Queue {
	t.Helper()
	q := New(t.TempDir())
	if err := q.Create(); err != nil {
		t.Fatal(err)
	}
	return q
}

func put(t *testing.T, q *Queue, id, body string, notBefore time.Time) {
	t.Helper()
	if err := q.Put(id, notBefore, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
		t.Fatalf("Put(%s): %v", id, err)
	}
}

func TestLifecycle(t *testing.T) {
	q := newQueue(t)
	// A second on: a record put now has its file's time, which the
	// kernel's coarse clock may put a tick past time.Now's.
	now := time.Now().Add(time.Second)
	put(t, q, "1.a", "one", time.Time{})
	put(t, q, "1.a", "again", time.Time{}) // harmless: the first stays
	put(t, q, "2.b", "two", now.Add(time.Hour))
	if got, _ := os.ReadFile(filepath.Join(q.Path, "new", "1.a")); string(got) != "one" {
		t.Fatalf("new/1.a = %q; want the first write", got)
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "tmp")); len(n) != 0 {
		t.Fatalf("tmp/ = %v; want empty", n)
	}
	ready, _ := q.Ready(now, false)
	if strings.Join(ready, " ") != "1.a" {
		t.Fatalf("Ready = %v; want [1.a] (2.b is for later)", ready)
	}
	if all, _ := q.Ready(now, true); len(all) != 2 {
		t.Fatalf("Ready(flush) = %v; want both", all)
	}
	it, err := q.Claim("1.a", now, false)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if other, _ := q.Claim("1.a", now, false); other != nil {
		t.Fatalf("a second Claim succeeded")
	}
	put(t, q, "1.a", "while claimed", time.Time{}) // queued already: dropped
	if n := mlmtest.Names(t, filepath.Join(q.Path, "new")); strings.Join(n, " ") != "2.b" {
		t.Fatalf("new/ = %v while 1.a is claimed", n)
	}
	if ret, _, _ := q.Sweep(now); ret != 0 {
		t.Fatalf("Sweep stole a locked claim")
	}
	if err := it.Defer(now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if it, _ := q.Claim("1.a", now, false); it != nil {
		t.Fatalf("claimed a deferred record before its time")
	}
	it, _ = q.Claim("1.a", now, true)
	if it == nil {
		t.Fatalf("flush could not claim a deferred record")
	}
	if err := it.Fail("exit 65: bad"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(q.Path, "bad", "1.a.err")); string(got) != "exit 65: bad\n" {
		t.Errorf("bad/1.a.err = %q", got)
	}
	it, _ = q.Claim("2.b", now, true)
	if err := it.Done(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"new", "cur", "tmp"} {
		if n := mlmtest.Names(t, filepath.Join(q.Path, d)); len(n) != 0 {
			t.Errorf("%s/ = %v; want empty", d, n)
		}
	}
}

func TestSweep(t *testing.T) {
	q := New(t.TempDir())
	q.Create()
	put(t, q, "x", "x", time.Time{})
	it, _ := q.Claim("x", time.Now().Add(time.Second), false)
	it.f.Close() // the claimer died: its lock is gone
	stale := filepath.Join(q.Path, "tmp", "y.1.1")
	os.WriteFile(stale, nil, 0o600)
	old := time.Now().Add(-2 * TmpAge)
	os.Chtimes(stale, old, old)
	ret, rem, err := q.Sweep(time.Now())
	if err != nil || ret != 1 || rem != 1 {
		t.Fatalf("Sweep = %d, %d, %v; want 1, 1", ret, rem, err)
	}
	if ready, _ := q.Ready(time.Now().Add(time.Second), false); len(ready) != 1 {
		t.Errorf("swept record not ready: %v", ready)
	}
}

// TestLongID: an id of MaxID octets is written, claimed and failed (its
// reason beside it in bad/) like any other; a longer one is refused as
// data, not left to fail for good as a temporary error.
func TestLongID(t *testing.T) {
	q := newQueue(t)
	id := "1795867200." + strings.Repeat("x", MaxID-11)
	put(t, q, id, "one", time.Time{})
	it, err := q.Claim(id, time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := it.Fail("exit 65: bad"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(q.Path, "bad", id+".err")); string(got) != "exit 65: bad\n" {
		t.Errorf("bad/ID.err = %q, %v", got, err)
	}
	err = q.Put(id+"x", time.Time{}, func(io.Writer) error { return nil })
	if sysexit.Code(err) != sysexit.DataErr || !strings.Contains(err.Error(), "record id of 241 octets") {
		t.Errorf("Put of %d octets = %v; want a data error", MaxID+1, err)
	}
	// One of 255 octets that another writer put in new/ is claimed all
	// the same, and fails to bad/ with its reason beside it, under a
	// name that fits.
	long := "1795867200." + strings.Repeat("y", 255-11)
	if err := os.WriteFile(filepath.Join(q.Path, "new", long), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	it, err = q.Claim(long, time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim of %d octets = %v, %v; want it claimed", len(long), it, err)
	}
	if err := it.Fail("exit 65: long"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(q.Path, "bad", long)); err != nil {
		t.Errorf("not in bad/: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(q.Path, "bad", errName(long))); string(got) != "exit 65: long\n" || len(errName(long)) > 255 {
		t.Errorf("bad/%s = %q, %v", errName(long), got, err)
	}
}

func TestBadNames(t *testing.T) {
	q := New(t.TempDir())
	q.Create()
	for _, id := range []string{".", "..", "a/b", "x.err", ""} {
		err := q.Put(id, time.Time{}, func(io.Writer) error { return nil })
		if sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("Put(%q) = %v; want data error", id, err)
		}
		// new/. and new/.. exist, but hold no record of that id.
		if q.Has(id) {
			t.Errorf("Has(%q) = true", id)
		}
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for id, want := range map[string]time.Duration{
		"1799999990.M1P1":  time.Minute,
		"1799999000.M1P1":  1000 * time.Second,
		"1700000000.M1P1":  time.Hour,
		"x":                time.Minute,
		"+1799999000.M1P1": time.Minute,
		"+1":               time.Minute,
	} {
		if got := Backoff(id, now, time.Minute, time.Hour); got != want {
			t.Errorf("Backoff(%s) = %v; want %v", id, got, want)
		}
	}
}

// TestReturn: a claimed record returned is in new/ again with the time
// it had, not now's: as ready, and as old, as before the claim.
func TestReturn(t *testing.T) {
	q := newQueue(t)
	then := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	put(t, q, "1.a", "one", then)
	it, err := q.Claim("1.a", time.Now(), false)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := it.Return(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(q.Path, "new", "1.a"))
	if err != nil || !info.ModTime().Equal(then) {
		t.Fatalf("new/1.a after Return: %v, %v; want the time %v", info, err, then)
	}
}

// TestClaimNotOverClaimed: a record of the id of one being worked on,
// linked into new/ meanwhile (Put looked at cur/ just before the claim),
// is not claimed over it; it waits until that one is done.
func TestClaimNotOverClaimed(t *testing.T) {
	q := newQueue(t)
	now := time.Now().Add(time.Second) // see TestLifecycle
	put(t, q, "1.a", "first", time.Time{})
	first, err := q.Claim("1.a", now, false)
	if err != nil || first == nil {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	os.WriteFile(filepath.Join(q.Path, "new", "1.a"), []byte("second"), 0o600)
	if it, err := q.Claim("1.a", time.Now().Add(time.Minute), false); it != nil || err != nil {
		t.Fatalf("claimed over the record being worked on: %v, %v", it, err)
	}
	if got, _ := os.ReadFile(filepath.Join(q.Path, "cur", "1.a")); string(got) != "first" {
		t.Fatalf("cur/1.a = %q; want the first", got)
	}
	if err := first.Done(); err != nil {
		t.Fatal(err)
	}
	second, err := q.Claim("1.a", time.Now().Add(time.Minute), false)
	if err != nil || second == nil {
		t.Fatalf("Claim after Done = %v, %v", second, err)
	}
	second.Done()
}

// TestClaimAfterDone: a claim that opened new/ID just before another
// claimer took that record, finished it, and a record of the same id
// was put again, gets the lock on the file done with, not on the one now
// at new/ID: it claims nothing. Claimed, the new record would be in cur/
// unlocked, for a sweep to give to another runner, and the claim would
// read the old record and, done with it, remove the new one unsent.
func TestClaimAfterDone(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "first", time.Time{})
	t.Cleanup(func() { testHookOpened = func(string) {} })
	testHookOpened = func(string) {
		testHookOpened = func(string) {}
		other, err := q.Claim("1.a", time.Now(), true)
		if err != nil || other == nil {
			t.Fatalf("other Claim = %v, %v", other, err)
		}
		if err := other.Done(); err != nil {
			t.Fatal(err)
		}
		put(t, q, "1.a", "second", time.Time{})
	}
	if it, err := q.Claim("1.a", time.Now(), true); it != nil || err != nil {
		t.Fatalf("Claim = %v, %v; want nothing claimed", it, err)
	}
	if got, err := os.ReadFile(filepath.Join(q.Path, "new", "1.a")); string(got) != "second" {
		t.Fatalf("new/1.a = %q, %v; want the second record, waiting", got, err)
	}
	it, err := q.Claim("1.a", time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim of the second = %v, %v", it, err)
	}
	it.Done()
}

// TestFailAgain: a record failed under an id that failed before (put
// again, and failed again) goes to bad/ beside the first, which keeps
// its record and its reason: ID.2, then ID.3.
func TestFailAgain(t *testing.T) {
	q := newQueue(t)
	now := time.Now()
	for i, body := range []string{"first", "second", "third"} {
		put(t, q, "1.a", body, time.Time{})
		it, err := q.Claim("1.a", now, true)
		if err != nil || it == nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if err := it.Fail("reason " + body); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"1.a.err": "reason first\n", "1.a.2.err": "reason second\n", "1.a.3.err": "reason third\n",
	} {
		if got, _ := os.ReadFile(filepath.Join(q.Path, "bad", name)); string(got) != want {
			t.Errorf("bad/%s = %q; want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"1.a": "first", "1.a.2": "second", "1.a.3": "third"} {
		if got, _ := os.ReadFile(filepath.Join(q.Path, "bad", name)); !strings.Contains(string(got), want) {
			t.Errorf("bad/%s = %q; want the %s record", name, got, want)
		}
	}
}

// TestFailFailsClaimed: a Fail that cannot move the record (bad/ gone,
// the disk full) leaves it claimed and locked, for the caller to Defer,
// as mlm-run does. It let go of the lock first, and a second runner's
// sweep then put the record back and claimed it, while the first still
// acted on it: its Defer moved the record out of the second's hands,
// from cur/ to new/, and a stage that was then working on it, and did
// its work, would leave it there to run again.
func TestFailFailsClaimed(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "one", time.Time{})
	first, err := q.Claim("1.a", time.Now(), true)
	if err != nil || first == nil {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	if err := os.Remove(filepath.Join(q.Path, "bad")); err != nil {
		t.Fatal(err)
	}
	if err := first.Fail("exit 65: bad"); err == nil {
		t.Fatal("Fail without bad/ succeeded")
	}
	// Another runner, meanwhile.
	if returned, _, err := q.Sweep(time.Now()); err != nil || returned != 0 {
		t.Errorf("Sweep = %d, %v; want the record still claimed (0)", returned, err)
	}
	second, err := q.Claim("1.a", time.Now(), true)
	if second != nil || err != nil {
		t.Errorf("Claim by another runner = %v, %v; want nothing to claim", second, err)
	}
	if err := first.Defer(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if second != nil {
		// Its stages did their work; the record is to go.
		if err := second.Done(); err != nil {
			t.Errorf("the other runner's Done: %v", err)
		}
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "new")); !slices.Equal(n, []string{"1.a"}) {
		t.Errorf("new/ = %v; want the record, waiting", n)
	}
}

// TestFailRenameFails: a Fail whose move of the record fails (here,
// cur/ID gone from under it) leaves no bad/ID.err behind. It did: a
// reason with no record beside it, which read as a record failed, and
// took the name from the record's next Fail, which became ID.2.
func TestFailRenameFails(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "one", time.Time{})
	it, err := q.Claim("1.a", time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := os.Remove(filepath.Join(q.Path, "cur", "1.a")); err != nil {
		t.Fatal(err)
	}
	if err := it.Fail("exit 65: bad"); err == nil {
		t.Fatal("Fail of a record gone from cur/ succeeded")
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "bad")); len(n) != 0 {
		t.Errorf("bad/ = %v; want nothing", n)
	}
}

// TestFailAgainLongID: an id too long to take ".2" within NAME_MAX
// fails again under a name that fits, beside the first.
func TestFailAgainLongID(t *testing.T) {
	q := newQueue(t)
	id := strings.Repeat("a", 254)
	for i := range 2 {
		// Put takes no id this long: another writer put it in new/.
		if err := os.WriteFile(filepath.Join(q.Path, "new", id), []byte(fmt.Sprint(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		it, err := q.Claim(id, time.Now(), true)
		if err != nil || it == nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if err := it.Fail("bad"); err != nil {
			t.Fatalf("fail %d: %v", i, err)
		}
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "bad")); len(n) != 4 {
		t.Errorf("bad/ = %v; want two records and their reasons", n)
	}
}

// TestPutWhileClaimed: a record in new/ is claimed (new/ -> cur/)
// while the same id is Put again (a re-run of the stage that wrote it).
// The record is in the queue throughout, so the second Put is dropped
// (mlm-enqueue(1)): it was linked into new/ beside the claimed copy when
// the claim landed during its fsync, and the record ran twice. (From a
// review: 47 of 50 failed before.)
func TestPutWhileClaimed(t *testing.T) {
	q := newQueue(t)
	dups := 0
	const n = 50
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("1795867200.r%d", i)
		put(t, q, id, "rec\n", time.Time{})
		written := make(chan struct{})
		claimed := make(chan *Item)
		go func() {
			<-written
			it, _ := q.Claim(id, time.Now().Add(time.Hour), true)
			claimed <- it
		}()
		err := q.Put(id, time.Time{}, func(w io.Writer) error {
			io.WriteString(w, "rec\n")
			close(written)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		it := <-claimed
		if it == nil {
			continue
		}
		if _, err := os.Lstat(filepath.Join(q.Path, "new", id)); err == nil {
			dups++ // claimed in cur/ and a second copy waiting in new/
		}
		it.Done()
		os.Remove(filepath.Join(q.Path, "new", id))
	}
	if dups > 0 {
		t.Errorf("%d of %d: a record put again while it was being claimed is in new/ beside its claimed copy in cur/ (processed twice)", dups, n)
	}
}

// TestClaimAnyName: a file that another writer put in new/ under a name
// that is no record id (a maildir flag's ':', a blank, ".err" at the
// end) is claimed as any other, not skipped for ever without a word
// while Ready names it each pass; and one named ID.err fails to bad/
// under a name that cannot pass for the reason of the record ID.
func TestClaimAnyName(t *testing.T) {
	q := newQueue(t)
	names := []string{"1795867200.a:2,S", "a b", "1795867200.c.err", "caf\xc3\xa9"}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(q.Path, "new", name), []byte("MLM1 x\nS <>\n:x\nE 0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	if ready, _ := q.Ready(now, false); len(ready) != len(names) {
		t.Fatalf("Ready = %q; want the %d files", ready, len(names))
	}
	for _, name := range names {
		it, err := q.Claim(name, now, false)
		if err != nil || it == nil {
			t.Errorf("Claim(%q) = %v, %v; want it claimed", name, it, err)
			continue
		}
		if err := it.Fail("exit 65: no"); err != nil {
			t.Fatalf("Fail(%q): %v", name, err)
		}
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "new")); len(n) != 0 {
		t.Errorf("new/ = %q; want every file claimed", n)
	}
	// 1795867200.c.err in bad/ would read as the reason of a record
	// 1795867200.c: it is 1795867200.c.err.2, its reason beside it.
	if _, err := os.Stat(filepath.Join(q.Path, "bad", "1795867200.c.err")); err == nil {
		t.Errorf("bad/1795867200.c.err: a record where the reason of 1795867200.c would be")
	}
	if got, err := os.ReadFile(filepath.Join(q.Path, "bad", "1795867200.c.err.2.err")); string(got) != "exit 65: no\n" {
		t.Errorf("bad/1795867200.c.err.2.err = %q, %v", got, err)
	}
	// A name too long for the file system is none of new/'s files: no
	// temporary failure (mlm-moderate approve of such an id, by hand).
	for _, name := range []string{".", "..", "", "a/b", strings.Repeat("a", 256), strings.Repeat("a", 5000)} {
		if it, err := q.Claim(name, now, true); it != nil || err != nil {
			t.Errorf("Claim(%.20q) = %v, %v; want nothing", name, it, err)
		}
	}
}

// TestClaimNotRegular: a FIFO or a symbolic link another writer put in
// new/ (or cur/) is an error Claim returns at once, which the runner
// reports: the open of a FIFO blocked until someone wrote to it, the
// runner with it, and a link was skipped for ever without a word (the
// lock on its target, new/ID not the file locked). Sweep passes both by.
func TestClaimNotRegular(t *testing.T) {
	q := newQueue(t)
	target := filepath.Join(t.TempDir(), "rec")
	os.WriteFile(target, []byte("MLM1 x\nS <>\n:x\nE 0\n"), 0o600)
	if err := syscall.Mkfifo(filepath.Join(q.Path, "new", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(q.Path, "cur", "fifo2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(q.Path, "new", "link")); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		now := time.Now().Add(time.Second)
		for _, name := range []string{"fifo", "link"} {
			if it, err := q.Claim(name, now, false); err == nil || it != nil || !strings.Contains(err.Error(), name) {
				t.Errorf("Claim(%q) = %v, %v; want an error naming it", name, it, err)
			}
		}
		if _, _, err := q.Sweep(now); err != nil {
			t.Errorf("Sweep: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a hang, not a slow run
		t.Fatal("Claim or Sweep blocked on a FIFO")
	}
}

// TestNotRegularNotOpened: a FIFO in new/ or cur/ is never opened, as
// mlm-listdir(5) says, not even without waiting: an open for reading
// lets a writer blocked in its open of the FIFO go on, to write into a
// pipe whose reader is gone at once, and a device's open acts on the
// device. It was opened (O_NONBLOCK), then found not a regular file.
// An inotify watch on the directories sees every open of a file in them.
func TestNotRegularNotOpened(t *testing.T) {
	q := newQueue(t)
	for _, f := range []string{"new/fifo", "cur/fifo2"} {
		if err := syscall.Mkfifo(filepath.Join(q.Path, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(fd)
	for _, d := range []string{newDir, curDir} {
		if _, err := unix.InotifyAddWatch(fd, q.dir(d), unix.IN_OPEN); err != nil {
			t.Skip(err)
		}
	}
	now := time.Now().Add(time.Second)
	ids, strays, err := q.Scan(now, false)
	if err != nil || len(ids) != 0 || !slices.Equal(strays, []string{"fifo"}) {
		t.Fatalf("Scan = %v, %v, %v; want the FIFO a stray", ids, strays, err)
	}
	if it, err := q.Claim("fifo", now, false); err == nil || it != nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Claim(fifo) = %v, %v; want an error naming it", it, err)
	}
	if _, _, err := q.Sweep(now); err != nil {
		t.Errorf("Sweep: %v", err)
	}
	buf := make([]byte, 64<<10)
	n, err := unix.Read(fd, buf)
	if err != nil && err != unix.EAGAIN {
		t.Fatal(err)
	}
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
		if name != "" { // (a directory's own open, to read it, has none)
			t.Errorf("%s was opened", name)
		}
		off += unix.SizeofInotifyEvent + int(ev.Len)
	}
}

// TestPutOverLeftTmp: a writer killed while it wrote leaves its file in
// tmp/ until a sweep a day and a half later. A later writer that has its
// process id (process 1 in a container always has, and a container's
// children are numbered alike after each start) and Puts the same record
// must not find that name taken: Put is exclusive, and every re-run
// failed 75 until the sweep. (From a review.)
func TestPutOverLeftTmp(t *testing.T) {
	q := newQueue(t)
	id := "1795867200.M1P1"
	// What the killed writer of this process id left, whichever of its
	// Puts it was killed in.
	for n := int64(1); n <= tmpSeq.Load()+3; n++ {
		left := filepath.Join(q.Path, "tmp", fmt.Sprintf("%s.%d.%d", id, os.Getpid(), n))
		if err := os.WriteFile(left, []byte("rec"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put(t, q, id, "rec\n", time.Time{})
	if b, err := os.ReadFile(filepath.Join(q.Path, "new", id)); string(b) != "rec\n" {
		t.Errorf("new/%s = %q, %v", id, b, err)
	}
}

// TestPutClaimedSyncs: a Put that finds its record claimed, in cur/,
// and drops its own copy, answers for the record in cur/: it fsyncs
// cur/ first. The claim's rename is fsynced by no one, and the writer
// that linked the name into new/ may have died before its own fsync of
// new/, so without it a power cut could lose a record that a second
// writer (the MTA's retry, through mlm-accept) was told was queued.
func TestPutClaimedSyncs(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "rec\n", time.Time{})
	it, err := q.Claim("1.a", time.Now().Add(time.Hour), true)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	var synced []string
	syncDir = func(dir string) error { synced = append(synced, dir); return durable.SyncDir(dir) }
	defer func() { syncDir = durable.SyncDir }()
	put(t, q, "1.a", "rec\n", time.Time{})
	if want := filepath.Join(q.Path, "cur"); !slices.Contains(synced, want) {
		t.Errorf("Put of a claimed record synced %q; want %q among them", synced, want)
	}
	if _, err := os.Lstat(filepath.Join(q.Path, "new", "1.a")); err == nil {
		t.Errorf("Put of a claimed record linked a second copy into new/")
	}
}

// TestFarFuture: a time to wait for past what a file time in
// nanoseconds can say (the year 2262) keeps the record waiting, in Put
// and in Defer. os.Chtimes takes the time as UnixNano, which wrapped
// round to 1901: the record was ready at once, and an "mlm-enqueue -t"
// of some centuries ran at the next pass.
func TestFarFuture(t *testing.T) {
	q := newQueue(t)
	now := time.Now().Add(time.Second) // past a new file's time (see TestLifecycle)
	far := now.AddDate(300, 0, 0)
	put(t, q, "1.far", "x", far)
	if ready, _ := q.Ready(now, false); len(ready) != 0 {
		t.Fatalf("Ready = %v; want none, 1.far waits three centuries", ready)
	}
	put(t, q, "2.far", "x", time.Time{})
	it, err := q.Claim("2.far", now, false)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := it.Defer(far); err != nil {
		t.Fatal(err)
	}
	if ready, _ := q.Ready(now, false); len(ready) != 0 {
		t.Fatalf("Ready = %v after Defer; want none", ready)
	}
}

// TestFailRace: two records failing at the same moment that pick one
// name in bad/ (x failed again, and x.2 failing first) each keep their
// own reason: the one that comes second to the name takes the next. The
// second one's reason took the place of the first's, and the first's
// record then read with the other's reason, or, its own rename refused,
// had the reason it had just written taken away.
func TestFailRace(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "first", time.Time{})
	it, err := q.Claim("1.a", time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := it.Fail("reason first"); err != nil {
		t.Fatal(err)
	}
	put(t, q, "1.a", "second", time.Time{})
	put(t, q, "1.a.2", "other", time.Time{})
	second, err := q.Claim("1.a", time.Now(), true)
	if err != nil || second == nil {
		t.Fatalf("Claim = %v, %v", second, err)
	}
	other, err := q.Claim("1.a.2", time.Now(), true)
	if err != nil || other == nil {
		t.Fatalf("Claim = %v, %v", other, err)
	}
	// 1.a's second failure picks 1.a.2, and 1.a.2 fails then, first
	// to take it.
	t.Cleanup(func() { testHookPicked = func(string) {} })
	testHookPicked = func(name string) {
		testHookPicked = func(string) {}
		if name != "1.a.2" {
			t.Errorf("picked %s; want 1.a.2", name)
		}
		if err := other.Fail("reason other"); err != nil {
			t.Error(err)
		}
	}
	if err := second.Fail("reason second"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(q.Path, "bad"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".err") {
			continue
		}
		rec, _ := os.ReadFile(filepath.Join(q.Path, "bad", e.Name()))
		reason, err := os.ReadFile(filepath.Join(q.Path, "bad", e.Name()+".err"))
		if err != nil {
			t.Errorf("bad/%s has no reason: %v", e.Name(), err)
			continue
		}
		for _, body := range []string{"first", "second", "other"} {
			if strings.Contains(string(rec), body) && string(reason) != "reason "+body+"\n" {
				t.Errorf("bad/%s, the %s record, has the reason %q", e.Name(), body, reason)
			}
		}
	}
	if len(ents) != 6 {
		t.Errorf("bad/ holds %d files; want 3 records and their reasons", len(ents))
	}
}

// TestClaimLocked: a record that another claimer has opened and locked,
// and not yet moved to cur/, is left to it: Claim returns nothing and no
// error, as for a record gone. Several runners on one queue (cron and a
// daemon, or -j) meet so as a rule, and the one that lost is no failure.
func TestClaimLocked(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "one", time.Time{})
	other, err := os.Open(filepath.Join(q.Path, "new", "1.a"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if it, err := q.Claim("1.a", time.Now().Add(time.Second), true); it != nil || err != nil {
		t.Fatalf("Claim of a record locked by another = %v, %v; want nothing, no error", it, err)
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "new")); !slices.Equal(n, []string{"1.a"}) {
		t.Errorf("new/ = %v; want the record left for the other claimer", n)
	}
}

// TestSweepTmpAge: a sweep removes a tmp/ file older than 36 hours, as
// mlm-run(1) and mlm-listdir(5) say, and leaves a younger one, which may
// be a writer's at work.
func TestSweepTmpAge(t *testing.T) {
	q := newQueue(t)
	now := time.Now()
	for name, age := range map[string]time.Duration{"young.1.1": 35 * time.Hour, "old.1.1": 37 * time.Hour} {
		p := filepath.Join(q.Path, "tmp", name)
		if err := os.WriteFile(p, []byte("rec"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if _, removed, err := q.Sweep(now); err != nil || removed != 1 {
		t.Errorf("Sweep = %d, %v; want 1 removed", removed, err)
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "tmp")); !slices.Equal(n, []string{"young.1.1"}) {
		t.Errorf("tmp/ = %v; want the file of 35 hours only", n)
	}
}

// TestFailAgainAtMaxID: an id whose ID.2 is exactly MaxID octets fails
// again as ID.2, as mlm-listdir(5) says, its start and a hash taking
// its place only past that.
func TestFailAgainAtMaxID(t *testing.T) {
	q := newQueue(t)
	id := "1795867200." + strings.Repeat("x", MaxID-2-11)
	for i := range 2 {
		put(t, q, id, fmt.Sprint(i), time.Time{})
		it, err := q.Claim(id, time.Now(), true)
		if err != nil || it == nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if err := it.Fail("bad"); err != nil {
			t.Fatalf("fail %d: %v", i, err)
		}
	}
	want := []string{id, id + ".2", id + ".2.err", id + ".err"}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "bad")); !slices.Equal(n, want) {
		t.Errorf("bad/ = %v; want %v", n, want)
	}
}

// TestFailNotOverRecord: a record put in bad/ without its reason, under
// the name Fail picked, after its look and before its move (by hand, or
// by another writer that moves the record first), is not replaced: this
// one takes the next name, and the reason it wrote for the first goes.
func TestFailNotOverRecord(t *testing.T) {
	q := newQueue(t)
	put(t, q, "1.a", "mine", time.Time{})
	it, err := q.Claim("1.a", time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	t.Cleanup(func() { testHookPicked = func(string) {} })
	testHookPicked = func(name string) {
		testHookPicked = func(string) {}
		if err := os.WriteFile(filepath.Join(q.Path, "bad", name), []byte("other"), 0o600); err != nil {
			t.Error(err)
		}
	}
	if err := it.Fail("reason mine"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"1.a": "other", "1.a.2": "mine", "1.a.2.err": "reason mine\n"} {
		if got, err := os.ReadFile(filepath.Join(q.Path, "bad", name)); string(got) != want {
			t.Errorf("bad/%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(q.Path, "bad", "1.a.err")); err == nil {
		t.Errorf("bad/1.a.err: the reason of this record beside the other")
	}
}

// TestClockBack: after the system's clock steps back, a record put
// while it was ahead is ready at once, as it was when put; one deferred
// (Defer) or put to wait (Put's notBefore) still waits for its time. A
// record put while the clock was a day ahead waited that day, past
// mlm-run's -W, for the clock to come back to when it was written.
func TestClockBack(t *testing.T) {
	q := newQueue(t)
	q.SystemNow = true
	put(t, q, "1.fresh", "one", time.Time{})
	put(t, q, "2.wait", "two", time.Now().Add(time.Hour))
	put(t, q, "3.deferred", "three", time.Time{})
	it, err := q.Claim("3.deferred", time.Now(), false)
	if err != nil || it == nil {
		t.Fatalf("Claim = %v, %v", it, err)
	}
	if err := it.Defer(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	back := time.Now().Add(-24 * time.Hour) // the clock, stepped back a day
	if ids, err := q.Ready(back, false); err != nil || !slices.Equal(ids, []string{"1.fresh"}) {
		t.Errorf("Ready a day back = %q, %v; want 1.fresh alone", ids, err)
	}
	for id, ready := range map[string]bool{"1.fresh": true, "2.wait": false, "3.deferred": false} {
		it, err := q.Claim(id, back, false)
		if err != nil || (it != nil) != ready {
			t.Errorf("Claim(%s) a day back = %v, %v; want claimed %v", id, it, err, ready)
		}
		if it != nil {
			it.Return()
		}
	}
	// Not given the system's present (expiry's cutoff, another clock's
	// time), a record is ready by its modification time alone.
	q.SystemNow = false
	if ids, err := q.Ready(back, false); err != nil || len(ids) != 0 {
		t.Errorf("Ready at a time not the present = %q, %v; want none", ids, err)
	}
}

// TestScanMany: Scan reads new/ a thousand names at a time, and still
// gives every record, oldest first (ties by id), and every stray, in
// the order of their names, whatever chunk each came in.
func TestScanMany(t *testing.T) {
	q := newQueue(t)
	base := time.Unix(1764417600, 0)
	var want []string
	for i := range 2500 {
		id := fmt.Sprintf("r%04d", 2499-i) // names the reverse of their times
		if err := os.WriteFile(filepath.Join(q.Path, "new", id), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i/2) * time.Second) // two at each time
		if err := os.Chtimes(filepath.Join(q.Path, "new", id), at, at); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	for i := 0; i < len(want); i += 2 { // of two at one time, the lesser id first
		want[i], want[i+1] = want[i+1], want[i]
	}
	strays := []string{"s0", "s1", "s2"}
	for _, s := range strays {
		if err := os.Symlink("nowhere", filepath.Join(q.Path, "new", s)); err != nil {
			t.Fatal(err)
		}
	}
	ids, gotStrays, err := q.Scan(time.Time{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("Scan gave %d ids, %v...; want %d, %v...", len(ids), ids[:min(4, len(ids))], len(want), want[:4])
	}
	if !slices.Equal(gotStrays, strays) {
		t.Errorf("strays %v; want %v", gotStrays, strays)
	}
}

// TestShortID: an id that fits is itself; a longer one is cut, with a
// hash of the whole, to max octets, the same each time, and two ids that
// share their first octets differ.
func TestShortID(t *testing.T) {
	if got := ShortID("p1", 10); got != "p1" {
		t.Errorf("ShortID(p1) = %q", got)
	}
	long := strings.Repeat("x", 300)
	a, b := ShortID(long, 237), ShortID(long+"y", 237)
	if len(a) != 237 || !strings.HasPrefix(a, strings.Repeat("x", 228)+".") || a != ShortID(long, 237) || a == b {
		t.Errorf("ShortID(300 octets) = %q (%d), and of another %q", a, len(a), b)
	}
	if errName(long) != ShortID(long, MaxID)+".err" || errName("p1") != "p1.err" {
		t.Errorf("errName = %q", errName(long))
	}
}

// TestHolds: Holds counts the records waiting and claimed, not those
// failed (bad/, which a stranger's answers that mlm-moderate refused
// filled, shutting the queue for good: R76) nor a tmp/ file, and their
// octets, and stops at either bound, which makes the queue full; a
// queue without its directories holds nothing.
func TestHolds(t *testing.T) {
	q := newQueue(t)
	now := time.Now().Add(time.Second)
	put(t, q, "1.a", "0123456789", time.Time{})
	put(t, q, "2.b", "01234", time.Time{})
	put(t, q, "3.c", "0", time.Time{})
	it, err := q.Claim("2.b", now, false)
	if err != nil {
		t.Fatal(err)
	}
	defer it.f.Close()
	it3, err := q.Claim("3.c", now, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := it3.Fail("no"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(q.Path, "tmp", "4.d"), []byte("0123456789"), 0o600)
	for _, c := range []struct {
		records int
		octets  int64
		n       int
		size    int64
		full    bool
	}{
		{100, 100, 2, 15, false},
		{2, 100, 2, 15, true},
		{3, 100, 2, 15, false},
		{100, 15, 2, 15, true},
		{100, 16, 2, 15, false},
		{1, 100, 1, 10, true}, // (new/ first: stops there)
		{100, 10, 1, 10, true},
	} {
		n, size, full, err := q.Holds(c.records, c.octets)
		if n != c.n || size != c.size || full != c.full || err != nil {
			t.Errorf("Holds(%d, %d) = %d, %d, %v, %v; want %d, %d, %v", c.records, c.octets, n, size, full, err, c.n, c.size, c.full)
		}
	}
	if n, size, full, err := New(filepath.Join(t.TempDir(), "none")).Holds(1, 1); n != 0 || size != 0 || full || err != nil {
		t.Errorf("Holds of no queue = %d, %d, %v, %v; want nothing", n, size, full, err)
	}
}

// TestFailReasonInTmp: Fail writes a record's reason in tmp/, which a
// sweep empties of what a run killed there left, and links it into
// bad/: beside it, in bad/, nothing removed a killed run's file (R72),
// and a sweep of bad/ by name would remove records whose ids look so
// (R86).
func TestFailReasonInTmp(t *testing.T) {
	q := newQueue(t)
	var tmp string
	testHookReason = func(p string) { tmp = p }
	defer func() { testHookReason = func(string) {} }()
	put(t, q, ".p.err.tmp1", "x", time.Time{})
	it, err := q.Claim(".p.err.tmp1", time.Now(), true)
	if err != nil || it == nil {
		t.Fatalf("claim: %v", err)
	}
	if err := it.Fail("bad"); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(tmp) != filepath.Join(q.Path, "tmp") {
		t.Errorf("the reason written in %s; want tmp/", tmp)
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "bad")); !slices.Equal(n, []string{".p.err.tmp1", ".p.err.tmp1.err"}) {
		t.Errorf("bad/ = %v", n)
	}
	if n := mlmtest.Names(t, filepath.Join(q.Path, "tmp")); len(n) != 0 {
		t.Errorf("tmp/ = %v; want it empty", n)
	}
}

// TestSweepClockAhead (R89 F4): a record a dead run claimed, its time
// ahead of now (written while the clock was ahead, which then stepped
// back), is ready at once once swept, as it was when claimed: the
// rename back set its change time to now, and its time ahead of that
// read as a record put to wait, which waited out the clock's step.
func TestSweepClockAhead(t *testing.T) {
	q := New(t.TempDir())
	q.SystemNow = true // as mlm-run's: its now is the system clock's
	q.Create()
	put(t, q, "x", "x", time.Time{})
	it, _ := q.Claim("x", time.Now().Add(time.Second), false)
	it.f.Close() // the claimer died
	ahead := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(q.Path, "cur", "x"), ahead, ahead); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if ret, _, err := q.Sweep(now); err != nil || ret != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", ret, err)
	}
	if ready, _ := q.Ready(now, false); len(ready) != 1 {
		t.Errorf("swept record not ready at the system clock's now: %v", ready)
	}
}
