package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"

	"mlm/lib/ascii"
	"mlm/lib/listdir"
	"mlm/lib/msg"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// field is a header field to add.
type field struct{ name, value string }

// editor holds the edits to make to every message: the list's, then the
// flags'. It also holds what it reads each message's header with, reused
// from one record to the next.
type editor struct {
	list    *list // nil without DIR
	del     []string
	replace []field
	adds    msg.Fields // replace's, then add's

	br   *bufio.Reader // reads a multipart body, for its footer part
	raw  []byte        // the header block
	e    msg.Edit      // of raw
	warn io.Writer     // standard error: a post's From rewritten for want of its domain's policy
}

// newEditor checks the flags (a bad one is a usage error) and reads the
// list's settings.
func newEditor(a *args) (*editor, error) {
	ed := &editor{del: a.Delete, br: bufio.NewReaderSize(nil, 64<<10), warn: os.Stderr}
	for _, n := range a.Delete {
		if err := msg.CheckName(n); err != nil {
			return nil, sysexit.Perm(sysexit.Usage, fmt.Errorf("-d: %v", err))
		}
	}
	var err error
	if ed.replace, err = parseFields("-r", a.Replace); err != nil {
		return nil, err
	}
	add, err := parseFields("-a", a.Add)
	if err != nil {
		return nil, err
	}
	for _, f := range add {
		if msg.OnlyOnce(f.name) {
			// A second Subject, which mail stores refuse (Gmail).
			return nil, sysexit.Perm(sysexit.Usage, fmt.Errorf("-a: %s: a message has one at most (RFC 5322 section 3.6); -r replaces the post's", f.name))
		}
	}
	for _, f := range append(ed.replace, add...) {
		if err := ed.adds.Add(f.name, f.value); err != nil {
			return nil, sysexit.Temp(err) // checked already: cannot happen
		}
	}
	if a.Dir != "" {
		if ed.list, err = loadList(a.Dir); err != nil {
			return nil, err
		}
		ed.authorField()
	}
	return ed, nil
}

// authorField has a From the list rewrites (dmarc) put its author where
// the flags, which run after it, remove nothing: in Cc if -d or -r
// names Reply-To, as if the list set it; with -r Reply-To the author
// was in no field of the message (a review). If they name Cc too, where
// the list sets Reply-To, no field is left: said, once.
func (ed *editor) authorField() {
	flagged := func(name string) bool {
		return slices.ContainsFunc(ed.del, func(n string) bool { return ascii.EqualFold(n, name) }) ||
			slices.ContainsFunc(ed.replace, func(f field) bool { return ascii.EqualFold(f.name, name) })
	}
	if flagged("Reply-To") {
		ed.list.setsReplyTo = true
	}
	if ed.list.munging != mungeNone && ed.list.setsReplyTo && flagged("Cc") {
		fmt.Fprintf(ed.warn, "%s: %s: a From it rewrites has its author in Cc, which -d or -r removes, and Reply-To is the list's or the flags': the author is in no field\n", prog, listdir.DMARC)
	}
}

func parseFields(flag string, fs []string) ([]field, error) {
	var out []field
	for _, s := range fs {
		n, v, err := msg.ParseField(s)
		if err == nil && perMessage(n) {
			err = errPerMessage(n)
		}
		if err != nil {
			return nil, sysexit.Perm(sysexit.Usage, fmt.Errorf("%s: %v", flag, err))
		}
		out = append(out, field{n, v})
	}
	return out, nil
}

// record copies one record from r to w, editing its message.
func (ed *editor) record(r *stream.Reader, w *stream.Writer, h *stream.Header) error {
	raw, err := r.HeaderBlock(ed.raw[:0], msg.MaxHeader)
	ed.raw = raw
	if err == nil {
		err = ed.e.ResetChecked(raw, msg.MaxHeader)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", h.ID, err)
	}
	if err := w.WriteHeader(h); err != nil {
		return err
	}
	if err := ed.message(w, &ed.e, h, r.Message()); err != nil {
		return err
	}
	return stream.CopyRecipients(w, r)
}

// message edits the header e, of the record h, writes it to w and
// copies the body from body, with the list's footer if it has one.
func (ed *editor) message(w io.Writer, e *msg.Edit, h *stream.Header, body io.Reader) error {
	if err := ed.edit(e, h); err != nil {
		return err
	}
	var ft footing
	if ed.list != nil && ed.list.footer != "" {
		ft = footingFor(e, ed.list.footer)
	}
	if ft.kind == footWrap {
		ok, err := ft.wrap(e, h.ID, ed.raw)
		if err != nil {
			return sysexit.Temp(err) // fields of a made boundary: cannot happen
		}
		if !ok {
			ft = footing{}
		}
	}
	if ft.kind == footPlain || ft.kind == footQP || ft.kind == footWrap {
		e.EnsureBody()
	}
	if _, err := e.WriteTo(w); err != nil {
		return err
	}
	return ft.copy(w, body, ed.br, ed.list, e.EOL())
}

// edit makes the list's edits, then the flags': deletions, replacements,
// additions.
func (ed *editor) edit(e *msg.Edit, h *stream.Header) error {
	if ed.list != nil {
		if err := ed.list.edit(e, h.ID, ed.warn); err != nil {
			return err
		}
		if err := ed.list.complete(e, h, ed.raw); err != nil {
			return err
		}
	}
	for _, n := range ed.del {
		e.Del(n)
	}
	for _, f := range ed.replace {
		e.Del(f.name)
	}
	e.AddFields(&ed.adds)
	return nil
}

// isListField reports whether a field is one the list sets itself, so
// that the post's own are removed first. X-Loop is not one: another
// list's X-Loop stays, so that a post going round between lists comes
// back to each with its mark (mlm-auth holds it there).
func isListField(name string) bool {
	return len(name) >= 5 && ascii.EqualFold(name[:5], "List-") ||
		ascii.EqualFold(name, "Precedence")
}
