package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunKilled: mlm-run moving 200 records from one queue to another
// with mlm-enqueue, killed with SIGKILL at random points (alone, or with
// its stage), loses none and duplicates none: the next queue ends with
// exactly the 200 records, byte for byte.
func TestRunKilled(t *testing.T) {
	mlmtest.Fault(t, "soak", "SIGKILL of mlm-run and its stage at random points moving 200 records", "the next queue holds exactly the 200, byte for byte")
	base := t.TempDir()
	from, to := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, q := range []string{from, to} {
		for _, d := range []string{"tmp", "new", "cur", "bad"} {
			os.MkdirAll(filepath.Join(q, d), 0o700)
		}
	}
	want := map[string][]byte{}
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("1795867200.M%dP1", i)
		rec := []byte(fmt.Sprintf("MLM1 %s\nS <>\n:Subject: %d\n:\n%sR <m%d@example.org>\nE 1\n", id, i, bytes.Repeat([]byte(":body\n"), i*10), i))
		want[id] = rec
		if err := os.WriteFile(filepath.Join(from, "new", id), rec, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	run := func(kill bool) {
		cmd := exec.Command(filepath.Join(binDir, "mlm-run"), "-f", from, "--", filepath.Join(binDir, "mlm-enqueue"), to)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill {
			time.Sleep(time.Duration(rng.Intn(40)) * time.Millisecond)
			pid := cmd.Process.Pid
			if rng.Intn(2) == 0 {
				pid = -pid // the whole group: the stage dies too
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Wait()
	}
	for i := 0; i < 30; i++ {
		run(true)
	}
	// Orphaned stages may still hold claims; wait for them, then finish.
	for i := 0; i < 100 && len(mlmtest.Names(t, filepath.Join(from, "new")))+len(mlmtest.Names(t, filepath.Join(from, "cur"))) > 0; i++ {
		run(false)
		time.Sleep(20 * time.Millisecond)
	}
	for _, d := range []string{"new", "cur", "bad"} {
		if n := mlmtest.Names(t, filepath.Join(from, d)); len(n) != 0 {
			t.Errorf("source %s/ still holds %d records", d, len(n))
		}
	}
	got := mlmtest.Names(t, filepath.Join(to, "new"))
	if len(got) != len(want) {
		t.Fatalf("next queue holds %d records; want %d", len(got), len(want))
	}
	for _, id := range got {
		b, _ := os.ReadFile(filepath.Join(to, "new", id))
		if !bytes.Equal(b, want[id]) {
			t.Errorf("record %s differs from the one queued", id)
		}
	}
}

// TestRunDaemon: mlm-run -D with 4 workers picks up records as they
// arrive and stops cleanly, exit 0, on SIGTERM.
func TestRunDaemon(t *testing.T) {
	base := t.TempDir()
	from, to := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, q := range []string{from, to} {
		for _, d := range []string{"tmp", "new", "cur", "bad"} {
			os.MkdirAll(filepath.Join(q, d), 0o700)
		}
	}
	cmd := exec.Command(filepath.Join(binDir, "mlm-run"), "-D", "-i", "50ms", "-j", "4", from, "--", filepath.Join(binDir, "mlm-enqueue"), to)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("1795867200.M%dP2", i)
		os.WriteFile(filepath.Join(from, "tmp", id), []byte("MLM1 "+id+"\nS <>\n:x\nE 0\n"), 0o600)
		os.Rename(filepath.Join(from, "tmp", id), filepath.Join(from, "new", id))
		if i%10 == 9 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(mlmtest.Names(t, filepath.Join(to, "new"))) < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("mlm-run -D after SIGTERM: %v (%s)", err, stderr.String())
	}
	if n := len(mlmtest.Names(t, filepath.Join(to, "new"))); n != 40 {
		t.Errorf("daemon moved %d records; want 40", n)
	}
}

// TestRunStagesNoListLock (R89 F3): under mlm-lock, as the crontab runs
// it, mlm-run's stages get the record's claim as their descriptor 3 and
// no other of its own: the list lock went to every stage, and to what
// a stage left running, which held the list's every cron job off for
// as long as it ran. A process a stage leaves holding descriptors 0 to
// 2 closed and 3 closed holds no lock then: the next run takes it.
func TestRunStagesNoListLock(t *testing.T) {
	mlmtest.Fault(t, "signal", "a stage of mlm-run under mlm-lock (cron) that leaves a process running",
		"the process holds no list lock: the next cron run takes it at once; the stage has its record's claim as descriptor 3")
	base := openTempDir(t, "mlm-run-lock-")
	list := filepath.Join(base, "dev")
	if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), list, "dev@lists.example.org").CombinedOutput(); err != nil {
		t.Fatalf("mlm-newlist: %v: %s", err, out)
	}
	q := filepath.Join(base, "q")
	for _, d := range []string{"tmp", "new", "cur", "bad"} {
		if err := os.MkdirAll(filepath.Join(q, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(q, "new", "1796600000.a"), []byte("MLM1 1796600000.a\nS <a@b.example>\n:hi\nR <c@d.example>\nE 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fds := filepath.Join(base, "fds")
	// The stage leaves a process that keeps every descriptor it got
	// but the standard ones and the claim.
	stage := `ls -l /proc/$$/fd > ` + fds + `; cat >/dev/null; (sleep 5 </dev/null >/dev/null 2>&1 3<&- &)`
	cmd := exec.Command(filepath.Join(binDir, "mlm-lock"), list, filepath.Join(binDir, "mlm-run"), "-f", q, "--", "sh", "-c", stage)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mlm-lock mlm-run: %v: %s", err, out)
	}
	b, err := os.ReadFile(fds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), filepath.Join(list, "lock")) {
		t.Errorf("the stage holds the list lock:\n%s", b)
	}
	if !strings.Contains(string(b), "1796600000.a") {
		t.Errorf("the stage does not hold its record's claim:\n%s", b)
	}
	// The next cron run takes the lock at once.
	if out, err := exec.Command(filepath.Join(binDir, "mlm-lock"), "-n", list, "true").CombinedOutput(); err != nil {
		t.Errorf("mlm-lock -n after the run: %v: %s; want the lock free", err, out)
	}
}

// TestPipelineGroupKill (R89 F1): mlm-pipeline killed with SIGKILL, as
// an MTA kills the group of a delivery past its time limit, takes its
// stages with it: they run in a process group of their own, which the
// kill missed, and ran on, queueing the post that the MTA then delivered
// again, each member getting it twice.
func TestPipelineGroupKill(t *testing.T) {
	mlmtest.Fault(t, "signal", "SIGKILL to the process group of mlm-pipeline, as an MTA's time limit sends it",
		"its stages, in a group of their own, die with it (PR_SET_PDEATHSIG): none runs on to queue the post the MTA hands over again")
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	cmd := exec.Command(filepath.Join(binDir, "mlm-pipeline"), "sh", "-c", "echo $$ > "+pidfile+".tmp; mv "+pidfile+".tmp "+pidfile+"; exec sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the MTA's group for the delivery
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	waitFor(t, "the stage to start", func() bool {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitFor(t, "the stage to die with mlm-pipeline", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// Gone, or a zombie its new parent has yet to reap.
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}
