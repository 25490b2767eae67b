package main

import (
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestWriteFails: an mbox or records that cannot be written (standard
// output on a full disk, /dev/full) are a failure, 75, not exit 0 with
// them lost.
func TestWriteFails(t *testing.T) {
	for _, tc := range []struct {
		a  *args
		in string
	}{
		{&args{Quoting: "mboxrd", Export: true}, "MLM1 x\nS <a@example.org>\n:Subject: x\n:\n:body\nE 0\n"},
		{&args{Quoting: "mboxrd"}, "From a@example.org Sat Nov 28 12:00:00 2026\nSubject: x\n\nbody\n"},
	} {
		err := run(tc.a, strings.NewReader(tc.in), &mlmtest.FailAfter{N: 0})
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("run(-x %v) to a full disk = %v; want 75", tc.a.Export, err)
		}
	}
}

// A From_ line with a CR before its end is refused, not taken for one
// with the rest of its line: in an mbox whose lines end in CR alone that
// rest is every message.
func TestImportFromLineCR(t *testing.T) {
	for _, in := range []string{
		"From a@b.c Sat Dec  5 21:56:25 2026\rSubject: x\r\rbody\r\r\n",
		"From a@b.c Sat Dec  5 21:56:25 2026\nSubject: x\n\nbody\n\nFrom c@d.e Sat Dec  5 21:56:25 2026 \rSubject: lost\n\nb2\n",
	} {
		var out strings.Builder
		err := run(&args{ID: new("b"), Quoting: "mboxrd"}, strings.NewReader(in), &out)
		if sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("%q: %v, wrote %q; want 65", in, err, out.String())
		}
	}
}
