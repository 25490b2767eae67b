// mlm-passwd sets a list's password, which a poster may give in an
// Approved: field; only its hash is stored. See mlm-passwd(1).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
		in := io.Reader(os.Stdin)
		if !a.Delete {
			typed, ok, err := ask(os.Stdin, os.Stderr)
			if err != nil {
				return err
			}
			if ok {
				in = strings.NewReader(typed)
			}
		}
		return run(&a, in)
	})
}

// ask reads the password from the terminal f, if f is one, as passwd(1)
// does: it prompts on w, reads with the echo off, and asks again to be
// sure of what was typed. ok is false if f is no terminal, and then
// nothing is read.
func ask(f *os.File, w io.Writer) (typed string, ok bool, err error) {
	restore, ok := noEcho(f)
	if !ok {
		return "", false, nil
	}
	defer restore()
	// A terminal gives a line a read (at most 4,095 octets on Linux):
	// the reader holds no more than that.
	br := bufio.NewReader(f)
	line := func(prompt string) (string, error) {
		fmt.Fprint(w, prompt)
		s, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", sysexit.Temp(err)
		}
		if !strings.HasSuffix(s, "\n") {
			// An end of file typed (^D): the terminal echoed no
			// newline.
			fmt.Fprintln(w)
		}
		return s, nil
	}
	first, err := line("New password: ")
	if err != nil || strings.TrimSpace(first) == "" {
		// None typed: run says so.
		return first, true, err
	}
	again, err := line("Retype new password: ")
	if err != nil {
		return "", true, err
	}
	if strings.TrimSpace(again) != strings.TrimSpace(first) {
		return "", true, sysexit.Errorf(sysexit.DataErr, "the two passwords typed differ; nothing is changed")
	}
	return first, true, nil
}

// leftoverAge is the age past which a temporary file of the password
// is taken for one a run killed half way left.
const leftoverAge = time.Hour

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
		// And any hash a run killed while it wrote left beside it.
		durable.Leftovers(d.File(listdir.Password), 0)
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
	// A temporary file of an hour is a leftover of a run killed while
	// it wrote (a run takes milliseconds), and holds a hash of a password.
	durable.Leftovers(d.File(listdir.Password), leftoverAge)
	return d.WriteFile(listdir.Password, func(w io.Writer) error { _, err := io.WriteString(w, h+"\n"); return err })
}
