// Package tests runs mlm's programs, built once, end to end: the scripts
// in testdata/, the conformance scripts in testdata/conform against both
// the Go programs and the stand-ins in contrib/, the man page checks and
// the memory bounds.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"mlm/lib/mlmtest"
)

var (
	root   string // the module's root
	binDir string // the programs, built once
)

func TestMain(m *testing.M) {
	touchMiB() // the test binary run as the program TestPeakRSS measures
	os.Exit(func() int {
		var err error
		if root, err = filepath.Abs(".."); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 75
		}
		if binDir, err = os.MkdirTemp("", "mlm-bin-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 75
		}
		defer os.RemoveAll(binDir)
		os.Chmod(binDir, 0o755) // tests run some programs as another user
		build := exec.Command("go", "build", "-tags", "osusergo,netgo", "-o", binDir+"/", "./filters/...", "./tests/peakrss")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
			return 75
		}
		return m.Run()
	}())
}

// params returns script parameters with dirs first on PATH.
func params(dir string, pathDirs ...string) testscript.Params {
	p := mlmtest.ScriptParams(dir)
	p.Setup = func(env *testscript.Env) error {
		path := ""
		for _, d := range append(pathDirs, binDir) {
			path += d + string(os.PathListSeparator)
		}
		env.Setenv("PATH", path+os.Getenv("PATH"))
		// What the scripts run by a name in pathDirs is the stand-in
		// there, not the program of binDir of the same name.
		for _, d := range pathDirs {
			ents, err := os.ReadDir(d)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if got := firstOnPath(env.Getenv("PATH"), e.Name()); got != filepath.Join(d, e.Name()) {
					return fmt.Errorf("PATH runs %s for %s, not the stand-in in %s", got, e.Name(), d)
				}
			}
		}
		env.Setenv("MLMBIN", binDir)
		env.Setenv("CONTRIB", filepath.Join(root, "contrib"))
		env.Setenv("EXAMPLES", filepath.Join(root, "examples"))
		return nil
	}
	return p
}

// firstOnPath is the first file named name in the directories of path.
func firstOnPath(path, name string) string {
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	return ""
}

func TestScripts(t *testing.T) { testscript.Run(t, params("testdata")) }

// TestConform runs the conformance scripts against the Go programs.
func TestConform(t *testing.T) { testscript.Run(t, params("testdata/conform")) }

// TestConformContrib runs the same scripts against the Perl stand-ins.
func TestConformContrib(t *testing.T) {
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("no perl")
	}
	dir := t.TempDir()
	for prog, file := range map[string]string{"mlm-wrap": "mlm-wrap.pl", "mlm-unwrap": "mlm-unwrap.pl"} {
		if err := os.Symlink(filepath.Join(root, "contrib", file), filepath.Join(dir, prog)); err != nil {
			t.Fatal(err)
		}
	}
	testscript.Run(t, params("testdata/conform", dir))
}

// TestPath runs the post-path scenarios with the Go programs.
func TestPath(t *testing.T) { testscript.Run(t, params("testdata/path")) }

// TestPathContrib runs them with the sh/awk stand-ins of contrib/ in
// place of mlm-hdr and mlm-members.
func TestPathContrib(t *testing.T) {
	dir := t.TempDir()
	for prog, file := range map[string]string{"mlm-hdr": "mlm-hdr.sh", "mlm-members": "mlm-members.sh"} {
		if err := os.Symlink(filepath.Join(root, "contrib", file), filepath.Join(dir, prog)); err != nil {
			t.Fatal(err)
		}
	}
	testscript.Run(t, params("testdata/path", dir))
}
