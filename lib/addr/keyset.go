package addr

import "hash/maphash"

// KeySet remembers keys (addr.Key) by a 64-bit hash in an open-addressing
// table kept at most two thirds full: 12 to 24 octets per member (and,
// while it grows, half as much again, unless Grow made it large enough
// first), so a 1,000,000-member list costs 16 MiB rather than the
// addresses themselves. Two different keys with one hash (odds about 1
// in 30 million for a million members) would count as one; mlm-members(1)
// and mlm-sendmail(1) say so under CAVEATS.
type KeySet struct {
	seed  maphash.Seed
	slots []uint64
	n     int
	used  []int    // the slots filled, while they are few: all of them if len(used) == n (never after grow, at n > maxUsed)
	hs    []uint64 // AddAll's hashes
	touch uint64   // what AddAll's first loads read, kept so that they are made
	spare []uint64 // the large table Reset let go, for a resize to that size to clear and use again
}

// maxUsed is the most filled slots a KeySet keeps track of, so that
// Reset empties those alone: a set reused for each record of a stream
// holds a few keys a record, and clearing its whole table (8 KiB at
// least) would cost more than the rest of the record.
const maxUsed = 64

// NewKeySet returns an empty set.
func NewKeySet() *KeySet {
	return &KeySet{seed: maphash.MakeSeed(), slots: make([]uint64, 1024), used: make([]int, 0, maxUsed)}
}

// Reset empties s for reuse, keeping its table unless it grew large. A
// large one is kept aside, not cleared: the next record of a stream to
// the same large list makes a table of that size again (Grow), which
// then clears this one and uses it, where a new one would cost a page
// fault for every 4 KiB (4,096 for a million members), and the old
// one a collection. A set that has held many keys once so keeps their
// table for its life, as mlm-members keeps the peak it reached.
func (s *KeySet) Reset() {
	switch {
	case s.n == 0:
		return
	case len(s.used) == s.n:
		for _, i := range s.used {
			s.slots[i] = 0
		}
	case len(s.slots) > 1<<16:
		s.spare, s.slots = s.slots, make([]uint64, 1024)
	default:
		clear(s.slots)
	}
	s.n, s.used = 0, s.used[:0]
}

// Add adds k and reports whether it was new.
func (s *KeySet) Add(k string) bool {
	if s.n*3 >= len(s.slots)*2 {
		s.grow()
	}
	return s.add(s.hash(k))
}

// hash is k's hash, never 0, which marks an empty slot.
func (s *KeySet) hash(k string) uint64 { return maphash.String(s.seed, k) | 1 }

// AddAll adds keys in order, as Add would each, and sets fresh[i] to
// whether keys[i] was new. It reads the slot of every key first, with
// nothing between the reads: a table far larger than the cache (16 MiB
// for a million members) makes each Add wait for memory, and these
// waits then overlap rather than follow one another, as Adds with a
// stage's work between them do.
func (s *KeySet) AddAll(keys []string, fresh []bool) {
	for (s.n+len(keys))*3 >= len(s.slots)*2 {
		s.grow()
	}
	s.hs = s.hs[:0]
	for _, k := range keys {
		s.hs = append(s.hs, s.hash(k))
	}
	mask := uint64(len(s.slots) - 1)
	var t uint64
	for _, h := range s.hs {
		t += s.slots[h&mask]
	}
	s.touch += t
	for i, h := range s.hs {
		fresh[i] = s.add(h)
	}
}

// add adds hash h and reports whether it was new; the table has room.
func (s *KeySet) add(h uint64) bool {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			if len(s.used) == s.n && len(s.used) < maxUsed {
				s.used = append(s.used, int(i))
			}
			s.n++
			return true
		case h:
			return false
		}
	}
}

// Has reports whether k was added.
func (s *KeySet) Has(k string) bool {
	h := s.hash(k)
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			return false
		case h:
			return true
		}
	}
}

// Grow makes room for n more keys, at most growMax: adding them does not
// grow the table. A caller that knows about how many keys are coming
// (the lines of a member file) so makes the table once, where growing it
// step by step would make and copy one table after another, up to half
// as large again as the last, and leave the old ones to the garbage
// collector. Past growMax, a count of lines is not trusted to be one of
// keys (a file of blank lines, say): the table grows from there as keys
// come, as it would without Grow.
func (s *KeySet) Grow(n int) {
	n = min(n, growMax)
	size := len(s.slots)
	for (s.n+n)*3 >= size*2 {
		size *= 2
	}
	if size > len(s.slots) {
		s.resize(size)
	}
}

// growMax is the most keys Grow makes room for: a table of 32 MiB.
const growMax = 1 << 21

func (s *KeySet) grow() { s.resize(2 * len(s.slots)) }

// resize moves the keys to a table of size slots, a power of 2.
func (s *KeySet) resize(size int) {
	// The slots used move: Reset clears the whole table from now on
	// (used is complete only while len(used) == n, and n > 0 here
	// unless AddAll grew an empty set).
	s.used = s.used[:0]
	old := s.slots
	if len(s.spare) == size {
		s.slots, s.spare = s.spare, nil
		clear(s.slots)
	} else {
		s.slots = make([]uint64, size)
	}
	mask := uint64(len(s.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
	}
}
