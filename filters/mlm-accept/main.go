// mlm-accept is the MTA's entry point: it takes one message on standard
// input, with its envelope from the MTA's environment or flags, and
// commits it durably as a record to the list's queue for that address.
// See mlm-accept(1).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mlm/lib/addr"
	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/cookie"
	"mlm/lib/durable"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/msg"
	"mlm/lib/notice"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-accept"

type args struct {
	Sender   *string       `short:"f" placeholder:"SENDER" help:"Envelope sender (default: $SENDER); empty means <>."`
	Output   *string       `short:"o" placeholder:"FILE" help:"Write the record to FILE instead of a queue; - is standard output."`
	Rcpt     *string       `short:"r" placeholder:"RCPT" help:"Envelope recipient (default: $RECIPIENT, else the list address)."`
	Deadline time.Duration `short:"T" default:"10m" placeholder:"DURATION" help:"Give up with a temporary failure after DURATION."`
	Dir      string        `arg:"" placeholder:"DIR" help:"The list directory."`
}

func main() {
	var a args
	cli.Main(prog, "Accept a message from the MTA into a list's queue.", &a, func() error {
		if a.Deadline <= 0 {
			// Past at once, and so every time: a timer of 0 would race
			// the commit, and a quick post would be queued.
			return sysexit.Temp(fmt.Errorf("deadline of %v exceeded", a.Deadline))
		}
		if a.Output != nil && *a.Output == "-" {
			if err := cli.CheckStdout(); err != nil {
				return err // the record would be lost, and the MTA told it was queued
			}
		}
		stop := deadline(a.Deadline)
		defer stop()
		return run(&a, envelope.FromEnv(os.LookupEnv), os.Stdin, os.Stdout, clock.Now())
	}, cli.MTA, cli.OneCPU)
}

// queueFor maps what Route says about an address to a queue.
var queueFor = map[string]string{
	"post":        listdir.Incoming,
	"request":     listdir.Requests,
	"subscribe":   listdir.Requests,
	"unsubscribe": listdir.Requests,
	"owner":       listdir.OwnerQ,
	"bounces":     listdir.Bounces,
	"accept":      listdir.Moderate,
	"reject":      listdir.Moderate,
	"drop":        listdir.Moderate,
}

var errTooBig = errors.New("message too big")

// run commits the message read from in. It reads in to its end whatever
// happens, so the MTA never sees a broken pipe, and reports success only
// once the record and its directory entry are on disk.
func run(a *args, env envelope.MTA, in io.Reader, out io.Writer, now time.Time) (err error) {
	br := bufio.NewReaderSize(in, 64<<10)
	defer func() {
		// A verdict that stands (a message too big, say) is the one
		// the deadline gives too, if it comes while the rest is read.
		if c := sysexit.Code(err); c != sysexit.OK && c != sysexit.TempFail {
			v := err
			verdict.Store(&v)
		}
		if _, derr := io.Copy(io.Discard, br); derr != nil && err == nil {
			err = derr
		}
	}()
	output := ""
	if a.Output != nil {
		// An empty -o too is a bad one, not no -o: a script's unset
		// variable must not queue the post for the members.
		if output = *a.Output; output == "" {
			return sysexit.WithDSN(sysexit.Usage, "5.3.5", errors.New("-o: empty file name; -o - writes to standard output"))
		}
	}
	if output != "" && output != "-" {
		// The record replaces FILE whole, by a rename: never a device
		// (-o /dev/null as root made it a regular file), a FIFO, or a
		// symbolic link, which the rename would replace, not what it
		// points to (/dev/stdout is one).
		if fi, err := os.Lstat(output); err == nil && !fi.Mode().IsRegular() {
			return sysexit.WithDSN(sysexit.Usage, "5.3.5", fmt.Errorf("-o %s: not a regular file; -o - writes to standard output", output))
		}
	}
	open := listdir.OpenRW
	if output != "" {
		open = listdir.Open // writes nothing in the list: root's to do too
	}
	d, err := open(a.Dir)
	if errors.Is(err, listdir.ErrNoList) {
		// No directory at all is more likely a file system not
		// mounted, or a list being restored, than mail to no list:
		// the MTA keeps it (so is a directory with neither an address
		// nor queues, listdir.Open says; one with queues and no
		// address is a list retired).
		if _, serr := os.Stat(a.Dir); serr != nil {
			return sysexit.Temp(fmt.Errorf("%s: %w", listdir.Name(a.Dir), errors.Unwrap(serr)))
		}
	}
	if err != nil {
		return err
	}
	fromLine, err := stripFromLine(br)
	if err != nil {
		return err
	}
	switch {
	case a.Sender == nil && !env.SenderSet && fromLine != nil:
		// No SENDER from the MTA: the From_ line it added says who.
		s, err := envelope.ParseFromLine(fromLine)
		if err != nil {
			return sysexit.WithDSN(sysexit.DataErr, "5.1.7", err)
		}
		env.Sender, env.SenderSet = s, true
	case a.Sender == nil && fromLine != nil:
		// Postfix's local(8) puts SENDER through its
		// command_expansion_filter ("o'brien@" becomes "o_brien@",
		// another mailbox), but not the From_ line it writes: the
		// line's sender is the one, if the filter makes it SENDER.
		if s, err := envelope.ParseFromLine(fromLine); err == nil && envelope.FromPostfix(s, env) {
			env.Sender = s
		}
	}
	h, qname, err := header(a, env, d, now)
	if err != nil {
		return err
	}
	if qname == listdir.Requests && requestsToOwners(d) {
		qname = listdir.OwnerQ
	}
	if qname == listdir.OwnerQ && envelope.OwnBounces(d.Address(), h.Sender.Mailbox) {
		// The list sends nothing to its owner address: from its bounce
		// address, which all it sends goes from, this is its mail come
		// back, through an owner's address that leads to it (a group
		// that names LIST-owner), which the owner queue sent on to the
		// owners again, each round, until the MTA's hop count (R93
		// F6). Refused, the MTA bounces it to that address: a record
		// there, from the null sender, and no further round. (Not the
		// other command addresses: an owner may write as LIST-owner,
		// and copy it, a review.)
		return sysexit.WithDSN(sysexit.NoPerm, "5.4.6", fmt.Errorf("mail to the owner address from the list's own %s: its own mail come back, a loop (an owner's address leads to this list's)", h.Sender.Mailbox))
	}
	maxSize, err := d.IntIn(listdir.MaxSize, 10<<20, 1, math.MaxInt64)
	if err != nil {
		return err
	}
	if _, err := br.Peek(1); err == io.EOF {
		return sysexit.WithDSN(sysexit.DataErr, "5.6.0", errors.New("empty message"))
	}
	// The header is checked as mlm-auth checks it: one it refuses for
	// good (a bare CR, a NUL, over msg.MaxHeader octets or
	// msg.MaxFields fields) is refused here, for the MTA to bounce to
	// its sender with the reason. Taken, it went to incoming/bad/, and
	// nobody told the sender. (At most msg.MaxHeader octets held.)
	raw, err := readHeader(br, msg.MaxHeader)
	if err != nil {
		return err
	}
	var e msg.Edit
	if err := e.ResetChecked(raw, msg.MaxHeader); err != nil {
		return sysexit.WithDSN(sysexit.DataErr, "5.6.0", err) // ("header: ...")
	}
	// A moderator's answer that answers nothing is refused for good
	// (first: not made to wait for room it will never need).
	if qname == listdir.Moderate {
		if err := mayAnswer(d, h, raw, now); err != nil {
			return err
		}
	}
	if output == "" && qname != listdir.Incoming {
		if err := roomIn(d, qname); err != nil {
			return err
		}
	}
	body := io.MultiReader(bytes.NewReader(raw), br)
	var cp *copies
	if output == "" && qname == listdir.Incoming {
		if cp = newCopies(d, h.Sender.Mailbox, raw, &e); cp != nil {
			body = io.MultiReader(bytes.NewReader(raw), io.TeeReader(br, cp.body))
			defer cp.done()
		}
	}
	write := func(w io.Writer) error {
		if err := writeRecord(w, h, body, maxSize); err != nil {
			return err
		}
		if cp != nil {
			if err := cp.look(); err != nil {
				return err
			}
		}
		// From here the record may be committed: the deadline must not
		// cut in (exit 75 after the record is in the queue would make
		// the MTA deliver the post a second time).
		committing()
		return nil
	}
	switch {
	case output == "-":
		err = writeHeld(out, func(w io.Writer) error { return writeRecord(w, h, body, maxSize) })
	case output != "":
		err = writeFile(output, write)
	default:
		err = d.Put(qname, h.ID, write)
		if err == nil && cp != nil {
			cp.noted(h.ID)
		}
	}
	if errors.Is(err, errCopy) {
		// Taken: the MTA must not bounce it, nor keep it to try again.
		fmt.Fprintf(os.Stderr, "%s: %s: a copy of the post queued %v ago as %s (the same sender, header and body): taken, not queued again\n", prog, h.ID, cp.ago.Round(time.Second), cp.first)
		return nil
	}
	if errors.Is(err, errTooBig) {
		return sysexit.WithDSN(sysexit.DataErr, "5.3.4", fmt.Errorf("message bigger than %d octets", maxSize))
	}
	if err != nil && output == "" && sysexit.Code(err) == sysexit.TempFail {
		return fmt.Errorf("%s: %w", qname, err) // (the queue's; -o's names no queue)
	}
	return err
}

// requestsToOwners reports whether mail to the request addresses goes
// to the owner queue, for the owners to answer, as mail to the owner
// address: the list has stages/requests, as mlm-newlist writes it, and
// it names no stages, and the list has owners. Queued, a member who
// wrote to LIST-unsubscribe was told nothing, and kept getting the posts
// (R93 F4). A list without the file, made before mlm-newlist wrote it,
// keeps them in queue/requests, for a program of the site's own that
// takes that queue (mlm-run DIR/queue/requests -- PROG), as mlm-run(1)
// shows; and so does one without owners, whose owner queue would keep
// them for days rather than refuse them once full (a review).
func requestsToOwners(d *listdir.Dir) bool {
	return d.Has(filepath.Join(listdir.Stages, listdir.Requests)) && !d.Served(listdir.Requests) && members.Any(d, listdir.Owner)
}

// mayAnswer refuses (77, 5.7.1) mail to a moderation address that
// mlm-moderate would refuse whatever it holds: from the null sender (a
// bounce, or an autoresponder's answer to a hold notice), an automatic
// message (notice.IsAutomatic: a vacation reply), or one whose cookie
// is none, is not spelt as a cookie, or answers no post held or settled
// (cookie.Find, as mlm-moderate looks), or has expired. The MTA bounces
// it to its sender with the reason, which tells a moderator who answered
// too late; queued, it went to queue/moderate/bad/, for ever, and told
// nobody. Anyone may write to dev-accept+anything. Without a secret,
// the answer is queued, to wait there for one, as mlm-moderate makes it;
// with one that cannot be read, or is too short, it waits in the MTA's
// queue (75), which says why, as for an unreadable hold queue: queued, it
// would have taken every answer, forged or not, without a word.
func mayAnswer(d *listdir.Dir, h *stream.Header, raw []byte, now time.Time) error {
	if h.Sender.Mailbox == "" {
		return sysexit.Errorf(sysexit.NoPerm, "a message from the null sender answers no hold notice")
	}
	rcpt, _ := h.Get("orig-rcpt")
	action, token, _ := envelope.Route(d.Address(), addr.Unquoted(rcpt))
	switch e, ok := cookie.Expiry(token); {
	case !ok:
		return sysexit.Errorf(sysexit.NoPerm, "%q: %v", rcpt, cookie.ErrForged)
	case now.Unix() > e.Unix():
		return sysexit.Errorf(sysexit.NoPerm, "%q: %v", rcpt, cookie.ErrExpired)
	}
	if hdr, err := msg.ReadHeader(bufio.NewReader(bytes.NewReader(raw)), msg.MaxHeader); err == nil && notice.IsAutomatic(hdr) {
		return sysexit.Errorf(sysexit.NoPerm, "an automatic message answers no hold notice")
	}
	key, err := d.Secret()
	if errors.Is(err, listdir.ErrNoSecret) {
		return nil
	}
	if err != nil {
		return err // one that cannot be read, or too short: what to mend, not a check passed in silence
	}
	held, err := d.Queue(listdir.Hold).Names()
	if err != nil {
		return err
	}
	slices.Sort(held)
	held = slices.Compact(held) // (Names gives some twice: an HMAC each, once)
	settled, err := d.SettledIDs()
	if err != nil {
		return err
	}
	if _, _, err := cookie.Find(key, action, d.Address(), token, now, held, settled); err != nil {
		return sysexit.Errorf(sysexit.NoPerm, "%q: %v", rcpt, err)
	}
	return nil
}

// roomIn refuses mail for the list's queue qname once the queue holds
// maxqueued records or maxqueuedsize octets (waiting and claimed). Mail
// to the request, bounce, owner and moderation addresses comes from
// anyone and, with no stages to take it, or none running, would fill
// the list's file system, and every list's on it, 10 MiB at a time.
// Posts are never refused so: they are the list's service, and wait in
// no queue for long; those that would wait for a moderator mlm-auth
// refuses once the hold queue is full.
//
// For a queue mlm-run serves (listdir.Served: the owner's and the
// moderators' by default) the refusal is temporary, 75: the queue will
// empty. For one it does not (requests and bounces by default), it is
// for good, 77: the mail would only wait in the MTA's queue for days,
// to be bounced then (R76). The MTA bounces a request at once, with the
// reason, and a bounce, from the null sender, to no one.
func roomIn(d *listdir.Dir, qname string) error {
	why, err := d.Full(qname, 1)
	if err != nil || why == "" {
		return err
	}
	if !d.Served(qname) {
		return sysexit.WithDSN(sysexit.NoPerm, "5.2.2", fmt.Errorf("%s: queue full, and nothing here takes it (stages/%s): %s", qname, qname, why)) // (RFC 3463: mailbox full)
	}
	return sysexit.WithDSN(sysexit.TempFail, "4.2.2", fmt.Errorf("%s: queue full: %s", qname, why))
}

// sourceRoute reports whether r is RFC 5321's A-d-l: "@" and a domain,
// one or more, separated by commas; a domain in U-labels too (RFC 6531).
func sourceRoute(r string) bool {
	for _, at := range strings.Split(r, ",") {
		d, ok := strings.CutPrefix(at, "@")
		if !ok || d == "" || strings.ContainsFunc(d, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80) // (U-labels: RFC 6531)
		}) {
			return false
		}
	}
	return true
}

// readHeader reads the message's header block from br: its lines up to
// and with the empty line that ends it, or to the end of the input, and
// no more than max+1 octets, which is too long.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var raw []byte
	atStart := true // at the start of a line
	for len(raw) <= max {
		line, err := br.ReadSlice('\n')
		raw = append(raw, line[:min(len(line), max+1-len(raw))]...)
		if err == io.EOF {
			return raw, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, sysexit.Temp(err)
		}
		if atStart && err == nil && (string(line) == "\n" || string(line) == "\r\n") {
			return raw, nil
		}
		atStart = err == nil
	}
	return raw, nil
}

// header checks the envelope and builds the record's header; it also
// says which queue the record belongs in.
func header(a *args, env envelope.MTA, d *listdir.Dir, now time.Time) (*stream.Header, string, error) {
	sender := env.Sender
	if a.Sender != nil {
		sender = envelope.NullSender(*a.Sender)
	}
	if route, mbox, ok := strings.Cut(sender, ":"); ok && sourceRoute(route) && mbox != "" {
		// A source route (@relay.example:a@b.example), which RFC 5321
		// (section 4.1.1.3, appendix C) lets a server drop: the mailbox
		// is after its colon. (Quoted again, below, it became another
		// mailbox, "@relay.example:a"@b.example.) One that is no
		// route is no address: refused below, not cleaned.
		sender = mbox
	}
	sp, err := stream.NewPath(sender, true)
	if err != nil && a.Sender == nil && !strings.HasPrefix(sender, "@") { // (a route's remnant is no local part)
		// qmail and Exim hand a quoted local part over without its
		// quotes ("john smith@example.org" for "\"john
		// smith\"@example.org"): the same mailbox, quoted again.
		if q := addr.Quoted(sender); q != sender {
			if p, qerr := stream.NewPath(q, true); qerr == nil {
				sp, err = p, nil
			}
		}
	}
	if err != nil {
		return nil, "", sysexit.WithDSN(sysexit.DataErr, "5.1.7", err)
	}
	// An empty -r is a bad recipient, not no -r: a script's unset
	// variable must not make a moderator's answer a post.
	var rcpt string
	switch {
	case a.Rcpt != nil:
		rcpt = *a.Rcpt
	case env.Recipient != "":
		rcpt = env.Recipient
	default:
		rcpt = d.Address()
	}
	if _, err := stream.NewPath(rcpt, false); err != nil {
		return nil, "", sysexit.WithDSN(sysexit.DataErr, "5.1.3", err)
	}
	// A local part quoted, as Postfix's pipe(8) with flags=q writes
	// one that needs it ("dev+a b"@, delivered to dev@), is routed by
	// what it holds, as Own has it.
	cmd, _, err := envelope.Route(d.Address(), addr.Unquoted(rcpt))
	if o := env.OrigRecipient; err != nil && a.Rcpt == nil && o != "" && o != rcpt {
		// A virtual alias may have made the list's address another
		// (dev@ to lists-dev@localhost): Postfix keeps the first in
		// ORIGINAL_RECIPIENT.
		if c, _, oerr := envelope.Route(d.Address(), addr.Unquoted(o)); oerr == nil {
			if _, perr := stream.NewPath(o, false); perr == nil {
				rcpt, cmd, err = o, c, nil
			}
		}
	}
	if err != nil {
		return nil, "", sysexit.WithDSN(sysexit.NoUser, "5.1.1", fmt.Errorf("%q: %v", rcpt, err))
	}
	t := strconv.FormatInt(now.Unix(), 10)
	return &stream.Header{
		ID: stream.NewID(),
		Attrs: []stream.Attr{
			{Name: "list", Value: d.Address()},
			{Name: "orig-rcpt", Value: rcpt},
			{Name: "state", Value: "new"},
			{Name: "received", Value: t},
			{Name: "trace", Value: prog + ":" + t},
		},
		Sender: sp,
	}, queueFor[cmd], nil
}

// stripFromLine drops a leading mbox From_ line, which Postfix local(8)
// and Exim's pipe transport may add, and returns it (its first 64 KiB).
// The envelope comes from the environment; the line is used when the
// MTA set no SENDER, or when it is the one Postfix's local(8) filtered
// into SENDER (envelope.FromPostfix).
func stripFromLine(br *bufio.Reader) ([]byte, error) {
	b := envelope.PeekFirstLine(br)
	if !envelope.StartsWithFromLine(b) {
		return nil, nil
	}
	// A line longer than the buffer is refused, as mlm-wrap -F refuses
	// it: it was read to its end and dropped, message and all where its
	// lines end in CR alone past the buffer (a critical read).
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, sysexit.Errorf(sysexit.DataErr, "From_ line: over %d octets without LF, or %d with it", br.Size()-1, br.Size())
	}
	if err == io.EOF {
		err = nil
	}
	return append([]byte(nil), line...), err
}

// writeRecord writes the record, refusing a message over maxSize octets.
func writeRecord(out io.Writer, h *stream.Header, body io.Reader, maxSize int64) error {
	w := stream.NewWriter(out)
	if err := w.WriteHeader(h); err != nil {
		return err
	}
	// One octet more than the limit tells a message over it; at the
	// largest limit there is no more to tell.
	n, err := io.Copy(w, io.LimitReader(body, min(maxSize, math.MaxInt64-1)+1))
	if err != nil {
		return err
	}
	if n > maxSize {
		return errTooBig
	}
	if err := w.End(); err != nil {
		return err
	}
	return w.Flush()
}

// writeHeld writes the record to out, for -o -, only once it is whole
// and within the size limit (write): held meanwhile in a spool, its first
// MiB in memory and the rest in an unlinked temporary file, so that a
// message refused leaves nothing on out, not 10 MiB of a record cut
// short for the next program to fail on.
func writeHeld(out io.Writer, write func(io.Writer) error) error {
	held := spool.New(spool.MemLimit)
	defer held.Close()
	if err := write(held); err != nil {
		return err
	}
	if _, err := io.Copy(out, held.Reader()); err != nil {
		return sysexit.Temp(err)
	}
	committing() // (the deadline cut in before, or not at all)
	return nil
}

// writeFile writes the record to a named file, for -o: all or nothing.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := durable.Create(durable.Beside(name), name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// commitMu is held by the deadline or a signal while it exits, and taken
// for good once the record is about to be committed, or run has
// returned, so the deadline or a signal can end the program before the
// commit or not at all.
var commitMu sync.Mutex

// committed is set by committing, on the goroutine that runs run.
var committed bool

// committing tells the deadline it is too late to fire.
func committing() { commitMu.Lock(); committed = true }

// verdict is a failure that stands whenever the program stops: the
// deadline exits with it rather than with a temporary failure.
var verdict atomic.Pointer[error]

// deadline makes the program give up with a temporary failure once d (>
// 0) has passed: better a retry later than an MTA killing a program that
// hangs. SIGTERM, SIGINT and SIGHUP make it give up so too: a program
// killed by a signal is a permanent failure to Exim's pipe transport
// (unless freeze_signal), which bounces the post.
func deadline(d time.Duration) (stop func()) {
	t := time.AfterFunc(d, func() { giveUp(fmt.Sprintf("deadline of %v exceeded", d)) })
	sigs := make(chan os.Signal, 1)
	cli.NotifyStop(sigs)
	go func() {
		for sig := range sigs {
			giveUp(sig.String())
		}
	}()
	return func() {
		t.Stop()
		// run has returned: its result stands, and a signal from now
		// on waits for the exit, rather than kill the program (a
		// record queued, and the post bounced by Exim) or print a
		// second line. (One giving up now holds the lock: Lock waits
		// for its exit.)
		if !committed {
			commitMu.Lock()
		}
	}
}

// giveUp exits at once with the verdict, if one stands, else with a
// temporary failure for reason; but not once the record is being
// committed, when the result stands and giveUp returns.
func giveUp(reason string) {
	if !commitMu.TryLock() {
		return // committing: the result stands
	}
	if v := verdict.Load(); v != nil {
		os.Exit(sysexit.ReportDSN(os.Stderr, prog, *v))
	}
	fmt.Fprintf(os.Stderr, "4.3.0 %s: %s\n", prog, reason)
	os.Exit(sysexit.TempFail)
}
