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
