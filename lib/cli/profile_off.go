//go:build !mlmpprof

package cli

import (
	"fmt"
	"io"
)

// startProfile says, if dir is not empty, that this build has no
// profiler (see ProfileEnv).
func startProfile(prog, dir string, stderr io.Writer) (stop func()) {
	if dir != "" {
		fmt.Fprintf(stderr, "%s: %s: not profiled: built without the profiler (make PPROF=1, the tag %s)\n", prog, ProfileEnv, ProfileTag)
	}
	return func() {}
}
