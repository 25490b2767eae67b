// Package clock is the time as mlm programs see it: the real time, or,
// when the environment variable MLM_NOW holds unix seconds, that fixed
// time, so tests can check output that carries a time byte for byte and
// can move a program's clock without waiting. It is part of mlm's
// internals, not a public API.
package clock

import (
	"os"
	"strconv"
	"time"
)

// Env is the variable that fixes the time.
const Env = "MLM_NOW"

// Now returns the current time, or the time MLM_NOW fixes.
func Now() time.Time {
	if s := os.Getenv(Env); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0)
		}
	}
	return time.Now()
}

// Unix is Now as decimal unix seconds, the form attributes carry.
func Unix() string { return strconv.FormatInt(Now().Unix(), 10) }
