//go:build !mlmpprof

package cli

import (
	"bytes"
	"os"
	"testing"
)

// TestProfileOff: the usual build writes no profile, and says so if
// asked for one, but for a program an MTA runs.
func TestProfileOff(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	startProfile("prog", dir, &errb, false)
	endProfile()
	if got, want := errb.String(), "prog: MLM_CPUPROFILE: not profiled: built without the profiler (make pprof, the tag mlmpprof)\n"; got != want {
		t.Errorf("stderr = %q; want %q", got, want)
	}
	errb.Reset()
	startProfile("prog", dir, &errb, true)
	endProfile()
	if errb.Len() != 0 {
		t.Errorf("quiet: stderr = %q", errb.String())
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("profile files %v", left)
	}
	startProfile("prog", "", &errb, false)
	endProfile()
	if errb.Len() != 0 {
		t.Errorf("no directory: stderr = %q", errb.String())
	}
	if v := version(); bytes.Contains([]byte(v), []byte("profiler")) {
		t.Errorf("version = %q", v)
	}
}

// checkMainProfile is not called in this build (no profile is made).
func checkMainProfile(t *testing.T, name string) { t.Helper(); t.Errorf("a profile %s", name) }
