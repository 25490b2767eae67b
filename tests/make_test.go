package tests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// makeTree copies what make install and uninstall read into a new
// directory: the Makefile, go.mod and go.sum, a directory under filters/
// for each program, man/, and bin/ with the programs built, newer than
// every source. It returns the copy and the files install puts under
// PREFIX, with their modes.
func makeTree(t *testing.T) (string, map[string]fs.FileMode) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	src := t.TempDir()
	want := map[string]fs.FileMode{}
	cp := func(from, to string, mode fs.FileMode) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(to), 0o755)
		if err := os.WriteFile(to, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"Makefile", "go.mod", "go.sum"} {
		cp(filepath.Join(root, f), filepath.Join(src, f), 0o644)
	}
	os.Mkdir(filepath.Join(src, "lib"), 0o755) // the Makefile looks for sources there
	progs, _ := filepath.Glob(filepath.Join(root, "filters", "mlm-*"))
	for _, p := range progs {
		name := filepath.Base(p)
		os.MkdirAll(filepath.Join(src, "filters", name), 0o755)
		cp(filepath.Join(binDir, name), filepath.Join(src, "bin", name), 0o755)
		want["bin/"+name] = 0o755
	}
	pages, _ := filepath.Glob(filepath.Join(root, "man", "*.[157]"))
	for _, p := range pages {
		name := filepath.Base(p)
		cp(p, filepath.Join(src, "man", name), 0o644)
		want["share/man/man"+name[len(name)-1:]+"/"+name] = 0o644
	}
	if len(progs) == 0 || len(pages) == 0 {
		t.Fatalf("%d programs, %d man pages", len(progs), len(pages))
	}
	// The sources are older than the programs built from them.
	old := time.Now().Add(-time.Hour)
	for _, f := range []string{"Makefile", "go.mod", "go.sum"} {
		os.Chtimes(filepath.Join(src, f), old, old)
	}
	return src, want
}

// files lists the regular files under dir, by path relative to it, with
// their permission bits.
func files(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	got := map[string]fs.FileMode{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			got[filepath.ToSlash(rel)] = info.Mode().Perm()
		}
		return nil
	})
	return got
}

// sameFiles reports each file of want missing from got or of another
// mode there, and each file of got not in want.
func sameFiles(t testing.TB, what string, got, want map[string]fs.FileMode) {
	t.Helper()
	var diff []string
	for f, m := range want {
		if g, ok := got[f]; !ok {
			diff = append(diff, "missing "+f)
		} else if g != m {
			diff = append(diff, f+": mode "+g.String()+", want "+m.String())
		}
	}
	for f := range got {
		if _, ok := want[f]; !ok {
			diff = append(diff, "extra "+f)
		}
	}
	slices.Sort(diff)
	if len(diff) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(diff, "\n"))
	}
}

// TestSameFiles: sameFiles, which TestMakeInstall holds install and
// uninstall to, reports a file missing, one of another mode and one left
// over: after uninstall, the only check there is is of files left.
func TestSameFiles(t *testing.T) {
	r := &recorder{TB: t}
	sameFiles(r, "make uninstall",
		map[string]fs.FileMode{"bin/mlm-other": 0o755, "bin/mlm-run": 0o700, "share/man/man1/mlm-run.1": 0o644},
		map[string]fs.FileMode{"bin/mlm-other": 0o755, "bin/mlm-run": 0o755, "bin/mlm-sub": 0o755})
	want := "make uninstall:\nbin/mlm-run: mode -rwx------, want -rwxr-xr-x\nextra share/man/man1/mlm-run.1\nmissing bin/mlm-sub"
	if got := strings.Join(r.errs, "; "); got != want {
		t.Errorf("sameFiles reported %q; want %q", got, want)
	}
}

// TestMakeInstall: once make has built the programs, make install puts
// every program and man page under DESTDIR and PREFIX without building
// anything, as GNU's conventions ask, so that another user may install
// them: under sudo, whose PATH (Debian's secure_path) has no go from
// go.dev's tarball, it failed with "go: No such file or directory"
// having installed nothing. make uninstall then removes what install
// put there and nothing else.
func TestMakeInstall(t *testing.T) {
	src, want := makeTree(t)
	dest := t.TempDir()
	prefix := filepath.Join(dest, "opt", "mlm")
	// Another's file, which uninstall must leave.
	os.MkdirAll(filepath.Join(prefix, "bin"), 0o755)
	os.WriteFile(filepath.Join(prefix, "bin", "mlm-other"), nil, 0o755)
	want["bin/mlm-other"] = 0o755

	mk := func(target string) {
		t.Helper()
		cmd := exec.Command("make", "-C", src, target, "DESTDIR="+dest, "PREFIX=/opt/mlm", "GO=/nonexistent/go")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s, the programs built, with no go: %v\n%s", target, err, out)
		}
	}
	mk("install")
	sameFiles(t, "make install", files(t, prefix), want)
	mk("uninstall")
	sameFiles(t, "make uninstall", files(t, prefix), map[string]fs.FileMode{"bin/mlm-other": 0o755})
}

// TestMakeInstallStale: make install builds the programs again when a
// source is newer than they are.
func TestMakeInstallStale(t *testing.T) {
	src, _ := makeTree(t)
	now := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(src, "go.mod"), now, now)
	cmd := exec.Command("make", "-C", src, "install", "DESTDIR="+t.TempDir(), "GO=/nonexistent/go")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/nonexistent/go build") {
		t.Errorf("make install, go.mod newer than the programs: %v\n%s\nwant it to run go build", err, out)
	}
}

// TestMakeFaults: make faults writes tests/FAULTS.md from the rows the
// tests recorded even when a test failed, so that the table shows the
// FAIL, and then fails as the tests did. It stopped at the failed go
// test before, with no table written. A stand-in go records one row and
// exits as asked, and stands in for the table's program with cat.
func TestMakeFaults(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	for _, status := range []int{1, 0} {
		src := t.TempDir()
		b, err := os.ReadFile(filepath.Join(root, "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, "Makefile"), b, 0o644)
		for _, d := range []string{"filters", "lib", "tests"} {
			os.Mkdir(filepath.Join(src, d), 0o755)
		}
		row := "disk\tfull\t75\tFAIL\tTestX"
		if status == 0 {
			row = "disk\tfull\t75\tpass\tTestX"
		}
		goStub := filepath.Join(t.TempDir(), "go")
		os.WriteFile(goStub, []byte("#!/bin/sh\ncase $1 in\ntest) printf '"+strings.ReplaceAll(row, "\t", `\t`)+
			"\\n' >> \"$MLM_FAULT_TABLE\"; exit "+strconv.Itoa(status)+";;\nrun) exec cat;;\nesac\nexit 2\n"), 0o755)
		out, err := exec.Command("make", "-C", src, "faults", "GO="+goStub).CombinedOutput()
		if (err == nil) != (status == 0) {
			t.Errorf("tests exiting %d: make faults: %v; want it to fail as they did\n%s", status, err, out)
		}
		table, rerr := os.ReadFile(filepath.Join(src, "tests", "FAULTS.md"))
		if string(table) != row+"\n" {
			t.Errorf("tests exiting %d: FAULTS.md %q, %v; want the row %q\n%s", status, table, rerr, row, out)
		}
		if _, err := os.Stat(filepath.Join(src, "tests", "faults.tsv")); !os.IsNotExist(err) {
			t.Errorf("tests exiting %d: faults.tsv left: %v", status, err)
		}
	}
}
