//go:build mlmpprof

package cli

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/mlmtest"
)

// TestProfileOn: a build with the profiler writes PROG.PID.NANOS.pprof,
// mode 0600, a gzipped profile of CPU samples, into the directory named;
// one that cannot does not, and says nothing.
func TestProfileOn(t *testing.T) {
	dir := t.TempDir()
	startProfile("prog", dir)
	mlmtest.SpinCPU(200 * time.Millisecond) // some 20 samples, however busy the host
	// A second profile while one runs is refused (runtime/pprof's one
	// at a time), its file removed.
	other := t.TempDir()
	startProfile("other", other)
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Errorf("the refused profile left %v", left)
	}
	endProfile()
	endProfile() // (once only)
	files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("prog.%d.*.pprof", os.Getpid())))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	checkProfile(t, files[0], "TestProfileOn")

	// A relative path, though it names a directory here, is not taken.
	t.Chdir(t.TempDir())
	if err := os.Mkdir("rel", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "none"), "rel", ""} {
		if profiles("prog", d) {
			t.Errorf("%q: a profile runs", d)
		}
	}
	if left, _ := os.ReadDir("rel"); len(left) != 0 {
		t.Errorf("a relative directory was taken: %v", left)
	}
	if v := version(); !strings.Contains(v, "(with the profiler, mlmpprof)") {
		t.Errorf("version = %q", v)
	}
}

// TestProfileNoFollow: a file or a symbolic link already at the
// profile's name is neither written nor followed, and no profile runs.
func TestProfileNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "prog.pprof")
	defer func(f func(string, string) string) { profileName = f }(profileName)
	profileName = func(string, string) string { return name }
	for _, place := range []func() error{
		func() error { return os.Symlink(target, name) },
		func() error { return os.Link(target, name) },
	} {
		os.Remove(name)
		if err := place(); err != nil {
			t.Fatal(err)
		}
		if profiles("prog", dir) {
			t.Errorf("a profile runs")
		}
		if b, _ := os.ReadFile(target); string(b) != "keep" {
			t.Errorf("target = %q", b)
		}
	}
}

// TestBeforeExec: BeforeExec ends the profile and its timer, which
// would outlive an exec and kill the program after it (SIGPROF).
func TestBeforeExec(t *testing.T) {
	startProfile("prog", t.TempDir())
	mlmtest.SpinCPU(20 * time.Millisecond)
	it, err := unix.Getitimer(unix.ItimerProf)
	if err != nil {
		t.Fatal(err)
	}
	if it.Interval.Usec == 0 && it.Interval.Sec == 0 {
		t.Fatal("no profile timer while profiling")
	}
	BeforeExec()
	if it, err = unix.Getitimer(unix.ItimerProf); err != nil {
		t.Fatal(err)
	}
	if it.Interval.Usec != 0 || it.Interval.Sec != 0 || it.Value.Usec != 0 || it.Value.Sec != 0 {
		t.Errorf("the profile timer still runs after BeforeExec: %+v", it)
	}
}

// checkProfile fails unless name is a gzipped profile of CPU samples,
// mode 0600, that has fn among them.
func checkProfile(t *testing.T, name, fn string) {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v", name, st.Mode())
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: not gzip: %v", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// The profile's string table names its sample types and functions.
	for _, s := range []string{"samples", "cpu", "nanoseconds", fn} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("%s: no %q in the profile", name, s)
		}
	}
}

// checkMainProfile checks TestProfileMain's profile.
func checkMainProfile(t *testing.T, name string) { checkProfile(t, name, "TestProfileMain") }

// profiles reports whether startProfile(prog, dir) starts a profile,
// which it then ends.
func profiles(prog, dir string) bool {
	startProfile(prog, dir)
	profileMu.Lock()
	running := profileStop != nil
	profileMu.Unlock()
	endProfile()
	return running
}
