// mlm-hdr edits the header of the message of every record of an MLM1
// stream, by its flags or by a list directory's settings, and passes
// everything else through byte for byte. See mlm-hdr(1).
package main

import (
	"io"
	"os"

	// The charsets mail programs encode a Subject in (Outlook's
	// windows-1252, iso-8859-15, koi8-r, ISO-2022-JP): a reply's Subject
	// is decoded to find the list's prefix in it, which, not ASCII and
	// not found, would be added again on every reply. Here only: the
	// other programs never decode a header's text to match it.
	_ "github.com/emersion/go-message/charset"

	"mlm/lib/cli"
	"mlm/lib/stream"
)

const prog = "mlm-hdr"

type args struct {
	Add     []string `short:"a" sep:"none" placeholder:"FIELD:VALUE" help:"Add a header field at the top (repeatable)."`
	Delete  []string `short:"d" sep:"none" placeholder:"FIELD" help:"Delete every FIELD field (repeatable)."`
	Replace []string `short:"r" sep:"none" placeholder:"FIELD:VALUE" help:"Delete every field of that name, then add this one (repeatable)."`
	Dir     string   `arg:"" optional:"" placeholder:"DIR" help:"List directory whose settings to apply."`
}

func main() {
	var a args
	cli.Main(prog, "Edit the message headers of an MLM1 stream.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}

// run edits every record of in onto out.
func run(a *args, in io.Reader, out io.Writer) error {
	ed, err := newEditor(a)
	if err != nil {
		return err
	}
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	w := stream.NewWriter(out)
	if err := r.Each(func(h *stream.Header) error { return ed.record(r, w, h) }); err != nil {
		return err
	}
	return w.Flush()
}
