package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrapFlag, as the first argument, makes this program the rusage wrapper:
//
//	bench -rusage-wrap FILE -- command [arg ...]
//
// It runs the command as a child subreaper, waits for it and for every
// descendant left behind (mlmmj's background children included), and
// appends one line to FILE: the program's name, then user and system
// CPU microseconds, peak RSS in KiB (the maximum over the whole tree),
// wall microseconds and minor page faults (the whole tree's),
// tab-separated. It exits with the command's status.
//
// The wrapper exists for the peak RSS: Linux counts a parent's peak in a
// child's ru_maxrss when the child is started with vfork, as Go does, so
// each measured command needs a small parent, not the bench itself. The
// wrapper, a Go program too, would pass its own few MiB on in the same
// way: where the environment names the C launcher (launchEnv), it starts
// the command through that, and takes the peak the launcher reports, and
// its CPU, faults and wall, which leave the launcher's own start out.
const wrapFlag = "-rusage-wrap"

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, prctl(2)

func wrapMain(args []string) {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: bench -rusage-wrap FILE -- command [arg ...]")
		os.Exit(64)
	}
	out, argv := args[0], args[2:]
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "bench wrapper: prctl: %v\n", e)
		os.Exit(75)
	}
	// SIGTERM and SIGINT go on to the command, and the wrapper stays to
	// report: so the daemon row stops mlm-run -D. (A caught signal is
	// the default again in the command, after execve(2).)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cmd := exec.Command(argv[0], argv[1:]...)
	var peak *os.File // the launcher's report
	if launch := os.Getenv(launchEnv); launch != "" {
		pr, pw, err := os.Pipe()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench wrapper: %v\n", err)
			os.Exit(75)
		}
		cmd = exec.Command(launch, argv...)
		cmd.ExtraFiles = []*os.File{pw} // descriptor 3
		peak = pr
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench wrapper: %v\n", err)
		os.Exit(127)
	}
	if peak != nil {
		cmd.ExtraFiles[0].Close() // the launcher's copy is its own
	}
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	_ = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	for { // the orphans of the tree, reparented to this subreaper
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			break
		}
	}
	wall := time.Since(t0)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		fmt.Fprintf(os.Stderr, "bench wrapper: getrusage: %v\n", err)
		os.Exit(75)
	}
	got := launched{rssKB: ru.Maxrss, faults: ru.Minflt, user: tvDuration(ru.Utime), sys: tvDuration(ru.Stime), wall: wall}
	if peak != nil {
		// The tree's, as the launcher reports it: its own start not in
		// the CPU or the wall either.
		b, _ := io.ReadAll(peak)
		var err error
		if got, err = parseLaunched(string(b)); err != nil {
			fmt.Fprintf(os.Stderr, "bench wrapper: %v\n", err)
			os.Exit(75)
		}
	}
	line := procLine{name: filepath.Base(argv[0]), user: got.user, sys: got.sys,
		rssKB: got.rssKB, wall: got.wall, faults: got.faults}.String()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench wrapper: %v\n", err)
		os.Exit(75)
	}
	os.Exit(code)
}

func tvDuration(tv syscall.Timeval) time.Duration {
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

// usage is what one measured run, or the median of several, took.
type usage struct {
	// From the command's start to the exit of its last process, as the
	// wrapper times it, or the C launcher under it: not their own start
	// and exit, some milliseconds each, that a row of two commands (mlm's:
	// mlm-accept, then mlm-run) would pay twice, every other row once.
	wall time.Duration
	// as the bench saw it: the wrapper's start and exit included (only
	// shown, in the log of each run)
	outer  time.Duration
	user   time.Duration
	sys    time.Duration
	rssKB  int64         // peak over the processes
	faults int64         // minor page faults of every process
	sink   time.Duration // CPU of the SMTP sink, in delivery runs
}

func (u usage) cpu() time.Duration { return u.user + u.sys }

// add is u and v run one after the other.
func (u usage) add(v usage) usage {
	u.wall += v.wall
	u.outer += v.outer
	u.user += v.user
	u.sys += v.sys
	u.rssKB = max(u.rssKB, v.rssKB)
	u.faults += v.faults
	u.sink += v.sink
	return u
}

// procLine is one line a wrapper wrote.
type procLine struct {
	name   string
	user   time.Duration
	sys    time.Duration
	rssKB  int64
	wall   time.Duration
	faults int64
}

// String is the line as the wrapper writes it, its LF included.
func (l procLine) String() string {
	return fmt.Sprintf("%s\t%d\t%d\t%d\t%d\t%d\n", l.name, l.user.Microseconds(), l.sys.Microseconds(),
		l.rssKB, l.wall.Microseconds(), l.faults)
}

func readProcLines(name string) ([]procLine, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []procLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("%s: bad line %q", name, l)
		}
		var n [5]int64
		for i := range n {
			if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("%s: bad line %q", name, l)
			}
		}
		out = append(out, procLine{f[0], time.Duration(n[0]) * time.Microsecond,
			time.Duration(n[1]) * time.Microsecond, n[2], time.Duration(n[3]) * time.Microsecond, n[4]})
	}
	return out, nil
}

// errTimeout says a run was killed at its deadline.
var errTimeout = errors.New("timeout")

// job is one command to measure.
type job struct {
	argv   []string
	stdin  string    // a file, or "" for /dev/null
	stdout io.Writer // nil: /dev/null
	dir    string
	env    []string // added to the bench's environment
}

// measure runs a job under the wrapper, in a process group of its own
// that is ended whole at the deadline (cutShort), and returns what it
// took. A non-zero exit is an error, with the job's last lines of stderr.
func (b *bench) measure(timeout time.Duration, j job) (usage, error) {
	res := filepath.Join(b.work, fmt.Sprintf("rusage.%d", b.seq()))
	defer os.Remove(res)
	cmd := exec.Command(b.self, append([]string{wrapFlag, res, "--"}, j.argv...)...)
	cmd.Env = append(b.env(), j.env...)
	cmd.Dir = j.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if j.stdin != "" {
		f, err := os.Open(j.stdin)
		if err != nil {
			return usage{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	cmd.Stdout = j.stdout
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	// A process the run left holding its stderr (or an output the bench
	// copies) would keep Wait from returning: once the wrapper has
	// ended, so long, and Wait closes them and fails the run.
	cmd.WaitDelay = pipeLeft
	// From before the start: the wrapper's own measure, the run's wall,
	// then lies within this one, its start shown beside it.
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	timedOut := false
	select {
	case err = <-done:
	case <-timer.C:
		timedOut = true
	case <-b.ctx.Done():
		timedOut = true
	}
	if timedOut {
		wall := time.Since(t0)
		cutShort(cmd.Process.Pid)
		<-done
		return usage{wall: wall}, errTimeout
	}
	wall := time.Since(t0)
	if err != nil {
		return usage{wall: wall}, fmt.Errorf("%s: %v: %s", strings.Join(j.argv, " "), held(err), strings.TrimSpace(stderr.String()))
	}
	lines, rerr := readProcLines(res)
	if rerr != nil || len(lines) != 1 {
		return usage{wall: wall}, fmt.Errorf("%s: no rusage from the wrapper: %v", j.argv[0], rerr)
	}
	l := lines[0]
	return usage{wall: l.wall, outer: wall, user: l.user, sys: l.sys, rssKB: l.rssKB, faults: l.faults}, nil
}

// cutShort ends a run at its deadline with SIGKILL: every process under
// the wrapper (pid), those in process groups of their own too, as
// mlm-run's stages are, which a kill of the wrapper's group missed: they
// went on delivering into the sink while the bench counted what it had
// got, and on into the next run (mlm-run, given SIGTERM, waits for them
// to end). The wrapper's group is stopped first, so that mlm-run starts
// no stage meanwhile, and the wrapper, a subreaper, goes last: what the
// processes killed leave running is its child, and found on the next look.
func cutShort(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		ds := descendants(pid)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			_ = syscall.Kill(d, syscall.SIGKILL)
		}
		time.Sleep(time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := t.buf.Bytes()[t.buf.Len()-t.max:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := t.buf.String()
	if len(s) > t.max {
		s = s[len(s)-t.max:]
	}
	return s
}

// run runs a setup command, unmeasured, with a time limit; its failure
// is fatal to the row.
func (b *bench) run(timeout time.Duration, stdin string, dir string, argv ...string) error {
	// Not the bench's context: an interrupted bench lets a setup step
	// end, and runs no more (timeout).
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		if p := filepath.Join(b.bin, prog); fileExists(p) {
			prog = p
		}
	}
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.Env = b.env()
	cmd.Dir = dir
	// At its deadline the command ends whole, as a measured run does: in
	// a group of its own, and what it started in groups of their own too
	// (cutShort).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { cutShort(cmd.Process.Pid); return nil }
	cmd.WaitDelay = pipeLeft // as measure's
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		// What it left, holding its output or not, is in its group,
		// unless it left that too: a setup step leaves nothing running.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), held(err), strings.TrimSpace(string(out)))
	}
	return nil
}

// held says a run's error as the bench words it: exec's ErrWaitDelay as
// what it means here (see pipeLeft).
func held(err error) error {
	if errors.Is(err, exec.ErrWaitDelay) {
		return heldOpen("output or stderr")
	}
	return err
}

// heldOpen says what of a run another process held open past pipeLeft.
func heldOpen(what string) error {
	return fmt.Errorf("its %s still open %v after it ended, held by another process", what, pipeLeft)
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
