package stream

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// headerOf is a message's header block as a reader of the decoded
// message finds it: its lines up to and including the first empty one,
// LF or CRLF, or the whole message.
func headerOf(m []byte) []byte {
	for off := 0; off < len(m); {
		n := bytes.IndexByte(m[off:], '\n') + 1
		if n == 0 {
			break
		}
		if l := string(m[off : off+n]); l == "\n" || l == "\r\n" {
			return m[:off+n]
		}
		off += n
	}
	return m
}

// checkHeaderBlock: for every record of s, read n octets at a time (all
// at once for 0), HeaderBlock with max gives the message's header block
// (headerOf), or past max a prefix of it longer than max, and Message
// the rest of the message; the errors are Message's alone.
func checkHeaderBlock(t *testing.T, s []byte, max, n int) {
	t.Helper()
	var msgs [][]byte
	r := NewReader(bytes.NewReader(s))
	wantErr := r.Each(func(*Header) error {
		m, err := io.ReadAll(r.Message())
		msgs = append(msgs, m)
		return err
	})
	var in io.Reader = bytes.NewReader(s)
	if n > 0 {
		in = &chunked{s: s, n: n}
	}
	r = NewReader(in)
	i := 0
	err := r.Each(func(*Header) error {
		block, err := r.HeaderBlock([]byte("x")[:0], max)
		if err != nil {
			return err
		}
		rest, err := io.ReadAll(r.Message())
		if err != nil {
			return err
		}
		m, want := msgs[i], headerOf(msgs[i])
		i++
		if got := string(block) + string(rest); got != string(m) {
			t.Fatalf("record %d: block %q and rest %q; the message is %q", i, block, rest, m)
		}
		if len(want) <= max && !bytes.Equal(block, want) || len(want) > max && (len(block) <= max || !bytes.HasPrefix(want, block)) {
			t.Fatalf("record %d, max %d: HeaderBlock = %q; the block is %q", i, max, block, want)
		}
		return nil
	})
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("HeaderBlock's reading ended with %v; Message's with %v", err, wantErr)
	}
}

func TestHeaderBlock(t *testing.T) {
	long := strings.Repeat("x", MaxPiece)
	for _, s := range []string{
		"MLM1 x\nS <>\n:From: a\n: folded\n:\n:body\n:\nR <r@x>\nE 1\n",
		"MLM1 x\nS <>\n:A: b\r\n:\r\n:body\r\nE 0\n",
		"MLM1 x\nS <>\n:\n:body\nE 0\n",
		"MLM1 x\nS <>\n:A: b\n:C: d\nE 0\n",                  // no body
		"MLM1 x\nS <>\nE 0\nMLM1 y\nS <>\n:A: b\nE 0\n",      // no message, then one without LF
		"MLM1 x\nS <>\n;A: b\nE 0\n",                         // one line without LF
		"MLM1 x\nS <>\n:A: \r\n: \n:\r\r\n:\n:b\nE 0\n",      // only LF or CRLF alone ends it
		"MLM1 x\nS <>\n;" + long + "\n:\r\n:\r\n:b\r\nE 0\n", // a long line's end is no empty line
		"MLM1 x\nS <>\n;" + long + "\n;" + long + "\n:A: b\n:\n:b\nE 0\n",
		"MLM1 x\nS <>\n:A: b\n:\n:b\nMLM1 y\n",                // bad: a record in a message
		"MLM1 x\nS <>\n:A: b\n;c\n:\nE 0\n",                   // bad: a short piece followed
		"MLM1 x\nS <>\n:A: b\n:\n:" + long + long + "\nE 0\n", // bad: a line too long, in the body
		"MLM1 x\nS <>\n:" + long + long + "\n:\nE 0\n",        // in the header
	} {
		for _, max := range []int{0, 1, 5, 9, 1 << 20} {
			for _, n := range []int{0, 1, 3, 4000} {
				checkHeaderBlock(t, []byte(s), max, n)
			}
		}
	}
}

func FuzzHeaderBlock(f *testing.F) {
	f.Add([]byte("MLM1 x\nS <>\n:From: a\n: folded\n:\n:body\nR <r@x>\nE 1\n"), uint16(1000), uint8(0))
	f.Add([]byte("MLM1 x\nS <>\n:A: b\r\n:\r\n:body\r\nE 0\nMLM1 y\nS <>\n;c\nE 0\n"), uint16(3), uint8(2))
	f.Fuzz(func(t *testing.T, s []byte, max uint16, n uint8) {
		checkHeaderBlock(t, s, int(max), int(n))
	})
}
