package main

import (
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/sysexit"
)

// TestVerboseWriteFails: the -v line that cannot be written (standard
// output on a full disk, /dev/full) is a failure, 75, not exit 0 with
// the report lost.
func TestVerboseWriteFails(t *testing.T) {
	dir := mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n", "subscribers": "a@example.org\n"})
	a := &args{File: "subscribers", Verbose: true, Dir: dir, Addrs: []string{"a@example.org"}}
	err := run(a, strings.NewReader(""), &mlmtest.FailAfter{N: 0})
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run(-v) to a full disk = %v; want 75", err)
	}
}
