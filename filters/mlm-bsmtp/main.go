// mlm-bsmtp turns an MLM1 stream into Batch SMTP (RFC 2442) for exim -bS
// or any program that reads an SMTP client's side of a session.
// See mlm-bsmtp(1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"mlm/lib/addr"
	"mlm/lib/cli"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
	"mlm/lib/wire"
)

const prog = "mlm-bsmtp"

type args struct {
	Helo *string `short:"H" placeholder:"NAME" help:"Name to give in HELO (default: this host's name)."`
}

func main() {
	var a args
	cli.Main(prog, "Write an MLM1 stream as Batch SMTP.", &a, func() error {
		return run(&a, os.Stdin, os.Stdout)
	}, cli.Output)
}

// run writes HELO, one transaction per record, and QUIT. A record is held
// (in memory, or a temporary file if large) until its recipients, which
// SMTP sends before the message, have been read. A bad record ends the
// batch before it: the transactions of those before are written whole,
// then QUIT.
func run(a *args, in io.Reader, out io.Writer) error {
	// An empty -H too is a bad name, not no -H: a script's unset
	// variable must not pass for this host's name.
	if a.Helo != nil && *a.Helo == "" {
		return sysexit.Errorf(sysexit.Usage, "HELO name: empty name given with -H")
	}
	name := ""
	if a.Helo != nil {
		name = *a.Helo
	}
	helo, err := heloName(name)
	if err != nil {
		return err
	}
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	bw := bufio.NewWriterSize(out, 64<<10)
	msg, rcpts := spool.New(spool.MemLimit), spool.New(spool.MemLimit)
	defer msg.Close()
	defer rcpts.Close()
	n, open := 0, false // open: a transaction's writing began and did not end
	err = r.Each(func(h *stream.Header) error {
		err := transaction(bw, r, h, msg, rcpts, func() {
			if n++; n == 1 {
				fmt.Fprintf(bw, "HELO %s\r\n", helo)
			}
			open = true
		})
		if err == nil {
			open = false
		}
		return err
	})
	if n > 0 && !open {
		// The session ends with the records before a bad one, whole.
		// (One that failed as it was written, a spool that could not
		// be read, ends the output inside its DATA, which the reader
		// then drops: no QUIT there.)
		bw.WriteString("QUIT\r\n")
	}
	if ferr := bw.Flush(); err == nil {
		err = sysexit.Temp(ferr)
	}
	return err
}

// transaction writes MAIL, RCPT lines and DATA for one record, after
// begin. The whole record is read and checked first, its message into
// msg and its RCPT lines into rcpts: a bad record writes nothing, so the
// batch never ends inside a transaction.
func transaction(bw *bufio.Writer, r *stream.Reader, h *stream.Header, msg, rcpts *spool.Spool, begin func()) error {
	if err := msg.Reset(); err != nil {
		return err
	}
	if err := rcpts.Reset(); err != nil {
		return err
	}
	if _, err := io.Copy(msg, r.Message()); err != nil {
		return err
	}
	// The paths alone: a HELO session has no ESMTP parameters, and exim
	// -bS refuses one, and the rest of the batch with it. A domain goes
	// as A-labels, the same mailbox (RFC 5890): exim -bS refused one
	// that is not ASCII ("501 malformed address"), and the rest of the
	// batch, and a record run again sent its transactions before it
	// each time (R88 F1); a local part that is not ASCII goes as it is,
	// which it takes.
	n, out := 0, 0
	err := r.EachRecipient(func(p stream.Path) error {
		n++
		m, ok := addr.DomainALabels(p.Mailbox)
		if !ok {
			// Left out, said: the record's others go on, as
			// mlm-sendmail fails such a recipient alone, where the
			// whole record went to bad/ for one member (R90 F2).
			fmt.Fprintf(os.Stderr, "%s: record %s: a recipient whose domain has no A-labels (IDNA), which a batch needs, is left out; the others go\n", prog, h.ID)
			return nil
		}
		out++
		_, err := io.WriteString(rcpts, "RCPT TO:<"+m+">\r\n")
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return sysexit.Errorf(sysexit.DataErr, "record %s: no recipients", h.ID)
	}
	if out == 0 {
		// No transaction, said, and the batch goes on: mlm-split puts
		// such addresses in a record of their own, which ended the
		// batch (65) with the records after it (R91 F2).
		fmt.Fprintf(os.Stderr, "%s: record %s: no recipient a batch can name; no transaction\n", prog, h.ID)
		return nil
	}
	sender, ok := addr.DomainALabels(h.Sender.Mailbox)
	if !ok {
		return sysexit.Errorf(sysexit.DataErr, "record %s: a sender whose domain has no A-labels (IDNA), which a batch needs", h.ID)
	}
	begin()
	if h.VERP() {
		return verp(bw, sender, msg, rcpts)
	}
	return send(bw, sender, rcpts.Reader(), msg)
}

// verp writes a transaction for each RCPT line of rcpts (a record of
// verp=yes, as mlm-sendmail(1) sends it): the sender VERP-encoded with
// the recipient, or as it is where it cannot be. A recipient named twice
// (one key, addr.Key) has one, for the first time: each transaction is
// a copy of the message.
func verp(bw *bufio.Writer, sender string, msg, rcpts *spool.Spool) error {
	br := bufio.NewReader(rcpts.Reader())
	seen := addr.NewKeySet() // 16 octets or so a recipient, not its address
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return sysexit.Temp(err)
		}
		from := sender
		rcpt := strings.TrimSuffix(strings.TrimPrefix(line, "RCPT TO:<"), ">\r\n")
		if !seen.Add(addr.Key(rcpt)) {
			continue
		}
		if v, ok := addr.VERP(sender, rcpt); ok {
			from = v
		}
		if err := send(bw, from, strings.NewReader(line), msg); err != nil {
			return err
		}
	}
}

// send writes one transaction: from, the RCPT lines, the message.
func send(bw *bufio.Writer, from string, rcpts io.Reader, msg *spool.Spool) error {
	bw.WriteString("MAIL FROM:<" + from + ">\r\n")
	if _, err := io.Copy(bw, rcpts); err != nil {
		return sysexit.Temp(err)
	}
	bw.WriteString("DATA\r\n")
	d := wire.NewDataWriter(bw)
	if _, err := io.Copy(d, msg.Reader()); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(d.Close())
}

// hostname is os.Hostname, which a test sets.
var hostname = os.Hostname

// heloName checks the name given, or finds this host's. An error names
// where a bad name came from: this host's name is not the caller's
// typing, and -H is the way round it.
func heloName(name string) (string, error) {
	from := ""
	if name == "" {
		h, err := hostname()
		if err != nil {
			return "", err
		}
		name, from = h, " (this host's name; give one with -H)"
	}
	if strings.HasPrefix(name, "[") {
		// RFC 5321 4.1.1.1: HELO takes a Domain, never an address literal.
		return "", sysexit.Errorf(sysexit.Usage, "HELO name: %s: an address literal, not a domain%s", name, from)
	}
	if err := addr.CheckDomain(name); err != nil {
		return "", sysexit.Errorf(sysexit.Usage, "HELO name: %v%s", err, from)
	}
	a, ok := addr.ASCIIHost(name)
	if !ok {
		return "", sysexit.Errorf(sysexit.Usage, "HELO name: %s: no A-labels for it (IDNA)%s", name, from)
	}
	return a, nil
}
