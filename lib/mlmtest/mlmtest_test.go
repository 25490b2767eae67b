package mlmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{`a\nb`}, "a\nb"},
		{[]string{`x*3`, `\n`}, "xxx\n"},
		{[]string{`\r\n*2`}, "\r\n\r\n"},
		{[]string{`\0\xff\\`}, "\x00\xff\\"},
		{[]string{`*`}, "*"},
	}
	for _, tc := range tests {
		got, err := Bytes(tc.parts...)
		if err != nil || !bytes.Equal(got, []byte(tc.want)) {
			t.Errorf("Bytes(%q) = %q, %v; want %q", tc.parts, got, err, tc.want)
		}
	}
	for _, p := range []string{`\`, `\q`, `\x1`, `\xzz`} {
		if _, err := Bytes(p); err == nil {
			t.Errorf("Bytes(%q): want error", p)
		}
	}
}

func TestFault(t *testing.T) {
	table := filepath.Join(t.TempDir(), "faults.tsv")
	t.Setenv("MLM_FAULT_TABLE", table)
	t.Run("row", func(t *testing.T) { Fault(t, "disk", "ENOSPC\tat fsync", "exit 75 | nothing in new/") })
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	if want := "disk\tENOSPC at fsync\texit 75 / nothing in new/\tpass\tTestFault/row\n"; string(b) != want {
		t.Errorf("row %q; want %q", b, want)
	}
}

// TestFaultFailed holds the row of a test that failed: FAIL, not pass.
func TestFaultFailed(t *testing.T) {
	table := filepath.Join(t.TempDir(), "faults.tsv")
	t.Setenv("MLM_FAULT_TABLE", table)
	f := &fakeTB{TB: t, failed: true}
	Fault(f, "disk", "ENOSPC", "exit 75")
	for _, c := range f.cleanups {
		c()
	}
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	if want := "disk\tENOSPC\texit 75\tFAIL\t" + t.Name() + "\n"; string(b) != want {
		t.Errorf("row %q; want %q", b, want)
	}
}

// TestNames holds that Names fails the test on a directory it cannot
// read: a test that wants an empty queue must not pass on a missing one.
func TestNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b", "a"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := Names(t, dir); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names = %q; want [a b]", got)
	}
	f := &fakeTB{TB: t}
	if got := Names(f, filepath.Join(dir, "missing")); !f.Failed() {
		t.Errorf("Names of a missing directory = %q and did not fail the test", got)
	}
}
