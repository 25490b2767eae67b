package msg

import (
	"io"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
)

// TestQPEncode: every line within 76 octets, LF line endings only, and
// it decodes to what it was: a bare CR stays a CR in a line, not a break.
func TestQPEncode(t *testing.T) {
	for _, s := range []string{
		"",
		"plain\n",
		"café\nno final LF",
		"X-A: a\rX-Spam-Verdict: clean\n",
		"X-Long: " + strings.Repeat("é-long ", 250) + "\n\n",
		"trailing space \ntab\t\n",
		"=?utf-8?q?x?= = 3\r\n",
	} {
		got := QPEncode(s)
		for _, l := range strings.Split(got, "\n") {
			if len(l) > 76 || strings.Contains(l, "\r") {
				t.Errorf("QPEncode(%.30q): line %q", s, l)
			}
		}
		back, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(got)))
		if err != nil || string(back) != s {
			t.Errorf("QPEncode(%.30q) = %q, decodes to %q, %v", s, got, back, err)
		}
	}
}

// TestAddressList: a name or comment in a charset go-message does not
// know leaves the addresses as they are; a list that is no list is
// still refused.
func TestAddressList(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{`=?windows-1252?Q?Bob_M=FCller?= <bob@example.net>`, "bob@example.net"},
		{`=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <j@example.jp>, c@example.org`, "j@example.jp c@example.org"},
		{`bob@example.net (=?unknown-8bit?Q?M=FCller?=)`, "bob@example.net"},
		{`=?utf-8?q?Ren=C3=A9?= <rene@example.org>`, "rene@example.org"},
		{`=?x-unknown?q?a?= <no-at>`, ""},
		{`a@example.org <a@example.org>`, ""},
		// A name in raw 8-bit octets that are not UTF-8 (Latin-1, as
		// old mail programs write it), in an atom, a quoted string or
		// a comment: the addresses are what they are.
		{"J\xf6rg M\xfcller <joerg@example.de>", "joerg@example.de"},
		{"\"M\xfcller, J\xf6rg\" <joerg@example.de>, c@example.org", "joerg@example.de c@example.org"},
		{"joerg@example.de (J\xf6rg)", "joerg@example.de"},
		// An address of such octets is none, and no other becomes one.
		{"j\xf6rg@example.de", ""},
	} {
		as, err := AddressList(tc.v)
		var got []string
		for _, a := range as {
			got = append(got, a.Address)
		}
		if strings.Join(got, " ") != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("AddressList(%q) = %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
}

// TestEncodePhrase: printable ASCII is left as written; other text
// becomes encoded-words that a parser reads back as the same display
// name, in ASCII, each word within 75 octets, and Q only where its
// octets are those RFC 2047 section 5 (3) allows in a phrase.
func TestEncodePhrase(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Dev list", "Dev list"},
		{`"Dev, list"`, `"Dev, list"`},
		{"Équipe", "=?utf-8?q?=C3=89quipe?="},
		{"Dév team-1 +/*!", "=?utf-8?q?D=C3=A9v_team-1_+/*!?="},
		{"Dév, team", "=?utf-8?b?RMOpdiwgdGVhbQ==?="},
		{"Dév (FR)", "=?utf-8?b?RMOpdiAoRlIp?="},
		{`Dév \ x`, "=?utf-8?b?RMOpdiBcIHg=?="},
		{"Dév <dev@example.org>", ""},
		{`Dév "x" y.z`, ""},
		{"Dév_a=b?c", ""},
		{strings.Repeat("é", 100), ""},
	} {
		got := EncodePhrase(tc.text)
		if tc.want != "" && got != tc.want {
			t.Errorf("EncodePhrase(%q) = %q; want %q", tc.text, got, tc.want)
		}
		if got == tc.text {
			continue
		}
		for _, w := range strings.Fields(got) {
			if len(w) > 75 || !IsEncodedWord(w) {
				t.Errorf("EncodePhrase(%q) = %q: %q is no encoded-word of 75 octets at most", tc.text, got, w)
			}
		}
		a, err := mail.ParseAddress(got + " <a@example.org>")
		if err != nil || a.Name != tc.text {
			t.Errorf("EncodePhrase(%q) = %q, read back as %+v, %v", tc.text, got, a, err)
		}
	}
}

func TestAngleAddrs(t *testing.T) {
	for v, want := range map[string][]string{
		"Smith, Alice <alice@example.org>":              {"alice@example.org"},
		"alice@example.org <alice@example.org>":         {"alice@example.org"},
		"Alice [Admin] < alice@example.org >":           {"alice@example.org"},
		"<@relay.example:alice@example.org>":            {"alice@example.org"},
		"<@a.example,@b.example: alice@example.org>":    {"alice@example.org"},
		`"x <evil@example.net>" <alice@example.org>`:    {"alice@example.org"},
		`"x \" <evil@example.net>" <alice@example.org>`: {"alice@example.org"},
		"(x <evil@example.net>) <alice@example.org>":    {"alice@example.org"},
		"((x) <evil@example.net>) <alice@example.org>":  {"alice@example.org"},
		`<"a>b"@example.org>`:                           {`"a>b"@example.org`},
		"A, B <a@example.org>, C <c@example.org>":       {"a@example.org", "c@example.org"},
		"alice@example.org":                             nil,
		// Where a reader takes what is between angle brackets for
		// display-name text, its address is not the author's:
		// Thunderbird reads an encoded-word, a domain literal and a
		// backslash's octet whole, wherever they are, and a quoted
		// string in a comment too, the comment ending after it; RFC
		// 5322 (mutt) reads neither.
		"=?utf-8?q?<alice@example.org>?= <evil@example.net>": {"evil@example.net"},
		"=?utf-8?q?J=C3=B6rg,_Smith?= <alice@example.org>":   {"alice@example.org"},
		"Evil [<alice@example.org>] <evil@example.net>":      {"evil@example.net"},
		`\<alice@example.org> <evil@example.net>`:            {"evil@example.net"},
		`(")<alice@example.org>(") <evil@example.net>`:       {"evil@example.net"},
		`[ " ] <alice@example.org> "`:                        nil,
		`\" <alice@example.org> "`:                           nil,
		`=?x?q?"?= <alice@example.org> "`:                    nil,
		`(=?x?q?)?= <alice@example.org>`:                     nil,
		`(a [ b) <alice@example.org> ]`:                      nil,
		`Smith, Alice (the "boss") <alice@example.org>`:      {"alice@example.org"},
		"<alice@[192.0.2.1]>, Smith, A":                      {"alice@[192.0.2.1]"},
		"Alice <alice@example.org":                           nil,
		"":                                                   nil,
	} {
		if got := AngleAddrs(v); !slices.Equal(got, want) {
			t.Errorf("AngleAddrs(%q) = %q; want %q", v, got, want)
		}
	}
}

func FuzzAngleAddrs(f *testing.F) {
	f.Add("Smith, Alice <alice@example.org>")
	f.Add(`"a\"<b>" (c<d>) <@r:e@f>, <g>`)
	f.Add(`=?x?q?<a@b>?= [<c@d>] \<e@f> (")<g@h>(") <i@j>`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, a := range AngleAddrs(v) {
			// Each is octets of v between a "<" and a ">", trimmed.
			if !strings.Contains(v, a) || strings.TrimSpace(a) != a {
				t.Fatalf("AngleAddrs(%q) gave %q", v, a)
			}
		}
		// Each is one RFC 5322's rules find too.
		rfc := angleAddrs(v, false)
		for _, a := range AngleAddrs(v) {
			if !slices.ContainsFunc(rfc, func(s [2]int) bool { return strings.Contains(strings.TrimSpace(v[s[0]:s[1]]), a) }) {
				t.Fatalf("AngleAddrs(%q) gave %q, which RFC 5322 does not", v, a)
			}
		}
		if !strings.ContainsRune(v, '<') && AngleAddrs(v) != nil {
			t.Fatalf("AngleAddrs(%q) without a <: %q", v, AngleAddrs(v))
		}
	})
}
