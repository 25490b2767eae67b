// mlm-sink is the SMTP and LMTP sink mlm's tests, benchmarks and demo
// deliver to: loopback only, counting, optionally keeping what it gets,
// and injecting faults on request. See mlm-sink(1); the server is
// lib/smtpsink.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"mlm/lib/cli"
	"mlm/lib/smtpsink"
	"mlm/lib/sysexit"
)

const prog = "mlm-sink"

// grace is how long open connections may go on after --count is reached.
const grace = time.Second

type args struct {
	AddrFile      *string         `short:"A" placeholder:"FILE" help:"Once listening, write the address (host:port) to FILE."`
	Count         int64           `short:"c" placeholder:"N" help:"Stop after N accepted transactions."`
	Dir           *string         `short:"D" placeholder:"DIR" help:"Keep each accepted transaction as an MLM1 record file in DIR."`
	DataReply     smtpsink.Reply  `short:"R" placeholder:"REPLY" help:"Reply to the final dot (LMTP: for each recipient), e.g. '554 5.6.0 no'."`
	Delay         time.Duration   `short:"w" placeholder:"DURATION" help:"Wait DURATION before each reply."`
	DelayAt       string          `name:"delay-at" placeholder:"STEP" help:"With --delay, wait only before the replies to STEP: greeting, mail, rcpt, data or dot."`
	DropAfterDot  int             `placeholder:"N" help:"Close the connection instead of replying to every Nth final dot."`
	DropAfterRcpt int             `placeholder:"N" help:"Close the connection instead of replying to the Nth RCPT of a transaction."`
	DSN           bool            `name:"dsn" help:"Advertise DSN; keep RET, ENVID, NOTIFY and ORCPT."`
	Greeting      smtpsink.Reply  `short:"g" placeholder:"REPLY" help:"Greet with REPLY, e.g. '421 busy' to refuse service."`
	Ledger        *string         `short:"L" placeholder:"FILE" help:"Append a line 'TXN RCPT' to FILE for each accepted recipient."`
	Listen        string          `short:"l" default:"127.0.0.1:0" placeholder:"ADDR" help:"Listen on ADDR, host:port on a loopback address."`
	LMTP          bool            `name:"lmtp" help:"Speak LMTP: LHLO, and a reply per recipient after the message."`
	LMTPReply     []smtpsink.Rule `name:"lmtp-reply" sep:"none" placeholder:"PATTERN=REPLY" help:"With --lmtp, the reply after the message for recipients matching PATTERN."`
	MaxConns      int             `name:"max-conns" placeholder:"N" help:"Serve at most N connections at once; greet one more with 421 and close it."`
	MaxRcpt       int             `short:"m" placeholder:"N" help:"Accept at most N recipients per transaction; reply 452 to more."`
	MaxTime       time.Duration   `short:"t" placeholder:"DURATION" help:"Stop after DURATION."`
	Reply         []smtpsink.Rule `short:"r" sep:"none" placeholder:"PATTERN=REPLY" help:"Reply to RCPT for addresses matching PATTERN, e.g. '*@fail.example=550 5.1.1 no such user'."`
	Size          int64           `short:"S" placeholder:"N" help:"Advertise SIZE N; refuse larger messages with 552."`
	Stall         bool            `help:"Accept connections and never say anything."`
	Stats         *string         `short:"s" placeholder:"FILE" help:"Rewrite the counters line in FILE after each transaction."`
	Verbose       bool            `short:"v" help:"Copy the SMTP conversations and connection errors to standard error."`
}

func main() {
	var a args
	cli.Main(prog, "Accept SMTP or LMTP mail on a loopback address, count it, keep it, inject faults.", &a, func() error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return run(ctx, &a, os.Stdout, os.Stderr)
	})
}

// run serves until ctx is done, --max-time passes or --count is reached,
// then prints the counters line.
func run(ctx context.Context, a *args, stdout, stderr io.Writer) error {
	// An empty name too is a bad one, not the option left out: a
	// script's unset variable must not make a sink that keeps, counts
	// or tells nothing, and exits 0 all the same.
	for _, f := range []struct {
		flag string
		name *string
	}{{"--addr-file", a.AddrFile}, {"--dir", a.Dir}, {"--ledger", a.Ledger}, {"--stats", a.Stats}} {
		if f.name != nil && *f.name == "" {
			return sysexit.Errorf(sysexit.Usage, "%s: empty name", f.flag)
		}
	}
	o := smtpsink.Options{
		Addr: a.Listen, LMTP: a.LMTP, DSN: a.DSN,
		Dir: deref(a.Dir), Ledger: deref(a.Ledger), Stats: deref(a.Stats),
		Size: a.Size, MaxRcpt: a.MaxRcpt, MaxConns: a.MaxConns, Replies: a.Reply, LMTPReply: a.LMTPReply,
		Stall: a.Stall, Delay: a.Delay, DelayAt: a.DelayAt, Count: a.Count,
		DropAfterDot: a.DropAfterDot, DropAfterRcpt: a.DropAfterRcpt,
	}
	if a.DataReply.Code != 0 {
		o.DataReply = &a.DataReply
	}
	if a.Greeting.Code != 0 {
		o.Greeting = &a.Greeting
	}
	if a.Verbose {
		o.Debug, o.ErrorLog = stderr, stderr
	}
	if a.MaxTime < 0 {
		return sysexit.Errorf(sysexit.Usage, "--max-time: negative duration")
	}
	if a.DelayAt != "" && a.Delay == 0 {
		// Else it would be taken, and delay nothing.
		return sysexit.Errorf(sysexit.Usage, "--delay-at: without --delay (-w), there is no wait")
	}
	s, err := smtpsink.Start(o)
	if err != nil {
		return err
	}
	if a.AddrFile != nil {
		if err := smtpsink.ReplaceFile(*a.AddrFile, s.Addr()+"\n"); err != nil {
			s.Close()
			return sysexit.Temp(err)
		}
	}
	var timeout <-chan time.Time
	if a.MaxTime > 0 {
		t := time.NewTimer(a.MaxTime)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		err = s.Close()
	case <-timeout:
		err = s.Close()
	case <-s.CountReached():
		gctx, cancel := context.WithTimeout(ctx, grace)
		err = s.Shutdown(gctx)
		cancel()
	}
	if _, werr := fmt.Fprintln(stdout, s.Counts()); werr != nil && err == nil {
		err = sysexit.Temp(werr)
	}
	return err
}

// deref is the name given, or "" for an option left out.
func deref(name *string) string {
	if name == nil {
		return ""
	}
	return *name
}
