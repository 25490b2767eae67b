package main

import (
	"bytes"
	"io"
)

// A quoter adds (export) or removes (import) the '>' that mbox puts
// before a body line a reader could take for a From_ line: mboxrd quotes
// every line matching ^>*From , so that removing one '>' gives it back;
// mboxo quotes only ^From , so that ^>From  comes back as ^From  (RFC
// 4155, mbox(5)). Every other octet passes as it is, CR too.
//
// It streams, a line at a time: it holds no octets of a line, only how
// many '>' start it and how much of "From " follows them, so a line of
// any length, 300 MB without an LF too, goes through in bounded memory
// and in time linear in its length. (go-mbox's Writer held the line and
// copied all of it again on every Write.)
type quoter struct {
	w       io.Writer
	rd      bool // mboxrd, else mboxo
	unquote bool
	mid     bool  // past the start of the line: copy up to its LF
	gt      int64 // the '>' that start the line, held
	from    int   // the octets of "From " after them, held
	err     error
}

const fromSP = "From "

var (
	gts    = bytes.Repeat([]byte{'>'}, 512) // '>' to write, as many at a time
	fromSB = []byte(fromSP)
)

func newQuoter(w io.Writer, style string, unquote bool) *quoter {
	return &quoter{w: w, rd: style == "mboxrd", unquote: unquote}
}

// Write passes p on, quoted or unquoted. The octets at the start of a
// line that may yet match wait for the next Write, or for end.
func (q *quoter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && q.err == nil {
		if !q.mid {
			switch c := p[0]; {
			case q.from == 0 && c == '>' && q.moreGT():
				q.gt++
			case c == fromSP[q.from]:
				if q.from++; q.from == len(fromSP) {
					q.release(true)
				}
			default:
				q.release(false)
				continue // c goes with the rest of its line
			}
			p = p[1:]
			continue
		}
		// Copy through the LF, and on through every line after it
		// whose first octet cannot begin a line to quote.
		j, mid := 0, true
		for {
			i := bytes.IndexByte(p[j:], '\n')
			if i < 0 {
				j = len(p)
				break
			}
			j += i + 1
			if j == len(p) || p[j] == '>' || p[j] == 'F' {
				mid = false
				break
			}
		}
		q.write(p[:j])
		p, q.mid = p[j:], mid
	}
	if q.err != nil {
		return 0, q.err
	}
	return n, nil
}

// moreGT reports whether one more '>' may start a line to quote: any
// number for mboxrd; none to quote for mboxo, one to unquote.
func (q *quoter) moreGT() bool {
	return q.rd || q.unquote && q.gt == 0
}

// release writes the held start of the line, with one '>' more or less
// if it matched, and goes on to the rest of the line.
func (q *quoter) release(matched bool) {
	k := q.gt
	switch {
	case matched && !q.unquote:
		k++
	case matched && k > 0:
		k--
	}
	for k > 0 {
		m := min(k, int64(len(gts)))
		q.write(gts[:m])
		k -= m
	}
	q.write(fromSB[:q.from])
	q.mid, q.gt, q.from = true, 0, 0
}

func (q *quoter) write(b []byte) {
	if q.err == nil && len(b) > 0 {
		_, q.err = q.w.Write(b)
	}
}

// end writes what it holds, at the end of a message, and reports
// whether the message ended inside a line, after its last LF.
func (q *quoter) end() (midLine bool, err error) {
	if !q.mid && (q.gt > 0 || q.from > 0) {
		q.release(false)
	}
	midLine, q.mid = q.mid, false
	return midLine, q.err
}
