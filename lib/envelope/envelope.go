// Package envelope reads the SMTP envelope (RFC 5321) as the MTA hands it
// to a program, which is not the message header (RFC 5322): for now the
// mbox From_ line that Postfix local(8) and Exim prepend and that mbox
// files carry. It is part of mlm's internals, not a public API.
package envelope

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"mlm/lib/addr"
)

// IsFromLine reports whether line (with or without its line ending) is an
// mbox From_ line: "From " at the start (RFC 4155 §2).
func IsFromLine(line []byte) bool { return len(line) >= 5 && string(line[:5]) == "From " }

// StartsWithFromLine reports whether a message that starts with b (its
// first line, or as much of the message as there is) starts with a From_
// line that an MTA added. "From :", the obsolete syntax of the From field
// (RFC 5322 section 4.5.6), is the message's own first line, not one; so
// is "From " with nothing but white space after it on its line, and a
// first line with a CR in it before its end, of a message whose lines
// end in CR alone, which no mbox writer makes: taken for one, it would
// be the whole message. The sender is looked for in the first
// FromLook octets ("From " and white space alone in them is the
// message's own line); the CR in all of b's first line, which callers
// give whole as far as they can (a buffer of 64 KiB): one past 256
// octets, looked for in them alone, let the whole message go.
func StartsWithFromLine(b []byte) bool {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	if !IsFromLine(b) || bytes.IndexByte(b, '\r') >= 0 {
		return false
	}
	rest := strings.TrimLeft(string(b[5:min(len(b), FromLook)]), " \t")
	return rest != "" && rest[0] != ':'
}

// FromLook is how far into a message's first line StartsWithFromLine
// looks for a From_ line's sender.
const FromLook = 256

// PeekFirstLine returns the input's first line, its LF included, as far
// as br's buffer holds it, for StartsWithFromLine, consuming nothing and
// reading no more than it must: what br holds, then one read more at a
// time, until an LF comes, the buffer is full or the input ends. A Peek
// of more than is buffered waits for all of it, though the LF has come:
// a whole buffer's waited for 64 KiB, and even 256 octets' for more of
// a short message from an MTA that kept its pipe open, past mlm-accept's
// deadline.
func PeekFirstLine(br *bufio.Reader) []byte {
	for from := 0; ; {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(b[from:], '\n'); i >= 0 {
			return b[:from+i+1]
		}
		from = len(b) // (an input a octet a read is looked through once)
		if len(b) == br.Size() {
			return b
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return b // (no octet more: the end of the input, or an error)
		}
	}
}

// ParseFromLine returns the envelope sender of an mbox From_ line,
// "From sender date…": "" for the null sender, which mbox writes as
// MAILER-DAEMON (RFC 4155 §2) or <>. Any other sender must be an RFC 5321
// mailbox, optionally in angle brackets; it is refused, never cleaned.
func ParseFromLine(line []byte) (string, error) {
	if !IsFromLine(line) {
		return "", errors.New("not a From_ line")
	}
	s, _ := splitFromLine(line)
	if s != "" && NullSender(s) == "" {
		return "", nil
	}
	if s == "" || s == "-" {
		if _, dated := FromLineTime(line); dated {
			// "From  date": the null sender, as procmail -f ''
			// writes it; "From - date", as Thunderbird writes every
			// one, naming no sender (R88 F3).
			return "", nil
		}
	}
	if m, ok := strings.CutPrefix(s, "<"); ok {
		if s, ok = strings.CutSuffix(m, ">"); !ok {
			return "", fmt.Errorf("bad sender %q in From_ line", m)
		}
	}
	if err := addr.CheckMailbox(s); err != nil {
		return "", fmt.Errorf("bad sender in From_ line: %v", err)
	}
	return s, nil
}

// splitFromLine splits a From_ line after "From " into the sender, as
// written, and what follows it. The sender ends at the first space, but
// for a space in a quoted local part ("john smith"@, as Postfix's
// local(8) writes it) or in angle brackets (<"a b"@x>), which it keeps.
func splitFromLine(line []byte) (sender, rest string) {
	s := strings.TrimRight(string(line[5:]), "\r\n")
	end := -1
	switch {
	case strings.HasPrefix(s, "<"):
		if _, r, err := addr.SplitPath(s); err == nil {
			end = len(s) - len(r)
		}
	case strings.HasPrefix(s, `"`):
		end = addr.LocalEnd(s)
	}
	if end < 0 {
		end = 0
	}
	if i := strings.IndexByte(s[end:], ' '); i >= 0 {
		return s[:end+i], s[end+i:]
	}
	return s, ""
}

// FromLineTime returns the time of an mbox From_ line, the asctime-format
// date after the sender (RFC 4155 §2), read as UTC; ok is false if the
// line has none. The date ends the line or a space follows it: a year of
// five digits is none, not its first four. A numeric zone right after
// the year (" +0100"), which some writers add and Dovecot reads, is the
// date's offset from UTC; anything else there is not a zone.
func FromLineTime(line []byte) (t time.Time, ok bool) {
	if !IsFromLine(line) {
		return t, false
	}
	_, s := splitFromLine(line)
	s = strings.TrimLeft(s, " ")
	if len(s) < len(time.ANSIC) || len(s) > len(time.ANSIC) && s[len(time.ANSIC)] != ' ' {
		return t, false
	}
	t, err := time.Parse(time.ANSIC, s[:len(time.ANSIC)])
	if err != nil {
		return t, false
	}
	return t.Add(-fromLineZone(s[len(time.ANSIC):])), true
}

// fromLineZone is the offset from UTC that rest, what follows a From_
// line's date, begins with: " +hhmm" or " -hhmm" ending rest or followed
// by a space, hh up to 23 and mm up to 59; else 0.
func fromLineZone(rest string) time.Duration {
	if len(rest) < 6 || rest[0] != ' ' || len(rest) > 6 && rest[6] != ' ' {
		return 0
	}
	sign, d := rest[1], rest[2:6]
	for i := range len(d) {
		if d[i] < '0' || d[i] > '9' {
			return 0
		}
	}
	hh, mm := int(d[0]-'0')*10+int(d[1]-'0'), int(d[2]-'0')*10+int(d[3]-'0')
	if sign != '+' && sign != '-' || hh > 23 || mm > 59 {
		return 0
	}
	z := time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
	if sign == '-' {
		z = -z
	}
	return z
}
