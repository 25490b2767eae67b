package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"mlm/lib/stream"
)

// TestJournalCatchUp: what another process appends to a post's journal,
// which this one has open, is read before the next record, a partial
// last line once it is whole; what nobody appended costs no read.
func TestJournalCatchUp(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	final := func(a string, want bool) {
		t.Helper()
		if err := j.refresh("p"); err != nil {
			t.Fatal(err)
		}
		if got, err := j.final("p", a); err != nil || got != want {
			t.Fatalf("final(%s) = %v, %v; want %v", a, got, err, want)
		}
	}
	if err := j.reserve("p", []stream.Path{{Mailbox: "a@x.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.record("p", []string{"D a@x.example"}); err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(filepath.Join(dir, "p"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	final("b@x.example", false)
	other.WriteString("D b@x.example\nF c@x.")
	final("b@x.example", true)
	final("c@x.example", false) // not yet a whole line
	other.WriteString("example\n")
	final("c@x.example", true)
	final("d@x.example", false)
}

// TestJournalReserve: reserve allocates the space a transaction's lines
// take, and some ahead, which the next transactions use without
// allocating again until it runs out.
func TestJournalReserve(t *testing.T) {
	dir := t.TempDir()
	j := newJournal(dir)
	defer j.close()
	rcpts := func(n int) []stream.Path {
		p := make([]stream.Path, n)
		for i := range p {
			p[i] = stream.Path{Mailbox: "someone@example.org"}
		}
		return p
	}
	if err := j.reserve("p", rcpts(1)); err != nil {
		t.Fatal(err)
	}
	first := j.reserved["p"]
	if first < reserveAhead {
		t.Skipf("no fallocate here (reserved %d)", first)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "p"), &st); err != nil || st.Blocks*512 < reserveAhead {
		t.Fatalf("%d octets allocated, want %d: %v", st.Blocks*512, reserveAhead, err)
	}
	if err := j.reserve("p", rcpts(100)); err != nil || j.reserved["p"] != first {
		t.Fatalf("a reserve within the space allocated allocated again: %d, was %d (%v)", j.reserved["p"], first, err)
	}
	big := rcpts(5000) // 5000 × 22 octets: more than is left
	if err := j.reserve("p", big); err != nil || j.reserved["p"] < 5000*int64(len("D someone@example.org\n")) {
		t.Fatalf("a reserve past the space allocated: reserved to %d (%v)", j.reserved["p"], err)
	}
}

// TestJournalReserveNearlyFull: where the space ahead is not there, but
// the transaction's own is, the transaction goes ahead. It mounts a small
// tmpfs, so it runs as root only.
func TestJournalReserveNearlyFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs refused (tests that mount run as root): %v: %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer fill.Close()
	if err := syscall.Fallocate(int(fill.Fd()), 0, 0, 1<<20-reserveAhead/2); err != nil {
		t.Fatal(err)
	}
	j := newJournal(filepath.Join(dir, "journal"))
	defer j.close()
	if err := j.reserve("p", []stream.Path{{Mailbox: "a@x.example"}}); err != nil {
		t.Fatalf("reserve with %d octets free: %v", reserveAhead/2, err)
	}
	if got := j.reserved["p"]; got <= 0 || got >= reserveAhead {
		t.Errorf("reserved to %d: want the transaction's own lines only", got)
	}
	if err := j.reserve("p", make([]stream.Path, reserveAhead/4)); err == nil {
		t.Errorf("reserve of more than is free went through")
	}
}
