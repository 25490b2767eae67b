package tests

import (
	"bytes"
	"fmt"
	"net/smtp"
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

	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/smtpsink"
)

// The crash tests kill a program with SIGKILL at each crash point
// (MLM_CRASH, lib/crash), run the list again until its queues are
// empty, and hold the result against an oracle: every post reaches
// every member (posts x members), and a member gets a post twice only
// in the windows no one can close (DESIGN.md §4):
//
//   - the MTA's hand-off: mlm-accept killed once the record is in new/
//     (queue-after-link, queue-after-dirsync) has not said so to the MTA,
//     which delivers the message again: every member gets that post
//     twice, exactly;
//   - a reply lost after the final dot (sendmail-after-dot): the server
//     may have the transaction; at most the transactions in flight, one
//     per connection, are sent again; so after a journal fsync
//     (sendmail-after-journal), since the next transaction's final dot
//     does not wait for it (mlm-sendmail's unsyncedMax);
//   - the server's 250 read, the journal not yet written
//     (sendmail-after-250): the transaction that hit the point is sent
//     again for sure, and at most one per connection.
//
// Everywhere else (the queue writer in a stage, the runner, the sender
// before the dot) nothing is lost and nothing is duplicated. Records are left in no queue's new/, cur/ or bad/; tmp/
// holds a writer's file only when it died before removing it
// (queue-after-write, -fsync, -link: one per kill), and the sweep of a
// run 36 hours later removes it.

// crashSetup is a list for the crash tests: open policy, the members,
// maxrcpt recipients a delivery record, delivering to a sink that keeps
// what it accepts, with conns connections per mlm-sendmail.
type crashSetup struct {
	dir     string
	srv     *smtpsink.Server
	members []string
	maxRcpt int
	conns   int
	posts   int
}

// newCrashList makes the list and its sink, which waits delay before
// each reply.
func newCrashList(t *testing.T, members, maxRcpt, conns int, delay time.Duration) *crashSetup {
	t.Helper()
	dir := filepath.Join(openTempDir(t, "mlm-crash-"), "dev")
	if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), "-p", "open", dir, "dev@lists.example.org").CombinedOutput(); err != nil {
		t.Fatalf("mlm-newlist: %v: %s", err, out)
	}
	srv, err := smtpsink.Start(smtpsink.Options{Keep: true, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &crashSetup{dir: dir, srv: srv, maxRcpt: maxRcpt, conns: conns}
	var list strings.Builder
	for i := 1; i <= members; i++ {
		m := fmt.Sprintf("member%04d@example.org", i)
		s.members = append(s.members, m)
		list.WriteString(m + "\n")
	}
	mlm(t, list.String(), nil, "mlm-sub", dir)
	for name, text := range map[string]string{
		listdir.Relay:   srv.Addr() + "\n",
		listdir.MaxRcpt: strconv.Itoa(maxRcpt) + "\n",
		// The default stages, with the number of connections made plain.
		filepath.Join(listdir.Stages, listdir.Outgoing): fmt.Sprintf("mlm-split .\nmlm-throttle .\nmlm-sendmail -c %d .\nmlm-enqueue queue/retry\n", conns),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// postEnv is the environment of the MTA delivering a post.
var postEnv = []string{"SENDER=poster@example.net", "RECIPIENT=dev@lists.example.org"}

// post is the n-th post's text; the oracle knows it by its subject.
func post(n int) string {
	return fmt.Sprintf("From: poster@example.net\nSubject: crash-post-%d\n\nbody of post %d\n", n, n)
}

// accept posts the next post through mlm-accept with env added, and
// returns how it ended.
func (s *crashSetup) accept(t *testing.T, env ...string) *os.ProcessState {
	t.Helper()
	s.posts++
	cmd := exec.Command(filepath.Join(binDir, "mlm-accept"), s.dir)
	cmd.Env = append(append(os.Environ(), postEnv...), env...)
	cmd.Stdin = strings.NewReader(post(s.posts))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState
}

// run runs mlm-run on the list with env added (and -f if flush) and
// returns how it ended and its standard error.
func (s *crashSetup) run(t *testing.T, flush bool, env ...string) (*os.ProcessState, string) {
	t.Helper()
	args := []string{s.dir}
	if flush {
		args = []string{"-f", s.dir}
	}
	cmd := exec.Command(filepath.Join(binDir, "mlm-run"), args...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState, stderr.String()
}

// killed reports whether a process died by SIGKILL.
func killed(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// stageKills counts the stages named prog that mlm-run reports killed.
func stageKills(stderr, prog string) int {
	return strings.Count(stderr, ": "+prog+": signal: killed")
}

// waiting counts the records in the list's queues: in new/ and cur/,
// which a run goes on with.
func (s *crashSetup) waiting(t *testing.T) int {
	t.Helper()
	n := 0
	for _, q := range listdir.Queues {
		for _, sub := range []string{"new", "cur"} {
			n += len(mlmtest.Names(t, filepath.Join(s.dir, listdir.QueueDir, q, sub)))
		}
	}
	return n
}

// finish runs mlm-run -f, without crash points, until no record waits;
// each run must exit 0.
func (s *crashSetup) finish(t *testing.T) {
	t.Helper()
	for i := 0; s.waiting(t) > 0; i++ {
		if i == 10 {
			t.Fatalf("records still waiting after %d runs", i)
		}
		if ps, stderr := s.run(t, true); !ps.Success() {
			t.Fatalf("mlm-run -f: %v: %s", ps, stderr)
		}
	}
}

// tally is the oracle's verdict.
type tally struct {
	deliveries int // recipients accepted by the sink
	missing    int // (post, member) pairs never delivered
	dups       int // deliveries beyond the first of a pair
	strays     int // deliveries to no member, or of no post
}

var subjectRe = regexp.MustCompile(`(?m)^Subject: .*crash-post-(\d+)\r?$`)

// oracle holds what the sink accepted against posts x members. The sink
// is closed first, so a transaction it was still taking is counted.
func (s *crashSetup) oracle(t *testing.T) tally {
	t.Helper()
	if err := s.srv.Close(); err != nil {
		t.Errorf("sink: %v", err)
	}
	got := map[string]int{}
	member := map[string]bool{}
	for _, m := range s.members {
		member[m] = true
	}
	var v tally
	for _, m := range s.srv.Messages() {
		sm := subjectRe.FindSubmatch(m.Data)
		for _, r := range m.Rcpts {
			v.deliveries++
			if sm == nil || !member[r.Mailbox] {
				v.strays++
				continue
			}
			got[string(sm[1])+" "+r.Mailbox]++
		}
	}
	for p := 1; p <= s.posts; p++ {
		for _, m := range s.members {
			switch n := got[fmt.Sprintf("%d %s", p, m)]; {
			case n == 0:
				v.missing++
			case n > 1:
				v.dups += n - 1
			}
		}
	}
	return v
}

// TestCrashOracle: the oracle the crash tests and the soaks are held to
// counts each delivery, a (post, member) pair never delivered, each
// delivery of a pair beyond its first, and a delivery to no member or of
// no post.
func TestCrashOracle(t *testing.T) {
	s := newCrashList(t, 2, 10, 1, 0)
	s.posts = 2
	send := func(msg string, rcpts ...string) {
		t.Helper()
		if err := smtp.SendMail(s.srv.Addr(), nil, "dev-bounces@lists.example.org", rcpts, []byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
			t.Fatal(err)
		}
	}
	send(post(1), "member0001@example.org", "member0002@example.org")
	send(post(1), "member0001@example.org")                                      // a duplicate
	send(post(2), "member0001@example.org", "stranger@example.org")              // post 2 to member0002 missing; a stray
	send("From: x@example.net\nSubject: other\n\nx\n", "member0002@example.org") // no post: a stray
	if got, want := s.oracle(t), (tally{deliveries: 6, missing: 1, dups: 1, strays: 2}); got != want {
		t.Errorf("oracle %+v; want %+v", got, want)
	}
}

// leftovers checks that no queue holds a record in new/, cur/ or bad/,
// and returns the files left in tmp/.
func (s *crashSetup) leftovers(t testing.TB) int {
	t.Helper()
	tmp := 0
	for _, q := range listdir.Queues {
		for _, sub := range []string{"new", "cur", "bad", "tmp"} {
			n := mlmtest.Names(t, filepath.Join(s.dir, listdir.QueueDir, q, sub))
			if sub == "tmp" {
				tmp += len(n)
			} else if len(n) > 0 {
				t.Errorf("queue %s/%s/ still holds %v", q, sub, n)
			}
		}
	}
	return tmp
}

// TestCrashLeftovers: leftovers reports a record left in a queue's new/,
// cur/ or bad/, and counts the files in tmp/.
func TestCrashLeftovers(t *testing.T) {
	s := newCrashList(t, 1, 10, 1, 0)
	for _, f := range []string{"incoming/new/a", "outgoing/cur/b", "retry/bad/c", "bounces/tmp/d"} {
		hWrite(t, filepath.Join(s.dir, listdir.QueueDir, f), "")
	}
	r := &recorder{TB: t}
	n := s.leftovers(r)
	slices.Sort(r.errs)
	want := "queue incoming/new/ still holds [a]; queue outgoing/cur/ still holds [b]; queue retry/bad/ still holds [c]"
	if got := strings.Join(r.errs, "; "); got != want || n != 1 {
		t.Errorf("leftovers reported %q and %d in tmp/; want %q and 1", got, n, want)
	}
}

// sweepLater runs the list 37 hours from now: the sweep removes what
// writers left in tmp/, and nothing else happens.
func (s *crashSetup) sweepLater(t *testing.T) {
	t.Helper()
	later := time.Now().Add(queue.TmpAge + time.Hour).Unix()
	if ps, stderr := s.run(t, false, fmt.Sprintf("MLM_NOW=%d", later)); !ps.Success() {
		t.Fatalf("mlm-run 37 hours later: %v: %s", ps, stderr)
	}
	if n := s.leftovers(t); n != 0 {
		t.Errorf("tmp/ still holds %d files after the sweep 37 hours later", n)
	}
}

// window is what the oracle allows at a crash point: lo <= duplicates
// <= hi, from the kills seen and the setup.
type window struct {
	what string // for the fault table
	dups func(s *crashSetup, kills int) (lo, hi int)
}

var (
	// none: nothing duplicated.
	none = window{"none lost, none duplicated", func(*crashSetup, int) (int, int) { return 0, 0 }}
	// handOff: the MTA delivers the post again, and every member gets
	// it twice.
	handOff = window{"none lost; that post twice to every member (the MTA's hand-off)", func(s *crashSetup, kills int) (int, int) {
		return kills * len(s.members), kills * len(s.members)
	}}
	// lostReply: the transactions in flight when the sender died, one
	// per connection, may have been taken.
	lostReply = window{"none lost; at most the transactions in flight duplicated", func(s *crashSetup, kills int) (int, int) {
		return 0, kills * s.conns * s.maxRcpt
	}}
	// replyRead: the transaction whose 250 was read is sent again, and
	// at most one transaction per connection.
	replyRead = window{"none lost; the transaction whose 250 was read duplicated, at most those in flight", func(s *crashSetup, kills int) (int, int) {
		return kills * s.maxRcpt, kills * s.conns * s.maxRcpt
	}}
)

// crashCase is one crash point, who hits it, and what the oracle allows.
type crashCase struct {
	crash string // MLM_CRASH
	// who dies: mlm-accept (of the second post; the MTA delivers it
	// again), mlm-run itself, or the stage program that hits the point
	// under mlm-run.
	who string
	// tmp is true where the writer dies before removing its tmp/ name.
	tmp bool
	win window
}

var crashCases = []crashCase{
	{"queue-after-write", "mlm-accept", true, none},
	{"queue-after-fsync", "mlm-accept", true, none},
	{"queue-after-link", "mlm-accept", true, handOff},
	{"queue-after-dirsync", "mlm-accept", false, handOff},
	{"queue-after-write", "mlm-enqueue", true, none},
	{"queue-after-fsync", "mlm-enqueue", true, none},
	{"queue-after-link", "mlm-enqueue", true, none},
	{"queue-after-dirsync", "mlm-enqueue", false, none},
	{"run-after-stages", "mlm-run", false, none},
	{"run-after-stages:4", "mlm-run", false, none}, // after the first delivery
	{"run-after-remove", "mlm-run", false, none},
	{"run-after-remove:5", "mlm-run", false, none},
	{"sendmail-after-rcpt:7", "mlm-sendmail", false, none},
	{"sendmail-after-dot", "mlm-sendmail", false, lostReply},
	{"sendmail-after-dot:3", "mlm-sendmail", false, lostReply},
	{"sendmail-after-250", "mlm-sendmail", false, replyRead},
	{"sendmail-after-250:2", "mlm-sendmail", false, replyRead},
	{"sendmail-after-journal:2", "mlm-sendmail", false, lostReply},
}

// TestCrashPoints: 3 posts to 50 members, batches of 10, one connection:
// a program killed at each crash point loses no recipient, and
// duplicates only what its window allows (see the top of this file).
func TestCrashPoints(t *testing.T) {
	const members, maxRcpt, conns = 50, 10, 1
	for _, tc := range crashCases {
		t.Run(tc.who+"/"+tc.crash, func(t *testing.T) {
			t.Parallel()
			mlmtest.Fault(t, "crash", "SIGKILL at "+tc.crash+" in "+tc.who, tc.win.what)
			s := newCrashList(t, members, maxRcpt, conns, 0)
			kills := 0
			switch tc.who {
			case "mlm-accept":
				s.accept(t)
				if ps := s.accept(t, "MLM_CRASH="+tc.crash); !killed(ps) {
					t.Fatalf("mlm-accept with MLM_CRASH=%s: %v; want killed by SIGKILL", tc.crash, ps)
				}
				kills = 1
				s.posts-- // the MTA delivers the same post again
				s.accept(t)
				s.accept(t)
				if ps, stderr := s.run(t, false); !ps.Success() {
					t.Fatalf("mlm-run: %v: %s", ps, stderr)
				}
			case "mlm-run":
				for range 3 {
					s.accept(t)
				}
				if ps, stderr := s.run(t, false, "MLM_CRASH="+tc.crash); !killed(ps) {
					t.Fatalf("mlm-run with MLM_CRASH=%s: %v; want killed by SIGKILL: %s", tc.crash, ps, stderr)
				}
				kills = 1
			default:
				for range 3 {
					s.accept(t)
				}
				ps, stderr := s.run(t, false, "MLM_CRASH="+tc.crash)
				if kills = stageKills(stderr, tc.who); kills == 0 || killed(ps) {
					t.Fatalf("mlm-run with MLM_CRASH=%s: %v, %s killed %d times; want mlm-run to go on and %s killed: %s", tc.crash, ps, tc.who, kills, tc.who, stderr)
				}
			}
			s.finish(t)
			v := s.oracle(t)
			lo, hi := tc.win.dups(s, kills)
			t.Logf("%s in %s: %d kills, %d posts x %d members, %d deliveries, %d duplicates (allowed %d to %d)", tc.crash, tc.who, kills, s.posts, members, v.deliveries, v.dups, lo, hi)
			if v.missing != 0 || v.strays != 0 {
				t.Errorf("%d (post, member) pairs never delivered, %d deliveries to no member; want none", v.missing, v.strays)
			}
			if v.dups < lo || v.dups > hi {
				t.Errorf("%d duplicates after %d kills; want %d to %d", v.dups, kills, lo, hi)
			}
			tmp := s.leftovers(t)
			if want := map[bool]int{true: kills}[tc.tmp]; tmp != want {
				t.Errorf("tmp/ holds %d files after %d kills; want %d", tmp, kills, want)
			}
			s.sweepLater(t)
		})
	}
}
