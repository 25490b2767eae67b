package msg

import (
	"io"
	"mime/quotedprintable"
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
