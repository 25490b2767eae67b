package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLastLine: whatever a stage writes on standard error, in whatever
// pieces, mlm-run passes it on as it is, and the reason it keeps for
// bad/ID.err is the stage's last line that is not empty (an unended one
// too), of a longer one its first maxReason octets or up to 3 fewer,
// no UTF-8 character cut in two.
func FuzzLastLine(f *testing.F) {
	f.Add([]byte("mlm-auth: warming up\nmlm-auth: 5.7.1 not a member\n"), 10)
	f.Add([]byte("one\n\n\n"), 0)
	f.Add([]byte("no end"), 3)
	f.Add(append(bytes.Repeat([]byte("x"), maxReason-1), "\u20ac\u20ac\n"...), maxReason)
	f.Add(append(bytes.Repeat([]byte("x"), maxReason-1), "\xe2\x82y\n"...), 7)
	f.Fuzz(func(t *testing.T, p []byte, at int) {
		var out bytes.Buffer
		l := &lastLine{w: &out}
		at = min(max(at, 0), len(p))
		for _, piece := range [][]byte{p[:at], p[at:]} {
			if n, err := l.Write(piece); n != len(piece) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if !bytes.Equal(out.Bytes(), p) {
			t.Fatalf("passed on %q; want %q", out.Bytes(), p)
		}
		want := ""
		for line := range strings.SplitSeq(string(p), "\n") {
			if line != "" {
				want = line
			}
		}
		got := l.String()
		switch {
		case len(want) <= maxReason && got != want:
			t.Errorf("lastLine(%q) = %q; want %q", p, got, want)
		case !strings.HasPrefix(want, got) || len(want) > maxReason && len(got) < maxReason-utf8.UTFMax+1:
			t.Errorf("lastLine(%q) = %q; want the first %d octets or up to 3 fewer of %q", p, got, maxReason, want)
		case splits(want, len(got)):
			t.Errorf("lastLine(%q) = %q: a character of %q cut in two", p, got, want)
		}
	})
}

// splits reports whether a cut of s at n cuts a UTF-8 character in two.
func splits(s string, n int) bool {
	for i := max(n-utf8.UTFMax+1, 0); i < n; i++ {
		if r, size := utf8.DecodeRuneInString(s[i:]); utf8.RuneStart(s[i]) && !(r == utf8.RuneError && size == 1) && i+size > n {
			return true
		}
	}
	return false
}
