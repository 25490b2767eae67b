package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

// TestProfileMain runs Main in a process of its own, as a program does,
// with MLM_CPUPROFILE: a build with the profiler writes the run's
// profile, the run's own function in it, the usual build none; neither
// says a word, and the exit status is the run's.
func TestProfileMain(t *testing.T) {
	if mode := os.Getenv("CLI_TEST_MAIN"); mode != "" {
		var opts []Option
		if mode == "mta" {
			opts = append(opts, MTA)
		}
		os.Args = []string{"prog"}
		var a testArgs
		Main("prog", "test", &a, func() error {
			mlmtest.SpinCPU(100 * time.Millisecond)
			return errExit3
		}, opts...)
	}
	for _, mode := range []string{"plain", "mta", "no such directory"} {
		dir := t.TempDir()
		env := ProfileEnv + "=" + dir
		if mode == "no such directory" {
			env += "/none"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestProfileMain$")
		cmd.Env = append(os.Environ(), "CLI_TEST_MAIN="+mode, env)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 3 {
			t.Errorf("%s: exit %d (%v); want 3", mode, code, err)
		}
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		files, _ := filepath.Glob(filepath.Join(dir, "prog.*.pprof"))
		switch {
		case mode == "no such directory" && len(files) != 0:
			t.Errorf("%s: profiles %v", mode, files)
		case mode == "no such directory":
		case profiler && len(files) != 1:
			t.Errorf("%s: profiles %v", mode, files)
		case profiler:
			checkMainProfile(t, files[0])
		case len(files) != 0:
			t.Errorf("%s: a build without the profiler wrote %v", mode, files)
		}
		// The run's verdict alone, in either build.
		want := []string{"prog: three"}
		if mode == "mta" {
			want = []string{"4.3.0 prog: three"}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: stderr %q; want %q", mode, lines, want)
		}
	}
}

// errExit3 is a run's failure of exit status 3, which no mlm program
// gives: the test's run, and no other path, ends its process so.
var errExit3 = sysexit.Errorf(3, "three")
