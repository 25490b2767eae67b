package addr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key returns the comparison key of a mailbox: the local part as it is
// (RFC 5321 §2.4 leaves its case to the receiving host) and the domain in
// lower case (domains are case-insensitive, RFC 5321 §2.4). Two addresses
// with one key are one member.
func Key(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 {
		return mailbox
	}
	d := mailbox[at+1:]
	l := LowerDomain(d) // d itself if it has no upper case
	if l == d {
		return mailbox // no copy: mostly, domains come in lower case
	}
	return mailbox[:at+1] + l
}

// Domain returns the domain of a mailbox, in lower case.
func Domain(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	return LowerDomain(mailbox[at+1:])
}

// LowerDomain is d in lower case, but for a letter outside ASCII whose
// lower case is in it, which stays as it is: the KELVIN SIGN (U+212A)
// would make "\u212Aexample.org" the key of kexample.org, another
// domain. (It returns d itself if nothing changes.) Key and Domain use
// it; so must whatever compares a domain with theirs.
func LowerDomain(d string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			return r
		}
		if l := unicode.ToLower(r); l >= utf8.RuneSelf {
			return l
		}
		return r
	}, d)
}
