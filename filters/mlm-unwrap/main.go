// mlm-unwrap reads an MLM1 stream and writes the messages it carries,
// byte for byte, or their envelopes. See mlm-unwrap(1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"mlm/lib/cli"
	"mlm/lib/durable"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-unwrap"

type args struct {
	Dir      string `short:"d" placeholder:"DIR" help:"Write each message to the file DIR/ID instead of standard output."`
	Envelope bool   `short:"e" help:"Print the envelopes instead of the messages, one item per line."`
}

func main() {
	var a args
	cli.Main(prog, "Unwrap the messages of an MLM1 stream.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	})
}

// run unwraps every record of in.
func run(a *args, in io.Reader, out io.Writer) error {
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	bw := bufio.NewWriterSize(out, 64<<10)
	err := r.Each(func(h *stream.Header) error {
		switch {
		case a.Envelope:
			return printEnvelope(bw, r, h)
		case a.Dir != "":
			return writeFile(a.Dir, r, h)
		}
		_, err := io.Copy(bw, r.Message())
		return err
	})
	if err != nil {
		return err
	}
	return sysexit.Temp(bw.Flush())
}

// printEnvelope writes one line per item of the record: "ID attr N=V",
// "ID sender PATH", "ID size OCTETS", "ID rcpt PATH" and "ID count N".
// Attribute values stay encoded, so every line is one line.
func printEnvelope(w *bufio.Writer, r *stream.Reader, h *stream.Header) error {
	for _, a := range h.Attrs {
		fmt.Fprintf(w, "%s attr %s=%s\n", h.ID, a.Name, stream.EscapeValue(a.Value))
	}
	fmt.Fprintf(w, "%s sender %s\n", h.ID, h.Sender)
	size, err := io.Copy(io.Discard, r.Message())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s size %d\n", h.ID, size)
	var n int64
	err = r.EachRecipient(func(p stream.Path) error {
		n++
		_, err := w.WriteString(h.ID + " rcpt " + p.String() + "\n")
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.WriteString(h.ID + " count " + strconv.FormatInt(n, 10) + "\n")
	return sysexit.Temp(err)
}

// writeFile writes the record's message to dir/ID, all or nothing.
func writeFile(dir string, r *stream.Reader, h *stream.Header) error {
	if h.ID == "." || h.ID == ".." {
		return sysexit.Errorf(sysexit.DataErr, "record id %q is not a file name", h.ID)
	}
	final := filepath.Join(dir, h.ID)
	f, err := durable.Create(durable.Beside(final), final)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r.Message()); err != nil {
		f.Abort()
		return err
	}
	// The file is committed only once the whole record has been checked.
	if err := r.EachRecipient(func(stream.Path) error { return nil }); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
