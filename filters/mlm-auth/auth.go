package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/mimewalk"
	"mlm/lib/msg"
	"mlm/lib/password"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Verdicts.
const (
	pass   = "pass"
	hold   = "hold"
	refuse = "refuse"
)

// post is one record being judged.
type post struct {
	h       *stream.Header
	hdr     *msg.Header
	ed      *msg.Edit
	body    *bufio.Reader
	posters []string // envelope sender and From: addresses
}

// run judges every record of in.
func run(dir string, in io.Reader, out io.Writer, now time.Time) error {
	d, err := listdir.Open(dir)
	if err != nil {
		return err
	}
	policy, _, err := d.String(listdir.Policy)
	if err != nil {
		return err
	}
	switch policy {
	case "":
		policy = "members"
	case "open", "members", "moderated":
	default:
		return sysexit.Errorf(sysexit.TempFail, "%s: unknown policy %q", listdir.Policy, policy)
	}
	r := stream.NewReader(in)
	w := stream.NewWriter(out)
	err = r.Each(func(h *stream.Header) error {
		if state, _ := h.Get("state"); state == "approved" {
			return stream.CopyRecord(w, r, h) // a moderator said so
		}
		p, err := read(r, h)
		if err != nil {
			return err
		}
		verdict, reason, err := judge(d, policy, p)
		if err != nil {
			return err
		}
		if verdict == pass {
			why, done, err := structure(p)
			if err != nil {
				return err
			}
			defer done()
			if why != "" {
				verdict, reason = hold, why
			}
		}
		t := strconv.FormatInt(now.Unix(), 10)
		switch verdict {
		case pass:
			h.Attrs = append(h.Attrs, stream.Attr{Name: "trace", Value: prog + ":" + t})
			return emit(w, r, p)
		case hold:
			return holdPost(d, r, p, reason, now)
		}
		return refusePost(d, p, reason, now)
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// read reads the record's header block and works out who posted it.
func read(r *stream.Reader, h *stream.Header) (*post, error) {
	body := bufio.NewReaderSize(r.Message(), 64<<10)
	hdr, err := msg.ReadHeader(body, msg.MaxHeader)
	if err == nil {
		err = msg.CheckOctets(hdr.Raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.ID, err)
	}
	p := &post{h: h, hdr: hdr, ed: msg.NewEdit(hdr.Raw), body: body}
	if h.Sender.Mailbox != "" {
		p.posters = append(p.posters, h.Sender.Mailbox)
	}
	if from, err := hdr.Mail().AddressList("From"); err == nil {
		for _, a := range from {
			if addr.CheckMailbox(a.Address) == nil {
				p.posters = append(p.posters, a.Address)
			}
		}
	}
	return p, nil
}

// judge applies the checks in order: deny patterns, loops, automatic
// mail, the list password, then the policy.
func judge(d *listdir.Dir, policy string, p *post) (verdict, reason string, err error) {
	if ok, err := matches(d, listdir.Deny, p.posters); err != nil || ok {
		return refuse, "your address may not post to this list", err
	}
	if isLoop(d, p.hdr) {
		return hold, "loop: the list's own mail came back to it", nil
	}
	if v := strings.ToLower(strings.TrimSpace(p.hdr.Fields.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		return hold, "automatic message (Auto-Submitted: " + v + ")", nil
	}
	switch ok, hasPassword, err := approved(d, p); {
	case err != nil:
		return "", "", err
	case ok:
		return pass, "", nil
	case hasPassword && p.hdr.Fields.Has("Approved"):
		return hold, "wrong list password in Approved:", nil
	}
	moderator, err := isIn(d, p.posters, listdir.Moderators)
	if err != nil {
		return "", "", err
	}
	if policy == "moderated" {
		if moderator {
			return pass, "", nil
		}
		return hold, "the list is moderated", nil
	}
	member := moderator
	for _, f := range []string{listdir.Subscribers, listdir.Digest, listdir.NoMail, listdir.Posters} {
		if member {
			break
		}
		if member, err = isIn(d, p.posters, f); err != nil {
			return "", "", err
		}
	}
	if !member {
		if member, err = matches(d, listdir.Allow, p.posters); err != nil {
			return "", "", err
		}
	}
	if !member {
		switch strings.ToLower(strings.TrimSpace(p.hdr.Fields.Get("Precedence"))) {
		case "bulk", "junk", "list":
			return hold, "bulk mail from a non-member", nil
		}
		if policy == "members" {
			return hold, "the sender is not a member", nil
		}
	}
	return pass, "", nil
}

// isIn reports whether any poster address is in a member file.
func isIn(d *listdir.Dir, posters []string, file string) (bool, error) {
	return members.Contains(d, file, posters...)
}

// matches reports whether any poster address matches a pattern of the
// file (shell patterns, as path.Match, compared in lower case).
func matches(d *listdir.Dir, file string, posters []string) (bool, error) {
	pats, err := d.Lines(file)
	if err != nil {
		return false, err
	}
	for _, pat := range pats {
		for _, a := range posters {
			if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(a)); ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// isLoop reports the list's own mail coming back: its List-Id, or an
// X-Loop naming it.
func isLoop(d *listdir.Dir, hdr *msg.Header) bool {
	id := "<" + strings.ReplaceAll(d.Address(), "@", ".") + ">"
	if v, _, _ := d.String(listdir.ListID); v != "" {
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			id = v[i:]
		}
	}
	for _, v := range hdr.Fields.Values("List-Id") {
		if strings.Contains(strings.ToLower(v), strings.ToLower(id)) {
			return true
		}
	}
	for _, v := range hdr.Fields.Values("X-Loop") {
		// The whole value: dev@host is not webdev@host's mark.
		v = strings.TrimSpace(v)
		if s, ok := strings.CutPrefix(v, "<"); ok {
			v, _ = strings.CutSuffix(s, ">")
		}
		if strings.EqualFold(v, d.Address()) {
			return true
		}
	}
	return false
}

// structure walks the MIME structure of a post about to pass, copying
// its body to an unlinked temporary file as it goes, and returns why it
// must be held instead, or "": a body nested deeper or cut into more
// parts than mimewalk.Default allows, which mail readers would spend
// minutes and gigabytes on. A body that is no multipart or message is
// not copied. done closes the copy, which is the post's body from then
// on.
func structure(p *post) (why string, done func(), err error) {
	ct, _ := p.ed.Value("Content-Type")
	walk := mimewalk.New(ct, mimewalk.Default)
	if walk.Done() {
		return "", func() {}, nil
	}
	f, err := os.CreateTemp("", prog+"-")
	if err != nil {
		return "", nil, sysexit.Temp(err)
	}
	os.Remove(f.Name())
	done = func() { f.Close() }
	bw := bufio.NewWriterSize(f, 64<<10)
	if _, err := io.Copy(io.MultiWriter(bw, walk), p.body); err != nil {
		done()
		return "", nil, err
	}
	if err := bw.Flush(); err != nil {
		done()
		return "", nil, sysexit.Temp(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		done()
		return "", nil, sysexit.Temp(err)
	}
	p.body = bufio.NewReaderSize(f, 64<<10)
	if err := walk.Err(); err != nil {
		return err.Error(), done, nil
	}
	return "", done, nil
}

// approved checks the list password in an Approved: field or on the
// first line of the body, and removes it if it is right. hasPassword
// says whether the list has one at all.
func approved(d *listdir.Dir, p *post) (ok, hasPassword bool, err error) {
	hash, hasPassword, err := d.String(listdir.Password)
	if err != nil || !hasPassword {
		return false, false, err
	}
	if v, ok := p.ed.Value("Approved"); ok {
		if password.Check(hash, strings.TrimSpace(v)) {
			p.ed.Del("Approved")
			return true, true, nil
		}
		return false, true, nil
	}
	line, _ := p.body.Peek(1024)
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i+1]
	} else {
		return false, true, nil
	}
	name, v, ok := strings.Cut(strings.TrimRight(string(line), "\r\n"), ":")
	if !ok || !strings.EqualFold(strings.TrimSpace(name), "Approved") || !password.Check(hash, strings.TrimSpace(v)) {
		return false, true, nil
	}
	p.body.Discard(len(line))
	return true, true, nil
}

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
