package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mlm/lib/durable"
	"mlm/lib/listdir"
	"mlm/lib/password"
	"mlm/lib/sysexit"
)

// checkBudget is the work that the checks of a list's password that
// find it wrong may take in an hour (UTC), all mlm-auth runs of the list
// together: 60 checks of a hash as mlm-passwd makes it, some 7 s of one
// processor. A post may hold four guesses (two Approved: fields and the
// body's first line, alone and joined to the next where it flows), each
// as dear to check as the right password: without a bound, a stranger's
// flood of such posts took a third of a CPU-second each, the incoming
// queue's posts waiting behind them, and tried the password as fast as
// the posts came. A hash of fewer iterations costs less of it. A check
// that finds the right password costs none: a list's own posts by
// password (an announcement list's) are not bounded.
const checkBudget = 60 * password.Iterations

// checksFile is where the hour's spending is kept: "HOUR SPENT", the
// hour as 2006-01-02T15 (UTC) and the iterations spent in it.
var checksFile = filepath.Join(listdir.StateDir, "password.checks")

// charge takes cost from the hour's budget of password checks, and
// reports whether it was there to take: taken before the check is
// made, so that runs at once cannot all check past the bound, and a
// run that dies in it has spent it. A check that finds the password
// gives it back (charge with a negative cost, always taken).
func (l *list) charge(cost int) (bool, error) {
	if err := durable.MkdirAll(l.d.File(listdir.StateDir), 0o700); err != nil {
		return false, sysexit.Temp(err)
	}
	unlock, err := listdir.LockPath(l.d.File(checksFile+".lock"), 10*time.Second)
	if err != nil {
		return false, err
	}
	defer unlock()
	hour := l.now.UTC().Format("2006-01-02T15")
	spent := 0
	line, _, err := listdir.FirstLineOf(l.d.File(checksFile))
	if err != nil {
		return false, err
	}
	// Another hour's count, or a file no run wrote, is no spending
	// this hour.
	if h, n, ok := strings.Cut(line, " "); ok && h == hour {
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			spent = v
		}
	}
	if cost > 0 && spent+cost > checkBudget {
		return false, nil
	}
	return true, l.d.WriteFile(checksFile, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s %d\n", hour, max(spent+cost, 0))
		return err
	})
}
