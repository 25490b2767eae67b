// mlm-check checks that its input is a valid MLM1 stream and says where
// it is not. See mlm-check(1).
package main

import (
	"fmt"
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-check"

type args struct {
	Files []string `arg:"" optional:"" placeholder:"FILE" help:"Streams to check, each on its own; - is standard input (default: standard input)."`
}

func main() {
	var a args
	cli.Main(prog, "Check an MLM1 record stream.", &a, func() error {
		return run(a.Files, os.Stdin)
	})
}

// run checks each file, or in if there are none, or for "-". An error
// names the file once: not as "open NAME" nor "read NAME" after it.
func run(files []string, in io.Reader) error {
	if len(files) == 0 {
		return check(in)
	}
	for _, name := range files {
		var err error
		if name == "-" {
			err = check(in)
		} else if f, oerr := os.Open(name); oerr != nil {
			err = oerr
		} else {
			err = check(f)
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, sysexit.Bare(err))
		}
	}
	return nil
}

// check reads a whole stream; the Reader checks every rule on the way.
func check(in io.Reader) error {
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	return r.Each(func(*stream.Header) error { return nil })
}
