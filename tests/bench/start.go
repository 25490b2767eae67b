package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mlm/lib/cli"
	"mlm/lib/listdir"
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

// startLines is what mlm-run and the stages it starts for a post cost to
// start and end with nothing to do, in a list of no members
// (newMLMList's, its stages/outgoing VERP's with verp): mlm-run on its
// empty queues, as cron starts it, and each stage of the list's incoming
// and outgoing queues, with no input, in the list's directory, with what
// mlm-run adds to their environment (cli.StagesEnv); beside true(1) and
// noop, a Go program that does nothing, with the stages' environment
// ("" if none could be built, which the lines say). Each is started
// startReps times, taking turns, by the wrapper itself, not through the
// C launcher, whose fork would be in each CPU and page faults, a
// millisecond and some 20 faults here (the table has no peak RSS). The
// median wall, CPU and page faults of each are each figure's own.
// runCPU is the CPU of the profile's unwrapped run,
// which the last lines compare with the starts of mlm-run and its
// stages together. A program that fails is a failure of the bench: mlm's
// programs take empty input as nothing to do (STYLE.md).
func (b *bench) startLines(verp bool, noop, noopErr string, runCPU time.Duration) []string {
	head := "  a start of mlm-run and of each stage it starts for a post, with nothing to do"
	failed := func(err error) []string {
		b.failures = append(b.failures, "profile: starts: "+err.Error())
		return []string{head + ": " + err.Error()}
	}
	// (Its relay, port 25, is never dialled: no stage is given a record.)
	dir, err := b.newMLMList(0, 25, mlmOpts{verp: verp})
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(filepath.Dir(dir))
	progs := []starter{{name: "true(1)", argv: []string{"true"}}}
	if noop != "" {
		progs = append(progs, starter{name: "a Go program that does nothing", argv: []string{noop}, env: cli.StagesEnv()})
	}
	refs := len(progs) // true and the Go program, not counted in the sum
	progs = append(progs, starter{name: "mlm-run .", argv: []string{"mlm-run", "."}})
	// The stages as mlm-run takes them (listdir.QueueStages).
	d, err := listdir.Open(dir)
	if err != nil {
		return failed(err)
	}
	for _, q := range []string{listdir.Incoming, listdir.Outgoing} {
		text, err := d.Text(filepath.Join(listdir.Stages, q))
		if err != nil {
			return failed(err)
		}
		stages, err := listdir.QueueStages(q, text)
		if err != nil {
			return failed(fmt.Errorf("%s/%s: %w", listdir.Stages, q, err))
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
			// (The last of a name in the environment is the one taken:
			// an empty launchEnv, no launcher.)
			u, err := b.measure(timeout, job{argv: p.argv, dir: dir, env: append([]string{launchEnv + "="}, p.env...)})
			if errors.Is(err, errTimeout) {
				// The bench stopped (a signal), or the run's limit
				// passed: as for any run, no failure of mlm's.
				return []string{head + ": " + err.Error()}
			}
			if err != nil {
				return failed(err) // (which names the command)
			}
			runs[i] = append(runs[i], u)
		}
	}
	env := "GOMAXPROCS=" + os.Getenv("GOMAXPROCS") + ", the bench's, as mlm-run passes it on"
	if e := cli.StagesEnv(); e != nil {
		env = strings.Join(e, " ") + " as mlm-run gives them"
	}
	out := []string{head + ": its input empty, in a",
		"    list of no members, in the list's directory (mlm-run: a pass of its empty queues); the stages and",
		"    the Go program with " + env + ";",
		fmt.Sprintf("    %d starts of each, taking turns, not through the launcher; the median of each figure:", startReps),
		fmt.Sprintf("    %-44s %8s %8s %7s", "program", "wall ms", "CPU ms", "faults")}
	if noop == "" {
		out = append(out, "    (no Go program that does nothing: "+noopErr+")")
	}
	var cpu time.Duration
	var faults int64
	for i, p := range progs {
		wall := medianOf(runs[i], func(u usage) time.Duration { return u.wall })
		c := medianOf(runs[i], usage.cpu)
		f := medianOf(runs[i], func(u usage) int64 { return u.faults })
		out = append(out, fmt.Sprintf("    %-44s %8.2f %8.2f %7d", p.name, ms(wall), ms(c), f))
		if i >= refs {
			cpu += c
			faults += f
		}
	}
	out = append(out, fmt.Sprintf("    the %d starts of mlm-run and its stages, as one pass over one post has them: %.1f ms of CPU, %s page",
		len(progs)-refs, ms(cpu), commas(faults)))
	if runCPU > 0 {
		out = append(out, fmt.Sprintf("    faults; about %.0f%% of the %.3f s of CPU of the unwrapped run above, mlm-accept's start and work",
			100*cpu.Seconds()/runCPU.Seconds(), runCPU.Seconds()),
			"    among them (the starts cost the same at any size of list, so their share falls as it grows)")
	} else {
		out[len(out)-1] += " faults"
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
// GO111MODULE=off builds the one file whatever go.mod may be above the
// work directory (-disk in a checkout, say).
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
