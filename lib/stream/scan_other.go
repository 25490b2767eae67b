//go:build !amd64

package stream

// badLF is badLFGeneric.
func badLF(b []byte) (int, int) { return badLFGeneric(b) }
