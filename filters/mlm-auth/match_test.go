package main

import (
	"path"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, a string
		want   bool
	}{
		{"*@spam.example", "spammer@spam.example", true},
		{"*@spam.example", "spam/mer@spam.example", true},
		{"*@spam.example", "a/b/c@spam.example", true},
		{"spam?mer@*", "spam/mer@spam.example", true},
		{"spam[/x]mer@*", "spam/mer@spam.example", true},
		{"spam[^a]mer@*", "spam/mer@spam.example", true},
		{"*@spam.example", "a@other.example", false},
		{"a*b*c@x", "aXbYbZc@x", true},
		{"a*b*c@x", "aXbYbZ@x", false},
		{"[a-c]*@x", "b/@x", true},
		{`\*@x`, "*@x", true},
		{`\*@x`, "a@x", false},
		{"[", "[", false},
		{"*[", "a/[", false},
		{"é?@x", "éü@x", true},
	} {
		if got := wellFormed(tc.pat) && match(tc.pat, tc.a); got != tc.want {
			t.Errorf("match(%q, %q) = %v; want %v", tc.pat, tc.a, got, tc.want)
		}
	}
}

// FuzzMatch: without a '/' in the address, match is path.Match; with
// one, and no class in the pattern (a class takes '/' in path.Match
// too, and may take the octet put for it here), it is path.Match on the
// address with the '/' made another octet the pattern does not name.
func FuzzMatch(f *testing.F) {
	f.Add("*@spam.example", "spammer@spam.example")
	f.Add("a*[b-d]?\\*x*", "aXc\xc3\xa9*xyz")
	f.Add("[^a-]", "b")
	f.Fuzz(func(t *testing.T, pat, a string) {
		want, err := path.Match(pat, a)
		if err != nil {
			want = false
		}
		if strings.Contains(a, "/") {
			if strings.ContainsAny(pat, "/[\x01") || strings.Contains(a, "\x01") {
				return
			}
			want, err = path.Match(pat, strings.ReplaceAll(a, "/", "\x01"))
			if err != nil {
				want = false
			}
		}
		if got := wellFormed(pat) && match(pat, a); got != want {
			t.Fatalf("match(%q, %q) = %v; want %v", pat, a, got, want)
		}
	})
}

// TestShellClasses: a class negated the shell's way, "[!...]", is
// negated as match reads one, "[^...]"; a "!" elsewhere, escaped, or
// inside a class stays as it is.
func TestShellClasses(t *testing.T) {
	for pat, want := range map[string]string{
		"[!a]*@x":    "[^a]*@x",
		"[!a][!b]@x": "[^a][^b]@x",
		`\[!a]@x`:    `\[!a]@x`,
		"[a[!]@x":    "[a[!]@x",
		`[\][!a]@x`:  `[\][!a]@x`, // one class: "]", "[", "!" and "a"
		"!a@x":       "!a@x",
		"[!":         "[^",
		"*@[!x].org": "*@[^x].org",
	} {
		if got := shellClasses(pat); got != want {
			t.Errorf("shellClasses(%q) = %q; want %q", pat, got, want)
		}
	}
}

// FuzzShellClasses: shellClasses changes only a "!" that opens a class,
// to "^", and nothing else, and what it gives it gives back unchanged.
func FuzzShellClasses(f *testing.F) {
	f.Add("[!a]*@x")
	f.Add(`[\][!a]@x`)
	f.Add("[a[!]@x[!b]")
	f.Fuzz(func(t *testing.T, pat string) {
		got := shellClasses(pat)
		if len(got) != len(pat) {
			t.Fatalf("shellClasses(%q) = %q: another length", pat, got)
		}
		for i := range len(pat) {
			if got[i] != pat[i] && (pat[i] != '!' || got[i] != '^' || i == 0 || pat[i-1] != '[') {
				t.Fatalf("shellClasses(%q) = %q: octet %d changed", pat, got, i)
			}
		}
		if again := shellClasses(got); again != got {
			t.Fatalf("shellClasses(%q) = %q, then %q", pat, got, again)
		}
	})
}
