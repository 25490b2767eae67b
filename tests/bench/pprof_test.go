package main

import (
	"bytes"
	"compress/gzip"
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
	// Merged, the two profiles' samples add up: more than either's.
	total := func(lines []string) time.Duration {
		t.Helper()
		_, after, _ := strings.Cut(lines[0], "profiles, ")
		d, err := time.ParseDuration(strings.TrimSuffix(after, " of samples:"))
		if err != nil {
			t.Fatalf("head %q: %v", lines[0], err)
		}
		return d
	}
	lines := pprofTop(goTool, "prog", files, 10)
	if len(lines) < 3 {
		t.Fatalf("lines = %q", lines)
	}
	if !strings.HasPrefix(lines[0], "    prog, 2 profiles, ") {
		t.Errorf("head = %q", lines[0])
	}
	if a, b, ab := total(pprofTop(goTool, "prog", files[:1], 10)), total(pprofTop(goTool, "prog", files[1:], 10)), total(lines); ab != a+b || a == 0 || b == 0 {
		t.Errorf("samples: %v and %v, merged %v", a, b, ab)
	}
	if !strings.Contains(lines[1], "flat") || !strings.Contains(lines[1], "cum") {
		t.Errorf("the table's head = %q", lines[1])
	}
	rows := strings.Join(lines[2:], "\n")
	if !strings.Contains(rows, "mlmtest.SpinCPU") {
		t.Errorf("no mlmtest.SpinCPU among the top functions:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[2:] {
		if strings.HasPrefix(strings.TrimSpace(l), "0 ") {
			t.Errorf("a row of no CPU of its own: %q", l)
		}
	}

	// A profile of no sample. (Written so: a profile of a run that does
	// nothing, however short, may take a sample of the runtime's own
	// work, as CI found.)
	idle := emptyProfile(t, filepath.Join(dir, "idle.1.1.pprof"))
	if got, want := pprofTop(goTool, "idle", []string{idle}, 5), []string{"    idle, 1 profiles, 0 of samples: none from its main on (under 10 ms of CPU in each run)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("no samples: %q; want %q", got, want)
	}
	if got := pprofTop(goTool, "prog", []string{filepath.Join(dir, "none")}, 5); len(got) != 1 || !strings.HasPrefix(got[0], "    prog: go tool pprof: exit status ") || !strings.Contains(got[0], "failed to fetch") {
		t.Errorf("no file: %q", got)
	}
}

// emptyProfile writes to name a CPU profile as runtime/pprof writes one,
// gzipped protocol buffers (profile.proto of github.com/google/pprof),
// with no sample: its sample types, string table, duration (1 ms), and
// period (10 ms).
func emptyProfile(t *testing.T, name string) string {
	t.Helper()
	var b []byte
	varint := func(v uint64) {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		b = append(b, byte(v))
	}
	bytesField := func(num int, body []byte) {
		varint(uint64(num<<3 | 2))
		varint(uint64(len(body)))
		b = append(b, body...)
	}
	valueType := func(typ, unit byte) []byte { return []byte{1 << 3, typ, 2 << 3, unit} } // string table indexes
	bytesField(1, valueType(1, 2))                                                        // sample_type samples/count
	bytesField(1, valueType(3, 4))                                                        // sample_type cpu/nanoseconds
	for _, str := range []string{"", "samples", "count", "cpu", "nanoseconds"} {
		bytesField(6, []byte(str)) // string_table
	}
	varint(10 << 3) // duration_nanos
	varint(uint64(time.Millisecond))
	bytesField(11, valueType(3, 4)) // period_type
	varint(12 << 3)                 // period
	varint(uint64(10 * time.Millisecond))
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
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
	by, empty, err := profilesByProg(dir)
	if err != nil || empty != 1 {
		t.Fatalf("%v, %d empty", err, empty)
	}
	want := map[string][]string{
		"mlm-auth":     {filepath.Join(dir, "mlm-auth.10.1.pprof"), filepath.Join(dir, "mlm-auth.11.2.pprof")},
		"mlm-sendmail": {filepath.Join(dir, "mlm-sendmail.13.4.pprof")},
	}
	if !reflect.DeepEqual(by, want) {
		t.Errorf("by = %v; want %v", by, want)
	}
	none := t.TempDir()
	os.WriteFile(filepath.Join(none, "mlm-lock.1.1.pprof"), nil, 0o644)
	if _, _, err := profilesByProg(none); err == nil || err.Error() != "no profile written (1 files, 1 of them empty)" {
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

// TestPprofEnv: a run with pprofEnv finds the programs built with the
// profiler before the bench's own, and has MLM_CPUPROFILE.
func TestPprofEnv(t *testing.T) {
	bin, benchBin := t.TempDir(), t.TempDir()
	for d, say := range map[string]string{bin: "profiled", benchBin: "plain"} {
		if err := os.WriteFile(filepath.Join(d, "mlm-check"), []byte("#!/bin/sh\necho "+say+" \"$MLM_CPUPROFILE\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", "mlm-check")
	cmd.Env = pprofEnv(bin, benchBin, "/profiles")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "profiled /profiles\n"; got != want {
		t.Errorf("out = %q; want %q", got, want)
	}
}

// TestPprofSummary: the profiles of a directory, each program's merged
// under its name, an empty one counted out.
func TestPprofSummary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go")
	}
	dir := t.TempDir()
	for _, name := range []string{"mlm-auth.1.1.pprof", "mlm-sendmail.2.2.pprof"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "mlm-sendmail") {
			spinA(100 * time.Millisecond)
		}
		pprof.StopCPUProfile()
		f.Close()
	}
	os.WriteFile(filepath.Join(dir, "mlm-lock.3.3.pprof"), nil, 0o600)
	lines := pprofSummary(goTool, dir, 3, 2*time.Second, time.Second)
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"  pprof: 3 runs more with the programs built with the profiler (go build -tags mlmpprof,",
		"they took 2.000 s wall, 1.000 s CPU",
		"1 empty profiles",
		"    mlm-auth, 1 profiles, ",
		"    mlm-sendmail, 1 profiles, ",
		"mlmtest.SpinCPU",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	// A profile of no samples says so. (Almost always the one here: its
	// start and stop with nothing between; but the test's other
	// goroutines, parallel tests among them, may give it a sample of
	// their own, as a CI run's did.)
	if strings.Contains(text, "mlm-auth, 1 profiles, 0 of samples") && !strings.Contains(text, "    mlm-auth, 1 profiles, 0 of samples: none from its main on") {
		t.Errorf("no \"none from its main on\" for a profile of no samples in:\n%s", text)
	}
	if strings.Contains(text, "mlm-lock") {
		t.Errorf("the empty profile's program is in:\n%s", text)
	}
}
