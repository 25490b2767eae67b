package dmarc

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		txt string
		ok  bool
		r   Record
	}{
		{"v=DMARC1; p=reject", true, Record{Reject, ""}},
		{"v=DMARC1;p=quarantine;sp=none;pct=50", true, Record{Quarantine, None}},
		{"V = DMARC1 ; P = Reject ; SP = Quarantine ;", true, Record{Reject, Quarantine}},
		{"v=DMARC1; rua=mailto:d@example.org", true, Record{None, ""}}, // no p=: none
		{"v=DMARC1; p=bogus; sp=reject", true, Record{None, ""}},       // a p= that is no policy: none, all of it
		{"v=DMARC1; p=reject; sp=bogus", true, Record{None, ""}},       // so an sp= that is none
		{"v=DMARC1", true, Record{None, ""}},                           // the least record
		{"v=dmarc1; p=reject", false, Record{}},                        // the version is case-sensitive
		{"p=reject; v=DMARC1", false, Record{}},                        // v= comes first
		{"v=spf1 -all", false, Record{}},                               // another kind of TXT
		{"", false, Record{}},
		{"v=DMARC1p=reject", false, Record{}},
	} {
		r, ok := Parse(c.txt)
		if ok != c.ok || r != c.r {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", c.txt, r, ok, c.r, c.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"v=DMARC1; p=reject", "v=DMARC1;p=none;sp=quarantine", "v=spf1", ";;=", "v=DMARC1; p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := Parse(s)
		if !ok {
			if r != (Record{}) {
				t.Fatalf("Parse(%q) = %+v, false", s, r)
			}
			return
		}
		if !policy(r.Policy) || r.Sub != "" && !policy(r.Sub) {
			t.Fatalf("Parse(%q) = %+v: not policies", s, r)
		}
	})
}

func policy(p string) bool { return p == None || p == Quarantine || p == Reject }

// zone is the tests' DNS: each case a domain's own record, or its
// organizational domain's.
var zone = map[string][]string{
	"_dmarc.reject.example":        {"v=DMARC1; p=reject"},
	"_dmarc.quarantine.example":    {"v=DMARC1; p=quarantine; pct=10"},
	"_dmarc.none.example":          {"v=DMARC1; p=none; rua=mailto:r@none.example"},
	"_dmarc.org.example":           {"v=DMARC1; p=none; sp=reject"},
	"_dmarc.parent.example":        {"v=DMARC1; p=quarantine"},
	"_dmarc.two.example":           {"v=DMARC1; p=reject", "v=DMARC1; p=reject"},
	"_dmarc.spf.example":           {"v=spf1 -all", "v=DMARC1; p=reject"},
	"_dmarc.empty.org.example":     {},
	"_dmarc.two.org.example":       {"v=DMARC1; p=none", "v=DMARC1; p=quarantine"},
	"_dmarc.own.org.example":       {"v=DMARC1; p=none"},
	"_dmarc.xn--bcher-kva.example": {"v=DMARC1; p=reject"},
}

// TestPolicy looks each case up from a server on 127.0.0.1, as ServerEnv
// names it.
func TestPolicy(t *testing.T) {
	t.Setenv(ServerEnv, mlmtest.DNS(t, zone, map[string]bool{"_dmarc.down.example": true}))
	c := NewChecker()
	for _, tc := range []struct {
		domain, want string
		fails        bool
	}{
		{domain: "reject.example", want: Reject},
		{domain: "REJECT.Example.", want: Reject}, // case and a final dot
		{domain: "quarantine.example", want: Quarantine},
		{domain: "none.example", want: None},
		{domain: "nothing.example", want: ""},            // no record, none at the organizational domain
		{domain: "sub.org.example", want: Reject},        // the organizational domain's sp=
		{domain: "a.b.parent.example", want: Quarantine}, // its p=, where it has no sp=
		{domain: "own.org.example", want: None},          // its own record, not the organizational domain's
		{domain: "empty.org.example", want: Reject},      // no TXT there (NODATA): the organizational domain's
		{domain: "two.example", want: ""},                // two records are none
		{domain: "two.org.example", want: ""},            // so there, not the organizational domain's sp=reject
		{domain: "spf.example", want: Reject},            // another kind of TXT beside it
		{domain: "bücher.example", want: Reject},         // looked up by its A-labels
		{domain: "[192.0.2.1]", want: ""},                // a domain literal has none
		{domain: "example", want: ""},                    // a public suffix
		{domain: "down.example", fails: true},            // SERVFAIL
		{domain: "sub.down.example", fails: true},        // NXDOMAIN, then its organizational domain's SERVFAIL
	} {
		p, err := c.Policy(context.Background(), tc.domain)
		if (err != nil) != tc.fails || p != tc.want {
			t.Errorf("Policy(%q) = %q, %v; want %q, failing %v", tc.domain, p, err, tc.want, tc.fails)
		}
	}
	// Each answer is kept, a failure too: asked again, with the server
	// gone, the Checker gives them without a lookup.
	c.r = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("asked again")
	}}
	for d, want := range map[string]string{"reject.example": Reject, "none.example": None, "nothing.example": ""} {
		if p, err := c.Policy(context.Background(), d); p != want || err != nil {
			t.Errorf("Policy(%q) again = %q, %v; want %q", d, p, err, want)
		}
	}
	if _, err := c.Policy(context.Background(), "down.example"); err == nil || strings.Contains(err.Error(), "asked again") {
		t.Errorf("Policy(down.example) again: %v; want its first error", err)
	}
	if _, err := c.Policy(context.Background(), "other.example"); err == nil || !strings.Contains(err.Error(), "asked again") {
		t.Errorf("Policy(other.example): %v; want a lookup", err)
	}
}

func TestStrict(t *testing.T) {
	for p, want := range map[string]bool{Reject: true, Quarantine: true, None: false, "": false} {
		if Strict(p) != want {
			t.Errorf("Strict(%q) = %v", p, !want)
		}
	}
}
