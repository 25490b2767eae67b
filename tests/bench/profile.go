package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"mlm/lib/cli"
)

// profile runs mlm's delivery to n members once more with every program
// under the rusage wrapper, for each one's CPU, wall and peak RSS; once
// unwrapped, for its page faults; once under the sampler, for what its
// processes hold at once; mlm-run and each stage it starts for a post
// started with nothing to do, for what a start costs (startLines); then,
// if perf is there, once under perf record (where the CPU goes, by
// process and function, a program's start included); reps times with
// the programs built with the profiler (pprofLines: by function, from
// each program's main on); if strace is there, once under strace -c -w
// (how many fsyncs, and their wall time); and on the disk and on tmpfs.
func (b *bench) profile(n int, verp bool) []string {
	mode := fmt.Sprintf("%d rcpt/tx", batch)
	if verp {
		mode = "VERP 1 rcpt/tx"
	}
	out := []string{fmt.Sprintf("profile: mlm, %s members, %s, one run each way, %d with pprof (not in the table)", commas(int64(n)), mode, b.reps)}
	file := filepath.Join(b.work, fmt.Sprintf("profile.%d.tsv", b.seq()))
	d, err := b.mlmOnce(n, mlmOpts{verp: verp, wrapStages: file})
	if err != nil {
		if err != errSkipped && err != errTimeout {
			b.failures = append(b.failures, "profile: "+err.Error())
		}
		return append(out, "  "+err.Error())
	}
	b.logf("profile, wrapped: %s", fmtRun(d.u, nil))
	lines, err := readProcLines(file)
	if err != nil {
		return append(out, "  "+err.Error())
	}
	type agg struct {
		name      string
		runs      int
		user, sys time.Duration
		wall      time.Duration
		rssKB     int64
		faults    int64
	}
	by := map[string]*agg{}
	var tree procLine
	var stages time.Duration
	var stagesUser, stagesSys time.Duration
	var stagesFaults int64
	for _, l := range lines {
		if l.name == treeLine {
			tree = l
			continue
		}
		a := by[l.name]
		if a == nil {
			a = &agg{name: l.name}
			by[l.name] = a
		}
		a.runs++
		a.user += l.user
		a.sys += l.sys
		a.wall += l.wall
		a.rssKB = max(a.rssKB, l.rssKB)
		a.faults += l.faults
		if l.name != "mlm-accept" {
			stages += l.wall
			stagesUser += l.user
			stagesSys += l.sys
			stagesFaults += l.faults
		}
	}
	// mlm-run's own share: its tree less the stages (and their wrappers'
	// and launchers' share, some 5 ms a stage on a virtual machine, which
	// falls to it: a stage's line is the tree its launcher reports).
	by["mlm-run"] = &agg{name: "mlm-run (self, + wrappers, launchers)", runs: 1, user: tree.user - stagesUser, sys: tree.sys - stagesSys,
		wall: tree.wall, faults: tree.faults - stagesFaults}
	var all []*agg
	var total time.Duration
	for _, a := range by {
		all = append(all, a)
		total += a.user + a.sys
	}
	sort.Slice(all, func(i, j int) bool { return all[i].user+all[i].sys > all[j].user+all[j].sys })
	out = append(out, fmt.Sprintf("  per program (rusage of each, wrapped): run took %.3f s wall, %.3f s CPU",
		d.u.wall.Seconds(), d.u.cpu().Seconds()))
	out = append(out, fmt.Sprintf("  %-37s %4s %8s %8s %6s %9s %9s %7s", "program", "runs", "user s", "sys s", "CPU %", "wall s", "peak RSS", "faults"))
	for _, a := range all {
		rss := fmt.Sprintf("%.1f MiB", float64(a.rssKB)/1024)
		if a.rssKB == 0 {
			rss = "-"
		}
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(a.user+a.sys) / float64(total)
		}
		out = append(out, fmt.Sprintf("  %-37s %4d %8.3f %8.3f %6.1f %9.3f %9s %7d", a.name, a.runs,
			a.user.Seconds(), a.sys.Seconds(), pct, a.wall.Seconds(), rss, a.faults))
	}
	out = append(out, "  (a stage's wall is from its start to its exit: the stages of a queue run at once, joined by pipes;",
		"   faults: minor page faults, each a page first touched or mapped from the page cache)")
	faults, runCPU := b.faultsLine(n, verp)
	out = append(out, faults...)
	out = append(out, b.memoryLine(n, verp)...)
	noop, err := b.buildNoop()
	noopErr := ""
	if err != nil {
		noopErr = err.Error()
	}
	out = append(out, b.startLines(verp, noop, noopErr, runCPU)...)

	if perf, err := exec.LookPath("perf"); err == nil {
		data := filepath.Join(b.work, "perf.data")
		defer os.Remove(data)
		d, err := b.mlmOnce(n, mlmOpts{verp: verp, runPrefix: []string{perf, "record", "-q", "-F", "997", "-g", "-o", data, "--"}})
		if err != nil {
			out = append(out, "  perf: "+err.Error())
		} else {
			b.logf("profile, perf: %s", fmtRun(d.u, nil))
			out = append(out, "  perf record -F 997 of mlm-run and its stages (cpu-clock; mlm-accept not included):")
			out = append(out, perfReport(perf, data, "comm", "1", 12)...)
			out = append(out, perfReport(perf, data, "comm,dso,sym", "0.8", 30)...)
		}
	}
	out = append(out, b.pprofLines(n, verp)...)
	if strace, err := exec.LookPath("strace"); err == nil {
		log := filepath.Join(b.work, "strace.txt")
		d, err := b.mlmOnce(n, mlmOpts{verp: verp, runPrefix: []string{strace, "-f", "-c", "-w", "--seccomp-bpf", "-o", log,
			"-e", "trace=fsync,fdatasync,sync_file_range,syncfs,sync"}})
		if err != nil {
			out = append(out, "  strace: "+err.Error())
		} else {
			b.logf("profile, strace: %s", fmtRun(d.u, nil))
			out = append(out, fmt.Sprintf("  strace -f -c -w (syncs of mlm-run and its stages; the run took %.3f s under strace):", d.u.wall.Seconds()))
			text, _ := os.ReadFile(log)
			for _, l := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
				out = append(out, "    "+l)
			}
		}
	}
	if b.shm != b.work {
		disk, err := b.mlmOnce(n, mlmOpts{verp: verp})
		var mem delivered
		if err == nil {
			mem, err = b.mlmOnce(n, mlmOpts{verp: verp, disk: b.shm})
		}
		if err != nil {
			out = append(out, "  disk against tmpfs: "+err.Error())
		} else {
			b.logf("profile, disk: %s; tmpfs: %s", fmtRun(disk.u, nil), fmtRun(mem.u, nil))
			out = append(out, fmt.Sprintf("  the list on the disk: %.3f s wall, %.3f s CPU; on tmpfs, where fsync costs nothing: %.3f s wall, %.3f s CPU",
				disk.u.wall.Seconds(), disk.u.cpu().Seconds(), mem.u.wall.Seconds(), mem.u.cpu().Seconds()))
		}
	}
	return out
}

// faultsLine is what the page faults of a run of mlm's cost: the run
// once more, unwrapped (its faults those of mlm-accept and of mlm-run's
// tree, the launcher's own not counted), and the cost of one fault here.
// A program's start faults in its pages, and each page its heap grows
// to: on a virtual machine a fault can cost ten times what it does on
// the hardware, and mlm runs some ten programs a post. The run's CPU is
// returned too (0 if it failed), for startLines' share of it.
func (b *bench) faultsLine(n int, verp bool) ([]string, time.Duration) {
	d, err := b.mlmOnce(n, mlmOpts{verp: verp})
	if err != nil {
		return []string{"  page faults: " + err.Error()}, 0
	}
	b.logf("profile, plain: %s", fmtRun(d.u, nil))
	cost, err := faultCost()
	if err != nil {
		return []string{"  page faults: " + err.Error()}, d.u.cpu()
	}
	of := time.Duration(d.u.faults) * cost
	return []string{fmt.Sprintf("  page faults of the run, unwrapped: %s; one costs %.1f µs here (a page first touched: 64 MiB of",
		commas(d.u.faults), float64(cost.Nanoseconds())/1000),
		fmt.Sprintf("    fresh memory, in pages of %d KiB), so about %.0f ms of the run's %.3f s CPU (%.3f s wall) at that cost",
			os.Getpagesize()/1024, float64(of.Microseconds())/1000, d.u.cpu().Seconds(), d.u.wall.Seconds()),
		"    each (a fault that maps a program's own pages from the page cache maps several at once, and costs more)"}, d.u.cpu()
}

// memoryLine is what mlm-run and its stages hold at once (sampled).
func (b *bench) memoryLine(n int, verp bool) []string {
	peak, samples, err := b.sampled(n, verp)
	if err != nil {
		return []string{"  memory at once: " + err.Error()}
	}
	b.atOnce.profile = true
	return []string{fmt.Sprintf("  memory at once: mlm-run and its stages held at most %.1f MiB together, %d processes (their resident",
		float64(peak.kib)/1024, peak.procs),
		fmt.Sprintf("    sets added up, a page they share once for each, sampled every %v, %d samples; a peak between two is", sampleEvery, samples),
		"    missed); the table's peak RSS is the largest process's"}
}

// sampled is what mlm-run and its stages hold at once in a delivery to n
// members: the run once more under the sampler (sampleMain), its largest
// sum, and the samples taken. The run is checked as the table's are.
func (b *bench) sampled(n int, verp bool) (peak treeMem, samples int, err error) {
	file := filepath.Join(b.work, fmt.Sprintf("sampled.%d", b.seq()))
	defer os.Remove(file)
	d, err := b.mlmOnce(n, mlmOpts{verp: verp, runPrefix: []string{b.self, sampleFlag, file, "--"}})
	if err != nil {
		return peak, 0, err
	}
	b.logf("sampled run, %s members: %s", commas(int64(n)), fmtRun(d.u, nil))
	return readSampled(file)
}

// faultCost is what a minor page fault costs here: the time to touch
// each page of 64 MiB of fresh anonymous memory, in the system's pages
// (no huge pages), over the faults that took. The kernel's zeroing of
// each page is in it, as it is in a program's.
func faultCost() (time.Duration, error) {
	const size = 64 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Madvise(mem, madvNoHugePage); err != nil {
		return 0, fmt.Errorf("madvise: %w", err)
	}
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		return 0, err
	}
	page := os.Getpagesize()
	t0 := time.Now()
	for i := 0; i < size; i += page {
		mem[i] = 1
	}
	took := time.Since(t0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return 0, err
	}
	faults := after.Minflt - before.Minflt
	if faults < int64(size/page) {
		return 0, fmt.Errorf("touching %d pages took %d faults", size/page, faults)
	}
	return took / time.Duration(faults), nil
}

// madvNoHugePage is MADV_NOHUGEPAGE, madvise(2).
const madvNoHugePage = 15

// perfReport is the top lines of perf report, sorted by keys.
func perfReport(perf, data, keys, limit string, top int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--no-children", "-g", "none",
		"--sort", keys, "--percent-limit", limit)
	text, err := cmd.Output()
	if err != nil {
		return []string{"    perf report: " + err.Error()}
	}
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") || !strings.Contains(t, "%") {
			continue
		}
		out = append(out, "    "+t)
		if len(out) == top {
			break
		}
	}
	return out
}

// pprofLines profiles a run of mlm's with pprof: the programs built once
// more with the profiler (pprofBin), the run made reps times with them
// first in PATH and MLM_CPUPROFILE set, and the profiles of each program
// (a stage starts for each record) merged by go tool pprof, its top
// functions by their own CPU.
func (b *bench) pprofLines(n int, verp bool) []string {
	goTool, bin, err := b.pprofBin()
	if err != nil {
		return []string{"  pprof: " + err.Error()}
	}
	dir := filepath.Join(b.work, fmt.Sprintf("pprof.%d", b.seq()))
	defer os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return []string{"  pprof: " + err.Error()}
	}
	// 100 samples a CPU second (runtime/pprof's, which a program cannot
	// change without a line on its stderr): a run's profiles are merged
	// with those of the runs after it, reps of them.
	var runs usage
	for range b.reps {
		d, err := b.mlmOnce(n, mlmOpts{verp: verp, env: pprofEnv(bin, b.bin, dir)})
		if err != nil {
			return []string{"  pprof: " + err.Error()}
		}
		b.logf("profile, pprof: %s", fmtRun(d.u, nil))
		runs = runs.add(d.u)
	}
	return pprofSummary(goTool, dir, b.reps, runs.wall, runs.cpu())
}

// pprofEnv is what a run of the programs built with the profiler, in
// bin, adds to the environment: bin first in PATH, before the bench's
// own programs (benchBin), and the directory of the profiles.
func pprofEnv(bin, benchBin, dir string) []string {
	sep := string(os.PathListSeparator)
	return []string{"PATH=" + bin + sep + benchBin + sep + os.Getenv("PATH"), cli.ProfileEnv + "=" + dir}
}

// pprofSummary is the lines of the profiles in dir, written by reps runs
// that took wall and cpu together.
func pprofSummary(goTool, dir string, reps int, wall, cpu time.Duration) []string {
	byProg, empty, err := profilesByProg(dir)
	if err != nil {
		return []string{"  pprof: " + err.Error()}
	}
	out := []string{fmt.Sprintf("  pprof: %d runs more with the programs built with the profiler (go build -tags %s, from the", reps, cli.ProfileTag),
		fmt.Sprintf("    bench's working directory, as make pprof does), %s=DIR; they took %.3f s wall, %.3f s CPU", cli.ProfileEnv, wall.Seconds(), cpu.Seconds()),
		"    together; 100 samples a CPU second, each program's profiles merged, its top functions by their own CPU",
		"    (go tool pprof -top; from the program's main on: its runtime's and packages' start, before, is not in",
		fmt.Sprintf("    them, the perf lines above have it; %d empty profiles, of programs that ended other than through their main, left out):", empty)}
	progs := make([]string, 0, len(byProg))
	for p := range byProg {
		progs = append(progs, p)
	}
	sort.Strings(progs)
	for _, p := range progs {
		out = append(out, pprofTop(goTool, p, byProg[p], 8)...)
	}
	return out
}

// pprofBin builds mlm's programs with the profiler into the work
// directory, once a bench, from the sources in the working directory
// (make bench's), and returns the go tool and the directory.
func (b *bench) pprofBin() (goTool, bin string, err error) {
	if b.pprof.bin != "" || b.pprof.err != nil {
		return b.pprof.goTool, b.pprof.bin, b.pprof.err
	}
	defer func() { b.pprof.goTool, b.pprof.bin, b.pprof.err = goTool, bin, err }()
	if goTool, err = exec.LookPath("go"); err != nil {
		return "", "", fmt.Errorf("no go to build the programs with the profiler: %w", err)
	}
	timeout, ok := b.timeout()
	if !ok {
		return "", "", errSkipped
	}
	bin = filepath.Join(b.work, "pprof-bin")
	tags := "osusergo,netgo," + cli.ProfileTag
	if err := b.run(timeout, "", "", goTool, "build", "-trimpath", "-tags", tags, "-o", bin+"/", "./filters/..."); err != nil {
		return "", "", fmt.Errorf("go build -tags %s: %w", tags, err)
	}
	return goTool, bin, nil
}

// profilesByProg is the profiles in dir by the program that wrote them
// (PROG.PID.NANOS.pprof), those of no octets (a program that ended other
// than through its main) left out, as go tool pprof cannot read them, and
// counted.
func profilesByProg(dir string) (by map[string][]string, empty int, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pprof"))
	if err != nil {
		return nil, 0, err
	}
	by = map[string][]string{}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			empty++
			continue
		}
		prog, _, _ := strings.Cut(filepath.Base(f), ".")
		by[prog] = append(by[prog], f)
	}
	if len(by) == 0 {
		return nil, empty, fmt.Errorf("no profile written (%d files, %d of them empty)", len(files), empty)
	}
	return by, empty, nil
}

// pprofTop is go tool pprof's total and top lines of prog's profiles,
// merged.
func pprofTop(goTool, prog string, files []string, top int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", top)}, files...)...)
	stderr := &tailBuffer{max: 512}
	cmd.Stderr = stderr
	text, err := cmd.Output()
	if err != nil {
		return []string{fmt.Sprintf("    %s: go tool pprof: %v: %s", prog, err, lastLine(stderr.String()))}
	}
	head := fmt.Sprintf("    %s, %d profiles", prog, len(files))
	var rows []string
	table := false
	for _, l := range strings.Split(string(text), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "Duration:"):
			if _, total, ok := strings.Cut(t, "Total samples = "); ok {
				head += ", " + strings.TrimSuffix(strings.Fields(total)[0], ",") + " of samples"
			}
		case strings.HasPrefix(t, "flat "):
			table = true
			rows = append(rows, "      "+t)
		case table && t != "" && !strings.HasPrefix(t, "0 "):
			// (Not the functions of no CPU of their own: go tool
			// pprof fills -nodecount with them, by name.)
			rows = append(rows, "      "+t)
		}
	}
	if len(rows) < 2 {
		return []string{head + ": none from its main on (under 10 ms of CPU in each run)"}
	}
	return append([]string{head + ":"}, rows...)
}

// lastLine is the last line of s that is not empty.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(ls[len(ls)-1])
}
