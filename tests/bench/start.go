package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mlm/lib/cli"
	"mlm/lib/pipeline"
)

// startReps is how many times startLines starts each program (a test's
// to lower).
var startReps = 21

// noopGo is a Go program that does nothing: what the Go runtime's own
// start and exit cost, which every mlm program pays.
const noopGo = "package main\n\nfunc main() {}\n"

// starter is a program startLines starts: its name in the table, its
// argv and what is added to its environment.
type starter struct {
	name string
	argv []string
	env  []string
}

// startLines is what each program on a post's path costs to start and
// end with nothing to do, in a list of no members (newMLMList's): mlm-run
// on its empty queues, as cron starts it, and each stage of the list's
// incoming and outgoing queues, with no input, in the list's directory,
// with what mlm-run adds to their environment (cli.StagesEnv); beside
// true(1) and noop, a Go program that does nothing ("" if none could be
// built, which the lines say). Each is started startReps times, taking
// turns; the median wall, CPU and page faults of each are each figure's
// own. runCPU is the CPU of the profile's run, which the last line
// compares with the starts of mlm-run and its stages together.
func (b *bench) startLines(noop, noopErr string, runCPU time.Duration) []string {
	head := "  a start of each program on a post's path, with nothing to do"
	dir, err := b.newMLMList(0, 25, mlmOpts{})
	if err != nil {
		return []string{head + ": " + err.Error()}
	}
	defer os.RemoveAll(filepath.Dir(dir))
	progs := []starter{{name: "true(1)", argv: []string{"true"}}}
	if noop != "" {
		progs = append(progs, starter{name: "a Go program that does nothing", argv: []string{noop}})
	}
	progs = append(progs, starter{name: "mlm-run .", argv: []string{"mlm-run", "."}})
	for _, q := range []string{"incoming", "outgoing"} {
		text, err := os.ReadFile(filepath.Join(dir, "stages", q))
		if err != nil {
			return []string{head + ": " + err.Error()}
		}
		stages, err := pipeline.Parse(string(text))
		if err != nil {
			return []string{head + ": stages/" + q + ": " + err.Error()}
		}
		for _, argv := range stages {
			progs = append(progs, starter{name: strings.Join(argv, " "), argv: argv, env: cli.StagesEnv()})
		}
	}
	runs := make([][]usage, len(progs))
	for range startReps {
		for i, p := range progs {
			timeout, ok := b.timeout()
			if !ok {
				return []string{head + ": " + errSkipped.Error()}
			}
			u, err := b.measure(timeout, job{argv: p.argv, dir: dir, env: p.env})
			if err != nil {
				return []string{head + ": " + p.name + ": " + err.Error()}
			}
			runs[i] = append(runs[i], u)
		}
	}
	out := []string{head + ": its input empty, in a list of no members, in",
		fmt.Sprintf("    the list's directory, the stages with %s as mlm-run gives them (mlm-run: a pass of its empty",
			strings.Join(cli.StagesEnv(), " ")),
		fmt.Sprintf("    queues); %d starts of each, taking turns, the median of each figure:", startReps),
		fmt.Sprintf("    %-44s %8s %8s %7s", "program", "wall ms", "CPU ms", "faults")}
	if noop == "" {
		out = append(out, "    (no Go program that does nothing: "+noopErr+")")
	}
	var cpu time.Duration
	var faults int64
	n := 0
	for i, p := range progs {
		wall := medianOf(runs[i], func(u usage) time.Duration { return u.wall })
		c := medianOf(runs[i], usage.cpu)
		f := medianOf(runs[i], func(u usage) int64 { return u.faults })
		out = append(out, fmt.Sprintf("    %-44s %8.2f %8.2f %7d", p.name, ms(wall), ms(c), f))
		if strings.HasPrefix(p.argv[0], "mlm-") {
			cpu += c
			faults += f
			n++
		}
	}
	out = append(out, fmt.Sprintf("    the %d starts of mlm-run and its stages, as one post has them: %.1f ms of CPU, %s page faults;",
		n, ms(cpu), commas(faults)))
	if runCPU > 0 {
		out = append(out, fmt.Sprintf("    %.0f%% of the %.3f s of CPU of the profile's run above, the same at any size of list (mlm-accept's",
			100*cpu.Seconds()/runCPU.Seconds(), runCPU.Seconds()),
			"    start not counted)")
	}
	return out
}

// medianOf is the median of figure over runs (of an even number, the
// larger of the two middle ones).
func medianOf[T int64 | time.Duration](runs []usage, figure func(usage) T) T {
	if len(runs) == 0 {
		return 0
	}
	v := make([]T, len(runs))
	for i, u := range runs {
		v[i] = figure(u)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// buildNoop builds noopGo into the work directory with the go command,
// as the programs are built (no cgo; -trimpath), and returns its path.
func (b *bench) buildNoop() (string, error) {
	dir := filepath.Join(b.work, "noop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(noopGo), 0o644); err != nil {
		return "", err
	}
	prog := filepath.Join(dir, "noop")
	cmd := exec.Command("go", "build", "-trimpath", "-o", prog, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return prog, nil
}
