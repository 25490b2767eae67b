package main

import "hash/maphash"

// keySet remembers member keys by a 64-bit hash in an open-addressing
// table: about 16 octets per member, so a 1,000,000-member list costs
// 16 MiB rather than the addresses themselves. Two different keys with
// one hash (odds about 1 in 30 million for a million members) would
// drop the second; mlm-members(1) says so under CAVEATS.
type keySet struct {
	seed  maphash.Seed
	slots []uint64
	n     int
}

func newKeySet() *keySet { return &keySet{seed: maphash.MakeSeed(), slots: make([]uint64, 1024)} }

// add adds k and reports whether it was new.
func (s *keySet) add(k string) bool {
	h := maphash.String(s.seed, k) | 1 // 0 marks an empty slot
	if s.n*2 >= len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return true
		case h:
			return false
		}
	}
}

func (s *keySet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
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
