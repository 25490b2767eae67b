package addr

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unsafe"

	"mlm/lib/ascii"
)

func TestCheckMailbox(t *testing.T) {
	good := []string{
		"bob@example.net", "a.b-c+d@x.y", `"dave smith"@example.org`, `"a\"b"@x`,
		"user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "user@[x-tag:abc]",
		// At most 6 groups beside "::", an IPv4 address two (RFC 5321
		// section 4.1.3), and 8 without it.
		"a@[IPv6:1:2:3:4:5:6::]", "a@[IPv6:::1:2:3:4:5:6]", "a@[IPv6:1:2:3::4:5:6]", "a@[IPv6:1:2:3:4::192.0.2.1]",
		"a@[IPv6:::ffff:192.0.2.1]", "a@[IPv6:1:2:3:4:5:6:7:8]", "a@[IPv6:::]",
		"δοκιμή@παράδειγμα.δοκιμή", "a@b", "!#$%&'*+-/=?^_`{|}~@x.org",
		"a@bücher.example", "a@例え.テスト", "a@नमस्ते.भारत", "a@١٢٣.مثال", "a@ñ-1.es",
		// IDNA2008 allows these in context (RFC 5892 appendix A)
		// or outright: the middle dot of Catalan, ZWNJ (Persian),
		// ZWJ after a virama, the Greek keraia, the Hebrew geresh,
		// the katakana middle dot, U+3007, the Tibetan tsheg.
		"a@col\u00b7legi.cat", "a@\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.ir", "a@\u0915\u094d\u200d\u0937.in",
		"a@\u0375\u03b1\u03b2.gr", "a@\u05d0\u05f3\u05d1.il", "a@\u30a2\u30fb\u30a4.jp", "a@\u3007\u3007.jp", "a@\u0f40\u0f0b\u0f41.bt",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".org",
	}
	for _, s := range good {
		if err := CheckMailbox(s); err != nil {
			t.Errorf("CheckMailbox(%q) = %v; want nil", s, err)
		}
	}
	bad := []string{
		"", "bob", "@x", "bob@", "a..b@x", ".a@x", "a.@x", "a b@x", "a@b c", "a@-b", "a@b-",
		"a@b..c", "a@[1.2.3]", "a@[IPv6:1.2.3.4]", "a@[1.2.3.4", `"a@x`, "a\n@x", "a@x\r",
		// Not U-labels, and harmful: spaces, separators, controls,
		// format characters but the joiners, a full stop that is not
		// ".", what is left of octets that were not UTF-8.
		"a@exa\u00a0mple.org", "a@ex\u3000ample.org", "a@x\u0085y.org", "a@x\u200by.org", "a@x\u202ey.org",
		"a@x\u2028.org", "a@b\u3002org", "a@b\uff0eorg", "a@b\uff61org", "a@caf\xe9.org", "a@\ufffd.org",

		"a@x\x00", "a\xff@x", "<a@x>", "a@x>", "a@b@c", "@a:b@c", "Postmaster",
		"a@" + strings.Repeat("b", 64) + ".org", "a@" + strings.Repeat("b.", 128) + "c",
		strings.Repeat("a", 250) + "@x.org",
		// A quoted pair of a control octet or DEL: an LF in a path
		// would end the line a Writer writes it on.
		"\"a\\\nR <evil@x.example>\"@x", "\"a\\\x00\"@x", "\"a\\\r\"@x", "\"a\\\x7f\"@x",
		// A ">" or quote in a general address literal: the path would
		// end, or a quote begin, inside the domain.
		"a@[x-tag:a>b]", "a@[x-tag:a\"b]",
		// A zone is no part of an IPv6 address literal (RFC 5321
		// §4.1.3): it names an interface of the host that reads it.
		"a@[IPv6:fe80::1%eth0]",
		// "::" for one group, which RFC 4291 allows and RFC 5321 does
		// not (a review)
		"a@[IPv6:1:2:3:4:5:6:7::]", "a@[IPv6:1::3:4:5:6:7:8]", "a@[IPv6:::2:3:4:5:6:7:8]", "a@[IPv6:1:2:3:4:5::192.0.2.1]",
		// DEL in quotes: no qtextSMTP (RFC 5321 §4.1.2), and a
		// control octet the next Reader refuses on an envelope line.
		"\"a\x7fb\"@x",
	}
	for _, s := range bad {
		if err := CheckMailbox(s); err == nil {
			t.Errorf("CheckMailbox(%q) = nil; want error", s)
		}
	}
}

// TestCheckMember: a member's local part holds none of what harmful
// says (in quotes, but for a space), where a sender's may hold any UTF-8
// (RFC 6531).
func TestCheckMember(t *testing.T) {
	for _, s := range []string{"bob@example.net", "δοκιμή@παράδειγμα.δοκιμή", "\u0645\u06cc\u200c\u062e@example.ir", "\"ali\u00a0ce\"@example.org"} {
		if err := CheckMember(s); err != nil {
			t.Errorf("CheckMember(%+q) = %v; want nil", s, err)
		}
	}
	// A byte-order mark where two member files were joined, a space, a
	// separator, a control (CSI), a format character.
	for _, s := range []string{"\ufeffalice@example.org", "ali\u00a0ce@example.org", "a\u2028b@example.org", "a\u009b31m@example.org", "a\u202eb@example.org", "a@exa\u00a0mple.org", "bob",
		// In quotes too, but for a space: a terminal's command, a
		// right-to-left override, a separator.
		"\"a\u009b2J\"@example.org", "\"\u202egro.elpmaxe\"@evil.example", "\"a\u2028b\"@example.org", "\"\ufeffa\"@example.org"} {
		if err := CheckMember(s); err == nil {
			t.Errorf("CheckMember(%+q) = nil; want an error", s)
		} else if CheckMailbox(s) == nil && !strings.HasPrefix(err.Error(), "bad local part") {
			t.Errorf("CheckMember(%+q) = %v; want bad local part", s, err)
		}
	}
}

func TestCheckParam(t *testing.T) {
	for _, p := range []string{"BODY=8BITMIME", "SMTPUTF8", "NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;a+40b@c", "ENVID=ü",
		// RFC 3461's longest values, and its NOTIFY and RET in any case
		"ENVID=" + strings.Repeat("e", 100), "ORCPT=rfc822;" + strings.Repeat("x", 493),
		"NOTIFY=never", "NOTIFY=delay,Success,FAILURE", "RET=hdrs", "RET=FULL"} {
		if err := CheckParam(p); err != nil {
			t.Errorf("CheckParam(%q) = %v; want nil", p, err)
		}
	}
	for _, p := range []string{"", "=x", "-A", "A=", "A=b c", "A=b=c", "A\r", "A=\x7f", "Ä=1",
		"ENVID=" + strings.Repeat("e", 101), "envid=" + strings.Repeat("e", 101), "ORCPT=rfc822;" + strings.Repeat("x", 494),
		"X=" + strings.Repeat("x", 501), "NOTIFY=" + strings.Repeat("FAILURE,", 63) + "DELAY", "NOTIFY=FAILURE,FAILURE",
		"NOTIFY=NEVER,DELAY", "NOTIFY=", "NOTIFY", "NOTIFY=SUCCESS,", "RET=ALL", "RET"} {
		if err := CheckParam(p); err == nil {
			t.Errorf("CheckParam(%q) = nil; want error", p)
		}
	}
	for params, want := range map[string]string{"": "", "NOTIFY=NEVER ORCPT=rfc822;a@b": "", "SMTPUTF8 BODY=8BITMIME smtputf8": "smtputf8",
		"ORCPT=rfc822;a@b NOTIFY=NEVER ORCPT=rfc822;c@d": "ORCPT",
		"A B C D E F G H I J K L M N O P Q R S T U V v":  "v", "A B C D E F G H I J K L M N O P Q R S T U V=1": ""} {
		if got := RepeatedParam(strings.Fields(params)); got != want {
			t.Errorf("RepeatedParam(%q) = %q; want %q", params, got, want)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct{ in, mbox, rest string }{
		{"<>", "", ""},
		{"<a@b> X=1", "a@b", " X=1"},
		{`<"x>y"@b>`, `"x>y"@b`, ""},
		{`<"x\">y"@b> Z`, `"x\">y"@b`, " Z"},
	}
	for _, tc := range tests {
		m, r, err := SplitPath(tc.in)
		if err != nil || m != tc.mbox || r != tc.rest {
			t.Errorf("SplitPath(%q) = %q, %q, %v; want %q, %q", tc.in, m, r, err, tc.mbox, tc.rest)
		}
	}
	for _, s := range []string{"", "a@b", "<a@b", `<"a@b>`} {
		if _, _, err := SplitPath(s); err == nil {
			t.Errorf("SplitPath(%q): want error", s)
		}
	}
}

func FuzzCheckMailbox(f *testing.F) {
	for _, s := range []string{"bob@example.net", `"a b"@x`, "a@[IPv6:::1]", "ü@ü.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckMailbox(s) != nil {
			if CheckMember(s) == nil {
				t.Fatalf("CheckMember(%q) took what CheckMailbox refuses", s)
			}
			return
		}
		// A valid mailbox never holds a control octet, and its path
		// splits back to itself.
		for i := 0; i < len(s); i++ {
			if s[i] < 32 || s[i] == 127 {
				t.Fatalf("CheckMailbox(%q) accepted a control octet", s)
			}
		}
		m, rest, err := SplitPath("<" + s + "> X")
		if err != nil || m != s || rest != " X" {
			t.Fatalf("SplitPath(<%q> X) = %q, %q, %v", s, m, rest, err)
		}
	})
}

// TestPlain: Plain takes mailboxes of ASCII atoms and labels and no
// others, and only what CheckMailbox takes (FuzzPlain).
func TestPlain(t *testing.T) {
	long := strings.Repeat("a", 63)
	for s, want := range map[string]bool{
		"bob@example.net": true, "a.b-c+d@x-1.example": true, "!#$%&'*+-/=?^_`{|}~@x": true, "a@b": true,
		long + "@" + long + "." + long: true, strings.Repeat("a", 250) + "@b.c": true,
		"": false, "@x": false, "a@": false, ".a@x": false, "a.@x": false, "a..b@x": false, "a@.x": false,
		"a@x.": false, "a@x..y": false, "a@-x": false, "a@x-": false, "a@" + long + "a": false,
		"a@x_y": false, "a b@x": false, "a>@x": false, "a@x>": false, `"a"@x`: false, "a@[1.2.3.4]": false,
		"ü@x": false, "a@ü.de": false, "a@x\r": false, "a@b@c": false,
		strings.Repeat("a", 251) + "@b.c": false, // longer than a path
	} {
		if got := Plain(s); got != want {
			t.Errorf("Plain(%q) = %v, want %v", s, got, want)
		}
		checkPlain(t, s)
	}
}

// FuzzPlain: what Plain takes, CheckMailbox takes, had it not asked
// Plain first (checkMailbox).
func FuzzPlain(f *testing.F) {
	for _, s := range []string{"bob@example.net", "a..b@x", "a@x-", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(checkPlain)
}

func checkPlain(t *testing.T, s string) {
	if Plain(s) {
		if err := checkMailbox(s); err != nil {
			t.Fatalf("Plain(%q), but checkMailbox: %v", s, err)
		}
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"Bob@Example.NET": "bob@example.net",
		`"A B"@X.org`:     `"a b"@x.org`,
		"ÄRZTE@x.de":      "ärzte@x.de", // a local part in lower case, as Lower has it
		"bob@example.net": "bob@example.net",
		"a@b@C":           "a@b@c",
		"ü@Ü.de":          "ü@ü.de",
		// A domain is what IDNA's lookup mapping makes of it, where
		// mail to it goes: not a local part.
		"b@\u212Aexample.com":                              "b@kexample.com", // KELVIN SIGN
		"\u212A@\u212Aexample.com":                         "\u212A@kexample.com",
		"b@\u0130x.org":                                    "b@i\u0307x.org",     // İ: i and a dot above, not ix.org
		"b@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org": "b@example.org",      // fullwidth
		"b@\ufb01le.org":                                   "b@file.org",         // the ligature fi
		"b@\u2460.org":                                     "b@1.org",            // a circled digit
		"b@bu\u0308cher.example":                           "b@bücher.example",   // decomposed
		"b@stra\u00dfe.de":                                 "b@stra\u00dfe.de",   // not transitional: not strasse.de
		"b@a\u200db.example":                               "b@a\u200db.example", // IDNA refuses it: as it is
		`"bob"@Example.org`:                                "bob@example.org",    // quotes that add nothing
		`"b\ob.x"@x.org`:                                   "bob.x@x.org",
		`"ü"@x.org`:                                        "ü@x.org",
		`"a..b"@x.org`:                                     `"a..b"@x.org`, // not a Dot-string without them
		`"a@b"@x.org`:                                      `"a@b"@x.org`,
		`"\""@x.org`:                                       `"\""@x.org`,
		`""@x.org`:                                         `""@x.org`,
		`"a\\b"@x.org`:                                     `"a\\b"@x.org`,
		`"a\ b"@X.org`:                                     `"a b"@x.org`, // a pair that adds nothing
		`"a\"\b"@x.org`:                                    `"a\"b"@x.org`,
		// A-labels are keyed as their U-labels (RFC 5890), when IDNA
		// made them: not one that decodes to ASCII, to a harmful or an
		// upper-case character, or is not the one encoding of it.
		"bob@xn--bcher-kva.example":       "bob@bücher.example",
		"bob@XN--BCHER-KVA.Example":       "bob@bücher.example",
		"bob@mail.xn--bcher-kva.xn--p1ai": "bob@mail.bücher.рф",
		`"bob"@xn--bcher-kva.example`:     "bob@bücher.example",
		"bob@xn--abc-.example":            "bob@xn--abc-.example",    // ASCII only
		"bob@xn--zz-zzzz.example":         "bob@xn--zz-zzzz.example", // not IDNA's
		"bob@xn--.example":                "bob@xn--.example",
		"bob@xn--bcher-kva-.example":      "bob@xn--bcher-kva-.example",
		"bob@xn--x-qgn.example":           "bob@xn--x-qgn.example",     // a harmful character
		"bob@xn--bcher-2pa.example":       "bob@xn--bcher-2pa.example", // upper case
		// nor one of characters IDNA maps to others: KELVIN SIGN,
		// fullwidth, decomposed (a key of such a key mapped again)
		"bob@xn--example-lv8c.org":   "bob@xn--example-lv8c.org",
		"bob@xn--qi7cjb.org":         "bob@xn--qi7cjb.org",
		"bob@xn--bucher-xyd.example": "bob@xn--bucher-xyd.example",
		"bob@xn--bcher-kva.example.": "bob@bücher.example.",
		"bob@axn--bcher-kva.example": "bob@axn--bcher-kva.example",
		// An IPv6 address literal as RFC 5952 writes it.
		"a@[IPv6:2001:DB8:0:0::1]":         "a@[ipv6:2001:db8::1]",
		"a@[IPv6:0:0:0:0:0:0:0:1]":         "a@[ipv6:::1]",
		"a@[ipv6:::1]":                     "a@[ipv6:::1]",
		"a@[IPv6:::FFFF:192.0.2.1]":        "a@[ipv6:::ffff:192.0.2.1]",
		"a@[IPv6:0:0:0:0:0:ffff:c000:201]": "a@[ipv6:::ffff:192.0.2.1]",
		"a@[IPv6:fe80::1%eth0]":            "a@[ipv6:fe80::1%eth0]", // no literal: as it is
		"a@[192.0.2.1]":                    "a@[192.0.2.1]",
		"a@[X-Tag:ABC]":                    "a@[x-tag:abc]",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{`"eve"@[IPv6:2001:db8:0:0::1]`: "eve@[IPv6:2001:db8:0:0::1]", "Bob@Example.NET": "Bob@Example.NET",
		`"a\ b"@X`: `"a b"@X`, `"a b"@X`: `"a b"@X`, "x": "x"} {
		if got := LocalKey(in); got != want {
			t.Errorf("LocalKey(%q) = %q; want %q", in, got, want)
		}
	}
	if Domain("a@EXAMPLE.org") != "example.org" || Domain("a@Xn--Bcher-Kva.Example") != "bücher.example" {
		t.Errorf("Domain")
	}
}

func TestKeySet(t *testing.T) {
	s := NewKeySet()
	for i := 0; i < 100_000; i++ {
		if !s.Add(strconv.Itoa(i)) {
			t.Fatalf("Add(%d): new key taken as seen", i)
		}
	}
	for i := 0; i < 100_000; i += 7 {
		if s.Add(strconv.Itoa(i)) {
			t.Fatalf("Add(%d) again: taken as new", i)
		}
	}
	for i := 0; i < 200_000; i += 13 {
		if got := s.Has(strconv.Itoa(i)); got != (i < 100_000) {
			t.Fatalf("Has(%d) = %v", i, got)
		}
	}
	s.Reset()
	if s.Has("1") || !s.Add("1") {
		t.Errorf("after Reset: 1 still there")
	}
	// Reset empties the set whatever it held: a few keys (their slots
	// alone cleared), more than it keeps track of, and enough to grow.
	for _, n := range []int{1, 2, maxUsed - 1, maxUsed, maxUsed + 1, 700, 5000} {
		s = NewKeySet()
		for round := range 3 {
			for i := range n {
				if !s.Add(fmt.Sprint(round, i)) {
					t.Fatalf("%d keys, round %d: key %d taken as seen", n, round, i)
				}
			}
			s.Reset()
			for i := range n {
				if s.Has(fmt.Sprint(round, i)) {
					t.Fatalf("%d keys, round %d: key %d still there after Reset", n, round, i)
				}
			}
			if slices.ContainsFunc(s.slots, func(h uint64) bool { return h != 0 }) {
				t.Fatalf("%d keys, round %d: slots left filled after Reset", n, round)
			}
		}
	}
}

// TestKeySetAddAll checks AddAll against Add one key at a time: the same
// answers, duplicates within one call and across calls, through the
// table's growth, and a Reset after each round that leaves no slot
// filled, also when AddAll made an empty set grow (its slots moved: a
// Reset that cleared only those it had noted would leave keys behind).
func TestKeySetAddAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, size := range []int{1, 3, maxUsed, 700, 2000} {
		all, one := NewKeySet(), NewKeySet()
		for round := range 3 {
			var keys []string
			for range 3000 {
				keys = append(keys, fmt.Sprint(round, "-", rng.IntN(2500)))
			}
			for len(keys) > 0 {
				part := keys[:min(len(keys), 1+rng.IntN(size))]
				keys = keys[len(part):]
				fresh := make([]bool, len(part))
				all.AddAll(part, fresh)
				for i, k := range part {
					if want := one.Add(k); fresh[i] != want {
						t.Fatalf("batches of up to %d, round %d: AddAll said %q new: %v; Add: %v", size, round, k, fresh[i], want)
					}
				}
			}
			if all.n != one.n {
				t.Fatalf("batches of up to %d, round %d: %d keys; Add one at a time: %d", size, round, all.n, one.n)
			}
			all.Reset()
			one.Reset()
			if slices.ContainsFunc(all.slots, func(h uint64) bool { return h != 0 }) {
				t.Fatalf("batches of up to %d, round %d: slots left filled after Reset", size, round)
			}
		}
	}
	// A few keys, then a call large enough to grow the table that adds
	// none: the slots of the few have moved, and Reset must find them.
	s := NewKeySet()
	for i := range 10 {
		s.Add(strconv.Itoa(i))
	}
	s.AddAll(slices.Repeat([]string{"3"}, 1000), make([]bool, 1000))
	s.Reset()
	if slices.ContainsFunc(s.slots, func(h uint64) bool { return h != 0 }) {
		t.Fatal("grown by AddAll: slots left filled after Reset")
	}
}

// TestKeySetGrow: after Grow(n) the table takes n more keys without
// growing, and is no larger than it must be; the keys in it before stay,
// the answers are those of a set that grew key by key, and Reset
// empties it.
func TestKeySetGrow(t *testing.T) {
	for _, before := range []int{0, 5, maxUsed + 1, 3000} {
		for _, n := range []int{0, 1, 600, 1000, 100_000} {
			s, plain := NewKeySet(), NewKeySet()
			for i := range before {
				s.Add(fmt.Sprint("b", i))
				plain.Add(fmt.Sprint("b", i))
			}
			s.Grow(n)
			size := len(s.slots)
			if (before+n)*3 >= size*2 || (size > 1024 && (before+n)*3 < size) {
				t.Fatalf("%d keys, Grow(%d): %d slots", before, n, size)
			}
			for i := range n {
				k := fmt.Sprint("k", i%(n/2+1), "b", i%7) // repeats too
				if got, want := s.Add(k), plain.Add(k); got != want {
					t.Fatalf("%d keys, Grow(%d): Add(%q) = %v; key by key: %v", before, n, k, got, want)
				}
			}
			if len(s.slots) != size || s.n != plain.n {
				t.Fatalf("%d keys, Grow(%d): %d slots after, %d before; %d keys, key by key %d", before, n, len(s.slots), size, s.n, plain.n)
			}
			for i := range before {
				if !s.Has(fmt.Sprint("b", i)) {
					t.Fatalf("%d keys, Grow(%d): key %d lost", before, n, i)
				}
			}
			s.Reset()
			if s.n != 0 || slices.ContainsFunc(s.slots, func(h uint64) bool { return h != 0 }) {
				t.Fatalf("%d keys, Grow(%d): slots left filled after Reset", before, n)
			}
		}
	}
	// A count past growMax makes room for growMax alone.
	s := NewKeySet()
	s.Grow(1 << 40)
	if len(s.slots) != 4<<20 {
		t.Errorf("Grow(1<<40): %d slots; want %d", len(s.slots), 4<<20)
	}
}

// TestKeySetSpare: a large table Reset let go is used again, cleared, by
// the next Grow to its size, as for each record of a stream to one large
// list; the keys of the record before are gone, those added before the
// Grow stay, and a Grow to another size makes a table of its own.
func TestKeySetSpare(t *testing.T) {
	const n = 100_000
	s := NewKeySet()
	var first *uint64 // the table's first slot
	for round := range 3 {
		s.Add(fmt.Sprint("own", round)) // the record's own recipients, before Grow
		s.Grow(n)
		if round > 0 && &s.slots[0] != first {
			t.Fatalf("round %d: Grow(%d) made a new table; want the one Reset let go", round, n)
		}
		if round == 0 {
			first = &s.slots[0]
		}
		for i := range n {
			if !s.Add(fmt.Sprint(round, "-", i)) {
				t.Fatalf("round %d: key %d taken as seen", round, i)
			}
		}
		if !s.Has(fmt.Sprint("own", round)) {
			t.Fatalf("round %d: a key added before Grow lost", round)
		}
		if round > 0 && (s.Has(fmt.Sprint(round-1, "-", 5)) || s.Has(fmt.Sprint("own", round-1))) {
			t.Fatalf("round %d: a key of the round before still there", round)
		}
		if s.n != n+1 {
			t.Fatalf("round %d: %d keys; want %d", round, s.n, n+1)
		}
		s.Reset()
		if s.n != 0 || len(s.slots) != 1024 || len(s.spare) == 0 {
			t.Fatalf("round %d: after Reset %d keys, %d slots, spare of %d", round, s.n, len(s.slots), len(s.spare))
		}
	}
	// Another size: a table of its own; the spare stays for its size.
	spare := len(s.spare)
	s.Grow(4 * n)
	if len(s.slots) == spare || len(s.spare) != spare {
		t.Errorf("Grow(%d): %d slots, spare of %d; want a new table, and the spare of %d kept", 4*n, len(s.slots), len(s.spare), spare)
	}
}

func TestVERP(t *testing.T) {
	l64 := strings.Repeat("l", 39) + "@" + strings.Repeat("d", 20) + ".x" // d+ 39 = 22: 64 octets
	tests := []struct{ sender, rcpt, want string }{
		{"dev-bounces@lists.example.org", "bob@example.net", "dev-bounces+bob=example.net@lists.example.org"},
		{"dev-bounces@l.example", "a$b|c&&d`e'f@example.net", "dev-bounces+a$b|c&&d`e'f=example.net@l.example"},
		{"dev-bounces@l.example", "a=b@example.net", "dev-bounces+a=b=example.net@l.example"},
		{"", "bob@example.net", ""},
		{`"dev b"@l.example`, "bob@example.net", ""},
		{"dev-bounces@l.example", `"b b"@example.net`, ""},
		{"dev-bounces@l.example", "bob@[192.0.2.1]", ""},
		{"dev-bounces@l.example", "bob@ü.example", "dev-bounces+bob=xn--tda.example@l.example"}, // its A-label
		{"dev-bounces@l.example", "jörg@ü.example", ""},
		{"dev-bounces@l.example", "bob@exa=mple.net", ""},
		{"dev-bounces@l.example", strings.Repeat("b", 50) + "@example.net", ""},
		// (Moved here from mlm-split's tests, when its --verp left the
		// encoding to the delivery stage.)
		{"dev-bounces@lists.example.org", "a.b+c=d@Ex-1.ORG", "dev-bounces+a.b+c=d=Ex-1.ORG@lists.example.org"},
		{"d@h", l64, "d+" + strings.Replace(l64, "@", "=", 1) + "@h"},
		{"d@h", "l" + l64, ""},
		{"dev-bounces@h", "bob@[IPv6:2001:db8::1]", ""},
		{"dev-bounces@h", "ü@example.de", ""},
	}
	for _, tc := range tests {
		v, ok := VERP(tc.sender, tc.rcpt)
		if v != tc.want || ok != (tc.want != "") {
			t.Errorf("VERP(%q, %q) = %q, %v; want %q", tc.sender, tc.rcpt, v, ok, tc.want)
		}
		if ok {
			if at := strings.LastIndexByte(v, '@'); at > MaxLocal || CheckMailbox(v) != nil {
				t.Errorf("VERP(%q, %q) = %q: not a valid mailbox", tc.sender, tc.rcpt, v)
			}
			if r, ok := UnVERP(tc.sender, strings.ToUpper(v)); !ok || Key(strings.ToLower(r)) != Key(strings.ToLower(tc.rcpt)) {
				t.Errorf("UnVERP(%q, %q) = %q, %v; want %q", tc.sender, strings.ToUpper(v), r, ok, tc.rcpt)
			}
		}
	}
	for _, v := range []string{"dev-bounces@l.example", "dev-bounces+@l.example", "dev-bounces+bob@l.example",
		"dev-bounces+bob=x@other.example", "dev+bob=x@l.example", "dev-bounces+bob=@l.example", "x",
		"dev-bounces+bob=x@\u212Bl.example"} {
		if r, ok := UnVERP("dev-bounces@l.example", v); ok {
			t.Errorf("UnVERP(%q) = %q; want no recipient", v, r)
		}
	}
	// The bounce domain spelt with the KELVIN SIGN is k.example, where
	// IDNA's mapping takes it, and the bounce came there.
	if r, ok := UnVERP("dev-bounces@k.example", "dev-bounces+bob=x@\u212A.example"); !ok || r != "bob@x" {
		t.Errorf("UnVERP(%q) = %q, %v; want bob@x", "dev-bounces+bob=x@\u212A.example", r, ok)
	}
}

// FuzzVERP: what VERP encodes, UnVERP gives back exactly, and it is a
// mailbox; what UnVERP decodes is a mailbox.
func FuzzVERP(f *testing.F) {
	f.Add("dev-bounces@lists.example.org", "bob@example.net")
	f.Add("a+b@x", "c=d@e.f")
	f.Add("dev-bounces@l", "a$(id)`x`|y&&z@example.net")
	f.Fuzz(func(t *testing.T, sender, rcpt string) {
		if v, ok := VERP(sender, rcpt); ok {
			if err := CheckMailbox(v); err != nil {
				t.Fatalf("VERP(%q, %q) = %q: %v", sender, rcpt, v, err)
			}
			// The recipient back, or, for a domain of U-labels,
			// the same with its A-labels.
			want := rcpt
			if !ascii.Is(rcpt) {
				want, _ = ASCIIDomain(rcpt)
			}
			if r, ok := UnVERP(sender, v); !ok || r != want {
				t.Fatalf("UnVERP(%q, VERP(…, %q) = %q) = %q, %v; want %q", sender, rcpt, v, r, ok, want)
			}
		}
		if r, ok := UnVERP(sender, rcpt); ok && CheckMailbox(r) != nil {
			t.Fatalf("UnVERP(%q, %q) = %q: not a mailbox", sender, rcpt, r)
		}
	})
}

// FuzzKey: a key is its own key, and two addresses with one key have
// one domain.
func FuzzKey(f *testing.F) {
	f.Add("Bob@Example.NET", "bob@example.net")
	f.Add(`"A@B"@X.org`, "ü@Ü.de")
	f.Add(`"bob"@X.org`, `"b\ob"@x.org`)
	f.Add("a@xn--bcher-kva.example", "a@bücher.example")
	f.Add("a@\uff45\uff58.org", "a@\u212Aex.org")
	// A-labels of characters IDNA maps to others (a review):
	// KELVIN SIGN, fullwidth, decomposed.
	f.Add("a@xn--example-lv8c.org", "b@x.org")
	f.Add("a@xn--qi7cjb.org", "a@ex.org")
	f.Add("a@xn--bucher-xyd.example", "a@bücher.example")
	f.Add("a@[IPv6:2001:DB8:0::1]", "a@[ipv6:2001:db8::1]")
	f.Fuzz(func(t *testing.T, a, b string) {
		k := Key(a)
		if Key(k) != k {
			t.Fatalf("Key(Key(%q)) = %q; want %q", a, Key(k), k)
		}
		// A mailbox is the one its domain's A-labels name, where
		// delivery without SMTPUTF8 sends it (ASCIIDomain).
		if CheckMailbox(a) == nil && a[0] != '"' {
			if ad, ok := ASCIIDomain(a); ok && Key(ad) != k {
				t.Fatalf("Key(%q) = %q, but Key(%q), where it goes, = %q", a, k, ad, Key(ad))
			}
		}
		if k == Key(b) && strings.Contains(a, "@") && Domain(a) != Domain(b) {
			t.Fatalf("Key(%q) = Key(%q) but domains %q, %q", a, b, Domain(a), Domain(b))
		}
	})
}

// The plain forms of localEnd and checkDomain, a comparison or a branch
// for each rule, as they were before the tables: FuzzFastPaths holds
// the fast ones to them, and SplitPath's fast path to splitQuoted.

func plainLocalEnd(s string) int {
	if strings.HasPrefix(s, `"`) {
		return LocalEnd(s) // quoted: one form only
	}
	i, atomLen := 0, 0
	for ; i < len(s) && s[i] != '@'; i++ {
		c := s[i]
		switch {
		case c == '.':
			if atomLen == 0 {
				return -1
			}
			atomLen = 0
			continue
		case c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return -1
		}
		atomLen++
	}
	if atomLen == 0 {
		return -1
	}
	return i
}

func plainDomain(d string) error {
	if d == "" || d[0] == '[' || len(d) > 255 {
		return checkDomain(d) // one form only
	}
	for rest := d; ; {
		label, more, dot := strings.Cut(rest, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("bad domain label %q", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 0x80 || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("bad domain label %q", label)
			}
		}
		for _, r := range label {
			joiner := r == '\u200c' || r == '\u200d'
			if r >= 0x80 && !joiner && (unicode.In(r, unicode.White_Space, unicode.Z, unicode.Cc, unicode.Cf, unicode.Cs) ||
				strings.ContainsRune("\u3002\uff0e\uff61\ufffd", r)) {
				return fmt.Errorf("bad domain label %q", label)
			}
		}
		if !dot {
			return nil
		}
		rest = more
	}
}

// FuzzFastPaths: the table-driven checks and SplitPath's fast path
// give what the plain forms give, errors word for word.
func FuzzFastPaths(f *testing.F) {
	for _, s := range []string{"bob@example.net", "a..b@x", "a@b-.c", "a@b..c", "a@b.c.", "a@x_y.z", "a.@b",
		"<a@b> X=1", `<"x>y"@b>`, `<"x\">y"@b> Z`, "<a@b", "ü@ü.de", "a@" + strings.Repeat("b", 64) + ".c",
		"a@b" + strings.Repeat("c", 62) + "_.d", "<>", "", "@", "a@b.-c"} {
		f.Add(s)
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := LocalEnd(s), plainLocalEnd(s); got != want {
			t.Errorf("LocalEnd(%q) = %d; the plain form gives %d", s, got, want)
		}
		for _, d := range []string{s, s[strings.IndexByte(s, '@')+1:]} {
			if got, want := errText(checkDomain(d)), errText(plainDomain(d)); got != want {
				t.Errorf("checkDomain(%q) = %q; the plain form gives %q", d, got, want)
			}
		}
		m, r, err := SplitPath(s)
		pm, pr, perr := SplitPath("")
		if strings.HasPrefix(s, "<") {
			pm, pr, perr = splitQuoted(s)
		}
		if m != pm || r != pr || errText(err) != errText(perr) {
			t.Errorf("SplitPath(%q) = %q, %q, %v; the plain form gives %q, %q, %v", s, m, r, err, pm, pr, perr)
		}
	})
}

// TestIsAtext: the table gives RFC 5322's atext, no more.
func TestIsAtext(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", b) >= 0
		if isAtext(b) != want {
			t.Errorf("isAtext(%q) = %v", b, !want)
		}
	}
}

// FuzzLower: Lower is what its rune-by-rune mapping (lowerRunes, the
// whole of Lower as it was first written) makes of any string, whichever
// path it takes.
func FuzzLower(f *testing.F) {
	for _, s := range []string{"", "example.org", "Example.ORG", "\u212Aexample.org", "ärzte", "ÄRZTE", "a\xffB", "\xcb", "İx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := lowerRunes(s)
		got := Lower(s)
		if got != want {
			t.Fatalf("Lower(%q) = %q; want %q", s, got, want)
		}
		// Unchanged, it is s itself: Key relies on that for no copy.
		if got == s && s != "" && unsafe.StringData(got) != unsafe.StringData(s) {
			t.Fatalf("Lower(%q) is a copy", s)
		}
	})
}

// TestASCIIDomain: a mailbox whose domain alone is not ASCII has an
// ASCII form, its U-labels as A-labels, the same mailbox to Key; one
// whose local part is not ASCII has none.
func TestASCIIDomain(t *testing.T) {
	for in, want := range map[string]string{
		"bob@bücher.example":     "bob@xn--bcher-kva.example",
		"bob@mail.Bücher.рф":     "bob@mail.xn--bcher-kva.xn--p1ai",
		`"b o b"@bücher.example`: `"b o b"@xn--bcher-kva.example`,
		"bob@x.example":          "bob@x.example",
		"jörg@x.example":         "",
		"jörg@bücher.example":    "",
		"no-at":                  "",
		// 244 octets, 656 as A-labels: no mailbox (a review: an RCPT
		// line past RFC 5321's limits)
		"a@" + strings.Repeat("ä.", 80) + "de": "",
	} {
		got, ok := ASCIIDomain(in)
		if ok != (want != "") || got != want {
			t.Errorf("ASCIIDomain(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if ok && Key(got) != Key(strings.ToLower(in)) {
			t.Errorf("Key(%q) = %q, not Key(%q) = %q", got, Key(got), in, Key(in))
		}
	}
}

// TestASCIIHost: a host's name for EHLO or HELO is ASCII: as given if
// it is (case and address literals kept), else its U-labels as
// A-labels; one IDNA cannot convert is given back, with false.
func TestASCIIHost(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"mx.bücher.example", "mx.xn--bcher-kva.example", true},
		{"Mail.Bücher.рф", "mail.xn--bcher-kva.xn--p1ai", true},
		{"Lists.Example.ORG", "Lists.Example.ORG", true},
		{"[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]", true},
		{"xn--a.bücher.example", "xn--a.bücher.example", false},
	} {
		if got, ok := ASCIIHost(c.in); got != c.want || ok != c.ok {
			t.Errorf("ASCIIHost(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestKeyALabelCost: a mailbox in a domain with A-labels, as every
// recipient of a list is keyed, one after another, by mlm-members,
// mlm-split, mlm-throttle and mlm-sendmail, costs its key's one string,
// not a decoding each time: 13 allocations and a microsecond a key made
// a list of 1,000,000 members in such domains several times slower.
func TestKeyALabelCost(t *testing.T) {
	Key("ivan@xn--80aswg.xn--p1ai")
	if n := testing.AllocsPerRun(100, func() { Key("ivan@xn--80aswg.xn--p1ai") }); n > 1 {
		t.Errorf("Key of an A-label mailbox: %v allocations; want at most 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { Domain("ivan@xn--80aswg.xn--p1ai") }); n > 0 {
		t.Errorf("Domain of an A-label mailbox: %v allocations; want none", n)
	}
}

// TestQuoted: a mailbox as net/mail gives it, its local part's quotes
// undone, quoted again where it needs them; Unquoted gives it back.
func TestQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"bob@example.org":        "bob@example.org",
		"ü@bücher.example":       "ü@bücher.example",
		"john smith@x.org":       `"john smith"@x.org`,
		"a..b@x.org":             `"a..b"@x.org`,
		"a.@x.org":               `"a."@x.org`,
		"a@b@x.org":              `"a@b"@x.org`,
		`a"b@x.org`:              `"a\"b"@x.org`,
		`a\b@x.org`:              `"a\\b"@x.org`,
		"bob@[192.0.2.1]":        "bob@[192.0.2.1]",
		"john smith@[192.0.2.1]": `"john smith"@[192.0.2.1]`,
		"nobody":                 "nobody",
		"@x.org":                 "@x.org",
	} {
		got := Quoted(in)
		if got != want {
			t.Errorf("Quoted(%q) = %q; want %q", in, got, want)
		}
		if got != in && CheckMailbox(got) != nil {
			t.Errorf("Quoted(%q) = %q: CheckMailbox: %v", in, got, CheckMailbox(got))
		}
		if got != in && Unquoted(got) != in {
			t.Errorf("Unquoted(Quoted(%q)) = %q", in, Unquoted(got))
		}
	}
}

// TestKeyFold (R87 F5): local parts that differ only in case have one
// key, where a lower case letter has two forms: final sigma is sigma,
// so "οδος" and "ΟΔΟΣ" are one member, as "straße" and "STRAẞE" are.
// Not a letter whose other case is ASCII (LONG S, KELVIN SIGN, dotless
// i), and not in a domain, where IDNA keeps final sigma a letter of its
// own (UTS #46).
func TestKeyFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"οδος@example.gr", "ΟΔΟΣ@example.gr", true},
		{"οδος@example.gr", "οδοσ@example.gr", true},
		{"straße@example.de", "STRAẞE@example.de", true},
		{"ϐeta@example.org", "βeta@example.org", true},
		{"ſam@example.org", "sam@example.org", false},
		{"\u212Aey@example.org", "key@example.org", false},
		{"ıi@example.org", "ii@example.org", false},
		{"a@σας.gr", "a@σασ.gr", false},
	} {
		if same := Key(c.a) == Key(c.b); same != c.same {
			t.Errorf("Key(%q) = %q, Key(%q) = %q: the same %v; want %v", c.a, Key(c.a), c.b, Key(c.b), same, c.same)
		}
	}
}

// TestCheckParamValues (R88 F4): a stream's paths carry the six
// parameters of DESIGN.md rule 6 alone, as servers take them: a server
// that offers DSN refused a bad ORCPT or ENVID, the recipient or the
// transaction for good, and mlm-check passed them.
func TestCheckParamValues(t *testing.T) {
	for _, c := range []struct {
		p  string
		ok bool
	}{
		{"BODY=8BITMIME", true},
		{"body=binarymime", true},
		{"BODY=9BIT", false},
		{"SMTPUTF8", true},
		{"SMTPUTF8=yes", false},
		{"RET=HDRS", true},
		{"ENVID=a+2Bb", true},
		{"ENVID=a+zz", false},
		{"ENVID=a+2b", false},
		{"ENVID=a+2", false},
		{"NOTIFY=NEVER", true},
		{"ORCPT=rfc822;c@d.example", true},
		{"ORCPT=utf-8;z\u00f6@d.example", true},
		{"ORCPT=rfc822;a+2Bb@d.example", true},
		{"ORCPT=foo", false},
		{"ORCPT=;c@d.example", false},
		{"ORCPT=rfc822;", false},
		{"ORCPT=rfc822;c+d", false},
		{"ORCPT=rfc.822;c", false},
		{"XFOO=1", false},
		{"SIZE=100", false},
		{"X", false},
	} {
		if err := CheckParam(c.p); (err == nil) != c.ok {
			t.Errorf("CheckParam(%q) = %v; want ok %v", c.p, err, c.ok)
		}
	}
}
