// mlm-sendmail delivers records over SMTP or LMTP to the list's relays:
// pipelined, over several connections, with a journal so that no
// recipient gets a post twice. Deferred recipients go out on standard
// output as records for the retry queue; failed ones become records in
// the bounces queue. See mlm-sendmail(1).
package main

import (
	"os"
	"time"

	"mlm/lib/cli"
	"mlm/lib/sysexit"
)

const prog = "mlm-sendmail"

type args struct {
	AuthOpt  *string       `short:"a" name:"auth" placeholder:"FILE" help:"AUTH PLAIN with the user and password on the first line of FILE."`
	Conns    int           `short:"c" default:"20" placeholder:"N" help:"Deliver over up to N connections at once."`
	DataTime time.Duration `name:"data-timeout" default:"10m" placeholder:"DURATION" help:"Wait at least DURATION for the reply to the end of the data."`
	Helo     string        `short:"H" placeholder:"NAME" help:"Name to give in EHLO (default: the list's domain)."`
	Lifetime time.Duration `short:"l" default:"120h" placeholder:"DURATION" help:"Give up on the recipients of a retry record (with --retry, of any record) deferred longer than DURATION."`
	LMTP     bool          `short:"L" name:"lmtp" help:"Speak LMTP, with a reply for each recipient."`
	Relay    []string      `short:"r" sep:"none" placeholder:"HOST:PORT" help:"A relay (repeatable; default: the list's relay file)."`
	Retry    bool          `short:"R" help:"The records are retries: deferred recipients make the exit status 75 instead of new records."`
	SendOpt  *string       `short:"s" name:"sendmail" placeholder:"PATH" help:"Deliver by running PATH -i -f SENDER -- RCPT... instead of SMTP."`
	StartTLS bool          `short:"S" name:"starttls" help:"Require STARTTLS before anything else."`
	Timeout  time.Duration `short:"t" default:"5m" placeholder:"DURATION" help:"Timeout for each SMTP command and reply."`
	Verbose  bool          `short:"v" help:"Print a summary line on standard error."`
	Dir      string        `arg:"" placeholder:"DIR" help:"The list directory."`

	Auth, Sendmail string `kong:"-"` // -a and -s, once given (files)
}

func main() {
	var a args
	cli.Main(prog, "Deliver records over SMTP or LMTP.", &a, func() error {
		if err := a.files(); err != nil {
			return err
		}
		// A wait of no time, or less, for the final dot's reply is
		// none given to smtpout, which waits its 10 minutes, not the
		// -t timeout: refused, as such a -t is.
		if a.DataTime <= 0 {
			return sysexit.Errorf(sysexit.Usage, "--data-timeout: %v is not a time to wait", a.DataTime)
		}
		// The deferred recipients go out on standard output, but for
		// -R's: the retry queue's stage, often the last, which has the
		// queue runner's own standard output.
		if !a.Retry {
			if err := cli.CheckStdout(); err != nil {
				return err
			}
		}
		return run(&a, os.Stdin, os.Stdout, os.Stderr)
	}, cli.OneCPU)
}

// files takes -a and -s. An empty one is a bad one, not the option left
// out: a stages line's unset variable must not send over SMTP where a
// program was named, nor without the AUTH asked for.
func (a *args) files() error {
	for _, f := range []struct {
		flag string
		opt  *string
		to   *string
	}{{"-a", a.AuthOpt, &a.Auth}, {"-s", a.SendOpt, &a.Sendmail}} {
		if f.opt == nil {
			continue
		}
		if *f.opt == "" {
			return sysexit.Errorf(sysexit.Usage, "%s: empty file name", f.flag)
		}
		*f.to = *f.opt
	}
	return nil
}
