package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPprofTop: pprofTop merges a program's profiles with go tool pprof
// and gives their samples' total and top functions, the function that
// spent the CPU among them.
func TestPprofTop(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go")
	}
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"prog.1.pprof", "prog.2.pprof"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		spin(t, 100*time.Millisecond)
		pprof.StopCPUProfile()
		f.Close()
		files = append(files, f.Name())
	}
	lines := pprofTop(goTool, "prog", files, 5)
	if len(lines) < 3 {
		t.Fatalf("lines = %q", lines)
	}
	if !strings.HasPrefix(lines[0], "    prog, 2 profiles, ") || !strings.HasSuffix(lines[0], "s of samples:") {
		t.Errorf("head = %q", lines[0])
	}
	if !strings.Contains(lines[1], "flat") || !strings.Contains(lines[1], "cum") {
		t.Errorf("the table's head = %q", lines[1])
	}
	if !strings.Contains(strings.Join(lines[2:], "\n"), "bench.spin") {
		t.Errorf("no bench.spin among the top functions:\n%s", strings.Join(lines, "\n"))
	}
	if got := pprofTop(goTool, "prog", []string{filepath.Join(dir, "none")}, 5); len(got) != 1 || !strings.Contains(got[0], "prog: go tool pprof: ") {
		t.Errorf("no file: %q", got)
	}
}

// spin uses d of the process's CPU, most of it its own (a look at the
// CPU used is a system call).
func spin(t *testing.T, d time.Duration) (x uint64) {
	for start := cpuUsed(t); cpuUsed(t)-start < d; {
		for i := range 1 << 20 {
			x = x*31 + uint64(i)
		}
	}
	return x
}

func cpuUsed(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
