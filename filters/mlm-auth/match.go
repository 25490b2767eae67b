package main

import (
	"path"
	"strings"
	"unicode/utf8"
)

// wellFormed reports whether pat is a pattern path.Match takes.
func wellFormed(pat string) bool {
	_, err := path.Match(pat, "")
	return err == nil
}

// shellClasses returns pat with each class the shell's way negated,
// "[!...]", negated by "^" as path.Match and match take it: in the
// shell's case, as in POSIX's, "[!a]" is any character but "a", where
// path.Match reads a class of "!" and "a". The rest is as it was: a
// class ends at the first "]" not escaped after it, as path.Match reads
// one.
func shellClasses(pat string) string {
	if !strings.Contains(pat, "[!") {
		return pat
	}
	b := []byte(pat)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '[':
			if i+1 < len(b) && b[i+1] == '!' {
				b[i+1] = '^'
			}
			for i++; i < len(b) && b[i] != ']'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return string(b)
}

// match reports whether the address a matches the shell pattern pat of
// allow or deny, which must be well formed: as path.Match, but '/' is no
// separator in an address (a local part may hold it), so '*', '?' and a
// class match it as any other character, as a shell's case does.
func match(pat, a string) bool {
	// One item of the pattern at a time; at a mismatch, the last star
	// takes one octet more and the items after it are tried again.
	p, n := 0, 0
	star, starN := -1, 0
	for p < len(pat) || n < len(a) {
		if p < len(pat) && pat[p] == '*' {
			p++
			star, starN = p, n
			continue
		}
		if p < len(pat) && n < len(a) {
			if pw, nw, ok := matchOne(pat[p:], a[n:]); ok {
				p, n = p+pw, n+nw
				continue
			}
		}
		if star < 0 || starN == len(a) {
			return false
		}
		starN++
		p, n = star, starN
	}
	return true
}

// matchOne matches the first item of a valid pattern pat, not a star (a
// character, maybe escaped, '?' or a class), against the start of s,
// which is not empty, and returns the octets each took.
func matchOne(pat, s string) (pw, sw int, ok bool) {
	switch pat[0] {
	case '?':
		_, sw = utf8.DecodeRuneInString(s)
		return 1, sw, true
	case '[':
		r, sw := utf8.DecodeRuneInString(s)
		i, negated, in := 1, false, false
		if pat[i] == '^' {
			negated, i = true, i+1
		}
		for first := true; first || pat[i] != ']'; first = false {
			var lo, hi rune
			lo, i = patRune(pat, i)
			hi = lo
			if pat[i] == '-' {
				hi, i = patRune(pat, i+1)
			}
			in = in || lo <= r && r <= hi
		}
		return i + 1, sw, in != negated
	case '\\':
		return 2, 1, pat[1] == s[0]
	}
	return 1, 1, pat[0] == s[0]
}

// patRune returns the character of a class at pat[i], maybe escaped, and
// the index past it.
func patRune(pat string, i int) (rune, int) {
	if pat[i] == '\\' {
		i++
	}
	r, w := utf8.DecodeRuneInString(pat[i:])
	return r, i + w
}
