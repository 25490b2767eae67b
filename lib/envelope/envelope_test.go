package envelope

import "testing"

func TestParseFromLine(t *testing.T) {
	good := map[string]string{
		"From alice@example.org Sat Nov 28 12:00:00 2026\n": "alice@example.org",
		"From MAILER-DAEMON Sat Nov 28 12:00:00 2026\r\n":   "",
		"From <> Sat Nov 28 12:00:00 2026":                  "",
		"From <bob@x.y>  Sat":                               "bob@x.y",
	}
	for in, want := range good {
		if got, err := ParseFromLine([]byte(in)); err != nil || got != want {
			t.Errorf("ParseFromLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"From root Sat", "From - Sat", "From  x", "From: a@b", "Fro", "From a\x00@b Sat", "From <a@b Sat"} {
		if got, err := ParseFromLine([]byte(in)); err == nil {
			t.Errorf("ParseFromLine(%q) = %q; want error", in, got)
		}
	}
}
