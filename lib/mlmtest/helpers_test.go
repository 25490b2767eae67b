package mlmtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// fakeTB is a testing.TB whose Fatal and Error a helper calls are kept,
// not failed on, so that what the helper checks can be tested.
type fakeTB struct {
	testing.TB
	failures []string
	failed   bool
	cleanups []func()
}

func (f *fakeTB) Fatal(a ...any) { f.failures = append(f.failures, fmt.Sprint(a...)) }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, a...))
}
func (f *fakeTB) Errorf(format string, a ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, a...))
}
func (f *fakeTB) Failed() bool      { return f.failed || len(f.failures) > 0 }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// TestRefused holds what Refused takes as a failure well reported: one
// of the statuses asked for, on one line of printable text.
func TestRefused(t *testing.T) {
	line := func(s string) func(io.Writer, string, error) int {
		return func(w io.Writer, _ string, err error) int {
			io.WriteString(w, s)
			return sysexit.Code(err)
		}
	}
	bad := sysexit.Errorf(sysexit.DataErr, "bad")
	for _, tc := range []struct {
		name   string
		report func(io.Writer, string, error) int
		err    error
		codes  []int
		want   bool // a failure that passes
	}{
		{"reported", sysexit.Report, bad, []int{sysexit.NoUser, sysexit.DataErr}, true},
		{"reported for the MTA", sysexit.ReportDSN, bad, []int{sysexit.DataErr}, true},
		{"another status", sysexit.Report, sysexit.Temp(errors.New("bad")), []int{sysexit.DataErr}, false},
		{"two lines", line("p: bad\np: worse\n"), bad, []int{sysexit.DataErr}, false},
		{"a CR", line("p: bad\r\n"), bad, []int{sysexit.DataErr}, false},
		{"an escape", line("p: \x1b[2Jbad\n"), bad, []int{sysexit.DataErr}, false},
		{"no newline", line("p: bad"), bad, []int{sysexit.DataErr}, false},
		{"not UTF-8", line("p: caf\xe9\n"), bad, []int{sysexit.DataErr}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			if !Refused(f, tc.report, "p", tc.err, tc.codes...) {
				t.Errorf("Refused = false for a failure")
			}
			if f.Failed() == tc.want {
				t.Errorf("Refused failed the test %v (%q); want %v", f.Failed(), f.failures, !tc.want)
			}
		})
	}
	f := &fakeTB{TB: t}
	if Refused(f, sysexit.Report, "p", nil, sysexit.DataErr) || f.Failed() {
		t.Errorf("Refused(nil) = true, or failed the test (%q); want false", f.failures)
	}
}

// TestFailAfter holds the full disk FailAfter plays: N octets taken, the
// write that crosses N takes what fits and fails, and every write after
// it fails, as a disk that stays full does.
func TestFailAfter(t *testing.T) {
	f := &FailAfter{N: 5}
	for _, tc := range []struct {
		p    string
		n    int
		fail bool
	}{
		{"abc", 3, false},
		{"de", 2, false}, // exactly N: taken
		{"", 0, false},
		{"f", 0, true},
		{"g", 0, true},
	} {
		if n, err := f.Write([]byte(tc.p)); n != tc.n || (err != nil) != tc.fail {
			t.Errorf("Write(%q) = %d, %v; want %d, failed %v", tc.p, n, err, tc.n, tc.fail)
		}
	}
	f = &FailAfter{N: 2}
	for _, tc := range []struct {
		p string
		n int
	}{{"abc", 2}, {"d", 0}, {"", 0}} {
		if n, err := f.Write([]byte(tc.p)); n != tc.n || err == nil && tc.p != "" {
			t.Errorf("Write(%q) after the disk filled = %d, %v; want %d and a failure", tc.p, n, err, tc.n)
		}
	}
}

// TestMessage holds that Message fails the test on a record whose
// message is cut short.
func TestMessage(t *testing.T) {
	in := Posts(t, 1)
	if h, m := Message(t, stream.NewReader(bytes.NewReader(in))); h.ID != "1764417600.b1.bench" || len(m) < 4096 {
		t.Errorf("Message = %s, %d octets; want the 4 KB post", h.ID, len(m))
	}
	f := &fakeTB{TB: t}
	h, m := Message(f, stream.NewReader(bytes.NewReader(in[:len(in)-100])))
	if !f.Failed() {
		t.Errorf("Message of a record cut short = %v, %d octets, and did not fail the test", h, len(m))
	}
}

// TestPosts holds that Posts gives n records of the 4 KB post, the
// stream whose length BenchRecords reports the figure of.
func TestPosts(t *testing.T) {
	r := stream.NewReader(bytes.NewReader(Posts(t, 3)))
	for i := 0; i < 3; i++ {
		if h, m := Message(t, r); h.ID != "1764417600.b1.bench" || len(m) < 4096 {
			t.Fatalf("record %d: %s, %d octets; want the 4 KB post", i+1, h.ID, len(m))
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after 3 records: %v; want the end", err)
	}
}
