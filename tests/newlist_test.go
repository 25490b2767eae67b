package tests

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

// TestNewlistMTA: what `mlm-newlist --mta M` prints for a list is what
// the files of examples/ for M hold (comments aside), with the list's
// paths, user and group, and the crontab of examples/cron: the examples
// the other tests run through the real programs are the lines a site
// gets.
func TestNewlistMTA(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]string{
		"aliases":  {"postfix/aliases"},
		"postfix":  {"postfix/master.cf", "postfix/main.cf", "postfix/transport"},
		"exim":     {"exim/router", "exim/transport"},
		"qmail":    {"qmail/.qmail-dev", "qmail/.qmail-dev-default"},
		"procmail": {"procmail/procmailrc"},
		"maildrop": {"maildrop/mailfilter"},
	}
	for mta, names := range files {
		t.Run(mta, func(t *testing.T) {
			base := openTempDir(t, "mlm-newlist-")
			out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), "--mta", mta, "-b", "/usr/local/bin",
				filepath.Join(base, "dev"), "dev@lists.example.org").Output()
			if err != nil {
				t.Fatalf("mlm-newlist: %v", err)
			}
			got := strings.NewReplacer(base, "/srv/lists",
				"user="+u.Username+" ", "user=mlm ", "user = "+u.Username+"\n", "user = mlm\n",
				"group = "+g.Name+"\n", "group = mlm\n").Replace(string(out))
			var want []string
			for _, name := range append(names, "cron/crontab") {
				b, err := os.ReadFile(filepath.Join(root, "examples", name))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, configLines(string(b))...)
			}
			if g, w := strings.Join(configLines(got), "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("mlm-newlist --mta %s prints:\n%s\nwant the lines of %v:\n%s", mta, g, names, w)
			}
		})
	}
}

// configLines returns the lines of text that are neither comments nor
// empty, with their white space made single spaces.
func configLines(text string) []string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return lines
}

// TestNewlistFsyncParent: mlm-newlist fsyncs the directory it made the
// list directory in, before exit 0, so that the list, whose MTA lines
// the site then installs, is not gone after a power loss; it fsynced
// every file and directory inside the list directory, but not the
// list directory's own name (strace).
func TestNewlistFsyncParent(t *testing.T) {
	mlmtest.Fault(t, "crash", "power loss after mlm-newlist (strace)", "the parent of the list directory fsynced after the mkdir, before exit 0")
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	base := openTempDir(t, "mlm-newlist-")
	dir := filepath.Join(base, "dev")
	log := straceLog(t, "trace=mkdirat,openat,fsync,exit_group", filepath.Join(binDir, "mlm-newlist"), dir, "dev@lists.example.org")
	mkdir := regexp.MustCompile(`mkdirat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `", `)
	if err := syncedAfter(log, mkdir, base); err != nil {
		t.Error(err)
	}
}

// TestNewlistLinkedBin (R87 F2): without -b, the printed lines name the
// directory mlm-newlist was run from, by its path or through PATH, where
// it is a link into a versioned install, as GNU Stow makes: not the
// version's directory, which an upgrade removes with every MTA and cron
// line that named it. A directory without mlm-accept is not taken: the
// one the program is in is.
func TestNewlistLinkedBin(t *testing.T) {
	base := openTempDir(t, "mlm-newlist-")
	links := filepath.Join(base, "bin")
	if err := os.Mkdir(links, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"mlm-newlist", "mlm-accept"} {
		if err := os.Symlink(filepath.Join(binDir, p), filepath.Join(links, p)); err != nil {
			t.Fatal(err)
		}
	}
	real, err := filepath.EvalSymlinks(binDir)
	if err != nil {
		t.Fatal(err)
	}
	lonely := filepath.Join(base, "lonely")
	if err := os.Mkdir(lonely, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(binDir, "mlm-newlist"), filepath.Join(lonely, "mlm-newlist")); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name, path, want string
	}{
		{filepath.Join(links, "mlm-newlist"), "", links},
		{"mlm-newlist", links + string(os.PathListSeparator) + os.Getenv("PATH"), links},
		{filepath.Join(lonely, "mlm-newlist"), "", real},
	} {
		cmd := exec.Command(c.name, "--mta", "exim", filepath.Join(base, "l"+string(rune('0'+i))), "dev@lists.example.org")
		if c.path != "" {
			// Args[0] stays the bare name, as a shell gives it.
			cmd.Path, cmd.Err = filepath.Join(links, "mlm-newlist"), nil
			cmd.Env = append(os.Environ(), "PATH="+c.path)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := "command = " + c.want + "/mlm-accept "; !strings.Contains(string(out), want) {
			t.Errorf("%s (PATH %q): printed\n%s\nwant %q", c.name, c.path, out, want)
		}
	}
}

// TestNewlistDiskFull (R90 F8): a list directory that cannot be filled
// (a full disk, no inode left) is taken away again, 75, so that a run
// again can make it: it stayed half made, and every run again was
// refused, "exists already" (64).
func TestNewlistDiskFull(t *testing.T) {
	mnt := openTempDir(t, "mlm-newlist-full-")
	diskTmpfs("size=16k,nr_inodes=40")(t, mnt)
	dir := filepath.Join(mnt, "dev")
	for try := 1; try <= 2; try++ {
		cmd := exec.Command(filepath.Join(binDir, "mlm-newlist"), dir, "dev@lists.example.org")
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 75 {
			t.Fatalf("try %d: mlm-newlist on a full file system: %v, exit %d: %s; want 75", try, err, code, out)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("try %d: the list directory after the failure: %v; want none", try, err)
		}
	}
}
