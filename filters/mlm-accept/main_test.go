package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"mlm/lib/envelope"
	"mlm/lib/sysexit"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestControlsInEnvelope: CR, LF and NUL in SENDER or RECIPIENT are
// refused with 65 and nothing is written.
func TestControlsInEnvelope(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644)
	for _, bad := range []string{"a@b\nR <x@y>", "a@b\r", "a\x00@b", "a@b; rm -rf /"} {
		var out strings.Builder
		err := run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Sender: bad, SenderSet: true}, strings.NewReader("Subject: x\n\ny\n"), &out, time.Now())
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("SENDER %q: %v, output %q; want 65 and nothing", bad, err, out.String())
		}
		err = run(&args{Dir: dir, Output: ptr("-")}, envelope.MTA{Recipient: bad}, strings.NewReader("Subject: x\n\ny\n"), &out, time.Now())
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("RECIPIENT %q: %v, output %q; want 65 and nothing", bad, err, out.String())
		}
	}
}

// ptr is a pointer to s, for an option given.
func ptr(s string) *string { return &s }
