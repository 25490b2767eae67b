// mlm-sub adds addresses to a list's members, or to another of its
// member files. See mlm-sub(1).
package main

import (
	"fmt"
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/members"
	"mlm/lib/sysexit"
)

const prog = "mlm-sub"

type args struct {
	File    string   `short:"l" name:"file" enum:"subscribers,digest,nomail,notmetoo,moderators,posters,owner" default:"subscribers" placeholder:"FILE" help:"The member file to change: subscribers,digest,nomail,notmetoo,moderators,posters,owner."`
	Verbose bool     `short:"v" help:"Say how many addresses were added."`
	Dir     string   `arg:"" placeholder:"DIR" help:"The list directory."`
	Addrs   []string `arg:"" optional:"" placeholder:"ADDRESS" help:"Addresses to add (default: one per line on standard input)."`
}

func main() {
	var a args
	cli.Main(prog, "Add addresses to a list's members.", &a, func() error {
		if a.Verbose {
			if err := cli.CheckStdout(); err != nil {
				return err // the change would be made, and its report lost
			}
		}
		return run(&a, os.Stdin, os.Stdout)
	})
}

// run adds the addresses, all or none.
func run(a *args, in io.Reader, out io.Writer) error {
	n, given, err := members.Edit(a.Dir, a.File, a.Addrs, in, false)
	if err != nil || !a.Verbose {
		return err
	}
	// The change is made; a report that is lost is a failure all the
	// same, and running again is harmless.
	_, err = fmt.Fprintf(out, "%s: added %d of %d\n", a.File, n, given)
	return sysexit.Temp(err)
}
