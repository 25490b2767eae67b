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

// waits reports whether the record of info waits at now: its
// modification time is after now. If now is the system clock's present
// (system), only a record put to wait does, its modification time set
// ahead of its change time, as Put's notBefore and Defer set it. One
// never put to wait, its modification time no later than its change
// time, is ready: written while the system's clock was ahead, which then
// stepped back, it would otherwise wait until the clock came back to
// when it was written. (The change time is the system clock's, and says
// nothing of another clock's now, or of a cutoff.)
func waits(info fs.FileInfo, now time.Time, system bool) bool {
	t := info.ModTime()
	if !t.After(now) {
		return false
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && system {
		return time.Unix(st.Ctim.Unix()).Before(t)
	}
	return true
}
