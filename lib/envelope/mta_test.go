package envelope

import (
	"slices"
	"strings"
	"testing"

	"mlm/lib/addr"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	postfix := FromEnv(env(map[string]string{"SENDER": "", "RECIPIENT": "dev+x@l.example", "LOCAL": "dev+x", "EXTENSION": "x", "DOMAIN": "l.example"}))
	if postfix != (MTA{Sender: "", SenderSet: true, Recipient: "dev+x@l.example", Local: "dev+x", Extension: "x", Domain: "l.example"}) {
		t.Errorf("Postfix: %+v", postfix)
	}
	exim := FromEnv(env(map[string]string{"SENDER": "a@b", "RECIPIENT": "dev@l", "LOCAL_PART": "dev", "LOCAL_PART_SUFFIX": "-x", "DOMAIN": "l"}))
	if exim.Local != "dev" || exim.Extension != "-x" || exim.Domain != "l" || exim.Sender != "a@b" {
		t.Errorf("Exim: %+v", exim)
	}
	qmail := FromEnv(env(map[string]string{"SENDER": "#@[]", "LOCAL": "dev", "EXT": "x", "HOST": "l"}))
	if qmail.Sender != "" || !qmail.SenderSet || qmail.Extension != "x" || qmail.Domain != "l" {
		t.Errorf("qmail: %+v", qmail)
	}
	if none := FromEnv(env(nil)); none.SenderSet {
		t.Errorf("no SENDER: %+v", none)
	}
	// maildrop's $FROM, as the example recipe passes it on: the null
	// sender of "maildrop -f ''" and of "-f '<>'".
	for _, v := range []string{"MAILER-DAEMON", "<>"} {
		if m := FromEnv(env(map[string]string{"SENDER": v})); m.Sender != "" || !m.SenderSet {
			t.Errorf("SENDER=%s: %+v; want the null sender", v, m)
		}
	}
	if m := FromEnv(env(map[string]string{"SENDER": "mailer-daemon@example.org"})); m.Sender != "mailer-daemon@example.org" {
		t.Errorf("a mailbox taken for the null sender: %+v", m)
	}
}

func TestRoute(t *testing.T) {
	for rcpt, want := range map[string][2]string{
		"dev@lists.example.org":                         {"post", ""},
		"DEV@lists.example.org":                         {"post", ""},
		"dev+tag@lists.example.org":                     {"post", "tag"},
		"dev-request@lists.example.org":                 {"request", ""},
		"dev-Owner@x":                                   {"owner", ""},
		"dev-bounces+bob=example.net@lists.example.org": {"bounces", "bob=example.net"},
		"dev-accept+abc.def@x":                          {"accept", "abc.def"},
		"dev+a+b@x":                                     {"post", "a+b"},
		"dev-bounces+bob+tag=example.net@x":             {"bounces", "bob+tag=example.net"},
		"dev-subscribe@x":                               {"subscribe", ""},
	} {
		cmd, ext, err := Route("dev@lists.example.org", rcpt)
		if err != nil || cmd != want[0] || ext != want[1] {
			t.Errorf("Route(%s) = %q, %q, %v; want %q, %q", rcpt, cmd, ext, err, want[0], want[1])
		}
	}
	for _, rcpt := range []string{"devx@x", "dev-foo@x", "other@x", "dev", "de@x", "dev-@x"} {
		if cmd, _, err := Route("dev@lists.example.org", rcpt); err == nil {
			t.Errorf("Route(%s) = %q; want ErrNotList", rcpt, cmd)
		}
	}
	// Local parts compare in lower case by addr.Lower: U+017F (LONG S)
	// is no s, nor U+0130 (CAPITAL I WITH DOT) an i, though Unicode's
	// folding and lower case make them so; Ä is ä, as an MTA with
	// SMTPUTF8 delivers ärzte@ to Ärzte@'s alias.
	for _, rcpt := range []string{"de\u017fk@x", "desk-subscr\u0130be@x"} {
		if cmd, _, err := Route("desk@lists.example.org", rcpt); err == nil {
			t.Errorf("Route(%q) = %q; want ErrNotList", rcpt, cmd)
		}
	}
	for _, tc := range []struct{ list, rcpt, want string }{
		{"desk@lists.example.org", "DESK-Owner@x", "owner"},
		{"desk-team@lists.example.org", "desk-team-request@x", "request"},
		{"Ärzte@lists.example.org", "ärzte@x", "post"},
		{"Ärzte@lists.example.org", "ÄRZTE-Owner@x", "owner"},
		{"Ärzte@lists.example.org", "äRZTE+x@x", "post"},
	} {
		if cmd, _, err := Route(tc.list, tc.rcpt); cmd != tc.want || err != nil {
			t.Errorf("Route(%s, %s) = %q, %v; want %s", tc.list, tc.rcpt, cmd, err, tc.want)
		}
	}
}

// TestRoutePlusInList: a list whose local part holds a "+", which
// listdir.Open takes (mlm-listdir(5): only a quoted one, or none, is a
// misconfigured list), has its addresses: the "+" of an extension is
// one after the list's local part, not the first of the address.
func TestRoutePlusInList(t *testing.T) {
	for _, tc := range []struct{ rcpt, cmd, ext string }{
		{"c++@lists.example.org", "post", ""},
		{"C++@x", "post", ""},
		{"c+++tag@x", "post", "tag"},
		{"c++-request@x", "request", ""},
		{"c++-Bounces+bob=example.net@x", "bounces", "bob=example.net"},
		{"c++-accept+abc.def@x", "accept", "abc.def"},
	} {
		cmd, ext, err := Route("c++@lists.example.org", tc.rcpt)
		if err != nil || cmd != tc.cmd || ext != tc.ext {
			t.Errorf("Route(%s) = %q, %q, %v; want %q, %q", tc.rcpt, cmd, ext, err, tc.cmd, tc.ext)
		}
	}
	for _, rcpt := range []string{"c@x", "c+@x", "c+tag@x", "c-owner@x", "c++x@x", "c++-bogus@x", "c+-owner@x"} {
		if cmd, _, err := Route("c++@lists.example.org", rcpt); err == nil {
			t.Errorf("Route(%s) = %q; want ErrNotList", rcpt, cmd)
		}
	}
	if !Own("c++@lists.example.org", "c++-bounces@lists.example.org") {
		t.Errorf("Own(c++-bounces@) = false; want true")
	}
}

func TestOwn(t *testing.T) {
	for m, want := range map[string]bool{
		"dev@lists.example.org":                true,
		"DEV-Owner@LISTS.example.org":          true,
		"dev-bounces+x=y@lists.example.org":    true,
		"dev@example.org":                      false, // another domain
		"dev-nonsense@lists.example.org":       false,
		"developer@lists.example.org":          false,
		"alice@example.org":                    false,
		"\"dev-owner\"@lists.example.org":      true, // the same mailbox
		"\"dev\\-owner\"@lists.example.org":    true,
		"\"dev owner\"@lists.example.org":      false,
		"\"dev+a b\"@lists.example.org":        true, // dev@'s, its extension quoted
		"\"dev-owner+a b\"@lists.example.org":  true,
		"\"dev-owner@lists.example.org\"@x":    false,
		"dev-owner@lists.example.org.attacker": false,
		"dev@li\u017fts.example.org":           true,  // U+017F: s, where IDNA maps it (and mail goes)
		"dev@l\u0131sts.example.org":           false, // U+0131, dotless i: another domain
		"dev@LISTS.EXAMPLE.ORG":                true,
		"DEV@lists.EXAMPLE.org":                true,
		"dev@lists.example.orG":                true,
		"dev@lists.example.or":                 false,
		"dev@lists.example.orgg":               false,
	} {
		if got := Own("dev@lists.example.org", m); got != want {
			t.Errorf("Own(%q) = %v; want %v", m, got, want)
		}
		// OwnCommand: the same, but for the list address itself, in
		// any spelling, with an extension or none.
		post := want && !strings.Contains(strings.ToLower(m), "-owner") && !strings.Contains(m, "-bounces")
		if got := OwnCommand("dev@lists.example.org", m); got != (want && !post) {
			t.Errorf("OwnCommand(%q) = %v; want %v", m, got, want && !post)
		}
	}
}

// FuzzRoute: Route never panics; what it routes is the list's local part
// (case aside, by addr.Lower, and holding a "+" or not), "-" and a
// command, then "+" and the extension it returns; Own implies Route of the address's key; an address the list owns routes the same
// in any case.
func FuzzRoute(f *testing.F) {
	f.Add("dev@lists.example.org", "dev-bounces+bob=example.net@lists.example.org")
	f.Add("dev@l", "DEV+$(id)`x`|y@l")
	f.Add("d@", "@")
	f.Add("", "+@")
	f.Add("c++@x", "c++-Accept+a+b@x")
	f.Fuzz(func(t *testing.T, list, rcpt string) {
		// Own as it was first written, the key's Route before the
		// domains, for what Own is given: a list address Open takes (a
		// mailbox, its local part not quoted; "A" took the whole as its
		// domain) and a mailbox whose key is not quoted. A quoted key
		// ("dev+a b"@, which TestOwn has as dev@'s) keeps the quotes
		// that Own's unquoting drops.
		k := addr.Key(rcpt)
		if addr.CheckMailbox(list) == nil && list[0] != '"' && addr.CheckMailbox(rcpt) == nil && k[0] != '"' {
			_, _, kerr := Route(list, k)
			if was := kerr == nil && addr.Lower(domainOf(list)) == addr.Lower(domainOf(k)); Own(list, rcpt) != was {
				t.Fatalf("Own(%q, %q) = %v; the key's Route, then the domains, say %v", list, rcpt, !was, was)
			}
			if Own(list, rcpt) {
				if _, _, err := Route(list, k); err != nil {
					t.Fatalf("Own(%q, %q) but Route of its key: %v", list, rcpt, err)
				}
			}
		}
		cmd, ext, err := Route(list, rcpt)
		if err != nil {
			return
		}
		listLocal, _, _ := strings.Cut(list, "@")
		local := rcpt[:strings.LastIndexByte(rcpt, '@')]
		want := listLocal
		if cmd != "post" {
			if !slices.Contains(Commands, cmd) {
				t.Fatalf("Route(%q, %q) = unknown command %q", list, rcpt, cmd)
			}
			want += "-" + cmd
		}
		// The extension is what follows the "+" after the list's local
		// part and command, which may hold one (c++@).
		whole := addr.Lower(local) == addr.Lower(want) && ext == ""
		withExt := strings.HasSuffix(local, "+"+ext) && addr.Lower(local[:len(local)-len(ext)-1]) == addr.Lower(want)
		if !whole && !withExt {
			t.Fatalf("Route(%q, %q) = %q, %q; local part %q", list, rcpt, cmd, ext, local)
		}
		// In any case: the ASCII case an MTA may change (upper-casing
		// other letters is no folding: "ı" becomes "I").
		if !isASCII(list + rcpt) {
			return
		}
		if c2, e2, err := Route(list, strings.ToUpper(rcpt)); err != nil || c2 != cmd || e2 != strings.ToUpper(ext) {
			t.Fatalf("Route(%q, upper %q) = %q, %q, %v; want %q", list, rcpt, c2, e2, err, cmd)
		}
	})
}

// FuzzParseFromLine: a sender it returns is "" or a mailbox, never with
// a control octet (a space only in a quoted local part).
func FuzzParseFromLine(f *testing.F) {
	f.Add([]byte("From alice@example.org Sat Nov 28 12:00:00 2026\n"))
	f.Add([]byte("From <a\rb@x> Sat"))
	f.Fuzz(func(t *testing.T, line []byte) {
		s, err := ParseFromLine(line)
		if err == nil && s != "" && addr.CheckMailbox(s) != nil {
			t.Fatalf("ParseFromLine(%q) = %q: not a mailbox", line, s)
		}
		FromLineTime(line)
		if err == nil && s != "" {
			// A sender it reads it reads back from a line written with
			// it, as Postfix's local(8) writes one, and the date after.
			for _, w := range []string{s, "<" + s + ">"} {
				l := []byte("From " + w + "  Sat Nov 28 12:00:00 2026\n")
				if s2, err := ParseFromLine(l); s2 != s || err != nil {
					t.Fatalf("ParseFromLine(%q) = %q, %v; want %q", l, s2, err, s)
				}
				if _, ok := FromLineTime(l); !ok {
					t.Fatalf("FromLineTime(%q): no time", l)
				}
			}
		}
	})
}

func TestFromPostfix(t *testing.T) {
	env := MTA{SenderSet: true, OrigRecipient: "dev@lists.example.org"}
	for sender, filtered := range map[string]string{
		"o'brien@example.org":      "o_brien@example.org",
		"jürgen@example.org":       "j__rgen@example.org",
		`"john smith"@example.org`: "john_smith@example.org",
		`"a\"b"@example.org`:       "a_b@example.org",
		`"a,b"@example.org`:        "a,b@example.org",
		"{x}@example.org":          "_x_@example.org",
	} {
		env.Sender = filtered
		if !FromPostfix(sender, env) {
			t.Errorf("FromPostfix(%q, SENDER=%q) = false", sender, filtered)
		}
	}
	for _, e := range []MTA{
		{Sender: "o_brien@example.org", SenderSet: true},                                         // not local(8)
		{Sender: "o_brien@example.org", OrigRecipient: "dev@lists.example.org"},                  // no SENDER
		{Sender: "o_hara@example.org", SenderSet: true, OrigRecipient: "dev@lists.example.org"},  // another
		{Sender: "o'brien@example.org", SenderSet: true, OrigRecipient: "dev@lists.example.org"}, // the same
	} {
		if FromPostfix("o'brien@example.org", e) {
			t.Errorf("FromPostfix(o'brien@example.org, %+v) = true", e)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
