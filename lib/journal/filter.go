package journal

import (
	"hash/maphash"
	"strings"
	"unicode/utf8"
	"unsafe"

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
	if text == "" || text[0] == '"' {
		return true
	}
	// One look at the local part, up to its "@" (a mailbox without
	// quotes has no other: one that has is no mailbox, and may say
	// anything), for what LowerLocal would do: a line of a journal is
	// mostly in lower case, and then hashed as it is. A quarter less
	// time for a journal's read than LastIndexByte and LowerLocal,
	// which looked twice.
	upper, other := false, false
	at := 0
	for ; at < len(text) && text[at] != '@'; at++ {
		c := text[at]
		upper = upper || 'A' <= c && c <= 'Z'
		other = other || c >= utf8.RuneSelf
	}
	if at == 0 || at == len(text) {
		return true
	}
	var w int
	var b uint64
	switch local := text[:at]; {
	case other || upper && len(local) > maxLowered:
		w, b = f.bit(addr.LowerLocal(local))
	case upper:
		var buf [maxLowered]byte
		l := buf[:len(local)]
		for i := range len(local) {
			c := local[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			l[i] = c
		}
		w, b = f.bit(unsafe.String(unsafe.SliceData(l), len(l)))
	default:
		w, b = f.bit(local)
	}
	return f.bits[w]&b != 0
}

// maxLowered is the longest local part May lowers in a buffer of its
// own: RFC 5321's limit.
const maxLowered = 64

// bit returns the word and bit of a local part.
func (f *LocalFilter) bit(local string) (int, uint64) {
	h := maphash.String(f.seed, local) & (localFilterBits - 1)
	return int(h >> 6), 1 << (h & 63)
}
