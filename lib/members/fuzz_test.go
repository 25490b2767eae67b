package members

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/sysexit"
)

// FuzzRead: whatever mlm-sub or mlm-unsub is given on standard input,
// Read takes all of it or none (65). Every address it takes is a member
// (addr.CheckMember) that a member file holds as it is: written one a
// line, the file reads back (Each) as those addresses, in order, no
// line skipped, none read as a comment or as another address. The same
// lines given as arguments are taken or refused alike. An error names
// at most three lines and stays short, however long they are.
func FuzzRead(f *testing.F) {
	f.Add("alice@example.org\n# a comment\n\n  Bob@Example.NET \r\n")
	f.Add("not an address\nx@y\n")
	f.Add("\ufeffalice@example.org\n\ufeffbob@example.org\n")
	f.Add("\"a b\"@example.org\n\"#x\"@example.org\na\u00a0b@example.org\n")
	f.Add("a@[127.0.0.1]\nb@xn--bcher-kva.example\nc@bücher.example\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Read(nil, strings.NewReader(in))
		if err != nil {
			if c := sysexit.Code(err); c != sysexit.DataErr {
				t.Fatalf("Read(%q): %v (%d); want 65", in, err, c)
			}
			if len(err.Error()) > 6000 {
				t.Errorf("Read(%q): an error of %d octets", in, len(err.Error()))
			}
		}
		// The items, as a member file's reader takes them.
		var items []string
		long := false
		if lerr := listdir.EachLineN(strings.NewReader(in), "in", func(_ int, s string) error {
			items = append(items, s)
			return nil
		}); lerr != nil {
			long = true
		}
		if long {
			if err == nil {
				t.Fatalf("Read(%q) = %q; want a long line refused", in, got)
			}
			return
		}
		if len(items) > 0 { // (none: Read reads standard input)
			args, aerr := Read(items, nil)
			if (aerr == nil) != (err == nil) || err == nil && !slices.Equal(args, got) {
				t.Errorf("Read(%q) = %q, %v; as arguments %q, %v", in, got, err, args, aerr)
			}
		}
		if err != nil {
			return
		}
		if !slices.Equal(got, items) {
			t.Fatalf("Read(%q) = %q; want every item, %q", in, got, items)
		}
		for _, a := range got {
			if err := addr.CheckMember(a); err != nil {
				t.Errorf("Read(%q) took %q: %v", in, a, err)
			}
		}
		d := list(t, map[string]string{listdir.Subscribers: strings.Join(got, "\n") + "\n"})
		back, bad := all(t, d, listdir.Subscribers)
		if len(got) == 0 {
			back = nil
		}
		if !slices.Equal(back, got) || len(bad) > 0 {
			t.Errorf("Read(%q) = %q; written to a member file they read as %q, bad lines %v", in, got, back, bad)
		}
	})
}

// FuzzChange: whatever a member file holds, a change of addresses that
// Read takes (mlm-sub's and mlm-unsub's) leaves a file whose members
// (Each, Contains) are those before, less the removed, with the added;
// every line not removed is kept, in order, comments and bad lines too
// (the bad lines made comments where a removal left no address);
// the counts say how many were added and removed; and the same change
// again changes nothing, not one octet. A change that fails leaves the
// file as it was.
func FuzzChange(f *testing.F) {
	f.Add("# members\nalice@example.org\n\nnot an address\nBob@Example.NET\n", "carol@example.com\nBob@example.net\ncarol@EXAMPLE.com", "alice@EXAMPLE.org")
	f.Add("\ufeffalice@example.org\r\nbob@example.org\r\n", "alice@example.org", "bob@example.org")
	f.Add("bob@example.org\n\ufeffalice@example.org\nca\u00a0rol@example.org\n", "\"ca\u00a0rol\"@example.org", "bob@example.org")
	f.Add("only bad\n", "a@example.org", "")
	f.Add("bob@eXAmple.org\n0", "", "bob@example.org")
	f.Add("", "", "a@example.org")
	f.Add("a@example.org", "\"a\"@Example.Org\nb@x", "b@X")
	f.Fuzz(func(t *testing.T, file, add, remove string) {
		checked := func(s string) []string {
			var as []string
			for a := range strings.SplitSeq(s, "\n") {
				if got, err := Read([]string{a}, nil); err == nil {
					as = append(as, got...)
				}
			}
			return as
		}
		adds, removes := checked(add), checked(remove)
		d := list(t, map[string]string{listdir.Subscribers: file})
		before, _ := lines(t, d)
		old, oerr := members(d)
		added, removed, err := Change(d, listdir.Subscribers, adds, removes)
		after, raw := lines(t, d)
		if err != nil || oerr != nil {
			// A long line, or no line an address: the members are not
			// known, and the file stays as it is.
			if err == nil || raw != file || sysexit.Code(err) != sysexit.TempFail || oerr == nil && len(old) > 0 {
				t.Fatalf("Change(%q, +%q, -%q) = %v; the file read %q, %v, and is now %q", file, adds, removes, err, old, oerr, raw)
			}
			return
		}
		rm := map[string]bool{}
		for _, a := range removes {
			rm[addr.Key(a)] = true
		}
		// Members.
		want := map[string]bool{}
		for _, m := range old {
			if !rm[addr.Key(m)] {
				want[addr.Key(m)] = true
			}
		}
		wantAdded := 0
		for _, a := range adds {
			if k := addr.Key(a); !rm[k] && !want[k] {
				want[k] = true
				wantAdded++
			}
		}
		now, nerr := members(d)
		if nerr != nil {
			t.Fatalf("Change(%q, +%q, -%q) made a file Each cannot read: %v", file, adds, removes, nerr)
		}
		got := map[string]bool{}
		for _, m := range now {
			got[addr.Key(m)] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("Change(%q, +%q, -%q): members %q (file %q); want the keys %v", file, adds, removes, now, raw, want)
		}
		for _, a := range append(slices.Clone(adds), removes...) {
			if ok, err := Contains(d, listdir.Subscribers, a); err != nil || ok != want[addr.Key(a)] {
				t.Errorf("Change(%q, +%q, -%q): Contains(%q) = %v, %v; want %v", file, adds, removes, a, ok, err, want[addr.Key(a)])
			}
		}
		if added != wantAdded {
			t.Errorf("Change(%q, +%q, -%q) added %d; want %d", file, adds, removes, added, wantAdded)
		}
		// Lines: those not removed, in order, then the added. An
		// address removed is counted once, however many lines held it.
		var kept []string
		gone := map[string]bool{}
		for _, l := range before {
			if it, ok := listdir.Item([]byte(l)); ok && rm[addr.Key(string(it))] {
				gone[addr.Key(string(it))] = true
				continue
			}
			kept = append(kept, l)
		}
		// The last address removed, the lines left that are items, all
		// bad, are made comments (commentBad).
		commented := len(gone) > 0 && len(now) == 0
		if removed != len(gone) {
			t.Errorf("Change(%q, +%q, -%q) removed %d; want %d", file, adds, removes, removed, len(gone))
		}
		rest := after
		for _, l := range kept {
			if len(rest) > 0 && rest[0] == "" && l != "" && strings.HasPrefix(l, listdir.BOM) {
				rest = rest[1:] // the blank line that keeps a mark from the file's start
			}
			want := l
			if _, ok := listdir.Item([]byte(l)); ok && commented {
				want = "# " + l
			}
			// (A line's CR before its LF is dropped, as ScanLines
			// drops it: "x\r\r" is written "x\r\n", and read "x".)
			if len(rest) == 0 || strings.TrimRight(rest[0], "\r") != strings.TrimRight(want, "\r") {
				t.Fatalf("Change(%q, +%q, -%q) = %q; line %q lost or moved", file, adds, removes, raw, want)
			}
			rest = rest[1:]
		}
		if len(rest) != added {
			t.Errorf("Change(%q, +%q, -%q) = %q; %d lines after those kept, %d added", file, adds, removes, raw, len(rest), added)
		}
		// Again: nothing to do, whatever the change left.
		a2, r2, err := Change(d, listdir.Subscribers, adds, removes)
		if _, raw2 := lines(t, d); a2 != 0 || r2 != 0 || err != nil || raw2 != raw {
			t.Errorf("Change(%q, +%q, -%q) again = %d, %d, %v, file %q; want nothing changed, %q", file, adds, removes, a2, r2, err, raw2, raw)
		}
	})
}

// members returns the members of d's subscribers, or Each's error.
func members(d *listdir.Dir) ([]string, error) {
	var ms []string
	err := Each(d, listdir.Subscribers, func(m string) error { ms = append(ms, m); return nil }, nil)
	return ms, err
}

// lines returns the lines of d's subscribers as Change reads them, and
// the file; none if it is not there.
func lines(t *testing.T, d *listdir.Dir) ([]string, string) {
	t.Helper()
	b, err := os.ReadFile(d.File(listdir.Subscribers))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var ls []string
	sc := listdir.ScanLines(strings.NewReader(string(b)))
	for sc.Scan() {
		ls = append(ls, sc.Text())
	}
	if sc.Err() != nil {
		return nil, string(b) // a long line: Change refuses it
	}
	return ls, string(b)
}
