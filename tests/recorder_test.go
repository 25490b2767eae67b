package tests

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB that keeps what a helper reports with Errorf
// or Fatalf instead of failing the test, so that a test can show a
// checking helper finds what it is there to find. The rest (Logf,
// TempDir) is the test's own. A helper that may call Fatalf runs in
// run.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool { return len(r.errs) > 0 }

// Fatalf keeps the report and ends the goroutine, as testing's does:
// call the helper in run.
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// run calls f in a goroutine of its own, which Fatalf may end.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
