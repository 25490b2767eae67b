// Package mlmtest holds test helpers shared by mlm's packages and
// programs: testscript commands for exact exit codes and for making test
// files whose bytes a txtar archive cannot hold. It is part of mlm's
// internals, not a public API.
package mlmtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// Cmds are the custom testscript commands:
//
//	exits N cmd args...   run cmd; its exit status must be exactly N
//	crlf file...          rewrite each file's LF line endings as CRLF
//	mkbytes file part...  write the parts to file; see Bytes
//	count N dir           dir holds exactly N entries
//	onefile dir file      dir holds exactly one file; copy it to file
//	grab VAR file regexp  set $VAR to the first group of regexp's first
//	                      match in file
var Cmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"grab":    grab,
	"exits":   exits,
	"crlf":    crlf,
	"mkbytes": mkbytes,
	"count":   count,
	"onefile": onefile,
}

func entries(ts *testscript.TestScript, dir string) []os.DirEntry {
	ents, err := os.ReadDir(ts.MkAbs(dir))
	ts.Check(err)
	return ents
}

func count(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: count N dir")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	ents := entries(ts, args[1])
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if (len(ents) == n) == neg {
		ts.Fatalf("%s holds %d entries %v; want %s%d", args[1], len(ents), names, map[bool]string{true: "not ", false: ""}[neg], n)
	}
}

func grab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: grab VAR file regexp")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	re, err := regexp.Compile(`(?m)` + args[2])
	ts.Check(err)
	m := re.FindSubmatch(b)
	if len(m) < 2 {
		ts.Fatalf("no match for %s in %s", args[2], args[1])
	}
	ts.Setenv(args[0], string(m[1]))
}

func onefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: onefile dir file")
	}
	ents := entries(ts, args[0])
	if len(ents) != 1 {
		ts.Fatalf("%s holds %d entries; want 1", args[0], len(ents))
	}
	b, err := os.ReadFile(ts.MkAbs(args[0] + "/" + ents[0].Name()))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N cmd args...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d; want %d", args[1], got, want)
	}
}

func crlf(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: crlf file...")
	}
	for _, f := range args {
		b, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		ts.Check(os.WriteFile(ts.MkAbs(f), b, 0o644))
	}
}

func mkbytes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: mkbytes file part...")
	}
	b, err := Bytes(args[1:]...)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

var repeat = regexp.MustCompile(`\*([0-9]+)$`)

// Bytes concatenates parts. In a part, \n, \r, \t, \0, \\ and \xHH stand
// for the octet they name, and a final *N repeats the part N times:
// Bytes(`x*65534`, `\n`) is a line of 65,534 x's.
func Bytes(parts ...string) ([]byte, error) {
	var out []byte
	for _, p := range parts {
		n := 1
		if m := repeat.FindStringSubmatch(p); m != nil {
			n, _ = strconv.Atoi(m[1])
			p = p[:len(p)-len(m[0])]
		}
		u, err := unescape(p)
		if err != nil {
			return nil, err
		}
		out = append(out, bytes.Repeat(u, n)...)
	}
	return out, nil
}

func unescape(p string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' {
			b = append(b, p[i])
			continue
		}
		i++
		if i == len(p) {
			return nil, errors.New("mkbytes: trailing backslash")
		}
		switch p[i] {
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case '0':
			b = append(b, 0)
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(p) {
				return nil, errors.New("mkbytes: short \\x escape")
			}
			v, err := strconv.ParseUint(p[i+1:i+3], 16, 8)
			if err != nil {
				return nil, errors.New("mkbytes: bad \\x escape")
			}
			b = append(b, byte(v))
			i += 2
		default:
			return nil, errors.New("mkbytes: unknown escape \\" + string(p[i]))
		}
	}
	return b, nil
}

// Main is a program's TestMain: it lets the test binary act as the
// program, so the program's scripts run it without a build.
func Main(m *testing.M, prog string, main func()) {
	testscript.Main(m, map[string]func(){prog: main})
}

// Run runs the program's scripts, testdata/*.txtar.
func Run(t *testing.T) { testscript.Run(t, ScriptParams("testdata")) }

// ScriptParams returns testscript parameters for the scripts in dir with
// mlm's commands, and with contrib conditions ([exec:perl] and the like
// are built in).
func ScriptParams(dir string) testscript.Params {
	return testscript.Params{Dir: dir, Cmds: Cmds, RequireExplicitExec: true}
}

// Names returns the names in dir, sorted, failing the test if it cannot
// be read.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// LockedBuffer is a bytes.Buffer that one goroutine writes while another
// reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
