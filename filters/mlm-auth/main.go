// mlm-auth decides who may post: records that pass go to standard output,
// held ones to the list's hold queue with a notice to the moderators,
// refused ones nowhere but a short notice to their sender.
// See mlm-auth(1).
package main

import (
	"os"

	"mlm/lib/cli"
	"mlm/lib/clock"
)

const prog = "mlm-auth"

type args struct {
	Dir string `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "Pass, hold or refuse posts by the list's policy.", &a, func() error {
		return run(a.Dir, os.Stdin, os.Stdout, clock.Now())
	}, cli.Output)
}
