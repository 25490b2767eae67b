// mlm-throttle passes the records of an MLM1 stream on unchanged, no
// faster than the configured rates of recipients and records a second,
// overall and per domain, with buckets shared by every throttle on the
// same state file. See mlm-throttle(1).
package main

import (
	"os"
	"time"

	"mlm/lib/cli"
)

const prog = "mlm-throttle"

type args struct {
	Burst      *int64        `short:"b" placeholder:"N" help:"Size of each bucket, in its own unit (default: the list's burst, else one second's worth)."`
	DomainRate []string      `short:"d" name:"domain-rate" sep:"none" placeholder:"DOMAIN=N" help:"At most N recipients a second to DOMAIN; * for each other domain (repeatable)."`
	MsgRate    *float64      `short:"m" name:"msg-rate" placeholder:"N" help:"At most N records a second (default: the list's msgrate; 0: no limit)."`
	RcptRate   *float64      `short:"r" name:"rcpt-rate" placeholder:"N" help:"At most N recipients a second (default: the list's rcptrate; 0: no limit)."`
	State      *string       `short:"s" placeholder:"FILE" help:"Keep the buckets in FILE (default: DIR/state/throttle)."`
	Deadline   time.Duration `short:"T" placeholder:"DURATION" help:"Exit 75 rather than wait past DURATION from the start (0: no deadline)."`
	Dir        string        `arg:"" optional:"" placeholder:"DIR" help:"List directory whose settings and state to use."`
}

func main() {
	var a args
	cli.Main(prog, "Pass records on no faster than the configured rates.", &a, func() error {
		stopSignals = true
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}
