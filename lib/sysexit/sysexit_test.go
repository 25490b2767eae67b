package sysexit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, OK},
		{errors.New("x"), TempFail},
		{Perm(DataErr, errors.New("x")), DataErr},
		{fmt.Errorf("wrapped: %w", Perm(NoPerm, errors.New("x"))), NoPerm},
		{Temp(errors.New("x")), TempFail},
		{Errorf(Usage, "bad %s", "flag"), Usage},
		{ErrNo, No},
	}
	for _, tc := range tests {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %d; want %d", tc.err, got, tc.want)
		}
	}
	if Temp(nil) != nil || Perm(DataErr, nil) != nil {
		t.Errorf("classifying nil must give nil")
	}
}

func TestReport(t *testing.T) {
	var b bytes.Buffer
	if c := Report(&b, "p", Errorf(DataErr, "line %d: bad", 3)); c != DataErr || b.String() != "p: line 3: bad\n" {
		t.Errorf("Report = %d, %q", c, b.String())
	}
	b.Reset()
	if c := Report(&b, "p", Errorf(DataErr, "header: bad line: 0\r\nBcc: x\x1b[31m\x7f\tü\u009b[2J\x9b\xff")); c != DataErr ||
		b.String() != `p: header: bad line: 0\x0d\x0aBcc: x\x1b[31m\x7f\x09ü\xc2\x9b[2J\x9b\xff`+"\n" {
		t.Errorf("Report of controls = %d, %q; want them escaped, one line", c, b.String())
	}
	// A format character that turns the text round (U+202E), a line
	// separator (U+2028) and a byte-order mark are escaped; the
	// non-breaking space (a space, Zs) is not.
	b.Reset()
	if c := Report(&b, "p", Errorf(DataErr, "bob\u202egro.elpmaxe@x\u2028y\ufeff\u00a0ü")); c != DataErr ||
		b.String() != `p: bob\xe2\x80\xaegro.elpmaxe@x\xe2\x80\xa8y\xef\xbb\xbf`+"\u00a0ü\n" {
		t.Errorf("Report of format characters = %d, %q; want them escaped", c, b.String())
	}
	b.Reset()
	if c := Report(&b, "p", ErrNo); c != No || b.Len() != 0 {
		t.Errorf("Report(ErrNo) = %d, %q; want 1 and silence", c, b.String())
	}
}

func TestReportDSN(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("disk full"), "4.3.0 p: disk full\n"},
		{Errorf(NoUser, "no such list"), "5.1.1 p: no such list\n"},
		{Errorf(NoPerm, "not a member"), "5.7.1 p: not a member\n"},
		{Errorf(Usage, "bad flag"), "5.3.5 p: bad flag\n"},
		{WithDSN(DataErr, "5.3.4", errors.New("too big")), "5.3.4 p: too big\n"},
		{Errorf(DataErr, "a\nb"), `5.6.0 p: a\x0ab` + "\n"},
		// An octet that is not UTF-8, in a line without a control: a
		// Latin-1 subject a parser's error quotes.
		{Errorf(DataErr, "subject caf\xe9"), `5.6.0 p: subject caf\xe9` + "\n"},
		// A paragraph separator (U+2029), which log viewers break at as
		// at U+2028.
		{Errorf(DataErr, "a\u2029b"), `5.6.0 p: a\xe2\x80\xa9b` + "\n"},
		// The last C1 control, U+009F; U+00A0 after it is a space.
		{Errorf(DataErr, "a\u009fb\u00a0c"), `5.6.0 p: a\xc2\x9fb` + "\u00a0c\n"},
		// U+FFFD is a character: kept beside an octet that is not UTF-8.
		{Errorf(DataErr, "caf\ufffd caf\xe9"), "5.6.0 p: caf\ufffd " + `caf\xe9` + "\n"},
		{nil, ""},
	} {
		var b bytes.Buffer
		ReportDSN(&b, "p", tc.err)
		if b.String() != tc.want {
			t.Errorf("ReportDSN(%v) = %q; want %q", tc.err, b.String(), tc.want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"", 0, ""},
		{"ab€", 4, "ab"}, // € is 3 octets: not split
		{"ab€", 5, "ab€"},
		{"ab€x", 5, "ab€"}, // the octet after the cut starts one
		{"a𝄞b", 4, "a"},    // 4 octets, cut past its first
		{"a𝄞b", 5, "a𝄞"},
		{"€", 1, ""},
		// Octets that are no character are cut at n: not four fewer,
		// nor one fewer for a stray continuation octet.
		{"abcd\x80\x80\x80\x80\x80\x80", 8, "abcd\x80\x80\x80\x80"},
		{"abcd\x80\x80\x80\x80\x80\x80", 9, "abcd\x80\x80\x80\x80\x80"},
		{"abcd\x80", 4, "abcd"},
		{"abc€\x80", 6, "abc€"},           // € whole, the stray octet after it cut
		{"ab\xe2\x82", 3, "ab"},           // a character s's end cuts short
		{"ab\xe2x\x82\x82", 4, "ab\xe2x"}, // \xe2 starts none
	} {
		if got := Cut(tc.s, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q; want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestBare: a path error loses its operation and path, wrapped or not;
// any other error is itself.
func TestBare(t *testing.T) {
	_, err := os.Open("/nonexistent/x")
	if got := Bare(Temp(err)); !errors.Is(got, fs.ErrNotExist) || got.Error() != "no such file or directory" {
		t.Errorf("Bare(open error) = %v", got)
	}
	other := errors.New("x")
	if Bare(other) != other {
		t.Errorf("Bare(other) is not itself")
	}
}
