//go:build !mlmpprof

package cli

// profiler is whether this build has the profiler.
const profiler = false

// startProfile does nothing: this build has no profiler (see
// ProfileEnv).
func startProfile(prog, dir string) {}
