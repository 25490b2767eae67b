package members

import (
	"math/rand/v2"
	"testing"
)

// TestKeyIndex: an index finds each fingerprint it was built of, at a
// place of its own, and none other, at every size (a bucket of all at
// the smallest), with fingerprints that share their high half, given
// twice, or that fall in the first or last bucket; built again, it
// forgets what it held.
func TestKeyIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x keyIndex
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 65537} {
		var fps []fingerprint
		for i := range n {
			f := fingerprint{rng.Uint64(), rng.Uint64()}
			switch i % 5 {
			case 1:
				f.hi = fps[i-1].hi // the high half of the one before
			case 2:
				f = fps[i-1] // given twice
			case 3:
				f.hi = 0
			case 4:
				f.hi = ^uint64(0)
			}
			fps = append(fps, f)
		}
		given := append([]fingerprint(nil), fps...)
		x.build(fps)
		seen := map[int]fingerprint{}
		in := map[fingerprint]bool{}
		for _, f := range given {
			in[f] = true
			i := x.find(f)
			if i < 0 || x.fps[i] != f {
				t.Fatalf("n %d: find(%v) = %d; want its place", n, f, i)
			}
			if g, ok := seen[i]; ok && g != f {
				t.Fatalf("n %d: %v and %v both at %d", n, f, g, i)
			}
			seen[i] = f
		}
		if x.len() != len(seen) || len(x.flags) != x.len() {
			t.Fatalf("n %d: %d keys, %d flags; want %d", n, x.len(), len(x.flags), len(seen))
		}
		for range 1000 {
			f := fingerprint{rng.Uint64(), rng.Uint64()}
			if n > 0 && rng.IntN(2) == 0 {
				f.hi = given[rng.IntN(n)].hi // in a bucket that has keys
			}
			if i := x.find(f); i != -1 && !in[f] {
				t.Fatalf("n %d: find(%v), not given, = %d", n, f, i)
			}
		}
		for i := range x.flags {
			if x.flags[i] != 0 {
				t.Fatalf("n %d: flags not cleared", n)
			}
			if i%3 == 0 {
				x.flags[i] |= gone
			}
		}
		if got, want := x.count(gone), (x.len()+2)/3; got != want {
			t.Fatalf("n %d: count = %d; want %d", n, got, want)
		}
	}
	x.build(nil)
	if x.find(fingerprint{1, 2}) != -1 || x.len() != 0 || x.count(gone) != 0 {
		t.Fatalf("an index built of none finds one")
	}
}
