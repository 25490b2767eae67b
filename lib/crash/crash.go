// Package crash lets a test kill a program at a named moment, so that
// what survives a crash there can be checked: the queue writer between
// its write, fsync, link and directory fsync; the runner between the
// stages' exit and the record's removal; the sender between the final
// dot, its reply and the journal. It is part of mlm's internals, not a
// public API.
//
// The environment variable MLM_CRASH names the points, separated by
// commas: "NAME" is the first time the process passes the point NAME,
// "NAME:N" the N-th time, counting from 1. There the process sends
// itself SIGKILL, as a power cut or the OOM killer would end it: no
// deferred function runs, no buffer is flushed, no lock is released but
// by the kernel. A child process inherits MLM_CRASH and counts its own
// passes.
//
// With MLM_CRASH unset, a point costs one atomic load.
package crash

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Env is the environment variable that names the points.
const Env = "MLM_CRASH"

// point is a named point that MLM_CRASH names.
type point struct {
	at     map[int64]bool // the passes to die at
	passes atomic.Int64
}

var (
	once   sync.Once
	armed  atomic.Bool // MLM_CRASH names at least one point
	points map[string]*point
)

// Point kills the process with SIGKILL if MLM_CRASH names this pass of
// the point name; otherwise it returns at once. It is safe to call from
// several goroutines: each pass counts once.
func Point(name string) {
	once.Do(load)
	if !armed.Load() {
		return
	}
	p := points[name]
	if p == nil {
		return
	}
	if n := p.passes.Add(1); p.at[n] {
		die()
	}
}

// load reads MLM_CRASH. An entry that cannot be read is reported on
// standard error and ignored: the test that set it then sees no crash.
func load() {
	points = parse(os.Getenv(Env), func(entry string) {
		fmt.Fprintf(os.Stderr, "%s: %s: bad entry %q: want NAME or NAME:N, N from 1\n", os.Args[0], Env, entry)
	})
	armed.Store(len(points) > 0)
}

// parse reads a list of "NAME" or "NAME:N" entries.
func parse(s string, bad func(entry string)) map[string]*point {
	m := map[string]*point{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, count, hasCount := strings.Cut(entry, ":")
		n := int64(1)
		if hasCount {
			var err error
			if n, err = strconv.ParseInt(count, 10, 64); err != nil || n < 1 {
				bad(entry)
				continue
			}
		}
		if name == "" {
			bad(entry)
			continue
		}
		if m[name] == nil {
			m[name] = &point{at: map[int64]bool{}}
		}
		m[name].at[n] = true
	}
	return m
}

// die sends the process SIGKILL, which ends it before Kill returns; the
// sleep only keeps this goroutine from going on if it did not.
func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		time.Sleep(time.Hour)
	}
}
