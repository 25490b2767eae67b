package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// programs lists the directories under filters/.
func programs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "filters"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, e := range ents {
		if e.IsDir() {
			ps = append(ps, e.Name())
		}
	}
	return ps
}

func readMan(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "man", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestManPages: every program has a page, every page a program; every
// flag --help shows is on the page; every cross-reference resolves;
// every page has an EXIT STATUS with codes mlm uses.
func TestManPages(t *testing.T) {
	progs := programs(t)
	pages, _ := filepath.Glob(filepath.Join(root, "man", "*.[157]"))
	for _, p := range pages {
		name := filepath.Base(p)
		if strings.HasSuffix(name, ".1") && !slices.Contains(progs, strings.TrimSuffix(name, ".1")) {
			t.Errorf("man/%s has no program", name)
		}
	}
	flag := regexp.MustCompile(`(?m)^\s+(?:-([a-zA-Z]), )?--([a-z-]+)`)
	for _, prog := range progs {
		page := readMan(t, prog+".1")
		out, err := exec.Command(filepath.Join(binDir, prog), "--help").Output()
		if err != nil {
			t.Fatalf("%s --help: %v", prog, err)
		}
		for _, m := range flag.FindAllStringSubmatch(string(out), -1) {
			if !strings.Contains(page, "Fl -"+m[2]) {
				t.Errorf("man/%s.1 lacks --%s", prog, m[2])
			}
			if m[1] != "" && !regexp.MustCompile(`Fl `+m[1]+`\b`).MatchString(page) {
				t.Errorf("man/%s.1 lacks -%s", prog, m[1])
			}
		}
	}
	xr := regexp.MustCompile(`\.Xr (mlm[a-z-]*) ([157])`)
	code := regexp.MustCompile(`(?m)^\.It ([0-9]+)$`)
	allowed := []string{"0", "1", "64", "65", "67", "75", "77"}
	for _, p := range pages {
		page := readMan(t, filepath.Base(p))
		for _, m := range xr.FindAllStringSubmatch(page, -1) {
			if _, err := os.Stat(filepath.Join(root, "man", m[1]+"."+m[2])); err != nil {
				t.Errorf("%s: .Xr %s %s points nowhere", filepath.Base(p), m[1], m[2])
			}
		}
		i := strings.Index(page, ".Sh EXIT STATUS")
		if i < 0 {
			t.Errorf("%s has no EXIT STATUS", filepath.Base(p))
			continue
		}
		sect := page[i:]
		if j := strings.Index(sect[1:], ".Sh "); j >= 0 {
			sect = sect[:j+1]
		}
		for _, m := range code.FindAllStringSubmatch(sect, -1) {
			if !slices.Contains(allowed, m[1]) {
				t.Errorf("%s: exit status %s is not one mlm uses", filepath.Base(p), m[1])
			}
		}
		for _, s := range []string{"NAME", "DESCRIPTION", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"} {
			if !strings.Contains(page, ".Sh "+s) && filepath.Ext(p) != ".5" {
				t.Errorf("%s has no %s section", filepath.Base(p), s)
			}
		}
	}
}

// TestToolLists: mlm(7) and README.md list exactly the programs.
func TestToolLists(t *testing.T) {
	progs := programs(t)
	overview := readMan(t, "mlm.7")
	for _, p := range progs {
		if !strings.Contains(overview, ".It Xr "+p+" 1") {
			t.Errorf("mlm(7) does not list %s", p)
		}
	}
	for _, m := range regexp.MustCompile(`\.It Xr (mlm-[a-z]+) 1`).FindAllStringSubmatch(overview, -1) {
		if !slices.Contains(progs, m[1]) {
			t.Errorf("mlm(7) lists %s, which is not a program", m[1])
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^- `(mlm-[a-z]+)`").FindAllStringSubmatch(string(readme), -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(listed)
	if !slices.Equal(listed, progs) {
		t.Errorf("README.md lists %v; the programs are %v", listed, progs)
	}
}

// TestListdirFiles: the FILES of mlm-listdir(5) names every file and
// directory its description does, each queue as a directory.
func TestListdirFiles(t *testing.T) {
	page := readMan(t, "mlm-listdir.5")
	i := strings.Index(page, ".Sh FILES")
	if i < 0 {
		t.Fatal("mlm-listdir.5 has no FILES")
	}
	files := page[i:]
	if j := strings.Index(files[1:], ".Sh "); j >= 0 {
		files = files[:j+1]
	}
	tokens := strings.Fields(files)
	named := func(name string) bool {
		for _, tok := range tokens {
			if tok == name || strings.HasSuffix(tok, "/"+name) ||
				strings.HasSuffix(name, "/") && strings.HasPrefix(tok, name) {
				return true
			}
		}
		return false
	}
	desc := page[:i]
	queues := false
	for _, m := range regexp.MustCompile(`(?m)^\.It Pa (.+)$`).FindAllStringSubmatch(desc, -1) {
		for _, name := range strings.Split(m[1], " , ") {
			switch name {
			case "queue/":
				queues = true
			case "state/":
				queues = false
			}
			if queues && name != "queue/" {
				name += "/"
			}
			if !named(name) {
				t.Errorf("mlm-listdir(5) describes %s, and its FILES does not name it", name)
			}
		}
	}
}
