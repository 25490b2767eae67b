package addr

import (
	"net/netip"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"mlm/lib/ascii"
)

// Key returns the comparison key of a mailbox: the local part in lower
// case (Lower's), without quotes that add nothing ("bob" and "b\ob" are
// bob, RFC 5321 §4.1.2) and quoted pairs that add nothing ("a\ b" is
// "a b"), and the domain as DomainKey gives it. Two addresses with one
// key are one member. RFC 5321 §2.4 leaves a local part's case to the
// receiving host, but the hosts of people's mailboxes deliver Bob@ and
// bob@ to one, and people spell their address either way, a form one
// way and a mail program the other: as two members, one mailbox got each
// post twice, an unsubscription left it subscribed, and a post of it
// was held as a stranger's. Mailman, ezmlm and mlmmj compare so too.
func Key(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 {
		return mailbox
	}
	if mailbox[0] != '"' && at+1 < len(mailbox) && mailbox[at+1] != '[' && ascii.Is(mailbox) {
		// Most addresses: ASCII, unquoted, a domain of no literal,
		// whose key is all of it in lower case, made in one copy or
		// none (members' files hold millions), unless it has an
		// A-label, keyed as its U-label.
		k := ascii.Lower(mailbox)
		if d := k[at+1:]; !strings.HasPrefix(d, "xn--") && !strings.Contains(d, ".xn--") {
			return k
		}
	}
	local, d := mailbox[:at], mailbox[at+1:]
	lk := local
	if local != "" && local[0] == '"' {
		lk = localKey(local)
	}
	lk = LowerLocal(lk) // lk itself if it has no upper case
	dk := DomainKey(d)  // d itself if it has no upper case and no A-label
	if lk == local && dk == d {
		return mailbox // no copy: mostly, addresses come in lower case
	}
	return lk + "@" + dk
}

// LocalKey is mailbox with its local part's quotes as Key has them (not
// its case, which Key lowers), and its domain as it is: for a comparison
// that lowers the case itself and tries the domain's spellings
// (mlm-auth's patterns), which Key would make one.
func LocalKey(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 || mailbox[0] != '"' {
		return mailbox
	}
	return localKey(mailbox[:at]) + mailbox[at:]
}

// localKey is a quoted local part as Key has it: without quotes that add
// nothing ("bob" is bob, RFC 5321 section 4.1.2), and with quotes that
// are needed, the quoted pairs that add nothing undone too ("a\ b" is
// "a b"); else local itself.
func localKey(local string) string {
	if u, ok := unquote(local); ok {
		return u
	}
	if u, ok := undoQuotes(local); ok {
		return `"` + quotePairs.Replace(u) + `"`
	}
	return local
}

// Domain returns the domain of a mailbox as DomainKey gives it.
func Domain(mailbox string) string {
	at := strings.LastIndexByte(mailbox, '@')
	return DomainKey(mailbox[at+1:])
}

// DomainKey is a domain as Key and Domain compare it: in lower case
// (domains are case-insensitive, RFC 5321 §2.4), and each A-label, the
// ASCII form of an internationalized label ("xn--bcher-kva", RFC 5890),
// as its U-label ("bücher"), as an SMTPUTF8 message or a member list
// may spell it: bob@xn--bcher-kva.example and bob@bücher.example are
// one mailbox, which mail programs that send no SMTPUTF8 spell the first
// way. An A-label that is not one IDNA makes (it decodes to ASCII only,
// or to characters a U-label may not hold, or is not the one encoding
// of what it decodes to) stays as it is. A domain with characters
// outside ASCII is first what IDNA's lookup mapping (UTS #46) makes of
// it, where it can, as delivery does (ASCIIDomain; and a relay with
// SMTPUTF8, to look the domain up): fullwidth letters, a ligature, a
// decomposed accent, the KELVIN SIGN are the letters they map to, and
// bob@ｅｘａｍｐｌｅ.org is bob@example.org, the mailbox the mail
// reaches. An IPv6 address literal is its address as RFC 5952 spells
// it: [IPv6:2001:DB8:0:0::1] is [ipv6:2001:db8::1]. It returns d itself
// if nothing changes.
func DomainKey(d string) string {
	l := Lower(d)
	if len(l) > 0 && l[0] == '[' {
		return literalKey(l)
	}
	if ascii.Is(l) && !strings.HasPrefix(l, "xn--") && !strings.Contains(l, ".xn--") {
		return l
	}
	aLabelKeys.Lock()
	k, ok := aLabelKeys.m[l]
	aLabelKeys.Unlock()
	if !ok {
		l = strings.Clone(l) // l may be d, part of a member file's line
		k = l
		if !ascii.Is(l) {
			if a, ok := ALabels(l); ok {
				k = a // in lower case, as IDNA maps
			}
		}
		k = uLabels(k)
		aLabelKeys.Lock()
		if len(aLabelKeys.m) >= maxALabelKeys || aLabelKeys.m == nil {
			aLabelKeys.m = make(map[string]string)
		}
		aLabelKeys.m[l] = k
		aLabelKeys.Unlock()
	}
	return k
}

// literalKey is DomainKey of an address literal l, in lower case: an
// IPv6 address in the one spelling RFC 5952 gives it (netip's), which
// RFC 5321 section 4.1.3's several spell many ways; anything else as
// it is. (An IPv4 literal has one spelling: netip refuses leading
// zeros, as checkLiteral does.)
func literalKey(l string) string {
	in, ok := strings.CutPrefix(l, "[ipv6:")
	if !ok || !strings.HasSuffix(in, "]") {
		return l
	}
	a, err := netip.ParseAddr(in[:len(in)-1])
	if err != nil || !a.Is6() || a.Zone() != "" {
		return l
	}
	if k := "[ipv6:" + a.String() + "]"; k != l {
		return k
	}
	return l
}

// aLabelKeys are the keys DomainKey made lately of domains with
// A-labels or characters outside ASCII, by the domain in lower case: a
// list's members are in few domains, and mapping or decoding one domain
// costs a microsecond and a dozen allocations, for each of a million
// recipients in each stage.
var aLabelKeys struct {
	sync.Mutex
	m map[string]string
}

// maxALabelKeys bounds aLabelKeys: a run through more domains starts it
// afresh. Every domain outside ASCII goes through it (a miss costs some
// 1.4 µs, a hit 0.1), so it holds the IDN domains of a large list, at
// some 100 octets each: 6 MiB at most.
const maxALabelKeys = 1 << 16

// uLabels is l, in lower case, with its A-labels that IDNA made as
// their U-labels: those that are the one encoding of a U-label IDNA's
// lookup mapping leaves as it is.
func uLabels(l string) string {
	labels := strings.Split(l, ".")
	for i, a := range labels {
		if !strings.HasPrefix(a, "xn--") {
			continue
		}
		u, err := idna.Punycode.ToUnicode(a)
		if err != nil || ascii.Is(u) || badULabel(u) || Lower(u) != u {
			continue
		}
		// The one A-label of what IDNA's lookup mapping makes of u:
		// not a label of characters it maps to others (the KELVIN
		// SIGN, fullwidth letters, a decomposed accent), which would
		// be a key that a key of it maps again.
		if back, err := idna.Lookup.ToASCII(u); err != nil || back != a {
			continue
		}
		labels[i] = u
	}
	return strings.Join(labels, ".")
}

// ASCIIDomain returns mailbox with its domain's U-labels as A-labels
// (RFC 5891, IDNA's lookup mapping: "bob@bücher.example" is
// "bob@xn--bcher-kva.example"), the same mailbox, and true, if that
// makes it ASCII: for a server without SMTPUTF8, which takes only ASCII
// addresses (RFC 6531 section 3.2). A local part that is not ASCII, a
// domain IDNA cannot convert, or one whose A-labels make a mailbox that
// is none (over 254 octets, or a label over 63: each U-label of one
// octet is 8 as an A-label), gives false.
func ASCIIDomain(mailbox string) (string, bool) {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 || !ascii.Is(mailbox[:at]) {
		return "", false
	}
	return DomainALabels(mailbox)
}

// DomainALabels is ASCIIDomain for a mailbox whose local part may be
// UTF-8, which stays as it is: its domain as A-labels, for a reader
// that takes a UTF-8 local part but no such domain (exim -bS). A
// mailbox without "@", or whose domain is ASCII, is itself.
func DomainALabels(mailbox string) (string, bool) {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 || ascii.Is(mailbox[at+1:]) {
		return mailbox, true
	}
	d, ok := ALabels(mailbox[at+1:])
	if !ok {
		return "", false
	}
	m := mailbox[:at+1] + d
	if CheckMailbox(m) != nil {
		return "", false
	}
	return m, true
}

// ALabels returns the domain d with its U-labels as A-labels, by IDNA's
// lookup mapping (RFC 5891), and true; false if IDNA cannot convert it.
func ALabels(d string) (string, bool) {
	a, err := idna.Lookup.ToASCII(d)
	if err != nil || !ascii.Is(a) {
		return "", false
	}
	return a, true
}

// ASCIIHost returns the domain d in ASCII, for where a host is named
// in letters, digits and hyphens alone (EHLO and HELO, RFC 5321 section
// 2.3.5, which come before SMTPUTF8 could allow more): d itself if it
// is ASCII (an address literal too), else with its U-labels as
// A-labels; and true, or d and false if IDNA cannot convert it.
func ASCIIHost(d string) (string, bool) {
	if ascii.Is(d) {
		return d, true
	}
	if a, ok := ALabels(d); ok {
		return a, true
	}
	return d, false
}

// Lower is d in lower case, but for a letter outside ASCII whose
// lower case is in it, which stays as it is: the KELVIN SIGN (U+212A)
// would make the local part "\u212Aey" key, which no MTA need take it
// for. (A domain's key maps it further, as IDNA does: DomainKey. It
// returns d itself if nothing changes.) Key and Domain use
// it; so must whatever compares a domain with theirs, and, through
// LowerLocal, whatever compares local parts without regard to case
// (the list's own), as an MTA with SMTPUTF8 delivers ärzte@ to Ärzte@'s
// alias.
func Lower(d string) string {
	// Mostly an address is ASCII: then ascii.Lower's loop over its
	// octets does it, without a call for every rune.
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			return lowerRunes(d)
		}
	}
	return ascii.Lower(d)
}

// lowerRunes is Lower for d with octets outside ASCII.
func lowerRunes(d string) string {
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

// LowerLocal is Lower for a local part: a letter's lower cases that
// are one letter are made one too, as Unicode's case folding has them,
// so that local parts that differ only in case have one key: final
// sigma is sigma, "οδος" as "ΟΔΟΣ" (R87 F5). Not into ASCII, as Lower
// does not ("ſ", LONG S, stays). Not for a domain, whose labels IDNA
// maps, where final sigma is a letter of its own (UTS #46).
func LowerLocal(s string) string {
	l := Lower(s)
	for i := 0; i < len(l); i++ {
		if l[i] >= utf8.RuneSelf {
			return strings.Map(foldRune, l)
		}
	}
	return l
}

// foldRune is a lower-case rune as LowerLocal folds it: the lower case
// of its upper case, if that is not ASCII.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return r
	}
	if f := unicode.ToLower(unicode.ToUpper(r)); f >= utf8.RuneSelf {
		return f
	}
	return r
}

// Unquoted is mailbox with the quotes and quoted pairs of a
// Quoted-string local part undone, whatever is then in it: the form
// Postfix keeps internally and gives a command as SENDER
// ("john smith@example.org" for "\"john smith\"@example.org"). Not
// a mailbox to send to; for comparing with such a form.
func Unquoted(mailbox string) string {
	if !strings.HasPrefix(mailbox, `"`) {
		return mailbox
	}
	end := LocalEnd(mailbox)
	if end < 2 {
		return mailbox
	}
	if u, ok := undoQuotes(mailbox[:end]); ok {
		return u + mailbox[end:]
	}
	return mailbox
}

// Quoted is Unquoted undone: s, a mailbox whose local part is given
// with the quotes and quoted pairs of a Quoted-string undone, as net/mail
// and go-message give an address ("john smith@example.org" for
// "\"john smith\"@example.org"), with that local part quoted again
// where it is no Dot-string; s itself where it is a mailbox as it is,
// or has no "@".
func Quoted(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || CheckMailbox(s) == nil {
		return s
	}
	return `"` + quotePairs.Replace(s[:at]) + `"` + s[at:]
}

// undoQuotes returns what the Quoted-string q holds, its quoted pairs
// undone; false if q is not one.
func undoQuotes(q string) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(q)-1; i++ {
		c := q[i]
		if c == '\\' {
			if i++; i == len(q)-1 {
				return "", false
			}
			c = q[i]
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// quotePairs writes as quoted pairs the two octets a Quoted-string must
// (RFC 5321 §4.1.2), and no others.
var quotePairs = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// unquote returns the Dot-string that the Quoted-string local part q
// stands for, if it stands for one: its quoted pairs undone, and nothing
// in it that needs the quotes.
func unquote(q string) (string, bool) {
	u, ok := undoQuotes(q)
	if !ok || u == "" || u[0] == '"' || LocalEnd(u+"@") != len(u) {
		return "", false
	}
	return u, true
}
