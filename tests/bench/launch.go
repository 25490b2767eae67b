package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// launchEnv names the compiled launcher (launchC) for the wrapper.
const launchEnv = "BENCH_RSSLAUNCH"

// launchC is a small C parent for each measured command. Linux counts the
// peak resident set of the process a child was started from in the
// child's ru_maxrss when it is started with vfork(2), as Go starts
// every child: so a command the Go wrapper starts counts at least the
// wrapper's own few MiB, and a program smaller than that (mlmmj, cat,
// smtp-source) would show the wrapper's size, not its own. The launcher
// starts the command with fork(2), from its own small image, reaps its
// whole tree as a child subreaper, and writes the tree's peak in KiB, its
// page faults (minor: a page first touched, or mapped from the page
// cache), its user and system CPU, and the wall from just before the fork
// to the last process reaped, the three in microseconds, none counting
// the launcher's own start (some 5 ms of CPU and of wall on a virtual
// machine, which was in every run's figures, twice in mlm's two
// commands', when the wrapper took them), on descriptor 3. What the
// command's process does before its exec, a copy of the launcher's small
// image, is the command's (about 1 ms, 20 faults here). It passes
// SIGTERM and SIGINT on, and exits with the command's status (128 and
// the signal's number for one killed).
const launchC = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child;

static void pass(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv) {
	if (argc < 2) {
		fputs("usage: rsslaunch command [arg ...]\n", stderr);
		return 64;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("rsslaunch: prctl");
		return 75;
	}
	/* The report's descriptor is the launcher's: not the command's. */
	if (fcntl(3, F_SETFD, FD_CLOEXEC) != 0) {
		perror("rsslaunch: descriptor 3");
		return 75;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = pass;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("rsslaunch: fork");
		return 75;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "rsslaunch: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	child = pid;
	int status = 0, ws;
	for (;;) {
		pid_t w = wait(&ws);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (w == pid)
			status = ws;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long wall = ((long long)t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) != 0) {
		perror("rsslaunch: getrusage");
		return 75;
	}
	if (dprintf(3, "%ld %ld %lld %lld %lld\n", ru.ru_maxrss, ru.ru_minflt,
	            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, wall) < 0) {
		perror("rsslaunch: descriptor 3");
		return 75;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
`

// buildLauncher compiles launchC into dir with the C compiler, and
// returns its path; "" and why if there is no compiler, or it fails.
func buildLauncher(dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			return "", fmt.Errorf("no C compiler (apt-get install gcc)")
		}
	}
	src := filepath.Join(dir, "rsslaunch.c")
	if err := os.WriteFile(src, []byte(launchC), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "rsslaunch")
	if out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", cc, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// launched is the launcher's report of a command's tree.
type launched struct {
	rssKB, faults   int64
	user, sys, wall time.Duration
}

// parseLaunched reads the launcher's line: the tree's peak, in KiB, its
// minor page faults, and its user and system CPU and its wall, in
// microseconds.
func parseLaunched(s string) (launched, error) {
	if n, ok := counts(s, 5); ok {
		micro := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
		return launched{rssKB: n[0], faults: n[1], user: micro(n[2]), sys: micro(n[3]), wall: micro(n[4])}, nil
	}
	return launched{}, fmt.Errorf("the launcher said %q", s)
}

// counts reads s as n counts, decimal and not negative, and nothing else
// but space.
func counts(s string, n int) ([]int64, bool) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, false
	}
	out := make([]int64, n)
	for i, v := range f {
		k, err := strconv.ParseInt(v, 10, 64)
		if err != nil || k < 0 {
			return nil, false
		}
		out[i] = k
	}
	return out, true
}
