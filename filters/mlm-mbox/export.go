package main

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// export writes each record's message to out as mbox: a From_ line, the
// message with its lines quoted as style says (mboxrd by default, which
// import undoes byte for byte) and its line endings as they are, an LF
// if its last line has none, and a blank line. The From_ line gets the
// envelope sender, MAILER-DAEMON for <>, and the record's received time,
// else now.
func export(style string, in io.Reader, out io.Writer) error {
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	bw := bufio.NewWriterSize(out, 64<<10)
	q := newQuoter(bw, style, false)
	body := bufio.NewReaderSize(nil, 64<<10)
	err := r.Each(func(h *stream.Header) error {
		from := h.Sender.Mailbox
		if from == "" {
			from = "MAILER-DAEMON"
		}
		// A quoted local part may hold spaces; mbox readers split the
		// From_ line at spaces, so they become hyphens (mbox(5)).
		from = strings.ReplaceAll(from, " ", "-")
		body.Reset(r.Message())
		hdr, herr := msg.ReadHeader(body, msg.MaxHeader)
		if herr != nil && sysexit.Code(herr) != sysexit.DataErr {
			return herr
		}
		line := "From " + from + " " + fromLineTime(h, hdr).UTC().Format(time.ANSIC) + "\n"
		if _, err := bw.WriteString(line); err != nil {
			return sysexit.Temp(err)
		}
		raw := hdr.Raw
		if herr == nil { // a header that parses: its From field, not a body line
			raw = fromField(raw)
		}
		if _, err := q.Write(raw); err != nil {
			return sysexit.Temp(err)
		}
		if _, err := body.WriteTo(q); err != nil {
			return err // the stream's own error, or the quoter's
		}
		midLine, err := q.end()
		if err != nil {
			return sysexit.Temp(err)
		}
		end := "\n" // the blank line after a message in mbox
		if midLine {
			end = "\n\n"
		}
		_, err = bw.WriteString(end)
		return sysexit.Temp(err)
	})
	if err != nil {
		return err
	}
	return sysexit.Temp(bw.Flush())
}

// fromField returns the header block raw with each line of the From
// field in its obsolete form, spaces before the colon (RFC 5322 section
// 4.5.6), written "From:", the same field. Quoted as ">From :", as any
// line that starts "From " must be in an mbox, it is no field to a mail
// reader, and the header ends there for it, losing its author and every
// field after. Such a line starts a field, never a folded one's next
// line, which starts with white space.
func fromField(raw []byte) []byte {
	var out []byte // nil while raw needs no change
	for i := 0; i < len(raw); {
		n := bytes.IndexByte(raw[i:], '\n') + 1
		if n == 0 {
			n = len(raw) - i
		}
		line := raw[i : i+n]
		if rest, ok := bytes.CutPrefix(line, []byte("From ")); ok {
			if rest = bytes.TrimLeft(rest, " \t"); len(rest) > 0 && rest[0] == ':' {
				if out == nil {
					out = append(make([]byte, 0, len(raw)), raw[:i]...)
				}
				out = append(append(out, "From"...), rest...)
				i += n
				continue
			}
		}
		if out != nil {
			out = append(out, line...)
		}
		i += n
	}
	if out == nil {
		return raw
	}
	return out
}

// fromLineTime is the record's received attribute, else the message's
// Date field, else now: the first that an asctime date holds.
func fromLineTime(h *stream.Header, hdr *msg.Header) time.Time {
	if v, ok := h.Get("received"); ok {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && asctime(time.Unix(s, 0)) {
			return time.Unix(s, 0)
		}
	}
	if t, err := hdr.Mail().Date(); err == nil && !t.IsZero() && asctime(t) {
		return t
	}
	return time.Now()
}

// asctime reports whether the year of t in UTC has the four digits of
// an asctime date, which a From_ line holds (RFC 4155): a received time
// past 9999 or before the year 0 would make a line that mbox readers do
// not take for one, mlm-mbox -i among them.
func asctime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}
