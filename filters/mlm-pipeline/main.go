// mlm-pipeline runs programs joined by pipes, as "|" in an MTA alias
// would, and exits with one status that keeps every stage's failure: 75
// if any stage may work later, else the first stage's failure.
// See mlm-pipeline(1).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"mlm/lib/cli"
	"mlm/lib/pipeline"
	"mlm/lib/sysexit"
)

const prog = "mlm-pipeline"

type args struct {
	Deadline time.Duration `short:"T" default:"0s" placeholder:"DURATION" help:"Stop the stages, and exit 75, after DURATION (0: no deadline)."`
	Stages   []string      `arg:"" name:"stage" passthrough:"partial" help:"A program and its arguments for each stage; -- separates the stages."`
}

func main() {
	var a args
	cli.Main(prog, "Run programs joined by pipes; exit with the worst status.", &a, func() error {
		if a.Deadline < 0 {
			return sysexit.Errorf(sysexit.Usage, "-T: need a time of 0 or more")
		}
		ctx, stop := stopOn(a.Deadline)
		defer stop()
		return exit(run(ctx, a.Stages, os.Stdin, os.Stdout, os.Stderr))
	}, cli.MTA)
}

// grace is how long the stages have to end on SIGTERM, once the
// deadline has passed or a signal came, before SIGKILL.
const grace = 30 * time.Second

// stopOn returns a context that ends after d (if above 0), or at
// SIGTERM, SIGINT or SIGHUP, those not ignored where the program
// started (nohup's SIGHUP stays ignored, in the stages too). A program
// killed by a signal is a permanent failure to Exim's pipe transport,
// and the post bounced; and qmail-local waits for a program that hangs
// for ever: the stages are stopped instead, and the status is 75.
func stopOn(d time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var t *time.Timer
	if d > 0 {
		t = time.AfterFunc(d, func() { cancel(fmt.Errorf("deadline of %v exceeded", d)) })
	}
	sigs := make(chan os.Signal, 1)
	cli.NotifyStop(sigs)
	var done atomic.Bool
	quit := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			cancel(fmt.Errorf("stopped by %s", cli.SignalName(sig)))
		case <-quit:
		}
	}()
	return ctx, func() {
		if done.CompareAndSwap(false, true) {
			if t != nil {
				t.Stop()
			}
			close(quit)
			cancel(nil)
		}
	}
}

// run splits argv into stages and runs them with in, out and errw as the
// pipeline's standard input, output and error, until ctx ends.
func run(ctx context.Context, argv []string, in io.Reader, out, errw io.Writer) (int, error) {
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong keeps the end-of-options marker in a passthrough argument
	}
	stages, err := pipeline.Split(argv)
	if err != nil {
		return sysexit.Usage, err
	}
	var signalled atomic.Bool
	code, err := pipeline.Run(stages, pipeline.Options{Stdin: in, Stdout: out, Stderr: errw, Context: ctx, Grace: grace,
		Stopped: func() { signalled.Store(true) }, DieWithParent: true})
	if signalled.Load() && code == sysexit.OK {
		// Stages that exit 0 on the SIGTERM it sent them, as many a
		// program's clean stop does, have not, as a rule, done their
		// work: 0 is delivered to an MTA, the message gone (R89 F2).
		return sysexit.TempFail, fmt.Errorf("%w: the stages exited 0 on SIGTERM", context.Cause(ctx))
	}
	if why := context.Cause(ctx); why != nil && code != sysexit.OK && !errors.Is(why, context.Canceled) {
		// (A stage that stopped cleanly on SIGTERM has said why:
		// the cause goes before what else there is to say.)
		if err == nil {
			return code, why
		}
		return code, fmt.Errorf("%w: %w", why, err)
	}
	return code, err
}

// exit turns the pipeline's status into the program's. A stage that
// exited non-zero has said why on standard error, so its status is
// silent, as after a chain-loading exec; only what no stage could say,
// such as a missing program or a signal, is reported.
func exit(code int, err error) error {
	if err == nil {
		return sysexit.Silent(code)
	}
	return sysexit.Perm(code, err)
}
