package stream

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT

// badLFAVX2 looks at the LFs at indexes below done (at most len(b)-1)
// 32 octets at a time and returns the first one followed by an octet other
// than ":", or i = -1, and how many LFs it looked at (up to i).
//
//go:noescape
func badLFAVX2(b []byte) (i, done, lfs int)

// decodeAVX2 decodes the whole ":" lines at the start of src into dst
// while the 64 octets around a line's LF are in src, and its payload,
// rounded up to 32 octets and 96 at least, is there to load and has
// room in dst: see scan_amd64.s.
//
//go:noescape
func decodeAVX2(dst, src []byte) (nd, ns, lines int)

// encodeAVX2 encodes the whole lines at the start of src into dst,
// each behind a ":", as decodeAVX2 decodes: see scan_amd64.s.
//
//go:noescape
func encodeAVX2(dst, src []byte) (nd, ns, lines int)

// encodeFast encodes as many of the whole lines at the start of src
// into dst as it can cheaply, each of at most MaxPiece octets before its
// LF, behind a ":": dst[:nd] is src[:ns], lines lines, so encoded. dst
// beyond nd may be written.
func encodeFast(dst, src []byte) (nd, ns, lines int) {
	if !haveAVX2 || len(src) < 64 { // less than one mask: not worth a call
		return 0, 0, 0
	}
	return encodeAVX2(dst, src)
}

// decodeFast decodes as many of the ":" lines at the start of src into
// dst as it can cheaply, leaving the rest to decodeRun: dst[:nd] is the
// payloads of src[:ns], lines lines. dst beyond nd may be written.
func decodeFast(dst, src []byte) (nd, ns, lines int) {
	if !haveAVX2 || len(src) < 64 { // less than one mask: not worth a call
		return 0, 0, 0
	}
	return decodeAVX2(dst, src)
}

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
