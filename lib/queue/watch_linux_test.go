package queue

import (
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWatcherFired: a record that lands in one of two queues watched
// wakes the watcher, and Fired names that queue alone, once.
func TestWatcherFired(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var qs []*Queue
	for _, name := range []string{"a", "b"} {
		q := New(filepath.Join(t.TempDir(), name))
		if err := q.Create(); err != nil {
			t.Fatal(err)
		}
		if err := w.Add(q); err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	if err := qs[1].Put("1795867200.x", time.Time{}, func(w io.Writer) error { _, err := io.WriteString(w, "MLM1 x\nS <>\nE 0\n"); return err }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	case <-time.After(20 * time.Second): // a safety net, not a measure
		t.Fatal("no wake-up in 20 s")
	}
	if paths, all := w.Fired(); all || !slices.Equal(paths, []string{qs[1].Path}) {
		t.Errorf("Fired = %v, %v; want [%s], false", paths, all, qs[1].Path)
	}
	if paths, all := w.Fired(); all || len(paths) != 0 {
		t.Errorf("Fired again = %v, %v; want none", paths, all)
	}
}
