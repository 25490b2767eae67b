package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	jf "mlm/lib/journal"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// look catches j up with post p's journal, as lookup does before a
// record (a record of no recipients).
func look(j *journal) error {
	_, _, err := j.lookup("p", "p", nil, "")
	return err
}

// TestJournalFilter: with a filter (retries), the journal keeps the
// outcomes of the recipients asked about only, however long it is, and
// reads it again for a record with others.
func TestJournalFilter(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "D m%d@x.example\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "p"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	j := newJournal(dir)
	defer j.close()
	j.filter()
	for _, tc := range []struct {
		rcpts []string
		todo  int
	}{
		{[]string{"m7@x.example", "new@x.example"}, 1},
		{[]string{"m9999@X.EXAMPLE"}, 0},
		{[]string{"m7@x.example", "other@x.example"}, 1},
	} {
		var ps []stream.Path
		for _, r := range tc.rcpts {
			ps = append(ps, stream.Path{Mailbox: r})
		}
		todo, _, err := j.lookup("p", "p", ps, "")
		if err != nil || len(todo) != tc.todo {
			t.Errorf("%v: %d to do, %v; want %d", tc.rcpts, len(todo), err, tc.todo)
		}
	}
	if n := len(j.done["p"]); n != 2 {
		t.Errorf("%d outcomes kept of 10000; want those of the 2 recipients asked about", n)
	}
}

// TestJournalDirSynced: a post's journal name is made durable on each
// run's first open of it, before anything is sent, not only by the run
// that made the file: a run whose fsync of the directory failed left
// the file behind, and the next would otherwise never fsync it.
func TestJournalDirSynced(t *testing.T) {
	dir := t.TempDir()
	rcpts := []stream.Path{{Mailbox: "a@x.example"}}
	j := newJournal(dir)
	j.syncDir = func(string) error { return errors.New("injected") }
	if _, err := j.reserve("p", rcpts); err == nil {
		t.Fatal("reserve with the directory's fsync failing: no error")
	}
	j.close()
	if _, err := os.Lstat(filepath.Join(dir, "p")); err != nil {
		t.Fatalf("the failed run left no file (%v): the test tests nothing", err)
	}
	j = newJournal(dir)
	defer j.close()
	var synced []string
	j.syncDir = func(d string) error { synced = append(synced, d); return nil }
	for range 2 {
		if _, err := j.reserve("p", rcpts); err != nil {
			t.Fatal(err)
		}
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("directories fsynced by the next run: %q; want %q once", synced, dir)
	}
}

// TestJournalCatchUp: what another process appends to a post's journal,
// which this one has open, is read before the next record, a partial
// last line once it is whole; what nobody appended costs no read.
func TestJournalCatchUp(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	final := func(a string, want bool) {
		t.Helper()
		if err := look(j); err != nil {
			t.Fatal(err)
		}
		if todo, _, err := j.lookup("p", "p", []stream.Path{{Mailbox: a}}, ""); err != nil || (len(todo) == 0) != want {
			t.Fatalf("final(%s) = %v, %v; want %v", a, len(todo) == 0, err, want)
		}
	}
	if _, err := j.reserve("p", []stream.Path{{Mailbox: "a@x.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.record("p", []string{"D a@x.example"}); err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(filepath.Join(dir, "p"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	final("b@x.example", false)
	other.WriteString("D b@x.example\nF c@x.")
	final("b@x.example", true)
	final("c@x.example", false) // not yet a whole line
	other.WriteString("example\n")
	final("c@x.example", true)
	final("d@x.example", false)
	name := filepath.Join(dir, "p")
	if st, err := os.Stat(name); err != nil || j.read["p"] != st.Size() {
		t.Fatalf("read %d octets of a journal of %d (%v)", j.read["p"], st.Size(), err)
	}
	// The name now leads to another file (a journal put back from a
	// copy, say): it is read by its name.
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name+".new", append(b, "D e@x.example\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name+".new", name); err != nil {
		t.Fatal(err)
	}
	final("e@x.example", true)
}

// TestJournalUnknown: unknown leaves out the recipients with an outcome
// in the journal and a second of one key, in order, and leaves rcpts as
// it was. A record none of whose recipients it leaves out, as on a
// post's first delivery, is its own list to send: no copy, and, with the
// set of its keys kept from the record before, no allocation.
func TestJournalUnknown(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	// Another process's lines.
	if err := os.WriteFile(filepath.Join(dir, "p"), []byte("D b@x.example\nF d@x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := look(j); err != nil {
		t.Fatal(err)
	}
	paths := func(as ...string) []stream.Path {
		ps := make([]stream.Path, len(as))
		for i, a := range as {
			ps[i].Mailbox = a
		}
		return ps
	}
	rcpts := paths("a@x.example", "b@x.example", "c@x.example", "a@X.example", "d@x.example", "e@x.example")
	todo, _, err := j.lookup("p", "p,1", rcpts, "")
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b []stream.Path) bool {
		return slices.EqualFunc(a, b, func(x, y stream.Path) bool { return x.Mailbox == y.Mailbox })
	}
	if want := paths("a@x.example", "c@x.example", "e@x.example"); !same(todo, want) {
		t.Errorf("unknown = %v; want %v", todo, want)
	}
	if want := paths("a@x.example", "b@x.example", "c@x.example", "a@X.example", "d@x.example", "e@x.example"); !same(rcpts, want) {
		t.Errorf("rcpts became %v; want %v", rcpts, want)
	}
	var many []stream.Path
	for i := range 100 {
		many = append(many, stream.Path{Mailbox: fmt.Sprintf("m%d@y.example", i)})
	}
	if todo, _, err := j.lookup("p", "p,2", many, ""); err != nil || len(todo) != len(many) || &todo[0] != &many[0] {
		t.Fatalf("unknown of a record none of whose recipients is known: %d of %d, a copy %v, %v; want rcpts itself",
			len(todo), len(many), len(todo) > 0 && &todo[0] != &many[0], err)
	}
	if n := testing.AllocsPerRun(10, func() { j.mu.Lock(); j.unknown("p", "p,2", many); j.mu.Unlock() }); n != 0 {
		t.Errorf("unknown of a record none of whose recipients is known: %v allocations; want 0", n)
	}
}

// TestJournalReplaced: once a post's journal name leads to another file,
// or to none, or the file is cut short in place, what this process
// appends goes to the file at the name, where other processes read, and
// that file is read whole.
func TestJournalReplaced(t *testing.T) {
	for _, how := range []string{"replaced", "removed", "cut short"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "p")
			j := newJournal(dir)
			defer j.close()
			rec := func(line string) {
				t.Helper()
				if err := look(j); err != nil {
					t.Fatal(err)
				}
				if _, err := j.reserve("p", []stream.Path{{Mailbox: "a@x.example"}}); err != nil {
					t.Fatal(err)
				}
				if err := j.record("p", []string{line}); err != nil {
					t.Fatal(err)
				}
			}
			rec("D a@x.example")
			rec("D b@x.example")
			var want string
			switch how {
			case "replaced":
				want = "D c@x.example\nD a@x.example\n"
				if err := os.WriteFile(name+".new", []byte("D c@x.example\nD a@x.example\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(name+".new", name); err != nil {
					t.Fatal(err)
				}
			case "removed":
				if err := os.Remove(name); err != nil {
					t.Fatal(err)
				}
			case "cut short":
				want = "D c@x.example\n"
				if err := os.WriteFile(name, []byte(want), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rec("D d@x.example")
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if want += "D d@x.example\n"; string(got) != want {
				t.Fatalf("journal at its name: %q, want %q", got, want)
			}
			if how != "removed" {
				if todo, _, err := j.lookup("p", "p", []stream.Path{{Mailbox: "c@x.example"}}, ""); err != nil || len(todo) != 0 {
					t.Fatalf("unknown(c@x.example) = %v, %v: the file at the name was not read whole", todo, err)
				}
			}
		})
	}
}

// TestJournalReserveInFlight: transactions of one post in flight at once
// each have their lines' space allocated, one after the other, not all
// the same space at the journal's end; release gives it back.
func TestJournalReserveInFlight(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	rcpts := make([]stream.Path, 3000)
	for i := range rcpts {
		rcpts[i] = stream.Path{Mailbox: "someone@example.org"}
	}
	allocated := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "p"), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	n1, err := j.reserve("p", rcpts)
	if err != nil {
		t.Fatal(err)
	}
	if allocated() < n1 {
		t.Skipf("no fallocate here: %d octets allocated", allocated())
	}
	n2, err := j.reserve("p", rcpts)
	if err != nil {
		t.Fatal(err)
	}
	if got := allocated(); got < n1+n2 {
		t.Fatalf("two transactions in flight: %d octets allocated, want %d", got, n1+n2)
	}
	j.release("p", n1)
	j.release("p", n2)
	if j.inflight["p"] != 0 {
		t.Fatalf("%d octets still in flight after release", j.inflight["p"])
	}
}

// TestJournalReserveBlocks: the reservations of small transactions that
// fit in the block the last one took take no more space; one made after
// the file was cut short, by however little, is made again, its blocks
// being free.
func TestJournalReserveBlocks(t *testing.T) {
	one := []stream.Path{{Mailbox: "someone@example.org"}}
	for _, tc := range []struct {
		name      string
		start     int64 // octets of the journal before the first transaction
		txns      int
		cut       int64 // the size it is cut short to after them
		allocated int64 // the least the file must keep allocated after the cut's reservation
	}{
		{"new journal, cut to nothing", 0, 1, 0, 4096},
		{"ten transactions in one block, cut to nothing", 0, 10, 0, 4096},
		{"a reservation across a block end, cut back", 4090, 1, 4090, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := newJournal(dir)
			defer j.close()
			name := filepath.Join(dir, "p")
			allocated := func() int64 {
				var st syscall.Stat_t
				if err := syscall.Stat(name, &st); err != nil {
					t.Fatal(err)
				}
				return st.Blocks * 512
			}
			if tc.start > 0 {
				if err := os.WriteFile(name, []byte(strings.Repeat("x", int(tc.start)-1)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.txns {
				if err := look(j); err != nil { // as deliver does
					t.Fatal(err)
				}
				n, err := j.reserve("p", one)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 && allocated() < tc.start+n {
					t.Skipf("no fallocate here: %d octets allocated", allocated())
				}
				if err := j.record("p", []string{"D someone@example.org"}); err != nil {
					t.Fatal(err)
				}
				j.release("p", n)
			}
			if got, alloc := allocated(), j.alloc["p"]; got != alloc {
				t.Fatalf("%d transactions: %d octets allocated, %d reserved", tc.txns, got, alloc)
			}
			if err := os.Truncate(name, tc.cut); err != nil {
				t.Fatal(err)
			}
			if got := allocated(); got >= tc.allocated {
				t.Skipf("cut short to %d, the file keeps %d octets allocated", tc.cut, got)
			}
			if err := look(j); err != nil {
				t.Fatal(err)
			}
			n, err := j.reserve("p", one)
			if err != nil {
				t.Fatal(err)
			}
			if got := allocated(); got < tc.allocated {
				t.Fatalf("a reservation of [%d, %d) after the file was cut short: %d octets allocated, want %d", tc.cut, tc.cut+n, got, tc.allocated)
			}
			j.release("p", n)
		})
	}
}

// TestJournalSyncFails: after an fsync of the journal fails, every sync
// fails, without an fsync: Linux reports a failed writeback once and then
// calls the pages clean, so a later fsync could say lines are on disk
// that are not.
func TestJournalSyncFails(t *testing.T) {
	j := newJournal(t.TempDir())
	defer j.close()
	calls := 0
	j.fsync = func(f *os.File) error {
		if calls++; calls == 1 {
			return errors.New("input/output error")
		}
		return f.Sync()
	}
	for i, line := range []string{"D a@x.example", "D b@x.example"} {
		f, my, err := j.append(nil, "p", journalText(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := j.sync("p", f, my); err == nil {
			t.Errorf("sync %d after the first fsync failed: no error", i+1)
		}
	}
	if calls != 1 {
		t.Errorf("%d fsyncs; want 1", calls)
	}
}

// TestJournalSyncStale: an fsync of a journal file let go (the name now
// leads to another) does not count the writes to the file at the name
// as durable.
func TestJournalSyncStale(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p")
	j := newJournal(dir)
	defer j.close()
	if err := j.record("p", []string{"D a@x.example"}); err != nil {
		t.Fatal(err)
	}
	old := j.file["p"]
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := look(j); err != nil {
		t.Fatal(err)
	}
	_, my, err := j.append(nil, "p", journalText("D b@x.example"))
	if err != nil {
		t.Fatal(err)
	}
	// The old file's transaction syncs after the new write was made.
	if err := j.sync("p", old, my); err != nil {
		t.Fatal(err)
	}
	if j.synced[j.file["p"]] >= my {
		t.Fatalf("write %d to the new file counted durable by an fsync of the old one", my)
	}
}

// journalText is lines as append takes them, each ended by its LF.
func journalText(lines ...string) []byte {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

// record appends lines and waits for them to be on disk, as the sender
// does without a lane.
func (j *journal) record(post string, lines []string) error {
	f, my, err := j.append(nil, post, journalText(lines...))
	if err != nil {
		return err
	}
	return j.sync(post, f, my)
}

// TestJournalGather: an fsync waits until every connection whose final
// dot goes out has written its lines, and makes them all durable; it
// waits no longer than the last fsync took; it does not wait for a
// connection not at its dot, nor for one whose dot waits for an fsync
// of its lines, nor for one of another post; and it begins at once
// without a figure for how long an fsync takes.
func TestJournalGather(t *testing.T) {
	type setup struct {
		j              *journal
		w1, w2         *writer
		fsyncs, waited chan time.Duration
		fire           chan time.Time
	}
	start := func(t *testing.T, took time.Duration) *setup {
		s := &setup{j: newJournal(t.TempDir()), fsyncs: make(chan time.Duration, 10),
			waited: make(chan time.Duration, 10), fire: make(chan time.Time)}
		t.Cleanup(s.j.close)
		s.j.fsync = func(f *os.File) error { s.fsyncs <- 0; return f.Sync() }
		s.j.after = func(d time.Duration) <-chan time.Time { s.waited <- d; return s.fire }
		s.j.took = took
		s.w1, s.w2 = s.j.newWriter(), s.j.newWriter()
		return s
	}
	write := func(t *testing.T, s *setup, w *writer, line string) (*os.File, uint64) {
		t.Helper()
		f, my, err := s.j.append(w, "p", journalText(line))
		if err != nil {
			t.Fatal(err)
		}
		return f, my
	}
	// held writes as many lines for w as make its next final dot wait
	// for an fsync (see lane).
	held := func(t *testing.T, s *setup, w *writer) {
		t.Helper()
		for i := range unsyncedMax {
			write(t, s, w, fmt.Sprintf("D b%d@x.example", i))
		}
	}
	// noWait syncs write my of post, made to f, and fails the test if
	// the sync waits for a connection (w1, whose dot waits for it).
	noWait := func(t *testing.T, s *setup, what, post string, f *os.File, my uint64) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- s.j.sync(post, f, my) }()
		select {
		case d := <-s.waited:
			t.Errorf("%s waited %v for the connection whose dot waits for it", what, d)
			s.fire <- time.Time{}
			<-done
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("sync neither waited nor ended")
		}
	}
	// sync1 writes w1's line and syncs it in the background.
	sync1 := func(t *testing.T, s *setup) (uint64, chan error) {
		f, my := write(t, s, s.w1, "D a@x.example")
		done := make(chan error, 1)
		go func() { done <- s.j.sync("p", f, my) }()
		return my, done
	}
	recv := func(t *testing.T, what string, ch chan time.Duration) time.Duration {
		t.Helper()
		select {
		case d := <-ch:
			return d
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s", what)
		}
		return 0
	}

	t.Run("dot", func(t *testing.T) {
		s := start(t, 3*time.Millisecond)
		s.j.atDot(s.w2, "p")
		_, done := sync1(t, s)
		select {
		case d := <-s.waited:
			if d != 3*time.Millisecond {
				t.Errorf("waited up to %v; want the last fsync's 3ms", d)
			}
		case <-s.fsyncs:
			t.Fatal("fsync while the other connection's dot was out")
		case <-time.After(20 * time.Second):
			t.Fatal("sync neither waited nor fsynced")
		}
		_, my2 := write(t, s, s.w2, "D b@x.example")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(s.fsyncs); n != 1 {
			t.Errorf("%d fsyncs; want 1", n)
		}
		if s.j.synced[s.j.file["p"]] < my2 {
			t.Errorf("the other connection's lines are not durable after the fsync")
		}
	})
	// A connection with fewer lines waiting than hold its dot (see
	// lane) writes its next ones before it waits for an fsync: the
	// fsync waits for them too.
	t.Run("not held", func(t *testing.T) {
		if unsyncedMax < 2 {
			t.Skip("every final dot waits for the lines before it")
		}
		s := start(t, 3*time.Millisecond)
		for i := range unsyncedMax - 1 {
			write(t, s, s.w2, fmt.Sprintf("D b%d@x.example", i))
		}
		s.j.atDot(s.w2, "p")
		_, done := sync1(t, s)
		recv(t, "wait", s.waited)
		_, my2 := write(t, s, s.w2, "D c@x.example")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(s.fsyncs); n != 1 || s.j.synced[s.j.file["p"]] < my2 {
			t.Errorf("%d fsyncs, write %d durable; want 1 fsync, write %d", n, s.j.synced[s.j.file["p"]], my2)
		}
	})
	// The wait ends when the connection settles with no lines after
	// all, or on the timer.
	for _, tc := range []struct {
		name string
		end  func(s *setup)
	}{
		{"settled", func(s *setup) { s.j.settle(s.w2) }},
		{"timer", func(s *setup) { s.fire <- time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, 3*time.Millisecond)
			s.j.atDot(s.w2, "p")
			my, done := sync1(t, s)
			recv(t, "wait", s.waited)
			tc.end(s)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := len(s.fsyncs); n != 1 || s.j.synced[s.j.file["p"]] != my {
				t.Errorf("%d fsyncs, write %d durable; want 1 fsync, write %d", n, s.j.synced[s.j.file["p"]], my)
			}
		})
	}
	// A connection whose lines an fsync made durable, at its next dot,
	// is one the next fsync waits for; and the sync of those lines ends
	// at once while that one waits: the connection waits for it before
	// its dot goes out.
	t.Run("durable", func(t *testing.T) {
		s := start(t, 3*time.Millisecond)
		held(t, s, s.w2)
		for i := range unsyncedMax - 1 {
			write(t, s, s.w1, fmt.Sprintf("D a%d@x.example", i))
		}
		s.j.atDot(s.w2, "p")
		my, done := sync1(t, s) // no wait: w2's dot waits for an fsync
		s.j.atDot(s.w1, "p")    // and so, with sync1's line, does w1's
		recv(t, "fsync", s.fsyncs)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		w3 := s.j.newWriter()
		f, my3 := write(t, s, w3, "D c@x.example")
		done3 := make(chan error, 1)
		go func() { done3 <- s.j.sync("p", f, my3) }()
		recv(t, "wait", s.waited) // for w1 and w2, whose dots go out
		again := make(chan error, 1)
		go func() { again <- s.j.sync("p", f, my) }()
		select {
		case err := <-again:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the sync of a durable write waited for a sync that waits for its connection")
		}
		write(t, s, s.w1, "D d@x.example")
		select {
		case err := <-done3:
			t.Fatalf("the sync ended (%v) with a connection's dot out and no lines from it", err)
		case <-s.fsyncs:
			t.Fatal("an fsync began with a connection's dot out and no lines from it")
		default:
		}
		_, my2 := write(t, s, s.w2, "D e@x.example")
		if err := <-done3; err != nil {
			t.Fatal(err)
		}
		if s.j.synced[s.j.file["p"]] < my2 {
			t.Errorf("write %d durable; want %d", s.j.synced[s.j.file["p"]], my2)
		}
	})
	// A write to a journal file let go is not durable by an fsync of
	// the file at the name: its sync makes an fsync of its own.
	t.Run("stale", func(t *testing.T) {
		s := start(t, 0)
		old, my := write(t, s, s.w1, "D a@x.example")
		if err := os.Remove(filepath.Join(s.j.dir, "p")); err != nil {
			t.Fatal(err)
		}
		if err := look(s.j); err != nil {
			t.Fatal(err)
		}
		f, my2 := write(t, s, s.w2, "D b@x.example")
		if err := s.j.sync("p", f, my2); err != nil {
			t.Fatal(err)
		}
		if len(s.w1.unsynced) != 1 || len(s.w2.unsynced) != 0 {
			t.Errorf("after an fsync of the new file: lines to the old one waiting %v, to the new one %v; want 1, 0", len(s.w1.unsynced), len(s.w2.unsynced))
		}
		if err := s.j.sync("p", old, my); err != nil {
			t.Fatal(err)
		}
		if n := len(s.fsyncs); n != 2 {
			t.Errorf("%d fsyncs; want 2, one for each file", n)
		}
		if n := len(s.w1.unsynced); n != 0 {
			t.Errorf("after an fsync of the old file: %d writes to it waiting; want none", n)
		}
	})
	// A write to a file catchUp has let go, made durable by an fsync of
	// that file for another connection's write, needs no fsync of its
	// own, nor a wait for its connection, whose dot waits for it.
	t.Run("stale synced", func(t *testing.T) {
		s := start(t, time.Millisecond)
		f, myA := write(t, s, s.w1, "D a@x.example")
		_, myB := write(t, s, s.w2, "D b@x.example")
		if _, _, err := s.j.append(s.w1, "q", journalText("D c@x.example")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(s.j.dir, "p")); err != nil {
			t.Fatal(err)
		}
		if err := look(s.j); err != nil {
			t.Fatal(err)
		}
		if err := s.j.sync("p", f, myB); err != nil {
			t.Fatal(err)
		}
		s.j.atDot(s.w1, "p")
		noWait(t, s, "the sync of a durable write", "p", f, myA)
		if n := len(s.fsyncs); n != 1 {
			t.Errorf("%d fsyncs; want 1, for both writes to the file", n)
		}
	})
	// A connection's dot waits for its oldest write not yet durable,
	// whatever fsyncs of later ones have ended (see lane): an fsync of
	// that write does not wait for it.
	t.Run("oldest waits", func(t *testing.T) {
		s := start(t, time.Millisecond)
		fp, myX, err := s.j.append(s.w1, "p", journalText("D a@x.example"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range unsyncedMax - 1 {
			fq, myY, err := s.j.append(s.w1, "q", journalText(fmt.Sprintf("D b%d@x.example", i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.j.sync("q", fq, myY); err != nil {
				t.Fatal(err)
			}
		}
		s.j.atDot(s.w1, "p")
		noWait(t, s, "the fsync of a connection's oldest write", "p", fp, myX)
	})
	for _, tc := range []struct {
		name string
		took time.Duration
		w2   func(s *setup)
	}{
		{"no dot", time.Millisecond, func(s *setup) {}},
		{"waiting", time.Millisecond, func(s *setup) {
			held(t, s, s.w2)
			s.j.atDot(s.w2, "p")
		}},

		{"other post", time.Millisecond, func(s *setup) { s.j.atDot(s.w2, "q") }},
		{"first", 0, func(s *setup) { s.j.atDot(s.w2, "p") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.took)
			tc.w2(s)
			_, done := sync1(t, s)
			recv(t, "fsync", s.fsyncs)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := len(s.waited); n != 0 {
				t.Errorf("waited %d times; want none", n)
			}
		})
	}
}

// TestJournalCutShort: a journal's partial last line (a write cut short
// by a crash or a full disk) names nobody as done, not even the address
// it holds a prefix of, once the next line is appended after it; lines
// of another kind, or without a mailbox, name nobody either.
func TestJournalCutShort(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p")
	old := "D a@x.example\nX b@x.example\nD c\nF  d@x.example\nD bob@example.co"
	if err := os.WriteFile(name, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	j := newJournal(dir)
	defer j.close()
	if _, err := j.reserve("p", []stream.Path{{Mailbox: "e@x.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.record("p", []string{"F e@x.example"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if want := old + " (cut short)\nF e@x.example\n"; err != nil || string(got) != want {
		t.Fatalf("journal %q (%v), want %q", got, err, want)
	}
	// This process keeps no note of its own lines (see append): another
	// one, reading the journal whole, is asked.
	fresh := newJournal(dir)
	defer fresh.close()
	for a, done := range map[string]bool{"a@x.example": true, "e@x.example": true,
		"b@x.example": false, "c": false, "d@x.example": false, "bob@example.co": false} {
		todo, _, err := fresh.lookup("p", "p", []stream.Path{{Mailbox: a}}, "")
		if err != nil || (len(todo) == 0) != done {
			t.Errorf("%s done: %v (%v), want %v", a, len(todo) == 0, err, done)
		}
	}
}

// FuzzJournalCut: whatever recipients' lines a journal holds, cut short
// anywhere, and whatever line is appended after it, a process reading
// it names as done exactly the recipients whose lines were written
// whole, and the one appended.
func FuzzJournalCut(f *testing.F) {
	f.Add("a@x.example bob@example.com", uint16(27), "c@x.example")
	f.Add("\"a b\"@x.example x@[127.0.0.1]", uint16(10), "y@x.example")
	f.Add("a@b", uint16(0), "a@bc")
	f.Fuzz(func(t *testing.T, list string, cut uint16, next string) {
		if addr.CheckMailbox(next) != nil {
			t.Skip()
		}
		var text string
		var wrote []string
		for _, a := range strings.Split(list, " ") {
			if addr.CheckMailbox(a) == nil {
				text += "D " + a + "\n"
				wrote = append(wrote, a)
			}
		}
		at := int(cut) % (len(text) + 1)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "p"), []byte(text[:at]), 0o600); err != nil {
			t.Fatal(err)
		}
		j := newJournal(dir)
		defer j.close()
		if _, err := j.reserve("p", []stream.Path{{Mailbox: next}}); err != nil {
			t.Fatal(err)
		}
		if err := j.record("p", []string{"D " + next}); err != nil {
			t.Fatal(err)
		}
		whole := map[string]bool{addr.Key(next): true}
		var asked []string
		for _, l := range strings.SplitAfter(text[:at], "\n") {
			a := strings.TrimSuffix(strings.TrimPrefix(l, "D "), "\n")
			asked = append(asked, a)
			if strings.HasSuffix(l, "\n") {
				whole[addr.Key(a)] = true
			}
		}
		fresh := newJournal(dir)
		defer fresh.close()
		for _, a := range append(append(asked, wrote...), next) {
			todo, _, err := fresh.lookup("p", "p", []stream.Path{{Mailbox: a}}, "")
			if err != nil {
				t.Fatal(err)
			}
			if done := len(todo) == 0; done != whole[addr.Key(a)] {
				t.Fatalf("%q done: %v, want %v; journal %q", a, done, !done, text[:at])
			}
		}
	})
}

// TestJournalMark: the mark unknown returns is where the journal stood
// as it looked the record up, and a retry record's journal-from of it
// has the retry read the journal from there: lines after it count,
// lines before it are not read. A mark that does not hold (the octets
// before it changed, the file shorter, a value that is no mark) has the
// retry read the journal whole. A second record of a post in one retry
// run reads again from its own mark, if that is earlier.
func TestJournalMark(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p")
	// q's line stands before the mark: no record deferring q could carry
	// it (q was settled when its recipients were looked up), but it shows
	// where a retry begins to read.
	var b strings.Builder
	b.WriteString("D q@x.example\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "D m%d@x.example\n", i)
	}
	if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newJournal(dir)
	r := []stream.Path{{Mailbox: "r@x.example"}, {Mailbox: "s@x.example"}}
	if err := w.lock("p", "p,1", nil); err != nil {
		t.Fatal(err)
	}
	if err := look(w); err != nil {
		t.Fatal(err)
	}
	todo, m, err := w.lookup("p", "p,1", r, "")
	if err != nil || len(todo) != 2 || m.at != int64(b.Len()) {
		t.Fatalf("unknown: %d to do, mark at %d, %v; want 2, %d", len(todo), m.at, err, b.Len())
	}
	mark := m.value()
	w.unlock("p,1")
	w.close()
	if !strings.HasPrefix(mark, fmt.Sprint(b.Len(), ":")) {
		t.Fatalf("journal-from %q; want the mark at %d", mark, b.Len())
	}
	// r delivered later, by a retry of the batch.
	other, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	other.WriteString("D r@x.example\n")
	other.Close()

	// retry looks up rcpts of a record of batch p,1 with journal-from
	// from, as a retry run's first record, and returns the recipients
	// still to do.
	retry := func(j *journal, from string, rcpts ...string) []string {
		t.Helper()
		ps := make([]stream.Path, len(rcpts))
		for i, a := range rcpts {
			ps[i].Mailbox = a
		}
		if err := j.lock("p", "p,1,r-00000000", nil); err != nil {
			t.Fatal(err)
		}
		defer j.unlock("p,1,r-00000000")
		todo, _, err := j.lookup("p", "p,1,r-00000000", ps, from)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range todo {
			got = append(got, p.Mailbox)
		}
		return got
	}
	fresh := func() *journal {
		j := newJournal(dir)
		j.filter()
		t.Cleanup(j.close)
		return j
	}
	if got := retry(fresh(), mark, "q@x.example", "r@x.example", "s@x.example"); strings.Join(got, " ") != "q@x.example s@x.example" {
		t.Errorf("with the mark: to do %v; want q (before the mark, not read) and s", got)
	}
	j := fresh()
	if got := retry(j, mark, "r@x.example"); len(got) != 0 {
		t.Errorf("with the mark: to do %v; want none", got)
	}
	if n := j.read["p"] - int64(b.Len()); n != int64(len("D r@x.example\n")) {
		t.Errorf("read %d octets from the mark; want the one line after it", n)
	}
	// A second record, with a mark earlier than where the run has read
	// to: read again from there.
	half := strings.Index(b.String(), "D m500@")
	if got := retry(j, jf.MarkValue(j.file["p"], int64(half)), "m700@x.example", "m300@x.example"); strings.Join(got, " ") != "m300@x.example" {
		t.Errorf("a second record, its mark earlier: to do %v; want m300 (before its mark) only", got)
	}

	at, hex, _ := strings.Cut(mark, ":")
	for _, from := range []string{
		"", "x", at, at + ":", ":" + hex, "0:" + hex, "-1:" + hex, "+" + at + ":" + hex, "0" + at + ":" + hex,
		at + ":" + strings.ToUpper(hex), at + ":0000000000000000", at + ":" + hex + "0", at + "0:" + hex,
		"99999999999999999999:" + hex, at + " :" + hex,
	} {
		if got := retry(fresh(), from, "q@x.example", "s@x.example"); strings.Join(got, " ") != "s@x.example" {
			t.Errorf("journal-from %q: to do %v; want s only (read whole)", from, got)
		}
	}
	// The octets before the mark changed (the line before it written
	// over), or fewer octets than it.
	edited := []byte(b.String())
	edited[len(edited)-3] = 'X'
	for _, text := range [][]byte{edited, []byte(b.String()[:half]), append([]byte("D q@x.example\n"), b.String()[:len(b.String())-14]...)} {
		if err := os.WriteFile(name, text, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := retry(fresh(), mark, "q@x.example", "s@x.example"); strings.Join(got, " ") != "s@x.example" {
			t.Errorf("journal of %d octets, mark %s: to do %v; want s only (read whole)", len(text), mark, got)
		}
	}
}

// FuzzResume: resume takes a journal-from only in the form value writes
// for the mark it returns, and only where the file's octets before it
// are the sum's; any other is 0, the start.
func FuzzResume(f *testing.F) {
	text := strings.Repeat("D m@x.example\n", 40)
	name := filepath.Join(f.TempDir(), "p")
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		f.Fatal(err)
	}
	file, err := os.Open(name)
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	for _, at := range []int64{14, 140, int64(len(text))} {
		f.Add(mark{file, at}.value())
	}
	f.Add("140:0123456789abcdef")
	f.Add("0140:0123456789abcdef")
	f.Fuzz(func(t *testing.T, from string) {
		at := resume(file, from)
		if at == 0 {
			return
		}
		if v := (mark{file, at}).value(); v != from {
			t.Errorf("resume(%q) = %d, whose mark is %q", from, at, v)
		}
		if at > int64(len(text)) {
			t.Errorf("resume(%q) = %d, past the file's %d octets", from, at, len(text))
		}
	})
}

// TestJournalMay: with a filter, the lines whose local part has no bit
// of a wanted key's are passed over before their key is made (may), and
// no line of a wanted key is among them, however its address is spelt:
// quotes that add nothing, on either side, quoted pairs, the domain's
// case, A-labels or U-labels, the local part's case (R84: a line of
// H@ was passed over for want of h@'s bit, and h@ sent the post again).
// A recipient the journal does not name stays to do.
func TestJournalMay(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "D m%d@x.example\n", i)
	}
	b.WriteString("D bob@X.EXAMPLE\nD bill@x.example\nD \"carol\"@x.example\nD \"d\\ e\"@x.example\n" +
		"D f@xn--bcher-kva.example\nD g@bücher.example\nD H@x.example\nD οδος@x.example\n")
	if err := os.WriteFile(filepath.Join(dir, "p"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	j := newJournal(dir)
	defer j.close()
	j.filter()
	var ps []stream.Path
	for _, a := range []string{"bob@x.example", `"bill"@x.example`, "carol@x.example", `"d e"@x.example`,
		"f@bücher.example", "g@xn--bcher-kva.example", "h@x.example", "m7@x.example", "i@x.example", "ΟΔΟΣ@x.example"} {
		ps = append(ps, stream.Path{Mailbox: a})
	}
	if err := j.lock("p", "p,1", nil); err != nil {
		t.Fatal(err)
	}
	todo, _, err := j.lookup("p", "p,1", ps, "")
	if err != nil || len(todo) != 1 || todo[0].Mailbox != "i@x.example" {
		t.Errorf("to do %v, %v; want i only", todo, err)
	}
	// Some 1 in 8,000 others shares a bit with the 8 keys.
	passed := 0
	for i := range 10000 {
		if j.local.May(fmt.Sprintf("m%d@x.example", i)) {
			passed++
		}
	}
	if passed > 100 {
		t.Errorf("may passed %d of 10,000 other addresses; want few", passed)
	}
	for _, text := range []string{"bob@x.example", `"bob"@x.example`, "@x.example", "nobody", `"x"@y`} {
		if !j.local.May(text) {
			t.Errorf("may(%q) = false; want true", text)
		}
	}
}

// TestJournalLockReplaced: once a post's journal has been put back from
// a copy (its name leads to another file), a process that had the old
// file open does not take on a batch that another process, which opened
// the file at the name, has locked: both would send its recipients.
// Before, it had its byte in the old file, and did. Its lock moves to
// the file at the name as its look-up finds the name changed (relock);
// so when the journal is removed. (From a review.)
func TestJournalLockReplaced(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p")
	text := []byte("D o@x.example\n")
	if err := os.WriteFile(name, text, 0o600); err != nil {
		t.Fatal(err)
	}
	rcpt := []stream.Path{{Mailbox: "two@x.example"}}
	// take has j take on batch p,2: its lock and its look-up.
	take := func(j *journal) error {
		if err := j.lock("p", "p,2", nil); err != nil {
			return err
		}
		if _, _, err := j.lookup("p", "p,2", rcpt, ""); err != nil {
			j.unlock("p,2")
			return err
		}
		return nil
	}
	a := newJournal(dir) // a run that has delivered batch p,1 of the post
	defer a.close()
	if err := a.lock("p", "p,1", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.lookup("p", "p,1", []stream.Path{{Mailbox: "one@x.example"}}, ""); err != nil {
		t.Fatal(err)
	}
	a.unlock("p,1")
	if err := os.WriteFile(name+".copy", text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name+".copy", name); err != nil {
		t.Fatal(err)
	}
	b := newJournal(dir) // another process, delivering batch p,2
	defer b.close()
	if err := take(b); err != nil {
		t.Fatal(err)
	}
	if err := take(a); sysexit.Code(err) != sysexit.TempFail {
		if err == nil {
			a.unlock("p,2")
		}
		t.Errorf("a takes on batch p,2, which b has locked in the journal at the name: %v; want 75", err)
	}
	// Removed: a locks in the new file at the name, as the next would.
	b.unlock("p,2")
	os.Remove(name)
	if err := take(a); err != nil {
		t.Fatal(err)
	}
	defer a.unlock("p,2")
	c := newJournal(dir)
	defer c.close()
	if err := take(c); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("c takes on batch p,2, which a has locked in the new journal: %v; want 75", err)
	}
}

// TestJournalRcptLocks: with a filter (retries), records of two batches
// that share a recipient are kept apart as two records of one batch
// are: the second to take it on, in another process, fails (75), and
// takes nothing with it; records that share none go on at once. Two
// records of one process that share a recipient hold it until both let
// go. (A post's outgoing record run again under another maxrcpt leaves
// retry records of both batchings; mlm-run -r ran them at once, and a
// shared recipient got the post twice: a review.)
func TestJournalRcptLocks(t *testing.T) {
	dir := t.TempDir()
	rcpts := func(ns ...int) []stream.Path {
		var ps []stream.Path
		for _, n := range ns {
			ps = append(ps, stream.Path{Mailbox: fmt.Sprintf("u%d@x.example", n)})
		}
		return ps
	}
	a, b := newJournal(dir), newJournal(dir) // two processes
	defer a.close()
	defer b.close()
	a.filter()
	b.filter()
	if err := a.lock("p", "p,1,r-aaaaaaaa", rcpts(1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	// U3 as the key has it: its byte is u3's.
	if err := b.lock("p", "p,2,r-bbbbbbbb", rcpts(5, 6, 3)); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("b takes on u3, which a's record of another batch holds: %v; want 75", err)
	}
	if err := b.lock("p", "p,3,r-cccccccc", []stream.Path{{Mailbox: "U4@x.example"}}); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("b takes on U4@, u4@'s key, which a holds: %v; want 75", err)
	}
	// What b's failed try took (u5, u6, batch p,2) it let go.
	if err := a.lock("p", "p,2,r-dddddddd", rcpts(5, 6)); err != nil {
		t.Fatalf("a takes on u5 and u6, and batch p,2, after b's failed try: %v", err)
	}
	a.unlock("p,2,r-dddddddd")
	if err := b.lock("p", "p,4,r-eeeeeeee", rcpts(7, 8)); err != nil {
		t.Fatalf("b takes on recipients a does not hold: %v", err)
	}
	b.unlock("p,4,r-eeeeeeee")
	// A second record of a that shares u4, ended first: u4 still a's.
	if err := a.lock("p", "p,5,r-ffffffff", rcpts(4, 9)); err != nil {
		t.Fatal(err)
	}
	a.unlock("p,5,r-ffffffff")
	if err := b.lock("p", "p,6,r-00000000", rcpts(4)); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("b takes on u4, which a's first record still holds: %v; want 75", err)
	}
	if err := b.lock("p", "p,6,r-00000000", rcpts(9)); err != nil {
		t.Fatalf("b takes on u9, let go by a's second record: %v", err)
	}
	b.unlock("p,6,r-00000000")
	a.unlock("p,1,r-aaaaaaaa")
	if err := b.lock("p", "p,2,r-bbbbbbbb", rcpts(5, 6, 3)); err != nil {
		t.Fatalf("b takes on u3, let go by a: %v", err)
	}
	b.unlock("p,2,r-bbbbbbbb")
	// A record of more than rcptLocksMax takes none: the kernel's walk
	// of a file's locks, for each one taken, costs the square of them.
	large := make([]int, rcptLocksMax+1)
	for i := range large {
		large[i] = 1000 + i
	}
	if err := a.lock("p", "p,9,r-11111111", rcpts(large...)); err != nil {
		t.Fatal(err)
	}
	if err := b.lock("p", "p,10,r-22222222", rcpts(1000)); err != nil {
		t.Errorf("b takes on u1000, in a's record of %d: %v; want it to go on", len(large), err)
	} else {
		b.unlock("p,10,r-22222222")
	}
	a.unlock("p,9,r-11111111")
	// Without a filter (a post's first delivery), no recipient's byte.
	c, d := newJournal(dir), newJournal(dir)
	defer c.close()
	defer d.close()
	if err := c.lock("p", "p,7", rcpts(1)); err != nil {
		t.Fatal(err)
	}
	defer c.unlock("p,7")
	if err := d.lock("p", "p,8", rcpts(1)); err != nil {
		t.Errorf("a first delivery's record of another batch, no filter: %v; want it to go on", err)
	} else {
		d.unlock("p,8")
	}
}

// TestJournalRelockRcpts: a journal put back from a copy while a retry
// record is on its way: the record's recipients' bytes move with its
// batch's to the file at the name, where other processes take them.
func TestJournalRelockRcpts(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p")
	rc := []stream.Path{{Mailbox: "one@x.example"}, {Mailbox: "two@x.example"}}
	a := newJournal(dir)
	defer a.close()
	a.filter()
	if err := a.lock("p", "p,1,r-aaaaaaaa", rc); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name+".copy", text, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name+".copy", name); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.lookup("p", "p,1,r-aaaaaaaa", rc, ""); err != nil {
		t.Fatal(err)
	}
	b := newJournal(dir) // another process, in the file at the name
	defer b.close()
	b.filter()
	if err := b.lock("p", "p,2,r-bbbbbbbb", rc[1:]); sysexit.Code(err) != sysexit.TempFail {
		if err == nil {
			b.unlock("p,2,r-bbbbbbbb")
		}
		t.Errorf("b takes on two@, which a's record holds, its journal put back: %v; want 75", err)
	}
	a.unlock("p,1,r-aaaaaaaa")
	if err := b.lock("p", "p,2,r-bbbbbbbb", rc[1:]); err != nil {
		t.Errorf("b takes on two@, let go by a: %v", err)
	} else {
		b.unlock("p,2,r-bbbbbbbb")
	}
}

// TestJournalLetGo: past maxKept posts, opening another's journal lets
// go of each post nothing of which is on its way: its file closed, what
// was known of it forgotten, and read again for a record of it that
// comes later. A post whose batch is locked (its record on its way),
// with octets reserved, or with a write not yet fsynced, is kept: its
// lock, its reservation and its fsync are the file's.
func TestJournalLetGo(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	w := j.newWriter()
	a := []stream.Path{{Mailbox: "a@x.example"}}
	// Post "busy": its batch locked. Post "reserved": octets reserved.
	// Post "unsynced": a write no fsync has made durable. Post "idle":
	// written and synced, and done with.
	if err := j.lock("busy", "busy,1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := j.reserve("reserved", a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := j.append(w, "unsynced", []byte("D a@x.example\n")); err != nil {
		t.Fatal(err)
	}
	f, my, err := j.append(w, "idle", []byte("D a@x.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.sync("idle", f, my); err != nil {
		t.Fatal(err)
	}
	for i := len(j.file); i < maxKept; i++ {
		if _, err := j.reserve(fmt.Sprintf("p%d", i), a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := j.reserve("next", a); err != nil {
		t.Fatal(err)
	}
	for _, post := range []string{"busy", "reserved", "unsynced", "next"} {
		if j.file[post] == nil {
			t.Errorf("post %s was let go", post)
		}
	}
	if j.file["idle"] != nil || j.done["idle"] != nil {
		t.Errorf("post idle, done with, was kept")
	}
	if _, err := f.Stat(); err == nil {
		t.Errorf("the journal of post idle is still open")
	}
	// Its sync again, of a write an fsync covered, still succeeds.
	if err := j.sync("idle", f, my); err != nil {
		t.Errorf("sync of a write fsynced before its post was let go: %v", err)
	}
	// The busy batch is still locked, in its own file: another process
	// would be refused it.
	lk := byteOf("busy,1", unix.F_WRLCK)
	other, err := os.OpenFile(filepath.Join(dir, "busy"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.FcntlFlock(other.Fd(), unix.F_OFD_SETLK, &lk); err == nil {
		t.Errorf("the lock of the busy batch was let go with its post")
	}
	// A record of the idle post after: its journal is read again, and
	// the recipient done is not to do.
	todo, _, err := j.lookup("idle", "idle,2", append(a, stream.Path{Mailbox: "b@x.example"}), "")
	if err != nil || len(todo) != 1 || todo[0].Mailbox != "b@x.example" {
		t.Errorf("after the post was let go: to do %v, %v; want b@x.example alone", todo, err)
	}
}

// TestJournalOutOfDescriptorsReading: out of descriptors as it reads a
// post's journal by its name (a record of no recipients, whose batch is
// not locked), the journal lets go of the idle posts but that one, whose
// outcomes it is reading: it forgot it too, and the read went into a set
// no longer there (a panic).
func TestJournalOutOfDescriptorsReading(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p"), []byte("D a@x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := newJournal(dir)
	defer j.close()
	a := []stream.Path{{Mailbox: "a@x.example"}}
	n, err := j.reserve("q", a) // post q's journal open, and idle
	if err != nil {
		t.Fatal(err)
	}
	j.release("q", n)
	restore := fewDescriptors(t, 0)
	_, _, err = j.lookup("p", "p,1", nil, "")
	restore()
	if err != nil {
		t.Fatalf("lookup out of descriptors: %v", err)
	}
	if j.file["q"] != nil {
		t.Fatal("post q was not let go: the test tests nothing")
	}
	todo, _, err := j.lookup("p", "p,1", a, "")
	if err != nil || len(todo) != 0 {
		t.Errorf("a@x.example, done in p's journal: to do %v, %v", todo, err)
	}
}

// fewDescriptors lowers the process's limit of open files so that room
// more descriptors can be had, and returns what puts it back. The limit
// is on the number a new descriptor gets, the lowest free: the lowest
// free but the listing's own, plus room.
func fewDescriptors(t *testing.T, room int) (restore func()) {
	t.Helper()
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	fds, err := d.ReadDir(-1)
	own := strconv.Itoa(int(d.Fd()))
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, e := range fds {
		used[e.Name()] = e.Name() != own
	}
	free := 0
	for used[strconv.Itoa(free)] {
		free++
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(free + room)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalWantAll: the keys a record of verp=yes wants of the
// journal at once (wantAll) are read at once, under the same hold as
// they are added: a record without a mark, then one with a mark read
// in before the first's jobs looked themselves up, had the read of the
// post start at the second's mark, and the first's recipient, whose
// line came before it, was sent again (a review). And the journal is
// opened first, so that a mark is read from, not the whole journal: a
// line before the mark (here naming the record's recipient, which a
// real mark never has before it, so that the read shows) is not read.
func TestJournalWantAll(t *testing.T) {
	var b strings.Builder
	b.WriteString("D a1@x.org\nD c1@x.org\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "D m%d@x.org\n", i)
	}
	_, name := listJournal(t, "p9", b.String())
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := mark{f, int64(b.Len())}.value()
	j := newJournal(filepath.Dir(name))
	defer j.close()
	j.filter()
	a1, b1, c1 := []stream.Path{{Mailbox: "a1@x.org"}}, []stream.Path{{Mailbox: "b1@x.org"}}, []stream.Path{{Mailbox: "c1@x.org"}}
	j.wantAll("p9", a1, "")
	j.wantAll("p9", b1, at)
	for _, c := range []struct {
		id    string
		rcpts []stream.Path
		from  string
		todo  int
	}{
		{"p9,1,1,r-aaaaaaaa", a1, "", 0}, // delivered before the mark: known
		{"p9,2,1,r-bbbbbbbb", b1, at, 1}, // not in the journal
	} {
		if err := j.lock("p9", c.id, c.rcpts); err != nil {
			t.Fatal(err)
		}
		todo, _, err := j.lookup("p9", c.id, c.rcpts, c.from)
		j.unlock(c.id)
		if err != nil || len(todo) != c.todo {
			t.Errorf("%s: to do %v, %v; want %d", c.id, todo, err, c.todo)
		}
	}
	// A process of one marked record: read from the mark alone.
	k := newJournal(filepath.Dir(name))
	defer k.close()
	k.filter()
	k.wantAll("p9", c1, at)
	if err := k.lock("p9", "p9,3,1,r-cccccccc", c1); err != nil {
		t.Fatal(err)
	}
	todo, _, err := k.lookup("p9", "p9,3,1,r-cccccccc", c1, at)
	k.unlock("p9,3,1,r-cccccccc")
	if err != nil || len(todo) != 1 {
		t.Errorf("marked alone: to do %v, %v; want c1, its line before the mark not read", todo, err)
	}
}

// TestRetryRecordBatchTaken: a retry record whose recipients another
// record of its batch, on its way in this run, has taken on goes on
// without them, but its lookup says so (errCeded: no retry record, and
// 75): it ended 0, though the other's retry record of them could have
// its name, which the retry queue, having it, dropped (a review: a
// batch's retry record and its own retry record, fed to one process).
// The batch's own record twice goes on without them, as before.
func TestRetryRecordBatchTaken(t *testing.T) {
	j := newJournal(t.TempDir())
	defer j.close()
	rcpts := []stream.Path{{Mailbox: "b1@x.example"}, {Mailbox: "d1@x.example"}}
	for _, id := range []string{"p,1,r-11111111", "p,1,r-22222222"} {
		if err := j.lock("p", id, rcpts); err != nil {
			t.Fatal(err)
		}
	}
	if todo, _, err := j.lookup("p", "p,1,r-11111111", rcpts, ""); err != nil || len(todo) != 2 {
		t.Fatalf("the first: %v, %v; want both", todo, err)
	}
	if todo, _, err := j.lookup("p", "p,1,r-22222222", rcpts, ""); err != errCeded || len(todo) != 0 {
		t.Errorf("the second: %v, %v; want none, and errCeded", todo, err)
	}
	if err := j.lock("p", "p,1", rcpts); err != nil {
		t.Fatal(err)
	}
	if todo, _, err := j.lookup("p", "p,1", rcpts, ""); err != nil || len(todo) != 0 {
		t.Errorf("the batch's own record: %v, %v; want none, and no error", todo, err)
	}
}
