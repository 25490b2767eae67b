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
	return mailbox[:at+1] + strings.ToLower(mailbox[at+1:])
}

// Domain returns the domain of a mailbox, in lower case.
func Domain(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	return strings.ToLower(mailbox[at+1:])
}
