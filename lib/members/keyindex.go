package members

import (
	"hash/maphash"
	"math/bits"
	"slices"
)

// fingerprint is a key's (addr.Key) 128-bit hash, as a change's pass
// holds the addresses it changes: 16 octets each, not the addresses
// themselves. Two keys with one fingerprint would be taken for one
// address: for a million addresses against a file of a billion, the
// odds are some 1 in 10^23.
type fingerprint struct{ hi, lo uint64 }

// fpSeeds are this process's seeds of fingerprints: random, so that no
// one can choose addresses that share one.
var fpSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// fpBytes is the fingerprint of key.
func fpBytes(key []byte) fingerprint {
	return fingerprint{maphash.Bytes(fpSeeds[0], key), maphash.Bytes(fpSeeds[1], key)}
}

// fpString is the fingerprint of key.
func fpString(key string) fingerprint {
	return fingerprint{maphash.String(fpSeeds[0], key), maphash.String(fpSeeds[1], key)}
}

func (f fingerprint) less(g fingerprint) bool { return f.hi < g.hi || f.hi == g.hi && f.lo < g.lo }

func compareFP(f, g fingerprint) int {
	switch {
	case f.less(g):
		return -1
	case g.less(f):
		return 1
	}
	return 0
}

// Flags a keyIndex keeps for each key.
const (
	held    uint8 = 1 << iota // an address to add, on a valid line of the file
	written                   // an address to add, written
	gone                      // an address to remove, on a line left out
)

// keyIndex is the keys of a pass's addresses, to add or to remove, by
// fingerprint, sorted, with flags for each: about 17 octets a key,
// where a map of the keys and addresses took some 200. A lookup goes
// to a bucket of about four by the fingerprint's first bits, then
// searches it.
type keyIndex struct {
	fps   []fingerprint // sorted, none twice
	shift uint          // a fingerprint's bucket is hi>>shift
	start []int32       // fps[start[b]:start[b+1]] are bucket b's
	flags []uint8       // fps[i]'s
}

// build makes x the index of fps, which it sorts and keeps (those
// given twice once), reusing the memory of what x was before.
func (x *keyIndex) build(fps []fingerprint) {
	slices.SortFunc(fps, compareFP)
	x.fps = slices.Compact(fps)
	n := len(x.fps)
	b := max(bits.Len(uint(n))-2, 0) // about four a bucket
	x.shift = uint(64 - b)           // (64: every fingerprint in bucket 0)
	buckets := 1 << b
	x.start = slices.Grow(x.start[:0], buckets+1)[:buckets+1]
	i := 0
	for k := range buckets {
		x.start[k] = int32(i)
		for i < n && int(x.fps[i].hi>>x.shift) == k {
			i++
		}
	}
	x.start[buckets] = int32(n)
	x.flags = slices.Grow(x.flags[:0], n)[:n]
	x.clear()
}

// clear clears every key's flags.
func (x *keyIndex) clear() { clear(x.flags) }

// len is the number of keys.
func (x *keyIndex) len() int { return len(x.fps) }

// find returns the place of f among x's keys, or -1.
func (x *keyIndex) find(f fingerprint) int {
	if len(x.fps) == 0 {
		return -1
	}
	b := f.hi >> x.shift
	lo, hi := int(x.start[b]), int(x.start[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.fps[m].less(f) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < int(x.start[b+1]) && x.fps[lo] == f {
		return lo
	}
	return -1
}

// count is the number of keys with flag f.
func (x *keyIndex) count(f uint8) int {
	n := 0
	for _, g := range x.flags {
		if g&f != 0 {
			n++
		}
	}
	return n
}
