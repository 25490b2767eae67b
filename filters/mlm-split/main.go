// mlm-split splits each record of an MLM1 stream into delivery records of
// at most N recipients, grouped by domain, marked for VERP or not, or of
// one recipient each. See mlm-split(1).
package main

import (
	"os"

	"mlm/lib/cli"
)

const prog = "mlm-split"

type args struct {
	MaxRcpt    *int   `short:"n" name:"max-rcpt" placeholder:"N" help:"At most N recipients a record (default: the list's maxrcpt, else 100)."`
	MaxDomains *int   `short:"d" name:"max-domains" placeholder:"D" help:"At most D domains a record of small domains, to 1024 (default: the list's maxdomains, else N or 1024); 1: each domain alone."`
	Personal   bool   `short:"p" xor:"mode" help:"One recipient a record, the sender unchanged."`
	VERP       bool   `short:"v" name:"verp" xor:"mode" help:"Mark each record verp=yes: delivery sends each recipient alone, the sender VERP-encoded with it."`
	Dir        string `arg:"" optional:"" placeholder:"DIR" help:"List directory whose maxrcpt and maxdomains to read."`
}

func main() {
	var a args
	cli.Main(prog, "Split records into delivery records of at most N recipients.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}
