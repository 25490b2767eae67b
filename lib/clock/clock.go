// Package clock is the time as mlm programs see it, and the way they wait:
// the real time; or, when the environment variable MLM_NOW holds unix
// seconds, that fixed time, so tests can check output that carries a time
// byte for byte and can move a program's clock without waiting; or, when
// MLM_CLOCK says "fake", a virtual time that moves only when a program
// sleeps, so a test of a program that waits (mlm-throttle) takes no wall
// time and checks exactly how long the program would have waited. It is
// part of mlm's internals, not a public API.
//
// MLM_CLOCK is one of:
//
//	(unset), "" or "real"  the real time, or MLM_NOW's fixed time
//	fake                   a virtual time of this process alone
//	fake:FILE              a virtual time kept in FILE, shared by every
//	                       process that names the same FILE
//
// A virtual clock starts at MLM_NOW, or at the unix epoch without it. Its
// Now is the virtual time; SleepUntil(t) moves the time to t at once if t
// is later, and never back. So the virtual time shared by several
// processes is, as real time would be, the latest time any of them has
// slept until, not the sum of their sleeps. FILE holds one line, the
// virtual time in decimal unix seconds ("1795867212.5"), and is read and
// written under flock(2).
//
// With MLM_NOW alone the time stands still, and a sleep returns at once.
package clock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mlm/lib/ascii"
)

// Env is the variable that fixes the time.
const Env = "MLM_NOW"

// ModeEnv is the variable that selects a fake clock.
const ModeEnv = "MLM_CLOCK"

// Clock tells the time and waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// SleepUntil returns once the time is t or later; at once if it is
	// already.
	SleepUntil(t time.Time)
}

// Now returns the current time, or the time MLM_NOW fixes, or the virtual
// time of MLM_CLOCK.
func Now() time.Time { return Default().Now() }

// Sleep waits for d on the clock the environment selects.
func Sleep(d time.Duration) {
	c := Default()
	c.SleepUntil(c.Now().Add(d))
}

// SleepUntil waits until t on the clock the environment selects.
func SleepUntil(t time.Time) { Default().SleepUntil(t) }

// Default is the clock the environment selects. Like a malformed MLM_NOW,
// a malformed MLM_CLOCK is ignored here; a program that waits calls Get to
// report it.
func Default() Clock {
	c, err := Get()
	if err != nil {
		return fromNow()
	}
	return c
}

var cache struct {
	sync.Mutex
	key string
	c   Clock
}

// Get returns the clock the environment selects, or an error for a
// malformed MLM_CLOCK. The same environment gives the same clock, so the
// virtual time of "fake" lasts as long as the process.
func Get() (Clock, error) {
	mode := os.Getenv(ModeEnv)
	key := mode + "\x00" + os.Getenv(Env)
	cache.Lock()
	defer cache.Unlock()
	if cache.c != nil && cache.key == key {
		return cache.c, nil
	}
	var c Clock
	switch {
	case mode == "" || mode == "real":
		c = fromNow()
	case mode == "fake":
		c = &Fake{Start: start()}
	case strings.HasPrefix(mode, "fake:") && len(mode) > len("fake:"):
		c = &Fake{File: mode[len("fake:"):], Start: start()}
	default:
		return nil, fmt.Errorf("%s: bad value %q; want real, fake or fake:FILE", ModeEnv, mode)
	}
	cache.key, cache.c = key, c
	return c, nil
}

// fromNow is the fixed clock of MLM_NOW if it holds unix seconds, else
// the real one.
func fromNow() Clock {
	if s := os.Getenv(Env); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Fixed{time.Unix(n, 0)}
		}
	}
	return Real{}
}

// start is where a virtual clock starts: MLM_NOW, else the epoch.
func start() time.Time {
	if f, ok := fromNow().(Fixed); ok {
		return f.T
	}
	return time.Unix(0, 0)
}

// Real is the system's clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t.
func (Real) SleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// Fixed is a clock that stands still at T.
type Fixed struct{ T time.Time }

// Now returns T.
func (f Fixed) Now() time.Time { return f.T }

// SleepUntil returns at once: the time never comes, and waiting for it
// would never end.
func (Fixed) SleepUntil(time.Time) {}

// Fake is a virtual clock: its time moves only when a program sleeps, and
// then at once to the end of the sleep. Without a File the time is this
// process's own; with one it is kept in File, under flock(2), and shared
// by every process that names the file. A File that cannot be read or
// written, or holds no time, makes its methods panic: Fake is for tests.
type Fake struct {
	File  string    // where the time is kept; "" for this process only
	Start time.Time // the time of a missing or empty File, or the first time without one

	mu  sync.Mutex
	t   time.Time
	set bool
}

// Now returns the virtual time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.File == "" {
		return f.local()
	}
	fd, err := os.Open(f.File)
	if errors.Is(err, os.ErrNotExist) {
		return f.Start
	}
	if err != nil {
		panic(fmt.Errorf("clock: %v", err))
	}
	defer fd.Close()
	lock(fd, syscall.LOCK_SH)
	return f.read(fd)
}

// SleepUntil moves the virtual time to t if t is later.
func (f *Fake) SleepUntil(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.File == "" {
		if t.After(f.local()) {
			f.t = t
		}
		return
	}
	fd, err := os.OpenFile(f.File, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if !t.After(f.Start) {
			return
		}
		fd, err = os.OpenFile(f.File, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		panic(fmt.Errorf("clock: %v", err))
	}
	defer fd.Close()
	lock(fd, syscall.LOCK_EX)
	if !t.After(f.read(fd)) {
		return
	}
	b := []byte(Format(t) + "\n")
	if _, err := fd.WriteAt(b, 0); err != nil {
		panic(fmt.Errorf("clock: %v", err))
	}
	if err := fd.Truncate(int64(len(b))); err != nil {
		panic(fmt.Errorf("clock: %v", err))
	}
}

func (f *Fake) local() time.Time {
	if !f.set {
		f.t, f.set = f.Start, true
	}
	return f.t
}

// read returns the time in fd, Start if it is empty.
func (f *Fake) read(fd *os.File) time.Time {
	b, err := io.ReadAll(io.NewSectionReader(fd, 0, 64))
	if err != nil {
		panic(fmt.Errorf("clock: %v", err))
	}
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return f.Start
	}
	t, err := Parse(s)
	if err != nil {
		panic(fmt.Errorf("clock: %s: %v", f.File, err))
	}
	return t
}

func lock(fd *os.File, how int) {
	for {
		err := syscall.Flock(int(fd.Fd()), how)
		if err == nil {
			return
		}
		if err != syscall.EINTR {
			panic(fmt.Errorf("clock: %s: lock: %v", fd.Name(), err))
		}
	}
}

// Format writes t as decimal unix seconds, with a fraction only if t has
// one and no trailing zeros: "1795867200", "1795867200.25".
func Format(t time.Time) string {
	// In seconds and nanoseconds, not UnixNano, which has room for
	// 292 years either side of 1970 only, and Parse reads any time of
	// up to 11 digits.
	sec, ns := t.Unix(), int64(t.Nanosecond()) // ns in [0, 1e9)
	sign := ""
	if sec < 0 {
		sign = "-"
		if ns > 0 {
			sec, ns = sec+1, 1e9-ns
		}
		sec = -sec
	}
	s := sign + strconv.FormatInt(sec, 10)
	if ns != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
	}
	return s
}

// Parse reads decimal unix seconds with an optional fraction of up to nine
// digits, as Format writes them.
func Parse(s string) (time.Time, error) {
	neg := strings.HasPrefix(s, "-")
	whole, frac, dot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if !ascii.Digits(whole) || len(whole) > 11 || len(frac) > 9 || (dot && !ascii.Digits(frac)) {
		return time.Time{}, fmt.Errorf("bad time %q; want unix seconds", s)
	}
	sec, _ := strconv.ParseInt(whole, 10, 64)
	var ns int64
	if dot {
		ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	if neg {
		return time.Unix(-sec, -ns), nil
	}
	return time.Unix(sec, ns), nil
}
