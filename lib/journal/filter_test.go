package journal

import (
	"fmt"
	"strings"
	"testing"

	"mlm/lib/addr"
)

// TestLocalFilter: a filter passes every spelling of a key it wants, in
// any case of the local part (ASCII, past 64 octets, or not ASCII) and
// of the domain, and anything that is no plain mailbox (quotes, no
// local part, no "@"); and passes over nearly every other address.
func TestLocalFilter(t *testing.T) {
	long := strings.Repeat("Ab", 40) // (80 octets: past maxLowered)
	wanted := []string{"bob@x.example", "Carol.Smith@X.Example", long + "@x.example", "ΟΔΟΣ@x.example",
		"Ärzte@bücher.example", "d@xn--bcher-kva.example", "e@[192.0.2.1]"}
	f := NewLocalFilter()
	for _, a := range wanted {
		f.Want(addr.Key(a))
	}
	for _, a := range wanted {
		for _, s := range []string{a, strings.ToUpper(a), strings.ToLower(a), strings.ToUpper(a[:1]) + a[1:]} {
			if addr.Key(s) != addr.Key(a) {
				continue // (another key: ToUpper of an A-label's domain, say)
			}
			if !f.May(s) {
				t.Errorf("May(%q) = false; want true, a spelling of %q", s, a)
			}
		}
	}
	for _, s := range []string{`"bob"@x.example`, "@x.example", "nobody", "", `"x"@y`} {
		if !f.May(s) {
			t.Errorf("May(%q) = false; want true", s)
		}
	}
	passed := 0
	for i := range 10000 {
		if f.May(fmt.Sprintf("M%d@x.example", i)) {
			passed++
		}
	}
	if passed > 100 {
		t.Errorf("May passed %d of 10,000 other addresses; want few", passed)
	}
}
