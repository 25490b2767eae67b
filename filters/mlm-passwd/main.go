// mlm-passwd sets a list's password, which a poster may give in an
// Approved: field; only its hash is stored. See mlm-passwd(1).
package main

import (
	"bufio"
	"io"
	"os"
	"strings"

	"mlm/lib/cli"
	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/password"
	"mlm/lib/sysexit"
)

const prog = "mlm-passwd"

type args struct {
	Delete bool   `short:"d" help:"Remove the password: no post is approved by one."`
	Dir    string `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "Set a list's password from the first line of standard input.", &a, func() error {
		return run(&a, os.Stdin)
	})
}

// maxLine is the longest first line taken: a header line's limit.
const maxLine = msg.MaxLine

// run stores the hash of the first line of in, or removes the password.
func run(a *args, in io.Reader) error {
	d, err := listdir.OpenRW(a.Dir)
	if err != nil {
		return err
	}
	if a.Delete {
		if err := os.Remove(d.File(listdir.Password)); err != nil && !os.IsNotExist(err) {
			return sysexit.Temp(err)
		}
		// Durable, lest a password taken away because it leaked come
		// back after a power loss.
		return sysexit.Temp(durable.SyncDir(d.Path))
	}
	// A password is given in an Approved field, whose line holds at
	// most 998 octets: a first line longer than that is no password
	// (and is not read into memory whole).
	line, err := bufio.NewReader(io.LimitReader(in, int64(len(listdir.BOM))+maxLine+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return sysexit.Temp(err)
	}
	// (A byte-order mark an editor put first is no part of it.)
	line = strings.TrimPrefix(line, listdir.BOM)
	if len(strings.TrimRight(line, "\r\n")) > maxLine {
		return sysexit.Errorf(sysexit.DataErr, "the first line of standard input is longer than %d octets", maxLine)
	}
	// mlm-auth trims what a poster gives, so the stored password is
	// trimmed too.
	pw := strings.TrimSpace(line)
	if pw == "" {
		return sysexit.Errorf(sysexit.DataErr, "no password on standard input")
	}
	h, err := password.Hash(pw)
	if err != nil {
		return sysexit.Temp(err)
	}
	return d.WriteFile(listdir.Password, func(w io.Writer) error { _, err := io.WriteString(w, h+"\n"); return err })
}
