// Package durable writes a file so that readers see all of it or nothing,
// and so that once Commit returns a crash cannot lose it: create a
// temporary name with O_EXCL, write, fsync, close, rename into place,
// fsync the directory (the order of qmail-local, mblaze's mdeliver and nq;
// DESIGN.md §4). It is part of mlm's internals, not a public API.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mlm/lib/crash"
	"mlm/lib/sysexit"
)

// File is a file being written under a temporary name.
type File struct {
	f          *os.File
	tmp, final string
	err        error
	crash      string // prefix of the crash points CommitNew passes
}

// Beside returns a name for the temporary file of final, for Create: in
// final's directory, hidden, of this process and a random number, and
// within the 255 octets of a file name (NAME_MAX) however long final's
// own is. The number keeps a file left by a process killed while it wrote
// from stopping every later one that has its process id (Create is
// exclusive), as one in a container, process 1, always has.
func Beside(final string) string {
	dir, base := filepath.Split(final)
	return filepath.Join(dir, fmt.Sprintf("%s%d.%08x", tmpPrefix(base), os.Getpid(), rand.Uint32()))
}

// tmpPrefix is how the temporary files of the file base start (Beside).
func tmpPrefix(base string) string { return "." + base[:min(len(base), 200)] + ".tmp" }

// Leftovers removes the temporary files of final (Beside's) that were
// last changed more than age ago, or all of them for an age of 0: those
// of a process killed while it wrote, which nothing else would remove.
// A writer takes some milliseconds, so an old one is nobody's; one of
// any age is a leftover where the caller holds the lock every writer of
// final takes. A failure leaves them.
func Leftovers(final string, age time.Duration) {
	dir, base := filepath.Split(final)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tmpPrefix(base)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		if age > 0 {
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) <= age {
				continue
			}
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// Create creates tmp exclusively; Commit will rename it to final, which
// must be in the same file system.
func Create(tmp, final string) (*File, error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, sysexit.Temp(err)
	}
	return &File{f: f, tmp: tmp, final: final}, nil
}

// Write writes to the temporary file. Errors are temporary.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	if err != nil && f.err == nil {
		f.err = sysexit.Temp(err)
	}
	return n, f.err
}

// Commit makes the file durable under its final name. On failure the
// temporary file is removed and the error is temporary.
func (f *File) Commit() error {
	err := f.err
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = Replaceable(f.final)
	}
	if err == nil {
		err = os.Rename(f.tmp, f.final)
	}
	if err != nil {
		os.Remove(f.tmp)
		return sysexit.Temp(err)
	}
	return sysexit.Temp(SyncDir(filepath.Dir(f.final)))
}

// Replaceable returns an error for a name a rename must not replace:
// one that is there and is neither a regular file nor a symbolic link
// (which the rename replaces, not what it points to). A device such as
// /dev/null, given to mlm-accept -o by a hand trying it as root, would
// otherwise become a regular file for the whole system. Commit checks
// it; so must anything else that renames into place.
func Replaceable(name string) error {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	return fmt.Errorf("%s: not a regular file, not replaced", name)
}

// CrashPoints makes CommitNew pass the crash points (lib/crash)
// PREFIX-after-write (the data written, not yet fsynced),
// PREFIX-after-fsync (fsynced, not yet linked), PREFIX-after-link (under
// its final name, the directory not yet fsynced) and
// PREFIX-after-dirsync (durable, not yet reported to the caller).
func (f *File) CrashPoints(prefix string) { f.crash = prefix }

// point passes the crash point PREFIX-after-what, if CrashPoints named
// a prefix.
func (f *File) point(what string) {
	if f.crash != "" {
		crash.Point(f.crash + "-after-" + what)
	}
}

// CommitNew makes the file durable under its final name unless that
// name exists already, in which case the temporary file is dropped and
// existed is true: link(2), not rename(2), so a deterministic name is
// published once (re-runs are harmless). Errors are temporary.
func (f *File) CommitNew() (existed bool, err error) { return f.CommitNewUnless(nil) }

// CommitNewUnless is CommitNew, where the name also counts as existing
// if taken, when not nil, reports true: asked once the file is durable,
// just before the link, and again just after it, when the name just
// published is taken back. For a queue, whose records leave new/ for
// cur/ when claimed: a record claimed while its copy was written (the
// fsync takes milliseconds) is not published a second time.
func (f *File) CommitNewUnless(taken func() bool) (existed bool, err error) {
	err = f.err
	if err == nil {
		f.point("write")
		err = f.f.Sync()
	}
	info, serr := f.f.Stat()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		f.point("fsync")
		if taken != nil && taken() {
			os.Remove(f.tmp)
			return true, nil
		}
		err = os.Link(f.tmp, f.final)
		if errors.Is(err, fs.ErrExist) {
			existed, err = true, nil
		} else if err == nil {
			f.point("link")
			if taken != nil && taken() && serr == nil {
				// Claimed between the look and the link: the copy
				// just linked is a second one.
				if cur, lerr := os.Lstat(f.final); lerr == nil && os.SameFile(info, cur) {
					os.Remove(f.final)
					os.Remove(f.tmp)
					return true, sysexit.Temp(SyncDir(filepath.Dir(f.final)))
				}
			}
		}
	}
	os.Remove(f.tmp)
	if err != nil {
		return false, sysexit.Temp(err)
	}
	if err := SyncDir(filepath.Dir(f.final)); err != nil {
		// The name is not known to be durable and the caller will say
		// "try again": take back the name this call published, so the
		// retry does not make a second copy. A name that existed
		// already is another writer's and stays.
		if !existed && serr == nil {
			if cur, lerr := os.Lstat(f.final); lerr == nil && os.SameFile(info, cur) {
				os.Remove(f.final)
				SyncDir(filepath.Dir(f.final))
			}
		}
		return existed, sysexit.Temp(err)
	}
	if !existed {
		f.point("dirsync")
	}
	return existed, nil
}

// Open opens the temporary file for reading, as written so far: for a
// caller that reads it back before it commits it, or writes the next of
// several in its light.
func (f *File) Open() (*os.File, error) {
	r, err := os.Open(f.tmp)
	return r, sysexit.Temp(err)
}

// Abort closes and removes the temporary file.
func (f *File) Abort() {
	f.f.Close()
	os.Remove(f.tmp)
}

// MkdirAll makes dir and the parents it lacks, as os.MkdirAll does, and
// fsyncs the directory each new one was made in: a name made durable in
// dir survives a crash only if dir's own name does, and its parent's.
func MkdirAll(dir string, perm os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("not a directory")}
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	// One made by another process at once is synced here too: that
	// one may not have done it yet.
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

var syncDir = SyncDir // for tests

// SyncDir fsyncs a directory, committing the names created in it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
