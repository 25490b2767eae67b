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
		raw := "Subject: " + tc.subj + "\n\n"
		e := msg.NewEdit([]byte(raw))
		if err := addPrefix(e, tc.prefix); err != nil {
			t.Fatal(err)
		}
		if got := string(e.Bytes()); got != raw {
			t.Errorf("prefix %q on %q: %q; want it unchanged", tc.prefix, tc.subj, got)
		}
	}
}
