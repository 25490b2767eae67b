package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"mlm/lib/sysexit"
)

// TestNewlistReviewed: three faults a review found. A list directory
// given through a symbolic link and ".." is made, and filled, where
// mkdir made it, not in the list the path's text names once cleaned; an
// owner the owner file cannot hold (read as a comment, or trimmed into
// another address) is refused as mlm-sub refuses it; and the Exim lines
// warn of a directory name not the local part in lower case, which
// Exim's exact lookup then never finds.
func TestNewlistReviewed(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "other", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "other", "deep"), filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	bin := "/opt/mlm/bin"
	if err := run(&args{BinDir: bin, MTA: "aliases", Policy: "moderated", Dir: filepath.Join(base, "dev"), Address: "dev@lists.example.org"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(base, "dev", "stages"))
	var out bytes.Buffer
	err := run(&args{BinDir: bin, MTA: "aliases", Policy: "members", Dir: base + "/link/../dev", Address: "team@lists.example.org"}, &out)
	if b, _ := os.ReadFile(filepath.Join(base, "dev", "address")); string(b) != "dev@lists.example.org\n" {
		t.Errorf("the list at dev now has address %q (%v)", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "other", "dev", "address")); err == nil && string(b) != "team@lists.example.org\n" {
		t.Errorf("made: the new list's address is %q where mkdir made it", b)
	}
	if err == nil && !strings.Contains(out.String(), filepath.Join(base, "other", "dev")) {
		t.Errorf("the lines printed do not name where the list is:\n%s", out.String())
	}
	for _, o := range []string{"#ops@example.org", "\u00a0bob@example.org"} {
		err := run(&args{BinDir: bin, MTA: "aliases", Policy: "members", Dir: filepath.Join(base, "o"), Address: "o@lists.example.org", Owner: []string{o}}, &bytes.Buffer{})
		if sysexit.Code(err) != sysexit.Usage {
			t.Errorf("-o %q: %v; want a usage error", o, err)
		}
		os.RemoveAll(filepath.Join(base, "o"))
	}
	for dir, warned := range map[string]bool{"Dev": true, "dev": false} {
		out.Reset()
		os.MkdirAll(filepath.Join(base, "exim"), 0o755)
		if err := run(&args{BinDir: bin, MTA: "exim", Policy: "members", Dir: filepath.Join(base, "exim", dir), Address: "dev@lists.example.org"}, &out); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "# Note: the router finds a list by its directory's name"); got != warned {
			t.Errorf("exim, directory %s: warned %v; want %v", dir, got, warned)
		}
		os.RemoveAll(filepath.Join(base, "exim"))
	}
}

// FuzzPlainPath: plainPath takes what the regular expression it replaced
// took, and nothing else.
func FuzzPlainPath(f *testing.F) {
	for _, s := range []string{"/", "/srv/lists/dev", "", "srv", "/srv/my list", "/srv/a+b/c.d_e-f", "/srv/é", "//"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^/[A-Za-z0-9/._+-]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := plainPath(s), re.MatchString(s); got != want {
			t.Errorf("plainPath(%q) = %v", s, got)
		}
	})
}

// TestRootNote: the lines printed for a list that root made, and so
// owns, say first that MTAs run no program as root, whatever the MTA,
// before the lines that name root; those for a list of another user do
// not.
func TestRootNote(t *testing.T) {
	const note = "# dev@lists.example.org is ready in /srv/lists/dev.\n# Note: MTAs run no program as root, and the lines below name root"
	for _, mta := range MTAs {
		for user, want := range map[string]bool{"root": true, "mlm": false} {
			var out bytes.Buffer
			s := setup{bin: "/usr/local/bin", dir: "/srv/lists/dev", list: "dev@lists.example.org", user: user, group: user}
			if err := printSetup(&out, mta, s); err != nil {
				t.Fatal(err)
			}
			if got := strings.HasPrefix(out.String(), note); got != want {
				t.Errorf("--mta %s, run as %s: the note printed %v; want %v", mta, user, got, want)
			}
		}
	}
}

// TestNewlistLinesLost (R87 F6): lines that cannot be written (a full
// disk, a reader gone) take the list away again, 75, so that the run
// can be made again: a second run refused the directory (64), and no
// program printed the lines for the list made.
func TestNewlistLinesLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	a := &args{BinDir: "/opt/mlm/bin", MTA: "aliases", Policy: "members", Dir: dir, Address: "dev@lists.example.org"}
	err := run(a, failWriter{})
	if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "the list is not made") {
		t.Errorf("run into a failing writer: %v; want a temporary failure, the list not made", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the list directory after the failure: %v; want none", err)
	}
	var out bytes.Buffer
	if err := run(a, &out); err != nil || !strings.Contains(out.String(), "mlm-accept "+dir) {
		t.Errorf("run again: %v, %q; want the list made and its lines", err, out.String())
	}
}

// failWriter fails every write, as a full disk does.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }
