//go:build !amd64

package stream

// badLF is badLFGeneric.
func badLF(b []byte) (int, int) { return badLFGeneric(b) }

// decodeFast leaves every line to decodeRun.
func decodeFast(dst, src []byte) (nd, ns, lines int) { return 0, 0, 0 }

// encodeFast leaves every line to Writer.Write's loop.
func encodeFast(dst, src []byte) (nd, ns, lines int) { return 0, 0, 0 }
