package main

import (
	"bytes"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mlm/lib/addr"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzBatch: whatever stream mlm-bsmtp reads, what it writes is a Batch
// SMTP session a reader takes line by line, every line ending in CRLF:
// HELO, then one transaction for each record read whole before the
// first bad one (or one for each recipient of a verp=yes record, named
// twice or not), each MAIL FROM the record's sender (VERP-encoded with
// the recipient for verp=yes), a RCPT TO for each recipient, DATA, the
// message with each line end made CRLF and each "." at a line's start
// doubled, and ".", then QUIT; nothing at all if there was no
// transaction. A bad record is 65, and nothing of it is written.
func FuzzBatch(f *testing.F) {
	f.Add("MLM1 x\nS <a@example.org>\n:Subject: x\n:\n:.body\n;no end\nR <b@example.org>\nR <c@example.org> NOTIFY=NEVER\nE 2\n")
	f.Add("MLM1 x\nA verp=yes\nS <dev-bounces@lists.example.org>\n:a\r\n:.\n;\r\rR <b@example.org>\nR <B@EXAMPLE.org>\nR <\"q r\"@example.org>\nE 3\n" +
		"MLM1 y\nS <>\n:x\nR <d@example.org>\nE 1\n")
	f.Add("MLM1 x\nS <a@example.org>\n:x\nE 0\n")
	f.Add("MLM1 x\nS <a@example.org>\n:x\nR <b@example.org>\nE 1\nMLM1 y\nS <a@example.org>\n:y\nR <b@example.org>\nE 2\n")
	f.Add("MLM1 x\nS <a@example.org>\n:x\nR <b@example.org>\nE 1\nMLM1 y\nS <a@example.org>\n:y\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		err := run(&args{Helo: ptr("h.example")}, strings.NewReader(in), &out)
		if err != nil && sysexit.Code(err) != sysexit.DataErr {
			t.Fatalf("run(%q) = %v (%d); want 0 or 65", in, err, sysexit.Code(err))
		}
		want := expect(in)
		if (err == nil) != (want.err == nil) {
			t.Fatalf("run(%q) = %v; the stream read %v", in, err, want.err)
		}
		got, perr := parseBSMTP(out.String())
		if perr != "" {
			t.Fatalf("run(%q) wrote %q: %s", in, out.String(), perr)
		}
		if !slices.EqualFunc(got, want.txs, func(a, b tx) bool {
			return a.from == b.from && slices.Equal(a.rcpts, b.rcpts) && a.data == b.data
		}) {
			t.Fatalf("run(%q) wrote %q:\n%q\nwant\n%q", in, out.String(), got, want.txs)
		}
	})
}

// tx is one transaction of a batch: the sender, the recipients and the
// message, its dots undone.
type tx struct {
	from  string
	rcpts []string
	data  string
}

// expected is what a batch should hold for a stream.
type expected struct {
	txs []tx
	err error
}

// expect reads the stream as mlm-bsmtp(1) says a batch is made of it.
func expect(in string) expected {
	var e expected
	r := stream.NewReader(strings.NewReader(in))
	e.err = r.Each(func(h *stream.Header) error {
		m, err := io.ReadAll(r.Message())
		if err != nil {
			return err
		}
		var rcpts []string
		if err := r.EachRecipient(func(p stream.Path) error { rcpts = append(rcpts, p.Mailbox); return nil }); err != nil {
			return err
		}
		if len(rcpts) == 0 {
			return sysexit.Errorf(sysexit.DataErr, "no recipients")
		}
		data := crlf(string(m))
		if !h.VERP() {
			e.txs = append(e.txs, tx{h.Sender.Mailbox, rcpts, data})
			return nil
		}
		seen := map[string]bool{}
		for _, rc := range rcpts {
			if seen[addr.Key(rc)] {
				continue
			}
			seen[addr.Key(rc)] = true
			from := h.Sender.Mailbox
			if v, ok := addr.VERP(from, rc); ok {
				from = v
			}
			e.txs = append(e.txs, tx{from, []string{rc}, data})
		}
		return nil
	})
	return e
}

// crlf is s with every line end (CRLF, LF, CR) CRLF, and one after a
// last line without.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

var (
	mailLine = regexp.MustCompile(`^MAIL FROM:<([^\r\n]*)>$`)
	rcptLine = regexp.MustCompile(`^RCPT TO:<([^\r\n]*)>$`)
)

// parseBSMTP reads a batch as a strict reader of RFC 2442's would, and
// says what is wrong with it, if anything.
func parseBSMTP(s string) ([]tx, string) {
	if s == "" {
		return nil, ""
	}
	if !strings.HasSuffix(s, "\r\n") {
		return nil, "no CRLF at the end"
	}
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return nil, "a bare CR or LF in " + l
		}
	}
	if lines[0] != "HELO h.example" {
		return nil, "no HELO first"
	}
	if lines[len(lines)-1] != "QUIT" {
		return nil, "no QUIT last"
	}
	var txs []tx
	lines = lines[1 : len(lines)-1]
	for len(lines) > 0 {
		m := mailLine.FindStringSubmatch(lines[0])
		if m == nil {
			return nil, "not MAIL: " + lines[0]
		}
		t := tx{from: m[1]}
		lines = lines[1:]
		for len(lines) > 0 {
			r := rcptLine.FindStringSubmatch(lines[0])
			if r == nil {
				break
			}
			t.rcpts = append(t.rcpts, r[1])
			lines = lines[1:]
		}
		if len(t.rcpts) == 0 || len(lines) == 0 || lines[0] != "DATA" {
			return nil, "no RCPT or no DATA"
		}
		lines = lines[1:]
		var data strings.Builder
		for {
			if len(lines) == 0 {
				return nil, "no end of data"
			}
			l := lines[0]
			lines = lines[1:]
			if l == "." {
				break
			}
			if strings.HasPrefix(l, ".") {
				if !strings.HasPrefix(l, "..") {
					return nil, "a dot not doubled: " + l
				}
				l = l[1:]
			}
			data.WriteString(l + "\r\n")
		}
		t.data = data.String()
		txs = append(txs, t)
	}
	if len(txs) == 0 {
		return nil, "HELO and QUIT and no transaction"
	}
	return txs, ""
}
