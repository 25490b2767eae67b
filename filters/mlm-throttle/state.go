package main

// The state file.
//
// The buckets' TATs live in a small text file so that every throttle of
// a list, running at once or one after the other, keeps one rate. Each
// update is one critical section under flock(2) on the file: read it,
// take the tokens, write it back in place, unlock; the sleep that
// follows is outside the lock. Only buckets that are not full are
// written, so the file holds no more than the buckets in use.
//
// Format, one bucket a line, in sorted order; the time is decimal unix
// seconds, as lib/clock writes it:
//
//	domain example.org 1795867203.5
//	msg 1795867200.25
//	rcpt 1795867201
//	written 8f1c0d5e-2b7a-4c4e-9a51-0f3d2c6b7e18 1795867200.5
//	written lists.example.org 1795867200.5
//
// The last lines are when the file was written, and on which host's
// clock (its kernel's boot id, its name: see thisHost): a run on that
// clock before it finds the clock stepped back,
// and moves every time back as far (unstep). A throttle of before it
// ignores that line, and writes none.
//
// A line that is not of this form, or whose time is further from the
// run's start than the bucket arithmetic holds (some 146 years), is
// ignored: its bucket counts as full.
// The state is soft: losing it allows one more burst, no more.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/clock"
	"mlm/lib/durable"
	"mlm/lib/sysexit"
)

// lockTimeout bounds the wait for another throttle's critical section,
// which takes microseconds unless that throttle is stuck.
const lockTimeout = 30 * time.Second

// state maps bucket keys to TATs, nanoseconds from the run's epoch.
type state map[string]int64

// A store keeps the state between records.
type store interface {
	// update calls fn with the state; if fn returns true, the state is
	// kept, less the buckets full at now.
	update(fn func(st state) (now int64, keep bool, err error)) error
}

// memStore is the state of this process alone.
type memStore struct{ st state }

func (m *memStore) update(fn func(state) (int64, bool, error)) error {
	if m.st == nil {
		m.st = state{}
	}
	now, keep, err := fn(m.st)
	if err == nil && keep {
		m.st.prune(now)
	}
	return err
}

// fileStore is the state in a file under flock. The file stays open from
// one update to the next, so an update costs a lock, two stats (is it
// still the file the path names?), a read, a write and an unlock: opening
// it anew for each record cost more than all the rest of the record's
// work.
type fileStore struct {
	path string // for opening
	name string // for messages
	fd   *os.File
	buf  []byte // the file's content, read
	// epoch is the unix second the state's times count from, the run's
	// (throttle.epoch).
	epoch int64
	// until is -T's end, in real time, past which the lock is not
	// waited for; zero: none (lockTimeout alone).
	until time.Time
}

func (f *fileStore) update(fn func(state) (int64, bool, error)) error {
	size, err := f.acquire()
	if err != nil {
		return f.fail(err)
	}
	defer syscall.Flock(int(f.fd.Fd()), syscall.LOCK_UN)
	read := size
	if read > maxState {
		// No list's buckets fill it (something else wrote it, a
		// disk's fault made it): read as none, all full, and written
		// anew, not read whole into memory for every record.
		read = 0
	}
	if int64(cap(f.buf)) < read {
		f.buf = make([]byte, read)
	}
	// io.EOF: the file is shorter than a moment ago, cut by a writer
	// that does not lock; what is there is read.
	k, err := f.fd.ReadAt(f.buf[:read], 0)
	if err != nil && err != io.EOF {
		return f.fail(err)
	}
	st := parseState(f.buf[:k], f.epoch)
	now, keep, err := fn(st)
	if err != nil || !keep {
		return err
	}
	st.prune(now)
	for _, h := range thisHost {
		st[writtenKey(h)] = now
	}
	b := st.encode(f.epoch)
	if _, err := f.fd.WriteAt(b, 0); err != nil {
		return f.fail(err)
	}
	if int64(len(b)) < size {
		return f.fail(f.fd.Truncate(int64(len(b))))
	}
	return nil
}

// maxState is the largest state file read: a line is some 40 octets, so
// it holds a bucket for each of over a million domains.
const maxState = 64 << 20

// acquire opens the file if it is not open, locks it and returns its
// size. A file removed or replaced since it was opened (the path names
// another file, or none) is opened again, so that this throttle keeps
// the rate the others see. (lock, below, only locks.)
func (f *fileStore) acquire() (int64, error) {
	for tries := 0; ; tries++ {
		if f.fd == nil {
			fd, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o600)
			if errors.Is(err, os.ErrNotExist) {
				if err = durable.MkdirAll(filepath.Dir(f.path), 0o700); err == nil {
					fd, err = os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o600)
				}
			}
			if err != nil {
				return 0, err
			}
			f.fd = fd
		}
		if err := lock(f.fd, f.until); err != nil {
			return 0, err
		}
		var open, named syscall.Stat_t
		err := syscall.Fstat(int(f.fd.Fd()), &open)
		if err != nil {
			syscall.Flock(int(f.fd.Fd()), syscall.LOCK_UN)
			return 0, err
		}
		if open.Mode&syscall.S_IFMT != syscall.S_IFREG {
			// /dev/null takes every write and reads back empty: each
			// update would find every bucket full, and no rate hold.
			f.fd.Close() // and its lock
			f.fd = nil
			return 0, errors.New("not a regular file, which would keep no buckets")
		}
		err = syscall.Stat(f.path, &named)
		if err == nil && named.Dev == open.Dev && named.Ino == open.Ino || tries == 2 {
			return open.Size, nil
		}
		f.fd.Close() // and its lock
		f.fd = nil
	}
}

// fail classifies an error of the state file as temporary.
func (f *fileStore) fail(err error) error {
	if err == nil {
		return nil
	}
	return sysexit.Temp(fmt.Errorf("%s: %v", f.name, sysexit.Bare(err)))
}

// lock takes an exclusive flock on fd, waiting up to lockTimeout of real
// time, whatever the clock, and not past until, if it is set (-T).
func lock(fd *os.File, until time.Time) error {
	deadline := time.Now().Add(lockTimeout)
	if !until.IsZero() && until.Before(deadline) {
		deadline = until
	}
	for {
		err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case err == syscall.EINTR:
			continue
		case err != syscall.EWOULDBLOCK:
			return fmt.Errorf("lock: %v", err)
		case time.Now().After(deadline) && deadline.Equal(until):
			return errors.New("lock: still held by another process at the deadline (-T); try later")
		case time.Now().After(deadline):
			return fmt.Errorf("lock: timed out after %v", lockTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tat returns key's TAT. A bucket the state does not hold is full at any
// time: its TAT is -far, not 0, which is the run's start, and for which
// a clock set back past it would wait.
func (st state) tat(key string) int64 {
	if v, ok := st[key]; ok {
		return v
	}
	return -far
}

// parseState reads a state file, skipping lines it does not understand;
// the times from epoch, in unix seconds.
func parseState(b []byte, epoch int64) state {
	st := state{}
	for _, line := range strings.Split(string(b), "\n") {
		// Fields of ASCII space alone: a domain may hold any other
		// (U+00A0, U+3000), which strings.Fields would split it at.
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
		var key string
		switch {
		case len(f) == 2 && (f[0] == keyRcpt || f[0] == keyMsg):
			key = f[0]
		case len(f) == 3 && f[0] == "domain":
			key = domainKey(addr.DomainKey(f[1]))
		case len(f) == 3 && f[0] == keyWritten && plainHost(f[1]):
			key = writtenKey(f[1])
		default:
			continue
		}
		// A time the arithmetic cannot hold (some 146 years from the
		// epoch) is not read: as a TAT in nanoseconds it would wrap
		// around, maybe to a wait of centuries. far itself, where the
		// arithmetic saturates, is read back as it was written.
		// (Sub saturates, at the durations' ends.)
		t, err := clock.Parse(f[len(f)-1])
		if ns := int64(t.Sub(time.Unix(epoch, 0))); err == nil && ns >= -far && ns <= far {
			st[key] = ns
		}
	}
	return st
}

// unstep takes the times the state was written out of it, and, if this
// host wrote it last, after now, moves every bucket's time back by the
// difference: the clock stepped back since (a host booted with its
// clock ahead, then set right), and without it each bucket waited the
// step out, a day's step a day, every run (R92 F2). Not when another
// host wrote it: throttles on two hosts, sharing the file, each took
// the other's clock ahead of its own for a step, and so the skew for a
// credit, and the shared rate was none (a review).
func (st state) unstep(now int64) {
	var w int64
	ok := false
	for _, h := range thisHost {
		if t, found := st[writtenKey(h)]; found && (!ok || t > w) {
			w, ok = t, true
		}
	}
	for k := range st {
		if strings.HasPrefix(k, keyWritten+" ") {
			delete(st, k)
		}
	}
	if !ok || w <= now {
		return
	}
	d := w - now // (at most 2*far: the times read are within far)
	for k, tat := range st {
		if tat < -far+d {
			st[k] = -far
		} else {
			st[k] = tat - d
		}
	}
}

// writtenKey is the key of the time host wrote the state at (see unstep).
func writtenKey(host string) string { return keyWritten + " " + host }

// thisHost names this host's clock, as the state's written lines do,
// each a line: the kernel's boot id, which the containers on one kernel
// share, as they share its clock, where the host name may be each one's
// own, and new at each run (a review); and the host's name, which a
// restart keeps, where the boot id is new (another). Either found in the
// state is this clock's. A name that is not plain (it is a field of the
// line) is left out; with neither, no line is written, and no step is
// found.
var thisHost = func() []string {
	var ids []string
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if h := strings.TrimSpace(string(b)); err == nil && plainHost(h) {
		ids = append(ids, h)
	}
	if h, err := os.Hostname(); err == nil && plainHost(h) && !slices.Contains(ids, h) {
		ids = append(ids, h)
	}
	return ids
}()

// plainHost reports a host name the state's written line may hold.
func plainHost(h string) bool { return len(h) <= 255 && ascii.Plain(h, ".-_") }

// prune forgets the buckets that are full at now.
func (st state) prune(now int64) {
	for k, tat := range st {
		if tat <= now {
			delete(st, k)
		}
	}
}

// encode writes the state in the file's format, sorted by key; the
// times from epoch, in unix seconds.
func (st state) encode(epoch int64) []byte {
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s\n", k, clock.Format(time.Unix(epoch, st[k])))
	}
	return b.Bytes()
}
