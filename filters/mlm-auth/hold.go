package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mlm/lib/ascii"
	"mlm/lib/cookie"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/notice"
	"mlm/lib/stream"
)

// holdPost puts the record in the hold queue, as it came, with the
// reason, and tells the moderators (the owners if there are none),
// within the list's daily limit of such notices (maxholdnotices):
// strangers could otherwise send the moderators, under the list's name,
// as many notices as posts (R71). A member's post to a moderated list
// (member) counts apart, against ten times that: every post of such a
// list is held, and strangers' posts must not silence the members'; a
// From is easily forged, so that count has its bound too (R80).
func holdPost(d *listdir.Dir, r *stream.Reader, p *post, reason string, member bool, now time.Time) error {
	key, err := d.Secret()
	if err != nil {
		return err
	}
	// Read before the post is held: a modexpire or maxholdnotices that
	// cannot be read leaves it unheld, in the incoming queue, not held
	// and listed (mlm-moderate list) with no moderator told.
	holdFor, err := d.HoldFor()
	if err != nil {
		return err
	}
	maxNotices, err := d.IntIn(listdir.MaxHoldNotices, 100, 0, maxHoldNotices)
	if err != nil {
		return err
	}
	counter, setting := heldKey, listdir.MaxHoldNotices
	if member {
		maxNotices, counter, setting = memberTimes*maxNotices, memberHeldKey, "ten times "+setting
	}
	t := strconv.FormatInt(now.Unix(), 10)
	p.h.Attrs = append(p.h.Attrs,
		stream.Attr{Name: "state", Value: "held"},
		stream.Attr{Name: "hold-reason", Value: reason},
		stream.Attr{Name: "hold-until", Value: strconv.FormatInt(now.Add(holdFor).Unix(), 10)},
		stream.Attr{Name: "trace", Value: prog + ":" + t + ":held"})
	heldBefore, err := d.PutFound(listdir.Hold, p.h.ID, func(f io.Writer) error {
		w := stream.NewWriter(f)
		if err := emit(w, r, p); err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		return err
	}
	// A try before this one that queued the notice, and failed after
	// (or was cut short before the queue runner took its input), has
	// told the moderators: the notice's journal, or its record, says
	// so, where Put would queue one delivered since all over again.
	// Mail with an Auto-Submitted field (but "no") from the null sender
	// or a role address, such as another list's hold notice (from its
	// -bounces), gets no notice (a review): one to moderators that
	// are, or lead to, that list would be held there in turn, and told
	// back here, for ever, as RFC 3834's sorcerer's apprentice. Not
	// all that RFC 3834 calls automatic: a post that came back round
	// through another list (its -bounces, its List-Id), held as a loop,
	// is the owner's to hear of, and tells no list.
	if s := p.h.Sender.Mailbox; slices.ContainsFunc(p.ed.Values("Auto-Submitted"), notice.AutoSubmitted) && (s == "" || notice.IsRole(s)) {
		fmt.Fprintf(os.Stderr, "%s: %s: held (%s); automatic mail from %s: no notice, which could loop\n", prog, p.h.ID, reason, pathOrNull(s))
		return nil
	}
	id := notice.ID(p.h.ID, ".n1")
	if begun, err := journal.Begun(d, id); err != nil || begun {
		return err
	}
	to, err := moderators(d)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		fmt.Fprintf(os.Stderr, "%s: %s: held (%s); the list has no moderators or owners to tell\n", prog, p.h.ID, reason)
		return nil
	}
	// The time to answer runs from when the post was held, as
	// mlm-moderate's expire counts it (the held record's time): a try
	// again after the notice could not be queued finds the post held
	// already, maybe days before, and a notice and cookies that ran from
	// now would outlive it. Only then: the file's time is the file
	// system's clock, not MLM_NOW, and may be behind this host's (NFS),
	// so a post held by this run has its time from now.
	held := now
	if t, ok := d.Queue(listdir.Hold).Time(p.h.ID); heldBefore && ok && t.Before(now) {
		held = t
	}
	until := held.Add(holdFor)
	at := cookie.AnswersFor(key, d.Address(), p.h.ID, until, d.CommandAddress)
	send := func(last bool) error {
		return notice.Send(d, id, &notice.Message{
			From:    d.CommandAddress("owner"),
			To:      to,
			ReplyTo: at.Accept,
			Subject: d.Address() + ": a post awaits moderation",
			Text:    holdText(d, p, reason, at, until, last, member, maxNotices),
			// As held: without a right password mlm-auth took out (the
			// post may be held for its structure after that).
			Headers: p.ed.Bytes(),
		}, now)
	}
	sent, err := notice.Counted(d, id, counter, int(maxNotices), now, send)
	if err == nil && !sent {
		fmt.Fprintf(os.Stderr, "%s: %s: held (%s); no notice: the day's %d have gone (%s)\n", prog, p.h.ID, reason, maxNotices, setting)
	}
	return err
}

// maxHoldNotices is the most maxholdnotices may say: the notices of a
// day are named in one count file, rewritten for each, whose line
// holds at most listdir.MaxItemLine octets: memberTimes that many ids
// of up to 241 octets must fit.
const maxHoldNotices = 400

// memberTimes is the limit of the notices of members' posts to a
// moderated list, as a multiple of maxholdnotices.
const memberTimes = 10

// heldKey and memberHeldKey are what the notices of held posts count
// against in a day (notice.Counted), strangers' and members' posts to
// a moderated list's: no sender's, for they have no "@".
const (
	heldKey       = "notices of held posts"
	memberHeldKey = "notices of members' held posts"
)

// holdText is the text of the notice of p, held for reason; the last
// of the day's max notices (of members' posts to a moderated list, if
// member) says so.
func holdText(d *listdir.Dir, p *post, reason string, at cookie.Answers, until time.Time, last, member bool, max int64) string {
	text := fmt.Sprintf(`A post to %s is held for a moderator.

  Reason:  %s
  Sender:  %s
  From:    %s
  Subject: %s

To let it through, reply to this message, or send any message to
  %s
To refuse it, telling the sender, send any message to
  %s
To drop it, telling no one (spam: its sender is most often forged), to
  %s
On the list host, as %s:
  mlm-moderate %s approve %s

Without an answer it is dropped after %s.
The held message's header is attached.
`, d.Address(), reason, notice.Clean(pathOrNull(p.h.Sender.Mailbox), 400),
		notice.Quote(p.header().Fields.Get("From"), 200), notice.Quote(p.header().Fields.Get("Subject"), 200),
		at.Accept, at.Reject, at.Drop, listdir.UserName(uint32(os.Geteuid())), dirWord(d), cliID(p.h.ID), until.UTC().Format(time.RFC1123))
	if last {
		which, setting := "", listdir.MaxHoldNotices
		if member {
			which, setting = " of members' posts", "ten times "+listdir.MaxHoldNotices+", for a moderated list"
		}
		text += fmt.Sprintf(`
This is the last such notice today (UTC): the list sends %d a day%s
(%s).
Posts held after it wait without one: the list's daily reminder
(mlm-moderate ... remind, from cron) shows them.
`, max, which, setting)
	}
	return text
}

// holdFull says why the hold queue can take no more posts, p among
// them (see listdir.Full), or "" if it can, or holds p
// already (a try again after a failure). Posts from strangers are held,
// each up to maxsize: without a bound, anyone could fill the list's file
// system with them, as mlm-accept keeps them from doing through the
// other addresses. A post that finds it full is refused, its sender
// told: nothing takes it later, and a try again (75) would leave it in
// the incoming queue, which would grow instead.
//
// The hold queue has ten times the room of the queues mlm-accept
// fills (10,000 posts, 1 GiB): spam to a public list is held there for
// a week. A member's post held because the list is moderated, which
// holds every post, has twice that: strangers' posts must not shut a
// moderated list; and a From is easily forged, so that room has a bound
// too: member is moderatedMember's. (A member's post held for another
// reason, an automatic one, say, is as a stranger's: anyone may name a
// member.)
//
// A post refused so before (the notice fullNotice queued or sent: a try
// again) is refused again, not held now that there may be room: its
// sender was told it was not distributed, and the moderators were not
// told of it.
func (l *list) holdFull(p *post, member bool) (string, error) {
	id := p.h.ID
	if l.d.Queue(listdir.Hold).Has(id) {
		return "", nil
	}
	if told, err := journal.Begun(l.d, notice.ID(id, fullNotice)); err != nil || told {
		return "refused so before", err
	}
	full, err := l.d.Full(listdir.Hold, holdTimes)
	if err != nil || full == "" || !member {
		return full, err
	}
	return l.d.Full(listdir.Hold, 2*holdTimes)
}

// moderatedMember reports whether p, held for reason, is a member's
// post held because the list is moderated, which holds every post: its
// room is holdFull's larger one, and its notice counts apart
// (holdPost), for the same reason. (The member files are read for it
// once a run: members.Memo.)
func (l *list) moderatedMember(p *post, reason string) (bool, error) {
	if !strings.HasPrefix(reason, moderated) {
		return false, nil
	}
	return l.member(p)
}

// holdTimes is the hold queue's room as a multiple of maxqueued's and
// maxqueuedsize's (see holdFull).
const holdTimes = 10

// tellFull tells the moderators (or the owners) once a day (UTC) that
// the hold queue is full, why, and that posts are refused unheld
// meanwhile, strangers' without a word to anyone: a stranger's real
// post among them would otherwise go unheard of by all (a review). The
// notice is p's, the first so refused today, fullStaffNotice.
func tellFull(d *listdir.Dir, p *post, why string, now time.Time) error {
	to, err := moderators(d)
	if err != nil || len(to) == 0 {
		return err
	}
	id := notice.ID(p.h.ID, fullStaffNotice)
	_, err = notice.Counted(d, id, fullKey, 1, now, func(bool) error {
		return notice.Send(d, id, &notice.Message{
			From:    d.CommandAddress("owner"),
			To:      to,
			Subject: d.Address() + ": the posts held for a moderator fill their queue",
			Text: fmt.Sprintf(`The posts held for a moderator to %s fill their queue
(%s).

Until there is room, a post that would be held is refused, and not
held: its sender is told only if the list knows the address (a member,
a moderator, a poster, allow), and the posts of others are dropped,
telling no one, since most of them are spam with forged senders.

This is the one such notice today (UTC). On the list host, as %s,
see the posts held, and drop the spam, with
  mlm-moderate %s list
  mlm-moderate %s discard ID
`, d.Address(), why, listdir.UserName(uint32(os.Geteuid())), dirWord(d), dirWord(d)),
		}, now)
	})
	return err
}

// fullStaffNotice is the suffix of tellFull's notice, and fullKey what
// it counts against: one a day.
const (
	fullStaffNotice = ".n5"
	fullKey         = "notices of the hold queue full"
)

// fullNotice is the suffix of the notice that tells a post's sender
// the hold queue had no room for it: a notice of its own, so that a try
// again knows the post was refused so (holdFull). (".n1" is the hold
// notice, or another refusal's.)
const fullNotice = ".n3"

// moderators returns who is told of held posts: the moderators, else the
// owners (notice.Addressees); an address of the list itself among them
// is skipped, and a line says so.
func moderators(d *listdir.Dir) ([]string, error) {
	to, skipped, err := notice.Addressees(d, listdir.Moderators, listdir.Owner)
	for _, f := range skipped {
		fmt.Fprintf(os.Stderr, "%s: %s: an address of the list itself; skipped\n", prog, f)
	}
	return to, err
}

// refusePost drops the record and tells its sender why, unless RFC 3834
// or the daily limit says not to, in the notice of the record's id and
// suffix.
func refusePost(d *listdir.Dir, p *post, suffix, reason string, now time.Time) error {
	sent, err := notice.Refuse(d, notice.ID(p.h.ID, suffix), p.h.Sender.Mailbox, p.header(), "was not distributed: "+reason, now)
	if err == nil && !sent {
		// No notice may go (RFC 3834, or the daily limit): say so where
		// the site looks, so the refusal leaves a trace.
		fmt.Fprintf(os.Stderr, "%s: %s: refused (%s); no notice to the sender\n", prog, p.h.ID, reason)
	}
	return err
}

// dirWord is the list directory as a notice's command line names it:
// absolute, one word of a shell line, cleaned of what a notice may not
// hold.
func dirWord(d *listdir.Dir) string { return notice.Clean(shellWord(absPath(d.Path)), 4096) }

// absPath is the list directory as an operator would type it.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// shellWord is p as one word of a line a moderator pastes into a
// shell: as it is if plain, as mlm-newlist's lists' paths are, else in
// single quotes (a list made by hand in "/srv/my lists" or "/srv/$x").
func shellWord(p string) string {
	if ascii.Plain(p, "/._+-=,:@%") {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

func pathOrNull(m string) string {
	if m == "" {
		return "<>"
	}
	return m
}

// cliID is a record id as an argument of mlm-moderate: after "--" if it
// starts with "-", as a stream's id may, which would be taken for an
// option ("-h" prints the help and exits 0, approving nothing).
func cliID(id string) string {
	if strings.HasPrefix(id, "-") {
		return "-- " + id
	}
	return id
}
