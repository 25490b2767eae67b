package addr

import "strings"

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
	l := strings.ToLower(d) // d itself if it has no upper case
	if l == d {
		return mailbox // no copy: mostly, domains come in lower case
	}
	return mailbox[:at+1] + l
}

// Domain returns the domain of a mailbox, in lower case.
func Domain(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	return strings.ToLower(mailbox[at+1:])
}
