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
// (a signal it does not catch, mlm-accept's time limit, a crash) leaves
// its file empty.
//
// Nothing is said, by any build: a profile that cannot be made (a
// relative path, a directory the program may not write, a file at the
// name) or written (a full disk) is not, and a build without the
// profiler makes none; --version says whether a build has it. A
// program's standard error is its verdict, to an MTA (mlm-accept, and
// the stages mlm-pipeline runs for it) or to mlm-run (a failed record's
// reason, its last line): the setting is for looking, and mail does not
// wait on it, nor is told of it.
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
