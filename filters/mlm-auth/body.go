package main

import (
	"bufio"
	"bytes"
	"errors"
	"html"
	"io"
	"mime/quotedprintable"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"

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

// leaf is a text part of a body, where the walk found it; or a message
// part the walk does not enter, in base64, quoted-printable or an
// encoding no reader decodes (message); or the header of a part in a
// message part (header).
type leaf struct {
	start, end int64
	form
	plain     bool // text/plain, the type of a part without one
	html      bool // text/html
	inMessage bool
	message   bool
	header    bool
}

// walk walks the MIME structure of a post's body, which is a multipart
// or message, copying it to l.sp.body as it goes, and keeps what it
// finds: why it must be held, if it must (see structure), and, if
// leaves, its text parts. A body the walk needs none of (a Content-Type
// it cannot read) is not copied. Once walked, p.body reads the copy.
// The list password's look (partApproved), which needs the parts, comes
// in judge, before structure's, which needs none: a post of a list
// without a password costs no look at its parts' types.
func (l *list) walk(p *post, ct, cte string, leaves bool) error {
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
	if leaves {
		w.OnLeaf(sp.keep)
		w.OnHeader(func(lf mimewalk.Leaf) {
			sp.leaves = append(sp.leaves, leaf{start: lf.Start, end: lf.End, inMessage: true, header: true})
		})
	}
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

// keep keeps a leaf the walk found, if it is a text part, or a message
// part: its body, decoded, parts and all, is looked at as HTML
// (htmlFinder), which finds what a plain text part shows too, and its
// header as a forwarded message's (cutMessage).
func (sp *bodySpool) keep(lf mimewalk.Leaf) {
	mt := mediaType(lf.Type)
	switch {
	case strings.HasPrefix(mt, "text/"):
		sp.leaves = append(sp.leaves, leaf{start: lf.Start, end: lf.End, form: formOf(lf.Type, lf.Encoding),
			plain: mt == "text/plain", html: mt == "text/html", inMessage: lf.InMessage})
	case strings.HasPrefix(mt, "message/"):
		sp.leaves = append(sp.leaves, leaf{start: lf.Start, end: lf.End, form: formOf("", lf.Encoding),
			html: true, inMessage: true, message: true})
	}
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
	ct, _ := p.ed.Value("Content-Type")
	cte, _ := p.ed.Value("Content-Transfer-Encoding")
	if !mimewalk.Flat(ct) {
		return l.partApproved(p, ct, ascii.Lower(strings.TrimSpace(cte)), right)
	}
	f := formOf(ct, cte)
	if f.enc != "base64" && qp(p) {
		f.enc = "quoted-printable" // (see qp)
	}
	if l.br == nil {
		l.br = bufio.NewReaderSize(nil, 64<<10)
	}
	l.br.Reset(p.body)
	p.body = l.br
	head, err := l.br.Peek(maxHead)
	line, ok := approvedLine(head, err == io.EOF, f, right)
	if !ok {
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
	if err := l.walk(p, ct, cte, true); err != nil {
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
	line, ok := approvedLine(head, first.start+int64(len(head)) == first.end, first.form, right)
	if !ok {
		return false, nil
	}
	_, v, _ := strings.Cut(strings.TrimRight(line.text, "\r\n"), ":")
	pw := strings.TrimSpace(v)
	find := finders(pw)
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
		case lf.header:
			err = cutHeader(rw, part(), lf.end-lf.start, pw, find(lf))
		case lf.message:
			err = cutMessage(rw, part, lf.enc, find(lf), find(leaf{}), pw, eol)
		default:
			err = cutPart(rw, part, lf.enc, find(lf), eol)
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

// form is how a text part is written: its Content-Transfer-Encoding
// (lower case: "base64", "quoted-printable", or "" for any other), and
// of its Content-Type, whether it is format=flowed (RFC 3676), with
// DelSp=yes, and its charset (lower case).
type form struct {
	enc           string
	flowed, delSp bool
	charset       string
}

// formOf is the form of a part with these Content-Type and
// Content-Transfer-Encoding values.
func formOf(ct, cte string) form {
	f := form{enc: ascii.Lower(strings.TrimSpace(cte))}
	if f.enc != "base64" && f.enc != "quoted-printable" {
		f.enc = ""
	}
	if _, params, err := mimewalk.ParseType(ct); err == nil {
		f.flowed = ascii.EqualFold(params["format"], "flowed")
		f.delSp = ascii.EqualFold(params["delsp"], "yes")
		if cs := params["charset"]; len(cs) <= 40 {
			f.charset = ascii.Lower(cs)
		}
	}
	return f
}

// approvedLine returns the first line of a text part (see firstLine)
// if it is "Approved:" and the list password (right). In format=flowed,
// the line alone is tried first, then with the lines that flow into it:
// a space after the password (pasted with it, or typed) makes the line
// flow into the next, and joined to it the line is no password, but
// readers show the password on it all the same.
func approvedLine(head []byte, atEOF bool, f form, right func(string) bool) (line, bool) {
	l, ok := firstLine(head, atEOF, f)
	if f.flowed {
		alone := f
		alone.flowed = false
		// (Tried apart only where the line flows: a password is a
		// slow hash to check, and anyone can send a post.)
		if a, aok := firstLine(head, atEOF, alone); aok && (!ok || a.text != l.text) && isApproved(a.text, right) {
			// The lines joined too, if they are taken as well: a
			// password not checked (the hour's checks spent) is
			// taken out as far as it may go, or the rest of a wrapped
			// passphrase went on (R90 F1).
			if ok && isApproved(l.text, right) {
				return l, true
			}
			return a, true
		}
	}
	return l, ok && isApproved(l.text, right)
}

// firstLine returns the first line of a text part of the form f whose
// first octets are head (all of them if atEOF), as readers show it:
// decoded, from its charset too (see fromCharset), after any blank
// lines and without a byte-order mark, and in format=flowed with the
// lines that flow into it, as readers join them (Thunderbird's wrap of
// a long passphrase); false if it is longer than maxApprovedLine octets,
// as written or decoded, or cannot be read.
func firstLine(head []byte, atEOF bool, f form) (line, bool) {
	var first line
	ok := false
	if f.enc == "base64" {
		d, _ := io.ReadAll(mimewalk.NewDecoder(bytes.NewReader(head), f.enc))
		if !atEOF {
			d = d[:max(0, len(d)-2)] // maybe from a quad head cuts short
		}
		var text string
		text, first.skip, ok = takeLine(d, atEOF, f, nil)
		first.text = text
	} else {
		if len(head) > maxApprovedLine {
			head, atEOF = head[:maxApprovedLine], false
		}
		if f.enc == "quoted-printable" {
			// As readers show it (one check: the line's third), across
			// soft line breaks: a long line comes broken, a long
			// passphrase's among them, which went on to the members.
			first.text, first.n, ok = takeLine(head, atEOF, f, qpLine)
		}
		if !ok {
			first.text, first.n, ok = takeLine(head, atEOF, f, nil)
		}
	}
	first.text = fromCharset(strings.TrimPrefix(first.text, "\uFEFF"), f.charset)
	return first, ok && first.text != ""
}

// takeLine returns the first line of b (all of it if atEOF) that is not
// blank, with the lines that flow into it in the form f, and the octets
// it takes up to its end, blank lines before it included; next, if not
// nil, reads each line of b as written (quoted-printable's qpLine) and
// returns it as shown.
func takeLine(b []byte, atEOF bool, f form, next func([]byte, bool) (string, int, bool)) (string, int, bool) {
	n := 0
	for {
		if bytes.HasPrefix(b[n:], []byte("\n")) {
			n++
		} else if bytes.HasPrefix(b[n:], []byte("\r\n")) {
			n += 2
		} else {
			break
		}
	}
	var text strings.Builder
	for {
		var l string
		k := 0
		if next != nil {
			var ok bool
			if l, k, ok = next(b[n:], atEOF); !ok {
				return "", 0, false
			}
		} else {
			i := bytes.IndexByte(b[n:], '\n')
			switch {
			case i >= 0:
				k = i + 1
			case atEOF:
				k = len(b) - n
			default:
				return "", 0, false // a line too long to be one
			}
			l = string(b[n : n+k])
		}
		n += k
		if n > maxApprovedLine || k == 0 {
			return "", 0, false
		}
		// RFC 3676 §4.2: a line that ends in a space flows into the
		// next, but the signature separator; DelSp=yes deletes the
		// space.
		body := strings.TrimRight(l, "\r\n")
		if f.flowed && strings.HasSuffix(body, " ") && body != "-- " && body != l && n < len(b) {
			if f.delSp {
				body = body[:len(body)-1]
			}
			text.WriteString(body)
			continue
		}
		text.WriteString(l)
		return text.String(), n, true
	}
}

// fromCharset returns s, written in the charset cs, in UTF-8, as readers
// show it: where it is no UTF-8 (a password in Latin-1 or windows-1252,
// as Outlook writes it), and cs is a charset other than UTF-8 that the
// WHATWG encoding standard knows. Else s as it is.
func fromCharset(s, cs string) string {
	if utf8.ValidString(s) || cs == "" {
		return s
	}
	e, err := htmlindex.Get(cs)
	if err != nil || e == unicode.UTF8 {
		return s
	}
	d, err := e.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return d
}

// inCharset returns s, UTF-8, written in the charset cs, where that is
// another than UTF-8 that the WHATWG encoding standard knows and can
// write s in; false if not, or if s reads the same.
func inCharset(s, cs string) (string, bool) {
	if cs == "" || ascii.Is(s) {
		return "", false
	}
	e, err := htmlindex.Get(cs)
	if err != nil || e == unicode.UTF8 {
		return "", false
	}
	w, err := e.NewEncoder().String(s)
	return w, err == nil && w != s
}

// writeFirst writes the base64 part r, decoded, without its first skip
// octets, encoded again in lines of eol.
func writeFirst(w io.Writer, r io.Reader, skip int, eol string) error {
	d := mimewalk.NewDecoder(r, "base64")
	if _, err := io.CopyN(io.Discard, d, int64(skip)); err != nil && err != io.EOF {
		return err
	}
	e := msg.NewBase64Lines(w, eol)
	if _, err := io.Copy(e, d); err != nil {
		return err
	}
	return e.Close()
}

// finders returns the finder for each text part, by its type and
// charset, of the password pw, as typed (UTF-8) and in the part's
// charset.
func finders(pw string) func(leaf) finder {
	type key struct {
		html    bool
		charset string
	}
	made := map[key]finder{}
	return func(lf leaf) finder {
		k := key{lf.html, lf.charset}
		if f, ok := made[k]; ok {
			return f
		}
		forms := []string{pw}
		if w, ok := inCharset(pw, lf.charset); ok {
			forms = append(forms, w)
		}
		var f finder = newTextFinder(forms)
		if lf.html {
			f = newHTMLFinder(forms)
		}
		made[k] = f
		return f
	}
}

// A finder finds "Approved: password" in a text part, as readers show
// it, for cut to take out.
type finder interface {
	// find returns the spans of b to take out that start before whole,
	// in order; no span is longer than longest.
	find(b []byte, whole int) []span
	longest() int
}

// span is a stretch of a part to take out, but for the pieces of it
// that stay (an HTML part's tags, which the text is in).
type span struct {
	start, end int
	keep       [][2]int
}

// textFinder finds "Approved: password" in plain text: in any case,
// with space, tab or line ends between, the password in any of its
// forms (as typed, and in the part's charset).
type textFinder struct {
	re   *regexp.Regexp
	most int
}

// newTextFinder returns a textFinder for the password's forms, none
// empty.
func newTextFinder(forms []string) *textFinder {
	alt, most := alternatives(forms)
	// (RE2 takes no more than 1,000 repeats, nested ones multiplied.)
	const gap, gaps = 16, 8
	re := regexp.MustCompile(`(?i:approved)[ \t]{0,` + strconv.Itoa(gap) + `}:(?:\s{1,` + strconv.Itoa(gap) + `}){0,` + strconv.Itoa(gaps) + `}` + alt)
	return &textFinder{re, len("approved") + gap + 1 + gap*gaps + most}
}

func (f *textFinder) longest() int { return f.most }

func (f *textFinder) find(b []byte, whole int) []span {
	var ss []span
	for at := 0; at < whole; {
		m := f.re.FindIndex(b[at:])
		if m == nil || at+m[0] >= whole {
			break
		}
		ss = append(ss, span{start: at + m[0], end: at + m[1]})
		at += m[1]
	}
	return ss
}

// alternatives is a regexp of the forms, any of them, and the most
// octets one matches.
func alternatives(forms []string) (string, int) {
	alt := make([]string, len(forms))
	most := 0
	for i, f := range forms {
		alt[i] = quoteOctets(f)
		most = max(most, 3*len(f)) // (see quoteOctets)
	}
	return "(?:" + strings.Join(alt, "|") + ")", most
}

// htmlFinder finds "Approved: password" in HTML as a browser shows it:
// tags show nothing ("<b>Approved:</b>", "<span class=SpellE>pass</span>word"),
// character references show their character ("&amp;", "&#39;",
// "&auml;"), and a run of white space or no-break spaces ("&nbsp;", as a
// run of spaces is written, and line ends, where the source is wrapped)
// shows as one space. A span it finds keeps the tags in it, but for
// those that hold the password.
type htmlFinder struct {
	re    *regexp.Regexp
	forms []string
	v     visible
}

// newHTMLFinder returns an htmlFinder for the password's forms.
func newHTMLFinder(forms []string) *htmlFinder {
	norm := make([]string, len(forms))
	for i, f := range forms {
		var v visible
		v.build([]byte(f), false)
		norm[i] = string(v.text)
	}
	alt, _ := alternatives(norm)
	return &htmlFinder{re: regexp.MustCompile(`(?i:approved) ?: ?` + alt), forms: forms}
}

// maxHTMLSpan is the longest "Approved: password" an htmlFinder finds,
// with its markup; maxTag the longest tag.
const (
	maxHTMLSpan = 64 << 10
	maxTag      = 8 << 10
)

func (f *htmlFinder) longest() int { return maxHTMLSpan }

func (f *htmlFinder) find(b []byte, whole int) []span {
	v := &f.v
	v.build(b, true)
	var ss []span
	for _, m := range f.re.FindAllIndex(v.text, -1) {
		sp := span{start: v.from[m[0]], end: v.to[m[1]-1]}
		if sp.start >= whole {
			break
		}
		if sp.end-sp.start > maxHTMLSpan {
			continue
		}
		for _, t := range v.tags {
			if t[0] >= sp.start && t[1] <= sp.end && !f.inTag(b[t[0]:t[1]]) {
				sp.keep = append(sp.keep, t)
			}
		}
		ss = append(ss, sp)
	}
	return ss
}

// inTag reports whether a tag holds the password, as a link's address
// does where a mail program links a password that reads as one
// ("secret.example.com"): such a tag goes with the text.
func (f *htmlFinder) inTag(tag []byte) bool {
	t := html.UnescapeString(string(tag))
	return slices.ContainsFunc(f.forms, func(pw string) bool { return strings.Contains(t, pw) })
}

// visible is the text of HTML as a browser shows it (see htmlFinder),
// with, for each of its octets, the octets of the source that show it
// (from, to), and where the source's tags are.
type visible struct {
	text     []byte
	from, to []int
	tags     [][2]int
}

// build makes v the text of b: of HTML if markup, else of a password.
func (v *visible) build(b []byte, markup bool) {
	v.text, v.from, v.to, v.tags = v.text[:0], v.from[:0], v.to[:0], v.tags[:0]
	for i := 0; i < len(b); {
		c := b[i]
		if markup && c == '<' {
			if j := bytes.IndexByte(b[i+1:min(len(b), i+maxTag)], '>'); j >= 0 {
				v.tags = append(v.tags, [2]int{i, i + j + 2})
				i += j + 2
				continue
			}
		}
		if markup && c == '&' {
			if n := entityLen(b[i:]); n > 0 {
				if s := html.UnescapeString(string(b[i : i+n])); s != string(b[i:i+n]) {
					for _, r := range s {
						v.add(string(r), i, i+n)
					}
					i += n
					continue
				}
			}
		}
		n := 1
		if c == 0xc2 && i+1 < len(b) && b[i+1] == 0xa0 {
			n = 2 // U+00A0 in UTF-8
		}
		v.add(string(b[i:i+n]), i, i+n)
		i += n
	}
}

// add adds a character (or an octet of none), shown by the source's
// octets from to to: a space or no-break space ends up one space with
// those before it.
func (v *visible) add(c string, from, to int) {
	switch c {
	case " ", "\t", "\n", "\r", "\f", "\u00a0":
		if n := len(v.text); n > 0 && v.text[n-1] == ' ' {
			v.to[n-1] = to
			return
		}
		c = " "
	}
	for k := 0; k < len(c); k++ {
		v.text, v.from, v.to = append(v.text, c[k]), append(v.from, from), append(v.to, to)
	}
}

// entityLen is the length of the character reference b starts with
// ("&amp;", "&#39;", "&#xA0;"), 0 if it starts with none.
func entityLen(b []byte) int {
	i := 1
	switch {
	case i < len(b) && b[i] == '#' && i+1 < len(b) && (b[i+1] == 'x' || b[i+1] == 'X'):
		i += 2
		for i < len(b) && i < 10 && isHex(b[i]) {
			i++
		}
	case i < len(b) && b[i] == '#':
		i++
		for i < len(b) && i < 10 && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		for i < len(b) && i < 33 && ascii.IsAlnum(b[i]) {
			i++
		}
	}
	if i < len(b) && b[i] == ';' && i > 2 {
		return i + 1
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
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
// every span f finds taken out, encoded again in lines of eol; or as it
// is, if f finds none.
func cutPart(w io.Writer, part func() io.Reader, enc string, f finder, eol string) error {
	n, err := cut(io.Discard, mimewalk.NewDecoder(part(), enc), f)
	if err != nil || n == 0 {
		if err == nil {
			_, err = io.Copy(w, part())
		}
		return err
	}
	e := encoder(w, enc, eol)
	if e == nil {
		_, err := cut(w, part(), f)
		return err
	}
	if _, err := cut(e, mimewalk.NewDecoder(part(), enc), f); err != nil {
		return err
	}
	return e.Close()
}

// encoder returns a writer that encodes in enc, base64 or
// quoted-printable, in lines of eol, onto w; nil for another enc.
func encoder(w io.Writer, enc, eol string) io.WriteCloser {
	switch enc {
	case "base64":
		return msg.NewBase64Lines(w, eol)
	case "quoted-printable":
		return quotedprintable.NewWriter(eolWriter{w, eol})
	}
	return nil
}

// cutHeader writes the header of a part in a message part (r reads its
// size octets, the empty line after them not among them) without the
// fields that give the password pw, each whole (cutFields; crEdit for a
// header with a bare CR). A header over msg.MaxHeader loses what f
// finds, as a text part does, and its fields what they may.
func cutHeader(w io.Writer, r io.Reader, size int64, pw string, f finder) error {
	if size > msg.MaxHeader {
		_, err := cut(w, r, f)
		return err
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ed, n := editFields(raw, pw, f); n > 0 {
		_, err = ed.WriteTo(w)
	} else {
		_, err = w.Write(raw)
	}
	return err
}

// editFields is raw, the header of a part in a message part, without the
// fields that give the password pw (f, a text part's finder), and how
// many went: split by msg.Edit, or, with a bare CR, by crEdit.
func editFields(raw []byte, pw string, f finder) (io.WriterTo, int) {
	if !byFields(raw) {
		ce := newCREdit(raw, pw, f)
		return ce, ce.cuts
	}
	e := msg.NewEdit(raw)
	return e, cutFields(e, pw, f)
}

// byFields reports whether the fields of a header, raw, can be taken
// by msg.Edit: not if it holds a bare CR, which readers, and the walk,
// take for a line end, and msg.Edit, which splits lines at LF, does not:
// the header would be one field, and all of it would go (a critical
// read); crEdit splits such a header as the walk does.
func byFields(raw []byte) bool { return bareCR(raw) < 0 }

// bareCR is the offset of the first CR in b that no LF follows, or -1
// (a NUL before it does not hide it, as it does from msg.CheckOctets: a
// critical read).
func bareCR(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '\r')
		if i < 0 {
			return -1
		}
		off += i + 1
		if off == len(b) || b[off] != '\n' {
			return off - 1
		}
	}
}

// walkLine is the length of the first line of b, its line end (LF,
// CRLF or a bare CR, as the walk and readers take them) with it.
func walkLine(b []byte) int {
	for i, c := range b {
		switch {
		case c == '\n':
			return i + 1
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case c == '\r':
			return i + 1
		}
	}
	return len(b)
}

// crEdit is a header split into fields at the walk's line ends, each
// with its continuation lines and line end, less those that give the
// password: msg.Edit for a header with a bare CR.
type crEdit struct {
	fields [][]byte
	cuts   int
}

// newCREdit splits raw, a header without the empty line that ends it,
// and drops the fields that give pw as cutFields's do.
func newCREdit(raw []byte, pw string, f finder) *crEdit {
	e := &crEdit{}
	for len(raw) > 0 {
		n := walkLine(raw)
		for n < len(raw) && (raw[n] == ' ' || raw[n] == '\t') {
			n += walkLine(raw[n:])
		}
		fb := raw[:n]
		raw = raw[n:]
		if fieldGives(fb, pw, f) {
			e.cuts++
			continue
		}
		e.fields = append(e.fields, fb)
	}
	return e
}

// WriteTo writes the fields left, as the header had them.
func (e *crEdit) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, fb := range e.fields {
		k, err := w.Write(fb)
		if n += int64(k); err != nil {
			return n, err
		}
	}
	return n, nil
}

// fieldGives reports whether a field of a forwarded header, fb as the
// header has it, gives the password pw, and goes (cutFields, crEdit).
func fieldGives(fb []byte, pw string, f finder) bool {
	name, v, ok := bytes.Cut(fb, []byte(":"))
	if ok && ascii.EqualFold(strings.TrimSpace(string(name)), "Approved") && strings.TrimSpace(msg.DecodeText(string(unfolded(v)))) == pw {
		return true
	}
	if len(f.find(fb, len(fb))) > 0 {
		return true
	}
	// As readers show it, unfolded: a fold between "Approved" and its
	// colon shows as "Approved : pw".
	if uf := unfolded(fb); len(uf) < len(fb) && len(f.find(uf, len(uf))) > 0 {
		return true
	}
	if d := msg.DecodeText(string(v)); ok && d != string(v) {
		return len(f.find([]byte(d), len(d))) > 0
	}
	return false
}

// unfolded is b without its CRs and LFs, a field as readers show it;
// its other octets as they are, UTF-8 or not.
func unfolded(b []byte) []byte {
	u := make([]byte, 0, len(b))
	for _, c := range b {
		if c != '\r' && c != '\n' {
			u = append(u, c)
		}
	}
	return u
}

// crHeaderEnd is the length of the header that opens b, as the walk
// reads it (any line end), the empty line that ends it with it; all of
// b at the end of the message (atEOF); or false if b ends first.
func crHeaderEnd(b []byte, atEOF bool) (int, bool) {
	for off := 0; off < len(b); {
		n := walkLine(b[off:])
		line := b[off : off+n]
		off += n
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (off < len(b) || atEOF || line[len(line)-1] == '\n') {
			return off, true
		}
	}
	return len(b), atEOF
}

// cutFields deletes from e, the header of a part in a message part, each
// field that gives the password pw, whole, its continuation lines and
// line end with it, and returns how many it deleted: an Approved field
// whose value is pw, as a field gives it (decoded, without the space
// around it), which a poster's own copy of a post, forwarded, carries;
// and any field in which f, a text part's finder, finds "Approved: pw",
// as written or with its encoded-words decoded ("Subject: Fwd: Approved:
// pw"). Whole fields: the text cut from within one left a line that is no
// field ("X-Approved: pw") or that folds into the one before, and readers
// ended the header there (a critical read).
func cutFields(e *msg.Edit, pw string, f finder) int {
	return e.DelField(func(b []byte) bool { return fieldGives(b, pw, f) })
}

// cutMessage is cutPart for a message part that is a leaf: in base64
// or quoted-printable (enc), or in an encoding no reader decodes, which
// is read as it is. The message, decoded, loses the fields of its header
// that give the password pw, whole, as cutHeader's does (hf is a text
// part's finder), and what f finds in its body; it is encoded again only
// if it lost any. (f over the header left a line end where it took a
// field's text, and over header and body at once could take the empty
// line between: either ended the header there.) A header with a bare CR
// is split, and ended, as the walk reads it (crEdit, crHeaderEnd). A
// header over msg.MaxHeader, or of more than msg.MaxFields fields, is
// f's, as the body is.
func cutMessage(w io.Writer, part func() io.Reader, enc string, f, hf finder, pw, eol string) error {
	e := encoder(w, enc, eol)
	if e == nil {
		// An encoding no reader decodes (x-unknown): read, and
		// written, as it is (mimewalk.NewDecoder leaves it so).
		e = nopCloser{w}
	}
	h, err := msg.ReadHeader(bufio.NewReader(mimewalk.NewDecoder(part(), enc)), msg.MaxHeader)
	head := h.Raw // the empty line that ends it included
	var ed io.WriterTo
	cuts := 0
	// Past a limit as ReadHeader reads lines (at LF): the walk's header
	// may end at a bare CR's empty line well before it.
	over := errors.Is(err, msg.ErrHeaderTooLong) || errors.Is(err, msg.ErrTooManyFields)
	switch {
	case over && bareCR(head) < 0:
		head = nil
	case !byFields(head) || over:
		// Its lines as the walk reads them: where the walk's empty
		// line ends it (a bare CR's may come before ReadHeader's).
		b, perr := bufio.NewReaderSize(mimewalk.NewDecoder(part(), enc), msg.MaxHeader+1).Peek(msg.MaxHeader + 1)
		n, ok := crHeaderEnd(b, perr == io.EOF)
		if !ok || n > msg.MaxHeader {
			head = nil
			break
		}
		head = b[:n]
	}
	if head != nil {
		ed, cuts = editFields(head, pw, hf)
	}
	// all writes the message decoded: its header as edited, then the
	// rest without what f finds.
	all := func(w io.Writer) (int, error) {
		if head != nil {
			if _, err := ed.WriteTo(w); err != nil {
				return 0, err
			}
		}
		br := bufio.NewReader(mimewalk.NewDecoder(part(), enc))
		if _, err := br.Discard(len(head)); err != nil {
			return 0, err
		}
		return cut(w, br, f)
	}
	n, err := all(io.Discard)
	if err != nil || n+cuts == 0 {
		if err == nil {
			_, err = io.Copy(w, part())
		}
		return err
	}
	if _, err := all(e); err != nil {
		return err
	}
	return e.Close()
}

// nopCloser is a writer with a Close that does nothing.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// cut copies r to w without the spans f finds, and returns how many it
// took out.
func cut(w io.Writer, r io.Reader, f finder) (int, error) {
	return cutIn(w, r, f, 64<<10)
}

// cutIn is cut reading size octets at a time.
func cutIn(w io.Writer, r io.Reader, f finder, size int) (int, error) {
	longest := f.longest()
	buf := make([]byte, 0, size+longest)
	n := 0
	for {
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return n, err
		}
		// A span that starts before whole is whole in buf: one that
		// starts after may go on past it.
		whole := len(buf) - longest
		if eof {
			whole = len(buf)
		}
		at := 0
		for _, sp := range f.find(buf, whole) {
			if _, err := w.Write(buf[at:sp.start]); err != nil {
				return n, err
			}
			for _, k := range sp.keep {
				if _, err := w.Write(buf[k[0]:k[1]]); err != nil {
					return n, err
				}
			}
			n++
			at = sp.end
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
