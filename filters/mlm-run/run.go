package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/crash"
	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/pipeline"
	"mlm/lib/queue"
	"mlm/lib/sysexit"
)

// job is one queue and what its records are fed to.
type job struct {
	name   string
	q      *queue.Queue
	stages [][]string
	dir    string // working directory of the stages
	err    error  // its stages file cannot be read or is wrong, or root may not work there
	// refused: root may not work in the queue (listdir.CheckQueueRW),
	// whose sweep would follow what another user put there.
	refused bool
	list    string // with --lists, the list's directory, to name in what is said (label)
	// workers: how many of its records are run at once (-j, or for a
	// list's retry queue -r).
	workers int
	// unread: the list of queue/requests, which has no stages, where
	// mail to its request addresses waits unread (unreadRequests).
	unread *listdir.Dir
}

// label names the queue in what is said: with --lists, after its list.
func (j job) label() string {
	if j.list != "" {
		return j.list + ": " + j.name
	}
	return j.name
}

// run processes the queues once, or with -D until ctx ends.
func run(ctx context.Context, a *args, stdout, stderr io.Writer) error {
	if a.Workers < 1 {
		return sysexit.Errorf(sysexit.Usage, "-j: need at least one worker")
	}
	if a.Retries < 1 {
		return sysexit.Errorf(sysexit.Usage, "-r: need at least one worker")
	}
	if a.Lists && len(a.Command) > 0 {
		return sysexit.Errorf(sysexit.Usage, "-l: a directory of lists takes no command")
	}
	if fi, err := os.Stat(a.Target); a.Lists && (err != nil || !fi.IsDir()) {
		// As for a list directory that is none: no pass mends it, and
		// with -D the service manager is told. (Gone after a pass,
		// unmounted, it is said at each pass, and waited for.)
		return sysexit.Errorf(sysexit.NoUser, "%s: not a directory of lists", listdir.Name(a.Target))
	}
	if _, err := listdir.Open(a.Target); a.Lists && err == nil {
		// A list: -l added to its own line would pass over its queue/
		// and stages/, and stop it without a word (a review). (Not one
		// that holds a list named address or queue: another review.)
		return sysexit.Errorf(sysexit.Usage, "%s: a list directory, not a directory of lists: without -l", listdir.Name(a.Target))
	}
	if a.MinWait <= 0 || a.MaxWait < a.MinWait {
		return sysexit.Errorf(sysexit.Usage, "--min-backoff and --max-backoff: need 0 < min <= max")
	}
	if a.Timeout <= 0 {
		// (No stage could start: each record would wait, and the run
		// say 0, for ever.)
		return sysexit.Errorf(sysexit.Usage, "-t: need a time above 0")
	}
	if a.Grace < 0 {
		return sysexit.Errorf(sysexit.Usage, "-g: need a time of 0 or more")
	}
	if a.Daemon && a.Interval <= 0 {
		// (The passes would follow one another with no pause, a
		// processor spent on looking at empty queues.)
		return sysexit.Errorf(sysexit.Usage, "-i: need a time above 0")
	}
	// The descriptors it inherited stay its own: the list lock, which
	// mlm-lock hands it under cron, went to every stage, and to what a
	// stage left running (a sendmail's background delivery), which then
	// held the list's every cron job off for as long as it ran (R89 F3).
	// A stage gets its record's claim, as its descriptor 3, alone.
	pipeline.Disinherit()
	listed := false // a pass has found the list
	// With -D, a record that lands in a queue wakes the daemon: a post
	// goes out as it comes, not up to -i later. Not with -f, whose every
	// pass tries every record again: a record deferred lands in new/
	// once more, and would wake the next try at once, for ever.
	var wake <-chan struct{}
	var watch *queue.Watcher
	unwatched := &sync.Map{} // queues whose watch failed, reported
	told := &sync.Map{}      // with -l, lists said to be locked while overdue, and when
	if a.Daemon && !a.Flush {
		w, err := newWatcher()
		if errors.Is(err, syscall.EMFILE) {
			// Of inotify_init1(2), the limit of instances as a rule,
			// one a daemon: 128 for a user by default, as many lists.
			err = fmt.Errorf("no inotify instance (fs.inotify.max_user_instances reached, or the open files' limit): %w", err)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s: records wait for the next pass (-i)\n", prog, sysexit.OneLine(err.Error()))
		} else {
			defer w.Close()
			watch, wake = w, w.C()
		}
	}
	if a.Lists && a.Daemon && watch != nil {
		serveLists(ctx, a, watch, unwatched, told, stdout, stderr)
		return nil
	}
	for {
		var unsettled bool // a record the pass could not claim or settle
		var first error
		if a.Lists {
			// (Without a watcher, with -f or none to be had, the
			// interval alone starts the next pass: wake is nil.)
			first = passLists(ctx, a, watch, unwatched, told, stdout, stderr)
		} else {
			// The stages are read for each pass: with -D, a stages
			// file mended or added is taken up at the next pass, not
			// at a restart.
			jobs, err := jobsFor(a, a.Target)
			listed = listed || err == nil
			if sysexit.Code(err) == sysexit.NoUser && listed {
				// A list that was there and is no list now (its
				// directory gone, or its queues back before its
				// address, as a restore by tar or cp -a may bring
				// them) is more likely a file system unmounted, or a
				// list being restored, than a list that is no more:
				// -D waits for it to be back. (Asked whether the
				// directory was gone, after Open, a list back in
				// between ended the run.)
				err = sysexit.Temp(err)
			}
			if c := sysexit.Code(err); err != nil && (!a.Daemon || c == sysexit.Usage || c == sysexit.NoUser) {
				// With -D too: no pass mends a usage error or a
				// directory that is not a list, and the service
				// manager is told.
				return err
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s: %s\n", prog, sysexit.OneLine(err.Error()))
			}
			unsettled, first = pass(ctx, a, false, jobs, watch, unwatched, stdout, stderr)
		}
		if !a.Daemon {
			return first
		}
		// After a pass that could not claim or settle a record, the next
		// waits for -i, woken or not: a record that could not be settled
		// is left in cur/, the next pass's sweep puts it back in new/,
		// which wakes the one after, which tries it again, and so on at
		// once and for ever.
		woken := wake
		if unsettled {
			woken = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.Interval):
		case <-woken:
		case <-hangup:
		}
	}
}

// hangup is where SIGHUP comes with -D (main): it starts the next pass
// at once, as a record that lands does, even after a pass that could not
// settle a record (someone asked). Left to kill the daemon, it was a
// death systemd takes for a clean stop (Restart=on-failure does not
// restart it), and the list's queues waited for good.
var hangup = make(chan os.Signal, 1)

// newWatcher is queue.NewWatcher; a test's to replace.
var newWatcher = queue.NewWatcher

// pass processes the queues jobs once: each that has stages is watched
// first, with -D. It reports whether a record could not be claimed or
// settled, and, without -D, the first error; with -D, or with each
// (--lists: one list of many), every error is said on stderr as it
// comes.
func pass(ctx context.Context, a *args, each bool, jobs []job, watch *queue.Watcher, unwatched *sync.Map, stdout, stderr io.Writer) (unsettled bool, first error) {
	if _, system := clock.Default().(clock.Real); system {
		for _, j := range jobs {
			j.q.SystemNow = true // see queue.Queue
		}
	}
	// Each pass: a queue directory made or replaced since is watched
	// too. Before the queues are looked at, so that nothing that lands
	// after the look goes unseen.
	watchJobs(jobs, watch, unwatched, stderr)
	// A queue that cannot be processed does not stop the others; the
	// run then ends with its error (75, as a rule).
	for _, j := range jobs {
		if err := process(ctx, j, a, stdout, stderr); err != nil {
			// (Not a stages file that is wrong: its queue's records
			// only wait, and are not watched.)
			unsettled = unsettled || j.err == nil
			err = named(j.list, err)
			if first == nil {
				first = err
			}
			if a.Daemon || each {
				fmt.Fprintf(stderr, "%s: %s\n", prog, sysexit.OneLine(err.Error()))
			}
		}
	}
	return unsettled, first
}

// watchJobs has watch, if any, watch the queues of jobs that have
// stages.
func watchJobs(jobs []job, watch *queue.Watcher, unwatched *sync.Map, stderr io.Writer) {
	for _, j := range jobs {
		if watch == nil || j.stages == nil || j.err != nil {
			continue // a queue without stages only waits
		}
		if err := watch.Add(j.q); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Once for each queue: the others stay watched.
			if _, told := unwatched.LoadOrStore(j.q.Path, true); told {
				continue
			}
			if errors.Is(err, syscall.ENOSPC) {
				err = fmt.Errorf("%s/new: no inotify watch left (fs.inotify.max_user_watches)", j.q.Path)
			}
			fmt.Fprintf(stderr, "%s: %s: its records wait for the next pass (-i)\n", prog, sysexit.OneLine(err.Error()))
		}
	}
}

// passLists processes once each list in the directory a.Target
// (--lists), up to -J at once, each under its list lock, as mlm-lock
// takes it: a list whose lock another process holds (its run, or its
// nightly job, under mlm-lock) is left for the next pass (with -D
// and a watcher, serveLists takes the lists instead). One process
// for every list: a run of its own for each list, every minute, cost
// two programs' start each, some 25 ms of a processor, idle, which a
// thousand lists made a fifth of two (a review). What listdir calls no
// list (a file, a directory of the site's own; listdir.Open's 67), a
// name starting with "." and lost+found are passed over without a word,
// and no lock file is made in them; a list that is none now (a link to
// a file system not mounted, one that cannot be read), and every error,
// is said on stderr, with the list's directory, and the pass goes on.
// Without -D, the first error makes the exit status, silent (said
// already).
func passLists(ctx context.Context, a *args, watch *queue.Watcher, unwatched, told *sync.Map, stdout, stderr io.Writer) (first error) {
	var mu sync.Mutex // first, as the lists' passes end
	say := func(dir string, err error) {
		fmt.Fprintf(stderr, "%s: %s\n", prog, sysexit.OneLine(named(dir, err).Error()))
		mu.Lock()
		if first == nil {
			first = sysexit.Silent(sysexit.Code(err))
		}
		mu.Unlock()
	}
	ents, err := os.ReadDir(a.Target)
	if err != nil {
		say("", sysexit.Temp(err))
		return first
	}
	// Up to -J lists at once: a list whose stages take long (a large
	// list's delivery at its rates, a relay that hangs) keeps a slot,
	// not the other lists' mail (a review).
	slots := make(chan struct{}, max(a.ListsAtOnce, 1))
	var wg sync.WaitGroup
	for _, e := range ents {
		name := e.Name()
		dir := filepath.Join(a.Target, name)
		if !maybeList(name) {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		free := func() { <-slots }
		lock, jobs, _ := takeList(a, dir, told, say)
		if lock == nil {
			free()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer free()
			defer lock.Close()
			_, ferr := pass(ctx, a, true, jobs, watch, unwatched, stdout, stderr)
			mu.Lock()
			if ferr != nil && first == nil {
				first = sysexit.Silent(sysexit.Code(ferr))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return first
}

// maybeList reports whether an entry of a --lists directory named name
// may be a list: not lost+found, nor a name starting with ".".
func maybeList(name string) bool { return name != "lost+found" && !strings.HasPrefix(name, ".") }

// serveLists is -l with -D: it processes each list of the directory
// a.Target, up to -J at once, a list as soon as records land in its
// queues, and every list an interval (-i) after the last pass over every
// list began, or at SIGHUP, until ctx ends, when it waits for the lists
// at work to stop. A list is taken as a slot is free, not when every
// list of a pass has ended: with passes over all, a list whose stages
// took long (a large list's delivery at its rates, a relay that hangs)
// held every other list's new mail until they ended (a review). A list
// woken while at work is taken again once it ends. A list whose pass
// could not claim or settle a record (unsettled) waits for the next pass
// over every list, as a list's own -D waits for -i, and its records do
// not wake it: the record left in cur/ lands in new/ again at the next
// sweep, which would wake it again at once, for ever.
func serveLists(ctx context.Context, a *args, watch *queue.Watcher, unwatched, told *sync.Map, stdout, stderr io.Writer) {
	say := func(dir string, err error) {
		fmt.Fprintf(stderr, "%s: %s\n", prog, sysexit.OneLine(named(dir, err).Error()))
	}
	type ended struct {
		dir       string
		unsettled bool
	}
	done := make(chan ended)
	s := newSchedule(max(a.ListsAtOnce, 1))
	var full time.Time  // when the next pass over every list is due
	var retry time.Time // when the lists whose lock was held are tried again; zero: none
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			for s.busy() > 0 {
				e := <-done
				s.end(e.dir, e.unsettled)
			}
			return
		}
		if !time.Now().Before(full) {
			full = time.Now().Add(a.Interval)
			watch.Fired() // (what they say, the pass over every list takes)
			ents, err := os.ReadDir(a.Target)
			if err != nil {
				say("", sysexit.Temp(err))
			}
			var dirs []string
			for _, e := range ents {
				if maybeList(e.Name()) {
					dirs = append(dirs, filepath.Join(a.Target, e.Name()))
				}
			}
			s.all(dirs)
			retry = time.Time{}
		}
		if !retry.IsZero() && !time.Now().Before(retry) {
			retry = time.Time{}
			s.unhold()
		}
		for ctx.Err() == nil {
			dir, ok := s.next()
			if !ok {
				break
			}
			lock, jobs, held := takeList(a, dir, told, say)
			if lock == nil {
				s.end(dir, false)
				if held {
					// Its queues are watched all the same: a list
					// whose lock was held when this began was not
					// until its first pass, and the records that
					// landed in it meanwhile waited for the next
					// pass over every list, -i later. Not taken
					// again at once when they wake it (woken).
					if jobs, err := jobsFor(a, dir); err == nil {
						watchJobs(jobs, watch, unwatched, stderr)
					}
				}
				if held && s.hold(dir) && retry.IsZero() {
					// Another process has it (its nightly job, a
					// run of its own), or for a moment this one (a
					// stage of another list forked as it was opened
					// shares it until it execs): tried again soon,
					// not left for the pass over every list, -i
					// later (a review).
					retry = time.Now().Add(heldRetry)
				}
				continue
			}
			go func() {
				u, _ := pass(ctx, a, true, jobs, watch, unwatched, stdout, stderr)
				// Let go before the end is told: a list woken at work
				// is taken again at once, and found its own lock still
				// held, and the wake-up was dropped (a review).
				lock.Close()
				done <- ended{dir, u}
			}()
		}
		next := full
		if !retry.IsZero() && retry.Before(next) {
			next = retry
		}
		timer.Reset(time.Until(next)) // (no stale tick: go 1.23's timers)
		select {
		case <-ctx.Done():
		case e := <-done:
			delete(s.retried, e.dir) // (taken: a later hold tries again)
			s.end(e.dir, e.unsettled)
		case <-timer.C:
		case <-hangup:
			full = time.Time{}
		case <-watch.C():
			paths, all := watch.Fired()
			if all {
				full = time.Time{}
				break
			}
			var dirs []string
			for _, p := range paths {
				// (Queue.Path: the list's directory, queue/, the name.)
				dirs = append(dirs, filepath.Dir(filepath.Dir(p)))
			}
			s.woken(dirs)
		}
	}
}

// A schedule is serveLists's account of the lists: those at work, in a
// slot, and those waiting for one, in the order they came.
type schedule struct {
	slots     int
	working   map[string]bool // taken, not yet ended
	again     map[string]bool // woken while at work: taken again when it ends
	waiting   []string        // to take, as slots free: the pass over all's
	urgent    []string        // to take before them: those woken
	queued    map[string]bool // in waiting or urgent
	unsettled map[string]bool // could not settle a record: not woken until the next pass over all
	held      map[string]bool // its lock held by another: tried again soon (unhold)
	retried   map[string]bool // tried again so: held again, left for the pass over all
}

func newSchedule(slots int) *schedule {
	return &schedule{slots: slots, working: map[string]bool{}, again: map[string]bool{}, queued: map[string]bool{}, unsettled: map[string]bool{}, held: map[string]bool{}, retried: map[string]bool{}}
}

// heldRetry is how soon a list whose lock was held is tried again.
var heldRetry = time.Second

// all adds every list, dirs, for a pass over all of them: unsettled
// ones too, whose wait ends with it, and those held.
func (s *schedule) all(dirs []string) {
	clear(s.unsettled)
	clear(s.held)
	clear(s.retried)
	for _, d := range dirs {
		s.add(d)
	}
}

// hold keeps a list next returned, whose lock another had, for unhold;
// once: held again when unhold's try comes, it is left for the pass over
// every list, as a list whose lock a long job holds was, not tried every
// second. It reports whether it keeps it.
func (s *schedule) hold(dir string) bool {
	if s.retried[dir] {
		delete(s.retried, dir)
		return false
	}
	s.held[dir] = true
	return true
}

// unhold puts the lists held in line again, as woken.
func (s *schedule) unhold() {
	for d := range s.held {
		delete(s.held, d) // (first: woken leaves a held one)
		s.retried[d] = true
		s.woken([]string{d})
	}
}

// woken adds the lists dirs whose queues had records land, but those
// that could not settle one, before the lists of a pass over all that
// wait still: a record that landed during a pass over a thousand idle
// lists waited for their turns (a review).
func (s *schedule) woken(dirs []string) {
	for _, d := range dirs {
		switch {
		case s.unsettled[d]:
		case s.held[d]:
			// Tried again at unhold: another process that holds
			// its lock and lands records in it (mlm-run -f of its
			// own) would wake it, and have its lock tried, for
			// each.
		case s.working[d]:
			s.again[d] = true
		case slices.Contains(s.urgent, d):
		default:
			if s.queued[d] {
				s.waiting = slices.DeleteFunc(s.waiting, func(w string) bool { return w == d })
			}
			s.queued[d] = true
			s.urgent = append(s.urgent, d)
		}
	}
}

// add puts a list in line, once, or if it is at work, marks it to be
// taken again when it ends.
func (s *schedule) add(dir string) {
	switch {
	case s.working[dir]:
		s.again[dir] = true
	case !s.queued[dir]:
		s.queued[dir] = true
		s.waiting = append(s.waiting, dir)
	}
}

// next returns the next list to take, if a slot is free, and counts it
// at work until end.
func (s *schedule) next() (string, bool) {
	if len(s.working) >= s.slots || len(s.urgent)+len(s.waiting) == 0 {
		return "", false
	}
	var dir string
	if len(s.urgent) > 0 {
		dir, s.urgent = s.urgent[0], s.urgent[1:]
	} else {
		dir, s.waiting = s.waiting[0], s.waiting[1:]
	}
	delete(s.queued, dir)
	s.working[dir] = true
	return dir, true
}

// end frees the slot of a list next returned, which could not settle a
// record if unsettled; if it was woken meanwhile, it is put in line
// again, unless it could not.
func (s *schedule) end(dir string, unsettled bool) {
	delete(s.working, dir)
	if unsettled {
		s.unsettled[dir] = true
	}
	if s.again[dir] {
		delete(s.again, dir)
		s.woken([]string{dir})
	}
}

// busy is how many lists are at work.
func (s *schedule) busy() int { return len(s.working) }

// takeList looks at dir, an entry of a --lists directory, and if it is a
// list takes its lock and returns it with the list's jobs; nil if it is
// no list (passed over without a word: what listdir calls none, a file),
// or its lock is held (the next pass), or on an error, said.
func takeList(a *args, dir string, told *sync.Map, say func(string, error)) (lock *os.File, jobs []job, held bool) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, nil, false // a file (the site's aliases), or a link to one
	}
	d, err := listdir.Open(dir)
	if sysexit.Code(err) == sysexit.NoUser {
		return nil, nil, false // no list: no lock made in it
	} else if err != nil {
		say(dir, err) // none now: a link to nothing, one unreadable
		return nil, nil, false
	}
	if os.Geteuid() == 0 {
		// As mlm-lock: the lock root made in another user's list would
		// be root's, mode 0600, and that list's own cron jobs could not
		// take it again, for good (a review).
		if err := listdir.CheckUser(dir); err != nil {
			say(dir, err)
			return nil, nil, false
		}
	}
	lockFile := filepath.Join(dir, listdir.LockFile)
	lock, err = listdir.LockFD(lockFile, 0)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		// Another process has the list: the next pass. Unless its
		// records wait past overdue: a job stuck with the lock kept
		// the list's mail waiting without a word, where its own cron
		// line's mlm-lock said so each minute (a review). Once in
		// overdue, with -D.
		now := clock.Now()
		if n, since := overdue(d, now); n > 0 {
			if last, ok := told.Load(dir); !ok || now.Sub(last.(time.Time)) >= overdueFor {
				told.Store(dir, now)
				say(dir, sysexit.Errorf(sysexit.TempFail, "locked by another process, while %d records have waited to be tried since %s", n, since.UTC().Format(time.RFC3339)))
			}
		}
		return nil, nil, true
	}
	if err != nil {
		say(dir, err)
		return nil, nil, false
	}
	jobs, err = jobsFor(a, dir)
	switch {
	case sysexit.Code(err) == sysexit.NoUser:
		// Removed (rm -rf) or moved away since the look: the lock file
		// just made in it goes again, or rm's last rmdir failed on it
		// (a review). Under the lock, as RemoveLock.
		os.Remove(lockFile)
	case err != nil:
		say(dir, err)
	default:
		for i := range jobs {
			jobs[i].list = dir
		}
		return lock, jobs, false
	}
	lock.Close()
	return nil, nil, false
}

// overdueFor is how long the records of a list another process holds
// locked may wait to be tried before -l says so.
var overdueFor = 10 * time.Minute

// overdue returns how many records of the list d's queues that have
// stages have waited to be tried for overdueFor or more, and since when
// the first has. (A record's time in new/ is when it may be tried.)
func overdue(d *listdir.Dir, now time.Time) (n int, since time.Time) {
	for _, name := range listdir.Queues {
		if !d.Served(name) {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(d.Queue(name).Path, "new"))
		if err != nil {
			continue
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() || now.Sub(info.ModTime()) < overdueFor {
				continue
			}
			n++
			if since.IsZero() || info.ModTime().Before(since) {
				since = info.ModTime()
			}
		}
	}
	return n, since
}

// named is err with the list directory dir before it, unless its text
// names dir first already (listdir's errors do), or dir is "".
func named(dir string, err error) error {
	if dir == "" || strings.HasPrefix(err.Error(), dir+":") || strings.HasPrefix(err.Error(), dir+"/") {
		return err
	}
	return fmt.Errorf("%s: %w", dir, err)
}

// jobsFor returns the queues to process: the one queue with the command
// given, or every queue of a list that has stages.
func jobsFor(a *args, target string) ([]job, error) {
	cmd := a.Command
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(a.Command) > 0 {
		if len(cmd) == 0 {
			return nil, sysexit.Errorf(sysexit.Usage, "no command after --")
		}
		if cmd[0] == "" {
			// No program has it (execve(2)): every record would fail,
			// a pass at a time, for a run that exits 0.
			return nil, sysexit.Errorf(sysexit.Usage, `the command after -- is "", an empty name`)
		}
		// An empty name is no directory (open(2)), not the working one.
		if _, err := os.Stat(filepath.Join(target, "new")); target == "" || err != nil {
			return nil, sysexit.Errorf(sysexit.TempFail, "%s: not a queue directory", listdir.Name(target))
		}
		if err := listdir.CheckQueueRW(target); err != nil {
			return nil, err
		}
		return []job{{name: filepath.Base(target), q: queue.New(target), stages: [][]string{cmd}, workers: a.Workers}}, nil
	}
	d, err := listdir.OpenRW(target)
	if err != nil {
		return nil, err
	}
	var jobs []job
	for _, name := range listdir.Queues {
		// Root's claims in a queue another user owns: what its stages
		// and mlm-run write there (a record put back, an .err in bad/)
		// would be root's. First, before its stages: a queue without
		// stages, or with a stages file that is wrong, is swept too.
		if err := listdir.CheckQueueRW(d.Queue(name).Path); err != nil {
			jobs = append(jobs, job{name: name, q: d.Queue(name), err: err, refused: true})
			continue
		}
		// A queue whose stages file is wrong is reported each pass, and
		// the others go on.
		// Root runs no stages another user chose, as it runs no
		// members-command of another's (listdir.CheckCommand).
		err := d.CheckCommand(listdir.Stages)
		if err == nil {
			err = d.CheckCommand(filepath.Join(listdir.Stages, name))
		}
		text := ""
		if err == nil {
			text, err = d.Text(filepath.Join(listdir.Stages, name))
		}
		if err != nil {
			jobs = append(jobs, job{name: name, q: d.Queue(name), err: err})
			continue
		}
		stages, err := listdir.QueueStages(name, text)
		if err != nil {
			err = sysexit.Errorf(sysexit.TempFail, "%s/%s: %v", listdir.Stages, name, err)
			jobs = append(jobs, job{name: name, q: d.Queue(name), err: err})
			continue
		}
		if stages == nil {
			// No stages (a file of comments): the queue only waits,
			// but its dead claims and stale tmp/ files are still swept.
			j := job{name: name, q: d.Queue(name)}
			if name == listdir.Requests {
				j.unread = d
			}
			jobs = append(jobs, j)
			continue
		}
		j := job{name: name, q: d.Queue(name), stages: stages, dir: d.Path, workers: a.Workers}
		if name == listdir.Retry {
			// A retry record is a batch's deferred recipients, some
			// hundred at most, each its own run of the stages and its
			// own connection: at 1,000,000 members, thousands of them
			// after a post, where one at a time left each waiting on
			// the one before's round trips (R103). Their batches are
			// others', whose recipients are others (mlm-sendmail's
			// journal lock keeps two records of one batch apart), and
			// the default stages write nothing to standard output.
			j.workers = a.Retries
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// process sweeps a queue, then claims and settles each ready record.
func process(ctx context.Context, j job, a *args, stdout, stderr io.Writer) error {
	now := clock.Now()
	if _, err := os.Stat(filepath.Join(j.q.Path, "new")); errors.Is(err, os.ErrNotExist) {
		return nil // a list without this queue
	}
	if j.refused {
		return j.err // (not swept: root's sweep of the queue is refused too)
	}
	if _, _, err := j.q.Sweep(now); err != nil {
		return fmt.Errorf("%s: %w", j.label(), err)
	}
	if j.unread != nil {
		unreadRequests(j.unread, now, stderr)
	}
	if j.err != nil || j.stages == nil {
		return j.err
	}
	ids, strays, err := j.q.Scan(now, a.Flush)
	if err != nil {
		return fmt.Errorf("%s: %w", j.label(), err)
	}
	// A FIFO or a symbolic link in new/ is no record: its claim fails,
	// which reports it, each pass, where Ready would leave it unseen.
	ids = append(ids, strays...)
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range max(j.workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := one(ctx, j, id, a, stdout, stderr); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	// A signal while every worker is busy stops the records not yet
	// given out, not only those after the next one taken.
feed:
	for _, id := range ids {
		// The signal first: a select with both ready picks either.
		select {
		case <-ctx.Done():
			break feed
		default:
		}
		select {
		case <-ctx.Done():
			break feed
		case work <- id:
		}
	}
	close(work)
	wg.Wait()
	return firstErr
}

// one claims a record, runs the stages on it and settles it by their
// status: 0 done; 65, 67, 77 to bad/ with the reason; anything else
// (75, a signal, a status mlm gives no meaning) back to new/ to wait.
func one(ctx context.Context, j job, id string, a *args, stdout, stderr io.Writer) error {
	now := clock.Now()
	it, err := j.q.Claim(id, now, a.Flush)
	if err != nil || it == nil {
		return err
	}
	if it.Size() == 0 {
		// No record: a file of no octets, which no writer of a queue
		// makes (each writes a record whole, then renames it in),
		// but a hand, or a crash of one that did not fsync, can
		// leave. To the stages it is a stream of no records, and it
		// went without a word.
		fmt.Fprintf(stderr, "%s: %s: %s: an empty file, no record: moved to bad/\n", prog, j.label(), sysexit.OneLine(id))
		if err := fail(it, id, "an empty file, no record", a); err != nil {
			return fmt.Errorf("%s: %s: %w", j.label(), id, err)
		}
		return nil
	}
	// Every stage holds the claimed record's descriptor, not only the
	// first, which reads it: the claim's lock then lasts while any stage
	// still works on the record, even if mlm-run dies before them.
	// Otherwise the lock would go with the first stage, and a sweep would
	// hand the record to another run while orphaned stages still deliver
	// it, sending it twice. Its own stages alone: with -j, a stage of
	// another record started meanwhile that left a process running would
	// keep this record's claim for as long as that process lives, and
	// every run would skip the record without a word.
	tail := &lastLine{w: stderr}
	if j.list != "" {
		// One run for many lists (-l, -J): a stage's lines say which
		// list's they are, and come whole, not cut into by another
		// list's (a review).
		tail.prefix = j.list + ": "
	}
	//
	// The stages are stopped (SIGTERM, then SIGKILL after -g) at -t, and
	// at the run's own SIGTERM or SIGINT: a service manager's stop (the
	// unit's KillMode=mixed) sent SIGKILL after its TimeoutStopSec,
	// which cut mlm-sendmail between a final dot and its reply (R74);
	// and stages that exit 0 on SIGTERM are known to have been stopped
	// (Stopped), where one signalled by the service manager itself was
	// taken for done (R75).
	stageCtx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	var signalled atomic.Bool
	status, perr := pipeline.Run(j.stages, pipeline.Options{Stdin: it.File(), Stdout: stdout, Stderr: tail, Dir: j.dir,
		Context: stageCtx, Grace: a.Grace, Stopped: func() { signalled.Store(true) }, Hold: it.File(), Env: cli.StagesEnv()})
	cut := stageCtx.Err() != nil
	why := fmt.Sprintf("stages stopped after %v", a.Timeout)
	if ctx.Err() != nil {
		why = "stages stopped: the run was told to stop"
	}
	if cut && perr != nil {
		// (The status is the stages' all the same: one that ended in
		// time, and left behind a process that holds its stderr, has
		// done its work.)
		perr = fmt.Errorf("%s: %v", why, perr)
	}
	if signalled.Load() && status == sysexit.OK {
		// A stage that exits 0 on SIGTERM, as many a program's clean
		// stop does, has not, as a rule, done its work: the record is
		// run again (SIGKILL made it 75), not removed.
		status, perr = sysexit.TempFail, fmt.Errorf("%s: they exited 0 on SIGTERM; the record is run again", why)
	}
	tail.flush()
	reason := tail.String()
	if perr != nil {
		// (The name is another writer's, maybe: queue.Claim takes any.)
		fmt.Fprintf(stderr, "%s: %s: %s: %s\n", prog, j.label(), sysexit.OneLine(id), sysexit.OneLine(perr.Error()))
		reason = perr.Error()
	}
	switch status {
	case sysexit.OK:
		// The crash tests kill the runner here (MLM_CRASH, lib/crash):
		// the work is done and the record still claimed, then gone.
		crash.Point("run-after-stages")
		if err = it.Done(); err == nil {
			crash.Point("run-after-remove")
		}
	case sysexit.DataErr, sysexit.NoUser, sysexit.NoPerm:
		// The reason as one line of text, as a stage's own line on
		// stderr is (mlm-exit(7)): a stage that is no mlm program may
		// write a post's bytes, an escape sequence among them, which a
		// terminal that shows bad/*.err would act on.
		err = fail(it, id, fmt.Sprintf("exit %d: %s", status, sysexit.OneLine(reason)), a)
	default:
		// The wait counts from the failure, not from the claim: stages
		// that ran long (up to -t, killed) would else leave the record
		// ready again at once, to be tried back to back.
		//
		// Stages stopped by -t wait the shortest time: a delivery
		// longer than -t (a large list at its rates, a slow relay)
		// goes on at the next turn after others have had theirs, not
		// after a wait that grows with the post's age, as for a
		// failure.
		end := clock.Now()
		wait := queue.Backoff(id, end, a.MinWait, a.MaxWait)
		if cut {
			wait = a.MinWait
		}
		err = it.Defer(end.Add(wait))
		if err == nil && stillLocked(j.q, id) {
			// A process the stages left outside their process
			// group (setsid, a daemon), which -t does not reach,
			// holds the claimed descriptor: no pass claims the
			// record until it ends, and each skips it without a
			// word, as one another runner has. Said once, here.
			fmt.Fprintf(stderr, "%s: %s: %s: still locked after its stages ended, by a process they left (descriptor 3 or standard input) or another runner: not run again until that ends\n", prog, j.label(), sysexit.OneLine(id))
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", j.label(), id, err)
	}
	return nil
}

// fail moves the claimed record id to bad/ with reason. Where bad/
// cannot take it (gone, the disk full), still claimed, it waits as after
// a temporary failure, not unlocked in cur/, where a sweep would put it
// back as it was, to be run again, stages, notices and all, on every
// pass; the error is returned all the same.
func fail(it *queue.Item, id, reason string, a *args) error {
	err := it.Fail(reason)
	if err != nil {
		end := clock.Now()
		it.Defer(end.Add(queue.Backoff(id, end, a.MinWait, a.MaxWait)))
	}
	return err
}

// stillLocked is j.q.Locked(id) a while after the stages: processes
// of their group that -t killed hold the record until they have
// exited, a moment after the stages were waited for.
func stillLocked(q *queue.Queue, id string) bool {
	for i := 0; i < 10; i++ {
		if !q.Locked(id) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// maxReason is the most octets of a stage's line that the reason keeps.
const maxReason = 1000

// lastLine passes writes on and remembers the last line written, the
// reason a stage gave for failing, of a longer line its first
// maxReason octets, cut where a UTF-8 character starts. With a prefix,
// it passes whole lines on, each after the prefix (a longer one than
// maxPrefixed in pieces, each after it), and flush passes a last line
// without its LF.
type lastLine struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	cur    []byte
	last   string
	line   []byte // with a prefix, the line not passed on yet, after it
	broken bool   // the last octet ended a piece of a longer line
}

// maxPrefixed is the longest piece of a line lastLine holds with a
// prefix.
const maxPrefixed = 64 << 10

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			if len(l.cur) > 0 {
				l.last = string(l.cur)
			}
			l.cur = l.cur[:0]
		} else if len(l.cur) <= maxReason { // one more, for Cut
			l.cur = append(l.cur, c)
		}
	}
	if l.prefix == "" {
		return l.w.Write(p)
	}
	// The whole lines of p go on in one write, as p came (a review: a
	// write each took a stage of many lines seventeen times as long).
	var out []byte
	for _, c := range p {
		if l.broken && c == '\n' {
			l.broken = false // the LF of a piece ended already
			continue
		}
		l.broken = false
		if len(l.line) == 0 {
			l.line = append(l.line, l.prefix...)
		}
		l.line = append(l.line, c)
		if c == '\n' || len(l.line) >= maxPrefixed {
			if c != '\n' {
				l.line = append(l.line, '\n')
				l.broken = true
			}
			out = append(out, l.line...)
			l.line = l.line[:0]
		}
	}
	if len(out) > 0 {
		if _, err := l.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush passes on, with a prefix, a last line that had no LF.
func (l *lastLine) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.line) > 0 {
		l.w.Write(append(l.line, '\n'))
		l.line = l.line[:0]
	}
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cur) > 0 {
		return sysexit.Cut(string(l.cur), maxReason)
	}
	return sysexit.Cut(l.last, maxReason)
}

// unreadRequests says, at most once a day (UTC), on standard error, how
// many records have waited more than a day in queue/requests of the list
// d, which no stage reads, and why they go there (mlm-accept's
// requestsToOwners): requests to subscribe or unsubscribe that no one
// sees, whose senders are not told. Cron mails the line to the site; a
// program of the site's own that takes the queue leaves none to say.
// The day is marked only when it says so: a record that comes to be a
// day old later in the day is told then. (The crontab mlm-newlist
// prints removes such records after a week.)
func unreadRequests(d *listdir.Dir, now time.Time, stderr io.Writer) {
	ents, err := os.ReadDir(filepath.Join(d.Queue(listdir.Requests).Path, "new"))
	if err != nil {
		return // (the sweep, or the next pass, says what is wrong)
	}
	n := 0
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > 24*time.Hour {
			n++
		}
	}
	if n == 0 {
		return
	}
	// (A new list has no state/ before a program needs it: without it,
	// the mark cannot be written, and a list whose only mail is
	// requests would never be told of; a review.)
	if durable.MkdirAll(d.File(listdir.StateDir), 0o700) != nil || !listdir.OnceADay(d.File(filepath.Join(listdir.StateDir, "requests.told")), now) {
		return
	}
	why := "stages/requests names no stages, and they came before the list had owners"
	switch {
	case !d.Has(filepath.Join(listdir.Stages, listdir.Requests)):
		// A list made before mlm-newlist wrote the file (R95 F2).
		why = "the list has no stages/requests, as one made before mlm-newlist wrote it: a file of comments there sends them to its owners (mlm-listdir(5))"
	case !members.Any(d, listdir.Owner):
		why = "the list has no owner to send them to (./owner)"
	}
	fmt.Fprintf(stderr, "%s: %s: %d records have waited unread in queue/requests for over a day: %s\n", prog, listdir.Name(d.Path), n, why)
}
