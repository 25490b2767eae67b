// mlm-moderate lists held posts and approves, rejects or discards them,
// by hand or from a moderator's reply. See mlm-moderate(1).
package main

import (
	"os"

	"mlm/lib/cli"
	"mlm/lib/clock"
)

const prog = "mlm-moderate"

type args struct {
	Dir    string `arg:"" placeholder:"DIR" help:"The list directory."`
	Action string `arg:"" enum:"list,approve,reject,discard,mail,expire,remind" placeholder:"ACTION" help:"list, approve ID, reject ID, discard ID, mail (a reply on standard input), expire or remind."`
	ID     string `arg:"" optional:"" placeholder:"ID" help:"The held post, for approve, reject and discard."`
}

func main() {
	var a args
	cli.Main(prog, "Moderate a list's held posts.", &a, func() error {
		if a.Action == "list" {
			if err := cli.CheckStdout(); err != nil {
				return err
			}
		}
		return run(&a, os.Stdin, os.Stdout, clock.Now())
	})
}
