package listdir

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/cookie"
	"mlm/lib/sysexit"
)

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Open(empty directory) = %v; want 75", err)
	}
	os.Mkdir(filepath.Join(dir, QueueDir), 0o755)
	if _, err := Open(dir); sysexit.Code(err) != sysexit.NoUser {
		t.Errorf("Open(no address) = %v; want 67", err)
	}
	os.WriteFile(filepath.Join(dir, Address), []byte("  dev@lists.example.org \nignored\n"), 0o644)
	os.WriteFile(filepath.Join(dir, MaxSize), []byte("1000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ModExpire), []byte("soon\n"), 0o644)
	os.WriteFile(filepath.Join(dir, Strip), []byte("# fields\nReturn-Path\n\n  X-Junk  \n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Address() != "dev@lists.example.org" || d.CommandAddress("bounces") != "dev-bounces@lists.example.org" {
		t.Errorf("addresses %q %q", d.Address(), d.CommandAddress("bounces"))
	}
	if n, err := d.Int(MaxSize, 5); n != 1000 || err != nil {
		t.Errorf("Int(maxsize) = %d, %v", n, err)
	}
	if n, err := d.Int(Burst, 5); n != 5 || err != nil {
		t.Errorf("Int(missing) = %d, %v; want the default", n, err)
	}
	if _, err := d.Int(ModExpire, 5); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Int(not a number) = %v; want 75", err)
	}
	for _, c := range []struct {
		text   string
		lo, hi int64
		want   int64
		err    string
	}{
		{"", 1, 9, 5, ""}, // missing: the default, whatever the range
		{"7\n", 1, 9, 7, ""},
		{"1\n", 1, 9, 1, ""},
		{"9\n", 1, 9, 9, ""},
		{"0\n", 1, 9, 5, "maxsize: 0 is not from 1 to 9"},
		{"99999999999\n", 1, 9, 5, "maxsize: 99999999999 is not from 1 to 9"},
		{"-1\n", 1, math.MaxInt64, 5, "maxsize: -1 is not at least 1"},
		{"x\n", 1, 9, 5, `maxsize: not a number: "x"`},
	} {
		os.Remove(filepath.Join(dir, MaxSize))
		if c.text != "" {
			os.WriteFile(filepath.Join(dir, MaxSize), []byte(c.text), 0o644)
		}
		n, err := d.IntIn(MaxSize, 5, c.lo, c.hi)
		if n != c.want || (err == nil) != (c.err == "") || err != nil && (err.Error() != c.err || sysexit.Code(err) != sysexit.TempFail) {
			t.Errorf("IntIn(%q, 5, %d, %d) = %d, %v; want %d, %q (75)", c.text, c.lo, c.hi, n, err, c.want, c.err)
		}
	}
	if l, _ := d.Lines(Strip); strings.Join(l, "|") != "Return-Path|X-Junk" {
		t.Errorf("Lines = %q", l)
	}
	if d.Has(Footer) || !d.Has(Strip) {
		t.Errorf("Has")
	}
	err = d.WriteFile(Footer, func(w io.Writer) error { _, err := io.WriteString(w, "bye\n"); return err })
	if txt, _ := d.Text(Footer); err != nil || txt != "bye\n" {
		t.Errorf("WriteFile: %q, %v", txt, err)
	}
	// A byte-order mark at the start, as an editor saves one, is no
	// part of the text; one further on is.
	os.WriteFile(filepath.Join(dir, Footer), []byte(BOM+"bye"+BOM+"\n"), 0o644)
	if txt, _ := d.Text(Footer); txt != "bye"+BOM+"\n" {
		t.Errorf("Text of a file with a byte-order mark = %q", txt)
	}
}

func TestLock(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	unlock, err := d.LockMembers(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LockMembers(100 * time.Millisecond); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("second Lock = %v; want a temporary failure", err)
	}
	unlock()
	unlock2, err := d.LockMembers(time.Second)
	if err != nil {
		t.Errorf("Lock after unlock: %v", err)
	} else {
		unlock2()
	}
}

func TestLockFD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cron.lock")
	f, err := LockFD(path, 0)
	if err != nil {
		t.Fatalf("LockFD(new file, 0) = %v", err)
	}
	if _, err := LockFD(path, 0); !errors.Is(err, syscall.EWOULDBLOCK) || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("LockFD(held, 0) = %v; want a temporary EWOULDBLOCK", err)
	}
	// Held past the wait: said as mlm-lock says it.
	if _, err := LockFD(path, 60*time.Millisecond); !errors.Is(err, syscall.EWOULDBLOCK) || sysexit.Code(err) != sysexit.TempFail ||
		err.Error() != "cron.lock: still locked after 60ms, by another process" {
		t.Errorf("LockFD(held, 60ms) = %v; want a temporary EWOULDBLOCK, still locked after 60ms", err)
	}
	// Released during the wait: the waiter gets it.
	released := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.Close()
		close(released)
	}()
	g, err := LockFD(path, 10*time.Second)
	if err != nil {
		t.Fatalf("LockFD(released while waiting) = %v", err)
	}
	<-released
	g.Close()
	if _, err := LockFD(filepath.Join(path, "x"), 0); err == nil || errors.Is(err, syscall.EWOULDBLOCK) || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("LockFD(bad path) = %v; want a temporary failure other than EWOULDBLOCK", err)
	}
}

// TestLockFDRemoved: a lock file removed while its holder holds it (as
// RemoveLock does), and the holder gone, is not the lock the waiter for
// it gets: that is the file at the name, made anew, which the next
// locker locks too, so that two never hold "the" lock at once.
func TestLockFDRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "count.lock")
	f, err := LockFD(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		f   *os.File
		err error
	}
	got := make(chan result, 1)
	go func() {
		g, err := LockFD(path, time.Minute)
		got <- result{g, err}
	}()
	// Wait for the waiter to have the file open, so that it waits on
	// the file about to be removed.
	for opened := false; !opened; {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		n := 0
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, path) {
				n++
			}
		}
		if opened = n >= 2; !opened {
			runtime.Gosched()
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("LockFD(removed while waiting) = %v", r.err)
	}
	defer r.f.Close()
	mine, err1 := r.f.Stat()
	named, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(mine, named) {
		t.Errorf("LockFD(removed while waiting) locked a file other than the one at its name (%v, %v)", err1, err2)
	}
	if _, err := LockFD(path, 0); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("LockFD(path held by the waiter, 0) = %v; want EWOULDBLOCK", err)
	}
}

// TestOpenBadAddress: an address file whose first line is not a mailbox
// (CR, NUL, no domain) is a temporary error naming the file, on one
// line; a second line is never read.
func TestOpenBadAddress(t *testing.T) {
	for content, want := range map[string]string{
		"dev\n":                                 `address: "dev" is not an address: missing @domain`,
		"dev@lists.example.org\rBcc: x@y\n":     `address: "dev@lists.example.org\rBcc: x@y" is not an address: bad domain label "org\rBcc: x@y"`,
		"dev\x00@lists.example.org\n":           `address: "dev\x00@lists.example.org" is not an address: bad local part`,
		"dev list@lists.example.org\n":          `address: "dev list@lists.example.org" is not an address: bad local part`,
		"\"dev\"@lists.example.org\n":           `address: "\"dev\"@lists.example.org": a list's local part is not quoted`,
		"dev@lists.example.org\nBcc: x@y\n":     "",
		strings.Repeat("a", 245) + "@x.org\n":   `address: "` + strings.Repeat("a", 245) + `@x.org": too long for its command addresses (` + strings.Repeat("a", 245) + `-accept+TOKEN@): address longer than 254 octets`,
		" dev@lists.example.org\r\n# comment\n": "",
		"\ufeffdev@lists.example.org\r\n":       "", // saved by Notepad
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, Address), []byte(content), 0o644)
		d, err := Open(dir)
		switch {
		case want == "" && (err != nil || d.Address() != "dev@lists.example.org"):
			t.Errorf("Open(%q) = %v; want dev@lists.example.org", content, err)
		case want != "" && (err == nil || sysexit.Code(err) != sysexit.TempFail || err.Error() != strings.ReplaceAll(strings.ReplaceAll(want, "\r", `\r`), "\x00", `\x00`)):
			t.Errorf("Open(%q) = %v; want 75, %q", content, err, want)
		}
	}
}

// TestOpenModerationAddress: a list address Open takes leaves room for
// its moderation addresses, dev-accept+TOKEN@ and dev-reject+TOKEN@,
// the longest command addresses: a held post's notice gives one to the
// moderators, and mlm-accept refuses a recipient past 254 octets (65),
// so their replies bounced.
func TestOpenModerationAddress(t *testing.T) {
	until := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for n := 190; n <= 245; n++ {
		a := strings.Repeat("a", n-len("@x.org")) + "@x.org"
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, Address), []byte(a+"\n"), 0o644)
		d, err := Open(dir)
		if err != nil {
			continue
		}
		for _, cmd := range []string{"accept", "reject"} {
			// As mlm-auth makes them (hold.go).
			local, domain, _ := strings.Cut(d.CommandAddress(cmd), "@")
			m := local + "+" + cookie.Make([]byte("secret"), cmd, a, "1.r", until) + "@" + domain
			if err := addr.CheckMailbox(m); err != nil {
				t.Errorf("a list address of %d octets: Open takes it; its %s address: %v", n, cmd, err)
			}
		}
	}
}

// TestCheckAddressModerationLocal: a list address mlm-newlist takes
// keeps its moderation addresses' local part, as mlm-auth makes it for
// a post held as long as modexpire allows, within the 64 octets of RFC
// 5321 section 4.5.3.1.1; one a octet longer is refused.
func TestCheckAddressModerationLocal(t *testing.T) {
	until := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(315360000 * time.Second)
	for n := 1; n <= MaxLocal+1; n++ {
		a := strings.Repeat("a", n) + "@lists.example.org"
		err := CheckAddress(a)
		if n > MaxLocal {
			if err == nil {
				t.Errorf("CheckAddress of a local part of %d octets: nil; want an error", n)
			}
			continue
		}
		if err != nil {
			t.Fatalf("CheckAddress of a local part of %d octets: %v", n, err)
		}
		local := strings.Repeat("a", n) + "-accept+" + cookie.Make([]byte("secret"), "accept", a, "1.r", until)
		if len(local) > addr.MaxLocal {
			t.Errorf("a list's local part of %d octets: its moderation address's is %d octets, over %d", n, len(local), addr.MaxLocal)
		}
	}
	if MaxLocal < 32 {
		t.Errorf("MaxLocal = %d; want a list's local part of 32 octets allowed", MaxLocal)
	}
}

// TestEachLineLong: a line of up to MaxItemLine octets, its LF included,
// is read; a longer one fails, temporarily, naming the file and the line.
func TestEachLineLong(t *testing.T) {
	ok := strings.Repeat("x", MaxItemLine-1)
	var got []string
	if err := EachLine(strings.NewReader("a\n"+ok+"\nb\n"), "subscribers", func(s string) error {
		got = append(got, s)
		return nil
	}); err != nil || len(got) != 3 || got[1] != ok {
		t.Errorf("a line of %d octets and its LF: %d items, %v", len(ok), len(got), err)
	}
	err := EachLine(strings.NewReader("a\n\n"+ok+"x\nb\n"), "subscribers", func(string) error { return nil })
	if want := "subscribers: line 3: line of 1048576 octets or more, its line end aside"; err == nil || err.Error() != want ||
		!errors.Is(err, ErrLongLine) || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("a line of %d octets: %v (%d); want %q (75)", MaxItemLine, err, sysexit.Code(err), want)
	}
}

// TestCheckLines: the items a check refuses fail the read, temporarily,
// naming the file and the item's line, counted with the comments and
// blank lines before it; a file whose items all pass gives them all, as
// Lines does.
func TestCheckLines(t *testing.T) {
	dir := t.TempDir()
	d := &Dir{Path: dir}
	os.WriteFile(filepath.Join(dir, "relay"), []byte("# relays\n\n  a:1\n# b\nbad\nc:2\n"), 0o600)
	check := func(s string) error {
		if !strings.Contains(s, ":") {
			return errors.New("no port")
		}
		return nil
	}
	items, err := d.CheckLines("relay", check)
	if sysexit.Code(err) != sysexit.TempFail || fmt.Sprint(err) != "relay: line 5: no port" || items != nil {
		t.Errorf("CheckLines = %q, %v; want nil, 75 relay: line 5: no port", items, err)
	}
	os.WriteFile(filepath.Join(dir, "relay"), []byte("# relays\n\n  a:1\n# b\nc:2\n"), 0o600)
	if items, err := d.CheckLines("relay", check); err != nil || !slices.Equal(items, []string{"a:1", "c:2"}) {
		t.Errorf("CheckLines = %q, %v; want a:1 c:2", items, err)
	}
	if items, err := d.Lines("relay"); err != nil || !slices.Equal(items, []string{"a:1", "c:2"}) {
		t.Errorf("Lines = %q, %v; want a:1 c:2", items, err)
	}
}

// TestStringLong: a value's first line is read up to MaxItemLine octets,
// its LF included, as a list's line is; a longer one (a file that is not
// what its name says, 64 MiB of NULs here) fails, temporarily, naming
// the file and the line, and is not read into memory whole.
func TestStringLong(t *testing.T) {
	dir := t.TempDir()
	d := &Dir{Path: dir}
	ok := strings.Repeat("x", MaxItemLine-1)
	os.WriteFile(filepath.Join(dir, Prefix), []byte(ok+"\nrest"), 0o644)
	if s, _, err := d.String(Prefix); s != ok || err != nil {
		t.Errorf("String(a first line of %d octets and its LF) = %d octets, %v", len(ok), len(s), err)
	}
	f, err := os.Create(filepath.Join(dir, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.Close()
	s, _, err := d.String(Prefix)
	if want := "prefix: line 1: line of 1048576 octets or more, its line end aside"; err == nil || err.Error() != want ||
		!errors.Is(err, ErrLongLine) || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("String(64 MiB without LF) = %d octets, %v (%d); want %q (75)", len(s), err, sysexit.Code(err), want)
	}
}

// TestSecret: the moderation cookies' key is the secret file without
// the white space around it, so that an editor's CRLF or last newline
// does not change it; a file missing, empty or of white space alone
// is no key (75), never one that anyone can make cookies with.
func TestSecret(t *testing.T) {
	for content, want := range map[string]string{
		"":                           "",
		"\n":                         "",
		" \t\r\n\n":                  "",
		"0123456789abcdef\n":         "0123456789abcdef",
		" 0123456789abcdef \r\n":     "0123456789abcdef",
		"\ufeff0123456789abcdef\r\n": "0123456789abcdef",
		"0123456789abcdef\nmore\n":   "0123456789abcdef\nmore",
		"(missing)":                  "",
		// Short enough to be found from one cookie (R71).
		"0123456789abcde\n": "",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
		if content != "(missing)" {
			os.WriteFile(filepath.Join(dir, Secret), []byte(content), 0o600)
		}
		d, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		key, err := d.Secret()
		switch {
		case want == "" && (err == nil || sysexit.Code(err) != sysexit.TempFail):
			t.Errorf("Secret(%q) = %q, %v; want a temporary error", content, key, err)
		case want != "" && (err != nil || string(key) != want):
			t.Errorf("Secret(%q) = %q, %v; want %q", content, key, err, want)
		}
	}
}

// TestDanglingSetting: a setting that is a symbolic link to nothing, as
// one to a file system not mounted, is there but cannot be read: a
// temporary error, not its default (a policy of members where the
// list's says moderated, no deny patterns), and Has sees it; a
// dangling address is no "no such list" (67, a bounce), but 75.
func TestDanglingSetting(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Policy, Deny, Secret, MembersCommand} {
		if err := os.Symlink(filepath.Join(dir, "gone", name), d.File(name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := d.String(Policy); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("String(a link to nothing) = %v, %v; want a temporary error", ok, err)
	}
	if _, err := d.Lines(Deny); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Lines(a link to nothing) = %v; want a temporary error", err)
	}
	if _, err := d.Text(Secret); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Text(a link to nothing) = %v; want a temporary error", err)
	}
	if !d.Has(MembersCommand) {
		t.Errorf("Has(a link to nothing) = false; want true")
	}
	os.Remove(d.File(Address))
	os.Symlink(filepath.Join(dir, "gone", Address), d.File(Address))
	if _, err := Open(dir); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Open(address a link to nothing) = %v; want a temporary error", err)
	}
}

// TestFIFOSetting: a setting or member file that is a FIFO is a
// temporary failure, found at once: it held the open, and a member
// file's lock with it, until someone wrote to it (mlm-sub and mlm-who
// hung). So is a device, but /dev/null, which stays an empty file.
func TestFIFOSetting(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(d.File(Policy), 0o600); err != nil {
		t.Skip("no FIFO here:", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := d.String(Policy); done <- err }()
	select {
	case err := <-done:
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("String(a FIFO) = %v; want a temporary error naming it", err)
		}
	case <-time.After(time.Minute): // a safety net, not a measure: it never returned
		t.Fatal("String(a FIFO) waits for a writer")
	}
	if err := os.Symlink("/dev/null", d.File(Deny)); err != nil {
		t.Fatal(err)
	}
	if l, err := d.Lines(Deny); err != nil || len(l) != 0 {
		t.Errorf("Lines(/dev/null) = %q, %v; want none, no error", l, err)
	}
	// Any other device is refused as a FIFO is, whatever it would give.
	if err := os.Symlink("/dev/zero", d.File(Prefix)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.String(Prefix); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), Prefix+": a device") {
		t.Errorf("String(/dev/zero) = %v; want a temporary error naming it a device", err)
	}
	if _, _, err := FirstLineOf("/dev/zero"); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "a device") {
		t.Errorf("FirstLineOf(/dev/zero) = %v; want a temporary error naming it a device", err)
	}
	if _, ok, err := FirstLineOf(os.DevNull); err != nil || !ok {
		t.Errorf("FirstLineOf(/dev/null) = %v, %v; want an empty first line", ok, err)
	}
}

// TestOpenDanglingDir: a list directory that is a symbolic link to
// nothing, or in a directory of lists that is one (its file system not
// mounted), is 75, mail waits; it was "no such list", 67, and the MTA
// bounced every post. A path that is not there, through no such link,
// is still 67.
func TestOpenDanglingDir(t *testing.T) {
	root := t.TempDir()
	gone := filepath.Join(root, "gone")
	if err := os.Symlink(gone, filepath.Join(root, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(gone, filepath.Join(root, "lists")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(root, "dev"), filepath.Join(root, "lists", "dev")} {
		if _, err := Open(p); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "symbolic link to nothing") {
			t.Errorf("Open(%s) = %v; want 75, a symbolic link to nothing", p, err)
		}
	}
	if _, err := Open(filepath.Join(root, "none")); sysexit.Code(err) != sysexit.NoUser {
		t.Errorf("Open(no such directory) = %v; want 67", err)
	}
}

// TestCheckUser: root may not write in a list another user owns (75,
// naming the owner), and may in its own; OpenRW refuses where Open,
// for reading, does not.
func TestCheckUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the list to another user")
	}
	dir := openDir(t)
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o600)
	if err := CheckUser(dir); err != nil {
		t.Errorf("CheckUser(root's list) = %v", err)
	}
	if _, err := OpenRW(dir); err != nil {
		t.Errorf("OpenRW(root's list) = %v", err)
	}
	for _, p := range []string{dir, filepath.Join(dir, Address)} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	err := CheckUser(dir)
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), ": owned by nobody: run this as nobody, not as root") {
		t.Errorf("CheckUser(nobody's list) = %v (%d); want 75 naming nobody", err, sysexit.Code(err))
	}
	if d, err := OpenRW(dir); d != nil || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("OpenRW(nobody's list) = %v, %v; want nil, 75", d, err)
	}
	if _, err := Open(dir); err != nil {
		t.Errorf("Open(nobody's list) = %v; reading is root's to do", err)
	}
	if err := CheckUser(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("CheckUser(missing) = %v; want it left to the open", err)
	}
	// A list of root's whose queues, or whose state, the list's user
	// owns: what root wrote there (state/throttle, a record) the list's
	// user could not read, and the list would stop.
	for _, sub := range []string{QueueDir, StateDir} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o600)
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, sub), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		d, err := OpenRW(dir)
		if d != nil || sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), filepath.Join(dir, sub)+": owned by nobody") {
			t.Errorf("OpenRW(root's list, %s nobody's) = %v, %v; want nil, 75 naming %s", sub, d, err, sub)
		}
	}
}

// TestPutQueueOfAnother: root's Put into a queue of a list of root's
// that another user owns is refused (75, naming the queue and its
// owner), and writes nothing; into root's own queue it writes.
func TestPutQueueOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give a queue to another user")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o600)
	d, err := OpenRW(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{Hold, Outgoing} {
		if err := d.Queue(q).Create(); err != nil {
			t.Fatal(err)
		}
	}
	hold := d.Queue(Hold).Path
	filepath.Walk(hold, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	called := false
	err = d.Put(Hold, "r1", func(w io.Writer) error { called = true; return nil })
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), hold+": owned by nobody: run this as nobody") || called {
		t.Errorf("Put(nobody's hold) = %v (%d), written %v; want 75 naming %s, nothing written", err, sysexit.Code(err), called, hold)
	}
	if n, _ := os.ReadDir(filepath.Join(hold, "new")); len(n) != 0 {
		t.Errorf("hold/new holds %d files; want none", len(n))
	}
	if err := d.Put(Outgoing, "r1", func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }); err != nil {
		t.Errorf("Put(root's outgoing) = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(d.Queue(Outgoing).Path, "new", "r1")); err != nil || string(b) != "x" {
		t.Errorf("outgoing/new/r1 = %q, %v; want the record", b, err)
	}
}

// TestOpenNotDir: a list path that is a file, or runs through one, is
// temporary, 75, as the stand-ins have it (TestStandInDanglingListDir):
// it may be mlm-lock's file, made while the list's file system was not
// mounted. The error names the path, where it said "address: not a
// directory", naming neither the path nor the list.
func TestOpenNotDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dev")
	if err := os.WriteFile(file, []byte("dev@lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, filepath.Join(file, "sub")} {
		if _, err := Open(p); sysexit.Code(err) != sysexit.TempFail || !strings.HasPrefix(err.Error(), p+": not a directory") {
			t.Errorf("Open(%s) = %v; want 75, naming the path", p, err)
		}
	}
}

// FuzzNames: the checks of a list's local part and domain take what the
// regular expressions they replaced took, and nothing else. (They were
// compiled as every program started.)
func FuzzNames(f *testing.F) {
	for _, s := range []string{"dev", "Dev-2.x_y", "", ".dev", "_dev", "-dev", "dev list", "dév", "lists.example.org", "[127.0.0.1]", "a\n"} {
		f.Add(s)
	}
	name := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	domain := regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsListName(s), name.MatchString(s); got != want {
			t.Errorf("IsListName(%q) = %v", s, got)
		}
		if got, want := ascii.Plain(s, ".-"), domain.MatchString(s); got != want {
			t.Errorf("ascii.Plain(%q, \".-\") = %v", s, got)
		}
	})
}

// TestWholeFileBound: a setting read whole (Text: a footer, a secret,
// a queue's stages; Lines: strip, headeradd, deny, relay) is at most
// MaxFile octets, and a larger one a temporary failure that names it.
// A footer linked to /dev/zero by mistake was read until memory ran
// out (mlm-hdr died "fatal error: out of memory", status 2), and a
// strip linked to /dev/urandom the same.
func TestWholeFileBound(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Up to MaxFile octets, as mlm-listdir(5) says ("up to 4 MiB"):
	// a file of exactly MaxFile is read whole, one octet more is not.
	line := strings.Repeat("x", 99) + "\n"
	fit := strings.Repeat(line, MaxFile/len(line))
	fit += strings.Repeat("y", MaxFile-len(fit)-1) + "\n"
	items := MaxFile/len(line) + 1
	os.WriteFile(d.File(Footer), []byte(fit), 0o644)
	os.WriteFile(d.File(Strip), []byte(fit), 0o644)
	if s, err := d.Text(Footer); err != nil || s != fit {
		t.Errorf("Text(%d octets) = %d octets, %v; want it whole", len(fit), len(s), err)
	}
	if l, err := d.Lines(Strip); err != nil || len(l) != items {
		t.Errorf("Lines(%d octets) = %d items, %v; want %d", len(fit), len(l), err, items)
	}
	over := fit + "z"
	os.WriteFile(d.File(Footer), []byte(over), 0o644)
	os.WriteFile(d.File(Strip), []byte(over), 0o644)
	if _, err := d.Text(Footer); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), Footer) {
		t.Errorf("Text(%d octets) = %v; want a temporary error naming it", len(over), err)
	}
	if _, err := d.Lines(Strip); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), Strip) {
		t.Errorf("Lines(%d octets) = %v; want a temporary error naming it", len(over), err)
	}
	if t.Failed() {
		return // unbounded: the devices below would take all memory
	}
	for name, dev := range map[string]string{Footer: "/dev/zero", Strip: "/dev/urandom"} {
		os.Remove(d.File(name))
		if err := os.Symlink(dev, d.File(name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Text(Footer); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Text(/dev/zero) = %v; want a temporary error", err)
	}
	if _, err := d.Lines(Strip); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Lines(/dev/urandom) = %v; want a temporary error", err)
	}
}

// TestOnceADayUTC: the day OnceADay marks is the UTC day, whatever the
// zone of the time it is given: 23:30 UTC on November 28 is already
// November 29 in Tokyo, and a sweep made then by a program running with
// TZ=Asia/Tokyo is not made again at 23:50 by one running in UTC.
func TestOnceADayUTC(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "journal.swept")
	tokyo := time.FixedZone("JST", 9*3600)
	if !OnceADay(mark, time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC).In(tokyo)) {
		t.Fatal("OnceADay, first of the day = false; want true")
	}
	if b, _ := os.ReadFile(mark); string(b) != "2026-11-28\n" {
		t.Errorf("mark = %q; want %q, the UTC day", b, "2026-11-28\n")
	}
	if OnceADay(mark, time.Date(2026, 11, 28, 23, 50, 0, 0, time.UTC)) {
		t.Errorf("OnceADay, second of the UTC day = true; want false")
	}
	if !OnceADay(mark, time.Date(2026, 11, 29, 0, 10, 0, 0, time.UTC).In(tokyo)) {
		t.Errorf("OnceADay, first of the next UTC day = false; want true")
	}
}

// FuzzSettings: whatever a setting's file holds (mlm-listdir(5): plain
// text an administrator edits by hand, in any editor), a value is its
// first line, a byte-order mark and white space around it left out; a
// number is one only if that is a decimal integer in int64's range, and
// one out of a setting's bounds is refused (75), as is anything else; a
// list's items are its lines less the space around them, blank lines
// and "#" comments left out; a whole file is its octets, a mark aside.
func FuzzSettings(f *testing.F) {
	for _, s := range []string{"42\n", "\ufeff 7 \r\nx\n", "0x10\n", "010\n", "+5", "-1\n", "9223372036854775808\n", "1_0\n",
		"# c\n a@b \n\n\ufeffx\n#\n\r\n\u00a0y\u00a0\n", "\ufeff", "\ufeff\ufeff1\n", " \n5\n", "\x85 1 \x85\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
		if err := os.WriteFile(filepath.Join(dir, "x"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(file, "\n")
		value := strings.TrimSpace(strings.TrimPrefix(first, BOM))
		if got, ok, err := d.String("x"); got != value || !ok || err != nil {
			t.Errorf("String(%q) = %q, %v, %v; want %q", file, got, ok, err, value)
		}
		n, ok := int64(0), regexp.MustCompile(`^[+-]?[0-9]+$`).MatchString(value)
		if ok {
			b, _ := new(big.Int).SetString(value, 10)
			ok = b.IsInt64()
			n = b.Int64()
		}
		if got, err := d.Int("x", -7); ok != (err == nil) || ok && got != n || !ok && (got != -7 || sysexit.Code(err) != sysexit.TempFail) {
			t.Errorf("Int(%q) = %d, %v; want %d, %v", file, got, err, n, ok)
		}
		in := ok && n >= 1 && n <= 100
		if got, err := d.IntIn("x", -7, 1, 100); in != (err == nil) || in && got != n || !in && (got != -7 || sysexit.Code(err) != sysexit.TempFail) {
			t.Errorf("IntIn(%q, 1, 100) = %d, %v; want %d, %v", file, got, err, n, in)
		}
		var items []string
		for l := range strings.SplitSeq(strings.TrimPrefix(file, BOM), "\n") {
			if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
				items = append(items, l)
			}
		}
		if got, err := d.Lines("x"); err != nil || !slices.Equal(got, items) {
			t.Errorf("Lines(%q) = %q, %v; want %q", file, got, err, items)
		}
		if got, err := d.Text("x"); err != nil || got != strings.TrimPrefix(file, BOM) {
			t.Errorf("Text(%q) = %q, %v", file, got, err)
		}
	})
}

// FirstLineOf reads a file by its path as String reads a setting: its
// first line, trimmed and without a byte-order mark, and whether it is
// there; a first line of 1 MiB or more, or a FIFO, is a temporary
// failure, the FIFO not waited on.
func TestFirstLineOf(t *testing.T) {
	dir := t.TempDir()
	file := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		ok         bool
		code       int
	}{
		{file("a", "\ufeff user pass \nmore\n"), "user pass", true, 0},
		{file("b", ""), "", true, 0},
		{file("c", strings.Repeat("x", MaxItemLine)), "", false, sysexit.TempFail},
		{fifo, "", false, sysexit.TempFail},
		{filepath.Join(dir, "none"), "", false, 0},
	} {
		got, ok, err := FirstLineOf(tc.path)
		if got != tc.want || ok != tc.ok || sysexit.Code(err) != tc.code {
			t.Errorf("FirstLineOf(%s) = %q, %v, %v; want %q, %v, exit %d", filepath.Base(tc.path), got, ok, err, tc.want, tc.ok, tc.code)
		}
	}
}

// TestLockFDLinkOfAnother: root's LockFD follows no symbolic link in a
// directory another user owns (a review), which that user could put
// there between a check of the name and its open: the link's target,
// anywhere, would be made or opened for writing by root. In its own
// directory root follows one, as any user does.
func TestLockFDLinkOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the directory to another user")
	}
	dir, roots := t.TempDir(), t.TempDir()
	target := filepath.Join(roots, "made-by-root")
	lock := filepath.Join(dir, "lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	if f, err := LockFD(lock, 0); err != nil {
		t.Errorf("LockFD(link in root's directory) = %v", err)
	} else {
		f.Close()
	}
	os.Remove(target)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	f, err := LockFD(lock, 0)
	if f != nil || sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), lock+": a symbolic link, in a directory owned by nobody: root follows none there") {
		t.Errorf("LockFD(link in nobody's directory) = %v, %v; want nil, 75 saying so", f, err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("LockFD made %s, where the link pointed", target)
	}
}

// TestRootReadsForOwner: root reads a file of a list another user owns
// only if that user may: a member file linked to a file only root may
// read is refused (75, naming the user), where root's mlm-who printed
// what it held. The user's own files, and files anyone or the user's
// group may read (a member file shared with another list by a link,
// /dev/null), are read; in root's own list, anything.
func TestRootReadsForOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the list to another user")
	}
	top := openDir(t)
	dir, roots, closed := filepath.Join(top, "list"), filepath.Join(top, "roots"), filepath.Join(top, "closed")
	for _, p := range []string{top, dir, roots, closed} {
		os.Mkdir(p, 0o755)
		os.Chmod(p, 0o755)
	}
	os.Chmod(closed, 0o700)
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, perm os.FileMode, uid, gid int) string {
		p := filepath.Join(roots, name)
		if strings.HasPrefix(name, "closed/") {
			p = filepath.Join(top, name)
		}
		if err := os.WriteFile(p, []byte("bob@example.org\n"), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nogroup := 65534 // nobody's own group, as Debian's passwd gives it
	if u, err := user.LookupId("65534"); err == nil {
		nogroup, _ = strconv.Atoi(u.Gid)
	}
	for _, c := range []struct {
		name string
		path string
		read bool // by root, in nobody's list
	}{
		{"root's, 0600", file("shadow", 0o600, 0, 0), false},
		{"root's, group root's, 0640", file("group-root", 0o640, 0, 0), false},
		{"root's, 0644", file("shared", 0o644, 0, 0), true},
		{"root's, nobody's group, 0640", file("group-nobody", 0o640, 0, nogroup), true},
		{"nobody's, 0600", file("nobodys", 0o600, 65534, nogroup), true},
		{"root's, 0644, in a directory of root's, 0700", file("closed/shared", 0o644, 0, 0), false},
		// For a member of the file's group, its group bits decide, as
		// the kernel reads them, not the others' bits.
		{"root's, nobody's group, 0604", file("group-nobody-not", 0o604, 0, nogroup), false},
		{"/dev/null", os.DevNull, true},
	} {
		os.Remove(d.File(Subscribers))
		if err := os.Symlink(c.path, d.File(Subscribers)); err != nil {
			t.Fatal(err)
		}
		for _, owner := range []int{0, 65534} {
			if err := os.Chown(dir, owner, owner); err != nil {
				t.Fatal(err)
			}
			f, err := d.OpenFile(Subscribers)
			if f != nil {
				f.Close()
			}
			want := c.read || owner == 0
			switch {
			case want && err != nil:
				t.Errorf("%s, list of uid %d: OpenFile = %v; want it read", c.name, owner, err)
			case !want && (sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), Subscribers+": nobody, whose list it is, may not read it")):
				t.Errorf("%s, list of uid %d: OpenFile = %v; want 75 naming nobody", c.name, owner, err)
			}
		}
	}
}

// TestDeviceNotOpened: a device of the list's is refused before it is
// opened, where a look at it shows one: the open of a device acts on it
// (a tape rewinds, a watchdog starts). A node of /dev/zero's numbers,
// watched by inotify, sees no open.
func TestDeviceNotOpened(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make a device node")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Address), []byte("dev@lists.example.org\n"), 0o644)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	node := d.File(Footer)
	if err := unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5))); err != nil {
		t.Skip("no device node here:", err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skip("no inotify here:", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, node, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Text(Footer); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "a device") {
		t.Errorf("Text(a device) = %v; want 75 naming it a device", err)
	}
	if _, _, err := FirstLineOf(node); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "a device") {
		t.Errorf("FirstLineOf(a device) = %v; want 75 naming it a device", err)
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(fd, buf); n > 0 {
		t.Errorf("the device was opened (%d octets of inotify events) before it was refused", n)
	}
}

// TestRootReadsForUnnamedOwner: a list of a user the password file
// does not name (from LDAP, say; the build reads /etc/passwd alone),
// whose files are root's and of the list directory's group, 0640, is
// read by root as that user reads it: the user is taken to be of that
// group.
func TestRootReadsForUnnamedOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the list to another user")
	}
	if _, err := user.LookupId("5000"); err == nil {
		t.Skip("uid 5000 is named here")
	}
	dir := filepath.Join(openDir(t), "list")
	os.Mkdir(dir, 0o755)
	p := filepath.Join(dir, Address)
	os.WriteFile(p, []byte("dev@lists.example.org\n"), 0o640)
	os.Chmod(p, 0o640)
	if err := os.Chown(p, 0, 5000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 5000, 5000); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Errorf("Open(a list of uid 5000, address root's, group 5000, 0640) = %v; want it read, as uid 5000 reads it", err)
	}
}

// TestLockFDDirLinkOfAnother: root takes no lock under a list directory
// that another user replaced with a symbolic link in a directory of
// that user's (or under a directory of lists so replaced): root's
// mlm-lock made an empty lock file of root's wherever it pointed. Under
// root's own links it does, as any user does.
func TestLockFDDirLinkOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the directory to another user")
	}
	top := openDir(t)
	lists, roots := filepath.Join(top, "lists"), filepath.Join(top, "roots")
	os.Mkdir(lists, 0o755)
	os.Mkdir(roots, 0o755)
	if err := os.Symlink(roots, filepath.Join(lists, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lists, filepath.Join(top, "alias")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(roots, "lock")
	for _, lock := range []string{filepath.Join(lists, "dev", "lock"), filepath.Join(top, "alias", "dev", "lock")} {
		if f, err := LockFD(lock, 0); err != nil {
			t.Errorf("LockFD(%s), every directory root's = %v", lock, err)
		} else {
			f.Close()
		}
		os.Remove(target)
	}
	if err := os.Chown(lists, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, lock := range []string{filepath.Join(lists, "dev", "lock"), filepath.Join(top, "alias", "dev", "lock")} {
		f, err := LockFD(lock, 0)
		if f != nil {
			f.Close()
		}
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "dev: a symbolic link, in a directory owned by nobody: root follows none there") {
			t.Errorf("LockFD(%s), dev a link in nobody's directory = %v; want 75 saying so", lock, err)
		}
		if _, err := os.Lstat(target); err == nil {
			t.Errorf("LockFD(%s) made %s, where the link pointed", lock, target)
			os.Remove(target)
		}
	}
	// A ".." after the link leaves the link's target's directory, as the
	// kernel reads it, not the link's: the lock would be top/x/lock.
	os.Mkdir(filepath.Join(top, "x"), 0o755)
	dotdot := filepath.Join(lists, "dev") + "/../x/lock"
	f, err := LockFD(dotdot, 0)
	if f != nil {
		f.Close()
	}
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "dev: a symbolic link, in a directory owned by nobody") {
		t.Errorf("LockFD(%s) = %v; want 75 naming dev", dotdot, err)
	}
	if _, err := os.Lstat(filepath.Join(top, "x", "lock")); err == nil {
		t.Errorf("LockFD(%s) made x/lock, where the link's target's directory led", dotdot)
	}
	// A directory of lists that is a link in nobody's directory.
	os.Chown(lists, 0, 0)
	os.Chown(top, 65534, 65534)
	f, err = LockFD(filepath.Join(top, "alias", "dev", "lock"), 0)
	if f != nil {
		f.Close()
	}
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "alias: a symbolic link, in a directory owned by nobody") {
		t.Errorf("LockFD(alias/dev/lock), alias a link in nobody's directory = %v; want 75 saying so", err)
	}
}

// TestLockFDLinksOfAnother: root takes no lock under a link another
// user made, however the path reaches it: through a link of root's
// (/srv/lists -> /home/mlm/lists, which that user turned into a link),
// through ".." after it, or in a directory of root's that user may
// write (root:mlm 2775). Root's own links, in its own directories, a
// sticky one among them, it follows.
func TestLockFDLinksOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give directories to another user")
	}
	top := openDir(t)
	home, roots, shared, sticky := filepath.Join(top, "home"), filepath.Join(top, "roots"), filepath.Join(top, "shared"), filepath.Join(top, "sticky")
	for _, p := range []string{home, roots, filepath.Join(roots, "dev"), filepath.Join(roots, "dev", "sub"), shared, sticky} {
		os.Mkdir(p, 0o755)
	}
	os.Chown(home, 65534, 65534)
	os.Chown(shared, 0, 65534)
	os.Chmod(shared, 0o775|os.ModeSetgid)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	os.Symlink(filepath.Join(home, "lists"), filepath.Join(top, "srv-lists")) // root's
	// The user's links, nobody's as that user would make them.
	for _, l := range [][2]string{{roots, filepath.Join(home, "lists")}, {filepath.Join(roots, "dev", "sub"), filepath.Join(home, "sub")},
		{filepath.Join(roots, "dev"), filepath.Join(shared, "dev")}, {filepath.Join(roots, "dev"), filepath.Join(sticky, "dev")}} {
		os.Symlink(l[0], l[1])
		os.Lchown(l[1], 65534, 65534)
	}
	target := filepath.Join(roots, "dev", "lock")
	for _, lock := range []string{filepath.Join(top, "srv-lists", "dev", "lock"), filepath.Join(home, "sub") + "/../lock",
		filepath.Join(shared, "dev", "lock"), filepath.Join(sticky, "dev", "lock")} {
		f, err := LockFD(lock, 0)
		if f != nil {
			f.Close()
		}
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), ": a symbolic link") {
			t.Errorf("LockFD(%s) = %v; want 75 naming a link of nobody's", lock, err)
		}
		if _, serr := os.Lstat(target); serr == nil {
			t.Errorf("LockFD(%s) made %s, root's, under nobody's link", lock, target)
			os.Remove(target)
		}
	}
	// Root's own links: in a directory of root's, and in a sticky one.
	os.Symlink(filepath.Join(roots, "dev"), filepath.Join(top, "rootlink"))
	os.Symlink(filepath.Join(roots, "dev"), filepath.Join(sticky, "rootlink"))
	os.Symlink("dev/sub/..", filepath.Join(roots, "relative"))
	for _, lock := range []string{filepath.Join(top, "rootlink", "lock"), filepath.Join(sticky, "rootlink", "lock"),
		filepath.Join(roots, "relative", "lock"), filepath.Join(top, "rootlink", "sub") + "/../lock"} {
		f, err := LockFD(lock, 0)
		if err != nil {
			t.Errorf("LockFD(%s), by root's links = %v", lock, err)
			continue
		}
		f.Close()
		if _, serr := os.Lstat(target); serr != nil {
			t.Errorf("LockFD(%s) made no %s", lock, target)
		}
		os.Remove(target)
	}
}

// TestLockFDProcLink: root's lock through the kernel's own links of
// /proc (/dev/fd/N, /proc/self/fd/N) takes the file they lead to, as the
// kernel follows them: their text is no path. Of a file deleted since,
// root made a file named "NAME (deleted)" and failed.
func TestLockFDProcLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root's walk")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here")
	}
	dir := t.TempDir()
	held, err := os.Create(filepath.Join(dir, "g"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	os.Remove(held.Name())
	for _, p := range []string{fmt.Sprintf("/dev/fd/%d", held.Fd()), fmt.Sprintf("/proc/self/fd/%d", held.Fd())} {
		f, err := LockFD(p, 0)
		if err != nil {
			t.Errorf("LockFD(%s, a deleted file's) = %v", p, err)
			continue
		}
		a, _ := f.Stat()
		b, _ := held.Stat()
		if !os.SameFile(a, b) {
			t.Errorf("LockFD(%s) locked another file than the one it leads to", p)
		}
		f.Close()
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("LockFD made %s, from the link's text", ents[0].Name())
	}
}

// openDir makes a directory that other users may enter, removed when
// the test ends: t.TempDir's parent is closed to them, and root reads
// for a list's user only what that user may read.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mlm-listdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestOpenFileSwappedFIFO: a FIFO swapped in at a list file between the
// look at it and its open is never opened (a critical read), however the
// swaps fall: inotify, watching the FIFO wherever it is named, sees no
// open. A look, then an open by name, opened it within the second.
func TestOpenFileSwappedFIFO(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here: OpenFile looks, then opens by name")
	}
	dir := t.TempDir()
	d := &Dir{Path: dir}
	file, fifo := filepath.Join(dir, "subscribers"), filepath.Join(dir, "other")
	os.WriteFile(file, []byte("bob@example.org\n"), 0o644)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO here:", err)
	}
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skip("no inotify here:", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, fifo, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				unix.Renameat2(unix.AT_FDCWD, file, unix.AT_FDCWD, fifo, unix.RENAME_EXCHANGE)
			}
		}
	}()
	buf := make([]byte, 4096)
	opened := false
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !opened; { // (as many tries as fit: not a measure)
		if f, err := d.OpenFile(Subscribers); err == nil && f != nil {
			f.Close()
		}
		n, _ := unix.Read(in, buf)
		opened = n > 0
	}
	close(stop)
	<-done
	if opened {
		t.Errorf("OpenFile opened a FIFO swapped in at the file")
	}
}

// QueueStages: a missing or empty file is the queue's default stages, a
// file of comments none, one that does not parse an error.
func TestQueueStages(t *testing.T) {
	if got, err := QueueStages(Outgoing, ""); err != nil || len(got) != 4 || got[0][0] != "mlm-split" {
		t.Errorf("no file: %q, %v; want the default outgoing stages", got, err)
	}
	if got, err := QueueStages(Incoming, "# none\n\n"); err != nil || got != nil {
		t.Errorf("a file of comments: %q, %v; want none", got, err)
	}
	if got, err := QueueStages(Incoming, "a .\n  b -x\tc\n"); err != nil || len(got) != 2 || strings.Join(got[1], " ") != "b -x c" {
		t.Errorf("two stages: %q, %v", got, err)
	}
	if _, err := QueueStages(Incoming, "a\x01\n"); err == nil {
		t.Errorf("a control octet: no error")
	}
}
