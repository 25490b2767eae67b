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
	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/stream"
)

// A post reaches the list once for each address of the list among its
// recipients that the MTA tells apart: a reply to all with the list in
// To as "dev@" and in Cc as "dev+x@" (an old thread's), or as "DEV@",
// which Exim hands over apart, is two hand-offs, two records, and every
// member got the post twice (R98 F1). The second is the same message:
// its envelope sender, its Message-ID and its body (what follows the
// header, to which the MTA adds nothing) are the first's. mlm-accept
// keeps, for each post it queued, a file state/posted/KEY, KEY a hash
// of the three, holding the time and the record's id; a post whose file
// says it was queued less than copyWindow ago is taken, and not queued
// again. A post without a Message-ID is queued as before.
//
// The file is the lock of its key, held from the look to the commit and
// the note of it, so that two hand-offs at once (Postfix's pipe(8) may
// run them side by side) do not both queue it. It is written after the
// record is committed, not before, and not made durable: a crash
// between the two, or a lost note, can let a copy through, as before,
// but never keep the post itself out. Whatever fails here queues the
// post, with a line on standard error.

// copyWindow is how long after a post a copy of it is not queued: the
// MTA hands the copies over together, or tries one it deferred again
// within hours (Postfix's backoff reaches 4,000 s, Exim's retry rules
// some hours). A day, not more: a sender who sends the very message
// again, as a redirect (bounce) in Mutt does, once the list refused it
// (not yet a member), is kept out for that day.
const copyWindow = 24 * time.Hour

// postedDir is the directory of the notes, under the list's.
var postedDir = filepath.Join(listdir.StateDir, "posted")

var errCopy = errors.New("a copy of a post queued before")

// copies finds, and notes, the posts queued: see above.
type copies struct {
	d      *listdir.Dir
	sender string // the envelope sender, in lower case
	msgID  string // the Message-ID fields' values, one per line
	body   hash.Hash
	f      *os.File // the key's file, locked, once look has found none
	first  string   // the id of the post a copy is of, once look has found one
	ago    time.Duration
}

// newCopies returns the copies of a post from sender with header e, or
// nil for a post without a Message-ID, which has nothing to find its
// copies by.
func newCopies(d *listdir.Dir, sender string, e *msg.Edit) *copies {
	ids := e.Values("Message-ID")
	for i := range ids {
		ids[i] = strings.TrimSpace(ids[i])
	}
	if strings.Join(ids, "") == "" {
		return nil
	}
	return &copies{d: d, sender: ascii.Lower(sender), msgID: strings.Join(ids, "\n"), body: sha256.New()}
}

// key is the file name for the post: 24 hexadecimal digits of the hash
// of its sender, Message-ID and body.
func (c *copies) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "mlm posted\x00%s\x00%s\x00", c.sender, c.msgID)
	h.Write(c.body.Sum(nil))
	return fmt.Sprintf("%x", h.Sum(nil)[:12])
}

// look, once the body has been read into c.body, reports errCopy if the
// post was queued less than copyWindow before now; else it holds the
// key's lock for noted. A failure is said and leaves c without a lock:
// the post is queued.
func (c *copies) look(now time.Time) error {
	dir := c.d.File(postedDir)
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		c.warn(err)
		return nil
	}
	sweepPosted(dir, now)
	f, err := listdir.LockFD(filepath.Join(dir, c.key()), 10*time.Second)
	if err != nil {
		c.warn(err)
		return nil
	}
	b := make([]byte, 128)
	n, _ := f.ReadAt(b, 0)
	if at, id, ok := parseNote(string(b[:n])); ok && now.Sub(at) < copyWindow && at.Sub(now) < copyWindow {
		f.Close()
		c.first, c.ago = id, now.Sub(at)
		return errCopy
	}
	c.f = f
	return nil
}

// noted writes, once the record id is committed, the note of it, and
// lets the key's lock go.
func (c *copies) noted(id string, now time.Time) {
	if c.f == nil {
		return
	}
	defer c.done()
	note := fmt.Sprintf("%d %s\n", now.Unix(), id)
	if err := c.f.Truncate(0); err != nil {
		c.warn(err)
		return
	}
	if _, err := c.f.WriteAt([]byte(note), 0); err != nil {
		c.warn(err)
	}
}

// done lets the key's lock go, if held, without a note: the post was
// not queued.
func (c *copies) done() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
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

// sweepPosted removes, once a day, the notes not written for two
// windows: a post's copies have come by then. The day of the last sweep
// is in the file "swept". A note is its key's lock: it goes only with
// the lock held (listdir.RemoveLock), not from under a post that looks
// at it.
func sweepPosted(dir string, now time.Time) {
	if !listdir.OnceADay(filepath.Join(dir, "swept"), now) {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Name() == "swept" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		listdir.RemoveLock(path, func() bool {
			info, err := os.Stat(path)
			return err == nil && now.Sub(info.ModTime()) < 2*copyWindow
		})
	}
}
