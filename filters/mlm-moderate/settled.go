package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"mlm/lib/durable"
	"mlm/lib/listdir"
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
var settledDir = filepath.Join(listdir.StateDir, "moderated")

// past is an action as done: "approved", "rejected", "discarded".
func past(action string) string {
	return map[string]string{"approve": "approved", "reject": "rejected", "discard": "discarded"}[action]
}

// markSettled records that action settled the held post id.
func markSettled(d *listdir.Dir, id, action string, now time.Time) error {
	if err := durable.MkdirAll(d.File(settledDir), 0o700); err != nil {
		return sysexit.Temp(err)
	}
	sweepSettled(d, now)
	return d.WriteFile(filepath.Join(settledDir, id), func(w io.Writer) error {
		_, err := io.WriteString(w, action+"\n")
		return err
	})
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

// settledIDs returns the ids of the posts recorded as settled (and the
// names of any temporary files a writer left, which match no cookie).
func settledIDs(d *listdir.Dir) ([]string, error) {
	ents, err := os.ReadDir(d.File(settledDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, sysexit.Temp(err)
	}
	ids := make([]string, len(ents))
	for i, e := range ents {
		ids[i] = e.Name()
	}
	return ids, nil
}

// sweepSettled removes, once a day, the records of posts settled longer
// ago than the list's modexpire and two days: by then no cookie of the
// post is good (it expires modexpire after the post was held), and an
// answer that came in time and had to wait (75) has long been tried
// again. The day of the last sweep is in state/moderated.swept. A sweep
// that fails, or two at once, do no harm.
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
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > holdFor+48*time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
