package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
)

// TestFromCache: the From values whose addresses are remembered across
// records are short ones only, so the cache's memory is bounded by size
// as well as count; a long one is read each time all the same.
func TestFromCache(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "policy": "open\n"}))
	if err != nil {
		t.Fatal(err)
	}
	l := &list{d: d, policy: "open", in: map[string]*members.Memo{}, from: map[string][]string{}}
	long := strings.TrimSuffix(strings.Repeat("b@example.org,\n ", 100), ",\n ")
	br := bufio.NewReaderSize(nil, 64<<10)
	for _, from := range []string{"a@example.org", long, long} {
		var in bytes.Buffer
		err := stream.WriteRecord(&in, &stream.Header{ID: "r", Sender: stream.Path{Mailbox: "x@example.net"}},
			strings.NewReader("From: "+from+"\nSubject: x\n\nbody\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := stream.NewReader(&in)
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.read(br, r, h)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Count(from, "@") + 1; len(p.posters) != want {
			t.Errorf("From of %d octets: %d posters; want %d", len(from), len(p.posters), want)
		}
	}
	if _, ok := l.from["a@example.org"]; !ok || len(l.from) != 1 {
		t.Errorf("cached %d From values; want only the short one", len(l.from))
	}
}
