// Package notice writes the messages mlm sends by itself: notices to
// moderators and replies to senders. A notice is a record like any post,
// put in the list's outgoing queue with the list's bounce address as its
// sender, so it takes the same way out (DESIGN.md §2). It is part of mlm's
// internals, not a public API.
//
// Automatic replies follow RFC 3834 §2: none to the null sender, to mail
// that is itself automatic or from a list, or to the usual role
// addresses; and at most MaxPerDay to one sender in a day.
package notice

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	// The charsets of the world for Quote: a moderator reads a
	// Subject in KOI8-R or ISO-2022-JP, not its octets.
	_ "github.com/emersion/go-message/charset"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/durable"
	"mlm/lib/envelope"
	"mlm/lib/journal"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/msg"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// MaxPerDay is how many automatic replies one sender gets in a day.
const MaxPerDay = 3

// Message is a notice to build.
type Message struct {
	From    string   // the From: mailbox
	To      []string // the To: mailboxes, also the record's recipients
	ReplyTo string   // optional Reply-To: mailbox
	Subject string   // encoded as RFC 2047 if it is not ASCII
	Text    string   // the body, UTF-8, LF line endings
	Headers []byte   // optional: a header block attached as text/rfc822-headers
	// Reply marks a direct response to the message of Headers, such
	// as a refusal to its sender: Auto-Submitted: auto-replied (RFC
	// 3834 sections 3.1.7 and 5), not auto-generated.
	Reply bool
	// InReplyTo is the Message-ID of the message this answers, a
	// msg-id, for In-Reply-To; optional.
	InReplyTo string
	// References are the msg-ids of the References field (RFC 5322
	// section 3.6.4), each on a line of its own; optional.
	References []string
}

// Bytes builds the message. ID makes its Message-ID and MIME boundary;
// domain is the Message-ID's right side.
func (m *Message) Bytes(id, domain string, now time.Time) []byte {
	var b strings.Builder
	field := func(name, value string) { b.WriteString(name + ": " + value + "\n") }
	// A mailbox whose domain alone is not ASCII goes in its A-labels,
	// the same mailbox: mlm-sendmail sends such an envelope to a relay
	// without SMTPUTF8 so, where a header must be ASCII (RFC 6532).
	to := make([]string, len(m.To))
	for i, t := range m.To {
		to[i] = listdir.HeaderAddress(t)
	}
	field("From", listdir.HeaderAddress(m.From))
	field("To", addressList(len("To: "), to))
	if m.ReplyTo != "" {
		field("Reply-To", listdir.HeaderAddress(m.ReplyTo))
	}
	field("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	field("Date", now.UTC().Format(time.RFC1123Z))
	field("Message-ID", "<"+msg.IDLeft(id)+"@"+domain+">")
	if m.InReplyTo != "" {
		field("In-Reply-To", m.InReplyTo)
	}
	if len(m.References) > 0 {
		field("References", strings.Join(m.References, "\n "))
	}
	if m.Reply {
		field("Auto-Submitted", "auto-replied")
	} else {
		field("Auto-Submitted", "auto-generated")
	}
	// What autoresponders that do not read Auto-Submitted do read
	// (vacation(1), Exchange's rules): an answer to a hold notice goes
	// to its accept address, and one that says nothing of itself
	// would approve the post.
	field("Precedence", "bulk")
	field("X-Auto-Response-Suppress", "All")
	field("MIME-Version", "1.0")
	text := strings.TrimRight(m.Text, "\n") + "\n"
	if m.Headers == nil {
		field("Content-Type", "text/plain; charset=utf-8")
		field("Content-Transfer-Encoding", "8bit")
		b.WriteString("\n" + text)
		return []byte(b.String())
	}
	boundary := "=_mlm_" + hex.EncodeToString(sha(id)[:12])
	field("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\nThis is a MIME message.\n\n--" + boundary + "\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	b.WriteString(text + "\n--" + boundary + "\n")
	// The header as it came, but for a line over the 998 octets a line
	// of a message may have (RFC 5322 section 2.1.1), which a poster's
	// header may hold, or a NUL or a CR of its own, which 8bit may not
	// carry (RFC 2045 section 2.8), or octets not UTF-8: then
	// quoted-printable, whose lines are short and which writes those
	// octets as =00, =0D and =E9.
	hdr, cte := strings.ReplaceAll(string(attachable(m.Headers)), "\r\n", "\n"), "8bit"
	ct := "text/rfc822-headers"
	valid := utf8.ValidString(hdr)
	if valid && strings.IndexFunc(hdr, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0 {
		// UTF-8 fields (RFC 6532): with no charset the part is
		// US-ASCII (RFC 2046 section 4.1.2), and read so.
		ct += "; charset=utf-8"
	}
	// Octets that are not UTF-8 (a Latin-1 header of an old mail
	// program, or spam's) no charset names: 8bit, under US-ASCII's,
	// they were no valid MIME (R93 F5); quoted-printable, the part is
	// ASCII, and decodes to the header as it came. (RFC 1428's
	// unknown-8bit, which go-message refuses, would be read by few.)
	if longLine(hdr) || strings.ContainsAny(hdr, "\x00\r") || !valid {
		hdr, cte = msg.QPEncode(hdr), "quoted-printable"
	}
	b.WriteString("Content-Type: " + ct + "\nContent-Transfer-Encoding: " + cte + "\n\n")
	b.WriteString(hdr)
	b.WriteString("\n--" + boundary + "--\n")
	return []byte(b.String())
}

// maxAttached is the most of a header a notice attaches: a real one is
// a few KiB, a long Received trail some tens.
const maxAttached = 64 << 10

// attachable is the header block raw as a notice attaches it (a
// review): without its Approved fields, which a refusal sent before
// the list password was taken out of the post (a denied sender's)
// carried to the envelope sender; and of a block over maxAttached, the
// whole fields within it, from the top, so that a forged post's header
// of up to 1 MiB goes to no one it names, three times a day.
func attachable(raw []byte) []byte {
	if e := msg.NewEdit(raw); e.Del("Approved") > 0 {
		raw = e.Bytes()
	}
	if len(raw) <= maxAttached {
		return raw
	}
	end := 0
	for off := 0; off < maxAttached; {
		i := bytes.IndexByte(raw[off:], '\n')
		if i < 0 || off+i+1 > maxAttached {
			break
		}
		if off += i + 1; off < len(raw) && raw[off] != ' ' && raw[off] != '\t' {
			end = off // a field ends here
		}
	}
	return raw[:end]
}

// identifying is the fields of the header block raw that tell a sender
// which message of theirs a refusal answers (identifyingFields), the
// first of each name, of maxIdentifying octets at most, in their order,
// and the blank
// line: not the whole header, which a refusal attached. A refusal goes
// to the envelope sender, which a spammer forges, and the whole header,
// 64 KiB of the spammer's text, went with it to the victim, under the
// list's name (backscatter); so did a moderator's rejection.
func identifying(raw []byte) []byte {
	e := msg.NewEdit(raw)
	e.DelFunc(func(name string) bool {
		return !slices.ContainsFunc(identifyingFields, func(n string) bool { return ascii.EqualFold(n, name) })
	})
	// The first of each name alone: 6,000 octets at most, where 60
	// Subject fields of a spammer's text went whole (R74).
	seen := map[string]bool{}
	e.DelField(func(f []byte) bool {
		name, _, _ := bytes.Cut(f, []byte(":"))
		k := ascii.Lower(string(bytes.TrimRight(name, " \t")))
		if len(f) > maxIdentifying || seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
	if len(e.Names()) == 0 {
		return nil
	}
	return e.Bytes()
}

// identifyingFields are the fields a refusal attaches of the message it
// answers.
var identifyingFields = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID"}

// maxIdentifying is the longest such field a refusal attaches.
const maxIdentifying = 1000

// msgIDSyntax is a msg-id of RFC 5322 section 3.6.4 without its
// obsolete forms: a dot-atom-text, "@", and a dot-atom-text or a
// no-fold-literal, in angle brackets.
var msgIDSyntax = regexp.MustCompile(`^<` + atoms + `@(` + atoms + `|\[[!-Z^-~]*\])>$`)

const atoms = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"

// maxReferences is how many msg-ids a reply's References keeps: the
// first of the thread and the last, as mail programs trim a long one.
const maxReferences = 10

// references returns the References of a reply to a message with
// header hdr (RFC 5322 section 3.6.4): the msg-ids of its References,
// else of its In-Reply-To if that has one only, then its Message-ID;
// none if it has no well-formed Message-ID. A msg-id that is not
// well-formed is left out, so nothing of the post but whole msg-ids,
// each short enough for a line of its own, goes into the field.
func references(hdr *msg.Header) []string {
	id := msgID(hdr.Fields.Get("Message-ID"))
	if id == "" {
		return nil
	}
	ids := msgIDs(hdr.Fields.Get("References"))
	if len(ids) == 0 {
		if irt := msgIDs(hdr.Fields.Get("In-Reply-To")); len(irt) == 1 {
			ids = irt
		}
	}
	ids = append(ids, id)
	if len(ids) > maxReferences {
		ids = append(ids[:1], ids[len(ids)-maxReferences+1:]...)
	}
	return ids
}

// msgIDs returns the well-formed msg-ids of a field's value, in order:
// with space between them or none ("<a@x><b@x>"), as RFC 5322 section
// 3.6.4 allows.
func msgIDs(v string) []string {
	var ids []string
	for _, w := range strings.Fields(strings.ReplaceAll(v, "><", "> <")) {
		if id := msgID(w); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// msgID returns a message's Message-ID value, space around it aside, if
// it is a msg-id short enough for a line of its own, and "" if not: a
// reply names its message by it in In-Reply-To.
func msgID(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 900 || !msgIDSyntax.MatchString(v) {
		return ""
	}
	return v
}

// longLine reports whether s has a line over msg.MaxLine octets, its
// line ending aside.
func longLine(s string) bool {
	for s != "" {
		line, rest, _ := strings.Cut(s, "\n")
		if len(strings.TrimSuffix(line, "\r")) > msg.MaxLine {
			return true
		}
		s = rest
	}
	return false
}

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// addressList writes mailboxes as an address field's value that starts
// n octets into its line, folded after a comma where a line would pass
// 78 octets (RFC 5322 section 2.1.1): a notice to many moderators keeps
// within the 998 that MTAs enforce.
func addressList(n int, ms []string) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString(",")
			n++
			if n+1+len(m) > 78 {
				b.WriteString("\n")
				n = 0
			}
			b.WriteString(" ")
			n++
		}
		b.WriteString(m)
		n += len(m)
	}
	return b.String()
}

// oneLine keeps text to one line of printable characters: a control
// character (C0, DEL or C1, as a decoded subject may hold) becomes a
// space.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if sysexit.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Clean makes text from a message fit to quote in a notice, or on an
// administrator's terminal: control characters become spaces, and so do
// format characters (U+202E turns the text after it round, so that
// "bob<U+202E>gro.elpmaxe.ecila@" reads as an address at
// alice.example.org) and line and paragraph separators, as they do in no
// member (addr.CheckMember), but for a joiner between two characters
// of a script that needs one (Persian's ZWNJ, Devanagari's after a
// virama) or in an emoji sequence (joinScripts, joins): elsewhere it
// joins nothing, and "ali<U+200D>ce@" would read as alice@'s; and
// for the tags of an emoji tag sequence (the flag of Scotland); octets
// that are not UTF-8 (the notice's charset) become U+FFFD; and it is
// cut, between two characters, to at most n bytes and an ellipsis.
func Clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	var prev rune
	for i, r := range s {
		if blank(prev, r, s[i+utf8.RuneLen(r):]) {
			r = ' '
		}
		b.WriteRune(r)
		prev = r // as shown
	}
	s = b.String()
	if len(s) > n {
		s = sysexit.Cut(s, n) + "…"
	}
	return s
}

// blank reports whether Clean shows r, after prev (as shown) and before
// rest, as a space.
func blank(prev, r rune, rest string) bool {
	switch {
	case sysexit.IsControl(r):
		return true
	case r == 0x200c || r == 0x200d:
		next, size := utf8.DecodeRuneInString(rest)
		return size == 0 || !joins(prev, r, next)
	case r >= 0xe0020 && r <= 0xe007f:
		// A tag character: part of an emoji tag sequence, as the
		// flags of England, Scotland and Wales (U+1F3F4 and tags up
		// to U+E007F), kept; invisible elsewhere.
		return prev != 0x1f3f4 && (prev < 0xe0020 || prev > 0xe007e)
	case r >= 0x80:
		return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	}
	return false
}

// joinScripts are the scripts whose text needs the joiners: those whose
// letters join (Arabic's, where Persian's ZWNJ keeps two apart), and
// those that choose a conjunct or half form with one after a virama
// (Devanagari's). Between the letters of any other script (Cyrillic,
// Greek, Latin beyond ASCII, Han) a joiner shows nothing, and
// "ми<U+200D>хаил@" would read as михаил@'s.
var joinScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian,
	unicode.Mandaic, unicode.Manichaean, unicode.Psalter_Pahlavi,
	unicode.Phags_Pa, unicode.Adlam, unicode.Hanifi_Rohingya,
	unicode.Sogdian, unicode.Old_Uyghur, unicode.Chorasmian,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi,
	unicode.Gujarati, unicode.Oriya, unicode.Tamil, unicode.Telugu,
	unicode.Kannada, unicode.Malayalam, unicode.Sinhala,
	unicode.Myanmar, unicode.Khmer, unicode.Tibetan,
}

// joins reports whether the joiner j, between prev (as shown) and next,
// has a use: between two characters of one script that needs it, or,
// for U+200D, in an emoji sequence (a pictograph, or the variation
// selector or skin tone after one, then a pictograph).
func joins(prev, j, next rune) bool {
	for _, t := range joinScripts {
		if unicode.Is(t, prev) && unicode.Is(t, next) {
			return true
		}
	}
	emoji := unicode.Is(unicode.So, prev) || prev == 0xfe0f || prev >= 0x1f3fb && prev <= 0x1f3ff
	return j == 0x200d && emoji && unicode.Is(unicode.So, next)
}

// Quote is Clean for the value of a field of a message, its
// encoded-words (RFC 2047) decoded, in any charset go-message/charset
// knows: a Subject as its sender's mail program showed it, not
// "=?utf-8?q?...?=".
func Quote(v string, n int) string {
	return Clean(msg.DecodeText(v), n)
}

// Addressees returns the addresses of the first of the list's member
// files that names any (the moderators, else the owners, for a notice
// of a held post), and the files where it skipped an address of the
// list itself (as mlm-members skips one): the notice would come back to
// the list, be held as automatic, and tell the list again, for ever.
func Addressees(d *listdir.Dir, files ...string) (to, skipped []string, err error) {
	list := d.Address()
	for _, f := range files {
		err := members.Each(d, f, func(m string) error {
			if envelope.Own(list, m) {
				skipped = append(skipped, f)
				return nil
			}
			to = append(to, m)
			return nil
		}, nil)
		if err != nil || len(to) > 0 {
			return to, skipped, err
		}
	}
	return nil, skipped, nil
}

// Send puts the notice in the list's outgoing queue as the record id,
// from the list's bounce address to m.To. A notice is a message of its
// own, not a copy of the post it is about: its id must have no ",", so
// that its delivery journal is not the post's (mlm-sendmail keys the
// journal by the id before the first ","); ID.n1 is the custom.
func Send(d *listdir.Dir, id string, m *Message, now time.Time) error {
	_, domain, _ := strings.Cut(d.Address(), "@")
	body := m.Bytes(id, domain, now)
	var rcpts []stream.Path
	for _, to := range m.To {
		p, err := stream.NewPath(to, false)
		if err != nil {
			return err
		}
		rcpts = append(rcpts, p)
	}
	if strings.Contains(id, ",") {
		return fmt.Errorf("notice id %q has a comma", id)
	}
	t := strconv.FormatInt(now.Unix(), 10)
	h := &stream.Header{
		ID: id,
		Attrs: []stream.Attr{
			{Name: "list", Value: d.Address()},
			{Name: "state", Value: "notice"},
			{Name: "received", Value: t},
			{Name: "trace", Value: "notice:" + t},
		},
		Sender: stream.Path{Mailbox: d.CommandAddress("bounces")},
	}
	return d.Put(listdir.Outgoing, id, func(w io.Writer) error {
		return stream.WriteRecord(w, h, strings.NewReader(string(body)), rcpts)
	})
}

// ID is the record id of the notice about record post that suffix
// (".n1", ".n2") names: post's id and the suffix, short enough that the
// ids delivery derives from it fit a queue's MaxID however long post's
// is, the same each time (queue.ShortID); a post of an id near MaxID,
// which mlm-enqueue takes, could have none, and was held with no notice
// and failed (a review), and one of a notice id that fit the queue but
// not those failed at mlm-sendmail.
func ID(post, suffix string) string {
	return queue.ShortID(post, queue.MaxID-len(suffix)-maxDerived) + suffix
}

// maxDerived is the room a notice's id leaves for the ids delivery
// derives from it: mlm-split's batch ",N", then mlm-sendmail's bounce
// ",bN" and retry ",r-" and 8 hex digits (its idsFit), each N of up
// to 6 digits.
const maxDerived = 7 + 8 + 11

// mayReply reports whether RFC 3834 allows an automatic reply to sender
// about a message with header h, and sender is none of the addresses of
// the list: one to the list address came back to it as a post, to be
// dropped as the list's own mail (a review).
func mayReply(list, sender string, h *msg.Header) bool {
	return sender != "" && !IsAutomatic(h) && !IsRole(sender) && !envelope.Own(list, sender)
}

// countKey is the mailbox a sender's notices count against: the
// mailbox, not its spelling, nor its subaddress. Quotes and quoted pairs
// that add nothing (addr.Key), the case of the local part, and a "+"
// detail (RFC 5233, as Postfix, Sendmail, Exim and the large mail
// services take it: bob+1@ and bob+2@ are bob@'s mailbox) would each
// give a forged sender a count of its own, and MaxPerDay notices for
// every spelling a forger makes up.
func countKey(sender string) string {
	k := strings.ToLower(addr.Key(sender))
	at := strings.LastIndexByte(k, '@')
	if at <= 0 {
		return k
	}
	plus := strings.IndexByte(k[:at], '+')
	switch {
	case k[0] != '"' && plus > 0:
		k = k[:plus] + k[at:]
	case k[0] == '"' && plus > 1:
		// A local part that needs its quotes ("bob smith+1"@): the
		// detail goes from inside them, and so may the quotes (Key).
		k = addr.Key(k[:plus] + `"` + k[at:])
	}
	return k
}

// Counted calls send, which queues the notice id, if fewer than max
// notices counted against key went today (UTC), and reports whether the
// notice went; send is told whether it is the last the limit allows.
// The key is a sender's (countKey) for the replies to it, MaxPerDay a
// day; a name with no "@" counts notices of the list's own (mlm-auth's
// of held posts). The notice counts against the limit once send has
// queued it, not before: a send that fails, and is tried again, uses up
// nothing. And it counts
// once: the count names the notices it holds, so a stage tried again
// after it queued the notice (and died, or failed, before it was done)
// finds it counted, and neither counts nor queues it again. The count is
// a file of the list's state directory, replaced durably before Counted
// returns, under a lock held from the look at the count to its change,
// the send between them, so that two runs at once cannot both send the
// last notice the limit allows. A crash after the send and before the
// count changes leaves the notice uncounted; the stage tried again
// counts it then, and does not send it again if it is queued, or was
// delivered (its journal, swept days later, shows it), as it does not
// for a count of the day before that names it.
func Counted(d *listdir.Dir, id, key string, max int, now time.Time, send func(last bool) error) (bool, error) {
	rel := filepath.Join(listdir.StateDir, "replies")
	dir := d.File(rel)
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return false, sysexit.Temp(err)
	}
	sweepReplies(dir, now)
	name := hex.EncodeToString(sha(key)[:12])
	unlock, err := listdir.LockPath(filepath.Join(dir, name+".lock"), 10*time.Second)
	if err != nil {
		return false, err
	}
	defer unlock()
	n, ids, day := readCount(filepath.Join(dir, name), now.UTC().Format(time.DateOnly))
	if slices.Contains(ids, id) {
		return true, nil // queued and counted by a try before this one
	}
	if n >= max {
		return false, nil
	}
	// Queued by a try before this one that died before it counted it,
	// or counted it another day (UTC), and delivered since, or on its
	// way: its journal, or its record in the outgoing or retry queue,
	// says so, where the queue no longer holds it to keep send from
	// queueing it again. Counted now, once.
	begun, err := journal.Begun(d, id)
	if err != nil {
		return false, err
	}
	if !begun {
		if err := send(n+1 == max); err != nil {
			return false, err
		}
	}
	ids = append(ids, id)
	return true, d.WriteFile(filepath.Join(rel, name), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s %d %s\n", day, n+1, strings.Join(ids, " "))
		return err
	})
}

// readCount reads a sender's count file, "DAY N ID...": how many
// notices the sender got on day, and the ids of those it names (a count
// written before the ids were kept names none), and the day to count
// them for. A count of another day, or none, is 0; but a count of the
// day after, which a clock set back over midnight (UTC) finds (NTP, a
// host resumed), is that day's still, and counted for it: else the step
// back, and the clock catching up again, would each give the sender a
// day's notices more. (Not of a day further on: a clock set years
// ahead by mistake, then mended, would leave its counts standing.)
func readCount(path, day string) (int, []string, string) {
	line, _, err := listdir.FirstLineOf(path) // (one line, of a day's ids)
	if err != nil {
		return 0, nil, day
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != day && f[0] != dayAfter(day) {
		return 0, nil, day
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 {
		return 0, nil, day
	}
	return n, f[2:], f[0]
}

// dayAfter returns the day after day, both as counts are written
// (2006-01-02).
func dayAfter(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, 0, 1).Format(time.DateOnly)
}

// sweepReplies removes, once a day, the counts (and their lock files)
// not changed for two days: they speak of days gone, and a count for
// every sender ever refused, forged ones included, would only grow. The
// day of the last sweep is in the file "swept". A sweep that fails, or
// two at once, do no harm.
func sweepReplies(dir string, now time.Time) {
	if !listdir.OnceADay(filepath.Join(dir, "swept"), now) {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	old := func(name string) bool {
		info, err := os.Stat(filepath.Join(dir, name))
		return err != nil || now.Sub(info.ModTime()) > 48*time.Hour
	}
	for _, e := range ents {
		// A lock file keeps the time it was made: it goes with its
		// count, which changes with each reply.
		count := strings.TrimSuffix(e.Name(), ".lock")
		switch {
		case e.Name() == "swept" || !old(e.Name()) || !old(count):
		case count != e.Name():
			// Only with its lock held: a run that holds it (since
			// before the day this sweep is of) counts on, and one
			// that waits for it takes the next lock file made.
			listdir.RemoveLock(filepath.Join(dir, e.Name()), func() bool { return !old(count) })
		default:
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// IsAutomatic reports whether a message is automatic or from a list, by
// RFC 3834's signs and the common ones: Auto-Submitted other than "no",
// Precedence bulk, junk, list or auto_reply, a List-Id; and the signs
// autoresponders that follow no RFC write instead: X-Autoreply or
// X-Autorespond other than "no", and Microsoft's X-Auto-Response-Suppress
// asking that none answer it (All, OOF or AutoReply), which Exchange's
// out-of-office replies carry. (A vacation reply to a held post's
// notice goes to its accept address: as an answer, it would approve the
// post.)
func IsAutomatic(h *msg.Header) bool {
	// Any field of each, as mlm-auth reads them: a program may add
	// one to a message that had its own.
	f := h.Fields
	return slices.ContainsFunc(f.Values("Auto-Submitted"), AutoSubmitted) ||
		slices.ContainsFunc(f.Values("Precedence"), func(v string) bool { return Bulk(v) || ascii.Lower(strings.TrimSpace(v)) == "auto_reply" }) ||
		f.Has("List-Id") ||
		// (Their "no" read as Auto-Submitted's.)
		slices.ContainsFunc(f.Values("X-Autoreply"), AutoSubmitted) || slices.ContainsFunc(f.Values("X-Autorespond"), AutoSubmitted) ||
		slices.ContainsFunc(f.Values("X-Auto-Response-Suppress"), suppresses)
}

// suppresses reports an X-Auto-Response-Suppress value, a comma list,
// that names All, OOF or AutoReply, in any case.
func suppresses(v string) bool {
	for w := range strings.SplitSeq(v, ",") {
		switch ascii.Lower(strings.TrimSpace(w)) {
		case "all", "oof", "autoreply":
			return true
		}
	}
	return false
}

// AutoSubmitted reports an Auto-Submitted value other than "no" (RFC
// 3834 §5), in any case, space around it aside.
func AutoSubmitted(v string) bool {
	v = ascii.Lower(strings.TrimSpace(v))
	return v != "" && !strings.HasPrefix(v, "no")
}

// Bulk reports a Precedence value of bulk, junk or list, in any case,
// space around it aside.
func Bulk(v string) bool {
	switch ascii.Lower(strings.TrimSpace(v)) {
	case "bulk", "junk", "list":
		return true
	}
	return false
}

// IsRole reports addresses that never get automatic replies, with
// their "+" subaddress or without it (countKey's: postmaster+x@ is
// postmaster@).
func IsRole(sender string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr.Key(sender)), "@") // unquoted, if it can be
	base, _, _ := strings.Cut(countKey(sender), "@")
	return isRoleLocal(local) || isRoleLocal(base)
}

// isRoleLocal reports the local parts of IsRole's addresses, in lower
// case.
func isRoleLocal(local string) bool {
	return local == "mailer-daemon" || local == "postmaster" || strings.HasPrefix(local, "owner-") ||
		strings.HasSuffix(local, "-request") || strings.HasSuffix(local, "-owner") ||
		strings.Contains(local, "-bounces")
}

// Refuse tells the sender of a message with header hdr that it was not
// distributed, and why ("was not distributed: the list is closed"), if
// RFC 3834 and the daily limit allow; it reports whether a notice went.
// The notice is the record id, which must have no ",". Called again for
// the same id, as by a stage tried again, it reports true for a notice
// it queued earlier the same day (UTC), and neither queues nor counts
// it again; nor does it queue again one queued another day, or not
// counted, that is queued still or delivered.
func Refuse(d *listdir.Dir, id, sender string, hdr *msg.Header, why string, now time.Time) (bool, error) {
	if !mayReply(d.Address(), sender, hdr) {
		return false, nil
	}
	return Counted(d, id, countKey(sender), MaxPerDay, now, func(bool) error {
		return Send(d, id, &Message{
			From:    d.CommandAddress("owner"),
			To:      []string{sender},
			Subject: "Your message to " + d.Address() + " was not distributed",
			Text: fmt.Sprintf("Your message to %s with the subject\n  %s\n%s.\n\nWrite to %s with questions.\n",
				d.Address(), Quote(hdr.Fields.Get("Subject"), 200), why, d.CommandAddress("owner")),
			Headers:    identifying(hdr.Raw),
			Reply:      true,
			InReplyTo:  msgID(hdr.Fields.Get("Message-ID")),
			References: references(hdr),
		}, now)
	})
}
