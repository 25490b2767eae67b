//go:build !linux

package queue

import (
	"io/fs"
	"time"
)

// written is when a tmp/ file was written: its modification time, which
// for a record to wait is in the future (see the Linux one).
func written(info fs.FileInfo) time.Time { return info.ModTime() }
