//go:build mlmpprof

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"
)

// profiler is whether this build has the profiler.
const profiler = true

// startProfile starts prog's CPU profile into the directory dir, unless
// dir is empty (see ProfileEnv); endProfile ends it. One that cannot be
// made is not, without a word.
func startProfile(prog, dir string) {
	if dir == "" || !filepath.IsAbs(dir) {
		return // (the stages of mlm-run work in the list's directory)
	}
	name := profileName(dir, prog)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(name)
		return
	}
	profileMu.Lock()
	defer profileMu.Unlock()
	profileStop = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// profileName is the file of prog's profile in dir; the time too, as a
// process's number comes round again. (A test's to replace.)
var profileName = func(dir, prog string) string {
	return filepath.Join(dir, fmt.Sprintf("%s.%d.%d.pprof", prog, os.Getpid(), time.Now().UnixNano()))
}
