package msg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"testing"

	"mlm/lib/ascii"
)

// raws are header blocks as ReadHeader returns them.
var raws = []string{
	"",
	"\n",
	"\r\n",
	"Subject: a\n\n",
	"Subject: a\r\nX: 1\r\n\r\n",
	"Subject: a\n  folded\n\tagain\nX: 1\n\n",
	"Subject: no end",
	"Subject: no end\n",
	" leading: continuation\nX: 1\n\n",
	"no colon\nX: 1\n\n",
	"Bare: cr\rin value\n\n",
	"X : spaced name\n\n",
}

func TestEditRoundTrip(t *testing.T) {
	for _, raw := range raws {
		if got := string(NewEdit([]byte(raw)).Bytes()); got != raw {
			t.Errorf("NewEdit(%q).Bytes() = %q; want it unchanged", raw, got)
		}
	}
}

func TestEditEOL(t *testing.T) {
	tests := []struct{ raw, eol string }{
		{"", "\n"},
		{"Subject: x", "\n"},
		{"Subject: x\n\n", "\n"},
		{"Subject: x\r\n\r\n", "\r\n"},
		{"\r\n", "\r\n"},
		{"A: 1\nB: 2\r\n\r\n", "\n"},
	}
	for _, tc := range tests {
		if got := NewEdit([]byte(tc.raw)).EOL(); got != tc.eol {
			t.Errorf("EOL(%q) = %q; want %q", tc.raw, got, tc.eol)
		}
	}
}

func TestEditDel(t *testing.T) {
	tests := []struct {
		name, raw, del, want string
		n                    int
	}{
		{"absent", "Subject: a\nX: 1\n\nbody", "Y", "Subject: a\nX: 1\n\nbody", 0},
		{"one", "Subject: a\nX: 1\n\n", "X", "Subject: a\n\n", 1},
		{"every, any case", "x: 1\nSubject: a\nX: 2\n\n", "X", "Subject: a\n\n", 2},
		{"folded", "A: 1\nX: 1\n  2\n\t3\nB: 2\r\n\r\n", "x", "A: 1\nB: 2\r\n\r\n", 1},
		{"spaced name", "X : 1\nA: 2\n\n", "X", "A: 2\n\n", 1},
		{"last, no end", "A: 1\nX: 1", "X", "A: 1\n", 1},
		{"prefix only", "X-Y: 1\n\n", "X", "X-Y: 1\n\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEdit([]byte(tc.raw))
			n := e.Del(tc.del)
			if got := string(e.Bytes()); got != tc.want || n != tc.n {
				t.Errorf("Del(%q) = %d, %q; want %d, %q", tc.del, n, got, tc.n, tc.want)
			}
		})
	}
}

func TestEditAdd(t *testing.T) {
	e := NewEdit([]byte("Received: x\r\nSubject: a\r\n\r\n"))
	for _, f := range []string{"List-Id: <a.b>", "X-Empty:", "X-Tab: a\tb"} {
		if err := e.AddField(f); err != nil {
			t.Fatalf("AddField(%q): %v", f, err)
		}
	}
	e.Del("X-Empty")
	if err := e.Add("Precedence", "list"); err != nil {
		t.Fatal(err)
	}
	want := "List-Id: <a.b>\r\nX-Tab: a\tb\r\nPrecedence: list\r\nReceived: x\r\nSubject: a\r\n\r\n"
	if got := string(e.Bytes()); got != want {
		t.Errorf("after adds: %q; want %q", got, want)
	}
	if err := e.Add("Bad Name", "x"); !errors.Is(err, ErrField) {
		t.Errorf("Add(bad name) = %v; want ErrField", err)
	}
	if err := e.Add("X", "a\nB: forged"); !errors.Is(err, ErrField) {
		t.Errorf("Add(newline) = %v; want ErrField", err)
	}
	if got := string(e.Bytes()); got != want {
		t.Errorf("refused adds changed the block: %q", got)
	}
}

func TestEditValues(t *testing.T) {
	raw := "Subject: a\r\n  b \r\n\tc\r\nTo: x\r\nsubject:\r\n\r\n"
	e := NewEdit([]byte(raw))
	if got := strings.Join(e.Values("SUBJECT"), "|"); got != "a b c|" {
		t.Errorf("Values(SUBJECT) = %q; want %q", got, "a b c|")
	}
	if v, ok := e.Value("to"); v != "x" || !ok {
		t.Errorf("Value(to) = %q, %v; want x, true", v, ok)
	}
	if _, ok := e.Value("Cc"); ok {
		t.Errorf("Value(Cc) found a field")
	}
	if got := strings.Join(e.Names(), ","); got != "Subject,To,subject" {
		t.Errorf("Names() = %q", got)
	}
	if first, last := e.FirstLast("subject"); first != "a b c" || last != "" {
		t.Errorf("FirstLast(subject) = %q, %q; want %q, %q", first, last, "a b c", "")
	}
	if first, last := e.FirstLast("TO"); first != "x" || last != "x" {
		t.Errorf("FirstLast(TO) = %q, %q; want x, x", first, last)
	}
	if first, last := e.FirstLast("Cc"); first != "" || last != "" {
		t.Errorf("FirstLast(Cc) = %q, %q; want none", first, last)
	}
	if f, ok := e.Field("SUBJECT"); string(f) != "Subject: a\r\n  b \r\n\tc\r\n" || !ok {
		t.Errorf("Field(SUBJECT) = %q, %v; want the first, as read", f, ok)
	}
	if f, ok := e.Field("Cc"); f != nil || ok {
		t.Errorf("Field(Cc) = %q, %v; want none", f, ok)
	}
}

func TestIsAddress(t *testing.T) {
	for v, want := range map[string]bool{
		"dev@lists.example.org":             true,
		" <DEV@Lists.Example.ORG> ":         true,
		"<dev@lists.example.org":            true,
		"webdev@lists.example.org":          false,
		"dev@lists.example.org.":            false,
		"dev@LISTS.example.org":             true,
		"dev@li\u017fts.example.org":        true,  // U+017F: s, where IDNA maps it (and mail goes)
		"dev@lists.exampl\u0117.org":        false, // U+0117: another domain
		"<DEV@Lists.Example.org>":           true,
		"dev@lists.example.org, x@y.test":   false,
		"Dev list <dev@lists.example.org>":  true,
		`"a <b, c" <DEV@lists.example.org>`: true,
		"Dev <webdev@lists.example.org>":    false,
		"dev@lists.example.org <x@y.test>":  false,
		"<x@y.test> dev@lists.example.org":  false,
		"dev@lists.example.org>":            false,
		// A value that names two addresses is neither, whichever
		// comes first.
		"x@y.test, <dev@lists.example.org>":             false,
		"<x@y.test>, <dev@lists.example.org>":           false,
		"<x@y.test> <dev@lists.example.org>":            false,
		"Other <o@y.test>, Dev <dev@lists.example.org>": false,
		"Dev <dev@lists.example.org>, Other <o@y.test>": false,
		`"Dev, list" <dev@lists.example.org>`:           true,
		"(Dev, list) <dev@lists.example.org>":           true,
		// Comments aside (a review: a loop went on where one followed).
		"dev@lists.example.org (me)":                       true,
		"Dev <dev@lists.example.org> (x)":                  true,
		"(a) <dev@lists.example.org> (b (nested))":         true,
		"dev@lists.example.org (me) x@y.test":              false,
		`"dev@lists.example.org (me)" <x@y.test>`:          false,
		"webdev@lists.example.org (dev@lists.example.org)": false,
		// wherever they are, and the spaces they leave (a review)
		"<dev@lists.example.org (x)>":  true,
		"<dev(x)@lists.example.org>":   true,
		"dev (me) @ lists.example.org": true,
		"\"d ev\"@lists.example.org":   false,
		// a comment or quoted string that does not end is no match
		"dev@lists.example.org (":                 false,
		"dev@lists.example.org (\\) other@y.test": false,
		"Dev (x <dev@lists.example.org>":          false,
		"\"dev@lists.example.org":                 false,
		// quotes that add nothing are no other address (RFC 5321
		// section 4.1.2), and those that do are
		`"dev"@lists.example.org`:        true,
		`Dev <"d\ev"@Lists.example.org>`: true,
		`"dev."@lists.example.org`:       false,
		`"dev"x@lists.example.org`:       false,
		`"dev"`:                          false,
	} {
		if got := IsAddress(v, "dev@lists.example.org"); got != want {
			t.Errorf("IsAddress(%q) = %v; want %v", v, got, want)
		}
	}
	if !IsAddress("<ÄRZTE@BÜCHER.example>", "ärzte@bücher.example") {
		t.Errorf("IsAddress: ÄRZTE@BÜCHER.example is not ärzte@bücher.example")
	}
	if !IsAddress("dev@\u212Ade.example", "dev@kde.example") || IsAddress("\u212Aey@x.example", "key@x.example") {
		t.Errorf("IsAddress: the KELVIN SIGN is k in a domain, as IDNA maps it (and mail goes), and not in a local part")
	}
	// A domain's A-labels are its U-labels, either way round.
	for _, tc := range [][2]string{
		{"Dev <DEV@lists.XN--BCHER-KVA.example>", "dev@lists.bücher.example"},
		{"dev@lists.bücher.example", "dev@lists.xn--bcher-kva.example"},
	} {
		if !IsAddress(tc[0], tc[1]) {
			t.Errorf("IsAddress(%q, %q) = false; want true", tc[0], tc[1])
		}
	}
	if IsAddress("web@lists.xn--bcher-kva.example", "dev@lists.bücher.example") {
		t.Errorf("IsAddress: web@ is dev@")
	}
}

func TestEditPrefix(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"Subject: x\n\n", "Subject: [dev] x\n\n"},
		{"Subject:x\n\n", "Subject: [dev] x\n\n"},
		{"Subject:\t x\r\n\r\n", "Subject:\t [dev] x\r\n\r\n"},
		{"Subject:\n\n", "Subject: [dev]\n\n"},
		{"Subject: \n folded\n\n", "Subject: [dev]\n folded\n\n"},
		{"Subject: long\n folded\n\n", "Subject: [dev] long\n folded\n\n"},
		{"Subject: no end", "Subject: [dev] no end"},
		{"A: 1\nsubject: one\nSubject: two\n\n", "A: 1\nsubject: [dev] one\nSubject: two\n\n"},
		// A first line that would pass MaxLine is folded after the prefix.
		{"Subject: " + strings.Repeat("x", 983) + "\n\n", "Subject: [dev] " + strings.Repeat("x", 983) + "\n\n"},
		{"Subject: " + strings.Repeat("x", 984) + "\n\n", "Subject: [dev]\n " + strings.Repeat("x", 984) + "\n\n"},
		{"Subject: " + strings.Repeat("x", 984) + "\r\n\r\n", "Subject: [dev]\r\n " + strings.Repeat("x", 984) + "\r\n\r\n"},
		{"Subject: " + strings.Repeat("x", 990), "Subject: [dev]\n " + strings.Repeat("x", 990)},
		// A first line of white space only, too long to take the
		// prefix: the prefix goes on a line of its own.
		{"Subject:" + strings.Repeat(" ", 985) + "\n\n", "Subject:" + strings.Repeat(" ", 985) + "[dev]\n\n"},
		{"Subject:" + strings.Repeat(" ", 986) + "\n\n", "Subject:" + strings.Repeat(" ", 986) + "\n [dev]\n\n"},
		{"Subject:" + strings.Repeat(" ", 990) + "\n\n", "Subject:" + strings.Repeat(" ", 990) + "\n [dev]\n\n"},
		{"Subject:" + strings.Repeat(" ", 990) + "\r\n folded\r\n\r\n", "Subject:" + strings.Repeat(" ", 990) + "\r\n [dev]\r\n folded\r\n\r\n"},
		// So much white space before the value that the prefix does
		// not fit after it either: a line of its own.
		{"Subject:" + strings.Repeat(" ", 988) + "hi\n\n", "Subject:" + strings.Repeat(" ", 988) + "\n [dev]\n hi\n\n"},
		{"Subject:" + strings.Repeat(" ", 985) + "hi\n\n", "Subject:" + strings.Repeat(" ", 985) + "[dev]\n hi\n\n"},
	}
	for _, tc := range tests {
		e := NewEdit([]byte(tc.raw))
		if !e.Prefix("Subject", "[dev]") {
			t.Errorf("Prefix(%q) found no Subject", tc.raw)
		}
		if got := string(e.Bytes()); got != tc.want {
			t.Errorf("Prefix(%q) = %q; want %q", tc.raw, got, tc.want)
		}
	}
	e := NewEdit([]byte("To: x\n\n"))
	if e.Prefix("Subject", "[dev]") || string(e.Bytes()) != "To: x\n\n" {
		t.Errorf("Prefix without a Subject changed the block")
	}
}

func TestEnsureBody(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", "\n"},
		{"Subject: x", "Subject: x\n\n"},
		{"Subject: x\r\nTo: y", "Subject: x\r\nTo: y\r\n\r\n"},
		{"Subject: x\r\n", "Subject: x\r\n\r\n"},
		{"Subject: x\n\n", "Subject: x\n\n"},
		{"Subject: x\r", "Subject: x\r\n\n"}, // its LF only: no bare CR
		{"Subject: x\r\nTo: y\r", "Subject: x\r\nTo: y\r\n\r\n"},
	}
	for _, tc := range tests {
		e := NewEdit([]byte(tc.raw))
		e.EnsureBody()
		if got := string(e.Bytes()); got != tc.want {
			t.Errorf("EnsureBody(%q) = %q; want %q", tc.raw, got, tc.want)
		}
	}
}

func TestParseField(t *testing.T) {
	good := []struct{ in, name, value string }{
		{"X: y", "X", "y"},
		{"X:y", "X", "y"},
		{"X:\t y z ", "X", "y z "},
		{"X:", "X", ""},
		{"Reply-To: a@x, b@y", "Reply-To", "a@x, b@y"},
		{"X-Utf8: ü", "X-Utf8", "ü"},
	}
	for _, tc := range good {
		n, v, err := ParseField(tc.in)
		if err != nil || n != tc.name || v != tc.value {
			t.Errorf("ParseField(%q) = %q, %q, %v; want %q, %q", tc.in, n, v, err, tc.name, tc.value)
		}
	}
	bad := []string{
		"no colon", ": empty name", "X Y: space", "X\x00: nul",
		"X: a\nB: forged", "X: a\r", "X: a\x00", "X: \x1b[31m", "X: del\x7f",
		"X-Ümlaut: ü", "X: " + strings.Repeat("y", MaxLine),
	}
	for _, in := range bad {
		if _, _, err := ParseField(in); !errors.Is(err, ErrField) {
			t.Errorf("ParseField(%q) = %v; want ErrField", in, err)
		} else if strings.ContainsAny(err.Error(), "\r\n\x00") {
			t.Errorf("ParseField(%q): error %q is not one line", in, err)
		}
	}
	// A name with a colon is none (RFC 5322 section 3.6.8): mlm-hdr's
	// -d and strip refuse one, which would match no field.
	for _, n := range []string{"X:Y", ":", "X:"} {
		if err := CheckName(n); !errors.Is(err, ErrField) {
			t.Errorf("CheckName(%q) = %v; want ErrField", n, err)
		}
	}
	if err := CheckField("X", strings.Repeat("y", MaxLine-3)); err != nil {
		t.Errorf("CheckField at the line limit: %v", err)
	}
	if err := CheckField("X", strings.Repeat("y", MaxLine-2)); !errors.Is(err, ErrField) {
		t.Errorf("CheckField one octet over the line limit = %v; want ErrField", err)
	}
}

// FuzzParseField: a field from the command line is taken only as one
// header line, name and value as given, and anything else is refused
// with a one-line error.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{"X: y", "X:\t y z ", "X:", "no colon", "X: a\nB: forged", "X-Ümlaut: ü", "X: \x1b[31m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, v, err := ParseField(in)
		if err != nil {
			if !errors.Is(err, ErrField) || strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Errorf("ParseField(%q): error %q", in, err)
			}
			return
		}
		if n == "" || strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r == ':' || r >= 0x7f }) {
			t.Errorf("ParseField(%q): name %q", in, n)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) || strings.HasPrefix(v, " ") || strings.HasPrefix(v, "\t") {
			t.Errorf("ParseField(%q): value %q", in, v)
		}
		if in != n+":"+in[len(n)+1:] || strings.TrimLeft(in[len(n)+1:], " \t") != v {
			t.Errorf("ParseField(%q) = %q, %q: not what was given", in, n, v)
		}
		if n2, v2, err := ParseField(n + ": " + v); err != nil || n2 != n || v2 != v {
			t.Errorf("ParseField(%q) = %q, %q, %v; want %q, %q", n+": "+v, n2, v2, err, n, v)
		}
	})
}

func TestDecodeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"Re: =?UTF-8?B?W2Rldl0geA==?=", "Re: [dev] x"},
		{"=?iso-8859-1?q?caf=E9?= ok", "café ok"},
		{"=?koi8-r?q?Re:_[dev]_=F0?=", "Re: [dev] \xf0"},
		{"=?utf-8?x?bad?=", "=?utf-8?x?bad?="},
		// A word in a charset not known beside known ones: each
		// decoded as it can be, not all taken as raw octets.
		{"=?iso-8859-1?q?K=F6ln?= =?x-unknown?q?=E9?= =?utf-8?q?=C3=A9?=", "Köln\xe9é"},
	}
	for _, tc := range tests {
		if got := DecodeText(tc.in); got != tc.want {
			t.Errorf("DecodeText(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestEncodeText(t *testing.T) {
	if got := EncodeText("[dev]"); got != "[dev]" {
		t.Errorf("EncodeText(ascii) = %q", got)
	}
	enc := EncodeText("[dév]")
	if !IsEncodedWord(enc) || DecodeText(enc) != "[dév]" {
		t.Errorf("EncodeText([dév]) = %q, decodes to %q", enc, DecodeText(enc))
	}
	for s, want := range map[string]bool{
		"=?utf-8?q?x?=": true, "=?utf-8?B?eA==?= y": true, "=?utf-8?q??=": true,
		"x =?utf-8?q?x?=": false, "=?utf-8?z?x?=": false, "=? utf-8?q?x?=": false, "=?utf-8?q?x": false,
	} {
		if got := IsEncodedWord(s); got != want {
			t.Errorf("IsEncodedWord(%q) = %v; want %v", s, got, want)
		}
	}
}

// isToken reports whether a field name is an RFC 7230 token, which
// go-message (net/textproto) matches in any case.
func isToken(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// FuzzEdit checks, for any header block: NewEdit gives it back byte for
// byte; deleting a field that is absent changes nothing; deleting one
// leaves every other field's octets, in order; its values are those
// go-message parses; an added field is read back and every original octet
// follows it.
func FuzzEdit(f *testing.F) {
	for _, raw := range raws {
		f.Add(raw+"body", "Subject", "v")
	}
	f.Add("Subject: a\nX-Junk: 1\n 2\nTo: b\n\n", "x-junk", "[dev] x")
	f.Add("A: 1\r\nB: 2\r\nA: 3\r\n\r\n", "a", "")
	f.Add("From: a\nsubject: x\nTo: b\nSUBJECT: y\nfrom: c\n\n", "From", "")
	f.Fuzz(func(t *testing.T, in, name, value string) {
		h, perr := ReadHeader(bufio.NewReader(strings.NewReader(in)), MaxHeader)
		raw := h.Raw
		e := NewEdit(raw)
		if got := e.Bytes(); !bytes.Equal(got, raw) {
			t.Fatalf("NewEdit(%q).Bytes() = %q", raw, got)
		}
		names := e.Names()

		// Values agree with go-message where it parsed the block and no
		// bare CR muddles line ends.
		if perr == nil && !bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
			var got, want []string
			for _, n := range names {
				got = append(got, textproto.CanonicalMIMEHeaderKey(n))
			}
			fs := h.Fields.Fields()
			for fs.Next() {
				want = append(want, fs.Key())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("names of %q: %q; go-message %q", raw, got, want)
			}
			// go-message matches a name with a non-token octet ("0a\"")
			// only in its own case; field names are case-insensitive
			// (RFC 5322 §1.2.2), and Edit compares them so.
			if CheckName(name) == nil && isToken(name) {
				got, want := e.Values(name), h.Fields.Values(name)
				if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
					t.Fatalf("Values(%q) of %q = %q; go-message %q", name, raw, got, want)
				}
				first, last := e.FirstLast(name)
				if len(got) > 0 && (first != got[0] || last != got[len(got)-1]) || len(got) == 0 && first+last != "" {
					t.Fatalf("FirstLast(%q) of %q = %q, %q; Values %q", name, raw, first, last, got)
				}
				if f, ok := e.Field(name); ok != (len(got) > 0) || ok && unfold(f) != got[0] {
					t.Fatalf("Field(%q) of %q = %q, %v; Values %q", name, raw, f, ok, got)
				}
			}
		}

		// Repeated: the first singular name met a second time, by the
		// names as Names gives them, compared in any case.
		wantRep := ""
		seen := map[string]bool{}
		for _, n := range names {
			for _, s := range singular {
				if ascii.EqualFold(n, s) {
					if seen[s] && wantRep == "" {
						wantRep = s
					}
					seen[s] = true
				}
			}
		}
		if got := e.Repeated(); got != wantRep {
			t.Fatalf("Repeated() of %q = %q; want %q", raw, got, wantRep)
		}

		d := NewEdit(raw)
		n := d.Del(name)
		if len(d.Values(name)) != 0 {
			t.Fatalf("Del(%q) of %q left %q", name, raw, d.Values(name))
		}
		if n == 0 && !bytes.Equal(d.Bytes(), raw) {
			t.Fatalf("Del(%q) of %q deleted nothing but changed it: %q", name, raw, d.Bytes())
		}
		var kept []string
		for _, fn := range names {
			// As Edit compares names, in ASCII's case: "\xcb" is not
			// "\xd2", though strings.EqualFold, decoding both to
			// U+FFFD, says it is.
			if !ascii.EqualFold(fn, name) {
				kept = append(kept, fn)
			}
		}
		if strings.Join(d.Names(), "\n") != strings.Join(kept, "\n") || len(names)-len(kept) != n {
			t.Fatalf("Del(%q) of %q: names %q; want %q", name, raw, d.Names(), kept)
		}
		if !isSubsequence(d.Bytes(), raw) {
			t.Fatalf("Del(%q) of %q = %q: octets changed", name, raw, d.Bytes())
		}

		a := NewEdit(raw)
		if err := a.Add(name, value); err != nil {
			if !bytes.Equal(a.Bytes(), raw) {
				t.Fatalf("refused Add changed %q", raw)
			}
			return
		}
		if got := a.Values(strings.ToUpper(name)); len(got) == 0 || got[0] != strings.Trim(value, " \t") {
			t.Fatalf("Add(%q, %q) to %q: Values = %q", name, value, raw, got)
		}
		out := a.Bytes()
		if !bytes.HasSuffix(out, raw) {
			t.Fatalf("Add(%q, %q) to %q = %q: original octets changed", name, value, raw, out)
		}
		// ReadHeader takes a block of white space for an empty header,
		// though go-message would refuse it after a field: re-read only
		// blocks it really parsed.
		if perr == nil && (h.Fields.Len() > 0 || len(bytes.Trim(raw, "\r\n")) == 0) {
			h2, err := ReadHeader(bufio.NewReader(bytes.NewReader(out)), MaxHeader)
			if err != nil {
				t.Fatalf("Add(%q, %q) to %q: re-read: %v", name, value, raw, err)
			}
			want := strings.Trim(value, " \t")
			if got := h2.Fields.Values(name); len(got) == 0 || got[0] != want {
				t.Fatalf("Add(%q, %q) to %q: re-read %q", name, value, raw, got)
			}
		}
	})
}

// isSubsequence reports whether every octet of a appears in b in order
// (a is b with whole spans removed).
func isSubsequence(a, b []byte) bool {
	for _, c := range a {
		i := bytes.IndexByte(b, c)
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	return true
}

func ExampleEdit() {
	br := bufio.NewReader(strings.NewReader("Subject: hello\nX-Junk: 1\n  2\n\nbody\n"))
	h, _ := ReadHeader(br, MaxHeader)
	e := NewEdit(h.Raw)
	e.Del("x-junk")
	e.Add("List-Id", "<dev.lists.example.org>")
	e.Prefix("Subject", "[dev]")
	fmt.Printf("%s", e.Bytes())
	// Output:
	// List-Id: <dev.lists.example.org>
	// Subject: [dev] hello
}

func TestEditDelValue(t *testing.T) {
	e := NewEdit([]byte("X-Loop: a@x\nSubject: s\nx-loop: B@X\n\nX-Loop:\n  b@x\nX-Loop: c@x\n\n"))
	if err := e.Add("X-Loop", "b@x"); err != nil {
		t.Fatal(err)
	}
	n := e.DelValue("X-LOOP", func(v string) bool { return strings.EqualFold(v, "b@x") })
	if want := "X-Loop: a@x\nSubject: s\n\nX-Loop:\n  b@x\nX-Loop: c@x\n\n"; n != 2 || string(e.Bytes()) != want {
		t.Errorf("DelValue = %d, %q; want 2, %q", n, e.Bytes(), want)
	}
	if err := e.Add("A", "1"); err != nil || !strings.HasPrefix(string(e.Bytes()), "A: 1\nX-Loop: a@x\n") {
		t.Errorf("Add after DelValue: %q", e.Bytes())
	}
}

// TestEditDelField: DelField is given each field whole, its
// continuation lines and line end included, and deletes those it is
// told to, leaving the rest byte for byte.
func TestEditDelField(t *testing.T) {
	e := NewEdit([]byte("From: x\r\nSubject: a\r\n secret\r\nX-Y: z\r\n\r\n"))
	var seen []string
	n := e.DelField(func(f []byte) bool {
		seen = append(seen, string(f))
		return bytes.Contains(f, []byte("secret"))
	})
	if want := "From: x\r\nX-Y: z\r\n\r\n"; n != 1 || string(e.Bytes()) != want || len(seen) != 3 || seen[1] != "Subject: a\r\n secret\r\n" {
		t.Errorf("DelField = %d, %q, given %q; want 1, %q", n, e.Bytes(), seen, want)
	}
}

func TestListIDOf(t *testing.T) {
	for v, want := range map[string]string{
		"<dev.lists.example.org>":                                            "dev.lists.example.org",
		"Dev list <Dev.Lists.Example.ORG>":                                   "dev.lists.example.org",
		"other list (mirror of <dev.lists.example.org>) <other.example.net>": "other.example.net",
		"<other.example.net> (mirror of <dev.lists.example.org>)":            "other.example.net",
		"<other.example.net> (mirror (of dev) <dev.lists.example.org>)":      "other.example.net",
		`"a <b>" <c.example>`:                                                "c.example",
		"  bare.example.org ":                                                "bare.example.org",
		"<unclosed.example":                                                  "unclosed.example",
		"":                                                                   "",
	} {
		if got := ListIDOf(v); got != want {
			t.Errorf("ListIDOf(%q) = %q; want %q", v, got, want)
		}
	}
}

// TestEditNameMask: every way of asking for a field finds it whatever the
// case it is asked in, whether it was read, added or added from Fields;
// the mask that answers for absent names (nameBit) must never hide one.
func TestEditNameMask(t *testing.T) {
	var fs Fields
	if err := fs.Add("List-Post", "<mailto:dev@x>"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Subject", "x-LOOP", "A", "Content-Transfer-Encoding", "List-Post", "Approved", "0a~"} {
		for _, how := range []string{"read", "Add", "AddFields"} {
			if how == "AddFields" && name != "List-Post" {
				continue
			}
			raw := []byte("From: a@x\nTo: b@x\n\n")
			if how == "read" {
				raw = []byte("From: a@x\n" + name + ": v\nTo: b@x\n\n")
			}
			for _, ask := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
				e := NewEdit(raw)
				v := "v"
				switch how {
				case "Add":
					if err := e.Add(name, v); err != nil {
						t.Fatal(err)
					}
				case "AddFields":
					e.AddFields(&fs)
					v = "<mailto:dev@x>"
				}
				if got := e.Values(ask); len(got) != 1 || got[0] != v {
					t.Errorf("%s %q: Values(%q) = %q", how, name, ask, got)
				}
				if got, ok := e.Value(ask); !ok || got != v {
					t.Errorf("%s %q: Value(%q) = %q, %v", how, name, ask, got, ok)
				}
				if !e.Prefix(ask, "[p]") {
					t.Errorf("%s %q: Prefix(%q) found nothing", how, name, ask)
				}
				if n := e.DelValue(ask, func(string) bool { return true }); n != 1 {
					t.Errorf("%s %q: DelValue(%q) = %d", how, name, ask, n)
				}
				e = NewEdit(raw)
				if how == "Add" {
					e.Add(name, v)
				} else if how == "AddFields" {
					e.AddFields(&fs)
				}
				if n := e.Del(ask); n != 1 {
					t.Errorf("%s %q: Del(%q) = %d", how, name, ask, n)
				}
			}
		}
	}
}

// TestAddWords: a field of words is folded before a word that would take
// a line past 76 octets (RFC 2047 section 2), the first too, in the
// message's own line ending; a word longer than that is on a line of its
// own; and reads back, unfolded, as the words joined by spaces.
func TestAddWords(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"=?utf-8?q?D=C3=A9v?=", "<dev.example.org>"}, "List-Id: =?utf-8?q?D=C3=A9v?= <dev.example.org>\n"},
		// 76 octets on a line, not 77.
		{[]string{"=?utf-8?q?" + strings.Repeat("a", 37) + "?=", "<dev.example.org>"}, "List-Id: =?utf-8?q?" + strings.Repeat("a", 37) + "?= <dev.example.org>\n"},
		{[]string{"=?utf-8?q?" + strings.Repeat("a", 38) + "?=", "<dev.example.org>"}, "List-Id: =?utf-8?q?" + strings.Repeat("a", 38) + "?=\n <dev.example.org>\n"},
		{[]string{strings.Repeat("a", 60), "<dev.example.org>"}, "List-Id: " + strings.Repeat("a", 60) + "\n <dev.example.org>\n"},
		{[]string{strings.Repeat("a", 70), "b"}, "List-Id:\n " + strings.Repeat("a", 70) + " b\n"},
		{[]string{"a", long, "b"}, "List-Id: a\n " + long + "\n b\n"},
	} {
		var fs Fields
		if err := fs.AddWords("List-Id", tc.words); err != nil {
			t.Fatalf("AddWords(%q): %v", tc.words, err)
		}
		for _, eol := range []string{"\n", "\r\n"} {
			e := NewEdit([]byte("Subject: x" + eol + eol))
			e.AddFields(&fs)
			want := strings.ReplaceAll(tc.want, "\n", eol) + "Subject: x" + eol + eol
			if got := string(e.Bytes()); got != want {
				t.Errorf("AddWords(%q) in %q: %q; want %q", tc.words, eol, got, want)
			}
			if v, _ := e.Value("List-Id"); v != strings.Join(tc.words, " ") {
				t.Errorf("AddWords(%q): value %q", tc.words, v)
			}
		}
	}
	for _, words := range [][]string{{""}, {" a"}, {"a\t"}, {"a\nb"}, {strings.Repeat("a", MaxLine)}} {
		var fs Fields
		if err := fs.AddWords("List-Id", words); !errors.Is(err, ErrField) {
			t.Errorf("AddWords(%q) = %v; want ErrField", words, err)
		}
	}
}

// TestEditPrefixEncodedWords: a line that holds an encoded-word is at
// most 76 octets (RFC 2047 section 2). Where the prefix would make the
// first line pass that, the value goes on the next line; a prefix of
// several encoded-words is folded between them. A line without one is
// held to MaxLine alone, as before.
func TestEditPrefixEncodedWords(t *testing.T) {
	enc := "=?utf-8?q?[d=C3=A9v]?="
	x62, x63 := strings.Repeat("x", 62), strings.Repeat("x", 63)
	w := "=?utf-8?q?caf=C3=A9?="
	long := "=?utf-8?q?" + strings.Repeat("=C3=A9", 8) + "?="          // 60 octets
	three := long + " " + long + " " + "=?utf-8?q?" + "=C3=A9" + "_?=" // as mime.QEncoding splits one
	huge := "=?utf-8?q?" + strings.Repeat("=C3=A9", 10) + "?="         // 72: not after "Subject: "
	tests := []struct{ raw, text, want string }{
		// Short: one line, as before.
		{"Subject: x\n\n", enc, "Subject: " + enc + " x\n\n"},
		{"Subject: " + w + "\n\n", "[dev]", "Subject: [dev] " + w + "\n\n"},
		// An encoded prefix before ASCII: the first line would be 77.
		{"Subject: " + strings.Repeat("x", 44) + "\n\n", enc, "Subject: " + enc + " " + strings.Repeat("x", 44) + "\n\n"},
		{"Subject: " + strings.Repeat("x", 45) + "\n\n", enc, "Subject: " + enc + "\n " + strings.Repeat("x", 45) + "\n\n"},
		{"Subject: " + x62 + "\r\n\r\n", enc, "Subject: " + enc + "\r\n " + x62 + "\r\n\r\n"},
		// An ASCII prefix before a line that holds an encoded-word.
		{"Subject: " + w + " " + strings.Repeat("y", 39) + "\n\n", "[dev]", "Subject: [dev] " + w + " " + strings.Repeat("y", 39) + "\n\n"},
		{"Subject: " + w + " " + strings.Repeat("y", 40) + "\n\n", "[dev]", "Subject: [dev]\n " + w + " " + strings.Repeat("y", 40) + "\n\n"},
		// Not an encoded-word anywhere: MaxLine is the limit.
		{"Subject: " + x63 + "\n\n", "[dev]", "Subject: [dev] " + x63 + "\n\n"},
		// A prefix of three encoded-words, folded between them.
		{"Subject: x\n\n", three, "Subject: " + long + "\n " + long + "\n =?utf-8?q?=C3=A9_?= x\n\n"},
		{"Subject:\n\n", three, "Subject: " + long + "\n " + long + "\n =?utf-8?q?=C3=A9_?=\n\n"},
		// A first word too long for the first line stays there: on a
		// line of its own it would follow white space a reader shows.
		{"Subject: x\n\n", huge, "Subject: " + huge + "\n x\n\n"},
	}
	for _, tc := range tests {
		e := NewEdit([]byte(tc.raw))
		e.Prefix("Subject", tc.text)
		got := string(e.Bytes())
		if got != tc.want {
			t.Errorf("Prefix(%q, %q) = %q; want %q", tc.raw, tc.text, got, tc.want)
		}
		for l := range strings.SplitSeq(got, "\n") {
			if l = strings.TrimSuffix(l, "\r"); len(l) > 76 && wordParts.MatchString(l) && !strings.Contains(tc.raw, l) && l != "Subject: "+huge {
				t.Errorf("Prefix(%q, %q): line %q of %d octets holds an encoded-word", tc.raw, tc.text, l, len(l))
			}
		}
	}
}

func TestRepeated(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"From: a\nTo: b\nSubject: x\n\n", ""},
		{"Received: 1\nReceived: 2\nX-A: 1\nx-a: 2\nComments: a\nComments: b\nKeywords: k\nKeywords: l\n\n", ""},
		{"Resent-From: a\nResent-From: b\n\n", ""},
		{"Subject: x\nFrom: a\nsubject: y\n\n", "Subject"},
		{"From: a\nSubject: x\nSubject: y\nFROM: b\n\n", "Subject"}, // the first met twice
		{"From: a\nTo: b\n\tc\nFrom: d\n\n", "From"},
		{"To: a\r\nCc: b\r\nCC: c\r\n\r\n", "Cc"},
		{"Bcc:\nBcc: x\n\n", "Bcc"},
		{"Date: 1\nDate: 2\n\n", "Date"},
		{"Sender: a\nSender: b\n\n", "Sender"},
		{"Reply-To: a\nreply-to: b\n\n", "Reply-To"},
		{"Message-Id: <a@b>\nMessage-ID: <c@d>\n\n", "Message-ID"},
		{"In-Reply-To: <a@b>\nIn-Reply-To: <a@b>\n\n", "In-Reply-To"},
		{"References: <a@b>\nReferences: <c@d>\n\n", "References"},
		{"To: a\nTo : b\n\n", "To"}, // the obsolete syntax, white space before the colon (RFC 5322 section 4.5)
		{"To: a\n To: b\n\n", ""},   // a continuation line
		{"To: a\n\nTo: b\n", ""},    // the body's
		{"Tx: a\nTx: b\nDats: 1\nDats: 2\nMessage-IX: 1\nMessage-IX: 2\n\n", ""},
	} {
		if got := NewEdit([]byte(c.block)).Repeated(); got != c.want {
			t.Errorf("Repeated() of %q = %q; want %q", c.block, got, c.want)
		}
	}
	for _, n := range singular {
		for _, v := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
			if !OnlyOnce(v) {
				t.Errorf("OnlyOnce(%q) = false", v)
			}
		}
		if OnlyOnce(n+"x") || OnlyOnce("X"+n[1:]) {
			t.Errorf("OnlyOnce of a name like %q = true", n)
		}
	}
	for _, n := range []string{"", "Received", "Resent-From", "Comments", "Keywords", "Content-Type", "List-Id"} {
		if OnlyOnce(n) {
			t.Errorf("OnlyOnce(%q) = true", n)
		}
	}
}

func TestHasValue(t *testing.T) {
	for _, c := range []struct {
		block string
		want  bool
	}{
		{"Message-ID: <a@b>\n\n", true},
		{"message-id:<a@b>\n\n", true},
		{"Message-ID:\n <a@b>\n\n", true},
		{"Message-ID :x\n\n", true},
		{"Message-ID:\n\n", false},
		{"Message-ID: \t \r\n\r\n", false},
		{"Message-ID:\n \n\t\n\n", false},
		{"Message-ID:\nMessage-ID: x\n\n", true},
		{"X-Message-ID: x\n\n", false},
		{"Subject: Message-ID: x\n\n", false},
		{"\n", false},
	} {
		if got := NewEdit([]byte(c.block)).HasValue("Message-ID"); got != c.want {
			t.Errorf("HasValue of %q = %v; want %v", c.block, got, c.want)
		}
	}
}

// FuzzIsAddress: whatever the value, IsAddress answers without a panic,
// and a comment before it, or white space around it, changes nothing.
func FuzzIsAddress(f *testing.F) {
	for _, v := range []string{"dev@lists.example.org", "Dev <dev@lists.example.org> (x)", "<dev(x)@lists.example.org>", "\"a b\"@x", "dev@lists.example.org (", "(", "\"", "<>", "a <b> <c>"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := IsAddress(v, "dev@lists.example.org")
		if again := IsAddress(" (c) "+v+" \t", "dev@lists.example.org"); again != got {
			t.Errorf("IsAddress(%q) = %v, but %v after a comment and spaces", v, got, again)
		}
	})
}
