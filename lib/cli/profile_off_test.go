//go:build !mlmpprof

package cli

import (
	"bytes"
	"os"
	"testing"
)

// TestProfileOff: the usual build writes no profile, and says so if
// asked for one.
func TestProfileOff(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	startProfile("prog", dir, &errb)()
	if got, want := errb.String(), "prog: MLM_CPUPROFILE: not profiled: built without the profiler (make PPROF=1, the tag mlmpprof)\n"; got != want {
		t.Errorf("stderr = %q; want %q", got, want)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("profile files %v", left)
	}
	errb.Reset()
	startProfile("prog", "", &errb)()
	if errb.Len() != 0 {
		t.Errorf("no directory: stderr = %q", errb.String())
	}
}
