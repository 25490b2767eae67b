package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		code int
		out  string
		err  string
	}{
		{"stages", []string{"cat", "--", "tr", "a-z", "A-Z"}, 0, "HI\n", ""},
		{"end of options", []string{"--", "cat"}, 0, "hi\n", ""},
		{"stage status", []string{"cat", "--", "sh", "-c", "exit 77"}, 77, "", ""},
		{"no stages", []string{"--"}, 64, "", "no stages"},
		{"empty stage", []string{"cat", "--", "--", "cat"}, 64, "", "stage 2 is empty"},
		{"missing", []string{"mlm-no-such-program"}, 75, "", `stage 1: exec: "mlm-no-such-program": executable file not found in $PATH`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code, err := run(context.Background(), tc.argv, strings.NewReader("hi\n"), &out, &errb)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if code != tc.code || msg != tc.err || out.String() != tc.out {
				t.Errorf("run(%q) = %d, %q, stdout %q; want %d, %q, %q", tc.argv, code, msg, out.String(), tc.code, tc.err, tc.out)
			}
		})
	}
}
