// mlm-wrap reads one raw message on standard input and writes it as one
// MLM1 record on standard output, with the envelope given by its flags.
// See mlm-wrap(1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/envelope"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-wrap"

type args struct {
	Attr     []string `short:"a" sep:"none" placeholder:"NAME=VALUE" help:"Add an attribute (repeatable)."`
	FromLine bool     `short:"F" name:"from-line" help:"Remove a leading mbox From_ line; its address is the sender unless -f is given."`
	Sender   *string  `short:"f" placeholder:"SENDER" help:"Envelope sender; empty means the null sender <>."`
	ID       *string  `short:"i" placeholder:"ID" help:"Record id (default: a fresh unique id)."`
	Rcpt     []string `short:"r" sep:"none" placeholder:"RCPT" help:"Add an envelope recipient (repeatable)."`
}

func main() {
	var a args
	cli.Main(prog, "Wrap one message in an MLM1 record.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}

// run writes the message read from in as one record to out.
func run(a *args, in io.Reader, out io.Writer) error {
	h, rcpts, err := envelopeOf(a)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(in, 64<<10)
	if _, err := br.Peek(1); err == io.EOF {
		return nil // empty input: nothing to do
	}
	if a.FromLine {
		if err := stripFromLine(br, a, h); err != nil {
			return err
		}
	}
	return stream.WriteRecord(out, h, br, rcpts)
}

// envelopeOf checks the flags and returns the record's header and
// recipients.
func envelopeOf(a *args) (*stream.Header, []stream.Path, error) {
	h := &stream.Header{ID: stream.NewID()}
	if a.ID != nil {
		// An empty one too is a bad id, not no -i: a script's unset
		// variable must not pass for a fresh id.
		if err := stream.CheckID(*a.ID); err != nil {
			return nil, nil, sysexit.Errorf(sysexit.Usage, "-i: %v", err)
		}
		h.ID = *a.ID
	}
	for _, nv := range a.Attr {
		at, err := stream.ParseAttr(nv)
		if err != nil {
			return nil, nil, fmt.Errorf("-a: %w", err)
		}
		h.Attrs = append(h.Attrs, at)
	}
	if a.Sender != nil {
		p, err := stream.NewPath(*a.Sender, true)
		if err != nil {
			return nil, nil, err
		}
		h.Sender = p
	}
	var rcpts []stream.Path
	for _, r := range a.Rcpt {
		p, err := stream.NewPath(r, false)
		if err != nil {
			return nil, nil, err
		}
		rcpts = append(rcpts, p)
	}
	return h, rcpts, nil
}

// stripFromLine removes a leading From_ line and takes its sender unless
// -f gave one.
func stripFromLine(br *bufio.Reader, a *args, h *stream.Header) error {
	line := envelope.PeekFirstLine(br)
	if !envelope.StartsWithFromLine(line) {
		return nil
	}
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return sysexit.Errorf(sysexit.DataErr, "From_ line: over %d octets without LF, or %d with it", br.Size()-1, br.Size())
	}
	if err != nil && err != io.EOF {
		return sysexit.Errorf(sysexit.DataErr, "From_ line: %v", err)
	}
	s, perr := envelope.ParseFromLine(line)
	if a.Sender != nil {
		return nil
	}
	if perr != nil {
		return sysexit.Perm(sysexit.DataErr, perr)
	}
	h.Sender = stream.Path{Mailbox: s}
	return nil
}
