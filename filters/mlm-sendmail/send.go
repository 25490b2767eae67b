package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"mlm/lib/addr"
	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/crash"
	jf "mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/notice"
	"mlm/lib/pipeline"
	"mlm/lib/queue"
	"mlm/lib/smtpout"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// job is one record to deliver.
type job struct {
	h     *stream.Header
	msg   *spool.Spool
	eight bool
	rcpts []stream.Path
	pos   map[string]int // a recipient's place in rcpts, once a bounce needs it
	// The jobs of one record of verp=yes, or of its parts (parted),
	// share its spool: the last to end lets it go.
	sharing *share
	// The journal's mark as its recipients were looked up, for the
	// retry record of those deferred.
	from mark
	held int // its recipients counted in sender.heldRcpts, let go by end
	// A job of a record of verp=yes (see verp): its recipient's place in
	// the record, from 1, and the record's one retry record, which its
	// deferred recipient goes into.
	place int
	agg   *verpRetry
	// Some of its recipients are another record's (errCeded): it writes
	// no retry record, and ends 75.
	ceded bool
}

// sender holds what every worker shares.
type sender struct {
	a        *args
	d        *listdir.Dir
	relays   []string
	opts     smtpout.Options
	j        *journal
	out      *stream.Writer
	outMu    sync.Mutex
	now      time.Time
	spools   chan *spool.Spool      // see newSpool
	made     atomic.Int64           // spools newSpool made
	failed   atomic.Bool            // some record could not be tried: exit 75
	outSaid  atomic.Bool            // an error of standard output's was said (outErr)
	stopped  atomic.Bool            // a journal fsync failed, or a signal came: send nothing more
	term     atomic.Pointer[string] // the signal that stopped the sending, if one did
	deferred atomic.Bool            // --retry: some recipient is still deferred
	nopipe   sync.Map               // the relays spoken to without PIPELINING (see unpipe)
	relayMu  sync.Mutex
	relaySt  map[string]*relayState // of the relays dialled in the run (see dial)

	relayCond sync.Cond // of relayMu: a dial ended (see serving), a connection closed (see closed)
	// The bounces queue found full, and the records written since it
	// was last looked at (see bouncesFull).
	bounceMu    sync.Mutex
	bounceFull  bool
	bounceSince int
	// The posts whose message a relay refused, as a whole, in the run
	// (see refusedWhole).
	wholeMu sync.Mutex
	whole   map[string]bool
	// the recipients of the last record read, up to a thousand (see
	// read; the reading goroutine's alone)
	lastRcpts int
	// The records read and not yet ended, and their recipients (see
	// room); a record of verp=yes counts as its jobs.
	heldMu    sync.Mutex
	heldEnded sync.Cond // of heldMu: records ended
	heldJobs  int
	heldRcpts int
	stats     struct{ records, txns, delivered, deferred, failed, lost atomic.Int64 }
	// The workers, each with its connection, started as dispatch needs
	// them (started and wg: the reading goroutine's). A record goes to
	// a worker that waits for one through handoff, else into jobs.
	jobs    chan *job
	handoff chan *job
	wg      sync.WaitGroup
	started int
	// waiting is how many workers are at next's wait for a record, or
	// about to be: what a test waits for before it writes a record that
	// must find one waiting.
	waiting atomic.Int32
	// A relay that refuses a further connection while it serves others
	// of the run (its limit of connections from one client): the
	// worker that dialled gives its record back, through again, to the
	// workers that have a connection, and ends; the run then starts no
	// worker past those left (see giveBack). Of workMu: live, the
	// workers running, and limit, how many the run may start.
	workMu sync.Mutex
	live   int
	limit  int
	again  chan *job
}

// run delivers every record of in.
func run(a *args, in io.Reader, out, stderr io.Writer) error {
	s, err := newSender(a, out)
	if err != nil {
		return err
	}
	return s.run(in, stderr)
}

func (s *sender) run(in io.Reader, stderr io.Writer) error {
	a := s.a
	defer s.j.close()
	// A worker whose final dot is held (see lane) finds the next record
	// waiting, for the dot to go out with its commands.
	s.jobs, s.handoff = make(chan *job, max(a.Conns, 1)), make(chan *job)
	// (Room for a record from each worker: one that gives its record
	// back ends, so none is ever kept waiting there.)
	s.again, s.limit = make(chan *job, max(a.Conns, 1)), max(a.Conns, 1)
	s.heldEnded.L = &s.heldMu
	// A write to a standard output whose reader has gone (mlm-enqueue
	// after it, stopped by the same SIGTERM as this program, or dead)
	// fails with EPIPE, not the signal's death: the replies of messages
	// sent are still read and journalled, and what was not written is
	// tried again (status 75). Killed by SIGPIPE, it left them unread,
	// and the next run sent them again (R74). (Handled, not ignored:
	// the -s program starts with SIGPIPE as it should be.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	cli.NotifyStop(sigs)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				s.terminate(sig)
			case <-quit:
				return
			}
		}
	}()
	err := s.read(in)
	close(s.jobs)
	s.wg.Wait()
	signal.Stop(sigs)
	close(quit)
	if werr := s.out.Flush(); err == nil {
		err = werr
	}
	if t := s.term.Load(); t != nil {
		// (Said once, not for each record left; and whatever else
		// failed once the stages were told to stop: the input cut
		// short by the stage before, the output's reader gone.)
		err = sysexit.Temp(fmt.Errorf("stopped by %s: what was not sent is tried again", *t))
	}
	if a.Verbose {
		fmt.Fprintf(stderr, "%s: records=%d transactions=%d delivered=%d deferred=%d failed=%d lost-replies=%d\n", prog,
			s.stats.records.Load(), s.stats.txns.Load(), s.stats.delivered.Load(), s.stats.deferred.Load(), s.stats.failed.Load(), s.stats.lost.Load())
	}
	if err != nil {
		return err
	}
	// A post's journal outlives its last record by the lifetime and
	// two days: by then no retry of it can come. (Saturated: an -l
	// within two days of the longest duration would wrap round to a
	// keep below 0, and every journal go.)
	keep := a.Lifetime + 48*time.Hour
	if keep < a.Lifetime {
		keep = math.MaxInt64
	}
	jf.Sweep(s.d, keep, s.now)
	if s.failed.Load() {
		return sysexit.Errorf(sysexit.TempFail, "some records could not be delivered now; they will be tried again")
	}
	if s.deferred.Load() {
		return sysexit.Silent(sysexit.TempFail)
	}
	return nil
}

func newSender(a *args, out io.Writer) (*sender, error) {
	// A timeout of no time fails every connection at once, for ever; a
	// lifetime before now fails every deferred recipient of a retry at
	// once.
	if a.Timeout <= 0 {
		return nil, sysexit.Errorf(sysexit.Usage, "-t: %v is not a time to wait", a.Timeout)
	}
	if a.Lifetime < 0 {
		return nil, sysexit.Errorf(sysexit.Usage, "-l: %v is negative", a.Lifetime)
	}
	helo := a.Helo
	if helo != "" {
		if err := addr.CheckDomain(helo); err != nil {
			return nil, sysexit.Errorf(sysexit.Usage, "-H: %v", err)
		}
		var ok bool
		if helo, ok = addr.ASCIIHost(helo); !ok {
			return nil, sysexit.Errorf(sysexit.Usage, "-H: %s: no A-labels for it (IDNA)", a.Helo)
		}
	}
	d, err := listdir.OpenRW(a.Dir)
	if err != nil {
		return nil, err
	}
	s := &sender{a: a, d: d, out: stream.NewWriter(out), now: clock.Now(),
		j:       newJournal(jf.Dir(d)),
		spools:  make(chan *spool.Spool, 2*max(a.Conns, 1)+1),
		relaySt: map[string]*relayState{}}
	s.relayCond.L = &s.relayMu
	if a.Retry {
		s.j.filter()
	}
	s.relays = a.Relay
	if len(s.relays) == 0 {
		check := checkRelay
		if a.Sendmail != "" {
			check = nil // -s sends through no relay
		}
		if s.relays, err = d.CheckLines(listdir.Relay, check); err != nil {
			return nil, err
		}
	}
	if len(s.relays) == 0 && a.Sendmail == "" {
		return nil, sysexit.Errorf(sysexit.TempFail, "%s: no relay; name one there or with -r", listdir.Relay)
	}
	for _, r := range a.Relay {
		if err := checkRelay(r); err != nil && a.Sendmail == "" {
			return nil, sysexit.Errorf(sysexit.Usage, "-r: %v", err)
		}
	}
	_, domain, _ := strings.Cut(d.Address(), "@")
	s.opts = smtpout.Options{Helo: helo, LMTP: a.LMTP, Timeout: a.Timeout, DataTimeout: a.DataTime, Hook: crashPoint}
	if s.opts.Helo == "" {
		// (One IDNA cannot convert goes as written: the list's
		// address is the list's, and a server may take it.)
		s.opts.Helo, _ = addr.ASCIIHost(domain)
	}
	if a.StartTLS {
		s.opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if a.Auth != "" {
		// Its first line alone, as a list's settings are read: a file
		// linked to /dev/zero is not read for ever, a FIFO not waited on.
		line, ok, err := listdir.FirstLineOf(a.Auth)
		if err == nil && !ok {
			err = sysexit.Temp(fmt.Errorf("%s: no such file", a.Auth))
		}
		if err != nil {
			return nil, err
		}
		user, pw, ok := strings.Cut(line, " ")
		if !ok {
			return nil, sysexit.Errorf(sysexit.Usage, "%s: want \"user password\" on the first line", a.Auth)
		}
		s.opts.User, s.opts.Password = user, pw
	}
	return s, nil
}

// checkRelay returns an error for a relay that is not host:port with a
// port a dial takes. One without a port ("localhost" for port 25) would
// be dialled for each record, fail, and count as a relay that did not
// answer: each run would exit 75, and with -R every recipient would
// bounce once the lifetime ran out, for a mistake in a setting.
func checkRelay(r string) error {
	_, port, err := net.SplitHostPort(r)
	if err != nil {
		return err
	}
	if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
		return fmt.Errorf("%q: bad port %q", r, port)
	}
	return nil
}

// dispatch hands j to the workers: to one that waits for a record, over
// the connection it keeps, if one does; else, while there are fewer than
// -c, to one started for it, with a connection of its own. Records that
// come paced (mlm-throttle's) so go over one connection, reused, not a
// new one each, where every worker, started at once, took the records in
// turn and opened one, left idle until the run ended (20 smtpd processes
// of the relay's held for a list's run); records that come faster than
// the workers take them open more, up to -c.
//
// A worker that waits takes a record from handoff, which holds none: a
// send there succeeds only while one waits, where a count of those that
// wait, kept by the workers, was still 1 for the moment after one had
// taken a record, and the next went on behind it, into a connection held
// by a slow MAIL, with no connection of its own.
func (s *sender) dispatch(j *job) {
	select {
	case s.handoff <- j:
		return
	default:
	}
	s.workMu.Lock()
	start := s.started < s.limit
	if start {
		s.live++
	}
	s.workMu.Unlock()
	if start {
		n := s.started
		s.started++
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.worker(n, s.jobs) }()
	}
	s.jobs <- j
}

// maxHeld and hardHeld bound the recipients of the records in hand
// (read, and not yet ended), each of which costs some 250 octets: past
// maxHeld, read takes a further record only while fewer records than
// -c are in hand, so that each connection may have one (a record goes
// over one connection); past hardHeld, none until some have ended.
// mlm-split's batches come near neither at its default maxrcpt (3 × -c
// + 1 records of 100, 6,100 at the defaults); records of many
// recipients each, from stages without mlm-split, would otherwise be in
// hand 3 × -c + 1 at once. A record of more than partRcpts goes as
// parts, each counted as a record, so that no record's recipients are
// held whole beyond that.
var maxHeld, hardHeld = 100_000, 1_000_000

// room waits until there is room in hand for a further record.
func (s *sender) room() {
	s.heldMu.Lock()
	for s.heldRcpts >= hardHeld || s.heldRcpts >= maxHeld && s.heldJobs >= max(s.a.Conns, 1) {
		s.heldEnded.Wait()
	}
	s.heldMu.Unlock()
}

// hold counts jobs and their n recipients more as in hand, or,
// negative, fewer.
func (s *sender) hold(jobs, n int) {
	s.heldMu.Lock()
	s.heldJobs += jobs
	s.heldRcpts += n
	s.heldMu.Unlock()
	if n < 0 || jobs < 0 {
		s.heldEnded.Broadcast()
	}
}

// read turns the stream into jobs, holding each message in a spool.
func (s *sender) read(in io.Reader) error {
	r := stream.NewReader(in)
	return r.Each(func(h *stream.Header) error {
		s.room()
		if s.term.Load() != nil {
			return errTerm // the rest is not read: the next run's
		}
		if err := jf.CheckName(jf.Post(h.ID)); err != nil {
			return err
		}
		j := &job{h: h, msg: s.newSpool()}
		ew := &eightBit{w: j.msg}
		if _, err := io.Copy(ew, r.Message()); err != nil {
			s.done(j.msg)
			return err
		}
		j.eight = ew.seen
		// Room for as many recipients as the record before had (a batch
		// is the size of the one before it, as a rule), up to a
		// thousand: not a large one's room for every small one after.
		j.rcpts = make([]stream.Path, 0, s.lastRcpts)
		var parts *parted // once the record has more than partRcpts
		err := r.EachRecipient(func(p stream.Path) error {
			if parts != nil && parts.skip != nil {
				return nil // not tried: read past
			}
			if len(j.rcpts) == partRcpts && (parts != nil || s.partable(h)) {
				if parts == nil {
					parts = s.parts(j)
				}
				if err := parts.next(j.rcpts); err != nil {
					return err
				}
				if parts.skip != nil {
					j.rcpts = nil
					return nil
				}
				s.room()
				j.rcpts = make([]stream.Path, 0, partRcpts)
			}
			j.rcpts = append(j.rcpts, p)
			return nil
		})
		s.lastRcpts = min(len(j.rcpts), 1000)
		if parts != nil {
			if err == nil && len(j.rcpts) > 0 {
				err = parts.next(j.rcpts)
			}
			parts.end()
			if err == nil {
				s.stats.records.Add(1)
				if parts.skip != nil {
					s.fail(h.ID, parts.skip)
				}
			}
			return err
		}
		if err != nil {
			s.done(j.msg)
			return err
		}
		if err := s.idsFit(h, len(j.rcpts)); err != nil {
			s.done(j.msg)
			return err
		}
		s.stats.records.Add(1)
		return s.queue(j)
	})
}

// queue hands a job on to the workers: each recipient's of a record of
// verp=yes, else the record's.
func (s *sender) queue(j *job) error {
	if j.h.VERP() && len(j.rcpts) > 0 {
		return s.verp(j)
	}
	if j.sharing != nil {
		j.sharing.n.Add(1)
	}
	j.held = len(j.rcpts)
	s.hold(1, j.held)
	s.dispatch(j)
	return nil
}

// partRcpts is the most recipients of a record that are in hand at once
// as it is read: a record of more goes as parts of partRcpts (the last
// of what is left), each a record of its own, read and sent on while
// the rest is still to read, as mlm-split(1)'s batches are (see parts).
// So a record of a million recipients from stages without mlm-split
// neither holds them all in memory (some 250 octets each) nor goes over
// one connection alone. With maxHeld, it bounds the recipients in hand
// to about max(maxHeld, -c × partRcpts).
var partRcpts = 5000

// partable reports whether a record of more than partRcpts recipients
// can go as parts: the ids of the parts' bounce and retry records fit a
// queue for any number of parts, and it is not a retry record, whose
// batch's lock (lockKey) its parts would not share. One that cannot is
// held whole, as it always was.
func (s *sender) partable(h *stream.Header) bool {
	longest := *h
	longest.ID += "," + strconv.Itoa(math.MaxInt32)
	return lockKey(h.ID) == h.ID && s.idsFit(&longest, partRcpts) == nil
}

// parted is a record sent as parts: record ID's k-th part of partRcpts
// recipients is record ID,k, with ID's attributes but "parent", then
// parent=ID, as mlm-split(1) names its batches; its own lock, journal
// lookup, bounce records (ID,k,bN) and retry record (ID,k,r-HASH). The
// record's own lock (of batch ID, as the record held whole took it, and
// a retry record of it made so holds) is taken before the first part
// and held until the last has ended: while another process has it, no
// part goes, and the record is not tried now (75), as it would not have
// been whole. A recipient the record names in two parts may get the post
// twice, as one in two of mlm-split's batches of a post may (the journal
// keeps in memory only what other processes wrote: see append);
// mlm-members writes each address once. The parts share the record's
// spool, which the reader holds too until the record has been read: the
// last to end lets it go, and the record's lock.
type parted struct {
	s     *sender
	j     *job // the record's, its header and spool
	attrs []stream.Attr
	n     int
	skip  error // why the record's parts, or those left, are not sent
}

// share is a record's spool, shared by its jobs (of verp=yes, or its
// parts), and the last to end lets it go, and the record's lock if its
// parts hold one (unlock, its id).
type share struct {
	n      atomic.Int64
	unlock string
}

// unshare lets go of j's hold on its spool: the last of the jobs that
// share one lets it go, and the lock they hold.
func (s *sender) unshare(j *job) {
	if j.sharing == nil {
		s.done(j.msg)
		return
	}
	if j.sharing.n.Add(-1) > 0 {
		return
	}
	s.done(j.msg)
	if j.sharing.unlock != "" {
		s.j.unlock(j.sharing.unlock)
	}
}

// parts begins to send j, of more than partRcpts recipients, as parts,
// taking the record's lock (see parted); if it cannot, the parts are
// not sent (skip).
func (s *sender) parts(j *job) *parted {
	j.msg.SMTPSize() // worked out once, before the parts share the spool
	j.sharing = &share{}
	j.sharing.n.Store(1) // the reader's
	p := &parted{s: s, j: j, attrs: stream.DerivedAttrs(nil, j.h)}
	if p.skip = s.j.lock(jf.Post(j.h.ID), j.h.ID, nil); p.skip == nil { // (no retry record: see partable)
		j.sharing.unlock = j.h.ID
	}
	return p
}

// next sends rcpts on as the record's next part, unless the parts are
// not sent: the record is not tried, or the sending has stopped, when
// the parts still to read are not sent, and fail once, with the record,
// not once a part. (A part handed out already fails on its own, each
// with its line.)
func (p *parted) next(rcpts []stream.Path) error {
	if p.skip == nil && p.s.stopped.Load() {
		p.skip = p.s.stopErr()
	}
	if p.skip != nil {
		return nil
	}
	p.n++
	h := *p.j.h
	var err error
	// (Its bounce and retry ids fit: partable saw to it for any k.)
	if h.ID, err = stream.DerivedID(p.j.h.ID, p.n); err != nil {
		return err
	}
	h.Attrs = p.attrs[:len(p.attrs):len(p.attrs)] // shared, and never appended to in place
	return p.s.queue(&job{h: &h, msg: p.j.msg, eight: p.j.eight, rcpts: rcpts, sharing: p.j.sharing})
}

// end lets go of the reader's hold on the spool, once the record has
// been read or has failed.
func (p *parted) end() { p.s.unshare(p.j) }

// idsFit refuses (65) a record of n recipients whose bounce records
// (ID,bN), or retry record (ID,r-HASH, or for a retry record its
// batch's, no longer) and its bounce records, would have ids longer
// than a queue takes (queue.MaxID); with verp=yes, ID
// is each recipient's (ID,n). Such a record could neither bounce a
// recipient nor defer one, and would be tried again for ever, exit 75,
// each failed recipient refused again every time and never told.
func (s *sender) idsFit(h *stream.Header, n int) error {
	if n == 0 {
		return nil
	}
	id := len(h.ID)
	if h.VERP() {
		id, n = id+len(",")+len(strconv.Itoa(n)), 1
	}
	longest := id + len(",b") + len(strconv.Itoa(n))
	if !s.a.Retry && lockKey(h.ID) == h.ID {
		// retryID's; a retry record's own is of its batch, as long as
		// its id (a review: a long one went to bad/ for an id it would
		// never make).
		longest += len(",r-") + 8
	}
	if longest > queue.MaxID {
		return sysexit.Errorf(sysexit.DataErr, "record %s: the ids of its bounce and retry records would be up to %d octets, more than a queue takes (%d)", h.ID, longest, queue.MaxID)
	}
	return nil
}

// verp sends on, for a record of verp=yes, a job for each recipient,
// as mlm-split(1)'s --verp made one record each before: id "ID,n" for
// the n-th recipient; the attributes but "parent" and "verp" in order,
// then "parent=ID"; the sender VERP-encoded with the recipient
// (addr.VERP), or as it is and "verp=no" where it cannot be. So the
// stream carries the message once, not once a recipient, and each
// transaction, its journal lines, bounce and retry record are what they
// were. The jobs share the record's spool, read at once by several
// connections. A record whose id cannot take the ",n" is bad input.
// A recipient the record names twice (one key, addr.Key) has a job for
// the first only: the jobs' outcomes are their own, and neither would
// know of the other's.
func (s *sender) verp(j *job) error {
	// The last id is the longest: if it can be made, all can.
	if _, err := stream.DerivedID(j.h.ID, len(j.rcpts)); err != nil {
		if j.sharing == nil { // (a part's spool is the record's to let go)
			s.done(j.msg)
		}
		return err
	}
	j.msg.SMTPSize() // worked out once, before the jobs share the spool
	seen := make(map[string]bool, len(j.rcpts))
	twice := make([]bool, len(j.rcpts))
	n := 0
	for i, p := range j.rcpts {
		k := addr.Key(p.Mailbox)
		twice[i], seen[k] = seen[k], true
		if !twice[i] {
			n++
		}
	}
	places, err := verpPlaces(j)
	if err != nil {
		if j.sharing == nil {
			s.done(j.msg)
		}
		return err
	}
	from, _ := j.h.Get(journalFrom)
	s.j.wantAll(jf.Post(j.h.ID), j.rcpts, from)
	sharing := j.sharing // a part's, shared with the record's other parts
	if sharing == nil {
		sharing = &share{}
	}
	sharing.n.Add(int64(n))
	s.hold(n, n) // (its own slice of them dropped once each job is made)
	attrs := stream.DerivedAttrs(nil, j.h, "verp", verpN)
	placeOf := func(i int) int {
		if places != nil {
			return places[i]
		}
		return i + 1
	}
	// The retry records of the recipients it defers, one of each
	// verpRetryMax places of the record (verpRetry).
	var aggs map[int]*verpRetry
	if !s.a.Retry {
		g0 := *j.h
		g0.Attrs = slices.DeleteFunc(slices.Clone(j.h.Attrs), func(a stream.Attr) bool { return a.Name == verpN })
		self := ""
		var whole *verpGate
		if places != nil {
			// A retry record sent without -R: its retry record is
			// of the record it was of, its places those in it, as
			// its transactions' ids are, not a record of a record;
			// named apart from it (writeVERPRetry). Written once all
			// its jobs have ended (verpGate).
			g0.ID, self = lockKey(j.h.ID), j.h.ID
			whole = &verpGate{}
		}
		aggs = make(map[int]*verpRetry)
		for i := range j.rcpts {
			if twice[i] {
				continue
			}
			c := (placeOf(i) - 1) / verpRetryMax
			g := aggs[c]
			if g == nil {
				g = &verpRetry{h: g0, self: self, cut: c, gate: whole}
				if g.gate == nil {
					g.gate = &verpGate{}
				}
				g.gate.cuts = append(g.gate.cuts, g)
				aggs[c] = g
			}
			g.gate.left++
			g.all++
		}
		if whole != nil {
			// (In the order of their places, the same at each run.)
			slices.SortFunc(whole.cuts, func(a, b *verpRetry) int { return a.cut - b.cut })
		}
	}
	for i, p := range j.rcpts {
		if twice[i] {
			continue
		}
		h := *j.h
		place := placeOf(i)
		if places != nil {
			// The transaction of the recipient's own retry record, as
			// it was (retryID), which holds its lock (lockKey).
			id, _ := stream.DerivedID(lockKey(j.h.ID), place)
			h.ID = retryID(id, []stream.Path{p})
		} else {
			h.ID, _ = stream.DerivedID(j.h.ID, place)
		}
		// (None with -R: a nil map's.)
		agg := aggs[(place-1)/verpRetryMax]
		h.Attrs = attrs[:len(attrs):len(attrs)] // shared, and never appended to in place
		if v, ok := addr.VERP(j.h.Sender.Mailbox, p.Mailbox); ok {
			h.Sender = stream.Path{Mailbox: v, Params: j.h.Sender.Params}
		} else {
			h.Attrs = append(h.Attrs, stream.Attr{Name: "verp", Value: "no"})
		}
		s.dispatch(&job{h: &h, msg: j.msg, eight: j.eight, rcpts: []stream.Path{p}, sharing: sharing, held: 1, place: place, agg: agg})
	}
	return nil
}

// verpN is the attribute of a retry record of verp=yes (see verpRetry)
// that gives each recipient's place in the record it was deferred from,
// in the order of its recipients: "2 7 31".
const verpN = "verp-n"

// verpPlaces returns the places of the recipients of j, a record of
// verp=yes, that its verp-n gives, or nil if it has none. One that does
// not give a place from 1 for each recipient, or whose places cannot
// make ids a queue takes, or a record whose id is no retry record's, is
// bad input (65).
func verpPlaces(j *job) ([]int, error) {
	v, ok := j.h.Get(verpN)
	if !ok {
		return nil, nil
	}
	bad := func(why string) error {
		return sysexit.Errorf(sysexit.DataErr, "record %s: %s %q: %s", j.h.ID, verpN, v, why)
	}
	if lockKey(j.h.ID) == j.h.ID {
		return nil, bad("not a retry record's (no ,r-HASH at its id's end)")
	}
	f := strings.Fields(v)
	if len(f) != len(j.rcpts) {
		return nil, bad(fmt.Sprintf("%d places for %d recipients", len(f), len(j.rcpts)))
	}
	places := make([]int, len(f))
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || strconv.Itoa(n) != x {
			return nil, bad(fmt.Sprintf("place %q is not a number from 1", x))
		}
		id, err := stream.DerivedID(lockKey(j.h.ID), n)
		if err == nil && len(retryID(id, nil))+len(",b1") > queue.MaxID {
			err = errors.New("too long")
		}
		if err != nil {
			return nil, bad(fmt.Sprintf("place %d makes ids longer than a queue takes", n))
		}
		places[i] = n
	}
	return places, nil
}

// A verpRetry is the one retry record of the recipients of verpRetryMax
// places of a record of verp=yes (h) that it deferred, where each had
// one of its own: a record of verp=yes itself, id ID,r-HASH (retryID of
// the recipients it holds), its verp-n their places in the record.
// mlm-sendmail -R sends each again as the transaction of the
// recipient's own retry record (ID,n,r-HASH), under its lock. A
// personalised delivery of 10,000 with 40% of the domains deferred made
// 4,000 retry records, each a pipeline and a connection when tried
// again: 90 s for 4,000 recipients. The record goes out as its gate
// opens. Cut by place, a record's retry records are the same sets,
// under the same names, at each run of it, and a retry record of a
// retry record is of the places of one: cut by the order in which the
// jobs ended, a re-run made other sets, which the retry queue kept
// beside the first (a review).
type verpRetry struct {
	h      stream.Header
	mu     sync.Mutex
	rcpts  []stream.Path
	places []int
	reply  smtpout.Reply // the first's
	from   mark          // the earliest, of one file; none if they differ
	marked bool          // from is some job's
	self   string        // the record's id, if it is a retry record of h.ID's
	all    int           // its places' recipients, one a key
	cut    int           // its places' first, over verpRetryMax
	gate   *verpGate
}

// A verpGate writes the retry records of its cuts once the last of
// their jobs has ended, and none if one of them ended in error (see
// end). A record's first delivery has one for each cut, which so goes
// out as its jobs end, rather than hold the deferred recipients of a
// large record until its last; a retry record sent without -R has one
// for all its cuts: kept whole on its 75, it holds them all again, and
// a cut written as well made, of those it deferred all again, a retry
// record its next run wrote again beside the one that record had made
// by then, and the two never merged (a review: 4 records of an earlier
// build, cut in the order their jobs ended, became 7 to 11).
type verpGate struct {
	mu     sync.Mutex
	left   int // the jobs not ended
	failed bool
	cuts   []*verpRetry
}

// verpRetryMax is the most recipients of a verpRetry: a retry record
// of up to a thousand takes their locks (rcptLocksMax).
var verpRetryMax = 1000

// newSpool returns a spool for a record's message: one a record done
// with has let go (see done), or a new one. A spool's memory so serves
// record after record, rather than being taken anew, and growing, for
// each one; there are never more spools than records at once.
func (s *sender) newSpool() *spool.Spool {
	select {
	case sp := <-s.spools:
		return sp
	default:
		s.made.Add(1)
		return spool.New(spool.MemLimit)
	}
}

// done lets go of a record's spool: kept for newSpool if it held its
// message in memory alone, closed if it took a file too, whose blocks a
// spool keeps for reuse, which a large message should not leave behind.
func (s *sender) done(sp *spool.Spool) {
	if !sp.InFile() && sp.Reset() == nil {
		select {
		case s.spools <- sp:
			return
		default:
		}
	}
	sp.Close()
}

// eightBit notes octets over 127 on their way to w.
type eightBit struct {
	w    io.Writer
	seen bool
}

func (e *eightBit) Write(p []byte) (int, error) {
	if !e.seen {
		e.seen = has8bit(p)
	}
	return e.w.Write(p)
}

// has8bit reports whether p holds an octet over 127, looking at 8
// octets at a time.
func has8bit(p []byte) bool {
	for ; len(p) >= 8; p = p[8:] {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
	}
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// worker delivers jobs over its own connection, reused across records.
func (s *sender) worker(n int, jobs <-chan *job) {
	l := &lane{n: n, w: s.j.newWriter()}
	defer func() {
		s.release(l)
		s.wait(l, 0)
		if l.c != nil {
			s.closeConn(l)
		}
	}()
	for {
		j, ok := s.next(l, jobs)
		if !ok || !s.deliver(l, j) {
			return
		}
	}
}

// next returns the next record; if none is waiting, a final dot the
// lane holds goes out first.
//
// Once the input has ended, a worker ends when no record given back
// waits (see last).
func (s *sender) next(l *lane, jobs <-chan *job) (*job, bool) {
	select {
	case j, ok := <-jobs:
		if ok {
			return j, true
		}
		return s.last()
	case j := <-s.again:
		return j, true
	default:
	}
	s.release(l)
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case j, ok := <-jobs:
		if ok {
			return j, true
		}
		return s.last()
	case j := <-s.again:
		return j, true
	case j := <-s.handoff:
		return j, true
	}
}

// last returns a record given back, if one waits, once the input has
// ended; else the worker is counted out, and ends. It looks, and counts
// itself out, under workMu, as a worker gives back a record only while
// another runs. (It does not wait for the dials of others that may yet
// give one back: with a relay that serves one connection at a time, and
// holds the rest in its listen queue, such a dial waits for this
// worker's connection to close, and the two waited on each other for -t
// (a review). The last worker, whose record cannot be given back, waits
// for the connections of those that ended to close instead: see
// deliver.)
func (s *sender) last() (*job, bool) {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	select {
	case j := <-s.again:
		return j, true
	default:
	}
	s.live--
	return nil, false
}

// release sends the final dot the lane's connection holds, if any, and
// reads its reply (the record it ends is settled in held); once the
// sending is stopped, the dot is not sent, and the record is tried
// again.
func (s *sender) release(l *lane) {
	if l.c == nil {
		return
	}
	if s.halted() {
		s.drop(l, nil)
		return
	}
	if err := l.c.Release(); err != nil {
		s.drop(l, err)
	}
}

// drop gives up the lane's connection, after err if it failed.
func (s *sender) drop(l *lane, err error) {
	if err != nil && !errors.Is(err, errTerm) { // (a stop is said once, by run)
		// (smtpout names the server in most of its errors already,
		// not always first: "reply to the end of data lost: ADDR: EOF".)
		msg := err.Error()
		if !strings.Contains(msg, l.c.Addr+": ") {
			msg = l.c.Addr + ": " + msg
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, sysexit.OneLine(msg)) // a reply's text is the server's
	}
	s.closeConn(l)
}

// end ends a record: its spool let go, and an error reported, which
// makes the exit status 75.
func (s *sender) end(l *lane, j *job, err error) {
	s.j.settle(l.w)
	if err == nil && j.ceded {
		err = sysexit.Temp(fmt.Errorf("%w: kept, tried again", errCeded))
	}
	if g := j.agg; g != nil {
		// The last job of a gate of a record of verp=yes: its retry
		// records go out, the record's message still in the spool;
		// but none if one of its jobs ended in error (another process
		// delivering its recipient, a stop, a journal not on disk):
		// the exit status is 75, and the record, kept whole, holds the
		// recipients it deferred. Written, it was of some of them,
		// those whose locks it took, a set of its own each time: two
		// records sharing recipients, run at once, each made one more
		// at each pass, and 4 of a post became 94 in 8 passes (a
		// review).
		gt := g.gate
		gt.mu.Lock()
		gt.failed = gt.failed || err != nil
		if gt.left--; gt.left == 0 && !gt.failed {
			for _, c := range gt.cuts {
				c.mu.Lock()
				if werr := s.writeVERPRetry(c, j.msg); err == nil {
					err = werr
				}
				c.mu.Unlock()
			}
		}
		gt.mu.Unlock()
	}
	s.unshare(j)
	s.hold(-1, -j.held)
	if err != nil {
		s.fail(j.h.ID, err)
	}
}

// fail says on standard error why record id could not be tried, or
// not all of it, which makes the exit status 75.
func (s *sender) fail(id string, err error) {
	if errors.Is(err, errTerm) || s.term.Load() != nil {
		s.failed.Store(true)
		return
	}
	var out outErr
	if errors.As(err, &out) && sysexit.Code(err) == sysexit.TempFail && s.outSaid.Swap(true) {
		s.failed.Store(true)
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %s: %s\n", prog, id, sysexit.OneLine(err.Error()))
	s.failed.Store(true)
}

// lane is what a worker keeps from one transaction to the next: its
// connection, and the journal fsyncs of its last transactions while
// they run. An fsync runs as the next transactions go out, and the
// final dot of the unsyncedMax-th after it waits for it (smtpout's
// BeforeDot), so the server takes no message of the worker's while an
// outcome older than unsyncedMax transactions is not durable: at most
// unsyncedMax transactions per connection have a 250 and no journal
// lines on disk.
// The last transaction of a record holds its final dot (smtpout's Hold)
// when the server pipelines and it is small (smtpout.ChainMax
// recipients; personalised mail is one): the dot goes out with the next
// record's commands, and its reply comes with theirs, so that a
// transaction of one recipient is one turn, not two. Its outcome is
// recorded (held) as the reply is read, before that next transaction's
// dot, so the rule stands.
type lane struct {
	n       int
	c       *smtpout.Client
	relay   int       // the turn of the relays c was dialled at (dial's k)
	syncing []syncing // the fsyncs that run, oldest first
	w       *writer   // the journal's view of it
	post    string    // the post of the record on its way
	lines   []byte    // outcomes' journal lines: a transaction's, the buffer kept
	alone   bool      // the last worker: gives no record back (see giveBack)
}

// syncing is an fsync of a lane's journal lines, as it runs.
type syncing struct {
	done chan error // its result
	id   string     // the record the lines are for
}

// unsyncedMax is how many transactions of a connection may have a 250
// and journal lines not on disk, or a final dot out and no reply: what a
// crash of the host can send twice, those whose reply it cuts off among
// them. With one, each transaction's dot would wait for an fsync begun
// as its message went out, and a connection would send no faster than
// fsyncs end; with two the fsync has a whole transaction to run in.
const unsyncedMax = 2

// wait returns once no more than keep of the lane's journal fsyncs run,
// the oldest ended first, and reports a failure. A failed fsync has
// stopped the sending (and made the exit status 75) as it failed, for
// every lane: what a server took after it could go out again when the
// records are tried again. Once stopped, wait fails; so it does once any
// fsync of the journal has failed, even before the one that failed has
// said so.
func (s *sender) wait(l *lane, keep int) error {
	for len(l.syncing) > keep {
		y := l.syncing[0]
		l.syncing = l.syncing[1:]
		if err := <-y.done; err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s: %v\n", prog, y.id, err)
		}
	}
	if s.halted() {
		return s.stopErr()
	}
	return nil
}

// halted reports whether the sending has stopped; it stops it, for
// every lane, once any fsync of the journal has failed, even before the
// one that failed has said so.
func (s *sender) halted() bool {
	if !s.stopped.Load() && s.j.failed() {
		s.failed.Store(true)
		s.stopped.Store(true)
	}
	return s.stopped.Load()
}

// waitDot is a lane's BeforeDot: wait for the fsyncs of the
// transactions more than unsyncedMax before this one, but the message
// goes out first if one has not ended, for the server to read while
// only the final dot waits.
func (s *sender) waitDot(l *lane) error {
	s.j.atDot(l.w, l.post)
	if len(l.syncing) >= unsyncedMax && len(l.syncing[0].done) == 0 {
		if err := l.c.Flush(); err != nil {
			return err
		}
	}
	return s.wait(l, unsyncedMax-1)
}

// errStopped fails the records left once a journal fsync has failed.
var errStopped = sysexit.Temp(errors.New("not sent: a journal fsync failed"))

// errTerm fails the records left once a signal has stopped the sending
// (see terminate); it says nothing of each, the run's line does.
var errTerm = sysexit.Temp(errors.New("not sent: stopped by a signal"))

// stopErr is the error of what is not sent once the sending has
// stopped.
func (s *sender) stopErr() error {
	if s.term.Load() != nil {
		return errTerm
	}
	return errStopped
}

// terminate stops the sending on SIGTERM, SIGINT or SIGHUP, as mlm-run's
// -t and a service manager's stop send it: no transaction starts, and
// no final dot goes out, after it; a transaction whose message has gone
// ends as usual, its replies read and recorded in the journal, so that
// the next run sends it to none of them again, where SIGKILL between a
// final dot and its reply leaves no record of a message the server may
// have taken. What is not sent waits for the next run (status 75).
func (s *sender) terminate(sig os.Signal) {
	name := cli.SignalName(sig)
	s.term.CompareAndSwap(nil, &name)
	s.stopped.Store(true)
}

// deliver sends one record, skipping recipients the journal knows, and
// settles every recipient: delivered or failed in the journal, deferred
// in a record on standard output. The lane keeps the connection for
// the next record. A record whose last transaction holds its final dot
// ends in held. It reports false for a record given back (see
// giveBack): the worker ends.
func (s *sender) deliver(l *lane, j *job) bool {
	if s.stopped.Load() {
		s.release(l)
		s.end(l, j, s.stopErr())
		return true
	}
	// A copy: the journal keeps it for the run, and the id's string
	// would keep the Reader's arena around it (stream's keep).
	post := strings.Clone(jf.Post(j.h.ID))
	l.post = post
	// No other process sends to the batch's recipients until the record
	// ends (see lock).
	var err error
	locked := len(j.rcpts) > 0
	if locked {
		err = s.j.lock(post, j.h.ID, j.rcpts)
		locked = err == nil
	}
	var todo []stream.Path
	if err == nil {
		todo, err = s.todo(post, j)
	}
	var reserved int64
	if err == nil && len(todo) > 0 {
		reserved, err = s.j.reserve(post, todo)
	}
	if err != nil || len(todo) == 0 {
		// Nothing goes out: a final dot the lane holds goes now, not
		// with whatever record comes next.
		if locked {
			s.j.unlock(j.h.ID)
		}
		s.release(l)
		s.end(l, j, err)
		return true
	}
	o := &open{j: j, post: post, reserved: reserved}
	held, err := s.send(l, o, todo)
	if held {
		return true
	}
	var busy *busyError
	if errors.As(err, &busy) {
		// None of its recipients settled: the worker that takes it,
		// or this one alone, looks them up again.
		s.j.unclaim(post, j.h.ID, todo)
	}
	s.j.release(post, reserved)
	s.j.unlock(j.h.ID)
	if busy != nil {
		if s.giveBack(j) {
			s.sayLimited(busy)
			return false
		}
		// The last worker: the connections still open are of workers
		// that have ended, sending their final dots and closing. The
		// record waits for them to close, then is tried as if no other
		// connection were open, its dial's failure said as any
		// other's. Tried at once, both its tries were refused while
		// they closed, and it was deferred, the relay free a moment
		// later (a review).
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, busy.msg)
		s.closed(busy.addr)
		l.alone = true
		return s.deliver(l, j)
	}
	s.end(l, j, err)
	return true
}

// busyError is send's when a relay refused the connection a record was
// to go over while it served others of the run, and none of the
// record's recipients is settled yet: the record goes to those
// (giveBack). msg is the dial's failure as said (with the relay's
// address), open the connections of the run to it then.
type busyError struct {
	addr, msg string
	open      int
}

func (e *busyError) Error() string { return e.msg }

// sayLimited says, once a relay, that it refused a connection past those
// of the run it serves, and that the run keeps to those: after the
// record is given back, not before (a test holds the other connections'
// replies until it is said).
func (s *sender) sayLimited(e *busyError) {
	s.relayMu.Lock()
	st := s.state(e.addr)
	said := st.limited
	st.limited = true
	s.relayMu.Unlock()
	if !said {
		fmt.Fprintf(os.Stderr, "%s: %s: a connection past the %d of this run's it serves; the run keeps to those (said once)\n", prog, e.msg, e.open)
	}
}

// giveBack hands a record whose relay refused its worker a connection,
// while it served others of the run, to the workers that have one, and
// counts the worker out; the run starts no other in its place. An MTA
// limits the connections one client may have (Postfix's
// smtpd_client_connection_count_limit, an ISP's relay a few), and greets
// one more with 421: the record was deferred to the retry queue, minutes
// later, with the run's other connections idle. Postfix's own client
// likewise lowers its concurrency on a failed connection. It reports
// false if no other worker runs (the record is then tried as before).
func (s *sender) giveBack(j *job) bool {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	if s.live < 2 {
		return false
	}
	s.live--
	s.limit = min(s.limit, s.live)
	s.again <- j
	return true
}

// todo returns the recipients of a record the journal does not know.
func (s *sender) todo(post string, j *job) ([]stream.Path, error) {
	from, _ := j.h.Get(journalFrom)
	todo, at, err := s.j.lookup(post, j.h.ID, j.rcpts, from)
	j.from = at
	// (Each lookup's: a record given back is looked up again.)
	if j.ceded = err == errCeded; j.ceded {
		err = nil
	}
	return todo, err
}

// open is a record on its way: what its last transaction, if it holds
// its final dot, leaves for held to settle.
type open struct {
	j        *job
	post     string
	reserved int64            // the journal's, given back as the record ends
	deferred []smtpout.Result // so far
	waiting  []stream.Path    // the recipients a held dot's reply is for
	err      error            // of the outcomes before a held dot
}

// send delivers a record's recipients still to do (todo): it reports
// whether its last transaction holds its final dot, and so ends in held.
func (s *sender) send(l *lane, o *open, todo []stream.Path) (held bool, err error) {
	j, post := o.j, o.post
	if s.a.Sendmail != "" {
		for len(todo) > 0 {
			if s.stopped.Load() {
				return false, s.stopErr()
			}
			part := todo[:min(len(todo), smtpout.MaxPipelined)]
			todo = todo[len(part):]
			settle := func(res []smtpout.Result) error { return s.outcomes(l, j, post, res, &o.deferred) }
			if err := s.viaSendmail(j, part, settle); err != nil {
				return false, err
			}
		}
		if s.stopped.Load() {
			// A stop may have left recipients of the last part
			// without a result: the record is tried again.
			return false, s.stopErr()
		}
		return false, s.finish(nil, j, o.deferred)
	}
	// Try the relays in turn, starting with this worker's, until one has
	// given a result for every recipient; each relay twice, since a
	// connection that breaks (or was closed while idle) is worth one
	// more, and one that mishandled PIPELINING is tried without it (see
	// unpipe). The recipients go a transaction's worth at a time, and the
	// outcomes of each go to the journal at once: the final dot of the
	// unsyncedMax-th transaction after waits for them (see lane), however
	// large the record.
	var carry []stream.Path         // of the last transaction, still to send
	settled := false                // a recipient of the record has an outcome
	var why error                   // the last relay's failure
	var refused *smtpout.ReplyError // the last refusal of MAIL, by any relay
	// The turn starts at the relay of the connection in hand, if one is
	// (an earlier record's may have gone over to the next relay), so
	// that each is tried twice and not one three times (a review).
	first := l.n
	if l.c != nil {
		first = l.relay
		if l.c.Gone() {
			// Closed by the relay while it stood idle (its timeout's
			// 421: the pace of mlm-throttle may leave it so): dialled
			// anew, the same relay, at no cost to the record's tries,
			// where the 421 read as MAIL's reply spent one (R79).
			s.closeConn(l)
		}
	}
	for try := 0; try < 2*len(s.relays) && len(todo)+len(carry) > 0; {
		if s.stopped.Load() {
			return false, s.stopErr()
		}
		if l.c == nil {
			c, err := s.dial(first+try, !settled && !l.alone)
			if _, busy := err.(*busyError); busy {
				return false, err
			}
			if err != nil {
				try++
				why = err
				if l.alone && try < 2*len(s.relays) {
					// The last worker, after a refusal while the
					// run's other connections closed: a relay may
					// count them out a moment after they close (its
					// count in another process, as Postfix's anvil
					// is), and both tries at once were refused
					// (a review). Not the next at once.
					time.Sleep(min(s.a.Timeout, 500*time.Millisecond))
				}
				continue
			}
			c.BeforeDot = func() error { return s.waitDot(l) }
			l.c, l.relay = c, first+try
		}
		c := l.c
		part := carry
		if len(part) == 0 {
			part = todo[:min(len(todo), smtpout.MaxPipelined)]
			todo = todo[len(part):]
		}
		var res []smtpout.Result
		var rest []stream.Path
		var err error
		if len(todo) == 0 {
			// The record's last transaction, unless some are refused
			// as too many: its dot may wait for the next record's.
			res, rest, held, err = c.Hold(j.h.Sender, part, j.msg, j.eight, func(res []smtpout.Result, err error) { s.held(l, o, res, err) })
		} else {
			res, rest, err = c.Send(j.h.Sender, part, j.msg, j.eight)
		}
		s.stats.txns.Add(1)
		carry = rest // refused as too many, for another transaction
		var lost []stream.Path
		if err != nil {
			why = err
			if re := (*smtpout.ReplyError)(nil); errors.As(err, &re) && re.Cmd == "MAIL" {
				refused = re
			}
			if !errors.Is(err, smtpout.ErrBefore) {
				// (Not this record's try: the reply lost was the
				// record's before, which held.)
				try++
			}
			s.drop(l, err)
			if errors.Is(err, smtpout.ErrPipelining) {
				s.unpipe(c.Addr)
			}
			carry = without(part, res)
			if errors.Is(err, smtpout.ErrLostReply) {
				// The data went out and its reply did not come back: the
				// server may have it (RFC 1047). Not again now: the
				// recipients it had taken are deferred, to the retry
				// queue, the one window where a recipient can get a post
				// twice, and counted; those it refused as too many never
				// had the data, and go on.
				lost, carry = without(part, res, rest...), rest
			} else if len(rest) > 0 && len(rest) < len(carry) {
				// Those the server took before it closed with 421,
				// and those it refused as too many (see smtpout's
				// Send): first, in a transaction of their own, so
				// that the next connection delivers them before it
				// meets the refusals that closed this one again; the
				// others after (a review).
				todo = append(without(carry, nil, rest...), todo...)
				carry = rest
			}
		}
		gone, lost := s.expireLost(j, lost)
		// (A transaction that broke off before any reply to its
		// recipients, on a connection that was reused and had
		// closed, settles none: a dial refused after it may still
		// give the record back.)
		settled = settled || len(res) > 0 || len(gone) > 0 || len(lost) > 0
		oerr := s.outcomes(l, j, post, append(res, gone...), &o.deferred)
		if held {
			// The writer's final dot is not settled: its lines come
			// in held, which ends the record.
			o.waiting, o.err = without(part, res), oerr
			return true, nil
		}
		s.j.settle(l.w)
		if oerr != nil {
			return false, oerr
		}
		s.lost(o, lost)
	}
	if n := len(todo) + len(carry); n > 0 {
		if refused != nil || !s.a.Retry || s.pastLife(j.h) {
			// No relay took them: none answered, each broke off, none
			// offered the STARTTLS -S asks, or one refused MAIL (a full
			// disk, a rate limit, a sender it will not take for now).
			// Out of the outgoing queue, the recipients are deferred,
			// to a retry record and its lifetime, counted from now, as
			// a relay's 4xx defers them; else the record came back
			// whole, and never expired: a list whose relays were gone
			// kept its posts in queue/outgoing for ever, and nobody
			// was told. Past the lifetime, a recipient no relay would
			// take fails as one a relay kept deferring does.
			reply := smtpout.Reply{Code: 451, Enhanced: "4.4.1", Text: "no relay took it"}
			switch {
			case refused != nil && refused.Reply.Code < 500:
				reply = refused.Reply
			case refused != nil:
				// (A 5xx to MAIL is the session's, not the
				// recipients', and no reason to fail them.)
				reply.Text += ": " + sysexit.OneLine(refused.Error())
			case why != nil:
				reply.Text += ": " + sysexit.OneLine(why.Error())
			}
			res := smtpout.All(append(slices.Clone(carry), todo...), reply)
			oerr := s.outcomes(l, j, post, res, &o.deferred)
			s.j.settle(l.w)
			if oerr != nil {
				return false, oerr
			}
			return false, s.finish(l, j, o.deferred)
		}
		// A retry record no relay took, within its lifetime: what is
		// final is settled, and the record is tried again as it is.
		return false, fmt.Errorf("%d recipients not tried: no relay took them", n)
	}
	return false, s.finish(l, j, o.deferred)
}

// lostReply is the reply of a recipient whose transaction's reply to the
// final dot was lost.
var lostReply = smtpout.Reply{Code: 451, Enhanced: "4.4.2", Text: "connection lost after the data; may have been delivered"}

// expireLost returns, as results to settle, the recipients whose reply
// to the final dot was lost, if the record is a retry past its lifetime,
// and the recipients left to defer (lost): they are not sent again, but
// fail, with a bounce record that says they may have the post. Else a
// relay that always answers the dot too late (behind a slow content
// filter) got another copy at every retry, for ever.
func (s *sender) expireLost(j *job, lost []stream.Path) (gone []smtpout.Result, left []stream.Path) {
	if len(lost) == 0 || !s.pastLife(j.h) {
		return nil, lost
	}
	s.stats.lost.Add(int64(len(lost)))
	return smtpout.All(lost, lostReply), nil
}

// lost defers recipients whose transaction's reply to the final dot was
// lost, and counts them.
func (s *sender) lost(o *open, lost []stream.Path) {
	s.stats.lost.Add(int64(len(lost)))
	s.stats.deferred.Add(int64(len(lost)))
	o.deferred = append(o.deferred, smtpout.All(lost, lostReply)...)
}

// held settles a record whose last transaction held its final dot, as
// smtpout reads the reply to it (or gives up): the outcomes, as send
// settles each transaction's, then the record's end. A dot never sent
// leaves its recipients to the record's next run.
func (s *sender) held(l *lane, o *open, res []smtpout.Result, err error) {
	rest := without(o.waiting, res)
	var gone []smtpout.Result
	if o.err == nil && errors.Is(err, smtpout.ErrLostReply) {
		gone, rest = s.expireLost(o.j, rest)
	}
	oerr := s.outcomes(l, o.j, o.post, append(res, gone...), &o.deferred)
	s.j.settle(l.w)
	switch {
	case o.err != nil:
		err = o.err
	case oerr != nil:
		err = oerr
	case err == nil:
		err = s.finish(l, o.j, o.deferred)
	case errors.Is(err, smtpout.ErrLostReply):
		s.lost(o, rest)
		err = s.finish(l, o.j, o.deferred)
	default:
		err = fmt.Errorf("%d recipients not tried: %w", len(rest), err)
	}
	s.j.release(o.post, o.reserved)
	s.j.unlock(o.j.h.ID)
	s.end(l, o.j, err)
}

// relayState is what a run knows of a relay: whether it has given a
// connection, how many dials of it timed out before it did, how many
// connections to it the run has open now, and how many dials of it are
// under way (see serving). Of relayMu.
type relayState struct {
	answered bool
	timeouts int
	open     int
	dialing  int
	limited  bool // a connection past those open was refused (said once)
}

// state returns what the run knows of the relay at addr. Called with
// relayMu held.
func (s *sender) state(addr string) *relayState {
	st := s.relaySt[addr]
	if st == nil {
		st = &relayState{}
		s.relaySt[addr] = st
	}
	return st
}

// serving returns how many connections to the relay at addr the run has
// open, once its dials under way have ended: a dial of it that failed
// meanwhile, with some open, is then the relay's limit of connections,
// not the relay being down. (A dial of one that is down that waits for
// another's, which is waiting for the relay's answer, waits up to -t.)
func (s *sender) serving(addr string) int {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	st := s.state(addr)
	for st.dialing > 0 {
		s.relayCond.Wait()
	}
	return st.open
}

// closed returns once the run has no connection to the relay at addr
// open: called by the last worker, whose dial was refused while those of
// workers that had ended were still open (their final dots, QUIT).
func (s *sender) closed(addr string) {
	s.relayMu.Lock()
	for s.state(addr).open > 0 {
		s.relayCond.Wait()
	}
	s.relayMu.Unlock()
}

// closeConn closes the lane's connection, counted out of its relay's.
func (s *sender) closeConn(l *lane) {
	l.c.Close()
	s.relayMu.Lock()
	s.state(l.c.Addr).open--
	s.relayMu.Unlock()
	s.relayCond.Broadcast() // (see closed)
	l.c = nil
}

// dial connects to the k-th relay of the pool (round robin).
//
// A relay that has given no connection in the run, and whose dials time
// out twice (the connection, its greeting, EHLO, or STARTTLS and AUTH if
// asked; one record's two tries, or two records' at once) is not dialled
// again in the run, and says so once: a server that takes connections
// and never speaks (a hung MTA) would otherwise cost each record -t for
// each try, a post of many batches hours on end, and it would be dialled
// all the while. The records after it try the other relays, or are
// deferred at once, as when no relay takes them; the next run dials it
// again. A run cannot tell a hung MTA from one whose listen queue held
// the connections past -t twice, at its process limit with other lists'
// runs: their records wait for the retry queue.
//
// With busy (no recipient of the record settled yet), a dial that
// fails, or times out, while the run has other connections to the relay
// open (serving) returns a busyError, and says nothing: the connection
// is one past what the relay serves at once (its limit of connections
// from one client, or an MTA at its process limit, whose listen queue
// holds the rest), and the record goes over the run's open connections
// (giveBack), said once a relay (sayLimited), not at every such dial.
// Otherwise such a dial is a try, as before: waiting for a turn without
// counting tries (a review) kept the record from the pool's other
// relays, and behind the run's own connection, idle between paced
// records, for as long as the input lasted: hours, where the retry
// queue takes it in minutes. (A record given back is taken by a worker
// as soon as it waits for one.)
func (s *sender) dial(k int, busy bool) (*smtpout.Client, error) {
	addr := s.relays[k%len(s.relays)]
	s.relayMu.Lock()
	st := s.state(addr)
	silent := !st.answered && st.timeouts >= 2
	if !silent {
		st.dialing++
	}
	s.relayMu.Unlock()
	if silent {
		return nil, sysexit.Temp(fmt.Errorf("%s: %w", addr, errSilent))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.a.Timeout)
	defer cancel()
	o := s.opts
	_, o.NoPipelining = s.nopipe.Load(addr)
	c, err := smtpout.Dial(ctx, addr, o)
	var ne net.Error
	timedOut := err != nil && errors.As(err, &ne) && ne.Timeout()
	s.relayMu.Lock()
	switch {
	case err == nil:
		st.answered = true
		st.open++
	case timedOut && !st.answered:
		st.timeouts++
		silent = st.timeouts == 2
	}
	st.dialing--
	s.relayCond.Broadcast()
	s.relayMu.Unlock()
	if err != nil {
		// (Named once: smtpout's errors and the dialler's name it.)
		msg := sysexit.OneLine(err.Error())
		if !strings.Contains(msg, addr) {
			msg = addr + ": " + msg
		}
		if busy {
			if n := s.serving(addr); n > 0 {
				return nil, &busyError{addr: addr, msg: msg, open: n}
			}
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, msg)
		if silent {
			fmt.Fprintf(os.Stderr, "%s: %s: no answer within %v, twice: not dialled again in this run\n", prog, addr, s.a.Timeout)
		}
	}
	return c, err
}

// errSilent is dial's error for a relay that did not answer in time
// earlier in the run.
var errSilent = errors.New("no answer in time when dialled earlier in this run: not dialled again in it")

// unpipe has the relay at addr spoken to without PIPELINING for the rest
// of the run, and says so once: it mishandled a group of pipelined
// commands (smtpout.ErrPipelining), answering them out of step or not
// at all, as some servers and the middleboxes before them do. The
// transaction's data never went, so its recipients go again at once, on
// the next try the loop in send makes; a final dot held before the group
// is a lost reply all the same. Nothing is kept from one run to the
// next: a relay mended is pipelined again.
func (s *sender) unpipe(addr string) {
	if _, known := s.nopipe.LoadOrStore(addr, true); !known {
		fmt.Fprintf(os.Stderr, "%s: %s: mishandles PIPELINING: spoken to without it for the rest of the run\n", prog, addr)
	}
}

// without returns the recipients that have no result yet, and are not
// among also.
func without(rcpts []stream.Path, res []smtpout.Result, also ...stream.Path) []stream.Path {
	got := map[string]bool{}
	for _, r := range res {
		got[r.Rcpt.Mailbox] = true
	}
	for _, r := range also {
		got[r.Mailbox] = true
	}
	var rest []stream.Path
	for _, r := range rcpts {
		if !got[r.Mailbox] {
			rest = append(rest, r)
		}
	}
	return rest
}

// outcomes settles the results of a transaction: a bounce record for
// each failure, then the journal lines of what is final, whose fsync is
// left running on the lane (see lane) or, with -s, waited for. What
// is deferred is added to deferred, for finish. (A lost reply is not a
// result: it is deferred as it is, never bounced for being old.)
func (s *sender) outcomes(l *lane, j *job, post string, results []smtpout.Result, deferred *[]smtpout.Result) error {
	// The lines go into the lane's buffer, taken while in use.
	lines := l.lines
	l.lines = nil
	defer func() { l.lines = lines[:0] }()
	var bounceErr error
	delivered := false
	expired := s.pastLife(j.h)
	var whole *smtpout.Reply // the first refusal of the message as a whole
	for _, r := range results {
		switch {
		case r.Reply.Code >= 200 && r.Reply.Code < 300:
			lines = jf.AppendOutcome(lines, jf.Delivered, r.Rcpt.Mailbox)
			s.stats.delivered.Add(1)
			delivered = true
		case r.Whole && r.Reply.Permanent():
			// The relay refused the message, not the member: a
			// content filter's 554 to the final dot, a message over
			// its SIZE. A bounce record for each would have a bounce
			// stage count it against every member, and fill
			// queue/bounces, which then refuses real bounces (R79).
			// The recipients fail, with no bounce record; the owner
			// is told once (refusedWhole).
			if whole == nil {
				whole = &r.Reply
			}
			lines = jf.AppendOutcome(lines, jf.Failed, r.Rcpt.Mailbox)
			s.stats.failed.Add(1)
		case r.Reply.Permanent() || expired:
			// A bounce record that cannot be written leaves its
			// recipient without an outcome, for the next try; the
			// others' lines are written all the same.
			if bounceErr == nil {
				bounceErr = s.bounce(j, r)
			}
			if bounceErr != nil {
				continue
			}
			lines = jf.AppendOutcome(lines, jf.Failed, r.Rcpt.Mailbox)
			s.stats.failed.Add(1)
		default:
			*deferred = append(*deferred, r)
			s.stats.deferred.Add(1)
		}
	}
	if delivered {
		// The crash tests kill the sender here (MLM_CRASH, lib/crash):
		// the server has the message, the journal does not know yet.
		crash.Point("sendmail-after-250")
	}
	if whole != nil {
		// Before the journal: a notice that cannot be queued leaves
		// the recipients to be tried again, and told of then.
		if err := s.refusedWhole(j, post, *whole); err != nil {
			return err
		}
	}
	if len(lines) > 0 {
		if err := s.record(l, j, post, lines); err != nil {
			return err
		}
	}
	return bounceErr
}

// refusedWhole says, once a run, that a relay refused the message of
// post as a whole with reply, and tells the list's owners once, in the
// notice post.n4 (as notice.Send: it is in the outgoing queue, or
// delivered, only once); not of a notice's refusal, whose notice could
// be refused in turn, for ever.
func (s *sender) refusedWhole(j *job, post string, reply smtpout.Reply) error {
	s.wholeMu.Lock()
	told := s.whole[post]
	if s.whole == nil {
		s.whole = map[string]bool{}
	}
	s.whole[post] = true
	s.wholeMu.Unlock()
	if told {
		return nil
	}
	fmt.Fprintf(os.Stderr, "%s: %s: the relay refused the message, not its recipients: %s; they fail, with no bounce records\n", prog, post, sysexit.OneLine(reply.String()))
	if state, _ := j.h.Get("state"); state == "notice" {
		return nil
	}
	id := notice.ID(post, ".n4")
	if begun, err := jf.Begun(s.d, id); err != nil || begun {
		return err
	}
	to, _, err := notice.Addressees(s.d, listdir.Owner)
	if err != nil || len(to) == 0 {
		return err
	}
	hdr, err := msg.ReadHeader(bufio.NewReader(j.msg.Reader()), msg.MaxHeader)
	if err != nil {
		hdr = &msg.Header{}
	}
	return notice.Send(s.d, id, &notice.Message{
		From:    s.d.CommandAddress("owner"),
		To:      to,
		Subject: s.d.Address() + ": a post was refused by the relay",
		Text: fmt.Sprintf(`A relay refused a post to %s, not its recipients, with
  %s
The recipients it was to go to fail, with no bounce records: the
refusal is the message's (a content filter's, a size limit), not the
members'.

  From:    %s
  Subject: %s
  Record:  %s

The post's header is attached.
`, s.d.Address(), notice.Clean(reply.String(), 1000), notice.Quote(hdr.Fields.Get("From"), 200),
			notice.Quote(hdr.Fields.Get("Subject"), 200), notice.Clean(post, 300)),
		Headers: hdr.Raw,
	}, s.now)
}

// record appends lines to the post's journal and makes them durable: on
// the lane, by an fsync left running, or at once with -s, whose runs
// have no final dot to hold. A failed fsync stops the sending (see wait)
// as it fails.
func (s *sender) record(l *lane, j *job, post string, lines []byte) error {
	f, my, err := s.j.append(l.w, post, lines)
	if err != nil {
		return err
	}
	durable := func() error {
		err := s.j.sync(post, f, my)
		if err != nil {
			s.failed.Store(true)
			s.stopped.Store(true)
			return err
		}
		crash.Point("sendmail-after-journal")
		return nil
	}
	if s.a.Sendmail != "" {
		return durable()
	}
	// The lines are written: whatever happened to an fsync before, they
	// may yet reach the disk, and a retry skip their recipients.
	// (waitDot keeps the bound; this wait keeps the fsyncs a lane leaves
	// running as few, when its transactions end without a dot, as with
	// failures only.)
	if err := s.wait(l, unsyncedMax-1); err != nil {
		return err
	}
	ch := make(chan error, 1)
	l.syncing = append(l.syncing, syncing{done: ch, id: j.h.ID})
	go func() { ch <- durable() }()
	return nil
}

// finish deals with the deferred recipients of a record, every one of
// whose recipients has a result: they go out as one record on standard
// output, once the journal is on disk (not at all if it cannot be), or,
// with --retry, make the exit status.
func (s *sender) finish(l *lane, j *job, deferred []smtpout.Result) error {
	if len(deferred) == 0 {
		return nil
	}
	if s.a.Retry || j.ceded {
		s.deferred.Store(true)
		return nil
	}
	if l != nil {
		if err := s.wait(l, 0); err != nil {
			return err
		}
	}
	if g := j.agg; g != nil {
		// The journal is on disk: the recipient joins its record's
		// retry record, which goes out as the last job ends.
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.rcpts) == 0 {
			g.reply = deferred[0].Reply
		}
		for _, r := range deferred { // (one)
			g.rcpts = append(g.rcpts, r.Rcpt)
			g.places = append(g.places, j.place)
		}
		switch {
		case !g.marked:
			g.from, g.marked = j.from, true
		case g.from.f != j.from.f:
			g.from = mark{}
		case j.from.at < g.from.at:
			g.from.at = j.from.at
		}
		return nil
	}
	rcpts := make([]stream.Path, len(deferred))
	for i, r := range deferred {
		rcpts[i] = r.Rcpt
	}
	h, id := j.h, retryID(j.h.ID, j.rcpts)
	if key := lockKey(j.h.ID); key != j.h.ID {
		// A retry record sent without -R (a site's own stages): its
		// retry record is of the batch it was of, under the batch's
		// lock, as its own is, where one named after it (ID,r-H,r-H)
		// had the lock of no batch, which a re-run of the batch did
		// not wait for, and an id 11 octets longer at each deferral,
		// past what a queue takes after some twenty. Named by the
		// recipients and its own id, as a verp=yes one that defers
		// all (writeVERPRetry): the same at each run of it, never
		// its own, which the retry queue has claimed, nor another's.
		b := *j.h
		b.ID, h = key, &b
		id = ownRetryID(key, j.rcpts, j.h.ID)
	}
	return s.writeRetry(h, id, j.msg, rcpts, deferred[0].Reply, j.from, nil)
}

// writeRetry writes record id of the recipients rcpts that record h0,
// whose message msg holds, deferred, first with reply; mark is the
// journal's as they were looked up, and attrs are more attributes.
func (s *sender) writeRetry(h0 *stream.Header, id string, msg *spool.Spool, rcpts []stream.Path, reply smtpout.Reply, from mark, attrs []stream.Attr) error {
	h := *h0
	h.ID = id
	// A journal-from of the record is of an earlier look-up: this one's
	// takes its place; and so do its parent, as DerivedAttrs has it,
	// and deferred, of a retry record sent without -R, which are of the
	// round before: each round added two lines more, some 3 KB of a
	// server's long reply, for ever (a review).
	h.Attrs = append(stream.DerivedAttrs(nil, h0, journalFrom, "deferred"),
		stream.Attr{Name: "deferred", Value: reply.String()})
	if _, ok := h0.Get(deferredAt); !ok {
		h.Attrs = append(h.Attrs, stream.Attr{Name: deferredAt, Value: strconv.FormatInt(s.now.Unix(), 10)})
	}
	if v := from.value(); v != "" {
		h.Attrs = append(h.Attrs, stream.Attr{Name: journalFrom, Value: v})
	}
	h.Attrs = append(h.Attrs, attrs...)
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if err := s.out.WriteHeader(&h); err != nil {
		return outErr{err}
	}
	if _, err := io.Copy(s.out, msg.Reader()); err != nil {
		return outErr{err}
	}
	for _, r := range rcpts {
		if err := s.out.Recipient(r); err != nil {
			return outErr{err}
		}
	}
	if err := s.out.End(); err != nil {
		return outErr{err}
	}
	return nil
}

// writeVERPRetry writes g's retry record, if it holds a recipient, and
// empties it. Called with g.mu held.
func (s *sender) writeVERPRetry(g *verpRetry, msg *spool.Spool) error {
	if len(g.rcpts) == 0 {
		return nil
	}
	places := make([]string, len(g.places))
	for i, n := range g.places {
		places[i] = strconv.Itoa(n)
	}
	// Named by the recipients it holds, not all the record's, as a
	// batch's is: a run of the record stopped half way, then run
	// again, deferred more of them the second time, in a record of the
	// same name, which the retry queue dropped as one it had (a review).
	// Two of one recipient are tried under one lock (verp), and the
	// journal keeps the second from sending again.
	//
	// Of a retry record sent without -R that deferred all its recipients
	// again, the hash is of them and its own id: of them alone, it had
	// its own name, and the retry queue, which has it claimed, dropped
	// the new one, then took the old one off as the run ended, and the
	// recipients with it (a review); and the next run of the new one had
	// the old one's name, which two runs at once of the two, both
	// queued, each dropped as the other's (another). So each run of one
	// record names its retry record alike, and never as another record's,
	// but by the odds of the hash, which a number more keeps from its
	// own. Some of them, fewer than it holds, are named by themselves
	// alone, as a first delivery's are: a name no record of more has,
	// and one that two records of one post, both queued after a stop,
	// give alike, so that the retry queue keeps one (a third review).
	id := retryID(g.h.ID, g.rcpts)
	if g.self != "" && (len(g.rcpts) == g.all || id == g.self) {
		id = ownRetryID(g.h.ID, g.rcpts, g.self)
	}
	err := s.writeRetry(&g.h, id, msg, g.rcpts, g.reply, g.from, []stream.Attr{{Name: verpN, Value: strings.Join(places, " ")}})
	g.rcpts, g.places, g.marked, g.from = nil, nil, false, mark{}
	return err
}

// ownRetryID is the id of the retry record of the recipients rcpts that
// retry record self, of batch key, sent without -R, defers again: the
// hash of them and self's id, the same at each run of self and never
// another's, but by the odds of the hash, which a number more keeps
// from self's own (writeVERPRetry).
func ownRetryID(key string, rcpts []stream.Path, self string) string {
	salt := "#" + self
	for k := 1; ; k++ {
		if id := retryID(key, append(slices.Clone(rcpts), stream.Path{Mailbox: salt})); id != self {
			return id
		}
		salt = "#" + self + "#" + strconv.Itoa(k)
	}
}

// outErr is an error writing a record of deferred recipients to standard
// output: its reader gone, as mlm-enqueue is when its queue is full. The
// writes of every record after it fail on the same error, which fail
// says once: a review had cron mail 2,000 lines of it, the line of the
// reader's that said why lost among them. (The records' deferred
// recipients wait with them: each is tried again whole, and the journal
// skips those delivered.)
type outErr struct{ error }

func (e outErr) Unwrap() error { return e.error }

// crashPoint passes the crash points (lib/crash) of a transaction that
// smtpout reports: sendmail-after-rcpt after each reply to RCPT,
// sendmail-after-dot once the final dot is sent, before its reply.
func crashPoint(event string) {
	switch event {
	case "rcpt":
		crash.Point("sendmail-after-rcpt")
	case "dot":
		crash.Point("sendmail-after-dot")
	}
}

// deferredAt is the attribute of a record of deferred recipients that
// says when they were first deferred, in unix seconds.
const deferredAt = "deferred-at"

// retryID is the id of the record of the deferred recipients of record
// id, a batch whose recipients are rcpts: id,r- and a hash of the set of
// them. The batch run again (a run cut short) makes the same id, which
// the retry queue takes once: the recipients it defers then are among
// those the first record holds, since the others have an outcome in the
// journal. A batch made otherwise since (maxrcpt changed) makes another
// id, which the queue keeps too, rather than dropping the recipients the
// first record lacks.
func retryID(id string, rcpts []stream.Path) string {
	m := make([]string, len(rcpts))
	for i, r := range rcpts {
		m[i] = r.Mailbox
	}
	slices.Sort(m)
	sum := sha256.Sum256([]byte(strings.Join(m, "\n")))
	return id + ",r-" + hex.EncodeToString(sum[:4])
}

// pastLife reports a record whose deferred recipients fail for good,
// first deferred longer than the lifetime ago: with -R any record,
// without only one that says when its recipients were first deferred: a
// retry record sent by a site's own stages, whose chain of retry records
// went on for ever (a review), not a post approved late, whose lifetime
// is counted from its deferral. They were first deferred at its
// deferred-at, or, in a record without one, its received time.
func (s *sender) pastLife(h *stream.Header) bool {
	v, ok := h.Get(deferredAt)
	if !ok && !s.a.Retry {
		return false
	}
	if !ok {
		v, _ = h.Get("received")
	}
	t, err := strconv.ParseInt(v, 10, 64)
	return err == nil && s.now.Sub(time.Unix(t, 0)) > s.a.Lifetime
}

// bounce writes a record for bounce processing to the bounces queue:
// the failed recipient, the server's reply and its enhanced code.
func (s *sender) bounce(j *job, r smtpout.Result) error {
	if full, err := s.bouncesFull(); err != nil || full {
		return err
	}
	if j.pos == nil {
		// The recipient's place in the record names its bounce.
		j.pos = make(map[string]int, len(j.rcpts))
		for i, p := range j.rcpts {
			j.pos[p.Mailbox] = i
		}
	}
	i := j.pos[r.Rcpt.Mailbox]
	reply := r.Reply
	if reply.Code < 500 {
		reply = smtpout.Reply{Code: 550, Enhanced: "5.4.7", Text: "delivery time expired; last reply: " + r.Reply.String()}
	}
	status := reply.Enhanced
	if status == "" {
		status = fmt.Sprintf("%d.0.0", reply.Code/100)
	}
	id := fmt.Sprintf("%s,b%d", j.h.ID, i+1)
	h := &stream.Header{ID: id, Attrs: []stream.Attr{
		{Name: "list", Value: s.d.Address()},
		{Name: "parent", Value: j.h.ID},
		{Name: "state", Value: "failed"},
		{Name: "rcpt", Value: r.Rcpt.Mailbox},
		{Name: "status", Value: status},
		{Name: "reply", Value: reply.String()},
		{Name: "received", Value: strconv.FormatInt(s.now.Unix(), 10)},
	}}
	// From and Date, which RFC 5322 section 3.6 requires of every
	// message: the list's bounce address, which the failure was for,
	// and now.
	body := fmt.Sprintf("From: %s\nDate: %s\nSubject: delivery to %s failed\nAuto-Submitted: auto-generated\n",
		s.d.CommandAddress("bounces"), s.now.UTC().Format(time.RFC1123Z), r.Rcpt.Mailbox)
	// The reply as on standard error: a server's octets that are not
	// UTF-8 (Latin-1), or controls, as \xHH, so that the text is ASCII
	// or UTF-8, labelled so below, and holds no bare CR or NUL; the
	// reply attribute keeps it as it came.
	text := r.Rcpt.Mailbox + ": " + sysexit.OneLine(reply.String()) + "\n"
	switch {
	case len(text) > msg.MaxLine+1:
		// A reply of smtpout.MaxReplyText octets is a line over the
		// 998 a message may have (RFC 5322 section 2.1.1): then
		// quoted-printable, whose lines are short.
		body += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n"
		text = msg.QPEncode(text)
	case utf8.ValidString(text) && strings.IndexFunc(text, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0:
		// A recipient of RFC 6531, or a server's UTF-8 reply: with no
		// charset the text is US-ASCII (RFC 2045 section 5.2).
		body += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"
	}
	body += "\n" + text
	return s.d.Put(listdir.Bounces, id, func(w io.Writer) error {
		return stream.WriteRecord(w, h, strings.NewReader(body), nil)
	})
}

// bouncesFull reports whether the bounces queue holds what maxqueued and
// maxqueuedsize allow (listdir.Full), as mlm-accept refuses the MTA's
// bounces then: a record for each recipient failed, in a queue that no
// stage empties by default, grew without bound, a file each, and the
// file system's inodes ran out, for every list on it (R93 F2). Past it,
// a recipient fails without one: the journal has the failure. It looks
// at the queue once in bounceLook records written, so that a post to
// many dead addresses does not count the queue for each; once full, no
// more in the run, and it says so the first time. A queue that stages
// take (stages/bounces: a bounce processor, behind for now) has ten
// times the room, as mlm-accept makes the MTA's bounces wait there
// rather than refuse them (a review).
func (s *sender) bouncesFull() (bool, error) {
	s.bounceMu.Lock()
	defer s.bounceMu.Unlock()
	if s.bounceFull {
		return true, nil
	}
	if s.bounceSince > 0 && s.bounceSince < bounceLook {
		s.bounceSince++
		return false, nil
	}
	times := int64(1)
	if s.d.Served(listdir.Bounces) {
		times = 10
	}
	why, err := s.d.Full(listdir.Bounces, times)
	if err != nil {
		return false, err
	}
	if why != "" {
		s.bounceFull = true
		fmt.Fprintf(os.Stderr, "%s: queue/%s: full (%s): no more bounce records this run; the journal has each failure\n", prog, listdir.Bounces, why)
		return true, nil
	}
	s.bounceSince = 1
	return false, nil
}

// bounceLook is how often bouncesFull looks at the queue: at most so
// many records past its bound.
const bounceLook = 64

// replyText is text cut to the octets a reply's text keeps
// (smtpout.MaxReplyText), where a UTF-8 character starts, as smtpout
// cuts a server's: a -s program's words go where a server's do, in a
// bounce record's or a retry record's attribute, whose line a longer
// one would take past what the stream allows, and then neither record
// could be written, and the record would fail for ever.
func replyText(text string) string {
	return sysexit.Cut(text, smtpout.MaxReplyText)
}

// headBuffer keeps the first max octets written to it and drops the
// rest, so that a -s program that says much on standard error takes no
// memory for it, and is not stopped for saying it.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := h.max - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }

// disinherit makes the descriptors mlm-sendmail inherited its own, once,
// before the first -s program starts (pipeline.Disinherit).
var disinherit sync.Once

// sendmailWaitDelay is how long a -s run waits, once its program has
// exited, for children of it that still hold its standard error.
const sendmailWaitDelay = 2 * time.Second

// viaSendmail runs a sendmail-compatible program for the recipients
// (argv only, never a shell) and gives their results to settle. A batch
// the program refuses with a status that blames an address is run again
// one address at a time, so that one bad address does not fail the
// others; each of those runs is settled as it ends, so that a crash
// between them sends none of the addresses done again. A stop (a failed
// journal fsync) ends the runs; the recipients left have no result.
func (s *sender) viaSendmail(j *job, rcpts []stream.Path, settle func([]smtpout.Result) error) error {
	res, split := s.runSendmail(j, rcpts)
	if !split {
		return settle(res)
	}
	for _, r := range rcpts {
		if s.stopped.Load() {
			return nil
		}
		one, _ := s.runSendmail(j, []stream.Path{r})
		if err := settle(one); err != nil {
			return err
		}
	}
	return nil
}

// runSendmail runs the program once for the recipients. Its exit status
// stands for every one of them; split says it blamed an address of
// several, which must be run alone.
func (s *sender) runSendmail(j *job, rcpts []stream.Path) (res []smtpout.Result, split bool) {
	args := []string{"-i", "-f", j.h.Sender.Mailbox, "--"}
	for _, r := range rcpts {
		args = append(args, r.Mailbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(s.a.Timeout, smtpout.DataTimeout))
	defer cancel()
	s.stats.txns.Add(1)
	reply := func(code int, enhanced, text string) []smtpout.Result {
		return smtpout.All(rcpts, smtpout.Reply{Code: code, Enhanced: enhanced, Text: replyText(s.a.Sendmail + ": " + text)})
	}
	fail := func(text string) ([]smtpout.Result, bool) { return reply(451, "4.3.0", text), false }
	// The message goes through a pipe of our own, not one exec makes
	// and closes once the program has exited: a child the program
	// leaves to read it (a wrapper that runs the real sendmail without
	// exec) gets it whole, within the timeout, or the run did not send.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(err.Error())
	}
	cmd := exec.CommandContext(ctx, s.a.Sendmail, args...)
	stderr := &headBuffer{max: smtpout.MaxReplyText}
	cmd.Stdin, cmd.Stderr = pr, stderr
	// A child left holding stderr keeps the run no longer. The program
	// stays in this process group, which the queue runner's own
	// timeout kills whole.
	cmd.WaitDelay = sendmailWaitDelay
	// Its standard descriptors alone: the record's claim, mlm-run's
	// descriptor 3, went to the program and to its background delivery
	// (Exim's -odb), which held the record for as long as it ran (R89
	// F3).
	disinherit.Do(pipeline.Disinherit)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fail(err.Error())
	}
	pr.Close()
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, j.msg.Reader())
		pw.Close()
		wrote <- err
	}()
	err = cmd.Wait()
	// Exit 0 is the program's own: the timeout's kill is SIGKILL. (Wait
	// may still say the context ended, or WaitDelay did, beside it.)
	if cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// Sent if the message was taken whole: by the program, or by
		// a child it left to read it, within the timeout. (Not if a
		// reader closed it early, EPIPE: a sendmail reads to the end,
		// and a part of a message must not count as sent.)
		var werr error
		select {
		case werr = <-wrote:
		case <-ctx.Done():
			pw.Close()
			werr = <-wrote // nil if it was written whole after all
		}
		if werr != nil {
			return fail("the message was not taken whole: " + werr.Error())
		}
		return smtpout.All(rcpts, smtpout.Reply{Code: 250, Text: "sent"}), false
	}
	// Its status decides: what it would still read is of no use. If the
	// message went into the pipe whole, and the program was killed (by
	// the timeout, or another signal), it may have taken it and queued
	// it, as a server whose reply to the final dot was lost may have the
	// data. (So may one that never read a message the pipe held whole,
	// which is not told apart: it is said to maybe have it.)
	// (A write still under way fails on the close.)
	pw.Close()
	taken := <-wrote == nil
	if taken && cmd.ProcessState != nil && !cmd.ProcessState.Exited() {
		s.stats.lost.Add(int64(len(rcpts)))
		return reply(lostReply.Code, lostReply.Enhanced, "killed after it took the message; may have been delivered"), false
	}
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	text := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	text = fmt.Sprintf("exit %d: %s", code, text)
	// A status that blames an address fails it for good. 77 does not:
	// it is the program's own permission (Postfix's sendmail exits 77
	// for a user authorized_submit_users leaves out), and waits, as
	// every other status does.
	switch code {
	case sysexit.DataErr, sysexit.NoUser, 68:
		if len(rcpts) > 1 {
			return nil, true
		}
		return reply(550, "5.0.0", text), false
	}
	return fail(text)
}
