package cli

import "sync"

// ProfileEnv names the environment variable that has an mlm program
// built with the tag ProfileTag (make pprof) write a CPU profile of its
// run (runtime/pprof, 100 samples a second of CPU) into the directory
// it names, an absolute path, as PROG.PID.NANOSECONDS.pprof, for go tool
// pprof: where a site's own host spends its CPU, stage by stage, as
// mlm-run passes its environment on to the stages. The profile starts
// in Main, after the runtime's and the packages' start, and ends as Main
// returns, or before an exec (BeforeExec); a program that ends otherwise
// (mlm-accept's time limit, a signal, a crash) leaves its file empty. A
// profile that cannot be made or written, or a build without the
// profiler, is said in one line on standard error, but by a program an
// MTA runs (MTA), whose standard error is its verdict; and the program
// runs as it would without it: the setting is for looking, and mail
// does not wait on it.
//
// The profiler is not in the usual build: its packages' start (their
// init, and the pages of their code) costs every program some 0.3 ms,
// some 3% of an mlm program's start, and a post starts ten of them.
const ProfileEnv = "MLM_CPUPROFILE"

// ProfileTag is the build tag that puts the profiler in (profile_on.go).
const ProfileTag = "mlmpprof"

// The running profile's end, if one runs.
var (
	profileMu   sync.Mutex
	profileStop func()
)

// BeforeExec ends the program's profile, if one runs, and writes it: a
// program that replaces itself by another (mlm-lock) calls it first.
// The profile's timer (ITIMER_PROF) outlives execve(2), and its SIGPROF
// would kill the program that comes after, the signal's default action.
func BeforeExec() { endProfile() }

// endProfile ends the profile that runs, if one does.
func endProfile() {
	profileMu.Lock()
	defer profileMu.Unlock()
	if profileStop != nil {
		profileStop()
		profileStop = nil
	}
}
