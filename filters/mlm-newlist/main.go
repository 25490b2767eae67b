// mlm-newlist creates a list directory with its settings and queues, and
// prints the lines a site adds to its MTA and crontab. See mlm-newlist(1).
package main

import (
	"os"

	"mlm/lib/cli"
)

const prog = "mlm-newlist"

type args struct {
	BinDir  string   `short:"b" name:"bindir" placeholder:"DIR" help:"Where the printed lines find the programs (default: the directory mlm-newlist was run from)."`
	MTA     string   `short:"m" name:"mta" enum:"aliases,postfix,exim,qmail,procmail,maildrop" default:"aliases" placeholder:"MTA" help:"Print the lines for: aliases, postfix, exim, qmail, procmail, maildrop."`
	Owner   []string `short:"o" sep:"none" placeholder:"ADDRESS" help:"An owner of the list (repeatable); owners get notices when there are no moderators."`
	Policy  string   `short:"p" enum:"open,members,moderated" default:"members" placeholder:"POLICY" help:"Who may post: open, members or moderated."`
	Dir     string   `arg:"" placeholder:"DIR" help:"The list directory to create."`
	Address string   `arg:"" placeholder:"ADDRESS" help:"The list address, e.g. dev@lists.example.org."`
}

func main() {
	var a args
	// The lines it prints are owed: a list made without them reaching
	// anyone gets no mail, and a second run refuses the directory.
	cli.Main(prog, "Create a list directory.", &a, func() error {
		return run(&a, os.Stdout)
	}, cli.Output)
}
