package main

import (
	"strings"

	"mlm/lib/addr"
)

// maxLocal is the longest local part, RFC 5321 §4.5.3.1.1.
const maxLocal = 64

// verp returns the sender for a record to rcpt alone, with rcpt encoded
// in it the usual way (qmail, Postfix, Exim): sender "dev-bounces@host"
// and recipient "user@domain" give "dev-bounces+user=domain@host". ok is
// false when that cannot be done: a null or quoted sender, a recipient
// whose local part or domain holds an octet that is not atext (a quoted
// local part, an address literal, UTF-8), or a local part longer than 64
// octets.
func verp(sender, rcpt string) (v string, ok bool) {
	if sender == "" || strings.HasPrefix(sender, `"`) {
		return "", false
	}
	sat := strings.LastIndexByte(sender, '@')
	rat := strings.LastIndexByte(rcpt, '@')
	if sat < 0 || rat < 0 {
		return "", false
	}
	rl, rd := rcpt[:rat], rcpt[rat+1:]
	if !atoms(rl) || !atoms(rd) {
		return "", false
	}
	local := sender[:sat] + "+" + rl + "=" + rd
	if len(local) > maxLocal {
		return "", false
	}
	v = local + sender[sat:]
	if addr.CheckMailbox(v) != nil {
		return "", false
	}
	return v, true
}

// atoms reports whether s is ASCII atext and dots only, so that it can
// go into a Dot-string local part as it is.
func atoms(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
