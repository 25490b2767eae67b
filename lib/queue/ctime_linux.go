package queue

import (
	"io/fs"
	"syscall"
	"time"
)

// written is when a tmp/ file was written, as far as its times tell:
// its modification time, or its change time (ctime) if that is earlier.
// Put sets the time of a record to wait (mlm-enqueue -t) before the link,
// in the future, a month or the year 2262; the change time, which that
// sets to the time of the setting, says how old such a file is.
func written(info fs.FileInfo) time.Time {
	t := info.ModTime()
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(st.Ctim.Unix()); c.Before(t) {
			return c
		}
	}
	return t
}
