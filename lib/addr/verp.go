package addr

import (
	"strings"

	"mlm/lib/ascii"
)

// MaxLocal is the longest local part, RFC 5321 §4.5.3.1.1.
const MaxLocal = 64

// VERP returns the sender for a message to rcpt alone, with rcpt encoded
// in it the usual way (qmail, Postfix, Exim): sender "dev-bounces@host"
// and recipient "user@domain" give "dev-bounces+user=domain@host". ok is
// false when that cannot be done: a null or quoted sender, a recipient
// that is not a mailbox or whose local part or domain holds an octet that
// is not atext (a quoted local part, an address literal, UTF-8 in the
// local part), or a result that is no mailbox (a local part over 64
// octets). A domain of U-labels goes in as its A-labels (ASCIIDomain),
// which UnVERP gives back, the same mailbox to Key. UnVERP undoes it.
func VERP(sender, rcpt string) (v string, ok bool) {
	if sender == "" || strings.HasPrefix(sender, `"`) || CheckMailbox(rcpt) != nil {
		return "", false
	}
	sat := strings.LastIndexByte(sender, '@')
	rat := strings.LastIndexByte(rcpt, '@')
	if sat < 0 || rat < 0 {
		return "", false
	}
	rl, rd := rcpt[:rat], rcpt[rat+1:]
	if !atoms(rl) {
		return "", false
	}
	if !atoms(rd) {
		a, ok := ASCIIDomain(rcpt)
		if !ok || !atoms(a[rat+1:]) {
			return "", false
		}
		rd = a[rat+1:]
	}
	local := sender[:sat] + "+" + rl + "=" + rd
	if len(local) > MaxLocal {
		return "", false
	}
	v = local + sender[sat:]
	if CheckMailbox(v) != nil {
		return "", false
	}
	return v, true
}

// UnVERP returns the recipient VERP encoded in v, an address made by
// VERP from sender, and whether v is one: its local part is sender's, a
// "+" and "local=domain", in any case, and its domain sender's, in any
// case or spelling (DomainKey). The recipient's domain is what follows the last "=", since a
// domain holds none.
func UnVERP(sender, v string) (rcpt string, ok bool) {
	sat := strings.LastIndexByte(sender, '@')
	vat := strings.LastIndexByte(v, '@')
	if sat < 0 || vat < 0 || DomainKey(v[vat+1:]) != DomainKey(sender[sat+1:]) {
		return "", false
	}
	prefix := sender[:sat] + "+"
	if len(v[:vat]) <= len(prefix) || !ascii.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	ext := v[len(prefix):vat]
	eq := strings.LastIndexByte(ext, '=')
	if eq < 0 {
		return "", false
	}
	rcpt = ext[:eq] + "@" + ext[eq+1:]
	if CheckMailbox(rcpt) != nil {
		return "", false
	}
	return rcpt, true
}

// atoms reports whether s is ASCII atext and dots only, so that it can
// go into a Dot-string local part as it is.
func atoms(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && !isAtext(c) {
			return false
		}
	}
	return s != ""
}
