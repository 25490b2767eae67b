package main

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/stream"
)

// FuzzSplit: whatever a record's message, sender and recipients, and
// whatever N and mode, mlm-split writes records "ID,1", "ID,2", … each
// with the message byte for byte, the attributes but "parent" and then
// "parent=ID" (and with -v "verp=yes"), the sender as it was, at most N
// recipients (one with -p), of one domain or of at most D domains each
// of which is in no other record (below the cap on pending recipients,
// which these records do not reach), which together are the record's
// recipients, each once, in their order within a domain.
func FuzzSplit(f *testing.F) {
	f.Add("Subject: x\n\nbody\n", "list-bounces@lists.example.org", "a b c d e f g", uint8(2), uint8(0))
	f.Add("x", "", "a a a", uint8(1), uint8(2))
	f.Add("x\n", "l@example.org", "a b c d", uint8(0), uint8(0))
	f.Add("", "\"q\"@example.org", "", uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, m, sender, locals string, n, mode uint8) {
		max := int(n%5) + 1
		a := &args{MaxRcpt: &max, Personal: mode%3 == 1, VERP: mode%3 == 2}
		domains := max // D: -d, or N
		if d := int(mode/3) % 4; d > 0 {
			a.MaxDomains, domains = &d, min(d, max)
		}
		inRecords := map[string]int{} // domain -> the records it is in
		var mixed [][]string          // the domains of each record of several
		filled := map[string]bool{}   // addr.Domain of each batch written full
		var rcpts []stream.Path
		for i, l := range strings.Fields(locals) {
			rcpts = append(rcpts, stream.Path{Mailbox: l + "@" + string(rune('a'+i%3)) + ".example"})
		}
		h := &stream.Header{ID: "r", Attrs: []stream.Attr{{Name: "x-a", Value: "1"}, {Name: "parent", Value: "p"}},
			Sender: stream.Path{Mailbox: sender}}
		var in, out bytes.Buffer
		if err := stream.WriteRecord(&in, h, strings.NewReader(m), rcpts); err != nil {
			t.Skip(err) // not a valid record to begin with
		}
		if err := run(a, &in, &out); err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(&out)
		var got []stream.Path
		for i := 1; ; i++ {
			oh, err := r.Next()
			if err == io.EOF && i > 1 {
				break
			}
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			msg, err := io.ReadAll(r.Message())
			if err != nil {
				t.Fatal(err)
			}
			want := "r," + strconv.Itoa(i)
			if len(rcpts) == 0 {
				want = "r" // a record without recipients goes on as it was
			}
			if oh.ID != want || string(msg) != m {
				t.Fatalf("record %d: id %q, message %q; want %q, %q", i, oh.ID, msg, want, m)
			}
			var these []stream.Path
			if err := r.EachRecipient(func(p stream.Path) error { these = append(these, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(rcpts) == 0 {
				if len(these) != 0 || !slices.EqualFunc(oh.Attrs, h.Attrs, sameAttr) || oh.Sender.Mailbox != sender {
					t.Fatalf("a record without recipients became %+v, %v", oh, these)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("after it: %v", err)
				}
				break
			}
			limit := max
			if a.Personal {
				limit = 1
			}
			if len(these) == 0 || len(these) > limit {
				t.Fatalf("record %d: %d recipients; want 1 to %d", i, len(these), limit)
			}
			var ds []string
			for _, p := range these {
				if d := batchKey(p.Mailbox); !slices.Contains(ds, d) {
					ds = append(ds, d)
					inRecords[d]++
				}
			}
			if len(ds) == 1 && len(these) == max {
				filled[addr.Domain(these[0].Mailbox)] = true
			}
			if len(ds) > 1 {
				if len(ds) > domains {
					t.Fatalf("record %d: recipients of %d domains, over %d: %v", i, len(ds), domains, these)
				}
				mixed = append(mixed, ds)
			}
			wantAttrs := []stream.Attr{{Name: "x-a", Value: "1"}, {Name: "parent", Value: "r"}}
			wantSender := sender
			if a.VERP {
				wantAttrs = append(wantAttrs, stream.Attr{Name: "verp", Value: "yes"})
			}
			if oh.Sender.Mailbox != wantSender || !slices.EqualFunc(oh.Attrs, wantAttrs, sameAttr) {
				t.Fatalf("record %d: sender %q, attributes %v; want %q, %v", i, oh.Sender.Mailbox, oh.Attrs, wantSender, wantAttrs)
			}
			got = append(got, these...)
		}
		if len(rcpts) == 0 {
			return
		}
		// Each domain's recipients in their order, all of them once.
		for _, d := range []string{"a.example", "b.example", "c.example", utf8Key + "a.example", utf8Key + "b.example", utf8Key + "c.example"} {
			of := func(ps []stream.Path) (ms []string) {
				for _, p := range ps {
					if batchKey(p.Mailbox) == d {
						ms = append(ms, p.Mailbox)
					}
				}
				return ms
			}
			if g, w := of(got), of(rcpts); !slices.Equal(g, w) {
				t.Fatalf("%s: recipients %v; want %v", d, g, w)
			}
		}
		if len(got) != len(rcpts) {
			t.Fatalf("%d recipients written of %d", len(got), len(rcpts))
		}
		// A domain in a record of several filled no batch: all its
		// recipients are in that record.
		for _, ds := range mixed {
			for _, d := range ds {
				if inRecords[d] != 1 {
					t.Fatalf("%s: in a record of domains %v, and in %d records in all", d, ds, inRecords[d])
				}
				// Nor did its other batch, ASCII or not (mlm-split(1):
				// a domain a batch of which was written goes alone).
				if dom := strings.TrimPrefix(d, utf8Key); filled[dom] {
					t.Fatalf("%q: in a record of domains %q, though a batch of %s was written full", d, ds, dom)
				}
			}
		}
	})
}

// batchKey is m's batch (a review, R51): its domain, its ASCII
// addresses apart from its others, each "a domain" above.
func batchKey(m string) string {
	if ascii.Is(m) {
		return addr.Domain(m)
	}
	return utf8Key + addr.Domain(m)
}

func sameAttr(x, y stream.Attr) bool { return x.Name == y.Name && x.Value == y.Value }
