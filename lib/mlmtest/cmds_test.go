package mlmtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptT is the testscript.T a script runs under when its failure is
// the point: it keeps the log, and FailNow ends the script, not the test.
type scriptT struct {
	log    strings.Builder
	failed bool
}

var errScriptFailed = errors.New("script failed")

func (s *scriptT) Skip(a ...any)  { s.Log(a...); panic(errScriptFailed) }
func (s *scriptT) Fatal(a ...any) { s.Log(a...); s.FailNow() }
func (s *scriptT) Parallel()      {}
func (s *scriptT) Log(a ...any)   { fmt.Fprintln(&s.log, a...) }
func (s *scriptT) FailNow()       { s.failed = true; panic(errScriptFailed) }
func (s *scriptT) Verbose() bool  { return false }
func (s *scriptT) Run(_ string, f func(testscript.T)) {
	defer func() {
		if r := recover(); r != nil && r != errScriptFailed {
			panic(r)
		}
	}()
	f(s)
}

// script runs the txtar text with mlm's commands and returns whether it
// failed, and its log.
func script(t *testing.T, text string) (bool, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "s.txtar")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var s scriptT
	func() {
		defer func() {
			if r := recover(); r != nil && r != errScriptFailed {
				panic(r)
			}
		}()
		testscript.RunT(&s, testscript.Params{Files: []string{file}, Cmds: Cmds, RequireExplicitExec: true, WorkdirRoot: t.TempDir()})
	}()
	return s.failed, s.log.String()
}

// TestCmds runs each command as a script uses it: what it must take.
func TestCmds(t *testing.T) {
	const text = `exits 0 sh -c 'exit 0'
exits 75 sh -c 'exit 75'
count 2 d
! count 1 d
! count 3 d
grab ID d/a '^id=(\w+)$'
cmpenv want-id got-id
onefile e f
cmp f e/only
crlf c
mkbytes c-want 'one\r\ntwo\r\n'
cmp c c-want
-- d/a --
id=abc123
-- d/b --
-- want-id --
abc123
-- got-id --
$ID
-- e/only --
the one file
-- c --
one
two
`
	if failed, log := script(t, text); failed {
		t.Errorf("script failed:\n%s", log)
	}
}

// TestCmdsRefuse runs scripts each of whose last command must fail the
// script: a command that passed them would pass every script that uses
// it, whatever the programs did.
func TestCmdsRefuse(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"exits another failure", "exits 65 sh -c 'exit 75'\n", "sh exited 75; want 65"},
		{"exits a failure for 0", "exits 0 sh -c 'exit 75'\n", "sh exited 75; want 0"},
		{"exits 0 for a failure", "exits 75 sh -c 'exit 0'\n", "sh exited 0; want 75"},
		{"exits negated", "! exits 65 sh -c 'exit 75'\n", "usage: exits"},
		{"exits of a missing program", "exits 0 mlm-no-such-program\n", "exits: exec: \"mlm-no-such-program\""},
		{"count more", "count 1 d\n-- d/a --\n-- d/b --\n", "d holds 2 entries [a b]; want 1"},
		{"count fewer", "count 3 d\n-- d/a --\n-- d/b --\n", "d holds 2 entries [a b]; want 3"},
		{"count negated", "! count 2 d\n-- d/a --\n-- d/b --\n", "d holds 2 entries [a b]; want not 2"},
		{"grab no match", "grab ID f '^id=(\\w+)$'\n-- f --\nno id\n", "no match for ^id=(\\w+)$ in f"},
		{"onefile of two", "onefile d f\n-- d/a --\n-- d/b --\n", "d holds 2 entries; want 1"},
		{"onefile of none", "mkdir d\nonefile d f\n", "d holds 0 entries; want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed, log := script(t, tc.script)
			if !failed || !strings.Contains(log, tc.want) {
				t.Errorf("script %q: failed %v, log:\n%s\nwant it failed with %q", tc.script, failed, log, tc.want)
			}
		})
	}
}
