//go:build !mlmpprof

package cli

import (
	"fmt"
	"io"
)

// profiler is whether this build has the profiler.
const profiler = false

// startProfile says, if dir is not empty and not quiet, that this build
// has no profiler (see ProfileEnv).
func startProfile(prog, dir string, stderr io.Writer, quiet bool) {
	if dir != "" && !quiet {
		fmt.Fprintf(stderr, "%s: %s: not profiled: built without the profiler (make pprof, the tag %s)\n", prog, ProfileEnv, ProfileTag)
	}
}
