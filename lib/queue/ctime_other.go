//go:build !linux

package queue

import (
	"io/fs"
	"time"
)

// written is when a tmp/ file was written: its modification time, which
// for a record to wait is in the future (see the Linux one).
func written(info fs.FileInfo) time.Time { return info.ModTime() }

// waits reports whether the record of info waits at now: its
// modification time is after now (see the Linux one).
func waits(info fs.FileInfo, now time.Time, _ bool) bool { return info.ModTime().After(now) }
