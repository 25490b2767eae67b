package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// daemonOnce delivers the post to n members as a site that keeps
// `mlm-run -D` going for the list (mlm-run@.service) has it done: the
// daemon, started first and untimed, is woken by the record mlm-accept
// writes (it watches the queues). Timed: from mlm-accept's start until
// the list's queues are empty again, the post delivered, as a watch of
// them tells. Its CPU: mlm-accept's, and
// what the daemon and the stages it waited for took meanwhile, from
// /proc in clock ticks (10 ms each, on the sum).
func (b *bench) daemonOnce(n int, verp bool) (delivered, error) {
	var d delivered
	s, dir, cleanup, err := b.mlmRun(n, mlmOpts{verp: verp})
	defer cleanup()
	if err != nil {
		return d, err
	}
	timeout, ok := b.timeout()
	if !ok {
		return d, errSkipped
	}
	// Under the rusage wrapper, for the peak RSS of the daemon and its
	// stages: started by the bench itself, with vfork, mlm-run would
	// count the bench's own peak as its (see wrapFlag), and the bench's
	// grows from row to row.
	res := filepath.Join(b.work, fmt.Sprintf("rusage.%d", b.seq()))
	defer os.Remove(res)
	run := exec.Command(b.self, wrapFlag, res, "--", filepath.Join(b.bin, "mlm-run"), "-D", dir)
	run.Env, run.Dir = b.env(), filepath.Dir(dir)
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	runErr := &tailBuffer{max: 4096}
	run.Stderr = runErr
	run.WaitDelay = pipeLeft // as measure's
	if err := run.Start(); err != nil {
		return d, err
	}
	ran := make(chan error, 1)
	go func() { ran <- run.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = syscall.Kill(run.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-ran:
			if err != nil {
				return fmt.Errorf("mlm-run -D: %v: %s", held(err), strings.TrimSpace(runErr.String()))
			}
			return nil
		case <-time.After(time.Minute):
			cutShort(run.Process.Pid) // its stages too, in groups of their own
			<-ran
			return errors.New("mlm-run -D: no exit a minute after SIGTERM")
		}
	}
	defer stop()
	// Its first pass, on empty queues, is not the post's.
	time.Sleep(300 * time.Millisecond)
	syscall.Sync() // the setup's dirty pages are not the run's
	// The wrapper and the launcher may not have started it yet, on a
	// machine slowed by other work: looked for until they have.
	daemon, err := commandOf(run.Process.Pid)
	for wait := time.Now().Add(time.Minute); err != nil && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
		daemon, err = commandOf(run.Process.Pid)
	}
	if err != nil {
		return d, err
	}
	user0, sys0, err := treeCPU(daemon)
	if err != nil {
		return d, err
	}
	acc := exec.Command(filepath.Join(b.bin, "mlm-accept"), "-f", poster, "-r", listAddr, dir)
	acc.Env = b.env()
	post, err := os.Open(b.post)
	if err != nil {
		return d, err
	}
	defer post.Close()
	acc.Stdin = post
	accErr := &tailBuffer{max: 4096}
	acc.Stderr = accErr
	// The end is seen as it comes, not by a look every so often, which
	// would take the CPUs from the run: a record leaves a queue by its
	// removal from cur/ (or a move, deferred), which a watch reports.
	ends, err := watchEnds(dir)
	if err != nil {
		return d, err
	}
	defer ends.Close()
	t0 := time.Now()
	if err := acc.Run(); err != nil {
		return d, fmt.Errorf("mlm-accept: %v: %s", err, strings.TrimSpace(accErr.String()))
	}
	for busy(dir) {
		if time.Since(t0) > timeout {
			d.u.wall = time.Since(t0)
			d.st, _ = countDump(s.dump, nil, nil)
			return d, errTimeout
		}
		select {
		case err := <-ran:
			stopped = true // (ran is spent: stop would wait on it for ever)
			return d, fmt.Errorf("mlm-run -D ended: %v: %s", err, strings.TrimSpace(runErr.String()))
		case <-ends.c:
		case <-time.After(50 * time.Millisecond): // (a safety net)
		}
	}
	wall := time.Since(t0)
	user1, sys1, err := treeCPU(daemon)
	if err != nil {
		return d, err
	}
	if err := stop(); err != nil {
		return d, err
	}
	ps := acc.ProcessState
	d.u = usage{wall: wall, outer: wall, user: ps.UserTime() + user1 - user0, sys: ps.SystemTime() + sys1 - sys0}
	// The peak of the daemon's whole life, its stages' too. Not
	// mlm-accept's: started by the bench, as the timing needs, its
	// ru_maxrss is the bench's (see above); the mlm row has it, at
	// 5 MiB or so, below any stage's that delivers.
	lines, err := readProcLines(res)
	if err != nil || len(lines) != 1 {
		return d, fmt.Errorf("mlm-run -D: no rusage from the wrapper: %v", err)
	}
	d.u.rssKB = lines[0].rssKB
	return checked(d, s, dir, "mlm, mlm-run -D", tenDomains(n), verp)
}

// busy reports whether the post is still in the list's incoming or
// outgoing queue: waiting, or claimed by a pass. (The incoming stages
// put it in outgoing before its incoming record goes; it leaves outgoing
// once mlm-sendmail, and the stages after it, have ended.)
func busy(dir string) bool {
	for _, sub := range []string{"incoming/new", "incoming/cur", "outgoing/new", "outgoing/cur"} {
		f, err := os.Open(filepath.Join(dir, "queue", sub))
		if err != nil {
			return true
		}
		names, _ := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 {
			return true
		}
	}
	return false
}

// treeCPU is the user and system time of process pid and of the
// children it has waited for, from /proc/PID/stat: utime and cutime,
// stime and cstime, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func treeCPU(pid int) (user, sys time.Duration, err error) {
	st, err := readStat(pid)
	return st.user, st.sys, err
}

// commandOf returns the command the rusage wrapper with pid runs: its
// child, or, where the wrapper starts it through the C launcher
// (launchC), the launcher's. The launcher's own CPU counts the daemon's
// only once it has waited for it, at its end.
func commandOf(pid int) (int, error) {
	child, err := childOf(pid)
	if err != nil || os.Getenv(launchEnv) == "" {
		return child, err
	}
	return childOf(child)
}

// childOf returns the process whose parent is pid, the only one: the
// command the rusage wrapper with that pid runs. (/proc/PID/task/TID/
// children is not in every kernel: it needs CONFIG_PROC_CHILDREN.)
func childOf(pid int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	child := 0
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 0 {
			continue
		}
		st, err := readStat(n)
		if err != nil || st.ppid != pid {
			continue // (gone since the listing, as a rule)
		}
		if child != 0 {
			return 0, fmt.Errorf("process %d has two children, %d and %d", pid, child, n)
		}
		child = n
	}
	if child == 0 {
		return 0, fmt.Errorf("process %d has no child", pid)
	}
	return child, nil
}

// descendants are the live processes under pid, not pid itself: its
// children, theirs, and so on (zombies left out).
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 0 {
			continue
		}
		st, err := readStat(n)
		if err != nil || st.state == 'Z' {
			continue // (gone since the listing, as a rule)
		}
		kids[st.ppid] = append(kids[st.ppid], n)
	}
	var out []int
	for next := kids[pid]; len(next) > 0; {
		p := next[0]
		next = append(next[1:], kids[p]...)
		out = append(out, p)
	}
	return out
}

// procStat is what the bench reads of a /proc/PID/stat line.
type procStat struct {
	state     byte // R, S, Z and so on
	ppid      int
	user, sys time.Duration // its own and its waited-for children's
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	st, err := parseStat(string(b))
	if err != nil {
		err = fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	return st, err
}

// parseStat is readStat's reading of a /proc/PID/stat line.
func parseStat(s string) (procStat, error) {
	// The command name, in parentheses, may hold blanks: the fields
	// counted from after its last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("no ')'")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid): utime, stime,
	// cutime and cstime are fields 14 to 17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("%d fields", len(f)+2)
	}
	if len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("state %q", f[0])
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid < 0 {
		return procStat{}, fmt.Errorf("parent %q", f[1])
	}
	var t [4]int64
	for k, v := range f[11:15] {
		if t[k], err = strconv.ParseInt(v, 10, 64); err != nil {
			return procStat{}, err
		}
		if t[k] < 0 || t[k] > 1<<36 { // (21 years: two such summed fit in a time.Duration)
			return procStat{}, fmt.Errorf("%d ticks", t[k])
		}
	}
	const tick = 10 * time.Millisecond
	return procStat{state: f[0][0], ppid: ppid, user: time.Duration(t[0]+t[2]) * tick, sys: time.Duration(t[1]+t[3]) * tick}, nil
}

// endWatch reports each removal or move out of the incoming and outgoing
// queues' cur/ (inotify(7)).
type endWatch struct {
	f *os.File
	c chan struct{}
}

func watchEnds(dir string) (*endWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := &endWatch{f: os.NewFile(uintptr(fd), "inotify"), c: make(chan struct{}, 1)}
	for _, q := range []string{"incoming", "outgoing"} {
		if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "queue", q, "cur"), unix.IN_DELETE|unix.IN_MOVED_FROM); err != nil {
			w.f.Close()
			return nil, fmt.Errorf("inotify_add_watch %s/cur: %v", q, err)
		}
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := w.f.Read(buf); err != nil {
				return
			}
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
	}()
	return w, nil
}

func (w *endWatch) Close() error { return w.f.Close() }
