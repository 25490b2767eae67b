package stream

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2

// badLFAVX2 looks at the LFs at indexes below done (at most len(b)-1)
// 32 octets at a time and returns the first one followed by an octet other
// than ":", or i = -1.
//
//go:noescape
func badLFAVX2(b []byte) (i, done int)

// badLF is badLFGeneric, with AVX2 where the processor has it.
func badLF(b []byte) int {
	if !haveAVX2 {
		return badLFGeneric(b)
	}
	i, done := badLFAVX2(b)
	if i >= 0 {
		return i
	}
	if j := badLFGeneric(b[done:]); j >= 0 { // the few octets left
		return done + j
	}
	return -1
}
