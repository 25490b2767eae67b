package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mlm/lib/cookie"
	"mlm/lib/envelope"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/notice"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// run does the action.
func run(a *args, in io.Reader, out io.Writer, now time.Time) error {
	open := listdir.OpenRW
	if a.Action == "list" {
		open = listdir.Open // reads only: root's to do too
	}
	d, err := open(a.Dir)
	if err != nil {
		return err
	}
	hold := d.Queue(listdir.Hold)
	if a.Action != "list" {
		// Root claims, puts back and removes held posts: in no hold
		// queue another user owns or others may write (mlm-listdir(5)).
		if err := listdir.CheckQueueRW(hold.Path); err != nil {
			return err
		}
	}
	needID := a.Action == "approve" || a.Action == "reject" || a.Action == "discard"
	if needID != (a.ID != "") {
		return sysexit.Errorf(sysexit.Usage, "%s: %s", a.Action, map[bool]string{true: "needs an ID", false: "takes no ID"}[needID])
	}
	switch a.Action {
	case "list":
		return list(hold, out)
	case "mail":
		return fromMail(d, hold, in, now)
	case "expire":
		return expire(d, hold, now)
	case "remind":
		return remind(d, hold, now)
	}
	return settle(d, hold, a.Action, a.ID, now)
}

// errNotNow is why an action waits (75): another run has the post, or
// its pass through the incoming queue is not settled.
var errNotNow = errors.New("try again")

// settle approves, rejects or discards one held post.
func settle(d *listdir.Dir, hold *queue.Queue, action, id string, now time.Time) error {
	it, err := hold.Claim(id, now, true)
	if err != nil {
		// A FIFO or a symbolic link is no held post, and waiting will
		// not make it one: 65, as list and expire say, not 75.
		if errors.Is(err, queue.ErrNotRecord) {
			return strayErr(id)
		}
		return err
	}
	if it == nil {
		if hold.Has(id) {
			// Claimed by another action, or by one that died, which
			// mlm-run's sweep puts back: which way it goes is not
			// known yet.
			return sysexit.Temp(fmt.Errorf("%s: being dealt with by another run; %w", id, errNotNow))
		}
		return settledAlready(d, action, id)
	}
	as, err := act(d, it, action, now)
	if as == "" {
		it.Return() // untouched, its age too, by which expire goes
		return err
	}
	// Recorded before the held copy goes: a run that dies in between
	// leaves a held copy to remove, not a settled post nobody knows of.
	if merr := markSettled(d, it.ID, as, cookiesUntil(d, it), now); merr != nil {
		it.Return()
		return merr
	}
	if derr := it.Done(); derr != nil {
		return derr
	}
	return err
}

// act does the action on a claimed post. It returns the action that
// settled the post, once its output is durable, when the held copy is to
// go, also when err says why the action asked for was not done (the post
// was approved before); "" when the post is left held.
func act(d *listdir.Dir, it *queue.Item, action string, now time.Time) (as string, err error) {
	r := stream.NewReader(it.File())
	h, err := first(r)
	id := it.ID
	if err == nil {
		id = h.ID
	} else if action != "discard" || sysexit.Code(err) != sysexit.DataErr {
		return "", heldErr(it.ID, err)
	}
	// A post still in the incoming queue is not settled there: a pass
	// of mlm-auth that died after holding it holds it again when it is
	// tried again, and an approval put it there.
	if d.Queue(listdir.Incoming).Has(id) {
		return "", sysexit.Temp(fmt.Errorf("%s: still in the incoming queue; %w", id, errNotNow))
	}
	// Settled before, by a run that died or failed before it could
	// remove the held copy, which mlm-run's sweep then put back: what
	// was done is not done again (a second notice to the poster of a
	// post rejected, above all); the held copy only goes.
	as, err = settledBefore(d, it.ID, id)
	if err != nil {
		return "", err
	}
	if as == action {
		fmt.Fprintf(os.Stderr, "%s: %s: %s already; the held copy is removed\n", prog, id, past(as))
		return as, nil
	}
	if as != "" {
		return as, sysexit.Errorf(sysexit.NoUser, "%s: %s already: not %s; the held copy is removed", id, past(as), past(action))
	}
	begun, err := journal.Begun(d, id)
	if err != nil {
		return "", err
	}
	if begun {
		// Approved before, by a run that died before it could remove
		// the held copy, which mlm-run's sweep then put back.
		if action == "approve" {
			fmt.Fprintf(os.Stderr, "%s: %s: approved already, its delivery has begun; the held copy is removed\n", prog, id)
			return "approve", nil
		}
		return "approve", sysexit.Errorf(sysexit.NoUser, "%s: approved already, its delivery has begun: not %s; the held copy is removed",
			id, past(action))
	}
	switch action {
	case "approve":
		err = approve(d, r, h, now)
	case "reject":
		err = reject(d, r, h, now)
	}
	if err != nil {
		return "", heldErr(it.ID, err)
	}
	return action, nil
}

// heldErr names the held post name in err if err is the post's fault
// (65): which post it is, since the error line of an answer by mail
// would otherwise not say.
func heldErr(name string, err error) error {
	if sysexit.Code(err) == sysexit.DataErr {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

// settledBefore returns how the held post, whose queue name is name and
// record id id, was settled before, "" if it was not: by its record in
// state/moderated/; else, for a run that died between a rejection's
// notice and that record, "reject" if the notice (ID.n2) is in the
// outgoing or retry queue or has a delivery journal.
func settledBefore(d *listdir.Dir, name, id string) (string, error) {
	as, err := settledAs(d, name)
	if as != "" || err != nil {
		return as, err
	}
	if told, err := journal.Begun(d, notice.ID(id, ".n2")); told || err != nil {
		return "reject", err
	}
	return "", nil
}

// approve puts the post back in the incoming queue, marked approved, so
// it goes on exactly as a post mlm-auth let through.
func approve(d *listdir.Dir, r *stream.Reader, h *stream.Header, now time.Time) error {
	t := strconv.FormatInt(now.Unix(), 10)
	h.Attrs = append(h.Attrs,
		stream.Attr{Name: "state", Value: "approved"},
		stream.Attr{Name: "trace", Value: prog + ":" + t + ":approved"})
	return d.Put(listdir.Incoming, h.ID, func(f io.Writer) error {
		w := stream.NewWriter(f)
		if err := stream.CopyRecord(w, r, h); err != nil {
			return err
		}
		return w.Flush()
	})
}

// reject tells the poster, as RFC 3834 and the daily limit allow.
func reject(d *listdir.Dir, r *stream.Reader, h *stream.Header, now time.Time) error {
	hdr, err := msg.ReadHeader(bufio.NewReader(r.Message()), msg.MaxHeader)
	if err != nil && sysexit.Code(err) != sysexit.DataErr {
		return err
	}
	_, err = notice.Refuse(d, notice.ID(h.ID, ".n2"), h.Sender.Mailbox, hdr, "was rejected by a moderator", now)
	return err
}

// byMail maps the command address an answer came to (envelope.Route's)
// to the action it asks for.
var byMail = map[string]string{"accept": "approve", "reject": "reject", "drop": "discard"}

// fromMail acts on moderators' replies: records whose orig-rcpt is
// dev-accept+TOKEN, dev-reject+TOKEN or dev-drop+TOKEN (discard: a
// refusal that tells no one, for spam, whose forged sender would get a
// rejection). A token that matches no held
// post, or has expired, is refused (77). A refused answer is said, and
// the answers after it in the stream are acted on all the same; the
// status is then the first refusal's.
func fromMail(d *listdir.Dir, hold *queue.Queue, in io.Reader, now time.Time) error {
	key, err := d.Secret()
	if err != nil {
		return err
	}
	refused := sysexit.OK
	r := stream.NewReader(in)
	err = r.Each(func(h *stream.Header) error {
		err := answer(d, hold, key, r, h, now)
		if c := sysexit.Code(err); c == sysexit.NoPerm || c == sysexit.NoUser {
			sysexit.Report(os.Stderr, prog, err) // one line, its control octets escaped
			if refused == sysexit.OK {
				refused = c
			}
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return sysexit.Silent(refused)
}

// answer acts on one moderator's reply, the record r is at.
func answer(d *listdir.Dir, hold *queue.Queue, key []byte, r *stream.Reader, h *stream.Header, now time.Time) error {
	rcpt, _ := h.Get("orig-rcpt")
	action, token, err := envelope.Route(d.Address(), rcpt)
	do, ok := byMail[action]
	if err != nil || !ok || token == "" {
		return sysexit.Errorf(sysexit.NoPerm, "%q: not a moderation address", rcpt)
	}
	// A vacation reply or a bounce to the notice, which goes to its
	// Reply-To, the accept address, is nobody's answer.
	if h.Sender.Mailbox == "" {
		return sysexit.Errorf(sysexit.NoPerm, "%s: a message from the null sender answers nothing", h.ID)
	}
	// A header that cannot be read cannot be told from an
	// automatic message's: it answers nothing either.
	hdr, err := msg.ReadHeader(bufio.NewReader(r.Message()), msg.MaxHeader)
	var broken *stream.SyntaxError
	if errors.As(err, &broken) {
		return err // the stream's fault, not the answer's
	}
	if sysexit.Code(err) == sysexit.DataErr {
		return sysexit.Errorf(sysexit.NoPerm, "%s: a message whose header cannot be read answers nothing: %v", h.ID, err)
	}
	if err != nil {
		return err
	}
	if notice.IsAutomatic(hdr) {
		return sysexit.Errorf(sysexit.NoPerm, "%s: an automatic message answers nothing", h.ID)
	}
	// Every held post, also one another run has (its answer waits,
	// 75, and is not refused for want of the post), and some twice.
	ids, err := hold.Names()
	if err != nil {
		return err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // an HMAC each, not one for each look
	// And every post settled lately: an answer for one (a stream of
	// answers run again after a 75, or a second moderator's) finds it
	// settled, and how, where it would find no post.
	settled, err := d.SettledIDs()
	if err != nil {
		return err
	}
	// A cookie is checked at the time the answer came (mlm-accept's
	// received), not later: an answer that waited (75), for a post
	// another run had, was in time all the same.
	at := now
	if t, err := strconv.ParseInt(attr(h, "received"), 10, 64); err == nil && t < now.Unix() {
		at = time.Unix(t, 0)
	}
	id, set, err := cookie.Find(key, action, d.Address(), token, at, ids, settled)
	switch {
	case err != nil:
		return sysexit.Perm(sysexit.NoPerm, fmt.Errorf("%q: %w", rcpt, err))
	case set == 0:
		return settle(d, hold, do, id, now)
	}
	return settledAlready(d, do, id)
}

// settledAlready is action on the post id, which is not held: done, and
// nothing to say, if the post was settled that way (an answer carried
// out before, in a stream now run again); refused (67) otherwise.
func settledAlready(d *listdir.Dir, action, id string) error {
	as, err := settledAs(d, id)
	if err != nil || as == action {
		return err
	}
	if as == "" {
		return sysexit.Errorf(sysexit.NoUser, "%s: no such held post", id)
	}
	return sysexit.Errorf(sysexit.NoUser, "%s: %s already: not %s", id, past(as), past(action))
}

// list prints the held posts, one per line: id, time held, sender,
// reason, subject, separated by tabs.
func list(hold *queue.Queue, out io.Writer) error {
	ids, strays, err := hold.Scan(time.Time{}, true)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	code := reportStrays(strays) // and of the posts that cannot be described: 75 before 65
	// One Reader for them all: a Reader's buffer, 256 KiB, taken anew
	// for each post made a list of 200,000 take 45 s here, not 10.
	r := stream.NewReader(nil)
	for _, id := range ids {
		line, err := describe(r, filepath.Join(hold.Path, "new", id))
		if errors.Is(err, os.ErrNotExist) {
			continue // settled meanwhile
		}
		if err != nil {
			code = said(code, id, err) // and the others listed all the same
			continue
		}
		bw.WriteString(line + "\n")
	}
	if err := bw.Flush(); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Silent(code)
}

// said reports err, of the held post id, on a line of its own, and
// returns the status code and it make: 75 before any other, the others
// going on meanwhile.
func said(code int, id string, err error) int {
	sysexit.Report(os.Stderr, prog, fmt.Errorf("%s: %w", id, err))
	if c := sysexit.Code(err); code != sysexit.TempFail {
		return c
	}
	return code
}

// reportStrays names on standard error each file of the hold queue that
// is no regular file, so no record (a FIFO, a symbolic link: see
// mlm-listdir(5)), and returns 65 if there is one: list and expire, run
// by an operator and by cron, say so where nothing else would, since
// mlm-run does not run the hold queue.
func reportStrays(strays []string) int {
	for _, s := range strays {
		sysexit.Report(os.Stderr, prog, strayErr(s))
	}
	if len(strays) > 0 {
		return sysexit.DataErr
	}
	return sysexit.OK
}

// strayErr says that name, in the hold queue, is no regular file.
func strayErr(name string) error {
	return sysexit.Errorf(sysexit.DataErr, "%s: not a regular file, so no held post; take it away", name)
}

// describe is list's line for one held post, read with r, Reset to
// its file.
func describe(r *stream.Reader, path string) (string, error) {
	h, hdr, err := readHeld(r, path)
	if err != nil {
		return "", err
	}
	reason, _ := h.Get("hold-reason")
	held := "-"
	if t, err := strconv.ParseInt(attr(h, "received"), 10, 64); err == nil {
		held = time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	sender := h.Sender.Mailbox
	if sender == "" {
		sender = "<>"
	}
	// A mailbox may hold any UTF-8, C1 controls and U+202E too: Clean
	// makes each a space.
	return strings.Join([]string{h.ID, held, notice.Clean(sender, 400), notice.Clean(reason, 100), notice.Quote(hdr.Fields.Get("Subject"), 200)}, "\t"), nil
}

// readHeld reads the record's header of the held post at path, and its
// message's, with r, Reset to its file (a header that does not parse is
// an empty one).
func readHeld(r *stream.Reader, path string) (*stream.Header, *msg.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r.Reset(f)
	h, err := first(r)
	if err != nil {
		return nil, nil, err
	}
	hdr, err := msg.ReadHeader(bufio.NewReader(r.Message()), msg.MaxHeader)
	if err != nil {
		hdr = &msg.Header{}
	}
	return h, hdr, nil
}

// first reads the start of a held post's record. An empty file holds
// none: bad data (65), as any held file that is not a valid record, not
// the clean end of a stream (io.EOF, which would be a 75 for ever).
func first(r *stream.Reader) (*stream.Header, error) {
	h, err := r.Next()
	if err == io.EOF {
		err = sysexit.Errorf(sysexit.DataErr, "no record")
	}
	return h, err
}

func attr(h *stream.Header, name string) string { v, _ := h.Get(name); return v }

// remind tells the moderators (else the owners) of the posts held, once
// a day (UTC) at most: a notice that lists them, up to remindMax, each
// with the addresses that approve and refuse it, as its own notice has;
// the rest are counted. So posts held past the list's daily limit of
// notices (maxholdnotices), or whose notice was lost, are told of, to
// moderators without a shell on the list host too (a review, R80); they
// come first, as no notice told of them (R82), then the others, each
// part oldest first. Mailman's daily reminder of pending requests is the
// like. With no post held, no notice; run again the same day, none
// either, once the day's is queued or delivered. A post whose cookies
// ran out by its file's time is left to expire, unread.
func remind(d *listdir.Dir, hold *queue.Queue, now time.Time) error {
	ids, strays, err := hold.Scan(time.Time{}, true)
	if err != nil {
		return err
	}
	code := reportStrays(strays) // and of the posts that cannot be read: 75 before 65
	holdFor, err := d.HoldFor()
	if err != nil {
		return err
	}
	// The posts still open to an answer, by their file's time (as
	// expire judges them), those no notice of their own told of first.
	var untold, told []string
	begun, err := journal.Begins(d)
	if err != nil {
		return err
	}
	for _, hid := range ids {
		if t, ok := hold.Time(hid); !ok || !t.Add(holdFor).After(now) {
			continue
		}
		switch b, err := begun(notice.ID(hid, ".n1")); {
		case err != nil:
			return err
		case b:
			told = append(told, hid)
		default:
			untold = append(untold, hid)
		}
	}
	waiting := len(untold) + len(told)
	if waiting == 0 {
		return sysexit.Silent(code)
	}
	id := "reminder." + now.UTC().Format("2006-01-02")
	if begun, err := journal.Begun(d, id); err != nil || begun {
		return err
	}
	to, skipped, err := notice.Addressees(d, listdir.Moderators, listdir.Owner)
	for _, f := range skipped {
		fmt.Fprintf(os.Stderr, "%s: %s: an address of the list itself; skipped\n", prog, f)
	}
	if err != nil {
		return err
	}
	if len(to) == 0 {
		fmt.Fprintf(os.Stderr, "%s: %d posts held; the list has no moderators or owners to remind\n", prog, waiting)
		return sysexit.Silent(code)
	}
	key, err := d.Secret()
	if err != nil {
		return err
	}
	var b strings.Builder // the posts shown
	r := stream.NewReader(nil)
	shown, tried := 0, 0
	for _, hid := range append(untold, told...) {
		if shown == remindMax || tried == 2*remindMax {
			break
		}
		tried++
		h, hdr, err := readHeld(r, filepath.Join(hold.Path, "new", hid))
		if errors.Is(err, os.ErrNotExist) {
			continue // settled meanwhile
		}
		if err != nil {
			code = said(code, hid, err)
			waiting--
			continue
		}
		// Held when its file was made; its cookies run out at its
		// hold-until, as its notice's did.
		held, until := "-", time.Time{}
		if t, ok := hold.Time(hid); ok {
			held, until = t.UTC().Format(time.RFC1123), t.Add(holdFor)
		}
		if s, err := strconv.ParseInt(attr(h, "hold-until"), 10, 64); err == nil {
			until = time.Unix(s, 0)
		}
		if !until.After(now) {
			continue // its cookies have run out: expire drops it
		}
		shown++
		at := cookie.AnswersFor(key, d.Address(), h.ID, until, d.CommandAddress)
		fmt.Fprintf(&b, "\n%d. From:    %s\n   Subject: %s\n   Reason:  %s\n   Held:    %s\n   Approve: %s\n   Refuse:  %s\n   Drop:    %s\n",
			shown, notice.Quote(hdr.Fields.Get("From"), 200), notice.Quote(hdr.Fields.Get("Subject"), 200),
			notice.Clean(attr(h, "hold-reason"), 300), held,
			at.Accept, at.Reject, at.Drop)
	}
	if shown == 0 {
		return sysexit.Silent(code)
	}
	var text strings.Builder
	if waiting == 1 {
		fmt.Fprintf(&text, "A post to %s waits for a moderator.\n", d.Address())
	} else {
		fmt.Fprintf(&text, "%d posts to %s wait for a moderator: first those no notice\ntold of, then the others, each oldest first.\n", waiting, d.Address())
	}
	text.WriteString(b.String())
	if more := waiting - shown; more > 0 {
		fmt.Fprintf(&text, "\nAnd %d more, not shown; on the list host, mlm-moderate ... list\nshows them all.\n", more)
	}
	text.WriteString("\nTo let a post through, send any message to its Approve address;\nto refuse it, telling its sender, to its Refuse address; to drop it,\ntelling no one (spam: its sender is most often forged), to its Drop\naddress. Without an answer a post is dropped after the list's\nmodexpire.\n")
	err = notice.Send(d, id, &notice.Message{
		From:    d.CommandAddress("owner"),
		To:      to,
		Subject: d.Address() + ": posts await moderation",
		Text:    text.String(),
	}, now)
	if err != nil {
		return err
	}
	return sysexit.Silent(code)
}

// remindMax is the most posts a reminder shows.
const remindMax = 50

// expire discards held posts that have waited the list's modexpire or
// longer: hold.Ready takes those ready at now less modexpire.
func expire(d *listdir.Dir, hold *queue.Queue, now time.Time) error {
	holdFor, err := d.HoldFor()
	if err != nil {
		return err
	}
	ids, strays, err := hold.Scan(now.Add(-holdFor), false)
	if err != nil {
		return err
	}
	code := reportStrays(strays) // and of the posts that could not be expired: 75 before 65
	for _, id := range ids {
		// One gone meanwhile, one being dealt with and one not yet
		// settled in the incoming queue are left to the next expire.
		err := settle(d, hold, "discard", id, now)
		if err == nil || sysexit.Code(err) == sysexit.NoUser || errors.Is(err, errNotNow) {
			continue
		}
		// Said, and the others expired all the same: one post that
		// cannot be discarded now keeps no later one held for ever.
		code = said(code, id, err)
	}
	return sysexit.Silent(code)
}
