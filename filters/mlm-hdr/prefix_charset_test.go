package main

import (
	"testing"

	"mlm/lib/msg"
)

// TestPrefixOnceAnyCharset: a reply whose subject carries the list's
// prefix is not given it again, whatever charset the replying program
// encoded the subject in (Outlook's windows-1252, iso-8859-15, koi8-r,
// ISO-2022-JP as Japanese mail programs write it), also where a program
// split a character of a multi-octet charset between two encoded-words,
// as RFC 2047 forbids and GBK and Big5 mail programs do.
func TestPrefixOnceAnyCharset(t *testing.T) {
	for _, tc := range []struct{ prefix, subj string }{
		{"[dév]", "=?windows-1252?Q?Re:_[d=E9v]_x?="},
		{"[dév]", "=?iso-8859-15?Q?Re:_[d=E9v]_x?="},
		{"[разработка]", "=?koi8-r?B?UmU6IFvSwdrSwcLP1MvBXSDUxdPU?="},
		{"[開発]", "=?ISO-2022-JP?B?UmU6IFsbJEIzK0gvGyhCXSAbJEIlRiU5JUgbKEI=?="},
		{"[开发]", "=?gbk?b?UmU6IFu/qrc=?= =?GBK?b?ol0gxOO6ww==?="},
		{"[開發]", "=?big5?q?Re:_[=B6}=B5?=\n =?big5?q?=6F=5D=20=A7=41=A6=6E?="},
	} {
		wantPrefixed(t, tc.prefix, tc.subj, tc.subj)
	}
}

// TestPrefixOnceAnyForm: a reply that spells the prefix in another
// Unicode form (NFD: "e" and a combining acute for "é"), another case,
// or with another run of white space, is not given it again (R96 F3).
func TestPrefixOnceAnyForm(t *testing.T) {
	for _, tc := range []struct{ prefix, subj string }{
		{"[dév]", "Re: [de\u0301v] hi"},
		{"[de\u0301v]", "Re: [dév] hi"},
		{"[dév]", "=?utf-8?q?Re:_[de=CC=81v]_hi?="},
		{"[DÉV]", "Re: [de\u0301v] hi"},
		{"[dev list]", "Re: [dev  list] hi"},
		{"[dev list]", "Re: [dev\tlist] hi"},
		{"[dev  list]", "Re: [dev list] hi"},
	} {
		wantPrefixed(t, tc.prefix, tc.subj, tc.subj)
	}
	// Not the prefix: a subject that only looks alike is prefixed.
	for _, subj := range []string{"Re: [dv] hi", "Re: [devlist] hi", "Re: [de v] hi"} {
		wantPrefixed(t, "[dev list]", subj, "[dev list] "+subj)
	}
}

// wantPrefixed checks that addPrefix makes the Subject subj, with
// prefix, want.
func wantPrefixed(t *testing.T, prefix, subj, want string) {
	t.Helper()
	e := msg.NewEdit([]byte("Subject: " + subj + "\n\n"))
	if err := addPrefix(e, prefix); err != nil {
		t.Fatal(err)
	}
	if got := string(e.Bytes()); got != "Subject: "+want+"\n\n" {
		t.Errorf("prefix %q on %q: %q; want Subject %q", prefix, subj, got, want)
	}
}
