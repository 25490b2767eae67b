package msg

import (
	"encoding/base64"
	"io"
)

// Base64Lines encodes what is written to it in base64, in lines of 76
// characters (RFC 2045 §6.8), each but the last ended by its eol; Close
// writes the last.
type Base64Lines struct {
	w   io.Writer
	eol string
	enc io.WriteCloser
	col int
}

// NewBase64Lines returns a Base64Lines writing to w, lines ended by eol.
func NewBase64Lines(w io.Writer, eol string) *Base64Lines {
	b := &Base64Lines{w: w, eol: eol}
	b.enc = base64.NewEncoder(base64.StdEncoding, lineWriter{b})
	return b
}

func (b *Base64Lines) Write(p []byte) (int, error) { return b.enc.Write(p) }

// Close writes what is left, with no line end after it.
func (b *Base64Lines) Close() error { return b.enc.Close() }

// lineWriter breaks the encoder's output into lines.
type lineWriter struct{ b *Base64Lines }

func (l lineWriter) Write(p []byte) (int, error) {
	b := l.b
	n := len(p)
	for len(p) > 0 {
		if b.col == 76 {
			if _, err := io.WriteString(b.w, b.eol); err != nil {
				return 0, err
			}
			b.col = 0
		}
		k := min(len(p), 76-b.col)
		if _, err := b.w.Write(p[:k]); err != nil {
			return 0, err
		}
		b.col += k
		p = p[k:]
	}
	return n, nil
}
