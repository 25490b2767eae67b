package envelope

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"mlm/lib/addr"
)

// MTA is the envelope as an MTA passes it in the environment of a
// delivery command. The names differ between MTAs:
//
//	field      qmail-command(8)  Postfix local(8)  Exim pipe transport
//	sender     SENDER            SENDER            SENDER
//	recipient  RECIPIENT         RECIPIENT         RECIPIENT
//	local      LOCAL             LOCAL             LOCAL_PART
//	extension  EXT               EXTENSION         LOCAL_PART_SUFFIX
//	domain     HOST              DOMAIN            DOMAIN
//
// Values are taken as they are; callers check them before use and never
// pass them to a shell (Postfix's src/local/command.c makes the same
// point).
type MTA struct {
	Sender    string
	SenderSet bool // SENDER was in the environment, even if empty
	Recipient string
	// OrigRecipient is Postfix's ORIGINAL_RECIPIENT: the recipient as
	// it came, before virtual aliases made it RECIPIENT.
	OrigRecipient string
	Local         string
	Extension     string
	Domain        string
}

// FromEnv reads the MTA's variables through lookup (os.LookupEnv in
// programs, a map in tests). An empty SENDER is the null sender; an unset
// one is no sender at all.
func FromEnv(lookup func(string) (string, bool)) MTA {
	get := func(names ...string) string {
		for _, n := range names {
			if v, _ := lookup(n); v != "" {
				return v
			}
		}
		return ""
	}
	m := MTA{
		Recipient:     get("RECIPIENT"),
		OrigRecipient: get("ORIGINAL_RECIPIENT"),
		Local:         get("LOCAL", "LOCAL_PART"),
		Extension:     get("EXTENSION", "EXT", "LOCAL_PART_SUFFIX"),
		Domain:        get("DOMAIN", "HOST"),
	}
	m.Sender, m.SenderSet = lookup("SENDER")
	m.Sender = NullSender(m.Sender)
	return m
}

// postfixSafe is the default of Postfix's command_expansion_filter: the
// octets local(8) leaves as they are in the environment of a command it
// runs, SENDER and RECIPIENT among them. Every other octet becomes "_".
const postfixSafe = "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// PostfixFiltered is s as Postfix's local(8) puts it in a command's
// environment with the default command_expansion_filter:
// "o'brien@example.org" becomes "o_brien@example.org" and "jürgen@…"
// "j__rgen@…".
func PostfixFiltered(s string) string {
	b := []byte(s)
	for i, c := range b {
		if strings.IndexByte(postfixSafe, c) < 0 {
			b[i] = '_'
		}
	}
	return string(b)
}

// FromPostfix reports whether sender, a mailbox from the From_ line
// Postfix's local(8) wrote, is the one it gave as env: env's SENDER is
// the sender's unquoted form (addr.Unquoted) through the default
// command_expansion_filter, and ORIGINAL_RECIPIENT, which local(8)
// sets and qmail and Exim do not, is there.
func FromPostfix(sender string, env MTA) bool {
	return env.SenderSet && env.OrigRecipient != "" && sender != env.Sender &&
		PostfixFiltered(addr.Unquoted(sender)) == env.Sender
}

// NullSender returns "" for the ways MTAs and mail programs write the
// null sender: qmail's "#@[]" for a double bounce, and "MAILER-DAEMON"
// and "<>", which maildrop's $FROM and mbox From_ lines (RFC 4155) hold.
// Any other sender is returned as it is; none of these is a mailbox.
func NullSender(s string) string {
	switch s {
	case "#@[]", "MAILER-DAEMON", "<>":
		return ""
	}
	return s
}

// ErrNotList is returned by Route for an address that is neither the
// list's nor one of its command addresses.
var ErrNotList = errors.New("not an address of this list")

// Commands are the command addresses' suffixes: list-request and so on.
var Commands = []string{"request", "subscribe", "unsubscribe", "owner", "bounces", "accept", "reject", "drop"}

// Own reports whether mailbox is the list's address or one of its
// command addresses, in the list's domain: written in any form that is
// the same mailbox, such as "dev-owner"@ for dev-owner@ (see addr.Key).
func Own(list, mailbox string) bool {
	_, ok := own(list, mailbox)
	return ok
}

// OwnCommand is Own for the list's command addresses alone, not the
// list address itself (with or without an extension): all the list
// sends goes from those, its bounce address and its owner address, and
// none from the list address, which an announcement's author may write
// as its From.
func OwnCommand(list, mailbox string) bool {
	cmd, ok := own(list, mailbox)
	return ok && cmd != "post"
}

// OwnBounces reports whether mailbox is the list's bounce address, or a
// VERP form of it, in the list's domain: the envelope sender of all the
// mail the list sends.
func OwnBounces(list, mailbox string) bool {
	cmd, ok := own(list, mailbox)
	return ok && cmd == "bounces"
}

// own returns where mail to mailbox goes (Route's command) if it is one
// of the list's addresses, in the list's domain.
func own(list, mailbox string) (string, bool) {
	// The domains first: mlm-members asks of every member, and most are
	// in other domains. (For a mailbox with an "@", its key's domain is
	// its own, lowered; one without is no list's, Route says.)
	ld, md := domainOf(list), domainOf(mailbox)
	if plainDomain(ld) && plainDomain(md) {
		// ASCII without an A-label, the most of them: its key is its
		// lower case, which EqualFold compares without making it.
		if !strings.EqualFold(ld, md) {
			return "", false
		}
	} else if addr.DomainKey(ld) != addr.DomainKey(md) {
		return "", false
	}
	// Its quotes undone, whatever they held: "dev+a b"@ is delivered to
	// dev@, as dev+ab@ is.
	cmd, _, err := Route(list, addr.Unquoted(mailbox))
	return cmd, err == nil
}

func domainOf(mailbox string) string { return mailbox[strings.LastIndexByte(mailbox, '@')+1:] }

// plainDomain reports a domain all ASCII with no "xn--" in it, in any
// case: one whose key (addr.DomainKey) is its lower case.
func plainDomain(d string) bool {
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c >= utf8.RuneSelf || c|0x20 == 'x' && i+3 < len(d) && d[i+1]|0x20 == 'n' && d[i+2] == '-' && d[i+3] == '-' {
			return false
		}
	}
	return true
}

// Route says where mail to rcpt belongs, for the list whose address is
// list: "post" for the list address itself (an extension after "+" is
// allowed, as Postfix's recipient_delimiter delivers it), or the command
// after "-": "request", "subscribe", "unsubscribe", "owner", "bounces",
// "accept", "reject", "drop". The extension after "+" is returned with it: the
// first "+" after the list's local part, which may hold one (c++@).
// Local parts compare without regard to case (addr.Lower's); domains are not compared,
// since virtual domains and MTA rewriting make them unreliable here.
func Route(list, rcpt string) (cmd, ext string, err error) {
	listLocal, _, _ := strings.Cut(list, "@")
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return "", "", ErrNotList
	}
	// The list's local part first, then its extension after a "+":
	// a list's own may hold a "+" (c++@), which is not one.
	local := rcpt[:at]
	rest, ok := cutFold(local, listLocal)
	if !ok {
		return "", "", ErrNotList
	}
	rest, ext, _ = strings.Cut(rest, "+")
	if rest == "" {
		return "post", ext, nil
	}
	if c, ok := strings.CutPrefix(rest, "-"); ok {
		if cmd = addr.LowerLocal(c); slices.Contains(Commands, cmd) {
			return cmd, ext, nil
		}
	}
	return "", "", ErrNotList
}

// cutFold returns s without the prefix p, which it must start with as
// addr.LowerLocal compares: in as many characters as p has (it changes
// none into more or fewer), whatever their octets.
func cutFold(s, p string) (rest string, ok bool) {
	i := 0
	for range utf8.RuneCountInString(p) {
		if i == len(s) {
			return "", false
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	if addr.LowerLocal(s[:i]) != addr.LowerLocal(p) {
		return "", false
	}
	return s[i:], true
}
