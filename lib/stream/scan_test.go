package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naiveBadLF is badLF by its definition, an octet at a time.
func naiveBadLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\n' && b[i+1] != ':' {
			return i
		}
	}
	return -1
}

func checkScan(t *testing.T, b []byte) {
	t.Helper()
	want := naiveBadLF(b)
	wantLFs := bytes.Count(b, []byte{'\n'})
	if want >= 0 {
		wantLFs = bytes.Count(b[:want+1], []byte{'\n'})
	}
	if got, lfs := badLF(b); got != want || lfs != wantLFs {
		t.Fatalf("badLF(%q) = %d, %d LFs; want %d, %d", trim(b), got, lfs, want, wantLFs)
	}
	if got, lfs := badLFGeneric(b); got != want || lfs != wantLFs {
		t.Fatalf("badLFGeneric(%q) = %d, %d LFs; want %d, %d", trim(b), got, lfs, want, wantLFs)
	}
	n, l := colonRun(b)
	wn, wl := walkColonRun(b) // the definition, a line at a time
	if n != wn || l != wl {
		t.Fatalf("colonRun(%q) = %d, %d, want %d, %d", trim(b), n, l, wn, wl)
	}
	checkDecode(t, b, func(n int) []byte { return make([]byte, n) })
	checkEncode(t, b, func(n int) []byte { return make([]byte, n) })
}

// checkDecode holds decodeRun to its definition, a line at a time, for p of
// every size around the payloads' total, made by mk.
func checkDecode(t *testing.T, b []byte, mk func(int) []byte) {
	t.Helper()
	var total int
	for q := 0; q < len(b) && b[q] == ':'; {
		i := bytes.IndexByte(b[q:], '\n')
		if i < 0 {
			break
		}
		total += i
		q += i + 1
	}
	for _, size := range []int{0, 1, 31, 32, 33, 64, total - 33, total - 32, total - 1, total, total + 31, total + 32, total + 100} {
		if size < 0 {
			continue
		}
		var want []byte
		var wq, wl int
		for wq < len(b) && b[wq] == ':' {
			i := bytes.IndexByte(b[wq:], '\n')
			if i < 0 || i+1 > MaxLine || len(want)+i > size {
				break
			}
			want = append(want, b[wq+1:wq+i+1]...)
			wq += i + 1
			wl++
		}
		p := mk(size)
		n, q, lines := decodeRun(p, b)
		if n != len(want) || q != wq || lines != wl || !bytes.Equal(p[:n], want) {
			t.Fatalf("decodeRun(%d octets, %q) = %d, %d, %d; want %d, %d, %d", size, trim(b), n, q, lines, len(want), wq, wl)
		}
	}
}

// checkEncode holds encodeFast to its definition for dst of sizes about
// none, about the mask and a copy, and about what b takes encoded, made
// by mk: what it encodes is whole lines at the start of b, each of at
// most MaxPiece octets before its LF, each behind a ":".
func checkEncode(t *testing.T, b []byte, mk func(int) []byte) {
	t.Helper()
	for _, size := range []int{0, 1, 96, 97, len(b) - 1, len(b), len(b) + 64, 2*len(b) + 100} {
		if size < 0 {
			continue
		}
		p := mk(size)
		nd, ns, lines := encodeFast(p, b)
		var want []byte
		wl := 0
		for q := 0; q < ns; wl++ {
			i := bytes.IndexByte(b[q:ns], '\n')
			if i < 0 || i > MaxPiece {
				t.Fatalf("encodeFast(%d octets, %q) took %d octets, not whole lines of MaxPiece at most", size, trim(b), ns)
			}
			want = append(append(want, ':'), b[q:q+i+1]...)
			q += i + 1
		}
		if nd != len(want) || lines != wl || !bytes.Equal(p[:nd], want) {
			t.Fatalf("encodeFast(%d octets, %q) = %d, %d, %d; want %d, %d, %d", size, trim(b), nd, ns, lines, len(want), ns, wl)
		}
	}
}

func trim(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// TestScan holds the scanners to their definitions on lines of every
// length around the 32-octet blocks and MaxLine, with the bad LF at
// every offset.
func TestScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(":\n;Rx")
	for n := 0; n < 200; n++ {
		for k := 0; k < 50; k++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			checkScan(t, b)
		}
	}
	// Valid runs of ":" lines, then one bad LF at each position.
	var run []byte
	for len(run) < 3000 {
		run = append(run, ':')
		run = append(run, bytes.Repeat([]byte{'y'}, rng.IntN(80))...)
		run = append(run, '\n')
	}
	checkScan(t, run)
	for i := range run {
		if run[i] == '\n' && i+1 < len(run) {
			b := bytes.Clone(run)
			b[i+1] = 'R'
			checkScan(t, b)
		}
	}
	// Lines at and around MaxLine, alone and among short ones.
	for _, l := range []int{MaxLine/2 - 1, MaxLine / 2, MaxLine - 1, MaxLine, MaxLine + 1, 2 * MaxLine} {
		long := append(append([]byte{':'}, bytes.Repeat([]byte{'z'}, l-2)...), '\n')
		checkScan(t, long)
		checkScan(t, append(append(bytes.Clone(run), long...), run...))
		checkScan(t, append(bytes.Clone(run[:100]), long...))
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(":a\n:b\nR <x@y>\n"))
	f.Add([]byte(":" + string(bytes.Repeat([]byte{'a'}, 40)) + "\n;x\n"))
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

// TestCtlFree holds ctlFree to its definition for every octet at every
// place in a word and around it.
func TestCtlFree(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if c < ' ' || c == 0x7f {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{'a'}, n)
				if pos > 0 {
					b[pos-1] = 0xff
				}
				b[pos] = byte(c)
				if got, want := ctlFree(b), naive(b); got != want {
					t.Fatalf("ctlFree(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// reachLines makes 300 lines for TestDecodeFastReach and
// TestEncodeFastReach: of 0 to 299 octets before the LF, and one in 50
// of MaxPiece-1, MaxPiece or MaxPiece+1, each behind a ":" if tag. It
// returns them, their payloads (without the tags), the index past each
// line, and how many lines a fast path must take: those before the first
// of more than MaxPiece octets that end 128 octets or more before the
// end (more than the mask needs past a line's LF, 63, or a copy past
// the line's start, 96), and the most it may: those before the first of
// more than MaxPiece.
func reachLines(rng *rand.Rand, tag bool) (b, payloads []byte, ends []int, must, may int) {
	c := byte('a' + rng.IntN(26))
	may = -1
	for k := 0; k < 300; k++ {
		n := rng.IntN(300)
		if rng.IntN(50) == 0 {
			n = MaxPiece - 1 + rng.IntN(3)
		}
		if n > MaxPiece && may < 0 {
			may = k
		}
		if tag {
			b = append(b, ':')
		}
		start := len(b)
		b = append(append(b, bytes.Repeat([]byte{c}, n)...), '\n')
		payloads = append(payloads, b[start:]...)
		ends = append(ends, len(b))
	}
	if may < 0 {
		may = len(ends)
	}
	for must < may && ends[must] <= len(b)-128 {
		must++
	}
	return b, payloads, ends, must, may
}

// TestDecodeFastReach holds the fast decoder to doing the work, not only
// to being right when it leaves the rest to decodeRun's loop: with room
// for all, it must decode each whole line reachLines says it must, none
// past those it may, the payloads being what the lines carry.
func TestDecodeFastReach(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: decodeFast decodes nothing")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 150 {
		b, want, ends, must, may := reachLines(rng, true)
		dst := make([]byte, len(b))
		nd, ns, lines := decodeFast(dst, b)
		end := 0 // of the lines decoded
		if lines > 0 && lines <= len(ends) {
			end = ends[lines-1]
		}
		if lines < must || lines > may || ns != end || nd != ns-lines || !bytes.Equal(dst[:nd], want[:nd]) {
			t.Fatalf("decodeFast on %d lines: %d, %d, %d lines; want from %d to %d lines", len(ends), nd, ns, lines, must, may)
		}
	}
}

// TestEncodeFastReach is TestDecodeFastReach for the encoder, its output
// also held to checkEncode.
func TestEncodeFastReach(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: encodeFast encodes nothing")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for k := range 150 {
		b, _, ends, must, may := reachLines(rng, false)
		dst := make([]byte, 2*len(b))
		nd, ns, lines := encodeFast(dst, b)
		end := 0 // of the lines encoded
		if lines > 0 && lines <= len(ends) {
			end = ends[lines-1]
		}
		if lines < must || lines > may || ns != end || nd != ns+lines {
			t.Fatalf("encodeFast on %d lines: %d, %d, %d lines; want from %d to %d lines", len(ends), nd, ns, lines, must, may)
		}
		if k%10 == 0 {
			checkEncode(t, b, func(n int) []byte { return make([]byte, n) })
		}
	}
}

// BenchmarkDecode decodes runs of ":" lines into a buffer, as mlm-unwrap
// does into its output: lines of a 4 KB post's lengths (66 octets and an
// LF), and of text's (0 to 78 octets, at random).
func BenchmarkDecode(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	runs := map[string]func() int{"67": func() int { return 66 }, "text": func() int { return rng.IntN(79) }}
	for _, name := range []string{"67", "text"} {
		var src []byte
		var want int
		for range 1000 {
			n := runs[name]()
			src = append(append(append(src, ':'), bytes.Repeat([]byte{'q'}, n)...), '\n')
			want += n + 1
		}
		dst := make([]byte, len(src))
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if n, _, _ := decodeRun(dst, src); n != want {
					b.Fatalf("decoded %d octets, want %d", n, want)
				}
			}
		})
	}
}

// BenchmarkEncode encodes lines as Writer.Write does, of a 4 KB post's
// lengths and of text's.
func BenchmarkEncode(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	runs := map[string]func() int{"67": func() int { return 66 }, "text": func() int { return rng.IntN(79) }}
	for _, name := range []string{"67", "text"} {
		var src []byte
		for range 1000 {
			src = append(append(src, bytes.Repeat([]byte{'q'}, runs[name]())...), '\n')
		}
		b.Run(name, func(b *testing.B) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.WriteHeader(&Header{ID: "x", Sender: Path{Mailbox: "a@b.example"}}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				buf.Reset()
				if _, err := w.Write(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
