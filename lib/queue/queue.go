// Package queue implements mlm's queue directories (DESIGN.md §4): one
// maildir-like directory per queue, one record per file, the file named by
// the record id. It is part of mlm's internals, not a public API.
//
// States and moves:
//
//	tmp/  being written          -> new/ by link(2) after fsync; then
//	                                the directory is fsynced
//	new/  ready; a future mtime means "not before then"
//	cur/  claimed: the claimer holds an flock on the file while working
//	bad/  failed for good, with ID.err beside it saying why
//
// Write: create tmp/ID.PID.N.RANDOM exclusively, write, fsync, close, link to
// new/ID (an existing new/ID or cur/ID means the record is queued
// already, so a re-run is harmless), remove the tmp name, fsync new/.
//
// For the crash tests, MLM_CRASH (lib/crash) can kill the writer at
// queue-after-write (data written, not fsynced), queue-after-fsync (not
// yet in new/), queue-after-link (in new/, the directory not fsynced) and
// queue-after-dirsync (durable, not yet reported).
//
// Claim: open new/ID, take a non-blocking flock on it, then rename it to
// cur/ID. Whoever holds the lock owns the record; the lock travels with
// the open file, also into a child process that reads it. Taking the lock
// before the rename means a sweep can never see a claimed file unlocked.
//
// Settle: done removes cur/ID; defer sets its mtime to the time it may be
// tried again and renames it back to new/; fail writes bad/ID.err and
// renames the record to bad/ID. Each move fsyncs the directory it lands
// in. Nothing is ever deleted unless it is done.
//
// Sweep: a file in cur/ whose lock can be taken belongs to a claimer that
// died; it goes back to new/. Files in tmp/ older than a day and a half
// (the maildir rule) are remnants of writers that died, and are removed.
package queue

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"mlm/lib/durable"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Subdirectories.
const (
	tmpDir = "tmp"
	newDir = "new"
	curDir = "cur"
	badDir = "bad"
)

// TmpAge is how old a tmp/ file must be before a sweep removes it.
const TmpAge = 36 * time.Hour

// Queue is a queue directory.
type Queue struct {
	Path string
	// SystemNow says that the times Scan and Claim are given are the
	// system clock's present, as a runner's are (not a cutoff, such as
	// mlm-moderate's expiry's, nor the time of a clock of the
	// environment's): a record never put to wait is then ready
	// whatever its modification time says (see waits).
	SystemNow bool
}

// New returns the queue at path; it does not touch the file system.
func New(path string) *Queue { return &Queue{Path: path} }

func (q *Queue) dir(sub string) string { return filepath.Join(q.Path, sub) }

// Create makes the queue's directories.
func (q *Queue) Create() error {
	for _, d := range []string{tmpDir, newDir, curDir, badDir} {
		if err := durable.MkdirAll(q.dir(d), 0o700); err != nil {
			return sysexit.Temp(err)
		}
	}
	return nil
}

// checkName refuses an id that cannot be a file name here.
func checkName(id string) error {
	if err := stream.CheckID(id); err != nil {
		return sysexit.Perm(sysexit.DataErr, err)
	}
	if id == "." || id == ".." || strings.HasSuffix(id, ".err") {
		return sysexit.Errorf(sysexit.DataErr, "record id %q cannot be a queue file name", id)
	}
	return nil
}

// MaxID is the longest record id Put takes: with ".err" (Fail) a file
// name fits in the 255 octets (NAME_MAX) a file system allows, with room
// for what later stages add to an id (",12", ",r"). The stream allows
// 255, which only a record from outside comes near; mlm's own are some
// 40 octets. A longer one found in new/ (put there by another writer) is
// still claimed, and its reason in bad/ is named by errName.
const MaxID = 240

// errName is the name in bad/ of the reason a record failed: ID.err, or
// for an id over MaxID its first octets, a hash of it and ".err".
func errName(id string) string { return ShortID(id, MaxID) + ".err" }

// ShortID is id if it has at most max octets, else its first octets, a
// dot and eight hex digits of its hash, max octets in all: a name made
// from id (a file's, a record's derived from it) that fits where id
// may not, the same each time it is made. max is more than 9.
func ShortID(id string, max int) string {
	if len(id) <= max {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s.%x", id[:max-9], h[:4])
}

// tmpName is the name of a record's file in tmp/ while it is written:
// the start of its id, to tell which it is, made unique by the process,
// a count and a random number, within NAME_MAX. The number keeps a file
// left by a writer killed while it wrote (removed only by a sweep a day
// and a half later) from stopping every later one that has its process
// id and Puts the same record, as process 1 in a container has
// (durable.Beside's reason).
func tmpName(id string) string {
	return fmt.Sprintf("%s.%d.%d.%08x", id[:min(len(id), 200)], os.Getpid(), tmpSeq.Add(1), rand.Uint32())
}

var tmpSeq atomic.Int64

// Put writes a record durably as new/ID, with what fn writes. If the
// record is queued already (in new/ or cur/), fn's output is dropped and
// Put succeeds, once the name it found is durable: writing the same id
// twice is harmless. A zero notBefore
// makes the record ready at once.
func (q *Queue) Put(id string, notBefore time.Time, fn func(w io.Writer) error) error {
	_, err := q.PutFound(id, notBefore, fn)
	return err
}

// PutFound is Put, and says where it succeeds whether the record was
// queued already, its own output dropped: in new/ or cur/, where Found
// opens it.
func (q *Queue) PutFound(id string, notBefore time.Time, fn func(w io.Writer) error) (found bool, err error) {
	if err := checkName(id); err != nil {
		return false, err
	}
	if len(id) > MaxID {
		return false, sysexit.Errorf(sysexit.DataErr, "record id of %d octets: a queue's are at most %d", len(id), MaxID)
	}
	tmp := filepath.Join(q.dir(tmpDir), tmpName(id))
	final := filepath.Join(q.dir(newDir), id)
	f, err := durable.Create(tmp, final)
	if err != nil {
		return false, err
	}
	// MLM_CRASH can stop the write at queue-after-write, -fsync, -link
	// and -dirsync (lib/crash), for the crash tests.
	f.CrashPoints("queue")
	if err := fn(f); err != nil {
		f.Abort()
		return false, err
	}
	if !notBefore.IsZero() {
		// Set before the link, so the record is never ready too early.
		if err := chtimes(tmp, notBefore); err != nil {
			f.Abort()
			return false, sysexit.Temp(err)
		}
	}
	// Claimed (new/ to cur/) meanwhile, the record is queued still: not
	// linked into new/ again, where it would run twice.
	claimed := func() bool {
		_, err := os.Lstat(filepath.Join(q.dir(curDir), id))
		return err == nil
	}
	if claimed() { // (and without the fsync)
		f.Abort()
		return true, q.syncClaimed()
	}
	existed, err := f.CommitNewUnless(claimed)
	if err == nil && existed && claimed() {
		err = q.syncClaimed()
	}
	return existed && err == nil, err
}

// Found opens the record id where it is queued, in new/ or cur/; nil,
// and no error, if it is in neither (done with since).
func (q *Queue) Found(id string) (*os.File, error) {
	if err := checkName(id); err != nil {
		return nil, err
	}
	for _, sub := range []string{newDir, curDir} {
		f, err := os.Open(filepath.Join(q.dir(sub), id))
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, sysexit.Temp(err)
		}
	}
	return nil, nil
}

// syncClaimed makes the names in cur/ durable, for a Put that found its
// record claimed there and drops its own copy: a claim is a rename no
// one fsyncs, of a name in new/ that its writer may have died before
// fsyncing, so the record that Put's success answers for might not
// outlive a power cut.
func (q *Queue) syncClaimed() error { return sysexit.Temp(syncDir(q.dir(curDir))) }

var syncDir = durable.SyncDir // for tests

// Has reports whether the record id is waiting or claimed in the queue.
func (q *Queue) Has(id string) bool {
	if checkName(id) != nil {
		return false
	}
	// new/ again after cur/: a record put back (cur/ to new/) between
	// the first two looks is seen all the same, as a claim (new/ to
	// cur/) is by the second.
	for _, sub := range []string{newDir, curDir, newDir} {
		if _, err := os.Lstat(filepath.Join(q.dir(sub), id)); err == nil {
			return true
		}
	}
	return false
}

// Locked reports whether the record id waiting in new/ is locked, as
// Claim would find it: by a runner that has claimed it since, or by a
// process its stages left that still holds it (a runner's claim lasts
// while any holder of the claimed descriptor lives). It takes the lock
// itself for a moment to find out.
func (q *Queue) Locked(id string) bool {
	if checkName(id) != nil {
		return false
	}
	f, err := openRecord(filepath.Join(q.dir(newDir), id))
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == syscall.EWOULDBLOCK
}

// Time returns the time of the record id waiting in new/, by which
// Ready orders it and tells whether its time has come (its file's
// modification time: when it was put, or the notBefore it was put
// with), and true; false if it is not waiting there.
func (q *Queue) Time(id string) (time.Time, bool) {
	if checkName(id) != nil {
		return time.Time{}, false
	}
	info, err := os.Lstat(filepath.Join(q.dir(newDir), id))
	if err != nil || !info.Mode().IsRegular() {
		return time.Time{}, false
	}
	return info.ModTime(), true
}

// Names returns the names of the files in new/, cur/ and bad/: the ids
// of the records the queue holds, waiting, claimed or failed (and, in
// bad/, their reasons), some twice. It reads new/ before cur/ and then
// cur/ before new/, so that a record claimed (new/ to cur/) or put back
// (cur/ to new/) while they are read is named all the same. A directory
// that cannot be read is an error.
func (q *Queue) Names() ([]string, error) {
	var names []string
	for _, sub := range []string{newDir, curDir, badDir, curDir, newDir} {
		ents, err := os.ReadDir(q.dir(sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, sysexit.Temp(err)
		}
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Ready returns the ids in new/ whose time has come (all of them if
// flush), oldest first.
func (q *Queue) Ready(now time.Time, flush bool) ([]string, error) {
	ids, _, err := q.Scan(now, flush)
	return ids, err
}

// Scan is Ready, and also returns the strays: the names in new/ that are
// not regular files, which Ready leaves out. They are no records, but
// were put there by another writer, a FIFO or a symbolic link, say;
// Claim refuses each with an error naming it, for a runner to report on
// every pass rather than leave it there for ever unseen. (One reading
// of the directory serves both.)
//
// The directory is read a thousand names at a time, each kept only as
// its id and time: a queue of 200,000 records (a hold queue that
// strangers filled) took 70 MB read whole.
func (q *Queue) Scan(now time.Time, flush bool) (ids, strays []string, err error) {
	d, err := os.Open(q.dir(newDir))
	if err != nil {
		return nil, nil, sysexit.Temp(err)
	}
	defer d.Close()
	type item struct {
		id string
		t  time.Time
	}
	var items []item
	for {
		ents, err := d.ReadDir(1000)
		for _, e := range ents {
			info, err := e.Info()
			switch {
			case err != nil:
				continue // claimed meanwhile
			case !info.Mode().IsRegular():
				strays = append(strays, e.Name())
				continue
			case !flush && waits(info, now, q.SystemNow):
				continue
			}
			items = append(items, item{e.Name(), info.ModTime()})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, sysexit.Temp(err)
		}
	}
	slices.Sort(strays) // in the order of their names, as ever
	sort.Slice(items, func(i, j int) bool {
		if !items[i].t.Equal(items[j].t) {
			return items[i].t.Before(items[j].t)
		}
		return items[i].id < items[j].id
	})
	ids = make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	return ids, strays, nil
}

// Item is a claimed record. Its file is open, locked and positioned at
// the start.
type Item struct {
	ID   string
	q    *Queue
	f    *os.File
	size int64
}

// File is the claimed record's open file.
func (it *Item) File() *os.File { return it.f }

// Size is the record's size in octets when it was claimed (as Claim
// looked at the locked file).
func (it *Item) Size() int64 { return it.size }

// Claim claims new/ID. It returns nil, nil if another process has it, or
// if its time has not come and flush is false. ID is the name of a file
// in new/, which need not be a record id: one put there by another
// writer under a name Put would refuse (a maildir flag's ':', ".err" at
// the end) is claimed as any other, not left there for ever unseen.
func (q *Queue) Claim(id string, now time.Time, flush bool) (*Item, error) {
	if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
		return nil, nil
	}
	f, err := openRecord(filepath.Join(q.dir(newDir), id))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENAMETOOLONG) {
		return nil, nil // (a name too long for the file system is none of its files)
	}
	if err != nil {
		return nil, sysexit.Temp(err)
	}
	testHookOpened(id)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, nil
		}
		return nil, sysexit.Temp(err)
	}
	// With the lock held, the file may have moved on since it was
	// opened: done, deferred again, or claimed and returned; and new/ID
	// may now be another file of the same name (a record put back). Go
	// on only if new/ID is the file locked.
	info, err := f.Stat()
	if err != nil || (!flush && waits(info, now, q.SystemNow)) {
		f.Close()
		return nil, sysexit.Temp(err)
	}
	if cur, err := os.Lstat(filepath.Join(q.dir(newDir), id)); err != nil || !os.SameFile(info, cur) {
		f.Close()
		return nil, nil
	}
	// Never over a cur/ID another claimer works on: a record put while
	// the one of its id was being claimed (Put looks at cur/ before it
	// links) waits in new/ until that one is done.
	if err := renameNoReplace(filepath.Join(q.dir(newDir), id), filepath.Join(q.dir(curDir), id)); err != nil {
		f.Close()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
			return nil, nil
		}
		return nil, sysexit.Temp(err)
	}
	return &Item{ID: id, q: q, f: f, size: info.Size()}, nil
}

// testHookOpened is called with the id Claim has opened new/ID for,
// before it takes the lock: a test's other claimer settles it first.
var testHookOpened = func(string) {}

// ErrNotRecord is in the error of a file of a queue that is no regular
// file, so no record (see openRecord): waiting will not make it one.
var ErrNotRecord = errors.New("not a record")

// openRecord opens a queue's file for reading, which must be a regular
// file: a FIFO another writer put there would block the open until
// someone wrote to it, and the runner with it; a symbolic link, whose
// target the lock would be on, would be claimed under a name that is
// not the file locked. Either is an error, which the runner reports on
// every pass, where it was left there unseen or hung it. Such a file is
// not opened at all, as mlm-listdir(5) says: the open of a FIFO for
// reading, even without waiting, lets a writer blocked in its own open
// go on, into a pipe whose reader is gone at once, and that of a device
// acts on the device. (The look before the open is for that; the open
// without waiting and not following, and the look at what was opened,
// are for a file put in the name's place between the two.)
func openRecord(path string) (*os.File, error) {
	if info, err := os.Lstat(path); err != nil {
		return nil, err
	} else if info.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: a symbolic link, %w", path, ErrNotRecord)
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file, %w", path, ErrNotRecord)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: a symbolic link, %w", path, ErrNotRecord)
	}
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: not a regular file, %w", path, ErrNotRecord)
		}
		return nil, err
	}
	return f, nil
}

// renameChecked renames old to new unless new exists, as far as a check
// just before can tell.
func renameChecked(old, new string) error {
	if _, err := os.Lstat(new); err == nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	}
	return os.Rename(old, new)
}

// lastTime is the latest time os.Chtimes can set: it passes the time on
// as nanoseconds since 1970 in an int64 (UnixNano), which a later one,
// past the year 2262, overflows, to a time long past.
var lastTime = time.Unix(0, math.MaxInt64)

// chtimes sets a file's times to t, or to lastTime if t is later: a
// record to wait centuries waits as long as a file can say, never one
// that wrapped round to 1901 and is ready at once.
func chtimes(name string, t time.Time) error {
	if t.After(lastTime) {
		t = lastTime
	}
	return os.Chtimes(name, t, t)
}

// Done removes the record: its work is finished and durable elsewhere.
func (it *Item) Done() error {
	defer it.f.Close()
	if err := os.Remove(filepath.Join(it.q.dir(curDir), it.ID)); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(durable.SyncDir(it.q.dir(curDir)))
}

// Defer puts the record back in new/, not to be tried before until.
func (it *Item) Defer(until time.Time) error {
	defer it.f.Close()
	cur := filepath.Join(it.q.dir(curDir), it.ID)
	if err := chtimes(cur, until); err != nil {
		return sysexit.Temp(err)
	}
	if err := os.Rename(cur, filepath.Join(it.q.dir(newDir), it.ID)); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(durable.SyncDir(it.q.dir(newDir)))
}

// Return puts the record back in new/ as it was: its time, which says
// when it is ready and how old it is, unchanged. It is for a claim that
// came to nothing, not for a try that failed (Defer).
func (it *Item) Return() error {
	info, err := it.f.Stat()
	if err != nil {
		it.f.Close() // unlocked in cur/: a sweep puts it back
		return sysexit.Temp(err)
	}
	return it.Defer(info.ModTime())
}

// Fail moves the record to bad/ with reason written beside it as
// bad/ID.err (see errName). A record that failed before under the same
// id (one put again, and failed again) is not replaced: this one is
// bad/ID.2 (and ID.2.err), or the first of ID.3, ID.4, … that is free
// (see failedName). So is one whose name ends in ".err" (see Claim),
// from the first. If it cannot be moved, the record stays claimed, its
// lock held, for the caller to Defer: let go of, it would be another
// runner's to sweep and claim while the caller still moved it.
func (it *Item) Fail(reason string) error {
	bad := it.q.dir(badDir)
	name, n := it.ID, 2
	if strings.HasSuffix(name, ".err") {
		// A name from another writer (see Claim), which in bad/ would
		// read as the reason of another record: ID.2 from the first.
		name, n = failedName(it.ID, n), n+1
	}
	for ; ; name, n = failedName(it.ID, n), n+1 {
		taken, err := exists(filepath.Join(bad, name))
		if err == nil && !taken {
			taken, err = exists(filepath.Join(bad, errName(name)))
		}
		if err != nil {
			return sysexit.Temp(err)
		}
		if taken {
			continue
		}
		testHookPicked(name)
		// The reason first, under a name of its own: a record failing
		// at the same moment may pick the same (x, failed again, and
		// x.2), and a reason put in the place of its would read as its.
		// Written in tmp/, which a sweep empties of what a run killed
		// meanwhile left, not beside it: in bad/ nothing would (R72),
		// and no name there is any but a record's own (its id may
		// start with "." too).
		errFile := filepath.Join(bad, errName(name))
		tmp := filepath.Join(it.q.dir(tmpDir), filepath.Base(durable.Beside(errFile)))
		f, err := durable.Create(tmp, errFile)
		if err != nil {
			return err
		}
		f.Write([]byte(strings.TrimRight(reason, "\n") + "\n"))
		testHookReason(tmp)
		existed, err := f.CommitNew()
		if err != nil {
			return err
		}
		if existed {
			continue
		}
		err = renameNoReplace(filepath.Join(it.q.dir(curDir), it.ID), filepath.Join(bad, name))
		if err == nil {
			break
		}
		// The reason just written is this record's alone: it goes, or
		// it would read as a record failed.
		os.Remove(errFile)
		if !errors.Is(err, fs.ErrExist) {
			// The record stays in cur/, claimed.
			return sysexit.Temp(err)
		}
		// A record without a reason has the name: the next one.
	}
	it.f.Close() // in bad/: no one's to claim
	return sysexit.Temp(durable.SyncDir(bad))
}

// testHookPicked is called with the name Fail picked in bad/ before it
// takes it: a test's other writer takes it first.
var testHookPicked = func(string) {}

// testHookReason is called with the temporary file of a record's reason
// as Fail writes it.
var testHookReason = func(string) {}

// failedName is the name in bad/ of the n-th record of an id to fail:
// ID.n, or for an id too long for that, its first octets, a hash of it
// and .n, within MaxID as errName wants.
func failedName(id string, n int) string {
	sfx := "." + strconv.Itoa(n)
	if len(id)+len(sfx) <= MaxID {
		return id + sfx
	}
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s.%x%s", id[:MaxID-9-len(sfx)], h[:4], sfx)
}

// exists reports whether a file is at name.
func exists(name string) (bool, error) {
	_, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Holds counts the records q holds, waiting or claimed (new/ and cur/:
// the work it has to do, not the records failed in bad/), and their
// octets between them. It stops once it has counted maxRecords records,
// or maxOctets octets, and says whether it did: the queue is full. A
// directory that is not there holds nothing. The count is of a moment:
// a record claimed while it reads may count twice, or one put back not
// at all, and what is not a record (a stray FIFO) counts as one.
func (q *Queue) Holds(maxRecords int, maxOctets int64) (records int, octets int64, full bool, err error) {
	for _, sub := range []string{newDir, curDir} {
		d, err := os.Open(q.dir(sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return records, octets, false, sysexit.Temp(err)
		}
		for {
			ents, rerr := d.ReadDir(1000)
			for _, e := range ents {
				info, err := e.Info()
				if err != nil {
					continue // taken meanwhile
				}
				records++
				octets += info.Size()
				if records >= maxRecords || octets >= maxOctets {
					d.Close()
					return records, octets, true, nil
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				d.Close()
				return records, octets, false, sysexit.Temp(rerr)
			}
		}
		d.Close()
	}
	return records, octets, false, nil
}

// Sweep returns to new/ every claimed record whose claimer is gone and
// removes tmp/ files older than TmpAge. It reports how many of each.
func (q *Queue) Sweep(now time.Time) (returned, removed int, err error) {
	ents, err := os.ReadDir(q.dir(curDir))
	if err != nil {
		return 0, 0, sysexit.Temp(err)
	}
	for _, e := range ents {
		cur := filepath.Join(q.dir(curDir), e.Name())
		f, err := openRecord(cur)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && sameFile(f, cur) {
			// Ready at once, as it was when claimed: a time ahead
			// of now (written while the clock was ahead, which then
			// stepped back) would read, once the rename set its
			// change time, as a record put to wait, and wait out
			// the step (R89 F4). (One a dead run was deferring when
			// it died goes a turn early.)
			if info, err := f.Stat(); err == nil && info.ModTime().After(now) {
				chtimes(cur, now)
			}
			if os.Rename(cur, filepath.Join(q.dir(newDir), e.Name())) == nil {
				returned++
			}
		}
		f.Close()
	}
	if returned > 0 {
		if err := durable.SyncDir(q.dir(newDir)); err != nil {
			return returned, 0, sysexit.Temp(err)
		}
	}
	ents, err = os.ReadDir(q.dir(tmpDir))
	if err != nil {
		return returned, 0, sysexit.Temp(err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && now.Sub(written(info)) > TmpAge {
			if os.Remove(filepath.Join(q.dir(tmpDir), e.Name())) == nil {
				removed++
			}
		}
	}
	return returned, removed, nil
}

// sameFile reports whether the open file f is still the one at path.
func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Lstat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// Backoff is how long a record that failed temporarily waits: as long as
// it has existed (the seconds its id starts with), kept between lo and
// hi, so the waits grow as a record ages, much as an MTA's retries do.
// Ids that do not start with a time wait lo.
func Backoff(id string, now time.Time, lo, hi time.Duration) time.Duration {
	secs, _, _ := strings.Cut(id, ".")
	t, err := strconv.ParseInt(secs, 10, 64)
	// (A sign, which ParseInt takes, is no time: "+1" of another
	// writer's name waited hi, as a record 56 years old.)
	if err != nil || secs[0] == '+' || t <= 0 || t > now.Unix() {
		return lo
	}
	return min(max(now.Sub(time.Unix(t, 0)), lo), hi)
}
