package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"

	"mlm/lib/ascii"
	"mlm/lib/mimewalk"
	"mlm/lib/msg"
	"mlm/lib/stream"
)

// How the footer goes into a message.
const (
	footNone  = iota // the body is copied unchanged
	footPlain        // appended as it is to a text/plain body
	footQP           // appended, quoted-printable, to a text/plain body
	footPart         // a text/plain part before a multipart/mixed's end
	footWrap         // the body made the first part of a new multipart/mixed, the footer its second
)

// footing is how the footer goes into one message.
type footing struct {
	kind        int
	boundary    string // footPart: the multipart's boundary; footWrap: the new one's
	contentType string // footPart: the Content-Type value
	flowed      bool   // footPlain, footQP: the text is format=flowed (RFC 3676)
	cte         string // footWrap: the body's transfer encoding, in lower case
	inner       []byte // footWrap: the first part's header, the post's Content- fields (wrap)
}

// footingFor decides, from the edited header e, where footer can go
// without changing what the rest of the message means. Only the top level
// is looked at; any other type or encoding keeps its body unchanged.
func footingFor(e *msg.Edit, footer string) footing {
	cts, ctes := e.Values("Content-Type"), e.Values("Content-Transfer-Encoding")
	if !sameFirstLast(cts, false) || !sameFirstLast(ctes, true) {
		// Readers that take a field's first occurrence and those that
		// take its last read the body two ways: a footer right for one
		// is raw text in the other's base64, or after its close
		// delimiter.
		return footing{}
	}
	if attachment(e.Values("Content-Disposition")) {
		// A file the poster sent (a patch, a table), which readers
		// save as it is: not text to add to.
		return footing{}
	}
	mt, params, v := "text/plain", map[string]string{}, ""
	if len(cts) > 0 {
		var err error
		v = cts[0]
		if mt, params, err = mimewalk.ParseType(v); err != nil {
			return footing{}
		}
	}
	cte := "7bit"
	if len(ctes) > 0 {
		cte = ascii.Lower(ctes[0])
	}
	isUTF8 := ascii.EqualFold(params["charset"], "utf-8")
	flowed := ascii.EqualFold(params["format"], "flowed")
	switch {
	case mt == "text/plain" && !asciiText(params["charset"]):
		// ASCII octets there are not ASCII text: no footer reads right.
	case mt == "text/plain" && (cte == "7bit" || cte == "8bit"):
		// 8-bit text only where the body may hold it, labelled UTF-8.
		if ascii.Is(footer) || (cte == "8bit" && isUTF8) {
			return footing{kind: footPlain, flowed: flowed}
		}
	case mt == "text/plain" && cte == "quoted-printable":
		if ascii.Is(footer) || isUTF8 {
			return footing{kind: footQP, flowed: flowed}
		}
	case mt == "multipart/mixed" && params["boundary"] != "" && (cte == "7bit" || cte == "8bit" || cte == "binary"):
		// Only the identity encodings: RFC 2045 allows no other on a
		// multipart, but a reader may still decode the body by one,
		// and read the new part as base64.
		return footing{kind: footPart, boundary: params["boundary"], contentType: v}
	}
	// The rest of the plain text, HTML, and the alternatives of mail
	// programs' HTML (multipart/alternative: Gmail's, Outlook's, Apple
	// Mail's, Thunderbird's by default), in an encoding a reader knows:
	// as the first part of a new multipart/mixed, unchanged, the footer
	// a part after it, as Mailman adds it. Not a signed or encrypted
	// body, whose signature covers its own structure, nor another type:
	// a calendar's invitation (text/calendar) is one only at the top or
	// in an alternative, to Outlook.
	identity := cte == "7bit" || cte == "8bit" || cte == "binary"
	switch {
	case (mt == "text/plain" || mt == "text/html") && (identity || cte == "quoted-printable" || cte == "base64"),
		(mt == "multipart/alternative" || mt == "multipart/related") && params["boundary"] != "" && identity:
		return footing{kind: footWrap, cte: cte}
	}
	return footing{}
}

// wrap makes e, the header of a post the footer goes after in a new
// multipart/mixed (footWrap), the header of that multipart: the post's
// Content- fields go to the first part's header (ft.inner), as they
// are, and a Content-Type of the new boundary takes their place, with
// the body's transfer encoding where it is 8bit or binary (RFC 2045
// section 6.4: a multipart's is its parts' widest), and a MIME-Version
// if the post has none. (Those fields are the post's, and any the list
// or the flags added.) It reports false, and changes nothing, where a
// Content- field holds a control octet (but tab) or a bare CR, which
// readers take in a message's header but some refuse in a part's,
// Go's: none of the message would then read. The boundary is made from the record, as a
// Message-ID is (complete), its header's line ends as LF: a run again
// after a crash makes the same message, and a CRLF message the same as
// its LF twin. "=_" starts no line of quoted-printable or base64 text.
func (ft *footing) wrap(e *msg.Edit, id string, raw []byte) (bool, error) {
	clean := true
	e.DelField(func(f []byte) bool { // (deleting nothing: a look at each)
		if isContent(f) && !partSafe(f) {
			clean = false
		}
		return false
	})
	if !clean {
		return false, nil
	}
	sum := sha256.Sum256(append([]byte("boundary\n"+id+"\n"), bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))...))
	ft.boundary = "=_mlm_" + hex.EncodeToString(sum[:12])
	e.DelField(func(f []byte) bool {
		if !isContent(f) {
			return false
		}
		ft.inner = append(ft.inner, f...)
		switch {
		case f[len(f)-1] == '\r':
			ft.inner = append(ft.inner, '\n') // its LF alone: an EOL after the CR would leave it bare
		case f[len(f)-1] != '\n':
			ft.inner = append(ft.inner, e.EOL()...) // the block's last line, which may have none
		}
		return true
	})
	if err := e.Add("Content-Type", `multipart/mixed; boundary="`+ft.boundary+`"`); err != nil {
		return false, err
	}
	if ft.cte == "8bit" || ft.cte == "binary" {
		if err := e.Add("Content-Transfer-Encoding", ft.cte); err != nil {
			return false, err
		}
	}
	if !e.HasValue("MIME-Version") {
		e.Del("MIME-Version")
		return true, e.Add("MIME-Version", "1.0")
	}
	return true, nil
}

// isContent reports whether a field, as the block has it, is a MIME
// field's (isContentField).
func isContent(f []byte) bool {
	name, _, ok := bytes.Cut(f, []byte(":"))
	return ok && isContentField(bytes.TrimRight(name, " \t"))
}

// partSafe reports whether a field, as the block has it, holds no
// control octet but tab and its line ends (CR only before LF, or last).
func partSafe(f []byte) bool {
	for i, c := range f {
		switch {
		case c == '\r' && (i == len(f)-1 || f[i+1] == '\n'), c == '\n', c == '\t':
		case c < ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// sameFirstLast reports whether the first and the last of a field's
// values vs are the same, runs of white space as one space, and in any
// case if fold: whether every mail reader takes the field alike.
func sameFirstLast(vs []string, fold bool) bool {
	if len(vs) < 2 {
		return true
	}
	first, last := strings.Join(strings.Fields(vs[0]), " "), strings.Join(strings.Fields(vs[len(vs)-1]), " ")
	if fold {
		return ascii.EqualFold(first, last)
	}
	return first == last
}

// attachment reports whether a Content-Disposition among vs, any of
// them, is other than inline (RFC 2183): attachment, or a type a reader
// may take for one.
func attachment(vs []string) bool {
	for _, v := range vs {
		t, _, _ := strings.Cut(msg.Uncomment(v), ";")
		if t = strings.TrimSpace(t); t != "" && !ascii.EqualFold(t, "inline") {
			return true
		}
	}
	return false
}

// asciiText reports whether a charset writes ASCII text as ASCII
// octets, one each, as an appended footer's are read: every charset mail
// uses but UTF-16, UTF-32, UCS-2 and UCS-4 (two or four octets a
// character), UTF-7 and HZ (where '+' or '~' shifts), and EBCDIC, by
// any of their names, with an "x-" before them or none. A charset it does
// not know is taken to.
func asciiText(charset string) bool {
	cs := strings.TrimPrefix(ascii.Lower(charset), "x-")
	if cs == "unicode-1-1-utf-8" {
		return true // UTF-8, by an old name of IANA's
	}
	for _, p := range []string{"utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2", "ucs-4", "ucs4", "iso-10646-ucs", "csucs4", "10646-1:1993", "csunicode", "unicode", "csutf16", "csutf32", "utf-7", "utf7", "csutf7", "hz-gb", "ebcdic", "csebcdic", "ibm-thai", "csibmthai"} {
		if strings.HasPrefix(cs, p) {
			return false
		}
	}
	return !ebcdicPage(cs)
}

// ebcdicPage reports whether a lower-case charset name is an IBM code
// page of EBCDIC by its number: IBM037, ibm-1047, cp500, CP01140,
// CCSID01140, csIBM273, x-IBM930 and the like. The numbers are the EBCDIC pages of
// IANA's registry and of ICU's and glibc's tables; the IBM PC pages
// (IBM437, cp850, ...) are ASCII's and not among them.
func ebcdicPage(cs string) bool {
	cs = strings.TrimPrefix(cs, "x-")
	cs = strings.TrimPrefix(cs, "cs")
	switch {
	case strings.HasPrefix(cs, "ibm"):
		cs = cs[3:]
	case strings.HasPrefix(cs, "cp"):
		cs = cs[2:]
	case strings.HasPrefix(cs, "ccsid"):
		cs = cs[5:]
	default:
		return false
	}
	cs = strings.TrimLeft(strings.TrimPrefix(cs, "-"), "0")
	n, err := strconv.Atoi(cs)
	if err != nil {
		return false
	}
	return slices.Contains(ebcdicPages, n)
}

var ebcdicPages = []int{
	37, 38, 256, 273, 274, 275, 277, 278, 280, 281, 284, 285, 290, 297,
	300, 420, 423, 424, 500, 803, 833, 834, 835, 836, 837, 838, 870, 871,
	875, 880, 905, 918, 924, 930, 931, 933, 935, 937, 939, 1025, 1026,
	1027, 1047, 1097, 1112, 1122, 1123, 1130, 1132, 1137, 1140, 1141,
	1142, 1143, 1144, 1145, 1146, 1147, 1148, 1149, 1153, 1154, 1155,
	1156, 1157, 1158, 1159, 1160, 1164, 1166, 1364, 1371, 1388, 1390,
	1399, 4517, 4899, 4971, 5026, 5035, 5123, 8482, 9030, 12712, 16684,
	16804,
}

// copy copies body to w, adding the list's footer as ft says, in the
// body's line ending, or eol, the header's, where the body gives none. A
// multipart body is read through br.
func (ft footing) copy(w io.Writer, body io.Reader, br *bufio.Reader, l *list, eol string) error {
	switch ft.kind {
	case footPlain, footQP:
		footer := l.footer
		if ft.flowed {
			footer = fixedLines(footer)
		}
		return appendFooter(w, body, footer, eol, ft.kind == footQP, ft.flowed)
	case footPart:
		br.Reset(body)
		return insertPart(w, br, ft, l.footer, eol)
	case footWrap:
		return wrapBody(w, body, ft, l.footer, eol)
	}
	_, err := io.Copy(w, body)
	return err
}

// lines turns LF line endings into eol.
func lines(s, eol string) []byte { return []byte(strings.ReplaceAll(s, "\n", eol)) }

// copyTail copies body to w and returns how many octets it copied and
// the last of them (up to 6, as stream.Writer's Tail). To a
// stream.Writer the body goes as whole encoded lines and the Writer says
// its tail; to anything else, through a tail.
func copyTail(w io.Writer, body io.Reader) (int64, string, error) {
	if sw, ok := w.(*stream.Writer); ok {
		n, err := io.Copy(sw, body)
		if n == 0 {
			return 0, "", err
		}
		return n, string(sw.Tail()), err
	}
	t := &tail{w: w}
	_, err := io.Copy(t, body)
	return t.n, string(t.last), err
}

// tail is a writer that remembers the last octets written through it.
type tail struct {
	w    io.Writer
	last []byte // at most tailLen octets
	n    int64
}

// tailLen is how many octets tail keeps: enough for a last line "-- "
// with the line end before it and its own, CRLF.
const tailLen = 6

func (t *tail) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.n += int64(n)
	t.last = append(t.last, p[max(0, n-tailLen):n]...)
	t.last = t.last[max(0, len(t.last)-tailLen):]
	return n, err
}

// fixedLines is the footer as fixed lines of format=flowed text (RFC
// 3676 section 4): no line but a signature separator ("-- ") ends in a
// space, which would join it to the next, and a line that starts with a
// space, ">" or "From " is space-stuffed (section 4.4), so that a reader
// neither takes its space away nor shows it quoted.
func fixedLines(footer string) string {
	ls := strings.Split(strings.TrimSuffix(footer, "\n"), "\n")
	for i, l := range ls {
		if l != "-- " {
			l = strings.TrimRight(l, " ")
		}
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, ">") || strings.HasPrefix(l, "From ") {
			l = " " + l
		}
		ls[i] = l
	}
	return strings.Join(ls, "\n") + "\n"
}

// appendFooter copies body and adds the footer on a line of its own, in
// the line ending of the body's last line, eol if it has none. In a
// quoted-printable body a last line ending in a soft line break ("=",
// which transport padding may follow) gets a hard one first, so the
// footer does not join it. In format=flowed text (flowed) a last line
// ending in a space (decoded, across soft breaks), a flowed line, gets
// an empty line after it, which ends its paragraph, so the footer does
// not join that either; the signature separator "-- " is no flowed line
// (RFC 3676 section 4.3).
func appendFooter(w io.Writer, body io.Reader, footer, eol string, qp, flowed bool) error {
	// The last line has no line end (and ends in a CR); it ends in a
	// soft break, or it is a flowed line.
	var open, cr, soft, flowing bool
	var err error
	if qp {
		t := &qpTail{w: w}
		_, err = io.Copy(t, body)
		open, cr, soft = t.n > 0 && t.last != '\n', t.last == '\r', t.soft()
		flowing = flowed && t.spaceEnd()
		if !open && t.eol != "" {
			eol = t.eol
		}
	} else {
		var n int64
		var last string
		n, last, err = copyTail(w, body)
		open, cr = n > 0 && !strings.HasSuffix(last, "\n"), strings.HasSuffix(last, "\r")
		line := strings.TrimSuffix(strings.TrimSuffix(last, "\n"), "\r")
		sig := strings.HasSuffix(line, "\n-- ") || line == "-- " && int64(len(last)) == n
		flowing = flowed && strings.HasSuffix(line, " ") && !sig
		if n > 0 && !open {
			eol = "\n"
			if strings.HasSuffix(last, "\r\n") {
				eol = "\r\n"
			}
		}
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	switch {
	case open && cr:
		// Only its LF: a line end of eol would leave a bare CR.
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	case open:
		b.WriteString("\n")
	}
	if soft {
		b.WriteString("\n")
	}
	if flowing {
		b.WriteString("\n")
	}
	if qp {
		footer = msg.QPEncode(footer)
	}
	b.WriteString(footer)
	_, err = w.Write(lines(b.String(), eol))
	return err
}

// qpTail passes a quoted-printable body on and follows its last line:
// whether it ends in a soft line break, "=" before any transport padding
// (RFC 2045 §6.7 rule 3: spaces and tabs, which a decoder deletes).
type qpTail struct {
	w         io.Writer
	n         int64
	last      byte   // the last octet, if n > 0
	eol       string // the ending of the last line that has one, "" if none has
	cur, prev byte   // the last octet but space, tab and CR of the line, and of the line before
	// The last 5 octets of the line up to its last octet but space, tab
	// and CR (transport padding after it aside), and how many it has
	// (at most 6: enough to tell "--=20" from a longer line); spaces,
	// tabs and CRs not yet followed by another octet.
	end  [5]byte
	nend int
	pad  [3]byte
	npad int
	// Of the decoded line a soft line break continues, whether it has
	// text yet and whether that ends in a space (open, space); of the
	// decoded line of the last physical line, ended or still open after
	// a soft break, whether it ends in a space and is no signature
	// separator ("-- ", RFC 3676 section 4.3): a flowed line
	// (flowedEnd).
	open, space, flowedEnd bool
}

func (t *qpTail) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	for i, c := range p[:n] {
		switch c {
		case '\n':
			t.eol = "\n"
			if i > 0 && p[i-1] == '\r' || i == 0 && t.n > 0 && t.last == '\r' {
				t.eol = "\r\n"
			}
			// flowedEnd is the decoded line's, ended or, after a
			// soft break, still open: the body may end there.
			if flowed, soft := t.decoded(); soft {
				t.flowedEnd, t.open, t.space = flowed, t.open || t.nend > 1, flowed
			} else {
				t.flowedEnd, t.open, t.space = flowed, false, false
			}
			t.prev, t.cur = t.cur, 0
			t.end, t.nend, t.npad = [5]byte{}, 0, 0
		case ' ', '\t', '\r':
			copy(t.pad[:], t.pad[1:])
			t.pad[2] = c
			t.npad = min(t.npad+1, 3)
		default:
			t.cur = c
			for _, o := range t.pad[3-t.npad:] {
				t.push(o)
			}
			t.push(c)
			t.npad = 0
		}
	}
	if n > 0 {
		t.last = p[n-1]
	}
	t.n += int64(n)
	return n, err
}

// push appends c to the line's end.
func (t *qpTail) push(c byte) {
	copy(t.end[:], t.end[1:])
	t.end[4] = c
	t.nend = min(t.nend+1, 6)
}

// decoded says of the line so far (its transport padding aside)
// whether it ends in a soft line break, and whether the decoded line it
// ends or continues then ends in a space and is no signature separator:
// its last text is a space ("=20", or a space before a soft break), or,
// if it adds none, the text before it on the decoded line did.
func (t *qpTail) decoded() (flowed, soft bool) {
	s := string(t.end[5-min(t.nend, 5):])
	s, soft = strings.CutSuffix(s, "=")
	if s == "" {
		return t.space, soft // no text of its own
	}
	if !soft && !t.open && t.nend == 5 && s == "--=20" {
		return false, false // the signature separator, whole on its line
	}
	return strings.HasSuffix(s, "=20") || soft && strings.HasSuffix(s, " "), soft
}

// spaceEnd reports whether the body's last line, decoded, ends in a
// space, and is no signature separator: a flowed line.
func (t *qpTail) spaceEnd() bool {
	if t.last == '\n' {
		return t.flowedEnd
	}
	flowed, _ := t.decoded()
	return flowed
}

// soft reports whether the body's last line ends in a soft line break.
func (t *qpTail) soft() bool {
	if t.last == '\n' {
		return t.prev == '='
	}
	return t.cur == '='
}

// insertPart copies a multipart body, line by line, and inserts the
// footer as a new text/plain part before its close delimiter
// ("--boundary--"), in the line ending of its first delimiter line, to
// which readers such as Go's mime/multipart hold every delimiter line;
// in eol if it has none. A body without one is copied unchanged, and so is one
// whose structure goes past mimewalk's limits before it: such a body is
// only copied, never walked further. Only the buffer of body is held: a
// line longer than it cannot be a delimiter.
func insertPart(w io.Writer, body *bufio.Reader, ft footing, footer, eol string) error {
	closing := "--" + ft.boundary + "--"
	walk := mimewalk.New(ft.contentType, mimewalk.Default)
	atStart, delimSeen := true, false
	for {
		line, err := body.ReadSlice('\n')
		if atStart && !delimSeen && err == nil && isClose(line, closing[:len(closing)-2]) {
			delimSeen = true
			eol = "\n"
			if bytes.HasSuffix(line, []byte("\r\n")) {
				eol = "\r\n"
			}
		}
		// A close delimiter before any delimiter line is a line of the
		// preamble, as mimewalk reads it (and Go's mime/multipart):
		// the footer goes before the close that ends the parts.
		if atStart && delimSeen && isClose(line, closing) {
			if _, err := w.Write(lines(part(ft.boundary, footer), eol)); err != nil {
				return err
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
			_, err := io.Copy(w, body)
			return err
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if walk.Write(line); walk.Err() != nil {
			_, err := io.Copy(w, body)
			return err
		}
		switch {
		case err == bufio.ErrBufferFull:
			atStart = false
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		default:
			atStart = true
		}
	}
}

// isContentField reports whether name is a MIME field's, which goes
// with the part it describes: "Content-" and more letters, digits and
// "-". One of other octets ("Content-\"x"), which no MIME reader takes,
// and some (Go's) refuse in a part's header, stays in the message's.
func isContentField(name []byte) bool {
	if len(name) < 9 || !ascii.EqualFold(string(name[:8]), "content-") {
		return false
	}
	for _, c := range name[8:] {
		if !ascii.IsAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// wrapBody writes the body of a new multipart/mixed (footing.wrap): the
// post's body, unchanged, as its first part, under the post's Content-
// fields, and the footer as its second, each delimiter line in eol, the
// header's. The line ending before a delimiter line is part of it (RFC
// 2046 section 5.1.1): one is written after the body, which so keeps its
// own last line's.
func wrapBody(w io.Writer, body io.Reader, ft footing, footer, eol string) error {
	if _, err := io.WriteString(w, "--"+ft.boundary+eol); err != nil {
		return err
	}
	if _, err := w.Write(append(ft.inner, eol...)); err != nil {
		return err
	}
	if _, err := io.Copy(w, body); err != nil {
		return err
	}
	_, err := w.Write(lines("\n"+part(ft.boundary, footer)+"--"+ft.boundary+"--\n", eol))
	return err
}

// isClose reports whether line is the close delimiter: "--boundary--",
// then only transport padding and the line ending (or, given
// "--boundary", whether it is a delimiter line).
func isClose(line []byte, closing string) bool {
	rest, ok := bytes.CutPrefix(line, []byte(closing))
	return ok && len(bytes.Trim(rest, " \t\r\n")) == 0
}

// part is the footer as a MIME part with its delimiter line, LF line
// endings; its last LF is the one before the close delimiter. A footer
// with a line that would be read as a delimiter ("--" and the boundary,
// RFC 2046 section 5.1.1) goes in base64, whose lines cannot start so:
// a line of it as written, or as quoted-printable made it, whose soft
// line breaks start lines of their own.
func part(boundary, footer string) string {
	cs, cte, text := "us-ascii", "7bit", footer
	if !ascii.Is(footer) {
		cs, cte, text = "utf-8", "quoted-printable", msg.QPEncode(footer)
	}
	if delim := "--" + boundary; strings.HasPrefix(text, delim) || strings.Contains(text, "\n"+delim) {
		// Text in its canonical form, lines ending in CRLF (RFC 2045
		// section 6.8), as a reader takes it out.
		cte, text = "base64", base64Lines(strings.ReplaceAll(footer, "\n", "\r\n"))
	}
	return "--" + boundary + "\n" +
		"Content-Type: text/plain; charset=" + cs + "\n" +
		"Content-Transfer-Encoding: " + cte + "\n" +
		"Content-Disposition: inline\n" +
		"\n" + text
}

// base64Lines is s in base64, in lines of 76 characters, each ending in
// an LF (RFC 2045 section 6.8).
func base64Lines(s string) string {
	var b strings.Builder
	e := msg.NewBase64Lines(&b, "\n")
	e.Write([]byte(s))
	e.Close() // (a strings.Builder takes every write)
	b.WriteString("\n")
	return b.String()
}
