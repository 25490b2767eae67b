// Package ascii compares and lowers the tokens of mail's protocols, field
// names, local parts, domains and keywords, in ASCII's case alone. It is
// part of mlm's internals, not a public API.
//
// The strings package folds Unicode's case: strings.EqualFold finds
// "dev@liſts.example.org" (U+017F LATIN SMALL LETTER LONG S) the same as
// "dev@lists.example.org", and strings.ToLower makes "\u212Ade" (KELVIN
// SIGN) "kde". Neither is the same address or name to an MTA or a mail
// reader, and so not to mlm either.
package ascii

import (
	"strconv"
	"strings"
)

// EqualFold reports whether a and b are the same but for the case of
// ASCII letters. An octet outside ASCII matches only itself.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c, d := a[i], b[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// Lower returns s with its ASCII letters in lower case and every other
// octet as it is; s itself if it has no upper-case ASCII letter.
func Lower(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// Is reports whether s is all ASCII: no octet of 0x80 or above.
func Is(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Plain reports whether s is one octet or more, each an ASCII letter, an
// ASCII digit or one of the octets of punct: the names and paths that go
// unquoted into MTA files and shell lines.
func Plain(s, punct string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsAlnum(s[i]) && strings.IndexByte(punct, s[i]) < 0 {
			return false
		}
	}
	return true
}

// IsAlnum reports whether c is an ASCII letter or digit.
func IsAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Digits reports whether s is one or more ASCII decimal digits, and
// nothing else: no sign, which strconv.Atoi takes, no space, no "_".
func Digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Decimal reports whether s is a decimal number as a person writes one:
// a sign if any, digits, a fraction after a point and an exponent (e or
// E, a sign if any, digits) if any, with a digit before or after the
// point. Not Go's literals, which strconv.ParseFloat also reads: no
// hexadecimal, no "_" between digits, no Inf or NaN.
func Decimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - j
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// ParseDecimal parses s, a decimal number (Decimal), and reports whether
// it is one a float64 holds: not one too large for it, nor one too small
// but as 0 with a digit other than 0 before its exponent ("1e-400"),
// where 0 is another number than the one written (of a rate, no limit
// where a limit was asked for).
func ParseDecimal(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !Decimal(s) {
		return 0, false
	}
	if m, _, _ := strings.Cut(Lower(s), "e"); v == 0 && strings.ContainsAny(m, "123456789") {
		return 0, false
	}
	return v, true
}
