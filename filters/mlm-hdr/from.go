package main

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/dmarc"
	"mlm/lib/listdir"
	"mlm/lib/msg"
)

// munging is what the dmarc setting asks: whose From becomes the
// list's.
type munging int

const (
	mungeNone   munging = iota // every post keeps its From
	mungeStrict                // posts from a domain whose DMARC policy is reject or quarantine
	mungeAll                   // every post
)

// maxAuthors is the most of a From's mailboxes whose domains are looked
// up; a From of more is taken as one such domain's.
const maxAuthors = 10

// maxName is the most characters of an author's name the new From's
// display name keeps.
const maxName = 64

// readMunging reads the dmarc setting.
func readMunging(d *listdir.Dir) (munging, error) {
	v, _, err := d.String(listdir.DMARC)
	if err != nil {
		return 0, err
	}
	switch ascii.Lower(strings.TrimSpace(v)) {
	case "", "none":
		return mungeNone, nil
	case "munge":
		return mungeStrict, nil
	case "munge-all":
		return mungeAll, nil
	}
	return 0, badSetting(listdir.DMARC, fmt.Errorf("%q is not none, munge or munge-all", v))
}

// munge puts the list's address in the From of a post whose author's
// domain asks receivers to refuse or junk mail its DKIM and SPF do not
// speak for (or in every post's, as the list asks), with the author's
// name: "Alice via dev" <dev@lists.example.org>. The list's edits break
// the author's DKIM signature, and its envelope sender is its own, so
// the members' providers would refuse their copies (RFC 7489); under
// the list's address they pass on the list's own. The author's From
// goes on to Reply-To, after the post's own, so that a reply reaches
// them as it did, or to Cc where the list sets Reply-To itself; a reply
// to all reaches them there. A post's own that does not parse, so that
// the authors would be read as part of it, goes. Two fields of a name,
// which RFC 5322 forbids but mail has, are read as one, none of their
// addresses lost. Where a field as it came cannot go into another (a
// control octet, a word longer than a line), its addresses go, with
// their names as the From's display name has its author's. A post
// whose From names no mailbox, or the list's own address, is left as it
// is. A lookup that fails is taken as a strict policy: the From is
// rewritten, and a line on warn says why.
func (l *list) munge(e *msg.Edit, id string, warn io.Writer) {
	from, ok := joined(e, "From")
	if !ok || msg.IsAddress(from, l.address) {
		return
	}
	authors := authorsOf(from)
	if len(authors) == 0 {
		return
	}
	if l.munging == mungeStrict && !l.strict(authors, id, warn) {
		return
	}
	to := "Reply-To"
	if l.setsReplyTo {
		to = "Cc"
	}
	name := shownName(authors[0].Name)
	if name == "" {
		name = authors[0].Address
	}
	if utf8.RuneCountInString(name) > maxName {
		name = string([]rune(name)[:maxName-1]) + "…"
	}
	var fs msg.Fields
	if err := fs.AddWords("From", mailboxWords(&mail.Address{Name: name + " via " + l.localPart, Address: l.headerAddress})); err != nil {
		fmt.Fprintf(warn, "%s: %s: From kept: %v\n", prog, id, err) // the list's address and a name made safe: cannot happen
		return
	}
	if cur, had := joined(e, to); !had || !namesAll(cur, authors) {
		if !addAuthors(&fs, to, cur, from, authors) {
			fmt.Fprintf(warn, "%s: %s: From kept: no %s to name its authors in\n", prog, id, to) // rebuilt mailboxes: cannot happen
			return
		}
		e.Del(to)
	}
	e.Del("From")
	e.AddFields(&fs)
}

// joined returns the values of every field named name, joined by
// commas, as one address field's, and whether there is one.
func joined(e *msg.Edit, name string) (string, bool) {
	vs := e.Values(name)
	var keep []string
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			keep = append(keep, v)
		}
	}
	return strings.Join(keep, ", "), len(vs) > 0
}

// addAuthors adds to fs the field to, naming the post's own value cur
// (if any) and then the authors of from: as they came where that makes
// a field, and names every author; else each mailbox of cur's and the
// authors written anew (mailboxWords), their names as shownName has
// them. It reports whether it added one.
func addAuthors(fs *msg.Fields, to, cur, from string, authors []*mail.Address) bool {
	var tries [][]string
	if strings.TrimSpace(cur) != "" {
		tries = append(tries, strings.Fields(strings.TrimRight(cur, " \t,")+", "+from), rebuilt(append(authorsOf(cur), authors...)))
	}
	tries = append(tries, strings.Fields(from), rebuilt(authors))
	for _, words := range tries {
		if namesAll(strings.Join(words, " "), authors) && fs.AddWords(to, words) == nil {
			return true
		}
	}
	return false
}

// rebuilt returns the mailboxes as the words of an address list,
// mailboxWords' each, their names as shownName has them.
func rebuilt(as []*mail.Address) []string {
	var words []string
	for i, a := range as {
		if i > 0 {
			words[len(words)-1] += ","
		}
		words = append(words, mailboxWords(&mail.Address{Name: shownName(a.Name), Address: a.Address})...)
	}
	return words
}

// shownName is a display name as readers show it: its controls as
// spaces, runs of white space as one.
func shownName(n string) string {
	// Valid UTF-8 first: a name decoded from a charset that cannot be
	// (an encoded-word of unknown-8bit) kept its octets, and went out
	// in a word labelled UTF-8, "Andr\xe9" (a review).
	n = strings.ToValidUTF8(n, "\uFFFD")
	return strings.Join(strings.FieldsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' }), " ")
}

// strict reports whether the domain of one of the authors publishes a
// DMARC policy of reject or quarantine, or a lookup of one failed. A
// From of more than maxAuthors mailboxes is taken as strict unlooked.
func (l *list) strict(authors []*mail.Address, id string, warn io.Writer) bool {
	if len(authors) > maxAuthors {
		return true
	}
	for _, a := range authors {
		p, err := l.dmarc.Policy(context.Background(), addr.Domain(a.Address))
		if err != nil {
			fmt.Fprintf(warn, "%s: %s: %v; From rewritten all the same\n", prog, id, err)
			return true
		}
		if dmarc.Strict(p) {
			return true
		}
	}
	return false
}

// authorsOf returns the mailboxes a From value v names: parsed, or, for
// a value mail programs wrote wrong ("Smith, Alice <alice@example.org>"),
// those in its angle brackets, as receivers find them, without names.
func authorsOf(v string) []*mail.Address {
	var as []*mail.Address
	if list, err := msg.AddressList(v); err == nil {
		for _, a := range list {
			if addr.CheckMailbox(addr.Quoted(a.Address)) == nil {
				as = append(as, a)
			}
		}
		return as
	}
	for _, m := range msg.AngleAddrs(v) {
		if addr.CheckMailbox(m) == nil {
			as = append(as, &mail.Address{Address: m})
		}
	}
	return as
}

// namesAll reports whether the address field's value v names every one
// of the authors.
func namesAll(v string, authors []*mail.Address) bool {
	have := map[string]bool{}
	for _, a := range authorsOf(v) {
		have[addr.Key(addr.Quoted(a.Address))] = true
	}
	for _, a := range authors {
		if !have[addr.Key(addr.Quoted(a.Address))] {
			return false
		}
	}
	return true
}

// mailboxWords returns a mailbox as the words of a field's value, to
// fold between: as net/mail writes it where its display name is ASCII
// (quoted where it must be), else the name as encoded-words
// (msg.EncodePhrase), then the address in angle brackets.
func mailboxWords(a *mail.Address) []string {
	if ascii.Is(a.Name) {
		return []string{a.String()}
	}
	return append(strings.Fields(msg.EncodePhrase(a.Name)), (&mail.Address{Address: a.Address}).String())
}
