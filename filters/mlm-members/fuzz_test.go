package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/envelope"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
)

// FuzzSubscribers: whatever the subscribers file holds, mlm-members
// sends a post to each of its mailboxes once (the first spelling of
// each), in order, and to nothing else: a line that is no mailbox, or
// an address of the list itself, is left out with a line on standard
// error that names its line, not its address.
func FuzzSubscribers(f *testing.F) {
	f.Add("a@example.org\n# c\n\n  b@example.org  \nA@EXAMPLE.ORG\na@Example.org\nbad\r\ndev-owner@lists.example.org\n")
	f.Add("x@y\x00z\n\"q r\"@example.org\n<a@example.org>\n")
	f.Fuzz(func(t *testing.T, file string) {
		dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
		if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		var in, out, stderr bytes.Buffer
		h := &stream.Header{ID: "r", Sender: stream.Path{Mailbox: "poster@example.net"}}
		if err := stream.WriteRecord(&in, h, strings.NewReader("Subject: x\n\nhi\n"), nil); err != nil {
			t.Fatal(err)
		}
		if err := run(dir, "subscribers", &in, &out, &stderr); err != nil {
			if len(file) < 1<<20 { // a line of 1 MiB or more is the only failure
				t.Fatalf("run: %v", err)
			}
			return
		}
		var want []string
		seen := map[string]bool{}
		bad := 0
		var quoted []string // bad lines that look like addresses
		for _, line := range strings.Split(file, "\n") {
			m := strings.TrimSpace(line)
			switch {
			case m == "" || m[0] == '#':
			case addr.CheckMailbox(m) != nil || envelope.Own("dev@lists.example.org", m):
				bad++
				if strings.Contains(m, "@") && len(m) >= 5 {
					quoted = append(quoted, m)
				}
			case !seen[addr.Key(m)]:
				seen[addr.Key(m)] = true
				want = append(want, m)
			}
		}
		r := stream.NewReader(&out)
		mlmtest.Message(t, r)
		var got []string
		if err := r.EachRecipient(func(p stream.Path) error { got = append(got, p.Mailbox); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("recipients %q; want %q", got, want)
		}
		if n := strings.Count(stderr.String(), "\n"); n != bad {
			t.Errorf("%d lines on standard error for %d left out: %q", n, bad, stderr.String())
		}
		for _, m := range quoted {
			if strings.Contains(stderr.String(), m) {
				t.Errorf("standard error %q names %q", stderr.String(), m)
			}
		}
		for _, l := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
			if bad > 0 && (!strings.HasPrefix(l, "mlm-members: subscribers: ") || !strings.HasSuffix(l, "; skipped")) {
				t.Errorf("standard error line %q", l)
			}
		}
	})
}
