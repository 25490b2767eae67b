package tests

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps what a helper reports with Errorf
// instead of failing the test, so that a test can show a checking helper
// finds what it is there to find. The rest (Fatal, Logf, TempDir) is
// the test's own.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool { return len(r.errs) > 0 }
