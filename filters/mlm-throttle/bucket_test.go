package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/clock"
	"mlm/lib/sysexit"
)

const sec = int64(time.Second)

func TestNewBucket(t *testing.T) {
	tests := []struct {
		rate      float64
		size      int64
		tau, want int64
	}{
		{2, 0, sec / 2, 2},
		{0.5, 0, 2 * sec, 1},
		{2.5, 0, 4e8, 3},
		{100, 7, 1e7, 7},
		{3e9, 0, 1, 3e9},
		{1e-12, 0, far, 1},
	}
	for _, tc := range tests {
		b := newBucket("k", tc.rate, tc.size)
		if b.tau != tc.tau || b.size != tc.want {
			t.Errorf("newBucket(%v, %d) = tau %d, size %d; want %d, %d", tc.rate, tc.size, b.tau, b.size, tc.tau, tc.want)
		}
	}
}

func TestBucketWhenTake(t *testing.T) {
	b := bucket{tau: sec, size: 3} // 1 a second, burst 3
	tests := []struct {
		name           string
		tat, now, n    int64
		pass, tatAfter int64
	}{
		{"full bucket", 0, 100 * sec, 1, 100 * sec, 101 * sec},
		{"full bucket, all of it", 0, 100 * sec, 3, 100 * sec, 103 * sec},
		{"two left", 101 * sec, 100 * sec, 2, 100 * sec, 103 * sec},
		{"empty", 103 * sec, 100 * sec, 1, 101 * sec, 104 * sec},
		{"in debt", 105 * sec, 100 * sec, 1, 103 * sec, 106 * sec},
		{"larger than the bucket waits for it full", 101 * sec, 100 * sec, 5, 101 * sec, 106 * sec},
		{"larger than a full bucket goes at once", 50 * sec, 100 * sec, 5, 100 * sec, 105 * sec},
		{"half a token short", 103*sec + sec/2, 100 * sec, 1, 101*sec + sec/2, 104*sec + sec/2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.when(tc.tat, tc.now, tc.n)
			if p != tc.pass {
				t.Errorf("when(%d, %d, %d) = %d; want %d", tc.tat, tc.now, tc.n, p, tc.pass)
			}
			if got := b.take(tc.tat, p, tc.n); got != tc.tatAfter {
				t.Errorf("take(%d, %d, %d) = %d; want %d", tc.tat, p, tc.n, got, tc.tatAfter)
			}
		})
	}
}

func TestSaturate(t *testing.T) {
	b := newBucket("k", 1e-9, 1)
	if got := b.take(0, 0, 1e10); got != far {
		t.Errorf("take of 1e10 tokens at 1e-9 a second = %d; want %d", got, int64(far))
	}
	if got := add(far-1, far); got != far {
		t.Errorf("add = %d; want far", got)
	}
	if got := mul(3, far); got != far {
		t.Errorf("mul = %d; want far", got)
	}
}

// TestBucketRate: records of any size, one after the other, as fast as
// the bucket lets them: over any stretch from one pass to a later one no
// more than size + rate × stretch tokens pass, and the last passes
// (tokens - size) / rate after the first (the bucket starts full) plus at
// most one record's worth.
func TestBucketRate(t *testing.T) {
	for _, size := range []int64{1, 4, 10} {
		b := newBucket("k", 4, size) // a token every 250 ms
		var tat, now, total, biggest int64
		type pass struct{ t, n int64 }
		var passes []pass
		g := uint64(size)
		for i := 0; i < 400; i++ {
			g = g*6364136223846793005 + 1442695040888963407
			n := int64(g>>33%12) + 1
			p := b.when(tat, now, n)
			tat = b.take(tat, p, n)
			now = p
			passes = append(passes, pass{p, n})
			total += n
			biggest = max(biggest, n)
		}
		for i := range passes {
			sum := int64(0)
			for j := i; j < len(passes); j++ {
				sum += passes[j].n
				allowed := max(size, passes[j].n) + (passes[j].t-passes[i].t)/b.tau
				if sum > allowed+1 {
					t.Fatalf("size %d: %d tokens between %v and %v; at most %d", size, sum, time.Duration(passes[i].t), time.Duration(passes[j].t), allowed)
				}
			}
		}
		last := passes[len(passes)-1].t
		least := (total - size - passes[len(passes)-1].n) * b.tau
		if last < least || last > (total-size+biggest)*b.tau {
			t.Errorf("size %d: %d tokens took %v; want from %v to %v", size, total, time.Duration(last), time.Duration(least), time.Duration((total-size+biggest)*b.tau))
		}
	}
}

// TestReserveShared: throttles on one state file and one fake clock, in
// goroutines, together keep one rate: 2 × 300 records at 10 a second,
// burst 5, charged in runs, pass in (600 - 5) / 10 seconds, and the k-th
// pass (of all) is no earlier than (k - 5) / 10 seconds.
func TestReserveShared(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1000, 0)
	clk := &clock.Fake{File: filepath.Join(dir, "clock"), Start: start}
	var mu sync.Mutex
	var passes []int64
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		th := &throttle{store: &fileStore{path: filepath.Join(dir, "state"), name: "state"}, clk: &clock.Fake{File: clk.File, Start: start}}
		b := newBucket(keyRcpt, 10, 5)
		th.rcpt = &b
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Records come in runs of 1 to 7, each run charged
			// together up to its first that must wait.
			var group []heldRecord
			for i := 0; i < 300 || len(group) > 0; {
				for ; i < 300 && len(group) < 1+i%7; i++ {
					group = append(group, heldRecord{id: "r", n: 1, all: 1, msgs: 1, domains: []domainCount{{"example.org", 1}}})
				}
				now := th.clk.Now()
				k, at, err := th.reserve(group)
				if err != nil || k < 1 || k > len(group) {
					t.Errorf("reserve of %d: %d, %v", len(group), k, err)
					return
				}
				group = group[k:]
				mu.Lock()
				for range k - 1 {
					passes = append(passes, now.Sub(start).Nanoseconds())
				}
				if at.IsZero() {
					at = now
				}
				passes = append(passes, at.Sub(start).Nanoseconds())
				mu.Unlock()
				th.clk.SleepUntil(at)
			}
		}()
	}
	wg.Wait()
	slices.Sort(passes)
	for k, p := range passes {
		if least := int64(k+1-5) * sec / 10; p < least {
			t.Fatalf("pass %d at %v; not before %v", k+1, time.Duration(p), time.Duration(least))
		}
	}
	if got, want := clk.Now().Sub(start), 59500*time.Millisecond; got != want {
		t.Errorf("600 records took %v; want %v", got, want)
	}
}

// TestReserveAsFarAsItCharges: reserve makes the charges of the records
// it charges, not of the whole group each time. A run of records that
// each wait is charged a record a call; the charges of every record of
// the run, made at every call, cost the square of its length: some
// 13,000 records of one recipient and a line to a run of 512 KiB, so
// that mlm-throttle -r 10000 -b 1 took 21 s of processor for 100,000 of
// them, and passed them at half the rate it was given.
func TestReserveAsFarAsItCharges(t *testing.T) {
	b := newBucket(keyRcpt, 10, 1)
	th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}, rcpt: &b}
	group := make([]heldRecord, 1000)
	for i := range group {
		group[i] = heldRecord{id: "r", n: 1, all: 1, msgs: 1, domains: []domainCount{{"example.org", 1}}}
	}
	for i, want := range []int{2, 1, 1} { // the first passes at once, the second waits
		k, at, err := th.reserve(group)
		if err != nil || k != want || at.IsZero() {
			t.Fatalf("reserve %d: %d, %v, %v; want %d records, the last to wait", i, k, at, err, want)
		}
		if made := len(th.cs); made > k {
			t.Errorf("reserve %d: charges made for %d records, %d charged", i, made, k)
		}
		group = group[k:]
		th.clk.SleepUntil(at)
	}
}

func TestCharges(t *testing.T) {
	r, m := 10.0, 1.0
	th, err := configure(&args{RcptRate: &r, MsgRate: &m, DomainRate: []string{"a.example=1", "*=2", "free.example=0"}})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(cs []charge) []string {
		var s []string
		for _, c := range cs {
			s = append(s, c.b.key+":"+time.Duration(c.n).String())
		}
		return s
	}
	tests := []struct {
		n      int64
		domain string
		want   []string
	}{
		{3, "a.example", []string{"msg:1ns", "rcpt:3ns", "domain a.example:3ns"}},
		{2, "b.example", []string{"msg:1ns", "rcpt:2ns", "domain b.example:2ns"}},
		{2, "free.example", []string{"msg:1ns", "rcpt:2ns"}}, // rate 0: no limit, not '*''s
		{0, "", []string{"msg:1ns"}},
	}
	for _, tc := range tests {
		var ds []domainCount
		if tc.domain != "" {
			ds = []domainCount{{tc.domain, tc.n}}
		}
		if got := keys(th.charges(nil, 1, tc.n, ds)); !slices.Equal(got, tc.want) {
			t.Errorf("charges(%d, %q) = %v; want %v", tc.n, tc.domain, got, tc.want)
		}
	}
	// A record of several domains (mlm-split's of small ones) takes
	// from each domain's bucket its own recipients, and from rcpt all.
	if got, want := keys(th.charges(nil, 1, 6, []domainCount{{"a.example", 3}, {"b.example", 2}, {"free.example", 1}})), []string{"msg:1ns", "rcpt:6ns", "domain a.example:3ns", "domain b.example:2ns"}; !slices.Equal(got, want) {
		t.Errorf("charges of three domains = %v; want %v", got, want)
	}
	// Without '*', a domain not named and one at rate 0 take nothing;
	// with rate 0 alone nothing is charged at all.
	if th, err = configure(&args{RcptRate: &r, DomainRate: []string{"a.example=1", "free.example=0"}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"b.example", "free.example"} {
		if got := keys(th.charges(nil, 1, 1, []domainCount{{d, 1}})); !slices.Equal(got, []string{"rcpt:1ns"}) {
			t.Errorf("charges without *, %s: %v", d, got)
		}
	}
	for _, ds := range [][]string{{"free.example=0"}, {"*=0", "free.example=0"}, {"*=1", "*=0", "free.example=0"}} {
		if th, err = configure(&args{DomainRate: ds}); err != nil || th.charging() {
			t.Errorf("-d %q: charging %v, %v; want nothing charged", ds, th != nil && th.charging(), err)
		}
	}
}

func TestState(t *testing.T) {
	in := "# a comment\nrcpt 1005\nmsg 1001.5\ndomain Example.ORG 1003.25\njunk\nrcpt\ndomain x soon\n\n"
	st := parseState([]byte(in), 0)
	want := state{keyRcpt: 1005 * sec, keyMsg: 1001*sec + sec/2, "domain example.org": 1003*sec + sec/4}
	if len(st) != len(want) {
		t.Fatalf("parseState = %v; want %v", st, want)
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("parseState: %s = %d; want %d", k, st[k], v)
		}
	}
	st.prune(1003*sec + sec/4)
	if got, want := string(st.encode(0)), "rcpt 1005\n"; got != want {
		t.Errorf("after prune, encode = %q; want %q", got, want)
	}
	// The times the arithmetic saturates at read back as written (a debt
	// kept in a file is the debt kept in memory); a nanosecond past them
	// is not read.
	for _, tat := range []int64{far, -far, far - 1} {
		if got := parseState(state{keyRcpt: tat}.encode(0), 0)[keyRcpt]; got != tat {
			t.Errorf("%d written and read: %d", tat, got)
		}
	}
	for _, tat := range []int64{far + 1, -far - 1, math.MaxInt64, math.MinInt64} {
		if got, ok := parseState(state{keyRcpt: tat}.encode(0), 0)[keyRcpt]; ok {
			t.Errorf("%d written and read: %d; want it not read", tat, got)
		}
	}
}

// TestStateFileReplaced: the state file stays open between records, but
// one removed or replaced meanwhile is opened again, so that a throttle
// keeps to the state the others see.
// TestStateFileHuge: a state file larger than any list's buckets make
// (here sparse, a valid line at its start) is read as none, its
// buckets full, and written anew, small: it was read whole into memory
// for every record (a review: 2 GB for a file of 1 GB).
func TestStateFileHuge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "throttle")
	if err := os.WriteFile(path, []byte("rcpt 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, maxState+1); err != nil {
		t.Fatal(err)
	}
	f := &fileStore{path: path, name: "state"}
	defer func() {
		if f.fd != nil {
			f.fd.Close()
		}
	}()
	err := f.update(func(st state) (int64, bool, error) {
		if len(st) != 0 {
			t.Errorf("a huge state file read as %v; want none", st)
		}
		st[keyRcpt] = 9 * sec
		return 0, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cap(f.buf) > 1<<20 {
		t.Errorf("read into %d octets of memory", cap(f.buf))
	}
	if b, _ := os.ReadFile(path); string(b) != "rcpt 9\n"+writtenLine(0) {
		t.Errorf("state file written anew as %q", b)
	}
}

func TestStateFileReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "throttle")
	f := &fileStore{path: path, name: "state"}
	defer func() {
		if f.fd != nil {
			f.fd.Close()
		}
	}()
	set := func(tat int64) func(state) (int64, bool, error) {
		return func(st state) (int64, bool, error) { st[keyRcpt] = tat; return 0, true, nil }
	}
	seen := func() int64 {
		var got int64
		if err := f.update(func(st state) (int64, bool, error) { got = st[keyRcpt]; return 0, false, nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := f.update(set(5 * sec)); err != nil {
		t.Fatal(err)
	}
	if got := seen(); got != 5*sec {
		t.Fatalf("state read back: %d; want %d", got, 5*sec)
	}
	// Replaced by another file, as an editor or a restore would; then
	// again, while the old file lives on under another name.
	for i, link := range []bool{false, true} {
		if link {
			if err := os.Link(path, path+".bak"); err != nil {
				t.Fatal(err)
			}
		}
		other, want := path+".new", int64(7+i)
		if err := os.WriteFile(other, []byte(fmt.Sprintf("rcpt %d\n", want)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(other, path); err != nil {
			t.Fatal(err)
		}
		if got := seen(); got != want*sec {
			t.Errorf("after the file was replaced (old one kept as a link: %v): %d; want %d from the new file", link, got, want*sec)
		}
	}
	// Removed: made again, and written there.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := f.update(set(9 * sec)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "rcpt 9\n"+writtenLine(0) {
		t.Errorf("after the file was removed: %q, %v; want it made again", b, err)
	}
	// Shorter than before: cut to what was written.
	if err := os.WriteFile(path, []byte("rcpt 11\nmsg 12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.update(func(st state) (int64, bool, error) { delete(st, keyMsg); return 0, true, nil }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "rcpt 11\n"+writtenLine(0) {
		t.Errorf("a shorter state: %q; want %q", b, "rcpt 11\n"+writtenLine(0))
	}
}

// sleepWatch is a fake clock that notes, at each sleep, how many
// records out holds.
type sleepWatch struct {
	clock.Fake
	out    *bytes.Buffer
	passed []int
}

func (c *sleepWatch) SleepUntil(t time.Time) {
	c.passed = append(c.passed, bytes.Count(c.out.Bytes(), []byte("\nE ")))
	c.Fake.SleepUntil(t)
}

// oneRcpt is record r<i>, of one recipient.
func oneRcpt(i int) string {
	return fmt.Sprintf("MLM1 r%d\nS <a@example.org>\n:Subject: %d\nR <m%d@example.net>\nE 1\n", i, i, i)
}

// readRecord reads br up to the end of a record of one recipient, or of
// the input.
func readRecord(br *bufio.Reader) string {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), "E 1\n") {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			break
		}
	}
	return b.String()
}

// pipes returns the ends of a throttle's input and output pipes.
func pipes(t *testing.T) (inR, inW, outR, outW *os.File) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return inR, inW, outR, outW
}

// TestPassedGoOut: a record passed on goes out before the throttle
// waits: for more input (with no rate set, records passed at once wait
// in a buffer only while more input is at hand), or for its buckets.
func TestPassedGoOut(t *testing.T) {

	inR, inW, outR, outW := pipes(t)
	th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
	done := make(chan error, 1)
	go func() { done <- th.run(inR, outW); outW.Close() }()
	br := bufio.NewReader(outR)
	for i := range 3 {
		io.WriteString(inW, oneRcpt(i))
		got := make(chan string, 1)
		go func() { got <- readRecord(br) }()
		select {
		case s := <-got:
			if s != oneRcpt(i) {
				t.Fatalf("record %d out: %q; want %q", i, s, oneRcpt(i))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("record %d not out while the throttle waits for input", i)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// At 1 record a second, burst 1: each sleep comes after every
	// record passed before it is out.
	var in strings.Builder
	for i := range 4 {
		in.WriteString(oneRcpt(i))
	}
	var out bytes.Buffer
	clk := &sleepWatch{Fake: clock.Fake{Start: time.Unix(1000, 0)}, out: &out}
	b := newBucket(keyMsg, 1, 1)
	th = &throttle{store: &memStore{}, clk: clk, msg: &b}
	if err := th.run(strings.NewReader(in.String()), &out); err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3}; !slices.Equal(clk.passed, want) {
		t.Errorf("records out at each sleep: %v; want %v", clk.passed, want)
	}
	if out.String() != in.String() {
		t.Errorf("out %q; want the input", out.String())
	}
}

// countStore counts a store's updates.
type countStore struct {
	store
	n int
}

func (c *countStore) update(fn func(state) (int64, bool, error)) error {
	c.n++
	return c.store.update(fn)
}

// TestChargedInRuns: records read in one run are charged in one update
// of the state, up to the first that must wait; what follows it is
// charged after the wait. The records pass unchanged either way, and the
// rate is the same as one record at a time.
func TestChargedInRuns(t *testing.T) {
	rec := func(i int) string {
		return fmt.Sprintf("MLM1 r%d\nS <a@example.org>\n:Subject: %d\nR <m%d@example.net>\nR <n%d@example.net>\nE 2\n", i, i, i, i)
	}
	var in strings.Builder
	for i := range 10 {
		in.WriteString(rec(i))
	}
	for _, c := range []struct {
		rate    float64
		burst   int64
		updates int
		took    time.Duration
	}{
		{1e9, 0, 1, 0},
		// 20 recipients at 2 a second, burst 4: the first two records
		// pass at once and the third waits; then one update a record.
		{2, 4, 8, 8 * time.Second},
	} {
		clk := &clock.Fake{Start: time.Unix(1000, 0)}
		cs := &countStore{store: &fileStore{path: filepath.Join(t.TempDir(), "state"), name: "state"}}
		b := newBucket(keyRcpt, c.rate, c.burst)
		th := &throttle{store: cs, clk: clk, rcpt: &b}
		var out bytes.Buffer
		if err := th.run(strings.NewReader(in.String()), &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != in.String() {
			t.Errorf("rate %v: out %q; want the input", c.rate, out.String())
		}
		if cs.n != c.updates {
			t.Errorf("rate %v: %d updates of the state; want %d", c.rate, cs.n, c.updates)
		}
		if got := clk.Now().Sub(time.Unix(1000, 0)); got != c.took {
			t.Errorf("rate %v: took %v; want %v", c.rate, got, c.took)
		}
	}
}

// recordsFile writes records of one recipient, size octets of them and
// part of one more, to a file, and returns its name and content.
func recordsFile(t *testing.T, size int) (string, string) {
	t.Helper()
	var in strings.Builder
	for i := 0; in.Len() < size; i++ {
		in.WriteString(oneRcpt(i))
	}
	name := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(name, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return name, in.String()
}

// TestRunAcrossReads: from input at hand (a file), records make one run
// across the reads of input, up to groupMax, so a long stream costs one
// update of the state for about every groupMax octets, not one or two
// for every read.
func TestRunAcrossReads(t *testing.T) {
	name, in := recordsFile(t, 3*groupMax)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs := &countStore{store: &memStore{}}
	b := newBucket(keyRcpt, 1e9, 0)
	th := &throttle{store: cs, clk: &clock.Fake{Start: time.Unix(1000, 0)}, rcpt: &b}
	var out bytes.Buffer
	if err := th.run(f, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("out is not the input")
	}
	if cs.n < 3 || cs.n > 4 {
		t.Errorf("%d updates of the state for %d octets; want 3 or 4", cs.n, len(in))
	}
}

// writeSizes records the size of each write.
type writeSizes struct {
	bytes.Buffer
	sizes []int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

// TestShortRunsUncharged: a throttle that charges nothing, given input
// always at hand (a file), holds runs of at most passMax octets, not
// groupMax: there is no update of the state to save, and the next stage
// gets records as soon as it would through bw. One that charges holds
// runs of up to groupMax. Either way the records go out unchanged.
func TestShortRunsUncharged(t *testing.T) {
	name, in := recordsFile(t, 3*groupMax)
	for _, charge := range []bool{false, true} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
		want := passMax
		if charge {
			b := newBucket(keyRcpt, 1e9, 0)
			th.rcpt, want = &b, groupMax
		}
		var out writeSizes
		err = th.run(f, &out)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != in {
			t.Errorf("charging %v: out is not the input", charge)
		}
		if most := slices.Max(out.sizes); most > want+2*len(oneRcpt(0)) || most < want-2*len(oneRcpt(0)) {
			t.Errorf("charging %v: writes of up to %d octets; want about %d", charge, most, want)
		}
	}
}

// TestRunsFitPipe: a throttle writing into a pipe that holds fitPipe
// or more holds runs of three quarters of it, up to groupMax, charging
// or not, and fewer records where one more the size of the last would
// not fit the pipe; one that charges updates the state once a run. Into
// a smaller pipe, runs stay groupMax and passMax. The records go out
// unchanged.
func TestRunsFitPipe(t *testing.T) {
	small, _ := recordsFile(t, 3*groupMax)
	for _, c := range []struct {
		pipe, msg int // what the pipe holds; each record's message, small if 0
		free      int // the run held charging nothing
		run       int // charging: runs of at least so many octets, and less than a record more
		recs      int // or, for large messages, of so many records
	}{
		{pipe: 8 << 10, free: passMax, run: groupMax},
		{pipe: 64 << 10, free: passMax, run: groupMax},
		{pipe: fitPipe, free: fitPipe / 4 * 3, run: fitPipe / 4 * 3},
		{pipe: 1 << 20, free: groupMax, run: groupMax},
		{pipe: fitPipe, msg: 90 << 10, free: fitPipe / 4 * 3, recs: 2},
		{pipe: fitPipe, msg: 150 << 10, free: fitPipe / 4 * 3, recs: 1},
		{pipe: 64 << 10, msg: 150 << 10, free: passMax, recs: 4},
	} {
		t.Run(fmt.Sprintf("pipe %d, messages %d", c.pipe, c.msg), func(t *testing.T) {
			name, n := small, 0
			if c.msg > 0 {
				name, n = largeRecords(t, 10, c.msg)
			}
			in, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			pr, pw, err := sizedPipe(t, c.pipe)
			if err != nil {
				t.Skip(err)
			}
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(pr); pr.Close(); got <- b }()
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cs := &countStore{store: &memStore{}}
			th := &throttle{store: cs, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
			p := th.passing(pw)
			free := p.runMax()
			p.held.Close()
			if free != int64(c.free) {
				t.Errorf("charging nothing: runs of %d; want %d", free, c.free)
			}
			b := newBucket(keyRcpt, 1e9, 0)
			th.rcpt = &b
			err = th.run(f, pw)
			pw.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(<-got, in) {
				t.Errorf("out is not the input")
			}
			if c.recs > 0 {
				if want := (n + c.recs - 1) / c.recs; cs.n != want {
					t.Errorf("%d updates of the state for %d records; want %d (runs of %d)", cs.n, n, want, c.recs)
				}
			} else if want := len(in) / c.run; cs.n < want || cs.n > want+1 {
				t.Errorf("%d updates of the state for %d octets; want %d or %d (runs of %d)",
					cs.n, len(in), want, want+1, c.run)
			}
		})
	}
}

// TestFull: a run fitted to a pipe ends before a record the size of the
// last would take it past what the pipe holds, whether the throttle
// charges or not, and at the fitted size; a throttle whose output is not
// a pipe ends its runs at passMax or groupMax alone.
func TestFull(t *testing.T) {
	for _, c := range []struct {
		pipe   int   // 0: a file
		charge bool  // a rate is set
		recs   []int // the records held, in KiB
		full   bool
	}{
		{fitPipe, false, []int{150}, true},
		{fitPipe, true, []int{150}, true},
		{fitPipe, false, []int{90}, false},
		{fitPipe, false, []int{90, 90}, true},
		{fitPipe, false, []int{4, 4}, false},
		{fitPipe, false, []int{60, 60, 60}, false},
		{fitPipe, false, []int{60, 60, 60, 10}, false}, // 190 KiB, and 10 more would fit
		{fitPipe, false, []int{60, 60, 60, 20}, true},  // 200: past the fit, 192
		{1 << 20, false, []int{300}, false},
		{1 << 20, true, []int{300}, false},
		{1 << 20, false, []int{300, 300}, true}, // past the fit, 512
		{1 << 20, false, []int{400, 400}, true}, // 800 and 400 more would overrun
		{1 << 20, false, []int{200, 200}, false},
		{64 << 10, false, []int{63}, false},
		{64 << 10, false, []int{65}, true}, // passMax
		{64 << 10, true, []int{150, 150, 150}, false},
		{0, false, []int{63}, false},
		{0, true, []int{500}, false},
		{0, true, []int{500, 20}, true}, // groupMax
	} {
		var out *os.File
		if c.pipe > 0 {
			_, pw, err := sizedPipe(t, c.pipe)
			if err != nil {
				t.Run(fmt.Sprintf("pipe %d", c.pipe), func(t *testing.T) { t.Skip(err) })
				continue
			}
			out = pw
		} else {
			f, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out = f
		}
		th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
		if c.charge {
			b := newBucket(keyRcpt, 1e9, 0)
			th.rcpt = &b
		}
		p := th.passing(out)
		for _, kb := range c.recs {
			off := p.held.Len()
			if _, err := p.held.Write(make([]byte, kb<<10)); err != nil {
				t.Fatal(err)
			}
			p.group = append(p.group, heldRecord{off: off, size: p.held.Len() - off})
		}
		if got := p.full(); got != c.full {
			t.Errorf("pipe %d, charging %v, records of %v KiB: full %v; want %v", c.pipe, c.charge, c.recs, got, c.full)
		}
		p.held.Close()
	}
}

// sizedPipe is a pipe that holds size octets, both ends closed when the
// test ends; an error if the kernel will not make it so.
func sizedPipe(t *testing.T, size int) (pr, pw *os.File, err error) {
	t.Helper()
	pr, pw, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	if k, err := unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, size); err != nil || k != size {
		return nil, nil, fmt.Errorf("no pipe of %d octets here: %d, %v", size, k, err)
	}
	return pr, pw, nil
}

// largeRecords writes n records of one recipient, each with a message of
// about size octets in lines of 100, to a file, and returns its name and
// n.
func largeRecords(t *testing.T, n, size int) (string, int) {
	t.Helper()
	var in bytes.Buffer
	line := ":" + strings.Repeat("x", 99) + "\n"
	for i := range n {
		fmt.Fprintf(&in, "MLM1 r%d\nS <a@example.org>\n:Subject: %d\n:\n", i, i)
		for range size / 100 {
			in.WriteString(line)
		}
		fmt.Fprintf(&in, "R <m%d@example.net>\nE 1\n", i)
	}
	name := filepath.Join(t.TempDir(), "large")
	if err := os.WriteFile(name, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return name, n
}

// TestInputStat: the Reader sees through passFirst whether the input is
// a regular file (it then reads it in larger pieces), and a pipe or a
// reader that is not a file is not one.
func TestInputStat(t *testing.T) {
	name, _ := recordsFile(t, 1)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inR, _, _, _ := pipes(t)
	for _, c := range []struct {
		in      io.Reader
		regular bool
	}{{f, true}, {inR, false}, {strings.NewReader(oneRcpt(0)), false}} {
		st, err := passFirst{c.in, nil}.Stat()
		if got := err == nil && st.Mode().IsRegular(); got != c.regular {
			t.Errorf("%T: a regular file %v (%v); want %v", c.in, got, err, c.regular)
		}
	}
}

// TestPassedMidRecord: records held while the throttle reads the rest
// of a record cut across its input's reads pass, and go out, before it
// waits for that rest.
func TestPassedMidRecord(t *testing.T) {

	inR, inW, outR, outW := pipes(t)
	b := newBucket(keyRcpt, 1e9, 0)
	th := &throttle{store: &fileStore{path: filepath.Join(t.TempDir(), "state"), name: "state"},
		clk: &clock.Fake{Start: time.Unix(1000, 0)}, rcpt: &b}
	done := make(chan error, 1)
	go func() { done <- th.run(inR, outW); outW.Close() }()
	first := oneRcpt(0) + oneRcpt(1)
	second := oneRcpt(2)
	io.WriteString(inW, first+second[:len(second)-5]) // cut in its recipients
	got := make(chan string, 1)
	go func() {
		b := make([]byte, len(first))
		_, err := io.ReadFull(outR, b)
		if err != nil {
			t.Error(err)
		}
		got <- string(b)
	}()
	select {
	case s := <-got:
		if s != first {
			t.Fatalf("out %q; want %q", s, first)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("records read whole not out while the throttle waits for the rest of the next")
	}
	io.WriteString(inW, second[len(second)-5:]+oneRcpt(3))
	inW.Close()
	rest, err := io.ReadAll(outR)
	if err != nil || string(rest) != second+oneRcpt(3) {
		t.Errorf("then out %q, %v; want %q", rest, err, second+oneRcpt(3))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// chunks gives its octets n at a time, calling seen before each read.
type chunks struct {
	s    string
	n    int
	seen func()
}

func (c *chunks) Read(b []byte) (int, error) {
	c.seen()
	if c.s == "" {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), c.n)], c.s)
	c.s = c.s[k:]
	return k, nil
}

// TestHeldBounded: where every read of input ends inside a record, what
// the throttle holds does not grow with what passed before.
func TestHeldBounded(t *testing.T) {
	var in strings.Builder
	for i := range 20000 {
		in.WriteString(oneRcpt(i))
	}
	b := newBucket(keyRcpt, 1e9, 0)
	th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}, rcpt: &b}
	var out bytes.Buffer
	p := th.passing(&out)
	defer p.held.Close()
	most := int64(0)
	c := &chunks{s: in.String(), n: 1000, seen: func() { most = max(most, p.held.Len()) }}
	if err := p.run(c); err != nil {
		t.Fatal(err)
	}
	if out.String() != in.String() {
		t.Errorf("out is not the input")
	}
	if most > 2000 {
		t.Errorf("held up to %d octets of %d in reads of 1000", most, in.Len())
	}
}

// TestStateUnicodeSpace: a domain's bucket is read back whatever spaces
// other than ASCII's its name holds (the stream takes them), so that its
// limit holds across runs.
func TestStateUnicodeSpace(t *testing.T) {
	st := state{keyRcpt: 5e9}
	for _, d := range []string{"b\u00a0c.org", "b\u0085c.org", "b\u3000c.org", "b\u2028c.org"} {
		st[domainKey(d)] = 7e9
	}
	if back := parseState(st.encode(0), 0); !maps.Equal(back, st) {
		t.Errorf("wrote %v, read %v", st, back)
	}
}

// FuzzState: a state file is read whatever it holds (another throttle's
// write cut short, an editor's): each bucket read holds the time its
// line gives, within the range of the bucket arithmetic, and what is read
// is written back as it was read.
func FuzzState(f *testing.F) {
	f.Add([]byte("rcpt 1005\nmsg 1001.5\ndomain Example.ORG 1003.25\n"))
	f.Add([]byte("rcpt 99999999999\nmsg -99999999999.999999999\ndomain a 9300000000\n"))
	f.Add([]byte("domain x soon\n\nrcpt\n# rcpt 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := parseState(b, 0)
		for k, v := range st {
			if v > far || v < -far {
				t.Errorf("%q: TAT %d outside the arithmetic's range", k, v)
			}
			if d, ok := strings.CutPrefix(k, "domain "); k != keyRcpt && k != keyMsg && (!ok || d == "" || strings.ContainsAny(d, " \n")) {
				t.Errorf("key %q", k)
			}
		}
		if back := parseState(st.encode(0), 0); !maps.Equal(back, st) {
			t.Errorf("read %v, written and read again %v", st, back)
		}
	})
}

// FuzzDomainRate: a line of domain-rate gives a domain in lower case (as
// addr.Lower has it), one a bucket can be kept for, and a rate, or
// an error of one line.
func FuzzDomainRate(f *testing.F) {
	for _, s := range []string{"Example.ORG=10", "\u212Aexample.org=1", "*=0.5", " a.example = 1e3 ", "x=-1", "x=NaN", "x=Inf", "=1", "a..b=1", "a=1=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, rate, err := parseDomainRate(in)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("parseDomainRate(%q): error %q", in, err)
			}
			return
		}
		if d != addr.Lower(d) || d != anyDomain && addr.CheckDomain(d) != nil || strings.ContainsAny(d, " \t=") {
			t.Errorf("parseDomainRate(%q): domain %q", in, d)
		}
		if !rateOK(rate) {
			t.Errorf("parseDomainRate(%q): rate %v", in, rate)
		}
		if d2, r2, err := parseDomainRate(d + "=" + strconv.FormatFloat(rate, 'g', -1, 64)); err != nil || d2 != d || r2 != rate {
			t.Errorf("parseDomainRate(%q) = %q, %v; again: %q, %v, %v", in, d, rate, d2, r2, err)
		}
	})
}

// TestWholeRecordsOnly: with a rate or none, what goes out is whole
// records: those read whole before a fault in the input, and nothing of
// the record at the fault, nor of one cut off where the throttle waits
// for the rest of it.
func TestWholeRecordsOnly(t *testing.T) {
	for _, rate := range []bool{false, true} {
		th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
		if rate {
			b := newBucket(keyRcpt, 1e9, 0)
			th.rcpt = &b
		}
		var out bytes.Buffer
		err := th.run(strings.NewReader(oneRcpt(0)+"MLM1 r1\nS <>\nE 1\n"), &out)
		if sysexit.Code(err) != sysexit.DataErr || out.String() != oneRcpt(0) {
			t.Errorf("rate set %v, a bad record: %v, out %q; want 65 after %q", rate, err, out.String(), oneRcpt(0))
		}
	}

	inR, inW, outR, outW := pipes(t)
	th := &throttle{store: &memStore{}, clk: &clock.Fake{Start: time.Unix(1000, 0)}}
	done := make(chan error, 1)
	go func() { done <- th.run(inR, outW); outW.Close() }()
	io.WriteString(inW, oneRcpt(0)+"MLM1 r1\nS <a@example.org>\n:part")
	// The first record goes out when the throttle waits for the rest
	// of the second; then the input ends inside it.
	br := bufio.NewReader(outR)
	first := readRecord(br)
	inW.Close()
	rest, _ := io.ReadAll(br)
	if err := <-done; first != oneRcpt(0) || len(rest) > 0 || sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("%v; out %q then %q; want 65 after %q alone", err, first, rest, oneRcpt(0))
	}
}

// TestReserveAfterFar: with the clock past February 2116, where the
// buckets' times saturated when they counted from 1970, the rate still
// holds: 5 records of one recipient at 1 a second, burst 1, take 4
// seconds, as in 2026, with a deadline of ten minutes or none, and a
// throttle after it on the same state file waits its turn. Before, every
// bucket counted as full and nothing waited, and a deadline refused
// every record (75, for ever). (From a review.)
func TestReserveAfterFar(t *testing.T) {
	for _, start := range []time.Time{time.Unix(1_800_000_000, 0), time.Unix(4_700_000_000, 0), time.Unix(9_300_000_000, 0)} {
		for _, deadline := range []time.Duration{0, 10 * time.Minute} {
			dir := t.TempDir()
			clk := &clock.Fake{File: filepath.Join(dir, "clock"), Start: start}
			state := filepath.Join(dir, "state")
			b := newBucket(keyRcpt, 1, 1)
			pass := func(n int) {
				t.Helper()
				th := &throttle{store: &fileStore{path: state, name: "state"}, clk: &clock.Fake{File: clk.File, Start: start}, rcpt: &b}
				th.begin(deadline)
				group := make([]heldRecord, n)
				for i := range group {
					group[i] = heldRecord{id: "r", n: 1, all: 1, msgs: 1, domains: []domainCount{{"example.org", 1}}}
				}
				for len(group) > 0 {
					k, at, err := th.reserve(group)
					if err != nil {
						t.Fatalf("start %v, deadline %v: %v", start.UTC(), deadline, err)
					}
					group = group[k:]
					th.clk.SleepUntil(at)
				}
			}
			pass(5)
			if got := clk.Now().Sub(start); got != 4*time.Second {
				t.Errorf("start %v, deadline %v: 5 records at 1/s took %v; want 4s", start.UTC(), deadline, got)
			}
			// The state file holds the bucket's time as a time, read
			// back by the next throttle.
			if b, _ := os.ReadFile(state); string(b) != fmt.Sprintf("rcpt %d\n", start.Unix()+5)+writtenLine(start.Unix()+3) {
				t.Errorf("start %v: state %q; want rcpt %d, written %d (the last record's reserve)", start.UTC(), b, start.Unix()+5, start.Unix()+3)
			}
			pass(1)
			if got := clk.Now().Sub(start); got != 5*time.Second {
				t.Errorf("start %v, deadline %v: the next throttle's record passed at %v; want 5s", start.UTC(), deadline, got)
			}
		}
	}
}

// TestDeadlineBoundsLockWait: with -T, the wait for the state file's
// lock, which another throttle holds, ends at the deadline (75, saying
// so), not after lockTimeout (30 s): mlm-throttle(1) says it never waits
// past the deadline. (From a review.)
func TestDeadlineBoundsLockWait(t *testing.T) {
	state := filepath.Join(t.TempDir(), "throttle")
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	holder, err := os.Open(state) // a description of its own: the flocks conflict
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := syscall.Flock(int(holder.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	rate := 1.0
	a := &args{RcptRate: &rate, State: &state, Deadline: 50 * time.Millisecond}
	in := strings.NewReader("MLM1 r1\nS <a@example.org>\n:x\nR <b@example.org>\nE 1\n")
	var out bytes.Buffer
	err = run(a, in, &out)
	if sysexit.Code(err) != sysexit.TempFail || err == nil || !strings.Contains(err.Error(), "at the deadline") {
		t.Errorf("the state file locked, -T 50ms: %v (%d); want 75, the lock still held at the deadline", err, sysexit.Code(err))
	}
	if out.Len() != 0 {
		t.Errorf("passed %q; want nothing", out.String())
	}
}

// TestClockBackEmptyState: the clock set back an hour while a throttle
// runs, and the state file removed, which mlm-throttle(1) says ends the
// wait: a record passes at once, with a deadline or none. With the
// buckets' times counted from the run's start, a bucket the state did not
// hold was taken to fill at that start, and the record waited the hour
// out. (From a review.)
func TestClockBackEmptyState(t *testing.T) {
	for _, deadline := range []time.Duration{0, 10 * time.Minute} {
		dir := t.TempDir()
		start := time.Unix(1_800_000_000, 0)
		clk := filepath.Join(dir, "clock")
		state := filepath.Join(dir, "state")
		b := newBucket(keyRcpt, 1, 1)
		th := &throttle{store: &fileStore{path: state, name: "state"}, clk: &clock.Fake{File: clk, Start: start}, rcpt: &b}
		th.begin(deadline)
		if err := os.WriteFile(clk, []byte("1799996400\n"), 0o644); err != nil { // an hour back
			t.Fatal(err)
		}
		os.Remove(state)
		k, at, err := th.reserve([]heldRecord{{id: "r", n: 1, all: 1, msgs: 1, domains: []domainCount{{"example.org", 1}}}})
		if err != nil || k != 1 || !at.IsZero() {
			t.Errorf("deadline %v: reserve = %d, %v, %v; want 1, at once, nil", deadline, k, at.UTC(), err)
		}
	}
}

// writtenLine is the state file's last line, the time t this host wrote
// it at (none if the host has no plain name).
func writtenLine(t int64) string {
	hosts := slices.Clone(thisHost)
	slices.Sort(hosts)
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "written %s %d\n", h, t)
	}
	return b.String()
}
