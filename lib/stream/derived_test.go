package stream

import (
	"slices"
	"strings"
	"testing"

	"mlm/lib/sysexit"
)

// TestDerived: the id and attributes of a record derived from another
// (mlm-stream(5)), and what verp=yes asks.
func TestDerived(t *testing.T) {
	h := &Header{ID: "p1", Attrs: []Attr{{Name: "list", Value: "l"}, {Name: "parent", Value: "p0"}, {Name: "verp", Value: "yes"}, {Name: "x-a", Value: "1"}}}
	if id, err := DerivedID("p1", 12); id != "p1,12" || err != nil {
		t.Errorf("DerivedID = %q, %v", id, err)
	}
	if id, err := DerivedID(strings.Repeat("x", MaxID-2), 10); id != "" || sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("DerivedID of an id too long = %q, %v", id, err)
	}
	want := []Attr{{Name: "list", Value: "l"}, {Name: "verp", Value: "yes"}, {Name: "x-a", Value: "1"}, {Name: "parent", Value: "p1"}}
	if got := DerivedAttrs(nil, h); !slices.Equal(got, want) {
		t.Errorf("DerivedAttrs = %v; want %v", got, want)
	}
	want = []Attr{{Name: "list", Value: "l"}, {Name: "x-a", Value: "1"}, {Name: "parent", Value: "p1"}}
	if got := DerivedAttrs(nil, h, "verp"); !slices.Equal(got, want) {
		t.Errorf("DerivedAttrs less verp = %v; want %v", got, want)
	}
	for _, tc := range []struct {
		values []string
		want   bool
	}{{nil, false}, {[]string{"yes"}, true}, {[]string{"no"}, false}, {[]string{"Yes"}, false}, {[]string{"yes", "no"}, false}, {[]string{"no", "yes"}, true}} {
		h := &Header{ID: "r"}
		for _, v := range tc.values {
			h.Attrs = append(h.Attrs, Attr{Name: "verp", Value: v})
		}
		if got := h.VERP(); got != tc.want {
			t.Errorf("verp=%v: VERP() = %v", tc.values, got)
		}
	}
}
