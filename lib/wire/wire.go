// Package wire turns message octets into their SMTP DATA form (RFC 5321
// §2.3.8, §4.5.2): every line ends in CRLF, a line starting with "." gets
// another, and the data ends with CRLF "." CRLF. A bare LF and a bare CR
// both become CRLF, so no receiver can find an end of data that the sender
// did not mean (SMTP smuggling, CVE-2023-51764 and kin). This is the only
// place mlm converts line endings. It is part of mlm's internals, not a
// public API.
package wire

import (
	"bufio"
	"bytes"
	"io"
)

// DataWriter writes SMTP DATA octets to an underlying writer.
type DataWriter struct {
	w       io.Writer
	bol     bool // at the beginning of a line
	cr      bool // a CR was seen and not yet written
	scratch []byte
	err     error
}

// NewDataWriter returns a DataWriter writing to w.
func NewDataWriter(w io.Writer) *DataWriter { return &DataWriter{w: w, bol: true} }

// Write converts and writes p. To a bufio.Writer of 4 KiB or more, it
// converts p straight into the buffer, a piece at a time: as much as
// fits there however much it grows (twice its length, and a CRLF),
// flushing the buffer first when neither the rest of p nor 4 KiB of it
// would fit.
func (d *DataWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	bw, _ := d.w.(*bufio.Writer)
	if bw == nil || bw.Size() < minDirect {
		out := d.convert(d.scratch[:0], p)
		d.scratch = out
		if err := d.write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	n := 0
	for n < len(p) {
		if bw.Available() < min(minDirect, 2*(len(p)-n)+2) {
			if err := bw.Flush(); err != nil {
				d.err = err
				return n, err
			}
		}
		k := min(len(p)-n, (bw.Available()-2)/2)
		if err := d.write(d.convert(bw.AvailableBuffer(), p[n:n+k])); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// minDirect is the least room in a bufio.Writer that Write converts a
// piece of a larger input into; with less, it flushes the buffer first.
const minDirect = 4 << 10

func (d *DataWriter) write(out []byte) error {
	if _, err := d.w.Write(out); err != nil {
		d.err = err
		return err
	}
	return nil
}

// convert appends p, converted, to out.
func (d *DataWriter) convert(out, p []byte) []byte {
	lf := -1 // where the next LF at or after i is, or len(p); -1: not looked for
	for i := 0; i < len(p); {
		c := p[i]
		if d.cr {
			d.cr = false
			out = append(out, '\r', '\n')
			d.bol = true
			if c == '\n' {
				i++
				continue
			}
		}
		switch {
		case c == '\r':
			d.cr = true
			i++
		case c == '\n':
			out = append(out, '\r', '\n')
			d.bol = true
			i++
		default:
			if d.bol && c == '.' {
				out = append(out, '.')
			}
			d.bol = false
			// The next CR or LF: two searches that run a vector at a
			// time cost less than one that looks for either octet at
			// each octet. The next LF is kept, and CRs are looked for
			// only up to it, so that text of CRs and no LF is not
			// searched to its end again for every line.
			if lf < i {
				lf = len(p)
				if k := bytes.IndexByte(p[i:], '\n'); k >= 0 {
					lf = i + k
				}
			}
			j := lf - i
			if k := bytes.IndexByte(p[i:lf], '\r'); k >= 0 {
				j = k
			}
			out = append(out, p[i:i+j]...)
			i += j
		}
	}
	return out
}

// Close ends the last line if it has no line ending and writes the
// terminating ".". It does not close the underlying writer.
func (d *DataWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	end := ".\r\n"
	if d.cr || !d.bol {
		end = "\r\n.\r\n"
	}
	d.cr, d.bol = false, true
	_, err := io.WriteString(d.w, end)
	return err
}
