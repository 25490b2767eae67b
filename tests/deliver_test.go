package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"mlm/lib/mlmtest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/smtpsink"
	"mlm/lib/stream"
)

// freePort returns a loopback address no one listens on (a small race
// with other programs, acceptable in tests).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mlm runs a built program with stdin and environment, and fails the
// test unless it exits 0.
func mlm(t *testing.T, stdin string, env []string, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", prog, args, err, errb.String())
	}
	return out.String()
}

// TestDeliverSmtpSink: a post to 1,000 members with MAX_RCPT 100, from
// mlm-accept to Postfix's smtp-sink through the list's default stages:
// exactly 10 transactions, every member exactly once, the body as sent.
func TestDeliverSmtpSink(t *testing.T) {
	addr, dump := smtpSink(t, 100)
	dir := newList(t)
	os.WriteFile(filepath.Join(dir, "relay"), []byte(addr+"\n"), 0o644)
	var members strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&members, "member%04d@example.org\n", i)
	}
	mlm(t, members.String(), nil, "mlm-sub", dir)
	body := "Agenda:\n.dot line\nR <mallory@example.net>\n\nend\n"
	post := "From: Member One <member0001@example.org>\nSubject: notes\n\n" + body
	mlm(t, post, []string{"SENDER=member0001@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	mlm(t, "", nil, "mlm-run", dir)

	rcpts, bodies := sinkMessages(t, dump, 1000)
	if len(bodies) != 10 {
		t.Errorf("%d transactions; want 10", len(bodies))
	}
	for i, b := range bodies {
		if b != body {
			t.Errorf("transaction %d: body %q; want %q", i, b, body)
		}
	}
	var want []string
	for i := 1; i <= 1000; i++ {
		want = append(want, fmt.Sprintf("<member%04d@example.org>", i))
	}
	if strings.Join(rcpts, " ") != strings.Join(want, " ") {
		t.Errorf("recipients: %d, not every member exactly once", len(rcpts))
	}
	for _, q := range []string{"incoming", "outgoing", "retry", "bounces"} {
		if n := mlmtest.Names(t, filepath.Join(dir, "queue", q, "new")); len(n) != 0 {
			t.Errorf("queue %s still holds %v", q, n)
		}
	}
}

// smtpSink starts Postfix's smtp-sink on a loopback port, taking up to
// maxRcpt recipients a transaction and writing each transaction to a
// file in dump, until the test ends.
func smtpSink(t *testing.T, maxRcpt int) (addr, dump string) {
	t.Helper()
	sink, err := exec.LookPath("smtp-sink")
	if err != nil {
		if sink, err = exec.LookPath("/usr/sbin/smtp-sink"); err != nil {
			t.Skip("no smtp-sink (Debian's postfix package)")
		}
	}
	dump = filepath.Join(openTempDir(t, "mlm-sink-"), "dump")
	os.Mkdir(dump, 0o777)
	os.Chmod(dump, 0o777) // smtp-sink writes as nobody
	addr = freePort(t)
	srv := exec.Command(sink, "-u", "nobody", "-d", dump+"/%M.", addr, fmt.Sprint(maxRcpt))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	for i := 0; i < 500; i++ { // until it listens
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, dump
}

// sinkMessages waits until the transactions smtp-sink wrote to dump hold
// n recipients in all, and returns the recipients' paths, sorted, and the body
// of each transaction's message.
func sinkMessages(t *testing.T, dump string, n int) (rcpts, bodies []string) {
	t.Helper()
	for _, d := range sinkDumps(t, dump, n) {
		rcpts = append(rcpts, d.rcpts...)
		bodies = append(bodies, d.body)
	}
	sort.Strings(rcpts)
	return rcpts, bodies
}

// sinkDump is a transaction smtp-sink wrote to its dump directory.
type sinkDump struct {
	rcpts        []string // the RCPT TO paths, without parameters such as ORCPT=
	header, body string   // the message's, split at its first empty line
}

// sinkDumps returns the transactions smtp-sink wrote to dump, waiting a
// while for n recipients among them.
func sinkDumps(t *testing.T, dump string, n int) []sinkDump {
	t.Helper()
	var ds []sinkDump
	for i := 0; i < 1000; i++ { // smtp-sink writes as it goes
		ds = nil
		got := 0
		files, _ := filepath.Glob(filepath.Join(dump, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, msg, _ := strings.Cut(string(b), "\nX-Rcpt-Args")
			lines := strings.Split("X-Rcpt-Args"+msg, "\n")
			var d sinkDump
			k := 0
			for ; strings.HasPrefix(lines[k], "X-Rcpt-Args: "); k++ {
				path, _, _ := strings.Cut(strings.TrimPrefix(lines[k], "X-Rcpt-Args: "), " ")
				d.rcpts = append(d.rcpts, path)
			}
			// smtp-sink ends the dump with an empty line of its own.
			d.header, d.body, _ = strings.Cut(strings.Join(lines[k:], "\n"), "\n\n")
			d.body = strings.TrimSuffix(d.body, "\n")
			ds = append(ds, d)
			got += len(d.rcpts)
		}
		if got >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ds
}

// TestSendmailKilled: mlm-sendmail killed with SIGKILL at random points
// of its transactions, then run again until it finishes: every
// recipient is delivered, and a recipient is delivered twice only when a
// kill fell between the server's 250 and the journal write, at most one
// transaction per connection per kill.
func TestSendmailKilled(t *testing.T) {
	mlmtest.Fault(t, "soak", "SIGKILL of mlm-sendmail at random points of its transactions", "every recipient delivered; twice only for a kill between the 250 and the journal, one transaction per connection per kill at most")
	dir := newList(t)
	ledger := filepath.Join(t.TempDir(), "ledger")
	srv, err := smtpsink.Start(smtpsink.Options{Ledger: ledger, Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var in bytes.Buffer
	w := stream.NewWriter(&in)
	const batches, per, conns = 20, 50, 2
	for b := 0; b < batches; b++ {
		w.WriteHeader(&stream.Header{ID: fmt.Sprintf("1795867200.M1P1,%d", b+1), Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}})
		w.Write([]byte("Subject: kill test\n\nbody\n"))
		for r := 0; r < per; r++ {
			w.Recipient(stream.Path{Mailbox: fmt.Sprintf("m%02d.%02d@example.org", b, r)})
		}
		w.End()
	}
	w.Flush()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	for i := 0; i < 60; i++ {
		cmd := exec.Command(filepath.Join(binDir, "mlm-sendmail"), "-c", fmt.Sprint(conns), "-r", srv.Addr(), dir)
		cmd.Stdin = bytes.NewReader(in.Bytes())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := i < 40
		if kill {
			time.Sleep(time.Duration(rng.Intn(60)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
		}
		err := cmd.Wait()
		if kill && cmd.ProcessState.ExitCode() == -1 {
			kills++
		}
		if !kill && err == nil {
			break
		}
	}
	b, _ := os.ReadFile(ledger)
	got := map[string]int{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		if _, r, ok := strings.Cut(l, " "); ok {
			got[strings.Trim(r, "<>")]++
		}
	}
	missing := 0
	for bt := 0; bt < batches; bt++ {
		for r := 0; r < per; r++ {
			if got[fmt.Sprintf("m%02d.%02d@example.org", bt, r)] == 0 {
				missing++
			}
		}
	}
	dups := len(lines) - len(got)
	t.Logf("%d kills, %d deliveries, %d duplicates", kills, len(lines), dups)
	if missing != 0 {
		t.Errorf("%d recipients never delivered", missing)
	}
	if dups > kills*conns*per {
		t.Errorf("%d duplicates from %d kills; at most %d possible", dups, kills, kills*conns*per)
	}
}

// TestModeratorMemberGetsPost: a moderator who is also a member gets the
// held post once it is approved, though the notice went to the same
// address first (notices have a delivery journal of their own).
func TestModeratorMemberGetsPost(t *testing.T) {
	dir, srv := sinkList(t)
	mlm(t, "mod@example.org\nann@example.org\n", nil, "mlm-sub", dir)
	mlm(t, "", nil, "mlm-sub", "-l", "moderators", dir, "mod@example.org")
	post := "From: stranger@example.net\nSubject: held then approved\n\nhello\n"
	mlm(t, post, []string{"SENDER=stranger@example.net", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	mlm(t, "", nil, "mlm-run", dir) // held; the notice goes to mod@
	list := mlm(t, "", nil, "mlm-moderate", dir, "list")
	id, _, _ := strings.Cut(list, "\t")
	mlm(t, "", nil, "mlm-moderate", dir, "approve", id)
	mlm(t, "", nil, "mlm-run", dir)
	got := map[string][]string{}
	for _, m := range srv.Messages() {
		subject := "post"
		if bytes.HasPrefix(m.Data, []byte("From: dev-owner@")) {
			subject = "notice"
		}
		for _, r := range m.Rcpts {
			got[r.Mailbox] = append(got[r.Mailbox], subject)
		}
	}
	if fmt.Sprint(got["mod@example.org"]) != "[notice post]" || fmt.Sprint(got["ann@example.org"]) != "[post]" {
		t.Errorf("deliveries: %v", got)
	}
}

// TestRetryWaits: through the list's default stages, a recipient a
// server defers (greylisting's 451) is tried once in a run, not again at
// once: its retry record waits five minutes (RFC 5321 section 4.5.4.1;
// Postfix's least wait), where it was ready at once and the retry
// queue, run after outgoing, met the same 451 within the second. Tried
// when its time comes, it goes through mlm-throttle, at the list's rates.
func TestRetryWaits(t *testing.T) {
	dir := newList(t)
	base := filepath.Dir(dir)
	mlm(t, "alice@example.net\nbob@example.net\n", nil, "mlm-sub", dir)
	ledger := filepath.Join(base, "ledger")
	conv, err := os.Create(filepath.Join(base, "conversations")) // -v's
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Close()
	addr := startMlmSink(t, base, conv, "-v", "-L", ledger, "-r", "bob@*=451 4.7.1 greylisted, try again in 5 minutes")
	if err := os.WriteFile(filepath.Join(dir, "relay"), []byte(addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A rate the retry must keep: mlm-throttle(1)'s state file shows it
	// charged.
	if err := os.WriteFile(filepath.Join(dir, "rcptrate"), []byte("1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	post := "From: alice@example.net\nSubject: hi\n\nhello\n"
	mlm(t, post, []string{"SENDER=alice@example.net", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	start := time.Now()
	mlm(t, "", nil, "mlm-run", dir)
	if b, _ := os.ReadFile(ledger); strings.Count(string(b), "alice@example.net") != 1 {
		t.Errorf("ledger %q; want alice once", b)
	}
	if b, _ := os.ReadFile(conv.Name()); strings.Count(string(b), "RCPT TO:<bob@example.net>") != 1 {
		t.Errorf("bob offered %d times in the run; want once, his retry waiting:\n%s", strings.Count(string(b), "RCPT TO:<bob@example.net>"), b)
	}
	retry := filepath.Join(dir, "queue", "retry", "new")
	names := mlmtest.Names(t, retry)
	if len(names) != 1 {
		t.Fatalf("retry/new = %v; want bob's record", names)
	}
	fi, err := os.Stat(filepath.Join(retry, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if wait := fi.ModTime().Sub(start); wait < 4*time.Minute || wait > 6*time.Minute {
		t.Errorf("bob's retry record is ready in %v; want five minutes", wait)
	}
	// Its time come (-f: every record now), bob is tried again, through
	// mlm-throttle, and deferred again.
	os.Remove(filepath.Join(dir, "state", "throttle"))
	mlm(t, "", nil, "mlm-run", "-f", dir)
	if _, err := os.Stat(filepath.Join(dir, "state", "throttle")); err != nil {
		t.Errorf("after the retry run: %v; want the throttle's state charged", err)
	}
	if n := mlmtest.Names(t, retry); len(n) != 1 {
		t.Errorf("retry/new = %v after the retry run; want bob's record again", n)
	}
}

// startMlmSink starts mlm-sink on a loopback port with args, its
// standard error to stderr (nil: none), for five minutes at most or
// until the test ends, and returns its address, which it writes in
// dir's sink-addr.
func startMlmSink(t *testing.T, dir string, stderr *os.File, args ...string) string {
	t.Helper()
	addrFile := filepath.Join(dir, "sink-addr")
	sink := exec.Command(filepath.Join(binDir, "mlm-sink"), append([]string{"-A", addrFile, "-t", "5m"}, args...)...)
	if stderr != nil {
		sink.Stderr = stderr
	}
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Process.Kill(); sink.Wait() })
	var addr []byte
	for i := 0; i < 500 && len(addr) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		addr, _ = os.ReadFile(addrFile)
	}
	if len(addr) == 0 {
		t.Fatal("mlm-sink wrote no address")
	}
	return strings.TrimSpace(string(addr))
}

// TestLongIDNoticeDelivered: a post whose id is as long as a queue takes
// (240 octets, from a writer trusted as the list's own), held, has its
// notice delivered to the moderator through the list's default stages
// (a review): the notice's id, the post's and ".n1", was past what a
// queue takes, and then, cut to fit, past what mlm-sendmail's ids
// derived from it fit, and the notice went to bad/ each time.
func TestLongIDNoticeDelivered(t *testing.T) {
	dir, srv := sinkList(t)
	mlm(t, "", nil, "mlm-sub", "-l", "moderators", dir, "mod@example.org")
	id := strings.Repeat("x", 240)
	rec := "MLM1 " + id + "\nA list=dev@lists.example.org\nA state=new\nS <stranger@example.net>\n:From: stranger@example.net\n:Subject: long\n:\n:hello\nE 0\n"
	mlm(t, rec, nil, "mlm-enqueue", filepath.Join(dir, "queue", "incoming"))
	mlm(t, "", nil, "mlm-run", dir)
	if got := rcptsOf(srv.Messages()); fmt.Sprint(got) != "[mod@example.org]" {
		t.Errorf("delivered to %v; want the notice to mod@example.org", got)
	}
	for _, q := range []string{"incoming", "outgoing"} {
		if n := mlmtest.Names(t, filepath.Join(dir, "queue", q, "bad")); len(n) != 0 {
			t.Errorf("%s/bad = %v", q, n)
		}
	}
}

// sinkList is a new list whose relay is a sink (sinkRelay).
func sinkList(t *testing.T) (string, *smtpsink.Server) {
	t.Helper()
	dir := newList(t)
	return dir, sinkRelay(t, dir)
}

// sinkRelay starts a sink that keeps what it takes, closed when the test
// ends, and makes it the relay of the list in dir.
func sinkRelay(t *testing.T, dir string) *smtpsink.Server {
	t.Helper()
	srv, err := smtpsink.Start(smtpsink.Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := os.WriteFile(filepath.Join(dir, "relay"), []byte(srv.Addr()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv
}

// rcptsOf is the recipients of msgs, in order.
func rcptsOf(msgs []smtpsink.Message) []string {
	var got []string
	for _, m := range msgs {
		for _, r := range m.Rcpts {
			got = append(got, r.Mailbox)
		}
	}
	return got
}

// TestRetryQueueBound: a relay that defers a whole post (down, here:
// nothing listens) leaves a retry record of every batch, each with a
// copy of the message; the default stages stop them at the retry
// queue's bound (-m 1G, made small here), and the post waits in the
// outgoing queue instead, where a copy of the message for every batch
// of a million members' post was 100 GB (R79). Once the relay is up,
// every member gets the post once: the post run again whole, and the
// retry records it left, which the delivery journal keeps from sending
// again.
func TestRetryQueueBound(t *testing.T) {
	dir := newList(t)
	var members strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&members, "member%03d@example.org\n", i)
	}
	mlm(t, members.String(), nil, "mlm-sub", dir)
	os.WriteFile(filepath.Join(dir, "maxrcpt"), []byte("10\n"), 0o644) // 10 batches
	stages := filepath.Join(dir, "stages", "outgoing")
	b, err := os.ReadFile(stages)
	if err != nil {
		t.Fatal(err)
	}
	const deflt = "\nmlm-enqueue -t 5m -m 1G queue/retry\n"
	if !strings.Contains(string(b), deflt) {
		t.Fatalf("stages/outgoing has no %q:\n%s", deflt, b)
	}
	os.WriteFile(stages, []byte(strings.Replace(string(b), deflt, "\nmlm-enqueue -t 5m -m 5K queue/retry\n", 1)), 0o644)
	os.WriteFile(filepath.Join(dir, "relay"), []byte(freePort(t)+"\n"), 0o644)

	body := strings.Repeat("a line of the post, to give it some weight\n", 50) // 2 KB
	post := "From: member001@example.org\nSubject: notes\n\n" + body
	mlm(t, post, []string{"SENDER=member001@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	run := exec.Command(filepath.Join(binDir, "mlm-run"), dir)
	run.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	out, err := run.CombinedOutput()
	t.Logf("mlm-run, the relay down: %v\n%s", err, out)
	if !strings.Contains(string(out), "queue/retry: queue full: 5120 octets or more, as -m allows") {
		t.Errorf("mlm-run's output does not say the retry queue is full:\n%s", out)
	}
	retry := filepath.Join(dir, "queue", "retry", "new")
	var size int64
	names := mlmtest.Names(t, retry)
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(retry, n))
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	if len(names) == 0 || len(names) >= 10 || size < 5<<10 || size > 5<<10+3<<10 {
		t.Errorf("retry queue: %d records, %d octets; want past 5 KiB by a record at most, not the 10 batches'", len(names), size)
	}
	if n := mlmtest.Names(t, filepath.Join(dir, "queue", "outgoing", "new")); len(n) != 1 {
		t.Errorf("outgoing/new = %v; want the post, waiting", n)
	}

	addr, dump := smtpSink(t, 100)
	os.WriteFile(filepath.Join(dir, "relay"), []byte(addr+"\n"), 0o644)
	mlm(t, "", nil, "mlm-run", "-f", dir) // every record now, the retries' too
	rcpts, bodies := sinkMessages(t, dump, 100)
	for i, b := range bodies {
		if b != body {
			t.Errorf("transaction %d: body %q; want the post's", i, b)
		}
	}
	sort.Strings(rcpts)
	var want []string
	for i := 1; i <= 100; i++ {
		want = append(want, fmt.Sprintf("<member%03d@example.org>", i))
	}
	if strings.Join(rcpts, " ") != strings.Join(want, " ") {
		t.Errorf("recipients: %d, not every member exactly once:\n%v", len(rcpts), rcpts)
	}
	for _, q := range []string{"outgoing", "retry", "bounces"} {
		if n := mlmtest.Names(t, filepath.Join(dir, "queue", q, "new")); len(n) != 0 {
			t.Errorf("queue %s still holds %v", q, n)
		}
	}
}
