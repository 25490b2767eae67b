// mlm-members fills each record's recipients from the list's members and
// makes the list's bounce address its sender. See mlm-members(1).
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"mlm/lib/addr"
	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/envelope"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-members"

type args struct {
	File string `short:"l" name:"file" enum:"subscribers,digest,moderators,owner" default:"subscribers" placeholder:"FILE" help:"Expand to this file's addresses: subscribers,digest,moderators,owner."`
	Dir  string `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "Expand records to the list's members.", &a, func() error {
		return run(a.Dir, a.File, os.Stdin, os.Stdout, os.Stderr)
	}, cli.Output)
}

// run expands every record of in to the addresses of file. Members are
// streamed from their source for each record; only the keys already
// written are remembered, to drop duplicates. Only the subscribers have
// digest, nomail and notmetoo members left out. A record that would go
// to no one from another file (no owner, say) is a temporary failure,
// so that it waits rather than vanish.
func run(dir, file string, in io.Reader, out, stderr io.Writer) error {
	d, err := listdir.Open(dir)
	if err != nil {
		return err
	}
	nbad, badIn := 0, "" // the record's member lines that are no address, and where they are
	bad := func(file string, line int, err error) {
		nbad, badIn = nbad+1, file
		fmt.Fprintf(stderr, "%s: %s: line %d: %v; skipped\n", prog, file, line, err)
	}
	// Held as keys' hashes, 12 to 24 octets a member, as seen is.
	skip, notMeToo := addr.NewKeySet(), addr.NewKeySet()
	if file == listdir.Subscribers {
		for _, f := range []string{listdir.Digest, listdir.NoMail, listdir.NotMeToo} {
			set := skip
			if f == listdir.NotMeToo {
				set = notMeToo
			}
			// The first few of a file's lines that are no address,
			// then their count: each line of a file of thousands
			// (saved as UTF-16) was named at every run (R90 F7).
			n := 0
			err := members.Keys(d, f, set, func(file string, line int, err error) {
				if n++; n <= maxSideBad {
					bad(file, line, err)
				}
			})
			if n > maxSideBad {
				fmt.Fprintf(stderr, "%s: %s: %d lines more that are no address; skipped\n", prog, f, n-maxSideBad)
			}
			if err != nil {
				return err
			}
		}
	}
	list := d.Address()
	// A key's domain is its member's, lowered (addr.Key): one not the
	// list's rules out an address of the list itself (envelope.Own) at
	// the cost of a compare, where Own would lower both domains again.
	atList := "@" + addr.Domain(list)
	bounces := stream.Path{Mailbox: d.CommandAddress("bounces")}
	src := members.NewSource(d, file)
	seen := addr.NewKeySet()
	b := &batch{}
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	w := stream.NewWriter(out)
	// The clock is found once (it looks at the environment), and the
	// trace made once a second.
	clk, traceAt, trace := clock.Default(), int64(0), ""
	err = r.Each(func(h *stream.Header) error {
		if err := journal.CheckPost(h.ID); err != nil {
			return err
		}
		poster := h.Sender.Mailbox
		if now := clk.Now().Unix(); trace == "" || now != traceAt {
			traceAt, trace = now, prog+":"+strconv.FormatInt(now, 10)
		}
		h.Attrs = append(h.Attrs,
			stream.Attr{Name: "poster", Value: poster},
			stream.Attr{Name: "state", Value: "expanded"},
			stream.Attr{Name: "trace", Value: trace})
		h.Sender = bounces
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(w, r.Message()); err != nil {
			return err
		}
		seen.Reset()
		n := 0
		err := r.EachRecipient(func(p stream.Path) error {
			seen.Add(addr.Key(p.Mailbox))
			n++
			return w.Recipient(p)
		})
		if err != nil {
			return err
		}
		// The table of those written, made once for all the file may
		// hold, not grown member by member.
		more, err := src.Len()
		if err != nil {
			return err
		}
		seen.Grow(more)
		posterKey := addr.Key(poster)
		nbad = 0
		members := 0 // the record's member lines that are addresses
		err = src.Each(func(m string) error {
			members++
			k := addr.Key(m)
			if strings.HasSuffix(k, atList) && envelope.Own(list, m) {
				fmt.Fprintf(stderr, "%s: %s: an address of the list itself; skipped\n", prog, file)
				return nil
			}
			if skip.Has(k) || (k == posterKey && notMeToo.Has(k)) {
				return nil
			}
			if b.add(m, k) {
				return b.flush(w, seen, &n)
			}
			return nil
		}, bad)
		if err == nil {
			err = b.flush(w, seen, &n)
		}
		if err != nil {
			return err
		}
		if n == 0 && file != listdir.Subscribers {
			return sysexit.Errorf(sysexit.TempFail, "%s: no one to send %s to", file, h.ID)
		}
		if members == 0 && nbad > 0 {
			// Not a list without members: one whose file cannot be
			// read as it should (saved as UTF-16, say). The post
			// waits for it to be mended, not go to no one.
			return sysexit.Errorf(sysexit.TempFail, "%s: no line is an address; no one to send %s to", badIn, h.ID)
		}
		return w.End()
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// maxSideBad is how many lines of digest, nomail or notmetoo that are
// no address a run names, each; the rest it counts.
const maxSideBad = 3

// A batch is members on their way out, not yet looked up in the set of
// those written: they go to it together (addr.KeySet's AddAll), so that
// its lookups' waits for memory overlap. It holds a copy of each member,
// as what members.Source gives lasts only until the next: the copies go
// one after another in buf, which the next batch uses again.
type batch struct {
	buf   []byte
	ends  []int    // where each member ends in buf
	ks    []string // their keys
	fresh []bool
}

// batchMax is the most members a batch holds.
const batchMax = 32

// add adds a member and its key, and reports whether the batch is full.
// A key that is m itself (addr.Key's, for a domain in lower case) is
// kept as "", to be the copy of m; any other is a string of its own.
func (b *batch) add(m, k string) bool {
	if unsafe.StringData(k) == unsafe.StringData(m) {
		k = "" // no member's key is empty
	}
	b.buf = append(b.buf, m...)
	b.ends = append(b.ends, len(b.buf))
	b.ks = append(b.ks, k)
	return len(b.ends) >= batchMax
}

// flush writes the batch's members that seen does not have yet, in
// order, counting them in n, and empties it.
func (b *batch) flush(w *stream.Writer, seen *addr.KeySet, n *int) error {
	if len(b.ends) == 0 {
		return nil
	}
	for i, k := range b.ks {
		if k == "" {
			b.ks[i] = b.member(i)
		}
	}
	b.fresh = slices.Grow(b.fresh[:0], len(b.ks))[:len(b.ks)]
	seen.AddAll(b.ks, b.fresh)
	for i, fresh := range b.fresh {
		if !fresh {
			continue
		}
		*n++
		if err := w.Recipient(stream.Path{Mailbox: b.member(i)}); err != nil {
			return err
		}
	}
	clear(b.ks)
	b.ks = b.ks[:0]
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	return nil
}

// member is the batch's i-th member, in buf, which is not written again
// before the batch is out.
func (b *batch) member(i int) string {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return unsafe.String(&b.buf[start], b.ends[i]-start)
}
