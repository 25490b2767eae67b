//go:build linux

package stream

import (
	"bytes"
	"math/rand/v2"
	"syscall"
	"testing"
)

// guard gives slices that end right before a page the process may not
// touch: a kernel that reads or writes one octet past its slice faults,
// where past a slice of the heap it would land unseen in the allocator's
// slack.
type guard struct {
	mem []byte
	end int
}

func newGuard(t *testing.T, size int) *guard {
	t.Helper()
	ps := syscall.Getpagesize()
	n := (size+ps-1)/ps*ps + ps
	m, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	if err := syscall.Mprotect(m[n-ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return &guard{mem: m, end: n - ps}
}

// slice returns n octets that end at the guard page.
func (g *guard) slice(n int) []byte { return g.mem[g.end-n : g.end : g.end] }

// TestScanGuarded runs the scanners, the decoder and the encoder on
// input, and the decoder and the encoder into output, that end at a page
// they may not touch.
func TestScanGuarded(t *testing.T) {
	src, dst := newGuard(t, 3*MaxLine), newGuard(t, 3*MaxLine)
	rng := rand.New(rand.NewPCG(3, 4))
	try := func(b []byte) {
		s := src.slice(len(b))
		copy(s, b)
		checkScan(t, s)
		checkDecode(t, s, dst.slice)
		checkEncode(t, s, dst.slice)
	}
	for k := 0; k < 3000; k++ {
		var b []byte
		for want := rng.IntN(400); len(b) < want; {
			b = append(b, ':')
			b = append(b, bytes.Repeat([]byte{'y'}, rng.IntN(70))...)
			b = append(b, '\n')
		}
		switch rng.IntN(3) {
		case 0:
			b = b[:rng.IntN(len(b)+1)]
		case 1:
			if len(b) > 0 {
				b[rng.IntN(len(b))] = "\nR;"[rng.IntN(3)]
			}
		}
		try(b)
	}
	for _, l := range []int{MaxLine - 1, MaxLine, MaxLine + 1} {
		long := append(append([]byte{':'}, bytes.Repeat([]byte{'z'}, l-2)...), '\n')
		try(long)
		try(append(bytes.Repeat([]byte(":ab\n"), 10), long...))
	}
}
