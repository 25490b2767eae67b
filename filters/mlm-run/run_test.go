package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// TestDaemonRereadsStages: with -D, a stages file mended while the run
// goes on is taken up at the next pass: the queue's records are then
// processed, without a restart.
func TestDaemonRereadsStages(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"})
	for _, sub := range []string{"stages", "queue/requests/tmp", "queue/requests/new", "queue/requests/cur", "queue/requests/bad"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	stages := filepath.Join(dir, "stages", "requests")
	os.WriteFile(stages, []byte("cat\r\n"), 0o644) // a CR: refused
	rec := filepath.Join(dir, "queue", "requests", "new", "1.r")
	os.WriteFile(rec, []byte("MLM1 1.r\nS <a@example.org>\n:Subject: x\nE 0\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs mlmtest.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &args{Target: dir, Daemon: true, Interval: 10 * time.Millisecond, Workers: 1,
			MinWait: time.Minute, MaxWait: time.Hour, Timeout: time.Minute}, &out, &errs)
	}()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 20 s: %s", what)
			}
		}
	}
	wait("no pass met the stages file", func() bool { return strings.Contains(errs.String(), "stages/requests") })
	if _, err := os.Stat(rec); err != nil {
		t.Fatalf("the record went with its stages file wrong: %v", err)
	}
	os.WriteFile(stages, []byte("cat\n"), 0o644)
	wait("the record still waits, its stages file mended", func() bool { _, err := os.Stat(rec); return os.IsNotExist(err) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
