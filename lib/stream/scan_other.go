//go:build !amd64

package stream

// haveAVX2 is false: there is no fast path (the tests of one skip).
const haveAVX2 = false

// badLF is badLFGeneric.
func badLF(b []byte) (int, int) { return badLFGeneric(b) }

// decodeFast leaves every line to decodeRun.
func decodeFast(dst, src []byte) (nd, ns, lines int) { return 0, 0, 0 }

// encodeFast leaves every line to Writer.Write's loop.
func encodeFast(dst, src []byte) (nd, ns, lines int) { return 0, 0, 0 }
