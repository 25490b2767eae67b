//go:build !linux

package queue

// Watcher, where mlm has no way to watch directories, never says that
// records came: a daemon takes them up at its interval.
type Watcher struct{}

// NewWatcher returns a Watcher that never wakes.
func NewWatcher() (*Watcher, error) { return &Watcher{}, nil }

// Add does nothing.
func (w *Watcher) Add(q *Queue) error { return nil }

// Fired says every queue may have had records come: it knows none.
func (w *Watcher) Fired() (paths []string, all bool) { return nil, true }

// C is a channel that never receives.
func (w *Watcher) C() <-chan struct{} { return nil }

// Close does nothing.
func (w *Watcher) Close() error { return nil }
