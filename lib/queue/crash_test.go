package queue

import (
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// putEnv makes the test binary, run again as a child, put one record
// into the queue it names, with MLM_CRASH as its parent set it; delayEnv,
// if set, is how long the record is to wait (mlm-enqueue -t).
const (
	putEnv   = "MLM_QUEUE_TEST_PUT"
	delayEnv = "MLM_QUEUE_TEST_DELAY"
)

// TestPutChild is the child of TestPutCrash.
func TestPutChild(t *testing.T) {
	dir := os.Getenv(putEnv)
	if dir == "" {
		t.Skip("only run as a child of TestPutCrash")
	}
	var notBefore time.Time
	if d, err := time.ParseDuration(os.Getenv(delayEnv)); err == nil {
		notBefore = time.Now().Add(d)
	}
	put(t, New(dir), "1795867200.M1P1", "record\n", notBefore)
}

// TestPutCrash: Put killed at each of its crash points leaves the queue
// as the point says: before the link, only a file in tmp/; after it, the
// record in new/ too; after the directory's fsync, the record alone.
// The tmp/ file of a record to wait (its time set before the link, in
// the future) goes a day and a half after it was written all the same,
// not a day and a half after the record's wait ends: a month, or the
// year 2262, later.
func TestPutCrash(t *testing.T) {
	for _, tc := range []struct {
		point    string
		tmp, new int
		delay    time.Duration
	}{
		{"queue-after-write", 1, 0, 0},
		{"queue-after-fsync", 1, 0, 0},
		{"queue-after-link", 1, 1, 0},
		{"queue-after-dirsync", 0, 1, 0},
		{"queue-after-write:2", 0, 1, 0}, // Put passes each point once
		{"queue-after-write", 1, 0, 30 * 24 * time.Hour},
		{"queue-after-link", 1, 1, 30 * 24 * time.Hour},
	} {
		t.Run(tc.point+"/"+tc.delay.String(), func(t *testing.T) {
			q := New(t.TempDir())
			if err := q.Create(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestPutChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), putEnv+"="+q.Path, "MLM_CRASH="+tc.point, delayEnv+"="+tc.delay.String())
			out, err := cmd.CombinedOutput()
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			died := ws.Signaled() && ws.Signal() == syscall.SIGKILL
			if want := tc.point != "queue-after-write:2"; died != want {
				t.Fatalf("Put with MLM_CRASH=%s: %v; killed by SIGKILL = %v, want %v: %s", tc.point, err, died, want, out)
			}
			tmp, nw := mlmtest.Names(t, q.dir(tmpDir)), mlmtest.Names(t, q.dir(newDir))
			if len(tmp) != tc.tmp || len(nw) != tc.new {
				t.Errorf("MLM_CRASH=%s: tmp/ %v, new/ %v; want %d and %d files", tc.point, tmp, nw, tc.tmp, tc.new)
			}
			for _, name := range nw {
				if b, _ := os.ReadFile(filepath.Join(q.dir(newDir), name)); string(b) != "record\n" {
					t.Errorf("new/%s holds %q", name, b)
				}
			}
			// A writer's tmp/ file goes at the sweep a day and a half
			// later, and nothing else does.
			if _, removed, err := q.Sweep(time.Now().Add(TmpAge + time.Hour)); err != nil || removed != tc.tmp {
				t.Errorf("sweep 37h later: removed %d, %v; want %d", removed, err, tc.tmp)
			}
			if n := mlmtest.Names(t, q.dir(newDir)); len(n) != tc.new {
				t.Errorf("after the sweep new/ holds %v", n)
			}
		})
	}
}
