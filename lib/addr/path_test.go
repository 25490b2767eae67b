package addr

import (
	"strconv"
	"strings"
	"testing"
)

func TestCheckMailbox(t *testing.T) {
	good := []string{
		"bob@example.net", "a.b-c+d@x.y", `"dave smith"@example.org`, `"a\"b"@x`,
		"user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "user@[x-tag:abc]",
		"δοκιμή@παράδειγμα.δοκιμή", "a@b", "!#$%&'*+-/=?^_`{|}~@x.org",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".org",
	}
	for _, s := range good {
		if err := CheckMailbox(s); err != nil {
			t.Errorf("CheckMailbox(%q) = %v; want nil", s, err)
		}
	}
	bad := []string{
		"", "bob", "@x", "bob@", "a..b@x", ".a@x", "a.@x", "a b@x", "a@b c", "a@-b", "a@b-",
		"a@b..c", "a@[1.2.3]", "a@[IPv6:1.2.3.4]", "a@[1.2.3.4", `"a@x`, "a\n@x", "a@x\r",
		"a@x\x00", "a\xff@x", "<a@x>", "a@x>", "a@b@c", "@a:b@c", "Postmaster",
		"a@" + strings.Repeat("b", 64) + ".org", "a@" + strings.Repeat("b.", 128) + "c",
		strings.Repeat("a", 250) + "@x.org",
	}
	for _, s := range bad {
		if err := CheckMailbox(s); err == nil {
			t.Errorf("CheckMailbox(%q) = nil; want error", s)
		}
	}
}

func TestCheckParam(t *testing.T) {
	for _, p := range []string{"BODY=8BITMIME", "SMTPUTF8", "NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;a+40b@c", "ENVID=ü"} {
		if err := CheckParam(p); err != nil {
			t.Errorf("CheckParam(%q) = %v; want nil", p, err)
		}
	}
	for _, p := range []string{"", "=x", "-A", "A=", "A=b c", "A=b=c", "A\r", "A=\x7f", "Ä=1"} {
		if err := CheckParam(p); err == nil {
			t.Errorf("CheckParam(%q) = nil; want error", p)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct{ in, mbox, rest string }{
		{"<>", "", ""},
		{"<a@b> X=1", "a@b", " X=1"},
		{`<"x>y"@b>`, `"x>y"@b`, ""},
		{`<"x\">y"@b> Z`, `"x\">y"@b`, " Z"},
	}
	for _, tc := range tests {
		m, r, err := SplitPath(tc.in)
		if err != nil || m != tc.mbox || r != tc.rest {
			t.Errorf("SplitPath(%q) = %q, %q, %v; want %q, %q", tc.in, m, r, err, tc.mbox, tc.rest)
		}
	}
	for _, s := range []string{"", "a@b", "<a@b", `<"a@b>`} {
		if _, _, err := SplitPath(s); err == nil {
			t.Errorf("SplitPath(%q): want error", s)
		}
	}
}

func FuzzCheckMailbox(f *testing.F) {
	for _, s := range []string{"bob@example.net", `"a b"@x`, "a@[IPv6:::1]", "ü@ü.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckMailbox(s) != nil {
			return
		}
		// A valid mailbox never holds a control octet, and its path
		// splits back to itself.
		for i := 0; i < len(s); i++ {
			if s[i] < 32 || s[i] == 127 {
				t.Fatalf("CheckMailbox(%q) accepted a control octet", s)
			}
		}
		m, rest, err := SplitPath("<" + s + "> X")
		if err != nil || m != s || rest != " X" {
			t.Fatalf("SplitPath(<%q> X) = %q, %q, %v", s, m, rest, err)
		}
	})
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"Bob@Example.NET": "Bob@example.net",
		`"A B"@X.org`:     `"A B"@x.org`,
		"a@b@C":           "a@b@c",
		"ü@Ü.de":          "ü@ü.de",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q; want %q", in, got, want)
		}
	}
	if Domain("a@EXAMPLE.org") != "example.org" {
		t.Errorf("Domain")
	}
}

func TestKeySet(t *testing.T) {
	s := NewKeySet()
	for i := 0; i < 100_000; i++ {
		if !s.Add(strconv.Itoa(i)) {
			t.Fatalf("Add(%d): new key taken as seen", i)
		}
	}
	for i := 0; i < 100_000; i += 7 {
		if s.Add(strconv.Itoa(i)) {
			t.Fatalf("Add(%d) again: taken as new", i)
		}
	}
}
