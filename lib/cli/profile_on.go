//go:build mlmpprof

package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"mlm/lib/sysexit"
)

// startProfile starts prog's CPU profile into the directory dir, unless
// dir is empty, and returns what ends it (see ProfileEnv).
func startProfile(prog, dir string, stderr io.Writer) (stop func()) {
	if dir == "" {
		return func() {}
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%d.pprof", prog, os.Getpid()))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
			os.Remove(name)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %s\n", prog, ProfileEnv, sysexit.OneLine(err.Error()))
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
