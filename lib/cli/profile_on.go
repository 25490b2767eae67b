//go:build mlmpprof

package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"mlm/lib/sysexit"
)

// profiler is whether this build has the profiler.
const profiler = true

// startProfile starts prog's CPU profile into the directory dir, unless
// dir is empty (see ProfileEnv); endProfile ends it. A failure is one
// line on stderr, unless quiet.
func startProfile(prog, dir string, stderr io.Writer, quiet bool) {
	if dir == "" {
		return
	}
	say := func(err error) {
		if !quiet {
			fmt.Fprintf(stderr, "%s: %s: %s\n", prog, ProfileEnv, sysexit.OneLine(err.Error()))
		}
	}
	if !filepath.IsAbs(dir) {
		// (The stages of mlm-run work in the list's directory.)
		say(fmt.Errorf("%s: not an absolute path", dir))
		return
	}
	name := profileName(dir, prog)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
			os.Remove(name)
		}
	}
	if err != nil {
		say(err)
		return
	}
	profileMu.Lock()
	defer profileMu.Unlock()
	profileStop = func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			say(err)
		}
	}
}

// profileName is the file of prog's profile in dir; the time too, as a
// process's number comes round again. (A test's to replace.)
var profileName = func(dir, prog string) string {
	return filepath.Join(dir, fmt.Sprintf("%s.%d.%d.pprof", prog, os.Getpid(), time.Now().UnixNano()))
}
