package queue

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"

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
	// Which queues had events since Fired was last called: by their
	// watch descriptors, which Add keeps; all when the events
	// overflowed, or one came of a descriptor not known.
	mu    sync.Mutex
	paths map[int32]string
	fired map[string]bool
	all   bool
}

// NewWatcher returns a Watcher that watches no queue yet.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	// (A descriptor in non-blocking mode: the runtime's poller waits on
	// it, and Close ends a Read that waits.)
	w := &Watcher{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1),
		paths: map[int32]string{}, fired: map[string]bool{}}
	go w.read()
	return w, nil
}

// read turns each batch of events into one wake-up, and notes the
// queues they came from (Fired); what the events were does not matter,
// the pass looks.
func (w *Watcher) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed, or the instance broken: the interval remains
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			if p, ok := w.paths[wd]; ok && mask&unix.IN_Q_OVERFLOW == 0 {
				w.fired[p] = true
			} else if mask&unix.IN_IGNORED == 0 {
				w.all = true
			}
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
		}
		w.mu.Unlock()
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
	wd, err := unix.InotifyAddWatch(w.fd, q.dir(newDir), unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: q.dir(newDir), Err: err}
	}
	w.mu.Lock()
	w.paths[int32(wd)] = q.Path
	w.mu.Unlock()
	return nil
}

// Fired returns the paths of the queues (Queue.Path) whose new/ had
// events since it was last called, and forgets them; all is true if
// the events may have been of any queue watched (they overflowed).
func (w *Watcher) Fired() (paths []string, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p := range w.fired {
		paths = append(paths, p)
	}
	all = w.all
	w.fired, w.all = map[string]bool{}, false
	return paths, all
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
