// Package cli is the command-line frame every mlm program shares: kong
// parsing with mail-safe defaults, --version, and a recover that turns a
// panic into EX_TEMPFAIL. It is part of mlm's internals, not a public API.
//
// kong's own defaults clash with mail use (STYLE.md §3.3): a parse error
// exits 80 and usage goes to stdout. Here a usage error prints
// "prog: reason" and "usage: …" on standard error and exits 64; --help alone
// writes to standard output.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"mlm/lib/ascii"
	"mlm/lib/sysexit"
)

// PanicEnv names the environment variable that makes the program named in
// its value panic right after parsing its arguments. Tests use it to prove
// that a panic anywhere exits 75.
const PanicEnv = "MLM_TEST_PANIC"

type stdFlags struct {
	Version kong.VersionFlag `short:"V" help:"Print the version and exit."`
}

// Option changes how Main reports.
type Option int

// MTA marks a program an MTA runs: every failure, usage errors and panics
// included, is one line on standard error that starts with an enhanced
// status code ("4.3.0 prog: reason"), and a panic prints no stack.
const MTA Option = 1

// Output marks a program whose standard output carries its work: one
// started with it closed fails (CheckStdout) before it reads anything.
const Output Option = 2

// OneCPU marks a program that waits on its children, the network or
// the disk far more than it computes: its Go code runs on one CPU
// (GOMAXPROCS 1), unless the environment's GOMAXPROCS is a number the
// runtime took. A second CPU costs such a program more in hand-offs
// between threads, and in the threads it makes, than it gives. A
// program's children are not changed by it.
const OneCPU Option = 3

// StagesEnv is what a program that runs the stages of a list (mlm-run)
// adds to their environment: GOMAXPROCS=1, unless its own environment
// sets GOMAXPROCS to a number the runtime takes (see OneCPU), which
// they then inherit as it is. The stream filters
// compute in one goroutine, a record at a time, and a runtime given a
// second processor at its start makes it, and threads to look for work
// on it, for nothing; OneCPU's call at main cannot take that back.
func StagesEnv() []string {
	if procsTaken(os.Getenv("GOMAXPROCS")) {
		return nil
	}
	return []string{"GOMAXPROCS=1"}
}

// Main parses os.Args into args (a pointer to a kong-tagged struct), calls
// run and exits with its classified status. It never returns. With
// ProfileEnv set, a build with the profiler profiles the run (profile.go).
func Main(prog, desc string, args any, run func() error, opts ...Option) {
	os.Exit(main(prog, desc, args, os.Args[1:], os.Stdout, os.Stderr, run, opts...))
}

func main(prog, desc string, args any, argv []string, stdout, stderr io.Writer, run func() error, opts ...Option) (code int) {
	if slices.Contains(opts, OneCPU) {
		oneCPU(os.Getenv("GOMAXPROCS"))
	}
	mta := slices.Contains(opts, MTA)
	report := sysexit.Report
	if mta {
		report = sysexit.ReportDSN
	}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(exitCode); ok {
				code = int(e)
				return
			}
			if mta {
				code = report(stderr, prog, fmt.Errorf("internal error: %v", r))
				return
			}
			fmt.Fprintf(stderr, "%s: internal error: %v\n%s", prog, r, debug.Stack())
			code = sysexit.TempFail
		}
	}()
	if err := primePoller(); err != nil {
		return report(stderr, prog, err)
	}
	// After primePoller: the profile's file may be the first the
	// program opens, and make the runtime's poller.
	startProfile(prog, os.Getenv(ProfileEnv))
	defer endProfile()
	k, err := kong.New(args,
		kong.Name(prog),
		kong.Description(desc),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitCode(c)) }),
		kong.Vars{"version": prog + " " + version()},
		kong.Embed(&stdFlags{}),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.KindMapper(reflect.String, rawString),
		kong.KindMapper(reflect.Int, decimalInt),
		kong.KindMapper(reflect.Int64, decimalInt),
		kong.KindMapper(reflect.Float64, decimalFloat),
	)
	if err != nil {
		panic(err)
	}
	if _, err := k.Parse(argv); err != nil {
		var pe *kong.ParseError
		if errors.As(err, &pe) && mta {
			return report(stderr, prog, sysexit.Errorf(sysexit.Usage, "%v; usage: %s", err, usage(k)))
		}
		if errors.As(err, &pe) {
			fmt.Fprintf(stderr, "%s: %v\nusage: %s\n", prog, err, usage(k))
			return sysexit.Usage
		}
		return report(stderr, prog, err)
	}
	if os.Getenv(PanicEnv) == prog {
		panic("injected by " + PanicEnv)
	}
	if slices.Contains(opts, Output) {
		if err := CheckStdout(); err != nil {
			return report(stderr, prog, err)
		}
	}
	return report(stderr, prog, run())
}

// rawString sets a string argument to its octets as given. kong's own
// mapper goes through JSON, which turns every octet that is not UTF-8
// into U+FFFD: an address given in an argument would be cleaned rather
// than refused (DESIGN.md §3 rule 4), a file name would name another
// file, an argument to a stage would change.
var rawString = kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	if _, ok := ctx.Scan.Peek().Value.(string); !ok {
		return ctx.Scan.PopValueInto("string", target.Addr().Interface()) // kong's own way
	}
	t, err := ctx.Scan.PopValue("string")
	if err != nil {
		return err
	}
	target.SetString(t.Value.(string))
	return nil
})

// decimalInt sets an integer argument to the decimal number given, as a
// list's settings are read. kong's own mapper reads Go's literals, so
// that -n 010 was 8 (octal), and 0x10 and 1_0 numbers too, where the
// same text in a setting is 10 or no number. (A time.Duration, an
// int64, has a mapper of its own type, which goes first.)
var decimalInt = kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("int")
	if err != nil {
		return err
	}
	s := fmt.Sprint(t.Value) // a string, or a default's number
	n, err := strconv.ParseInt(s, 10, target.Type().Bits())
	if err != nil {
		return fmt.Errorf("expected a decimal integer but got %q", s)
	}
	target.SetInt(n)
	return nil
})

// decimalFloat is decimalInt for a number with a fraction: a decimal
// one (ascii.Decimal), not 0x1p4 nor 1_0.
var decimalFloat = kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	t, err := ctx.Scan.PopValue("float")
	if err != nil {
		return err
	}
	s := fmt.Sprint(t.Value)
	v, ok := ascii.ParseDecimal(s)
	if !ok {
		return fmt.Errorf("expected a decimal number but got %q", s)
	}
	target.SetFloat(v)
	return nil
})

// primePoller makes the Go runtime's poller now. The runtime makes it,
// an epoll and an eventfd descriptor, at the first timer or opened
// file, and if it cannot, for want of descriptors, it crashes with exit
// status 2, which an MTA takes as a bounce. Two descriptors are proved
// free with a raw pipe and given back; a timer then makes the poller
// with them. Without two free descriptors the program fails with 75.
func primePoller() error {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return sysexit.Temp(fmt.Errorf("too few file descriptors: %w", err))
	}
	syscall.Close(p[0])
	syscall.Close(p[1])
	time.AfterFunc(time.Hour, func() {}).Stop()
	return nil
}

// oneCPU runs the Go code on one CPU unless env, the environment's
// GOMAXPROCS, is a number the runtime has taken: positive, and one it
// parses (a 32-bit integer).
func oneCPU(env string) {
	if !procsTaken(env) {
		runtime.GOMAXPROCS(1)
	}
}

// procsTaken reports whether env, a value of GOMAXPROCS, is one the
// runtime takes: a positive number it parses (a 32-bit integer).
func procsTaken(env string) bool {
	n, err := strconv.ParseInt(env, 10, 32)
	return err == nil && n >= 1
}

// exitCode carries kong's request to exit (after --help or --version) out
// of the parser without calling os.Exit in the middle of it.
type exitCode int

// usage is a one-line synopsis in the style of a man page's SYNOPSIS:
// "prog [-F] [-f SENDER] DIR".
func usage(k *kong.Kong) string {
	s := k.Model.Name
	for _, f := range k.Model.Flags {
		if f.Name == "help" || f.Name == "version" {
			continue
		}
		name := "--" + f.Name
		if f.Short != 0 {
			name = "-" + string(f.Short)
		}
		if !f.IsBool() {
			name += " " + f.FormatPlaceHolder()
		}
		s += " [" + name + "]"
	}
	for _, a := range k.Model.Positional {
		s += " " + a.Summary()
	}
	return s
}

// version is the main module's version and VCS revision when the build
// recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	if profiler {
		v += " (with the profiler, " + ProfileTag + ")"
	}
	return v
}
