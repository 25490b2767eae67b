package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/sysexit"
)

type testArgs struct {
	From string   `short:"f" help:"Sender."`
	Rcpt []string `short:"r" sep:"none" help:"Recipient."`
}

func TestMain_(t *testing.T) {
	tests := []struct {
		name       string
		argv       []string
		run        func() error
		code       int
		out, errRe string
	}{
		{"ok", []string{"-f", "a"}, func() error { return nil }, 0, "", ""},
		{"usage", []string{"--bogus"}, nil, 64, "", "prog: unknown flag --bogus\nusage: prog"},
		{"help", []string{"--help"}, nil, 0, "Usage: prog", ""},
		{"version", []string{"-V"}, nil, 0, "prog ", ""},
		{"unclassified", nil, func() error { return errors.New("boom") }, 75, "", "prog: boom\n"},
		{"classified", nil, func() error { return sysexit.Errorf(65, "bad") }, 65, "", "prog: bad\n"},
		{"no", nil, func() error { return sysexit.ErrNo }, 1, "", ""},
		{"panic", nil, func() error { panic("oops") }, 75, "", "prog: internal error: oops\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a testArgs
			var out, errb bytes.Buffer
			code := main("prog", "test", &a, tc.argv, &out, &errb, tc.run)
			if code != tc.code {
				t.Errorf("code = %d; want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.HasPrefix(out.String(), tc.out) || (tc.out == "" && out.Len() > 0) {
				t.Errorf("stdout = %q; want prefix %q", out.String(), tc.out)
			}
			if !strings.HasPrefix(errb.String(), tc.errRe) || (tc.errRe == "" && errb.Len() > 0) {
				t.Errorf("stderr = %q; want prefix %q", errb.String(), tc.errRe)
			}
		})
	}
}

func TestCommaSafe(t *testing.T) {
	var a testArgs
	code := main("prog", "", &a, []string{"-r", "a@b, c@d"}, &bytes.Buffer{}, &bytes.Buffer{}, func() error { return nil })
	if code != 0 || len(a.Rcpt) != 1 {
		t.Errorf("Rcpt = %q (code %d); want one value", a.Rcpt, code)
	}
}

func TestMTA(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		run  func() error
		code int
		err  string
	}{
		{nil, func() error { panic("oops") }, 75, "4.3.0 prog: internal error: oops\n"},
		{[]string{"--bogus"}, nil, 64, "5.3.5 prog: unknown flag --bogus; usage: prog [-f STRING] [-r RCPT]\n"},
		{nil, func() error { return errors.New("x") }, 75, "4.3.0 prog: x\n"},
	} {
		var a testArgs
		var errb bytes.Buffer
		code := main("prog", "", &a, tc.argv, &bytes.Buffer{}, &errb, tc.run, MTA)
		if code != tc.code || errb.String() != tc.err {
			t.Errorf("MTA %v: %d, %q; want %d, %q", tc.argv, code, errb.String(), tc.code, tc.err)
		}
	}
}

// TestRawArgs: the octets of string arguments come through as given,
// those that are not UTF-8 too: flags, repeated flags, positional and
// passthrough arguments.
func TestRawArgs(t *testing.T) {
	var a struct {
		From string   `short:"f"`
		Rcpt []string `short:"r" sep:"none"`
		Dir  string   `arg:""`
		Cmd  []string `arg:"" optional:"" passthrough:""`
	}
	argv := []string{"-f", "caf\xe9@x", "-r", "\xff", "-r", "ok", "d\xc3", "--", "p\x80", "-x\xfe"}
	var errb bytes.Buffer
	if code := main("prog", "", &a, argv, &bytes.Buffer{}, &errb, func() error { return nil }); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if a.From != "caf\xe9@x" || len(a.Rcpt) != 2 || a.Rcpt[0] != "\xff" || a.Rcpt[1] != "ok" || a.Dir != "d\xc3" ||
		strings.Join(a.Cmd, " ") != "-- p\x80 -x\xfe" && strings.Join(a.Cmd, " ") != "p\x80 -x\xfe" {
		t.Errorf("got %q %q %q %q", a.From, a.Rcpt, a.Dir, a.Cmd)
	}
}

func TestCheckOutput(t *testing.T) {
	open := func(name string, flag int) *os.File {
		t.Helper()
		f, err := os.OpenFile(name, flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	file := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		name   string
		f      *os.File
		closed bool
	}{
		// As the runtime opens it in place of a closed descriptor.
		{"/dev/null read-write", open(os.DevNull, os.O_RDWR), true},
		// As a shell's >/dev/null and os/exec's nil Stdout open it.
		{"/dev/null write-only", open(os.DevNull, os.O_WRONLY), false},
		{"pipe", pw, false},
		{"file read-write", open(file, os.O_RDWR|os.O_CREATE), false},
		{"/dev/zero read-write", open("/dev/zero", os.O_RDWR), false},
	} {
		err := checkOutput(tc.f)
		if got := err != nil; got != tc.closed || err != nil && !errors.Is(err, ErrStdoutClosed) {
			t.Errorf("%s: checkOutput = %v; want closed %v", tc.name, err, tc.closed)
		}
	}
}

// TestCheckStdoutClosed runs a program started with its standard output
// closed: the runtime gives it /dev/null, which CheckStdout refuses with
// 75, and a program started with >/dev/null, which it takes.
func TestCheckStdoutClosed(t *testing.T) {
	if os.Getenv("MLM_CLI_CHECKSTDOUT") == "1" {
		err := CheckStdout()
		fmt.Fprintf(os.Stderr, "code %d: %v\n", sysexit.Code(err), err)
		os.Exit(0)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for redir, want := range map[string]string{
		">&-":        "code 75: " + ErrStdoutClosed.Error() + "\n",
		">/dev/null": "code 0: <nil>\n",
	} {
		cmd := exec.Command("sh", "-c", `exec "$0" -test.run='^TestCheckStdoutClosed$' `+redir, exe)
		cmd.Env = append(os.Environ(), "MLM_CLI_CHECKSTDOUT=1")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v (%s)", redir, err, errb.String())
		}
		if errb.String() != want {
			t.Errorf("%s: %q; want %q", redir, errb.String(), want)
		}
	}
}

// OneCPU runs the program's Go code on one CPU, unless the environment
// names a positive number, which the runtime has taken as it started.
func TestOneCPU(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(was)
	for _, c := range []struct {
		env  string
		opts []Option
		want int // 0: as it was
	}{
		{"", []Option{OneCPU}, 1},
		{"", []Option{MTA, OneCPU}, 1},
		{"0", []Option{OneCPU}, 1},
		{"-2", []Option{OneCPU}, 1},
		{"many", []Option{OneCPU}, 1},
		{"9999999999", []Option{OneCPU}, 1}, // the runtime ignores it
		{"2147483648", []Option{OneCPU}, 1},
		{"3", []Option{OneCPU}, 0},
		{"", nil, 0},
		{"", []Option{MTA}, 0},
	} {
		runtime.GOMAXPROCS(2)
		t.Setenv("GOMAXPROCS", c.env)
		got := -1
		var a testArgs
		var out, errb bytes.Buffer
		code := main("prog", "desc", &a, nil, &out, &errb, func() error { got = runtime.GOMAXPROCS(0); return nil }, c.opts...)
		want := c.want
		if want == 0 {
			want = 2
		}
		if code != 0 || got != want {
			t.Errorf("GOMAXPROCS=%q, options %v: exit %d, %d CPUs for Go code, want %d (%s)", c.env, c.opts, code, got, want, errb.String())
		}
	}
}

// TestStagesEnv: the stages mlm-run starts get GOMAXPROCS=1 unless its
// own environment gives a number the runtime takes, which they inherit;
// an empty, zero, negative or unparsed one is replaced, as OneCPU
// replaces it for the program itself.
func TestStagesEnv(t *testing.T) {
	for env, want := range map[string]string{
		"": "GOMAXPROCS=1", "0": "GOMAXPROCS=1", "-2": "GOMAXPROCS=1", "many": "GOMAXPROCS=1",
		"2147483648": "GOMAXPROCS=1", "1": "", "3": "",
	} {
		t.Setenv("GOMAXPROCS", env)
		if got := strings.Join(StagesEnv(), " "); got != want {
			t.Errorf("GOMAXPROCS=%q: stages get %q, want %q", env, got, want)
		}
	}
	os.Unsetenv("GOMAXPROCS") // (t.Setenv puts back what was)
	if got := strings.Join(StagesEnv(), " "); got != "GOMAXPROCS=1" {
		t.Errorf("GOMAXPROCS unset: stages get %q, want GOMAXPROCS=1", got)
	}
}

// FuzzArgs: whatever the command line gives, a string argument is its
// octets as given, a flag's and a positional one's, and a number is
// taken only as a decimal one a person writes (an integer of digits and
// a sign, a number with a point and an exponent), within its type's
// range, and read as such: not octal for a leading 0, not hexadecimal,
// no "_", no Inf. Anything else is a usage error, 64, said in two
// lines on standard error, nothing on standard output.
func FuzzArgs(f *testing.F) {
	f.Add("caf\xe9@x", "10", "1.5", "d\xc3")
	f.Add("-x", "010", "1e3", "-")
	f.Add("${x}", "0x10", ".5", "--")
	f.Add("a,b", "1_0", "0x1p4", "")
	f.Add("", "-9223372036854775808", "Inf", "p")
	f.Add("x", "+9223372036854775808", "1e400", "p")
	f.Fuzz(func(t *testing.T, s, n, fl, pos string) {
		var a struct {
			S   string  `short:"s"`
			N   int     `short:"n"`
			F   float64 `short:"f"`
			Pos string  `arg:"" optional:""`
		}
		var out, errb bytes.Buffer
		code := main("prog", "", &a, []string{"--s=" + s, "--n=" + n, "--f=" + fl, "--", pos}, &out, &errb, func() error { return nil })
		wn, nerr := strconv.ParseInt(n, 10, 64)
		wf, ferr := strconv.ParseFloat(fl, 64)
		ok := regexp.MustCompile(`^[+-]?[0-9]+$`).MatchString(n) && nerr == nil &&
			regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`).MatchString(fl) && ferr == nil
		if out.Len() > 0 {
			t.Errorf("standard output %q", out.String())
		}
		if !ok {
			if code != sysexit.Usage || !regexp.MustCompile(`^prog: [^\n]*\nusage: prog[^\n]*\n$`).MatchString(errb.String()) {
				t.Errorf("-n %q -f %q: code %d, stderr %q; want 64, two lines", n, fl, code, errb.String())
			}
			return
		}
		if code != 0 || errb.Len() > 0 {
			t.Fatalf("-s %q -n %q -f %q %q: code %d, stderr %q; want 0", s, n, fl, pos, code, errb.String())
		}
		if a.S != s || a.Pos != pos || int64(a.N) != wn || a.F != wf {
			t.Errorf("-s %q -n %q -f %q %q: got %q %d %v %q", s, n, fl, pos, a.S, a.N, a.F, a.Pos)
		}
	})
}
