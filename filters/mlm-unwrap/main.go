// mlm-unwrap reads an MLM1 stream and writes the messages it carries,
// byte for byte, or their envelopes. See mlm-unwrap(1).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"mlm/lib/cli"
	"mlm/lib/durable"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-unwrap"

type args struct {
	Dir      *string `short:"d" placeholder:"DIR" help:"Write each message to the file DIR/ID instead of standard output, never over a file there."`
	Envelope bool    `short:"e" help:"Print the envelopes instead of the messages, one item per line."`
}

func main() {
	var a args
	cli.Main(prog, "Unwrap the messages of an MLM1 stream.", &a, func() error {
		// With -d (and no -e) the messages go to files and nothing
		// to standard output, which may then be closed, as a daemon's
		// mlm-run leaves it to a queue's last stage.
		if a.Dir == nil || a.Envelope {
			if err := cli.CheckStdout(); err != nil {
				return err
			}
		}
		return run(&a, os.Stdin, os.Stdout)
	})
}

// run unwraps every record of in.
func run(a *args, in io.Reader, out io.Writer) error {
	// An empty -d too is a bad one, not no -d: a script's unset
	// variable must not send the messages to standard output.
	if a.Dir != nil && *a.Dir == "" {
		return sysexit.Errorf(sysexit.Usage, "-d: empty directory name")
	}
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	bw := bufio.NewWriterSize(out, 64<<10)
	err := r.Each(func(h *stream.Header) error {
		switch {
		case a.Envelope:
			return printEnvelope(bw, r, h)
		case a.Dir != nil:
			return writeFile(*a.Dir, r, h)
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

// writeFile writes the record's message to dir/ID, all or nothing, and
// never over a file there already (one of the same id earlier in the
// stream, or left by an earlier run): one that holds the same message is
// kept, as written; one that holds another is refused, 65, rather than
// lose it.
func writeFile(dir string, r *stream.Reader, h *stream.Header) error {
	if h.ID == "." || h.ID == ".." {
		return sysexit.Errorf(sysexit.DataErr, "record id %q is not a file name", h.ID)
	}
	final := filepath.Join(dir, h.ID)
	fi, err := os.Lstat(final)
	switch {
	case err == nil:
		return sameFile(final, fi, r)
	case !errors.Is(err, fs.ErrNotExist):
		return sysexit.Temp(err)
	}
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
	existed, err := f.CommitNew() // link(2): never over a name
	if err == nil && existed {
		err = sysexit.Errorf(sysexit.TempFail, "%s: made by another process meanwhile, not replaced", final)
	}
	return err
}

// errOther is the error sameFile's comparing writer stops the copy with.
var errOther = errors.New("another message")

// sameFile checks that the file final, there already, holds the record's
// message, and makes it durable as written: a run killed before its
// directory was fsynced may have left it.
func sameFile(final string, fi fs.FileInfo, r *stream.Reader) error {
	if !fi.Mode().IsRegular() {
		return sysexit.Errorf(sysexit.TempFail, "%s: not a regular file, not replaced", final)
	}
	f, err := os.OpenFile(final, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return sysexit.Temp(err)
	}
	defer f.Close()
	c := &comparer{br: bufio.NewReaderSize(f, 64<<10)}
	_, err = io.Copy(c, r.Message())
	if err == nil {
		_, err = c.br.Peek(1) // the file must end where the message does
		switch err {
		case nil:
			err = errOther
		case io.EOF:
			err = nil
		}
	}
	switch {
	case errors.Is(err, errOther):
		return sysexit.Errorf(sysexit.DataErr, "%s: exists, holding another message; not replaced", final)
	case err != nil:
		return err
	}
	if err := r.EachRecipient(func(stream.Path) error { return nil }); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(durable.SyncDir(filepath.Dir(final)))
}

// comparer is a writer that takes only the octets br reads next.
type comparer struct{ br *bufio.Reader }

func (c *comparer) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := c.br.Peek(min(len(p)-n, c.br.Size()))
		if !bytes.Equal(b, p[n:n+len(b)]) || err == io.EOF {
			return n, errOther
		} else if err != nil {
			return n, sysexit.Temp(err)
		}
		c.br.Discard(len(b))
		n += len(b)
	}
	return n, nil
}
