package msg

import (
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// TestQPEncode: every line within 76 octets, LF line endings only, and
// it decodes to what it was: a bare CR stays a CR in a line, not a break.
func TestQPEncode(t *testing.T) {
	for _, s := range []string{
		"",
		"plain\n",
		"café\nno final LF",
		"X-A: a\rX-Spam-Verdict: clean\n",
		"X-Long: " + strings.Repeat("é-long ", 250) + "\n\n",
		"trailing space \ntab\t\n",
		"=?utf-8?q?x?= = 3\r\n",
	} {
		got := QPEncode(s)
		for _, l := range strings.Split(got, "\n") {
			if len(l) > 76 || strings.Contains(l, "\r") {
				t.Errorf("QPEncode(%.30q): line %q", s, l)
			}
		}
		back, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(got)))
		if err != nil || string(back) != s {
			t.Errorf("QPEncode(%.30q) = %q, decodes to %q, %v", s, got, back, err)
		}
	}
}
