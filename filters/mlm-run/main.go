// mlm-run processes queues: each ready record is claimed, fed to a
// command or a list's stage pipeline, and settled by the exit status.
// See mlm-run(1).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mlm/lib/cli"
)

const prog = "mlm-run"

type args struct {
	Daemon      bool          `short:"D" help:"Keep running: process the queues, wait, again, until SIGTERM or SIGINT; SIGHUP starts the next pass now."`
	Flush       bool          `short:"f" help:"Ignore backoff times: try every waiting record now."`
	Interval    time.Duration `short:"i" default:"10s" placeholder:"DURATION" help:"With -D, the longest wait between passes: a record that lands in a queue wakes the run sooner."`
	MinWait     time.Duration `short:"w" name:"min-backoff" default:"5m" placeholder:"DURATION" help:"The shortest wait after a temporary failure."`
	MaxWait     time.Duration `short:"W" name:"max-backoff" default:"1h" placeholder:"DURATION" help:"The longest wait after a temporary failure."`
	Timeout     time.Duration `short:"t" default:"1h" placeholder:"DURATION" help:"Stop the stages of a record that run longer than DURATION; the record waits."`
	Grace       time.Duration `short:"g" default:"10m" placeholder:"DURATION" help:"The time the stages have to stop on SIGTERM, after -t or the run's own SIGTERM, before SIGKILL."`
	Workers     int           `short:"j" default:"1" placeholder:"N" help:"Process up to N records of a queue at once."`
	Retries     int           `short:"r" name:"retry-workers" default:"4" placeholder:"N" help:"Process up to N records of a list's retry queue at once."`
	Lists       bool          `short:"l" help:"DIR is a directory of lists: process each list in it, under its list lock, passing over a list whose lock is held."`
	ListsAtOnce int           `short:"J" name:"lists-at-once" default:"4" placeholder:"N" help:"With -l, process up to N lists at once."`
	Target      string        `arg:"" placeholder:"DIR" help:"A list directory, with -l a directory of lists, or with a command a queue directory."`
	Command     []string      `arg:"" optional:"" passthrough:"" placeholder:"-- COMMAND" help:"Feed each record of the queue directory to this command."`
}

func main() {
	var a args
	cli.Main(prog, "Process a list's queues, or one queue with a command.", &a, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if a.Daemon {
			signal.Notify(hangup, syscall.SIGHUP)
		}
		return run(ctx, &a, os.Stdout, os.Stderr)
	}, cli.OneCPU)
}
