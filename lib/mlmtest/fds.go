package mlmtest

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// OpenFDs maps each open descriptor of this process to what it names
// (readlink of /proc/self/fd/N: a path, "pipe:[inode]", "socket:[inode]"),
// the listing's own left out. It skips the test where there is no
// /proc/self/fd.
func OpenFDs(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		// The listing's own is closed by now: no link to read.
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds
}

// NewFDs lists, sorted, the descriptors of after that before does not
// have, or had naming something else ("N pipe:[inode]"): those opened
// between the two, and still open. One closed meanwhile is not counted:
// a descriptor's count may fall while a test runs, as a goroutine of an
// earlier one closes a pipe it read to its end, and the fall would hide
// a leak from a comparison of counts.
func NewFDs(before, after map[string]string) []string {
	var opened []string
	for fd, target := range after {
		if before[fd] != target {
			opened = append(opened, fmt.Sprintf("%s %s", fd, target))
		}
	}
	slices.Sort(opened)
	return opened
}
