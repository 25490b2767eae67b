package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// The soaks run the crash tests' oracle (crash_test.go) over many
// rounds: MLM_SOAK of them, few by default so that CI stays quick;
// `make soak` runs more.

// soakRounds is the number of rounds, from MLM_SOAK.
func soakRounds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("MLM_SOAK")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("MLM_SOAK=%q: want a number of rounds", v)
	}
	return n
}

// soakSeed seeds a soak's randomness, and says how to repeat it.
func soakSeed(t *testing.T) *rand.Rand {
	seed := time.Now().UnixNano()
	if v := os.Getenv("MLM_SOAK_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("MLM_SOAK_SEED=%d", seed)
	return rand.New(rand.NewSource(seed))
}

// The kill soak's list: 5 posts to 400 members in batches of 25 over
// mlm-sendmail's 4 connections, 2,000 deliveries in 80 transactions a
// round.
const (
	soakPosts   = 5
	soakMembers = 400
	soakMaxRcpt = 25
	soakConns   = 4
	soakKills   = 10 // kills a round, then runs to the end
	// The sink waits before each reply, so that a round takes about a
	// second and the kills fall all over it, the replies' windows too.
	soakDelay = 0
)

// Kill modes: the runner with its stages (a crash of the machine, or of
// the service's whole control group); the runner alone, run as cron runs
// it under mlm-lock (its stages go on as orphans, holding the list lock
// mlm-lock gave them), or run bare (as one of several runners of a
// queue: the orphans hold only the record's claim); or the mlm-sendmail
// stage alone (the runner sees it die). Only a kill of mlm-sendmail, with
// the group or alone, can fall between a final dot and the journal.
const (
	killGroup = iota
	killRunner
	killBareRunner
	killSendmail
	killModes
)

var killModeNames = [killModes]string{"group", "runner", "bare runner", "sendmail"}

// TestSoakKill: a list's runner SIGKILLed after a random delay, again
// and again, then run to the end: no (post, member) is lost, and the
// duplicates are at most one transaction per connection for each kill
// of mlm-sendmail that landed (it can fall between a final dot and the
// journal on every connection at once); a kill of the runner alone
// duplicates nothing, since its stages finish the record before anyone
// may claim it again.
func TestSoakKill(t *testing.T) {
	mlmtest.Fault(t, "soak", "SIGKILL of mlm-run, its stages or mlm-sendmail at random moments, MLM_SOAK rounds",
		"none lost; duplicates at most one transaction per connection a kill of mlm-sendmail; none from a kill of mlm-run alone")
	rounds := soakRounds(t, 3)
	rng := soakSeed(t)
	var total struct{ kills, landed, dups, deliveries int }
	var kills, landings [killModes]int
	for r := 0; r < rounds && !t.Failed(); r++ {
		s := newCrashList(t, soakMembers, soakMaxRcpt, soakConns, soakDelay)
		for range soakPosts {
			if ps := s.accept(t); !ps.Success() {
				t.Fatalf("mlm-accept: %v", ps)
			}
		}
		landed, senderKills := 0, 0
		var groups []int
		start := time.Now()
		for i := 0; s.waiting(t) > 0; i++ {
			if time.Since(start) > time.Minute {
				t.Fatalf("round %d: records still waiting after %d runs", r, i)
			}
			if i >= soakKills {
				// Orphaned stages may hold a record still.
				time.Sleep(10 * time.Millisecond)
			}
			mode := -1
			if i < soakKills {
				mode = rng.Intn(killModes)
				kills[mode]++
				total.kills++
			}
			// A run of the whole round takes some 100ms, one mlm-sendmail
			// some 20ms.
			inDelivery := mode == killSendmail || rng.Intn(2) == 0
			delay := time.Duration(rng.Intn(30000)) * time.Microsecond
			if inDelivery {
				delay /= 4
			}
			ok, pgid := s.killRun(t, mode, delay, inDelivery)
			groups = append(groups, pgid)
			if ok {
				landings[mode]++
				landed++
				if mode == killGroup || mode == killSendmail {
					senderKills++
				}
			}
		}
		for _, g := range groups {
			waitGroupGone(t, g)
		}
		v := s.oracle(t)
		total.landed += landed
		total.dups += v.dups
		total.deliveries += v.deliveries
		hi := senderKills * soakConns * soakMaxRcpt
		t.Logf("round %d: %d kills landed, %d of them with mlm-sendmail, %d deliveries, %d duplicates (at most %d)", r, landed, senderKills, v.deliveries, v.dups, hi)
		if v.missing != 0 || v.strays != 0 {
			t.Errorf("round %d: %d (post, member) pairs never delivered, %d deliveries to no member; want none", r, v.missing, v.strays)
		}
		if v.dups > hi {
			t.Errorf("round %d: %d duplicates from %d kills with mlm-sendmail; at most %d", r, v.dups, senderKills, hi)
		}
		// A kill leaves at most the file of the one record being
		// written in tmp/, until the sweep 36 hours later.
		if tmp := s.leftovers(t); tmp > landed {
			t.Errorf("round %d: tmp/ holds %d files after %d kills", r, tmp, landed)
		}
		s.sweepLater(t)
	}
	var byMode []string
	for m, name := range killModeNames {
		byMode = append(byMode, fmt.Sprintf("%s %d/%d", name, landings[m], kills[m]))
	}
	t.Logf("%d rounds: %d kills, %d landed (%s), %d deliveries, %d duplicates",
		rounds, total.kills, total.landed, strings.Join(byMode, ", "), total.deliveries, total.dups)
}

// killRun runs the list as cron does, mlm-lock then mlm-run -f (or, for
// killBareRunner, mlm-run -f alone), and, unless mode is -1, kills it as
// mode says after delay from its start, or if inDelivery from the start
// of an mlm-sendmail. It reports whether the kill landed, the process it
// was meant for died of it, and the process group of the run, where
// orphaned stages may go on.
func (s *crashSetup) killRun(t *testing.T, mode int, delay time.Duration, inDelivery bool) (landed bool, pgid int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mlm-lock"), "-t", "50s", s.dir, filepath.Join(binDir, "mlm-run"), "-f", s.dir)
	if mode == killBareRunner {
		cmd = exec.Command(filepath.Join(binDir, "mlm-run"), "-f", s.dir)
	}
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The process is not waited for until the kill is done, so its pid
	// and process group stay ours: at worst a zombie gets the signal.
	pid := cmd.Process.Pid
	if mode < 0 {
		cmd.Wait()
		return false, pid
	}
	sendmail := 0
	if inDelivery {
		for !exited(pid) && sendmail == 0 {
			sendmail = childNamed(pid, "mlm-sendmail")
			time.Sleep(200 * time.Microsecond)
		}
	}
	time.Sleep(delay)
	switch mode {
	case killGroup:
		syscall.Kill(-pid, syscall.SIGKILL)
	case killRunner, killBareRunner:
		syscall.Kill(pid, syscall.SIGKILL)
	case killSendmail:
		if sendmail > 0 {
			syscall.Kill(sendmail, syscall.SIGKILL)
		}
	}
	cmd.Wait()
	switch mode {
	case killGroup, killRunner, killBareRunner:
		return killed(cmd.ProcessState), pid
	}
	return stageKills(stderr.String(), "mlm-sendmail") > 0, pid
}

// waitGroupGone waits until the process group pgid has no live process
// left: the orphaned stages of a runner killed alone have finished.
// Zombies do not count: they hold no files and no locks, and whoever
// adopted them reaps them in its own time.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	for i := 0; groupAlive(pgid); i++ {
		if i == 3000 {
			t.Fatalf("process group %d still there after 30s", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a process of the group pgid is alive.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		if st, pg, ok := procStat(f); ok && pg == pgid && st != 'Z' {
			return true
		}
	}
	return false
}

// procStat reads a process's state and process group from
// /proc/PID/stat: "pid (comm) state ppid pgrp ...", where comm may hold
// anything but ends at the last ")".
func procStat(file string) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	return f[0][0], pgrp, err == nil
}

// TestProcStat: procStat reads this process's own state (alive) and
// process group, which waitGroupGone waits on: a wrong field there (the
// parent's pid) lets the soaks go on while a killed run's stages still
// write.
func TestProcStat(t *testing.T) {
	st, pg, ok := procStat("/proc/self/stat")
	if !ok || !strings.ContainsRune("RSD", rune(st)) || pg != syscall.Getpgrp() {
		t.Errorf("procStat of /proc/self/stat: state %q, group %d, %v; want one of R, S, D, %d, true", st, pg, ok, syscall.Getpgrp())
	}
	if _, _, ok := procStat("/proc/0/stat"); ok {
		t.Errorf("procStat of no process: ok")
	}
}

// exited reports whether the process pid, a child not yet waited for,
// has exited: it is a zombie.
func exited(pid int) bool {
	st, _, ok := procStat(fmt.Sprintf("/proc/%d/stat", pid))
	return !ok || st == 'Z'
}

// childNamed returns the pid of a child of pid whose command is name,
// or 0, from /proc/PID/task/*/children.
func childNamed(pid int, name string) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + c + "/comm")
			if strings.TrimSpace(string(comm)) == name {
				n, _ := strconv.Atoi(c)
				return n
			}
		}
	}
	return 0
}

// soakPoint is a crash point and the highest count worth drawing for it
// in the point soak's list (5 posts to 100 members, batches of 10):
// counts past what one process passes only let it live.
var soakPoints = []struct {
	name string
	max  int
}{
	{"queue-after-write", 2},
	{"queue-after-fsync", 2},
	{"queue-after-link", 2},
	{"queue-after-dirsync", 2},
	{"run-after-stages", 10},
	{"run-after-remove", 10},
	{"sendmail-after-rcpt", 100},
	{"sendmail-after-dot", 10},
	{"sendmail-after-250", 10},
	{"sendmail-after-journal", 10},
}

// TestSoakCrashPoints: rounds of 5 posts to 100 members over 4
// connections, each round running the list one to three times with one
// or two crash points drawn at random, with random counts, then to the
// end: no (post, member) is lost, and duplicates come only from
// mlm-sendmail's kills, at most one transaction per connection a kill.
func TestSoakCrashPoints(t *testing.T) {
	mlmtest.Fault(t, "soak", "SIGKILL at random crash points and counts, MLM_SOAK rounds",
		"none lost; duplicates only from mlm-sendmail's kills, at most one transaction per connection a kill")
	const posts, members, maxRcpt, conns = 5, 100, 10, 4
	rounds := soakRounds(t, 6)
	rng := soakSeed(t)
	var total struct{ runs, runKills, sendmailKills, otherKills, dups, deliveries int }
	for r := 0; r < rounds && !t.Failed(); r++ {
		s := newCrashList(t, members, maxRcpt, conns, 0)
		for range posts {
			s.accept(t)
		}
		sendmailKills, kills := 0, 0
		var crashes []string
		for range 1 + rng.Intn(3) {
			var entries []string
			for range 1 + rng.Intn(2) {
				p := soakPoints[rng.Intn(len(soakPoints))]
				entries = append(entries, fmt.Sprintf("%s:%d", p.name, 1+rng.Intn(p.max)))
			}
			crash := strings.Join(entries, ",")
			crashes = append(crashes, crash)
			ps, stderr := s.run(t, true, "MLM_CRASH="+crash)
			total.runs++
			if killed(ps) {
				total.runKills++
				kills++
			}
			sendmailKills += stageKills(stderr, "mlm-sendmail")
			total.otherKills += strings.Count(stderr, ": signal: killed") - stageKills(stderr, "mlm-sendmail")
			kills += strings.Count(stderr, ": signal: killed")
		}
		s.finish(t)
		v := s.oracle(t)
		hi := sendmailKills * conns * maxRcpt
		total.sendmailKills += sendmailKills
		total.dups += v.dups
		total.deliveries += v.deliveries
		t.Logf("round %d: MLM_CRASH %q: %d mlm-sendmail kills, %d deliveries, %d duplicates (at most %d)", r, crashes, sendmailKills, v.deliveries, v.dups, hi)
		if v.missing != 0 || v.strays != 0 {
			t.Errorf("round %d: %d (post, member) pairs never delivered, %d deliveries to no member; want none", r, v.missing, v.strays)
		}
		if v.dups > hi {
			t.Errorf("round %d: %d duplicates from %d kills of mlm-sendmail; at most %d", r, v.dups, sendmailKills, hi)
		}
		if tmp := s.leftovers(t); tmp > kills {
			t.Errorf("round %d: tmp/ holds %d files after %d kills", r, tmp, kills)
		}
		s.sweepLater(t)
	}
	t.Logf("%d rounds, %d crash runs: mlm-run killed %d times, mlm-sendmail %d, other stages %d; %d deliveries, %d duplicates",
		rounds, total.runs, total.runKills, total.sendmailKills, total.otherKills, total.deliveries, total.dups)
}
