// Package members reads and changes a list's member files: plain text,
// one address per line, "#" comments (mlm-listdir(5)). Reading streams,
// so a list of any size never sits in memory; a change reads the file
// once and writes it anew atomically under the members' lock, holding in
// memory only hashes of the addresses being changed, a million at a time
// (Edit). It is part of mlm's
// internals, not a public API.
//
// The members of a list may instead come from a command the site names
// in the list directory's members-command file, one argument per line
// (no shell is involved); its standard output is read as a member file.
package members

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"mlm/lib/addr"
	"mlm/lib/durable"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/pipeline"
	"mlm/lib/spool"
	"mlm/lib/sysexit"
)

// LockWait is how long a change waits for the members' lock.
const LockWait = 30 * time.Second

// BadFunc is told about an address that is not a mailbox: the file, the
// line number and why. The address itself is not passed on, so that
// messages never carry members' addresses.
type BadFunc func(file string, line int, err error)

// Each calls fn with every valid address of the member file name, in
// order; for Subscribers, the members-command's output if the list has
// one. Bad addresses go to bad and are skipped.
func Each(d *listdir.Dir, name string, fn func(mailbox string) error, bad BadFunc) error {
	keep := func(m string) error { return fn(strings.Clone(m)) }
	return read(d, name, func(r io.Reader, src string) error { return scan(r, src, keep, bad) })
}

// read calls fn with the member file name, or for Subscribers the
// members-command's output if the list has one, and the name to give in
// messages. A missing file is not read.
func read(d *listdir.Dir, name string, fn func(r io.Reader, src string) error) error {
	if name == listdir.Subscribers && d.Has(listdir.MembersCommand) {
		return readCommand(d, fn)
	}
	return readFile(d, name, fn)
}

// readFile calls fn with the member file name, if it exists.
func readFile(d *listdir.Dir, name string, fn func(r io.Reader, src string) error) error {
	f, err := d.OpenFile(name)
	if f == nil {
		return err
	}
	defer f.Close()
	return fn(f, name)
}

// SmallFile is the largest member file a Source keeps in memory.
const SmallFile = 1 << 20

// A Source reads one member file again and again, as mlm-members does for
// each record of a stream. What is settled at the first read holds for
// the Source's life: whether the members come from the members-command,
// and a member file of up to SmallFile octets, which is read and checked
// once and kept, in about as much memory as the file, 4 octets an
// address and 8 a line that is none. A larger file, or the command, is
// read again each time, so memory stays bounded whatever the size of the
// list; a larger file's lines are counted once, for Len.
type Source struct {
	d      *listdir.Dir
	name   string
	tried  bool      // the first read has been made
	cmd    bool      // and found the members-command, which it runs each time
	loaded bool      // names, ends and bad are the whole file (none if there is none)
	names  []byte    // the small file's addresses, one after another
	ends   []uint32  // where each address in names ends
	bad    []badLine // the small file's lines that are not addresses
	why    []string  // their reasons, each once
	lines  int       // a larger file's lines, at the first read
}

// badLine is a line of a member file that is not an address, and why
// (an index of Source.why): 8 octets, where a line and an error value
// each took 40 and more, 20 times a file of short bad lines.
type badLine struct {
	line uint32
	why  uint16
}

// Any reports whether the member file name names a member: a missing
// or empty one names none; one that cannot be read is taken to (its
// reader says what is wrong with it). One mailbox found is enough.
func Any(d *listdir.Dir, name string) bool {
	found := errors.New("found")
	return Each(d, name, func(string) error { return found }, nil) != nil
}

// NewSource returns a Source of the member file name of d.
func NewSource(d *listdir.Dir, name string) *Source { return &Source{d: d, name: name} }

// Each is Each(d, name, fn, bad) for the Source's file, but that a small
// file's bad lines are told before its addresses, and that the mailbox
// fn gets is valid only until fn returns, unless the file is kept: a
// larger file's lines cost no allocation each.
func (s *Source) Each(fn func(mailbox string) error, bad BadFunc) error {
	if err := s.first(); err != nil {
		return err
	}
	if !s.loaded {
		// Not Each, which would look for the command again.
		scanWith := func(r io.Reader, src string) error { return scan(r, src, fn, bad) }
		if s.cmd {
			return readCommand(s.d, scanWith)
		}
		return readFile(s.d, s.name, scanWith)
	}
	for _, b := range s.bad {
		if bad != nil {
			bad(s.name, int(b.line), errors.New(s.why[b.why]))
		}
	}
	start := uint32(0)
	for _, end := range s.ends {
		// names is never written after load: its strings stay as they are.
		if err := fn(unsafe.String(&s.names[start], end-start)); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// Len returns about how many addresses Each gives next, for a caller
// that keeps a set of them: it can make the set's table once, where
// growing it step by step would copy it again and again (addr.KeySet's
// Grow). A file kept whole gives its addresses; a larger one its lines,
// counted at the first read by reading the file through once more (19
// MB for a million members, a few ms); the command none, as its output
// is not known before it runs. Its error is the one Each would return.
func (s *Source) Len() (int, error) {
	if err := s.first(); err != nil {
		return 0, err
	}
	if s.loaded {
		return len(s.ends), nil
	}
	return s.lines, nil
}

// first settles, at the first read, where the members come from, and
// reads a small file. An error is returned once; the reads after it
// read the file again each time.
func (s *Source) first() error {
	if s.tried {
		return nil
	}
	s.tried = true
	s.cmd = s.name == listdir.Subscribers && s.d.Has(listdir.MembersCommand)
	if s.cmd {
		return nil
	}
	return s.load()
}

// load reads and checks the file if it is small, and counts the lines of
// a larger one; a missing file is an empty list.
func (s *Source) load() error {
	f, err := s.d.OpenFile(s.name)
	if err != nil {
		return err
	}
	if f == nil {
		s.loaded = true
		return nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", s.name, err))
	}
	if info.Mode().IsRegular() && info.Size() > SmallFile {
		if s.lines, err = countLines(f); err != nil {
			return sysexit.Temp(fmt.Errorf("%s: %w", s.name, err))
		}
		return nil
	}
	// A buffer the size of the file, where io.ReadAll's would double
	// from 512 octets, leaving each smaller one behind.
	var buf bytes.Buffer
	buf.Grow(int(info.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, SmallFile+1)); err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", s.name, err))
	}
	data := buf.Bytes()
	if len(data) > SmallFile {
		return nil // grown since, or not a regular file: read each time, not counted
	}
	s.names = make([]byte, 0, len(data))
	whys := map[string]uint16{}
	err = scan(bytes.NewReader(data), s.name, func(m string) error {
		s.names = append(s.names, m...)
		s.ends = append(s.ends, uint32(len(s.names)))
		return nil
	}, func(_ string, line int, err error) {
		// (A reason is one of addr's few; past 65,535 of them, the
		// last stands for the rest.)
		w, ok := whys[err.Error()]
		if !ok && len(s.why) == math.MaxUint16 {
			w, ok = math.MaxUint16-1, true
		}
		if !ok {
			w = uint16(len(s.why))
			whys[err.Error()] = w
			s.why = append(s.why, err.Error())
		}
		s.bad = append(s.bad, badLine{uint32(line), w})
	})
	if err != nil {
		return err
	}
	s.loaded = true
	return nil
}

// countLines returns the number of r's lines, a last one without LF
// too.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n, last := 0, byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

// scan reads one address per line from r. The mailbox fn gets is r's
// octets, in scan's buffer, valid only until fn returns.
func scan(r io.Reader, name string, fn func(string) error, bad BadFunc) error {
	return listdir.EachLineBytes(r, name, func(line int, b []byte) error {
		s := unsafe.String(unsafe.SliceData(b), len(b)) // never empty: Item keeps no blank line
		if err := addr.CheckMember(s); err != nil {
			if bad != nil {
				// The reason alone: the line's error names no address,
				// nor a piece of one (mlm-members(1)).
				reason := errors.New(addr.Reason(err))
				if notText(b) {
					reason = errNotText
				}
				bad(name, line, reason)
			}
			return nil
		}
		return fn(s)
	})
}

// commandOutput names the members-command's output in messages: its
// line numbers are the output's, not the file's.
const commandOutput = "members-command output"

// readCommand runs the members-command and reads its output with fn.
func readCommand(d *listdir.Dir, fn func(r io.Reader, src string) error) error {
	if err := d.CheckCommand(listdir.MembersCommand); err != nil {
		return err
	}
	argv, err := d.Lines(listdir.MembersCommand)
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return sysexit.Errorf(sysexit.TempFail, "%s: empty", listdir.MembersCommand)
	}
	// Its output is all that is wanted of it: what it leaves running
	// must not hold the locks this process inherited (a record's claim
	// from mlm-run, a list lock from mlm-lock), which this process holds
	// as long as it needs them. Such a process kept a record claimed,
	// and every run skipped the record without a word, while it lived.
	pipeline.Disinherit()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = d.Path
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sysexit.Temp(err)
	}
	if err := cmd.Start(); err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %v", listdir.MembersCommand, err))
	}
	err = fn(bufio.NewReaderSize(out, 64<<10), commandOutput)
	if err != nil {
		io.Copy(io.Discard, out)
	}
	if werr := cmd.Wait(); werr != nil {
		// The list is incomplete: mail must wait, not go to part of it.
		return sysexit.Temp(fmt.Errorf("%s: %v", listdir.MembersCommand, werr))
	}
	return err
}

// Keys adds the keys (addr.Key) of the addresses of the member file name
// to s, which holds each in 8 octets, not the address; its lines that are
// no address go to bad, if not nil. A file a line of which is not text
// in UTF-8 (notText: saved as UTF-16 or Latin-1, or with CR line ends)
// is a temporary failure, not a file of the members its other lines
// give: mlm-members(1) leaves out the members of digest, nomail and
// notmetoo, and those of such lines would get the posts (R91 F1: a
// Latin-1 nomail's ASCII lines are addresses still). A line of text
// that is no address, such as one typed by hand ("Bob <bob@x>"), is no
// reason to hold every member's mail.
func Keys(d *listdir.Dir, name string, s *addr.KeySet, bad BadFunc) error {
	text, src := true, name
	add := func(m string) error { s.Add(addr.Key(m)); return nil } // a hash of m: no copy of it
	skip := func(file string, line int, err error) {
		text = text && err != errNotText
		if bad != nil {
			bad(file, line, err)
		}
	}
	err := read(d, name, func(r io.Reader, from string) error { src = from; return scan(r, from, add, skip) })
	if err == nil && !text {
		err = sysexit.Errorf(sysexit.TempFail, "%s: a line is not text in UTF-8 (saved as UTF-16 or Latin-1, or with CR line ends?); its members are not known", src)
	}
	return err
}

// notText reports whether a line of a member file is not text in
// UTF-8, as one of a file in another encoding or with other line ends
// is: a NUL octet (UTF-16, UTF-32), a CR within it (CR line ends: the
// file is one line), octets that are not UTF-8 (Latin-1) (R90 F3).
func notText(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || bytes.IndexByte(b, '\r') >= 0 || !utf8.Valid(b)
}

// errNotText is the reason a line that is not text in UTF-8 is no
// address (notText).
var errNotText = errors.New("not text in UTF-8 (saved as UTF-16 or Latin-1, or with CR line ends?)")

// leftOut reports whether name is a file whose members mlm-members(1)
// leaves out of the subscribers' (Keys).
func leftOut(name string) bool {
	return name == listdir.Digest || name == listdir.NoMail || name == listdir.NotMeToo
}

// errFound stops a scan early.
var errFound = errors.New("found")

// Contains reports whether the member file name holds an address with
// the key of any of the mailboxes, reading the file (or running the
// members-command) once.
func Contains(d *listdir.Dir, name string, mailboxes ...string) (bool, error) {
	keys := map[string]bool{}
	for _, m := range mailboxes {
		keys[addr.Key(m)] = true
	}
	if len(keys) == 0 {
		return false, nil
	}
	_, err := find(d, name, keys)
	if err == errFound {
		return true, nil
	}
	return false, err
}

// find reads the member file name until it finds a valid address with
// one of keys, and returns that key with errFound. A file of a million
// members is read in well under a second: a line costs no allocation
// unless its key is one of keys, and only such a line is checked.
func find(d *listdir.Dir, name string, keys map[string]bool) (string, error) {
	var found string
	var key []byte
	err := read(d, name, func(r io.Reader, src string) error {
		return listdir.EachLineBytes(r, src, func(_ int, m []byte) error {
			key = appendKey(key[:0], m)
			if keys[string(key)] && addr.CheckMember(string(m)) == nil {
				found = string(key)
				return errFound
			}
			return nil
		})
	})
	return found, err
}

// appendKey appends addr.Key(m) to b, without a string for the common
// address that is all ASCII.
func appendKey(b, m []byte) []byte {
	at := bytes.LastIndexByte(m, '@')
	if at < 0 {
		return append(b, m...)
	}
	if m[0] == '"' || at+1 < len(m) && m[at+1] == '[' {
		// Quotes that may add nothing; an address literal, an IPv6
		// one keyed as RFC 5952 writes it.
		return append(b, addr.Key(string(m))...)
	}
	for _, c := range m {
		if c >= 0x80 {
			return append(b, addr.Key(string(m))...)
		}
	}
	start := len(b)
	for _, c := range m { // ASCII: the local part and the domain in lower case
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	if d := b[start+at+1:]; bytes.HasPrefix(d, []byte("xn--")) || bytes.Contains(d, []byte(".xn--")) {
		return append(b[:start], addr.Key(string(m))...) // an A-label, which the key has as its U-label
	}
	return b
}

// leftovers removes the temporary files of member file name that a
// change killed half way left, as big as the file. Only a change, under
// the member lock, writes them: with the lock held, any there is one no
// run will finish.
func leftovers(d *listdir.Dir, name string) { durable.Leftovers(d.File(name), 0) }

// Change adds the addresses in add that the file name lacks, and removes
// those of remove, keeping every other line (comments included) as it
// is. It returns how many addresses it added and removed (one held on
// two lines is removed once). A file that is not there is made only if
// an address is added to it. Addresses must have been checked.
func Change(d *listdir.Dir, name string, add, remove []string) (added, removed int, err error) {
	done := false
	return change(d, name, func() (*passAddrs, error) {
		if done {
			return nil, io.EOF
		}
		done = true
		return newPass(add, remove), nil
	})
}

// passAddrs is the addresses of a pass of a change: the keys of those to
// add and of those to remove, and the addresses to add again, in the
// order given, to write those the file lacks.
type passAddrs struct {
	add, remove keyIndex
	eachAdd     func(fn func(a []byte) error) error // a: for the call's length
}

// newPass is the pass of the addresses add and remove.
func newPass(add, remove []string) *passAddrs {
	p := &passAddrs{eachAdd: func(fn func([]byte) error) error {
		for _, a := range add {
			if err := fn([]byte(a)); err != nil {
				return err
			}
		}
		return nil
	}}
	p.add.build(fingerprints(add))
	p.remove.build(fingerprints(remove))
	return p
}

// fingerprints returns the fingerprints of addrs' keys.
func fingerprints(addrs []string) []fingerprint {
	var fps []fingerprint
	for _, a := range addrs {
		fps = append(fps, fpString(addr.Key(a)))
	}
	return fps
}

// addsAny reports whether p adds an address it does not also remove.
func (p *passAddrs) addsAny() bool {
	return slices.ContainsFunc(p.add.fps, func(f fingerprint) bool { return p.remove.find(f) < 0 })
}

// change is Change of the addresses next gives, a pass's worth at a time
// (io.EOF after the last), so that memory holds one pass's addresses
// however many there are. A pass reads the file as the pass before left
// it (in a temporary file) and writes it anew; only the last pass's
// file is made durable and renamed into place, so the change is all or
// none. A pass that changes nothing writes nothing. With no addresses at
// all, one pass of none all the same: it reads the file, and fails for
// one with no address in it, as a change of some does (plan).
func change(d *listdir.Dir, name string, next func() (*passAddrs, error)) (added, removed int, err error) {
	if name == listdir.Subscribers && d.Has(listdir.MembersCommand) {
		return 0, 0, sysexit.Errorf(sysexit.Usage, "members come from %s; change them there", listdir.MembersCommand)
	}
	unlock, err := d.LockMembers(LockWait)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	leftovers(d, name)
	// A link to nothing is refused, not replaced by a file of the
	// addresses added alone: the lines of its target are not known.
	src, err := d.OpenFile(name)
	if err != nil {
		return 0, 0, err
	}
	var out *durable.File // the last pass's, while not committed
	defer func() {
		if src != nil {
			src.Close()
		}
		if out != nil {
			out.Abort()
		}
	}()
	for passes := 0; ; passes++ {
		p, err := next()
		if err == io.EOF && passes > 0 {
			break
		} // (at once: a pass of none)
		if err == io.EOF {
			p = newPass(nil, nil)
		} else if err != nil {
			return 0, 0, err
		}
		a, r, f, err := pass(d, name, src, out == nil, p)
		if err != nil {
			return 0, 0, err
		}
		if f == nil {
			continue // the file as it was
		}
		added, removed = added+a, removed+r
		if src != nil {
			src.Close()
		}
		if src, err = f.Open(); err != nil {
			f.Abort()
			return 0, 0, err
		}
		if out != nil {
			out.Abort()
		}
		out = f
	}
	if out == nil {
		return 0, 0, nil
	}
	if removed > 0 {
		f, err := commentBad(d, name, src)
		if err != nil {
			return 0, 0, err
		}
		if f != nil {
			out.Abort()
			out = f
		}
	}
	err = out.Commit()
	out = nil // removed by Commit if it failed
	if err != nil {
		return 0, 0, err
	}
	return added, removed, nil
}

// pass is one pass of a change: it adds the addresses of p that the
// member file, src (nil if there is none), lacks, and removes those p
// removes, writing the file so changed to a new temporary file of name,
// which it returns, or nil if that would change nothing. The addresses
// added and removed are counted as Change does. With first, src is the
// member file itself, which nothing has been written for yet: read once
// to see whether the pass changes it before it is written.
func pass(d *listdir.Dir, name string, src *os.File, first bool, p *passAddrs) (added, removed int, out *durable.File, err error) {
	if err := rewind(src, name); err != nil {
		return 0, 0, nil, err
	}
	if src != nil && first {
		// Read first, then written only if the change changes it: one
		// that changes nothing needs no room for a copy, nor leave to
		// write in the directory (a subscription confirmed again while
		// the disk is full), and costs a large list no copy.
		change, err := plan(src, name, p)
		if err != nil || !change {
			return 0, 0, nil, err
		}
	} else if src == nil && !p.addsAny() {
		// No file, and no address to put in one: none is made, as a
		// file that is not there has no members already.
		return 0, 0, nil, nil
	}
	// removed counts the addresses removed, not the lines: a file that
	// held one twice (as "bob@x" and "bob@X") has both taken out.
	p.add.clear()
	p.remove.clear()
	f, err := rewrite(d, name, src, func(w *bufio.Writer, lines func(func([]byte) error) error) error {
		start := true // nothing written yet
		var key []byte
		err := lines(func(line []byte) error {
			item, ok := listdir.Item(line)
			if !ok { // kept as it is, and no one's
				start = false
				return writeLine(w, line)
			}
			key = appendKey(key[:0], item)
			fp := fpBytes(key)
			if i := p.remove.find(fp); i >= 0 {
				p.remove.flags[i] |= gone
				return nil
			}
			// (Checked without a copy: a change of addresses held
			// already copied each, and the garbage took 48 MB.)
			if i := p.add.find(fp); i >= 0 && addr.CheckMember(unsafe.String(unsafe.SliceData(item), len(item))) == nil {
				// Held already; a bad line of its key is no one's,
				// as its readers skip it (scan).
				p.add.flags[i] |= held
			}
			if start && bytes.HasPrefix(line, []byte("\ufeff")) {
				// A byte-order mark at the file's start is dropped by
				// its readers: this line, from where two files were
				// joined or after the file's own mark, is no member,
				// and a blank line before it keeps it so.
				if err := writeLine(w, nil); err != nil {
					return err
				}
			}
			start = false
			return writeLine(w, line)
		})
		if err != nil {
			return err
		}
		return p.eachAdd(func(a []byte) error {
			key = appendKey(key[:0], a)
			fp := fpBytes(key)
			i := p.add.find(fp)
			if p.add.flags[i]&(held|written) != 0 || p.remove.find(fp) >= 0 {
				return nil // held, given before, or removed too
			}
			p.add.flags[i] |= written
			added++
			return writeLine(w, a)
		})
	})
	if err != nil {
		return 0, 0, nil, err
	}
	removed = p.remove.count(gone)
	if added == 0 && removed == 0 {
		// Nothing changed after all: the file stays as it is, not
		// replaced by a copy of it, which would cost a large list a
		// rewrite and an fsync for nothing, and make a member file
		// that is a symbolic link a file of the list's own
		// (mlm-listdir(5): only when a tool changes it).
		f.Abort()
		return 0, 0, nil, nil
	}
	return added, removed, f, nil
}

// rewrite writes the member file name anew, to a temporary file beside
// it, which it returns uncommitted: fill writes it, given lines, which
// calls its function with each line of src (nil: none) from its start,
// its LF and a CR before it left out. A failure aborts it.
func rewrite(d *listdir.Dir, name string, src *os.File, fill func(w *bufio.Writer, lines func(func([]byte) error) error) error) (*durable.File, error) {
	if err := rewind(src, name); err != nil {
		return nil, err
	}
	final := d.File(name)
	f, err := durable.Create(durable.Beside(final), final)
	if err != nil {
		return nil, err
	}
	lines := func(fn func([]byte) error) error {
		if src == nil {
			return nil
		}
		sc := listdir.ScanLines(src)
		n := 1 // the line Scan reads next
		for ; sc.Scan(); n++ {
			if err := fn(sc.Bytes()); err != nil {
				return err
			}
		}
		return listdir.ScanErr(sc, name, n)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	err = fill(w, lines)
	if err == nil {
		err = sysexit.Temp(w.Flush())
	}
	if err != nil {
		f.Abort()
		return nil, err
	}
	return f, nil
}

// commentBad returns the member file src, name, a change's last pass's,
// its lines that are not addresses made comments ("# " before them), if
// it holds such lines and no address; else nil. Such a file, the last
// member removed and a bad line left, would read as one in a wrong
// format, saved as UTF-16, say (plan, Keys): every change after it, and
// every post, would wait (75) until someone mended it by hand. Made
// comments, its lines are kept, and it reads as a list without members.
func commentBad(d *listdir.Dir, name string, src *os.File) (*durable.File, error) {
	if err := rewind(src, name); err != nil {
		return nil, err
	}
	valid, bad := false, false
	err := listdir.EachLineBytes(src, name, func(_ int, b []byte) error {
		if addr.CheckMember(string(b)) == nil {
			valid = true
			return errFound
		}
		bad = true
		return nil
	})
	if err != nil && err != errFound {
		return nil, err
	}
	if valid || !bad {
		return nil, nil
	}
	return rewrite(d, name, src, func(w *bufio.Writer, lines func(func([]byte) error) error) error {
		return lines(func(line []byte) error {
			if _, ok := listdir.Item(line); ok {
				w.WriteString("# ")
			}
			return writeLine(w, line)
		})
	})
}

// rewind puts the member file src, name, if there is one, back at its
// start, where a pass before, or plan, left it anywhere.
func rewind(src *os.File, name string) error {
	if src == nil {
		return nil
	}
	_, err := src.Seek(0, io.SeekStart)
	return sysexit.Temp(err)
}

// writeLine writes line and a line end.
func writeLine(w *bufio.Writer, line []byte) error {
	w.Write(line)
	return sysexit.Temp(w.WriteByte('\n')) // the first error, if any
}

// plan reads the member file old, name, as Change would rewrite it, and
// says whether that would change it: whether a line holds an address of
// removes, or an address it adds (not also removed) is on no valid
// line. A file with lines none of which is an address (saved as UTF-16,
// say) is a temporary failure: its members are not known, and a change
// would leave them unread, while mlm-members(1) took the file then for
// the one address added. But for a file of text whose members are left
// out (leftOut), which Keys takes for a file without members: the
// change mends it.
func plan(old io.Reader, name string, p *passAddrs) (bool, error) {
	remove, valid, bad, other := false, false, false, false
	p.add.clear() // held: on a valid line
	var key []byte
	err := listdir.EachLineBytes(old, name, func(_ int, b []byte) error {
		s := unsafe.String(unsafe.SliceData(b), len(b)) // looked up, never kept
		key = appendKey(key[:0], b)
		fp := fpBytes(key)
		remove = remove || p.remove.find(fp) >= 0
		i := p.add.find(fp)
		if valid && i < 0 {
			return nil // no need to check the line
		}
		if addr.CheckMember(s) != nil {
			bad = true
			other = other || notText(b)
			return nil
		}
		valid = true
		if i >= 0 {
			p.add.flags[i] |= held
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if !valid && bad && (other || !leftOut(name)) {
		return false, sysexit.Errorf(sysexit.TempFail, "%s: no line is an address; left as it is", name)
	}
	if remove {
		return true, nil
	}
	for i, fp := range p.add.fps {
		if p.add.flags[i]&held == 0 && p.remove.find(fp) < 0 {
			return true, nil
		}
	}
	return false, nil
}

// maxQuoted is the most of a bad line Read's error quotes: more than
// an address's 254 octets.
const maxQuoted = 300

// Read returns the checked addresses given as args, or if there are none
// one per line on in ("#" comments allowed). Any bad address makes the
// whole batch a data error (65), so a change is all or nothing; each bad
// one is named in the error.
func Read(args []string, in io.Reader) ([]string, error) {
	var addrs []string
	_, err := each(args, in, nil, func(a string) error {
		addrs = append(addrs, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return addrs, nil
}

// each is Read, but that it gives the addresses to fn, one by one, if
// none is bad, and returns how many there are. An address that extra,
// if given, refuses is bad too.
func each(args []string, in io.Reader, extra func(string) error, fn func(string) error) (n int, err error) {
	var bad []string
	nbad := 0 // bad holds the first three, which the error names
	check := func(where, a string) error {
		err := addr.CheckMember(a)
		switch {
		case err != nil:
		case strings.HasPrefix(a, "#"):
			err = errors.New("would read as a comment")
		case strings.HasPrefix(a, "\ufeff"):
			// (A byte-order mark: at the start of a member file it
			// is dropped, so it would be another address.)
			err = errors.New("starts with a byte-order mark")
		case strings.TrimSpace(a) != a:
			// (A Unicode space, U+00A0 and the like: a member file's
			// lines are read trimmed, so it would be another address.)
			err = errors.New("starts or ends with a space")
		}
		if err == nil && extra != nil {
			err = extra(a)
		}
		if err != nil {
			if nbad++; len(bad) < 3 {
				// (Cut: a line of a file that is no list of
				// addresses may be a MiB long.)
				q := fmt.Sprintf("%q", a)
				if len(a) > maxQuoted {
					q = fmt.Sprintf("%q... (%d octets)", a[:maxQuoted], len(a))
				}
				bad = append(bad, fmt.Sprintf("%s %s: %v", where, q, err))
			}
			return nil
		}
		n++
		if nbad > 0 {
			return nil // none is given
		}
		return fn(a)
	}
	if len(args) > 0 {
		for i, a := range args {
			if err := check(fmt.Sprintf("argument %d", i+1), a); err != nil {
				return 0, err
			}
		}
	} else if err := listdir.EachLineN(in, "standard input", func(n int, a string) error {
		return check(fmt.Sprintf("line %d", n), a)
	}); errors.Is(err, listdir.ErrLongLine) {
		return 0, sysexit.Perm(sysexit.DataErr, fmt.Errorf("%w; nothing changed", err))
	} else if err != nil {
		return 0, err
	}
	if nbad > 0 {
		more := ""
		if nbad > len(bad) {
			more = fmt.Sprintf(" (and %d more)", nbad-len(bad))
		}
		return 0, sysexit.Errorf(sysexit.DataErr, "%s%s; nothing changed", strings.Join(bad, "; "), more)
	}
	return n, nil
}

// passSize is the most addresses a pass of Edit's change holds: their
// keys' fingerprints, 17 octets each (keyIndex), 17 MiB.
var passSize = 1 << 20

// Edit is what mlm-sub and mlm-unsub do: read the addresses (Read), then
// add them to or remove them from the member file name of the list in
// dir, all or none. It returns how many changed and how many were given.
// The addresses are read whole, checked, before the change begins; they
// wait in a spool meanwhile, so that memory holds a pass's worth of them
// (passSize) however many there are.
func Edit(dir, name string, args []string, in io.Reader, remove bool) (changed, given int, err error) {
	d, err := listdir.OpenRW(dir)
	if err != nil {
		return 0, 0, err
	}
	// An address of the list itself is no member, owner or moderator:
	// every reader of the files skips it (mlm-members, mlm-auth), and
	// mail to it would come back to the list.
	var own func(string) error
	if !remove {
		list := d.Address()
		own = func(a string) error {
			if envelope.Own(list, a) {
				return errors.New("an address of the list itself, which the readers of its member files skip")
			}
			return nil
		}
	}
	sp := spool.New(spool.MemLimit)
	defer sp.Close()
	bw := bufio.NewWriterSize(sp, 64<<10)
	given, err = each(args, in, own, func(a string) error {
		bw.WriteString(a)
		return bw.WriteByte('\n') // the first error, if any
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, 0, err
	}
	// A pass's addresses are those of a section of the spool: read
	// once for their keys, and again, to add, for those the file lacks.
	var p passAddrs
	fps := make([]fingerprint, 0, min(given, passSize))
	var off int64 // the next pass's section's
	var key []byte
	next := func() (*passAddrs, error) {
		fps = fps[:0]
		r := bufio.NewReaderSize(sp.Section(off, sp.Len()-off), 64<<10)
		n := int64(0)
		for len(fps) < passSize {
			a, err := r.ReadSlice('\n')
			if err == io.EOF && len(a) == 0 {
				break
			}
			if err != nil {
				// (Each line ends in LF, and is an address, of 254
				// octets at most: written so.)
				return nil, sysexit.Temp(err)
			}
			n += int64(len(a))
			key = appendKey(key[:0], a[:len(a)-1])
			fps = append(fps, fpBytes(key))
		}
		if len(fps) == 0 {
			return nil, io.EOF
		}
		if remove {
			p.add.build(nil)
			p.remove.build(fps)
			p.eachAdd = func(func([]byte) error) error { return nil } // (none to add)
		} else {
			p.add.build(fps)
			p.remove.build(nil)
			p.eachAdd = spoolLines(sp, off, n)
		}
		off += n
		return &p, nil
	}
	if remove {
		_, changed, err = change(d, name, next)
	} else {
		changed, _, err = change(d, name, next)
	}
	return changed, given, err
}

// spoolLines returns a function that gives fn each line, its LF left
// out, of the n octets at off in sp, for the length of its call.
func spoolLines(sp *spool.Spool, off, n int64) func(fn func([]byte) error) error {
	return func(fn func([]byte) error) error {
		r := bufio.NewReaderSize(sp.Section(off, n), 64<<10)
		for {
			a, err := r.ReadSlice('\n')
			if err == io.EOF && len(a) == 0 {
				return nil
			}
			if err != nil {
				return sysexit.Temp(err)
			}
			if err := fn(a[:len(a)-1]); err != nil {
				return err
			}
		}
	}
}

// MemoSize is the most addresses a Memo remembers; past it, it forgets
// them all and starts again, so its memory stays bounded whatever the
// list's size and however many posters a batch has.
const MemoSize = 10_000

// Memo answers, for the member files of a list, whether they hold any
// of a poster's mailboxes, again and again, as a program judging a batch
// of posts asks it: it remembers, for each mailbox it has looked up and
// each file it looked in, whether the file holds its key, so that posts
// from the same few senders read each file (or run the members-command)
// once, and cost one lookup a mailbox, not one a file. A change to a
// file after a mailbox was looked up is not seen: a Memo lives as long
// as one batch. It is for one goroutine: it keeps its scratch space.
type Memo struct {
	d     *listdir.Dir
	files []string            // the files asked of, in the order first asked: a bit each
	in    map[string]memoBits // mailbox, as given -> what is known of it
	bits  []memoBits          // First's, one a mailbox
	ask   []string            // and the mailboxes it reads a file for
}

// memoBits are, for each file of a Memo (bit i: files[i]), whether a
// mailbox was looked up in it and whether it holds its key.
type memoBits struct{ known, in uint32 }

// maxMemoFiles is the most files a Memo answers for.
const maxMemoFiles = 32

// NewMemo returns a Memo of the member files of d.
func NewMemo(d *listdir.Dir) *Memo {
	return &Memo{d: d, in: map[string]memoBits{}}
}

// bit returns the bit of file, taking one for a file not asked of before.
func (m *Memo) bit(file string) (uint32, error) {
	for i, f := range m.files {
		if f == file {
			return 1 << i, nil
		}
	}
	if len(m.files) == maxMemoFiles {
		return 0, fmt.Errorf("members: a Memo of more than %d files", maxMemoFiles)
	}
	m.files = append(m.files, file)
	return 1 << (len(m.files) - 1), nil
}

// First returns the index in files of the first file that holds an
// address with the key of any of the mailboxes, as Contains would tell,
// or -1 if none does. It reads a file only for the mailboxes it has not
// looked up in it before, and no file after the first that holds one; as
// Contains, it stops reading a file at the first mailbox found, and those
// it did not get to stay unknown.
func (m *Memo) First(mailboxes []string, files ...string) (int, error) {
	if len(m.in)+len(mailboxes) > MemoSize { // a call adds one entry a mailbox at most
		clear(m.in)
	}
	m.bits = m.bits[:0]
	for _, mb := range mailboxes {
		m.bits = append(m.bits, m.in[mb])
	}
	for i, f := range files {
		bit, err := m.bit(f)
		if err != nil {
			return -1, err
		}
		m.ask = m.ask[:0]
		for j, b := range m.bits {
			if b.known&bit == 0 {
				m.ask = append(m.ask, mailboxes[j])
			} else if b.in&bit != 0 {
				return i, nil
			}
		}
		if len(m.ask) == 0 {
			continue
		}
		keys := map[string]bool{}
		for _, mb := range m.ask {
			keys[addr.Key(mb)] = true
		}
		found, err := find(m.d, f, keys)
		if err != nil && err != errFound {
			return -1, err
		}
		for j, mb := range mailboxes {
			b := &m.bits[j]
			switch {
			case b.known&bit != 0:
				continue
			case err != errFound:
				b.known |= bit
			case addr.Key(mb) == found:
				b.known |= bit
				b.in |= bit
			default:
				continue
			}
			// A copy: mb may point into a record's memory (stream's arena).
			m.in[strings.Clone(mb)] = *b
		}
		if err == errFound {
			return i, nil
		}
	}
	return -1, nil
}
