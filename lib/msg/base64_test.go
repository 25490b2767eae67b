package msg

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestBase64Lines: what Base64Lines writes, fed an octet at a time, is
// the base64 of the input in lines of 76 characters ended by the line
// end asked for, the last without one, and decodes to the input.
func TestBase64Lines(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 200} {
		in := strings.Repeat("\xffa\n", n)[:n]
		for _, eol := range []string{"\n", "\r\n"} {
			var b strings.Builder
			e := NewBase64Lines(&b, eol)
			for i := range len(in) {
				e.Write([]byte{in[i]})
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), eol)
			for i, l := range lines {
				if len(l) > 76 || i < len(lines)-1 && len(l) != 76 || strings.ContainsAny(l, "\r\n") {
					t.Errorf("%d octets, eol %q: line %d of %d octets: %q", n, eol, i, len(l), l)
				}
			}
			if d, err := base64.StdEncoding.DecodeString(strings.Join(lines, "")); string(d) != in || err != nil {
				t.Errorf("%d octets, eol %q: decodes to %q, %v", n, eol, d, err)
			}
		}
	}
}
