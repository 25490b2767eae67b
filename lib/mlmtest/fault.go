package mlmtest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Fault names a row of the fault table (tests/FAULTS.md, made by `make
// faults`): the area (crash, disk, smtp, input, soak), the fault or input
// injected and the result the test asserts for it. When the test ends,
// the row is appended to the file named by $MLM_FAULT_TABLE, if set, with
// "pass" or "FAIL" as the test came out. A test states its row before it
// asserts anything, so a failure is a row too.
func Fault(t testing.TB, area, fault, result string) {
	t.Helper()
	path := os.Getenv("MLM_FAULT_TABLE")
	if path == "" {
		return
	}
	t.Cleanup(func() {
		status := "pass"
		if t.Failed() {
			status = "FAIL"
		} else if t.Skipped() {
			status = "skipped"
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Errorf("fault table: %v", err)
			return
		}
		defer f.Close()
		clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ", "|", "/").Replace(s) }
		// One write(2) of a short line: rows of tests running in parallel
		// processes do not interleave.
		fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%s\n", clean(area), clean(fault), clean(result), status, clean(t.Name()))
	})
}

// FailAfter is a writer that takes N octets, then fails as a full disk
// would: the write that crosses N takes what fits and says so.
type FailAfter struct{ N int }

func (f *FailAfter) Write(p []byte) (int, error) {
	if len(p) > f.N {
		k := f.N
		f.N = 0
		return k, errors.New("no space left on device")
	}
	f.N -= len(p)
	return len(p), nil
}
