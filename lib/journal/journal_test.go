package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/mlmtest"
)

// TestEach: only whole "D"/"F" lines with a mailbox name anyone; a
// partial last line is left, and the octets counted are the whole
// lines'.
func TestEach(t *testing.T) {
	text := "D a@x.example\nX b@x.example\nF c@x.example\nD d\nD e@x.example (cut short)\nD  f@x.example\nD g@x.ex"
	var got []string
	n, err := Each(strings.NewReader(text), func(a string) { got = append(got, a) })
	if err != nil || strings.Join(got, " ") != "a@x.example c@x.example" || n != int64(strings.LastIndexByte(text, '\n')+1) {
		t.Errorf("Each = %q, %d, %v; want a and c, %d octets", got, n, err, strings.LastIndexByte(text, '\n')+1)
	}
}

// TestSettled: a post without a journal has none; one with it has the
// keys of the recipients it names, any case of their domain.
func TestSettled(t *testing.T) {
	d, err := listdir.Open(mlmtest.ListDir(t, map[string]string{"address": "dev@lists.example.org\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Settled(d, "p"); s != nil || err != nil {
		t.Fatalf("Settled without a journal = %v, %v", s, err)
	}
	os.MkdirAll(Dir(d), 0o700)
	os.WriteFile(filepath.Join(Dir(d), Post("p,3,r")), []byte("D a@X.example\nF b@x.example\nD c@x.ex"), 0o600)
	s, err := Settled(d, "p")
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"a@x.example": true, "b@X.EXAMPLE": true, "c@x.ex": false, "A@x.example": false} {
		if s.Has(addr.Key(a)) != want {
			t.Errorf("settled %s: %v; want %v", a, !want, want)
		}
	}
}
