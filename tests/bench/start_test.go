package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startLines starts true(1), the Go program that does nothing, mlm-run
// and every stage of the list's stages files, each startReps times,
// taking turns, not through the C launcher, in the list's directory with
// no input, the stages and the Go program with GOMAXPROCS=1 (as mlm-run
// gives the stages), mlm-run without; it prints a line for each and adds
// up mlm-run's and the stages' CPU and faults. Here shell scripts stand
// for the programs, each writing a line of what it was given to a log.
func TestStartLines(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	// A launcher that cannot start: each start must go without one.
	t.Setenv(launchEnv, "/nonexistent/rsslaunch")
	defer func(n int) { startReps = n }(startReps)
	startReps = 3
	log := filepath.Join(t.TempDir(), "log")
	rec := `printf '%s|%s|%s|%s|%s\n' "${0##*/}" "$*" "$(pwd)" "${GOMAXPROCS:-unset}" "$(wc -c | tr -d ' ')" >> ` + log
	newlist := `mkdir -p "$5/stages" "$5/queue" && echo "$6" > "$5/address" &&
printf '# the incoming stages\nmlm-sa .\nmlm-sb queue/outgoing\nmy-stage\n' > "$5/stages/incoming" &&
printf 'mlm-sc -x .\n' > "$5/stages/outgoing"`
	b := progBench(t, map[string]string{"mlm-newlist": newlist, "mlm-run": rec, "mlm-sa": rec, "mlm-sb": rec, "my-stage": rec, "mlm-sc": rec, "noop": rec})
	lines := strings.Join(b.startLines(false, filepath.Join(b.bin, "noop"), "", 2*time.Second), "\n")
	t.Log("\n" + lines)
	var cpu float64
	var faults, trueFaults int64
	for _, name := range []string{"true(1)", "a Go program that does nothing", "mlm-run .", "mlm-sa .", "mlm-sb queue/outgoing", "my-stage", "mlm-sc -x ."} {
		m := regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(name) + ` +[0-9.]+ +([0-9.]+) +([0-9]+)$`).FindStringSubmatch(lines)
		if m == nil {
			t.Errorf("no line of %q", name)
			continue
		}
		c, _ := strconv.ParseFloat(m[1], 64)
		f, _ := strconv.ParseInt(m[2], 10, 64)
		if name == "true(1)" {
			trueFaults = f
		} else if f <= trueFaults || trueFaults < 20 {
			// (A process's start faults in some pages; a shell's,
			// more than true's.)
			t.Errorf("%s: %d page faults, true(1) %d", name, f, trueFaults)
		}
		if name != "true(1)" && name != "a Go program that does nothing" {
			cpu, faults = cpu+c, faults+f
		}
	}
	m := regexp.MustCompile(`the 5 starts of mlm-run and its stages, as one pass over one post has them: ([0-9.]+) ms of CPU, ([0-9,]+) page\n    faults; about ([0-9]+)% of the 2\.000 s of CPU of the unwrapped run above`).FindStringSubmatch(lines)
	if m == nil {
		t.Fatalf("no sum of the 5 starts of mlm-run and the stages, and its share")
	}
	sum, _ := strconv.ParseFloat(m[1], 64)
	share, _ := strconv.Atoi(m[3])
	// (The sum is shown to 0.1 ms, the rows to 0.01: 0.05 and 5 times
	// 0.005 apart at most.)
	if d := sum - cpu; d > 0.076 || d < -0.076 || m[2] != commas(faults) {
		t.Errorf("the sum is %s ms and %s faults; the rows add up to %.2f ms and %d", m[1], m[2], cpu, faults)
	}
	if want := sum / 2000 * 100; float64(share) > want+0.5 || float64(share) < want-0.5 {
		t.Errorf("a share of %d%%, want %.1f%%", share, want)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("log line %q", l)
		}
		order = append(order, strings.TrimSpace(f[0]+" "+f[1]))
		if filepath.Base(f[2]) != "list" {
			t.Errorf("%s ran in %s, not the list's directory", f[0], f[2])
		}
		if want := map[bool]string{true: "unset", false: "1"}[f[0] == "mlm-run"]; f[3] != want {
			t.Errorf("%s ran with GOMAXPROCS %s, want %s", f[0], f[3], want)
		}
		if f[4] != "0" {
			t.Errorf("%s read %s octets of input, want none", f[0], f[4])
		}
	}
	round := []string{"noop", "mlm-run .", "mlm-sa .", "mlm-sb queue/outgoing", "my-stage", "mlm-sc -x ."}
	var want []string
	for range startReps {
		want = append(want, round...)
	}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("started, in order:\n%s\nwant each in turn, %d times:\n%s", strings.Join(order, "\n"), startReps, strings.Join(round, "\n"))
	}
	if len(b.failures) != 0 {
		t.Errorf("failures: %v", b.failures)
	}

	// Without the Go program, or the run's CPU, the lines say so.
	lines = strings.Join(b.startLines(false, "", "go build: no go", 0), "\n")
	if !strings.Contains(lines, "(no Go program that does nothing: go build: no go)") || strings.Contains(lines, "a Go program that does nothing ") ||
		strings.Contains(lines, "unwrapped run") || !strings.Contains(lines, "the 5 starts of mlm-run and its stages") {
		t.Errorf("no Go program, no run's CPU:\n%s", lines)
	}
	// A stage that fails is the lines' one word, with its error, and a
	// failure of the bench.
	writeProgs(t, b.bin, map[string]string{"mlm-sb": "echo mlm-sb: broken >&2; exit 75"})
	lines = strings.Join(b.startLines(false, "", "", 0), "\n")
	if !strings.Contains(lines, "mlm-sb queue/outgoing: exit status 75: mlm-sb: broken") || strings.Count(lines, "mlm-sb queue/outgoing") != 1 || strings.Contains(lines, "wall ms") {
		t.Errorf("a stage that fails:\n%s", lines)
	}
	if len(b.failures) != 1 || !strings.Contains(b.failures[0], "mlm-sb: broken") {
		t.Errorf("failures: %q", b.failures)
	}
}

// With GOMAXPROCS set for the bench, mlm-run passes it on, and the lines
// say that one.
func TestStartLinesGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2")
	defer func(n int) { startReps = n }(startReps)
	startReps = 1
	// The stages as mlm-run takes them: a file of comments, none; no
	// file, the default (standing for which, shell scripts).
	newlist := `mkdir -p "$5/stages" && echo "$6" > "$5/address" && echo '# none' > "$5/stages/incoming"`
	progs := map[string]string{"mlm-newlist": newlist, "mlm-run": ""}
	for _, p := range []string{"mlm-split", "mlm-throttle", "mlm-sendmail", "mlm-enqueue"} {
		progs[p] = ""
	}
	b := progBench(t, progs)
	lines := strings.Join(b.startLines(false, "", "", 0), "\n")
	if !strings.Contains(lines, "with GOMAXPROCS=2, the bench's, as mlm-run passes it on") {
		t.Errorf("with GOMAXPROCS=2:\n%s", lines)
	}
	if !strings.Contains(lines, "    mlm-enqueue -t 5m -m 1G queue/retry ") || strings.Contains(lines, "mlm-auth") || !strings.Contains(lines, "the 5 starts") {
		t.Errorf("the default outgoing stages, no incoming ones:\n%s", lines)
	}
	// An empty file, the default too (mlm-newlist, run again, makes
	// none: the list's directory is made afresh).
	writeProgs(t, b.bin, map[string]string{"mlm-newlist": newlist + ` && : > "$5/stages/outgoing"`})
	lines = strings.Join(b.startLines(false, "", "", 0), "\n")
	if !strings.Contains(lines, "    mlm-enqueue -t 5m -m 1G queue/retry ") || !strings.Contains(lines, "the 5 starts") {
		t.Errorf("an empty stages/outgoing, the default stages:\n%s", lines)
	}
}

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		faults []int64
		want   int64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{9, 1, 5}, 5},
		{[]int64{4, 1, 3, 2}, 3}, // of an even number, the larger middle one
	} {
		var runs []usage
		for _, f := range tc.faults {
			runs = append(runs, usage{faults: f})
		}
		if got := medianOf(runs, func(u usage) int64 { return u.faults }); got != tc.want {
			t.Errorf("medianOf(%v) = %d, want %d", tc.faults, got, tc.want)
		}
	}
}

// buildNoop builds a Go program that does nothing, and it runs. Without
// the go command, there is nothing to test.
func TestBuildNoop(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	b := &bench{work: t.TempDir()}
	noop, err := b.buildNoop()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(noop).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("the Go program that does nothing: %v, %q", err, out)
	}
}
