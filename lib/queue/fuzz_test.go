package queue

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzID: whatever a record's id, which comes from the stream and names
// its queue file, Put takes it only if it is a record id (stream.CheckID)
// of at most MaxID octets, not "." or "..", not ending in ".err", and
// refuses any other, 65, writing nothing. A record taken is named by
// Names and Ready as it was given; failed twice (Put, Claim, Fail), it
// is in bad/ under its name and then a name of its own, each with its
// reason beside it, every name in bad/ within NAME_MAX and none the
// reason's of another. A record of any name another writer puts in
// new/ fails alike. Backoff waits between its bounds: as long as the
// record has existed, if its id starts with the seconds of a time past.
func FuzzID(f *testing.F) {
	f.Add("1795867200.M512345P4711R9f3a.lists1", int64(3600))
	f.Add("1795867200.M1P1,2", int64(60))
	f.Add("x.err", int64(0))
	f.Add("..", int64(0))
	f.Add("a/b", int64(0))
	f.Add("+1795867200.x", int64(100))
	f.Add("01795867200.x", int64(100))
	f.Add(strings.Repeat("y", MaxID), int64(-5))
	f.Add("1795867200."+strings.Repeat("z", 255-11), int64(1<<40))
	f.Fuzz(func(t *testing.T, id string, age int64) {
		now := time.Unix(1_795_867_200, 0)
		// Backoff.
		lo, hi := time.Minute, time.Hour
		want := lo
		if m := regexp.MustCompile(`^([0-9]+)(\.|$)`).FindStringSubmatch(id); m != nil {
			if s, err := strconv.ParseInt(m[1], 10, 64); err == nil && s > 0 && s <= now.Unix() {
				want = min(max(now.Sub(time.Unix(s, 0)), lo), hi)
			}
		}
		if got := Backoff(id, now, lo, hi); got != want {
			t.Errorf("Backoff(%q) = %v; want %v", id, got, want)
		}

		q := New(t.TempDir())
		if err := q.Create(); err != nil {
			t.Fatal(err)
		}
		ok := stream.CheckID(id) == nil && len(id) <= MaxID && id != "." && id != ".." && !strings.HasSuffix(id, ".err")
		err := q.Put(id, now.Add(-time.Duration(age%(1<<32))*time.Second), func(w io.Writer) error {
			_, err := io.WriteString(w, "MLM1 "+id+"\n")
			return err
		})
		if !ok {
			if sysexit.Code(err) != sysexit.DataErr {
				t.Errorf("Put(%q) = %v (%d); want 65", id, err, sysexit.Code(err))
			}
			for _, sub := range []string{"tmp", "new"} {
				if names := mlmtest.Names(t, filepath.Join(q.Path, sub)); len(names) > 0 {
					t.Errorf("Put(%q) refused, and %s/ holds %q", id, sub, names)
				}
			}
			if stream.CheckID(id) != nil || len(id) > 255 || id == "." || id == ".." {
				return
			}
			// Another writer's, in new/: failed all the same.
			if err := os.WriteFile(filepath.Join(q.Path, "new", id), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatalf("Put(%q) = %v", id, err)
		}
		if ok {
			if names, err := q.Names(); err != nil || !slices.Equal(names, []string{id, id}) {
				t.Errorf("Put(%q): Names() = %q, %v", id, names, err)
			}
			if ids, err := q.Ready(now, true); err != nil || !slices.Equal(ids, []string{id}) {
				t.Errorf("Put(%q): Ready() = %q, %v", id, ids, err)
			}
		}
		for n := range 2 {
			if n > 0 {
				if err := os.WriteFile(filepath.Join(q.Path, "new", id), []byte("again"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			it, err := q.Claim(id, now, true)
			if err != nil || it == nil {
				t.Fatalf("Claim(%q) #%d = %v, %v", id, n+1, it, err)
			}
			if err := it.Fail("exit 65: " + strconv.Itoa(n)); err != nil {
				t.Fatalf("Fail(%q) #%d = %v", id, n+1, err)
			}
			it.File().Close()
		}
		bad := mlmtest.Names(t, filepath.Join(q.Path, "bad"))
		var records, reasons []string
		for _, b := range bad {
			if len(b) > 255 {
				t.Errorf("id %q: bad/%s, %d octets", id, b, len(b))
			}
			if strings.HasSuffix(b, ".err") {
				reasons = append(reasons, b)
			} else {
				records = append(records, b)
			}
		}
		if len(records) != 2 || len(reasons) != 2 {
			t.Fatalf("id %q failed twice: bad/ holds %q", id, bad)
		}
		for _, r := range records {
			if !slices.Contains(reasons, errName(r)) {
				t.Errorf("id %q: bad/%s has no reason beside it: bad/ holds %q", id, r, bad)
			}
		}
		if !strings.HasSuffix(id, ".err") && len(id) <= MaxID && !slices.Contains(records, id) {
			t.Errorf("id %q: not in bad/ under its own name: %q", id, bad)
		}
	})
}
