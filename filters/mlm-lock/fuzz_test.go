package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mlm/lib/listdir"
)

// FuzzLockPath: whatever PATH mlm-lock is given, of names, ".", "..",
// slashes and symbolic links, the lock file (lockFile) is PATH itself,
// or, for a directory, its file "lock" as the kernel finds it (after a
// link, "link/.." is where the link leads's parent); and the directory
// whose owner mlm-lock checks before it makes the lock file (dirOf) is
// the one the kernel makes it in, not the text's parent.
func FuzzLockPath(f *testing.F) {
	for _, p := range []string{"b", "b/", "b//new", "../a/b/", "../l/..", "../l/../y", "./b/../b//", "../f", "../l", "b/new", "../l/../new", "../l/new/", "..", "../..", "../f/new"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// Relative, and within the test's directories: no lock file
		// made elsewhere.
		up := 0
		for name := range strings.SplitSeq(p, "/") {
			if name == ".." {
				up++
			}
		}
		if len(p) > 64 || !regexp.MustCompile(`^[abflnew.][abflnew./]*$`).MatchString(p) || up > 2 {
			return
		}
		root := t.TempDir()
		for _, d := range []string{"a/b", "x/y"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(root, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("x/y", filepath.Join(root, "l")); err != nil {
			t.Fatal(err)
		}
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chdir(root + "/a"); err != nil { // "b" is a/b, ".." the root, "../.." the test's
			t.Fatal(err)
		}
		defer os.Chdir(wd)
		path := p
		lock := lockFile(path)
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			if lock != strings.TrimRight(path, "/")+"/"+listdir.LockFile {
				t.Errorf("lockFile(%q) = %q", path, lock)
			}
		} else if lock != path {
			t.Errorf("lockFile(%q) = %q; want it itself", path, lock)
		}
		if _, err := os.Lstat(lock); err == nil || strings.HasSuffix(lock, "/") {
			return // there already, or no file to make
		}
		// Made where the kernel makes it.
		fl, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return // in no directory
		}
		defer fl.Close()
		made, err := fl.Stat()
		if err != nil {
			t.Fatal(err)
		}
		dir := dirOf(lock)
		name := lock[strings.LastIndexByte(lock, '/')+1:]
		got, err := os.Lstat(strings.TrimRight(dir, "/") + "/" + name)
		if dir == "." {
			got, err = os.Lstat(name)
		}
		if err != nil || !os.SameFile(made, got) {
			t.Errorf("dirOf(%q) = %q; the lock file is not made there (%v)", lock, dir, err)
		}
	})
}
