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
// one that cannot says so in a line (but quiet) and runs on, no file of
// its left behind.
func TestProfileOn(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	startProfile("prog", dir, &errb, false)
	mlmtest.SpinCPU(200 * time.Millisecond) // some 20 samples, however busy the host
	// A second profile while one runs is refused (runtime/pprof's one
	// at a time): said, and its file removed.
	other := t.TempDir()
	profileMu.Lock()
	stop := profileStop
	profileMu.Unlock()
	startProfile("other", other, &errb, false)
	if got, want := errb.String(), "other: MLM_CPUPROFILE: cpu profiling already in use\n"; got != want {
		t.Errorf("stderr = %q; want %q", got, want)
	}
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Errorf("the refused profile left %v", left)
	}
	profileMu.Lock()
	same := fmt.Sprintf("%p", profileStop) == fmt.Sprintf("%p", stop)
	profileMu.Unlock()
	if !same {
		t.Errorf("the refused profile replaced the running one's end")
	}
	endProfile()
	endProfile() // (once only)
	files, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("prog.%d.*.pprof", os.Getpid())))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	checkProfile(t, files[0], "TestProfileOn")

	// Quiet (a program an MTA runs): nothing said.
	errb.Reset()
	startProfile("prog", filepath.Join(dir, "none"), &errb, true)
	endProfile()
	if errb.Len() != 0 {
		t.Errorf("quiet: stderr = %q", errb.String())
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(dir, "none"), "prog: MLM_CPUPROFILE: open " + filepath.Join(dir, "none")},
		{"rel", "prog: MLM_CPUPROFILE: rel: not an absolute path"},
	} {
		errb.Reset()
		startProfile("prog", tc.dir, &errb, false)
		endProfile()
		if got := errb.String(); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: stderr = %q; want one line, %q", tc.dir, got, tc.want)
		}
	}
	errb.Reset()
	startProfile("prog", "", &errb, false)
	endProfile()
	if errb.Len() != 0 {
		t.Errorf("no directory: stderr = %q", errb.String())
	}
	if v := version(); !strings.Contains(v, "(with the profiler, mlmpprof)") {
		t.Errorf("version = %q", v)
	}
}

// TestProfileNoFollow: a file or a symbolic link already at the
// profile's name is neither written nor followed: one line, and the
// program runs on, unprofiled.
func TestProfileNoFollow(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "prog.pprof")
	defer func(f func(string, string) string) { profileName = f }(profileName)
	profileName = func(string, string) string { return name }
	for _, make := range []func() error{
		func() error { return os.Symlink(target, name) },
		func() error { return os.Link(target, name) },
	} {
		os.Remove(name)
		if err := make(); err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		startProfile("prog", dir, &errb, false)
		endProfile()
		if got, want := errb.String(), "prog: MLM_CPUPROFILE: open "+name+": file exists\n"; got != want {
			t.Errorf("stderr = %q; want %q", got, want)
		}
		if b, _ := os.ReadFile(target); string(b) != "keep" {
			t.Errorf("target = %q", b)
		}
	}
}

// TestBeforeExec: BeforeExec ends the profile and its timer, which
// would outlive an exec and kill the program after it (SIGPROF).
func TestBeforeExec(t *testing.T) {
	var errb bytes.Buffer
	startProfile("prog", t.TempDir(), &errb, false)
	mlmtest.SpinCPU(20 * time.Millisecond)
	it, err := unix.Getitimer(unix.ItimerProf)
	if err != nil {
		t.Fatal(err)
	}
	if it.Interval.Usec == 0 && it.Interval.Sec == 0 {
		t.Fatalf("no profile timer while profiling (%v)", errb.String())
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
