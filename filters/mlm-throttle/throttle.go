package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Bucket keys in the state, and the key of when it was written (see
// state.unstep).
const (
	keyRcpt    = "rcpt"
	keyMsg     = "msg"
	keyWritten = "written"
)

func domainKey(d string) string { return "domain " + d }

// anyDomain names the rate of each domain not named.
const anyDomain = "*"

// throttle holds the buckets and where their state is kept.
type throttle struct {
	rcpt, msg *bucket            // nil: no limit
	domains   map[string]*bucket // by domain or anyDomain; looked up only; nil: rate 0 (no limit) beside a '*' rate
	store     store
	clk       clock.Clock
	epoch     int64        // the unix second the buckets' times count from: the run's start (begin)
	deadline  int64        // ns from the epoch; 0: none
	journals  *listdir.Dir // the list, whose delivery journals say who is done; nil: none, or nothing charged
	// The post of the last record, and the recipients its journal names
	// (nil: none).
	post    string
	from    string // the journal-from it was read from ("": the start)
	settled *addr.KeySet
	// The post and mark of the last record asked about alone (see
	// settledOf): a second record of them reads the journal whole.
	askPost, askFrom string
	ahead            int64 // the journal past the last record asked about's mark (journal.Ahead)
	// reserve's, kept from one group to the next
	cs  [][]charge
	all []charge
	// With a state file, under mlm-throttle's own signals (main): the
	// charges of a record taken while it waits to pass (see waiting),
	// and the times its take left in their buckets, reserve's.
	stop *stopper
	took []int64
}

// A stopper gives back, at SIGTERM, SIGINT or SIGHUP (cli.NotifyStop),
// the tokens of the record a throttle waits to pass, then lets the
// signal end the process as it would have. A throttle stopped in its wait (mlm-run's -t) had taken
// them for a record that never went: with several records of a list at
// once (mlm-run -r), each waited for the others' tokens, ran into -t,
// and left its own spent, for the next to wait on longer (a review).
type stopper struct {
	mu      sync.Mutex
	pending []charge // taken for a record not passed yet; nil: none
	took    []int64  // the times pending's take left in its buckets
}

// stopSignals is set by main: a run of the program, not a test's of run,
// catches the signals.
var stopSignals bool

// catch starts t's stopper.
func (t *throttle) catch() {
	if _, file := t.store.(*fileStore); !file {
		return // the buckets die with the process
	}
	t.stop = &stopper{}
	c := make(chan os.Signal, 1)
	cli.NotifyStop(c)
	go func() {
		sig := <-c
		st := t.stop
		st.mu.Lock() // held to the end: the record does not pass meanwhile
		if st.pending != nil {
			t.giveBack(st.pending, st.took)
		}
		signal.Reset(sig)
		syscall.Kill(syscall.Getpid(), sig.(syscall.Signal))
		select {}
	}()
}

// waiting says that the charges cs were taken for a record that waits to
// pass; nil, that it may pass now. A signal that came meanwhile has the
// second call wait for the end.
func (t *throttle) waiting(cs []charge) {
	if t.stop == nil {
		return
	}
	t.stop.mu.Lock()
	t.stop.pending = cs
	t.stop.took = append(t.stop.took[:0], t.took...)
	t.stop.mu.Unlock()
}

// giveBack takes the charges cs back from the buckets in the state: the
// tokens of a record that did not pass, for the next record, of this
// throttle or another. Only from a bucket whose time is still took's,
// what their take left: a throttle that charged after it waits already
// for its turn, worked out with them, and the next to charge would pass
// beside it, a burst past the bucket's size (a review). The throttle
// that -t stops is most often the last in line.
func (t *throttle) giveBack(cs []charge, took []int64) {
	t.store.update(func(st state) (int64, bool, error) {
		now := t.since(t.clk.Now())
		st.unstep(now)
		for i, c := range cs {
			if tat := st.tat(c.b.key); i < len(took) && tat == took[i] && tat < far {
				st[c.b.key] = max(tat-mul(c.n, c.b.tau), -far)
			}
		}
		return now, true, nil
	})
}

// run passes every record of in to out, each as soon as the buckets allow.
func run(a *args, in io.Reader, out io.Writer) error {
	t, err := configure(a)
	if err != nil {
		return err
	}
	if t.clk, err = clock.Get(); err != nil {
		return err
	}
	t.begin(a.Deadline)
	if stopSignals {
		t.catch()
	}
	return t.run(in, out)
}

// begin starts the buckets' times, and the state file's, at the clock's
// second, and sets the deadline (0: none) from now.
func (t *throttle) begin(deadline time.Duration) {
	t.epoch = t.clk.Now().Unix()
	f, _ := t.store.(*fileStore)
	if f != nil {
		f.epoch = t.epoch
	}
	if deadline > 0 {
		// Saturated, as the buckets' times are.
		t.deadline = add(t.since(t.clk.Now()), int64(deadline))
		if f != nil {
			// The wait for the state file's lock is in real time,
			// whatever the clock: the deadline bounds it too.
			f.until = time.Now().Add(deadline)
		}
	}
}

// since returns tm in the buckets' time: nanoseconds from the epoch,
// within the arithmetic's ±far.
func (t *throttle) since(tm time.Time) int64 {
	return min(max(int64(tm.Sub(time.Unix(t.epoch, 0))), -far), far)
}

// run passes every record of in to out, each as soon as the buckets
// allow.
func (t *throttle) run(in io.Reader, out io.Writer) error {
	p := t.passing(out)
	defer p.held.Close()
	return p.run(in)
}

// passing returns a passing of t's records to out.
func (t *throttle) passing(out io.Writer) *passing {
	p := &passing{t: t, held: spool.New(spool.MemLimit), tmp: spool.New(spool.MemLimit), bw: bufio.NewWriterSize(out, passMax)}
	if n := int64(stream.PipeSize(out)); n >= fitPipe {
		p.pipe = n
	}
	return p
}

// run passes every record of in on, each as soon as the buckets allow.
func (p *passing) run(in io.Reader) error {
	t := p.t
	defer p.tmp.Close()
	enc := stream.NewWriter(p.held)
	r := stream.NewReader(passFirst{in, p})
	r.ReuseHeader() // each record's Header is let go before the next
	err := r.Each(func(h *stream.Header) error {
		settled, ask, err := t.settledOf(h)
		if err != nil {
			return err
		}
		off := p.held.Len()
		p.reading = true
		var bucketed func(string) bool // (nil: no domain's rate is set, and no domain is looked at)
		if len(t.domains) > 0 {
			bucketed = t.bucketed
		}
		var n, all int64
		var domains []domainCount
		if ask != nil && t.moves() {
			n, all, domains, err = p.holdAsked(r, h, enc, p.held, ask, bucketed)
		} else {
			n, all, domains, err = hold(r, h, enc, settled, ask, bucketed)
		}
		p.reading = false
		if err != nil {
			return err
		}
		msgs := int64(1)
		if t.msg != nil && n > 0 && h.VERP() {
			msgs = n // a transaction for each recipient (mlm-sendmail(1))
		}
		p.group = append(p.group, heldRecord{id: h.ID, n: n, all: all, msgs: msgs, domains: domains, off: off, size: p.held.Len() - off})
		// Records are held in runs even with nothing to charge: a run
		// goes out in one write from held, not copied again into bw.
		// A record read across a pass (at a read of input) is passed
		// at once, or held would keep growing with what passed before
		// it.
		if p.full() || p.group[0].off > 0 {
			return p.pass()
		}
		return nil
	})
	// What was read whole passes, whatever stopped the rest, as it
	// would have one record at a time; and what passed goes out: its
	// tokens are taken.
	if perr := p.pass(); err == nil {
		err = perr
	}
	if ferr := p.bw.Flush(); err == nil {
		err = sysexit.Temp(ferr)
	}
	return err
}

// A passing is the records a throttle holds, read whole but not yet
// charged. Records that come in a run, with no wait for input between
// them, are charged together: one update of the state (a lock, a read
// and a write of the file) for all those that may pass at once and the
// first that must wait; what follows that one is charged after the
// wait, as it would be one record at a time, so tokens are never taken
// far ahead for records that have not passed.
type passing struct {
	t *throttle
	// The records of group, one after another, then the one being
	// read; emptied once all have passed, between records.
	held    *spool.Spool
	tmp     *spool.Spool // a record asked about, before it is held (holdAsked)
	reading bool         // a record is being read into held, after group's
	group   []heldRecord
	bw      *bufio.Writer // records passed on; flushed before any wait
	// pipe is what the output holds if it is a large pipe (fitPipe),
	// whose runs are fitted to it; 0 for any other output.
	pipe int64
}

// full reports whether the run held is to pass now: it has reached
// runMax, or it is fitted to a pipe and one more record the size of the
// last would take it past what the pipe holds. (The records of a post
// are alike in size, and come one after another from mlm-split.) So a
// run of records of 90 KiB, into a pipe of 256 KiB, is two of them,
// not three, and of 150 KiB, one.
func (p *passing) full() bool {
	run := p.held.Len() - p.group[0].off
	return run >= p.runMax() || p.pipe > 0 && run+p.group[len(p.group)-1].size > p.pipe
}

// runMax is how many octets of records p holds before it passes them:
// what fits the output, or groupMax, or passMax if nothing is charged.
func (p *passing) runMax() int64 {
	switch {
	case p.pipe > 0:
		return min(groupMax, p.pipe/4*3)
	case p.t.charging():
		return groupMax
	}
	return passMax
}

// groupMax is how many octets of records a passing holds before it
// charges them: so many that a run of records costs few updates of the
// state, and few enough that they and the next record stay in the
// spool's memory. (Records read from input that was at hand, a file or a
// pipe with more in it, make one run across reads.) A throttle that
// charges nothing passes its runs at passMax. Into a large pipe, runs
// fit the pipe (fitPipe).
const groupMax = spool.MemLimit / 2

// Into a pipe that holds fitPipe or more (mlm-run's and mlm-pipeline's:
// lib/pipeline's pipeSize, which must stay at least this), a throttle
// holds runs of three quarters of what the pipe holds, up to groupMax,
// whether it charges or not, and fewer records where one more would not
// fit the pipe (full): a run the pipe takes whole goes out without a
// wait, in one write, and a next stage that is quicker than the
// throttle reads it while the throttle reads the next run. A larger run
// waits on the reader, which then waits while the throttle reads; a
// smaller one costs more writes, and more updates of the state.
//
// Measured on 1 GB and 200 MB streams of 4 KB posts into a 256 KiB pipe
// read as fast as it comes, on a CPU of its own (medians of 11, my runs
// and a reviewer's): charging, runs of 192 KiB took 13 to 28% less wall
// time than runs of groupMax, for -4 to +10% CPU, with 2.7 times the
// updates; charging nothing, 0 to 18% less wall time and 1 to 15% less
// CPU than runs of passMax. With both CPUs busy (a test run beside it)
// the charging gain went (from 10% less wall time to 34% more, most
// rounds more): the reader has no CPU to read a run while the throttle
// reads the next, and the updates cost their share. In a delivery,
// mlm-sendmail after the throttle is slower than it (its SMTP), the pipe
// mostly full, and neither run size goes in without a wait. Into a
// smaller pipe (the kernel's 64 KiB) a run cannot fit and still cost few
// updates: there, charging, runs of 128
// and 192 KiB took 2 to 18% more wall time than groupMax, and 3 to 28%
// more CPU, so runs stay groupMax and passMax. (Where pages are 64 KiB
// the kernel's pipe holds 1 MiB, and a shell's pipe gets runs of
// groupMax charging nothing too: not measured.)
const fitPipe = 256 << 10

// passMax is what a throttle that charges nothing holds before it
// passes a run on: bw's size. With no updates of the state to save, a
// longer run would only keep the next stage waiting for records that
// would have gone out through bw; but into a large pipe, a run that
// fits it costs less (fitPipe).
const passMax = 64 << 10

// A heldRecord is a record in held: its id, its recipients not yet
// delivered, all of them, its transactions, those at each domain with a
// bucket, and where it is.
type heldRecord struct {
	id        string
	n, all    int64 // recipients to charge, and in all
	msgs      int64 // records a second it takes: its transactions
	domains   []domainCount
	off, size int64
}

// A domainCount is how many recipients of a record, not yet delivered,
// are at one domain.
type domainCount struct {
	domain string
	n      int64
}

// maxDomainRuns is the most runs of recipients of one domain with a
// bucket that a record is charged for one by one: mlm-split writes at
// most listdir.DomainsMost domains a record, each domain's together. A
// record of more, which only a stage of the site's own makes, charges
// the recipients past them to the domain of the last.
const maxDomainRuns = listdir.DomainsMost

// bucketed reports whether recipients at domain d take from a bucket of
// its own (d named, or a '*' rate).
func (t *throttle) bucketed(d string) bool {
	if len(t.domains) == 0 {
		return false
	}
	b, ok := t.domains[d]
	if !ok {
		b = t.domains[anyDomain]
	}
	return b != nil
}

// pass charges the records held and passes them on, each as soon as the
// buckets allow. A record the buckets refuse (past the deadline) and
// those after it are dropped, and the error returned.
func (p *passing) pass() error {
	err := p.passGroup()
	p.group = p.group[:0]
	if err == nil && !p.reading {
		err = p.held.Reset()
	}
	return err
}

func (p *passing) passGroup() error {
	for g := p.group; len(g) > 0; {
		k, at, err := p.t.reserve(g)
		atOnce := k // the records that pass without a wait
		if k > 0 && !at.IsZero() && at.After(p.t.clk.Now()) {
			atOnce = k - 1
		}
		if err := p.passOn(g[:atOnce]); err != nil {
			return err
		}
		if atOnce < k {
			p.t.waiting(p.t.cs[k-1])
			if err := p.bw.Flush(); err != nil {
				p.t.waiting(nil)
				return sysexit.Temp(err)
			}
			p.t.clk.SleepUntil(at)
			p.t.waiting(nil)
			if err := p.passOn(g[atOnce:k]); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		g = g[k:]
	}
	return nil
}

// passOn writes recs, records one after another in held, to bw in one
// copy: a run of them larger than bw's buffer goes from held's memory
// to the output in one write, not through bw.
func (p *passing) passOn(recs []heldRecord) error {
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1]
	_, err := io.Copy(p.bw, p.held.Section(recs[0].off, last.off+last.size-recs[0].off))
	return sysexit.Temp(err)
}

// passFirst reads r, once what p holds has passed and gone out if the
// read may wait: a reader that may wait for its input has nothing of its
// own waiting meanwhile, neither a record in p nor octets in its buffer.
type passFirst struct {
	r io.Reader
	p *passing
}

func (f passFirst) Read(b []byte) (int, error) {
	if (len(f.p.group) > 0 || f.p.bw.Buffered() > 0) && !ready(f.r) {
		if err := f.p.pass(); err != nil {
			return 0, err
		}
		if err := f.p.bw.Flush(); err != nil {
			return 0, sysexit.Temp(err)
		}
	}
	return f.r.Read(b)
}

// Stat is the input's, if it is a file: the Reader reads a regular file
// in larger pieces.
func (f passFirst) Stat() (fs.FileInfo, error) {
	if s, ok := f.r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		return s.Stat()
	}
	return nil, errors.ErrUnsupported
}

// ready reports whether a read of r would return at once: r is a file,
// and poll(2) says it has input, or its end, or an error (a regular file
// always has). A reader that is not a file may wait, for all one knows.
func ready(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	// Control, not Fd: Fd would put the file in blocking mode.
	rc.Control(func(fd uintptr) {
		n, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	})
	return n > 0
}

// settledOf returns the recipients the delivery journal of the post of
// record h names, read once for each post in turn: a record tried
// again (a run cut short by -T or by the queue runner's time limit, then
// run anew) is not charged for those mlm-sendmail will skip, or a post
// too large for one run would spend every run on its first batches. A
// retry record's is read from its journal-from mark, as mlm-sendmail -R
// reads it (journal.Settled): read whole, a million members' post's
// journal took 0.35 s and 39 MB for each retry record (R79).
//
// For a retry record (one with a mark), the first of its post and mark
// in the stream, it returns instead ask, which hold calls with the keys
// of its recipients, once it has read them, for those the journal names
// (journal.SettledOf), or with none, for every one (as settledOf's first
// answer), once they are more than askMax: a
// retry record's hundred keys, looked up alone in 9 MB of a million's
// journal, took a process 33 ms in all, where a key of every line took
// 158 ms; a retry pass of 4,000 such records (400,000 recipients, a rate
// set) 182 s, where it took 509.
func (t *throttle) settledOf(h *stream.Header) (settled *addr.KeySet, ask askFunc, err error) {
	if t.journals == nil {
		return nil, nil, nil
	}
	post := journal.Post(h.ID)
	from, _ := h.Get(journalFrom)
	// "", "." and "..": no journal's name, but a directory's, which
	// would fail to read for ever (mlm-sendmail refuses them); "" is
	// also t.post's before the first.
	if err := journal.CheckName(post); err != nil {
		return nil, nil, err
	}
	whole := func() (*addr.KeySet, error) {
		if post != t.post || from != t.from {
			s, err := journal.Settled(t.journals, post, from)
			if err != nil {
				return nil, err
			}
			t.post, t.from, t.settled = post, from, s
		}
		return t.settled, nil
	}
	if from == "" || post == t.post && from == t.from || post == t.askPost && from == t.askFrom {
		// (A second record of one mark in a stream, and those after
		// it: one read for them all, as before, not one each, which
		// for 500 took 6.1 s where it took 0.1; a review.)
		s, err := whole()
		return s, nil, err
	}
	t.askPost, t.askFrom = post, from
	// Its mark is moved (holdAsked) only past a long read, and for a
	// message a quarter of it at most: the message is copied once more
	// to do it, which for a retry record of 20 MB cost 20 ms, more than
	// mlm-sendmail's read of a short journal saves (two reviews).
	t.ahead = journal.Ahead(t.journals, post, from)
	return nil, func(keys []string) (*addr.KeySet, string, error) {
		if keys == nil {
			s, err := whole()
			return s, "", err
		}
		return journal.SettledOf(t.journals, post, from, keys)
	}, nil
}

// moves reports whether the last record asked about has its mark moved
// (holdAsked): past moveMin of journal.
func (t *throttle) moves() bool { return t.ahead > moveMin }

// moveMin is the journal, past a retry record's mark, beyond which
// holdAsked moves the mark over it: mlm-sendmail -R reads 256 KiB of it
// in some 0.7 ms of a processor.
var moveMin int64 = 256 << 10

// An askFunc is settledOf's ask: the keys of a record's recipients the
// journal names, and, if it read the journal past them, the mark of the
// record now (journal.SettledOf), else "".
type askFunc func(keys []string) (settled *addr.KeySet, next string, err error)

// journalFrom is the attribute of a retry record's mark: where its
// post's journal may be read from for its recipients (mlm-sendmail(1)).
const journalFrom = "journal-from"

// holdAsked is hold for a record with ask (settledOf), whose journal-from
// it moves to where the journal has been read to: to the first line that
// names one of its recipients, or past the last line, so that mlm-sendmail
// -R, after it, reads only the journal written since, not again what was
// read here, from the record's first delivery on (21 ms of its 35, for a
// retry record of a million members' post). The header goes before the
// recipients: the message waits in tmp as the stream carries it
// (CopyEncoded), and the recipients as read, until ask answers, then
// goes out as it came; a record of more than askMax recipients goes on
// as it is, its mark kept.
//
// raw is what w writes to, which holdPast writes the rest of a long
// message to as it is read.
func (p *passing) holdAsked(r *stream.Reader, h *stream.Header, w *stream.Writer, raw io.Writer, ask askFunc, bucketed func(string) bool) (n, all int64, domains []domainCount, err error) {
	defer func() {
		if rerr := p.tmp.Reset(); err == nil {
			err = rerr
		}
	}()
	if _, err := r.CopyEncoded(&capWriter{w: p.tmp, left: p.t.ahead / 4}); err != nil {
		if err != errPastCap {
			return 0, 0, nil, err
		}
		return p.holdPast(r, h, w, raw, ask, bucketed)
	}
	c := counter{bucketed: bucketed}
	var kept []stream.Path // read, until ask answers
	answered := false
	out := func(h *stream.Header, settled *addr.KeySet) error {
		c.settled, answered = settled, true
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if _, err := w.WriteEncoded(p.tmp.Reader()); err != nil {
			return err
		}
		for _, q := range kept {
			c.count(q.Mailbox)
			if err := w.Recipient(q); err != nil {
				return err
			}
		}
		kept = nil
		return nil
	}
	err = r.EachRecipientNoCopy(func(q stream.Path) error {
		all++
		if answered {
			c.count(q.Mailbox)
			return w.Recipient(q)
		}
		kept = append(kept, q.Clone()) // (q's strings are lent)
		if len(kept) <= askMax {
			return nil
		}
		s, _, err := ask(nil)
		if err != nil {
			return err
		}
		return out(h, s)
	})
	if err == nil && !answered {
		var s *addr.KeySet
		var next string
		if len(kept) > 0 {
			keys := make([]string, len(kept))
			for i, q := range kept {
				keys[i] = addr.Key(q.Mailbox)
			}
			if s, next, err = ask(keys); err != nil {
				return 0, 0, nil, err
			}
		}
		moved := *h
		if from, _ := h.Get(journalFrom); next != "" && next != from {
			moved.Attrs = slices.Clone(h.Attrs)
			for i, a := range moved.Attrs {
				if a.Name == journalFrom {
					moved.Attrs[i] = stream.Attr{Name: journalFrom, Value: next}
				}
			}
		}
		err = out(&moved, s)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	if err := w.End(); err != nil {
		return 0, 0, nil, err
	}
	return c.n, all, c.merged(), w.Flush()
}

// askMax is the most recipients of a record holdAsked keeps to ask
// about (settledOf): a retry record has some hundred, a thousand at most
// by default (mlm-split(1)).
const askMax = 1000

// hold writes the record r is at, whose header is h, to w whole, and
// returns the number of its recipients that settled does not name, of
// all of them, and of those the number at each domain that bucketed
// says has a bucket, by domain (none if bucketed is nil). With ask (see
// settledOf), settled is what ask answers. What w writes is what was
// read, byte for byte: the stream is canonical.
func hold(r *stream.Reader, h *stream.Header, w *stream.Writer, settled *addr.KeySet, ask askFunc, bucketed func(string) bool) (n, all int64, domains []domainCount, err error) {
	if err := w.WriteHeader(h); err != nil {
		return 0, 0, nil, err
	}
	if _, err := io.Copy(w, r.Message()); err != nil {
		return 0, 0, nil, err
	}
	return holdRcpts(r, w, settled, ask, bucketed)
}

// holdRcpts is hold's for the recipients, once the message is written.
func holdRcpts(r *stream.Reader, w *stream.Writer, settled *addr.KeySet, ask askFunc, bucketed func(string) bool) (n, all int64, domains []domainCount, err error) {
	c := counter{settled: settled, bucketed: bucketed}
	var asked []string // with ask: the recipients read, until it answers
	answer := func(keys []string) error {
		s, _, err := ask(keys)
		if err != nil {
			return err
		}
		c.settled, ask = s, nil
		for _, m := range asked {
			c.count(m)
		}
		asked = nil
		return nil
	}
	err = r.EachRecipientNoCopy(func(p stream.Path) error {
		all++
		if ask == nil {
			c.count(p.Mailbox)
			return w.Recipient(p)
		}
		asked = append(asked, strings.Clone(p.Mailbox)) // (p's strings are lent)
		if len(asked) > askMax {
			if err := answer(nil); err != nil {
				return err
			}
		}
		return w.Recipient(p)
	})
	if err == nil && ask != nil && len(asked) > 0 {
		keys := make([]string, len(asked))
		for i, m := range asked {
			keys[i] = addr.Key(m)
		}
		err = answer(keys)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	if err := w.End(); err != nil {
		return 0, 0, nil, err
	}
	return c.n, all, c.merged(), w.Flush()
}

// holdPast is holdAsked's for a message past a quarter of the journal it
// would save mlm-sendmail reading (errPastCap): the record goes on as it
// came, mark and all, the part of the message held back first, then the
// rest as it is read, written to raw, what w writes to, not copied whole
// once more. (Through a pipe from another goroutine, the input's fault
// came out of WriteEncoded as a write's, 75 where it is 65, and that
// goroutine read the input, which passes what is held before it waits,
// as this one wrote what is held: a review.)
func (p *passing) holdPast(r *stream.Reader, h *stream.Header, w *stream.Writer, raw io.Writer, ask askFunc, bucketed func(string) bool) (n, all int64, domains []domainCount, err error) {
	if err := w.WriteHeader(h); err != nil {
		return 0, 0, nil, err
	}
	if _, err := w.WriteEncoded(p.tmp.Reader()); err != nil {
		return 0, 0, nil, err
	}
	// (The message ends with what w wrote: the rest follows it in raw,
	// and w, flushed, goes on with the recipients.)
	if err := w.Flush(); err != nil {
		return 0, 0, nil, err
	}
	if _, err := r.CopyEncoded(raw); err != nil {
		return 0, 0, nil, err
	}
	return holdRcpts(r, w, nil, ask, bucketed)
}

// A capWriter writes to w, and fails with errPastCap once left octets are
// past, after writing the write that passed them whole: so
// Reader.CopyEncoded stops at the end of a line, and can go on from it.
type capWriter struct {
	w    io.Writer
	left int64
}

var errPastCap = errors.New("past the cap")

func (c *capWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.left -= int64(n)
	if err == nil && c.left < 0 {
		err = errPastCap
	}
	return n, err
}

// A counter counts a record's recipients that settled does not name, and
// of those the number at each domain that bucketed says has a bucket.
type counter struct {
	settled  *addr.KeySet
	bucketed func(string) bool
	n        int64
	domains  []domainCount
}

func (c *counter) count(mailbox string) {
	if c.settled != nil && c.settled.Has(addr.Key(mailbox)) {
		return
	}
	c.n++
	if c.bucketed == nil {
		return
	}
	d := addr.Domain(mailbox)
	switch k := len(c.domains); {
	case k > 0 && c.domains[k-1].domain == d:
		c.domains[k-1].n++
	case !c.bucketed(d):
	case k < maxDomainRuns:
		c.domains = append(c.domains, domainCount{strings.Clone(d), 1}) // (mailbox may be lent)
	default:
		c.domains[k-1].n++
	}
}

// merged returns the domains counted, one charge a domain: two of one
// bucket would each be weighed against its time before either took from
// it.
func (c *counter) merged() []domainCount {
	domains := c.domains
	if len(domains) > 1 {
		slices.SortStableFunc(domains, func(a, b domainCount) int { return strings.Compare(a.domain, b.domain) })
		merged := domains[:0]
		for _, dc := range domains {
			if k := len(merged); k > 0 && merged[k-1].domain == dc.domain {
				merged[k-1].n += dc.n
				continue
			}
			merged = append(merged, dc)
		}
		domains = merged
	}
	return domains
}

// charging reports whether some bucket is set.
func (t *throttle) charging() bool { return t.rcpt != nil || t.msg != nil || len(t.domains) > 0 }

// A charge is n tokens from one bucket.
type charge struct {
	b bucket
	n int64
}

// charges appends to cs what a record of msgs transactions and n
// recipients, of them domains' at their domains, takes.
func (t *throttle) charges(cs []charge, msgs, n int64, domains []domainCount) []charge {
	if t.msg != nil {
		cs = append(cs, charge{*t.msg, msgs})
	}
	if n == 0 {
		return cs
	}
	if t.rcpt != nil {
		cs = append(cs, charge{*t.rcpt, n})
	}
	for _, dc := range domains {
		b, ok := t.domains[dc.domain]
		if !ok {
			b = t.domains[anyDomain]
		}
		if b != nil && dc.n > 0 {
			c := *b
			c.key = domainKey(dc.domain)
			cs = append(cs, charge{c, dc.n})
		}
	}
	return cs
}

// reserve charges the records of group in turn, in one update of the
// state, up to the first that must wait, and returns how many it
// charged and when the last of them may pass (the others pass now). A
// record whose every recipient is delivered passes free. A record that
// would pass after the deadline is not charged, nor any after it: reserve
// returns those before it, and fails, temporarily.
func (t *throttle) reserve(group []heldRecord) (k int, at time.Time, err error) {
	if !t.charging() {
		return len(group), time.Time{}, nil
	}
	// Each record's charges, over one slice of them all, both kept for
	// the next group; made as far as the records are looked at, not
	// for the whole group at each call: a run of records that each
	// wait is charged one a call, and all its charges made at every
	// call would cost the square of its length.
	t.cs, t.all = t.cs[:0], t.all[:0]
	chargesOf := func(i int) []charge {
		for len(t.cs) <= i {
			rec, j := group[len(t.cs)], len(t.all)
			// (A record whose every recipient the journal names, tried
			// again, passes free: mlm-sendmail skips it.)
			if rec.n > 0 || rec.all == 0 {
				t.all = t.charges(t.all, rec.msgs, rec.n, rec.domains)
			}
			t.cs = append(t.cs, t.all[j:len(t.all):len(t.all)])
		}
		return t.cs[i]
	}
	// A group of records that take nothing passes without a look at
	// the state.
	free := 0
	for free < len(group) && len(chargesOf(free)) == 0 {
		free++
	}
	if free == len(group) {
		return len(group), time.Time{}, nil
	}
	var late error
	err = t.store.update(func(st state) (int64, bool, error) {
		now := t.since(t.clk.Now())
		st.unstep(now)
		k, at, late = 0, time.Time{}, nil
		for i, rec := range group {
			cs := chargesOf(i)
			pass := now
			for _, c := range cs {
				pass = max(pass, c.b.when(st.tat(c.b.key), now, c.n))
			}
			if t.deadline != 0 && pass > t.deadline {
				late = sysexit.Temp(fmt.Errorf("%s: would wait %v, past the deadline; try later",
					rec.id, time.Duration(pass-now).Round(time.Millisecond)))
				break
			}
			for _, c := range cs {
				st[c.b.key] = c.b.take(st.tat(c.b.key), pass, c.n)
			}
			k++
			if pass > now {
				at = time.Unix(t.epoch, pass)
				// What its take left, for a give-back (stopper).
				t.took = t.took[:0]
				for _, c := range cs {
					t.took = append(t.took, st[c.b.key])
				}
				break
			}
		}
		return now, k > 0, nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return k, at, late
}

// configure builds the throttle from the flags and, for what they do not
// say, the list's settings.
func configure(a *args) (*throttle, error) {
	set := settings{}
	t := &throttle{domains: map[string]*bucket{}, store: &memStore{}}
	var d *listdir.Dir
	if a.Dir != "" {
		var err error
		if d, err = listdir.OpenRW(a.Dir); err != nil {
			return nil, err
		}
		if set, err = readSettings(d); err != nil {
			return nil, err
		}
		t.store = &fileStore{path: d.File(listdir.ThrottleState), name: listdir.ThrottleState}
	}
	if a.State != nil {
		// An empty -s too is a bad one, not no -s: a script's unset
		// variable must not keep the buckets nowhere.
		if *a.State == "" {
			return nil, usage("-s: empty file name")
		}
		t.store = &fileStore{path: *a.State, name: *a.State}
	}
	if a.Deadline < 0 {
		return nil, usage("--deadline: %v is negative", a.Deadline)
	}
	for _, f := range []struct {
		name string
		flag *float64
		to   **float64
	}{{"--rcpt-rate", a.RcptRate, &set.rcpt}, {"--msg-rate", a.MsgRate, &set.msg}} {
		if f.flag == nil {
			continue
		}
		if !rateOK(*f.flag) {
			return nil, usage("%s: %v is not a rate", f.name, *f.flag)
		}
		*f.to = f.flag
	}
	if a.Burst != nil {
		if *a.Burst < 1 {
			return nil, usage("--burst: %d is not at least 1", *a.Burst)
		}
		set.burst = *a.Burst
	}
	for _, s := range a.DomainRate {
		d, rate, err := parseDomainRate(s)
		if err != nil {
			return nil, usage("--domain-rate: %v", err)
		}
		set.domains = setDomain(set.domains, d, rate)
	}
	if set.rcpt != nil && *set.rcpt > 0 {
		b := newBucket(keyRcpt, *set.rcpt, set.burst)
		t.rcpt = &b
	}
	if set.msg != nil && *set.msg > 0 {
		b := newBucket(keyMsg, *set.msg, set.burst)
		t.msg = &b
	}
	// A domain at rate 0 has no limit: with a '*' rate it is kept, as
	// nil, or '*' would give it one; without, it is left out, so that
	// domains holds a bucket whenever it holds anything (charging).
	star := slices.IndexFunc(set.domains, func(x domainRate) bool { return x.domain == anyDomain && x.rate > 0 }) >= 0
	for _, dr := range set.domains {
		switch {
		case dr.rate > 0:
			b := newBucket("", dr.rate, set.burst)
			t.domains[dr.domain] = &b
		case star:
			t.domains[dr.domain] = nil
		}
	}
	// The journals are looked up only where something is charged, and
	// not at all on a list that has delivered nothing yet: no record of
	// this run is a retry.
	if d != nil && t.charging() {
		if _, err := os.Stat(journal.Dir(d)); err == nil {
			t.journals = d
		}
	}
	return t, nil
}

// settings are the rates before they become buckets.
type settings struct {
	rcpt, msg *float64 // nil: not set
	burst     int64    // 0: one second's worth
	domains   []domainRate
}

type domainRate struct {
	domain string
	rate   float64
}

// setDomain sets the rate of d, replacing an earlier one.
func setDomain(ds []domainRate, d string, rate float64) []domainRate {
	if i := slices.IndexFunc(ds, func(x domainRate) bool { return x.domain == d }); i >= 0 {
		ds[i].rate = rate
		return ds
	}
	return append(ds, domainRate{d, rate})
}

// readSettings reads rcptrate, msgrate, burst and domainrate. A bad value
// is temporary: mail waits until the list is mended.
func readSettings(d *listdir.Dir) (settings, error) {
	var set settings
	for _, f := range []struct {
		name string
		to   **float64
	}{{listdir.RcptRate, &set.rcpt}, {listdir.MsgRate, &set.msg}} {
		s, ok, err := d.String(f.name)
		if err != nil {
			return set, err
		}
		if !ok {
			continue
		}
		v, ok := ascii.ParseDecimal(s)
		if !ok || !rateOK(v) {
			return set, sysexit.Temp(fmt.Errorf("%s: %q is not a rate", f.name, s))
		}
		*f.to = &v
	}
	burst, err := d.IntIn(listdir.Burst, 0, 1, math.MaxInt64)
	if err != nil {
		return set, err
	}
	set.burst = burst
	// Each line parsed and set where it is read, for the line's number
	// in the error.
	_, err = d.CheckLines(listdir.DomainRate, func(s string) error {
		dom, rate, err := parseDomainRate(s)
		if err == nil {
			set.domains = setDomain(set.domains, dom, rate)
		}
		return err
	})
	return set, err
}

// parseDomainRate parses DOMAIN=N; the domain is kept in lower case.
func parseDomainRate(s string) (string, float64, error) {
	d, n, ok := strings.Cut(s, "=")
	if !ok {
		return "", 0, fmt.Errorf("%q: want DOMAIN=N", s)
	}
	d = addr.DomainKey(strings.TrimSpace(d)) // as addr.Domain gives a record's
	if d != anyDomain && addr.CheckDomain(d) != nil {
		return "", 0, fmt.Errorf("%q: bad domain", d)
	}
	n = strings.TrimSpace(n)
	rate, ok := ascii.ParseDecimal(n)
	if !ok || !rateOK(rate) {
		return "", 0, fmt.Errorf("%q: %q is not a rate", d, n)
	}
	return d, rate, nil
}

// rateOK reports whether v is a rate: finite and not negative (0 is no
// limit).
func rateOK(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

func usage(format string, a ...any) error { return sysexit.Errorf(sysexit.Usage, format, a...) }
