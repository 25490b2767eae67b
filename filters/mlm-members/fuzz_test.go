package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/mlmtest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzSubscribers: whatever the subscribers file holds, mlm-members
// sends a post to each of its mailboxes once (the first spelling of
// each), in order, and to nothing else: a line that is no mailbox, or
// an address of the list itself, is left out with a line on standard
// error that names its line, not its address.
func FuzzSubscribers(f *testing.F) {
	f.Add("a@example.org\n# c\n\n  b@example.org  \nA@EXAMPLE.ORG\na@Example.org\nbad\r\ndev-owner@lists.example.org\n")
	f.Add("x@y\x00z\n\"q r\"@example.org\n<a@example.org>\n")
	f.Fuzz(func(t *testing.T, file string) { checkSubscribers(t, "dev@lists.example.org", file) })
}

// TestManySubscribers is FuzzSubscribers' check on member files of
// thousands: members go to the set of those written in batches
// (addr.KeySet's AddAll), and a member's repeat, in other case or
// the same, comes in the same batch, the next or far later. Both ways a
// file is read: kept whole (up to members.SmallFile), and read again
// for each record.
func TestManySubscribers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// The list's domain is in upper case once: members are told from
	// its own addresses by their domains, lowered.
	own := []string{"dev@lists.example.org", "DEV-owner@LISTS.example.org", `"dev-request"@Lists.Example.Org`, "dev@lists.example.org.example", "dev@sub.lists.example.org"}
	for _, list := range []string{"dev@lists.example.org", "dev@Lists.EXAMPLE.org"} {
		for _, n := range []int{3000, 80_000} {
			var sb strings.Builder
			for i := range n {
				m := fmt.Sprintf("m%d@d%d.example", rng.IntN(n), i%7)
				switch k := rng.IntN(100); {
				case k < 10:
					m = strings.ToUpper(m) // the same key as m in lower case only by its domain
				case k < 20:
					m = "bad address"
				case k < 21:
					m = own[rng.IntN(len(own))]
				}
				sb.WriteString(m + "\n")
			}
			file := sb.String()
			if n > 10_000 && len(file) <= members.SmallFile {
				t.Fatalf("%d members, %d octets: kept whole; the test wants a file read again", n, len(file))
			}
			checkSubscribers(t, list, file)
		}
	}
}

// checkSubscribers runs mlm-members on a post to a list whose
// subscribers file is file, and checks what it writes against what it
// should.
func checkSubscribers(t *testing.T, list, file string) {
	{
		dir := mlmtest.ListDir(t, map[string]string{"address": list + "\n"})
		if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		var in, out, stderr bytes.Buffer
		h := &stream.Header{ID: "r", Sender: stream.Path{Mailbox: "poster@example.net"}}
		if err := stream.WriteRecord(&in, h, strings.NewReader("Subject: x\n\nhi\n"), nil); err != nil {
			t.Fatal(err)
		}
		var want []string
		seen := map[string]bool{}
		bad, notAddr := 0, 0 // lines told on standard error; of them, those no address
		var quoted []string  // bad lines that look like addresses
		for _, line := range strings.Split(file, "\n") {
			m := strings.TrimSpace(line)
			switch {
			case m == "" || m[0] == '#':
			case addr.CheckMailbox(m) != nil || envelope.Own(list, m):
				bad++
				if addr.CheckMailbox(m) != nil {
					notAddr++
				}
				if strings.Contains(m, "@") && len(m) >= 5 {
					quoted = append(quoted, m)
				}
			case !seen[addr.Key(m)]:
				seen[addr.Key(m)] = true
				want = append(want, m)
			}
		}
		// Lines, and not one an address: the file is not read as it
		// should be, and the post waits.
		onlyBad := notAddr > 0 && notAddr == bad && len(want) == 0
		if err := run(dir, "subscribers", &in, &out, &stderr); err != nil {
			// A line of 1 MiB or more is the only other failure (a
			// line's LF counts: one octet less is near enough).
			long := slices.ContainsFunc(strings.Split(file, "\n"), func(l string) bool { return len(l) >= listdir.MaxItemLine-1 })
			if !long && !(onlyBad && sysexit.Code(err) == sysexit.TempFail) {
				t.Fatalf("run: %v", err)
			}
			return
		}
		if onlyBad {
			t.Fatalf("no line of %q is an address, and the post went to no one, exit 0", file)
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
	}
}
