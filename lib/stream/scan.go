package stream

import "bytes"

// colonRun returns the length of the run of whole ":" lines at the start
// of b, a line being at most MaxLine octets, and the number of those
// lines: b[:n] is that run, and b[n] (if n < len(b)) starts a line of
// another kind, or a line not wholly in b, or one too long.
//
// It is the Reader's inner loop. An LF followed by anything but ":" is
// found 32 octets at a time where the processor can (badLF); the lines'
// lengths are then checked a block at a time, and only a run holding a
// block of MaxLine/2 octets without an LF is walked line by line.
func colonRun(b []byte) (n int, lines int64) {
	if len(b) == 0 || b[0] != ':' {
		return 0, 0
	}
	i, lfs := badLF(b)
	if i >= 0 {
		n = i + 1
	} else {
		n = bytes.LastIndexByte(b, '\n') + 1
	}
	run := b[:n]
	const half = MaxLine / 2
	for k := 0; k+half <= len(run); k += half {
		if bytes.IndexByte(run[k:k+half], '\n') < 0 {
			return walkColonRun(run)
		}
	}
	return n, int64(lfs)
}

// walkColonRun is colonRun one line at a time, for b made of ":" lines
// where one may be too long: it stops before that line.
func walkColonRun(b []byte) (n int, lines int64) {
	for n < len(b) && b[n] == ':' {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 || i+1 > MaxLine {
			break
		}
		n += i + 1
		lines++
	}
	return n, lines
}

// badLFGeneric returns the index of the first LF in b followed by an
// octet other than ":", or -1, and the number of LFs up to that one, or
// in all of b. An LF at the very end is not looked at but counted.
func badLFGeneric(b []byte) (int, int) {
	lfs := 0
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, lfs
		}
		lfs++
		if i+j+1 >= len(b) {
			return -1, lfs
		}
		i += j + 1
		if b[i] != ':' {
			return i - 1, lfs
		}
	}
}
