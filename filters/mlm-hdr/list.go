package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/dmarc"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// list is what a list directory asks of every post's header.
type list struct {
	address string     // the list address
	domain  string     // its domain, the right side of a Message-ID made here
	prefix  string     // Subject prefix as read; "" for none
	strip   []string   // names of fields to remove
	replyTo bool       // remove the post's Reply-To
	once    []string   // fields of headeradd a message has once at most: the post's go
	fields  msg.Fields // fields to add, in order
	footer  string     // text to add to the body, LF line endings; "" for none

	munging       munging        // whose From becomes the list's (dmarc)
	dmarc         *dmarc.Checker // for mungeStrict
	localPart     string         // the list address's, for the display name of a From made here
	headerAddress string         // the list address as the header gives it (listdir.HeaderAddress)
	setsReplyTo   bool           // replyto or headeradd sets Reply-To: an author rewritten goes to Cc
}

// badSetting classifies an error in a setting: the list is misconfigured,
// so the post waits until it is fixed.
func badSetting(name string, err error) error {
	return sysexit.Temp(fmt.Errorf("%s: %v", name, err))
}

// loadList reads the settings of the list directory at path.
func loadList(path string) (*list, error) {
	d, err := listdir.Open(path)
	if err != nil {
		return nil, err
	}
	address := d.Address()
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 || msg.CheckValue(address) != nil || strings.ContainsAny(address, " \t<>") {
		return nil, badSetting(listdir.Address, fmt.Errorf("%q is not an address", address))
	}
	// A post goes out with SMTPUTF8 only where an address needs it
	// (mlm-sendmail), and without it every field must be ASCII (RFC
	// 6532). A list whose local part is not ASCII has an envelope sender
	// that is not either, so all its mail goes with SMTPUTF8: there its
	// settings may be UTF-8 as they are. One whose domain alone is not
	// ASCII goes to a server without SMTPUTF8 in its A-labels, without
	// it: its address goes in the header so too (listdir.HeaderAddress).
	addrField := listdir.HeaderAddress(address) // (its local part as address's: at holds)
	utf8OK := !ascii.Is(addrField)
	local, domain := addrField[:at], addrField[at+1:]
	l := &list{address: address, domain: idDomain(domain)}
	mailto := func(suffix, query string) string {
		return "<mailto:" + mailtoAddr(local+suffix+"@"+domain) + query + ">"
	}
	id, err := d.ListID()
	if err != nil {
		return nil, err
	}
	arch, _, err := d.String(listdir.Archive)
	if err != nil {
		return nil, err
	}
	if arch != "" && !strings.HasPrefix(arch, "<") {
		arch = "<" + arch + ">"
	}
	for _, v := range []struct{ setting, value string }{{listdir.ListID, id}, {listdir.Archive, arch}} {
		// UTF-8 (RFC 6532), as a field value must be: octets that are
		// not would reach every member's header.
		if !utf8.ValidString(v.value) {
			return nil, badSetting(v.setting, errors.New("not UTF-8"))
		}
	}
	if !isListID(msg.ListIDOf(id)) {
		return nil, badSetting(listdir.ListID, fmt.Errorf("%q holds no list-id (RFC 2919: labels joined by dots, such as dev.lists.example.org)", id))
	}
	if n := len(msg.ListIDOf(id)); n > msg.MaxListID {
		return nil, badSetting(listdir.ListID, fmt.Errorf("the list-id of %q is %d octets long, over the %d of RFC 2919", id, n, msg.MaxListID))
	}
	if err := checkListIDForm(id); err != nil {
		return nil, badSetting(listdir.ListID, err)
	}
	if arch != "" && !isURLList(arch) {
		return nil, badSetting(listdir.Archive, fmt.Errorf("%q is not a URL in angle brackets, or several separated by commas (RFC 2369)", arch))
	}
	idWords, err := listIDField(id, utf8OK)
	if err != nil {
		return nil, badSetting(listdir.ListID, err)
	}
	arch = uriOf(arch)
	rt, _, err := d.String(listdir.ReplyTo)
	if err != nil {
		return nil, err
	}
	var rtWords []string
	switch {
	case rt == "" || ascii.EqualFold(rt, "none"):
		rt = ""
	case ascii.EqualFold(rt, "list"):
		rt = addrField
	default:
		a, err := mail.ParseAddress(rt)
		if err != nil {
			return nil, badSetting(listdir.ReplyTo, fmt.Errorf("%q is not none, list or an address", rt))
		}
		if rtWords, err = replyToField(rt, a, utf8OK); err != nil {
			return nil, badSetting(listdir.ReplyTo, err)
		}
	}
	if rt != "" && rtWords == nil {
		rtWords = []string{rt} // "list": the list address
	}
	l.replyTo = rt != ""
	if l.munging, err = readMunging(d); err != nil {
		return nil, err
	}
	if l.munging == mungeStrict {
		l.dmarc = dmarc.NewChecker()
	}
	l.localPart, l.headerAddress = local, addrField
	// The request addresses, whose mail waits in queue/requests, where
	// they are served; else the owner's, which a person reads (the
	// owner queue sends it on to the owners), with the request as the
	// subject: a reader's Unsubscribe button sent mail that waited
	// there for good, and the member stayed on the list.
	// A list with neither has none of these fields: its owner queue
	// waits for owners.
	help, sub, unsub := mailto("-request", "?subject=help"), mailto("-subscribe", ""), mailto("-unsubscribe", "")
	switch {
	case d.Served(listdir.Requests):
	case members.Any(d, listdir.Owner): // (a file that cannot be read is taken to name owners: the owner queue says what is wrong)
		help, sub, unsub = mailto("-owner", "?subject=help"), mailto("-owner", "?subject=subscribe"), mailto("-owner", "?subject=unsubscribe")
	default:
		help, sub, unsub = "", "", ""
	}
	var own []string // the fields added here that a message has once: not headeradd's too
	for _, f := range []struct {
		setting, name, value string
		words                []string // the value as words to fold between, if it may need folding
	}{
		{listdir.ListID, "List-Id", "", idWords},
		{listdir.Address, "List-Help", help, nil},
		{listdir.Address, "List-Post", mailto("", ""), nil},
		{listdir.Address, "List-Subscribe", sub, nil},
		{listdir.Address, "List-Unsubscribe", unsub, nil},
		{listdir.Address, "List-Owner", mailto("-owner", ""), nil},
		{listdir.Archive, "List-Archive", arch, nil},
		{listdir.Address, "Precedence", "list", nil},
		{listdir.Address, "X-Loop", addrField, nil},
		{listdir.ReplyTo, "Reply-To", "", rtWords},
	} {
		var err error
		switch {
		case len(f.words) == 1:
			err = l.fields.Add(f.name, f.words[0]) // ASCII as given: on one line, as it comes
		case f.words != nil:
			err = l.fields.AddWords(f.name, f.words)
		case f.value != "":
			err = l.fields.Add(f.name, f.value)
		}
		if err != nil {
			return nil, badSetting(f.setting, err)
		}
		if (f.value != "" || f.words != nil) && f.name != "X-Loop" && f.name != "Reply-To" {
			own = append(own, f.name)
		}
	}

	extra, err := d.Lines(listdir.HeaderAdd)
	if err != nil {
		return nil, err
	}
	for _, s := range extra {
		n, v, err := msg.ParseField(s)
		if err == nil && !utf8.ValidString(v) {
			err = errors.New("not UTF-8") // as listid's and archive's
		}
		if err == nil && !utf8OK && !ascii.Is(v) {
			// Whether a field is structured, and where an
			// encoded-word may stand in it, mlm cannot know.
			err = fmt.Errorf("%w; write its text as RFC 2047 encoded-words, =?utf-8?q?...?=", errNotASCII(s))
		}
		if err == nil {
			if i := slices.IndexFunc(own, func(o string) bool { return ascii.EqualFold(o, n) }); i >= 0 {
				// Two List-Id fields, or Precedence: list and bulk,
				// say two things of one list.
				err = fmt.Errorf("%s, which mlm-hdr sets; its -r replaces it", own[i])
			}
		}
		if err == nil && perMessage(n) {
			err = errPerMessage(n)
		}
		if err == nil && msg.OnlyOnce(n) {
			// The list's stands for the post's, which goes: a
			// message with two is no message (RFC 5322 section 3.6).
			switch {
			case slices.ContainsFunc(l.once, func(o string) bool { return ascii.EqualFold(o, n) }):
				err = fmt.Errorf("%s twice; a message has one at most (RFC 5322 section 3.6)", n)
			case l.replyTo && ascii.EqualFold(n, "Reply-To"):
				err = fmt.Errorf("Reply-To, which %s sets", listdir.ReplyTo)
			case l.munging != mungeNone && ascii.EqualFold(n, "From"):
				err = fmt.Errorf("%s, which %s rewrites", n, listdir.DMARC)
			}
			l.once = append(l.once, n)
		}
		if err == nil {
			err = l.fields.Add(n, v)
		}
		if err != nil {
			return nil, badSetting(listdir.HeaderAdd, err)
		}
	}
	l.setsReplyTo = l.replyTo || slices.ContainsFunc(l.once, func(o string) bool { return ascii.EqualFold(o, "Reply-To") })
	if l.strip, err = d.Lines(listdir.Strip); err != nil {
		return nil, err
	}
	for _, n := range l.strip {
		if err := msg.CheckName(n); err != nil {
			return nil, badSetting(listdir.Strip, err)
		}
	}

	if l.prefix, _, err = d.String(listdir.Prefix); err != nil {
		return nil, err
	}
	if err := checkText(l.prefix); err != nil {
		return nil, badSetting(listdir.Prefix, err)
	}
	if len(l.prefix) > maxPrefix {
		return nil, badSetting(listdir.Prefix, fmt.Errorf("longer than %d octets", maxPrefix))
	}
	if strings.Contains(l.prefix, "=?") {
		// Already encoded, it would be read as an encoded word, shown
		// otherwise (the space after it dropped), and never found in
		// the decoded Subject: added again on each reply. mlm-hdr
		// encodes a prefix that is not ASCII itself.
		return nil, badSetting(listdir.Prefix, errors.New(`holds "=?", an encoded word's start; give the prefix as UTF-8 text`))
	}
	text, err := d.Text(listdir.Footer)
	if err != nil {
		return nil, err
	}
	if l.footer, err = footerText(text); err != nil {
		return nil, badSetting(listdir.Footer, err)
	}
	return l, nil
}

// errNotASCII is the error for a setting's s that must be ASCII: it
// cannot be encoded, and the list's mail may go without SMTPUTF8.
func errNotASCII(s string) error {
	return fmt.Errorf("%q is not ASCII, which only SMTPUTF8 mail may carry (RFC 6532)", s)
}

// checkListIDForm checks that listid's value, ListID's, is a List-Id
// field's (RFC 2919 section 3): a phrase or none, then the list-id in
// angle brackets, and nothing after them but comments and white space.
// A phrase is read as a display name is, its encoded-words in any
// charset.
func checkListIDForm(id string) error {
	u := msg.Uncomment(id)
	i := strings.LastIndexByte(u, '<')
	if j := strings.IndexByte(u[i+1:], '>'); i < 0 || j < 0 || strings.TrimSpace(u[i+1+j+1:]) != "" {
		return fmt.Errorf("%q: the list-id's angle brackets are not closed, or more than comments follows them", id)
	}
	if phrase := strings.TrimSpace(u[:i]); phrase != "" {
		if _, err := anyCharset.Parse(phrase + " <list@id.invalid>"); err != nil {
			return fmt.Errorf("%q: what comes before the list-id is no phrase", id)
		}
	}
	return nil
}

// anyCharset parses an address whose encoded-words may be in any
// charset: their octets are taken as they are.
var anyCharset = &mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, in io.Reader) (io.Reader, error) { return in, nil },
}}

// listIDField returns the List-Id value of listid's id (ListID's, in
// angle brackets), as words to fold between: a phrase that is not ASCII
// as encoded-words (msg.EncodePhrase), its quotes and comments read as a
// display name's are; the list-id as it is, which must be ASCII unless
// utf8OK.
func listIDField(id string, utf8OK bool) ([]string, error) {
	i := strings.LastIndexByte(id, '<')
	phrase, rest := id[:i], id[i:]
	if !utf8OK && !ascii.Is(rest) {
		return nil, errNotASCII(rest)
	}
	if ascii.Is(phrase) {
		return []string{id}, nil
	}
	if msg.ListIDOf(rest) != msg.ListIDOf(id) {
		return nil, fmt.Errorf("%q: a comment after the list-id holds \"<\"", id)
	}
	bad := fmt.Errorf("%q: what comes before the list-id is no phrase", id)
	a, err := mail.ParseAddress(phrase + "<list@id.invalid>")
	if err != nil {
		return nil, bad
	}
	words := append(strings.Fields(msg.EncodePhrase(a.Name)), rest)
	if a.Name != "" && ascii.Is(a.Name) {
		// ASCII once its comments are dropped: a quoted-string, as
		// net/mail writes one, since it may hold specials ("Dev, team").
		s := (&mail.Address{Name: a.Name, Address: "list@id.invalid"}).String()
		words = []string{s[:strings.LastIndex(s, " <")], rest}
	}
	if msg.ListIDOf(strings.Join(words, " ")) != msg.ListIDOf(id) {
		return nil, bad // a "<" in a comment after the list-id
	}
	return words, nil
}

// replyToField returns the Reply-To value of replyto's address a, given
// as rt, as words to fold between: rt itself if it is ASCII, otherwise
// mailboxWords'. The address cannot be encoded: it must be ASCII
// unless utf8OK.
func replyToField(rt string, a *mail.Address, utf8OK bool) ([]string, error) {
	switch {
	case ascii.Is(rt):
		return []string{rt}, nil
	case !utf8OK && !ascii.Is(a.Address):
		return nil, errNotASCII(a.Address)
	}
	return mailboxWords(a), nil
}

// isURLList reports whether v is a list field's value (RFC 2369 section
// 2): URLs in angle brackets, separated by commas, with white space
// around them but none inside, which a reader would ignore.
func isURLList(v string) bool {
	for {
		v = strings.TrimLeft(v, " \t")
		end := strings.IndexByte(v, '>')
		if !strings.HasPrefix(v, "<") || end < 2 || strings.ContainsAny(v[1:end], "< \t") {
			return false
		}
		if v = strings.TrimLeft(v[end+1:], " \t"); v == "" {
			return true
		}
		var comma bool
		if v, comma = strings.CutPrefix(v, ","); !comma {
			return false
		}
	}
}

// uriOf returns an IRI as a URI (RFC 3987 section 3.1), for a field that
// holds URLs (RFC 2369): each octet that is not ASCII percent-encoded,
// "dév" as "d%C3%A9v".
func uriOf(iri string) string {
	if ascii.Is(iri) {
		return iri
	}
	var b strings.Builder
	for i := 0; i < len(iri); i++ {
		if c := iri[i]; c >= 0x80 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// perMessage reports whether name is of a field that names one message
// (RFC 5322 sections 3.6.1 and 3.6.4): one value for every post makes
// them all one message, to threading, to mail stores that keep one
// message of a Message-ID (Gmail), and to the author's DKIM signature.
func perMessage(name string) bool {
	return slices.ContainsFunc([]string{"Date", "Message-ID", "In-Reply-To", "References"}, func(f string) bool { return ascii.EqualFold(f, name) })
}

func errPerMessage(name string) error {
	return fmt.Errorf("%s, each post's own: one for every post would make them one message", name)
}

// mailtoAddr is an address as a mailto: URI holds it (RFC 6068 section
// 2): every octet but letters, digits and "-._~!$'*+@" percent-encoded, so
// that a "?", "#" or "%" in a local part, or UTF-8, stays part of the
// address.
func mailtoAddr(a string) string {
	var b strings.Builder
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$'*+@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// isListID reports whether id is a list-id (RFC 2919 section 2): a
// dot-atom-text of two labels or more, "dev.lists.example.org"; its
// atext may be UTF-8 (RFC 6532), as the list address's may be.
func isListID(id string) bool {
	labels := strings.Split(id, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; c < 0x80 && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// maxPrefix is the longest Subject prefix: encoded (RFC 2047), with
// "Subject: " and a space, it keeps within a line of MaxLine octets.
const maxPrefix = 200

// checkText checks one line of UTF-8 text for a field value.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not UTF-8")
	}
	return msg.CheckValue(s)
}

// footerText checks the footer file's text and returns it with LF line
// endings and a final LF, or "" if it holds nothing but space. (A
// byte-order mark at its start, as Notepad saves one, listdir.Text
// leaves out.)
func footerText(s string) (string, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	s = strings.TrimSuffix(s, "\n") + "\n"
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("not UTF-8")
	}
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if j := strings.IndexFunc(l, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }); j >= 0 {
			return "", fmt.Errorf("line %d: control octet %q", i+1, l[j])
		}
		if len(l) > msg.MaxLine {
			return "", fmt.Errorf("line %d: over %d octets", i+1, msg.MaxLine)
		}
	}
	return s, nil
}

// edit makes the list's edits to e, the header of the record id: the
// post's fields named in strip and its list fields go, the list's fields
// come at the top, the From may become the list's (munge; warn gets a
// failed lookup), and the Subject gets the prefix.
func (l *list) edit(e *msg.Edit, id string, warn io.Writer) error {
	e.DelFunc(l.deleted)
	e.DelValue("X-Loop", func(v string) bool { return msg.IsAddress(v, l.address) })
	e.AddFields(&l.fields) // checked when read
	if l.munging != mungeNone {
		l.munge(e, id, warn)
	}
	if l.prefix != "" {
		return addPrefix(e, l.prefix)
	}
	return nil
}

// idDomain is the list's domain as a Message-ID made here has it: with
// A-labels where it has U-labels, ASCII as a header field is without
// SMTPUTF8, which mlm-sendmail does not always use for such a list (it
// spells the envelope's domain with A-labels for a server without it).
func idDomain(d string) string {
	if a, ok := addr.ALabels(d); ok {
		return a
	}
	return d
}

// complete gives a post that has no Message-ID, or only empty ones
// (which go, and so do those beside a real one), one, as an MTA does to the mail it is given to send
// (Postfix's cleanup(8)): receivers such as Gmail refuse a message
// without. It is made from the record, so that every member's copy has
// the same, and so does a run again after a crash: the record id, and a
// hash of the id and of the header block as it came, its line ends as
// LF (ids a site's own program made may repeat), in the list's domain.
// RFC 5322 asks for a Date too, but no receiver is known to refuse mail
// without one, and the post's header is the author's: none is made up.
func (l *list) complete(e *msg.Edit, h *stream.Header, raw []byte) error {
	if e.HasValue("Message-ID") {
		// An empty one beside it goes: two Message-ID fields, which
		// Gmail refuses, on a post mlm-auth held for them and a
		// moderator approved (a review).
		e.DelValue("Message-ID", func(v string) bool { return strings.Trim(v, " \t\r\n") == "" })
		return nil
	}
	e.Del("Message-ID") // one that holds nothing is none, to a receiver too
	sum := sha256.Sum256(append([]byte(h.ID+"\n"), bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))...))
	id := "<" + msg.IDLeft(h.ID) + "." + hex.EncodeToString(sum[:8]) + "@" + l.domain + ">"
	if err := e.Add("Message-ID", id); err != nil {
		return sysexit.Temp(err) // a record id and a checked domain: cannot happen
	}
	return nil
}

// deleted reports whether a post's field goes whatever its value: one
// named in strip, a list field, Reply-To if the list sets its own, and
// the list password. A password is never for the members: mlm-auth
// removes a right one, but a wrong one (or any, on a list without a
// password) is still there, in a post it passed or a moderator approved.
// "Approve", "X-Approved" and "X-Approve" are what a Mailman list takes
// as well, and so what its users write. So do the fields that ask for a
// receipt (asksReceipt). One pass over the fields decides them all.
func (l *list) deleted(name string) bool {
	if isListField(name) || isApproval(name) || asksReceipt(name) || l.replyTo && ascii.EqualFold(name, "Reply-To") {
		return true
	}
	for _, n := range l.once {
		if ascii.EqualFold(name, n) {
			return true
		}
	}
	for _, n := range l.strip {
		if ascii.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// isApproval reports the fields that may hold a list password: mlm's
// Approved, and Approve, X-Approved and X-Approve, which Mailman takes.
func isApproval(name string) bool {
	if len(name) > 2 && ascii.EqualFold(name[:2], "X-") {
		name = name[2:]
	}
	return ascii.EqualFold(name, "Approved") || ascii.EqualFold(name, "Approve")
}

// asksReceipt reports whether a field asks the reader's mail program for
// a receipt: RFC 8098's Disposition-Notification-To (and its -Options),
// and the older Return-Receipt-To, X-Confirm-Reading-To and Pegasus
// Mail's X-PMRQC. On a list post each member's program would send one to
// the poster, and so tell a stranger who is on the list. Mailman removes
// the same, for the same reason.
func asksReceipt(name string) bool {
	switch len(name) {
	case len("X-PMRQC"):
		return ascii.EqualFold(name, "X-PMRQC")
	case len("Return-Receipt-To"):
		return ascii.EqualFold(name, "Return-Receipt-To")
	case len("X-Confirm-Reading-To"):
		return ascii.EqualFold(name, "X-Confirm-Reading-To")
	case len("Disposition-Notification-To"):
		return ascii.EqualFold(name, "Disposition-Notification-To")
	case len("Disposition-Notification-Options"):
		return ascii.EqualFold(name, "Disposition-Notification-Options")
	}
	return false
}

// addPrefix puts prefix at the start of the Subject unless the decoded
// Subject holds it already, anywhere, in any case, Unicode form or run
// of white space ("Re: [dev] x", see prefixForm). A
// non-ASCII prefix is encoded (RFC 2047); before an encoded-word it takes
// its separating space inside its own encoded-word, since the space
// between two encoded-words is not displayed. A message without a Subject
// gets one holding just the prefix, folded as an empty one's is.
func addPrefix(e *msg.Edit, prefix string) error {
	v, ok := e.Value("Subject")
	if !ok {
		// An empty Subject, then the prefix put in it, as Prefix does
		// in any other: an encoded prefix of several encoded-words is
		// folded between them, not one line of over 76 octets.
		if err := e.Add("Subject", ""); err != nil {
			return err
		}
		e.Prefix("Subject", msg.EncodeText(prefix))
		return nil
	}
	if strings.Contains(prefixForm(msg.DecodeText(v)), prefixForm(prefix)) {
		return nil
	}
	text := msg.EncodeText(prefix)
	if text != prefix && msg.IsEncodedWord(v) {
		// "=?utf-8?q?[d=C3=A9v]_?= =?utf-8?q?x?=" is "[dév] x".
		e.Prefix("Subject", msg.EncodeText(prefix+" "))
		return nil
	}
	e.Prefix("Subject", text)
	return nil
}

// prefixForm is s as addPrefix compares it: lower case, in Unicode's
// composed form (NFC), each run of white space one space. A reply may
// spell the prefix otherwise than the list does: "dév" as "de" and a
// combining acute (NFD, as macOS writes file names and some programs
// subjects), "[dev list]" with two spaces or a tab; it is the prefix to
// its reader all the same, who must not be shown it twice.
//
// An ASCII subject with single spaces, as most are, costs a look at
// each octet and the lower-casing: 230 ns a post where 170 did before.
func prefixForm(s string) string {
	space := true // at the start, or after a space
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return strings.Join(strings.Fields(strings.ToLower(norm.NFC.String(s))), " ")
		case c == ' ' && !space:
			space = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return strings.Join(strings.Fields(strings.ToLower(s)), " ")
		default:
			space = false
		}
	}
	if space && s != "" {
		return strings.Join(strings.Fields(strings.ToLower(s)), " ")
	}
	return strings.ToLower(s)
}
