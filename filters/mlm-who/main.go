// mlm-who lists a list's members, or the addresses of another of its
// member files, one per line. See mlm-who(1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/sysexit"
)

const prog = "mlm-who"

type args struct {
	File  string `short:"l" name:"file" enum:"subscribers,digest,nomail,notmetoo,moderators,posters,owner" default:"subscribers" placeholder:"FILE" help:"The member file to list: subscribers,digest,nomail,notmetoo,moderators,posters,owner."`
	Count bool   `short:"c" help:"Print only the number of addresses."`
	Dir   string `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "List a list's members.", &a, func() error {
		return run(&a, os.Stdout, os.Stderr)
	}, cli.Output)
}

// run prints the addresses, streaming; bad lines are named on stderr.
func run(a *args, out, stderr io.Writer) error {
	d, err := listdir.Open(a.Dir)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	n := 0
	err = members.Each(d, a.File, func(m string) error {
		n++
		if a.Count {
			return nil
		}
		_, err := bw.WriteString(m + "\n")
		return err
	}, func(file string, line int, err error) {
		fmt.Fprintf(stderr, "%s: %s: line %d: %v\n", prog, file, line, err)
	})
	if err != nil {
		return sysexit.Temp(err)
	}
	if a.Count {
		fmt.Fprintln(bw, n)
	}
	return sysexit.Temp(bw.Flush())
}
