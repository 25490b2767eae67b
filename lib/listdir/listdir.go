// Package listdir is the only package that knows the names of the files
// in a list directory, and how each holds its setting (mlm-listdir(5)).
// It is part of mlm's internals, not a public API.
//
// One setting per file, as in ezmlm and mlmmj: a file's presence is a
// boolean, its first line is a value, or it holds one item per line with
// "#" comments and blank lines ignored. Programs read settings and never
// write them; the admin tools write them atomically (a temporary file,
// fsync, rename, fsync of the directory).
package listdir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/cookie"
	"mlm/lib/durable"
	"mlm/lib/pipeline"
	"mlm/lib/queue"
	"mlm/lib/sysexit"
)

// File names in a list directory. mlm-listdir(5) documents each.
const (
	Address        = "address"         // the list address, first line
	Owner          = "owner"           // owner addresses, one per line
	Subscribers    = "subscribers"     // members, one per line
	Digest         = "digest"          // digest-only members
	NoMail         = "nomail"          // members who get no mail
	NotMeToo       = "notmetoo"        // members who do not get their own posts
	Moderators     = "moderators"      // moderators
	Posters        = "posters"         // extra allowed posters
	Allow          = "allow"           // patterns of allowed posters
	Deny           = "deny"            // patterns of refused posters
	MembersCommand = "members-command" // a command whose output is the members
	Policy         = "policy"          // open, members or moderated
	Password       = "password"        // the hashed list password
	MaxSize        = "maxsize"         // largest message, octets
	MaxQueued      = "maxqueued"       // most records in a queue mlm-accept fills, but posts'
	MaxQueuedSize  = "maxqueuedsize"   // most octets of those records, each such queue
	Prefix         = "prefix"          // subject prefix
	ListID         = "listid"          // List-Id field value
	ReplyTo        = "replyto"         // none, list or an address
	DMARC          = "dmarc"           // none, munge or munge-all: whose From becomes the list's
	Footer         = "footer"          // text added to each post
	Strip          = "strip"           // header fields removed from posts
	HeaderAdd      = "headeradd"       // header fields added to posts
	Archive        = "archive"         // URL for List-Archive
	Secret         = "secret"          // key for moderation cookies
	ModExpire      = "modexpire"       // lifetime of a held post, seconds
	MaxHoldNotices = "maxholdnotices"  // most notices of held posts in a day
	Relay          = "relay"           // SMTP relays, host:port per line
	MaxRcpt        = "maxrcpt"         // most recipients in one delivery record
	MaxDomains     = "maxdomains"      // most domains in one delivery record, at most DomainsMost
	RcptRate       = "rcptrate"        // recipients per second sent on
	MsgRate        = "msgrate"         // delivery records per second sent on
	Burst          = "burst"           // size of the rate buckets
	DomainRate     = "domainrate"      // domain=N per line: recipients per second
	ThrottleState  = "state/throttle"  // mlm-throttle's buckets
	Settled        = "state/moderated" // directory: mlm-moderate's record of the held posts it settled
	Stages         = "stages"          // directory: one pipeline per queue
	QueueDir       = "queue"           // directory: the queues
	StateDir       = "state"           // directory: counters programs keep
	LockFile       = "lock"            // the list lock: the cron jobs' (mlm-lock)

	MembersLock = "members.lock" // taken while a member file changes
)

// DomainsMost is the most domains a delivery record may have
// (maxdomains): mlm-throttle charges each of at most that many a record
// its own recipients.
const DomainsMost = 1024

// Queue names.
const (
	Incoming = "incoming" // posts, as mlm-accept commits them
	Hold     = "hold"     // posts waiting for a moderator
	Moderate = "moderate" // moderators' replies
	Outgoing = "outgoing" // expanded records waiting for delivery
	Retry    = "retry"    // deferred recipients waiting for another try
	Requests = "requests" // mail to -request, -subscribe, -unsubscribe
	Bounces  = "bounces"  // mail to -bounces
	OwnerQ   = "owner"    // mail to -owner
)

// Queues lists every queue a list has, in the order mlm-run processes
// them: moderators' replies first, so an approved post goes on in the
// same run, and every queue whose stages may queue mail on to outgoing
// before it (owner mail, by default), so that goes out in the same run
// too.
var Queues = []string{Moderate, Incoming, Hold, Requests, Bounces, OwnerQ, Outgoing, Retry}

// DefaultStages are the stages of a list's queues, one program and its
// arguments a line, run in the list directory: mlm-run's when a queue
// has no stages/QUEUE file, and what mlm-newlist writes there for the
// site to see and edit. The other queues (hold, requests, bounces) only
// wait.
var DefaultStages = map[string]string{
	Incoming: "# mlm-run feeds each post to these stages, one per line, in the list directory.\nmlm-auth .\nmlm-hdr .\nmlm-members .\nmlm-enqueue queue/outgoing\n",
	Moderate: "# Moderators' replies to held-post notices.\nmlm-moderate . mail\n",
	Outgoing: "# Delivery: batches, rate, SMTP to the relays in ./relay; deferred\n# recipients go to the retry queue, tried again in 5 minutes at the\n# soonest, as RFC 5321 asks and Postfix waits. Once it holds 1 GiB\n# (a relay that defers all: each batch's record has the message), the\n# post waits here instead.\nmlm-split .\nmlm-throttle .\nmlm-sendmail .\nmlm-enqueue -t 5m -m 1G queue/retry\n",
	Retry:    "# Deferred recipients, tried again at the list's rates, with growing\n# waits, until their lifetime ends.\nmlm-throttle .\nmlm-sendmail -R .\n",
	OwnerQ:   "# Mail to the owner address, sent on unchanged to the owners in ./owner;\n# it waits while there are none, or while the outgoing queue holds 1 GiB\n# (delivery stopped: strangers' mail to the owner would fill it).\nmlm-members -l owner .\nmlm-enqueue -m 1G queue/outgoing\n",
	// No stages: a list that has this file sends requests to its owners
	// (mlm-accept's requestsToOwners); one without it, made before it
	// was written, keeps them in queue/requests for a site's program.
	Requests: "# Mail to the request addresses (-request, -subscribe, -unsubscribe).\n# With no stages named here, mlm-accept puts it in queue/owner, for the\n# owners to answer, if ./owner names some. Name stages here to take it\n# instead; remove this file to leave it in queue/requests for a program\n# of the site's own (mlm-run DIR/queue/requests -- PROG).\n",
}

// QueueStages is the stages mlm-run runs for the queue name, from text,
// its stages file as Text reads it: the default stages for a missing or
// empty file, and none (nil, no error) for a file of comments alone, a
// queue that only waits. A file that does not parse is the error.
func QueueStages(name, text string) ([][]string, error) {
	if text == "" {
		text = DefaultStages[name]
	}
	stages, err := pipeline.Parse(text)
	if errors.Is(err, pipeline.ErrNoStages) {
		return nil, nil
	}
	return stages, err
}

// ErrNoList is returned, classified EX_NOUSER, for a directory that is not
// a list directory.
var ErrNoList = errors.New("no such list")

// Dir is an open list directory.
type Dir struct {
	Path string
	addr string
}

// Open opens the list directory at path. A missing directory is
// ErrNoList (67), and so is a missing address file in a directory with
// a queue directory (a list retired); one without either is no list
// now, not none, and temporary (notNow). A path that is a file or runs
// through one, an unreadable or empty address file, or one whose first
// line is not a
// mailbox (addr.CheckMailbox) or has a quoted local part, which the
// command addresses cannot extend, is temporary: the list is
// misconfigured, and mail waits until it is fixed. (A file where the
// list should be may be a lock file, made by another lock program's
// crontab run while the list's file system was not mounted; mlm-lock
// makes none where its program is given the path.) The address goes into
// envelopes and header fields (List-Post, X-Loop, notices' From), so a
// CR, LF or NUL in it must never get that far. An empty path names no
// directory, as open(2) has it, not the working one: a script's unset
// variable must not pick whichever list it happens to run in.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, sysexit.Perm(sysexit.NoUser, fmt.Errorf("%s: %w", Name(path), ErrNoList))
	}
	d := &Dir{Path: path}
	a, ok, err := d.String(Address)
	if errors.Is(err, syscall.ENOTDIR) {
		return nil, sysexit.Temp(fmt.Errorf("%s: not a directory, or in a file", path))
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		if link := danglingLink(path); link != "" {
			// Its file system not mounted, say: no list to mend,
			// not mail to bounce.
			return nil, sysexit.Temp(fmt.Errorf("%s: %s is a symbolic link to nothing", path, link))
		}
		if notNow(path) {
			return nil, sysexit.Temp(fmt.Errorf("%s: no %s and no %s: a file system not mounted, or a list being made or restored", path, Address, QueueDir))
		}
		return nil, sysexit.Perm(sysexit.NoUser, fmt.Errorf("%s: %w", path, ErrNoList))
	}
	if a == "" {
		// Emptied by a write that failed half way, more likely than
		// meant: mail waits until it is put right.
		return nil, sysexit.Temp(fmt.Errorf("%s: %s is empty", path, Address))
	}
	if err := addr.CheckMailbox(a); err != nil {
		return nil, sysexit.Temp(fmt.Errorf("%s: %q is not an address: %v", Address, a, err))
	}
	if a[0] == '"' {
		// "dev"-bounces@ would be no mailbox.
		return nil, sysexit.Temp(fmt.Errorf("%s: %q: a list's local part is not quoted", Address, a))
	}
	if err := checkCommands(a); err != nil {
		return nil, sysexit.Temp(fmt.Errorf("%s: %q: %v", Address, a, err))
	}
	d.addr = a
	return d, nil
}

// Name is a directory's name as a message shows it: "" quoted, which
// would otherwise leave the message starting with its colon.
func Name(path string) string {
	if path == "" {
		return `""`
	}
	return path
}

// CheckUser refuses root's work in a directory another user owns: a
// list directory, or a queue. What root makes there is root's, mode
// 0600, and the list's own user, as whom the MTA runs mlm-accept and
// cron runs mlm-run, cannot read it: a member file rewritten by root's
// mlm-sub, a record, a journal; the list stops until someone finds the
// file. Running as the owner will do, so it is temporary (75): under an
// MTA, mail waits. A directory that cannot be looked at is left to the
// caller's own open to report.
func CheckUser(path string) error {
	if who := otherOwner(path); who != "" {
		return sysexit.Temp(fmt.Errorf("%s: owned by %s: run this as %s, not as root; what root writes there, %s cannot read", path, who, who, who))
	}
	return nil
}

// CheckCommand refuses root's running of the command a file of the list
// names (members-command) where another user owns the list or the file:
// that user, or whoever takes the account over, would choose what root
// runs the next time root reads the list (mlm-who, mlm-members by
// hand). Running as the owner will do, so it is temporary (75).
func (d *Dir) CheckCommand(name string) error {
	for _, p := range []string{d.Path, d.File(name)} {
		if who := otherOwner(p); who != "" {
			return sysexit.Temp(fmt.Errorf("%s: owned by %s: root runs no command of another user's; run this as %s", d.File(name), who, who))
		}
	}
	return nil
}

// denied is err, a permission error on the file name of the list, as a
// temporary error that says which list, and, if the program runs as
// another user than the list directory's owner, both: a list made by one
// user, root say, and run by another, the MTA's, is its usual cause.
func (d *Dir) denied(name string, err error) error {
	err = fmt.Errorf("%s: %w", d.File(name), sysexit.Bare(err))
	if info, serr := os.Stat(d.Path); serr == nil {
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Geteuid()) {
			err = fmt.Errorf("%w, running as %s; the list directory is %s's", err, UserName(uint32(os.Geteuid())), UserName(st.Uid))
		}
	}
	return sysexit.Temp(err)
}

// UserName is the name of the user uid, or "uid N".
func UserName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}

// otherOwner returns, when the program runs as root, the name (or "uid
// N") of the user other than root who owns path; "" if root owns it, if
// the program is not root, or if path cannot be looked at.
func otherOwner(path string) string {
	if os.Geteuid() != 0 {
		return ""
	}
	info, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return ""
	}
	return UserName(st.Uid)
}

// OpenRW opens the list directory at path as Open does, for a program
// that writes in it: root's work in another user's list is refused
// (CheckUser), and in a list of root's whose queues or state another
// user owns, as a site that keeps the settings root's and gives the
// list's user only what it writes sets it up.
func OpenRW(path string) (*Dir, error) {
	// The owner first: root reads nothing of another user's list, whose
	// address that user may have linked to a file only root may read,
	// and whose first line an error would quote.
	err := CheckUser(path)
	var d *Dir
	if err == nil {
		d, err = Open(path)
	}
	for _, p := range []string{filepath.Join(path, QueueDir), filepath.Join(path, StateDir)} {
		if err == nil {
			err = CheckUser(p)
		}
	}
	for _, p := range append([]string{path, filepath.Join(path, QueueDir)}, stateDirs(path)...) {
		if err == nil {
			err = checkOthersWrite(p)
		}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// stateDirs is the list's state/ and, for root, the directories in it
// (journal/, replies/, moderated/), where root writes and sweeps.
func stateDirs(list string) []string {
	state := filepath.Join(list, StateDir)
	dirs := []string{state}
	if os.Geteuid() != 0 {
		return dirs
	}
	ents, _ := os.ReadDir(state)
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(state, e.Name()))
		}
	}
	return dirs
}

// CheckQueueRW refuses (75) root's work in a queue another user owns
// (CheckUser), or that others may write, or whose tmp/, new/, cur/ or
// bad/ they may (checkOthersWrite): a link they put at cur/ had root's
// sweep move every file of a directory of root's into new/.
func CheckQueueRW(path string) error {
	if err := CheckUser(path); err != nil {
		return err
	}
	for _, p := range []string{path, filepath.Join(path, "tmp"), filepath.Join(path, "new"), filepath.Join(path, "cur"), filepath.Join(path, "bad")} {
		if err := checkOthersWrite(p); err != nil {
			return err
		}
	}
	return nil
}

// checkOthersWrite refuses (75) root's work in a list whose directory,
// queue/ or state/ users other than its owner may write (group or
// other write permission, sticky or not): they could put a name there
// that root follows, a link at a journal's directory to one of root's,
// say, whose files root's daily sweep then removed, or at a state file,
// which root wrote over. A directory that cannot be looked at is left
// to the caller's own open to report.
func checkOthersWrite(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm()&0o022 == 0 {
		return nil
	}
	return sysexit.Temp(fmt.Errorf("%s: others may write in it (mode %03o): root works in no list where others may put names it follows; chmod go-w it, or run this as the list's own user",
		path, info.Mode().Perm()))
}

// notNow reports whether path is a directory that holds neither an
// address file nor a queue directory: no list now, rather than none. A
// list's file system not mounted leaves its mount point so, an empty
// directory; a list being made, or restored from a backup, is so until
// its files come (a restore that brings the queues before the address
// file shows a list retired for a while: mlm-run -D takes it as
// temporary once it has found the list); a list retired as
// mlm-listdir(5) says, its address file removed, keeps its queues. (A
// path that is not there at all is each program's to judge: mlm-accept
// waits, mlm-run -D once it has found the list.)
//
// But a directory that holds other things (not lost+found, nor names
// that start with "."), and none of a list's files, is no list: a
// site's own beside the lists (an archive, a backup), which Exim's
// routers take any directory of the lists' for. Its mail waited days,
// then went back to a sender who is most often forged (R98 F3).
func notNow(path string) bool {
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		return false
	}
	if _, err = os.Lstat(filepath.Join(path, QueueDir)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return true // (unread: as before)
	}
	defer f.Close()
	n := 0 // names that are no list's, nor as good as none
	for read := 0; read < 4096; read += 256 {
		names, err := f.Readdirnames(256)
		if len(names) == 0 {
			return n == 0 || err != nil && err != io.EOF
		}
		for _, name := range names {
			switch {
			case slices.Contains(listNames, name):
				return true
			case name == "lost+found" || strings.HasPrefix(name, "."):
				// As good as empty: the list's own file system, made
				// fresh; a restore's files on their way (rsync's
				// .NAME. and random letters, its --delay-updates
				// .~tmp~, durable's temporary files) (R100 F3).
				continue
			}
			n++
		}
	}
	return n == 0
}

// listNames are the files and directories of a list directory, any of
// which a list being made or restored may have first.
var listNames = []string{Address, Owner, Subscribers, Digest, NoMail, NotMeToo, Moderators, Posters, Allow,
	Deny, MembersCommand, Policy, Password, MaxSize, MaxQueued, MaxQueuedSize, Prefix, ListID, ReplyTo, DMARC,
	Footer, Strip, HeaderAdd, Archive, Secret, ModExpire, MaxHoldNotices, Relay, MaxRcpt, MaxDomains,
	RcptRate, MsgRate, Burst, DomainRate, Stages, QueueDir, StateDir, LockFile, MembersLock}

// danglingLink returns the last name of path that is there, if it is a
// symbolic link to nothing ("" if it is none): path itself, or the
// directory of lists it is in.
func danglingLink(path string) string {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if info, err := os.Lstat(p); err == nil {
			if info.Mode()&fs.ModeSymlink == 0 {
				return ""
			}
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				return p
			}
			return ""
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

// longestCommand is the longest of the command addresses' local parts
// after the list's: a moderation address's (mlm-auth's hold notice gives
// dev-accept+TOKEN@ and dev-reject+TOKEN@), longer than any command
// CommandAddress is asked for, or that Route routes, without a token
// (dev-unsubscribe@).
var longestCommand = "-accept+" + strings.Repeat("x", cookie.MaxLen)

// checkCommands reports whether the list address a is too long for its
// command addresses: each stage writes the -bounces one as the sender of
// every post, and a writer refuses an address too long, which would
// make every post bad data (65), not a list to mend (75); and
// mlm-accept refuses a moderation address too long (65), so that a
// moderator's reply to a held post's notice would bounce.
func checkCommands(a string) error {
	local, domain, _ := strings.Cut(a, "@")
	if err := addr.CheckMailbox(local + longestCommand + "@" + domain); err != nil {
		return fmt.Errorf("too long for its command addresses (%s-accept+TOKEN@): %v", local, err)
	}
	return nil
}

// CheckAddress returns nil if a can be a new list's address
// (mlm-newlist): a mailbox whose local part is ASCII letters, digits, '.',
// '_' and '-', from a letter or a digit, and whose domain is ASCII
// letters, digits, '.' and '-' (an IDN in its xn-- form). The local part
// is extended into the command addresses (dev-bounces@) and goes into the
// List-* fields and List-Id, the domain too, and MTA files name both:
// none of them then needs quoting or escaping. (Open takes more, for
// lists made otherwise: see there.)
func CheckAddress(a string) error {
	if err := addr.CheckMailbox(a); err != nil {
		return fmt.Errorf("not an address: %v", err)
	}
	local, domain, _ := strings.Cut(a, "@")
	if !IsListName(local) {
		return errors.New("a list's local part is ASCII letters, digits, '.', '_' and '-'")
	}
	if !ascii.Plain(domain, ".-") {
		return errors.New("a list's domain is ASCII letters, digits, '.' and '-' (an IDN in its xn-- form), not an address literal")
	}
	if len(local) > MaxLocal {
		// (Open takes a longer one, of a list made otherwise.)
		return fmt.Errorf("a list's local part is at most %d octets, so that its moderation addresses (%s-accept+TOKEN@) keep within the %d octets of a local part", MaxLocal, local, addr.MaxLocal)
	}
	return checkCommands(a)
}

// MaxLocal is the longest local part of a list mlm-newlist makes: its
// moderation addresses, dev-accept+TOKEN@ and dev-reject+TOKEN@, keep
// within the 64 octets RFC 5321 section 4.5.3.1.1 allows a local part,
// which servers may enforce, so that a moderator's reply to a held
// post's notice is not refused on its way.
const MaxLocal = addr.MaxLocal - len("-accept+") - cookie.Len

// IsListName reports whether s is a name that goes unquoted into MTA
// files and shell lines: ASCII letters, digits, '.', '_' and '-', the
// first a letter or digit. A list's local part is one, and so is a user
// or group name that mlm-newlist prints.
//
// (Not a regular expression: a package's regexps are compiled as every
// program that imports it starts, and nearly all of them import this one.)
func IsListName(s string) bool {
	return s != "" && ascii.IsAlnum(s[0]) && ascii.Plain(s, "._-")
}

// OnceADay reports whether the day (UTC) of now is not the one the file
// mark holds, and if so marks it: a daily sweep runs once, whichever
// program comes first. A mark that cannot be written reports false: the
// sweep waits for a run that can.
func OnceADay(mark string, now time.Time) bool {
	day := now.UTC().Format("2006-01-02")
	if b, err := os.ReadFile(mark); err == nil && strings.TrimSpace(string(b)) == day {
		return false
	}
	return os.WriteFile(mark, []byte(day+"\n"), 0o600) == nil
}

// Address is the list address.
func (d *Dir) Address() string { return d.addr }

// ListID returns the value of the list's List-Id field (RFC 2919): the
// listid setting, in angle brackets if it has none, or the address as
// the header gives it (HeaderAddress) with its @ a dot,
// "<dev.lists.example.org>".
func (d *Dir) ListID() (string, error) {
	id, _, err := d.String(ListID)
	if err != nil {
		return "", err
	}
	if id == "" {
		id = strings.Replace(HeaderAddress(d.addr), "@", ".", 1)
	}
	if !strings.Contains(id, "<") {
		id = "<" + id + ">"
	}
	return id, nil
}

// HeaderAddress is the mailbox a (the list's, or one a notice names) as
// the header fields mlm writes give it: with its domain's A-labels where
// its local part is ASCII and its domain is not (addr.ASCIIDomain), the
// same mailbox. mlm-sendmail sends such an envelope to a server without
// SMTPUTF8 so, without it, and a header must then be ASCII (RFC 6532); a
// local part that is not ASCII needs SMTPUTF8 anyway, and stays as it is.
func HeaderAddress(a string) string {
	if !ascii.Is(a) {
		if h, ok := addr.ASCIIDomain(a); ok {
			return h
		}
	}
	return a
}

// CommandAddress is one of the list's command addresses, the local part
// and the command joined by "-": "bounces" gives dev-bounces@host.
func (d *Dir) CommandAddress(cmd string) string {
	local, domain, _ := strings.Cut(d.addr, "@")
	return local + "-" + cmd + "@" + domain
}

// File is the path of a file in the list directory.
func (d *Dir) File(name string) string { return filepath.Join(d.Path, name) }

// Has reports whether a file exists (a boolean setting): also one that
// is there but cannot be read, as a symbolic link to nothing, which
// those who read it then find so.
func (d *Dir) Has(name string) bool {
	_, err := os.Lstat(d.File(name))
	return !errors.Is(err, fs.ErrNotExist)
}

// OpenFile opens a file of the list directory for reading; nil, and no
// error, if there is none. A file that is there but cannot be read is a
// temporary error, and so is a symbolic link to nothing, whose target's
// file system may not be mounted, or which names a shared file moved:
// taken as no file, it made a list without its members or its settings
// (mail to nobody, a post let through that a policy or a deny would
// have held).
//
// A FIFO is refused: it would hold the open (and a member file's lock
// with it) until someone wrote to it, or, opened without waiting, read
// as an empty file. So is a device other than /dev/null, which is an
// empty file: a member file, which is read to its end without a limit,
// linked to /dev/urandom by mistake kept mlm-who and mlm-sub reading
// for ever.
func (d *Dir) OpenFile(name string) (*os.File, error) {
	f, err := openNoDevice(d.File(name), name)
	if _, ok := err.(*fs.PathError); err != nil && !ok {
		return nil, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(d.File(name)); lerr == nil {
			return nil, sysexit.Temp(fmt.Errorf("%s: a symbolic link to nothing", name))
		} else if errors.Is(lerr, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, d.denied(name, err)
	}
	if err != nil {
		return nil, sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
	}
	if err := d.ownerMayRead(f, name); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ownerMayRead refuses (75) root's reading of f, the file name of a list
// another user owns, if that user may not read it: a file only root may
// read, or one in a directory the user may not enter, which the list's
// user linked there. Root's read-only tools (mlm-who, mlm-members,
// mlm-accept -o) printed what such a file held, or quoted its first line
// in an error. A member file shared by a link with another list,
// readable by this list's user, is read as before. (Permission bits
// only, not access control lists.)
func (d *Dir) ownerMayRead(f *os.File, name string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	dinfo, err := os.Stat(d.Path)
	if err != nil {
		return nil // (the open worked: the caller's reads will say)
	}
	dst, ok := dinfo.Sys().(*syscall.Stat_t)
	if !ok || dst.Uid == 0 {
		return nil
	}
	uid := dst.Uid
	info, err := f.Stat()
	if err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
	}
	may := mayAccess(uid, dst.Gid, info, 0o4)
	// The directories the file is in, as the kernel names the file
	// opened: the user must be able to go through each.
	if p := openedPath(f); may && p != "" {
		for dir := filepath.Dir(p); may; dir = filepath.Dir(dir) {
			dinfo, err := os.Stat(dir)
			if err != nil {
				break
			}
			may = mayAccess(uid, dst.Gid, dinfo, 0o1)
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	if may {
		return nil
	}
	who := UserName(uid)
	return sysexit.Temp(fmt.Errorf("%s: %s, whose list it is, may not read it: root reads for it only what it may; run this as %s", name, who, who))
}

// openedPath is the path of the file f has open, as the kernel names
// it (Linux's /proc/self/fd), or "" if it does not say. (Not by f.Fd,
// which would take the descriptor out of non-blocking mode.)
func openedPath(f *os.File) string {
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var p string
	rc.Control(func(fd uintptr) {
		p, err = os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
	})
	if err != nil || !filepath.IsAbs(p) {
		return ""
	}
	return p
}

// mayAccess reports whether user uid has the permission bit (4 read, 1
// search) on the file info describes, as the kernel decides it: as its
// owner (who may change its permissions), else by the group bits if the
// user is of its group (the others' bits then do not count), else by
// the others' bits. A user the password file does not name (from LDAP,
// say: the build reads /etc/passwd and /etc/group alone) is taken to be
// of dirGid, its list directory's group, alone.
func mayAccess(uid, dirGid uint32, info fs.FileInfo, bit fs.FileMode) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == uid {
		return true
	}
	perm := info.Mode().Perm()
	if other := perm&bit != 0; other == (perm&(bit<<3) != 0) {
		return other // (the same either way: no user looked up)
	}
	if inGroup(uid, dirGid, st.Gid) {
		return perm&(bit<<3) != 0
	}
	return perm&bit != 0
}

// inGroup reports whether user uid is of group gid (see mayAccess).
func inGroup(uid, dirGid, gid uint32) bool {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return gid == dirGid
	}
	g := strconv.FormatUint(uint64(gid), 10)
	if u.Gid == g {
		return true
	}
	gids, err := u.GroupIds()
	return err == nil && slices.Contains(gids, g)
}

// fileOrNull fails (75) for f, name, if it is a FIFO, a device other
// than /dev/null, or one that cannot be looked at (see OpenFile); f was
// looked up (O_PATH) or opened without waiting (O_NONBLOCK), as a FIFO
// would have held the open until someone wrote to it.
func fileOrNull(f *os.File, name string) error {
	info, err := f.Stat()
	if err == nil {
		err = kindOfFile(info)
	}
	if err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
	}
	return nil
}

// openNoDevice opens the file at path for reading, without blocking,
// and without opening a device or FIFO it names: it is looked up first
// with O_PATH, which opens nothing, and its kind taken from that
// descriptor; a file of a kind refused is never opened (a sysexit
// error, 75), one of another kind is opened again through
// /proc/self/fd, the same file whatever was swapped in at path since.
// Without /proc, it is looked at (notOpened) and opened. An error of
// the lookup or the open is an *fs.PathError of path.
func openNoDevice(path, name string) (*os.File, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	looked := os.NewFile(uintptr(pfd), path)
	defer looked.Close()
	if err := fileOrNull(looked, name); err != nil {
		return nil, err
	}
	// (The file named by path, not by the descriptor, in what its
	// errors say.)
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return openLooked(path, name)
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openLooked is openNoDevice without /proc: the file at path is looked
// at (notOpened), opened, and looked at again (fileOrNull), as what was
// looked at first may have been swapped since.
func openLooked(path, name string) (*os.File, error) {
	if err := notOpened(path, name); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := fileOrNull(f, name); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// notOpened fails as fileOrNull does for the file at path, name, before
// it is opened, where a look at it shows one: the open of a device acts
// on it (a tape rewinds, a watchdog starts), and it is refused all the
// same. A file that cannot be looked at is left to the open.
func notOpened(path, name string) error {
	info, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if err := kindOfFile(info); err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", name, err))
	}
	return nil
}

// kindOfFile is why a file of info's kind is not read as a list's file:
// a FIFO, or a device other than /dev/null; nil for any other.
func kindOfFile(info fs.FileInfo) error {
	switch m := info.Mode(); {
	case m&fs.ModeNamedPipe != 0:
		return errors.New("a FIFO, not a file")
	case m&fs.ModeDevice != 0 && !isNull(info):
		return errors.New("a device, not a file (only /dev/null is read, as an empty file)")
	}
	return nil
}

// isNull reports whether info, a device's, is /dev/null's: the same
// device numbers, wherever its node is.
func isNull(info fs.FileInfo) bool {
	null, err := os.Stat(os.DevNull)
	if err != nil || null.Mode()&fs.ModeDevice == 0 {
		return false
	}
	a, ok := info.Sys().(*syscall.Stat_t)
	b, ok2 := null.Sys().(*syscall.Stat_t)
	return ok && ok2 && info.Mode().Type() == null.Mode().Type() && a.Rdev == b.Rdev
}

// String returns the first line of a file, without surrounding space, and
// whether the file exists. A file that exists but cannot be read is a
// temporary error, and so is a first line of MaxItemLine octets or more,
// its LF aside, which is not read whole (ErrLongLine, as for a list's line).
func (d *Dir) String(name string) (string, bool, error) {
	f, err := d.OpenFile(name)
	if f == nil {
		return "", false, err
	}
	defer f.Close()
	line, err := FirstLine(f, name)
	return line, err == nil, err
}

// FirstLineOf returns the first line of the file at path, as FirstLine
// reads it, and whether the file exists: for a file a tool is given by
// a path of its own (mlm-sendmail's -a), or keeps beside a list's
// settings. A FIFO is refused (75), not waited on, and so is a device
// other than /dev/null.
func FirstLineOf(path string) (string, bool, error) {
	f, err := openNoDevice(path, path)
	if _, ok := err.(*fs.PathError); err != nil && !ok {
		return "", false, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, sysexit.Temp(err)
	}
	defer f.Close()
	line, err := FirstLine(f, path)
	return line, err == nil, err
}

// FirstLine returns the first line of r, without surrounding space or a
// byte-order mark, reading no more of r than MaxItemLine octets: a first
// line that long or longer, its LF aside, is an error (ErrLongLine after
// name), as is an error reading r, both temporary.
func FirstLine(r io.Reader, name string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, MaxItemLine)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
	}
	if len(line) == MaxItemLine && !strings.HasSuffix(line, "\n") {
		return "", sysexit.Temp(fmt.Errorf("%s: line 1: %w", name, ErrLongLine))
	}
	return strings.TrimSpace(strings.TrimPrefix(line, BOM)), nil
}

// BOM is the UTF-8 byte-order mark that some editors (Windows' Notepad)
// put at the start of a file they save: no part of its first line's
// value or item, where it would pass for one more octet of an address
// (U+FEFF is UTF-8, which RFC 6531 allows in a local part).
const BOM = "\ufeff"

// Int returns a file's first line as an integer, def if the file is
// missing. A value that is not a number is a temporary error (the list is
// misconfigured; mail waits until it is fixed).
func (d *Dir) Int(name string, def int64) (int64, error) {
	n, ok, err := d.number(name)
	if err != nil || !ok {
		return def, err
	}
	return n, nil
}

// number reads a file's first line as an integer, and whether the file
// exists.
func (d *Dir) number(name string) (int64, bool, error) {
	s, ok, err := d.String(name)
	if err != nil || !ok {
		return 0, ok, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, sysexit.Temp(fmt.Errorf("%s: not a number: %q", name, s))
	}
	return n, true, nil
}

// IntIn is Int for a setting that must lie from lo to hi: one outside is
// a temporary error as well, never a value the program goes on with.
func (d *Dir) IntIn(name string, def, lo, hi int64) (int64, error) {
	n, ok, err := d.number(name)
	if err != nil || !ok {
		return def, err
	}
	switch {
	case n < lo && hi == math.MaxInt64:
		return def, sysexit.Temp(fmt.Errorf("%s: %d is not at least %d", name, n, lo))
	case n < lo || n > hi:
		return def, sysexit.Temp(fmt.Errorf("%s: %d is not from %d to %d", name, n, lo, hi))
	}
	return n, nil
}

// HoldFor is how long a held post waits for a moderator: modexpire,
// seven days if missing, from a second to ten years (well within what a
// time.Duration holds).
func (d *Dir) HoldFor() (time.Duration, error) {
	secs, err := d.IntIn(ModExpire, 7*24*3600, 1, 10*365*24*3600)
	return time.Duration(secs) * time.Second, err
}

// Each calls fn for every item of a one-item-per-line file, streaming:
// blank lines and lines starting with "#" are skipped, surrounding space
// removed. A missing file has no items.
func (d *Dir) Each(name string, fn func(item string) error) error {
	f, err := d.OpenFile(name)
	if f == nil {
		return err
	}
	defer f.Close()
	return EachLine(f, name, fn)
}

// EachLine calls fn for every item of r, as Each does for a file; name
// is r's, for errors.
func EachLine(r io.Reader, name string, fn func(item string) error) error {
	return EachLineN(r, name, func(_ int, s string) error { return fn(s) })
}

// EachLineN is EachLine, telling fn the line number of each item too.
func EachLineN(r io.Reader, name string, fn func(line int, item string) error) error {
	return EachLineBytes(r, name, func(n int, b []byte) error { return fn(n, string(b)) })
}

// ErrLongLine is returned, after r's name and the line's number, for a
// line of MaxItemLine octets or more, its LF aside (so with its LF over
// MaxItemLine, as mlm-listdir(5) counts), which no item comes near: a
// file cut short by a crash, say, or one that is not what its name says.
// It is classified EX_TEMPFAIL (the list's own file is for its owner to
// mend, and mail waits meanwhile), as is an error reading r.
var ErrLongLine = fmt.Errorf("line of %d octets or more, its line end aside", MaxItemLine)

// MaxItemLine is the longest line of items EachLine reads.
const MaxItemLine = 1 << 20

// EachLineBytes is EachLineN for a reader of a large file that keeps few
// of its items: fn gets each item's octets, valid only until it returns,
// so that a line costs no allocation.
func EachLineBytes(r io.Reader, name string, fn func(line int, item []byte) error) error {
	sc := ScanLines(r)
	n := 1 // the line Scan reads next
	for ; sc.Scan(); n++ {
		b, ok := Item(sc.Bytes())
		if !ok {
			continue
		}
		if err := fn(n, b); err != nil {
			return err
		}
	}
	return ScanErr(sc, name, n)
}

// Item returns the item a line of a one-item-per-line file holds, its
// surrounding space removed, and false for a blank line or a comment.
func Item(line []byte) ([]byte, bool) {
	b := bytes.TrimSpace(line)
	return b, len(b) > 0 && b[0] != '#'
}

// ScanLines returns a Scanner of r's lines, each up to MaxItemLine
// octets long, its LF included, and a byte-order mark at the start of r
// left out.
func ScanLines(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxItemLine)
	first := true
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if first {
			if !atEOF && len(data) < len(BOM) && strings.HasPrefix(BOM, string(data)) {
				return 0, nil, nil // too little read to tell
			}
			first = false
			if bytes.HasPrefix(data, []byte(BOM)) {
				return len(BOM), nil, nil
			}
		}
		return bufio.ScanLines(data, atEOF)
	})
	return sc
}

// ScanErr returns sc's error, if it has one, once Scan has failed at line
// n of name: ErrLongLine after the file and the line, or a read error
// after the file, classified EX_TEMPFAIL.
func ScanErr(sc *bufio.Scanner, name string, n int) error {
	err := sc.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bufio.ErrTooLong):
		err = fmt.Errorf("line %d: %w", n, ErrLongLine)
	}
	return sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
}

// MaxFile is the most octets of a file Text and Lines read, which hold
// it whole: a footer, a secret, a queue's stages, strip, deny, relay.
// One longer is a temporary failure (ErrLongFile), as a line too long
// is: a file grown without end, or a link to a device made by mistake
// (/dev/zero, /dev/urandom), which took memory until there was none.
const MaxFile = 4 << 20

// ErrLongFile is returned, after the file's name, for a file of more
// than MaxFile octets that Text or Lines would hold whole. It is
// classified EX_TEMPFAIL, as ErrLongLine is.
var ErrLongFile = fmt.Errorf("over %d octets, which is held whole", MaxFile)

// Lines returns every item of a small one-item-per-line file, of at
// most MaxFile octets.
func (d *Dir) Lines(name string) ([]string, error) { return d.CheckLines(name, nil) }

// CheckLines is Lines with each item checked as it is read (check nil:
// none): an item check refuses fails the read, temporarily, as the
// list's own file's faults do, naming the file and the item's line, so
// that the owner finds it in a file of comments and blank lines too.
func (d *Dir) CheckLines(name string, check func(item string) error) ([]string, error) {
	f, err := d.OpenFile(name)
	if f == nil {
		return nil, err
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: MaxFile + 1}
	var items []string
	err = EachLineN(lr, name, func(n int, s string) error {
		if check != nil {
			if err := check(s); err != nil {
				return sysexit.Temp(fmt.Errorf("%s: line %d: %v", name, n, err))
			}
		}
		items = append(items, s)
		return nil
	})
	if err == nil && lr.N == 0 {
		err = sysexit.Temp(fmt.Errorf("%s: %w", name, ErrLongFile))
	}
	if err != nil {
		return nil, err
	}
	return items, nil
}

// Text returns a whole file, "" if it is missing; a byte-order mark at
// its start is no part of it, as it is of no setting (BOM): a footer
// an editor saved so, a stage's first command, a secret. A file of more
// than MaxFile octets is a temporary failure.
func (d *Dir) Text(name string) (string, error) {
	f, err := d.OpenFile(name)
	if f == nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return "", sysexit.Temp(fmt.Errorf("%s: %w", name, sysexit.Bare(err)))
	}
	if len(b) > MaxFile {
		return "", sysexit.Temp(fmt.Errorf("%s: %w", name, ErrLongFile))
	}
	return strings.TrimPrefix(string(b), BOM), nil
}

// Secret returns the key of the moderation cookies, the secret file's
// text without surrounding white space. A missing or empty one is
// temporary (75, ErrNoSecret): with no key, anyone could make a cookie
// that approves a held post, so posts wait to be held, and answers to be
// taken, until there is one. So is one that cannot be read, or is too
// short, but it is no ErrNoSecret: a fault to mend, not a key to wait for.
func (d *Dir) Secret() ([]byte, error) {
	s, err := d.Text(Secret)
	if err != nil {
		return nil, err
	}
	if s = strings.TrimSpace(s); s == "" {
		return nil, sysexit.Temp(fmt.Errorf("%s: %w", Secret, ErrNoSecret))
	}
	if len(s) < MinSecret {
		// A key short enough to be found from one cookie, offline, by
		// anyone a notice reached: then any post could be approved.
		return nil, sysexit.Errorf(sysexit.TempFail, "%s: %d octets, under %d; mlm-newlist makes one of 64", Secret, len(s), MinSecret)
	}
	return []byte(s), nil
}

// ErrNoSecret is Secret's error for a list without one.
var ErrNoSecret = errors.New("missing; mlm-newlist makes one")

// MinSecret is the fewest octets a secret may have.
const MinSecret = 16

// Queue returns one of the list's queues.
func (d *Dir) Queue(name string) *queue.Queue {
	return queue.New(filepath.Join(d.Path, QueueDir, name))
}

// SettledIDs returns the ids of the held posts mlm-moderate recorded as
// settled (in Settled; and the names of any temporary files a writer
// left, which match no cookie). An answer to one of them is no forgery.
func (d *Dir) SettledIDs() ([]string, error) {
	ents, err := os.ReadDir(d.File(Settled))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, sysexit.Temp(err)
	}
	ids := make([]string, len(ents))
	for i, e := range ents {
		ids[i] = e.Name()
	}
	return ids, nil
}

// Served reports whether mlm-run runs stages on the list's queue name:
// those of its stages file, or by default (QueueStages: none for
// requests, bounces and hold). A stages file that cannot be read, or
// does not parse, is taken for served: the site meant it to be, and
// mlm-run says what is wrong with it. (A queue a site's own program
// takes, run as `mlm-run QUEUE -- program`, without a stages file, is
// not served so.)
func (d *Dir) Served(name string) bool {
	text, err := d.Text(filepath.Join(Stages, name))
	if err != nil {
		return true
	}
	stages, err := QueueStages(name, text)
	return err != nil || len(stages) > 0
}

// Full says whether the list's queue name is full: whether it holds
// maxqueued records, or maxqueuedsize octets, waiting or claimed
// (queue.Holds); if so, why, as "N records, as maxqueued allows" or "N
// octets, maxqueuedsize or more", else "". The queues strangers may fill
// have this bound: those mlm-accept writes to, but the posts', and the
// held posts'. Times is what the bounds are multiplied by: 1 for the
// queues mlm-accept fills, more for the held posts (mlm-auth), and the
// reason then says so ("N records, 10 times maxqueued").
func (d *Dir) Full(name string, times int64) (why string, err error) {
	maxRecords, err := d.IntIn(MaxQueued, 1000, 1, math.MaxInt32)
	if err != nil {
		return "", err
	}
	maxOctets, err := d.IntIn(MaxQueuedSize, 100<<20, 1, math.MaxInt64)
	if err != nil {
		return "", err
	}
	maxRecords = min(maxRecords*times, math.MaxInt32) // (at most MaxInt32 each)
	if maxOctets > math.MaxInt64/times {
		maxOctets = math.MaxInt64
	} else {
		maxOctets *= times
	}
	n, size, full, err := d.Queue(name).Holds(int(maxRecords), maxOctets)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", name, err)
	case !full:
		return "", nil
	case n >= int(maxRecords) && times == 1:
		return fmt.Sprintf("%d records, as %s allows", n, MaxQueued), nil
	case n >= int(maxRecords):
		return fmt.Sprintf("%d records, %d times %s", n, times, MaxQueued), nil
	case times == 1:
		return fmt.Sprintf("%d octets, %s or more", size, MaxQueuedSize), nil
	}
	return fmt.Sprintf("%d octets, %d times %s or more", size, times, MaxQueuedSize), nil
}

// Put writes a record into the list's queue name, ready at once
// (queue.Put), but not as root in a queue another user owns (CheckUser):
// a list of root's may give a queue to the user who runs it, and a
// record root wrote there, mode 0600, that user could claim but not
// read.
func (d *Dir) Put(name, id string, fn func(w io.Writer) error) error {
	_, err := d.PutFound(name, id, fn)
	return err
}

// PutFound is Put, and says whether the record was queued already
// (queue.PutFound).
func (d *Dir) PutFound(name, id string, fn func(w io.Writer) error) (found bool, err error) {
	q := d.Queue(name)
	if err := CheckQueueRW(q.Path); err != nil {
		return false, err
	}
	return q.PutFound(id, time.Time{}, fn)
}

// WriteFile replaces a file atomically and durably with what fn writes:
// readers see the old file or the new one, never a mixture.
func (d *Dir) WriteFile(name string, fn func(w io.Writer) error) error {
	final := d.File(name)
	f, err := durable.Create(durable.Beside(final), final)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fn(bw); err != nil {
		f.Abort()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Abort()
		return sysexit.Temp(err)
	}
	return f.Commit()
}

// LockMembers takes the lock of the member files, waiting up to timeout;
// a timeout is temporary. The returned function releases it. It is not
// the list lock the cron jobs run under (mlm-lock), so that a stage of
// such a run may change the members.
func (d *Dir) LockMembers(timeout time.Duration) (func(), error) {
	return LockPath(d.File(MembersLock), timeout)
}

// LockPath takes an exclusive flock on the file at path (created if need
// be), waiting up to timeout. The returned function releases it.
func LockPath(path string, timeout time.Duration) (func(), error) {
	f, err := LockFD(path, timeout)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// stillLocked is LockFD's error for a lock another process held past
// the timeout. It wraps syscall.EWOULDBLOCK, and says it as mlm-lock
// does: "resource temporarily unavailable" told an admin nothing of a
// lock busy with a long change (a review).
type stillLocked struct {
	name    string
	timeout time.Duration
}

func (e *stillLocked) Error() string {
	if e.timeout == 0 {
		return e.name + ": locked by another process"
	}
	return fmt.Sprintf("%s: still locked after %v, by another process", e.name, e.timeout)
}

func (e *stillLocked) Unwrap() error { return syscall.EWOULDBLOCK }

// LockFD takes an exclusive flock on the file at path (created if need
// be), trying at once and then every 50ms until timeout has passed; a
// timeout of 0 tries once. It returns the open file, which holds the lock
// until it is closed, or, once its descriptor is shared with other
// processes (mlm-lock execs a program with it open), until every copy
// is closed. Every failure is temporary; one because another process
// holds the lock wraps syscall.EWOULDBLOCK. A lock taken on a file that
// path no longer names (removed meanwhile by a sweep that held the
// lock, see RemoveLock) is let go, and the file at path opened anew:
// else the next locker, who made a new one, would hold the lock too.
//
// Root follows no symbolic link on the way to path, nor at it, that
// another user made or could change (rootOpen): that user could point
// it anywhere, and root would open, or make, the file it names
// (/etc/nologin) for writing; a list directory that user replaced with a
// link had root make an empty lock file of its own wherever it pointed.
func LockFD(path string, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	open := func(flag int, perm uint32) (*os.File, error) { return os.OpenFile(path, flag, fs.FileMode(perm)) }
	if os.Geteuid() == 0 {
		open = func(flag int, perm uint32) (*os.File, error) { return rootOpen(path, flag, perm) }
	}
	for {
		f, err := open(os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, fs.ErrPermission) {
			// A lock file this user may read but not write, as another
			// user's cron job made it: flock needs no more than reading.
			// If there is none, the reason is still that it cannot be made.
			if ro, rerr := open(os.O_RDONLY, 0); rerr == nil || !errors.Is(rerr, fs.ErrNotExist) {
				f, err = ro, rerr
			}
		}
		if err != nil {
			return nil, sysexit.Temp(err)
		}
		for {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				break
			}
			if err != syscall.EWOULDBLOCK {
				f.Close()
				return nil, sysexit.Temp(fmt.Errorf("%s: lock: %w", filepath.Base(path), err))
			}
			if !time.Now().Before(deadline) {
				f.Close()
				return nil, sysexit.Temp(&stillLocked{filepath.Base(path), timeout})
			}
			time.Sleep(50 * time.Millisecond)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close()
		if err1 != nil || (err2 != nil && !errors.Is(err2, fs.ErrNotExist)) || !time.Now().Before(deadline) {
			if err1 == nil {
				err1 = err2
			}
			if err1 == nil {
				err1 = errors.New("removed while it was locked")
			}
			return nil, sysexit.Temp(fmt.Errorf("%s: lock: %w", filepath.Base(path), err1))
		}
	}
}

// RemoveLock removes the lock file at path if no one holds its lock
// and keep, asked with the lock held, says no; it reports whether it
// did. The lock is held across the removal, so that whoever waits for
// it finds (LockFD) that the file it then locks is gone, and opens the
// one at path: a lock file removed under a holder would let a second
// locker make a new one, and both hold "the" lock at once.
func RemoveLock(path string, keep func() bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || keep() {
		return false
	}
	held, err1 := f.Stat()
	named, err2 := os.Lstat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, named) {
		return false
	}
	return os.Remove(path) == nil
}
