package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/password"
	"mlm/lib/sysexit"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// newList returns the directory of a list with an address and no
// password.
func newList(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, listdir.Address), []byte("dev@lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stored returns the password hash the list in dir keeps.
func stored(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, listdir.Password))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestBOM: a password file an editor saved with a byte-order mark at
// its start sets the password without it, which a poster types.
func TestBOM(t *testing.T) {
	dir := newList(t)
	if err := run(&args{Dir: dir}, strings.NewReader(listdir.BOM+"letmein\r\n")); err != nil {
		t.Fatal(err)
	}
	if !password.Check(stored(t, dir), "letmein") {
		t.Errorf("the password set from a file with a byte-order mark is not letmein")
	}
	// One of the longest, 998 octets, with the mark before it: taken
	// whole, not refused as too long, nor cut short.
	long := strings.Repeat("x", 998)
	if err := run(&args{Dir: dir}, strings.NewReader(listdir.BOM+long+"\r\n")); err != nil {
		t.Fatalf("998 octets after a byte-order mark: %v", err)
	}
	if !password.Check(stored(t, dir), long) {
		t.Errorf("the password of 998 octets after a byte-order mark is not the 998 octets")
	}
}

// TestTrimmed: white space around the first line, before and after, is
// no part of the password, since mlm-auth trims what a poster gives.
func TestTrimmed(t *testing.T) {
	dir := newList(t)
	if err := run(&args{Dir: dir}, strings.NewReader(" \tletmein \t\r\n")); err != nil {
		t.Fatal(err)
	}
	if !password.Check(stored(t, dir), "letmein") {
		t.Errorf("the password set from \" \\tletmein \\t\\r\\n\" is not letmein")
	}
}

// TestBOMTooLong: a first line of 999 octets after a byte-order mark is
// refused as too long (65), not cut to 998 octets and set.
func TestBOMTooLong(t *testing.T) {
	dir := newList(t)
	err := run(&args{Dir: dir}, strings.NewReader(listdir.BOM+strings.Repeat("x", 999)+"\n"))
	if sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("999 octets after a byte-order mark: %v; want 65", err)
	}
	if _, err := os.Stat(filepath.Join(dir, listdir.Password)); err == nil {
		t.Errorf("a password was set from a line too long")
	}
}

// TestLeftoverHash: a run killed while it wrote the password's new
// hash leaves it in a temporary file beside the password (0600, but a
// hash of the password all the same). -d, which takes the password away
// because it leaked, removes that too; setting a password removes one
// over an hour old, and leaves a newer one, another run's still at work.
func TestLeftoverHash(t *testing.T) {
	dir := newList(t)
	final := filepath.Join(dir, listdir.Password)
	left := func(name string, age time.Duration) string {
		return mlmtest.AgedFile(t, filepath.Join(dir, name), "$hash\n", age)
	}
	gone := func(p string) bool { _, err := os.Lstat(p); return os.IsNotExist(err) }
	old := left(filepath.Base(durable.Beside(final)), 2*time.Hour)
	young := left(filepath.Base(durable.Beside(final)), time.Minute)
	other := left("."+listdir.Address+".tmp1.00000000", 2*time.Hour)
	if err := run(&args{Dir: dir}, strings.NewReader("letmein\n")); err != nil {
		t.Fatal(err)
	}
	if !gone(old) || gone(young) || gone(other) {
		t.Errorf("after a password was set: the old leftover gone %v (want true), the young one %v, another file's %v (want false)",
			gone(old), gone(young), gone(other))
	}
	if err := run(&args{Dir: dir, Delete: true}, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if !gone(final) || !gone(young) || gone(other) {
		t.Errorf("after -d: the password gone %v, the young leftover %v (want true), another file's %v (want false)",
			gone(final), gone(young), gone(other))
	}
}
