// Package pipeline runs programs joined by pipes, as a shell runs
// "a | b | c", and reduces their exit statuses to the one status an MTA or
// a queue runner acts on. It is part of mlm's internals, not a public API.
//
// Debian's /bin/sh has no pipefail, so a shell pipeline in an MTA alias
// reports only its last stage and loses an earlier stage's EX_TEMPFAIL
// (STYLE.md §3.4). Run waits for every stage and decides (STYLE.md §4.7,
// DESIGN.md §5):
//
//  1. The status is 75 if any stage exited 75, could not be started, died
//     from a signal other than SIGPIPE, or exited with a status mlm gives
//     no meaning to (anything but 0, 64, 65, 67, 75 and 77): an
//     unclassified failure may work later.
//  2. Otherwise it is the first non-zero status in pipeline order.
//  3. A stage other than the last that died from SIGPIPE wrote into a pipe
//     whose reader had gone: the next stage failed, or exited 0 without
//     reading everything, and its own status speaks for the data. Such a
//     death is ignored. The last stage's SIGPIPE means its output was
//     lost, and counts as a signal under rule 1.
//
// Stages are started with exec from their argv, never through a shell. If
// a program cannot be found or is not executable, no stage is started at
// all, so a stage with side effects (a queue write) never runs in a
// pipeline that cannot finish. They start from the last to the first, so
// that one the kernel refuses even so (a script without "#!") has not
// started those before it; those after it see an empty input.
//
// # Stage files
//
// Parse reads the stages a queue runner runs from a file:
//
//	# screen, then expand
//	mlm-auth /srv/lists/dev
//	mlm-hdr -a X-Mailing-List:dev
//	mlm-members /srv/lists/dev
//
// Each line that has a word is one stage: its words, separated by spaces
// and tabs, are the program and its arguments. A line whose first word
// starts with "#" is a comment, and blank lines are ignored. There is no
// quoting, no escaping, no variable and no shell: a word is exactly the
// octets between blanks, so "#" inside a line and "--" are ordinary words,
// and an argument cannot contain a blank. A control octet other than tab
// (CR included) is an error, as is a file without a stage.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// Options are what every stage of a pipeline shares.
type Options struct {
	// Stdin is read by the first stage; nil is the null device. A file
	// is handed to the stage as it is; any other reader is copied in
	// through a pipe, and Run returns only once that copy has ended (at
	// the end of Stdin, or at the first write after the stage stopped
	// reading), so it must not block forever.
	Stdin io.Reader
	// Stdout is written by the last stage; nil is the null device. A
	// file is handed to the stage; any other writer is fed from a pipe,
	// and if it fails the last stage is stopped by SIGPIPE.
	Stdout io.Writer
	// Stderr is written by every stage; nil is the null device. A
	// writer that is not a file is fed from one pipe the stages share,
	// and if it fails the rest of their diagnostics are discarded.
	Stderr io.Writer
	// Dir is every stage's working directory; "" is the caller's. A
	// program named by a relative path with a slash is found from Dir.
	Dir string
	// Context, if set, kills every stage still running when it is done
	// (SIGKILL), with whatever the stages started, those that ended in
	// time too: the stages then run in a process group of their own,
	// one for the pipeline. A stage that hangs counts as a signal death,
	// status 75. With Grace, the group is sent SIGTERM first, and
	// SIGKILL only once Grace has passed with a stage still running, or
	// as Run returns: a stage that can stop cleanly (mlm-sendmail ends
	// the transactions it has begun, and exits 75) is given the time to.
	// Once it is done, Run no longer waits for
	// the pipes to Stdin, Stdout and Stderr either, which a process a
	// stage left behind may hold open: what such a process would still
	// read or write is lost (and Stdout's loss is a failure).
	Context context.Context
	// Grace is how long the stages have, after SIGTERM, to end before
	// SIGKILL, once Context is done; 0 is SIGKILL at once.
	Grace time.Duration
	// Stopped, if set, is called once the stages are signalled, before
	// Run returns: a stage that exits 0 on SIGTERM has not, as a rule,
	// done its work.
	Stopped func()
	// Env holds "NAME=value" entries added to the caller's environment,
	// replacing a variable of the same name. A program named without a
	// slash is looked up in the caller's PATH, not in Env's.
	Env []string
	// Hold, if set, is given to every stage as its descriptor 3, and to
	// no other program: a lock on it (flock) lasts until the last stage,
	// and whatever it left running, has exited. (Inherit would give it
	// to every program the caller starts meanwhile, another pipeline's
	// stages too.)
	Hold *os.File
	// DieWithParent, with Context, has the kernel kill every stage
	// (SIGKILL) if the caller dies first (PR_SET_PDEATHSIG): the
	// stages run in a process group of their own, which a kill of the
	// caller's group (an MTA's, at its time limit; a runner's, after a
	// grace shorter than the caller's) missed, and they ran on, queueing
	// the message the MTA then delivered again (R89 F1). Not what a
	// stage started.
	DieWithParent bool
}

// Run starts every stage, joined by pipes, waits for all of them and
// returns the pipeline's status by the rules of the package comment.
// The error is nil when the status is the stages' own doing (0, or a
// status a stage exited with and has explained itself). Otherwise it is
// what no stage could report: "stage N: reason" for a program that could
// not be started, a signal or a status mlm does not use, or a failure to
// read Stdin or write Stdout; the status is then 75. No stages, or an
// empty one, is a usage error (64).
func Run(stages [][]string, opts Options) (int, error) {
	if err := check(stages); err != nil {
		return sysexit.Usage, err
	}
	if opts.DieWithParent {
		// The signal comes when the thread that started a stage
		// ends, not the process: the Go runtime ends a thread only
		// when a goroutine locked to it returns, and this one is
		// unlocked only after the stages are waited for.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	cmds := make([]*exec.Cmd, len(stages))
	outs := make([]outcome, len(stages))
	missing := false
	st := &stopper{grace: opts.Grace, stopped: opts.Stopped}
	defer st.finish()
	for i, argv := range stages {
		cmds[i], outs[i].err = command(argv, opts, st)
		outs[i].name = argv[0]
		missing = missing || outs[i].err != nil
	}
	if missing {
		return decide(nil, outs)
	}
	var p plumbing
	failed, err := p.start(cmds, opts)
	if failed == len(cmds) {
		// No stage started: the pipes could not be made.
		p.wait(opts.Context)
		return decide(fmt.Errorf("making the pipes: %w", err), nil)
	}
	if failed >= 0 {
		outs[failed].err = err // earlier stages never ran, and count for nothing
	}
	for i := failed + 1; i < len(cmds); i++ {
		outs[i] = wait(cmds[i], outs[i].name)
	}
	return decide(p.wait(opts.Context), outs)
}

// check refuses a pipeline without stages or with an empty one.
func check(stages [][]string) error {
	if len(stages) == 0 {
		return ErrNoStages
	}
	for i, s := range stages {
		if len(s) == 0 {
			return fmt.Errorf("stage %d is empty", i+1)
		}
	}
	return nil
}

// ErrNoStages is Parse's and Split's error for a text or command line
// without a stage.
var ErrNoStages = errors.New("no stages")

// command prepares one stage. It finds the program now, so that a
// missing one stops the pipeline before any stage has started.
func command(argv []string, opts Options, st *stopper) (*exec.Cmd, error) {
	var c *exec.Cmd
	if opts.Context != nil {
		c = exec.CommandContext(opts.Context, argv[0], argv[1:]...)
	} else {
		c = exec.Command(argv[0], argv[1:]...)
	}
	if c.Err != nil {
		return nil, c.Err // not in PATH, or found only through a relative PATH entry
	}
	if p := argv[0]; strings.Contains(p, "/") {
		if opts.Dir != "" && !filepath.IsAbs(p) {
			p = opts.Dir + "/" + p // where the child will look; still with a slash, so not looked up in PATH
		}
		if _, err := exec.LookPath(p); err != nil {
			var e *exec.Error
			if errors.As(err, &e) {
				e.Name = argv[0] // the name as the stage gave it
			}
			return nil, err
		}
	}
	if opts.Context != nil {
		// A process group of the pipeline's own (start puts the stages
		// in the last one's), so that what they start goes with them
		// when they are killed, also what a stage that has ended left
		// running, which may hold what the stages hold (a queue's
		// record, and its lock). (*exec.Cmd).Cancel runs only while its
		// stage runs: the group, of which that stage is one, is still
		// there, and its number no other group's.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if opts.DieWithParent {
			c.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}
		c.Cancel = func() error {
			pgid := c.SysProcAttr.Pgid
			if pgid == 0 {
				pgid = c.Process.Pid // the last stage's, the group's first
			}
			return st.stop(pgid)
		}
	}
	c.Dir = opts.Dir
	if opts.Hold != nil {
		c.ExtraFiles = []*os.File{opts.Hold}
	}
	if len(opts.Env) > 0 {
		c.Env = append(os.Environ(), opts.Env...) // exec keeps the last of duplicates
	}
	return c, nil
}

// stopper stops a pipeline's process group once its Context is done:
// SIGKILL at once, or, with a grace, SIGTERM, then SIGKILL when the
// grace has passed or the pipeline has been waited for, whichever comes
// first. Its stages' Cancel functions all call stop, the first one
// signals. (The group's number is no other's while one of its stages is
// not waited for: its process, if only a zombie, keeps the number; so
// the timer signals only before finish, under mu. At finish, the
// stages have just been waited for, and what is left in the group is
// what they left running.)
type stopper struct {
	grace   time.Duration
	stopped func() // Options.Stopped
	mu      sync.Mutex
	pgid    int         // the group signalled, 0 before stop
	timer   *time.Timer // SIGKILL after the grace
	done    bool        // finished: no signal after it
}

// stop signals the group pgid, the first time it is called.
func (st *stopper) stop(pgid int) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.pgid != 0 || st.done {
		return nil
	}
	st.pgid = pgid
	if st.stopped != nil {
		st.stopped()
	}
	if st.grace <= 0 {
		return syscall.Kill(-pgid, syscall.SIGKILL)
	}
	st.timer = time.AfterFunc(st.grace, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if !st.done {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	return syscall.Kill(-pgid, syscall.SIGTERM)
}

// finish ends the stopping as the pipeline has been waited for: what
// the stages left running in the group, if it was stopped with a grace,
// is killed now.
func (st *stopper) finish() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done = true
	if st.timer != nil {
		st.timer.Stop()
		syscall.Kill(-st.pgid, syscall.SIGKILL)
	}
}

// outcome is how one stage ended.
type outcome struct {
	name   string         // the program, as named in the stage
	err    error          // it could not be started, or not waited for
	code   int            // its exit status, if it exited
	signal syscall.Signal // the signal that killed it, or 0
}

// wait waits for c and reads how it ended.
func wait(c *exec.Cmd, name string) outcome {
	err := c.Wait() // an *exec.ExitError for a failure; the state says which
	if c.ProcessState == nil {
		return outcome{name: name, err: err}
	}
	ws, ok := c.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return outcome{name: name, err: fmt.Errorf("%s: %v", name, c.ProcessState)}
	case ws.Signaled():
		return outcome{name: name, signal: ws.Signal()}
	}
	return outcome{name: name, code: ws.ExitStatus()}
}

// decide applies the rules of the package comment. ioErr is a failure of
// the pipeline's own input or output; it comes first in the error because
// it explains the last stage's SIGPIPE.
func decide(ioErr error, outs []outcome) (int, error) {
	code, why := sysexit.OK, ioErr
	if ioErr != nil {
		code = sysexit.TempFail
	}
	for i, o := range outs {
		var bad error
		switch {
		case o.err != nil:
			bad = o.err
		case o.signal == syscall.SIGPIPE && i < len(outs)-1:
			continue // rule 3: the next stage closed the pipe
		case o.signal != 0:
			bad = fmt.Errorf("%s: signal: %v", o.name, o.signal)
		case o.code == sysexit.OK:
			continue
		case o.code == sysexit.TempFail:
			code = sysexit.TempFail // the stage has said why
			continue
		case !known(o.code):
			bad = fmt.Errorf("%s: exit status %d", o.name, o.code)
		default:
			if code == sysexit.OK {
				code = o.code // rule 2; the stage has said why
			}
			continue
		}
		code = sysexit.TempFail
		if why == nil {
			why = fmt.Errorf("stage %d: %w", i+1, bad)
		}
	}
	return code, why
}

// known reports whether a stage's failure status means something to mlm
// (DESIGN.md §5) and may pass through. 1 is a predicate's "no", which no
// stage of a delivery pipeline has reason to say.
func known(code int) bool {
	switch code {
	case sysexit.Usage, sysexit.DataErr, sysexit.NoUser, sysexit.NoPerm:
		return true
	}
	return false
}

// plumbing holds the pipes between the stages and between the stages and
// a caller's reader or writer that is not a file, and the goroutines that
// copy to and from the latter.
//
// Every pipe end a child uses is in child, and the parent closes its copy
// as soon as the stages have started: a stage sees the end of its input
// only when every writer's copy of the write end is closed, the parent's
// included. The parent's own ends belong to the copying goroutines, which
// close them when they finish.
type plumbing struct {
	child  []*os.File
	parent []*os.File // the copying goroutines' ends
	copies sync.WaitGroup
	inErr  error        // reading Stdin; set by its goroutine before Done
	outErr error        // writing Stdout; likewise
	diag   *diagnostics // the copy of the stages' standard error, if Stderr is not a file
}

// diagnostics copies the stages' standard error from a pipe into the
// Stderr that is not a file. Once the stages have ended and all they
// wrote has been copied, it is caught up: Run need not wait for more.
// What a process they left running writes after that, it reads and
// discards until that process lets go of the pipe: Run does not wait
// for that process (mlm-run would wait the whole -t, a record at a
// time), and does not kill it either (a closed pipe would, SIGPIPE).
type diagnostics struct {
	pr       *os.File
	ended    atomic.Bool   // every stage has ended
	caughtUp chan struct{} // closed once caught up, or at the pipe's end
}

// copy is the goroutine's: it copies into w until caught up, or w fails
// (a lost diagnostic must not stop a stage), and discards the rest.
func (d *diagnostics) copy(w io.Writer) {
	defer d.pr.Close()
	caughtUp := false
	defer func() {
		if !caughtUp {
			close(d.caughtUp)
		}
	}()
	buf := make([]byte, 32<<10)
	discard := false
	for {
		n, err := d.pr.Read(buf)
		if n > 0 && !discard {
			if _, werr := w.Write(buf[:n]); werr != nil {
				discard = true
			}
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			d.pr.SetReadDeadline(time.Time{}) // (set once, by end)
		case err != nil:
			return // the end, or the pipe closed by wait
		}
		// The stages have ended: what they wrote is in the pipe, or
		// copied. (Checked here, after the write, by the goroutine that
		// reads: no octet read can be on its way.)
		if !caughtUp && d.ended.Load() && unread(d.pr) == 0 {
			caughtUp, discard = true, true
			close(d.caughtUp)
		}
	}
}

// end tells the copy that every stage has ended, waking a read that
// waits for more.
func (d *diagnostics) end() {
	d.ended.Store(true)
	d.pr.SetReadDeadline(time.Now())
}

// unread returns how many octets wait in the pipe f (FIONREAD), or 1 if
// that cannot be told.
func unread(f *os.File) int {
	n := 1
	if c, err := f.SyscallConn(); err == nil {
		c.Control(func(fd uintptr) {
			if v, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
				n = v
			}
		})
	}
	return n
}

// start connects the stages and starts them from the last to the first:
// a program that passed command's look but cannot be run even so (a
// script without "#!", a missing interpreter, another machine's binary)
// has then started none of the stages before it, which would have done
// their work for nothing, and the stages after it read an empty input.
// It returns the stage that did not start and why, or -1 and nil; the
// stages after that one have started. If the pipes cannot be made, no
// stage starts, and it returns len(cmds). The parent's copies of the
// children's pipe ends are closed in every case.
func (p *plumbing) start(cmds []*exec.Cmd, opts Options) (int, error) {
	defer p.closeChild()
	last := len(cmds) - 1
	in, err := p.in(opts.Stdin)
	if err != nil {
		return len(cmds), err
	}
	out, err := p.out(opts.Stdout, &p.outErr, "writing standard output")
	if err != nil {
		return len(cmds), err
	}
	errw, err := p.out(opts.Stderr, nil, "")
	if err != nil {
		return len(cmds), err
	}
	cmds[0].Stdin = in
	for i, c := range cmds {
		c.Stdout, c.Stderr = out, errw
		if i < last {
			r, w, err := os.Pipe()
			if err != nil {
				return len(cmds), err
			}
			GrowPipe(w)
			p.child = append(p.child, r, w)
			c.Stdout, cmds[i+1].Stdin = w, r
		}
	}
	for i := last; i >= 0; i-- {
		if a := cmds[i].SysProcAttr; a != nil && i < last {
			// The last stage's group, which it keeps, ended or not,
			// until it is waited for, after every start.
			a.Pgid = cmds[last].Process.Pid
		}
		if err := cmds[i].Start(); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// closeChild closes the parent's copies of the children's pipe ends.
func (p *plumbing) closeChild() {
	for _, f := range p.child {
		f.Close()
	}
	p.child = nil
}

// in returns what the first stage reads: r itself if it is a file or nil,
// else the read end of a pipe that a goroutine fills from r.
func (p *plumbing) in(r io.Reader) (io.Reader, error) {
	if _, ok := r.(*os.File); ok || r == nil {
		return r, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.child, p.parent = append(p.child, pr), append(p.parent, pw)
	p.copies.Add(1)
	go func() {
		defer p.copies.Done()
		p.inErr = feed(pw, r)
	}()
	return pr, nil
}

// out returns what stages write for w: w itself if it is a file or nil,
// else the write end of a pipe that a goroutine drains into w. If errp is
// nil, w is the stages' standard error, which diagnostics copies;
// otherwise a failure of w is stored there, prefixed with what, and the
// pipe closed.
func (p *plumbing) out(w io.Writer, errp *error, what string) (io.Writer, error) {
	if _, ok := w.(*os.File); ok || w == nil {
		return w, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.child, p.parent = append(p.child, pw), append(p.parent, pr)
	if errp == nil {
		p.diag = &diagnostics{pr: pr, caughtUp: make(chan struct{})}
		go p.diag.copy(w)
		return pw, nil
	}
	p.copies.Add(1)
	go func() {
		defer p.copies.Done()
		defer pr.Close() // after a failure: the writers' next write is SIGPIPE
		if _, err := io.Copy(w, pr); err != nil {
			if errors.Is(err, os.ErrClosed) { // by wait
				err = errors.New("cut off: a process the stages started held it open past the time limit")
			}
			*errp = fmt.Errorf("%s: %w", what, err)
		}
	}()
	return pw, nil
}

// feed copies r into w, the first stage's standard input, and closes w so
// that the stage sees the end. A failed write means the stage stopped
// reading, which its own status answers for; a failed read is the
// pipeline's failure.
func feed(w *os.File, r io.Reader) error {
	defer w.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
}

// wait waits, once the stages have ended, for the copying goroutines and
// returns the first failure of the pipeline's input or output. Once ctx
// is done, and a moment more for what the kill ended to let go of its
// pipes, it closes their ends, which a process the stages left behind
// may hold open, and waits only for them to stop. Of the stages'
// standard error it waits for what they wrote, not for a process they
// left running that holds it (see diagnostics).
func (p *plumbing) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		p.copies.Wait()
		close(done)
	}()
	var end <-chan struct{}
	if ctx != nil {
		end = ctx.Done()
	}
	cut := func(wait <-chan struct{}) {
		select {
		case <-wait:
		case <-time.After(leftBehind):
			for _, f := range p.parent {
				f.Close()
			}
			<-wait
		}
	}
	select {
	case <-done:
	case <-end:
		cut(done)
	}
	if p.diag != nil {
		p.diag.end()
		select {
		case <-p.diag.caughtUp:
		case <-end:
			cut(p.diag.caughtUp)
		}
	}
	if p.inErr != nil {
		return p.inErr
	}
	return p.outErr
}

// leftBehind is how long wait lets the pipes be, once the Context is
// done: enough for the processes the kill ended to be gone.
const leftBehind = time.Second

// Inherit makes f's descriptor stay open across exec(2), so that every
// program started after it, by Run or by exec, holds it too; Go opens
// files close-on-exec. A lock held on f (flock) then lasts until the
// last of them exits.
func Inherit(f *os.File) error {
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_SETFD, 0); e != 0 {
		return sysexit.Temp(fmt.Errorf("%s: fcntl: %v", f.Name(), e))
	}
	return nil
}

// Disinherit makes every descriptor above 2 close-on-exec, those this
// process inherited too (Inherit's, or mlm-run's Hold: a record's claim,
// a list lock), so that a program it starts from then on has its
// standard input, output and error alone, and what that program leaves
// running holds none of those locks. Descriptors that exec gives a
// program on purpose (exec.Cmd's Stdin, Stdout, Stderr, ExtraFiles) are
// given still. Without /proc, the first 256 are made so.
func Disinherit() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		for fd := 3; fd < 256; fd++ {
			syscall.CloseOnExec(fd)
		}
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// GrowPipe asks for a pipe buffer of pipeSize between two stages (the
// kernel's is 64 KiB): with records of some KiB, a stage that waits on
// the next then wakes for many records at a time, not for a few. A pipe
// that cannot grow (the user's pipe memory spent, an old kernel) stays
// as it is.
func GrowPipe(f *os.File) {
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, pipeSize)
}

// pipeSize is the buffer GrowPipe asks for. Measured on mlm-run's
// personalised delivery (mlm-split -v, mlm-throttle, mlm-sendmail: a
// record of the whole post for each recipient), 256 KiB and 1 MiB both
// took some 7% off the wall time of 64 KiB. The smaller leaves room: a
// user's pipes together may have 64 MiB (pipe-user-pages-soft, root
// exempt) before a pipe may grow no more (EPERM, and it keeps its 64
// KiB) and the kernel gives that user's new pipes two pages each (one
// before Linux 5.14): 256 such pipes and not 64. (mlm-throttle fits its
// runs to a pipe of 256 KiB or more: its fitPipe.)
const pipeSize = 256 << 10
