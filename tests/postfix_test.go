package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postfixInstance runs a private Postfix (Debian's package) on a loopback
// port, with its own configuration, queue and aliases, until the test
// ends. It delivers the list's addresses to mlm-accept through local(8)
// aliases, as a site would. Root is needed to start Postfix.
func postfixInstance(t *testing.T, list string) (addr, dir string) {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
			t.Skip("no postfix")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("starting Postfix needs root")
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Skip("no postfix user")
	}
	uid, _ := strconv.Atoi(pf.Uid)
	dir = filepath.Join(filepath.Dir(list), "postfix")
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{etc, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(filepath.Join(dir, "data"), uid, -1)
	addr = freePort(t)
	mc, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Skipf("no master.cf: %v", err)
	}
	os.WriteFile(filepath.Join(etc, "master.cf"), mc, 0o644)
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
myhostname = lists.example.org
mydomain = example.org
myorigin = lists.example.org
mydestination = lists.example.org
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps = hash:%[1]s/etc/aliases
alias_database = hash:%[1]s/etc/aliases
local_recipient_maps =
recipient_delimiter = +
default_privs = nobody
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
biff = no
`, dir)
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(main), 0o644)
	// The aliases are examples/postfix/aliases, with this test's paths.
	ex, err := os.ReadFile(filepath.Join(root, "examples", "postfix", "aliases"))
	if err != nil {
		t.Fatal(err)
	}
	aliases := strings.NewReplacer("/usr/local/bin/", binDir+"/", "/srv/lists/dev", list).Replace(string(ex))
	os.WriteFile(filepath.Join(etc, "aliases"), []byte(aliases), 0o644)
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Fatalf("%s %v: %v: %s\n%s", name, args, err, out, log)
		}
	}
	run("postconf", "-c", etc, "-F", "*/*/chroot = n")
	run("postconf", "-c", etc, "-MX", "smtp/inet")
	run("postconf", "-c", etc, "-M", addr+"/inet="+addr+" inet n - n - - smtpd")
	run("postalias", filepath.Join(etc, "aliases"))
	run("postfix", "-c", etc, "start")
	t.Cleanup(func() { exec.Command("postfix", "-c", etc, "stop").Run() })
	return addr, dir
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestPostfix: a post sent by SMTP to Postfix reaches the list's
// incoming queue through the alias; mail to dev-request goes to the
// requests queue, never to the members; with the queue unwritable for
// the alias user, Postfix defers (4.3.0 from mlm-accept), never bounces,
// and `postqueue -f` delivers once it is fixed.
func TestPostfix(t *testing.T) {
	list := newList(t)
	filepath.Walk(list, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	addr, dir := postfixInstance(t, list)
	send := func(rcpt, subject string) {
		t.Helper()
		msg := "From: alice@example.org\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
		if err := smtp.SendMail(addr, nil, "alice@example.org", []string{rcpt}, []byte(msg)); err != nil {
			t.Fatalf("SMTP to Postfix: %v", err)
		}
	}
	count := func(q string) int { return len(entries(t, filepath.Join(list, "queue", q, "new"))) }
	maillog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }

	send("dev@lists.example.org", "a post")
	send("dev-request@lists.example.org", "subscribe")
	send("dev-bounces+bob=example.net@lists.example.org", "a bounce")
	send("dev-owner@lists.example.org", "for the owner")
	waitFor(t, "each in its queue", func() bool {
		return count("incoming") == 1 && count("requests") == 1 && count("bounces") == 1 && count("owner") == 1
	})

	tmp := filepath.Join(list, "queue", "incoming", "tmp")
	os.Chown(tmp, 0, 0)
	os.Chmod(tmp, 0o700)
	send("dev@lists.example.org", "while broken")
	waitFor(t, "a deferral", func() bool { return strings.Contains(maillog(), "dsn=4.3.0, status=deferred") })
	if strings.Contains(maillog(), "status=bounced") {
		t.Fatalf("Postfix bounced:\n%s", maillog())
	}
	os.Chown(tmp, 65534, 65534)
	if out, err := exec.Command("postqueue", "-c", filepath.Join(dir, "etc"), "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v: %s", err, out)
	}
	waitFor(t, "the deferred post delivered", func() bool { return count("incoming") == 2 })

	// A panic in mlm-accept defers too (exit 75, one 4.3.0 line).
	etc := filepath.Join(dir, "etc")
	postconf := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("postconf", append([]string{"-c", etc}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("postconf %v: %v: %s", args, err, out)
		}
		// A full restart, so no local(8) left from before has the old
		// environment.
		exec.Command("postfix", "-c", etc, "stop").Run()
		if out, err := exec.Command("postfix", "-c", etc, "start").CombinedOutput(); err != nil {
			t.Fatalf("postfix start: %v: %s", err, out)
		}
	}
	postconf("-e", "export_environment = TZ MAIL_CONFIG LANG MLM_TEST_PANIC=mlm-accept")
	send("dev@lists.example.org", "panics")
	waitFor(t, "a deferral by panic", func() bool {
		return strings.Contains(maillog(), "dsn=4.3.0, status=deferred (mlm-accept: internal error")
	})
	postconf("-X", "export_environment")
	if out, err := exec.Command("postqueue", "-c", etc, "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v: %s", err, out)
	}
	waitFor(t, "the post delivered after the panic", func() bool { return count("incoming") == 3 })
	if strings.Contains(maillog(), "status=bounced") {
		t.Errorf("Postfix bounced:\n%s", maillog())
	}
	if count("requests") != 1 || count("outgoing") != 0 {
		t.Errorf("requests %d, outgoing %d; want 1, 0", count("requests"), count("outgoing"))
	}
}
