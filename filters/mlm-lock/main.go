// mlm-lock takes an exclusive lock on a file, or on a list directory's
// lock, and executes a program with the lock held, like s6-setlock and
// flock(1). See mlm-lock(1).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"mlm/lib/cli"
	"mlm/lib/listdir"
	"mlm/lib/pipeline"
	"mlm/lib/sysexit"
)

const prog = "mlm-lock"

type args struct {
	Nonblock bool          `short:"n" help:"Do not wait: fail at once if the lock is held (the same as -t 0)."`
	Timeout  time.Duration `short:"t" default:"5m" placeholder:"DURATION" help:"Wait up to DURATION for the lock."`
	Path     string        `arg:"" placeholder:"PATH" help:"The lock file, or a list directory, whose lock file is PATH/lock."`
	Command  []string      `arg:"" name:"prog" passthrough:"" placeholder:"PROG [ARG...]" help:"The program to execute with the lock held, and its arguments."`
}

func main() {
	var a args
	cli.Main(prog, "Run a program with a lock held.", &a, func() error {
		return run(&a, os.Environ())
	})
}

// run takes the lock and executes the program with the locked descriptor
// open; it returns only on failure.
func run(a *args, env []string) error {
	if a.Timeout < 0 {
		return sysexit.Errorf(sysexit.Usage, "-t: %v: a wait cannot be negative", a.Timeout)
	}
	if a.Nonblock {
		a.Timeout = 0
	}
	if a.Path == "" {
		return sysexit.Errorf(sysexit.Usage, "an empty path names no lock file")
	}
	if a.Command[0] == "--" { // the end of the options, as mlm-run takes it
		if a.Command = a.Command[1:]; len(a.Command) == 0 {
			return sysexit.Errorf(sysexit.Usage, "no program after --")
		}
	}
	// The program is looked up first: a missing one is the admin's to
	// fix whether or not the lock is free.
	path, err := lookPath(a.Command[0])
	if err != nil {
		return err
	}
	lock := lockFile(a.Path)
	// Not there, or a symbolic link to nothing (a list directory linked
	// to a file system not mounted), which opening would make.
	if _, err := os.Stat(lock); errors.Is(err, fs.ErrNotExist) && lock == a.Path {
		if err := notADir(a.Path, a.Command[1:]); err != nil {
			return err
		}
	}
	if fi, err := os.Lstat(lock); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Made by root in another user's list, the lock would be
		// root's, mode 0600, and the list's own cron job could not
		// take it again. A symbolic link there is that user's to
		// point anywhere: root would open, or make, its target
		// (/etc/nologin) for writing.
		if err := listdir.CheckUser(dirOf(lock)); err != nil {
			return err
		}
	}
	f, err := listdir.LockFD(lock, a.Timeout)
	if err != nil {
		return lockError(lock, a.Timeout, err)
	}
	// Go opens files close-on-exec; the lock must outlive the exec.
	if err := pipeline.Inherit(f); err != nil {
		return err
	}
	// A profile (cli.ProfileEnv) ends here: its timer would outlive
	// the exec and kill the command.
	cli.BeforeExec()
	err = syscall.Exec(path, a.Command, env)
	if errors.Is(err, syscall.ENOEXEC) && isScript(path) {
		// A script without "#!": execvp(3) runs it with the shell.
		err = syscall.Exec("/bin/sh", append([]string{"sh", path}, a.Command[1:]...), env)
	}
	runtime.KeepAlive(f) // the file's finalizer would close it, and release the lock
	// (ENOENT for a program lookPath found: its "#!" interpreter is missing.)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.ENOENT) {
		return sysexit.Errorf(sysexit.Usage, "%s: not executable: %v", a.Command[0], err)
	}
	return sysexit.Temp(fmt.Errorf("%s: %v", a.Command[0], err))
}

// isScript reports whether the file at path looks like a shell script:
// no NUL in its first line, as far as its first 256 octets go, the test
// bash makes before it runs a file the kernel will not. Another
// machine's program, or any other binary, is no script.
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 256)
	n, _ := io.ReadFull(f, b)
	b, _, _ = bytes.Cut(b[:n], []byte("\n"))
	return bytes.IndexByte(b, 0) < 0
}

// lockFile is the file to lock: PATH itself, or a directory's lock file.
// Its name is not cleaned: the kernel takes a ".." where a symbolic link
// before it leads (dir/link/..), and filepath.Join's "dir" would be
// another directory, another lock.
func lockFile(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return strings.TrimRight(path, "/") + "/" + listdir.LockFile
	}
	return path
}

// notADir refuses to make a lock file at path, which is not there, if
// it names a directory: it ends in "/", or the program is given it as an
// argument, as in a crontab's "mlm-lock DIR mlm-run DIR". Such a path is
// a list directory that is missing, its file system not mounted or the
// list being restored; a lock file made there would stand where the list
// comes back, and every run after would take the list for a file.
func notADir(path string, args []string) error {
	if strings.HasSuffix(path, "/") || slices.ContainsFunc(args, func(arg string) bool {
		return arg != "" && strings.TrimRight(arg, "/") == strings.TrimRight(path, "/")
	}) {
		return sysexit.Errorf(sysexit.TempFail, "%s: no such directory; no lock file made in its place", path)
	}
	return nil
}

// dirOf is the directory the lock file is made in, as the kernel finds
// it: path less its last name, not cleaned (filepath.Dir's would be the
// text's parent, not where a ".." after a symbolic link leads).
func dirOf(path string) string {
	i := strings.LastIndexByte(strings.TrimRight(path, "/"), '/')
	switch {
	case i < 0:
		return "."
	case i == 0:
		return "/"
	}
	return path[:i]
}

// lookPath finds the program as execvp(3) would; a program that is not
// there or cannot be run is a usage error.
func lookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		return path, nil // execvp runs it too
	}
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return "", sysexit.Errorf(sysexit.Usage, "%s: not found", listdir.Name(name))
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EISDIR):
		return "", sysexit.Errorf(sysexit.Usage, "%s: not executable", name)
	}
	return "", sysexit.Temp(err)
}

// lockError names the lock file and says why it was not had.
func lockError(lock string, timeout time.Duration, err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) && timeout == 0 {
		return sysexit.Errorf(sysexit.TempFail, "%s: locked by another process", lock)
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return sysexit.Errorf(sysexit.TempFail, "%s: still locked after %v", lock, timeout)
	}
	// LockFD's own errors name the file by its last name, or name the
	// link on the way that root follows not, whole: said once.
	msg := strings.TrimPrefix(sysexit.Bare(err).Error(), filepath.Base(lock)+": ")
	if named := msg[:max(strings.Index(msg, ": "), 0)]; named != "" && strings.HasPrefix(lock, named) {
		return sysexit.Errorf(sysexit.TempFail, "%s", msg)
	}
	return sysexit.Errorf(sysexit.TempFail, "%s: %s", lock, msg)
}
