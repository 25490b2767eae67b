package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// TestPprofTop: pprofTop merges a program's profiles with go tool pprof
// and gives their samples' total and top functions, those of every
// profile; a program with no samples is one line; a failure says
// pprof's reason.
func TestPprofTop(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go")
	}
	dir := t.TempDir()
	profile := func(name string, work func()) string {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		work()
		pprof.StopCPUProfile()
		return f.Name()
	}
	files := []string{
		profile("prog.1.1.pprof", func() { spinA(150 * time.Millisecond) }),
		profile("prog.2.2.pprof", func() { spinB(150 * time.Millisecond) }),
	}
	lines := pprofTop(goTool, "prog", files, 10)
	if len(lines) < 3 {
		t.Fatalf("lines = %q", lines)
	}
	if !strings.HasPrefix(lines[0], "    prog, 2 profiles, ") || !strings.HasSuffix(lines[0], "s of samples:") {
		t.Errorf("head = %q", lines[0])
	}
	if !strings.Contains(lines[1], "flat") || !strings.Contains(lines[1], "cum") {
		t.Errorf("the table's head = %q", lines[1])
	}
	rows := strings.Join(lines[2:], "\n")
	for _, fn := range []string{"bench.spinA", "bench.spinB"} {
		if !strings.Contains(rows, fn) {
			t.Errorf("no %s among the top functions:\n%s", fn, strings.Join(lines, "\n"))
		}
	}

	// No CPU between the profile's start and end: no sample.
	idle := profile("idle.1.1.pprof", func() {})
	if got, want := pprofTop(goTool, "idle", []string{idle}, 5), []string{"    idle, 1 profiles, 0 of samples: none from its main on (under 10 ms of CPU in each run)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("no samples: %q; want %q", got, want)
	}
	if got := pprofTop(goTool, "prog", []string{filepath.Join(dir, "none")}, 5); len(got) != 1 || !strings.HasPrefix(got[0], "    prog: go tool pprof: exit status ") || !strings.Contains(got[0], "failed to fetch") {
		t.Errorf("no file: %q", got)
	}
}

// TestProfilesByProg: the profiles of a directory by program, the empty
// ones (a program another ended) left out; none, an error.
func TestProfilesByProg(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"mlm-auth.10.1.pprof": "x", "mlm-auth.11.2.pprof": "x", "mlm-lock.12.3.pprof": "",
		"mlm-sendmail.13.4.pprof": "x", "notes.txt": "x",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	by, err := profilesByProg(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"mlm-auth":     {filepath.Join(dir, "mlm-auth.10.1.pprof"), filepath.Join(dir, "mlm-auth.11.2.pprof")},
		"mlm-sendmail": {filepath.Join(dir, "mlm-sendmail.13.4.pprof")},
	}
	if !reflect.DeepEqual(by, want) {
		t.Errorf("by = %v; want %v", by, want)
	}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "mlm-lock.1.1.pprof"), nil, 0o644)
	if _, err := profilesByProg(empty); err == nil || err.Error() != "no profile written (1 files, 1 of them empty)" {
		t.Errorf("all empty: %v", err)
	}
}

// spinA and spinB use d of the process's CPU each, as two programs
// whose profiles are merged.
//
//go:noinline
func spinA(d time.Duration) uint64 { return mlmtest.SpinCPU(d) }

//go:noinline
func spinB(d time.Duration) uint64 { return mlmtest.SpinCPU(d) + 1 }
