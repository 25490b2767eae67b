// mlm-mbox is the mbox edge of an MLM1 stream: it imports an mbox file as
// records, the From_ line's address becoming the sender, or exports
// records as an mbox a mail reader opens. mbox cannot carry every message
// byte for byte; mlm-mbox(1) says where it loses.
package main

import (
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/sysexit"
)

const prog = "mlm-mbox"

type args struct {
	Attr    []string `short:"a" sep:"none" placeholder:"NAME=VALUE" help:"Import: add an attribute to every record (repeatable)."`
	Sender  *string  `short:"f" placeholder:"SENDER" help:"Import: envelope sender of every record instead of the From_ line's; empty means <>."`
	ID      *string  `short:"i" placeholder:"BASE" help:"Import: records get the ids BASE,1 BASE,2 … (default BASE: a fresh unique id)."`
	Quoting string   `short:"q" enum:"mboxrd,mboxo" default:"mboxrd" placeholder:"STYLE" help:"How body lines starting with From are quoted in the mbox, read or written: mboxrd or mboxo."`
	Rcpt    []string `short:"r" sep:"none" placeholder:"RCPT" help:"Import: add an envelope recipient to every record (repeatable)."`
	Export  bool     `short:"x" help:"Export: read records, write an mbox."`
}

func main() {
	var a args
	cli.Main(prog, "Import an mbox as MLM1 records, or export records as an mbox.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}

// run imports or exports, as -x says.
func run(a *args, in io.Reader, out io.Writer) error {
	if a.Export {
		if len(a.Attr) > 0 || a.Sender != nil || a.ID != nil || len(a.Rcpt) > 0 {
			return sysexit.Errorf(sysexit.Usage, "-x: -a, -f, -i and -r are for import; an export writes the records as they are")
		}
		return export(a.Quoting, in, out)
	}
	return importMbox(a, in, out)
}
