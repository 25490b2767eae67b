package main

import (
	"fmt"
	"testing"

	"mlm/lib/stream"
)

// TestBatcherCapBigPending: past the cap, when the pending recipients
// are mostly big domains' part-full batches, the small domains' go
// together only once there are a record's worth of them: a flush of
// the one new small batch each time was a record a small domain again,
// each after a scan of every open batch (a review, R51: 105,000 records
// in 3.95 s where 6,000 took 0.51). (A cap of 1,000 and N of 10 stand
// for 100,000 and 100.)
func TestBatcherCapBigPending(t *testing.T) {
	nrec, tailRec := 0, 0
	tail := false
	b := newBatcher(10, 1000, func(rc []stream.Path) error {
		nrec++
		if tail {
			tailRec++
		}
		return nil
	})
	add := adder(t, b, 10)
	for d := range 250 { // 250 domains fill a batch each (marked big)...
		for i := range 10 {
			add(fmt.Sprintf("m%d@big%d.example", i, d))
		}
	}
	for d := range 250 { // ...then have 4 more each pending: 1,000 in all
		for i := 10; i < 14; i++ {
			add(fmt.Sprintf("m%d@big%d.example", i, d))
		}
	}
	tail = true
	for i := range 1000 { // then 1,000 small domains of one member
		add(fmt.Sprintf("m@s%d.example", i))
	}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	if tailRec > 2*1000/10+250 {
		t.Errorf("1,000 one-member domains after 250 big ones' 1,000 pending (N 10, cap 1,000): %d records from the tail on (%d in all); want 450 at most (the 250 big remainders, and the tail some N a record)", tailRec, nrec)
	}
}

// TestBatcherBigByDomain: b.big counts domains, not batch keys: a
// domain with a full ASCII batch and a full UTF-8 one took two of its
// 16,384, so that past 8,192 such domains a domain that filled a batch
// was grouped, and the UTF-8 rest of a domain whose ASCII batch was
// written went with others (a review, R51).
func TestBatcherBigByDomain(t *testing.T) {
	var last []string
	b := newBatcher(2, 1_000_000, func(rc []stream.Path) error {
		last = last[:0]
		for _, p := range rc {
			last = append(last, p.Mailbox)
		}
		return nil
	})
	add := adder(t, b, 2)
	for d := range bigMax / 2 {
		add(fmt.Sprintf("a@d%d.example", d))
		add(fmt.Sprintf("b@d%d.example", d))
		add(fmt.Sprintf("\u00f6@d%d.example", d))
		add(fmt.Sprintf("\u00fc@d%d.example", d))
	}
	for _, m := range []string{"z1@z.example", "z2@z.example", "z3@z.example", "y1@y.example"} {
		add(m)
	}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	if len(last) != 1 {
		t.Errorf("after %d domains a batch of which was written (%d keys in big), z.example filled one and went with y.example: %q; mlm-split(1): past 16,384 domains", bigMax/2, len(b.big), last)
	}
}

// adder readies b for a record with d domains a record of small ones,
// and returns a function that adds a recipient to it.
func adder(t *testing.T, b *batcher, d int) func(m string) {
	b.domains = d
	b.reset()
	return func(m string) {
		t.Helper()
		if err := b.add(stream.Path{Mailbox: m}); err != nil {
			t.Fatal(err)
		}
	}
}
