package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/mlmtest"
)

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestDecide(t *testing.T) {
	ok := outcome{name: "a"}
	ex := func(c int) outcome { return outcome{name: "p", code: c} }
	sig := func(s syscall.Signal) outcome { return outcome{name: "p", signal: s} }
	tests := []struct {
		name  string
		ioErr error
		outs  []outcome
		code  int
		err   string
	}{
		{"all ok", nil, []outcome{ok, ok, ok}, 0, ""},
		{"first non-zero", nil, []outcome{ok, ex(65), ex(77)}, 65, ""},
		{"first non-zero, other order", nil, []outcome{ex(77), ex(65)}, 77, ""},
		{"64 and 67 pass", nil, []outcome{ex(67), ex(64)}, 67, ""},
		{"75 wins over earlier 65", nil, []outcome{ex(65), ex(75)}, 75, ""},
		{"75 wins over later 65", nil, []outcome{ex(75), ex(65)}, 75, ""},
		{"unknown status is 75", nil, []outcome{ok, ex(1)}, 75, "stage 2: p: exit status 1"},
		{"unknown wins over earlier 65", nil, []outcome{ex(65), ex(2)}, 75, "stage 2: p: exit status 2"},
		{"signal", nil, []outcome{sig(syscall.SIGTERM), ok}, 75, "stage 1: p: signal: terminated"},
		{"signal wins over earlier 65", nil, []outcome{ex(65), sig(syscall.SIGKILL)}, 75, "stage 2: p: signal: killed"},
		{"SIGPIPE upstream of failure", nil, []outcome{sig(syscall.SIGPIPE), ex(65)}, 65, ""},
		{"SIGPIPE upstream of success", nil, []outcome{sig(syscall.SIGPIPE), sig(syscall.SIGPIPE), ok}, 0, ""},
		{"SIGPIPE of the last stage", nil, []outcome{ok, sig(syscall.SIGPIPE)}, 75, "stage 2: p: signal: broken pipe"},
		{"not started", nil, []outcome{ok, {name: "x", err: errors.New("exec: nope")}}, 75, "stage 2: exec: nope"},
		{"first reason wins", nil, []outcome{sig(syscall.SIGHUP), ex(3)}, 75, "stage 1: p: signal: hangup"},
		{"75 from a stage is silent", nil, []outcome{ex(75), ok}, 75, ""},
		{"75 then a signal", nil, []outcome{ex(75), sig(syscall.SIGINT)}, 75, "stage 2: p: signal: interrupt"},
		{"io error first", errors.New("writing standard output: boom"), []outcome{ok, sig(syscall.SIGPIPE)}, 75, "writing standard output: boom"},
		{"io error alone", errors.New("reading standard input: boom"), []outcome{ok}, 75, "reading standard input: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, err := decide(tc.ioErr, tc.outs)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if code != tc.code || msg != tc.err {
				t.Errorf("decide(%v) = %d, %q; want %d, %q", tc.outs, code, msg, tc.code, tc.err)
			}
		})
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		stages [][]string
		in     string
		code   int
		out    string
		err    string // a prefix
	}{
		{"cat", [][]string{{"cat"}}, "hello\n", 0, "hello\n", ""},
		{"three stages", [][]string{{"cat"}, {"tr", "a-z", "A-Z"}, {"cat"}}, "hello\n", 0, "HELLO\n", ""},
		{"empty input", [][]string{{"cat"}, {"cat"}}, "", 0, "", ""},
		{"first non-zero", [][]string{sh("cat; exit 65"), sh("cat; exit 77")}, "x", 65, "x", ""},
		{"75 wins", [][]string{sh("exit 65"), sh("exit 75")}, "", 75, "", ""},
		{"unknown status", [][]string{{"true"}, {"false"}}, "", 75, "", "stage 2: false: exit status 1"},
		{"signal", [][]string{sh("kill -TERM $$"), {"cat"}}, "", 75, "", "stage 1: sh: signal: terminated"},
		{"SIGPIPE upstream ignored", [][]string{{"yes"}, {"head", "-c", "3"}}, "", 0, "y\ny", ""},
		{"SIGPIPE upstream of a failure", [][]string{{"yes"}, sh("head -c 1 >/dev/null; exit 67")}, "", 67, "", ""},
		{"SIGPIPE of the last stage", [][]string{sh("kill -PIPE $$")}, "", 75, "", "stage 1: sh: signal: broken pipe"},
		{"missing program", [][]string{{"cat"}, {"mlm-no-such-program"}}, "", 75, "", `stage 2: exec: "mlm-no-such-program": executable file not found in $PATH`},
		{"missing path", [][]string{{"/nonexistent/prog"}}, "", 75, "", `stage 1: exec: "/nonexistent/prog": stat /nonexistent/prog: no such file or directory`},
		{"no stages", nil, "", 64, "", "no stages"},
		{"empty stage", [][]string{{"cat"}, {}}, "", 64, "", "stage 2 is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := Run(tc.stages, Options{Stdin: strings.NewReader(tc.in), Stdout: &out})
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if code != tc.code || !strings.HasPrefix(msg, tc.err) || (tc.err == "" && err != nil) {
				t.Errorf("Run(%q) = %d, %q; want %d, %q", tc.stages, code, msg, tc.code, tc.err)
			}
			if out.String() != tc.out {
				t.Errorf("Run(%q) wrote %q; want %q", tc.stages, out.String(), tc.out)
			}
		})
	}
}

// TestMissingStartsNothing: a pipeline that cannot be complete starts no
// stage, so a stage with side effects does not run.
func TestMissingStartsNothing(t *testing.T) {
	dir := t.TempDir()
	code, err := Run([][]string{{"touch", "ran"}, {"mlm-no-such-program"}}, Options{Dir: dir})
	if code != 75 || err == nil {
		t.Errorf("Run = %d, %v; want 75 and an error", code, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Errorf("stage 1 ran although stage 2 cannot")
	}
}

// TestUnrunnableStartsNoEarlier: a program that passes the look before
// the start but that the kernel will not run (a script without "#!", one
// whose interpreter is missing) leaves the stages before it unstarted,
// so their effects never happen, and those after it read nothing.
func TestUnrunnableStartsNoEarlier(t *testing.T) {
	for name, script := range map[string]string{
		"no #!":               "echo hi\n",
		"missing interpreter": "#!/nonexistent/interpreter\necho hi\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "script"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			code, err := Run([][]string{{"touch", "ran"}, {"./script"}, sh("wc -c; touch after")},
				Options{Dir: dir, Stdout: &out})
			if code != 75 || err == nil || !strings.HasPrefix(err.Error(), "stage 2: ") {
				t.Errorf("Run = %d, %v; want 75, stage 2: …", code, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
				t.Errorf("stage 1 ran although stage 2 cannot")
			}
			if _, err := os.Stat(filepath.Join(dir, "after")); err != nil || strings.TrimSpace(out.String()) != "0" {
				t.Errorf("stage 3: %v, read %q octets; want it run on an empty input", err, out.String())
			}
		})
	}
}

// TestStartFailure: a program found but not startable (a file the kernel
// cannot execute) is 75, and the stages before it never start.
func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "garbage"), []byte("\x00\x01\x02\x03not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, err := Run([][]string{{"yes"}, {"./garbage"}, {"cat"}}, Options{Dir: dir, Stdout: io.Discard})
	if code != 75 || err == nil || !strings.HasPrefix(err.Error(), "stage 2: ") || !strings.Contains(err.Error(), "exec format error") {
		t.Errorf("Run = %d, %v; want 75, stage 2: … exec format error", code, err)
	}
	if err := os.Chmod(filepath.Join(dir, "garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, err = Run([][]string{{"./garbage"}}, Options{Dir: dir})
	if code != 75 || err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Run of a file without x bit = %d, %v; want 75, permission denied", code, err)
	}
}

func TestDirEnv(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	code, err := Run([][]string{sh(`pwd; echo "$MLM_A $MLM_B"`)}, Options{
		Dir: dir, Env: []string{"MLM_A=1", "MLM_B=2", "MLM_B=3"}, Stdout: &out,
	})
	want := dir + "\n1 3\n"
	if code != 0 || err != nil || out.String() != want {
		t.Errorf("Run = %d, %v, %q; want 0, nil, %q", code, err, out.String(), want)
	}
}

// TestHold: every stage, the last as the first, has Hold as its
// descriptor 3, and the caller's descriptor stays close-on-exec, so that
// no program the caller starts meanwhile has it.
func TestHold(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	code, err := Run([][]string{sh(`readlink /proc/self/fd/3`), sh(`cat; readlink /proc/self/fd/3`)}, Options{Stdout: &out, Hold: f})
	if want := f.Name() + "\n" + f.Name() + "\n"; code != 0 || err != nil || out.String() != want {
		t.Errorf("Run = %d, %v, %q; want 0, nil, %q", code, err, out.String(), want)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("the caller's descriptor: flags %#x, %v; want close-on-exec", flags, err)
	}
}

// TestStderr: every stage writes the one Stderr; with a buffer, the
// stages' writes go through one pipe (the race detector would see two
// goroutines writing it).
func TestStderr(t *testing.T) {
	var out, errb bytes.Buffer
	code, err := Run([][]string{sh("echo one >&2; echo data"), sh("cat; echo two >&2; exit 65")}, Options{Stdout: &out, Stderr: &errb})
	if code != 65 || err != nil || out.String() != "data\n" {
		t.Errorf("Run = %d, %v, %q; want 65, nil, data", code, err, out.String())
	}
	if s := errb.String(); !strings.Contains(s, "one\n") || !strings.Contains(s, "two\n") || len(s) != 8 {
		t.Errorf("stderr = %q; want one and two", s)
	}
}

// TestStderrFails: a failing Stderr loses the diagnostics, not the mail.
func TestStderrFails(t *testing.T) {
	var out bytes.Buffer
	code, err := Run([][]string{sh("for i in 1 2 3 4 5; do echo noise >&2; done; cat")}, Options{
		Stdin: strings.NewReader("x"), Stdout: &out, Stderr: failWriter{},
	})
	if code != 0 || err != nil || out.String() != "x" {
		t.Errorf("Run = %d, %v, %q; want 0, nil, x", code, err, out.String())
	}
}

// TestStdoutFails: when Stdout fails the last stage is stopped and the
// pipeline is 75 with the write error.
func TestStdoutFails(t *testing.T) {
	code, err := Run([][]string{{"yes"}, {"cat"}}, Options{Stdout: failWriter{}})
	if code != 75 || err == nil || err.Error() != "writing standard output: write failed" {
		t.Errorf("Run = %d, %v; want 75, writing standard output: write failed", code, err)
	}
}

// TestStdinFails: a failing Stdin is 75 even though the stages, seeing an
// end of input, succeed.
func TestStdinFails(t *testing.T) {
	var out bytes.Buffer
	in := io.MultiReader(strings.NewReader("part"), iotest.ErrReader(errors.New("disk on fire")))
	code, err := Run([][]string{{"cat"}}, Options{Stdin: in, Stdout: &out})
	if code != 75 || err == nil || err.Error() != "reading standard input: disk on fire" {
		t.Errorf("Run = %d, %v; want 75, reading standard input: disk on fire", code, err)
	}
	if out.String() != "part" {
		t.Errorf("stdout = %q; want part", out.String())
	}
}

// TestStdinNotRead: a first stage that does not read its input is not a
// failure, and a long Stdin does not hold Run up.
func TestStdinNotRead(t *testing.T) {
	in := io.LimitReader(zeros{}, 1<<30)
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		code, err = Run([][]string{{"true"}}, Options{Stdin: in})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run still copying standard input")
	}
	if code != 0 || err != nil {
		t.Errorf("Run = %d, %v; want 0, nil", code, err)
	}
}

// TestFiles: files are handed to the stages as they are.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte("a\x00b\r\nc"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer fi.Close()
	fo, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	code, err := Run([][]string{{"cat"}, {"cat"}}, Options{Stdin: fi, Stdout: fo, Stderr: os.Stderr})
	if code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if b, _ := os.ReadFile(out); string(b) != "a\x00b\r\nc" {
		t.Errorf("out = %q", b)
	}
}

// TestLarge: 100 MB pass through two stages byte for byte.
func TestLarge(t *testing.T) {
	const size = 100 << 20
	src := io.LimitReader(&pattern{}, size)
	want := sha256.New()
	if _, err := io.Copy(want, io.LimitReader(&pattern{}, size)); err != nil {
		t.Fatal(err)
	}
	got := &counter{h: sha256.New()}
	code, err := Run([][]string{{"cat"}, {"cat"}}, Options{Stdin: src, Stdout: got})
	if code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if got.n != size || !bytes.Equal(got.h.Sum(nil), want.Sum(nil)) {
		t.Errorf("passed %d octets, sha256 %x; want %d, %x", got.n, got.h.Sum(nil), size, want.Sum(nil))
	}
}

// TestNoLeaks: Run leaves no file descriptor and no goroutine behind,
// whatever way the pipeline ends.
func TestNoLeaks(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "garbage"), []byte("\x00\x01\x02\x03"), 0o755); err != nil {
		t.Fatal(err)
	}
	pipelines := []struct {
		stages [][]string
		opts   Options
	}{
		{[][]string{{"cat"}, {"cat"}, {"cat"}}, Options{Stdin: strings.NewReader("x"), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}},
		{[][]string{{"cat"}, {"cat"}}, Options{Stdin: os.Stdin, Stdout: io.Discard}},
		{[][]string{{"cat"}}, Options{}},
		{[][]string{{"yes"}, {"head", "-c", "1"}}, Options{Stdout: &bytes.Buffer{}}},
		{[][]string{{"yes"}, {"cat"}}, Options{Stdout: failWriter{}}},
		{[][]string{sh("kill -TERM $$"), {"cat"}}, Options{Stdin: strings.NewReader("x")}},
		{[][]string{{"cat"}, {"mlm-no-such-program"}}, Options{Stdin: strings.NewReader("x"), Stderr: &bytes.Buffer{}}},
		{[][]string{{"yes"}, {"./garbage"}, {"cat"}}, Options{Dir: dir, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}},
		{[][]string{{"true"}}, Options{Stdin: io.LimitReader(zeros{}, 1<<24)}},
	}
	// One run first: the runtime and os/exec open some descriptors once.
	if _, err := Run(pipelines[0].stages, pipelines[0].opts); err != nil {
		t.Fatal(err)
	}
	gs := runtime.NumGoroutine()
	// No collection meanwhile: it would close a leaked *os.File that
	// nothing holds (its cleanup) while the check waits, and hide it.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for i, p := range pipelines {
		fds := mlmtest.OpenFDs(t)
		Run(p.stages, p.opts)
		// The copy of the stages' stderr reads on, discarding, to the
		// pipe's end, which may come just after Run has returned; then
		// it closes the pipe.
		var left []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if left = mlmtest.NewFDs(fds, mlmtest.OpenFDs(t)); len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("pipeline %d: open after Run, not before: %v", i, left)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > gs && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > gs {
		t.Errorf("%d goroutines after the runs; %d before", n, gs)
	}
}

// TestLeakCheckFails proves the check sees a leaked descriptor, and one
// closed meanwhile does not hide it.
func TestLeakCheckFails(t *testing.T) {
	r0, w0, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	before := mlmtest.OpenFDs(t)
	w0.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	left := mlmtest.NewFDs(before, mlmtest.OpenFDs(t))
	if len(left) != 2 {
		t.Errorf("open after os.Pipe, not before: %v; want its two ends", left)
	}
	r0.Close()
	if left := mlmtest.NewFDs(before, mlmtest.OpenFDs(t)); len(left) != 2 {
		t.Errorf("after a close, open and not before: %v; want the pipe's two ends", left)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("write failed") }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// pattern is an endless stream in which every octet value occurs and no
// short period repeats, so a lost, doubled or moved block shows.
type pattern struct{ n uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		x := p.n * 0x9e3779b97f4a7c15
		b[i] = byte(x >> 56)
		p.n++
	}
	return len(b), nil
}

type counter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *counter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}

func ExampleRun() {
	code, err := Run([][]string{{"echo", "hello"}, {"tr", "a-z", "A-Z"}}, Options{Stdout: os.Stdout})
	fmt.Println(code, err)
	// Output:
	// HELLO
	// 0 <nil>
}

func ExampleParse() {
	stages, err := Parse("# screen, then mark\nmlm-auth /srv/lists/dev\nmlm-hdr -a X-Mailing-List:dev\n")
	fmt.Printf("%q %v\n", stages, err)
	// Output:
	// [["mlm-auth" "/srv/lists/dev"] ["mlm-hdr" "-a" "X-Mailing-List:dev"]] <nil>
}

func ExampleSplit() {
	stages, err := Split([]string{"mlm-accept", "/srv/lists/dev", "--", "mlm-check"})
	fmt.Printf("%q %v\n", stages, err)
	// Output:
	// [["mlm-accept" "/srv/lists/dev"] ["mlm-check"]] <nil>
}

// TestContextLeftBehind: once the Context is done, a stage still
// running is killed with what it started, and Run no longer waits for a
// pipe that a process left behind holds open: a stage that ended in time
// keeps its status (its diagnostics' pipe let go), a lost standard output
// is a failure.
func TestContextLeftBehind(t *testing.T) {
	dir, pid := pidDir(t)
	run := func(script string) (int, string, error) {
		t.Helper()
		os.Remove(pid)
		// Time for the shell to end its script however loaded the
		// machine (at 300 ms it once did not, and was killed): Run
		// then waits for the pipe held until this ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		start := time.Now()
		code, err := Run([][]string{sh(script)}, Options{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("Run took %v: it waited for the process left behind", d)
		}
		return code, out.String(), err
	}
	// Ended in time, its stderr held by what it left behind: done.
	if code, out, err := run("echo data; sleep 30 >/dev/null & echo $! >pid; exit 0"); code != 0 || err != nil || out != "data\n" {
		t.Errorf("stderr held: Run = %d, %v, %q; want 0, nil, data", code, err, out)
	}
	// Its stdout held: what the process might still write is lost.
	code, _, err := run("echo data; sleep 30 2>/dev/null & echo $! >pid; exit 0")
	if code != 75 || err == nil || !strings.Contains(err.Error(), "writing standard output: cut off") {
		t.Errorf("stdout held: Run = %d, %v; want 75, writing standard output: cut off", code, err)
	}
	// Still running: killed, and the process it started too.
	code, _, err = run("sleep 30 >/dev/null 2>&1 & echo $! >pid; wait")
	if code != 75 || err == nil || !strings.Contains(err.Error(), "signal: killed") {
		t.Errorf("hung: Run = %d, %v; want 75, signal: killed", code, err)
	}
	waitKilled(t, pid, "the process the hung stage started")
}

// TestStderrLeftBehind: stages that have all ended, one of them leaving
// a process that holds their standard error, are done once what they
// wrote is copied, with their status and output, not when that process
// ends: with a Context, mlm-run's -t, Run waited until it was done, and
// a queue runner took an hour for each record. (From a review.)
func TestStderrLeftBehind(t *testing.T) {
	dir, pid := pidDir(t)
	for _, ctx := range []context.Context{nil, t.Context()} {
		os.Remove(pid)
		var out, errb bytes.Buffer
		start := time.Now()
		code, err := Run([][]string{sh("echo data; echo said >&2; sleep 120 >/dev/null & echo $! >pid; exit 0"), {"cat"}},
			Options{Dir: dir, Stdout: &out, Stderr: &errb, Context: ctx})
		if d := time.Since(start); d > 60*time.Second {
			t.Errorf("Run took %v: it waited for the process left behind", d)
		}
		if code != 0 || err != nil || out.String() != "data\n" || errb.String() != "said\n" {
			t.Errorf("Run = %d, %v, %q, stderr %q; want 0, nil, data, said", code, err, out.String(), errb.String())
		}
		if b, err := os.ReadFile(pid); err == nil {
			var p int
			fmt.Sscan(string(b), &p)
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// slowWriter stalls its first write, as a standard error whose reader
// is busy (journald, a terminal, a loaded machine).
type slowWriter struct {
	mu    sync.Mutex
	b     bytes.Buffer
	first bool
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.first {
		w.first = true
		time.Sleep(1500 * time.Millisecond)
	}
	return w.b.Write(p)
}

// TestStderrSlowKept: all the stages wrote on standard error reaches
// Stderr, however slowly it takes it, the last line too (mlm-run gives
// it as the record's reason): a cut a moment after the stages ended lost
// what was still in the pipe. (From a review of the first version of
// TestStderrLeftBehind's mend.)
func TestStderrSlowKept(t *testing.T) {
	w := &slowWriter{}
	code, err := Run([][]string{sh(`i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done; echo "the reason" >&2; exit 75`)}, Options{Stderr: w})
	got := w.b.String()
	if code != 75 || err != nil || strings.Count(got, "\n") != 2001 || !strings.HasSuffix(got, "line 1999\nthe reason\n") {
		t.Errorf("Run = %d, %v; stderr has %d lines, ends %q; want 75, nil, 2001 lines ending with the reason",
			code, err, strings.Count(got, "\n"), got[max(0, len(got)-40):])
	}
}

// TestStderrLeftBehindLives: a process the stages left running that
// writes on their standard error after Run has returned is not killed
// for it (SIGPIPE, had the pipe been closed): it does its work, and what
// it writes goes nowhere. (From a review.)
func TestStderrLeftBehindLives(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	code, err := Run([][]string{sh(`(sleep 1; echo late >&2; touch done) </dev/null >/dev/null & exit 0`)}, Options{Dir: dir, Stderr: &errb})
	if code != 0 || err != nil {
		t.Fatalf("Run = %d, %v", code, err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
			break
		}
		if i == 3000 {
			t.Fatalf("the process left behind did not do its work after its line on standard error (killed by SIGPIPE?)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr %q; want nothing: the line came after Run had returned", errb.String())
	}
}

// TestContextKillsLeftBehind: once the Context is done while a stage
// still runs, what a stage that ended in time left running goes too: the
// stages of a pipeline run in one process group, which the kill takes
// whole, as mlm-run(1) says of -t (the stages of a record, with every
// process they started). Such a process holds what the stages hold, a
// queue's record and its lock among them, which it kept past the time
// limit, until it ended: a stage each in its own group, only the group
// of the stage still running was killed.
func TestContextKillsLeftBehind(t *testing.T) {
	dir, pid := pidDir(t)
	// (Time for the first stage to end however loaded the machine; one
	// still running at the end is killed with what it started anyway.)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	code, err := Run([][]string{
		sh("sleep 30 </dev/null >/dev/null 2>&1 & echo $! >pid; exit 0"),
		{"sleep", "30"},
	}, Options{Dir: dir, Context: ctx})
	if code != 75 || err == nil || !strings.Contains(err.Error(), "stage 2: sleep: signal: killed") {
		t.Errorf("Run = %d, %v; want 75, stage 2 killed", code, err)
	}
	waitKilled(t, pid, "the process the first stage left running")
}

// TestContextGrace: with a Grace, a done Context sends the group
// SIGTERM first: a stage that stops cleanly on it ends with its own
// status (mlm-sendmail ends the transactions it began, and exits 75);
// one that does not end is killed once the grace has passed; and what a
// stage left running is killed as Run returns, even before the grace
// has passed. Without one, SIGKILL came at once, and cut mlm-sendmail
// between a final dot and its reply, so that the re-run sent those
// recipients the message again (R72).
func TestContextGrace(t *testing.T) {
	for _, c := range []struct {
		name, script string
		grace        time.Duration
		code         int
		err          string // in Run's error; "" for none
		left         bool   // the stage leaves a process behind (pid)
	}{
		{"stops cleanly", `trap 'echo stopping >&2; exit 75' TERM; touch ready; sleep 30 & wait`, time.Minute, 75, "", false},
		{"ignores it", `trap '' TERM; touch ready; sleep 30`, 200 * time.Millisecond, 75, "signal: killed", false},
		{"leaves one behind", `(trap '' TERM; exec sleep 30) </dev/null >/dev/null 2>&1 & echo $! >pid; trap 'exit 75' TERM; touch ready; sleep 30 & wait`, time.Minute, 75, "", true},
		{"no grace", `trap 'exit 75' TERM; touch ready; sleep 30 & wait`, 0, 75, "signal: killed", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, pid := pidDir(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				// Cancelled once the stage has its trap, not before.
				for {
					if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
						cancel()
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			var errb bytes.Buffer
			start := time.Now()
			code, err := Run([][]string{sh(c.script)}, Options{Dir: dir, Stderr: &errb, Context: ctx, Grace: c.grace})
			if code != c.code || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Errorf("Run = %d, %v; want %d, %q", code, err, c.code, c.err)
			}
			if c.grace == time.Minute && time.Since(start) > 30*time.Second {
				t.Errorf("Run took %v: it waited out the grace", time.Since(start))
			}
			// (sh may say "Terminated" of its sleep first.)
			if c.name == "stops cleanly" && !strings.HasSuffix(errb.String(), "stopping\n") {
				t.Errorf("stderr %q; want the stage's own line", errb.String())
			}
			if c.left {
				waitKilled(t, pid, "the process the stage left running")
			}
		})
	}
}

// pidDir is a directory for a test's stages and the name of the file
// in it where a stage writes the pid of a process it leaves behind,
// which is killed when the test ends, whatever a failed run left.
func pidDir(t *testing.T) (dir, pid string) {
	t.Helper()
	dir = t.TempDir()
	pid = filepath.Join(dir, "pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pid); err == nil {
			var p int
			fmt.Sscan(string(b), &p)
			if p > 0 {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	return dir, pid
}

// waitKilled waits up to 10 s for the process whose pid the file pid
// holds to be gone, or a zombie, and fails the test if it is not: what
// says that process.
func waitKilled(t *testing.T, pid, what string) {
	t.Helper()
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
		if f := strings.Fields(string(st)); err != nil || len(f) > 2 && f[2] == "Z" {
			return // gone, or a zombie: dead
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still runs: %s", what, st)
		}
	}
}

// TestContextQuickLeader: the stages of a pipeline with a Context join
// the process group of the last, started first, even when it has ended
// before the others start: each runs, and the status is theirs.
func TestContextQuickLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 20 {
		var out bytes.Buffer
		code, err := Run([][]string{sh("echo a; exit 0"), sh("exec true")}, Options{Stdout: &out, Context: ctx})
		if code != 0 || err != nil {
			t.Fatalf("Run = %d, %v; want 0", code, err)
		}
		code, err = Run([][]string{sh("echo a; exit 0"), sh("exit 65")}, Options{Stdout: &out, Context: ctx})
		if code != 65 || err != nil {
			t.Fatalf("Run = %d, %v; want 65", code, err)
		}
	}
}

// TestPipesFail: pipes that cannot be made (no descriptors left) start
// no stage, and the failure is the pipeline's, not a stage's.
func TestPipesFail(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	lim := old
	lim.Cur = uint64(len(ents)) // ReadDir's own descriptor is closed again: one free
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	code, err := Run([][]string{{"touch", "a"}, {"touch", "b"}, {"touch", "c"}}, Options{Dir: dir, Stdin: strings.NewReader("x")})
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if code != 75 || err == nil || !strings.HasPrefix(err.Error(), "making the pipes: ") {
		t.Errorf("Run = %d, %v; want 75, making the pipes: …", code, err)
	}
	for _, f := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("stage %s ran", f)
		}
	}
}

// TestPipesGrown: the pipe between two stages holds pipeSize octets:
// stage 1 writes 200,000 octets and is done before stage 2 reads any
// (with the kernel's 64 KiB it would wait for stage 2, which waits up to
// 10 s for it, and then says nothing).
func TestPipesGrown(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	GrowPipe(w)
	n, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil || n != pipeSize {
		t.Errorf("pipe size %d, %v; want %d", n, err, pipeSize)
	}
	dir := t.TempDir()
	var out bytes.Buffer
	code, err := Run([][]string{
		sh("head -c 200000 /dev/zero; touch written"),
		sh("i=0; while [ ! -e written ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e written ] && echo written first; wc -c"),
	}, Options{Dir: dir, Stdout: &out})
	if code != 0 || err != nil || out.String() != "written first\n200000\n" {
		t.Errorf("Run = %d, %v, %q; want stage 1 done before stage 2 read, and 200000 octets", code, err, out.String())
	}
}
