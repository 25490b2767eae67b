//go:build !mlmpprof

package cli

import (
	"os"
	"strings"
	"testing"
)

// TestProfileOff: the usual build writes no profile, and its version
// does not say it has the profiler.
func TestProfileOff(t *testing.T) {
	dir := t.TempDir()
	startProfile("prog", dir)
	endProfile()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("profile files %v", left)
	}
	if v := version(); strings.Contains(v, "profiler") {
		t.Errorf("version = %q", v)
	}
}

// checkMainProfile is not called in this build (no profile is made).
func checkMainProfile(t *testing.T, name string) { t.Helper(); t.Errorf("a profile %s", name) }
