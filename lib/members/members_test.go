package members

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/pipeline"
	"mlm/lib/sysexit"
)

func list(t *testing.T, files map[string]string) *listdir.Dir {
	t.Helper()
	dir := t.TempDir()
	files["address"] = "dev@lists.example.org\n"
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := listdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func all(t *testing.T, d *listdir.Dir, name string) (got []string, bad []int) {
	t.Helper()
	err := Each(d, name, func(m string) error { got = append(got, m); return nil },
		func(_ string, line int, _ error) { bad = append(bad, line) })
	if err != nil {
		t.Fatal(err)
	}
	return got, bad
}

func TestEachAndChange(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "# members\nalice@example.org\n\nnot an address\nBob@Example.NET\n"})
	got, bad := all(t, d, listdir.Subscribers)
	if strings.Join(got, " ") != "alice@example.org Bob@Example.NET" || fmt.Sprint(bad) != "[4]" {
		t.Fatalf("Each = %v, bad lines %v", got, bad)
	}
	added, removed, err := Change(d, listdir.Subscribers, []string{"carol@example.com", "Bob@example.net", "carol@EXAMPLE.com"}, []string{"alice@EXAMPLE.org"})
	if err != nil || added != 1 || removed != 1 {
		t.Fatalf("Change = %d, %d, %v; want 1, 1", added, removed, err)
	}
	b, _ := os.ReadFile(d.File(listdir.Subscribers))
	if string(b) != "# members\n\nnot an address\nBob@Example.NET\ncarol@example.com\n" {
		t.Errorf("file after Change:\n%s", b)
	}
	if ok, _ := Contains(d, listdir.Subscribers, "Bob@example.NET"); !ok {
		t.Errorf("Contains(Bob@example.NET) = false")
	}
	if ok, _ := Contains(d, listdir.Subscribers, "bob@example.net"); !ok {
		t.Errorf("Contains(bob@example.net) = false; a local part's case makes no other member")
	}
	// Quotes that add nothing make no other member.
	if ok, _ := Contains(d, listdir.Subscribers, `"Bob"@example.net`); !ok {
		t.Errorf(`Contains("Bob"@example.net) = false`)
	}
	added, removed, err = Change(d, listdir.Subscribers, []string{`"carol"@example.com`}, []string{`"B\ob"@example.net`})
	if err != nil || added != 0 || removed != 1 {
		t.Fatalf("Change of quoted forms = %d, %d, %v; want 0, 1", added, removed, err)
	}
	// An address both added and removed is removed, in any spelling,
	// and not added.
	added, removed, err = Change(d, listdir.Subscribers, []string{"dave@example.com", "Carol@example.com"}, []string{"DAVE@example.com", "carol@EXAMPLE.com"})
	if err != nil || added != 0 || removed != 1 {
		t.Fatalf("Change adding and removing the same = %d, %d, %v; want 0, 1", added, removed, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "# members\n\n# not an address\n" {
		t.Errorf("file after Change adding and removing the same:\n%s", b)
	}
}

func TestCommand(t *testing.T) {
	d := list(t, map[string]string{"members-command": "printf\n%s\\n\nx@example.org\nbad\ny@example.org\n"})
	got, bad := all(t, d, listdir.Subscribers)
	if strings.Join(got, " ") != "x@example.org y@example.org" || len(bad) != 1 || bad[0] != 2 {
		t.Fatalf("Each = %v, bad lines %v; want line 2 of the output bad", got, bad)
	}
	var from string
	Each(d, listdir.Subscribers, func(string) error { return nil }, func(file string, _ int, _ error) { from = file })
	if from != "members-command output" {
		t.Errorf("a bad line of the command's output is named as from %q; want the output, not the file", from)
	}
	if _, _, err := Change(d, listdir.Subscribers, []string{"z@example.org"}, nil); sysexit.Code(err) != sysexit.Usage {
		t.Errorf("Change with a members-command = %v; want usage error", err)
	}
	failing := list(t, map[string]string{"members-command": "sh\n-c\necho a@b.org; exit 3\n"})
	err := Each(failing, listdir.Subscribers, func(string) error { return nil }, nil)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("failing command: %v; want a temporary error", err)
	}
}

// TestCommandDisinherits: the members-command has no descriptor of this
// process but its standard input, output and error, not even one it
// inherited without close-on-exec (the record's claim that mlm-run gives
// mlm-members as descriptor 3): a process the command leaves running
// would hold the record's lock, and every run skip the record. The
// command runs as a stage's would, after pipeline.Inherit. (From a
// review.)
func TestCommandDisinherits(t *testing.T) {
	claim, err := os.Create(filepath.Join(t.TempDir(), "claim"))
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	if err := pipeline.Inherit(claim); err != nil {
		t.Fatal(err)
	}
	d := list(t, map[string]string{"members-command": "sh\n-c\nfor f in /proc/self/fd/*; do case $(readlink $f) in */claim) echo held@example.org;; esac; done; echo x@example.org\n"})
	if got, bad := all(t, d, listdir.Subscribers); strings.Join(got, " ") != "x@example.org" || len(bad) != 0 {
		t.Errorf("Each = %v, bad lines %v; want x@example.org alone, not held@example.org, the claim's descriptor in the command", got, bad)
	}
}

// TestBigChange: 100,000 additions to a 1,000,000-member file.
func TestBigChange(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var b strings.Builder
	for i := 0; i < 1_000_000; i++ {
		fmt.Fprintf(&b, "member%d@example%d.org\n", i, i%100)
	}
	d := list(t, map[string]string{"subscribers": b.String()})
	var add []string
	for i := 950_000; i < 1_050_000; i++ {
		add = append(add, fmt.Sprintf("member%d@EXAMPLE%d.org", i, i%100))
	}
	added, _, err := Change(d, listdir.Subscribers, add, nil)
	if err != nil || added != 50_000 {
		t.Fatalf("Change = %d, %v; want 50000", added, err)
	}
}

func TestContainsAny(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "alice@example.org\nbob@example.net\n"})
	for _, tc := range []struct {
		addrs []string
		want  bool
	}{
		{[]string{"x@y.org", "bob@EXAMPLE.net"}, true},
		{[]string{"x@y.org", "Alice@example.org"}, true},
		{[]string{"x@y.org", "alicia@example.org"}, false},
		{nil, false},
	} {
		if got, err := Contains(d, listdir.Subscribers, tc.addrs...); got != tc.want || err != nil {
			t.Errorf("Contains(%v) = %v, %v; want %v", tc.addrs, got, err, tc.want)
		}
	}
}

// TestMemo: a Memo answers as Contains does, file by file in the order
// asked, reads a file only for mailboxes it has not seen there and no
// file past the first that holds one, and stays within MemoSize.
func TestMemo(t *testing.T) {
	d := list(t, map[string]string{
		"subscribers": "alice@example.org\nnot an address\nbob@Example.NET\n",
		"moderators":  "carol@example.org\n",
		"posters":     "bob@example.net\ndave@example.org\n",
	})
	m := NewMemo(d)
	files := []string{listdir.Moderators, listdir.Subscribers, listdir.Digest, listdir.Posters}
	for _, tc := range []struct {
		addrs []string
		want  int
	}{
		{[]string{"x@y.org", "bob@EXAMPLE.net"}, 1},
		{[]string{"x@y.org", "Alice@example.org"}, 1},
		{[]string{"x@y.org", "alicia@example.org"}, -1},
		{[]string{"alice@EXAMPLE.org"}, 1},
		{[]string{"carol@EXAMPLE.org", "alice@example.org"}, 0},
		{[]string{"dave@EXAMPLE.org"}, 3},
		{[]string{"not an address"}, -1},
		{nil, -1},
	} {
		for range 2 { // the second time from memory
			if got, err := m.First(tc.addrs, files...); got != tc.want || err != nil {
				t.Errorf("First(%v) = %v, %v; want %v", tc.addrs, got, err, tc.want)
			}
			for i, f := range files {
				want, _ := Contains(d, f, tc.addrs...)
				if got, err := m.First(tc.addrs, f); (got == 0) != want || err != nil {
					t.Errorf("First(%v, %s) = %v, %v; Contains: %v", tc.addrs, files[i], got, err, want)
				}
			}
		}
	}
	// Only what is not known is read: carol was found among the
	// moderators, so nothing is read for her, and erin was looked up
	// in every file; frank, behind carol, never was.
	for _, f := range files {
		os.Remove(d.File(f))
	}
	if i, err := m.First([]string{"carol@EXAMPLE.org", "frank@example.org"}, files...); i != 0 || err != nil {
		t.Errorf("a mailbox found before: %v, %v", i, err)
	}
	if i, err := m.First([]string{"x@y.org", "alice@EXAMPLE.org"}, files...); i != 1 || err != nil {
		t.Errorf("mailboxes looked up before: %v, %v", i, err)
	}
	for i := range MemoSize + 10 {
		m.First([]string{fmt.Sprintf("m%d@example.org", i)}, listdir.Subscribers)
	}
	if len(m.in) > MemoSize {
		t.Errorf("Memo holds %d mailboxes, over %d", len(m.in), MemoSize)
	}
	for i := range maxMemoFiles + 1 {
		_, err := m.First([]string{"a@b.org"}, fmt.Sprintf("f%d", i))
		if (err != nil) != (i >= maxMemoFiles-len(files)) {
			t.Fatalf("file %d: %v", i, err)
		}
	}
}

func TestAppendKey(t *testing.T) {
	for _, m := range []string{"a@b.org", "Al.Ice@EXAMPLE.Org", "x@ÉCOLE.fr", "A@B@C.ORG", "no-at", "@", `"bob"@X.org`, `"a b"@X.org`,
		"a@xn--bcher-kva.example", "a@XN--bcher-kva.example", "a@b.xn--p1ai", "a@axn--b.org",
		"a@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org", "a@\u212Aexample.org", "a@bu\u0308cher.example", "ÄRZTE@x.de", "\u212Aey@x.org",
		// IPv6 literals, keyed as RFC 5952 writes them (a review: the
		// key of a line so spelt was not a member's).
		"bob@[IPv6:2001:DB8:0:0::1]", "bob@[IPv6:0:0:0:0:0:0:0:1]", "bob@[IPv6:2001:db8::1]", "bob@[192.0.2.1]"} {
		if got := string(appendKey([]byte("junk"), []byte(m))); got != "junk"+addr.Key(m) {
			t.Errorf("appendKey(%q) = %q; want %q", m, got[4:], addr.Key(m))
		}
	}
}

// sourceAll is all, through a Source; it keeps a copy of each address,
// as Each's lasts only until the next.
func sourceAll(t *testing.T, s *Source) (got []string, bad []int) {
	t.Helper()
	err := s.Each(func(m string) error { got = append(got, strings.Clone(m)); return nil },
		func(_ string, line int, _ error) { bad = append(bad, line) })
	if err != nil {
		t.Fatal(err)
	}
	return got, bad
}

// TestSource: a Source gives what Each gives, bad lines included, each
// time; a small file is read once, a large one and the command each time.
// Len says how many addresses a small file holds, how many lines a large
// one had at the first read, and nothing for the command.
func TestSource(t *testing.T) {
	var big strings.Builder
	for i := 0; big.Len() <= SmallFile; i++ {
		fmt.Fprintf(&big, "member%07d@example.org\n", i)
	}
	big.WriteString("not an address\n")
	cases := map[string]struct {
		files   map[string]string
		rereads bool
		wantLen int
	}{
		"missing": {files: map[string]string{}},
		"small":   {files: map[string]string{"subscribers": "# members\nalice@example.org\n\nnot an address\nBob@Example.NET\n"}, wantLen: 2},
		"big":     {files: map[string]string{"subscribers": big.String()}, rereads: true, wantLen: strings.Count(big.String(), "\n")},
		"command": {files: map[string]string{"members-command": "cat\nother\n", "other": "x@example.org\nbad\n"}, rereads: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := list(t, c.files)
			s := NewSource(d, listdir.Subscribers)
			for round := 0; round < 3; round++ {
				if n, err := s.Len(); err != nil || n != c.wantLen {
					t.Fatalf("round %d: Len() = %d, %v; want %d", round, n, err, c.wantLen)
				}
				want, wantBad := all(t, d, listdir.Subscribers)
				got, gotBad := sourceAll(t, s)
				if round == 2 && !c.rereads {
					want, wantBad = sourceAll(t, NewSource(list(t, c.files), listdir.Subscribers))
				}
				if strings.Join(got, " ") != strings.Join(want, " ") || fmt.Sprint(gotBad) != fmt.Sprint(wantBad) {
					t.Fatalf("round %d: Source gave %d members, bad %v; want %d, bad %v", round, len(got), gotBad, len(want), wantBad)
				}
				if round == 1 {
					// Changed under the Source: seen only where it rereads.
					file := "subscribers"
					if name == "command" {
						file = "other"
					}
					if err := os.WriteFile(d.File(file), []byte("new@example.org\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestCountLines: a last line without LF counts too.
func TestCountLines(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "\n\n": 2, "a\n\nb\n": 3} {
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			if n, err := countLines(r); n != want || err != nil {
				t.Errorf("countLines(%q) = %d, %v; want %d", in, n, err, want)
			}
		}
	}
	if _, err := countLines(iotest.ErrReader(io.ErrUnexpectedEOF)); err != io.ErrUnexpectedEOF {
		t.Errorf("countLines: error %v; want the reader's", err)
	}
}

// TestReadLongLine: addresses from standard input with a line past
// listdir's limit are a data error that names the line, and change
// nothing.
func TestReadLongLine(t *testing.T) {
	in := "a@example.org\n" + strings.Repeat("x", listdir.MaxItemLine) + "\n"
	_, err := Read(nil, strings.NewReader(in))
	if want := "standard input: line 2: line of 1048576 octets or more, its line end aside; nothing changed"; err == nil ||
		err.Error() != want || sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("Read = %v (%d); want %q (65)", err, sysexit.Code(err), want)
	}
}

// TestLongLineInFile: a member file with a line past listdir's limit is
// a temporary failure naming the file and the line, for a change as for
// a read, and the change leaves the file as it was.
func TestLongLineInFile(t *testing.T) {
	text := "a@example.org\n" + strings.Repeat("x", listdir.MaxItemLine) + "\nb@example.org\n"
	d := list(t, map[string]string{"subscribers": text})
	want := "subscribers: line 2: line of 1048576 octets or more, its line end aside"
	if _, _, err := Change(d, listdir.Subscribers, []string{"c@example.org"}, nil); err == nil ||
		err.Error() != want || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Change = %v (%d); want %q (75)", err, sysexit.Code(err), want)
	}
	if b, err := os.ReadFile(d.File(listdir.Subscribers)); err != nil || string(b) != text {
		t.Errorf("after the failed change, the file is %d octets (%v); want it as it was", len(b), err)
	}
	err := Each(d, listdir.Subscribers, func(string) error { return nil }, nil)
	if err == nil || err.Error() != want || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Each = %v (%d); want %q (75)", err, sysexit.Code(err), want)
	}
}

// TestChangeUnderListLock: a change takes the members' lock, not the list
// lock the cron jobs run under (mlm-lock on the list directory), so a
// stage of such a run may change the members; two changes still wait for
// each other.
func TestChangeUnderListLock(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "alice@example.org\n"})
	f, err := listdir.LockFD(d.File(listdir.LockFile), 0) // as mlm-lock holds it
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if added, _, err := Change(d, listdir.Subscribers, []string{"bob@example.org"}, nil); err != nil || added != 1 {
		t.Fatalf("Change under the list lock = %d, %v; want 1 added", added, err)
	}
	unlock, err := d.LockMembers(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := d.LockMembers(0); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("a second LockMembers = %v; want a temporary failure", err)
	}
}

// TestReviewedEdges: three faults a review found. An address with a
// Unicode space at an end (read back trimmed, so another address, which
// mlm-unsub then missed) is refused; a comment line is no one's, however
// an address's key reads ("#bob"@x's is #bob@x); and a temporary file a
// killed run left beside the member file does not stop the next one.
func TestReviewedEdges(t *testing.T) {
	d := list(t, map[string]string{})
	for _, a := range []string{"bob@example.org\u00a0", "\u3000bob@example.org", "bob@example.org\u2028"} {
		if _, _, err := Edit(d.Path, listdir.Subscribers, []string{a}, nil, false); sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("%q: %v; want it refused (65)", a, err)
		}
	}
	d = list(t, map[string]string{"subscribers": "#bob@example.org\nalice@example.org\n"})
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{`"#bob"@example.org`}, nil, false); n != 1 || err != nil {
		t.Errorf(`adding "#bob"@example.org: %d added, %v; want 1`, n, err)
	}
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{`"#bob"@example.org`}, nil, true); n != 1 || err != nil {
		t.Errorf(`removing "#bob"@example.org: %d removed, %v; want 1`, n, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "#bob@example.org\nalice@example.org\n" {
		t.Errorf("member file %q; want the comment kept", b)
	}
	// A killed run's file, of this very process id.
	stale := filepath.Join(d.Path, "."+listdir.Subscribers+".tmp"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Change(d, listdir.Subscribers, []string{"b@example.org"}, nil); err != nil {
		t.Errorf("with a killed run's temporary file beside it: %v", err)
	}
}

// TestSourceBadLinesMemory: a kept file of bad lines costs about what
// mlm-members(1) says, 8 octets a line with the file: one of 1 MiB of
// two-octet lines took 22 MB, an error value for each line. (From a
// review.)
func TestSourceBadLinesMemory(t *testing.T) {
	d := list(t, map[string]string{"subscribers": strings.Repeat("x\n", SmallFile/2)})
	s := NewSource(d, listdir.Subscribers)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	if err := s.Each(func(string) error { return nil }, func(string, int, error) { n++ }); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n != SmallFile/2 {
		t.Fatalf("%d bad lines told; want %d", n, SmallFile/2)
	}
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > 3*SmallFile+8*SmallFile/2 {
		t.Errorf("a kept file of %d bad lines holds %d octets; want at most %d", n, held, 3*SmallFile+8*SmallFile/2)
	}
	runtime.KeepAlive(s)
}

// TestByteOrderMark: a member file saved with a UTF-8 byte-order mark,
// as Windows' Notepad did, holds its first member without it: the mark
// read as part of the address kept alice from being removed (mlm-unsub
// said "removed 0"), mlm-sub added her again, and the posts went to
// "\ufeffalice@...". An address given starting with one is refused, as
// one starting with a Unicode space is.
func TestByteOrderMark(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "\ufeffalice@example.org\r\nbob@example.org\r\n"})
	if got, bad := all(t, d, listdir.Subscribers); strings.Join(got, " ") != "alice@example.org bob@example.org" || len(bad) != 0 {
		t.Errorf("Each = %q, bad lines %v; want alice@example.org bob@example.org", got, bad)
	}
	if ok, err := Contains(d, listdir.Subscribers, "alice@example.org"); !ok || err != nil {
		t.Errorf("Contains(alice@example.org) = %v, %v; want true", ok, err)
	}
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{"alice@example.org"}, nil, false); n != 0 || err != nil {
		t.Errorf("adding alice@example.org: %d added, %v; want 0", n, err)
	}
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{"alice@example.org"}, nil, true); n != 1 || err != nil {
		t.Errorf("removing alice@example.org: %d removed, %v; want 1", n, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "bob@example.org\n" {
		t.Errorf("member file %q; want bob@example.org alone", b)
	}
	if _, _, err := Edit(d.Path, listdir.Subscribers, []string{"\ufeffcarol@example.org"}, nil, false); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("adding \\ufeffcarol@example.org: %v; want it refused (65)", err)
	}
	// One in the middle, where two files were joined (cat a b), is no
	// member, but a bad line, told; so is a Unicode space in a local
	// part. A poster of that address is no member either.
	d = list(t, map[string]string{"subscribers": "bob@example.org\n\ufeffalice@example.org\nca\u00a0rol@example.org\n"})
	if got, bad := all(t, d, listdir.Subscribers); strings.Join(got, " ") != "bob@example.org" || len(bad) != 2 {
		t.Errorf("Each = %q, bad lines %v; want bob@example.org, 2 bad lines", got, bad)
	}
	if ok, err := Contains(d, listdir.Subscribers, "\ufeffalice@example.org"); ok || err != nil {
		t.Errorf("Contains(\\ufeffalice@example.org) = %v, %v; want false", ok, err)
	}
	// Removing bob, whose line came before it, leaves no member: that
	// line does not become the file's start, where its mark would be
	// dropped and alice read as a member. (The last member gone, the
	// lines that are none are made comments: see TestLastMemberLeaves.)
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{"bob@example.org"}, nil, true); n != 1 || err != nil {
		t.Fatalf("removing bob@example.org: %d removed, %v; want 1", n, err)
	}
	if got, bad := all(t, d, listdir.Subscribers); len(got) != 0 || len(bad) != 0 {
		t.Errorf("after removing bob: Each = %q, bad lines %v; want no member, no bad line", got, bad)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "\n# \ufeffalice@example.org\n# ca\u00a0rol@example.org\n" {
		t.Errorf("after removing bob: member file %q; want its two other lines made comments, after a blank line", b)
	}
	if ok, err := Contains(d, listdir.Subscribers, "alice@example.org"); ok || err != nil {
		t.Errorf("after removing bob: Contains(alice@example.org) = %v, %v; want false", ok, err)
	}
}

// TestLastMemberLeaves: the last member removed from a file that holds
// lines that are no address leaves a list without members, not a file
// that reads as one in a wrong format ("no line is an address"), which
// every change after it, and mlm-members for every post, refused (75):
// those lines are made comments, kept for whoever wrote them. A file
// that still holds an address keeps its bad lines as they are.
func TestLastMemberLeaves(t *testing.T) {
	d := list(t, map[string]string{listdir.Subscribers: "# the list\nbob@example.org\nnot an address\n\n"})
	if a, r, err := Change(d, listdir.Subscribers, nil, []string{"bob@example.org"}); a != 0 || r != 1 || err != nil {
		t.Fatalf("removing bob: %d, %d, %v; want 0, 1", a, r, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "# the list\n# not an address\n\n" {
		t.Errorf("after the last member left: %q; want the bad line made a comment, the others as they were", b)
	}
	if err := Keys(d, listdir.Subscribers, addr.NewKeySet(), nil); err != nil {
		t.Errorf("Keys after the last member left: %v; want no error", err)
	}
	if a, r, err := Change(d, listdir.Subscribers, []string{"carol@example.org"}, nil); a != 1 || r != 0 || err != nil {
		t.Errorf("adding carol after the last member left: %d, %d, %v; want 1 added", a, r, err)
	}
	// An address left: the bad line stays as it is.
	d = list(t, map[string]string{listdir.Subscribers: "bob@example.org\nnot an address\nalice@example.org\n"})
	if _, r, err := Change(d, listdir.Subscribers, nil, []string{"bob@example.org"}); r != 1 || err != nil {
		t.Fatalf("removing bob: %d, %v", r, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "not an address\nalice@example.org\n" {
		t.Errorf("after bob left, alice still there: %q; want the bad line as it was", b)
	}
}

// TestSourceSettlesCommand: whether the members come from the
// members-command is settled at a Source's first read, as mlm-members(1)
// says, whatever the size of subscribers: a command added under a
// Source that reads a large file again each time, or removed under one
// that runs it, does not change where its members come from.
func TestSourceSettlesCommand(t *testing.T) {
	var big strings.Builder
	for i := 0; big.Len() <= SmallFile; i++ {
		fmt.Fprintf(&big, "member%07d@example.org\n", i)
	}
	d := list(t, map[string]string{"subscribers": big.String(), "other": "x@example.org\n"})
	s := NewSource(d, listdir.Subscribers)
	want, _ := sourceAll(t, s)
	if err := os.WriteFile(d.File(listdir.MembersCommand), []byte("cat\nother\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := sourceAll(t, s); len(got) != len(want) {
		t.Errorf("with a members-command added: Source gave %d members; want the %d of subscribers", len(got), len(want))
	}

	s = NewSource(d, listdir.Subscribers)
	if got, _ := sourceAll(t, s); strings.Join(got, " ") != "x@example.org" {
		t.Fatalf("Source gave %d members; want the command's x@example.org", len(got))
	}
	if err := os.Remove(d.File(listdir.MembersCommand)); err != nil {
		t.Fatal(err)
	}
	err := s.Each(func(string) error { return nil }, nil)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("with the members-command removed: Each = %v; want a temporary failure, not the members of subscribers", err)
	}
}

// TestDanglingLink: a member file, or the members-command, that is a
// symbolic link to nothing (its target on a file system not mounted, a
// shared file moved) is there but cannot be read: a temporary failure,
// as mlm-listdir(5) says of such a file, not a list without members,
// where a post went to nobody and exited 0, nor the subscribers file in
// the command's place; and a change, which could not keep the lines the
// file holds, replaces the link with nothing.
func TestDanglingLink(t *testing.T) {
	for _, name := range []string{listdir.Subscribers, listdir.Moderators} {
		d := list(t, map[string]string{})
		if err := os.Symlink(filepath.Join(d.Path, "gone", "members.txt"), d.File(name)); err != nil {
			t.Fatal(err)
		}
		err := Each(d, name, func(string) error { return nil }, nil)
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Each(%s, a link to nothing) = %v; want a temporary error", name, err)
		}
		err = NewSource(d, name).Each(func(string) error { return nil }, nil)
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Source(%s, a link to nothing).Each = %v; want a temporary error", name, err)
		}
		if _, err := Contains(d, name, "bob@example.org"); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Contains(%s, a link to nothing) = %v; want a temporary error", name, err)
		}
		if _, _, err := Change(d, name, []string{"bob@example.org"}, nil); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Change(%s, a link to nothing) = %v; want a temporary error", name, err)
		}
		if fi, err := os.Lstat(d.File(name)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: the link is replaced (%v)", name, err)
		}
	}
	d := list(t, map[string]string{"subscribers": "bob@example.org\n"})
	if err := os.Symlink(filepath.Join(d.Path, "gone", "members.sh"), d.File(listdir.MembersCommand)); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := Each(d, listdir.Subscribers, func(m string) error { got = append(got, m); return nil }, nil)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Each with a members-command linked to nothing = %v, %q; want a temporary error, not the subscribers file", err, got)
	}
	if _, _, err := Change(d, listdir.Subscribers, []string{"carol@example.org"}, nil); sysexit.Code(err) != sysexit.Usage {
		t.Errorf("Change with a members-command linked to nothing = %v; want it refused (64)", err)
	}
}

// TestDeviceLink: a member file linked to a device that never ends
// (/dev/urandom, /dev/zero) is a temporary failure that names it, at
// once: it was read to its end, so mlm-who printed a warning a line and
// mlm-sub read, until killed. Linked to /dev/null it is a file without
// members, which a change replaces with a file of its own.
func TestDeviceLink(t *testing.T) {
	for _, dev := range []string{"/dev/urandom", "/dev/zero"} {
		d := list(t, map[string]string{})
		if err := os.Symlink(dev, d.File(listdir.Subscribers)); err != nil {
			t.Fatal(err)
		}
		lines := 0
		bad := func(string, int, error) {
			if lines++; lines > 1000 {
				panic("the device is read line after line")
			}
		}
		err := Each(d, listdir.Subscribers, func(string) error { return nil }, bad)
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), listdir.Subscribers+": a device") {
			t.Errorf("Each(%s) = %v; want a temporary error naming the file", dev, err)
		}
		err = NewSource(d, listdir.Subscribers).Each(func(string) error { return nil }, bad)
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Source(%s).Each = %v; want a temporary error", dev, err)
		}
		if _, _, err := Change(d, listdir.Subscribers, []string{"bob@example.org"}, nil); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Change(%s) = %v; want a temporary error", dev, err)
		}
	}
	// A directory: an error that names the file, not the descriptor
	// it was opened through (a critical read: "read /proc/self/fd/7").
	dir := list(t, map[string]string{})
	os.Mkdir(dir.File(listdir.Subscribers), 0o755)
	err := NewSource(dir, listdir.Subscribers).Each(func(string) error { return nil }, nil)
	if sysexit.Code(err) != sysexit.TempFail || strings.Contains(fmt.Sprint(err), "/proc/") || !strings.Contains(fmt.Sprint(err), dir.File(listdir.Subscribers)) {
		t.Errorf("Source(a directory).Each = %v; want 75 naming the file", err)
	}
	d := list(t, map[string]string{})
	if err := os.Symlink(os.DevNull, d.File(listdir.Subscribers)); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := Each(d, listdir.Subscribers, func(string) error { n++; return nil }, nil); err != nil || n != 0 {
		t.Errorf("Each(/dev/null) = %d members, %v; want none, no error", n, err)
	}
	if a, _, err := Change(d, listdir.Subscribers, []string{"bob@example.org"}, nil); err != nil || a != 1 {
		t.Errorf("Change(/dev/null) = %d added, %v; want 1", a, err)
	}
	if fi, err := os.Lstat(d.File(listdir.Subscribers)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after a change, %s is not a file of its own (%v)", listdir.Subscribers, err)
	}
}

// TestAddOverBadLine: a line that no reader takes for a member (a
// Unicode space outside quotes) does not stop the address of its key
// from being added: "ca\u00a0rol"@example.org, a member, has the key of
// the bad line ca\u00a0rol@example.org, and mlm-sub said it was held
// already (0 added, exit 0) while mlm-who, mlm-members and mlm-auth,
// which skip the bad line, had no such member.
func TestAddOverBadLine(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "alice@example.org\nca\u00a0rol@example.org\n"})
	quoted := "\"ca\u00a0rol\"@example.org"
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{quoted}, nil, false); n != 1 || err != nil {
		t.Errorf("adding %q over the bad line: %d added, %v; want 1", quoted, n, err)
	}
	if got, _ := all(t, d, listdir.Subscribers); strings.Join(got, " ") != "alice@example.org "+quoted {
		t.Errorf("members %q; want alice@example.org and %q", got, quoted)
	}
	if ok, err := Contains(d, listdir.Subscribers, quoted); !ok || err != nil {
		t.Errorf("Contains(%q) = %v, %v; want true", quoted, ok, err)
	}
}

// TestChangeLeftovers: the temporary file of a change killed half way
// (Ctrl-C in an mlm-sub of a large list), as big as the member file,
// is removed by the next change of that file; another file's, and
// other files, stay. It was left for ever.
func TestChangeLeftovers(t *testing.T) {
	d := list(t, map[string]string{
		"subscribers":                   "alice@example.org\n",
		".subscribers.tmp4242.0badf00d": "alice@example.org\nhalf",
		".digest.tmp4242.0badf00d":      "x",
		".subscribersx":                 "not ours",
	})
	if _, _, err := Change(d, listdir.Subscribers, []string{"bob@example.net"}, nil); err != nil {
		t.Fatal(err)
	}
	got := mlmtest.Names(t, d.Path)
	want := []string{".digest.tmp4242.0badf00d", ".subscribersx", "address", "members.lock", "subscribers"}
	if !slices.Equal(got, want) {
		t.Errorf("list directory = %v; want %v", got, want)
	}
}

// TestChangeNothing: a change that adds and removes no address (a member
// subscribed again, one not there unsubscribed) leaves the file as it
// is: a member file linked to a shared one stays a link, and the file
// is not replaced by a copy.
func TestChangeNothing(t *testing.T) {
	d := list(t, map[string]string{})
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.WriteFile(shared, []byte("bob@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, d.File(listdir.Subscribers)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ add, remove []string }{
		{[]string{"bob@EXAMPLE.org"}, nil},
		{nil, []string{"carol@example.org"}},
	} {
		added, removed, err := Change(d, listdir.Subscribers, c.add, c.remove)
		if err != nil || added != 0 || removed != 0 {
			t.Errorf("Change(+%q -%q) = %d, %d, %v; want 0, 0, nil", c.add, c.remove, added, removed, err)
		}
		if fi, err := os.Lstat(d.File(listdir.Subscribers)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("Change(+%q -%q): the link is replaced (%v)", c.add, c.remove, err)
		}
	}
	if _, _, err := Change(d, listdir.Subscribers, []string{"carol@example.org"}, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(d.File(listdir.Subscribers)); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("a change that adds: the link stays (%v); want a file of the list's own", err)
	}
	if b, _ := os.ReadFile(shared); string(b) != "bob@example.org\n" {
		t.Errorf("the shared file = %q; want it unchanged", b)
	}
}

// heapAtEOF is a reader at its end that notes the live heap there, as
// it is once the whole input has been read and before Read returns.
type heapAtEOF struct{ live uint64 }

func (h *heapAtEOF) Read([]byte) (int, error) {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	h.live = m.HeapAlloc
	return 0, io.EOF
}

// TestReadBadMemory: addresses from standard input that are not
// addresses are held only as far as the error names them, the first
// three: a file that is no list of addresses (an mbox, a binary piped
// to mlm-sub by mistake) was held whole, quoted, for an error that
// names three of its lines; 100 MB of lines took 620 MB.
func TestReadBadMemory(t *testing.T) {
	line := strings.Repeat("x", 512<<10) + "\n"
	const lines = 64
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	probe := &heapAtEOF{}
	in := make([]io.Reader, 0, lines+1)
	for range lines {
		in = append(in, strings.NewReader(line)) // one string, read again and again
	}
	_, err := Read(nil, io.MultiReader(append(in, probe)...))
	if sysexit.Code(err) != sysexit.DataErr || !strings.Contains(err.Error(), fmt.Sprintf("(and %d more)", lines-3)) {
		t.Fatalf("Read = %.200v (%d); want 65, naming three and %d more", err, sysexit.Code(err), lines-3)
	}
	held := int64(probe.live) - int64(before.HeapAlloc)
	if max := int64(8 << 20); held > max {
		t.Errorf("with %d bad lines of %d octets read, %d octets held; want at most %d", lines, len(line), held, max)
	}
}

// TestReadBadLong: the error names a bad line of standard input by its
// first octets and its length, not whole: three lines of a file that is
// no list of addresses, each up to a MiB, made one line of stderr of
// 3 MB for mlm-sub to print.
func TestReadBadLong(t *testing.T) {
	long := strings.Repeat("x", listdir.MaxItemLine-1) // its LF the last octet allowed
	_, err := Read(nil, strings.NewReader(long+"\n"+long+"\n"+long+"\nbob@example.net\n"))
	if sysexit.Code(err) != sysexit.DataErr {
		t.Fatalf("Read = %.200v; want 65", err)
	}
	want := fmt.Sprintf("line 1 %q... (%d octets): ", long[:maxQuoted], len(long))
	if s := err.Error(); len(s) > 2000 || !strings.HasPrefix(s, want) {
		t.Errorf("error of %d octets, %.400q; want it under 2,000, starting %q", len(s), s, want)
	}
}

// TestChangeRemovesEveryLine: an address the file holds on several
// lines, spelt differently, is removed from every one of them, and
// counted once (mlm-unsub(1)).
func TestChangeRemovesEveryLine(t *testing.T) {
	d := list(t, map[string]string{"subscribers": "bob@example.net\nalice@example.org\nbob@EXAMPLE.NET\n\"bob\"@example.net\n"})
	added, removed, err := Change(d, listdir.Subscribers, nil, []string{"bob@example.net"})
	if err != nil || added != 0 || removed != 1 {
		t.Fatalf("Change = %d, %d, %v; want 0, 1", added, removed, err)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != "alice@example.org\n" {
		t.Errorf("file after Change:\n%s", b)
	}
}

// TestChangeNoAddress: a member file with lines none of which is an
// address (saved as UTF-16) is not changed, and the change is a
// temporary failure, as mlm-members' reading of it is: a subscription
// made it a file of the one address added, and mlm-members, which had
// held the posts, sent them to that address alone. A file of comments
// and blank lines only is a file without members, changed as any.
func TestChangeNoAddress(t *testing.T) {
	var utf16 []byte
	for _, c := range "\ufeffalice@example.org\nbob@example.org\n" {
		utf16 = append(utf16, byte(c), byte(c>>8))
	}
	for _, name := range []string{listdir.Subscribers, "nomail"} {
		d := list(t, map[string]string{name: string(utf16)})
		for _, c := range []struct{ add, remove []string }{{[]string{"carol@example.org"}, nil}, {nil, []string{"alice@example.org"}}} {
			added, removed, err := Change(d, name, c.add, c.remove)
			if sysexit.Code(err) != sysexit.TempFail || added+removed != 0 {
				t.Errorf("%s of UTF-16: Change(+%q, -%q) = %d, %d, %v; want a temporary failure", name, c.add, c.remove, added, removed, err)
			}
			if got, _ := os.ReadFile(d.File(name)); string(got) != string(utf16) {
				t.Errorf("%s of UTF-16: changed to %q", name, got)
			}
		}
	}
	d := list(t, map[string]string{listdir.Subscribers: "# none yet\n\n"})
	if added, _, err := Change(d, listdir.Subscribers, []string{"carol@example.org"}, nil); added != 1 || err != nil {
		t.Errorf("a file of a comment: Change = %d, %v; want 1 added", added, err)
	}
}

// TestChangeSpellings: a domain spelt in characters that IDNA maps to
// others (fullwidth letters, a decomposed accent) is the domain mail to
// it reaches: the member of the plain spelling already, and removed
// with it. Each was a member of its own, sent a copy of every post, and
// left by mlm-unsub of the plain address, to go on receiving them.
func TestChangeSpellings(t *testing.T) {
	fullwidth := "bob@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org"
	nfd := "ann@bu\u0308cher.example"
	d := list(t, map[string]string{listdir.Subscribers: "bob@example.org\nann@b\u00fccher.example\n"})
	if added, _, err := Change(d, listdir.Subscribers, []string{fullwidth, nfd}, nil); added != 0 || err != nil {
		t.Errorf("Change(+%q, +%q) = %d added, %v; want both held already", fullwidth, nfd, added, err)
	}
	d = list(t, map[string]string{listdir.Subscribers: fullwidth + "\n" + nfd + "\ncarol@example.org\n"})
	if _, removed, err := Change(d, listdir.Subscribers, nil, []string{"bob@EXAMPLE.org", "ann@xn--bcher-kva.example"}); removed != 2 || err != nil {
		t.Errorf("Change(-bob, -ann) = %d removed, %v; want 2", removed, err)
	}
	if got, _ := all(t, d, listdir.Subscribers); strings.Join(got, " ") != "carol@example.org" {
		t.Errorf("members %q; want carol@example.org alone", got)
	}
}

// editResult is what an Edit did: the member file after it ("" and
// absent if there is none), the counts, and the error's text and code.
type editResult struct {
	file    string
	absent  bool
	changed int
	given   int
	err     string
	code    int
}

func edit(t *testing.T, file *string, in string, remove bool, size int) editResult {
	t.Helper()
	files := map[string]string{}
	if file != nil {
		files[listdir.Subscribers] = *file
	}
	d := list(t, files)
	defer func(old int) { passSize = old }(passSize)
	passSize = size
	var r editResult
	var err error
	r.changed, r.given, err = Edit(d.Path, listdir.Subscribers, nil, strings.NewReader(in), remove)
	if err != nil {
		r.err, r.code = err.Error(), sysexit.Code(err)
	}
	b, rerr := os.ReadFile(d.File(listdir.Subscribers))
	r.file, r.absent = string(b), os.IsNotExist(rerr)
	if names := mlmtest.Names(t, d.Path); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".tmp") }) {
		t.Errorf("temporary files left: %q", names)
	}
	return r
}

// TestEditPasses: a change of more addresses than a pass holds
// (passSize), made in passes, leaves the member file as one pass does,
// byte for byte, with the same counts: an address given again in a
// later pass, or spelt otherwise, is added once, one removed in an
// earlier pass is counted once, and a change that changes nothing
// writes nothing. Memory holds a pass's addresses, where it held all
// those given: a million subscribed from standard input took 238 MB.
func TestEditPasses(t *testing.T) {
	pool := []string{"bob@example.net", "bob@EXAMPLE.NET", "Bob@example.net", "alice@example.org",
		"carol@b\u00fccher.example", "carol@xn--bcher-kva.example", "dave@example.com", "erin@example.com"}
	files := []*string{nil}
	for _, f := range []string{"", "alice@example.org\n# a comment\nBOB@example.net\n",
		"\ufeffcarol@example.org\nnot an address\ndave@EXAMPLE.com\n", "\ufefferin@example.com\n\ufeffalice@example.org\n",
		"# only a comment\n", "dave@example.com\ndave@example.com\nbob@example.net"} {
		files = append(files, &f)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for range 12 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pool[rng.IntN(len(pool))] + "\n")
		}
		inputs = append(inputs, b.String())
	}
	inputs = append(inputs, "bob@example.net\nnot an address\n", "# a comment\n\n")
	runs := 0
	for _, file := range files {
		for _, in := range inputs {
			for _, remove := range []bool{false, true} {
				want := edit(t, file, in, remove, 1<<16)
				for _, size := range []int{1, 2, 3} {
					if got := edit(t, file, in, remove, size); got != want {
						t.Fatalf("file %q, remove %v, input %q, in passes of %d:\n got %+v\nwant %+v", deref(file), remove, in, size, got, want)
					}
					runs++
				}
			}
		}
	}
	// The cases that matter were among them.
	if r := edit(t, files[2], "alice@EXAMPLE.org\ncarol@example.org\ncarol@EXAMPLE.org\nerin@example.com\nerin@EXAMPLE.com\n", false, 1); r.changed != 2 || r.file != *files[2]+"carol@example.org\nerin@example.com\n" {
		t.Errorf("added in passes of 1: %+v", r)
	}
	if r := edit(t, files[6], "dave@example.com\ndave@EXAMPLE.com\nbob@example.net\n", true, 1); r.changed != 2 || r.file != "" || r.absent {
		t.Errorf("removed in passes of 1: %+v", r)
	}
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// TestChangeAllOrNone: a change made in passes that fails in a later
// one leaves the member file as it was, and no temporary file, though
// the passes before it wrote theirs.
func TestChangeAllOrNone(t *testing.T) {
	const was = "alice@example.org\n"
	d := list(t, map[string]string{listdir.Subscribers: was})
	calls := 0
	_, _, err := change(d, listdir.Subscribers, func() (*passAddrs, error) {
		switch calls++; calls {
		case 1:
			return newPass([]string{"bob@example.net"}, nil), nil
		case 2:
			return newPass(nil, []string{"alice@example.org"}), nil
		}
		return nil, sysexit.Temp(errors.New("the spool cannot be read"))
	})
	if sysexit.Code(err) != sysexit.TempFail || calls != 3 {
		t.Fatalf("change = %v, after %d batches; want 75 after 3", err, calls)
	}
	if b, _ := os.ReadFile(d.File(listdir.Subscribers)); string(b) != was {
		t.Errorf("the member file = %q; want %q, as it was", b, was)
	}
	if got := mlmtest.Names(t, d.Path); !slices.Equal(got, []string{"address", "members.lock", "subscribers"}) {
		t.Errorf("list directory = %q; want no temporary file", got)
	}
}

// TestEditOwn: an address of the list itself, in any spelling, added to
// any member file, owner included, is refused (65), nothing changed:
// every reader skips it, and mail to it comes back to the list. One
// removed is removed.
func TestEditOwn(t *testing.T) {
	for _, own := range []string{"dev@lists.example.org", "DEV-owner@LISTS.example.org", "dev+x@lists.example.org"} {
		d := list(t, map[string]string{listdir.Owner: "olive@example.org\n"})
		_, _, err := Edit(d.Path, listdir.Owner, []string{"otto@example.org", own}, nil, false)
		if sysexit.Code(err) != sysexit.DataErr || !strings.Contains(err.Error(), "an address of the list itself") {
			t.Errorf("Edit(+%s) = %v; want 65, an address of the list itself", own, err)
		}
		if b, _ := os.ReadFile(d.File(listdir.Owner)); string(b) != "olive@example.org\n" {
			t.Errorf("owner after Edit(+%s) = %q; want it unchanged", own, b)
		}
	}
	d := list(t, map[string]string{listdir.Subscribers: "dev-owner@lists.example.org\nbob@example.net\n"})
	if n, _, err := Edit(d.Path, listdir.Subscribers, []string{"dev-owner@lists.example.org"}, nil, true); n != 1 || err != nil {
		t.Errorf("Edit(-dev-owner) = %d, %v; want it removed", n, err)
	}
}

// TestEditNoneGiven: with no address given, a member file none of whose
// lines is an address (UTF-16, say) is a temporary failure, as for a
// change of some; changed in passes, Edit read no file at all, and said
// nothing.
func TestEditNoneGiven(t *testing.T) {
	utf16 := "\xff\xfeb\x00o\x00b\x00@\x00x\x00.\x00o\x00r\x00g\x00\n\x00"
	for _, remove := range []bool{false, true} {
		d := list(t, map[string]string{listdir.Subscribers: utf16})
		if _, _, err := Edit(d.Path, listdir.Subscribers, nil, strings.NewReader(""), remove); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Edit of nothing (remove %v) on a file of no address = %v; want 75", remove, err)
		}
		d = list(t, map[string]string{listdir.Subscribers: "bob@example.org\n"})
		if n, given, err := Edit(d.Path, listdir.Subscribers, nil, strings.NewReader(""), remove); n != 0 || given != 0 || err != nil {
			t.Errorf("Edit of nothing (remove %v) = %d, %d, %v; want 0, 0, nil", remove, n, given, err)
		}
	}
}

// FuzzAppendKey: appendKey, the members files' way to a key without a
// string, gives addr.Key's key of any octets, and Key of a mailbox's key
// is that key.
func FuzzAppendKey(f *testing.F) {
	for _, s := range []string{"Bob@X.org", `"A B"@X.org`, "ÄRZTE@x.de", "\u212Aey@x.org", "a@XN--bcher-kva.example", "bob@[IPv6:2001:DB8::1]", "@", "a@", "A@B@C.ORG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		if got := string(appendKey([]byte("junk"), []byte(m))); got != "junk"+addr.Key(m) {
			t.Fatalf("appendKey(%q) = %q; want %q", m, got[4:], addr.Key(m))
		}
		if k := addr.Key(m); addr.CheckMailbox(m) == nil && addr.Key(k) != k {
			t.Fatalf("Key(Key(%q)) = %q; want %q", m, addr.Key(k), k)
		}
	})
}

// TestKeysText (R87 F1): a file of the members left out (nomail, digest,
// notmetoo) whose only line is no address, typed by hand ("Bob Smith
// <bob@x>"), is a file of no members, its line given to bad, not a file
// in a wrong format: mlm-members held every post of the list for it,
// and neither mlm-sub nor mlm-unsub could mend it. One with a NUL octet
// (saved as UTF-16) is still a temporary failure, and so is a change to
// it; so is a change to subscribers of such text alone, whose members
// are not known.
func TestKeysText(t *testing.T) {
	utf16 := "\xff\xfeb\x00o\x00b\x00@\x00x\x00.\x00o\x00r\x00g\x00\n\x00"
	d := list(t, map[string]string{listdir.NoMail: "Bob Smith <bob@x.org>\n", listdir.Digest: utf16,
		listdir.Subscribers: "Bob Smith <bob@x.org>\n"})
	var reasons []string
	bad := func(file string, line int, err error) {
		reasons = append(reasons, fmt.Sprintf("%s:%d: %v", file, line, err))
	}
	s := addr.NewKeySet()
	if err := Keys(d, listdir.NoMail, s, bad); err != nil {
		t.Errorf("Keys(nomail of a line typed by hand): %v; want none", err)
	}
	if len(reasons) != 1 || !strings.HasPrefix(reasons[0], "nomail:1: ") {
		t.Errorf("Keys(nomail): bad lines %q; want line 1", reasons)
	}
	reasons = nil
	err := Keys(d, listdir.Digest, s, bad)
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "not text in UTF-8") {
		t.Errorf("Keys(digest in UTF-16): %v; want a temporary failure, not text", err)
	}
	// Nor in Latin-1, nor with CR line ends, which hold no NUL (R90 F3).
	for _, text := range []string{"j\xf6rg@x.org\n", "bob@x.org\rdave@x.org\r"} {
		d := list(t, map[string]string{listdir.NoMail: text})
		if err := Keys(d, listdir.NoMail, addr.NewKeySet(), nil); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("Keys(nomail %q): %v; want a temporary failure", text, err)
		}
		if _, _, err := Change(d, listdir.NoMail, []string{"carol@x.org"}, nil); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("adding to nomail %q: %v; want a temporary failure", text, err)
		}
	}
	if len(reasons) == 0 || reasons[0] != "digest:1: "+errNotText.Error() {
		t.Errorf("Keys(digest): bad lines %q; want line 1 first, not text", reasons)
	}
	// mlm-sub mends the file typed by hand; not the others.
	if a, _, err := Change(d, listdir.NoMail, []string{"bob@x.org"}, nil); a != 1 || err != nil {
		t.Errorf("adding bob to nomail: %d, %v; want 1 added", a, err)
	}
	if err := Keys(d, listdir.NoMail, s, nil); err != nil || !s.Has(addr.Key("bob@x.org")) {
		t.Errorf("Keys(nomail mended): %v, bob in it %v; want bob", err, s.Has(addr.Key("bob@x.org")))
	}
	for _, name := range []string{listdir.Digest, listdir.Subscribers} {
		before, _ := os.ReadFile(d.File(name))
		if _, _, err := Change(d, name, []string{"bob@x.org"}, nil); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("adding bob to %s: %v; want a temporary failure", name, err)
		}
		if after, _ := os.ReadFile(d.File(name)); string(after) != string(before) {
			t.Errorf("%s changed to %q", name, after)
		}
	}
}
