package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
)

// TestEach: only whole "D"/"F" lines with a mailbox name anyone; a
// partial last line is left, and the octets counted are the whole
// lines'. A line longer than Each's buffer names nobody, though its
// last piece reads as an outcome, and is counted whole; a long partial
// last line is left too; so through a larger buffer of the caller's.
// The addresses are lent: they are cloned here.
func TestEach(t *testing.T) {
	long := "X" + strings.Repeat("y", lineMax-1) + "D h@x.example\n"
	longer := "X" + strings.Repeat("y", 4*lineMax-1) + "D h@x.example\n" // than the larger buffer
	for _, c := range []struct{ text, want string }{
		{"D a@x.example\nX b@x.example\nF c@x.example\nD d\nD e@x.example (cut short)\nD  f@x.example\nD g@x.ex", "a@x.example c@x.example"},
		{long + "D i@x.example\n" + long + "D j@x.example\n", "i@x.example j@x.example"},
		{"D k@x.example\n" + strings.TrimSuffix(long, "\n"), "k@x.example"},
		{"D k@x.example\n" + long[:lineMax+3], "k@x.example"},
		{longer + "D i@x.example\n" + long, "i@x.example"},
	} {
		for _, size := range []int{0, 4 * lineMax} {
			var r io.Reader = iotest.HalfReader(strings.NewReader(c.text))
			if size > 0 { // a larger buffer of the caller's
				r = bufio.NewReaderSize(r, size)
			}
			var got []string
			n, err := Each(r, func(a string) { got = append(got, strings.Clone(a)) })
			if want := int64(strings.LastIndexByte(c.text, '\n') + 1); err != nil || strings.Join(got, " ") != c.want || n != want {
				t.Errorf("Each(%.40q…), buffer %d = %q, %d, %v; want %s, %d octets", c.text, size, got, n, err, c.want, want)
			}
		}
	}
}

// TestAppendOutcome: the lines AppendOutcome writes are the ones
// Outcome reads back, one after another.
func TestAppendOutcome(t *testing.T) {
	b := AppendOutcome(nil, Delivered, "a@x.example")
	b = AppendOutcome(b, Failed, `"b c"@x.example`)
	if string(b) != "D a@x.example\nF \"b c\"@x.example\n" {
		t.Fatalf("AppendOutcome: %q", b)
	}
	var got []string
	if _, err := Each(bytes.NewReader(b), func(a string) { got = append(got, strings.Clone(a)) }); err != nil || !slices.Equal(got, []string{"a@x.example", `"b c"@x.example`}) {
		t.Errorf("Each of AppendOutcome's lines = %q, %v", got, err)
	}
}

// TestSettled: a post without a journal has none; one with it has the
// keys of the recipients it names, in any case.
func TestSettled(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Settled(d, "p", ""); s != nil || err != nil {
		t.Fatalf("Settled without a journal = %v, %v", s, err)
	}
	os.MkdirAll(Dir(d), 0o700)
	os.WriteFile(filepath.Join(Dir(d), Post("p,3,r")), []byte("D a@X.example\nF b@x.example\nD c@x.ex"), 0o600)
	s, err := Settled(d, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"a@x.example": true, "b@X.EXAMPLE": true, "c@x.ex": false, "A@x.example": true, "d@x.example": false} {
		if s.Has(addr.Key(a)) != want {
			t.Errorf("settled %s: %v; want %v", a, !want, want)
		}
	}
	// From a retry record's mark: the lines after it alone, where the
	// octets before it are as its sum says; else the whole journal.
	name := filepath.Join(Dir(d), "q")
	os.WriteFile(name, []byte("D a@x.example\nF b@x.example\nD c@x.example\n"), 0o600)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := int64(len("D a@x.example\n"))
	mark := MarkValue(f, at)
	if mark == "" || Resume(f, mark) != at {
		t.Fatalf("MarkValue(%d) = %q, which Resume takes to %d", at, mark, Resume(f, mark))
	}
	for _, c := range []struct{ from, want string }{
		{mark, "b c"},
		{"", "a b c"},
		{strings.Replace(mark, ":", ":1", 1)[:len(mark)], "a b c"}, // a wrong sum
		{"7:" + mark[strings.IndexByte(mark, ':')+1:], "a b c"},    // another place
		{"x", "a b c"},
	} {
		s, err := Settled(d, "q", c.from)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range []string{"a", "b", "c"} {
			if s.Has(addr.Key(l + "@x.example")) {
				got = append(got, l)
			}
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("Settled from %q: %s; want %s", c.from, g, c.want)
		}
	}
}

// TestSettledOfNext: SettledOf's next mark is at the first line that
// names one of the keys, from where the read began, or past the last
// whole line if none does, never into a line cut short; it is from
// itself if the read moved nowhere, and a mark from the start if from
// did not hold.
func TestSettledOfNext(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(Dir(d), 0o700)
	name := filepath.Join(Dir(d), "p")
	text := "D a@x.example\nD b@x.example\nF C@x.example\nD d@x.ex"
	os.WriteFile(name, []byte(text), 0o600)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := func(line string) int64 { return int64(strings.Index(text, line)) }
	mark := MarkValue(f, at("D b@"))
	for _, c := range []struct {
		from, rcpt string
		want       int64 // 0: from itself
		settled    bool
	}{
		{mark, "c@x.example", at("F C@"), true},
		{mark, "b@x.example", 0, true},
		{mark, "e@x.example", at("D d@"), false},
		{mark, "d@x.ex", at("D d@"), false},
		{mark, "a@x.example", at("D d@"), false}, // (before the mark: not read)
		{"", "b@x.example", at("D b@"), true},
		{"9:0000000000000000", "a@x.example", 0, true}, // (from the start)
	} {
		s, next, err := SettledOf(d, "p", c.from, []string{addr.Key(c.rcpt)})
		want := c.from
		if c.want > 0 {
			want = MarkValue(f, c.want)
		}
		if err != nil || next != want || s.Has(addr.Key(c.rcpt)) != c.settled {
			t.Errorf("SettledOf(%q, %s) = %v, %q (%d), %v; want %v, %q", c.from, c.rcpt, s.Has(addr.Key(c.rcpt)), next, Resume(f, next), err, c.settled, want)
		}
	}
	// Ahead: what lies past the mark, or all of it, or none.
	for _, c := range []struct {
		post, from string
		want       int64
	}{
		{"p", mark, int64(len(text)) - at("D b@")},
		{"p", "", int64(len(text))},
		{"p", "999999:0000000000000000", int64(len(text))},
		{"q", "", 0},
	} {
		if got := Ahead(d, c.post, c.from); got != c.want {
			t.Errorf("Ahead(%s, %q) = %d; want %d", c.post, c.from, got, c.want)
		}
	}
}

// TestSweep: the journal of a post not written to for the time kept, with
// no record of it in the outgoing or retry queue, goes; the others stay;
// a sweep is done once a day.
func TestSweep(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795867200, 0)
	old := now.Add(-8 * 24 * time.Hour)
	os.MkdirAll(Dir(d), 0o700)
	journal := func(post string, mtime time.Time) {
		name := filepath.Join(Dir(d), post)
		os.WriteFile(name, []byte("D a@x.example\n"), 0o600)
		os.Chtimes(name, mtime, mtime)
	}
	record := func(queue, sub, id string) {
		dir := filepath.Join(d.Path, listdir.QueueDir, queue, sub)
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, id), nil, 0o600)
	}
	journal("gone", old)
	journal("retrying", old)
	record(listdir.Retry, "new", "retrying,3,r-0a1b2c3d")
	journal("failed", old)
	record(listdir.Outgoing, "bad", "failed")
	journal("recent", now.Add(-time.Hour))
	journal("done2", old)
	record(listdir.Retry, "cur", "done20") // another post, whose id starts alike: kept, to be safe
	Sweep(d, 7*24*time.Hour, now)
	for post, want := range map[string]bool{"gone": false, "retrying": true, "failed": true, "recent": true, "done2": true} {
		if _, err := os.Stat(filepath.Join(Dir(d), post)); (err == nil) != want {
			t.Errorf("journal %s kept: %v; want %v", post, err == nil, want)
		}
	}
	journal("later", old)
	Sweep(d, 7*24*time.Hour, now.Add(time.Hour))
	if _, err := os.Stat(filepath.Join(Dir(d), "later")); err != nil {
		t.Errorf("swept twice in a day")
	}
	Sweep(d, 7*24*time.Hour, now.Add(24*time.Hour))
	if _, err := os.Stat(filepath.Join(Dir(d), "later")); err == nil {
		t.Errorf("not swept the next day")
	}
}

// TestSweepQueueUnreadable: a queue whose names cannot be read (a
// directory of it that is a file, say) stops the sweep: the journal of
// a post whose record waits in it is kept, not taken for done, and
// Begun fails rather than say the delivery has not begun.
func TestSweepQueueUnreadable(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795867200, 0)
	old := now.Add(-8 * 24 * time.Hour)
	os.MkdirAll(Dir(d), 0o700)
	name := filepath.Join(Dir(d), "waiting")
	os.WriteFile(name, []byte("D a@x.example\n"), 0o600)
	os.Chtimes(name, old, old)
	q := filepath.Join(d.Path, listdir.QueueDir, listdir.Outgoing)
	os.MkdirAll(filepath.Join(q, "new"), 0o700)
	os.WriteFile(filepath.Join(q, "new", "waiting"), nil, 0o600)
	os.WriteFile(filepath.Join(q, "bad"), nil, 0o600) // not a directory: ENOTDIR
	Sweep(d, 7*24*time.Hour, now)
	if _, err := os.Stat(name); err != nil {
		t.Errorf("journal of a post still queued removed when the queue could not be read: %v", err)
	}
	os.Remove(name)
	if begun, err := Begun(d, "waiting"); err == nil {
		t.Errorf("Begun with the queue unreadable = %v, nil; want an error", begun)
	}
}

// BenchmarkEach reads a journal of 100,000 outcomes, as a retry of a
// large post does each run.
func BenchmarkEach(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&sb, "D m%07d@d%d.example\n", i, i%10)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := 0
		if _, err := Each(strings.NewReader(text), func(string) { n++ }); err != nil || n != 100_000 {
			b.Fatal(n, err)
		}
	}
}

// FuzzEach: Each names the addresses of the whole lines of at most
// lineMax octets that Outcome takes, in order, and counts the octets of
// the whole lines, however the reads come; pad puts a run of octets
// with no LF, up to twice the buffer, ahead of the text. Read through a
// *bufio.Reader of four times lineMax (big), it does the same. EachOf
// with a may that passes over some texts (by mask) names the same
// addresses less those of the lines it passed over.
func FuzzEach(f *testing.F) {
	f.Add("D a@x.example\nF b@x.example\nD c", uint16(0), false, false, byte(0))
	f.Add("\nD a@x.example\n", uint16(lineMax-2), true, false, byte(0))
	f.Add("D a@x.example\nD b@x.example\n", uint16(lineMax+3), false, true, byte(0))
	f.Add("D h@x.example\nD i@x.example\n", uint16(lineMax), true, true, byte(0))
	f.Add("D a@x.example\nF bb@x.example\nD ccc@x.example\nD \nD\n", uint16(0), false, false, byte(0x55))
	f.Fuzz(func(t *testing.T, text string, pad uint16, half, big bool, mask byte) {
		text = strings.Repeat("y", int(pad)%(2*lineMax)) + text
		var r io.Reader = strings.NewReader(text)
		if half {
			r = iotest.HalfReader(r)
		}
		if big {
			r = bufio.NewReaderSize(r, 4*lineMax)
		}
		// may passes over a text whose length has a bit of mask set.
		var may func(string) bool
		if mask != 0 {
			may = func(text string) bool { return 1<<(len(text)%8)&mask == 0 }
		}
		var got []string
		n, err := EachOf(r, may, func(a string) { got = append(got, strings.Clone(a)) })
		whole := strings.LastIndexByte(text, '\n') + 1
		var want []string
		for _, l := range strings.SplitAfter(text[:whole], "\n") {
			if a, ok := Outcome(l); ok && len(l) <= lineMax && (may == nil || may(l[2:len(l)-1])) {
				want = append(want, a)
			}
		}
		if err != nil || n != int64(whole) || !slices.Equal(got, want) {
			t.Errorf("EachOf = %q, %d, %v; want %q, %d", got, n, err, want, whole)
		}
	})
}

// BenchmarkSettled reads the journal of a post delivered to 1,000,000
// recipients into its key set, as mlm-throttle does when it runs a post
// again.
func BenchmarkSettled(b *testing.B) {
	d, err := listdir.Open(mlmtest.ListDir(b, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := range 1_000_000 {
		fmt.Fprintf(&sb, "D m%07d@d%d.example\n", i, i%10)
	}
	os.MkdirAll(Dir(d), 0o700)
	if err := os.WriteFile(filepath.Join(Dir(d), "p"), []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if s, err := Settled(d, "p", ""); err != nil || !s.Has("m0999999@d9.example") {
			b.Fatal(err)
		}
	}
}
