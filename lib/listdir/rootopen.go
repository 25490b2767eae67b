package listdir

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// maxLinks is how many symbolic links rootOpen follows in one path, as
// the kernel's own limit (ELOOP past it).
const maxLinks = 40

// rootOpen opens path as os.OpenFile would with flag and perm, for root,
// following only symbolic links another user cannot have made or
// changed: a link root owns, in a directory root owns that no one else
// may write (or may only add to, with the sticky bit). Another user's
// link, or one in a directory another user owns or may write, is
// refused (75): that user could point it anywhere, and root would open
// or make the file it names (/etc/nologin) for writing.
//
// The path is walked a name at a time, each directory opened (O_PATH:
// searched, not read, as the kernel's own walk needs no more, where
// root may not read, NFS with root_squash) without
// following a link (O_NOFOLLOW) from the one before, so a link swapped
// in after it was looked at fails the open rather than being followed;
// ".." leaves the directory reached, as the kernel reads it. An error of
// the open itself is an *fs.PathError of the name it failed at.
func rootOpen(path string, flag int, perm uint32) (*os.File, error) {
	at := "."
	if strings.HasPrefix(path, "/") {
		at = "/"
	}
	dir, err := unix.Open(at, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: at, Err: err}
	}
	defer func() { unix.Close(dir) }()
	walked := strings.TrimSuffix(at, ".")
	names := strings.Split(path, "/")
	for links := 0; ; {
		name, last := nextName(&names)
		if name == "" {
			return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EISDIR}
		}
		p := walked + name
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if why := untrustedLink(dir, &st); why != "" {
				return nil, sysexit.Temp(fmt.Errorf("%s: a symbolic link%s", p, why))
			}
			if links++; links > maxLinks {
				return nil, &fs.PathError{Op: "open", Path: path, Err: unix.ELOOP}
			}
			if onProc(dir) {
				// /proc/self, /dev/fd's /proc/self/fd/N: the kernel's
				// own links, whose text is no path (a file deleted
				// since, a pipe); the kernel follows them, one step.
				f, next, err := procStep(dir, name, last, flag, p)
				if err != nil || f != nil {
					return f, err
				}
				unix.Close(dir)
				dir, walked = next, p+"/"
				continue
			}
			target, err := readlinkat(dir, name)
			if err != nil {
				return nil, &fs.PathError{Op: "readlink", Path: p, Err: err}
			}
			if strings.HasPrefix(target, "/") {
				root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
				}
				unix.Close(dir)
				dir, walked = root, "/"
			}
			names = append(strings.Split(target, "/"), names...)
			continue
		}
		if last {
			fd, err := unix.Openat(dir, name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
			if err == unix.ELOOP {
				// A link made since it was looked at.
				return nil, sysexit.Temp(fmt.Errorf("%s: a symbolic link, made as it was opened: root follows none such", p))
			}
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: p, Err: err}
			}
			return os.NewFile(uintptr(fd), p), nil
		}
		next, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		unix.Close(dir)
		dir, walked = next, p+"/"
	}
}

// onProc reports whether the directory dir is in /proc (procfs), whose
// links the kernel makes.
func onProc(dir int) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(dir, &fs) == nil && fs.Type == unix.PROC_SUPER_MAGIC
}

// procStep follows the link name in dir, a directory of /proc, as the
// kernel does: for the path's last name, the file it leads to opened
// with flag (not made: such a link leads to a file that is there); else
// the directory it leads to, to walk on from.
func procStep(dir int, name string, last bool, flag int, p string) (*os.File, int, error) {
	pfd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	if !last {
		var st unix.Stat_t
		if err := unix.Fstat(pfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(pfd)
			return nil, -1, &fs.PathError{Op: "open", Path: p, Err: unix.ENOTDIR}
		}
		return nil, pfd, nil
	}
	defer unix.Close(pfd)
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), flag&^(unix.O_CREAT|unix.O_EXCL)|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), -1, nil
}

// nextName takes the next name of the path from names, skipping empty
// ones and ".", and says whether it is the last; "" when none is left.
func nextName(names *[]string) (name string, last bool) {
	for len(*names) > 0 {
		name, *names = (*names)[0], (*names)[1:]
		if name == "" || name == "." {
			continue
		}
		for _, n := range *names {
			if n != "" && n != "." {
				return name, false
			}
		}
		return name, true
	}
	return "", false
}

// untrustedLink says why root follows not the link st describes, in the
// directory dir ("" if it does): another user owns the link, or the
// directory, or may write in it without the sticky bit (and so replace
// root's link with one of its own).
func untrustedLink(dir int, st *unix.Stat_t) string {
	var d unix.Stat_t
	if err := unix.Fstat(dir, &d); err != nil {
		return ", in a directory that cannot be looked at: root follows none there"
	}
	switch {
	case d.Uid != 0:
		return ", in a directory owned by " + UserName(d.Uid) + ": root follows none there"
	case st.Uid != 0:
		return " of " + UserName(st.Uid) + "'s: root follows none but its own"
	case d.Mode&0o022 != 0 && d.Mode&unix.S_ISVTX == 0:
		return ", in a directory others may write: root follows none there"
	}
	return ""
}

// readlinkat is the target of the link name in dir.
func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
