package durable

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mlm/lib/sysexit"
)

func TestCommit(t *testing.T) {
	dir := t.TempDir()
	tmp, final := filepath.Join(dir, ".tmp"), filepath.Join(dir, "f")
	f, err := Create(tmp, final)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello"))
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("final name visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(final); string(b) != "hello" {
		t.Errorf("content = %q", b)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind")
	}
	if _, err := Create(final, final); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Create over an existing file = %v; want temporary error", err)
	}
}

func TestCommitFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".tmp")
	f, err := Create(tmp, filepath.Join(dir, "missing", "f"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Commit into a missing directory = %v; want temporary error", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind")
	}
}

// TestCommitNotOverDevice: Commit renames over a regular file or a
// symbolic link, but not over anything else: a FIFO here, as /dev/null
// would be for root (mlm-accept -o /dev/null made it a regular file).
func TestCommitNotOverDevice(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	f, err := Create(Beside(fifo), fifo)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	if err := f.Commit(); sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Commit over a FIFO = %v; want a temporary error", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v, %v", fi, err)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, ".*")); len(n) != 0 {
		t.Errorf("temporary file left behind: %v", n)
	}
	link := filepath.Join(dir, "link")
	os.Symlink("elsewhere", link)
	f, _ = Create(Beside(link), link)
	f.Write([]byte("y"))
	if err := f.Commit(); err != nil {
		t.Errorf("Commit over a symbolic link: %v", err)
	}
	if b, _ := os.ReadFile(link); string(b) != "y" {
		t.Errorf("link = %q; want the new file", b)
	}
}

func TestCommitNew(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "f")
	for i, want := range []bool{false, true} {
		f, err := Create(filepath.Join(dir, ".tmp"), final)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{'a' + byte(i)})
		existed, err := f.CommitNew()
		if err != nil || existed != want {
			t.Fatalf("CommitNew #%d = %v, %v; want %v", i, existed, err, want)
		}
	}
	if b, _ := os.ReadFile(final); string(b) != "a" {
		t.Errorf("content = %q; want the first writer's", b)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind")
	}
}

// TestBeside: the temporary name is in final's directory, hidden, and
// a file name however long final's is; Create and Commit take it.
func TestBeside(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{"x", strings.Repeat("y", 255)} {
		final := filepath.Join(dir, base)
		tmp := Beside(final)
		if filepath.Dir(tmp) != dir || !strings.HasPrefix(filepath.Base(tmp), ".") || len(filepath.Base(tmp)) > 255 {
			t.Errorf("Beside(%d octets) = %q", len(base), tmp)
		}
		f, err := Create(tmp, final)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("z"))
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(final); string(b) != "z" || err != nil {
			t.Errorf("%d octets: %q, %v", len(base), b, err)
		}
	}
}

// TestMkdirAll: the directories missing are made, and the one each was
// made in is fsynced; one there already costs nothing; a file in the way
// is an error.
func TestMkdirAll(t *testing.T) {
	var synced []string
	syncDir = func(dir string) error { synced = append(synced, dir); return SyncDir(dir) }
	defer func() { syncDir = SyncDir }()
	top := t.TempDir()
	dir := filepath.Join(top, "state", "journal")
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("not made: %v", err)
	}
	if want := []string{top, filepath.Join(top, "state")}; !slices.Equal(synced, want) {
		t.Errorf("synced %q; want %q", synced, want)
	}
	synced = nil
	if err := MkdirAll(dir, 0o700); err != nil || synced != nil {
		t.Errorf("again: %v, synced %q; want nothing done", err, synced)
	}
	file := filepath.Join(top, "f")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirAll(filepath.Join(file, "d"), 0o700); err == nil {
		t.Errorf("under a file: no error")
	}
}

// TestCommitNewUnless: a name taken before the link is not published;
// one taken between the look and the link (a queue's record claimed
// then) is taken back, and the name another process published stays.
func TestCommitNewUnless(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "new")
	for _, tc := range []struct {
		name  string
		looks []bool // what taken answers, in turn
		want  bool   // published
	}{
		{"not taken", []bool{false, false}, true},
		{"taken before", []bool{true}, false},
		{"taken between", []bool{false, true}, false},
	} {
		os.Remove(final)
		f, err := Create(filepath.Join(dir, "tmp."+tc.name), final)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		looks := tc.looks
		existed, err := f.CommitNewUnless(func() bool { b := looks[0]; looks = looks[1:]; return b })
		_, lerr := os.Lstat(final)
		if err != nil || existed == tc.want || (lerr == nil) != tc.want || len(looks) != 0 {
			t.Errorf("%s: existed %v, %v, published %v, %d looks left; want published %v", tc.name, existed, err, lerr == nil, len(looks), tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != map[bool]int{true: 1, false: 0}[tc.want] {
			t.Errorf("%s: %d files left in the directory", tc.name, len(ents))
		}
	}
	// Another's name: existed, and it stays.
	os.WriteFile(final, []byte("theirs"), 0o600)
	f, _ := Create(filepath.Join(dir, "tmp.theirs"), final)
	f.Write([]byte("ours"))
	if existed, err := f.CommitNewUnless(func() bool { return false }); !existed || err != nil {
		t.Errorf("over another's name: existed %v, %v", existed, err)
	}
	if b, _ := os.ReadFile(final); string(b) != "theirs" {
		t.Errorf("another's name holds %q", b)
	}
}

// TestLeftovers: Leftovers removes the temporary files of its file
// (Beside's names), those over the age given or all of them for 0, and
// nothing else: not the file, another file's, nor a directory.
func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "password")
	leave := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := leave(filepath.Base(Beside(final)), 2*time.Hour)
	young := leave(filepath.Base(Beside(final)), 0)
	others := []string{leave("password", 2*time.Hour), leave(".passwords.tmp1.00000000", 2*time.Hour),
		leave(".address.tmp1.00000000", 2*time.Hour), leave("password.tmp1", 2*time.Hour)}
	sub := filepath.Join(dir, ".password.tmp2.00000000")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	others = append(others, sub)
	there := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	Leftovers(final, time.Hour)
	if there(old) || !there(young) {
		t.Errorf("Leftovers(an hour): the old one there %v (want false), the young one %v (want true)", there(old), there(young))
	}
	Leftovers(final, 0)
	if there(young) {
		t.Errorf("Leftovers(0) left the young one")
	}
	for _, p := range others {
		if !there(p) {
			t.Errorf("Leftovers removed %s, no temporary file of %s", filepath.Base(p), filepath.Base(final))
		}
	}
}
