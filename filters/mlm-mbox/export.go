package main

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-mbox"

	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// export writes each record's message to out as mbox (mboxo quoting, LF
// line endings, through go-mbox). The From_ line gets the envelope sender,
// MAILER-DAEMON for <>, and the record's received time, else now.
func export(in io.Reader, out io.Writer) error {
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	bw := bufio.NewWriterSize(out, 64<<10)
	mw := mbox.NewWriter(bw)
	err := r.Each(func(h *stream.Header) error {
		from := h.Sender.Mailbox
		if from == "" {
			from = "MAILER-DAEMON"
		}
		// A quoted local part may hold spaces; mbox readers split the
		// From_ line at spaces, so they become hyphens (mbox(5)).
		from = strings.ReplaceAll(from, " ", "-")
		body := bufio.NewReaderSize(r.Message(), 64<<10)
		hdr, herr := msg.ReadHeader(body, msg.MaxHeader)
		if herr != nil && sysexit.Code(herr) != sysexit.DataErr {
			return herr
		}
		w, err := mw.CreateMessage(from, fromLineTime(h, hdr))
		if err != nil {
			return sysexit.Temp(err)
		}
		// go-mbox ends every message with two LFs; holding back the
		// message's own final line ending leaves exactly one blank line
		// between messages, as mbox readers expect.
		hb := &holdback{w: w}
		if _, err := hb.Write(hdr.Raw); err != nil {
			return err
		}
		if _, err := io.Copy(hb, body); err != nil {
			return err
		}
		return hb.Close()
	})
	if err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(bw.Flush())
}

// fromLineTime is the record's received attribute, else the message's
// Date field, else now.
func fromLineTime(h *stream.Header, hdr *msg.Header) time.Time {
	if v, ok := h.Get("received"); ok {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(s, 0)
		}
	}
	if t, err := hdr.Mail().Date(); err == nil && !t.IsZero() {
		return t
	}
	return time.Now()
}

// holdback passes writes on two octets late, so that at the end it can
// drop the message's final LF or CRLF.
type holdback struct {
	w    io.Writer
	held []byte // the last octets written, at most two
}

func (h *holdback) Write(p []byte) (int, error) {
	var out [][]byte
	if len(p) >= 2 {
		out = [][]byte{h.held, p[:len(p)-2]}
		h.held = append(h.held[:0:0], p[len(p)-2:]...)
	} else if h.held = append(h.held, p...); len(h.held) > 2 {
		out = [][]byte{h.held[:1]}
		h.held = h.held[1:]
	}
	for _, b := range out {
		if _, err := h.w.Write(b); err != nil {
			return 0, sysexit.Temp(err)
		}
	}
	return len(p), nil
}

// Close writes what is held but a final line ending.
func (h *holdback) Close() error {
	t := h.held
	if bytes.HasSuffix(t, []byte("\r\n")) {
		t = t[:len(t)-2]
	} else if bytes.HasSuffix(t, []byte("\n")) {
		t = t[:len(t)-1]
	}
	_, err := h.w.Write(t)
	return sysexit.Temp(err)
}
