package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mlm/lib/ascii"
	"mlm/lib/clock"
	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/stream"
)

// A post reaches the list once for each address of the list among its
// recipients that the MTA tells apart: a reply to all with the list in
// To as "dev@" and in Cc as "dev+x@" (an old thread's), or as "DEV@",
// which Exim hands over apart, is two hand-offs, two records, and every
// member got the post twice (R98 F1). The second is the same message,
// from the same queue file of the MTA: its envelope sender, its header
// but the fields the MTA adds at delivery (deliveryField), and its body
// are the first's. mlm-accept keeps, for each post with a Message-ID it
// queued, a note state/posted/DAY/KEY, KEY a hash of the three, holding
// the time and the record's id; a post whose note says it was queued
// less than copyWindow ago is taken, and not queued again. A post
// without a Message-ID is queued as before.
//
// The header is in the key, with the Received field the list host's
// MTA wrote at the post's receipt (its queue id, its time): a stranger
// who knows a post's sender, Message-ID and body before the list has
// it (another of its recipients) cannot send a copy first, which
// mlm-auth then refuses or holds, and have the post taken as its copy,
// never queued (R100 F1). For the same reason a post sent again, as a
// redirect is, comes through the MTA again and is heard.
//
// A lock is held from the look to the commit and the note of it, so
// that two hand-offs at once (Postfix's pipe(8) may run them side by
// side) do not both queue it. The note is written after the record is
// committed, not before, and not made durable: a crash
// between the two, or a lost note, can let a copy through, as before,
// but never keep the post itself out. Whatever fails here queues the
// post, with a line on standard error.

// copyWindow is how long after a post a copy of it is not queued: the
// MTA hands the copies over together, or tries one it deferred again
// within hours (Postfix's backoff reaches 4,000 s, Exim's retry rules
// some hours). Notes are kept in a directory a day, the UTC day they
// were written; a post looks in its day's, the day before's and the
// day after's (a clock set back).
const copyWindow = 24 * time.Hour

// postedDir is the directory of the days' directories, under the list's.
var postedDir = filepath.Join(listdir.StateDir, "posted")

var errCopy = errors.New("a copy of a post queued before")

// copies finds, and notes, the posts queued: see above.
type copies struct {
	d      *listdir.Dir
	sender string // the envelope sender, in lower case
	header []byte // the header, without the fields the MTA adds at delivery
	body   hash.Hash
	lock   *os.File  // the notes' lock, once look has found no note
	now    time.Time // the time look took
	key    string    // the note's name, once look has found no note
	first  string    // the id of the post a copy is of, once look has found one
	ago    time.Duration
}

// newCopies returns the copies of a post from sender with the header
// raw, e as it reads it, or nil for a post without a Message-ID, which
// has nothing to find its copies by.
func newCopies(d *listdir.Dir, sender string, raw []byte, e *msg.Edit) *copies {
	if !e.HasValue("Message-ID") {
		return nil
	}
	own := msg.NewEdit(raw)
	own.DelFunc(deliveryField)
	return &copies{d: d, sender: ascii.Lower(sender), header: own.Bytes(), body: sha256.New()}
}

// deliveryField reports whether the field name is one an MTA adds to a
// message as it delivers it to one recipient (Postfix's pipe(8) and
// local(8), Exim's transports, qmail), which may differ between two
// hand-offs of one message: "dev" in one, "dev+x" in the other.
func deliveryField(name string) bool {
	switch ascii.Lower(name) {
	case "return-path", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "delivery-date":
		return true
	}
	return false
}

// makeKey returns the note's name for the post: 24 hexadecimal digits
// of the hash of its sender, header and body (which must have been read).
func (c *copies) makeKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "mlm posted\x00%s\x00%d\x00", c.sender, len(c.header))
	h.Write(c.header)
	h.Write(c.body.Sum(nil))
	return fmt.Sprintf("%x", h.Sum(nil)[:12])
}

// look, once the body has been read into c.body, reports errCopy if the
// post was queued less than copyWindow before the clock's time now;
// else it holds the notes' lock for noted. A failure is said and leaves
// c without the lock: the post is queued.
//
// The lock is one for all the list's notes, state/posted/notes.lock, held
// from the look through the commit to the note: two hand-offs at once
// take turns, whatever day each takes for its own, on each side of
// midnight or of a clock set back (R101 F2: a lock a day let both
// through). A post waits at most for the commits of those before it.
// The notes of the day before, the day and the day after are looked at.
func (c *copies) look() error {
	top := c.d.File(postedDir)
	if err := durable.MkdirAll(top, 0o700); err != nil {
		c.warn(err)
		return nil
	}
	f, err := listdir.LockFD(filepath.Join(top, "notes.lock"), 10*time.Second)
	if err != nil {
		c.warn(err)
		return nil
	}
	// The time now, not the run's start: the body may have taken long.
	now := clock.Now()
	key := c.makeKey()
	for d := -1; d <= 1; d++ {
		day := now.UTC().AddDate(0, 0, d).Format(time.DateOnly)
		if b, err := os.ReadFile(filepath.Join(top, day, key)); err == nil && c.copyOf(string(b), now) {
			f.Close()
			return errCopy
		}
	}
	c.lock, c.now, c.key = f, now, key
	return nil
}

// copyOf reports whether the note says the post was queued less than
// copyWindow from now, and if so keeps what it says.
func (c *copies) copyOf(note string, now time.Time) bool {
	at, id, ok := parseNote(note)
	if !ok || now.Sub(at) >= copyWindow || at.Sub(now) >= copyWindow {
		return false
	}
	// (A note of the future, after a clock set back, says "0s ago".)
	c.first, c.ago = id, max(now.Sub(at), 0)
	return true
}

// noted writes, once the record id is committed, the note of it in the
// day's directory, and lets the lock go. (Not durable: see above.)
func (c *copies) noted(id string) {
	if c.lock == nil {
		return
	}
	defer c.done()
	day := filepath.Join(c.d.File(postedDir), c.now.UTC().Format(time.DateOnly))
	err := durable.MkdirAll(day, 0o700)
	if err == nil {
		err = os.WriteFile(filepath.Join(day, c.key), fmt.Appendf(nil, "%d %s\n", c.now.Unix(), id), 0o600)
	}
	if err != nil {
		c.warn(err)
	}
}

// done lets the lock go, if held, without a note: the post was not
// queued. Then, not under the lock, which the posts after it wait for
// (R102 F2), it sweeps the notes of days gone.
func (c *copies) done() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
		sweepPosted(c.d.File(postedDir), c.now)
	}
}

func (c *copies) warn(err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %v; the post is queued without looking for a copy of it queued before\n", prog, postedDir, err)
}

// parseNote reads a note, "TIME ID": seconds since 1970 and a record id.
func parseNote(s string) (time.Time, string, bool) {
	f := strings.Fields(s)
	if len(f) != 2 || stream.CheckID(f[1]) != nil {
		return time.Time{}, "", false
	}
	t, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(t, 0), f[1], true
}

// sweepMost is the most notes one post removes: the sweep of a day of
// many notes (a list address that draws spam gets a note for each) is
// shared by the posts after it, not paid by one post's hand-off, which
// the MTA waits on (R100 F4: 200,000 notes, 41 s).
const sweepMost = 512

// sweepPosted removes the notes of the days before the day before now
// (UTC), and after the day after (a clock that was set ahead), sweepMost
// at most, and a day's directory once it is empty. Two at once do no
// harm. Names that are no day are left alone.
func sweepPosted(top string, now time.Time) {
	days, err := os.ReadDir(top)
	if err != nil {
		return
	}
	first := now.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	last := now.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	left := sweepMost
	for _, day := range days {
		t, err := time.Parse(time.DateOnly, day.Name())
		if d := t.Format(time.DateOnly); err != nil || !day.IsDir() || d >= first && d <= last {
			continue
		}
		dir := filepath.Join(top, day.Name())
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(left)
		f.Close()
		for _, n := range names {
			os.Remove(filepath.Join(dir, n))
		}
		if left -= len(names); left <= 0 {
			return
		}
		os.Remove(dir) // (empty now; if not, a later post's)
	}
}
