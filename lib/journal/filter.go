package journal

import (
	"hash/maphash"
	"strings"

	"mlm/lib/addr"
)

// A LocalFilter passes over, before their address is checked and its key
// made, most journal lines of recipients other than a few wanted: it
// keeps a bit for the local part (in lower case, as Key has it) of each
// key wanted that has no quotes, and a line whose local part has no bit
// is none of them. A retry record's hundred keys set some 0.2% of the
// bits, and so few lines of a million members' journal get past it.
type LocalFilter struct {
	seed maphash.Seed
	bits []uint64
}

// localFilterBits is the size of a LocalFilter.
const localFilterBits = 1 << 16

// NewLocalFilter returns a filter that wants no key yet.
func NewLocalFilter() *LocalFilter {
	return &LocalFilter{seed: maphash.MakeSeed(), bits: make([]uint64, localFilterBits/64)}
}

// Want adds the key k (addr.Key) to those wanted.
func (f *LocalFilter) Want(k string) {
	if at := strings.LastIndexByte(k, '@'); at > 0 && k[0] != '"' {
		w, b := f.bit(k[:at])
		f.bits[w] |= b
	}
}

// May reports whether the text of a journal line may be the address of
// a key wanted: false only if it is a mailbox whose local part, with no
// quotes, in lower case (addr.LowerLocal), has no bit. (A line spells an
// address as its record did: Bob@ is bob@'s key.) One with quotes, or no
// local part at all, is looked at whole. It is EachOf's may.
func (f *LocalFilter) May(text string) bool {
	at := strings.LastIndexByte(text, '@')
	if at <= 0 || text[0] == '"' {
		return true
	}
	w, b := f.bit(addr.LowerLocal(text[:at]))
	return f.bits[w]&b != 0
}

// bit returns the word and bit of a local part.
func (f *LocalFilter) bit(local string) (int, uint64) {
	h := maphash.String(f.seed, local) & (localFilterBits - 1)
	return int(h >> 6), 1 << (h & 63)
}
