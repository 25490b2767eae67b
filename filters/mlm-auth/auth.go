package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/mimewalk"
	"mlm/lib/msg"
	"mlm/lib/notice"
	"mlm/lib/password"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Verdicts.
const (
	pass   = "pass"
	hold   = "hold"
	refuse = "refuse"
	drop   = "drop" // refuse, telling nobody
	own    = "own"  // the list's own mail come back: drop, telling nobody
)

// list is the list directory and what mlm-auth reads of it. A process
// judges one queue batch, so each setting is read once, when a post
// first needs it, and kept; so is whether a poster is in a member file
// (members.Memo) and what a From field's addresses are. A change made
// while a batch runs is seen by the next one.
type list struct {
	d        *listdir.Dir
	now      time.Time
	policy   string
	deny     setting[[]string] // patterns, lower case
	allow    setting[[]string]
	loopID   setting[string] // the list's id (msg.ListIDOf)
	password setting[listPassword]
	in       *members.Memo       // which member files hold a poster
	from     map[string][]string // From field, as read -> its valid addresses
	own      map[string]bool     // poster -> one of the list's command addresses (ownCommand)
	raw      []byte              // the memory of each post's header block in turn
	br       *bufio.Reader       // reads a body's first line, for the list password; made when first needed
	ed       msg.Edit            // each post's, in turn
	sp       bodySpool           // each post's body, where it must be walked or rewritten
	post     post                // the post being judged
}

// listPassword is the hash of the list password, if the list has one.
type listPassword struct {
	hash string
	set  bool
}

// setting is one value of the list read on first use and kept, with its
// error: the first error stops mlm-auth anyway.
type setting[T any] struct {
	read bool
	v    T
	err  error
}

func (s *setting[T]) get(read func() (T, error)) (T, error) {
	if !s.read {
		s.v, s.err = read()
		s.read = true
	}
	return s.v, s.err
}

// maxFrom is the most From fields list.from keeps; past it, it starts
// again, so memory stays bounded however many posters a batch has.
const maxFrom = 10_000

// maxFromLen is the longest From field list.from keeps: a From field may
// be near a MiB long, and 10,000 of those would be 10 GB.
const maxFromLen = 1 << 10

// maxAuthors is the most From addresses that count as the post's
// posters. RFC 5322 allows a list of authors, which is short; a post
// with more is held (judge), and those past it are not looked up, so
// that a header of a MiB, some 70,000 addresses, costs no more than a
// short one against every pattern of deny and allow.
const maxAuthors = 16

// post is one record being judged. Its raw fields (ed) answer the
// questions about its header: they give what go-message would, as the
// block parses and holds no bare CR (msg.CheckBlock, by ResetChecked), and
// cost no parse. The parsed header, which notices want, is made only
// for them.
type post struct {
	h       *stream.Header
	raw     []byte      // the header block as read
	hdr     *msg.Header // raw parsed; nil until header is called
	ed      *msg.Edit
	body    io.Reader // the rest of the message
	posters []string  // envelope sender and From: addresses
	authors bool      // From: holds more than maxAuthors addresses
	noFrom  bool      // no From: field, or none of its addresses valid
	// unchecked: a password the poster gave was taken out unchecked,
	// the hour's budget of checks spent (charge).
	unchecked bool
}

// header returns the header block parsed. It cannot fail: msg.CheckBlock
// has checked the same block, and refuses what go-message does.
func (p *post) header() *msg.Header {
	if p.hdr == nil {
		p.hdr, _ = msg.Parse(p.raw)
	}
	return p.hdr
}

// field returns the value of the first field named name, "" if none.
func (p *post) field(name string) string {
	v, _ := p.ed.Value(name)
	return v
}

// has reports whether the header has a field named name.
func (p *post) has(name string) bool {
	_, ok := p.ed.Value(name)
	return ok
}

// run judges every record of in.
func run(dir string, in io.Reader, out io.Writer, now time.Time) error {
	d, err := listdir.OpenRW(dir)
	if err != nil {
		return err
	}
	policy, set, err := d.String(listdir.Policy)
	if err != nil {
		return err
	}
	switch {
	case !set:
		policy = "members" // missing: the default
	case policy == "open", policy == "members", policy == "moderated":
	default:
		// An empty first line too: a file cut short, or a value a
		// line down, is no policy, and "members" would let a
		// moderated list's members through.
		return sysexit.Errorf(sysexit.TempFail, "%s: unknown policy %q", listdir.Policy, policy)
	}
	l := &list{d: d, now: now, policy: policy, in: members.NewMemo(d), from: map[string][]string{}, own: map[string]bool{}}
	defer l.sp.close()
	r := stream.NewReader(in)
	r.ReuseHeader() // each record's Header is let go before the next
	w := stream.NewWriter(out)
	trace := prog + ":" + strconv.FormatInt(now.Unix(), 10)
	err = r.Each(func(h *stream.Header) error {
		if state, _ := h.Get("state"); state == "approved" {
			return stream.CopyRecord(w, r, h) // a moderator said so
		}
		p, err := l.read(r, h)
		if err != nil {
			return err
		}
		verdict, reason, err := l.judge(p)
		if err != nil {
			return err
		}
		if verdict == pass || verdict == hold {
			// A held post's structure too: once approved, it passes
			// unchecked, so the moderators are told of it with the
			// reason it is held for (a moderated list holds every
			// post).
			why, err := l.structure(p)
			if err != nil {
				return err
			}
			switch {
			case why == "":
			case verdict == pass:
				verdict, reason = hold, why
			default:
				reason += "; " + why
			}
		}
		switch verdict {
		case pass:
			h.Attrs = append(h.Attrs, stream.Attr{Name: "trace", Value: trace})
			return emit(w, r, p)
		case hold:
			member, err := l.moderatedMember(p, reason)
			if err != nil {
				return err
			}
			full, err := l.holdFull(p, member)
			if err != nil {
				return err
			}
			if full != "" {
				reason += "; and the posts held for a moderator fill their queue (" + full + ")"
				known, err := l.senderKnown(p)
				if err != nil {
					return err
				}
				if !known {
					fmt.Fprintf(os.Stderr, "%s: %s: refused (%s); no notice to the sender, whom the list does not know: a stranger's is most often forged\n", prog, h.ID, reason)
					return tellFull(d, p, full, now)
				}
				return refusePost(d, p, fullNotice, reason, now)
			}
			return holdPost(d, r, p, reason, member, now)
		case drop:
			fmt.Fprintf(os.Stderr, "%s: %s: refused (%s, by its From); no notice to the sender\n", prog, h.ID, reason)
			return nil
		case own:
			fmt.Fprintf(os.Stderr, "%s: %s: dropped: the list's own mail came back to it (from %s); no notice, which would come back too\n", prog, h.ID, reason)
			return nil
		}
		return refusePost(d, p, ".n1", reason, now)
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// read reads the record's header block and works out who posted it.
// The post, and the memory it uses, serve each record in turn.
func (l *list) read(r *stream.Reader, h *stream.Header) (*post, error) {
	raw, err := r.HeaderBlock(l.raw[:0], msg.MaxHeader)
	if err == nil {
		err = l.ed.ResetChecked(raw, msg.MaxHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.ID, err)
	}
	l.raw = raw
	l.sp.walked = false
	p := &l.post
	*p = post{h: h, raw: raw, ed: &l.ed, body: r.Message(), posters: p.posters[:0]}
	if h.Sender.Mailbox != "" {
		p.posters = append(p.posters, h.Sender.Mailbox)
	}
	from := l.fromAddresses(p)
	p.authors = len(from) > maxAuthors
	p.noFrom = len(from) == 0
	p.posters = append(p.posters, from[:min(len(from), maxAuthors)]...)
	return p, nil
}

// fromAddresses returns the valid mailboxes of the From field, no more
// than maxAuthors and one, parsing each distinct value once: a batch's
// posts come from few people.
func (l *list) fromAddresses(p *post) []string {
	// Looked up by the field as read, which costs no copy; parsed from
	// its value.
	raw, _ := p.ed.Field("From")
	if as, ok := l.from[string(raw)]; ok {
		return as
	}
	v := p.field("From")
	var as []string
	// take keeps m if it is a valid mailbox, and says whether to go on:
	// not once there are enough to say there are too many.
	take := func(m string) bool {
		if len(as) > maxAuthors {
			return false
		}
		if addr.CheckMailbox(m) == nil {
			as = append(as, m)
		}
		return true
	}
	if from, err := msg.AddressList(v); err == nil {
		for _, a := range from {
			// (A quoted local part comes with its quotes undone.)
			if !take(addr.Quoted(a.Address)) {
				break
			}
		}
	} else {
		// A value mail programs wrote wrong ("Smith, Alice <...>",
		// "alice@example.org <alice@example.org>", an old route): the
		// mailboxes in its angle brackets, as readers find them.
		for _, m := range msg.AngleAddrs(v) {
			if !take(m) {
				break
			}
		}
	}
	if len(raw) > maxFromLen {
		return as // not kept: the cache holds maxFrom short fields at most
	}
	if len(l.from) >= maxFrom {
		clear(l.from)
	}
	l.from[string(raw)] = as
	return as
}

// ownCommand is envelope.OwnCommand for the list, kept for each poster,
// as list.from is, for a batch's posts come from few people: a look in
// a map costs less than the domains' compare.
func (l *list) ownCommand(a string) bool {
	if v, ok := l.own[a]; ok {
		return v
	}
	v := envelope.OwnCommand(l.d.Address(), a)
	if len(a) <= maxFromLen {
		if len(l.own) >= maxFrom {
			clear(l.own)
		}
		l.own[strings.Clone(a)] = v // (the sender's is the reader's memory)
	}
	return v
}

// judge applies the checks in order: deny patterns, loops, automatic
// mail, the list password, then the policy.
func (l *list) judge(p *post) (verdict, reason string, err error) {
	// The list's own mail come back: all it sends goes from its bounce
	// address, its notices from its owner address. A notice of its hold
	// would come back in turn, for ever, through the same forwarding
	// (a moderator's address that leads to the list), so it is dropped.
	// (A domain compared for most posters, a local part for the few in
	// the list's domain.) Not the list address itself, from which the
	// list sends nothing: an announcement's author may write it as the
	// From, and the checks below judge the post as any other.
	for _, a := range p.posters {
		if l.ownCommand(a) {
			return own, notice.Clean(a, 100), nil
		}
	}
	// The notice goes to the envelope sender: only if it is the address
	// denied, not if a From is, which anyone's address may be sent with.
	const denied = "your address may not post to this list"
	if ok, err := l.matches(&l.deny, listdir.Deny, []string{p.h.Sender.Mailbox}); err != nil || ok {
		return refuse, denied, err
	}
	if ok, err := l.matches(&l.deny, listdir.Deny, p.posters); err != nil || ok {
		return drop, denied, err
	}
	// The password first: a right one is taken out of the post before
	// anything may hold it, so that it reaches neither the moderators'
	// notice nor, once approved, the members.
	asked := p.has("Approved")
	approved, hasPassword, err := l.approved(p)
	if err != nil {
		return "", "", err
	}
	if loop, err := l.isLoop(p); err != nil || loop {
		return hold, "loop: the list's own mail came back to it", err
	}
	// Any field of the two: a poster's program may add one to a post
	// that had its own.
	vs := p.ed.Values("Auto-Submitted")
	if i := slices.IndexFunc(vs, notice.AutoSubmitted); i >= 0 {
		// But from an envelope sender posters names, as it is: another
		// list's, whose notices this list is the moderators' address
		// for, held here with no notice (automatic, from a role
		// address), none of its moderators told (R93 F3).
		in, err := l.in.First([]string{p.h.Sender.Mailbox}, listdir.Posters)
		if err != nil {
			return "", "", err
		}
		if in < 0 || p.h.Sender.Mailbox == "" {
			v := vs[i]
			// (The poster's text: cleaned, since the reason goes into
			// the moderators' notice and mlm-moderate's list.)
			return hold, "automatic message (Auto-Submitted: " + notice.Clean(ascii.Lower(strings.TrimSpace(v)), 100) + ")", nil
		}
	}
	// A field a message has once at most, given twice: mail readers
	// differ on which they show (a From other than the one judged here),
	// and receivers such as Gmail refuse the message, each of its
	// members' copies bouncing. The list's password does not mend it.
	if n := p.ed.Repeated(); n != "" {
		return hold, n + ": given more than once, where a message has one at most (RFC 5322 section 3.6)", nil
	}
	// No author: the envelope sender, which may be a member, is no
	// From to show, and receivers such as Gmail refuse mail without one.
	if p.noFrom {
		return hold, "no valid address in From:, where a message has one (RFC 5322 section 3.6)", nil
	}
	switch {
	case approved:
		return pass, "", nil
	case p.unchecked:
		return hold, "the list password was not checked: its checks this hour have taken all the time they may (guesses?)", nil
	case hasPassword && asked:
		return hold, "wrong list password in Approved:", nil
	}
	if p.authors {
		return hold, fmt.Sprintf("more than %d addresses in From:", maxAuthors), nil
	}
	if l.policy == "moderated" {
		moderator, err := l.in.First(p.posters, listdir.Moderators)
		if err != nil {
			return "", "", err
		}
		if moderator == 0 {
			return pass, "", nil
		}
		return hold, moderated, nil
	}
	bulk := slices.ContainsFunc(p.ed.Values("Precedence"), notice.Bulk)
	if l.policy == "open" && !bulk {
		// Anyone may post: whether the poster is a member decides
		// on bulk mail alone, and the member files (those of a
		// million members: 19 MB) are not read for the rest.
		return pass, "", nil
	}
	member, err := l.member(p)
	if err != nil {
		return "", "", err
	}
	if !member {
		if bulk {
			return hold, "bulk mail from a non-member", nil
		}
		if l.policy == "members" {
			return hold, "the sender is not a member", nil
		}
	}
	return pass, "", nil
}

// moderated is the reason a moderated list holds a post for.
const moderated = "the list is moderated"

// member reports whether a poster of p may post as a member does: a
// moderator, a member, a poster, or an address allow matches.
func (l *list) member(p *post) (bool, error) {
	in, err := l.in.First(p.posters, memberFiles...)
	if err != nil || in >= 0 {
		return in >= 0, err
	}
	return l.matches(&l.allow, listdir.Allow, p.posters)
}

// senderKnown reports whether p's envelope sender, the address a
// refusal goes to, is one the list knows: in a member file, or matched
// by allow. A post refused for a full hold queue tells no other: that
// queue is full of strangers' posts, spam most of them, whose senders
// are forged, and a refusal for each went to their victims in any
// number, a daily few each (R93 F1).
func (l *list) senderKnown(p *post) (bool, error) {
	if p.h.Sender.Mailbox == "" {
		return false, nil
	}
	sender := []string{p.h.Sender.Mailbox}
	in, err := l.in.First(sender, memberFiles...)
	if err != nil || in >= 0 {
		return in >= 0, err
	}
	return l.matches(&l.allow, listdir.Allow, sender)
}

// memberFiles are the files whose addresses may post to a list of
// policy members (or open, where it decides on bulk mail): the
// moderators, then the members whether they get mail or not, then the
// extra posters.
var memberFiles = []string{listdir.Moderators, listdir.Subscribers, listdir.Digest, listdir.NoMail, listdir.Posters}

// matches reports whether any poster address matches a pattern of the
// file (shell patterns, see match, compared in lower case).
func (l *list) matches(s *setting[[]string], file string, posters []string) (bool, error) {
	pats, err := s.get(func() ([]string, error) {
		lines, err := l.d.Lines(file)
		var pats []string
		for _, line := range lines {
			// In lower case, and its local part folded too, as the
			// posters are tried both ways: a pattern of no "@"
			// (οδος*) is no local part to fold, and one of it with
			// final sigma matched its own spelling no more (R91 F5).
			lower := strings.ToLower(line)
			for _, p := range []string{lower, foldLocal(lower)} {
				if p = unquotePattern(shellClasses(p)); wellFormed(p) && !slices.Contains(pats, p) {
					pats = append(pats, p) // a malformed one matches nothing
					// And spelt in U-labels, which a poster's domain is
					// tried in too: a pattern spelt half one way, half
					// the other, matches the mailbox in any spelling.
					if u := uSpelling(p); u != p && wellFormed(u) {
						pats = append(pats, u)
					}
				}
			}
		}
		return pats, err
	})
	if err != nil || len(pats) == 0 {
		return false, err
	}
	for _, poster := range posters {
		// Quotes that add nothing undone ("eve"@ is eve@), as
		// go-message undoes them in From: an envelope sender keeps
		// them as MAIL FROM gave them. Its domain as it is: its
		// other spellings are tried below (Key's of an IPv6 literal,
		// RFC 5952's, is one a pattern may not spell: a review).
		lower := strings.ToLower(addr.LocalKey(poster))
		folded := foldLocal(lower)
		for _, a := range []string{lower, folded} {
			// Its domain spelt the other ways too: a pattern of
			// *@bücher.example denies bob@xn--bcher-kva.example, the same
			// mailbox, and one of *@xn--bcher-kva.example bob@bücher.example.
			uLabels, aLabels := otherSpellings(a)
			for _, pat := range pats {
				if match(pat, a) || uLabels != "" && match(pat, uLabels) || aLabels != "" && match(pat, aLabels) {
					return true, nil
				}
			}
			if folded == lower {
				break
			}
		}
	}
	return false, nil
}

// foldLocal is s, an address or a pattern of allow or deny in lower
// case, its local part folded as a member's key folds it
// (addr.LowerLocal: final sigma as sigma), so that a pattern of οδος@
// denies ΟΔΟΣ@, as it did Οδος@ (R90 F9); its domain as it is, which
// IDNA keeps final sigma in. One of no "@" as it is: matches tries
// each pattern and poster both ways.
func foldLocal(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		return addr.LowerLocal(s[:at]) + s[at:]
	}
	return s
}

// unquotePattern returns pat, a pattern of allow or deny, with the
// quotes around its local part undone where they add nothing and hold
// no pattern character, as the posters' addresses are compared
// (addr.LocalKey) and the shell's case reads them: "eve"@spam.example is
// eve@spam.example, and matched nothing. Else pat itself.
func unquotePattern(pat string) string {
	at := strings.LastIndexByte(pat, '@')
	if at < 0 || strings.ContainsAny(pat[:at], `*?[\`) {
		return pat
	}
	if k := addr.LocalKey(pat); !strings.HasPrefix(k, `"`) {
		return k
	}
	return pat
}

// uSpelling returns the pattern pat with each A-label of its domain
// that holds no pattern character as its U-label (addr.DomainKey), as
// bob@bücher.example spells bob@xn--bcher-kva.example; pat itself if it
// has none.
func uSpelling(pat string) string {
	at := strings.LastIndexByte(pat, '@')
	if at < 0 || !strings.Contains(pat[at+1:], "xn--") {
		return pat
	}
	labels := strings.Split(pat[at+1:], ".")
	for i, l := range labels {
		if strings.HasPrefix(l, "xn--") && !strings.ContainsAny(l, `*?[]\`) {
			labels[i] = addr.DomainKey(l)
		}
	}
	return pat[:at+1] + strings.Join(labels, ".")
}

// otherSpellings returns the mailbox a, in lower case, with its
// domain's A-labels as U-labels (addr.DomainKey), and with its U-labels
// as A-labels (addr.ALabels); each "" where it is a itself. A domain
// spelt half one way and half the other (bücher.xn--scm-rla.example)
// has both, so that a pattern of either spelling matches it.
func otherSpellings(a string) (uLabels, aLabels string) {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "", ""
	}
	d := a[at+1:]
	if k := addr.DomainKey(d); k != d {
		uLabels = a[:at+1] + k
	}
	if ascii.Is(d) {
		return uLabels, ""
	}
	if o, ok := addr.ALabels(d); ok && o != d {
		aLabels = a[:at+1] + o
	}
	return uLabels, aLabels
}

// isLoop reports the list's own mail coming back: its List-Id, or an
// X-Loop naming it.
func (l *list) isLoop(p *post) (bool, error) {
	id, err := l.loopID.get(func() (string, error) {
		// The id of the field mlm-hdr writes (its phrase aside).
		// Its labels as U-labels (addr.DomainKey): mlm-hdr writes a
		// list's IDN domain in A-labels, and wrote it in U-labels before.
		id, err := l.d.ListID()
		return addr.DomainKey(msg.ListIDOf(id)), err
	})
	if err != nil {
		return false, err
	}
	// No list-id is over 255 octets (RFC 2919), as mlm-hdr checks the
	// list's in A-labels; in U-labels, as it wrote an IDN list's before,
	// the list's own may be longer (a CJK label is 3 octets a character
	// where its A-label is about 1), and a case of it longer again. A
	// longer value is none of the list's, nor a key for DomainKey's
	// cache, which would keep each for the run.
	most := max(msg.MaxListID, 2*len(id))
	for _, v := range p.ed.Values("List-Id") {
		if v := msg.ListIDOf(v); len(v) <= most && addr.DomainKey(v) == id {
			return true, nil
		}
	}
	for _, v := range p.ed.Values("X-Loop") {
		if msg.IsAddress(v, l.d.Address()) {
			return true, nil
		}
	}
	return false, nil
}

// structure returns why a post about to pass must be held instead, or
// "": a body nested deeper or cut into more parts than mimewalk.Default
// allows, which mail readers would spend minutes and gigabytes on, or a
// Content-Type too long to walk, the post's own among them, or given
// twice, read one way by the walk and another by readers that take the
// last (mimewalk.Ambiguous). A body that is no multipart or message is
// not walked; one that is is copied as it is walked (list.walk).
func (l *list) structure(p *post) (why string, err error) {
	// Each field's values read once, for the first (the walk's) and the
	// last.
	ct, lastCT := p.ed.FirstLast("Content-Type")
	cte, lastCTE := p.ed.FirstLast("Content-Transfer-Encoding")
	if mimewalk.Ambiguous(ct, lastCT, cte, lastCTE) {
		return mimewalk.ErrType.Error(), nil // the post's own fields, given twice
	}
	if mimewalk.Flat(ct) {
		return "", nil
	}
	if err := l.walk(p, ct, ascii.Lower(strings.TrimSpace(cte)), false); err != nil {
		return "", err
	}
	return l.sp.why, nil
}

// approved checks the list password in the Approved: fields and on the
// first line of the body, and removes it wherever it is right: a right
// password reaches neither the moderators nor the members, whichever
// place it came in and whatever else came with it. Fields past the
// maxFields it checks are not known to be wrong: it removes them all.
// So it does a password it could not check, the hour's checks spent
// (charge), which sets p.unchecked. hasPassword says whether the list
// has one at all. To look at the body's first line it reads the body
// through l.br, which becomes p.body.
func (l *list) approved(p *post) (ok, hasPassword bool, err error) {
	pw, err := l.password.get(func() (listPassword, error) {
		hash, ok, err := l.d.String(listdir.Password)
		return listPassword{hash, ok}, err
	})
	if err != nil || !pw.set {
		return false, false, err
	}
	// A field's value as readers show it: a password that is not ASCII
	// comes as RFC 2047 encoded-words, as mail programs write a header.
	// (Still one check a value.) right says whether to take v out of
	// the post: if it is the password, and if it was not checked, the
	// hour's checks spent, since it may be; only the first approves.
	cost := password.Cost(pw.hash)
	var good bool
	right := func(v string) bool {
		if err != nil {
			return false
		}
		v = strings.TrimSpace(msg.DecodeText(v))
		if cost == 0 || v == "" {
			return false // no check to make: Check matches nothing
		}
		var charged bool
		if charged, err = l.charge(cost); err != nil {
			return false
		}
		if !charged {
			p.unchecked = true
			return true
		}
		right := password.Check(pw.hash, v)
		if right {
			// Given back: only wrong passwords are bounded.
			_, err = l.charge(-cost)
		}
		good = good || right
		return right
	}
	vs := p.ed.Values("Approved")
	remove := slices.ContainsFunc(vs[:min(len(vs), maxFields)], right)
	// The body's first line, even behind a right field (where it would
	// go to the members), or a wrong one.
	_, berr := l.bodyApproved(p, right)
	if err == nil {
		err = berr
	}
	if err != nil {
		return false, true, err
	}
	// A field past those checked may be the right one: it goes too; and
	// every field where the body's line gave the password (R90 F4).
	if remove || good || len(vs) > maxFields {
		p.ed.Del("Approved")
	}
	return good, true, nil
}

// isApproved reports whether line, the body's first, is "Approved:" and
// the list password (right).
func isApproved(line string, right func(string) bool) bool {
	name, v, found := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
	return found && ascii.EqualFold(strings.TrimSpace(name), "Approved") && right(v)
}

// qp reports whether a Content-Transfer-Encoding field of the post
// (any: readers differ on which they take) is quoted-printable, so that
// readers show the body's first line decoded: a password with "=" in
// it, or a space typed after it, comes so ("s3cr=3Dt", "s3cr=t=20").
func qp(p *post) bool {
	return slices.ContainsFunc(p.ed.Values("Content-Transfer-Encoding"), func(v string) bool {
		return ascii.EqualFold(strings.TrimSpace(v), "quoted-printable")
	})
}

// qpDecode returns the line decoded from quoted-printable; false if it
// is not quoted-printable, or goes on to the next (a soft line break),
// whose text is none of the line removed.
func qpDecode(line []byte) (string, bool) {
	if bytes.HasSuffix(bytes.TrimRight(line, " \t\r\n"), []byte("=")) {
		return "", false
	}
	d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(line)))
	return string(d), err == nil
}

// qpLine decodes the first line of a quoted-printable body whose first
// octets are head (all of it if atEOF), its soft line breaks joined, as
// readers show it, and returns it and the octets it takes in the body;
// false if it does not end within head, or cannot be decoded.
func qpLine(head []byte, atEOF bool) (string, int, bool) {
	for n := 0; n < len(head); {
		start := n
		i := bytes.IndexByte(head[n:], '\n')
		if i < 0 && !atEOF {
			return "", 0, false
		}
		if i < 0 {
			i = len(head) - n - 1
		}
		n += i + 1
		// (This line's: trimmed further, an empty line would reach
		// the "=" of the one before, and take the next in too.)
		soft := bytes.HasSuffix(bytes.TrimRight(head[start:n], " \t\r\n"), []byte("="))
		switch {
		case soft && n < len(head):
			continue
		case soft && !atEOF:
			return "", 0, false // it goes on past head
		}
		d, ok := qpDecode(head[:n])
		if !ok {
			// The line ends in a soft break at the end of the body.
			dd, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(head[:n])))
			d, ok = string(dd), err == nil
		}
		return d, n, ok
	}
	return "", 0, false
}

// maxFields is how many Approved: fields approved checks: a wrong one,
// then the right. Each check costs the hash's rounds, and the fields
// are the poster's to repeat; the body's line is one check more.
const maxFields = 2

// maxApprovedLine is the longest first line of a body approved reads as
// an Approved: line.
const maxApprovedLine = 1024

// emit writes the record on: its header, the (maybe edited) header
// block, the rest of the message, the recipients.
func emit(w *stream.Writer, r *stream.Reader, p *post) error {
	if err := w.WriteHeader(p.h); err != nil {
		return err
	}
	if _, err := p.ed.WriteTo(w); err != nil {
		return err
	}
	return copyRest(w, r, p)
}

// copyRest copies the body and the recipients and ends the record.
func copyRest(w *stream.Writer, r *stream.Reader, p *post) error {
	if _, err := io.Copy(w, p.body); err != nil {
		return err
	}
	return stream.CopyRecipients(w, r)
}
