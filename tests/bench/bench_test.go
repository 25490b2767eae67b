package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/pipeline"
	"mlm/lib/stream"
)

// A row whose runs were cut short, by a run killed at its timeout or by
// the budget, has no median of the runs asked for: its rate is no exact
// figure, and a ratio with it says so.
func TestRateCutShort(t *testing.T) {
	full := &row{work: 1000, unit: "rcpt/s", runs: []usage{{wall: time.Second}, {wall: time.Second}, {wall: time.Second}}}
	if _, exact := full.rate(); !exact {
		t.Fatal("a row of whole runs: rate not exact")
	}
	for _, status := range []string{"timeout", "skipped (max-time)"} {
		// One run done, the next killed or never started.
		r := &row{work: 1000, unit: "rcpt/s", runs: []usage{{wall: time.Second / 2}}, status: status}
		if _, exact := r.rate(); exact {
			t.Errorf("%s after one run: rate exact, from the run that finished alone", status)
		}
		if s := ratio(r, full); !strings.HasPrefix(s, "~") {
			t.Errorf("%s after one run: ratio %q, not marked ~", status, s)
		}
		if s := ratio(full, r); !strings.HasPrefix(s, "~") {
			t.Errorf("%s after one run: ratio against it %q, not marked ~", status, s)
		}
	}
}

// dumpOf is a dump as smtp-sink -D writes it: a transaction for each
// recipient, each with body.
func dumpOf(t *testing.T, n int, body string) string {
	t.Helper()
	var txs []dumpTx
	for i := 1; i <= n; i++ {
		txs = append(txs, dumpTx{rcpts: []string{memberAddr(i)}, body: body})
	}
	return dumpFile(t, txs)
}

// dumpTx is one transaction of a made-up dump: its envelope sender
// (list-bounces@bench.example if empty), its recipients, header lines
// of the message's own before its List-Id, and its body.
type dumpTx struct {
	from  string
	rcpts []string
	hdr   string
	body  string
}

// dumpFile writes txs as smtp-sink -D does, into a file of its own.
func dumpFile(t *testing.T, txs []dumpTx) string {
	t.Helper()
	var sb strings.Builder
	for _, tx := range txs {
		from := tx.from
		if from == "" {
			from = "list-bounces@bench.example"
		}
		fmt.Fprintf(&sb, "X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: bench.example\nX-Mail-Args: <%s>\n", from)
		for _, a := range tx.rcpts {
			fmt.Fprintf(&sb, "X-Rcpt-Args: <%s>\n", a)
		}
		fmt.Fprintf(&sb, "Received: from bench.example ([127.0.0.1])\n\tby smtp-sink (smtp-sink) with ESMTP id 1;\n"+
			"\tWed,  2 Dec 2026 07:55:11 +0000 (UTC)\n%sList-Id: <list.bench.example>\nSubject: x\n\n%s\n", tx.hdr, tx.body)
	}
	name := filepath.Join(t.TempDir(), "dump")
	if err := os.WriteFile(name, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// Every member once is not enough: each must get the post, not a part
// of it or some other body.
func TestCheckDeliveryBody(t *testing.T) {
	p := string(post(4096))
	body := p[strings.Index(p, "\n\n")+2:]
	for _, c := range []struct {
		name, body string
		ok         bool
	}{
		{"the post", body, true},
		{"the post, a blank line more", body + "\n", true},
		{"no body", "", false},
		{"the first line", strings.SplitAfter(body, "\n")[0], false},
		{"the last line missing", body[:strings.LastIndex(strings.TrimSuffix(body, "\n"), "\n")+1], false},
		{"another post", string(post(2048)[strings.Index(string(post(2048)), "\n\n")+2:]), false},
	} {
		st, err := countDump(dumpOf(t, 3, c.body), tenDomains(3).has(), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = checkDelivery("mlm", tenDomains(3), false, st)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: the run passes", c.name)
		}
	}
}

// The setup says at what session count smtp-source runs in the round
// trip rows: mlm-sendmail's default, conns.
func TestSetupNotesRTTSessions(t *testing.T) {
	notes := strings.Join(setupNotes(&bench{}, false, true), "\n")
	if want := fmt.Sprintf("smtp-source -s %d ", conns); !strings.Contains(notes, want) {
		t.Errorf("the round trip rows run %q, the setup says:\n%s", want, notes)
	}
}

// The setup says how mlmmj's VERP rows are run, and what the chain is,
// only when they are: not with mlmmj's VERP rows out of the run, nor
// without the pipe sets.
func TestSetupNotesVERPChain(t *testing.T) {
	for _, c := range []struct {
		b           *bench
		verp, verpN bool
		chain       bool
	}{
		{&bench{mlmmjReceive: "m", mlmmjVersion: "1.3.0", verp: true, verpN: 1000, chain: true}, true, true, true},
		{&bench{mlmmjReceive: "m", mlmmjVersion: "1.3.0", verp: true}, true, false, false},
		{&bench{mlmmjReceive: "m", mlmmjVersion: "1.3.0", verpN: 1000}, false, false, false},
		{&bench{verp: true, verpN: 1000, chain: true}, false, false, true},
	} {
		notes := strings.Join(setupNotes(c.b, true, false), "\n")
		for what, want := range map[string]bool{
			"not CPU;\n  its VERP rows smallest first":                                 c.verp,
			"1,000 members (-mlmmj-verp)":                                              c.verpN,
			"the chain: `mlm-pipeline mlm-auth DIR -- mlm-hdr DIR -- mlm-members DIR`": c.chain,
		} {
			if strings.Contains(notes, what) != want {
				t.Errorf("verp %v, verpN %d, chain %v, mlmmj %q: %q in the notes: %v, want %v", c.b.verp, c.b.verpN, c.b.chain, c.b.mlmmjReceive, what, !want, want)
			}
		}
	}
}

// The test binary is the rusage wrapper and the pipelining client too,
// as the bench is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == wrapFlag {
		wrapMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == pipeFlag {
		os.Exit(pipeMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == sampleFlag {
		os.Exit(sampleMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A run's wall is the command's, as the wrapper times it, not the
// wrapper's own start too: mlm's row is two commands (mlm-accept, then
// mlm-run), and would pay that start twice where every other row pays it
// once. The time as the bench saw it is kept beside it, for the log.
func TestMeasureWall(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{self: self, work: t.TempDir(), ctx: context.Background()}
	const nap = 200 * time.Millisecond
	u, err := b.measure(time.Minute, job{argv: []string{"sleep", "0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.wall < nap {
		t.Errorf("wall %v: less than the command took (%v)", u.wall, nap)
	}
	if u.outer <= u.wall {
		t.Errorf("wall %v, %v as the bench saw it: the wrapper's start is in the wall", u.wall, u.outer)
	}
	if s := fmtRun(u, nil); !strings.Contains(s, "with the wrapper's start") {
		t.Errorf("a run's log line %q does not give the time with the wrapper's start", s)
	}
}

// The rows compared run their repetitions in turn, one of each, then
// the next of each, so that a machine growing slower as the bench runs
// does not weigh on the row that runs last; a row that fails stops alone.
func TestInterleave(t *testing.T) {
	b := &bench{reps: 3}
	var order []string
	row := func(name string, failAt int) (*row, func() bool) {
		r := &row{who: name}
		n := 0
		return r, b.deliverySteps(r, func() (delivered, error) {
			n++
			order = append(order, fmt.Sprintf("%s%d", name, n))
			if n == failAt {
				return delivered{}, fmt.Errorf("refused")
			}
			return delivered{u: usage{wall: time.Second}}, nil
		})
	}
	ra, a := row("a", 0)
	rb, bb := row("b", 2)
	rc, c := row("c", 0)
	b.interleave(a, bb, c)
	if got, want := strings.Join(order, " "), "a1 b1 c1 a2 b2 c2 a3 c3"; got != want {
		t.Errorf("runs in the order %s, want %s", got, want)
	}
	if len(ra.runs) != 3 || len(rc.runs) != 3 || len(rb.runs) != 1 || rb.status != "FAILED" {
		t.Errorf("runs a %d, b %d (%q), c %d", len(ra.runs), len(rb.runs), rb.status, len(rc.runs))
	}
}

// TestParseStat: utime and cutime are the user time, stime and cstime
// the system time, in ticks of 10 ms, counted after the command name's
// last ')', which may hold blanks and parentheses of its own.
func TestParseStat(t *testing.T) {
	line := "4242 (a) (b c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 20 11 20 0 1 0 5 0 0\n"
	st, err := parseStat(line)
	if err != nil || st.state != 'S' || st.ppid != 1 || st.user != 270*time.Millisecond || st.sys != 140*time.Millisecond {
		t.Errorf("parseStat = %+v, %v; want state S, parent 1, 270ms, 140ms", st, err)
	}
	for _, bad := range []string{"", "4242 (a S 1", "4242 (a) S 1 2 3", "4242 (a) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 3 20 11 20", "4242 (a) S 1 4242 4242 0 -1 4194560 100 0 0 0 -1 3 20 11 20", "4242 (a) S 1 4242 4242 0 -1 4194560 100 0 0 0 9223372036854775807 3 20 11 20", "4242 (a) S x 4242 4242 0 -1 4194560 100 0 0 0 7 3 20 11 20"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
	if _, _, err := treeCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
}

// TestChildOf: the child of a shell that waits for one is found, and a
// process with none is an error.
func TestChildOf(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 30 & wait")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-sh.Process.Pid, syscall.SIGKILL); _ = sh.Wait() }()
	// The shell's child is a shell until it has exec'd sleep: the
	// child, once it is sleep (else the test fails, at started's end).
	child := started(t, sh.Process.Pid, func(pid int) (int, error) {
		child, err := childOf(pid)
		if err != nil {
			return 0, err
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child)); string(comm) != "sleep\n" {
			return 0, fmt.Errorf("childOf(the shell) = %d, a %q", child, comm)
		}
		return child, nil
	})
	if n, err := childOf(child); err == nil {
		t.Errorf("childOf(sleep) = %d, no error", n)
	}
}

// FuzzParseStat: any line is read without a panic, and the times of one
// read are whole ticks.
func FuzzParseStat(f *testing.F) {
	f.Add("4242 (a) (b c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 20 11 20 0 1 0 5 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStat(s)
		if err == nil && (st.user%(10*time.Millisecond) != 0 || st.sys%(10*time.Millisecond) != 0 || st.ppid < 0) {
			t.Errorf("parseStat(%q) = %+v: not whole ticks, or a parent below 0", s, st)
		}
	})
}

// A run cut short ends whole, at once: mlm-run's stages run in process
// groups of their own, which a kill of the run's group missed, and they
// went on delivering into the sink while the bench counted what it had
// got and went on to the next run. Here a shell stands for mlm-run, its
// child in a session of its own.
func TestMeasureCutShortEndsAll(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	b := &bench{self: self, work: dir, ctx: ctx}
	pidFile := filepath.Join(dir, "pid")
	const sh = `setsid sleep 60 2>/dev/null & echo $! > "$1.tmp"; mv "$1.tmp" "$1"; wait`
	errc := make(chan error, 1)
	go func() {
		_, err := b.measure(time.Hour, job{argv: []string{"sh", "-c", sh, "sh", pidFile}})
		errc <- err
	}()
	var pid int
	for pid == 0 { // (until the shell has started its child)
		select {
		case err := <-errc:
			t.Fatalf("measure ended before it was cut short: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if s, err := os.ReadFile(pidFile); err == nil {
			if _, err := fmt.Sscan(string(s), &pid); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	if err := <-errc; err != errTimeout {
		t.Fatalf("measure cut short: %v, not %v", err, errTimeout)
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(stat), ") Z ") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the run's child in a process group of its own (%d) outlived the run cut short", pid)
	}
}

// members is memberAddr(i) for i from first to last.
func members(first, last int) []string {
	var as []string
	for i := first; i <= last; i++ {
		as = append(as, memberAddr(i))
	}
	return as
}

// A run's check, from the dump as smtp-sink writes it: every member
// once and no other address, at most 100 recipients a transaction and
// no more transactions than each domain's full ones and one part-full,
// of the ten domains or of the spread set; for VERP one recipient a
// transaction and a distinct sender each, which names it; every
// transaction's body the post's, the last one's too.
func TestCheckDelivery(t *testing.T) {
	p := string(post(postSize))
	body := p[strings.Index(p, "\n\n")+2:]
	// each is a transaction for each recipient, each with a sender of
	// its own.
	each := func(as []string) []dumpTx {
		var txs []dumpTx
		for _, a := range as {
			txs = append(txs, dumpTx{from: "list-bounces+" + strings.Replace(a, "@", "=", 1) + "@bench.example", rcpts: []string{a}, body: body})
		}
		return txs
	}
	one := func(as ...string) dumpTx { return dumpTx{rcpts: as, body: body} }
	byDomain := func(n int) []dumpTx { // as mlm-split batches: by domain
		var txs []dumpTx
		for d := 0; d < 10; d++ {
			var as []string
			for i := 1; i <= n; i++ {
				if i%10 == d {
					as = append(as, memberAddr(i))
				}
			}
			txs = append(txs, one(as...))
		}
		return txs
	}
	relayed := byDomain(20) // a post that came with a Received line of its own
	for i := range relayed {
		relayed[i].hdr = "Received: from mx.example.org by bench.example;\n\tSun, 29 Nov 2026 12:00:00 +0000\n"
	}
	lastCut := each(members(1, 3))
	lastCut[2].body = body[:len(body)/2]
	elevenTx := append(each(members(1, 10)), one(members(11, 20)...))
	twelveTx := append(each(members(1, 10)), one(members(11, 15)...), one(members(16, 20)...))
	sameSender := each(members(1, 3))
	sameSender[2].from = sameSender[1].from
	otherSender := each(members(1, 3)) // senders each naming the next member
	otherSender[0].from, otherSender[1].from, otherSender[2].from = otherSender[1].from, otherSender[2].from, otherSender[0].from
	// The spread set of 1,000: batched by domain as mlm-split does, in
	// one transaction of all, or one a member.
	spread := memberSet{1000, true}
	var spreadAll []string
	byDom := map[string][]string{}
	var doms []string
	for i := 1; i <= spread.n; i++ {
		a := spread.addr(i)
		spreadAll = append(spreadAll, a)
		d := a[strings.IndexByte(a, '@')+1:]
		if byDom[d] == nil {
			doms = append(doms, d)
		}
		byDom[d] = append(byDom[d], a)
	}
	var spreadByDomain []dumpTx
	for _, d := range doms {
		for as := byDom[d]; len(as) > 0; as = as[min(len(as), batch):] {
			spreadByDomain = append(spreadByDomain, one(as[:min(len(as), batch)]...))
		}
	}
	var spreadMixed []dumpTx
	for as := spreadAll; len(as) > 0; as = as[min(len(as), batch):] {
		spreadMixed = append(spreadMixed, one(as[:min(len(as), batch)]...))
	}
	if len(spreadByDomain) <= len(spreadMixed) || len(doms) < 200 {
		t.Fatalf("the spread set of %d: %d domains, %d transactions by domain, %d mixed: not spread", spread.n, len(doms), len(spreadByDomain), len(spreadMixed))
	}
	for _, c := range []struct {
		name   string
		n      int
		spread bool
		verp   bool
		txs    []dumpTx
		want   string // in the error; "" for a run that passes
	}{
		{"batches by domain", 20, false, false, byDomain(20), ""},
		{"a Received line in the post", 20, false, false, relayed, ""},
		{"100 and 50", 150, false, false, []dumpTx{one(members(1, 100)...), one(members(101, 150)...)}, ""},
		{"101 and 49", 150, false, false, []dumpTx{one(members(1, 101)...), one(members(102, 150)...)}, "101 recipients, over 100"},
		{"11 transactions for 20", 20, false, false, elevenTx, "11 transactions for 20 recipients in batches of 100, more than 10"},
		{"12 transactions for 20", 20, false, false, twelveTx, "12 transactions"},
		{"one short", 20, false, false, []dumpTx{one(members(1, 19)...)}, "19 recipients of 20"},
		{"one twice, one missing", 3, false, false, []dumpTx{one(memberAddr(1), memberAddr(2), memberAddr(2))}, "got the post twice"},
		{"one past the members", 3, false, false, []dumpTx{one(memberAddr(1), memberAddr(2), memberAddr(4))}, "no members (" + memberAddr(4)},
		{"a member at another domain", 3, false, false, []dumpTx{one(memberAddr(1), memberAddr(2), "m0000003@d4.example")}, "no members (m0000003@d4.example"},
		{"the last body cut", 3, false, false, lastCut, "1 of 3 transactions did not carry the post's body (the first: transaction 3)"},
		{"spread, batches by domain", spread.n, true, false, spreadByDomain, ""},
		{"spread, batches of any domains", spread.n, true, false, spreadMixed, ""},
		{"spread, one a transaction", spread.n, true, false, each(spreadAll), fmt.Sprintf("%d transactions for %d recipients in batches of 100, more than %d,", spread.n, spread.n, len(spreadByDomain))},
		{"spread, a member of the ten domains", spread.n, true, false, append(spreadByDomain[1:], one(append(spreadByDomain[0].rcpts[1:], memberAddr(1))...)), "no members (" + memberAddr(1)},
		{"VERP", 3, false, true, each(members(1, 3)), ""},
		{"VERP, a Received line in the post", 3, false, true, func() []dumpTx {
			txs := each(members(1, 3))
			for i := range txs {
				txs[i].hdr = relayed[0].hdr
			}
			return txs
		}(), ""},
		{"VERP, two in one", 3, false, true, []dumpTx{{from: "a@bench.example", rcpts: members(1, 2), body: body}, {from: "b@bench.example", rcpts: members(3, 3), body: body}}, "VERP, yet"},
		{"VERP, a sender twice", 3, false, true, sameSender, "VERP, yet 2 distinct senders for 3 recipients"},
		{"VERP, each sender another member's", 3, false, true, otherSender, "VERP, yet 3 recipients' senders do not name them (list-bounces+m0000002=d2.example@bench.example to m0000001@d1.example)"},
		{"VERP, mlmmj's sender", 1, false, true, []dumpTx{{from: "list+bounces-1-m0000001=d1.example@bench.example", rcpts: members(1, 1), body: body}}, ""},
		{"VERP, from mlm, mlmmj's sender", 1, false, true, []dumpTx{{from: "list+bounces-1-m0000001=d1.example@bench.example", rcpts: members(1, 1), body: body}}, "senders do not name them"},
		{"VERP, mlm's sender without its +", 1, false, true, []dumpTx{{from: "list-bounces-m0000001=d1.example@bench.example", rcpts: members(1, 1), body: body}}, "senders do not name them"},
		{"VERP, mlm's sender at another domain", 1, false, true, []dumpTx{{from: "list-bounces+m0000001=d1.example@elsewhere.example", rcpts: members(1, 1), body: body}}, "senders do not name them"},
	} {
		m := memberSet{c.n, c.spread}
		who := "mlm"
		if strings.HasPrefix(c.name, "VERP, mlmmj") {
			who = "mlmmj"
		}
		st, err := countDump(dumpFile(t, c.txs), m.has(), verpOf(who, c.verp))
		if err != nil {
			t.Fatal(err)
		}
		err = checkDelivery("mlm", m, c.verp, st)
		wantRunErr(t, c.name, err, c.want, st)
	}
}

// wantRunErr fails t unless a run's check gave err as want says: nil
// for an empty want, else an error that holds want.
func wantRunErr(t *testing.T, name string, err error, want string, st dumpStats) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", name, err)
	case want != "" && err == nil:
		t.Errorf("%s: the run passes (%+v)", name, st)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: %v; want %q in it", name, err, want)
	}
}

// A run of mlm's that leaves a record in any of its list's queues, in
// new/, cur/, tmp/ or bad/, fails, though the sink got the post to
// every member: a record left is mail not done, or done twice.
func TestCheckedQueuesEmpty(t *testing.T) {
	for _, sub := range []string{"", "new", "cur", "tmp", "bad"} {
		dir := filepath.Join(t.TempDir(), "list")
		for _, q := range []string{"incoming", "outgoing", "retry"} {
			for _, s := range []string{"new", "cur", "tmp", "bad"} {
				if err := os.MkdirAll(filepath.Join(dir, "queue", q, s), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		if sub != "" {
			if err := os.WriteFile(filepath.Join(dir, "queue", "outgoing", sub, "1.rec"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// A sink that got nothing, for a list of no members.
		s := &sink{cmd: exec.Command("true"), dump: filepath.Join(dir, "no-dump"), done: make(chan error, 1)}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.done <- s.cmd.Wait() }()
		_, err := checked(delivered{}, s, dir, "mlm", tenDomains(0), false)
		switch {
		case sub == "" && err != nil:
			t.Errorf("empty queues: %v", err)
		case sub != "" && err == nil:
			t.Errorf("a record in queue/outgoing/%s: the run passes", sub)
		case sub != "" && !strings.Contains(err.Error(), "queue/outgoing/"+sub+" holds 1 files"):
			t.Errorf("a record in queue/outgoing/%s: %v", sub, err)
		}
	}
}

// The table's figures: a row's median run by wall time, every figure of
// it that run's own (of an even number, the mean of the two middle
// ones), the rate the work over its wall, exact only for a row whose
// every run finished, and a ratio of two rates as the table prints it.
func TestMedRateRatio(t *testing.T) {
	s := time.Second
	odd := &row{work: 1000, runs: []usage{{wall: 3 * s, user: 30 * s, rssKB: 30}, {wall: 1 * s, user: 10 * s, rssKB: 10}, {wall: 2 * s, user: 20 * s, rssKB: 20}}}
	if m := odd.med(); m.wall != 2*s || m.user != 20*s || m.rssKB != 20 {
		t.Errorf("median of runs of 3 s, 1 s and 2 s: %+v, want the run of 2 s", m)
	}
	if r, exact := odd.rate(); r != 500 || !exact {
		t.Errorf("1000 over a median of 2 s: rate %v (exact %v), want 500, exact", r, exact)
	}
	even := &row{work: 1000, runs: []usage{{wall: 1 * s, sys: 1 * s}, {wall: 3 * s, sys: 3 * s}, {wall: 4 * s, sys: 4 * s}, {wall: 2 * s, sys: 2 * s}}}
	if m := even.med(); m.wall != 2500*time.Millisecond || m.sys != 2500*time.Millisecond {
		t.Errorf("median of runs of 1, 3, 4 and 2 s: %+v, want 2.5 s", m)
	}
	if r, _ := even.rate(); r != 400 {
		t.Errorf("1000 over a median of 2.5 s: rate %v, want 400", r)
	}
	cut := &row{work: 1000, runs: odd.runs, cut: true}
	if _, exact := cut.rate(); exact {
		t.Error("a row with a run killed: rate exact")
	}
	if got := ratio(odd, cut); got != "~1.00" {
		t.Errorf("ratio with a row cut short: %q, want ~1.00", got)
	}
	rowAt := func(rate float64) *row { return &row{work: rate, runs: []usage{{wall: s}}} }
	for _, c := range []struct {
		a, b float64
		want string
	}{
		{2000, 1000, "2.00"},
		{1000, 2000, "0.50"},
		{999, 100, "9.99"},
		{1000, 100, "10"},
		{1549, 100, "15"},
	} {
		if got := ratio(rowAt(c.a), rowAt(c.b)); got != c.want {
			t.Errorf("ratio of %v to %v: %q, want %q", c.a, c.b, got, c.want)
		}
	}
	if got := ratio(rowAt(1000), &row{status: "FAILED"}); got != "-" {
		t.Errorf("ratio to a row that failed: %q, want -", got)
	}
}

// The table's numbers are grouped by threes.
func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 100: "100", 1000: "1,000", 999999: "999,999", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

// mlm's run is two commands, mlm-accept then mlm-run: its wall, outer
// wall and CPU are their sums, its peak RSS the larger.
func TestUsageAdd(t *testing.T) {
	ms := time.Millisecond
	a := usage{wall: 10 * ms, outer: 12 * ms, user: 3 * ms, sys: 2 * ms, rssKB: 5000, faults: 400, sink: 1 * ms}
	b := usage{wall: 200 * ms, outer: 204 * ms, user: 150 * ms, sys: 40 * ms, rssKB: 11000, faults: 1800, sink: 30 * ms}
	want := usage{wall: 210 * ms, outer: 216 * ms, user: 153 * ms, sys: 42 * ms, rssKB: 11000, faults: 2200, sink: 31 * ms}
	if got := a.add(b); got != want {
		t.Errorf("add = %+v, want %+v", got, want)
	}
}

// The limit is smtp-source at its best session count, the one of the
// highest rate in the sweep, a session count that timed out passed
// over; its work is what smtp-source sends, whole transactions of per
// recipients each, so 200 for 150 members in transactions of 100, and
// the row is named so.
func TestLimitSweep(t *testing.T) {
	b := &bench{}
	r := deliveryRows("batch", 150)["limit"]
	walls := map[int]time.Duration{1: 4 * time.Second, 2: time.Second, 4: 2 * time.Second, 8: 3 * time.Second}
	best, tried := b.limitSweep(r, 150, 100, []int{1, 2, 4, 8, 16}, func(s int) (delivered, error) {
		if s == 16 {
			return delivered{u: usage{wall: time.Minute}}, errTimeout
		}
		return delivered{u: usage{wall: walls[s]}}, nil
	})
	if best != 2 || r.status != "" {
		t.Errorf("best %d (status %q), want 2: the sweep gave %v", best, r.status, tried)
	}
	if r.work != 200 {
		t.Errorf("work %v for 150 recipients in transactions of 100, want 200", r.work)
	}
	if r.what != "200 rcpt, 100 rcpt/tx" {
		t.Errorf("the row is named %q, want 200 rcpt, 100 rcpt/tx", r.what)
	}
	if want := "s1 50, s2 200, s4 100, s8 66, s16 timeout"; strings.Join(tried, ", ") != want {
		t.Errorf("the sweep gave %q, want %q", strings.Join(tried, ", "), want)
	}
}

// The limit's run counts only if the sink got every transaction
// smtp-source was to send, with per recipients each and the post's body.
func TestCheckSource(t *testing.T) {
	p := string(post(postSize))
	body := p[strings.Index(p, "\n\n")+2:]
	next := 0
	rcpts := func(n int) []string { // distinct, as smtp-source -N makes them
		var as []string
		for i := 0; i < n; i++ {
			next++
			as = append(as, fmt.Sprintf("%dm@d1.example", next))
		}
		return as
	}
	tx := func(n int, body string) dumpTx { return dumpTx{from: poster, rcpts: rcpts(n), body: body} }
	same := dumpTx{from: poster, rcpts: []string{"m@d1.example", "m@d1.example"}, body: body}
	for _, c := range []struct {
		name string
		txs  []dumpTx
		want string
	}{
		{"3 of 2", []dumpTx{tx(2, body), tx(2, body), tx(2, body)}, ""},
		{"2 of 2", []dumpTx{tx(2, body), tx(2, body)}, "4 recipients in 2 messages, not 6 in 3"},
		{"a recipient short", []dumpTx{tx(2, body), tx(1, body), tx(2, body)}, "5 recipients in 3 messages"},
		{"in larger transactions", []dumpTx{tx(3, body), tx(3, body)}, "6 recipients in 2 messages"},
		{"one more", []dumpTx{tx(2, body), tx(2, body), tx(2, body), tx(2, body)}, "8 recipients in 4 messages"},
		{"the last body cut", []dumpTx{tx(2, body), tx(2, body), tx(2, body[:100])}, "1 of 3 transactions did not carry"},
		{"the same recipients", []dumpTx{same, same, same}, "5 recipients came more than once (m@d1.example)"},
	} {
		st, err := countDump(dumpFile(t, c.txs), func(string) bool { return true }, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = checkSource(st, 3, 2)
		wantRunErr(t, c.name, err, c.want, st)
	}
}

// A delivery run killed at its timeout ends its row with a rate
// estimated from what the sink got by then, not from the work asked;
// a run that fails ends it as FAILED, and fails the bench.
func TestDeliveryStepsCutShort(t *testing.T) {
	b := &bench{reps: 3}
	r := &row{who: "mlm", work: 1000}
	step := b.deliverySteps(r, func() (delivered, error) {
		return delivered{u: usage{wall: 2 * time.Second}, st: dumpStats{rcpt: 300}}, errTimeout
	})
	if step() {
		t.Error("a run killed: the row goes on")
	}
	if r.status != "timeout" || r.partial != 150 || r.note != "killed at 2 s with 300 of 1,000 received" {
		t.Errorf("a run killed at 2 s with 300 received: status %q, partial %v, note %q; want timeout, 150", r.status, r.partial, r.note)
	}
	if rate, exact := r.rate(); rate != 150 || exact {
		t.Errorf("rate %v (exact %v), want ~150", rate, exact)
	}
	f := &row{who: "mlm", work: 1000}
	if b.deliverySteps(f, func() (delivered, error) { return delivered{}, errors.New("mlm: the sink got 999 recipients of 1000") })() {
		t.Error("a run failed: the row goes on")
	}
	if f.status != "FAILED" || len(b.failures) != 1 || !strings.Contains(b.failures[0], "999 recipients") {
		t.Errorf("a run failed: status %q, the bench's failures %q", f.status, b.failures)
	}
}

// The expand row counts the recipients mlm-members wrote, and the
// accept row the records mlm-accept left: a program that did less work
// than the row says fails the row, and the bench. Here shell scripts
// stand for mlm's programs; with BENCH_FAKE=short each does one less.
func TestExpandAcceptCounts(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	writeProgs(t, bin, map[string]string{
		"mlm-newlist": `mkdir -p "$3/queue/incoming/new"`,
		"mlm-sub":     `cat >/dev/null`,
		"mlm-accept": `if [ "$1" = -o ]; then cat >"$2"; exit; fi
cat >/dev/null
n=$(ls "$5/queue/incoming/new" | wc -l)
[ "$BENCH_FAKE" = short ] && n=0
: >"$5/queue/incoming/new/$n"`,
		"mlm-members": `cat >/dev/null
printf 'MLM1 x\nS <poster@example.org>\n:Subject: R\nR <m0000001@d1.example>\nR <m0000002@d2.example>\n'
[ "$BENCH_FAKE" = short ] || printf 'R <m0000003@d3.example>\n'
printf 'E 3\n'`,
	})
	for _, fake := range []string{"", "short"} {
		t.Setenv("BENCH_FAKE", fake)
		work := t.TempDir()
		b := &bench{ctx: context.Background(), bin: bin, self: self, work: work, reps: 2, members: map[memberSet]string{},
			post: filepath.Join(work, "post.eml"), deadline: time.Now().Add(time.Hour), runTimeout: time.Hour}
		if err := os.WriteFile(b.post, post(postSize), 0o644); err != nil {
			t.Fatal(err)
		}
		ex, ac := &row{who: "mlm-members DIR"}, &row{who: "mlm-accept DIR"}
		b.expand(ex, 3)
		b.accept(ac, 3)
		if fake == "" {
			if ex.status != "" || len(ex.runs) != 2 || ac.status != "" || len(ac.runs) != 2 || len(b.failures) > 0 {
				t.Errorf("the work done: expand %q (%d runs), accept %q (%d runs), failures %q", ex.status, len(ex.runs), ac.status, len(ac.runs), b.failures)
			}
			continue
		}
		if ex.status != "FAILED" || !strings.Contains(ex.note, "mlm-members wrote 2 recipients for 3 members") {
			t.Errorf("mlm-members wrote 2 recipients for 3: expand %q, %q", ex.status, ex.note)
		}
		if ac.status != "FAILED" || !strings.Contains(ac.note, "1 records in queue/incoming/new after 3 posts") {
			t.Errorf("mlm-accept left 1 record of 3 posts: accept %q, %q", ac.status, ac.note)
		}
		if len(b.failures) != 2 {
			t.Errorf("the bench's failures: %q", b.failures)
		}
	}
}

// The count of mlm-members' recipients is of lines that start with R,
// however the stream comes in pieces: an R that goes on a line split
// between two writes is none.
func TestRcptCounter(t *testing.T) {
	c := &rcptCounter{}
	for _, p := range []string{"MLM1 x\nR <a@x>\n:Subject: ", "Re: x\nR", " <b@x>\n:", "R\nE 2\n"} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if c.n != 2 {
		t.Errorf("%d recipients counted, want 2", c.n)
	}
}

// fakeNewlist stands for mlm-newlist: it makes the list's queues.
const fakeNewlist = `for q in incoming outgoing retry; do for s in new cur tmp bad; do mkdir -p "$5/queue/$q/$s"; done; done`

// writeFakeMlm writes into bin shell scripts standing for mlm's
// programs, as writeProgs does: mlm-newlist (fakeNewlist), an
// mlm-accept that takes the post and keeps nothing, mlm-run as run
// says, and those of more.
func writeFakeMlm(t *testing.T, bin, run string, more map[string]string) {
	t.Helper()
	progs := map[string]string{"mlm-newlist": fakeNewlist, "mlm-accept": `cat >/dev/null`, "mlm-run": run}
	for name, sh := range more {
		progs[name] = sh
	}
	writeProgs(t, bin, progs)
}

// sinkOrSkip is the path of Postfix's smtp-sink; the test is skipped
// without it.
func sinkOrSkip(t *testing.T) string {
	t.Helper()
	p := lookPath("smtp-sink", "/usr/sbin/smtp-sink")
	if p == "" {
		t.Skip("no smtp-sink")
	}
	return p
}

// writeProgs writes each of progs, a shell script by its program's
// name, into bin, to stand for that program.
func writeProgs(t *testing.T, bin string, progs map[string]string) {
	t.Helper()
	for name, sh := range progs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+sh+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// progBench is a bench whose programs are progs, shell scripts by name
// (writeProgs) in a directory of their own, with a work directory, an
// hour's budget and a minute for each run.
func progBench(t *testing.T, progs map[string]string) *bench {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	writeProgs(t, bin, progs)
	// The wrapper is this test's binary: under -race, it would sleep a
	// second at each exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	return &bench{ctx: context.Background(), bin: bin, self: self, work: t.TempDir(),
		deadline: time.Now().Add(time.Hour), runTimeout: time.Minute}
}

// sinkBench is a bench for one run into a real smtp-sink (sinkProg),
// whose programs are those in bin, with the post in work and the sink's
// dump in a directory of its own, which smtp-sink, run as root, writes
// as nobody.
func sinkBench(t *testing.T, ctx context.Context, sinkProg, bin, work string) *bench {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shm, err := os.MkdirTemp("", "benchtest.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	if err := os.Chmod(shm, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &bench{ctx: ctx, bin: bin, self: self, work: work, shm: shm, members: map[memberSet]string{},
		post: filepath.Join(work, "post.eml"), deadline: time.Now().Add(time.Hour), runTimeout: time.Hour, smtpSink: sinkProg}
	if err := os.WriteFile(b.post, post(postSize), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// mlmmj's run fails if it left the post in its queue, in requeue/ or
// moderation/, or discarded it, though the sink got what it was to: a
// run that did not do its work has no rate. Here a shell script stands
// for mlmmj-receive, and the list has no members.
func TestMlmmjLeftovers(t *testing.T) {
	sinkProg := sinkOrSkip(t)
	recv := filepath.Join(t.TempDir(), "mlmmj-receive")
	const sh = "#!/bin/sh\ncat >/dev/null\n[ -z \"$BENCH_LEAVE\" ] || : >\"$3/$BENCH_LEAVE\"\n"
	if err := os.WriteFile(recv, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, leave := range []string{"", "requeue/1", "queue/1", "moderation/1", "queue/discarded/1"} {
		t.Setenv("BENCH_LEAVE", leave)
		b := sinkBench(t, context.Background(), sinkProg, t.TempDir(), t.TempDir())
		b.mlmmjReceive = recv
		_, err := b.mlmmjOnce(tenDomains(0), false)
		switch {
		case leave == "" && err != nil:
			t.Errorf("nothing left: %v", err)
		case leave != "" && err == nil:
			t.Errorf("%s left: the run passes", leave)
		case leave != "" && (!strings.HasPrefix(err.Error(), "mlmmj: ") || !strings.Contains(err.Error(), leave)):
			t.Errorf("%s left: %v", leave, err)
		}
	}
}

// A run whose command exits other than 0 is an error, with its last
// words, not a run measured: mlm-run's 75 is mail not delivered.
func TestMeasureFails(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{self: self, work: t.TempDir(), ctx: context.Background()}
	for _, code := range []int{1, 75} {
		_, err := b.measure(time.Minute, job{argv: []string{"sh", "-c", fmt.Sprintf("echo mlm-run: no relay >&2; exit %d", code)}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("exit status %d: mlm-run: no relay", code)) {
			t.Errorf("a command that exits %d: %v", code, err)
		}
	}
}

// A run of mlm's fails if mlm-run fails, or leaves a record in the
// list's queues, though the sink got what it was to: here shell scripts
// stand for mlm's programs, BENCH_RUN saying what mlm-run does, and the
// list has no members.
func TestMlmOnceChecked(t *testing.T) {
	sinkProg := sinkOrSkip(t)
	bin := t.TempDir()
	writeFakeMlm(t, bin, `case "$BENCH_RUN" in
fail) echo "mlm-run: no relay" >&2; exit 75;;
leave) : >"$1/queue/outgoing/cur/1";;
esac`, nil)
	for run, want := range map[string]string{"": "", "fail": "exit status 75: mlm-run: no relay", "leave": "queue/outgoing/cur holds 1 files"} {
		t.Setenv("BENCH_RUN", run)
		b := sinkBench(t, context.Background(), sinkProg, bin, t.TempDir())
		_, err := b.mlmOnce(0, mlmOpts{})
		switch {
		case want == "" && err != nil:
			t.Errorf("mlm-run that does its work: %v", err)
		case want != "" && err == nil:
			t.Errorf("mlm-run %s: the run passes", run)
		case want != "" && !strings.Contains(err.Error(), want):
			t.Errorf("mlm-run %s: %v; want %q in it", run, err, want)
		}
	}
}

// The million row: mlm's runs as a delivery row's, then one more under
// the sampler, what its processes held at once in the note; a sampled
// run that fails, or leaves the post in a queue, fails the row, one
// that times out is noted; and a row whose runs failed has none. Shell
// scripts stand for mlm's programs, mlm-run failing from its
// BENCH_FAIL_AT'th run on, leaving a record in the queue at its
// BENCH_LEAVE_AT'th, going on past the run's time limit at its
// BENCH_SLOW_AT'th; the list has no members.
func TestMillion(t *testing.T) {
	sinkProg := sinkOrSkip(t)
	bin := t.TempDir()
	count, lists := filepath.Join(t.TempDir(), "runs"), filepath.Join(t.TempDir(), "lists")
	newlist, goOn := filepath.Join(t.TempDir(), "newlist"), filepath.Join(t.TempDir(), "goon")
	writeFakeMlm(t, bin, `echo run >>`+count+`; sleep 0.1; n=$(wc -l <`+count+`)
[ "$n" -lt "${BENCH_FAIL_AT:-99}" ] || { echo "mlm-run: no relay" >&2; exit 75; }
[ "$n" != "${BENCH_LEAVE_AT:-0}" ] || : >"$1/queue/outgoing/cur/1"
[ "$n" != "${BENCH_SLOW_AT:-0}" ] || sleep 60`, map[string]string{"mlm-sub": `cat >/dev/null`,
		// The list's making: at its BENCH_NEWLIST_AT'th, it says so
		// (the file newlist) and waits for the test (the file go on).
		"mlm-newlist": fakeNewlist + `; echo list >>` + lists + `
[ "$(wc -l <` + lists + `)" != "${BENCH_NEWLIST_AT:-0}" ] || {
	: >` + newlist + `; until [ -e ` + goOn + ` ]; do sleep 0.05; done; }`})
	for _, c := range []struct {
		env    string // a variable of the fake's, set to 3, the sampled run
		failAt int
		status string
		note   *regexp.Regexp
		runs   int
	}{
		{"", 0, "", regexp.MustCompile(`^0 tx; at once: [0-9]+\.[0-9] MiB, [1-9][0-9]* processes \(one run more, which the sampler slows\)$`), 3},
		{"BENCH_FAIL_AT", 3, "FAILED", regexp.MustCompile(`^its sampled run: .*exit status 75: mlm-run: no relay`), 3},
		{"BENCH_LEAVE_AT", 3, "FAILED", regexp.MustCompile(`^its sampled run: .*queue/outgoing/cur holds 1 files`), 3},
		{"BENCH_SLOW_AT", 3, "", regexp.MustCompile(`^0 tx; at once: not sampled, timeout$`), 3},
		{"BENCH_FAIL_AT", 1, "FAILED", regexp.MustCompile(`exit status 75: mlm-run: no relay`), 1},
		// The bench ends (here: its context, as at its budget's end)
		// while the sampled run's list is made: not sampled, the row
		// kept.
		{"BENCH_NEWLIST_AT", 3, "", regexp.MustCompile(`^0 tx; at once: not sampled, skipped \(max-time\)$`), 2},
	} {
		for _, f := range []string{count, lists, newlist, goOn} {
			os.Remove(f)
		}
		for _, v := range []string{"BENCH_FAIL_AT", "BENCH_LEAVE_AT", "BENCH_SLOW_AT", "BENCH_NEWLIST_AT"} {
			t.Setenv(v, "")
		}
		if c.env != "" {
			t.Setenv(c.env, strconv.Itoa(c.failAt))
		}
		ctx, cancel := context.WithCancel(context.Background())
		b := sinkBench(t, ctx, sinkProg, bin, t.TempDir())
		b.reps, b.runTimeout = 2, 5*time.Second
		ended := make(chan struct{})
		go func() { // until the fake says it makes the list, or the case ends
			defer close(ended)
			for ctx.Err() == nil {
				if _, err := os.Stat(newlist); err == nil {
					cancel()
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			os.WriteFile(goOn, nil, 0o644)
		}()
		if c.env != "BENCH_NEWLIST_AT" {
			os.WriteFile(goOn, nil, 0o644)
		}
		r := &row{who: "mlm", work: 0}
		b.million(r, 0, nil)
		os.WriteFile(goOn, nil, 0o644)
		cancel()
		<-ended
		runs, _ := os.ReadFile(count)
		if r.status != c.status || !c.note.MatchString(r.note) || strings.Count(string(runs), "\n") != c.runs {
			t.Errorf("%s=%d: status %q, note %q, %d runs; want %q, %q, %d",
				c.env, c.failAt, r.status, r.note, strings.Count(string(runs), "\n"), c.status, c.note, c.runs)
		}
		if want := c.status == "" && c.env == ""; b.atOnce.million != want {
			t.Errorf("%s=%d: what they held at once printed: %v", c.env, c.failAt, b.atOnce.million)
		}
	}

	// Not run after mlm's batch rows timed out at a size no larger;
	// run after they did at a larger one (and failed: the fake delivers
	// to none of the 5 members).
	for _, c := range []struct {
		timedOut int
		status   string
		runs     int
	}{{3, "not run", 0}, {5, "not run", 0}, {6, "FAILED", 1}} {
		os.Remove(count)
		os.Remove(lists)
		for _, v := range []string{"BENCH_FAIL_AT", "BENCH_LEAVE_AT", "BENCH_SLOW_AT", "BENCH_NEWLIST_AT"} {
			t.Setenv(v, "")
		}
		b := sinkBench(t, context.Background(), sinkProg, bin, t.TempDir())
		b.reps = 2
		r := &row{who: "mlm"}
		b.million(r, 5, timeouts{"mlm/batch": c.timedOut})
		runs, _ := os.ReadFile(count)
		if n := strings.Count(string(runs), "\n"); r.status != c.status || n != c.runs {
			t.Errorf("5 members, batch rows timed out at %d: status %q, note %q, %d runs; want %q, %d runs",
				c.timedOut, r.status, r.note, n, c.status, c.runs)
		}
		if c.status == "not run" && r.note != fmt.Sprintf("%d timed out", c.timedOut) {
			t.Errorf("timed out at %d: note %q", c.timedOut, r.note)
		}
	}
}

// The table's header says where what mlm-run and its stages held at
// once is printed: only where it is.
func TestAtOnceWhere(t *testing.T) {
	for _, c := range []struct {
		profile, million bool
		want             string
	}{
		{false, false, ""},
		{true, false, `"memory at once" in the profile below`},
		{false, true, "the million row's note"},
		{true, true, `the million row's note, and "memory at once" in the profile below`},
	} {
		if got := atOnceWhere(c.profile, c.million); got != c.want {
			t.Errorf("atOnceWhere(%v, %v) = %q, want %q", c.profile, c.million, got, c.want)
		}
	}
}

// A delivery row's note is the transactions of its last run, as the
// sink counted them: 20 for 1,000 members in batches of 100 to ten
// domains.
func TestDeliveryStepsNote(t *testing.T) {
	b := &bench{reps: 2}
	r := &row{who: "mlm", work: 1000}
	step := b.deliverySteps(r, func() (delivered, error) {
		return delivered{u: usage{wall: time.Second}, st: dumpStats{tx: 20, rcpt: 1000}}, nil
	})
	if !step() || step() || len(r.runs) != 2 {
		t.Errorf("2 reps: %d runs", len(r.runs))
	}
	if r.note != "20 tx" || r.status != "" {
		t.Errorf("note %q, status %q; want 20 tx", r.note, r.status)
	}
}

// The limit's runs at the session count chosen: a run killed after one
// that finished ends the row's runs, which still tell, but as no exact
// rate; the first run killed ends the row at a rate estimated from what
// the sink got.
func TestLimitStepsCut(t *testing.T) {
	for _, c := range []struct {
		name   string
		killAt int // the run at the count chosen that is killed, from 1
		runs   int
		status string
	}{
		{"none killed", 0, 3, ""},
		{"the second killed", 2, 1, ""},
		{"the first killed", 1, 0, "timeout"},
	} {
		b := &bench{reps: 3}
		r := &row{who: "limit"}
		calls := 0
		step := b.limitSteps(r, 1000, 100, []int{1, 2}, func(s int) (delivered, error) {
			calls++
			if calls > 2 && calls-2 == c.killAt {
				return delivered{u: usage{wall: 4 * time.Second}, st: dumpStats{rcpt: 600}}, errTimeout
			}
			return delivered{u: usage{wall: time.Duration(3-s) * time.Second}}, nil
		})
		if want := "smtp-source -s 2; once each: s1 500, s2 1,000"; r.note != want {
			t.Errorf("%s: the limit's note %q, want %q", c.name, r.note, want)
		}
		b.interleave(step)
		if len(r.runs) != c.runs || r.status != c.status || r.cut != (c.killAt > 1) {
			t.Errorf("%s: %d runs, status %q, cut %v; want %d, %q, %v", c.name, len(r.runs), r.status, r.cut, c.runs, c.status, c.killAt > 1)
		}
		rate, exact := r.rate()
		switch c.killAt {
		case 0:
			if rate != 1000 || !exact {
				t.Errorf("%s: rate %v (exact %v), want 1000 at -s 2", c.name, rate, exact)
			}
		case 1:
			if rate != 150 || exact {
				t.Errorf("%s: rate %v (exact %v), want ~150: 600 in 4 s", c.name, rate, exact)
			}
		default:
			if exact {
				t.Errorf("%s: rate exact", c.name)
			}
		}
	}
}

// The delivery rows of a size compare mlm's two rows with mlmmj
// (mlm/mlmmj), the limit (mlm/limit) and mlm-sendmail alone
// (mlm/client), mlm-sendmail alone with the limit and the pipelining
// client, and that with the limit; each row's work is the list's
// members.
func TestDeliveryRows(t *testing.T) {
	for _, mode := range []string{"batch", "verp"} {
		rs := deliveryRows(mode, 10000)
		m, dm, c, j, l, p := rs["mlm"], rs["daemon"], rs["client"], rs["mlmmj"], rs["limit"], rs["pipe"]
		for _, r := range []*row{m, dm} {
			if r.vsMlmmj != j || r.vsLimit != l || r.vsClient != c {
				t.Errorf("%s %s: compared with %q, %q, %q", mode, r.name(), nameOf(r.vsMlmmj), nameOf(r.vsLimit), nameOf(r.vsClient))
			}
		}
		if c.vsLimit != l || c.vsMlmmj != nil || c.vsClient != p || j.vsLimit != nil || l.vsLimit != nil ||
			p.vsLimit != l || p.vsClient != nil || p.vsMlmmj != nil || len(rs) != 6 {
			t.Errorf("%s: mlm-sendmail alone, mlmmj, the limit or the pipelining client compared with the wrong rows", mode)
		}
		tx := "100 rcpt/tx"
		if mode == "verp" {
			tx = "VERP 1 rcpt/tx"
		}
		for r, want := range map[*row]string{m: "mlm 10,000 members, " + tx, dm: "mlm, mlm-run -D 10,000 members, " + tx,
			c: "mlm-sendmail alone 10,000 rcpt, " + tx, l: "limit 10,000 rcpt, " + tx, p: "pipelining client 10,000 rcpt, " + tx} {
			if r.name() != want || r.work != 10000 {
				t.Errorf("row %q (work %v), want %q", r.name(), r.work, want)
			}
		}
	}
}

// nameOf is a row's name, or none.
func nameOf(r *row) string {
	if r == nil {
		return "none"
	}
	return r.name()
}

// The bench exits 1 if a run failed, as make bench and whoever reads
// its figures rely on, 75 if it was interrupted, 0 if every run went
// well.
func TestExit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if got := (&bench{ctx: ctx}).exit(); got != 0 {
		t.Errorf("every run well: exit %d, want 0", got)
	}
	if got := (&bench{ctx: ctx, failures: []string{"mlm 1,000 members: mlm: the sink got 999 recipients of 1000"}}).exit(); got != 1 {
		t.Errorf("a run failed: exit %d, want 1", got)
	}
	cancel()
	if got := (&bench{ctx: ctx}).exit(); got != 75 {
		t.Errorf("interrupted: exit %d, want 75", got)
	}
	if got := (&bench{ctx: ctx, failures: []string{"x"}}).exit(); got != 1 {
		t.Errorf("a run failed, then interrupted: exit %d, want 1", got)
	}
}

// The filter rows of a post size: each compared with cat (mlm/limit is
// the ratio to cat), and the note of each that writes the stream gives
// what it takes a record over pass, the Reader and Writer alone.
func TestFilterSet(t *testing.T) {
	fs := newFilterSet("/self", 4, false)
	byWho := map[string]*row{}
	var whos []string
	for _, r := range fs.rows {
		byWho[r.who] = r
		whos = append(whos, r.who)
	}
	want := "cat|floor (read, count LFs, copy)|pass (stream Reader to Writer)|mlm-check|mlm-unwrap|mlm-auth DIR|mlm-hdr DIR|mlm-members DIR|mlm-split DIR|mlm-throttle DIR|mlm-throttle -r 1000000000 DIR"
	if got := strings.Join(whos, "|"); got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	for who, argv := range map[string]string{"cat": "cat", "floor (read, count LFs, copy)": "/self " + floorFlag,
		"pass (stream Reader to Writer)": "/self " + passFlag, "mlm-auth DIR": "mlm-auth DIR"} {
		if got := strings.Join(byWho[who].argv, " "); got != argv {
			t.Errorf("%s runs %q, want %q", who, got, argv)
		}
	}
	kinds := map[string]outKind{"cat": outSame, "floor (read, count LFs, copy)": outSame, "pass (stream Reader to Writer)": outSame,
		"mlm-check": outNone, "mlm-unwrap": outMail, "mlm-auth DIR": outStream, "mlm-hdr DIR": outStream,
		"mlm-members DIR": outStream, "mlm-split DIR": outStream, "mlm-throttle DIR": outSame, "mlm-throttle -r 1000000000 DIR": outSame}
	for _, r := range fs.rows {
		if k, ok := fs.out[r]; !ok || k != kinds[r.who] {
			t.Errorf("%s: output checked as %d (%v); want %d", r.who, k, ok, kinds[r.who])
		}
	}
	cat := byWho["cat"]
	for _, r := range fs.rows[1:] {
		if r.vsLimit != cat {
			t.Errorf("%s compared with %q, not cat", r.who, nameOf(r.vsLimit))
		}
	}
	fs.recs = 1000
	walls := map[string]time.Duration{"cat": 1, "floor (read, count LFs, copy)": 1, "pass (stream Reader to Writer)": 2, "mlm-check": 3, "mlm-unwrap": 4}
	for _, r := range fs.rows {
		w, ok := walls[r.who]
		if !ok {
			w = 5
		}
		r.work = 1024
		r.runs = []usage{{wall: w * time.Second}}
	}
	fs.notes()
	for who, note := range map[string]string{
		"cat":                            "1,000,000 ns a record",
		"pass (stream Reader to Writer)": "2,000,000 ns a record",
		"mlm-check":                      "3,000,000 ns a record",
		"mlm-unwrap":                     "4,000,000 ns a record",
		"mlm-auth DIR":                   "5,000,000 ns a record, 3,000,000 over pass",
		"mlm-throttle -r 1000000000 DIR": "5,000,000 ns a record, 3,000,000 over pass",
	} {
		if got := byWho[who].note; got != note {
			t.Errorf("%s: note %q, want %q", who, got, note)
		}
	}
	if got := ratio(byWho["mlm-auth DIR"], cat); got != "0.20" {
		t.Errorf("mlm-auth to cat: %q, want 0.20", got)
	}
	// The same rows, their timed runs into a pipe, but mlm-check's,
	// which writes nothing; and no "over pass", which the pipe's part
	// varies by more than the filters' own work.
	ps := newFilterSet("/self", 4, true)
	var pipeWhos []string
	for _, r := range ps.rows {
		pipeWhos = append(pipeWhos, r.who)
		if !r.intoPipe {
			t.Errorf("%s's runs not into a pipe", r.who)
		}
		r.work = 1024
		r.runs = []usage{{wall: time.Second}}
	}
	if got, want := strings.Join(pipeWhos, "|"), strings.Replace(want, "|mlm-check", "", 1)+"|"+chainWho; !ps.pipe || got != want {
		t.Errorf("into a pipe: rows %s (pipe %v), want %s", got, ps.pipe, want)
	}
	chain := ps.rows[len(ps.rows)-1]
	if got, want := strings.Join(chain.argv, " "), "mlm-pipeline mlm-auth DIR -- mlm-hdr DIR -- mlm-members DIR"; got != want || ps.out[chain] != outStream || chain.vsLimit != ps.rows[0] {
		t.Errorf("the chain runs %q, output %d, compared with %q; want %q, a stream (%d), cat", got, ps.out[chain], nameOf(chain.vsLimit), want, outStream)
	}
	ps.recs = 1000
	ps.notes()
	for _, r := range ps.rows {
		if r.note != "1,000,000 ns a record" {
			t.Errorf("into a pipe, %s: note %q; want the time a record alone", r.who, r.note)
		}
	}
	for _, r := range fs.rows {
		if r.intoPipe {
			t.Errorf("to /dev/null, %s's runs into a pipe", r.who)
		}
	}
}

// A run of mlm-run -D is checked as one of mlm-run's is: here shell
// scripts stand for mlm's programs, the daemon leaving a record in
// queue/retry/new with BENCH_LEAVE set, and the list has no members.
func TestDaemonOnceChecked(t *testing.T) {
	sinkProg := sinkOrSkip(t)
	bin := t.TempDir()
	writeFakeMlm(t, bin, `[ -z "$BENCH_LEAVE" ] || : >"$2/queue/retry/new/1"
trap 'kill $!; exit 0' TERM
sleep 600 & wait`, nil)
	for _, leave := range []string{"", "1"} {
		t.Setenv("BENCH_LEAVE", leave)
		b := sinkBench(t, context.Background(), sinkProg, bin, t.TempDir())
		_, err := b.daemonOnce(0, false)
		switch {
		case leave == "" && err != nil:
			t.Errorf("the queues left empty: %v", err)
		case leave != "" && err == nil:
			t.Error("a record left in queue/retry/new: the run passes")
		case leave != "" && !strings.Contains(err.Error(), "queue/retry/new holds 1 files"):
			t.Errorf("a record left in queue/retry/new: %v", err)
		}
	}
}

// A run of mlm's killed at its timeout gives what the sink had got by
// then, for the rate estimated from it. Here shell scripts stand for
// mlm's programs: mlm-run sends three messages of one recipient with
// smtp-source, says so in BENCH_MARK, and waits to be killed.
func TestMlmOnceCutShortCounts(t *testing.T) {
	sinkProg := sinkOrSkip(t)
	sourceProg := lookPath("smtp-source", "/usr/sbin/smtp-source")
	if sourceProg == "" {
		t.Skip("no smtp-source")
	}
	bin, work := t.TempDir(), t.TempDir()
	mark := filepath.Join(work, "sent")
	t.Setenv("BENCH_MARK", mark)
	writeFakeMlm(t, bin, sourceProg+` -m 3 -r 1 -f poster@example.org -t m@d1.example -M bench.example $(cat "$1/relay") || exit 1
: >"$BENCH_MARK"
sleep 600`, map[string]string{"mlm-sub": `cat >/dev/null`})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := sinkBench(t, ctx, sinkProg, bin, work)
	type result struct {
		d   delivered
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := b.mlmOnce(3, mlmOpts{})
		done <- result{d, err}
	}()
	for !fileExists(mark) { // (until smtp-source has had its 250s)
		select {
		case r := <-done:
			t.Fatalf("mlmOnce ended before it was cut short: %v", r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	r := <-done
	if r.err != errTimeout || r.d.st.rcpt != 3 || r.d.st.tx != 3 {
		t.Errorf("cut short after 3 messages of one recipient: %v, %d recipients in %d messages", r.err, r.d.st.rcpt, r.d.st.tx)
	}
}

// The table's line of a row: its rate rounded, the median run's wall,
// CPU, peak RSS and the sink's CPU, its ratios; a row cut short its
// status and its estimated rate.
func TestPrintTable(t *testing.T) {
	ms := time.Millisecond
	l := &row{who: "limit", what: "1,000 rcpt", unit: "rcpt/s", work: 1000, runs: []usage{{wall: 250 * ms}}}
	m := &row{who: "mlm", what: "1,000 members", unit: "rcpt/s", work: 1000, vsLimit: l, note: "10 tx",
		runs: []usage{{wall: 600 * ms, user: 100 * ms, sys: 50 * ms, rssKB: 10240, sink: 20 * ms}}}
	d := &row{who: "daemon", what: "1,000 members", unit: "rcpt/s", work: 1000, vsLimit: l, status: "timeout", partial: 149.5}
	out, err := os.Create(filepath.Join(t.TempDir(), "table"))
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	printTable([]*row{m, d, l})
	os.Stdout = stdout
	table, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(table), "\n")
	if len(lines) != 5 {
		t.Fatalf("table:\n%s", table)
	}
	// Each figure is right under its column's head, aligned to its end.
	for _, c := range []struct{ line, head, cell string }{{lines[1], "mlm/limit", "0.42"}, {lines[2], "mlm/limit", "~0.04"}, {lines[1], "rate", "1,667 rcpt/s"}} {
		if end := strings.Index(lines[0], c.head) + len(c.head); strings.Index(c.line, c.cell)+len(c.cell) != end {
			t.Errorf("%s not under %s:\n%s\n%s", c.cell, c.head, lines[0], c.line)
		}
	}
	for i, want := range [][]string{
		{"mlm 1,000 members", "1,667 rcpt/s", "0.600", "0.150", "10.0 MiB", "0.020", "0.42", "10 tx"},
		{"daemon 1,000 members", "timeout (~150 rcpt/s)", "~0.04"},
		{"limit 1,000 rcpt", "4,000 rcpt/s", "0.250", "0.000", "0.0 MiB"},
	} {
		if strings.Join(strings.Fields(lines[i+1]), " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want %q", i+1, lines[i+1], strings.Join(want, "  "))
		}
	}
}

// A run's time limit is the run timeout, or what is left of the budget
// if that is less; under a second left, or the bench interrupted, no
// run starts.
func TestTimeoutBudget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &bench{ctx: ctx, runTimeout: time.Minute, deadline: time.Now().Add(time.Hour)}
	if d, ok := b.timeout(); d != time.Minute || !ok {
		t.Errorf("an hour left: %v, %v; want the run timeout, 1m", d, ok)
	}
	b.deadline = time.Now().Add(30 * time.Second)
	if d, ok := b.timeout(); d > 30*time.Second || d < 20*time.Second || !ok {
		t.Errorf("30 s left: %v, %v; want what is left", d, ok)
	}
	b.deadline = time.Now().Add(500 * time.Millisecond)
	if d, ok := b.timeout(); ok {
		t.Errorf("half a second left: %v, a run starts", d)
	}
	b.deadline = time.Now().Add(time.Hour)
	cancel()
	if d, ok := b.timeout(); ok {
		t.Errorf("interrupted: %v, a run starts", d)
	}
}

// filterStream is a stream as the filter rows read, of about 1 MiB of
// 4 KB posts, and its records and the octets of their messages.
func filterStream(t *testing.T) (name string, data []byte, recs int, msgs int64) {
	t.Helper()
	b := &bench{shm: t.TempDir()}
	name, size, recs, msgs, err := b.makeStream(1, post(postSize))
	if err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(name); err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != size || recs < 2 {
		t.Fatalf("stream of %d octets, %d records; makeStream says %d", len(data), recs, size)
	}
	// The messages' octets, as a reader of the stream finds them.
	r := stream.NewReader(bytes.NewReader(data))
	var got int64
	n := 0
	if err := r.Each(func(*stream.Header) error {
		n++
		k, err := io.Copy(io.Discard, r.Message())
		got += k
		return err
	}); err != nil || n != recs || got != msgs {
		t.Fatalf("stream: %v, %d records of %d message octets; makeStream says %d of %d", err, n, got, recs, msgs)
	}
	return name, data, recs, msgs
}

// A filter row's output is checked against what the row must write: a
// filter that writes nothing, cuts its output short, adds to it, changes
// an octet, drops a record or a recipient, or writes a broken stream,
// fails its row.
func TestCheckOut(t *testing.T) {
	name, data, recs, msgs := filterStream(t)
	in := string(data)
	last := strings.LastIndex(in, "MLM1 ")
	changed := []byte(in)
	changed[5000] ^= 1
	// The body of the first record, an octet changed; the second's gone.
	firstBody := strings.Index(in, "\n:\n") + 3
	bodyChanged := in[:firstBody] + ":X" + in[firstBody+2:]
	second := strings.Index(in, "MLM1 1764417600.b2.bench")
	secondBody := second + strings.Index(in[second:], "\n:\n") + 3
	bodyDropped := in[:secondBody] + in[secondBody+strings.Index(in[secondBody:], "\nR <")+1:]
	twoThenNone := strings.Replace(strings.Replace(in, "\nE 1\nMLM1 ", "\nR <x@example.org>\nE 2\nMLM1 ", 1),
		"R <m0000002@d2.example>\nE 1\n", "E 0\n", 1)
	// The chain's marks on every record: mlm-auth's trace, mlm-hdr's
	// List-Id, mlm-members' state and trace.
	chain := marksOf([]string{"mlm-pipeline", "mlm-auth", "D", "--", "mlm-hdr", "D", "--", "mlm-members", "D"})
	if got := fmt.Sprint(chain); got != "[an attribute trace=mlm-auth:... a List-Id field an attribute state=expanded an attribute trace=mlm-members:...]" {
		t.Fatalf("the chain's marks: %s", got)
	}
	marked := strings.ReplaceAll(in, "\nS <", "\nA trace=mlm-auth:1\nA state=expanded\nA trace=mlm-members:1\nS <")
	marked = strings.ReplaceAll(marked, "\n:From:", "\n:List-Id: <list.bench.example>\n:From:")
	lastMarked := strings.LastIndex(marked, "MLM1 ")
	for _, c := range []struct {
		kind  outKind
		out   string
		want  string // in the error; "": none
		marks []mark
	}{
		{outStream, marked, "", chain},
		{outStream, in, "record 1764417600.b1.bench lacks an attribute trace=mlm-auth:...", chain},
		{outStream, in, "record 1764417600.b1.bench lacks an attribute parent", marksOf([]string{"mlm-split", "D"})},
		{outStream, marked[:lastMarked] + in[last:], "record " + in[last+5:last+5+strings.Index(in[last+5:], "\n")] + " lacks an attribute trace=mlm-auth:...", chain},
		{outStream, strings.Replace(marked, "\n:List-Id: <list.bench.example>", "", 1), "record 1764417600.b1.bench lacks a List-Id field", chain},
		{outStream, strings.ReplaceAll(marked, "A state=expanded\n", "A state=new\n"), "lacks an attribute state=expanded", chain},
		{outStream, strings.ReplaceAll(marked, "A trace=mlm-members:1\n", "A trace=mlm-hdr:1\n"), "lacks an attribute trace=mlm-members:...", chain},
		{outSame, in, "", nil},
		{outSame, "", "not the input: 0 octets of it", nil},
		{outSame, in[:len(in)-1], fmt.Sprintf("not the input: %s octets of it", commas(int64(len(in)-1))), nil},
		{outSame, in + "x", fmt.Sprintf("longer than its %s octets", commas(int64(len(in)))), nil},
		{outSame, string(changed), "it differs at octet 5,000", nil},
		{outNone, "", "", nil},
		{outNone, "x", "1 octets; want 0", nil},
		{outMail, strings.Repeat("x", int(msgs)), "", nil},
		{outMail, strings.Repeat("x", int(msgs)-1), fmt.Sprintf("want %s", commas(msgs)), nil},
		{outStream, in, "", nil},
		{outStream, "", fmt.Sprintf("0 records; want %s", commas(int64(recs))), nil},
		{outStream, in[:last], fmt.Sprintf("%s records; want %s", commas(int64(recs-1)), commas(int64(recs))), nil},
		{outStream, twoThenNone, "record 1764417600.b1.bench has 2 recipients; want 1", nil},
		{outStream, strings.Replace(in, "R <m0000002@d2.example>\nE 1\n", "E 0\n", 1), "record 1764417600.b2.bench has 0 recipients", nil},
		{outStream, in[:len(in)-3], "line", nil},
		{outStream, strings.Replace(in, ":Subject:", ":X-Added: 1\n:Subject:", 1), "", nil},
		{outStream, bodyChanged, "record 1764417600.b1.bench: its body, ", nil},
		{outStream, bodyDropped, "record 1764417600.b2.bench: its body, 0 octets, is not that of the input's record 1764417600.b2.bench", nil},
	} {
		err := checkOut(strings.NewReader(c.out), c.kind, name, recs, msgs, c.marks)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("kind %d, %d octets: %v", c.kind, len(c.out), err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("kind %d, %d octets: %v; want %q in it", c.kind, len(c.out), err, c.want)
		}
	}
}

// The filter rows that ran are run once more, their output checked: a
// row whose filter writes the wrong thing fails, and the bench with it;
// one that did not run, or already failed, is not run again; with the
// bench's time spent, a row is noted unchecked, not failed.
func TestCheckFilters(t *testing.T) {
	name, _, recs, msgs := filterStream(t)
	ran := filepath.Join(t.TempDir(), "ran")
	b := progBench(t, map[string]string{
		"good":  `cat`,
		"short": `head -c 1000`,
		"none":  `cat >/dev/null`,
		"ran":   `echo "$1" >>` + ran + `; cat`,
	})
	bin := b.bin
	mk := ranFilterRow
	good, short, none, mail := mk("good"), mk("short"), mk("none"), mk("good")
	notRun, failed := mk("ran", "not-run"), mk("ran", "failed")
	notRun.runs = nil
	failed.status = "FAILED"
	// Rows whose timed runs wrote into a pipe: each run's octets must be
	// the checked run's.
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	piped, pipedShort := mk("good"), mk("good")
	piped.intoPipe, piped.wrote = true, []int64{size, size}
	pipedShort.intoPipe, pipedShort.wrote = true, []int64{size, 1000, size}
	// Against the checked run's octets, not the input's.
	pipedNone, pipedNoneWrote := mk("none"), mk("none")
	pipedNone.intoPipe, pipedNone.wrote = true, []int64{0, 0}
	pipedNoneWrote.intoPipe, pipedNoneWrote.wrote = true, []int64{0, size}
	fs := &filterSet{rows: []*row{good, short, none, mail, notRun, failed, piped, pipedShort, pipedNone, pipedNoneWrote},
		recs: recs, unchecked: map[*row]bool{},
		out: map[*row]outKind{good: outSame, short: outStream, none: outNone, mail: outMail, notRun: outSame, failed: outSame,
			piped: outSame, pipedShort: outSame, pipedNone: outNone, pipedNoneWrote: outNone}}
	b.checkFilters(fs, name, msgs, nil)
	for _, c := range []struct {
		r            *row
		status, note string
	}{
		{good, "", ""},
		{short, "FAILED", "its output: line 24: last line has no LF"},
		{none, "", ""},
		{mail, "FAILED", "its output: "},
		{notRun, "", ""},
		{failed, "FAILED", ""},
		{piped, "", ""},
		{pipedShort, "FAILED", fmt.Sprintf("its timed run 2 wrote 1,000 octets into its pipe, its checked run %s", commas(size))},
		{pipedNone, "", ""},
		{pipedNoneWrote, "FAILED", fmt.Sprintf("its timed run 2 wrote %s octets into its pipe, its checked run 0", commas(size))},
	} {
		if c.r.status != c.status || !strings.Contains(c.r.note, c.note) {
			t.Errorf("%s: status %q, note %q; want %q, %q in it", c.r.who, c.r.status, c.r.note, c.status, c.note)
		}
	}
	if len(b.failures) != 4 {
		t.Errorf("failures %q; want short's, mail's, pipedShort's and pipedNoneWrote's", b.failures)
	}
	if got, err := os.ReadFile(ran); err == nil {
		t.Errorf("rows not to be checked were run: %q", got)
	}

	// Out of time: noted, not run, not failed.
	b.deadline = time.Now()
	good.status, good.note = "", ""
	writeProgs(t, bin, map[string]string{"good": `exit 1`})
	fs = &filterSet{rows: []*row{good}, recs: recs, unchecked: map[*row]bool{}, own: map[*row]bool{}, out: map[*row]outKind{good: outSame}}
	b.failures = nil
	b.checkFilters(fs, name, msgs, nil)
	fs.notes()
	if good.status != "" || !strings.HasSuffix(good.note, "; its output not checked (max-time)") || len(b.failures) > 0 {
		t.Errorf("out of time: status %q, note %q, failures %q; want the note alone", good.status, good.note, b.failures)
	}
}

// ranFilterRow is a filter row of argv that has run once, for
// checkFilters.
func ranFilterRow(argv ...string) *row {
	return &row{who: strings.Join(argv, " "), argv: argv, runs: []usage{{wall: 1}}}
}

// The rows of mlm's filters are checked for their stages' marks as they
// run: a stand-in that passes its input on unread fails, under a filter's
// name and in the chain, and one that leaves the mark passes.
func TestCheckFiltersMarks(t *testing.T) {
	name, _, recs, msgs := filterStream(t)
	b := progBench(t, map[string]string{
		"mlm-auth":     `cat`,
		"mlm-hdr":      `sed 's/^:From:/:List-Id: <l.example>\n:From:/'`,
		"mlm-pipeline": `cat`,
	})
	mk := ranFilterRow
	auth, hdr, chain := mk("mlm-auth", "D"), mk("mlm-hdr", "D"), mk("mlm-pipeline", "mlm-hdr", "D", "--", "mlm-members", "D")
	fs := &filterSet{rows: []*row{auth, hdr, chain}, recs: recs, unchecked: map[*row]bool{},
		out: map[*row]outKind{auth: outStream, hdr: outStream, chain: outStream}}
	b.checkFilters(fs, name, msgs, nil)
	for _, c := range []struct {
		r            *row
		status, note string
	}{
		{auth, "FAILED", "its output: record 1764417600.b1.bench lacks an attribute trace=mlm-auth:..."},
		{hdr, "", ""},
		{chain, "FAILED", "its output: record 1764417600.b1.bench lacks a List-Id field"},
	} {
		if c.r.status != c.status || !strings.Contains(c.r.note, c.note) {
			t.Errorf("%s: status %q, note %q; want %q, %q in it", c.r.who, c.r.status, c.r.note, c.status, c.note)
		}
	}
}

// A filter row's timed runs write into a pipe, if it says so, that the
// bench reads to the end, counting what each wrote (for checkFilters);
// the others' write to /dev/null, uncounted.
func TestFiltersIntoPipe(t *testing.T) {
	name, data, _, _ := filterStream(t)
	sizeFile := filepath.Join(t.TempDir(), "size")
	b := progBench(t, map[string]string{
		"good": `cat`,
		"half": `head -c 1000`,
		// The size of the pipe it writes into (F_GETPIPE_SZ).
		"size": `cat >/dev/null; perl -e 'open F, ">", $ARGV[0] or die; print F fcntl(STDOUT, 1032, 0) + 0' ` + sizeFile,
	})
	b.filterReps = 2
	good := &row{who: "good", argv: []string{"good"}, intoPipe: true}
	half := &row{who: "half", argv: []string{"half"}, intoPipe: true}
	null := &row{who: "null", argv: []string{"good"}}
	size := &row{who: "size", argv: []string{"size"}, intoPipe: true}
	b.filters([]*row{good, half, null, size}, name)
	for _, c := range []struct {
		r    *row
		want []int64
	}{{good, []int64{int64(len(data)), int64(len(data))}}, {half, []int64{1000, 1000}}, {null, nil}} {
		if c.r.status != "" || len(c.r.runs) != 2 || !slices.Equal(c.r.wrote, c.want) {
			t.Errorf("%s: status %q, %d runs, wrote %v; want 2 runs, %v", c.r.who, c.r.status, len(c.r.runs), c.r.wrote, c.want)
		}
	}
	// As big as mlm-run makes one between two stages.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pipeline.GrowPipe(pw)
	want, err := unix.FcntlInt(pw.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(sizeFile); err != nil || string(got) != strconv.Itoa(want) || want <= 64<<10 {
		t.Errorf("the pipe a run wrote into: %q octets (%v); want %d, over the kernel's 64 KiB", got, err, want)
	}
}

// The filter sets of a post size run on one stream, the reps of all
// their rows in turn, so that the rows to /dev/null and into a pipe see
// the same load; then each set is checked; a set of another size runs
// after, on its own stream. Each row's DIR is the list made for the
// filters, each row has its note, and the streams are removed; without
// a stream, the rows fail.
func TestRunFilters(t *testing.T) {
	log, args := filepath.Join(t.TempDir(), "log"), filepath.Join(t.TempDir(), "args")
	progs := map[string]string{"mlm-newlist": `mkdir -p "$3"`}
	for _, name := range []string{"n", "p", "e"} {
		progs[name] = `echo ` + name + ` >>` + log + `; [ -d "$1" ] && echo "$1" >>` + args + `; cat`
	}
	b := progBench(t, progs)
	b.shm, b.filterReps = t.TempDir(), 2
	set := func(kb int, pipe bool, who string) *filterSet {
		r := &row{who: who, argv: []string{who, "DIR"}, intoPipe: pipe, unit: "MiB/s"}
		return &filterSet{kb: kb, pipe: pipe, rows: []*row{r}, pass: r, own: map[*row]bool{},
			out: map[*row]outKind{r: outSame}, unchecked: map[*row]bool{}}
	}
	null, pipe, other := set(4, false, "n"), set(4, true, "p"), set(8, false, "e")
	b.runFilters([]*filterSet{null, pipe, other}, []int{4, 8}, 1)
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "n p p n n p e e e"; strings.Join(strings.Fields(string(got)), " ") != want {
		t.Errorf("the runs, in order: %q; want %s (a rep of each, then the other first, then the checks)", got, want)
	}
	for _, fs := range []*filterSet{null, pipe, other} {
		r := fs.rows[0]
		if fs.recs == 0 || len(r.runs) != 2 || r.status != "" || !strings.HasSuffix(r.what, ", "+fs.into()) ||
			!strings.Contains(r.what, kiB(fs.kb)+" posts") || !strings.HasSuffix(r.note, " ns a record") {
			t.Errorf("%s: %d records, %d runs, status %q, %q, note %q", r.who, fs.recs, len(r.runs), r.status, r.what, r.note)
		}
	}
	dirs, err := os.ReadFile(args)
	if n := strings.Count(string(dirs), "\n"); err != nil || n != 9 || !strings.HasPrefix(string(dirs), b.work) {
		t.Errorf("the rows' DIR, a run a line: %q (%v); want 9 lines, each a list directory in %s", dirs, err, b.work)
	}
	if left, err := os.ReadDir(b.shm); err != nil || len(left) > 0 {
		t.Errorf("left in the streams' directory: %v (%v)", left, err)
	}

	// No stream: the rows fail, and nothing runs.
	os.Remove(log)
	b.shm = filepath.Join(t.TempDir(), "none")
	null, pipe = set(4, false, "n"), set(4, true, "p")
	b.runFilters([]*filterSet{null, pipe}, []int{4}, 1)
	for _, fs := range []*filterSet{null, pipe} {
		if r := fs.rows[0]; r.status != "FAILED" || len(r.runs) > 0 {
			t.Errorf("no stream: %s: status %q, %d runs", r.who, r.status, len(r.runs))
		}
	}
	if got, err := os.ReadFile(log); err == nil {
		t.Errorf("no stream: the rows ran: %q", got)
	}
}

// A run whose output into a pipe, or whose stderr too, a process
// outside its tree holds open after it ended fails, once pipeLeft is
// up, and does not wait for that process (which here holds them 60 s,
// past the run's time limit: a run that waited would be a timeout).
func TestLeftHolding(t *testing.T) {
	name, _, _, _ := filterStream(t)
	defer func(d time.Duration) { pipeLeft = d }(pipeLeft)
	pipeLeft = 500 * time.Millisecond
	for _, c := range []struct {
		fds, want string
	}{
		{`3>/proc/$p/fd/1`, "its output still open 500ms after it ended, held by another process"},
		{`3>/proc/$p/fd/1 4>/proc/$p/fd/2`, "leave: its output or stderr still open 500ms after it ended, held by another process"},
	} {
		tmp := t.TempDir()
		pidf, ready := filepath.Join(tmp, "pid"), filepath.Join(tmp, "ready")
		b := progBench(t, map[string]string{
			"leave": `cat; echo $$ >` + pidf + `.t; mv ` + pidf + `.t ` + pidf + `; while [ ! -e ` + ready + ` ]; do sleep 0.05; done`,
		})
		b.runTimeout, b.filterReps = 20*time.Second, 1
		holder := exec.Command("sh", "-c", `while [ ! -e `+pidf+` ]; do sleep 0.05; done; p=$(cat `+pidf+`); exec `+c.fds+`; touch `+ready+`; exec sleep 60`)
		var holderErr bytes.Buffer
		holder.Stderr = &holderErr
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		r := &row{who: "leave", argv: []string{"leave"}, intoPipe: true}
		b.filters([]*row{r}, name)
		holder.Process.Kill()
		holder.Wait()
		if r.status != "FAILED" || !strings.Contains(r.note, c.want) {
			t.Errorf("%s held: status %q, note %q; want FAILED, %q in it (the holder said %q)", c.fds, r.status, r.note, c.want, holderErr.String())
		}
	}
}

// A setup command that leaves a process holding its output fails once
// pipeLeft is up, and that process is ended; one past its time limit is
// ended with what it started; one that fails leaves nothing running.
func TestRunSetupLeft(t *testing.T) {
	defer func(d time.Duration) { pipeLeft = d }(pipeLeft)
	pipeLeft = 500 * time.Millisecond
	b := &bench{ctx: context.Background(), bin: t.TempDir()}
	gone := func(pid string) bool {
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	}
	for _, c := range []struct {
		sh      string
		timeout time.Duration
		want    string
	}{
		{`sleep 60 & echo $! >"$1"; echo started`, time.Minute, "its output or stderr still open 500ms after it ended, held by another process: started"},
		{`sleep 60 & echo $! >"$1"; exec sleep 60`, time.Second, "signal: killed"},
		{`sleep 60 & echo $! >"$1"; echo failed; exit 1`, time.Minute, "failed"},
	} {
		pidf := filepath.Join(t.TempDir(), "pid")
		err := b.run(c.timeout, "", "", "sh", "-c", c.sh, "sh", pidf)
		pid, _ := os.ReadFile(pidf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q in it", c.sh, err, c.want)
		}
		// Ended: at once, or as soon as its killer is seen to.
		for i := 0; i < 100 && !gone(string(pid)); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if len(pid) == 0 || !gone(string(pid)) {
			t.Errorf("%s: what it started (%q) still runs", c.sh, pid)
			if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil && n > 1 {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
	}
}

// The two sets of a post size, whose rows run the same filters, are
// checked by one run of each: here 2 reps of each set's row, and one
// checked run.
func TestRunFiltersCheckedOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b := progBench(t, map[string]string{"mlm-newlist": `mkdir -p "$3"`, "f": `echo f >>` + log + `; cat`})
	b.shm, b.filterReps = t.TempDir(), 2
	set := func(pipe bool) *filterSet {
		r := &row{who: "f", argv: []string{"f", "DIR"}, intoPipe: pipe, unit: "MiB/s"}
		return &filterSet{kb: 4, pipe: pipe, rows: []*row{r}, pass: r, own: map[*row]bool{},
			out: map[*row]outKind{r: outSame}, unchecked: map[*row]bool{}}
	}
	null, pipe := set(false), set(true)
	b.runFilters([]*filterSet{null, pipe}, []int{4}, 1)
	got, err := os.ReadFile(log)
	if n := strings.Count(string(got), "f\n"); err != nil || n != 5 {
		t.Errorf("runs: %d (%v); want 4 timed and 1 checked", n, err)
	}
	for _, fs := range []*filterSet{null, pipe} {
		if r := fs.rows[0]; r.status != "" || len(r.runs) != 2 {
			t.Errorf("%s: status %q, note %q, %d runs", fs.into(), r.status, r.note, len(r.runs))
		}
	}
}

// Started through the C launcher, a command's peak RSS is its own tree's:
// true's is under the Go wrapper's own, which a command the wrapper
// starts with vfork counts (so mlmmj showed 5.1 MiB, the wrapper's, for
// its 2); and a descendant's peak is in it, the launcher reaping the
// tree; the command's status comes through.
func TestLauncher(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{self: self, work: t.TempDir(), ctx: context.Background()}
	plain, err := b.measure(time.Minute, job{argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	useLauncher(t)
	small, err := b.measure(time.Minute, job{argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("true: %d KiB through the wrapper alone, %d KiB through the launcher", plain.rssKB, small.rssKB)
	if small.rssKB <= 0 || small.rssKB >= plain.rssKB {
		t.Errorf("true through the launcher: %d KiB; want some, and under the %d KiB it shows through the wrapper alone", small.rssKB, plain.rssKB)
	}
	// A shell holding 40 MB, a grandchild of the launcher's child.
	big, err := b.measure(time.Minute, job{argv: []string{"sh", "-c", `sh -c 'x=$(head -c 40000000 /dev/zero | tr "\0" a); echo ${#x} >/dev/null'; exit 0`}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a grandchild of 40 MB: %d KiB, %v CPU", big.rssKB, big.cpu())
	if big.rssKB < 40_000_000/1024 {
		t.Errorf("a grandchild of 40 MB through the launcher: %d KiB", big.rssKB)
	}
	// Its CPU is the tree's, as the launcher reports it: some, to make
	// and copy 40 MB.
	if big.cpu() <= 0 {
		t.Errorf("a grandchild of 40 MB through the launcher: %v of CPU", big.cpu())
	}
	// The tree's page faults: some for true, more for the 40 MB, the
	// grandchild's counted.
	t.Logf("page faults: true %d, a grandchild of 40 MB %d", small.faults, big.faults)
	if small.faults <= 0 || big.faults <= small.faults {
		t.Errorf("page faults through the launcher: true %d, a grandchild of 40 MB %d; want some, and more for the 40 MB", small.faults, big.faults)
	}
	// The report's descriptor is the launcher's alone.
	if _, err := b.measure(time.Minute, job{argv: []string{"sh", "-c", `[ ! -e /proc/$$/fd/3 ]`}}); err != nil {
		t.Errorf("the command through the launcher has descriptor 3: %v", err)
	}
	if _, err := b.measure(time.Minute, job{argv: []string{"sh", "-c", "exit 3"}}); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("exit 3 through the launcher: %v; want a failure with status 3", err)
	}
}

// The pipelining client delivers the post to every member once, into a
// real smtp-sink, its run checked as mlm's is: in batches of 100 over
// two sessions, and one a transaction, a sender each (VERP); its DATA
// is the post's lines in CRLF, a leading dot doubled, then the dot.
func TestPipeOnce(t *testing.T) {
	if got, want := string(dataLines([]byte("a\n.b\n\nc"))), "a\r\n..b\r\n\r\nc\r\n.\r\n"; got != want {
		t.Errorf("dataLines = %q; want %q", got, want)
	}
	sinkProg := sinkOrSkip(t)
	b := sinkBench(t, context.Background(), sinkProg, t.TempDir(), t.TempDir())
	for _, c := range []struct {
		n, per, sessions, tx int
		verp                 bool
	}{{250, 100, 2, 3, false}, {30, 1, 4, 30, true}} {
		d, err := b.pipeOnce(c.n, c.per, c.sessions, c.verp)
		if err != nil || d.st.rcpt != c.n || d.st.tx != c.tx {
			t.Errorf("%d members, %d a transaction, %d sessions: %v, %d recipients in %d transactions; want %d in %d",
				c.n, c.per, c.sessions, err, d.st.rcpt, d.st.tx, c.n, c.tx)
		}
	}
}

// TestCommandOf: the command the wrapper runs through the C launcher is
// the launcher's child, whose CPU the daemon row reads while it runs:
// the launcher's own counts the daemon's only once it has waited for it,
// and the row read about 0.01 s for a run of a second.
func TestCommandOf(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	useLauncher(t)
	w := exec.Command(self, wrapFlag, filepath.Join(t.TempDir(), "res"), "--", "sleep", "30")
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-w.Process.Pid, syscall.SIGKILL); _ = w.Wait() }()
	cmd := started(t, w.Process.Pid, commandOf)
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd)); string(comm) != "sleep\n" {
		t.Errorf("commandOf(the wrapper) = %d, a %q; want the sleep", cmd, comm)
	}
}

// started is find(pid) once it finds the process pid starts, tried
// until it does, 10 s at most on a busy machine.
func started(t *testing.T, pid int, find func(int) (int, error)) int {
	t.Helper()
	var p int
	var err error
	for range 500 {
		if p, err = find(pid); err == nil {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return 0
}

// useLauncher builds the C launcher and has the wrapper start commands
// through it for the rest of the test; the test is skipped without a C
// compiler, and fails if the launcher does not compile.
func useLauncher(t *testing.T) {
	t.Helper()
	launch, err := buildLauncherOrSkip(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(launchEnv, launch)
	// The wrapper is this test's binary: under -race, it would sleep a
	// second at each exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
}

// buildLauncherOrSkip builds the C launcher for a test, which is skipped
// if there is no C compiler; an error is the launcher's failure to build.
func buildLauncherOrSkip(t *testing.T) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler")
		}
	}
	return buildLauncher(t.TempDir())
}

// The launcher's report is five counts, the peak in KiB, the page
// faults, and the user and system CPU and the wall in microseconds;
// anything else fails the run rather than showing a figure.
func TestParseLaunched(t *testing.T) {
	got, err := parseLaunched("5120 1432 2500 1000001 7\n")
	if want := (launched{rssKB: 5120, faults: 1432, user: 2500 * time.Microsecond, sys: 1000001 * time.Microsecond, wall: 7 * time.Microsecond}); err != nil || got != want {
		t.Errorf("parseLaunched(\"5120 1432 2500 1000001 7\\n\") = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "5120", "5120\n", "5120 1432", "5120 1432 1 1", "5120 x 1 1 1", "-1 3 1 1 1", "1 -3 1 1 1", "1 2 -3 4 5", "1 2 3 -4 5", "1 2 3 4 -5", "1 2 3 4 5 6", "0x10 2 3 4 5"} {
		if _, err := parseLaunched(bad); err == nil {
			t.Errorf("parseLaunched(%q): no error", bad)
		}
	}
}

// Through a launcher, a run's CPU, wall, peak and page faults are those
// the launcher reports, its children's, not the wrapper's children's and
// its own measure, which would count the launcher's own start: here a
// script stands for it.
func TestWrapperTakesLaunched(t *testing.T) {
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	launch := filepath.Join(t.TempDir(), "launch")
	if err := os.WriteFile(launch, []byte("#!/bin/sh\n\"$@\"\necho 2048 77 3000000 4000000 5000000 >&3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(launchEnv, launch)
	b := &bench{self: self, work: t.TempDir(), ctx: context.Background()}
	u, err := b.measure(time.Minute, job{argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.user != 3*time.Second || u.sys != 4*time.Second || u.wall != 5*time.Second || u.rssKB != 2048 || u.faults != 77 {
		t.Errorf("through a launcher that reports 2048 KiB, 77 faults, 3 s user, 4 s system and 5 s wall: %+v", u)
	}
}

// The real launcher reports its children's CPU and wall, not its own: a
// loop that spends its time in user code shows it as user time, the
// report a little under what the launcher's whole run took (the
// launcher's own start, some milliseconds, out of it), and its wall
// within the launcher's.
func TestLauncherReportsTree(t *testing.T) {
	launch, err := buildLauncherOrSkip(t)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(launch, "sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	cmd.ExtraFiles = []*os.File{w}
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(t0)
	w.Close()
	b, _ := io.ReadAll(r)
	got, err := parseLaunched(string(b))
	if err != nil {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	all := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()) // the launcher's and its tree's
	t.Logf("reported: user %v, system %v, wall %v; the launcher and its tree: CPU %v, wall %v", got.user, got.sys, got.wall, all, whole)
	if got.user < got.sys {
		t.Errorf("a loop in user code: user %v, system %v", got.user, got.sys)
	}
	if cpu := got.user + got.sys; cpu > all || cpu < all-50*time.Millisecond {
		t.Errorf("reported CPU %v; want the tree's, a little under the %v of the launcher and its tree", cpu, all)
	}
	if got.wall <= 0 || got.wall > whole || got.wall < got.user/2 {
		t.Errorf("reported wall %v; want within the launcher's %v, and at least half the loop's %v of user time", got.wall, whole, got.user)
	}
}

// A wrapper's line reads back as it was written, the page faults too.
func TestProcLineRoundTrip(t *testing.T) {
	want := []procLine{
		{name: "mlm-sendmail", user: 152 * time.Millisecond, sys: 108 * time.Millisecond, rssKB: 14438, wall: 439 * time.Millisecond, faults: 1808},
		{name: treeLine, user: time.Microsecond, wall: 2 * time.Second},
	}
	name := filepath.Join(t.TempDir(), "lines")
	var s string
	for _, l := range want {
		s += l.String()
	}
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readProcLines(name)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("readProcLines = %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(name, []byte("mlm-hdr\t1\t2\t3\t4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readProcLines(name); err == nil {
		t.Error("a line of five fields, without the faults: no error")
	}
}

// Touching 64 MiB of fresh memory takes a page fault a page, and each
// costs some time: the figure the profile multiplies a run's faults by
// (the fault count is faultCost's own check).
func TestFaultCost(t *testing.T) {
	cost, err := faultCost()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a page fault: %v", cost)
	if cost <= 0 {
		t.Errorf("a page fault costs %v", cost)
	}
}

// memOfTree adds up a tree's resident sets: a shell holding 40 MB and
// its child, both there when it looks (the shell says so once the
// child has started).
func TestMemOfTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", `x=$(head -c 40000000 /dev/zero | tr "\0" a); sleep 30 & echo ready; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range childrenOf(cmd.Process.Pid) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the shell said %q, %v", line, err)
	}
	m := memOfTree(cmd.Process.Pid)
	t.Logf("%d KiB in %d processes", m.kib, m.procs)
	if m.kib < 40_000_000/1024 || m.procs != 2 {
		t.Errorf("memOfTree = %d KiB in %d processes; want 40 MB or more, in the shell and its sleep", m.kib, m.procs)
	}
	if m := memOfTree(1 << 30); m != (treeMem{}) {
		t.Errorf("memOfTree of no process = %+v", m)
	}
}

// The sampler passes the command's status on and writes its line, read
// back by readSampled; a line it did not write is an error.
func TestSampler(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sampled")
	err = exec.Command(self, sampleFlag, file, "--", "sh", "-c", "exit 3").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("the sampler of exit 3: %v", err)
	}
	peak, samples, err := readSampled(file)
	if err != nil || samples < 1 || peak.procs > 1 {
		t.Errorf("readSampled = %+v, %d, %v; want a sample or more, of the shell at most", peak, samples, err)
	}
	for _, bad := range []string{"", "1 2", "1 2 0\n", "-1 2 3", "1 x 3", "1 2 3 4"} {
		os.WriteFile(file, []byte(bad), 0o644)
		if _, _, err := readSampled(file); err == nil {
			t.Errorf("readSampled(%q): no error", bad)
		}
	}
}

// mlmmj's VERP row of a size it would not finish within the run limit
// is not run, its rate estimated from its smaller row's median, and the
// ratio to it marked so; a size it would finish, or a smaller row with
// no exact rate, leaves the row to run.
func TestEstimateFrom(t *testing.T) {
	small := func(status string) *row {
		r := &row{who: "mlmmj", work: 1000, status: status}
		for _, s := range []int{40, 50, 60} { // a median of 50 s: 20 rcpt/s
			r.runs = append(r.runs, usage{wall: time.Duration(s) * time.Second})
		}
		return r
	}
	limit := 3 * time.Minute
	r := &row{who: "mlmmj", work: 10000}
	estimateFrom(r, small(""), 10000, limit)
	if r.status != "not run" || r.partial != 20 {
		t.Fatalf("10,000 at 20 rcpt/s: status %q, partial %g; want not run, 20", r.status, r.partial)
	}
	if want := "would take ~8m20s a run, over 80% of the 3m0s a run may take now, at the rate of its 1,000-member row"; r.note != want {
		t.Errorf("note %q, want %q", r.note, want)
	}
	m := &row{who: "mlm", work: 10000, runs: []usage{{wall: time.Second}}}
	if got := ratio(m, r); got != "~500" {
		t.Errorf("mlm/mlmmj = %q, want ~500", got)
	}
	over := &row{work: 2900}
	if estimateFrom(over, small(""), 2900, limit); over.status != "not run" {
		t.Errorf("2,900 at 20 rcpt/s (145 s, over 80%% of 180 s): status %q; want not run", over.status)
	}
	for _, c := range []struct {
		what  string
		r     *row
		small *row
		n     int
	}{
		{"a size it finishes (100 s)", &row{work: 2000}, small(""), 2000},
		{"a size it finishes in 80% of the limit (144 s)", &row{work: 2880}, small(""), 2880},
		{"a smaller row cut short", &row{work: 10000}, small("timeout"), 10000},
		{"a smaller row not run", &row{work: 10000}, &row{work: 1000, status: "not run (-systems)"}, 10000},
		{"a row not to run already", &row{work: 10000, status: "not run (-systems)"}, small(""), 10000},
		{"a \"smaller\" row as large", &row{work: 10000}, &row{work: 10000, runs: []usage{{wall: time.Hour}}}, 10000},
		{"no smaller row", &row{work: 10000}, nil, 10000},
		{"no row", nil, small(""), 10000},
	} {
		status := ""
		if c.r != nil {
			status = c.r.status
		}
		estimateFrom(c.r, c.small, c.n, limit)
		if c.r != nil && (c.r.status != status || c.r.partial != 0 || c.r.note != "") {
			t.Errorf("%s: status %q, partial %g, note %q; want it left as it was", c.what, c.r.status, c.r.partial, c.r.note)
		}
	}
}

// mlm's row of -mlmmj-verp's size is not run when mlmmj's row of that
// size is estimated, not measured: there is nothing to compare it with.
func TestMlmmjVERPLoneMlm(t *testing.T) {
	_, by := planDelivery([]int{300}, 1000, map[string]bool{"verp": true}, func(map[string]*row) {})
	limit := func() (time.Duration, bool) { return 40 * time.Second, true } // 1,000 at 20 a second: 50 s
	mlmmjVERP(by, []int{300}, 1000, limit, func(n int, whos ...string) {
		for _, who := range whos {
			if r := by[who+"/verp/"+fmt.Sprint(n)]; r.status == "" {
				r.runs = []usage{{wall: time.Duration(float64(n) / 20 * float64(time.Second))}}
			}
		}
	})
	m, j := by["mlm/verp/1000"], by["mlmmj/verp/1000"]
	if j.status != "not run" || m.status != "not run (no mlmmj row to compare)" || len(m.runs) > 0 {
		t.Errorf("1,000: mlmmj %q, mlm %q (%d runs); want mlmmj estimated, mlm not run", j.status, m.status, len(m.runs))
	}
}

// The delivery rows of sizes, in the table's order: mlm's and mlmmj's own
// VERP rows of -mlmmj-verp among the VERP rows, only if -members has not
// that size, its mlm row compared with its mlmmj row alone, and not run
// without it.
func TestPlanDelivery(t *testing.T) {
	names := func(rows []*row) string {
		var ns []string
		for _, r := range rows {
			ns = append(ns, r.who+" "+r.what)
		}
		return strings.Join(ns, "|")
	}
	all := map[string]bool{"batch": true, "verp": true}
	none := func(map[string]*row) {}
	rows, by := planDelivery([]int{300, 2000}, 1000, all, none)
	var want []string
	for _, set := range []struct {
		mode string
		n    int
		whos []string
	}{{"batch", 300, deliveryWhos}, {"batch", 2000, deliveryWhos}, {"verp", 300, deliveryWhos},
		{"verp", 1000, []string{"mlm", "mlmmj"}}, {"verp", 2000, deliveryWhos}} {
		rs := deliveryRows(set.mode, set.n)
		for _, who := range set.whos {
			want = append(want, rs[who].who+" "+rs[who].what)
			if by[who+"/"+set.mode+"/"+fmt.Sprint(set.n)] == nil {
				t.Errorf("no row %s/%s/%d", who, set.mode, set.n)
			}
		}
	}
	if got := names(rows); got != strings.Join(want, "|") {
		t.Fatalf("rows:\n%s\nwant:\n%s", got, strings.Join(want, "|"))
	}
	m, j := by["mlm/verp/1000"], by["mlmmj/verp/1000"]
	if m.vsMlmmj != j || m.vsLimit != nil || m.vsClient != nil || len(by) != len(rows) {
		t.Errorf("the 1,000 mlm row compared with %q, %q, %q; want its mlmmj row alone", nameOf(m.vsMlmmj), nameOf(m.vsLimit), nameOf(m.vsClient))
	}
	// The size among -members: no rows of its own; VERP off: none.
	if rows, _ := planDelivery([]int{1000, 2000}, 1000, all, none); len(rows) != 4*len(deliveryWhos) {
		t.Errorf("-mlmmj-verp among -members: %d rows; want %d", len(rows), 4*len(deliveryWhos))
	}
	if rows, _ := planDelivery([]int{300}, 1000, map[string]bool{"batch": true}, none); len(rows) != len(deliveryWhos) {
		t.Errorf("batch alone: %d rows; want %d", len(rows), len(deliveryWhos))
	}
	// Without mlmmj, its own mlm row is not run; the others are.
	b := &bench{}
	_, by = planDelivery([]int{300}, 1000, all, func(rs map[string]*row) { b.ready(rs, map[string]bool{"mlm": true, "mlmmj": true}) })
	if s := by["mlm/verp/1000"].status; s != "not run (no mlmmj row to compare)" {
		t.Errorf("the 1,000 mlm row without mlmmj: status %q", s)
	}
	if s := by["mlm/verp/300"].status; s != "" {
		t.Errorf("the 300 mlm row without mlmmj: status %q; want it run", s)
	}
}

// A size's rows say which will not run: mlmmj or smtp-source not
// installed, a system not in -systems; mlmmj's row is named with its
// version.
func TestReady(t *testing.T) {
	rs := deliveryRows("batch", 100)
	(&bench{}).ready(rs, map[string]bool{"mlm": true, "mlmmj": true, "limit": true, "client": true, "pipe": true})
	for who, want := range map[string]string{"mlm": "", "mlmmj": "mlmmj: not installed (apt-get install mlmmj)",
		"limit": "smtp-source not installed (apt-get install postfix)", "daemon": "not run (-systems)", "client": "", "pipe": ""} {
		if got := rs[who].status; got != want {
			t.Errorf("%s: status %q, want %q", who, got, want)
		}
	}
	rs = deliveryRows("batch", 100)
	(&bench{mlmmjReceive: "/usr/bin/mlmmj-receive", mlmmjVersion: "1.3.0", smtpSource: "/usr/sbin/smtp-source"}).ready(rs, map[string]bool{"mlmmj": true})
	if j := rs["mlmmj"]; j.status != "" || j.who != "mlmmj 1.3.0" {
		t.Errorf("mlmmj installed: %q, status %q", j.who, j.status)
	}
	if l, m := rs["limit"], rs["mlm"]; l.status != "not run (-systems)" || m.status != "not run (-systems)" {
		t.Errorf("not in -systems: limit %q, mlm %q", l.status, m.status)
	}
}

// A timeout is kept at the smallest size it came at, and skips the rows
// of that size and larger ones, not smaller ones.
func TestTimeouts(t *testing.T) {
	to := timeouts{}
	if _, ok := to.before("mlm/verp", 100); ok {
		t.Error("no timeout: a row skipped")
	}
	to.note("mlm/verp", 100000)
	to.note("mlm/verp", 10000)
	to.note("mlm/verp", 50000)
	for n, want := range map[int]bool{1000: false, 10000: true, 50000: true, 100000: true} {
		if got, ok := to.before("mlm/verp", n); ok != want || ok && got != 10000 {
			t.Errorf("at %d: %d, %v; want %v (10,000 timed out)", n, got, ok, want)
		}
	}
	if _, ok := to.before("mlmmj/verp", 100000); ok {
		t.Error("mlm's timeout skips mlmmj's rows")
	}
}

// mlmmj's VERP rows run smallest first, mlm's beside its own size's; a
// size the last measured rate would not end within 80% of the limit is
// not run but estimated from it; with no time left, none is estimated.
func TestMlmmjVERP(t *testing.T) {
	rate := map[string]float64{"mlm": 5000, "mlmmj": 20}
	for _, c := range []struct {
		limitOK bool
		calls   string
		status  string // of the 10,000 mlmmj row
		partial float64
	}{
		{true, "300 mlmmj|1000 mlm,mlmmj|2000 mlmmj|10000 mlmmj", "not run", 20},
		{false, "300 mlmmj|1000 mlm,mlmmj|2000 mlmmj|10000 mlmmj", "", 0},
	} {
		sizes := []int{300, 2000, 10000}
		_, by := planDelivery(sizes, 1000, map[string]bool{"verp": true}, func(map[string]*row) {})
		var calls []string
		limit := func() (time.Duration, bool) { return 3 * time.Minute, c.limitOK }
		mlmmjVERP(by, sizes, 1000, limit, func(n int, whos ...string) {
			calls = append(calls, fmt.Sprint(n, " ", strings.Join(whos, ",")))
			for _, who := range whos {
				if r := by[who+"/verp/"+fmt.Sprint(n)]; r.status == "" {
					r.runs = []usage{{wall: time.Duration(float64(n) / rate[who] * float64(time.Second))}}
				}
			}
		})
		if got := strings.Join(calls, "|"); got != c.calls {
			t.Errorf("limit %v: runs %s; want %s", c.limitOK, got, c.calls)
		}
		if m := by["mlm/verp/1000"]; m.status != "" || len(m.runs) != 1 {
			t.Errorf("limit %v: mlm's 1,000 row: status %q, %d runs; want it run", c.limitOK, m.status, len(m.runs))
		}
		j := by["mlmmj/verp/10000"]
		if j.status != c.status || j.partial != c.partial || c.status != "" && !strings.Contains(j.note, "its 2,000-member row") {
			t.Errorf("limit %v: 10,000: status %q, partial %g, note %q; want %q, %g, from the 2,000 row", c.limitOK, j.status, j.partial, j.note, c.status, c.partial)
		}
		for _, n := range []int{300, 1000, 2000} {
			if r := by["mlmmj/verp/"+fmt.Sprint(n)]; r.status != "" || len(r.runs) != 1 {
				t.Errorf("limit %v: %d: status %q, %d runs; want it run", c.limitOK, n, r.status, len(r.runs))
			}
		}
	}
}

// A row that times out at a size skips its system's rows of the mode at
// that size and larger ones, given in any order of run, not smaller
// ones or another system's; rows with a status are not run.
func TestDelivererTimeouts(t *testing.T) {
	_, by := planDelivery([]int{100, 1000, 10000}, 0, map[string]bool{"batch": true}, func(map[string]*row) {})
	by["limit/batch/100"].status = "not run (-systems)"
	var ran []string
	d := &deliverer{rows: by, timedOut: timeouts{},
		steps: func(r *row, who, mode string, n int) func() bool {
			return func() bool {
				ran = append(ran, fmt.Sprint(who, " ", n))
				if who == "mlm" && n == 1000 {
					r.status = "timeout"
				}
				return false
			}
		},
		interleave: func(ss ...func() bool) {
			for _, s := range ss {
				s()
			}
		}}
	for _, n := range []int{1000, 100, 10000} {
		d.at("batch", n, "mlm", "mlmmj", "limit")
	}
	if got, want := strings.Join(ran, "|"), "mlm 1000|mlmmj 1000|limit 1000|mlm 100|mlmmj 100|mlmmj 10000|limit 10000"; got != want {
		t.Errorf("ran %s; want %s", got, want)
	}
	if r := by["mlm/batch/10000"]; r.status != "not run" || r.note != "1,000 timed out" {
		t.Errorf("mlm's 10,000 row: %q, %q; want not run, 1,000 timed out", r.status, r.note)
	}
	if r := by["limit/batch/100"]; r.status != "not run (-systems)" {
		t.Errorf("the limit's 100 row: %q", r.status)
	}
	if got, ok := d.timedOut.before("mlm/batch", 10000); !ok || got != 1000 {
		t.Errorf("mlm's timeout: %d, %v; want 1,000", got, ok)
	}
}
