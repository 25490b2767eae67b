// Package members reads and changes a list's member files: plain text,
// one address per line, "#" comments (mlm-listdir(5)). Reading streams,
// so a list of any size never sits in memory; a change reads the file
// once and writes it anew atomically under the list lock, holding in
// memory only the addresses being changed. It is part of mlm's
// internals, not a public API.
//
// The members of a list may instead come from a command the site names
// in the list directory's members-command file, one argument per line
// (no shell is involved); its standard output is read as a member file.
package members

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"mlm/lib/addr"
	"mlm/lib/listdir"
	"mlm/lib/sysexit"
)

// LockWait is how long a change waits for the list lock.
const LockWait = 30 * time.Second

// BadFunc is told about an address that is not a mailbox: the file, the
// line number and why. The address itself is not passed on, so that
// messages never carry members' addresses.
type BadFunc func(file string, line int, err error)

// Each calls fn with every valid address of the member file name, in
// order; for Subscribers, the members-command's output if the list has
// one. Bad addresses go to bad and are skipped.
func Each(d *listdir.Dir, name string, fn func(mailbox string) error, bad BadFunc) error {
	if name == listdir.Subscribers && d.Has(listdir.MembersCommand) {
		return eachFromCommand(d, fn, bad)
	}
	f, err := os.Open(d.File(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return sysexit.Temp(fmt.Errorf("%s: %w", name, err))
	}
	defer f.Close()
	return scan(f, name, fn, bad)
}

// scan reads one address per line from r.
func scan(r io.Reader, name string, fn func(string) error, bad BadFunc) error {
	return listdir.EachLineN(r, func(line int, s string) error {
		if err := addr.CheckMailbox(s); err != nil {
			if bad != nil {
				bad(name, line, err)
			}
			return nil
		}
		return fn(s)
	})
}

// eachFromCommand runs the members-command and reads its output.
func eachFromCommand(d *listdir.Dir, fn func(string) error, bad BadFunc) error {
	argv, err := d.Lines(listdir.MembersCommand)
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return sysexit.Errorf(sysexit.TempFail, "%s: empty", listdir.MembersCommand)
	}
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
	err = scan(bufio.NewReaderSize(out, 64<<10), listdir.MembersCommand, fn, bad)
	if err != nil {
		io.Copy(io.Discard, out)
	}
	if werr := cmd.Wait(); werr != nil {
		// The list is incomplete: mail must wait, not go to part of it.
		return sysexit.Temp(fmt.Errorf("%s: %v", listdir.MembersCommand, werr))
	}
	return err
}

// Keys returns the keys (addr.Key) of the addresses in a member file, for
// the small files: digest, nomail, notmetoo, moderators, posters.
func Keys(d *listdir.Dir, name string) (map[string]bool, error) {
	keys := map[string]bool{}
	err := Each(d, name, func(m string) error { keys[addr.Key(m)] = true; return nil }, nil)
	return keys, err
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
	err := Each(d, name, func(m string) error {
		if keys[addr.Key(m)] {
			return errFound
		}
		return nil
	}, nil)
	if err == errFound {
		return true, nil
	}
	return false, err
}

// Change adds the addresses in add that the file name lacks, and removes
// those of remove, keeping every other line (comments included) as it
// is. It returns how many it added and removed. Addresses must have been
// checked.
func Change(d *listdir.Dir, name string, add, remove []string) (added, removed int, err error) {
	if name == listdir.Subscribers && d.Has(listdir.MembersCommand) {
		return 0, 0, sysexit.Errorf(sysexit.Usage, "members come from %s; change them there", listdir.MembersCommand)
	}
	unlock, err := d.Lock(LockWait)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	adding := map[string]string{} // key -> address, for those not yet seen
	var order []string
	for _, a := range add {
		k := addr.Key(a)
		if _, dup := adding[k]; !dup {
			adding[k] = a
			order = append(order, k)
		}
	}
	removing := map[string]bool{}
	for _, a := range remove {
		removing[addr.Key(a)] = true
	}
	old, err := os.Open(d.File(name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, sysexit.Temp(fmt.Errorf("%s: %w", name, err))
	}
	if old != nil {
		defer old.Close()
	}
	err = d.WriteFile(name, func(w io.Writer) error {
		if old != nil {
			sc := bufio.NewScanner(old)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				k := addr.Key(strings.TrimSpace(line))
				if removing[k] {
					removed++
					continue
				}
				delete(adding, k)
				if _, err := io.WriteString(w, line+"\n"); err != nil {
					return sysexit.Temp(err)
				}
			}
			if err := sc.Err(); err != nil {
				return sysexit.Temp(err)
			}
		}
		for _, k := range order {
			if a, ok := adding[k]; ok && !removing[k] {
				if _, err := io.WriteString(w, a+"\n"); err != nil {
					return sysexit.Temp(err)
				}
				added++
			}
		}
		return nil
	})
	return added, removed, err
}

// Read returns the checked addresses given as args, or if there are none
// one per line on in ("#" comments allowed). Any bad address makes the
// whole batch a data error (65), so a change is all or nothing; each bad
// one is named in the error.
func Read(args []string, in io.Reader) ([]string, error) {
	var addrs, bad []string
	check := func(where, a string) {
		err := addr.CheckMailbox(a)
		if err == nil && strings.HasPrefix(a, "#") {
			err = errors.New("would read as a comment")
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s %q: %v", where, a, err))
			return
		}
		addrs = append(addrs, a)
	}
	if len(args) > 0 {
		for i, a := range args {
			check(fmt.Sprintf("argument %d", i+1), a)
		}
	} else if err := listdir.EachLineN(in, func(n int, a string) error {
		check(fmt.Sprintf("line %d", n), a)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > 3 {
			more = fmt.Sprintf(" (and %d more)", len(bad)-3)
			bad = bad[:3]
		}
		return nil, sysexit.Errorf(sysexit.DataErr, "%s%s; nothing changed", strings.Join(bad, "; "), more)
	}
	return addrs, nil
}

// Edit is what mlm-sub and mlm-unsub do: read the addresses (Read), then
// add them to or remove them from the member file name of the list in
// dir, all or none. It returns how many changed and how many were given.
func Edit(dir, name string, args []string, in io.Reader, remove bool) (changed, given int, err error) {
	d, err := listdir.Open(dir)
	if err != nil {
		return 0, 0, err
	}
	addrs, err := Read(args, in)
	if err != nil {
		return 0, 0, err
	}
	if remove {
		_, changed, err = Change(d, name, nil, addrs)
	} else {
		changed, _, err = Change(d, name, addrs, nil)
	}
	return changed, len(addrs), err
}
