package main

// The delivery journal: for each post (the root of a record id, before
// its first ","), a file state/journal/POST in the list directory with a
// line per recipient whose outcome is final — "D ADDRESS" delivered (the
// server said 2xx after the data), "F ADDRESS" failed for good (5xx, or
// expired). A batch tried again after any crash skips every recipient
// the journal names, so no recipient that got a 250 gets the post twice,
// however its batch or retry record is repeated. Lines are appended and
// fsynced once per transaction, after the bounce record of a failure is
// on disk and before the transaction's recipients are reported done.
// Fsyncs are group commits: the transactions of several connections that
// end while one fsync runs are made durable together by the next. A
// connection goes on with its next transactions while its lines are
// synced, but holds the final dot of the unsyncedMax-th of them until
// they are on disk (see lane), so the window for a duplicate after a
// crash of the host stays unsyncedMax transactions per connection. An
// fsync of a post's journal waits, before it begins, until every
// connection whose final dot for that post has gone out, not held for
// an fsync, has written its lines (see gather), for no longer than the
// last fsync took and 10 ms at most, so that it covers a transaction of
// each, not only those that ended while the one before it ran.

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/durable"
	jf "mlm/lib/journal"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

type journal struct {
	dir  string
	mu   sync.Mutex
	seed [2]maphash.Seed
	done map[string]map[[2]uint64]bool // post -> keys with a final outcome
	read map[string]int64              // post -> octets of its file read
	// post -> the open file whose octets read counts (nil: a file read
	// by its name, and closed)
	in map[string]*os.File
	// With a filter (retries: few recipients a record, however large
	// the post), done keeps only the keys of want, post -> those of the
	// post's records seen: memory for them, not for every line of the
	// journal. (A key wanted for one post is not for another, whose
	// journal was read before without it.)
	want map[string]map[[2]uint64]bool
	// With a filter, the local parts of want's keys: most lines of a
	// large post's journal are passed over with a hash of their local
	// part, before their address is checked and its key made.
	local *jf.LocalFilter
	// With a filter, post -> the keys of the recipients a record of this
	// run has taken on: another record of the post in the run (two
	// retry records of one batch, made under another maxrcpt) leaves
	// them to it, rather than sending them too before either's outcome
	// is in the journal.
	claimed map[string]map[[2]uint64]bool
	// post -> octets reserved by transactions whose lines are not
	// written yet
	inflight map[string]int64
	// post -> the end of the space reserved in its file
	alloc map[string]int64
	file  map[string]*os.File
	stale []*os.File // files let go by catchUp, to close at the end
	// batch (lockKey) -> its records on their way in this process, and
	// the file whose lock keeps other processes from it meanwhile (see
	// lock; nil if the kernel has no such locks)
	busy   map[string]int
	locked map[string]*os.File
	// Without a filter, batch (lockKey) -> the recipients its records
	// on their way in this process have taken on (see unknown), while
	// busy: their lists to send, which they hold anyway, not a set
	// kept beside them; and a 64-bit hash of each batch this process
	// has had records of (see lock), some 16 octets a record, where its
	// recipients' keys would be some 80 octets each.
	taken map[string][][]stream.Path
	had   map[uint64]struct{}
	// unknown's set of the keys of one record, cleared and used again
	// for the next (see seenMax)
	seen map[[2]uint64]bool
	// readFrom's buffer (jf.ReadSize), made once
	rbuf *bufio.Reader
	// With a filter, batch (lockKey) -> the bytes of its records'
	// recipients this process has locked (see lockRcpts), and each
	// byte -> how many of them hold it: two records of the run that
	// share a recipient (of two batchings) take its byte once, and the
	// first to end does not let it go from under the other.
	rlocked map[string][]rcptLock
	rheld   map[rcptLock]int

	// Group commit: writes appended, per post, and the last write to
	// each file an fsync of it made durable. One fsync runs at a time
	// (fsyncing); fsynced is closed as it ends, for the syncs that wait
	// for it, and made anew.
	gen      map[string]uint64
	synced   map[*os.File]uint64
	fsyncing bool
	fsynced  chan struct{}
	fsync    func(*os.File) error // (*os.File).Sync; a test's own
	syncDir  func(string) error   // durable.SyncDir; a test's own
	// The connections that write to the journal (see gather), and a
	// token in settled whenever one of them is done with the lines it
	// was to write. took is how long the last fsync that succeeded
	// took, up to maxGather: the most gather waits. after is
	// time.After, or a test's own.
	writers []*writer
	settled chan struct{}
	took    time.Duration
	after   func(time.Duration) <-chan time.Time
	// The first fsync that failed: every sync after it fails too, since
	// Linux reports a failed writeback once and then calls the pages
	// clean, and an fsync after it could say lines are on disk that
	// are not.
	syncErr error
}

func newJournal(dir string) *journal {
	return &journal{dir: dir, seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		done: map[string]map[[2]uint64]bool{}, read: map[string]int64{}, in: map[string]*os.File{}, inflight: map[string]int64{}, file: map[string]*os.File{},
		alloc: map[string]int64{}, busy: map[string]int{}, locked: map[string]*os.File{}, taken: map[string][][]stream.Path{}, had: map[uint64]struct{}{}, fsync: (*os.File).Sync, syncDir: durable.SyncDir,
		gen: map[string]uint64{}, synced: map[*os.File]uint64{}, settled: make(chan struct{}, 1), after: time.After, fsynced: make(chan struct{})}
}

// key is a 128-bit hash of an address's key: a collision is not a
// practical worry (about 1 in 10^26 for a million recipients).
func (j *journal) key(mailbox string) [2]uint64 { return j.hash(addr.Key(mailbox)) }

// hash is key's hash of a key already made (addr.Key).
func (j *journal) hash(k string) [2]uint64 {
	return [2]uint64{maphash.String(j.seed[0], k), maphash.String(j.seed[1], k)}
}

// load returns a post's set, reading its journal the first time.
func (j *journal) load(post string) (map[[2]uint64]bool, error) {
	if m, ok := j.done[post]; ok {
		return m, nil
	}
	if len(j.done) >= maxKept {
		j.letGo(post)
	}
	j.done[post] = map[[2]uint64]bool{}
	return j.done[post], j.catchUp(post)
}

// catchUp reads what was appended to a post's journal since it was last
// read, by this process or another (a retry delivering the same post).
// Where the journal is open already (this process appends to it) and its
// name still leads to that file, it is read through the open file, and
// not at all if it has not grown: two stats rather than an open, a read
// and a close before every record.
func (j *journal) catchUp(post string) error {
	name := filepath.Join(j.dir, post)
	if f := j.file[post]; f != nil {
		fi, err := f.Stat()
		ni, nerr := os.Stat(name)
		switch {
		case err != nil: // read by the name, below
		case nerr == nil && os.SameFile(fi, ni):
			// What was read counts another file's octets (one read by
			// its name), or this one was cut short in place.
			if j.in[post] != f || fi.Size() < j.read[post] {
				j.read[post] = 0
			}
			j.in[post] = f
			if fi.Size() == j.read[post] {
				return nil
			}
			return j.readFrom(post, io.NewSectionReader(f, j.read[post], fi.Size()-j.read[post]))
		case nerr == nil || errors.Is(nerr, fs.ErrNotExist):
			// The name leads to another file now (a journal put back
			// from a copy), or to none: what this process appends must
			// go where the others read. The file at the name is read
			// whole and opened for the next append; the old one is
			// closed with the journal, since a transaction may still be
			// syncing it.
			j.stale = append(j.stale, f)
			delete(j.file, post)
			delete(j.alloc, post)
			j.read[post] = 0
		}
	}
	if j.in[post] != nil { // what was read counts the open file's octets
		j.read[post], j.in[post] = 0, nil
	}
	f, err := j.openFreeing(post, func() (*os.File, error) { return os.Open(name) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	defer f.Close()
	if _, err := f.Seek(j.read[post], io.SeekStart); err != nil {
		return sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	return j.readFrom(post, f)
}

// filter makes the journal keep, of what it reads, only the outcomes of
// the recipients it is asked about (see interest).
func (j *journal) filter() {
	j.want, j.claimed = map[string]map[[2]uint64]bool{}, map[string]map[[2]uint64]bool{}
	j.local = jf.NewLocalFilter()
	j.rlocked, j.rheld = map[string][]rcptLock{}, map[rcptLock]int{}
}

// lookup returns the recipients of record id, of a post, that the
// journal does not know, and its mark (see unknown), having caught up
// with it (see refresh), with a filter for rcpts (see interest): under
// one hold of mu, so that no other record's interest moves where the
// read of the post stands between them.
func (j *journal) lookup(post, id string, rcpts []stream.Path, from string) ([]stream.Path, mark, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.interest(post, rcpts, from)
	if err := j.refresh(post); err != nil {
		return nil, mark{}, err
	}
	if err := j.relock(post, id); err != nil {
		return nil, mark{}, err
	}
	return j.unknown(post, id, rcpts)
}

// unclaim undoes what unknown took on of record id's recipients (todo,
// as it returned them), for a record given back with none of them
// settled (see giveBack): else the lookup of the worker that takes it
// found them taken on by the record itself, and it ended with nothing
// sent, journaled or deferred, exit 0 (a review). With a filter, they
// are the post's claims the lookup added; without, the record's own
// entry among its batch's (taken), there while another record of the
// batch is on its way.
func (j *journal) unclaim(post, id string, todo []stream.Path) {
	if len(todo) == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if c := j.claimed[post]; c != nil {
		for _, r := range todo {
			delete(c, j.key(r.Mailbox))
		}
	}
	key := lockKey(id)
	for i, ps := range j.taken[key] {
		if len(ps) > 0 && &ps[0] == &todo[0] { // (the slice unknown appended)
			j.taken[key] = slices.Delete(j.taken[key], i, i+1)
			break
		}
	}
}

// wantAll, with a filter, adds the keys of rcpts, a record's that goes
// as a job for each recipient (verp=yes), to what the journal keeps of
// its post at once (see interest), from the record's mark, and reads
// it: each job's lookup added its own key, and read the journal again
// from the mark for it, a hundred times for a record of a hundred.
// Under one hold of mu, as lookup: read later, after another record's
// interest had moved where the read of the post stands to its own
// mark, it skipped this record's outcomes before that mark, and sent
// them again (a review). The journal is opened first, as a lock opens
// it, so that the mark is checked against it (resume), not ignored for
// a whole read. An error is its jobs' lookups' to say.
func (j *journal) wantAll(post string, rcpts []stream.Path, from string) {
	if j.want == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.open(post); err != nil {
		return
	}
	j.interest(post, rcpts, from)
	j.refresh(post)
}

// relock moves the lock of record id's batch (see lock) to the file at
// the journal's name, where the other processes take it, if the catch-up
// found the name leads to another file than the one locked (a journal
// put back from a copy) or to none: lock took the byte in the file this
// process had open, and another process may hold it in the new one. If
// that one has it, the record is not tried now (75). A batch whose record
// was already on its way when the name changed stays locked in the old
// file until the record ends. Called with mu held, after the catch-up,
// which costs the check nothing.
func (j *journal) relock(post, id string) error {
	key := lockKey(id)
	old := j.locked[key]
	if old == nil || old == j.file[post] {
		return nil
	}
	f, err := j.open(post)
	if err != nil || f == old {
		return err
	}
	switch err := lockByte(f, key); err {
	case nil:
	case errNoLocks:
		return nil // kept in the old file
	default:
		return err
	}
	// The bytes of the batch's recipients move with it, or the batch's
	// stays where it was.
	var moved []rcptLock
	for _, l := range j.rlocked[key] {
		m := rcptLock{f, l.at}
		if err := j.takeByte(m); err != nil {
			j.unlockRcpts(moved)
			setLock(f, byteOf(key, unix.F_UNLCK))
			if err == errNoLocks {
				return nil // kept in the old file
			}
			return errRcptsBusy(key)
		}
		moved = append(moved, m)
	}
	j.unlockRcpts(j.rlocked[key])
	if len(moved) > 0 {
		j.rlocked[key] = moved
	}
	setLock(old, byteOf(key, unix.F_UNLCK))
	j.locked[key] = f
	return nil
}

// interest, with a filter, adds the keys of rcpts to what the journal
// keeps of a post; if any is new, what was read of the post is read
// again, so that its outcome is known: from the start, or from the
// record's mark (from, its journal-from), where that still holds (see
// resume). Called with mu held.
func (j *journal) interest(post string, rcpts []stream.Path, from string) {
	if j.want == nil {
		return
	}
	want := j.want[post]
	if want == nil {
		want = map[[2]uint64]bool{}
		j.want[post] = want
	}
	again := false
	for _, r := range rcpts {
		key := addr.Key(r.Mailbox)
		if k := j.hash(key); !want[k] {
			want[k], again = true, true
			j.local.Want(key)
		}
	}
	if !again {
		return
	}
	f, at := j.file[post], resume(j.file[post], from)
	_, loaded := j.done[post]
	switch {
	case at > 0 && !loaded:
		j.read[post], j.in[post] = at, f
	case at > 0 && j.in[post] == f:
		// The outcomes of the keys wanted before are kept; theirs
		// from at on are read again with the new keys'.
		j.read[post] = min(j.read[post], at)
	default:
		delete(j.done, post)
		j.read[post] = 0
	}
}

// readFrom reads a post's journal lines from r, which stands at j.read;
// a partial last line is read again next time.
func (j *journal) readFrom(post string, r io.Reader) error {
	m := j.done[post]
	var may func(string) bool
	var want map[[2]uint64]bool
	if j.want != nil {
		may, want = j.local.May, j.want[post]
	}
	if j.rbuf == nil {
		j.rbuf = bufio.NewReaderSize(r, jf.ReadSize)
	} else {
		j.rbuf.Reset(r)
	}
	n, err := jf.EachOf(j.rbuf, may, func(a string) {
		if k := j.key(a); j.want == nil || want[k] {
			m[k] = true
		}
	})
	j.read[post] += n
	return err
}

// refresh catches up with a post's journal before one of its batches,
// so a record delivered meanwhile by another process is not sent again.
// Called with mu held (see lookup).
func (j *journal) refresh(post string) error {
	if _, ok := j.done[post]; !ok {
		_, err := j.load(post)
		return err
	}
	return j.catchUp(post)
}

// unknown returns the recipients of record id, of a post, without a
// final outcome, and that no record of its batch on its way in this
// process (with a filter, no record of the post in this run) has taken
// on: the caller takes them on. A recipient rcpts names twice (the same
// key) is returned once: two RCPTs of it would have an LMTP server, or
// a relay that does not merge them, deliver the post twice.
//
// It returns too the journal's mark as it looked them up: a retry record
// of those it defers may read the journal from there (see resume).
// Called with mu held (see lookup).
func (j *journal) unknown(post, id string, rcpts []stream.Path) ([]stream.Path, mark, error) {
	m, err := j.load(post)
	if err != nil {
		return nil, mark{}, err
	}
	var at mark
	if f := j.in[post]; f != nil && f == j.file[post] {
		at = mark{f, j.read[post]}
	}
	c := j.claimed[post]
	if j.claimed != nil && c == nil {
		c = map[[2]uint64]bool{}
		j.claimed[post] = c
	}
	key := lockKey(id)
	var others map[[2]uint64]bool // taken on by another record of the batch
	if j.claimed == nil && len(j.taken[key]) > 0 {
		others = map[[2]uint64]bool{}
		for _, ps := range j.taken[key] {
			for _, p := range ps {
				others[j.key(p.Mailbox)] = true
			}
		}
	}
	if c == nil && len(rcpts) > 1 {
		c = j.recordSet(len(rcpts)) // this record's alone
	}
	// rcpts itself while none is left out, as on a post's first
	// delivery; a copy from the first left out.
	todo := rcpts
	ceded := false
	for i, r := range rcpts {
		k := j.key(r.Mailbox)
		ceded = ceded || others[k] && !m[k]
		if m[k] || c[k] || others[k] {
			if len(todo) == len(rcpts) {
				todo = append(make([]stream.Path, 0, len(rcpts)-1), rcpts[:i]...)
			}
			continue
		}
		if c != nil {
			c[k] = true
		}
		if len(todo) < len(rcpts) {
			todo = append(todo, r)
		}
	}
	if j.claimed == nil && j.busy[key] > 0 && len(todo) > 0 {
		// Kept, with the others', until no record of the batch is on
		// its way: the lines written of them are not in memory.
		j.taken[key] = append(j.taken[key], todo)
	}
	if ceded && key != id {
		return todo, at, errCeded
	}
	return todo, at, nil
}

// errCeded is unknown's word that a retry record's recipients, some of
// them, are another's of its batch, on its way in this run: the record
// goes on without them, as a batch's own record twice in a stream does,
// but writes no retry record, and ends 75 (sender.todo), so that, kept
// whole, it holds them still. It ended 0, and the other's retry record
// of them could have its name (the same set, or, without -R, a retry
// record's own next), which the retry queue, having it, dropped:
// recipients lost (a review); and refused whole, its recipients the
// other did not have waited for those it had, up to their lifetime
// (another). A stream of two records of one batch, as a site's runner
// that feeds its retry queue to one process makes, meets this.
var errCeded = errors.New("some of its recipients are another record's of its batch in this run")

// A mark is where a retry of a record's deferred recipients may begin
// to read the post's journal: at, the end of a line of f, the journal
// file, up to which it had been read when their outcomes were looked up
// (unknown), and none was found. No line before at names any of them,
// since a journal is only ever appended to (or removed), so one that
// does lies at at or after it. The retry record carries the mark in
// its journal-from attribute (value, jf.MarkValue). A retry checks it
// against the file it has (resume): a record of a post delivered
// to a million keeps its retries from reading the lines of the earlier
// batches, once for each retry record, which take some 0.1 s a million.
type mark struct {
	f  *os.File
	at int64
}

// value returns the journal-from value of m: "" for none.
func (m mark) value() string { return jf.MarkValue(m.f, m.at) }

// journalFrom is the attribute of a retry record that holds its mark.
const journalFrom = "journal-from"

// resume returns where a retry record whose journal-from is from may
// begin to read f, its post's journal (jf.Resume).
func resume(f *os.File, from string) int64 { return jf.Resume(f, from) }

// recordSet returns an empty set for the keys of one record of n
// recipients: seen, cleared, for a record of up to seenMax, so that a
// run of batches makes one set, not one a batch; a set of its own for a
// larger one, which is not kept.
func (j *journal) recordSet(n int) map[[2]uint64]bool {
	if n > seenMax {
		return make(map[[2]uint64]bool, n)
	}
	if j.seen == nil {
		j.seen = make(map[[2]uint64]bool, n)
	}
	clear(j.seen)
	return j.seen
}

// seenMax is the most recipients of a record whose set unknown keeps
// for the next: ten times the default batch (mlm-split's 100), some
// 40 KiB.
const seenMax = 1000

// open returns a post's journal file, open for appending, creating it
// if need be; its name is made durable (its directory fsynced) before
// anything is sent on the strength of it. That is done on every run's
// first open, not only the one that made the file: a run whose fsync
// failed left the file, and the next would not know the name had not
// reached the disk.
func (j *journal) open(post string) (*os.File, error) {
	if f := j.file[post]; f != nil {
		return f, nil
	}
	if len(j.file) >= maxKept {
		j.letGo(post)
	}
	// The directory made, the file opened, and the directory opened to
	// be fsynced: each may want a descriptor.
	f, err := j.openFreeing(post, func() (*os.File, error) {
		if err := durable.MkdirAll(j.dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(j.dir, post), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := j.syncDir(j.dir); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	})
	if err != nil {
		return nil, sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	j.file[post] = f
	return f, nil
}

// maxKept is how many posts' journals a run keeps open, and what it
// knows of them, before it lets go of those it is done with (letGo): a
// stream of many posts (a queue's records joined, an import) ran out of
// descriptors, and each post kept some 1.5 KB to the end.
const maxKept = 64

// letGo closes the journal of each post nothing of which is on its way,
// and forgets what it knows of it, as if the run had not seen it: no
// record of one of its batches is (busy, which would let go of the
// batch's lock with the file), no transaction has octets reserved in it
// or its final dot out, and no write to it waits for an fsync (the
// file's own). A record of the post that comes later reads its journal
// again, as a run after this one would. What stays: the fsynced count of
// the file (a sync of a write an fsync already covered finds it), the
// hashes of the batches seen (had), and, with a filter, the keys the
// post's records have taken on for the run (claimed). The post keep,
// whose journal is being read or opened, is kept whatever it is: what
// is read of it goes into what is known of it. Called with mu held.
func (j *journal) letGo(keep string) {
	busy := map[string]bool{keep: true}
	for key := range j.busy {
		busy[jf.Post(key)] = true
	}
	unsynced := map[*os.File]bool{}
	for _, w := range j.writers {
		if w.dot != "" {
			busy[w.dot] = true
		}
		for _, u := range w.unsynced {
			unsynced[u.file] = true
		}
	}
	idle := func(post string) bool {
		f := j.file[post]
		return !busy[post] && j.inflight[post] == 0 && (f == nil || !unsynced[f])
	}
	// A post has what is known of it, its file open, or both.
	for post := range j.done {
		if idle(post) {
			j.forget(post)
		}
	}
	for post := range j.file {
		if idle(post) {
			j.forget(post)
		}
	}
}

// openFreeing opens a file of post's with open, and if the process is
// out of descriptors short of maxKept journals (a lower limit, or many
// connections), lets go of what it can (letGo) but post, and tries once
// more. Called with mu held.
func (j *journal) openFreeing(post string, open func() (*os.File, error)) (*os.File, error) {
	f, err := open()
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		j.letGo(post)
		f, err = open()
	}
	return f, err
}

// forget closes a post's journal and forgets what it knows of it (see
// letGo). Called with mu held.
func (j *journal) forget(post string) {
	if f := j.file[post]; f != nil {
		f.Close()
	}
	delete(j.file, post)
	delete(j.alloc, post)
	delete(j.inflight, post)
	delete(j.gen, post)
	delete(j.done, post)
	delete(j.read, post)
	delete(j.in, post)
	if j.want != nil {
		delete(j.want, post)
	}
}

// reserve makes sure, before a transaction, that its outcomes can be
// recorded: the post's journal file exists and the space its lines will
// take is allocated, past what the transactions still in flight have
// reserved. A journal that cannot be written is found out before the
// message goes to anyone, not after, when the recipients would get it
// again on the retry. It returns the octets reserved, which the caller
// gives back with release once the transaction's lines are written, or
// will not be.
func (j *journal) reserve(post string, rcpts []stream.Path) (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := j.open(post)
	if err != nil {
		return 0, err
	}
	n := int64(len(jf.CutShort)) // what may end a partial line
	for _, r := range rcpts {
		n += int64(len("D \n") + len(r.Mailbox))
	}
	info, err := f.Stat()
	if err != nil {
		return 0, sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	from := info.Size() + j.inflight[post]
	// A file system allocates whole blocks: the rest of the block the
	// reservation ends in is taken with it, and the lines of the next
	// transactions that fit there need no fallocate of their own, as
	// long as the file still has that space (one cut short, by anyone,
	// has given it back).
	st, _ := info.Sys().(*syscall.Stat_t)
	if end := from + n; end > j.alloc[post] || st == nil || st.Blocks*512 < j.alloc[post] {
		to := (end + allocUnit - 1) / allocUnit * allocUnit
		err = syscall.Fallocate(int(f.Fd()), 1 /* FALLOC_FL_KEEP_SIZE */, from, to-from)
		if err != nil && err != syscall.EOPNOTSUPP && err != syscall.ENOSYS {
			return 0, sysexit.Temp(fmt.Errorf("journal: reserving %d octets: %w", n, err))
		}
		j.alloc[post] = 0
		if err == nil {
			j.alloc[post] = to
		}
	}
	j.inflight[post] += n
	return n, nil
}

// lock takes on a record of post, before its recipients are looked up
// in the journal. The records that may share recipients, those of one
// batch (lockKey: the batch, the same batch again, its retry records),
// are kept from being on their way in two processes at once: the first
// of the process's records of a batch locks a byte of the post's journal
// file that the batch names (an open file description lock, F_OFD_SETLK,
// which no other descriptor's close lets go), the others count, until
// unlock. Another process that delivers the batch (the same record fed
// by hand while the queue runner has it, a batch run again after a crash
// while its retry record runs) has it locked: the record is not tried
// now (75), rather than send a recipient the other is sending, which
// neither journal line could prevent before it was written. Other
// batches of the post, whose recipients are others, go on at once. (The
// byte may be in a file the name no longer leads to: see relock.)
func (j *journal) lock(post, id string, rcpts []stream.Path) error {
	key := lockKey(id)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.busy[key] > 0 {
		if err := j.lockRcpts(j.locked[key], key, rcpts); err != nil {
			return err
		}
		j.busy[key]++
		return nil
	}
	f, err := j.open(post)
	if err != nil {
		return err
	}
	switch err := lockByte(f, key); err {
	case nil:
		if err := j.lockRcpts(f, key, rcpts); err != nil {
			setLock(f, byteOf(key, unix.F_UNLCK))
			return err
		}
	case errNoLocks:
		f = nil
	default:
		return err
	}
	if j.claimed == nil { // (with a filter, claimed keeps them for the run)
		// The batch again in this run (fed twice), or one whose hash
		// is another's: what this process wrote of it is not kept in
		// memory (see append), so the journal is read again whole,
		// lest its recipients be sent again.
		h := maphash.String(j.seed[0], key)
		if _, again := j.had[h]; again {
			delete(j.done, post)
			j.read[post] = 0
		}
		j.had[h] = struct{}{}
	}
	j.busy[key], j.locked[key] = 1, f
	return nil
}

// lockByte takes the byte of f that key names (byteOf): nil once taken,
// 75 if another process has it, errNoLocks if f's file system has no
// such locks (a kernel before 3.15, EINVAL; NFS without them, ENOLCK),
// where the records go as before, rather than wait for ever.
func lockByte(f *os.File, key string) error {
	err := setLock(f, byteOf(key, unix.F_WRLCK))
	if err == errBusy {
		return sysexit.Errorf(sysexit.TempFail, "another process is delivering the records of %s; tried again later", key)
	}
	return err
}

// setLock sets lk on f (F_OFD_SETLK), again after EINTR: nil, errBusy if
// another process holds the byte, or errNoLocks if f's file system has
// no such locks.
func setLock(f *os.File, lk unix.Flock_t) error {
	for {
		switch err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err {
		case nil:
			return nil
		case unix.EINTR:
		case unix.EAGAIN, unix.EACCES:
			return errBusy
		default:
			return errNoLocks
		}
	}
}

var (
	errNoLocks = errors.New("no such locks")
	errBusy    = errors.New("held by another process")
)

// unlock ends what lock began for the record id, once its journal lines
// are written, or will not be.
func (j *journal) unlock(id string) {
	key := lockKey(id)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.busy[key]--; j.busy[key] > 0 {
		return
	}
	if f := j.locked[key]; f != nil {
		setLock(f, byteOf(key, unix.F_UNLCK))
	}
	j.unlockRcpts(j.rlocked[key])
	delete(j.rlocked, key)
	delete(j.busy, key)
	delete(j.locked, key)
	delete(j.taken, key)
}

// A rcptLock is a byte of a journal file that a recipient names (see
// lockRcpts).
type rcptLock struct {
	f  *os.File
	at int64
}

// flock is the lock of type typ on l's byte.
func (l rcptLock) flock(typ int16) unix.Flock_t {
	return unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: l.at, Len: 1}
}

// errRcptsBusy is a record's failure to take on its recipients, of batch
// key, one of which another process holds (lockRcpts).
func errRcptsBusy(key string) error {
	return sysexit.Errorf(sysexit.TempFail, "another process is delivering some of the recipients of %s (a record of another batch); tried again later", key)
}

// lockRcpts takes, with a filter (retries), the byte of the journal file
// f that each recipient of a record of batch key names (rcptByte), all
// or none: 75 if another process holds any. The batch's lock keeps apart
// the records of one batch; a recipient's keeps apart records of two
// batches that share it, which a post's batches do when its outgoing
// record was run again under another batching (maxrcpt changed after a
// run that was cut short) and left retry records of both: run at once,
// by mlm-run -r, both sent it the post (a review). With no filter (a
// post's first delivery, some hundred recipients a record but a million
// a post) none is taken. Called with mu held; f nil: no locks.
func (j *journal) lockRcpts(f *os.File, key string, rcpts []stream.Path) error {
	if j.rheld == nil || f == nil || len(rcpts) == 0 || len(rcpts) > rcptLocksMax {
		return nil
	}
	// In the bytes' order, as every process takes them: of two records
	// that want some of the same, the first to take the lowest of those
	// goes, where in the records' own orders each could take one the
	// other then failed on, and both wait.
	at := make([]int64, len(rcpts))
	for i, r := range rcpts {
		at[i] = rcptByte(addr.Key(r.Mailbox))
	}
	slices.Sort(at)
	var took []rcptLock
	for _, b := range at {
		l := rcptLock{f, b}
		switch err := j.takeByte(l); err {
		case nil:
			took = append(took, l)
		case errNoLocks:
			// (The batch's were taken, so this is not one; as for the
			// batch's, the record goes on.)
			j.unlockRcpts(took)
			return nil
		default:
			j.unlockRcpts(took)
			return errRcptsBusy(key)
		}
	}
	j.rlocked[key] = append(j.rlocked[key], took...)
	return nil
}

// takeByte takes a recipient's byte l, or counts one more hold of it if
// this process has it: nil, errBusy if another process has it, or
// errNoLocks. Called with mu held.
func (j *journal) takeByte(l rcptLock) error {
	if j.rheld[l] == 0 {
		if err := setLock(l.f, l.flock(unix.F_WRLCK)); err != nil {
			return err
		}
	}
	j.rheld[l]++
	return nil
}

// rcptLocksMax is the most recipients of a record whose bytes lockRcpts
// takes: ten of mlm-split's batches by default. A file's locks are one
// list in the kernel, which each lock taken walks: four records of 5,000
// at once took 15 s of system time, where they took 0.2 s without (a
// review). A larger record (maxrcpt above it, or a part of partRcpts)
// takes none, as before.
const rcptLocksMax = 1000

// unlockRcpts lets go of the recipients' bytes ls, each once: a byte
// another record still holds stays locked until it lets go too.
func (j *journal) unlockRcpts(ls []rcptLock) {
	for _, l := range ls {
		if j.rheld[l]--; j.rheld[l] > 0 {
			continue
		}
		delete(j.rheld, l)
		setLock(l.f, l.flock(unix.F_UNLCK))
	}
}

// rcptByte is the byte of a journal file that the recipient of key
// (addr.Key) names: the same in every process, above every batch's
// (byteOf's are below 1<<62).
func rcptByte(key string) int64 {
	h := fnv.New64a()
	io.WriteString(h, key)
	return 1<<62 | int64(h.Sum64()>>3)
}

// lockKey is the batch a record belongs to: its id, less the ",r-HASH"
// of a retry record (retryID).
func lockKey(id string) string {
	if i := len(id) - len(",r-12345678"); i > 0 && strings.HasPrefix(id[i:], ",r-") {
		return id[:i]
	}
	return id
}

// byteOf is the lock of type typ on the byte of a journal file that key
// names: the same in every process.
func byteOf(key string, typ int16) unix.Flock_t {
	h := fnv.New64a()
	io.WriteString(h, key)
	return unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: int64(h.Sum64() >> 2), Len: 1}
}

// allocUnit is the block the reservations are rounded up to: the
// smallest a file system here allocates (st_blksize is a preferred I/O
// size, up to a megabyte on NFS, and would keep that much past the end
// of every journal).
const allocUnit = 4096

// release gives back what reserve reserved for a transaction.
func (j *journal) release(post string, n int64) {
	j.mu.Lock()
	j.inflight[post] -= n
	j.mu.Unlock()
}

// writer is what the journal knows of a connection that writes to it:
// the post of its transaction whose final dot is let go, or about to be,
// whose outcome it will write (dot; "" if none); how many writes of
// lines it has made (n); and those that wait for an fsync, oldest first.
type writer struct {
	dot      string
	n        int
	unsynced []written
}

// written is a write of journal lines: its file, which is one post's,
// its number in the post's journal, and the writer's count of writes
// with it.
type written struct {
	file *os.File
	gen  uint64
	n    int
}

// writes reports whether a writer will write lines before it waits for
// an fsync: its final dot goes out, not held until an fsync ends. A
// lane holds it while a write older than its last unsyncedMax-1 is not
// durable (see lane), whichever fsyncs have ended since. Called with mu
// held.
func (w *writer) writes() bool {
	return w.dot != "" && (len(w.unsynced) == 0 || w.unsynced[0].n > w.n-(unsyncedMax-1))
}

// pending reports whether a writer will write lines for post before it
// waits for an fsync. Called with mu held.
func (w *writer) pending(post string) bool { return w.dot == post && w.writes() }

// newWriter adds a connection.
func (j *journal) newWriter() *writer {
	w := &writer{}
	j.mu.Lock()
	j.writers = append(j.writers, w)
	j.mu.Unlock()
	return w
}

// atDot says a writer's transaction, of post, is at its final dot: once
// the dot is let go, the server's reply comes, and the outcome is
// written.
func (j *journal) atDot(w *writer, post string) {
	j.mu.Lock()
	w.dot = post
	j.mu.Unlock()
}

// settle says a writer's transaction is over, its lines written if it
// had any.
func (j *journal) settle(w *writer) {
	j.mu.Lock()
	j.update(w, func() { w.dot = "" })
	j.mu.Unlock()
}

// update changes a writer's state by change, and leaves a token in
// settled if it was to write lines and is no longer. Called with mu
// held.
func (j *journal) update(w *writer, change func()) {
	was := w.writes()
	change()
	if was && !w.writes() {
		select {
		case j.settled <- struct{}{}:
		default:
		}
	}
}

// append writes text, outcomes ("D addr" or "F addr" lines, each ended
// by its LF), to the post's journal, without fsync, and returns the file
// and the write's number for sync; w, if not nil, is the connection they
// come from. A partial last line (a write cut short by a crash or a disk
// fault) is ended first with jf.CutShort, so that it cannot swallow the
// first line appended, nor name as done a recipient whose address is a
// prefix of the one it was writing ("D bob@example.co" of
// "D bob@example.com").
func (j *journal) append(w *writer, post string, text []byte) (*os.File, uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.load(post); err != nil {
		return nil, 0, err
	}
	f, err := j.open(post)
	if err != nil {
		return nil, 0, err
	}
	// j.read only ever ends on a line's end, so a file of that size ends
	// with one: only another writer's octets need looking at.
	if info, err := f.Stat(); err == nil && info.Size() > 0 && (info.Size() != j.read[post] || j.in[post] != f) {
		var last [1]byte
		if _, err := f.ReadAt(last[:], info.Size()-1); err == nil && last[0] != '\n' {
			text = append([]byte(jf.CutShort), text...)
		}
	}
	if _, err := f.Write(text); err != nil {
		return nil, 0, sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	// Memory keeps only what others wrote: a recipient is in one batch
	// of a post, so what this process settles is not asked about again,
	// and a million-recipient post does not make the set grow by a
	// million. Our own lines are skipped when catching up.
	if info, err := f.Stat(); err == nil && j.in[post] == f && j.read[post] == info.Size()-int64(len(text)) {
		j.read[post] = info.Size()
	}
	j.gen[post]++
	if w != nil {
		j.update(w, func() {
			w.n++
			w.dot, w.unsynced = "", append(w.unsynced, written{f, j.gen[post], w.n})
		})
	}
	return f, j.gen[post], nil
}

// sync returns once write number my of the post's journal, made to f,
// is on disk: at once if an fsync of f that began after it has ended,
// else after an fsync of its own, which makes every write before it
// durable too.
func (j *journal) sync(post string, f *os.File, my uint64) error {
	j.mu.Lock()
	for {
		switch {
		case j.syncErr != nil:
			j.mu.Unlock()
			return j.syncErr
		case j.synced[f] >= my:
			j.mu.Unlock()
			return nil
		case j.fsyncing:
			// Woken as it ends, whether or not it makes this write
			// durable: one made durable goes on without waiting for
			// any other fsync to begin or end.
			ended := j.fsynced
			j.mu.Unlock()
			<-ended
			j.mu.Lock()
			continue
		}
		break
	}
	j.fsyncing = true
	j.mu.Unlock()
	j.gather(post)
	j.mu.Lock()
	upto := j.gen[post]
	j.mu.Unlock()
	start := time.Now()
	err := j.fsync(f)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fsyncing = false
	close(j.fsynced)
	j.fsynced = make(chan struct{})
	if err != nil {
		j.syncErr = sysexit.Temp(fmt.Errorf("journal: %w", err))
		return j.syncErr
	}
	j.took = min(time.Since(start), maxGather)
	// (It speaks for f's writes only: a file catchUp has let go, and the
	// one at the name now, are two.)
	j.synced[f] = max(j.synced[f], upto)
	for _, w := range j.writers {
		w.unsynced = slices.DeleteFunc(w.unsynced, func(u written) bool { return u.file == f && u.gen <= upto })
	}
	return nil
}

// gather waits, before an fsync of post's journal, until no connection
// will write lines for it before it waits for an fsync: each whose
// final dot has gone out has written the outcome. The fsync then covers
// a transaction of every connection. Without it, the transactions whose
// dots the last fsync let go would end just after the next one began,
// and wait for the one after: each connection would end a transaction
// every other fsync. It waits no longer than the last fsync took, so no
// fsync is put off by more than the one before it cost.
func (j *journal) gather(post string) {
	var timer <-chan time.Time
	for {
		j.mu.Lock()
		select {
		case <-j.settled: // from before the count
		default:
		}
		n := 0
		for _, w := range j.writers {
			if w.pending(post) {
				n++
			}
		}
		d := j.took
		j.mu.Unlock()
		if n == 0 || d <= 0 {
			return
		}
		if timer == nil {
			timer = j.after(d)
		}
		select {
		case <-j.settled:
		case <-timer:
			return
		}
	}
}

// failed reports whether an fsync of the journal has failed.
func (j *journal) failed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncErr != nil
}

// maxGather is the most gather waits, however long an fsync took.
const maxGather = 10 * time.Millisecond

func (j *journal) close() {
	for _, f := range j.file {
		f.Close()
	}
	for _, f := range j.stale {
		f.Close()
	}
}
