// Package addr checks and handles RFC 5321 envelope addresses: the Mailbox
// of MAIL FROM and RCPT TO, widened to UTF-8 by RFC 6531, and the ESMTP
// parameters that follow a path. It is part of mlm's internals, not a public
// API.
//
// Values from outside (the MTA's environment, argv, member lists) are
// checked, and a bad value is refused, never cleaned (DESIGN.md §3 rule 4).
package addr

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"mlm/lib/ascii"
)

// MaxPath is the longest reverse- or forward-path, angle brackets included
// (RFC 5321 §4.5.3.1.3).
const MaxPath = 256

// CheckMailbox returns nil if s is an RFC 5321 §4.1.2 Mailbox
// (Local-part "@" Domain or address-literal), with UTF-8 allowed in atoms,
// quoted strings and domain labels as RFC 6531 §3.3 allows. Source routes
// and the bare "Postmaster" form are refused.
func CheckMailbox(s string) error {
	if Plain(s) {
		return nil // the common case, in one pass
	}
	return checkMailbox(s)
}

// checkMailbox is CheckMailbox for any mailbox, plain or not.
func checkMailbox(s string) error {
	if len(s)+2 > MaxPath {
		return fmt.Errorf("address longer than %d octets", MaxPath-2)
	}
	if !utf8.ValidString(s) {
		return errors.New("address is not valid UTF-8")
	}
	at := LocalEnd(s)
	if at < 0 {
		return errors.New("bad local part")
	}
	if at == len(s) || s[at] != '@' {
		return errors.New("missing @domain")
	}
	if at == 0 {
		return errors.New("empty local part")
	}
	return checkDomain(s[at+1:])
}

// CheckMember is CheckMailbox for an address that is to be a list's
// member: its local part must not hold what harmful says either,
// though RFC 6531 lets any UTF-8 by there (a sender may, and is passed
// on). So a byte-order mark left where two member files were joined, a
// space no one sees, or a control, makes no member of an address that
// no mail reaches.
//
// In quotes, where RFC 5321 lets a space by, a Unicode space is let by
// too; but not a control, a format character other than the joiners, a
// line or paragraph separator, nor U+FFFD: mlm-who prints members as
// they are, and a terminal takes U+009B for the start of a command,
// U+202E turns the text after it round.
func CheckMember(s string) error {
	if err := CheckMailbox(s); err != nil {
		return err
	}
	bad := harmful
	if s[0] == '"' {
		bad = func(r rune) bool { return harmful(r) && !unicode.Is(unicode.Zs, r) }
	}
	if at := LocalEnd(s); strings.ContainsFunc(s[:at], bad) {
		return &PieceError{"bad local part", s[:at]}
	}
	return nil
}

// Plain reports whether s is a mailbox of the plainest kind, ASCII
// atoms and labels: a Dot-string of atext, "@", and a domain of labels
// of letters, digits and inner hyphens, within the lengths CheckMailbox
// allows. Such a mailbox passes CheckMailbox; it is checked in one pass
// over its octets, where CheckMailbox looks at them a few times, and
// holds no octet that could end a path or start a parameter. Most
// mailboxes are such: CheckMailbox asks Plain first, and so may a stage
// reading a recipient line. false says nothing: CheckMailbox has the
// answer.
func Plain(s string) bool {
	if len(s)+2 > MaxPath {
		return false
	}
	i, atom := 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && class[c]&cAtom != 0 {
			atom++
			continue
		}
		if c != '.' || atom == 0 {
			break
		}
		atom = 0
	}
	if atom == 0 || i == len(s) || s[i] != '@' {
		return false
	}
	d := s[i+1:]
	if len(d) > 255 {
		return false
	}
	start := 0
	for j := 0; j < len(d); j++ {
		c := d[j]
		if c < 0x80 && class[c]&cLabel != 0 {
			continue
		}
		if c != '.' || badLabel(d[start:j], false) {
			return false
		}
		start = j + 1
	}
	return !badLabel(d[start:], false)
}

// LocalEnd returns the index just past the local part at the start of
// s, or -1 if it is not a Dot-string or Quoted-string.
func LocalEnd(s string) int {
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\':
				i++
				if i >= len(s) || s[i] < 32 || s[i] > 126 {
					return -1
				}
			case c == '"':
				return i + 1
			case c < 32 || c == 127:
				return -1
			}
		}
		return -1
	}
	i, atomLen := 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if class[c]&cAtom != 0 {
			atomLen++
			continue
		}
		if c == '@' {
			break
		}
		if c != '.' || atomLen == 0 {
			return -1
		}
		atomLen = 0
	}
	if atomLen == 0 {
		return -1
	}
	return i
}

// isAtext reports whether c is an RFC 5322 atext octet.
func isAtext(c byte) bool { return c < 0x80 && class[c]&cAtom != 0 }

// The classes of octets, for the loops that check an address an octet at
// a time: a table costs one load where a chain of comparisons costs many,
// and every stage checks every recipient it reads.
const (
	cAtom  = 1 << iota // of a Dot-string's atoms: atext, or UTF-8 (RFC 6531)
	cLabel             // of a domain label: letter, digit, "-", or UTF-8
)

var class = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if c >= 0x80 || alnum || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0 {
			t[i] |= cAtom
		}
		if c >= 0x80 || alnum || c == '-' {
			t[i] |= cLabel
		}
	}
	return t
}()

// CheckDomain returns nil if d is an RFC 5321 Domain (dot-separated
// labels of letters, digits and inner hyphens, UTF-8 U-labels allowed) or
// an address-literal.
func CheckDomain(d string) error { return checkDomain(d) }

func checkDomain(d string) error {
	if d == "" {
		return errors.New("empty domain")
	}
	if d[0] == '[' {
		return checkLiteral(d)
	}
	if len(d) > 255 {
		return errors.New("domain longer than 255 octets")
	}
	start := 0   // of the label being read
	utf := false // whether it has an octet of UTF-8
	for i := 0; i < len(d); i++ {
		c := d[i]
		if class[c]&cLabel != 0 {
			utf = utf || c >= 0x80
			continue
		}
		if c != '.' { // a bad octet: its label is bad
			end := len(d)
			if j := strings.IndexByte(d[i:], '.'); j >= 0 {
				end = i + j
			}
			return &PieceError{"bad domain label", d[start:end]}
		}
		if badLabel(d[start:i], utf) {
			return &PieceError{"bad domain label", d[start:i]}
		}
		start, utf = i+1, false
	}
	if badLabel(d[start:], utf) {
		return &PieceError{"bad domain label", d[start:]}
	}
	return nil
}

// badLabel reports whether a label of octets of class cLabel is empty,
// too long, or starts or ends with a hyphen; or, if it has UTF-8 (utf),
// whether it has a character no U-label may have (badULabel).
func badLabel(l string, utf bool) bool {
	return l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || utf && badULabel(l)
}

// badULabel reports whether a label has a character no U-label may have
// and that would do harm where addresses go (harmful). IDNA2008's finer
// rules (RFC 5892: case, symbols, the contexts of joiners and middle
// dots, scripts) are the receiving server's: a label they refuse is
// refused there, and mail to it bounces, where one refused here could
// never be written.
func badULabel(l string) bool { return strings.ContainsFunc(l, harmful) }

// harmful reports the characters that a domain of UTF-8 (RFC 6531) must
// not hold, nor a member's local part outside quotes (CheckMember),
// though the grammar lets them by: a space
// or separator (U+00A0, U+3000, U+2028), a control (U+0085), a format
// character other than the joiners IDNA2008 allows in context (U+200B,
// U+202E, U+FEFF: a byte-order mark where files were joined), a full
// stop other than "." that resolvers take for one (U+3002, U+FF0E,
// U+FF61), or U+FFFD, what is left of octets that were not UTF-8. Each
// would do harm where addresses go (lines, fields, logs), or make an
// address that looks like another and is none.
func harmful(r rune) bool {
	switch {
	case r < 0x80 || r == 0x200c || r == 0x200d: // ZWNJ, ZWJ: CONTEXTJ
		return false
	case unicode.IsSpace(r), unicode.In(r, unicode.Z, unicode.Cc, unicode.Cf),
		r == 0x3002 || r == 0xff0e || r == 0xff61, r == utf8.RuneError:
		return true
	}
	return false
}

// A PieceError is an address refused for a piece of it, which its
// message quotes. Reason is the message without the piece, for where no
// address may be told (a member file's bad line: see Reason).
type PieceError struct{ Reason, Piece string }

func (e *PieceError) Error() string { return e.Reason + " " + strconv.Quote(e.Piece) }

// Reason is err's message without the piece of an address it quotes,
// if it is a PieceError.
func Reason(err error) string {
	if pe := (*PieceError)(nil); errors.As(err, &pe) {
		return pe.Reason
	}
	return err.Error()
}

// compGroups is the number of 16-bit groups an IPv6 address that
// netip parses gives beside its "::", an IPv4 address at its end counting
// two, or 0 if it has none: RFC 5321 section 4.1.3 allows at most 6
// (IPv6-comp, IPv6v4-comp), where RFC 4291, and netip, let "::" stand for
// one group ("1:2:3:4:5:6:7::").
func compGroups(a string) int {
	l, r, ok := strings.Cut(a, "::")
	if !ok {
		return 0
	}
	n := 0
	for _, f := range strings.Split(l+":"+r, ":") {
		switch {
		case strings.Contains(f, "."):
			n += 2
		case f != "":
			n++
		}
	}
	return n
}

// checkLiteral checks an RFC 5321 §4.1.3 address-literal.
func checkLiteral(d string) error {
	bad := &PieceError{"bad address literal", d}
	if len(d) < 3 || d[len(d)-1] != ']' {
		return bad
	}
	in := d[1 : len(d)-1]
	tag, rest, general := strings.Cut(in, ":")
	switch {
	case !general:
		a, err := netip.ParseAddr(in)
		if err != nil || !a.Is4() {
			return bad
		}
	case ascii.EqualFold(tag, "IPv6"):
		a, err := netip.ParseAddr(rest)
		if err != nil || !a.Is6() || a.Zone() != "" || compGroups(rest) > 6 {
			return bad
		}
	default:
		if checkDomain(tag) != nil || strings.ContainsRune(tag, '.') || rest == "" {
			return bad
		}
		// dcontent; ">" and '"' are refused too, though RFC 5321
		// allows them, so that the end of a path is the first ">"
		// outside quotes, and no quote begins in a domain: SplitPath
		// would read past the end of the path for it.
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; c < 33 || c > 126 || c == '[' || c == '\\' || c == ']' || c == '>' || c == '"' {
				return bad
			}
		}
	}
	return nil
}

// CheckParam returns nil if p is an RFC 5321 §4.1.2 esmtp-param
// (keyword ["=" value]), the value widened to UTF-8 by RFC 6531 §3.3, of
// the six a stream's paths carry, with a value as servers take it.
func CheckParam(p string) error {
	kw, val, hasVal := strings.Cut(p, "=")
	if kw == "" || kw[0] == '-' {
		return fmt.Errorf("bad ESMTP parameter %q", p)
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("bad ESMTP parameter %q", p)
		}
	}
	// The six a path of the stream carries (DESIGN.md rule 6): private
	// data goes in an attribute. SMTPUTF8 takes no value, and BODY one
	// of three (RFC 6152, RFC 3030).
	switch k := strings.ToUpper(kw); {
	case k == "SMTPUTF8" && hasVal:
		return fmt.Errorf("bad ESMTP parameter %q: SMTPUTF8 takes no value", p)
	case k == "BODY" && !ascii.EqualFold(val, "7BIT") && !ascii.EqualFold(val, "8BITMIME") && !ascii.EqualFold(val, "BINARYMIME"):
		return fmt.Errorf("bad ESMTP parameter %q: BODY is 7BIT, 8BITMIME or BINARYMIME", p)
	case !slices.Contains(streamParams, k):
		return fmt.Errorf("ESMTP parameter %q: not one of BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT (private data goes in an attribute)", p)
	}
	if !hasVal {
		if ascii.EqualFold(kw, "RET") || ascii.EqualFold(kw, "NOTIFY") || ascii.EqualFold(kw, "ENVID") || ascii.EqualFold(kw, "ORCPT") {
			// RFC 3461's parameters all have values.
			return fmt.Errorf("bad ESMTP parameter %q", p)
		}
		return nil
	}
	if val == "" || !utf8.ValidString(val) {
		return fmt.Errorf("bad ESMTP parameter %q", p)
	}
	for i := 0; i < len(val); i++ {
		if c := val[i]; c < 33 || c == '=' || c == 127 {
			return fmt.Errorf("bad ESMTP parameter %q", p)
		}
	}
	// RFC 3461's limits: ENVID 100 characters (section 4.4), ORCPT 500
	// (section 4.2), and ORCPT's for any other value, so that no
	// parameter makes a MAIL or RCPT line longer than servers read
	// (RFC 5321 section 4.5.3.1.4; Postfix's 2,048 octets), which would
	// drop the connection with every recipient of the transaction.
	if n := maxParamValue(kw); len(val) > n {
		return fmt.Errorf("ESMTP parameter %s: value longer than %d octets", kw, n)
	}
	// And the values RFC 3461 spells out whole (sections 4.1 and 4.3),
	// and its xtext of ENVID and ORCPT (an address type, ";" and xtext,
	// sections 4.2 and 4.4), which a server that offers DSN would
	// otherwise refuse, the recipient's or the sender's and every
	// recipient's for good (R88 F4).
	switch {
	case ascii.EqualFold(kw, "RET") && !ascii.EqualFold(val, "FULL") && !ascii.EqualFold(val, "HDRS"),
		ascii.EqualFold(kw, "NOTIFY") && !isNotify(val),
		ascii.EqualFold(kw, "ENVID") && !isXtext(val),
		ascii.EqualFold(kw, "ORCPT") && !isORCPT(val):
		return fmt.Errorf("bad ESMTP parameter %q", p)
	}
	return nil
}

// isORCPT reports whether v is an ORCPT value: an address type (an
// atom), ";" and xtext.
func isORCPT(v string) bool {
	typ, a, ok := strings.Cut(v, ";")
	return ok && typ != "" && strings.Trim(typ, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == "" && isXtext(a)
}

// streamParams are the keywords of the parameters a stream's paths may
// carry, in upper case.
var streamParams = []string{"BODY", "SMTPUTF8", "RET", "ENVID", "NOTIFY", "ORCPT"}

// isXtext reports whether v is RFC 3461 xtext, widened to UTF-8 as RFC
// 6533 widens it: non-empty, no "=", and each "+" a hexchar's, followed
// by two upper-case hexadecimal digits. (CheckParam has refused
// controls, space and bad UTF-8.)
func isXtext(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '=':
			return false
		case '+':
			if i+2 >= len(v) || !isUpperHex(v[i+1]) || !isUpperHex(v[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// maxParamValue is the longest value CheckParam takes for keyword kw.
func maxParamValue(kw string) int {
	if ascii.EqualFold(kw, "ENVID") {
		return 100
	}
	return 500
}

// isNotify reports whether v is a value of NOTIFY: NEVER, or SUCCESS,
// FAILURE and DELAY, each at most once, joined by commas (RFC 3461
// section 4.1), in any case.
func isNotify(v string) bool {
	if ascii.EqualFold(v, "NEVER") {
		return true
	}
	var seen [3]bool
	for w := range strings.SplitSeq(v, ",") {
		i := -1
		for j, n := range [...]string{"SUCCESS", "FAILURE", "DELAY"} {
			if ascii.EqualFold(w, n) {
				i = j
			}
		}
		if i < 0 || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// RepeatedParam returns the keyword of params, esmtp-params of one
// path, that comes more than once, in any case, or "": an extension
// defines each of its parameters once on a command (RFC 3461 section
// 4), and a server refuses a command that repeats one.
func RepeatedParam(params []string) string {
	if len(params) < 2 {
		return "" // (most paths: no search, no set)
	}
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		kw, _, _ := strings.Cut(p, "=")
		k := strings.ToUpper(kw)
		if seen[k] {
			return kw
		}
		seen[k] = true
	}
	return ""
}

// SplitPath splits s, which starts with an RFC 5321 path in angle brackets,
// into the mailbox between the brackets ("" for the null path "<>") and
// what follows the closing bracket. It finds the bracket with the
// local part's quoting in mind but does not check the mailbox.
func SplitPath(s string) (mailbox, rest string, err error) {
	if !strings.HasPrefix(s, "<") {
		return "", "", errors.New("path does not start with <")
	}
	// Mostly nothing is quoted: then the first ">" ends the path.
	if i := strings.IndexByte(s, '>'); i > 0 && strings.IndexByte(s[:i], '"') < 0 {
		return s[1:i], s[i+1:], nil
	}
	return splitQuoted(s)
}

// splitQuoted is SplitPath an octet at a time, minding quotes, for s
// that starts with "<".
func splitQuoted(s string) (mailbox, rest string, err error) {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '>':
			if !quoted {
				return s[1:i], s[i+1:], nil
			}
		}
	}
	return "", "", errors.New("path has no closing >")
}
