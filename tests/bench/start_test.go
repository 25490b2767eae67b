package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startLines starts true(1), the Go program that does nothing, mlm-run
// and every stage of the list's stages files, each startReps times, in
// the list's directory with no input, the stages with GOMAXPROCS=1 (as
// mlm-run gives them), mlm-run without; it prints a line for each and
// adds up mlm-run's and the stages' starts. Here shell scripts stand for
// the programs, each writing a line of what it was given to a log.
func TestStartLines(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	defer func(n int) { startReps = n }(startReps)
	startReps = 3
	log := filepath.Join(t.TempDir(), "log")
	rec := `printf '%s|%s|%s|%s|%s\n' "${0##*/}" "$*" "$(pwd)" "${GOMAXPROCS:-unset}" "$(wc -c | tr -d ' ')" >> ` + log
	newlist := `mkdir -p "$5/stages" "$5/queue" &&
printf '# the incoming stages\nmlm-sa .\nmlm-sb queue/outgoing\n' > "$5/stages/incoming" &&
printf 'mlm-sc -x .\n' > "$5/stages/outgoing"`
	b := progBench(t, map[string]string{"mlm-newlist": newlist, "mlm-run": rec, "mlm-sa": rec, "mlm-sb": rec, "mlm-sc": rec, "noop": rec})
	lines := strings.Join(b.startLines(filepath.Join(b.bin, "noop"), "", 2*time.Second), "\n")
	t.Log("\n" + lines)
	for _, name := range []string{"true(1)", "a Go program that does nothing", "mlm-run .", "mlm-sa .", "mlm-sb queue/outgoing", "mlm-sc -x ."} {
		if !regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(name) + ` +[0-9.]+ +[0-9.]+ +[0-9]+$`).MatchString(lines) {
			t.Errorf("no line of %q", name)
		}
	}
	if !strings.Contains(lines, "the 4 starts of mlm-run and its stages, as one post has them:") {
		t.Errorf("the starts of mlm-run and the stages not added up (4 of them)")
	}
	if !regexp.MustCompile(`of the 2\.000 s of CPU of the profile's run above`).MatchString(lines) {
		t.Errorf("no share of the run's CPU")
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("log line %q", l)
		}
		count[f[0]+" "+f[1]]++
		if filepath.Base(f[2]) != "list" {
			t.Errorf("%s ran in %s, not the list's directory", f[0], f[2])
		}
		if want := map[bool]string{true: "unset", false: "1"}[f[0] == "mlm-run" || f[0] == "noop"]; f[3] != want {
			t.Errorf("%s ran with GOMAXPROCS %s, want %s", f[0], f[3], want)
		}
		if f[4] != "0" {
			t.Errorf("%s read %s octets of input, want none", f[0], f[4])
		}
	}
	for _, p := range []string{"noop ", "mlm-run .", "mlm-sa .", "mlm-sb queue/outgoing", "mlm-sc -x ."} {
		if count[p] != startReps {
			t.Errorf("%q started %d times, want %d", p, count[p], startReps)
		}
	}
	if len(count) != 5 {
		t.Errorf("started %v", count)
	}

	// Without the Go program, the lines say why; a stage that fails
	// is the lines' one word, with its error.
	writeProgs(t, b.bin, map[string]string{"mlm-sb": "echo mlm-sb: broken >&2; exit 75"})
	lines = strings.Join(b.startLines("", "go build: no go", 0), "\n")
	if !strings.Contains(lines, "mlm-sb queue/outgoing: ") || !strings.Contains(lines, "mlm-sb: broken") || strings.Contains(lines, "wall ms") {
		t.Errorf("a stage that fails:\n%s", lines)
	}
	writeProgs(t, b.bin, map[string]string{"mlm-sb": rec})
	lines = strings.Join(b.startLines("", "go build: no go", 0), "\n")
	if !strings.Contains(lines, "(no Go program that does nothing: go build: no go)") || strings.Contains(lines, "a Go program that does nothing ") || strings.Contains(lines, "of the profile's run") {
		t.Errorf("no Go program, no run's CPU:\n%s", lines)
	}
}

// buildNoop builds a Go program that does nothing, and it runs.
func TestBuildNoop(t *testing.T) {
	b := &bench{work: t.TempDir()}
	noop, err := b.buildNoop()
	if err != nil {
		t.Skip(err)
	}
	if out, err := exec.Command(noop).CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("the Go program that does nothing: %v, %q", err, out)
	}
}
