package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sampleFlag, as the first argument, makes this program the sampler of a
// tree's memory at once:
//
//	bench -rss-sample FILE -- command [arg ...]
//
// It runs the command and, every sampleEvery until it exits, adds up the
// resident sets of the command and of its live descendants at that
// moment; it then writes the largest sum in KiB, the processes it was
// of, and the samples taken, tab-separated, to FILE, and exits with the
// command's status. The table's peak RSS is the largest process's, from
// rusage; this is what the processes that run at once hold together, as
// a site sizing a machine wants to know. A sample reads /proc, so it
// takes CPU of its own, and a peak shorter than sampleEvery may fall
// between two: the profile runs it once, apart from the table's runs.
const sampleFlag = "-rss-sample"

const sampleEvery = 5 * time.Millisecond

func sampleMain(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: bench -rss-sample FILE -- command [arg ...]")
		return 64
	}
	out, argv := args[0], args[2:]
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench sampler: %v\n", err)
		return 127
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var peak treeMem
	samples := 0
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for running := true; running; {
		if m := memOfTree(cmd.Process.Pid); m.kib > peak.kib {
			peak = m
		}
		samples++
		select {
		case <-done:
			running = false
		case <-tick.C:
		}
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if err := os.WriteFile(out, []byte(fmt.Sprintf("%d\t%d\t%d\n", peak.kib, peak.procs, samples)), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "bench sampler: %v\n", err)
		return 75
	}
	return code
}

// treeMem is the resident sets of a tree of processes at one moment.
type treeMem struct {
	kib   int64 // their sum
	procs int   // of so many processes
}

// memOfTree adds up the resident set of pid and of each live process
// under it, found through the children files of their threads
// (/proc/PID/task/TID/children), which name a thread's children: a Go
// program starts a child from any of its threads. A process gone between
// two reads counts nothing.
func memOfTree(pid int) treeMem {
	var m treeMem
	page := int64(os.Getpagesize())
	add := func(p int) {
		if kib, ok := residentKiB(p, page); ok {
			m.kib += kib
			m.procs++
		}
	}
	if !haveChildren() {
		// A kernel without them: the tree from every process's parent,
		// a read of all of /proc.
		add(pid)
		for _, p := range descendants(pid) {
			add(p)
		}
		return m
	}
	for next := []int{pid}; len(next) > 0; {
		p := next[0]
		next = next[1:]
		add(p)
		next = append(next, childrenOf(p)...)
	}
	return m
}

// haveChildren reports whether the kernel gives the children files
// (CONFIG_PROC_CHILDREN).
func haveChildren() bool {
	_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d/children", syscall.Gettid()))
	return err == nil
}

// residentKiB is the resident set of pid in KiB, from /proc/PID/statm
// (its second field, in pages): what ru_maxrss counts at its peak.
func residentKiB(pid int, page int64) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return n * page / 1024, true
}

// childrenOf are the children of pid's threads.
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// readSampled reads the sampler's line: the peak sum in KiB, the
// processes it was of, the samples taken.
func readSampled(name string) (peak treeMem, samples int, err error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return peak, 0, err
	}
	if n, ok := counts(string(b), 3); ok && n[2] > 0 {
		return treeMem{kib: n[0], procs: int(n[1])}, int(n[2]), nil
	}
	return peak, 0, fmt.Errorf("%s: the sampler wrote %q", name, b)
}
