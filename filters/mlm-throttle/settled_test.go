package main

import (
	"os"
	"path/filepath"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
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
		s, err := th.settledOf(h)
		if err != nil {
			t.Fatal(err)
		}
		if s.Has(addr.Key("a@x.example")) != c.wantA || !s.Has(addr.Key("b@x.example")) {
			t.Errorf("journal-from %q: a settled %v, b %v; want %v, true", c.from, s.Has(addr.Key("a@x.example")), s.Has(addr.Key("b@x.example")), c.wantA)
		}
	}
}
