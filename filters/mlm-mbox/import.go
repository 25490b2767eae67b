package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"mlm/lib/envelope"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// importer turns mbox lines into records. A From_ line starts a message
// when it is the first line or follows a blank line, or is a whole one
// (fullFromLine) anywhere; the blank line
// before it, and the one at the end of the file, belong to the mbox and
// not to the message (RFC 4155, mbox(5)).
type importer struct {
	a       *args
	w       *stream.Writer
	q       *quoter // unquotes the message lines on their way to w
	base    string
	rcpts   []stream.Path
	attrs   []stream.Attr
	n       int    // records begun
	line    int64  // input line number
	blank   []byte // a blank line not yet written: it may be a separator
	inMsg   bool
	sawLine bool // a non-blank line since the last blank one
}

// importMbox writes one record per message of the mbox read from in.
func importMbox(a *args, in io.Reader, out io.Writer) error {
	im := &importer{a: a, w: stream.NewWriter(out), base: stream.NewID()}
	im.q = newQuoter(im.w, a.Quoting, true)
	if a.ID != nil {
		// An empty base given is a bad one, not none: a script's
		// unset variable must not pass for a fresh base.
		im.base = *a.ID
		if err := stream.CheckID(im.base); err != nil {
			return sysexit.Errorf(sysexit.Usage, "-i: %v", err)
		}
		if max := queue.MaxID - len(",9999999999"); len(im.base) > max {
			// The ids are base,1, base,2 … : room for the count,
			// within what a queue takes.
			return sysexit.Errorf(sysexit.Usage, "-i: an id base of %d octets; at most %d", len(im.base), max)
		}
	}
	for _, nv := range a.Attr {
		at, err := stream.ParseAttr(nv)
		if err != nil {
			return fmt.Errorf("-a: %w", err)
		}
		// What the stream writer would refuse at the first message,
		// as bad data, is a bad option.
		if n := 4 + len(at.Name) + len(stream.EscapeValue(at.Value)); n > stream.MaxLine {
			return sysexit.Errorf(sysexit.Usage, "-a: attribute line of %d octets, over %d", n, stream.MaxLine)
		}
		im.attrs = append(im.attrs, at)
	}
	// A record gets received too, from its From_ line's date.
	if len(im.attrs) >= stream.MaxAttrs {
		return sysexit.Errorf(sysexit.Usage, "-a: more than %d attributes, with room for received", stream.MaxAttrs-1)
	}
	// A bad address in an option is a bad option, as a bad -a name is:
	// NewPath's EX_DATAERR would put it down to the mbox.
	for _, r := range a.Rcpt {
		p, err := stream.NewPath(r, false)
		if err != nil {
			return sysexit.Perm(sysexit.Usage, fmt.Errorf("-r: %w", err))
		}
		im.rcpts = append(im.rcpts, p)
	}
	if a.Sender != nil {
		if _, err := stream.NewPath(*a.Sender, true); err != nil {
			return sysexit.Perm(sysexit.Usage, fmt.Errorf("-f: %w", err))
		}
	}
	if err := im.run(bufio.NewReaderSize(in, 64<<10)); err != nil {
		return err
	}
	return im.w.Flush()
}

func (im *importer) run(br *bufio.Reader) error {
	bol := true // the next chunk starts a line
	for {
		chunk, err := br.ReadSlice('\n')
		full := err == nil
		switch {
		case err == io.EOF && len(chunk) == 0:
			return im.end()
		case err == io.EOF, errors.Is(err, bufio.ErrBufferFull):
		case err != nil:
			return err
		}
		if bol {
			im.line++
			if done, err := im.startOfLine(chunk, full); err != nil || done {
				if err != nil {
					return err
				}
				bol = full
				continue
			}
		}
		// The quoter holds nothing at the start of a line: a blank
		// line may go round it.
		if im.blank != nil {
			if _, err := im.w.Write(im.blank); err != nil {
				return err
			}
			im.blank = nil
		}
		// Every chunk of a line, not only its first: the '>' before
		// "From " may fill more than one.
		if _, err := im.q.Write(chunk); err != nil {
			return err
		}
		bol = full
	}
}

// startOfLine handles a line's first chunk when it is a From_ line, a
// blank line or text before the first message, and reports whether it
// consumed the chunk.
func (im *importer) startOfLine(chunk []byte, full bool) (bool, error) {
	// A From_ line starts a message after a blank line, if it has a
	// sender or a date; and without one if it is a whole From_ line,
	// sender and date: mboxo and mboxrd both quote a body line "From ",
	// so an unquoted one that reads as a separator is one (a message
	// merged into the one before it, its sender and date lost, was the
	// other way). A line of text after a blank line ("From the desk of
	// the chair") is the body's, which an mbox written without quoting
	// has: taken for a separator, it stopped the import, or with -f
	// was lost with the blank line, the message cut in two (R88 F2).
	// The first line of all is one whatever it holds.
	if envelope.IsFromLine(chunk) && (!im.inMsg || !im.sawLine && fromLike(chunk, full) || fullFromLine(chunk, full)) {
		if !full {
			return false, im.errorf("From_ line too long or without LF")
		}
		// A CR before its end: lines that end in CR alone (an old
		// Mac mbox), which no From_ line reader splits; taken for
		// one, the rest of the line, messages and all, would go.
		if bytes.IndexByte(bytes.TrimSuffix(chunk[:len(chunk)-1], []byte("\r")), '\r') >= 0 {
			return false, im.errorf("From_ line with a CR before its end")
		}
		return true, im.begin(chunk)
	}
	if string(chunk) == "\n" || string(chunk) == "\r\n" {
		if im.inMsg && im.blank != nil {
			if _, err := im.w.Write(im.blank); err != nil {
				return true, err
			}
		}
		im.blank, im.sawLine = append([]byte(nil), chunk...), false
		return true, nil
	}
	if !im.inMsg {
		return false, im.errorf("not an mbox: text before the first From_ line")
	}
	im.sawLine = true
	return false, nil
}

// fromLike reports whether a line is a From_ line with a sender or a
// date, whole.
func fromLike(line []byte, full bool) bool {
	if !full {
		return false
	}
	_, err := envelope.ParseFromLine(line)
	_, dated := envelope.FromLineTime(line)
	return err == nil || dated
}

// fullFromLine reports whether a line is a From_ line with a sender
// and a date, whole.
func fullFromLine(line []byte, full bool) bool {
	if !full {
		return false
	}
	_, err := envelope.ParseFromLine(line)
	_, dated := envelope.FromLineTime(line)
	return err == nil && dated
}

// begin ends the current record and starts the next one.
func (im *importer) begin(fromLine []byte) error {
	if err := im.end(); err != nil {
		return err
	}
	sender := ""
	if im.a.Sender != nil {
		sender = *im.a.Sender
	} else {
		s, err := envelope.ParseFromLine(fromLine)
		if err != nil {
			return im.errorf("%v", err)
		}
		sender = s
	}
	im.n++
	h := &stream.Header{ID: im.base + "," + strconv.Itoa(im.n), Attrs: im.attrs, Sender: stream.Path{Mailbox: sender}}
	if t, ok := envelope.FromLineTime(fromLine); ok {
		h.Attrs = append(h.Attrs[:len(h.Attrs):len(h.Attrs)], stream.Attr{Name: "received", Value: strconv.FormatInt(t.Unix(), 10)})
	}
	if err := im.w.WriteHeader(h); err != nil {
		return err
	}
	im.inMsg, im.blank, im.sawLine = true, nil, true
	return nil
}

// end finishes the current record, if any, dropping a held blank line.
func (im *importer) end() error {
	if !im.inMsg {
		return nil
	}
	im.inMsg, im.blank = false, nil
	if _, err := im.q.end(); err != nil {
		return err
	}
	for _, r := range im.rcpts {
		if err := im.w.Recipient(r); err != nil {
			return err
		}
	}
	return im.w.End()
}

func (im *importer) errorf(format string, a ...any) error {
	return sysexit.Perm(sysexit.DataErr, fmt.Errorf("line %d: %s", im.line, fmt.Sprintf(format, a...)))
}
