package crash

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes the test binary, run again as a child, play the
// program: TestHelper passes the points it is told and prints each pass.
const helperEnv = "MLM_CRASH_TEST_HELPER"

// TestHelper is the child: for each "NAME" word in its helper variable,
// it passes the point NAME and prints "NAME" and the pass so far.
func TestHelper(t *testing.T) {
	steps := os.Getenv(helperEnv)
	if steps == "" {
		t.Skip("only run as a child of TestPoint")
	}
	seen := map[string]int{}
	for _, name := range strings.Fields(steps) {
		Point(name)
		seen[name]++
		fmt.Printf("%s%d ", name, seen[name])
	}
}

// TestPoint runs the helper with MLM_CRASH set and checks it dies by
// SIGKILL exactly at the pass named, having passed everything before.
func TestPoint(t *testing.T) {
	for _, tc := range []struct {
		crash, steps string
		killed       bool
		out          string // what the helper printed before it died
	}{
		{"", "a a a", false, "a1 a2 a3 "},
		{"a", "b a a", true, "b1 "},
		{"a:1", "a", true, ""},
		{"a:3", "a b a b a b a", true, "a1 b1 a2 b2 "},
		{"b:2,a:5", "a b a b a", true, "a1 b1 a2 "},
		{"a:2, c", "b b b a", false, "b1 b2 b3 a1 "},
		{"a:4", "a a a", false, "a1 a2 a3 "},
		{"x", "a b", false, "a1 b1 "},
		{"a:0,a:-1,a:x,:3", "a a", false, "a1 a2 "},
		{"a:2,a:3", "a a a", true, "a1 "},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.crash, tc.steps), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+tc.steps, Env+"="+tc.crash)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL
			if killed != tc.killed {
				t.Fatalf("MLM_CRASH=%q, steps %q: killed by SIGKILL = %v (%v); want %v; stderr %s", tc.crash, tc.steps, killed, err, tc.killed, errb.String())
			}
			got := out.String()
			if !killed {
				got, _, _ = strings.Cut(got, "PASS")
				if err != nil {
					t.Fatalf("helper: %v: %s", err, errb.String())
				}
			}
			if got = strings.TrimSpace(got); got != strings.TrimSpace(tc.out) {
				t.Errorf("MLM_CRASH=%q, steps %q: passed %q; want %q", tc.crash, tc.steps, got, strings.TrimSpace(tc.out))
			}
		})
	}
}

// TestBadEntry: an entry that cannot be read is named on standard
// error, so that a test whose crash never comes says why.
func TestBadEntry(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=a a", Env+"=a:0,b")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v: %s", err, errb.String())
	}
	if want := Env + `: bad entry "a:0": want NAME or NAME:N, N from 1`; !strings.Contains(errb.String(), want) || strings.Count(errb.String(), "bad entry") != 1 {
		t.Errorf("stderr %q; want one line with %q", errb.String(), want)
	}
}

func TestParse(t *testing.T) {
	var bad []string
	m := parse(" queue-after-link:2,run-after-stages, queue-after-link:7,x:0,:1,y:z", func(e string) { bad = append(bad, e) })
	if len(m) != 2 || !m["queue-after-link"].at[2] || !m["queue-after-link"].at[7] || !m["run-after-stages"].at[1] {
		t.Errorf("parse: %v", m)
	}
	if fmt.Sprint(bad) != "[x:0 :1 y:z]" {
		t.Errorf("parse: bad entries %q; want [x:0 :1 y:z]", bad)
	}
}

// BenchmarkPointUnset is the cost of a point when MLM_CRASH is unset.
func BenchmarkPointUnset(b *testing.B) {
	once.Do(func() {}) // as if MLM_CRASH were unset
	for b.Loop() {
		Point("queue-after-write")
	}
}
