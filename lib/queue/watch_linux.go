package queue

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Watcher says when records may have come to the queues it watches: a
// file linked or renamed into one's new/ (Put, Defer, a sweep, or any
// other writer's rename). A daemon waits on it as well as on its
// interval, and so takes a post up as it lands, not at its next pass.
// It is a hint only: a pass after it may find nothing ready (a record
// deferred, one another runner took), and nothing waits for ever when it
// says nothing (its events overflowed, a file system without them): the
// interval still comes.
type Watcher struct {
	fd int // the inotify(7) instance; f reads it
	f  *os.File
	c  chan struct{}
}

// NewWatcher returns a Watcher that watches no queue yet.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	// (A descriptor in non-blocking mode: the runtime's poller waits on
	// it, and Close ends a Read that waits.)
	w := &Watcher{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1)}
	go w.read()
	return w, nil
}

// read turns each batch of events into one wake-up; what the events
// were does not matter, the pass looks.
func (w *Watcher) read() {
	buf := make([]byte, 64<<10)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return // closed, or the instance broken: the interval remains
		}
		select {
		case w.c <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Add watches q's new/ directory; a queue watched already stays so, once.
// A watch goes with its directory, removed or replaced; Add it again
// (each pass) to watch the new one.
func (w *Watcher) Add(q *Queue) error {
	if w.fd < 0 {
		return os.ErrClosed // (its number may be another file's by now)
	}
	_, err := unix.InotifyAddWatch(w.fd, q.dir(newDir), unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: q.dir(newDir), Err: err}
	}
	return nil
}

// C is where the wake-ups come: one pending at most, however many
// records came since the last was taken.
func (w *Watcher) C() <-chan struct{} { return w.c }

// Close stops the watches.
func (w *Watcher) Close() error {
	w.fd = -1
	if err := w.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
