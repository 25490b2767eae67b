package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/durable"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/members"
	"mlm/lib/sysexit"
)

// run creates the list directory. It refuses a directory that exists, so
// it never changes a running list.
func run(a *args, out io.Writer) error {
	if err := addr.CheckMailbox(a.Address); err != nil {
		return sysexit.Errorf(sysexit.Usage, "%q: %v", a.Address, err)
	}
	if len(a.Owner) > 0 {
		// As mlm-sub takes them: the owner file is read as a member
		// file is, trimmed, with '#' lines comments.
		if _, err := members.Read(a.Owner, nil); err != nil {
			return sysexit.Errorf(sysexit.Usage, "-o: %v", err)
		}
	}
	if err := listdir.CheckAddress(a.Address); err != nil {
		return sysexit.Errorf(sysexit.Usage, "%q: %v", a.Address, err)
	}
	// An owner that is the list, or one of its command addresses, is
	// skipped by every reader (mlm-members, mlm-auth): mail to the
	// owner would wait for an owner, on every run. One given twice is
	// one owner, written once.
	var owners []string
	seen := map[string]bool{}
	for _, o := range a.Owner {
		if envelope.Own(a.Address, o) {
			return sysexit.Errorf(sysexit.Usage, "-o: %q: an address of the list itself, which mail to the owner would come back to", o)
		}
		if k := addr.Key(o); !seen[k] {
			seen[k] = true
			owners = append(owners, o)
		}
	}
	a.Owner = owners
	if hasCommandSuffix(a.Address) {
		return sysexit.Errorf(sysexit.Usage, "%q: a list's local part does not end in a command's name", a.Address)
	}
	if a.MTA == "qmail" && qmailDefault(a.Address) {
		return sysexit.Errorf(sysexit.Usage, "%q: for qmail, a list's local part is not default and does not end in -default, which qmail-local's catch-all files end in", a.Address)
	}
	// Every alias printed counts, the command addresses too: those of a
	// list "owner" are owner-request, owner-bounces and so on, the
	// owner- aliases of lists or aliases named request, bounces...
	if l := ascii.Lower(a.Address); a.MTA == "aliases" && (strings.HasPrefix(l, "owner-") || strings.HasPrefix(l, "owner@")) {
		return sysexit.Errorf(sysexit.Usage, "%q: for aliases, a list's local part is not owner and does not start with owner-: Postfix's local(8) makes an alias owner-x the sender of the mail to list x, and the list's command addresses would all be such aliases", a.Address)
	}
	if a.Dir == "" {
		// filepath.Abs would make it the working directory.
		return sysexit.Errorf(sysexit.Usage, "an empty path names no list directory")
	}
	abs, err := filepath.Abs(a.Dir)
	if err != nil {
		return sysexit.Temp(err)
	}
	if !plainPath(abs) {
		return sysexit.Errorf(sysexit.Usage, "%s: the path of a list directory is letters, digits and '/', '.', '_', '+', '-', since MTA files and shells name it unquoted", abs)
	}
	if base := filepath.Base(abs); a.MTA == "postfix" && base != ascii.Lower(base) {
		// qmgr(8) keys its queues by the next hop in lower case: the
		// mail of lists in Dev and dev would share one queue, and the
		// first one's next hop, ${nexthop}, the other list's mail
		// with it (a review).
		return sysexit.Errorf(sysexit.Usage, "%s: for postfix, the name of a list directory is in lower case: Postfix's queue manager folds the next hop's case, and the mail of lists in Dev and dev would go to one of them", abs)
	}
	bin, err := binDir(a.BinDir)
	if err != nil {
		return err
	}
	if a.BinDir != "" {
		// Said, not refused: the programs may be installed there
		// after. A typo would have the MTA run no program.
		if !hasAccept(bin) {
			fmt.Fprintf(os.Stderr, "%s: -b %s: no mlm-accept there (yet), which the lines below name\n", prog, bin)
		}
	}
	// Root's list among another user's would be root's, which the MTA
	// runs no program as.
	if err := listdir.CheckUser(filepath.Dir(abs)); err != nil {
		return err
	}
	if err := os.Mkdir(a.Dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return sysexit.Errorf(sysexit.Usage, "%s: exists already", a.Dir)
		}
		return sysexit.Temp(err)
	}
	// Where mkdir made it, which the path's text need not say: through a
	// symbolic link and "..", link/../dev is made beside the link's
	// target, and its files, named by the text (filepath.Join drops
	// link/..), would go into another list.
	made, err := physical(a.Dir)
	if err != nil {
		os.Remove(a.Dir)
		return sysexit.Temp(err)
	}
	if !plainPath(made) {
		os.Remove(a.Dir)
		return sysexit.Errorf(sysexit.Usage, "%s: the list directory is %s, whose path is not letters, digits and '/', '.', '_', '+', '-'", a.Dir, made)
	}
	// And where it was made is whose? The text's parent, checked
	// above, need not be it.
	if err := listdir.CheckUser(filepath.Dir(made)); err != nil {
		os.Remove(a.Dir)
		return err
	}
	abs = made
	// Whatever fails from here on (a full disk) takes the list away
	// again, with what was made in it: a list half made is no list, and
	// a run again, which refused it as existing (64), makes it (R87 F6,
	// R90 F8).
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(made)
		}
	}()
	// The list directory's own name, durable as its files will be: the
	// site installs the MTA lines printed once this exits 0.
	if err := durable.SyncDir(filepath.Dir(made)); err != nil {
		return sysexit.Temp(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return sysexit.Temp(err)
	}
	files := map[string]string{
		listdir.Address: a.Address + "\n",
		listdir.Policy:  a.Policy + "\n",
		listdir.Strip:   "# Fields removed from posts before they go out.\nReturn-Path\n",
		listdir.Owner:   strings.Join(a.Owner, "\n") + "\n",
		// There from the start: a change of the members that changes
		// nothing then succeeds where the list may not be written, as
		// mlm-sub(1) says (the lock is made where it is missing).
		listdir.MembersLock: "",
	}
	for q, text := range listdir.DefaultStages {
		files[filepath.Join(listdir.Stages, q)] = text
	}
	if err := os.Mkdir(filepath.Join(abs, listdir.Stages), 0o755); err != nil {
		return sysexit.Temp(err)
	}
	d := &listdir.Dir{Path: abs}
	for name, text := range files {
		if err := d.WriteFile(name, func(w io.Writer) error { _, err := io.WriteString(w, text); return err }); err != nil {
			return err
		}
	}
	if err := d.WriteFile(listdir.Secret, func(w io.Writer) error { _, err := fmt.Fprintln(w, hex.EncodeToString(secret)); return err }); err != nil {
		return err
	}
	for _, q := range listdir.Queues {
		if err := d.Queue(q).Create(); err != nil {
			return err
		}
	}
	if a.MTA == "exim" {
		if err := mountMark(filepath.Dir(abs)); err != nil {
			return err
		}
	}
	st := setup{bin: bin, dir: abs, list: a.Address}
	st.user, st.group = runAs()
	var text bytes.Buffer
	if err := printSetup(&text, a.MTA, st); err != nil {
		return err
	}
	// The lines are owed: the list gets no mail without them, and a
	// second run refuses its directory, so one that cannot write them
	// (a full disk, a reader gone, which SIGPIPE would end it for)
	// takes the list away again, and can be run again (R87 F6).
	signal.Ignore(syscall.SIGPIPE)
	if _, err := out.Write(text.Bytes()); err != nil {
		keep = true // (removed here, to say whether it could be)
		if rerr := os.RemoveAll(abs); rerr != nil {
			return sysexit.Errorf(sysexit.TempFail, "the lines for the MTA and cron: %v; and the list made without them is left: %v", err, rerr)
		}
		return sysexit.Errorf(sysexit.TempFail, "the lines for the MTA and cron: %v; the list is not made", err)
	}
	keep = true
	return nil
}

// mountMark makes the file markName in the lists' directory, if it is
// not there, for Exim's mlm_lists_absent router to find: without it,
// the router defers every mail to the lists' domain, as the lists'
// file system is then not mounted (an empty directory), where the
// other routers would find no list and have Exim refuse the mail for
// good (R78).
func mountMark(lists string) error {
	f, err := os.OpenFile(filepath.Join(lists, markName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return sysexit.Temp(err)
	}
	_, err = io.WriteString(f, "# mlm: while this file is missing, Exim defers the lists' mail (mlm-newlist(1)).\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sysexit.Temp(err)
	}
	return sysexit.Temp(durable.SyncDir(lists))
}

// markName is the file mountMark makes.
const markName = ".mlm-lists"

// physical is the absolute path of the directory at p with no symbolic
// link in it, each ".." taken where the links lead (the working
// directory's too), not from the text as filepath.Abs takes it.
func physical(p string) (string, error) {
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		p = wd + string(filepath.Separator) + p // not Join: it would clean
	}
	return filepath.EvalSymlinks(p)
}

// hasCommandSuffix reports a list address that would collide with
// another list's command address (dev-request@ ...).
func hasCommandSuffix(list string) bool {
	local, _, _ := strings.Cut(list, "@")
	for _, c := range envelope.Commands {
		if strings.HasSuffix(strings.ToLower(local), "-"+c) {
			return true
		}
	}
	return false
}

// qmailDefault reports a list address whose .qmail file would be one
// qmail-local takes for a catch-all: .qmail-default, all the user's
// addresses that have no file of their own, or .qmail-x-default, which
// list x's command addresses need.
func qmailDefault(list string) bool {
	local, _, _ := strings.Cut(ascii.Lower(list), "@")
	return local == "default" || strings.HasSuffix(local, "-default")
}

// plainPath reports whether p may be the path of a list directory or of
// the programs: MTA files name it unquoted.
func plainPath(p string) bool {
	return p == "/" || strings.HasPrefix(p, "/") && ascii.Plain(p[1:], "/._+-")
}

// binDir is where the printed lines find the programs: dir if given,
// else the directory mlm-newlist was run from (ranFrom).
func binDir(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = ranFrom(); err != nil {
			return "", err
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", sysexit.Temp(err)
	}
	if !plainPath(dir) {
		return "", sysexit.Errorf(sysexit.Usage, "%s: the programs' directory is letters, digits and '/', '.', '_', '+', '-'", dir)
	}
	return dir, nil
}

// hasAccept reports whether dir holds mlm-accept, a regular file, which
// the lines printed name.
func hasAccept(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "mlm-accept"))
	return err == nil && fi.Mode().IsRegular()
}

// ranFrom returns the directory mlm-newlist was run from, as the shell
// found it (its first argument, through PATH), if mlm-accept is there
// too; else the directory the program itself is in, its links
// followed (os.Executable). A directory of links into a versioned
// install (GNU Stow's, a package's alternatives) outlives the version
// they point into, which an upgrade removes, and with it every MTA and
// cron line that named it (R87 F2).
func ranFrom() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if dir, err := filepath.Abs(filepath.Dir(p)); err == nil {
			if hasAccept(dir) {
				return dir, nil
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", sysexit.Temp(err)
	}
	return filepath.Dir(exe), nil
}

// runAs is the user that runs mlm-newlist, who owns the list, and so the
// one the MTA and cron must run its programs as, and that user's group;
// "mlm" for a name that is not plain.
func runAs() (name, group string) {
	name, group = "mlm", "mlm"
	u, err := user.Current()
	if err != nil {
		return name, group
	}
	if listdir.IsListName(u.Username) {
		name = u.Username
	}
	if g, err := user.LookupGroupId(u.Gid); err == nil && listdir.IsListName(g.Name) {
		group = g.Name
	}
	return name, group
}
