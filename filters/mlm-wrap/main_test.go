package main

import (
	"mlm/lib/sysexit"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

func TestRefusesControls(t *testing.T) {
	bad := []string{"a@b\nR <x@y>", "a@b\r", "a\x00@b", "a@b\t"}
	for _, v := range bad {
		var out strings.Builder
		err := run(&args{Sender: &v}, strings.NewReader("x\n"), &out)
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("run(-f %q) = %v, output %q; want 65 and nothing", v, err, out.String())
		}
		err = run(&args{Rcpt: []string{"ok@x", v}}, strings.NewReader("x\n"), &out)
		if sysexit.Code(err) != sysexit.DataErr || out.Len() > 0 {
			t.Errorf("run(-r %q) = %v, output %q; want 65 and nothing", v, err, out.String())
		}
		if strings.ContainsAny(err.Error(), "\r\n\x00") {
			t.Errorf("error %q is not one line", err)
		}
	}
}

// A message whose lines end in CR alone and whose first line starts
// "From " is not taken for one with a From_ line, however long that
// first line is: taken for one, the whole message would be removed.
func TestFromLineCROnlyLong(t *testing.T) {
	for _, n := range []int{10, 300, 70000} {
		m := "From alice@example.org " + strings.Repeat("x", n) + "\rSubject: hi\r\rbody\r"
		var out strings.Builder
		err := run(&args{FromLine: true, ID: new("x")}, strings.NewReader(m), &out)
		if n > 64<<10 && sysexit.Code(err) == sysexit.DataErr && out.Len() == 0 {
			continue // a first line past the buffer: refused, not lost
		}
		if err != nil || !strings.Contains(out.String(), "body") {
			t.Errorf("first line of %d octets: %v, wrote %q; want the message kept", n+24, err, out.String())
		}
	}
}
