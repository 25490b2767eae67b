package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// TestSettledFromMark: a retry record's journal is read from its
// journal-from mark, as mlm-sendmail -R reads it (R79): a line before
// the mark is not read (here it names the record's recipient, which a
// real mark never has before it, so that the read shows); a record of
// the same post without a mark, or with one that does not hold, reads
// it whole, not the set kept for the marked one.
func TestSettledFromMark(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(journal.Dir(d), 0o700)
	name := filepath.Join(journal.Dir(d), "p")
	os.WriteFile(name, []byte("D a@x.example\nD b@x.example\n"), 0o600)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mark := journal.MarkValue(f, int64(len("D a@x.example\n")))
	th := &throttle{journals: d}
	for _, c := range []struct {
		from  string
		wantA bool
	}{
		{mark, false},
		{"", true},
		{mark, false},
		{"14:0000000000000000", true},
	} {
		h := &stream.Header{ID: "p,1,r-00000000"}
		if c.from != "" {
			h.Attrs = []stream.Attr{{Name: "journal-from", Value: c.from}}
		}
		s, ask, err := th.settledOf(h)
		if err == nil && ask != nil {
			s, _, err = ask([]string{addr.Key("a@x.example"), addr.Key("b@x.example")})
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.Has(addr.Key("a@x.example")) != c.wantA || !s.Has(addr.Key("b@x.example")) {
			t.Errorf("journal-from %q: a settled %v, b %v; want %v, true", c.from, s.Has(addr.Key("a@x.example")), s.Has(addr.Key("b@x.example")), c.wantA)
		}
	}
}

// TestSettledAsk: a retry record (one with a mark) is charged for the
// recipients the journal does not name after the mark, as one without
// is for those it does not name at all, though only its own recipients'
// lines are looked at (journal.SettledOf): in any spelling of the same
// key, quoted, an IDN, failed or delivered; a line before the mark is
// not read, and one cut short names nobody. A record of more than
// askMax recipients is looked up against every line, and one of none
// costs nothing. A record without a mark is charged as before. What is
// passed on is what was read, but the mark of a record asked about
// alone, moved to the first line that names one of its recipients.
func TestSettledAsk(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(journal.Dir(d), 0o700)
	name := filepath.Join(journal.Dir(d), "p")
	before := "D early@x.example\n"
	var lines strings.Builder
	lines.WriteString(before)
	for i := range 3000 {
		fmt.Fprintf(&lines, "D other%d@x.example\n", i)
	}
	lines.WriteString("D Bob@X.example\nF \"carol\"@x.example\nD d@b\u00fccher.example\nD big7@x.example\nD cut@x.exam (cut short)\n")
	os.WriteFile(name, []byte(lines.String()), 0o600)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mark := journal.MarkValue(f, int64(len(before)))
	moved := journal.MarkValue(f, int64(strings.Index(lines.String(), "D Bob@")))
	record := func(id, from string, rcpts []string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "MLM1 %s\n", id)
		if from != "" {
			fmt.Fprintf(&b, "A journal-from=%s\n", from)
		}
		b.WriteString("S <dev-bounces@lists.example.org>\n:Subject: x\n:\n;body\n")
		for _, r := range rcpts {
			fmt.Fprintf(&b, "R <%s>\n", r)
		}
		fmt.Fprintf(&b, "E %d\n", len(rcpts))
		return b.String()
	}
	few := []string{"bob@x.example", "carol@x.example", "d@xn--bcher-kva.example", "early@x.example", "cut@x.example", "new@x.example"}
	var many []string
	for i := range askMax + 1 {
		many = append(many, fmt.Sprintf("big%d@x.example", i))
	}
	defer func(m int64) { moveMin = m }(moveMin)
	for _, move := range []int64{0, 1 << 40} {
		moveMin = move
		for _, c := range []struct {
			what     string
			in, want string // want "": in
			n, all   int64
		}{
			{"a retry record", record("p,1,r-1", mark, few), record("p,1,r-1", moved, few), 3, 6},
			{"one of more than askMax", record("p,2,r-1", mark, many), "", int64(len(many)) - 1, int64(len(many))},
			{"one of none", record("p,3,r-1", mark, nil), "", 0, 0},
			// (Its message past a quarter of the journal ahead: not moved.)
			{"one of a long message", strings.Replace(record("p,7,r-1", mark, few), ";body\n", strings.Repeat(":a line of the message, long enough\n", 1000)+";body\n", 1), "", 3, 6},
			{"one without a mark", record("p,4", "", few), "", 2, 6},
			// (One stream: the second of one mark is charged alike.)
			{"two of one mark", record("p,5,r-1", mark, few) + record("p,6,r-1", mark, few), record("p,5,r-1", moved, few) + record("p,6,r-1", mark, few), 3, 6},
		} {
			th := &throttle{journals: d}
			p := &passing{t: th, tmp: spool.New(spool.MemLimit)}
			r := stream.NewReader(strings.NewReader(c.in))
			var out strings.Builder
			w := stream.NewWriter(&out)
			err := r.Each(func(h *stream.Header) error {
				settled, ask, err := th.settledOf(h)
				if err != nil {
					return err
				}
				if want := c.what != "one without a mark" && h.ID != "p,6,r-1"; (ask != nil) != want {
					t.Errorf("%s, %s: ask %v; want %v", c.what, h.ID, ask != nil, want)
				}
				var n, all int64
				var ds []domainCount
				every := func(string) bool { return true }
				if ask != nil && th.moves() {
					n, all, ds, err = p.holdAsked(r, h, w, &out, ask, every)
				} else {
					n, all, ds, err = hold(r, h, w, settled, ask, every)
				}
				if n != c.n || all != c.all {
					t.Errorf("%s: charged %d of %d; want %d of %d", c.what, n, all, c.n, c.all)
				}
				// (Each domain's count is of those charged.)
				var sum int64
				for _, d := range ds {
					sum += d.n
				}
				if sum != n {
					t.Errorf("%s: domains %v, of %d; want %d", c.what, ds, sum, n)
				}
				return err
			})
			if err != nil {
				t.Fatal(c.what, err)
			}
			if c.want == "" || move > 0 {
				c.want = c.in // (a short read: the mark stays)
			}
			if out.String() != c.want {
				t.Errorf("%s, moved past %d: passed on\n%.600s\nwant\n%.600s", c.what, move, out.String(), c.want)
			}
		}
	}
}

// TestHoldPastBadInput: a retry record whose message, past a quarter of
// the journal ahead, goes on as it came (holdPast) and is bad further on
// is bad input (65), as the record read whole is: through a pipe from
// another goroutine, the fault came out as a write's (75), and mlm-run
// tried the record again at every pass (a review).
func TestHoldPastBadInput(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(journal.Dir(d), 0o700)
	name := filepath.Join(journal.Dir(d), "p")
	var lines strings.Builder
	for i := range 100 {
		fmt.Fprintf(&lines, "D other%d@x.example\n", i)
	}
	os.WriteFile(name, []byte(lines.String()), 0o600)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mark := journal.MarkValue(f, int64(len("D other0@x.example\n")))
	defer func(m int64) { moveMin = m }(moveMin)
	moveMin = 0
	long := strings.Repeat(":a line of the message, long enough\n", 1000)
	for _, c := range []struct{ rest, want string }{
		{":the end\n", ""},
		{"X not a line of a stream\n", "65"},
		{":cut sh", "65"},
	} {
		in := "MLM1 p,1,r-1\nA journal-from=" + mark + "\nS <dev-bounces@lists.example.org>\n:Subject: x\n:\n" + long + c.rest
		if c.want == "" {
			in += "R <a@x.example>\nE 1\n"
		}
		th := &throttle{journals: d}
		p := &passing{t: th, tmp: spool.New(spool.MemLimit)}
		r := stream.NewReader(strings.NewReader(in))
		var out strings.Builder
		w := stream.NewWriter(&out)
		err := r.Each(func(h *stream.Header) error {
			_, ask, err := th.settledOf(h)
			if err != nil || ask == nil || !th.moves() {
				t.Fatalf("%v, ask %v, move %v: not the case", err, ask != nil, th.moves())
			}
			_, _, _, err = p.holdAsked(r, h, w, &out, ask, nil)
			return err
		})
		switch {
		case c.want == "" && (err != nil || out.String() != in):
			t.Errorf("a good record: %v, passed on as it came %v", err, out.String() == in)
		case c.want != "" && fmt.Sprint(sysexit.Code(err)) != c.want:
			t.Errorf("bad further on (%q): %v (%d); want %s", c.rest, err, sysexit.Code(err), c.want)
		}
	}
}
