package tests

import (
	"bytes"
	"fmt"
	"mlm/lib/cookie"
	"mlm/lib/mlmtest"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eximBinary finds Exim: $MLM_EXIM (where .ci/run unpacks Debian's
// exim4-daemon-light with dpkg -x, since the package conflicts with
// Postfix), else an installed exim4.
func eximBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MLM_EXIM"), "/usr/sbin/exim4"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("exim4"); err == nil {
		return p
	}
	t.Skip("no exim4 (set MLM_EXIM)")
	return ""
}

// eximInstance runs a private Exim daemon on a loopback port with its
// own configuration, spool and log, until the test ends. The routers and
// transports are examples/exim/router and examples/exim/transport, with
// this test's paths. Exim gives up root for a configuration named with
// -C that is not in its TRUSTED_CONFIG_LIST, so it runs as its own user
// (Debian-exim), and the transport runs as that user instead of mlm.
func eximInstance(t *testing.T, lists string) (addr string, conf string, log func() string) {
	t.Helper()
	exim := eximBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("starting Exim needs root")
	}
	eu, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Skip("no Debian-exim user")
	}
	uid, _ := strconv.Atoi(eu.Uid)
	gid, _ := strconv.Atoi(eu.Gid)
	dir := openTempDir(t, "mlm-exim-") // not in lists, where it would be a list
	for _, d := range []string{dir, filepath.Join(dir, "spool"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
		os.Chown(d, uid, gid)
	}
	// As mlm-newlist --mta exim makes it: without it, the routers
	// take the lists' file system for not mounted.
	if err := os.WriteFile(filepath.Join(lists, ".mlm-lists"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(lists, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	addr = freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	example := func(name string) string {
		return strings.NewReplacer("user = mlm", "user = Debian-exim", "group = mlm", "group = Debian-exim").
			Replace(example(t, "exim/"+name, lists))
	}
	text := fmt.Sprintf(`exim_path = %[1]s
primary_hostname = lists.example.org
qualify_domain = lists.example.org
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
local_interfaces = 127.0.0.1
daemon_smtp_ports = %[3]s
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept verify = recipient
  deny

begin routers
%[4]s
begin transports
%[5]s
begin retry
*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h
`, exim, dir, port, example("router"), example("transport"))
	conf = filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	log = func() string { b, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog")); return string(b) }
	daemon := exec.Command(exim, "-C", conf, "-bdf", "-oX", port)
	var out bytes.Buffer
	daemon.Stdout, daemon.Stderr = &out, &out
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	waitFor(t, "Exim listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, conf, log
}

// TestExim: a post sent by SMTP to Exim reaches the list's incoming
// queue through the example router and pipe transport, with its
// envelope; the command addresses reach their own queues, never the
// members; an address that is not a list's is refused at RCPT; with the
// queue unwritable, or a panic in mlm-accept, Exim defers (temp_errors
// = 75), never bounces, and a queue run delivers once it is fixed.
func TestExim(t *testing.T) {
	list := newList(t)
	addr, conf, log := eximInstance(t, filepath.Dir(list))
	exim := eximBinary(t)
	send := func(from, rcpt, subject string) error {
		msg := "From: alice@example.org\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nFrom the start\r\nhello\r\n"
		return smtp.SendMail(addr, nil, from, []string{rcpt}, []byte(msg))
	}
	mustSend := func(from, rcpt, subject string) {
		t.Helper()
		if err := send(from, rcpt, subject); err != nil {
			t.Fatalf("SMTP to Exim, %s: %v\n%s", rcpt, err, log())
		}
	}
	count := func(q string) int { return len(mlmtest.Names(t, filepath.Join(list, "queue", q, "new"))) }
	flush := func() {
		t.Helper()
		if out, err := exec.Command(exim, "-C", conf, "-qff").CombinedOutput(); err != nil {
			t.Fatalf("exim -qff: %v: %s", err, out)
		}
	}

	mustSend("alice@example.org", "dev@lists.example.org", "a post")
	mustSend("alice@example.org", "dev-request@lists.example.org", "subscribe")
	mustSend("", "dev-bounces+bob=example.net@lists.example.org", "a bounce")
	mustSend("alice@example.org", "dev-owner@lists.example.org", "for the owner")
	waitFor(t, "each in its queue", func() bool {
		return count("incoming") == 1 && count("requests") == 1 && count("bounces") == 1 && count("owner") == 1
	})
	if err := send("alice@example.org", "nolist@lists.example.org", "nowhere"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("mail to a local part that is no list: %v; want 550 at RCPT", err)
	}
	// "." and ".." name directories too (the lists' one and its parent),
	// never lists: refused at RCPT, nothing run on them.
	for _, l := range []string{`"."`, `".."`} {
		if err := send("alice@example.org", l+"@lists.example.org", "dots"); err == nil || !strings.Contains(err.Error(), "550") {
			t.Errorf("mail to %s@: %v; want 550 at RCPT", l, err)
		}
	}
	// A file system's lost+found is no list: refused at RCPT, not
	// taken by the transport, where mlm-accept would defer it for
	// days (R78).
	if err := os.Mkdir(filepath.Join(filepath.Dir(list), "lost+found"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := send("alice@example.org", "lost+found@lists.example.org", "lost"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("mail to lost+found@: %v; want 550 at RCPT", err)
	}
	// A list directory that is a symbolic link (to another file system)
	// is a list: taken, where dsearch's filter=subdir refused it at RCPT
	// (R98 F2). A file among the lists is not, nor the mark.
	other := openTempDir(t, "mlm-other-")
	if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), filepath.Join(other, "linked"), "linked@lists.example.org").CombinedOutput(); err != nil {
		t.Fatalf("mlm-newlist: %v: %s", err, out)
	}
	if st, err := os.Stat(list); err == nil { // Exim's user's, as eximInstance made it
		sys := st.Sys().(*syscall.Stat_t)
		filepath.Walk(other, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, int(sys.Uid), int(sys.Gid)) })
	}
	if err := os.Symlink(filepath.Join(other, "linked"), filepath.Join(filepath.Dir(list), "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(list), "afile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSend("alice@example.org", "linked@lists.example.org", "to a linked list")
	waitFor(t, "the linked list's post", func() bool {
		return len(mlmtest.Names(t, filepath.Join(other, "linked", "queue", "incoming", "new"))) == 1
	})
	for _, l := range []string{"afile", ".mlm-lists", "afile+x"} {
		if err := send("alice@example.org", l+"@lists.example.org", "a file"); err == nil || !strings.Contains(err.Error(), "550") {
			t.Errorf("mail to %s@: %v; want 550 at RCPT", l, err)
		}
	}
	// A list that is a symbolic link to nothing (its file system not
	// mounted), or a loop, is deferred at RCPT, as mlm-accept defers it:
	// it was refused for good, and each address wrote a line to Exim's
	// paniclog (R100 F2).
	mlmtest.Fault(t, "disk", "a list directory that is a symbolic link to nothing (its file system not mounted), or a loop, under Exim's routers", "451 at RCPT for each of its addresses, no paniclog line")
	os.Symlink(filepath.Join(other, "gone"), filepath.Join(filepath.Dir(list), "gone"))
	os.Symlink("loop", filepath.Join(filepath.Dir(list), "loop"))
	for _, l := range []string{"gone", "gone+x", "gone-request", "gone-bounces+a=example.net", "loop"} {
		if err := send("alice@example.org", l+"@lists.example.org", "gone"); err == nil || !strings.Contains(err.Error(), "451") {
			t.Errorf("mail to %s@: %v; want 451 at RCPT", l, err)
		}
	}
	// (Exim started with -C writes a line there of its own.)
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(conf), "log", "paniclog")); strings.Contains(string(b), "failed to expand") {
		t.Errorf("Exim's paniclog:\n%s", b)
	}
	// A list directory Exim's user may not search (made under a umask
	// of 077, another user's): found by its name all the same, not
	// refused at RCPT (R80). (RCPT alone: mlm-accept, run as Exim's
	// user here, could not take it either.)
	priv := filepath.Join(filepath.Dir(list), "priv")
	if err := os.Mkdir(priv, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := rcptOnly(addr, "priv@lists.example.org"); err != nil {
		t.Errorf("RCPT to a list Exim's user cannot search: %v; want it taken", err)
	}
	os.Remove(priv)
	// The lists' file system not mounted (the lists and the mark gone,
	// as from an empty mount point): the domain's mail is deferred at
	// RCPT, not refused for good, the lists' and any other.
	mark := filepath.Join(filepath.Dir(list), ".mlm-lists")
	os.Rename(mark, mark+".off")
	os.Rename(list, list+".off")
	for _, rcpt := range []string{"dev@lists.example.org", "dev-bounces+bob=example.net@lists.example.org", "nolist@lists.example.org"} {
		if err := send("alice@example.org", rcpt, "unmounted"); err == nil || !strings.Contains(err.Error(), "451") {
			t.Errorf("mail to %s with no mark: %v; want 451 at RCPT", rcpt, err)
		}
	}
	os.Rename(mark+".off", mark)
	os.Rename(list+".off", list)
	rec := func(q string) string {
		t.Helper()
		names := mlmtest.Names(t, filepath.Join(list, "queue", q, "new"))
		b, err := os.ReadFile(filepath.Join(list, "queue", q, "new", names[0]))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	post := rec("incoming")
	for _, want := range []string{"\nS <alice@example.org>\n", "\nA orig-rcpt=dev@lists.example.org\n", "\n:From the start\n:hello\n"} {
		if !strings.Contains(post, want) {
			t.Errorf("the post's record lacks %q:\n%s", want, post)
		}
	}
	// Exim's own Received field comes first, nothing before it.
	if _, body, _ := strings.Cut(post, "\n:"); !strings.HasPrefix(body, "Received: from ") {
		t.Errorf("message does not start with Exim's Received field:\n%s", post)
	}
	if b := rec("bounces"); !strings.Contains(b, "\nS <>\n") || !strings.Contains(b, "dev-bounces+bob=example.net@lists.example.org") {
		t.Errorf("the bounce's record lacks the null sender or its VERP address:\n%s", b)
	}

	tmp := filepath.Join(list, "queue", "incoming", "tmp")
	st, _ := os.Stat(tmp)
	os.Chown(tmp, 0, 0)
	os.Chmod(tmp, 0o700)
	mustSend("alice@example.org", "dev@lists.example.org", "while broken")
	waitFor(t, "a deferral", func() bool { return strings.Contains(log(), "returned 75") })
	if !strings.Contains(log(), "4.3.0 mlm-accept: ") {
		t.Errorf("the deferral does not log mlm-accept's line:\n%s", log())
	}
	os.Chown(tmp, int(st.Sys().(*syscall.Stat_t).Uid), -1)
	flush()
	waitFor(t, "the deferred post delivered", func() bool { return count("incoming") == 2 })

	// A panic in mlm-accept is a deferral too: exit 75.
	b, _ := os.ReadFile(conf)
	panicking := strings.Replace(string(b), "  driver = pipe\n", "  driver = pipe\n  environment = MLM_TEST_PANIC=mlm-accept\n", 1)
	os.WriteFile(conf, []byte(panicking), 0o644)
	mustSend("alice@example.org", "dev@lists.example.org", "panics")
	waitFor(t, "a deferral by panic", func() bool { return strings.Contains(log(), "mlm-accept: internal error") })
	os.WriteFile(conf, b, 0o644)
	flush()
	waitFor(t, "the post delivered after the panic", func() bool { return count("incoming") == 3 })

	if strings.Contains(log(), " ** ") {
		t.Errorf("Exim failed a delivery:\n%s", log())
	}
	if count("requests") != 1 || count("outgoing") != 0 {
		t.Errorf("requests %d, outgoing %d; want 1, 0", count("requests"), count("outgoing"))
	}

	// Killed by a signal it cannot catch (SIGKILL, as the OOM killer
	// sends), mlm-accept leaves the post to Exim, which freezes it
	// (freeze_signal) for the postmaster to thaw, where it bounced it.
	killed := strings.Replace(string(b), "  driver = pipe\n", "  driver = pipe\n  environment = MLM_CRASH=queue-after-write\n", 1)
	os.WriteFile(conf, []byte(killed), 0o644)
	mustSend("alice@example.org", "dev@lists.example.org", "killed")
	frozen := regexp.MustCompile(`(?m)^\S+ \S+ (\S+) Frozen`)
	waitFor(t, "the killed post frozen", func() bool { return frozen.MatchString(log()) })
	if strings.Contains(log(), " ** ") {
		t.Errorf("Exim failed the delivery of a killed mlm-accept:\n%s", log())
	}
	os.WriteFile(conf, b, 0o644)
	id := frozen.FindStringSubmatch(log())[1]
	if out, err := exec.Command(exim, "-C", conf, "-Mt", id).CombinedOutput(); err != nil {
		t.Fatalf("exim -Mt %s: %v: %s", id, err, out)
	}
	flush()
	waitFor(t, "the thawed post delivered", func() bool { return count("incoming") == 4 })

	// An mlm-accept that is not there (not installed yet, or
	// mid-upgrade, as install(1) replaces it) or not executable: Exim's
	// child returns 127, and temp_errors defers it, where Exim bounced
	// the post (R78).
	for i, broken := range []string{
		strings.Replace(string(b), binDir+"/mlm-accept", binDir+"/missing/mlm-accept", 1),
		strings.Replace(string(b), binDir+"/mlm-accept", "/etc/hostname", 1),
	} {
		if broken == string(b) {
			t.Fatalf("the transport's command is not %s/mlm-accept:\n%s", binDir, b)
		}
		os.WriteFile(conf, []byte(broken), 0o644)
		before := strings.Count(log(), "returned 12")
		mustSend("alice@example.org", "dev@lists.example.org", "no program")
		waitFor(t, "a deferral for want of mlm-accept", func() bool { return strings.Count(log(), "returned 12") > before })
		if strings.Contains(log(), " ** ") {
			t.Errorf("Exim failed a delivery with no mlm-accept to run:\n%s", log())
		}
		os.WriteFile(conf, b, 0o644)
		flush()
		waitFor(t, "the post delivered once mlm-accept is back", func() bool { return count("incoming") == 5+i })
	}
}

// rcptOnly asks the SMTP server at addr to take rcpt, from alice, and
// sends no message: the error of RCPT, if any.
func rcptOnly(addr, rcpt string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("alice@example.org"); err != nil {
		return err
	}
	err = c.Rcpt(rcpt)
	c.Reset()
	c.Quit()
	return err
}

// TestEximAddresses: the example routers take every address that
// mlm-accept(1) puts in a queue, tagged ones too, and only those: the
// post's dev+tag (and dev+a+b, and a tag holding a command's name), a
// command's with a +tag (dev-request+x), the VERP and cookie addresses,
// those of a list whose name holds a "-" (dev-team, beside dev) or a
// "+" (c++, whose own address the +* suffix must not cut), each in its
// list's queue; an address that is no list's, tagged or not, and "."
// or ".." with a tag, are refused at RCPT. Exim cuts a "+*" suffix at
// the first "+" in the local part, so c++ takes no tag of its own
// (c+++tag@ is list c's, here none, so refused), as mlm-accept(1) says.
func TestEximAddresses(t *testing.T) {
	lists := openTempDir(t, "mlm-lists-")
	for _, l := range []string{"dev", "dev-team", "cpp"} {
		if out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), filepath.Join(lists, l), l+"@lists.example.org").CombinedOutput(); err != nil {
			t.Fatalf("mlm-newlist %s: %v: %s", l, err, out)
		}
	}
	// mlm-newlist makes no list with a "+" in its name; mlm-listdir(5)
	// takes one.
	if err := os.Rename(filepath.Join(lists, "cpp"), filepath.Join(lists, "c++")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lists, "c++", "address"), []byte("c++@lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Answers to a post held in dev and in c++ (mlm-accept refuses one
	// that answers none).
	answer := func(list, address, action string) string {
		dir := filepath.Join(lists, list)
		secret, err := os.ReadFile(filepath.Join(dir, "secret"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "queue", "hold", "new", "h1"), []byte("MLM1 h1\nS <a@example.org>\n:\nE 0\n"), 0o600)
		local, _, _ := strings.Cut(address, "@")
		return local + "-" + action + "+" + cookie.Make([]byte(strings.TrimSpace(string(secret))), action, address, "h1", time.Now().Add(time.Hour))
	}
	addr, _, log := eximInstance(t, lists)
	send := func(rcpt string) error {
		msg := "From: alice@example.org\r\nTo: " + rcpt + "\r\nSubject: routes\r\n\r\nhello\r\n"
		return smtp.SendMail(addr, nil, "alice@example.org", []string{rcpt}, []byte(msg))
	}
	// Each address accepted, by list and queue.
	want := map[string][]string{
		"dev/incoming":      {"dev+tag", "dev+a+b", "dev+x-bounces+y", "dev+x-request"},
		"dev/bounces":       {"dev-bounces+o'brien=example.net", "dev-bounces+a+b=example.net", "dev-bounces+x-owner+y=example.net"},
		"dev/moderate":      {answer("dev", "dev@lists.example.org", "accept"), answer("dev", "dev@lists.example.org", "reject"), answer("dev", "dev@lists.example.org", "drop")},
		"dev/requests":      {"dev-request", "dev-request+x", "dev-subscribe+x", "dev-unsubscribe+x"},
		"dev/owner":         {"dev-owner+x"},
		"dev-team/incoming": {"dev-team", "dev-team+x"},
		"dev-team/requests": {"dev-team-request", "dev-team-request+x"},
		"c++/incoming":      {"c++"},
		"c++/requests":      {"c++-request", "c++-request+x"},
		"c++/bounces":       {"c++-bounces+bob=example.net"},
		"c++/moderate":      {answer("c++", "c++@lists.example.org", "accept")},
	}
	for _, rcpts := range want {
		for _, r := range rcpts {
			if err := send(r + "@lists.example.org"); err != nil {
				t.Errorf("SMTP to Exim, %s@: %v", r, err)
			}
		}
	}
	for _, r := range []string{"nolist", "nolist+x", "dev-nosuch", "dev-nosuch+x", "+x", "-bounces+x", "c+++tag",
		`"."`, `".."`, `".+x"`, `"..+x"`, `"-request+x"`} {
		if err := send(r + "@lists.example.org"); err == nil || !strings.Contains(err.Error(), "550") {
			t.Errorf("mail to %s@: %v; want 550 at RCPT", r, err)
		}
	}
	if t.Failed() {
		t.Fatalf("Exim's log:\n%s", log())
	}
	got := func(lq string) []string {
		list, q, _ := strings.Cut(lq, "/")
		dir := filepath.Join(lists, list, "queue", q, "new")
		var rcpts []string
		for _, n := range mlmtest.Names(t, dir) {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			if m := regexp.MustCompile(`\nA orig-rcpt=(.*)@lists\.example\.org\n`).FindSubmatch(b); m != nil {
				rcpts = append(rcpts, string(m[1]))
			}
		}
		slices.Sort(rcpts)
		return rcpts
	}
	waitFor(t, "each in its list's queue", func() bool {
		for lq, rcpts := range want {
			if len(got(lq)) != len(rcpts) {
				return false
			}
		}
		return true
	})
	for lq, rcpts := range want {
		slices.Sort(rcpts)
		if g := got(lq); !slices.Equal(g, rcpts) {
			t.Errorf("%s holds %q; want %q", lq, g, rcpts)
		}
	}
	if strings.Contains(log(), " ** ") {
		t.Errorf("Exim failed a delivery:\n%s", log())
	}
}

// TestEximListTwice: a post whose recipients name the list three ways,
// "dev@", "DEV@" and "dev+x@", in one transaction, which Exim hands
// over to mlm-accept three times (it folds no case), is queued once:
// every member got it three times (R98 F1). Another post from the same
// sender is queued too.
func TestEximListTwice(t *testing.T) {
	mlmtest.Fault(t, "input", "a post whose recipients name the list three ways (dev@, DEV@, dev+x@), through Exim, which hands it over three times", "queued once, each hand-off exit 0")
	list := newList(t)
	addr, _, log := eximInstance(t, filepath.Dir(list))
	count := func() int { return len(mlmtest.Names(t, filepath.Join(list, "queue", "incoming", "new"))) }
	rcpts := []string{"dev@lists.example.org", "DEV@lists.example.org", "dev+x@lists.example.org"}
	for i, id := range []string{"<twice.1@example.org>", "<twice.2@example.org>"} {
		msg := "From: alice@example.org\r\nTo: dev@lists.example.org\r\nCc: DEV@lists.example.org, dev+x@lists.example.org\r\n" +
			"Subject: twice\r\nMessage-ID: " + id + "\r\n\r\nhello\r\n"
		if err := smtp.SendMail(addr, nil, "alice@example.org", rcpts, []byte(msg)); err != nil {
			t.Fatalf("SMTP to Exim: %v\n%s", err, log())
		}
		// Done with the message: its three deliveries logged, then
		// Completed (one line a message).
		waitFor(t, "the post's deliveries", func() bool { return strings.Count(log(), " Completed") == i+1 })
		if n := count(); n != i+1 {
			t.Fatalf("%d posts queued after post %d; want %d\n%s", n, i+1, i+1, log())
		}
	}
	if n := strings.Count(log(), " => "); n != 6 {
		t.Errorf("%d deliveries logged; want 6, three a post\n%s", n, log())
	}
	// What mlm-accept said of each copy, with exit 0, is in Exim's log
	// (log_output): else nothing shows it (R102 F1).
	if n := strings.Count(log(), "taken, not queued again"); n != 4 {
		t.Errorf("%d copies logged; want 4, two a post\n%s", n, log())
	}
}

// TestEximBSMTP: the Batch SMTP mlm-bsmtp writes is taken whole by Exim's
// -bS, records whose paths carry ESMTP parameters too (which -bS refuses,
// and the rest of the batch with them): every message reaches Exim's
// delivery, byte for byte in its body. A local part that is not ASCII
// goes as it is after HELO: -bS takes it so, and refuses SMTPUTF8 even
// after EHLO ("SMTPUTF8 may not follow"), as it refuses every parameter.
// A domain that is not ASCII goes as A-labels, which -bS takes, where it
// refused it as it is, with the rest of the batch (R88 F1): a verp=yes
// record's recipients after it, and the records after that, were never
// delivered, and the record's transactions before it were sent at each
// run again.
func TestEximBSMTP(t *testing.T) {
	mlmtest.Fault(t, "input", "a domain not ASCII, ESMTP parameters, in records mlm-bsmtp writes for exim -bS",
		"the domain as A-labels, the parameters left out: Exim takes the whole batch, every recipient of a verp=yes record delivered")
	exim := eximBinary(t)
	if os.Geteuid() != 0 {
		t.Skip("Exim's -bS with a configuration of its own needs root")
	}
	dir := openTempDir(t, "mlm-exim-bs-")
	for _, d := range []string{"spool", "log", "mail"} {
		os.MkdirAll(filepath.Join(dir, d), 0o777)
		os.Chmod(filepath.Join(dir, d), 0o777)
	}
	conf := filepath.Join(dir, "exim.conf")
	text := fmt.Sprintf(`exim_path = %[1]s
primary_hostname = lists.example.org
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
keep_environment =
begin routers
all:
  driver = accept
  transport = file
begin transports
file:
  driver = appendfile
  file = %[2]s/mail/all
  user = Debian-exim
`, exim, dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	in := "MLM1 a1\nS <a@b.example> BODY=8BITMIME\n:Subject: one\n:\n:.dot\nR <c@d.example> NOTIFY=FAILURE ORCPT=rfc822;c@d.example\nE 1\n" +
		"MLM1 a2\nS <> RET=HDRS\n:Subject: two\n:\n;no end\nR <e@d.example>\nE 1\n" +
		"MLM1 a3\nS <jörg@b.example> SMTPUTF8\n:Subject: three\n:\n:ü\nR <zoë@d.example>\nE 1\n" +
		"MLM1 a4\nA verp=yes\nS <dev-bounces@bü.example>\n:Subject: four\n:\n:x\nR <f@d.example>\nR <bob@bü.example>\nR <g@d.example>\nE 3\n" +
		"MLM1 a5\nS <a@b.example>\n:Subject: five\n:\n:y\nR <h@d.example>\nE 1\n"
	bsmtp := mlm(t, in, nil, "mlm-bsmtp", "-H", "h.example")
	cmd := exec.Command(exim, "-C", conf, "-odi", "-bS")
	cmd.Stdin = strings.NewReader(bsmtp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("exim -bS: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "mail", "all"))
	if err != nil {
		mainlog, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
		paniclog, _ := os.ReadFile(filepath.Join(dir, "log", "paniclog"))
		t.Fatalf("nothing delivered: %v\nmainlog:\n%s\npaniclog:\n%s", err, mainlog, paniclog)
	}
	for _, want := range []string{"for c@d.example;", "Subject: one\n", "\n\n.dot\n", "for e@d.example;", "Subject: two\n", "\n\nno end\n",
		"(envelope-from <jörg@b.example>)", "for zoë@d.example;", "Subject: three\n", "\n\nü\n",
		"for f@d.example;", "for bob@xn--b-eha.example;", "(envelope-from <dev-bounces+bob=xn--b-eha.example@xn--b-eha.example>)",
		"for g@d.example;", "Subject: four\n", "for h@d.example;", "Subject: five\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("delivered mail lacks %q:\n%s", want, b)
		}
	}
}
