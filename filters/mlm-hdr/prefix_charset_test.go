package main

import (
	"testing"

	"mlm/lib/msg"
)

// TestPrefixOnceAnyCharset: a reply whose subject carries the list's
// prefix is not given it again, whatever charset the replying program
// encoded the subject in (Outlook's windows-1252, iso-8859-15, koi8-r,
// ISO-2022-JP as Japanese mail programs write it).
func TestPrefixOnceAnyCharset(t *testing.T) {
	for _, tc := range []struct{ prefix, subj string }{
		{"[dév]", "=?windows-1252?Q?Re:_[d=E9v]_x?="},
		{"[dév]", "=?iso-8859-15?Q?Re:_[d=E9v]_x?="},
		{"[разработка]", "=?koi8-r?B?UmU6IFvSwdrSwcLP1MvBXSDUxdPU?="},
		{"[開発]", "=?ISO-2022-JP?B?UmU6IFsbJEIzK0gvGyhCXSAbJEIlRiU5JUgbKEI=?="},
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
