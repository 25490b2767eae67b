package main

import (
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestHeloNameFromHost: a bad name that came from the host's name says
// so, and what to do; a bad -H does not.
func TestHeloNameFromHost(t *testing.T) {
	defer func(h func() (string, error)) { hostname = h }(hostname)
	tests := []struct {
		host, flag, want, err string
	}{
		{"h.example", "", "h.example", ""},
		{"my_host", "", "", `HELO name: bad domain label "my_host" (this host's name; give one with -H)`},
		{"h.example", "my_host", "", `HELO name: bad domain label "my_host"`},
		{"my_host", "h.example", "h.example", ""},
	}
	for _, tc := range tests {
		hostname = func() (string, error) { return tc.host, nil }
		got, err := heloName(tc.flag)
		msg := ""
		if err != nil {
			msg = err.Error()
			if c := sysexit.Code(err); c != sysexit.Usage {
				t.Errorf("host %q, -H %q: exit %d, want %d", tc.host, tc.flag, c, sysexit.Usage)
			}
		}
		if got != tc.want || msg != tc.err {
			t.Errorf("host %q, -H %q: %q, %q; want %q, %q", tc.host, tc.flag, got, msg, tc.want, tc.err)
		}
	}
}

// TestWriteFails: a batch that cannot be written (standard output on a
// full disk, /dev/full) is a failure, 75, not exit 0 with it lost.
func TestWriteFails(t *testing.T) {
	rec := "MLM1 x\nS <a@example.org>\n:Subject: x\n:\n:body\nR <b@example.org>\nE 1\n"
	err := run(&args{Helo: ptr("h.example")}, strings.NewReader(rec), &mlmtest.FailAfter{N: 0})
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run to a full disk = %v; want 75", err)
	}
}

func ptr(s string) *string { return &s }

// TestHeloEmptyGiven: -H ” is a bad name, not no -H (mlm-bsmtp(1): "A
// name that is not a domain, given or the host's, is a usage error").
func TestHeloEmptyGiven(t *testing.T) {
	rec := "MLM1 a\nS <>\n:hi\nR <b@c.d>\nE 1\n"
	for _, h := range []string{"", "[127.0.0.1]"} {
		var out strings.Builder
		err := run(&args{Helo: ptr(h)}, strings.NewReader(rec), &out)
		if sysexit.Code(err) != sysexit.Usage || out.Len() != 0 {
			t.Errorf("-H %q: %v (status %d), wrote %q; want 64 and nothing", h, err, sysexit.Code(err), out.String())
		}
	}
}
