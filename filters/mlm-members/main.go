// mlm-members fills each record's recipients from the list's members and
// makes the list's bounce address its sender. See mlm-members(1).
package main

import (
	"fmt"
	"io"
	"os"

	"mlm/lib/addr"
	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/stream"
)

const prog = "mlm-members"

type args struct {
	Dir string `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "Expand records to the list's members.", &a, func() error {
		return run(a.Dir, os.Stdin, os.Stdout, os.Stderr)
	})
}

// run expands every record of in. Members are streamed from their source
// for each record; only the keys already written are remembered, to drop
// duplicates.
func run(dir string, in io.Reader, out, stderr io.Writer) error {
	d, err := listdir.Open(dir)
	if err != nil {
		return err
	}
	skip, err := skipped(d)
	if err != nil {
		return err
	}
	notMeToo, err := members.Keys(d, listdir.NotMeToo)
	if err != nil {
		return err
	}
	bounces := stream.Path{Mailbox: d.CommandAddress("bounces")}
	bad := func(file string, line int, err error) {
		fmt.Fprintf(stderr, "%s: %s: line %d: %v; skipped\n", prog, file, line, err)
	}
	r := stream.NewReader(in)
	w := stream.NewWriter(out)
	err = r.Each(func(h *stream.Header) error {
		poster := h.Sender.Mailbox
		now := clock.Unix()
		h.Attrs = append(h.Attrs,
			stream.Attr{Name: "poster", Value: poster},
			stream.Attr{Name: "state", Value: "expanded"},
			stream.Attr{Name: "trace", Value: prog + ":" + now})
		h.Sender = bounces
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(w, r.Message()); err != nil {
			return err
		}
		seen := addr.NewKeySet()
		err := r.EachRecipient(func(p stream.Path) error {
			seen.Add(addr.Key(p.Mailbox))
			return w.Recipient(p)
		})
		if err != nil {
			return err
		}
		posterKey := addr.Key(poster)
		err = members.Each(d, listdir.Subscribers, func(m string) error {
			k := addr.Key(m)
			if skip[k] || (k == posterKey && notMeToo[k]) || !seen.Add(k) {
				return nil
			}
			return w.Recipient(stream.Path{Mailbox: m})
		}, bad)
		if err != nil {
			return err
		}
		return w.End()
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// skipped returns the keys of members who get no posts: digest-only and
// no-mail members.
func skipped(d *listdir.Dir) (map[string]bool, error) {
	skip, err := members.Keys(d, listdir.Digest)
	if err != nil {
		return nil, err
	}
	nomail, err := members.Keys(d, listdir.NoMail)
	for k := range nomail {
		skip[k] = true
	}
	return skip, err
}
