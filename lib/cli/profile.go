package cli

// ProfileEnv names the environment variable that has an mlm program
// built with the tag ProfileTag (make PPROF=1) write a CPU profile of
// its run (runtime/pprof, 100 samples a second of CPU) into the
// directory it names, as PROG.PID.pprof, for go tool pprof: where a
// site's own host spends its CPU, stage by stage, as mlm-run passes its
// environment on to the stages. A program that ends other than by
// returning from Main (mlm-accept's time limit, a signal) leaves its
// file empty. A profile that cannot be made, or a build without the
// profiler, is said in one line on standard error, and the program runs
// as it would without it: the setting is for looking, and mail does not
// wait on it.
//
// The profiler is not in the usual build: its packages' start (their
// init, and the pages of their code) costs every program some 0.3 ms,
// some 3% of an mlm program's start, and a post starts ten of them.
const ProfileEnv = "MLM_CPUPROFILE"

// ProfileTag is the build tag that puts the profiler in (profile_on.go).
const ProfileTag = "mlmpprof"
