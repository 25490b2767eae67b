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
	"syscall"
	"testing"
	"time"
)

// TestProfileOn: a build with the profiler writes PROG.PID.pprof, a
// gzipped profile of CPU samples, into the directory named; one that
// cannot says so in a line and runs on, its file not left behind.
func TestProfileOn(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	stop := startProfile("prog", dir, &errb)
	// 200 ms of CPU, some 20 samples, however busy the host.
	for start := cpuTime(t); cpuTime(t)-start < 200*time.Millisecond; {
	}
	// A second profile while one runs is refused (runtime/pprof's one
	// at a time): said, and its file removed.
	other := t.TempDir()
	startProfile("other", other, &errb)()
	stop()
	if got, want := errb.String(), "other: MLM_CPUPROFILE: cpu profiling already in use\n"; got != want {
		t.Errorf("stderr = %q; want %q", got, want)
	}
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Errorf("the refused profile left %v", left)
	}
	name := filepath.Join(dir, fmt.Sprintf("prog.%d.pprof", os.Getpid()))
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
	// The profile's string table names its sample types.
	for _, s := range []string{"samples", "cpu", "nanoseconds", "TestProfileOn"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("the profile has no %q", s)
		}
	}

	errb.Reset()
	startProfile("prog", filepath.Join(dir, "none"), &errb)()
	if got := errb.String(); !strings.HasPrefix(got, "prog: MLM_CPUPROFILE: open "+filepath.Join(dir, "none")) || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr = %q; want one line of the open's failure", got)
	}
	errb.Reset()
	startProfile("prog", "", &errb)()
	if errb.Len() != 0 {
		t.Errorf("no directory: stderr = %q", errb.String())
	}
}

// cpuTime is the CPU the process has used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
