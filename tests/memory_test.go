package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"mlm/lib/stream"
)

// writeRecord writes a stream of one record with n recipients to a file.
func writeRecord(t *testing.T, n int) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.mlm", n))
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w := stream.NewWriter(bw)
	w.WriteHeader(&stream.Header{ID: "big", Sender: stream.Path{Mailbox: "list-bounces@example.org"}})
	w.Write([]byte("Subject: big\n\n" + strings.Repeat("body line\n", 400)))
	for i := 0; i < n; i++ {
		if err := w.Recipient(stream.Path{Mailbox: fmt.Sprintf("member%07d@example%d.net", i, i%97)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// peakRSS runs a program with stdin from a file, output discarded but
// for the last line, and returns its peak resident set in KiB.
func peakRSS(t *testing.T, in string, prog string, args ...string) (int64, string) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(binDir, "peakrss"), append([]string{filepath.Join(binDir, prog)}, args...)...)
	cmd.Stdin = f
	tail := &lastLine{}
	cmd.Stdout = tail
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", prog, args, err, stderr.String())
	}
	var kib int64
	if _, err := fmt.Sscanf(stderr.String(), "peakrss: %d\n", &kib); err != nil {
		t.Fatalf("peakrss said %q", stderr.String())
	}
	return kib, tail.String()
}

// lastLine keeps the last complete line written to it.
type lastLine struct{ cur, last []byte }

func (l *lastLine) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			l.last, l.cur = append(l.last[:0], l.cur...), l.cur[:0]
		} else {
			l.cur = append(l.cur, c)
		}
	}
	return len(p), nil
}

func (l *lastLine) String() string { return string(l.last) }

// leastRSS is the least peak RSS of three runs of peakRSS, and the last
// line of the last. What a program holds shows in every run; garbage its
// collector has not yet come to (later on a loaded machine) only in some,
// by a few MiB.
func leastRSS(t *testing.T, in, prog string, args ...string) (int64, string) {
	t.Helper()
	least, last := peakRSS(t, in, prog, args...)
	for range 2 {
		kib, l := peakRSS(t, in, prog, args...)
		least, last = min(least, kib), l
	}
	return least, last
}

// touchMiB, where MLM_TEST_TOUCH_MIB is set, makes the test binary a
// program that holds that many MiB resident, says "touched" and exits 0,
// without building or testing anything.
func touchMiB() {
	v := os.Getenv("MLM_TEST_TOUCH_MIB")
	if v == "" {
		return
	}
	mib, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(64)
	}
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	fmt.Println("touched")
	os.Exit(0)
}

// TestPeakRSS: peakRSS and hRun, which every memory bound is held to,
// read the peak resident set of the program they run, in KiB: the test
// binary made to touch 64 MiB reads at least 64 MiB through both, and
// its "touched" is peakRSS's last line. A reading of 0, in MiB, or of
// peakrss's own few MiB would pass every bound and hold none.
func TestPeakRSS(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := filepath.Rel(binDir, exe) // the helpers run binDir/prog
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MLM_TEST_TOUCH_MIB", "64")
	kib, last := peakRSS(t, os.DevNull, prog)
	if kib < 64<<10 || last != "touched" {
		t.Errorf("peakRSS: %d KiB, last line %q; want at least %d KiB and \"touched\"", kib, last, 64<<10)
	}
	if o := hRun(t, nil, nil, nil, prog); o.code != 0 || o.rss < 64<<10 {
		t.Errorf("hRun: exit %d, %d KiB; want 0 and at least %d KiB", o.code, o.rss, 64<<10)
	}
}

// bigInput records a memory test's input and the result it asserts
// (mlmtest.Fault), and skips the test with -short: each builds an input
// of some hundred MB.
func bigInput(t *testing.T, input, result string) {
	t.Helper()
	mlmtest.Fault(t, "input", input, result)
	if testing.Short() {
		t.Skip("short")
	}
}

// TestMemoryFlat: a 1,000,000-recipient record goes through mlm-check
// and mlm-unwrap -e in about the memory a 100,000-recipient one takes.
func TestMemoryFlat(t *testing.T) {
	bigInput(t, "a 1,000,000-recipient record through mlm-check and mlm-unwrap -e", "peak RSS within 4 MiB of the 100,000-recipient one, under 32 MiB")
	small, big := writeRecord(t, 100_000), writeRecord(t, 1_000_000)
	for _, c := range []struct {
		prog string
		args []string
		last string
	}{
		{"mlm-check", nil, ""},
		{"mlm-unwrap", []string{"-e"}, "big count %d"},
	} {
		rs, outS := leastRSS(t, small, c.prog, c.args...)
		rb, outB := leastRSS(t, big, c.prog, c.args...)
		t.Logf("%s: peak RSS %d KiB at 100,000 recipients, %d KiB at 1,000,000", c.prog, rs, rb)
		if c.last != "" && (outS != fmt.Sprintf(c.last, 100_000) || outB != fmt.Sprintf(c.last, 1_000_000)) {
			t.Errorf("%s: last lines %q, %q", c.prog, outS, outB)
		}
		if rb > rs+4096 || rb > 32*1024 {
			t.Errorf("%s: peak RSS grew from %d KiB to %d KiB with the recipients", c.prog, rs, rb)
		}
	}
}

// TestMemorySub: mlm-sub and mlm-unsub of 1,000,000 addresses from
// standard input hold a pass's worth of them, not all: the first
// subscription of a million took 238 MB, about 220 octets an address,
// where a stage's memory is bounded whatever the list's size.
func TestMemorySub(t *testing.T) {
	bigInput(t, "1,000,000 addresses to mlm-sub and mlm-unsub on standard input", "peak RSS under 64 MiB, every address added and removed")
	dir := newList(t)
	in := filepath.Join(t.TempDir(), "addresses")
	var b strings.Builder
	for i := range 1_000_000 {
		fmt.Fprintf(&b, "member%07d@example%d.net\n", i, i%97)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ prog, want string }{
		{"mlm-sub", "subscribers: added 1000000 of 1000000"},
		{"mlm-sub", "subscribers: added 0 of 1000000"},
		{"mlm-unsub", "subscribers: removed 1000000 of 1000000"},
	} {
		kib, last := peakRSS(t, in, c.prog, "-v", dir)
		t.Logf("%s: peak RSS %d KiB: %s", c.prog, kib, last)
		if last != c.want || kib > 64<<10 {
			t.Errorf("%s of 1,000,000: %q, peak RSS %d KiB; want %q, under %d KiB", c.prog, last, kib, c.want, 64<<10)
		}
		if c.want == "subscribers: added 1000000 of 1000000" {
			if got, err := os.ReadFile(filepath.Join(dir, "subscribers")); err != nil || string(got) != b.String() {
				t.Errorf("subscribers: %d octets, %v; want the 1,000,000 addresses in their order", len(got), err)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(dir, "subscribers")); err != nil || len(got) != 0 {
		t.Errorf("subscribers after mlm-unsub: %d octets, %v; want none", len(got), err)
	}
}

// TestMemorySendmail: records of 200,000 recipients each, from stages
// without mlm-split, are not in mlm-sendmail's hands 3 × -c + 1 at
// once: three took some 150 MB, 250 octets a recipient of each. (Since,
// each goes as parts of partRcpts: TestMemorySendmailMillion.)
func TestMemorySendmail(t *testing.T) {
	bigInput(t, "three records of 200,000 recipients each to mlm-sendmail -c 1", "peak RSS under 100 MiB (not every record's recipients at once), every recipient delivered once")
	dir := newList(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	// (Its replies to the dots a little slow, as a remote server's are:
	// the records come faster than they go.)
	addr := startMlmSink(t, t.TempDir(), nil, "-L", ledger, "-w", "2ms", "--delay-at", "dot")
	in := filepath.Join(t.TempDir(), "records.mlm")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w := stream.NewWriter(bw)
	const records, per = 3, 200_000
	for r := range records {
		w.WriteHeader(&stream.Header{ID: fmt.Sprintf("1764417600.p%d", r), Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}})
		w.Write([]byte("Subject: big\n\n" + strings.Repeat("body line\n", 400)))
		for i := range per {
			w.Recipient(stream.Path{Mailbox: fmt.Sprintf("m%d.%07d@example%d.net", r, i, i%97)})
		}
		w.End()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	kib, _ := peakRSS(t, in, "mlm-sendmail", "-c", "1", "-r", addr, dir)
	t.Logf("mlm-sendmail: peak RSS %d KiB", kib)
	if kib > 100<<10 {
		t.Errorf("mlm-sendmail of %d records of %d recipients: peak RSS %d KiB; want under %d KiB", records, per, kib, 100<<10)
	}
	ledgerOnce(t, ledger, records*per)
}

// ledgerOnce fails the test unless mlm-sink's ledger names n
// recipients, each once, and returns over how many connections.
func ledgerOnce(t *testing.T, ledger string, n int) (conns int) {
	t.Helper()
	got, err := os.ReadFile(ledger)
	if err != nil {
		t.Fatal(err)
	}
	seen, cs := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
		txn, rcpt, _ := strings.Cut(l, " ") // c.t: connection c's transaction t
		conn, _, _ := strings.Cut(txn, ".")
		seen[rcpt], cs[conn] = true, true
	}
	if k := strings.Count(string(got), "\n"); k != n || len(seen) != n {
		t.Errorf("the sink accepted %d recipients, %d distinct; want %d, each once", k, len(seen), n)
	}
	return len(cs)
}

// TestMemorySendmailMillion: a record of a million recipients, as
// mlm-members writes one for stages without mlm-split, goes as parts of
// 5,000 recipients (mlm-sendmail(1)), read as they are sent: not held
// whole, which took 235 MB, and over the connections the parts take,
// not one alone.
func TestMemorySendmailMillion(t *testing.T) {
	bigInput(t, "one record of 1,000,000 recipients to mlm-sendmail", "peak RSS under 64 MiB (parts of 5,000 in hand, not the million), every recipient delivered once, over more than one connection")
	dir := newList(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	addr := startMlmSink(t, t.TempDir(), nil, "-L", ledger)
	const n = 1_000_000
	in := writeRecord(t, n)
	kib, _ := peakRSS(t, in, "mlm-sendmail", "-r", addr, dir)
	t.Logf("mlm-sendmail: peak RSS %d KiB", kib)
	if kib > 64<<10 {
		t.Errorf("mlm-sendmail of a record of %d recipients: peak RSS %d KiB; want under %d KiB", n, kib, 64<<10)
	}
	if conns := ledgerOnce(t, ledger, n); conns < 2 {
		t.Errorf("the record went over %d connection; want more than one", conns)
	}
}
