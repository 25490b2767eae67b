package main

// How records are split.
//
// The message comes before the recipients (DESIGN.md §3 rule 5), so it is
// held once, in a spool (memory, then an unlinked file; or, when the
// input is a regular file, memory, then that file again), and copied
// into every record written for it. Recipients are then read one at a
// time.
//
// In batch mode each domain has at most two pending batches, of its
// ASCII addresses and of its others. A batch is written as soon as it
// holds N recipients. Pending recipients are capped
// in total at 100,000 (some 10 MiB: at the default N of 100, enough for
// full batches over a thousand busy domains; with an N above it, no
// batch grows past it but by the one that passes it): once one more is
// pending, the fullest batch is written (of equal ones, the one opened
// first), so memory holds at most that many recipients whatever the
// record's size and N; or, if that one is under half full and the
// batches of small domains (below) hold more than it, and N or more,
// those together. At the end of the record the rest
// are written in the order their batches were opened: the batch of a
// domain that had one written in the record alone, and those of the
// others, small domains, one after another into records of at most N
// recipients and D domains, a batch never cut in two, ASCII recipients
// apart from the others (each domain's others are a batch of their own).
//
// Output is a function of the input, N and D alone: no clock, no random
// number, and no Go map iteration (the map is only looked up; order comes
// from opening numbers and a heap). So a run again after a crash writes
// the same records, batch k with the same recipients, which the delivery
// journal relies on.

import (
	"cmp"
	"container/heap"
	"io"
	"os"
	"slices"
	"strings"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const (
	defaultMax = 100       // RFC 5321 §4.5.3.1.8: a server takes at least 100
	highestMax = 1_000_000 // -n, maxrcpt at most
	pendingCap = 100_000   // pending recipients at most, whatever N
)

// run splits every record of in onto out.
func run(a *args, in io.Reader, out io.Writer) error {
	n, d, err := limits(a)
	if err != nil {
		return err
	}
	s := &splitter{max: n, domains: d, verp: a.VERP, single: a.Personal,
		msg: spool.New(spool.MemLimit), w: stream.NewWriter(out)}
	defer s.msg.Close()
	s.file, s.base = inputFile(in)
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	if err := r.Each(func(h *stream.Header) error { return s.record(r, h) }); err != nil {
		return err
	}
	return s.w.Flush()
}

// inputFile returns in and its offset if it is a regular file, which a
// queue item is: a large message is then read again from it rather than
// copied to a temporary file (spool.Backed). A queue item is never
// rewritten.
func inputFile(in io.Reader) (*os.File, int64) {
	f, ok := in.(*os.File)
	if !ok {
		return nil, 0
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, 0
	}
	return f, off
}

// limits are N and D: the flags, else the list's settings, else 100
// recipients and as many domains, listdir.DomainsMost at most.
func limits(a *args) (n, d int, err error) {
	if a.MaxRcpt != nil && (*a.MaxRcpt < 1 || *a.MaxRcpt > highestMax) {
		return 0, 0, sysexit.Errorf(sysexit.Usage, "--max-rcpt: %d is not from 1 to %d", *a.MaxRcpt, highestMax)
	}
	if a.MaxDomains != nil && (*a.MaxDomains < 1 || *a.MaxDomains > listdir.DomainsMost) {
		return 0, 0, sysexit.Errorf(sysexit.Usage, "--max-domains: %d is not from 1 to %d", *a.MaxDomains, listdir.DomainsMost)
	}
	var dir *listdir.Dir
	if a.Dir != "" {
		if dir, err = listdir.Open(a.Dir); err != nil {
			return 0, 0, err
		}
	}
	setting := func(flag *int, name string, dflt, most int64) (int, error) {
		if flag != nil {
			return *flag, nil
		}
		if dir == nil {
			return int(dflt), nil
		}
		v, err := dir.IntIn(name, dflt, 1, most)
		return int(v), err
	}
	if n, err = setting(a.MaxRcpt, listdir.MaxRcpt, defaultMax, highestMax); err != nil {
		return 0, 0, err
	}
	// (No more domains than recipients a record: D above N is N.)
	if d, err = setting(a.MaxDomains, listdir.MaxDomains, min(int64(n), listdir.DomainsMost), listdir.DomainsMost); err != nil {
		return 0, 0, err
	}
	return n, min(d, n), nil
}

// splitter writes the records of one input record.
type splitter struct {
	max     int
	domains int          // D: most domains a record of small ones
	single  bool         // one recipient a record
	verp    bool         // records of verp=yes
	msg     *spool.Spool // the message, encoded as in the stream
	w       *stream.Writer
	file    *os.File // the input, if a regular file
	base    int64    // where in it the Reader started

	in    *stream.Header // the record being split
	n     int            // records written for it
	out   stream.Header  // reused for each record written
	rcpts []stream.Path  // reused for single-recipient records
	b     *batcher       // reused for every record
}

// record splits the record r is at, whose header is h.
func (s *splitter) record(r *stream.Reader, h *stream.Header) error {
	if err := journal.CheckPost(h.ID); err != nil {
		return err
	}
	if err := s.msg.Reset(); err != nil {
		return err
	}
	if s.file != nil {
		s.msg.Backed(s.file, s.base+r.Offset())
	}
	if _, err := r.CopyEncoded(s.msg); err != nil {
		return err
	}
	s.in, s.n = h, 0
	if s.b == nil {
		s.b = newBatcher(s.max, pendingCap, s.emit)
		s.b.domains = s.domains
	}
	b := s.b
	b.reset()
	// Each recipient is written or copied (batcher.add) before the
	// next is read.
	err := r.EachRecipientNoCopy(func(p stream.Path) error {
		if s.single {
			s.rcpts = append(s.rcpts[:0], p) // (its one slot, kept, is read only by this emit)
			return s.emit(s.rcpts)
		}
		return b.add(p)
	})
	if err != nil {
		return err
	}
	if err := b.finish(); err != nil {
		return err
	}
	if s.n == 0 {
		return s.write(h, nil) // no recipients: the record as it was
	}
	return nil
}

// emit writes the next record derived from s.in, to rcpts: id "ID,n",
// the attributes but "parent" in order, then "parent=ID"; with --verp
// "verp=yes", for the delivery stage to send each recipient alone, the
// sender VERP-encoded with it (mlm-sendmail(1)).
func (s *splitter) emit(rcpts []stream.Path) error {
	s.n++
	in, out := s.in, &s.out
	id, err := stream.DerivedID(in.ID, s.n)
	if err != nil {
		return err
	}
	attrs := stream.DerivedAttrs(out.Attrs[:0], in)
	*out = *in // and with it where the Reader read in, for WriteHeader
	out.ID, out.Attrs = id, attrs
	if s.verp {
		out.Attrs = append(out.Attrs, stream.Attr{Name: "verp", Value: "yes"})
	}
	return s.write(out, rcpts)
}

// write writes one record: h, the held message, rcpts.
func (s *splitter) write(h *stream.Header, rcpts []stream.Path) error {
	if err := s.w.WriteHeader(h); err != nil {
		return err
	}
	if _, err := s.w.WriteEncoded(s.msg.Reader()); err != nil {
		return err
	}
	for _, p := range rcpts {
		if err := s.w.Recipient(p); err != nil {
			return err
		}
	}
	return s.w.End()
}

// A batch is the pending recipients of one domain.
type batch struct {
	domain string
	seq    int64 // opening number, from 1
	rcpts  []stream.Path
	text   []byte // rcpts' strings (Path.CloneInto), written over once the batch is flushed
	spare  int    // the room of rcpts, if it was a full batch's of the domain (batcher.spare)
	i      int    // index in the heap
}

// batcher groups a record's recipients by domain into batches of at most
// max, holding at most cap recipients in all; the batches of the domains
// none of whose batches was written before go together, domains at most a
// record (packSmall).
type batcher struct {
	max, cap int
	domains  int                 // most domains a record of small ones; 0 or 1: one
	big      map[string]struct{} // domains a batch of which was written in the record (written)
	group    []*batch            // packSmall's scratch: the batches of one record
	mixed    []stream.Path       // and their recipients
	pending  int
	small    int // of pending, those of batches of small domains (isBig)
	seq      int64
	open     map[string]*batch // looked up, never ranged over
	fill     byFill
	emit     func([]stream.Path) error
	free     []*batch // written batches, for reuse
	rest     byFill   // finish's scratch
	// The room of full batches written, by domain, for the domain's
	// next batch; and the room of those and of the open batches that
	// took one, in recipients, at most spareRoom.
	spare  map[string][]stream.Path
	spared int
}

// spareRoom is how much room for recipients the batches written keep for
// their domains' next ones, those taken and still open included. A
// domain that fills a batch mostly fills the next too, whose room then
// does not grow from nothing again, copy after copy (mlm-split on 10,000
// members in 10 domains: a third fewer page faults); and the room kept
// beyond what is pending stays small, however the record's domains come:
// 8,192 recipients, 320 KiB.
const spareRoom = 8192

func newBatcher(n, limit int, emit func([]stream.Path) error) *batcher {
	return &batcher{max: n, cap: limit, open: map[string]*batch{}, emit: emit, spare: map[string][]stream.Path{}, big: map[string]struct{}{}}
}

// reset readies b for the next record: nothing is pending after finish.
func (b *batcher) reset() {
	b.seq = 0
	b.small = 0
	clear(b.big)
}

// add adds p to the batch of its domain, and writes that batch if it is
// full, or the fullest one if too many recipients are pending.
func (b *batcher) add(p stream.Path) error {
	// The Reader lends p's strings only until it reads the next
	// recipient (EachRecipientNoCopy), and a batch may wait for most of
	// a long record: p is copied into its batch's text, and a new
	// batch's domain, a key of open and spare, into memory of its own.
	d := addr.Domain(p.Mailbox)
	if !ascii.Is(p.Mailbox) {
		// A domain's recipients that are not ASCII are a batch apart
		// from its ASCII ones: their transaction goes with SMTPUTF8
		// (mlm-sendmail(1)), which the ASCII ones' then need not.
		d = utf8Key + d
	}
	bt := b.open[d]
	if bt == nil {
		d = strings.Clone(d)
		b.seq++
		if n := len(b.free); n > 0 {
			bt, b.free = b.free[n-1], b.free[:n-1]
			bt.domain, bt.seq = d, b.seq
		} else {
			bt = &batch{domain: d, seq: b.seq}
		}
		if room, ok := b.spare[d]; ok {
			delete(b.spare, d)
			bt.rcpts, bt.spare = room, cap(room)
		}
		b.open[d] = bt
		heap.Push(&b.fill, bt)
	}
	p, bt.text = p.CloneInto(bt.text)
	bt.rcpts = append(bt.rcpts, p)
	b.pending++
	if !b.isBig(bt) {
		b.small++
	}
	heap.Fix(&b.fill, bt.i)
	if len(bt.rcpts) >= b.max {
		b.written(bt)
		return b.flush(bt)
	}
	if b.pending > b.cap {
		// The fullest batch, if it is half full or more; else the
		// small domains' batches, together, as at the end of the
		// record: the long tail of a long list (a million members
		// over 300,000 domains) would otherwise go a record a domain
		// (a review, R50). They are not marked: they filled nothing.
		// Only if they free more than it would, and a record:
		// else big domains' part-full batches, pending, would leave
		// room for a small domain at a time (a review, R51).
		if full := b.fill[0]; b.domains > 1 && 2*len(full.rcpts) < b.max && b.small > len(full.rcpts) && b.small >= min(b.max, b.cap) {
			if k, err := b.flushSmall(); k > 0 || err != nil {
				return err
			}
		}
		b.written(b.fill[0])
		return b.flush(b.fill[0])
	}
	return nil
}

// written notes that a batch of bt's domain is written before the end
// of the record, so that its last goes alone (finish). Only where small
// domains go together, and for at most bigMax domains: a domain past
// them is taken for a small one, its last batch, under N, grouped.
func (b *batcher) written(bt *batch) {
	if b.domains <= 1 || len(b.big) >= bigMax {
		return
	}
	d := strings.TrimPrefix(bt.domain, utf8Key)
	if _, ok := b.big[d]; !ok {
		// The domain's open batches, ASCII and not, are no longer
		// small ones.
		for _, k := range []string{d, utf8Key + d} {
			if ob := b.open[k]; ob != nil {
				b.small -= len(ob.rcpts)
			}
		}
		b.big[d] = struct{}{}
	}
}

// isBig reports whether bt's domain, whatever its addresses, had a
// batch written in the record (written).
func (b *batcher) isBig(bt *batch) bool {
	_, ok := b.big[strings.TrimPrefix(bt.domain, utf8Key)]
	return ok
}

// utf8 reports whether bt's recipients are not ASCII (utf8Key).
func (bt *batch) utf8() bool { return strings.HasPrefix(bt.domain, utf8Key) }

// utf8Key marks the key of a batch of a domain's recipients that are not
// ASCII: an octet no domain of addr.Domain's holds.
const utf8Key = "\xff"

// bigMax bounds batcher.big: some 1 MB of domains.
const bigMax = 16_384

// flush writes bt and forgets it; emit is done with the recipients when
// it returns, so the batch is kept for reuse, and its recipients' room
// with it if that is for one, as it is for each record of one recipient
// (mlm-split -p's, and VERP's input), which would otherwise take a new
// one each: room for one kept by each batch is one recipient for each
// of the most batches open at once. A larger one is not kept with the
// batch, since the next domain opened may have a recipient or two and
// wait to the end of the record, and room for N kept for each such
// would hold far more than the recipients pending: a full batch's is
// kept for its own domain's next, within spareRoom, and any other let go.
func (b *batcher) flush(bt *batch) error {
	b.take(bt)
	err := b.emit(bt.rcpts)
	b.release(bt)
	return err
}

// take takes bt out of the pending batches.
func (b *batcher) take(bt *batch) {
	heap.Remove(&b.fill, bt.i)
	delete(b.open, bt.domain)
	b.pending -= len(bt.rcpts)
	if !b.isBig(bt) {
		b.small -= len(bt.rcpts)
	}
}

// release keeps bt, written, for reuse (see flush).
func (b *batcher) release(bt *batch) {
	// rcpts' copies, cleared or let go below, are text's: it is the
	// next batch's that takes bt, unless it grew past textKeep.
	bt.text = bt.text[:0]
	if cap(bt.text) > textKeep {
		bt.text = nil
	}
	b.spared -= bt.spare
	bt.spare = 0
	switch {
	case cap(bt.rcpts) == 1:
		bt.rcpts[0] = stream.Path{} // the copy of the address goes
		bt.rcpts = bt.rcpts[:0]
	case len(bt.rcpts) == b.max && b.spared+cap(bt.rcpts) <= spareRoom:
		clear(bt.rcpts) // the copies of the addresses go
		b.spare[bt.domain] = bt.rcpts[:0]
		b.spared += cap(bt.rcpts)
		bt.rcpts = nil
	default:
		bt.rcpts = nil
	}
	b.free = append(b.free, bt)
}

// textKeep is the most room for its recipients' text that a batch
// keeps for the next that takes it: some 2,500 recipients', far more
// than a batch of the default 100 takes, so that a batch of an N of
// thousands does not keep its room for the life of the process.
const textKeep = 64 << 10

// finish writes the pending batches in the order they were opened; with
// domains over 1, first those of domains that filled a batch in the
// record, each alone, then the others, of small domains (packSmall).
func (b *batcher) finish() error {
	b.rest = append(b.rest[:0], b.fill...)
	slices.SortFunc(b.rest, func(x, y *batch) int { return cmp.Compare(x.seq, y.seq) })
	small := b.rest[:0] // (written over behind the loop)
	for _, bt := range b.rest {
		if b.isBig(bt) || b.domains <= 1 {
			if err := b.flush(bt); err != nil {
				return err
			}
			continue
		}
		small = append(small, bt)
	}
	err := b.packSmall(small)
	clear(b.rest)
	return err
}

// flushSmall writes the pending batches of small domains (see finish),
// in the order they were opened, packed (packSmall), and returns how
// many it wrote.
func (b *batcher) flushSmall() (int, error) {
	b.rest = b.rest[:0]
	for _, bt := range b.fill {
		if !b.isBig(bt) {
			b.rest = append(b.rest, bt)
		}
	}
	slices.SortFunc(b.rest, func(x, y *batch) int { return cmp.Compare(x.seq, y.seq) })
	k := len(b.rest)
	err := b.packSmall(b.rest)
	clear(b.rest)
	return k, err
}

// packSmall writes small, batches of small domains in the order they
// were opened, one after another into records of at most max
// recipients and domains domains, a batch never cut in two (a relay
// takes any recipients in a transaction, and passes each domain's on by
// itself): those of ASCII recipients first, then the others.
func (b *batcher) packSmall(small []*batch) error {
	// Those whose recipients are ASCII apart from the others: an ASCII
	// recipient's transaction goes without SMTPUTF8 (mlm-sendmail(1)).
	var err error
	for _, utf8 := range []bool{false, true} {
		n := 0 // recipients in group
		for _, bt := range small {
			if bt.utf8() != utf8 {
				continue
			}
			if len(b.group) > 0 && (n+len(bt.rcpts) > b.max || len(b.group) >= b.domains) {
				if err := b.flushGroup(); err != nil {
					return err
				}
				n = 0
			}
			b.group = append(b.group, bt)
			n += len(bt.rcpts)
		}
		if err = b.flushGroup(); err != nil {
			break
		}
	}
	return err
}

// flushGroup writes the batches of group as one record, and empties it.
func (b *batcher) flushGroup() error {
	var err error
	switch len(b.group) {
	case 0:
	case 1:
		err = b.flush(b.group[0])
	default:
		b.mixed = b.mixed[:0]
		for _, bt := range b.group {
			b.take(bt)
			b.mixed = append(b.mixed, bt.rcpts...)
		}
		err = b.emit(b.mixed)
		clear(b.mixed) // (the recipients' strings are the batches' text)
		for _, bt := range b.group {
			b.release(bt)
		}
	}
	clear(b.group)
	b.group = b.group[:0]
	return err
}

// byFill is a heap of batches, the fullest first and, of equal ones, the
// one opened first.
type byFill []*batch

func (h byFill) Len() int { return len(h) }
func (h byFill) Less(i, j int) bool {
	if len(h[i].rcpts) != len(h[j].rcpts) {
		return len(h[i].rcpts) > len(h[j].rcpts)
	}
	return h[i].seq < h[j].seq
}
func (h byFill) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *byFill) Push(x any) {
	bt := x.(*batch)
	bt.i = len(*h)
	*h = append(*h, bt)
}
func (h *byFill) Pop() any {
	old := *h
	bt := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return bt
}
