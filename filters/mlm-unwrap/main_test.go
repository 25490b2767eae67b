package main

import (
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestWriteFails: messages that cannot be written (standard output on
// a full disk, /dev/full) are a failure, 75, not exit 0 with them lost;
// so are envelopes.
func TestWriteFails(t *testing.T) {
	rec := "MLM1 x\nS <>\n:Subject: x\n:\n:body\nR <a@example.org>\nE 1\n"
	for _, a := range []*args{{}, {Envelope: true}} {
		err := run(a, strings.NewReader(rec), &mlmtest.FailAfter{N: 0})
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("run(-e %v) to a full disk = %v; want 75", a.Envelope, err)
		}
	}
}
