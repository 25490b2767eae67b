package ascii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEqualFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"List-Id", "list-id", true},
		{"LIST-ID", "List-Id", true},
		{"List-Id", "List-Idx", false},
		{"Liſt-Id", "List-Id", false},  // U+017F folds to s in Unicode
		{"\u212Aey", "key", false},     // KELVIN SIGN folds to k
		{"\u212Aey", "\u212AEY", true}, // the same octets outside ASCII
		{"Äpfel", "äpfel", false},      // no fold outside ASCII
		{"[", "{", false},              // 0x5B and 0x7B differ by 0x20
		{"@", "`", false},
		{"zone", "ZONE", true}, // 'A' and 'Z', the ends of the range,
		{"ZONE", "zone", true}, // on either side
		{"AZ", "az", true},
		{"az", "AZ", true},
	} {
		if got := EqualFold(c.a, c.b); got != c.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestLower(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"list-id":                 "list-id",
		"<Dev.Lists.Example.ORG>": "<dev.lists.example.org>",
		"\u212ADE":                "\u212Ade",
		"ÄB":                      "Äb",
		"Z[@`":                    "z[@`",
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEqualFold checks EqualFold against Lower and, for ASCII, against
// the strings package.
func FuzzEqualFold(f *testing.F) {
	f.Add("List-Id", "list-ID")
	f.Add("Liſt-Id", "List-Id")
	f.Fuzz(func(t *testing.T, a, b string) {
		got := EqualFold(a, b)
		if want := Lower(a) == Lower(b); got != want {
			t.Fatalf("EqualFold(%q, %q) = %v, Lower says %v", a, b, got, want)
		}
		if Is(a) && Is(b) && got != strings.EqualFold(a, b) {
			t.Fatalf("EqualFold(%q, %q) = %v, strings.EqualFold says otherwise", a, b, got)
		}
		if got && !strings.EqualFold(a, b) && utf8.ValidString(a) && utf8.ValidString(b) {
			t.Fatalf("EqualFold(%q, %q) is true, strings.EqualFold false", a, b)
		}
		if l := Lower(a); len(l) != len(a) || Lower(l) != l || !EqualFold(l, a) {
			t.Fatalf("Lower(%q) = %q", a, l)
		}
	})
}

// TestIs: an octet of 0x80 or above anywhere, the last too, is not
// ASCII.
func TestIs(t *testing.T) {
	for s, want := range map[string]bool{"": true, "abc\x7f": true, "\x80": false, "ab\xc3\xa4": false, "a\xffb": false} {
		if Is(s) != want {
			t.Errorf("Is(%q) = %v", s, !want)
		}
	}
}

// TestPlain: letters, digits and the octets given, one or more; nothing
// else, not an empty string, not a letter outside ASCII.
func TestPlain(t *testing.T) {
	for _, c := range []struct {
		s, punct string
		want     bool
	}{
		{"dev", "", true}, {"Dev-2.x_y", "._-", true}, {"", "._-", false},
		{"dev list", "._-", false}, {"dev+x", "._-", false}, {"dév", "._-", false},
		{"a\x00", "._-", false}, {"-", "-", true}, {"a/b", "._-", false},
	} {
		if got := Plain(c.s, c.punct); got != c.want {
			t.Errorf("Plain(%q, %q) = %v", c.s, c.punct, got)
		}
	}
	for c := 0; c < 256; c++ {
		want := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if IsAlnum(byte(c)) != want {
			t.Errorf("IsAlnum(%#x) = %v", c, !want)
		}
	}
}

func TestDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "010": true, "+5": true, "-1": true, "2.5": true, ".5": true, "5.": true, "1e3": true, "1E-3": true, "2.5e+10": true,
		"": false, "+": false, ".": false, "e3": false, "1e": false, "1e+": false, "0x10": false, "0x1p4": false,
		"1_0": false, "Inf": false, "NaN": false, "infinity": false, " 1": false, "1 ": false, "1.2.3": false, "١": false,
	} {
		if got := Decimal(s); got != want {
			t.Errorf("Decimal(%q) = %v; want %v", s, got, want)
		}
	}
}

// TestParseDecimal: a decimal number a float64 holds; not one too large
// for it, nor one too small but as 0 that is written with a digit other
// than 0 (a rate of 1e-400 was no limit: a review).
func TestParseDecimal(t *testing.T) {
	for s, want := range map[string]float64{
		"0": 0, "0.000": 0, "0e-400": 0, "-0": 0, "000e999": 0, "2.5": 2.5, "1e-300": 1e-300, "4e-324": 5e-324, "1E3": 1000,
	} {
		if got, ok := ParseDecimal(s); !ok || got != want {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"1e-400", "0.001e-400", "2e-324", "1E-999", "1e400", "-1e400", "0x10", "Inf", "NaN", "1_0", ""} {
		if got, ok := ParseDecimal(s); ok {
			t.Errorf("ParseDecimal(%q) = %v; want refused", s, got)
		}
	}
}

// TestDigits: one or more ASCII digits and nothing else; not a sign,
// which strconv.Atoi takes, nor a space, "_", a point or a digit of
// another script.
func TestDigits(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "0123456789": true, "600000": true,
		"": false, "+1": false, "-1": false, " 1": false, "1 ": false,
		"1_000": false, "1.0": false, "1e3": false, "١": false, "12a": false,
	} {
		if got := Digits(s); got != want {
			t.Errorf("Digits(%q) = %v; want %v", s, got, want)
		}
	}
}
