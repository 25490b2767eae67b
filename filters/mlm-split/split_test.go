package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
)

// lcg is a small deterministic generator, so the tests need no seed.
type lcg uint64

func (g *lcg) next(n int) int {
	*g = *g*6364136223846793005 + 1442695040888963407
	return int(uint64(*g>>33) % uint64(n))
}

// TestBatcherCap: whatever the mix of domains, no recipient is held past
// the cap, every batch is one domain and at most N, and every recipient
// goes out exactly once.
func TestBatcherCap(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 100} {
		for _, domains := range []int{1, 5, 40, 1000} {
			limit := 16 * n
			seen := map[string]int{}
			total := 0
			b := newBatcher(n, limit, func(rc []stream.Path) error {
				if len(rc) == 0 || len(rc) > n {
					t.Fatalf("n=%d: batch of %d", n, len(rc))
				}
				for _, p := range rc {
					if addr.Domain(p.Mailbox) != addr.Domain(rc[0].Mailbox) {
						t.Fatalf("n=%d: batch mixes domains: %v", n, rc)
					}
					seen[p.Mailbox]++
				}
				return nil
			})
			g := lcg(n*7919 + domains)
			for i := 0; i < 20000; i++ {
				// Skewed: a few big domains, many small ones.
				d := g.next(domains)
				if g.next(2) == 0 {
					d = g.next(min(domains, 3))
				}
				p := stream.Path{Mailbox: fmt.Sprintf("u%d@d%d.example", i, d)}
				if err := b.add(p); err != nil {
					t.Fatal(err)
				}
				total++
				if b.pending > limit {
					t.Fatalf("n=%d domains=%d: %d recipients pending; cap %d", n, domains, b.pending, limit)
				}
				held := 0
				for _, bt := range b.fill {
					held += len(bt.rcpts)
				}
				if held != b.pending || len(b.fill) != len(b.open) {
					t.Fatalf("pending count %d, held %d; %d batches in heap, %d in map", b.pending, held, len(b.fill), len(b.open))
				}
			}
			if err := b.finish(); err != nil {
				t.Fatal(err)
			}
			if len(seen) != total || b.pending != 0 || len(b.open) != 0 {
				t.Fatalf("n=%d domains=%d: %d of %d recipients out, %d pending", n, domains, len(seen), total, b.pending)
			}
			for m, k := range seen {
				if k != 1 {
					t.Fatalf("%s went out %d times", m, k)
				}
			}
		}
	}
}

// TestBatcherSmallDomains: with D over 1, a record of several domains
// holds at most N recipients and D domains, each of which is in no other
// record (filled none, and is never cut in two); a domain that filled a
// batch is in none such; every recipient goes out once, each domain's in
// their order; and the records are the same for the same input. Records
// of the small domains are as few as packing their batches in order
// makes them.
func TestBatcherSmallDomains(t *testing.T) {
	for _, n := range []int{2, 3, 7, 100} {
		for _, d := range []int{2, 3, 10, 100} {
			for _, domains := range []int{5, 40, 1000} {
				var recs [][]stream.Path
				run := func() [][]stream.Path {
					var out [][]stream.Path
					b := newBatcher(n, 1<<20, func(rc []stream.Path) error {
						out = append(out, slices.Clone(rc))
						return nil
					})
					b.domains = min(d, n)
					g := lcg(n*7919 + domains*31 + d)
					for i := 0; i < 5000; i++ {
						dom := g.next(domains)
						if g.next(2) == 0 {
							dom = g.next(min(domains, 3)) // a few big ones
						}
						if err := b.add(stream.Path{Mailbox: fmt.Sprintf("u%d@d%d.example", i, dom)}); err != nil {
							t.Fatal(err)
						}
					}
					if err := b.finish(); err != nil {
						t.Fatal(err)
					}
					if b.pending != 0 || len(b.open) != 0 || len(b.group) != 0 {
						t.Fatalf("after finish: %d pending, %d open, %d in a group", b.pending, len(b.open), len(b.group))
					}
					return out
				}
				recs = run()
				same := func(x, y []stream.Path) bool {
					return slices.EqualFunc(x, y, func(p, q stream.Path) bool { return p.Mailbox == q.Mailbox && slices.Equal(p.Params, q.Params) })
				}
				if again := run(); !slices.EqualFunc(recs, again, same) {
					t.Fatalf("n=%d d=%d: another run, other records", n, d)
				}
				in := map[string]int{} // domain -> records it is in
				full := map[string]bool{}
				last := map[string]int{} // domain -> its last recipient's number
				var mixed [][]string
				for _, rc := range recs {
					if len(rc) == 0 || len(rc) > n {
						t.Fatalf("n=%d d=%d: a record of %d", n, d, len(rc))
					}
					var ds []string
					for _, p := range rc {
						dom := addr.Domain(p.Mailbox)
						if !slices.Contains(ds, dom) {
							ds = append(ds, dom)
							in[dom]++
						}
						var k int
						fmt.Sscanf(p.Mailbox, "u%d@", &k)
						if j, ok := last[dom]; ok && k <= j {
							t.Fatalf("%s: u%d after u%d", dom, k, j)
						}
						last[dom] = k
					}
					if len(ds) == 1 && len(rc) == n {
						full[ds[0]] = true
					}
					if len(ds) > 1 {
						if len(ds) > min(d, n) {
							t.Fatalf("n=%d d=%d: a record of %d domains", n, d, len(ds))
						}
						mixed = append(mixed, ds)
					}
				}
				for _, ds := range mixed {
					for _, dom := range ds {
						if in[dom] != 1 || full[dom] {
							t.Fatalf("n=%d d=%d: %s in a record of %v, in %d records, full %v", n, d, dom, ds, in[dom], full[dom])
						}
					}
				}
				if len(mixed) == 0 && domains == 1000 {
					t.Errorf("n=%d d=%d domains=%d: no record of small domains together", n, d, domains)
				}
			}
		}
	}
}

// TestBatcherCapWrittenAlone: a domain whose batch the cap on pending
// recipients wrote before it was full is no small domain: its last
// recipients go alone, not in a record of others (a review, R49: with N
// 100,000 and the cap of 100,000, a domain of 100,004 shared one).
func TestBatcherCapWrittenAlone(t *testing.T) {
	var recs [][]stream.Path
	b := newBatcher(5, 6, func(rc []stream.Path) error { recs = append(recs, slices.Clone(rc)); return nil })
	b.domains = 5
	for _, m := range []string{"x1@x.example", "x2@x.example", "x3@x.example", "x4@x.example", "y1@y.example", "z1@z.example", "w1@w.example", "x5@x.example"} {
		if err := b.add(stream.Path{Mailbox: m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rc := range recs {
		var ms []string
		for _, p := range rc {
			ms = append(ms, p.Mailbox)
		}
		got = append(got, strings.Join(ms, " "))
	}
	want := []string{"x1@x.example x2@x.example x3@x.example x4@x.example", "x5@x.example", "y1@y.example z1@z.example w1@w.example"}
	if !slices.Equal(got, want) {
		t.Errorf("records %q; want %q", got, want)
	}
}

// TestSplitDomainsMost: a record of small domains has at most
// listdir.DomainsMost domains, whatever N, the most mlm-throttle charges
// one by one (a review, R49: at -n 2000 a record of 1,100 domains had
// the last ones charged to another's bucket).
func TestSplitDomainsMost(t *testing.T) {
	var in strings.Builder
	in.WriteString("MLM1 p1\nS <b@l.example>\n:hi\n")
	for i := range 1100 {
		fmt.Fprintf(&in, "R <u%d@d%04d.example>\n", i, i)
	}
	in.WriteString("E 1100\n")
	n := 2000
	var out bytes.Buffer
	if err := run(&args{MaxRcpt: &n}, strings.NewReader(in.String()), &out); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	r := stream.NewReader(&out)
	if err := r.Each(func(h *stream.Header) error {
		k := 0
		err := r.EachRecipient(func(stream.Path) error { k++; return nil })
		sizes = append(sizes, k)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{listdir.DomainsMost, 1100 - listdir.DomainsMost}) {
		t.Errorf("records of %v recipients, a domain each; want %d and %d", sizes, listdir.DomainsMost, 1100-listdir.DomainsMost)
	}
}

// TestBatcherSpreadCap: past the cap on pending recipients, a list's
// long tail still goes some N recipients a record: the small domains'
// batches together, not the fullest, a domain of a member or two, alone
// (a review, R50: a million members over 316,153 domains made 499,610
// records). Here a cap of 1,000 stands for 100,000.
func TestBatcherSpreadCap(t *testing.T) {
	nrec := 0
	b := newBatcher(100, 1000, func(rc []stream.Path) error { nrec++; return nil })
	b.domains = 100
	b.reset()
	doms := map[string]bool{}
	const n = 10_000
	for i := range n {
		d := fmt.Sprintf("s%d.example", (i*7919)%(n/2)*13%(n/2))
		switch i % 10 {
		case 0, 1, 2:
			d = "gmail.example"
		case 3:
			d = "yahoo.example"
		case 4:
			d = "outlook.example"
		}
		doms[d] = true
		if err := b.add(stream.Path{Mailbox: fmt.Sprintf("m%d@%s", i, d)}); err != nil {
			t.Fatal(err)
		}
		if b.pending > 1000 {
			t.Fatalf("%d pending, over the cap", b.pending)
		}
	}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	if limit := n/100 + 3 + 10; nrec > limit {
		t.Errorf("%d recipients of %d domains, N 100, cap 1,000: %d records; want %d at most", n, len(doms), nrec, limit)
	}
}

// TestSplitASCIIApart: no ASCII address shares a record with one that
// is not, whose transaction goes with SMTPUTF8, not even one of its own
// domain (an A-label and its U-label spelling, or a UTF-8 local part at
// an ASCII domain; a review, R49, R50).
func TestSplitASCIIApart(t *testing.T) {
	var in strings.Builder
	in.WriteString("MLM1 p1\nS <b@l.example>\n:Subject: Caf\xc3\xa9\n:\n:hi\n")
	ms := []string{"a@xn--bcher-kva.example", "c@example.com", "b@b\u00fccher.example", "x@example.com", "\"j\u00f6rg\"@example.com", "y@other.example"}
	for _, m := range ms {
		fmt.Fprintf(&in, "R <%s>\n", m)
	}
	fmt.Fprintf(&in, "E %d\n", len(ms))
	for _, d := range []int{1, 100} {
		n := 100
		var out bytes.Buffer
		if err := run(&args{MaxRcpt: &n, MaxDomains: &d}, strings.NewReader(in.String()), &out); err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(&out)
		total := 0
		if err := r.Each(func(h *stream.Header) error {
			var rc []string
			err := r.EachRecipient(func(p stream.Path) error { rc = append(rc, p.Mailbox); return nil })
			total += len(rc)
			utf8 := slices.ContainsFunc(rc, func(m string) bool { return !ascii.Is(m) })
			for _, m := range rc {
				if utf8 && ascii.Is(m) {
					t.Errorf("-d %d: ASCII %s in a record with a UTF-8 address: %q", d, m, rc)
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if total != len(ms) {
			t.Errorf("-d %d: %d recipients written of %d", d, total, len(ms))
		}
	}
}

// TestBatcherOrder: over the cap, the fullest batch goes first and, of
// equal ones, the one opened first; at the end, the order of opening.
func TestBatcherOrder(t *testing.T) {
	var got []string
	b := newBatcher(3, 4, func(rc []stream.Path) error {
		var s []string
		for _, p := range rc {
			s = append(s, p.Mailbox)
		}
		got = append(got, strings.Join(s, " "))
		return nil
	})
	for _, m := range []string{
		"a@x", "b@y", "c@z", "d@W", // 4 pending, one each
		"e@v",        // 5 > 4: all have one; x was opened first
		"f@w",        // w has 2 (W and w are one domain): 5 > 4, w goes
		"g@x", "h@y", // x reopened after v; y has 2: 5 > 4, y goes
		"i@x", "j@x", // x full at 3
	} {
		if err := b.add(stream.Path{Mailbox: m}); err != nil {
			t.Fatal(err)
		}
	}
	b.finish()
	want := []string{"a@x", "d@W f@w", "b@y h@y", "g@x i@x j@x", "c@z", "e@v"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("batches\n%q\nwant\n%q", got, want)
	}
}

// TestBatcherHeld: the batches pending hold room for about as many
// recipients as they have, however the batches written before them were
// filled. A domain's full batch of N, written, was reused with its room
// for the next domain opened; one of a recipient that waits to the end
// of the record (every 101st to a domain of its own, the rest to one
// big domain) then held room for 128: a 1,000,000-member record took
// 120 MiB, where the man page says 100,001 recipients at most. The room
// full batches keep for their domains' next counts, at most spareRoom.
func TestBatcherHeld(t *testing.T) {
	b := newBatcher(100, pendingCap, func([]stream.Path) error { return nil })
	for i := 0; i < 101*1000; i++ {
		d := "big.example"
		if i%101 == 100 {
			d = fmt.Sprintf("once%d.example", i)
		}
		if err := b.add(stream.Path{Mailbox: fmt.Sprintf("u%d@%s", i, d)}); err != nil {
			t.Fatal(err)
		}
	}
	room := 0
	for _, bt := range b.fill {
		room += cap(bt.rcpts)
	}
	for _, bt := range b.free {
		room += cap(bt.rcpts)
	}
	for _, rc := range b.spare {
		room += cap(rc)
	}
	if room > 4*b.pending+4*b.max+spareRoom {
		t.Errorf("%d recipients pending in %d batches, with room for %d", b.pending, len(b.fill), room)
	}
}

// TestBatcherSpare: a domain's full batch leaves its room to the
// domain's next, so that batch after batch of one domain grows none
// again; a batch not full, or room past spareRoom, is let go; what is
// written is the same.
func TestBatcherSpare(t *testing.T) {
	for _, n := range []int{1, 2, 100, 10_000} {
		var arrays []*stream.Path // the room of each batch written
		var got []string
		b := newBatcher(n, pendingCap, func(rc []stream.Path) error {
			if p := &rc[0]; !slices.Contains(arrays, p) {
				arrays = append(arrays, p)
			}
			for _, p := range rc {
				got = append(got, p.Mailbox)
			}
			return nil
		})
		var want []string
		for i := range 10*n + n/2 {
			m := fmt.Sprintf("u%d@big.example", i)
			want = append(want, m)
			if err := b.add(stream.Path{Mailbox: m}); err != nil {
				t.Fatal(err)
			}
		}
		b.finish()
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: %d written, %d added, or out of order", n, len(got), len(want))
		}
		// Room for one is kept with the batch; one for 10,000 is past
		// spareRoom: each batch has room of its own.
		wantArrays := 1
		if n > spareRoom {
			wantArrays = 11
		}
		if len(arrays) != wantArrays {
			t.Errorf("n=%d: batches in %d rooms; want %d", n, len(arrays), wantArrays)
		}
		if b.spared != b.sparedNow() || b.spared > spareRoom {
			t.Errorf("n=%d: spared %d, kept %d, at most %d", n, b.spared, b.sparedNow(), spareRoom)
		}
	}
}

// sparedNow is the room b keeps for domains' next batches, counted: the
// spare room, and that of open batches that took it.
func (b *batcher) sparedNow() int {
	n := 0
	for _, rc := range b.spare {
		n += cap(rc)
	}
	for _, bt := range b.fill {
		n += bt.spare
	}
	return n
}

// writeBig writes a stream of one record with n recipients over the
// given number of domains.
func writeBig(w io.Writer, n, domains int) error {
	sw := stream.NewWriter(w)
	sw.WriteHeader(&stream.Header{ID: "big", Sender: stream.Path{Mailbox: "dev-bounces@example.org"}})
	sw.Write([]byte("Subject: big\n\n" + strings.Repeat("body line\n", 50)))
	for i := 0; i < n; i++ {
		if err := sw.Recipient(stream.Path{Mailbox: fmt.Sprintf("member%07d@example%d.net", i, (i*7)%domains)}); err != nil {
			return err
		}
	}
	sw.End()
	return sw.Flush()
}

// writeSparse writes a record of n recipients, every 100th at a domain of
// its own and the rest at one domain.
func writeSparse(w io.Writer, n int) error {
	sw := stream.NewWriter(w)
	sw.WriteHeader(&stream.Header{ID: "big", Sender: stream.Path{Mailbox: "dev-bounces@example.org"}})
	sw.Write([]byte("Subject: sparse\n\nbody\n"))
	for i := 0; i < n; i++ {
		domain := "example.net"
		if i%100 == 0 {
			domain = fmt.Sprintf("once%d.example", i)
		}
		if err := sw.Recipient(stream.Path{Mailbox: fmt.Sprintf("member%07d@%s", i, domain)}); err != nil {
			return err
		}
	}
	sw.End()
	return sw.Flush()
}

// TestDeterministic: the same input gives the same bytes, eviction and all.
func TestDeterministic(t *testing.T) {
	var in bytes.Buffer
	if err := writeBig(&in, 20000, 1500); err != nil {
		t.Fatal(err)
	}
	n := 10
	var out [2]bytes.Buffer
	for i := range out {
		if err := run(&args{MaxRcpt: &n}, bytes.NewReader(in.Bytes()), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatal("two runs on one input differ")
	}
	rcpts, recs, err := check(&out[0], n)
	if err != nil || rcpts != 20000 {
		t.Fatalf("%d recipients in %d records, %v; want 20000", rcpts, recs, err)
	}
}

// check reads a split stream and counts its recipients and records,
// checking that no record has more than n recipients or mixes domains.
func check(in io.Reader, n int) (rcpts, recs int, err error) {
	r := stream.NewReader(in)
	err = r.Each(func(h *stream.Header) error {
		recs++
		if p, _ := h.Get("parent"); p != "big" || !strings.HasPrefix(h.ID, "big,") {
			return fmt.Errorf("record %s, parent %q", h.ID, p)
		}
		// A record of several domains (small ones, together) has each
		// domain's recipients in one run, fewer than n of each.
		var dom string
		k, run, doms := 0, 0, 0
		for {
			p, err := r.Recipient()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			k++
			if d := addr.Domain(p.Mailbox); d != dom {
				dom, run = d, 0
				doms++
			}
			if run++; doms > 1 && run >= n {
				return fmt.Errorf("record %s has %d recipients of %s among others", h.ID, run, dom)
			}
		}
		if k > n {
			return fmt.Errorf("record %s has %d recipients", h.ID, k)
		}
		rcpts += k
		return nil
	})
	return rcpts, recs, err
}

// peakRSS runs mlm-split -n 100 on a record of n recipients and returns
// its peak resident set in KiB, checking its output on the way. It runs
// it through peakrss, a small process: Linux counts the peak of the
// process that starts a program with vfork, as Go does, in the program's,
// and this test process is big.
func peakRSS(t *testing.T, n, maxRcpt int, write func(w io.Writer, n int) error) int64 {
	t.Helper()
	wrap, err := exec.LookPath("peakrss")
	if err != nil {
		t.Fatal(err)
	}
	split, err := exec.LookPath(prog)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wrap, split, "-n", strconv.Itoa(maxRcpt))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		err := write(in, n)
		in.Close()
		werr <- err
	}()
	rcpts, recs, cerr := check(out, min(maxRcpt, pendingCap))
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", prog, err, stderr.String())
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if cerr != nil || rcpts != n {
		t.Fatalf("%d recipients in %d records, %v; want %d", rcpts, recs, cerr, n)
	}
	var kib int64
	if _, err := fmt.Sscanf(stderr.String(), "peakrss: %d\n", &kib); err != nil {
		t.Fatalf("peakrss said %q", stderr.String())
	}
	return kib
}

// TestMemoryBounded: a 1,000,000-recipient record is split in about the
// memory a 100,000-recipient one takes. The margin is the Go heap's
// headroom, which varies from run to run with when the collector
// happens to run: 5.4 MiB seen on a quiet machine, and up to 13.1 MiB
// with other tests running, the live heap at the end 9 MB at 1,000,000
// and 15 MB at 100,000 (gctrace); 900,000 more recipients held would
// take over 40 MiB.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() || raceEnabled || runtime.GOOS != "linux" {
		t.Skip("short, race or not Linux")
	}
	even := func(w io.Writer, n int) error { return writeBig(w, n, 997) }
	rs, rb := peakRSS(t, 100_000, 100, even), peakRSS(t, 1_000_000, 100, even)
	t.Logf("peak RSS %d KiB at 100,000 recipients, %d KiB at 1,000,000", rs, rb)
	if rb > rs+20*1024 || rb > 64*1024 {
		t.Errorf("peak RSS grew from %d KiB to %d KiB with the recipients", rs, rb)
	}
	// Most to one domain and every 100th to a domain of its own: those
	// wait in their batches to the end, and must hold nothing else of
	// the input (the Reader once kept whole blocks of R lines for them).
	rs, rb = peakRSS(t, 100_000, 100, writeSparse), peakRSS(t, 1_000_000, 100, writeSparse)
	t.Logf("sparse: peak RSS %d KiB at 100,000 recipients, %d KiB at 1,000,000", rs, rb)
	if rb > rs+20*1024 || rb > 64*1024 {
		t.Errorf("sparse: peak RSS grew from %d KiB to %d KiB with the recipients", rs, rb)
	}
	// Every recipient to a domain of its own, and -n as large as it
	// goes: the cap on pending recipients holds whatever N. (It was
	// 16 × N, which let the whole list wait; at 100,000 pending, these
	// take some 60 MiB, the heap's headroom included.)
	own := func(w io.Writer, n int) error { return writeBig(w, n, n) }
	// -n 1, every domain filling batches: the domains that did are
	// kept to the end of the record only where small ones go together,
	// and at most bigMax of them (a review, R49: 231 MB at 2,000,000
	// recipients). (At -n 2 the same record is small domains, pending
	// up to the cap, as the last case below.)
	rs, rb = peakRSS(t, 100_000, 1, own), peakRSS(t, 1_000_000, 1, own)
	t.Logf("-n 1, a domain each: peak RSS %d KiB at 100,000 recipients, %d KiB at 1,000,000", rs, rb)
	if rb > rs+20*1024 || rb > 64*1024 {
		t.Errorf("-n 1: peak RSS grew from %d KiB to %d KiB with the domains", rs, rb)
	}
	rb = peakRSS(t, 1_000_000, highestMax, own)
	t.Logf("a domain each, -n %d: peak RSS %d KiB at 1,000,000 recipients", highestMax, rb)
	if rb > 96*1024 {
		t.Errorf("a domain each: peak RSS %d KiB at 1,000,000 recipients", rb)
	}
}

// TestFileInput: from a regular file (a queue item), where a large
// message is read again from the input rather than spooled, the output
// is the same bytes as from a pipe: messages below, around and above the
// spool's limits, lines split into ";" pieces, no final LF, and an input
// that does not start at offset 0.
func TestFileInput(t *testing.T) {
	var in bytes.Buffer
	w := stream.NewWriter(&in)
	for i, size := range []int{100, 64<<10 - 200, 64 << 10, 64<<10 + 1, 200 << 10, 1<<20 + 5000, 3 << 20, 10} {
		h := &stream.Header{ID: "big", Sender: stream.Path{Mailbox: "s@example.org"}}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, size)
		for k := range msg {
			msg[k] = "abc\n:;R E"[(k*k+i)%9]
		}
		if i == 5 {
			copy(msg[1000:], bytes.Repeat([]byte{'L'}, 100<<10)) // a ";" piece and its rest
		}
		w.Write(msg)
		for k := 0; k < 30; k++ {
			w.Recipient(stream.Path{Mailbox: fmt.Sprintf("r%d@d%d.example", k, k%7)})
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 10
	var want bytes.Buffer
	if err := run(&args{MaxRcpt: &n}, bytes.NewReader(in.Bytes()), &want); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "item")
	if err := os.WriteFile(name, append([]byte("not the stream\n"), in.Bytes()...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(len("not the stream\n")), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	// No temporary file: where one would be needed, the run fails.
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "none"))
	var got bytes.Buffer
	if err := run(&args{MaxRcpt: &n}, f, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("from a file: %d octets, from a pipe: %d, not the same", got.Len(), want.Len())
	}
	if rcpts, _, err := check(bytes.NewReader(got.Bytes()), n); err != nil || rcpts != 8*30 {
		t.Fatalf("%d recipients, %v", rcpts, err)
	}
	// From a file to a file or a pipe, where a large message goes by
	// sendfile (TestSendfile in lib/spool shows it does), the same.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []struct {
		name string
		w    *os.File
		read func() ([]byte, error)
	}{
		{"a pipe", pw, func() ([]byte, error) { return io.ReadAll(pr) }},
		{"a file", out, func() ([]byte, error) { return os.ReadFile(out.Name()) }},
	} {
		if _, err := f.Seek(int64(len("not the stream\n")), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		type result struct {
			b   []byte
			err error
		}
		c := make(chan result, 1)
		if to.w == pw {
			go func() { b, err := to.read(); c <- result{b, err} }()
		}
		err := run(&args{MaxRcpt: &n}, f, to.w)
		to.w.Close()
		if to.w != pw {
			b, err := to.read()
			c <- result{b, err}
		}
		res := <-c
		if err != nil || res.err != nil || !bytes.Equal(res.b, want.Bytes()) {
			t.Fatalf("from a file to %s: %d octets of %d; %v, %v", to.name, len(res.b), want.Len(), err, res.err)
		}
	}
	pr.Close()
}

// TestNoCopyEach: a record's recipients are copied into their batches'
// buffers, used again from batch to batch, not each into memory of its
// own: a record of 10,000 recipients in 10 domains, split in 100
// batches, takes far fewer allocations than it has recipients; split
// one a record (-p), it takes a few for each record, none for the
// recipient.
func TestNoCopyEach(t *testing.T) {
	h, msg := mlmtest.Message(t, stream.NewReader(bytes.NewReader(mlmtest.Posts(t, 1))))
	var ps []stream.Path
	for i := range 10_000 {
		ps = append(ps, stream.Path{Mailbox: fmt.Sprintf("m%07d@d%d.example", i, i%10)})
	}
	var in bytes.Buffer
	if err := stream.WriteRecord(&in, h, strings.NewReader(msg), ps); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	split := func() {
		out.Reset()
		if err := run(&args{}, bytes.NewReader(in.Bytes()), &out); err != nil {
			t.Fatal(err)
		}
	}
	split()
	if n := bytes.Count(out.Bytes(), []byte("\nR <")); n != len(ps) {
		t.Fatalf("%d recipients out of %d", n, len(ps))
	}
	if n := testing.AllocsPerRun(3, split); n > 1000 {
		t.Errorf("%v allocations for a record of %d recipients; want at most 1,000", n, len(ps))
	}
	// With -p, a record each: its id and attributes, and no slice of
	// one recipient made anew for each (it was a fourth allocation).
	personal := func() {
		out.Reset()
		if err := run(&args{Personal: true}, bytes.NewReader(in.Bytes()), &out); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(3, personal); n > 3*float64(len(ps)) {
		t.Errorf("-p: %v allocations for a record of %d recipients; want at most 3 a recipient", n, len(ps))
	}
}
