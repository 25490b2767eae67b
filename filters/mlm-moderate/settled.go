package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// settledDir holds, for each held post settled, a file named by its id
// with the action that settled it: approve, reject or discard. It is
// written, durably, once the action's own output is (the approved record
// in the incoming queue, the rejection notice in the outgoing queue), and
// before the held copy is removed; so whoever asks again about a post no
// longer held, a stream of answers run again after a 75 above all, finds
// it settled, and how.
var settledDir = listdir.Settled

// past is an action as done: "approved", "rejected", "discarded".
func past(action string) string {
	return map[string]string{"approve": "approved", "reject": "rejected", "discard": "discarded"}[action]
}

// markSettled records that action settled the held post id, and, if
// until is not zero, that its last cookie expires then: the line
// "until" and the time, in seconds since 1970, by which sweepSettled
// goes.
func markSettled(d *listdir.Dir, id, action string, until, now time.Time) error {
	if err := durable.MkdirAll(d.File(settledDir), 0o700); err != nil {
		return sysexit.Temp(err)
	}
	sweepSettled(d, now)
	return d.WriteFile(filepath.Join(settledDir, id), func(w io.Writer) error {
		s := action + "\n"
		if !until.IsZero() {
			s += "until " + strconv.FormatInt(until.Unix(), 10) + "\n"
		}
		_, err := io.WriteString(w, s)
		return err
	})
}

// cookiesUntil is when the last cookie for the claimed held post
// expires, or zero if that cannot be told: the later of its hold-until
// attribute, the expiry mlm-auth gave its notice's cookies, and modexpire
// after the held copy's time, from which a notice made again by a later
// try runs (and all of a post held before mlm-auth wrote the attribute).
// What the list's modexpire is now does not shorten it: lowered since,
// it would sweep the record while an answer sent in time could still
// come again after a 75.
func cookiesUntil(d *listdir.Dir, it *queue.Item) time.Time {
	var until time.Time
	if holdFor, err := d.HoldFor(); err == nil {
		if info, err := it.File().Stat(); err == nil {
			until = info.ModTime().Add(holdFor)
		}
	}
	// The attributes, read apart from the reading that settles the post.
	h, err := stream.NewReader(io.NewSectionReader(it.File(), 0, math.MaxInt64)).Next()
	if err == nil {
		if v, ok := h.Get("hold-until"); ok {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && time.Unix(s, 0).After(until) {
				until = time.Unix(s, 0)
			}
		}
	}
	return until
}

// settledUntil is the time on the "until" line of the settled record at
// path, if it has one.
func settledUntil(path string) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 256))
	_, rest, _ := strings.Cut(string(b), "\n")
	v, ok := strings.CutPrefix(strings.TrimSuffix(rest, "\n"), "until ")
	s, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return time.Time{}, false
	}
	return time.Unix(s, 0), true
}

// settledAs returns the action that settled the post id, or "" if none
// is recorded.
func settledAs(d *listdir.Dir, id string) (string, error) {
	if stream.CheckID(id) != nil || id == "." || id == ".." {
		return "", nil // no post's: a queue has no such name
	}
	// Its first line, as a setting's: not a file of any size read
	// whole, nor a FIFO waited on.
	as, _, err := d.String(filepath.Join(settledDir, id))
	return as, err
}

// sweepSettled removes, once a day, the records of posts whose last
// cookie expired two days ago or more (the until line; for a record
// without one, modexpire after it was written): by then no cookie of
// the post is good, and an answer that came in time and had to wait
// (75) has long been tried again. The day of the last sweep is in
// state/moderated.swept. A sweep that fails, or two at once, do no
// harm.
func sweepSettled(d *listdir.Dir, now time.Time) {
	holdFor, err := d.HoldFor()
	if err != nil || !listdir.OnceADay(d.File(settledDir+".swept"), now) {
		return
	}
	dir := d.File(settledDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		until, ok := time.Time{}, false
		if info.Mode().IsRegular() { // (a FIFO is not waited on)
			until, ok = settledUntil(path)
		}
		if !ok {
			until = info.ModTime().Add(holdFor) // as an older mlm wrote it
		}
		if now.Sub(until) > 48*time.Hour {
			os.Remove(path)
		}
	}
}
