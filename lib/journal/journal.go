// Package journal reads the delivery journal mlm-sendmail keeps for each
// post (mlm-sendmail(1), mlm-listdir(5)): state/journal/POST in the list
// directory, a line "D ADDRESS" for each recipient delivered and
// "F ADDRESS" for each failed for good. Any other line names nobody: a
// line cut short by a crash ends in " (cut short)". mlm-sendmail writes
// it; stages before it may read it, to know what a record tried again
// need not do. It is part of mlm's internals, not a public API.
package journal

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/sysexit"
)

// CutShort ends a partial last line of a journal, before the next line
// is appended. After a space, no line ending so holds a mailbox (a domain
// has neither spaces nor parentheses, and a quoted local part must be
// followed by one), so Outcome ignores the line.
const CutShort = " (cut short)\n"

// Dir is the directory of a list's journals.
func Dir(d *listdir.Dir) string { return filepath.Join(d.Path, listdir.StateDir, "journal") }

// Post is the post a record belongs to, which names its journal: the
// record id before its first ",".
func Post(id string) string { p, _, _ := strings.Cut(id, ","); return p }

// CheckPost refuses (65) an id that cannot be a post's: one with a ",".
// Post would cut it there, and the post would share its journal with
// every other post whose id starts the same (mlm-mbox's base,1, base,2),
// whose recipients would then count as its own, and never get it. The
// stages where a post begins its delivery, mlm-members and mlm-split,
// check it.
func CheckPost(id string) error {
	if strings.Contains(id, ",") {
		return sysexit.Errorf(sysexit.DataErr, "record %s: the id of a post cannot have a \",\" (it names the post's delivery journal, and mlm-split's batches add to it)", id)
	}
	return CheckName(id)
}

// CheckName refuses (65) a post that cannot name a journal file: "."
// and "..", which the stream allows as ids, name the journal directory
// and the one above it, and "" (a record id that starts with ",") the
// directory itself. A journal that cannot be opened is a 75, tried
// again for ever.
func CheckName(post string) error {
	if post == "" || post == "." || post == ".." {
		return sysexit.Errorf(sysexit.DataErr, "record of post %q: its id cannot name a delivery journal", post)
	}
	return nil
}

// Delivered and Failed are the tags of outcome lines: delivered, and
// failed for good.
const (
	Delivered = 'D'
	Failed    = 'F'
)

// AppendOutcome appends to b the journal line of an outcome: its tag
// (Delivered or Failed), a space, the mailbox and an LF, the line
// Outcome reads.
func AppendOutcome(b []byte, tag byte, mailbox string) []byte {
	return append(append(append(b, tag, ' '), mailbox...), '\n')
}

// Outcome returns the address of a journal line, with or without its LF,
// that gives one: "D" or "F", a space, a mailbox.
func Outcome(line string) (string, bool) {
	tag, a, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	if !ok || (tag != "D" && tag != "F") || addr.CheckMailbox(a) != nil {
		return "", false
	}
	return a, true
}

// Each calls fn with the address of every whole line of r that gives an
// outcome, and returns the octets of the whole lines read: a partial last
// line is left for a later read. A read error is temporary. The address
// fn gets lies in Each's buffer, valid only until fn returns: a journal
// of a post to a million members has a million lines, and a string of
// each would be that many allocations, for a key that is hashed and let
// go (mlm-sendmail's, Settled's). r may be a *bufio.Reader of lineMax
// octets or more, which Each then reads through: a larger buffer makes
// fewer reads of a large file, and a line longer than lineMax is no
// outcome in either.
func Each(r io.Reader, fn func(mailbox string)) (int64, error) { return EachOf(r, nil, fn) }

// EachOf is Each for a reader that asks about a few addresses of many:
// may, if not nil, is given the text of a line after its tag and space
// (without its LF, not yet checked to be a mailbox, lent as Each lends),
// and a line of which it says false is passed over before that check,
// which with the key's hash is most of the time a line takes. may must
// say true of every address whose outcome the reader wants.
func EachOf(r io.Reader, may func(text string) bool, fn func(mailbox string)) (int64, error) {
	return eachAt(r, may, func(a string, _ int64) { fn(a) })
}

// eachAt is EachOf whose fn is given too where the line begins, in
// octets of r from where it stood.
func eachAt(r io.Reader, may func(text string) bool, fn func(mailbox string, at int64)) (int64, error) {
	br := bufio.NewReaderSize(r, lineMax)
	var n, long int64 // long: the octets so far of a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		switch err {
		case nil:
			// A line longer than the buffer holds no mailbox, whatever
			// its last piece looks like. One too short for a tag, a
			// space and an address gives no outcome either.
			if long == 0 && (may == nil || len(line) > 3 && line[1] == ' ' && may(unsafe.String(&line[2], len(line)-3))) {
				if a, ok := Outcome(unsafe.String(unsafe.SliceData(line), len(line))); ok {
					fn(a, n)
				}
			}
			n += long + int64(len(line))
			long = 0
		case bufio.ErrBufferFull:
			long += int64(len(line))
		case io.EOF:
			return n, nil
		default:
			return n, sysexit.Temp(fmt.Errorf("journal: %w", err))
		}
	}
}

// lineMax is the buffer of Each: a line that gives an outcome, "D " and
// a mailbox of at most addr.MaxPath-2 octets and an LF, fits in it.
const lineMax = 4096

// ReadSize is the buffer to read a journal file through (a *bufio.Reader
// given to Each): a read of a journal of a million lines (22 MB) makes
// some 340 reads, not Each's own 5,400 of 4 KiB, a quarter of its time
// (a system call is dear on a virtual machine).
const ReadSize = 64 << 10

// Settled returns the keys (addr.Key) of the recipients of a post whose
// outcome the list's journal names, nil if it has none. For a retry
// record whose journal-from attribute is from (mlm-sendmail's mark,
// MarkValue), it reads from the mark, where the journal's octets before
// it are still those its sum was made of, as no line before it names a
// recipient the record defers; else, and for from "", from the start. A
// post to a million members has a journal of some 20 MB, which each of
// its retry records read whole (R79).
func Settled(d *listdir.Dir, post, from string) (*addr.KeySet, error) {
	s := addr.NewKeySet()
	found, err := settled(d, post, from, nil, func(a string, _ int64) { s.Add(addr.Key(a)) }, nil)
	if !found {
		s = nil
	}
	return s, err
}

// SettledOf is Settled for a record of a few recipients, whose keys
// (addr.Key) are keys: it returns those of them the journal names, and
// passes over the lines of others with a hash of their local part
// (LocalFilter), where Settled makes a key of each and keeps it. From a
// mark 9 MB before the end of a million members' journal, mlm-throttle
// took 158 ms of a processor with Settled, 33 with SettledOf (12 its
// start), for each of the post's 4,000 retry records.
//
// It returns too the journal-from of a record of those keys now (next):
// the mark at the first line that names one of them, or, if none does,
// at the end of the last whole line; from if that is where it began. A
// reader after it (mlm-sendmail -R after mlm-throttle) that begins there
// reads what was written since, not again what this read: some 26 ms of
// each retry record of a million members' post.
func SettledOf(d *listdir.Dir, post, from string, keys []string) (set *addr.KeySet, next string, err error) {
	want, lf := addr.NewKeySet(), NewLocalFilter()
	for _, k := range keys {
		want.Add(k)
		lf.Want(k)
	}
	s, first := addr.NewKeySet(), int64(-1)
	next = from
	found, err := settled(d, post, from, lf.May, func(a string, at int64) {
		if k := addr.Key(a); want.Has(k) {
			s.Add(k)
			if first < 0 {
				first = at
			}
		}
	}, func(f *os.File, start, n int64) {
		if first >= 0 {
			n = first
		}
		if v := MarkValue(f, start+n); n > 0 && v != "" {
			next = v
		}
	})
	if !found {
		s = nil
	}
	return s, next, err
}

// settled reads the journal of post from the mark from (see Settled)
// with eachAt(may, fn), and reports whether there is one; then, if the
// read came to the end and end is not nil, calls end with the file, where
// the read began and the octets of the whole lines it read.
func settled(d *listdir.Dir, post, from string, may func(string) bool, fn func(string, int64), end func(f *os.File, start, n int64)) (bool, error) {
	f, err := os.Open(filepath.Join(Dir(d), post))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	defer f.Close()
	at := Resume(f, from)
	if at > 0 {
		if _, err := f.Seek(at, io.SeekStart); err != nil {
			return false, sysexit.Temp(fmt.Errorf("journal: %w", err))
		}
	}
	n, err := eachAt(bufio.NewReaderSize(f, ReadSize), may, fn)
	if err == nil && end != nil {
		end(f, at, n)
	}
	return true, err
}

// MarkValue returns the journal-from value of a mark at offset at of
// f, a post's journal: where a retry of a record's deferred recipients
// may begin to read it, the end of a line up to which it had been read
// when their outcomes were looked up, and none was found. No line
// before at names any of them, since a journal is only ever appended to
// (or removed), so one that does lies at at or after it. The value is
// at, ":", and the FNV-1a sum of the up to markWindow octets before at,
// in 16 lower-case hex digits, which Resume checks against the file it
// has; "" for no mark (at 0, or octets f does not have).
func MarkValue(f *os.File, at int64) string {
	if f == nil || at <= 0 {
		return ""
	}
	sum, ok := sumBefore(f, at)
	if !ok {
		return ""
	}
	return strconv.FormatInt(at, 10) + ":" + fmt.Sprintf("%016x", sum)
}

// Resume returns where a retry record whose journal-from is from may
// begin to read f, its post's journal: at its mark, if from is what
// MarkValue writes for that mark in f, so f's octets before it are
// those its sum was made of; 0 (the start) if not, and if there is no
// f.
func Resume(f *os.File, from string) int64 {
	at := markAt(from)
	if f == nil || at <= 0 || MarkValue(f, at) != from {
		return 0
	}
	return at
}

// markAt is the offset a journal-from value names, its sum not checked;
// 0 for none.
func markAt(from string) int64 {
	a, _, ok := strings.Cut(from, ":")
	if !ok || len(a) > 18 {
		return 0
	}
	at, err := strconv.ParseInt(a, 10, 64)
	if err != nil || at < 0 {
		return 0
	}
	return at
}

// markWindow is how many octets before a mark its sum covers: a line or
// more, which no other journal, nor this one cut short and written
// again, has at the same place.
const markWindow = 128

// sumBefore returns the FNV-1a sum of the up to markWindow octets of f
// before offset at, and whether f has them.
func sumBefore(f *os.File, at int64) (uint64, bool) {
	var buf [markWindow]byte
	w := buf[:min(at, markWindow)]
	if n, _ := f.ReadAt(w, at-int64(len(w))); n != len(w) {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(w)
	return h.Sum64(), true
}

// Sweep removes, once a day, the journals of the posts that are done:
// not written to for keep, and with no record of the post left in the
// outgoing or retry queue (in new/, cur/ or bad/, whence an owner may
// put it back). Without it the journals only grow: some 30 MB for each
// post to a million members, and a small file for every notice. The day
// of the last sweep is in state/journal.swept (listdir.OnceADay). A
// sweep that fails, or two at once, do no harm: what is left is swept
// the next day.
func Sweep(d *listdir.Dir, keep time.Duration, now time.Time) {
	if !listdir.OnceADay(d.File(filepath.Join(listdir.StateDir, "journal.swept")), now) {
		return
	}
	ents, err := os.ReadDir(Dir(d))
	if err != nil {
		return
	}
	names, err := queued(d)
	if err != nil {
		return
	}
	for _, e := range ents {
		post := e.Name()
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || now.Sub(info.ModTime()) < keep {
			continue
		}
		// The names of the post's records (post, post,N, post,N,r-H,
		// post.err) sort together, from where post would go. (So does
		// the id of another post that starts with this one's: its
		// journal is kept too, to be safe.)
		if i, _ := slices.BinarySearch(names, post); i < len(names) && strings.HasPrefix(names[i], post) {
			continue
		}
		os.Remove(filepath.Join(Dir(d), post))
	}
}

// queued returns the names of the files of the outgoing and retry
// queues (queue.Names), sorted.
func queued(d *listdir.Dir) ([]string, error) {
	var names []string
	for _, q := range []string{listdir.Outgoing, listdir.Retry} {
		ns, err := d.Queue(q).Names()
		if err != nil {
			return nil, err
		}
		names = append(names, ns...)
	}
	slices.Sort(names)
	return names, nil
}

// Begun reports whether the delivery of post has begun: it has a record
// (post, or post and a ",") in the outgoing or retry queue, or a journal.
// A post held for moderation has neither until it is approved, so
// mlm-moderate asks, lest a post put back in the hold queue after a
// crash be approved a second time. The queues are looked at first, in
// the order a post goes through them, and the journal last: delivery
// makes the journal before the post's record leaves the outgoing queue,
// so a delivery that ends while Begun looks is seen in one or the other,
// where a journal looked at first, before the delivery began, and
// queues looked at after it ended, showed neither.
func Begun(d *listdir.Dir, post string) (bool, error) {
	begun, err := Begins(d)
	if err != nil {
		return false, err
	}
	return begun(post)
}

// Begins is Begun for many posts, mlm-moderate's reminder's: the queues
// are read once, and the function it returns asks of each post, its
// journal after them.
func Begins(d *listdir.Dir) (func(post string) (bool, error), error) {
	names, err := queued(d)
	if err != nil {
		return nil, err
	}
	return func(post string) (bool, error) {
		i, _ := slices.BinarySearch(names, post)
		for ; i < len(names) && strings.HasPrefix(names[i], post); i++ {
			if rest := names[i][len(post):]; rest == "" || rest[0] == ',' {
				return true, nil
			}
		}
		_, err := os.Lstat(filepath.Join(Dir(d), post))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, sysexit.Temp(fmt.Errorf("journal: %w", err))
		}
		return false, nil
	}, nil
}

// Ahead returns how much of post's journal lies past the mark from, a
// journal-from (its offset, not checked against the file: Resume's), or
// all of it: what a reader from the mark would read. 0 if there is none.
func Ahead(d *listdir.Dir, post, from string) int64 {
	fi, err := os.Stat(filepath.Join(Dir(d), post))
	if err != nil {
		return 0
	}
	at := markAt(from)
	if at > fi.Size() {
		at = 0
	}
	return fi.Size() - at
}
