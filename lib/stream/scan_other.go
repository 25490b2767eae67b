//go:build !amd64

package stream

// badLF returns the index of the first LF in b followed by an octet other
// than ":", or -1.
func badLF(b []byte) int { return badLFGeneric(b) }
