package tests

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"mlm/lib/mlmtest"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postfixInstance runs a private Postfix (Debian's package) on a loopback
// port, with its own configuration and queue, until the test ends; conf
// adds to its main.cf and master.cf, with $ETC for its configuration
// directory, and names the files to run postmap or postalias on there.
// Root is needed to start Postfix.
func postfixInstance(t *testing.T, list string, conf postfixConf) (addr, dir string) {
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
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
biff = no
`, dir) + strings.ReplaceAll(conf.main, "$ETC", etc)
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(main), 0o644)
	for name, text := range conf.files {
		os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644)
	}
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
	if conf.master != "" {
		f, err := os.OpenFile(filepath.Join(etc, "master.cf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(conf.master)
		f.Close()
	}
	for _, m := range conf.postmap {
		run(m[0], filepath.Join(etc, m[1]))
	}
	run("postfix", "-c", etc, "start")
	t.Cleanup(func() { exec.Command("postfix", "-c", etc, "stop").Run() })
	return addr, dir
}

// postfixConf is what a test adds to the private Postfix's
// configuration.
type postfixConf struct {
	main, master string            // added to main.cf and master.cf
	files        map[string]string // written to its configuration directory
	postmap      [][2]string       // {"postmap"|"postalias", file} run there
}

// example returns a file of examples/ with the paths of this test:
// programs in binDir, lists under lists.
func example(t *testing.T, name, lists string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("/usr/local/bin/", binDir+"/", "/srv/lists", lists).Replace(string(b))
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

// flush runs `postqueue -f` for the Postfix of dir once it has nothing
// in flight (maildrop, incoming, active): mail whose deferral is logged
// may not be in the deferred queue yet, and a flush before it is leaves
// it there until its next try, minutes later (the test then timed out
// on a loaded machine).
func flush(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, "Postfix's queues settled", func() bool { return postfixQueued(dir, "maildrop", "incoming", "active") == 0 })
	if out, err := exec.Command("postqueue", "-c", filepath.Join(dir, "etc"), "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v: %s", err, out)
	}
}

// postfixQueued counts the messages in the named queues of the Postfix
// of dir.
func postfixQueued(dir string, queues ...string) int {
	n := 0
	for _, q := range queues {
		filepath.WalkDir(filepath.Join(dir, "queue", q), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
	}
	return n
}

// TestPostfix: a post sent by SMTP to Postfix reaches the list's
// incoming queue through the alias; mail to dev-request goes to the
// requests queue, never to the members; with the queue unwritable for
// the alias user, Postfix defers (4.3.0 from mlm-accept), never bounces,
// and `postqueue -f` delivers once it is fixed.
func TestPostfix(t *testing.T) {
	list := newList(t)
	mlm(t, members(20), nil, "mlm-sub", list)
	// The list's user is nobody here: the lists' directory is its, and
	// so, as examples/postfix/aliases says, is the aliases file in it,
	// whose database root's postalias makes as the file's owner; so
	// local(8) runs the commands as nobody, the database's owner (not as
	// default_privs, which root's aliases get).
	lists := filepath.Dir(list)
	filepath.Walk(lists, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	aliases := filepath.Join(lists, "aliases")
	if err := os.WriteFile(aliases, []byte(example(t, "postfix/aliases", lists)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(aliases, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("postalias", aliases).CombinedOutput(); err != nil {
		t.Fatalf("postalias: %v: %s", err, out)
	}
	if st, err := os.Stat(aliases + ".db"); err != nil || st.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Fatalf("postalias made no database of nobody's: %v", err)
	}
	addr, dir := postfixInstance(t, list, postfixConf{
		main: `mydestination = lists.example.org
alias_maps = hash:` + aliases + `
alias_database = hash:` + aliases + `
local_recipient_maps =
recipient_delimiter = +
default_privs = daemon
`, // (not the list's user: commands run as it could not write the list)
	})
	sendFrom := func(from, rcpt, subject string) {
		t.Helper()
		msg := "From: " + from + "\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
		if err := smtp.SendMail(addr, nil, from, []string{rcpt}, []byte(msg)); err != nil {
			t.Fatalf("SMTP to Postfix: %v", err)
		}
	}
	send := func(rcpt, subject string) { t.Helper(); sendFrom("alice@example.org", rcpt, subject) }
	count := func(q string) int { return len(mlmtest.Names(t, filepath.Join(list, "queue", q, "new"))) }
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
	flush(t, dir)
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
	flush(t, dir)
	waitFor(t, "the post delivered after the panic", func() bool { return count("incoming") == 3 })
	if strings.Contains(maillog(), "status=bounced") {
		t.Errorf("Postfix bounced:\n%s", maillog())
	}
	if count("requests") != 1 || count("outgoing") != 0 {
		t.Errorf("requests %d, outgoing %d; want 1, 0", count("requests"), count("outgoing"))
	}

	// mlm-run takes the three posts to Postfix's smtp-sink: each member
	// gets each once; the request and the bounce wait, and the owner
	// mail too, the list having no owner.
	sink, dump := smtpSink(t, 1000)
	os.WriteFile(filepath.Join(list, "relay"), []byte(sink+"\n"), 0o644)
	runAsNobody(t, list)
	if rcpts, _ := sinkMessages(t, dump, 63); strings.Join(rcpts, " ") != memberPaths(20, 3) {
		t.Errorf("recipients %v; want each member three times", rcpts)
	}
	if count("requests") != 1 || count("bounces") != 1 || count("owner") != 1 || count("incoming") != 0 {
		t.Errorf("after mlm-run: requests %d, bounces %d, owner %d, incoming %d; want 1, 1, 1, 0",
			count("requests"), count("bounces"), count("owner"), count("incoming"))
	}

	// local(8) gives SENDER as o_brien@ (its command_expansion_filter);
	// the post is o'brien@'s all the same, by the From_ line.
	// So for a quoted local part: SENDER is "john_smith@", and "a,b@",
	// which is no mailbox.
	for i, from := range []string{"o'brien@example.org", `"john smith"@example.org`, `"a,b"@example.org`} {
		sendFrom(from, "dev@lists.example.org", "a sender local(8) filters")
		waitFor(t, "the post from "+from, func() bool { return count("incoming") == i+1 })
	}
	var senders []string
	for _, name := range mlmtest.Names(t, filepath.Join(list, "queue", "incoming", "new")) {
		rec, _ := os.ReadFile(filepath.Join(list, "queue", "incoming", "new", name))
		for _, l := range strings.Split(string(rec), "\n") {
			if strings.HasPrefix(l, "S ") {
				senders = append(senders, l)
			}
		}
	}
	sort.Strings(senders)
	if got, want := strings.Join(senders, " "), `S <"a,b"@example.org> S <"john smith"@example.org> S <o'brien@example.org>`; got != want {
		t.Errorf("senders %s; want %s\n%s", got, want, maillog())
	}
}

// TestPostfixPipe: Postfix with the pipe(8) transport of
// examples/postfix (master.cf, main.cf, transport) hands a post to
// mlm-accept as the list's own user; mlm-run delivers it to Postfix's
// smtp-sink directly, then a second post relayed back through Postfix:
// each member gets each post once. The null sender reaches the bounces
// queue as <>, the command addresses their queues, an address that is
// not the list's is refused at RCPT, and an unwritable queue defers.
// The transport's user is nobody here instead of mlm.
func TestPostfixPipe(t *testing.T) {
	sink, dump := smtpSink(t, 1000)
	list := newList(t)
	lists := filepath.Dir(list)
	mlm(t, members(30), nil, "mlm-sub", list)
	filepath.Walk(list, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	addr, dir := postfixInstance(t, list, postfixConf{
		main: "mydestination = localhost\nrelayhost = [127.0.0.1]:" + strings.TrimPrefix(sink, "127.0.0.1:") + "\n" +
			strings.ReplaceAll(example(t, "postfix/main.cf", lists), "/etc/postfix/", "$ETC/"),
		master:  strings.Replace(example(t, "postfix/master.cf", lists), "user=mlm", "user=nobody", 1),
		files:   map[string]string{"mlm_transport": example(t, "postfix/transport", lists)},
		postmap: [][2]string{{"postmap", "mlm_transport"}},
	})
	maillog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
	send := func(from, rcpt, subject string) error {
		msg := "From: alice@example.org\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
		return smtp.SendMail(addr, nil, from, []string{rcpt}, []byte(msg))
	}
	mustSend := func(from, rcpt, subject string) {
		t.Helper()
		if err := send(from, rcpt, subject); err != nil {
			t.Fatalf("SMTP to Postfix, %s: %v\n%s", rcpt, err, maillog())
		}
	}
	count := func(q string) int { return len(mlmtest.Names(t, filepath.Join(list, "queue", q, "new"))) }

	mustSend("alice@example.org", "dev-request@lists.example.org", "subscribe")
	mustSend("", "dev-bounces+bob=example.net@lists.example.org", "a bounce")
	mustSend("alice@example.org", "dev-owner@lists.example.org", "for the owner")
	if err := send("alice@example.org", "dev-bogus@lists.example.org", "nowhere"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("mail to an address that is not the list's: %v; want 550 at RCPT", err)
	}
	waitFor(t, "each in its queue", func() bool { return count("requests") == 1 && count("bounces") == 1 && count("owner") == 1 })
	names := mlmtest.Names(t, filepath.Join(list, "queue", "bounces", "new"))
	if b, _ := os.ReadFile(filepath.Join(list, "queue", "bounces", "new", names[0])); !strings.Contains(string(b), "\nS <>\n") || !strings.Contains(string(b), "\nA orig-rcpt=dev-bounces+bob=example.net@lists.example.org\n") {
		t.Errorf("the bounce's record lacks the null sender or its VERP address:\n%s", b)
	}

	// Directly to the sink, then relayed back through Postfix, which
	// sends it on to the sink.
	for i, relay := range []string{sink, addr} {
		os.WriteFile(filepath.Join(list, "relay"), []byte(relay+"\n"), 0o644)
		mustSend("alice@example.org", "dev@lists.example.org", "through "+relay)
		waitFor(t, "the post in incoming", func() bool { return count("incoming") == 1 })
		runAsNobody(t, list)
		if rcpts, _ := sinkMessages(t, dump, 31*(i+1)); strings.Join(rcpts, " ") != memberPaths(30, i+1) {
			t.Fatalf("through %s: recipients %v; want each member once more", relay, rcpts)
		}
		// sinkMessages stops at the count it waits for; once Postfix
		// holds nothing, whatever it took is at the sink, and a second
		// copy of any transaction would be counted now.
		waitFor(t, "Postfix's queues empty", func() bool { return postfixQueued(dir, "maildrop", "incoming", "active", "deferred") == 0 })
		if rcpts, _ := sinkMessages(t, dump, 31*(i+1)); strings.Join(rcpts, " ") != memberPaths(30, i+1) {
			t.Fatalf("through %s, Postfix's queues empty: recipients %v; want each member once more", relay, rcpts)
		}
	}
	if !strings.Contains(maillog(), "relay=127.0.0.1[127.0.0.1]:"+strings.TrimPrefix(sink, "127.0.0.1:")) {
		t.Errorf("Postfix did not relay to the sink:\n%s", maillog())
	}

	// A post whose recipients name the list as "dev@", "dev+x@" and
	// "DEV@": pipe(8) hands it over twice (it folds the case of the
	// third), and it is queued once, where every member got it twice
	// (R98 F1).
	mlmtest.Fault(t, "input", "a post whose recipients name the list as dev@ and dev+x@, through Postfix's pipe(8), which hands it over twice, side by side", "queued once, each hand-off exit 0")
	// (pipe(8) logs what mlm-accept said of a copy after the status.)
	handed := func() int { return strings.Count(maillog(), "status=sent (delivered via mlm service") }
	before := handed()
	twice := "From: alice@example.org\r\nTo: dev@lists.example.org\r\nCc: dev+x@lists.example.org\r\nSubject: twice\r\n" +
		"Message-ID: <twice@example.org>\r\n\r\nhello\r\n"
	if err := smtp.SendMail(addr, nil, "alice@example.org", []string{"dev@lists.example.org", "dev+x@lists.example.org", "DEV@lists.example.org"}, []byte(twice)); err != nil {
		t.Fatalf("SMTP to Postfix: %v\n%s", err, maillog())
	}
	waitFor(t, "the two hand-offs", func() bool { return handed() == before+2 })
	if n := count("incoming"); n != 1 {
		t.Fatalf("%d posts queued from one post to the list twice; want 1\n%s", n, maillog())
	}
	os.Remove(filepath.Join(list, "queue", "incoming", "new", mlmtest.Names(t, filepath.Join(list, "queue", "incoming", "new"))[0]))

	// An unwritable queue: deferred by pipe(8), delivered by postqueue -f.
	tmp := filepath.Join(list, "queue", "incoming", "tmp")
	os.Chown(tmp, 0, 0)
	os.Chmod(tmp, 0o700)
	mustSend("alice@example.org", "dev@lists.example.org", "while broken")
	waitFor(t, "a deferral", func() bool { return strings.Contains(maillog(), "dsn=4.3.0, status=deferred") })
	os.Chown(tmp, 65534, 65534)
	flush(t, dir)
	waitFor(t, "the deferred post delivered", func() bool { return count("incoming") == 1 })
	if strings.Contains(maillog(), "status=bounced") {
		t.Errorf("Postfix bounced:\n%s", maillog())
	}
	if count("requests") != 1 || count("owner") != 1 || count("bounces") != 1 {
		t.Errorf("command queues changed: requests %d, owner %d, bounces %d", count("requests"), count("owner"), count("bounces"))
	}
}

// members returns n members' addresses and alice's, one a line.
func members(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "member%02d@example.net\n", i)
	}
	return b.String() + "alice@example.org\n"
}

// memberPaths returns the paths of members(n), each times times, sorted,
// as sinkMessages returns them.
func memberPaths(n, times int) string {
	var w []string
	for _, m := range strings.Fields(members(n)) {
		for j := 0; j < times; j++ {
			w = append(w, "<"+m+">")
		}
	}
	sort.Strings(w)
	return strings.Join(w, " ")
}

// runAsNobody runs mlm-run on the list as nobody, the user the MTA
// delivers to it as in these tests, as the list's crontab would.
func runAsNobody(t *testing.T, list string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mlm-run"), list)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mlm-run: %v: %s", err, out)
	}
}

// TestPostfixErrorLimit: Postfix's smtpd closes a connection with 421
// once it has had smtpd_hard_error_limit (20, its default) errors,
// answering so whatever command comes next. A batch of 100 with unknown
// users (refused by an access map, as reject_unlisted_recipient refuses
// them on a relay with recipient maps) is settled in one run of
// mlm-sendmail, none deferred:
//   - 25 unknown among the members: the 421 answers an RCPT; the 20
//     refusals before it stand, the rest goes on the next connection;
//   - 80 members, then 20 unknown: the 421 answers DATA;
//   - 19 unknown and DATA refused by policy: the 421 comes unasked,
//     before RSET (RFC 5321 section 3.8 lets a server send it so); the
//     19 refusals stand, and the members meet DATA's refusal again on
//     the next connection, and fail with it.
//
// (Postfix logs the command before its check: "too many errors after
// RCPT" when the 421 answers DATA.)
//
// (The batch was refused again on every connection, and deferred whole:
// two reviews.)
func TestPostfixErrorLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unknown   func(i int) bool
		data      string // smtpd_data_restrictions
		summary   string
		delivered bool   // the members delivered, else failed
		after     string // the command Postfix names in its log
	}{
		{"RCPT", func(i int) bool { return i%4 == 1 }, "", "delivered=75 deferred=0 failed=25", true, "RCPT"},
		{"DATA", func(i int) bool { return i >= 80 }, "", "delivered=80 deferred=0 failed=20", true, "RCPT"},
		{"RSET", func(i int) bool { return i < 19 }, "reject", "delivered=0 deferred=0 failed=100", false, "DATA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "mlm-sendmail: Postfix's smtpd closing with 421 past smtpd_hard_error_limit (20), the 421 to "+tc.name, "in one run: "+tc.summary+", none deferred, exit 0; each member passed on once if delivered")
			list := newList(t)
			var rcpts, members, unknown []string
			for i := range 100 {
				r := fmt.Sprintf("m%02d@example.net", i)
				if tc.unknown(i) {
					r = fmt.Sprintf("u%02d@example.net", i)
					unknown = append(unknown, "{ "+r+" = 550 5.1.1 no such user }")
				} else {
					members = append(members, r)
				}
				rcpts = append(rcpts, r)
			}
			conf := `mydestination =
smtpd_hard_error_limit = 20
smtpd_error_sleep_time = 0
smtpd_client_event_limit_exceptions =
smtpd_recipient_restrictions = check_recipient_access inline:{ ` + strings.Join(unknown, ", ") + ` }, permit_mynetworks, reject
default_transport = discard:error limit test
`
			if tc.data != "" {
				conf += "smtpd_data_restrictions = " + tc.data + "\n"
			}
			addr, dir := postfixInstance(t, list, postfixConf{main: conf})
			if err := os.WriteFile(filepath.Join(list, "relay"), []byte(addr+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			o := sfSend(t, list, sfRecord(rcpts...))
			maillog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
			if o.code != 0 || o.stdout != "" {
				t.Fatalf("mlm-sendmail: exit %d; standard output %q (want 0 and nothing deferred)\n%s\n%s", o.code, o.stdout, o.stderr, maillog())
			}
			if !strings.Contains(o.stderr, tc.summary) {
				t.Errorf("standard error %q; want %s\n%s", o.stderr, tc.summary, maillog())
			}
			if !strings.Contains(maillog(), "too many errors after "+tc.after) {
				t.Errorf("Postfix closed no connection for its error limit after %s:\n%s", tc.after, maillog())
			}
			if !tc.delivered {
				return
			}
			waitFor(t, "every member passed on", func() bool { return strings.Count(maillog(), "status=sent") >= len(members) })
			for _, r := range members {
				if n := strings.Count(maillog(), "to=<"+r+">"); n != 1 {
					t.Errorf("%s: in the maillog %d times; want once", r, n)
				}
			}
		})
	}
}

// TestPostfixConnLimit: Postfix's smtpd at its limit of connections from
// one client (smtpd_client_connection_count_limit, 2 here) greets one
// more with 421; mlm-sendmail, with -c 4, delivers every batch over the
// connections Postfix serves, and defers none to the retry queue, where
// it deferred each batch of a refused connection, minutes later. Each
// transaction is held a second at DATA (a sleep restriction), so that
// all four connections are dialled while the first two are in use.
func TestPostfixConnLimit(t *testing.T) {
	mlmtest.Fault(t, "smtp", "mlm-sendmail: Postfix's smtpd at its limit of connections from one client (2), -c 4", "every batch over the connections it serves, none deferred, exit 0; the refusal said once")
	list := newList(t)
	addr, dir := postfixInstance(t, list, postfixConf{main: `mydestination =
smtpd_client_connection_count_limit = 2
smtpd_client_event_limit_exceptions =
smtpd_data_restrictions = sleep 1
default_transport = discard:connection limit test
`})
	if err := os.WriteFile(filepath.Join(list, "relay"), []byte(addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	var in strings.Builder
	for b := range 8 {
		for r := range 5 {
			rcpts = append(rcpts, fmt.Sprintf("m%d.%d@example.net", b, r))
		}
		rec := sfRecord(rcpts[len(rcpts)-5:]...)
		in.WriteString(strings.Replace(rec, "MLM1 "+sfID+"\n", "MLM1 "+sfPost+","+strconv.Itoa(b+1)+"\n", 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), sfHang)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "mlm-sendmail"), "-v", "-c", "4", list)
	cmd.Stdin = strings.NewReader(in.String())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
	if err != nil || out.Len() > 0 {
		t.Fatalf("mlm-sendmail: %v; standard output %q (want 0 and nothing deferred)\n%s\n%s", err, out.String(), errb.String(), log)
	}
	if !strings.Contains(errb.String(), "delivered=40 deferred=0 failed=0") {
		t.Errorf("standard error %q; want 40 delivered", errb.String())
	}
	said := regexp.MustCompile(`(?m)^mlm-sendmail: ` + regexp.QuoteMeta(addr) + `: greeting: 421 4\.7\.0 .*too many connections.*: a connection past the [12] of this run's it serves; the run keeps to those \(said once\)$`)
	if n := len(said.FindAllString(errb.String(), -1)); n != 1 {
		t.Errorf("standard error %q: the refusal said %d times; want once", errb.String(), n)
	}
	if !strings.Contains(string(log), "Connection concurrency limit exceeded") {
		t.Errorf("Postfix refused no connection:\n%s", log)
	}
	// Every recipient taken by Postfix once, and passed on (discarded).
	maillog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
	waitFor(t, "every recipient passed on", func() bool { return strings.Count(maillog(), "status=sent") >= len(rcpts) })
	for _, r := range rcpts {
		if n := strings.Count(maillog(), "to=<"+r+">"); n != 1 {
			t.Errorf("%s: in the maillog %d times; want once", r, n)
		}
	}
}
