package stream

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT

// badLFAVX2 looks at the LFs at indexes below done (at most len(b)-1)
// 32 octets at a time and returns the first one followed by an octet other
// than ":", or i = -1, and how many LFs it looked at (up to i).
//
//go:noescape
func badLFAVX2(b []byte) (i, done, lfs int)

// badLF is badLFGeneric, with AVX2 where the processor has it.
func badLF(b []byte) (int, int) {
	if !haveAVX2 {
		return badLFGeneric(b)
	}
	i, done, lfs := badLFAVX2(b)
	if i >= 0 {
		return i, lfs
	}
	j, more := badLFGeneric(b[done:]) // the few octets left
	if j >= 0 {
		return done + j, lfs + more
	}
	return -1, lfs + more
}
