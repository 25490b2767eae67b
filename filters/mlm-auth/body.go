package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime/quotedprintable"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mlm/lib/ascii"
	"mlm/lib/mimewalk"
	"mlm/lib/msg"
	"mlm/lib/spool"
)

// The list password may come on the first line of the post's text
// instead of in an Approved: field, as "Approved: password" (Mailman's
// way). Mail programs send that text in many forms: a plain body, a
// body in quoted-printable or base64 (Gmail and Outlook send UTF-8 so),
// or the text/plain part of a multipart/alternative whose text/html part
// says the same in HTML. The line is looked for in the first text/plain
// part, decoded, and where it gives the password, it is taken out of
// that part, and "Approved: password" out of every other text part, so
// that the password reaches neither the moderators nor the members.

// maxHead is how much of a text part's first octets are read for its
// first line: a line of maxApprovedLine octets in base64, and its line
// breaks.
const maxHead = 2 << 10

// bodySpool is where a post's body is copied, to be walked and read
// again, and where a body without the password is written: each in
// memory up to spool.MemLimit, the rest in a temporary file of its own
// that serves every post of the batch.
type bodySpool struct {
	body, rewrite *spool.Spool
	walked        bool   // the body of the post judged was walked
	why           string // what the walk found wrong, "" if nothing
	leaves        []leaf // its text parts
}

// close releases the spools' files.
func (sp *bodySpool) close() {
	for _, s := range []*spool.Spool{sp.body, sp.rewrite} {
		if s != nil {
			s.Close()
		}
	}
}

// leaf is a text part of a body, where the walk found it.
type leaf struct {
	start, end int64
	enc        string // "base64", "quoted-printable", or "" for any other
	plain      bool   // text/plain, the type of a part without one
	inMessage  bool
}

// walk walks the MIME structure of a post's body, which is a multipart
// or message, copying it to l.sp.body as it goes, and keeps what it
// finds: why it must be held, if it must (see structure), and its text
// parts. A body the walk needs none of (a Content-Type it cannot read)
// is not copied. Once walked, p.body reads the copy.
func (l *list) walk(p *post, ct, cte string) error {
	sp := &l.sp
	if sp.walked {
		return nil
	}
	sp.walked, sp.why, sp.leaves = true, "", sp.leaves[:0]
	w := mimewalk.NewPart(ct, cte, mimewalk.Default)
	if err := w.Err(); err != nil {
		sp.why = err.Error() // the post's own Content-Type
		return nil
	}
	if w.Done() {
		return nil
	}
	w.OnLeaf(func(lf mimewalk.Leaf) {
		mt := mediaType(lf.Type)
		if !strings.HasPrefix(mt, "text/") {
			return
		}
		enc := lf.Encoding
		if enc != "base64" && enc != "quoted-printable" {
			enc = ""
		}
		sp.leaves = append(sp.leaves, leaf{lf.Start, lf.End, enc, mt == "text/plain", lf.InMessage})
	})
	if sp.body == nil {
		sp.body = spool.New(spool.MemLimit)
	}
	if err := sp.body.Reset(); err != nil {
		return err
	}
	if _, err := io.Copy(io.MultiWriter(sp.body, w), p.body); err != nil {
		return err
	}
	w.End()
	p.body = sp.body.Reader()
	if err := w.Err(); err != nil {
		sp.why = err.Error()
	}
	return nil
}

// mediaType is the type and subtype of a Content-Type value, in lower
// case: text/plain if it has none.
func mediaType(v string) string {
	if strings.Contains(v, "(") {
		v = msg.Uncomment(v)
	}
	base, _, _ := strings.Cut(v, ";")
	if base = ascii.Lower(strings.TrimSpace(base)); base == "" {
		return "text/plain"
	}
	return base
}

// bodyApproved looks for the list password (right) on the first line of
// the post's first text/plain part, and if it is there, makes p.body a
// body without it (see above).
func (l *list) bodyApproved(p *post, right func(string) bool) (bool, error) {
	ct, _ := firstLast(p.ed.Values("Content-Type"))
	cte, _ := firstLast(p.ed.Values("Content-Transfer-Encoding"))
	cte = ascii.Lower(strings.TrimSpace(cte))
	if !mimewalk.Flat(ct) {
		return l.partApproved(p, ct, cte, right)
	}
	if cte != "base64" && qp(p) {
		cte = "quoted-printable" // (see qp)
	}
	if l.br == nil {
		l.br = bufio.NewReaderSize(nil, 64<<10)
	}
	l.br.Reset(p.body)
	p.body = l.br
	head, err := l.br.Peek(maxHead)
	line, ok := firstLine(head, err == io.EOF, cte)
	if !ok || !isApproved(line.text, right) {
		return false, nil
	}
	if line.skip == 0 {
		l.br.Discard(line.n)
		return true, nil
	}
	// base64: the rest encoded again.
	rw, err := l.rewriter()
	if err != nil {
		return false, err
	}
	t := &tail{r: l.br}
	if err := writeFirst(rw, t, line.skip, p.ed.EOL()); err != nil {
		return false, err
	}
	if t.last == '\n' {
		if _, err := io.WriteString(rw, p.ed.EOL()); err != nil {
			return false, err
		}
	}
	p.body = rw.Reader()
	return true, nil
}

// partApproved is bodyApproved for a multipart (or message) body: it
// walks it, and looks in the first text/plain part that is in no
// message part (a forwarded message is not the poster's text).
func (l *list) partApproved(p *post, ct, cte string, right func(string) bool) (bool, error) {
	if err := l.walk(p, ct, cte); err != nil {
		return false, err
	}
	sp := &l.sp
	if sp.why != "" {
		return false, nil // held for it, unread
	}
	i := slices.IndexFunc(sp.leaves, func(lf leaf) bool { return lf.plain && !lf.inMessage })
	if i < 0 {
		return false, nil
	}
	first := sp.leaves[i]
	head, err := io.ReadAll(sp.body.Section(first.start, min(first.end-first.start, maxHead)))
	if err != nil {
		return false, err
	}
	line, ok := firstLine(head, first.start+int64(len(head)) == first.end, first.enc)
	if !ok || !isApproved(line.text, right) {
		return false, nil
	}
	_, v, _ := strings.Cut(strings.TrimRight(line.text, "\r\n"), ":")
	re, longest := approvedPattern(strings.TrimSpace(v))
	rw, err := l.rewriter()
	if err != nil {
		return false, err
	}
	eol := p.ed.EOL()
	var at int64 // what is written of the body
	for j, lf := range sp.leaves {
		if _, err := io.Copy(rw, sp.body.Section(at, lf.start-at)); err != nil {
			return false, err
		}
		at = lf.end
		part := func() io.Reader { return sp.body.Section(lf.start, lf.end-lf.start) }
		switch {
		case j == i && line.skip == 0:
			_, err = io.Copy(rw, sp.body.Section(lf.start+int64(line.n), lf.end-lf.start-int64(line.n)))
		case j == i:
			err = writeFirst(rw, part(), line.skip, eol)
		default:
			err = cutPart(rw, part, lf.enc, re, longest, eol)
		}
		if err != nil {
			return false, err
		}
	}
	if _, err := io.Copy(rw, sp.body.Section(at, sp.body.Len()-at)); err != nil {
		return false, err
	}
	p.body = rw.Reader()
	return true, nil
}

// rewriter returns l.sp.rewrite, empty.
func (l *list) rewriter() (*spool.Spool, error) {
	if l.sp.rewrite == nil {
		l.sp.rewrite = spool.New(spool.MemLimit)
	}
	return l.sp.rewrite, l.sp.rewrite.Reset()
}

// line is a text part's first line, as readers show it.
type line struct {
	text string
	n    int // the octets it takes in the part, where they can be cut out
	skip int // or, in base64, which cannot, its decoded octets
}

// firstLine returns the first line of a text part in the encoding enc
// (lower case) whose first octets are head (all of them if atEOF),
// decoded; false if it is longer than maxApprovedLine octets, as written
// or decoded, or cannot be read.
func firstLine(head []byte, atEOF bool, enc string) (line, bool) {
	if enc == "base64" {
		d, _ := io.ReadAll(mimewalk.NewDecoder(bytes.NewReader(head), enc))
		if !atEOF {
			d = d[:max(0, len(d)-2)] // maybe from a quad head cuts short
		}
		i := bytes.IndexByte(d, '\n')
		switch {
		case i >= 0 && i < maxApprovedLine:
			d = d[:i+1]
		case i < 0 && atEOF && len(d) <= maxApprovedLine:
		default:
			return line{}, false
		}
		return line{text: string(d), skip: len(d)}, len(d) > 0
	}
	if len(head) > maxApprovedLine {
		head, atEOF = head[:maxApprovedLine], false
	}
	l := head
	if i := bytes.IndexByte(l, '\n'); i >= 0 {
		l = l[:i+1]
	} else if !atEOF {
		return line{}, false // a line too long to be one
	}
	// (else the body ends in the line, without an LF)
	first := line{text: string(l), n: len(l)}
	if enc == "quoted-printable" {
		// As readers show it (one check: the line's third), across
		// soft line breaks: a long line comes broken, a long
		// passphrase's among them, which went on to the members.
		if d, k, ok := qpLine(head, atEOF); ok {
			first = line{text: d, n: k}
		}
	}
	return first, true
}

// writeFirst writes the base64 part r, decoded, without its first skip
// octets, encoded again in lines of eol.
func writeFirst(w io.Writer, r io.Reader, skip int, eol string) error {
	d := mimewalk.NewDecoder(r, "base64")
	if _, err := io.CopyN(io.Discard, d, int64(skip)); err != nil && err != io.EOF {
		return err
	}
	e := newBase64Lines(w, eol)
	if _, err := io.Copy(e, d); err != nil {
		return err
	}
	return e.Close()
}

// approvedPattern matches "Approved: password" in a text part, in any
// case, with the space, HTML markup and no-break spaces an HTML part
// has between them ("Approved:</b>&nbsp;s3cr&amp;t"); longest is the
// longest text it matches.
func approvedPattern(pw string) (re *regexp.Regexp, longest int) {
	forms := []string{pw, html.EscapeString(pw), strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(pw),
		strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(pw)}
	slices.Sort(forms)
	forms = slices.Compact(forms)
	alt := make([]string, len(forms))
	for i, f := range forms {
		alt[i] = quoteOctets(f)
		longest = max(longest, 3*len(f)) // (see quoteOctets)
	}
	// (RE2 takes no more than 1,000 repeats, nested ones multiplied.)
	const gap, gaps, tag = 16, 8, 120
	re = regexp.MustCompile(`(?i:approved)[ \t]{0,` + strconv.Itoa(gap) + `}:(?:\s{1,` + strconv.Itoa(gap) + `}|&nbsp;|&#160;|(?i:&#xa0;)|<[^<>]{0,` + strconv.Itoa(tag) + `}>){0,` +
		strconv.Itoa(gaps) + `}(?:` + strings.Join(alt, "|") + `)`)
	return re, len("approved") + gap + 1 + gaps*(tag+2) + longest
}

// quoteOctets is regexp.QuoteMeta for a text that may not be UTF-8,
// which the regexp package cannot express: an octet of no character is
// read as U+FFFD, as it reads the text, so that it matches any such
// octet there, or U+FFFD itself (3 octets).
func quoteOctets(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\x{FFFD}`)
		} else {
			b.WriteString(regexp.QuoteMeta(s[:n]))
		}
		s = s[n:]
	}
	return b.String()
}

// cutPart writes a text part (part reads it) in the encoding enc with
// every match of re taken out, encoded again in lines of eol; or as it
// is, if it has none.
func cutPart(w io.Writer, part func() io.Reader, enc string, re *regexp.Regexp, longest int, eol string) error {
	n, err := cut(io.Discard, mimewalk.NewDecoder(part(), enc), re, longest)
	if err != nil || n == 0 {
		if err == nil {
			_, err = io.Copy(w, part())
		}
		return err
	}
	var e io.WriteCloser
	switch enc {
	case "base64":
		e = newBase64Lines(w, eol)
	case "quoted-printable":
		e = quotedprintable.NewWriter(eolWriter{w, eol})
	default:
		_, err := cut(w, part(), re, longest)
		return err
	}
	if _, err := cut(e, mimewalk.NewDecoder(part(), enc), re, longest); err != nil {
		return err
	}
	return e.Close()
}

// cut copies r to w without the matches of re, which are no longer than
// longest octets, and returns how many it took out.
func cut(w io.Writer, r io.Reader, re *regexp.Regexp, longest int) (int, error) {
	return cutIn(w, r, re, longest, 64<<10)
}

// cutIn is cut reading size octets at a time.
func cutIn(w io.Writer, r io.Reader, re *regexp.Regexp, longest, size int) (int, error) {
	buf := make([]byte, 0, size+longest)
	n := 0
	for {
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return n, err
		}
		// A match that starts before whole is whole in buf: one that
		// starts after may go on past it.
		whole := len(buf) - longest
		if eof {
			whole = len(buf)
		}
		at := 0
		for at < whole {
			m := re.FindIndex(buf[at:])
			if m == nil || at+m[0] >= whole {
				break
			}
			if _, err := w.Write(buf[at : at+m[0]]); err != nil {
				return n, err
			}
			n++
			at += m[1]
		}
		keep := max(at, whole)
		if _, err := w.Write(buf[at:keep]); err != nil {
			return n, err
		}
		if eof {
			return n, nil
		}
		buf = buf[:copy(buf, buf[keep:])]
	}
}

// base64Lines encodes what is written to it in base64, in lines of 76
// characters (RFC 2045 §6.8) ended by eol, the last without one.
type base64Lines struct {
	w   io.Writer
	eol string
	enc io.WriteCloser
	col int
}

func newBase64Lines(w io.Writer, eol string) *base64Lines {
	b := &base64Lines{w: w, eol: eol}
	b.enc = base64.NewEncoder(base64.StdEncoding, lineWriter{b})
	return b
}

func (b *base64Lines) Write(p []byte) (int, error) { return b.enc.Write(p) }
func (b *base64Lines) Close() error                { return b.enc.Close() }

// lineWriter breaks the encoder's output into lines.
type lineWriter struct{ b *base64Lines }

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

// eolWriter writes what quotedprintable.Writer writes, its CRLF line
// ends as eol.
type eolWriter struct {
	w   io.Writer
	eol string
}

func (e eolWriter) Write(p []byte) (int, error) {
	if e.eol == "\r\n" {
		return e.w.Write(p)
	}
	if _, err := e.w.Write(bytes.ReplaceAll(p, []byte("\r\n"), []byte(e.eol))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// tail reads r, and keeps the last octet read.
type tail struct {
	r    io.Reader
	last byte
}

func (t *tail) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.last = p[n-1]
	}
	return n, err
}
