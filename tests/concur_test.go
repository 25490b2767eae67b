package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mlm/lib/listdir"
	"mlm/lib/smtpsink"
)

// TestConcurrentRunners: several mlm-run processes, each with -j 3, on
// one list at once (cron's run beside a daemon's pass, a second host on
// the same file system): every post reaches every member exactly once.
func TestConcurrentRunners(t *testing.T) { concurrentRunners(t, 0) }

// TestConcurrentRunnersRetry: the same, with a relay that takes 7
// recipients a transaction of the batches of 10, so that the runners
// also deliver the retry queue's records while others deliver posts.
func TestConcurrentRunnersRetry(t *testing.T) { concurrentRunners(t, 7) }

func concurrentRunners(t *testing.T, sinkMax int) {
	rounds := soakRounds(t, 3)
	for r := 0; r < rounds && !t.Failed(); r++ {
		s := newCrashList(t, 200, 10, 2, 0)
		if sinkMax > 0 {
			// A sink that takes sinkMax recipients a transaction: the
			// rest of each batch is deferred, to the retry queue.
			s.srv.Close()
			srv, err := smtpsink.Start(smtpsink.Options{Keep: true, MaxRcpt: sinkMax})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			s.srv = srv
			if err := os.WriteFile(filepath.Join(s.dir, listdir.Relay), []byte(srv.Addr()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for range 6 {
			if ps := s.accept(t); !ps.Success() {
				t.Fatalf("mlm-accept: %v", ps)
			}
		}
		const runners = 4
		var wg sync.WaitGroup
		errs := make([]string, runners)
		for i := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(filepath.Join(binDir, "mlm-run"), "-f", "-j", "3", s.dir)
				cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					errs[i] = err.Error() + ": " + stderr.String()
				}
			}()
		}
		wg.Wait()
		if sinkMax > 0 && s.srv.Counts().Rejected == 0 {
			t.Errorf("round %d: the relay deferred no recipient", r)
		}
		for i, e := range errs {
			if e != "" {
				t.Logf("round %d: runner %d: %s", r, i, e)
			}
		}
		s.finish(t)
		v := s.oracle(t)
		t.Logf("round %d: %d deliveries, %d missing, %d duplicates, %d strays", r, v.deliveries, v.missing, v.dups, v.strays)
		if v.missing != 0 || v.dups != 0 || v.strays != 0 {
			t.Errorf("round %d: %d missing, %d duplicates, %d strays; want none", r, v.missing, v.dups, v.strays)
		}
		s.leftovers(t)
	}
}

// TestModerateApproveExpire: mlm-moderate approve and mlm-moderate
// expire at once on held posts older than modexpire: each post is
// approved or discarded, never both, and each program says which.
func TestModerateApproveExpire(t *testing.T) {
	_, dir, _ := exampleList(t)
	rounds := soakRounds(t, 20)
	old := time.Now().Add(-8 * 24 * time.Hour)
	for r := range rounds {
		var ids []string
		for i := range 5 {
			id := fmt.Sprintf("1795000000.M%dP%d", r, i)
			ids = append(ids, id)
			file := filepath.Join(dir, "queue", "hold", "new", id)
			rec := "MLM1 " + id + "\nS <stranger@example.net>\n:Subject: held\n:\n:hello\nE 0\n"
			if err := os.WriteFile(file, []byte(rec), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(file, old, old); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		codes := make([]int, len(ids))
		outs := make([]string, len(ids))
		var expOut string
		wg.Add(len(ids) + 1)
		go func() {
			defer wg.Done()
			out, _ := exec.Command(filepath.Join(binDir, "mlm-moderate"), dir, "expire").CombinedOutput()
			expOut = string(out)
		}()
		for i, id := range ids {
			go func() {
				defer wg.Done()
				cmd := exec.Command(filepath.Join(binDir, "mlm-moderate"), dir, "approve", id)
				out, _ := cmd.CombinedOutput()
				codes[i], outs[i] = cmd.ProcessState.ExitCode(), string(out)
			}()
		}
		wg.Wait()
		for i, id := range ids {
			_, inc := os.Stat(filepath.Join(dir, "queue", "incoming", "new", id))
			approved := inc == nil
			b, _ := os.ReadFile(filepath.Join(dir, "state", "moderated", id))
			as, _, _ := strings.Cut(string(b), "\n") // (then the line "until")
			switch {
			case codes[i] == 0 && (!approved || as != "approve"):
				t.Errorf("%s: approve exit 0, in incoming %v, settled %q: %s", id, approved, as, outs[i])
			case codes[i] == 67 && (approved || as != "discard"):
				t.Errorf("%s: approve exit 67, in incoming %v, settled %q: %s", id, approved, as, outs[i])
			case codes[i] == 75:
				t.Logf("%s: approve 75: %s", id, outs[i])
			case codes[i] != 0 && codes[i] != 67 && codes[i] != 75:
				t.Errorf("%s: approve exit %d: %s", id, codes[i], outs[i])
			}
			if _, err := os.Stat(filepath.Join(dir, "queue", "hold", "new", id)); err == nil && as != "" {
				t.Errorf("%s: still held, and settled %q", id, as)
			}
		}
		if expOut != "" {
			t.Logf("expire: %s", expOut)
		}
	}
}

// TestSendmailJournalWriters: four mlm-sendmail at once, each with
// other batches of one post, over four connections each, append to the
// post's one journal: every recipient is delivered once, and the
// journal then names every one, so that all the batches fed again
// send nothing.
func TestSendmailJournalWriters(t *testing.T) { sendmailJournalWriters(t, false) }

// TestSendmailJournalSameBatches: the same, each mlm-sendmail fed every
// batch: those that find a batch another has on its way leave it (75),
// and no recipient gets the post twice.
func TestSendmailJournalSameBatches(t *testing.T) { sendmailJournalWriters(t, true) }

func sendmailJournalWriters(t *testing.T, same bool) {
	rounds := soakRounds(t, 5)
	for r := range rounds {
		s := newCrashList(t, 1, 10, 4, 0)
		const procs, batches, per = 4, 40, 25
		var all strings.Builder
		feeds := make([]strings.Builder, procs)
		for b := 1; b <= batches; b++ {
			var rec strings.Builder
			fmt.Fprintf(&rec, "MLM1 1795000000.M%dP1,%d\nS <dev-bounces@lists.example.org>\n:Subject: crash-post-1\n:\n:hi\n", r, b)
			for i := 1; i <= per; i++ {
				fmt.Fprintf(&rec, "R <m%03d.%02d@example.org>\n", b, i)
			}
			fmt.Fprintf(&rec, "E %d\n", per)
			all.WriteString(rec.String())
			for i := range feeds {
				if same || i == b%procs {
					feeds[i].WriteString(rec.String())
				}
			}
		}
		var wg sync.WaitGroup
		for i := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(filepath.Join(binDir, "mlm-sendmail"), "-c", "4", s.dir)
				cmd.Stdin = strings.NewReader(feeds[i].String())
				out, err := cmd.CombinedOutput()
				if same && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 75 {
					return
				}
				if err != nil {
					t.Errorf("mlm-sendmail %d: %v: %s", i, err, out)
				}
			}()
		}
		wg.Wait()
		cmd := exec.Command(filepath.Join(binDir, "mlm-sendmail"), "-c", "4", s.dir)
		cmd.Stdin = strings.NewReader(all.String())
		if same {
			// What the ones that left a batch (75) did not send.
			cmd.Run()
			cmd = exec.Command(filepath.Join(binDir, "mlm-sendmail"), "-c", "4", s.dir)
			cmd.Stdin = strings.NewReader(all.String())
		}
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("mlm-sendmail of every batch again: %v: %s", err, out)
		}
		s.srv.Close()
		got := map[string]int{}
		for _, m := range s.srv.Messages() {
			for _, rc := range m.Rcpts {
				got[rc.Mailbox]++
			}
		}
		if len(got) != batches*per {
			t.Errorf("round %d: %d recipients delivered; want %d", r, len(got), batches*per)
		}
		for a, n := range got {
			if n != 1 {
				t.Errorf("round %d: %s got the post %d times", r, a, n)
			}
		}
	}
}
