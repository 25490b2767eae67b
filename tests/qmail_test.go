package tests

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"mlm/lib/cookie"
	"mlm/lib/mlmtest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// qmail is not packaged in Debian, so the .qmail files of examples/qmail
// are run by qmailLocal below, which follows notqmail's qmail-local.c
// step by step for what the examples use: main() (the environment,
// DTLINE, RPLINE, UFLINE, EXT2-4, HOST2-4, the reading of the .qmail
// file), checkhome(), bouncexf(), qmesearch() and qmeexists() (which
// file serves an address, and DEFAULT), qmeox() (NEWSENDER) and
// mailprogram() (/bin/sh -c, the message from its start with no
// Delivered-To or Return-Path line, and the exit status read as 0 ok,
// 99 ok and stop, 64 65 70 76 77 78 100 112 hard, anything else soft).
// qmailAddr stands for qmail-send's rewrite() of virtual domains and
// qmail-getpw, which give qmail-local its arguments.

// qmailArgs are qmail-local's arguments: user homedir local dash ext
// domain sender (defaultdelivery is never needed here).
type qmailArgs struct {
	user, home, local, dash, ext, host, sender string
}

// qmailAddr gives qmail-local's arguments for mail to rcpt from sender.
// With prefix "", the domain is in control/locals, no user owns the
// local part, and qmail-getpw gives the alias user, dash "-" and the
// whole local part as ext. With a prefix, the domain is in
// control/virtualdomains as domain:prefix: qmail-send's rewrite() makes
// the local part prefix-local, and qmail-getpw's userext() finds the user
// prefix, with what follows its dash as ext.
func qmailAddr(home, prefix, rcpt, sender string) qmailArgs {
	at := strings.LastIndexByte(rcpt, '@')
	local, host := rcpt[:at], rcpt[at+1:]
	a := qmailArgs{user: "alias", home: home, local: local, dash: "-", ext: local, host: host, sender: sender}
	if prefix != "" {
		a.user, a.local = prefix, prefix+"-"+local
	}
	return a
}

// qmailResult is how qmail-local ended, as qmail-lspawn reports it.
type qmailResult struct {
	status string // "success", "soft" (exit 111) or "hard" (exit 100)
	out    string // qmail-local's output and the programs', for the log or the bounce
}

// qmailUID is the user deliveries run as: qmail-lspawn never delivers as
// root, so under root the programs run as nobody.
func qmailUID() int {
	if os.Geteuid() == 0 {
		return 65534
	}
	return os.Geteuid()
}

// qmailLocal delivers msg as qmail-local does with arguments a, in an
// environment that starts as env (qmail-start's). It fails the test on a
// .qmail line of a kind the examples do not use (forward, mbox, maildir)
// and on an empty .qmail file (defaultdelivery). The .qmail files are
// read as the test's user; the programs run as qmailUID's.
func qmailLocal(t *testing.T, a qmailArgs, msg []byte, env []string) qmailResult {
	t.Helper()
	var out bytes.Buffer
	soft := func(s string) qmailResult { return qmailResult{"soft", out.String() + s + "\n"} }
	hard := func(s string) qmailResult { return qmailResult{"hard", out.String() + s + "\n"} }
	const patrn = 0o002 // conf-patrn

	// main(), checkhome()
	if !filepath.IsAbs(a.home) {
		t.Fatalf("qmail-local: homedir %q is not absolute", a.home)
	}
	st, err := os.Stat(a.home)
	if err != nil {
		return soft("Unable to switch to " + a.home + ": " + err.Error() + ". (#4.3.0)")
	}
	if st.Mode().Perm()&patrn != 0 {
		return soft("Uh-oh: home directory is writable. (#4.7.0)")
	}
	if st.Mode()&fs.ModeSticky != 0 {
		return soft("Home directory is sticky: user is editing his .qmail file. (#4.2.1)")
	}
	vars := map[string]string{}
	set := func(k, v string) { vars[k] = v }
	set("HOST", a.host)
	set("HOME", a.home)
	set("USER", a.user)
	set("LOCAL", a.local)
	recip := a.local + "@" + a.host
	set("RECIPIENT", recip)
	dtline := strings.ReplaceAll("Delivered-To: "+recip, "\n", "_") + "\n"
	set("DTLINE", dtline)

	// bouncexf(): a header line equal to our Delivered-To is a loop.
	br := bufio.NewReader(bytes.NewReader(msg))
	for {
		line, err := br.ReadString('\n')
		if err != nil || len(line) <= 1 {
			break
		}
		if line == dtline {
			return hard("This message is looping: it already has my Delivered-To line. (#5.4.6)")
		}
	}

	set("SENDER", a.sender)
	set("RPLINE", strings.ReplaceAll("Return-Path: <"+qmailQuote2(a.sender), "\n", "_")+">\n")
	uf := "MAILER-DAEMON"
	if a.sender != "" {
		b := []byte(a.sender)
		for i, c := range b {
			if c == ' ' || c == '\t' || c == '\n' {
				b[i] = '-'
			}
		}
		uf = string(b)
	}
	set("UFLINE", "From "+uf+" "+time.Now().UTC().Format("Mon Jan 02 15:04:05 2006")+"\n")
	x := a.ext
	set("EXT", x)
	for _, k := range []string{"EXT2", "EXT3", "EXT4"} {
		if i := strings.IndexByte(x, '-'); i >= 0 {
			x = x[i+1:]
		} else {
			x = ""
		}
		set(k, x)
	}
	se := []byte(a.ext) // case_lowerb(), then dots to colons
	for i, c := range se {
		if c >= 'A' && c <= 'Z' {
			se[i] = c + 'a' - 'A'
		} else if c == '.' {
			se[i] = ':'
		}
	}
	safeext := string(se)
	i := len(a.host)
	for _, k := range []string{"HOST2", "HOST3", "HOST4"} {
		if j := strings.LastIndexByte(a.host[:i], '.'); j >= 0 {
			i = j
		}
		set(k, a.host[:i])
	}

	// qmesearch(), qmeexists()
	var cmds []byte
	var found, forwardOnly bool
	exists := func(name string) (bool, error) {
		f, err := os.Open(filepath.Join(a.home, name))
		if err != nil {
			if errors.Is(err, fs.ErrPermission) || !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return false, errors.New("Unable to open " + name + ": " + err.Error() + ". (#4.3.0)")
			}
			return false, nil
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return false, errors.New("Unable to open " + name + ": " + err.Error() + ". (#4.3.0)")
		}
		if !st.Mode().IsRegular() {
			return false, nil
		}
		if st.Mode().Perm()&patrn != 0 {
			return false, errors.New("Uh-oh: .qmail file is writable. (#4.7.0)")
		}
		forwardOnly = st.Mode().Perm()&0o100 != 0
		if cmds, err = os.ReadFile(filepath.Join(a.home, name)); err != nil {
			t.Fatal(err)
		}
		return true, nil
	}
	found, err = exists(".qmail" + a.dash + safeext)
	if err != nil {
		return soft(err.Error())
	}
	if found {
		if n := len(safeext) - 7; n >= 0 && safeext[n:] == "default" && n <= len(a.ext) {
			set("DEFAULT", a.ext[n:])
		}
	} else {
		for i := len(safeext); i >= 0 && !found; i-- {
			if i == 0 || safeext[i-1] == '-' {
				if found, err = exists(".qmail" + a.dash + safeext[:i] + "default"); err != nil {
					return soft(err.Error())
				}
				if found && i <= len(a.ext) {
					set("DEFAULT", a.ext[i:])
				}
			}
		}
	}
	if !found && a.dash != "" {
		return hard("Sorry, no mailbox here by that name. (#5.1.1)")
	}

	// qmeox(): NEWSENDER
	ueo := a.sender
	qmeox := func(s string) bool {
		_, err := os.Stat(filepath.Join(a.home, ".qmail"+a.dash+safeext+s))
		return err == nil
	}
	if a.sender != "" && a.sender != "#@[]" && qmeox("-owner") {
		if qmeox("-owner-default") {
			ueo = a.local + "-owner-@" + a.host + "-@[]"
		} else {
			ueo = a.local + "-owner@" + a.host
		}
	}
	set("NEWSENDER", ueo)

	if len(cmds) == 0 {
		t.Fatalf("qmail-local: no .qmail file or an empty one: defaultdelivery is not modelled")
	}
	environ := append([]string(nil), env...)
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}

	// The message, as qmail-lspawn hands it over: a file on fd 0 that
	// mailprogram() rewinds for each program.
	mf, err := os.CreateTemp("", "mlm-qmail-msg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(mf.Name())
	defer mf.Close()
	if _, err := mf.Write(msg); err != nil {
		t.Fatal(err)
	}

	programs := 0
	for n, line := range strings.Split(strings.TrimSuffix(string(cmds), "\n"), "\n") {
		line = strings.TrimRight(line, " \t")
		switch {
		case line == "":
			if n == 0 {
				return soft("Uh-oh: first line of .qmail file is blank. (#4.2.1)")
			}
		case line[0] == '#':
		case line[0] == '|':
			programs++
			if forwardOnly {
				return soft("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)")
			}
			switch qmailProgram(t, a.home, line[1:], mf, environ, &out) {
			case 0:
			case 99: // flag99: ignore the lines after this one
				out.WriteString("did 0+0+" + strconv.Itoa(programs) + "\n")
				return qmailResult{"success", out.String()}
			case 100, 64, 65, 70, 76, 77, 78, 112:
				return qmailResult{"hard", out.String()}
			default:
				return qmailResult{"soft", out.String()}
			}
		case line == "+list":
			forwardOnly = true
		case line[0] == '+':
		default:
			t.Fatalf("qmail-local: %q: only program and comment lines are modelled", line)
		}
	}
	out.WriteString("did 0+0+" + strconv.Itoa(programs) + "\n")
	return qmailResult{"success", out.String()}
}

// qmailProgram is mailprogram(): /bin/sh -c prog in the home directory,
// as the delivery user, with umask 077, the message from its first byte
// on standard input, standard output and error to qmail-local's
// output. It returns the exit status, or -1 if the child crashed
// (soft, "Aack, child crashed").
func qmailProgram(t *testing.T, home, prog string, msg *os.File, env []string, out *bytes.Buffer) int {
	t.Helper()
	if _, err := msg.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	// The outer shell only sets qmail-local's umask and execs
	// exactly /bin/sh -c prog.
	cmd := exec.Command("/bin/sh", "-c", `umask 077 && exec /bin/sh -c "$1"`, "sh", prog)
	cmd.Dir = home
	cmd.Env = env
	cmd.Stdin = msg
	cmd.Stdout, cmd.Stderr = out, out
	if os.Geteuid() == 0 {
		u := uint32(qmailUID())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u, Gid: u}}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			out.WriteString("Aack, child crashed. (#4.3.0)\n")
			return -1
		}
		return ee.ExitCode()
	default:
		out.WriteString("Unable to run /bin/sh: " + err.Error() + ". (#4.3.0)\n")
		return 111
	}
}

// qmailQuote2 is quote2() of quote.c: the local part of an address
// quoted as RFC 821 wants it, only if it has to be.
func qmailQuote2(s string) string {
	if s == "" {
		return ""
	}
	local, rest := s, ""
	if j := strings.LastIndexByte(s, '@'); j >= 0 {
		local, rest = s[:j], s[j:]
	}
	need := local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..")
	for i := 0; i < len(local) && !need; i++ {
		c := local[i]
		need = c >= 128 || c <= ' ' || strings.IndexByte("\"(),:;<>@[\\]\x7f", c) >= 0
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '\r' || c == '\n' || c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + rest
}

// qmailHome makes a home directory for the delivery user, 0755 as
// qmail-getpw and checkhome() want it, holding the given .qmail files.
func qmailHome(t *testing.T, files map[string]string) string {
	t.Helper()
	base := openTempDir(t, "mlm-qmail-")
	home := filepath.Join(base, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, qmailUID(), qmailUID())
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(home, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// TestQmailLocal checks the stand-in against what qmail-local.c does:
// the file chosen for an extension and DEFAULT, the environment, the
// message on standard input as it came, loop detection, exit 99 and the
// reading of exit statuses.
func TestQmailLocal(t *testing.T) {
	home := qmailHome(t, map[string]string{
		".qmail-a-default":  "# comment\n|env -0 > env.out; umask > umask.out; pwd > pwd.out; cat > msg.out  \n",
		".qmail-stop":       "|exit 99\n|touch after99\n",
		".qmail-st-default": "|exit \"$DEFAULT\"\n",
	})
	msg := []byte("From: alice@example.org\nSubject: x\n\nhello\n")
	env := []string{"PATH=/usr/bin:/bin"}
	// u-a-B.c-d: .qmail-a-b:c-d, .qmail-a-b:c-default, then .qmail-a-default.
	r := qmailLocal(t, qmailAddr(home, "u", "a-B.c-d@lists.example.org", "alice@example.org"), msg, env)
	if r.status != "success" || r.out != "did 0+0+1\n" {
		t.Fatalf("delivery: %+v", r)
	}
	b, err := os.ReadFile(filepath.Join(home, "env.out"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			got[k] = v
		}
	}
	for k, v := range map[string]string{
		"SENDER": "alice@example.org", "NEWSENDER": "alice@example.org",
		"RECIPIENT": "u-a-B.c-d@lists.example.org", "USER": "u", "HOME": home,
		"LOCAL": "u-a-B.c-d", "HOST": "lists.example.org", "HOST2": "lists.example",
		"HOST3": "lists", "HOST4": "lists", "EXT": "a-B.c-d", "EXT2": "B.c-d",
		"EXT3": "d", "EXT4": "", "DEFAULT": "B.c-d",
		"DTLINE": "Delivered-To: u-a-B.c-d@lists.example.org\n",
		"RPLINE": "Return-Path: <alice@example.org>\n", "PATH": "/usr/bin:/bin",
	} {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
	if !strings.HasPrefix(got["UFLINE"], "From alice@example.org ") {
		t.Errorf("UFLINE = %q", got["UFLINE"])
	}
	for file, want := range map[string]string{"msg.out": string(msg), "umask.out": "0077\n", "pwd.out": home + "\n"} {
		if b, _ := os.ReadFile(filepath.Join(home, file)); string(b) != want {
			t.Errorf("%s = %q; want %q", file, b, want)
		}
	}

	looping := append([]byte("Delivered-To: u-a-b@lists.example.org\n"), msg...)
	if r := qmailLocal(t, qmailAddr(home, "u", "a-b@lists.example.org", ""), looping, env); r.status != "hard" || !strings.Contains(r.out, "#5.4.6") {
		t.Errorf("looping: %+v", r)
	}
	if r := qmailLocal(t, qmailAddr(home, "", "nothing@lists.example.org", ""), msg, env); r.status != "hard" || !strings.Contains(r.out, "#5.1.1") {
		t.Errorf("no .qmail file: %+v", r)
	}
	if r := qmailLocal(t, qmailAddr(home, "", "stop@lists.example.org", ""), msg, env); r.status != "success" {
		t.Errorf("exit 99: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(home, "after99")); err == nil {
		t.Errorf("the line after an exit 99 ran")
	}
	for code, want := range map[string]string{
		"0": "success", "99": "success", "100": "hard", "64": "hard", "65": "hard", "67": "soft",
		"70": "hard", "75": "soft", "76": "hard", "77": "hard", "78": "hard", "111": "soft", "112": "hard", "1": "soft",
	} {
		if r := qmailLocal(t, qmailAddr(home, "", "st-"+code+"@lists.example.org", ""), msg, env); r.status != want {
			t.Errorf("exit %s: %s; want %s", code, r.status, want)
		}
	}
}

// TestQmail delivers through examples/qmail/.qmail-dev and
// .qmail-dev-default, installed as the home of the list user of a
// virtual domain and as ~alias of a local domain: posts reach
// queue/incoming with the sender and the address as sent, command
// addresses reach their queues and never incoming, the VERP bounce
// address reaches queue/bounces, an unwritable or missing queue is a
// soft failure that a retry delivers, and an address that is not the
// list's bounces at once.
func TestQmail(t *testing.T) {
	list := newList(t)
	if os.Geteuid() == 0 {
		filepath.Walk(list, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, qmailUID(), qmailUID()) })
	}
	files := map[string]string{}
	rewrite := strings.NewReplacer("/usr/local/bin/", binDir+"/", "/srv/lists/dev", list)
	for _, name := range []string{".qmail-dev", ".qmail-dev-default"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", "qmail", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = rewrite.Replace(string(b))
	}
	home := qmailHome(t, files)
	env := []string{"PATH=/usr/bin:/bin"}
	msg := func(subject string) []byte {
		return []byte("From: alice@example.org\nTo: dev@lists.example.org\nSubject: " + subject + "\n\nhello\n")
	}
	// virtualdomains lists.example.org:mlm, the files in ~mlm; prefix ""
	// is control/locals and ~alias.
	deliver := func(prefix, rcpt, sender, subject string) qmailResult {
		t.Helper()
		return qmailLocal(t, qmailAddr(home, prefix, rcpt, sender), msg(subject), env)
	}
	queue := func(q string) []string {
		t.Helper()
		var recs []string
		for _, name := range mlmtest.Names(t, filepath.Join(list, "queue", q, "new")) {
			b, err := os.ReadFile(filepath.Join(list, "queue", q, "new", name))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, string(b))
		}
		return recs
	}
	counts := func() map[string]int {
		n := map[string]int{}
		for _, q := range []string{"incoming", "requests", "owner", "bounces", "moderate"} {
			n[q] = len(queue(q))
		}
		return n
	}
	want := map[string]int{}
	check := func(what string) {
		t.Helper()
		got := counts()
		for _, q := range []string{"incoming", "requests", "owner", "bounces", "moderate"} {
			if got[q] != want[q] {
				t.Errorf("after %s: %s has %d records; want %d", what, q, got[q], want[q])
			}
		}
	}

	for _, prefix := range []string{"mlm", ""} {
		r := deliver(prefix, "dev@lists.example.org", "alice@example.org", "a post via "+prefix)
		if r.status != "success" {
			t.Fatalf("post (prefix %q): %+v", prefix, r)
		}
		want["incoming"]++
		check("a post")
	}
	for _, rec := range queue("incoming") {
		if !strings.Contains(rec, "\nS <alice@example.org>\n") || !strings.Contains(rec, "\nA orig-rcpt=dev@lists.example.org\n") {
			t.Errorf("post record:\n%s", rec)
		}
	}

	// A moderator's answer to a post held (mlm-accept refuses one that
	// answers none).
	secret, err := os.ReadFile(filepath.Join(list, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(list, "queue", "hold", "new", "h1"), []byte("MLM1 h1\nS <a@example.org>\n:\nE 0\n"), 0o600)
	answer := "dev-accept+" + cookie.Make([]byte(strings.TrimSpace(string(secret))), "accept", "dev@lists.example.org", "h1", time.Now().Add(time.Hour))
	for _, c := range []struct{ local, queue, sender string }{
		{"dev-request", "requests", ""}, {"dev-subscribe", "requests", ""}, {"dev-unsubscribe", "requests", ""},
		{"dev-owner", "owner", ""}, {"dev-bounces+bob=example.net", "bounces", ""},
		{answer, "moderate", "mod@example.org"},
	} {
		if r := deliver("mlm", c.local+"@lists.example.org", c.sender, c.local); r.status != "success" {
			t.Errorf("%s: %+v", c.local, r)
			continue
		}
		want[c.queue]++
		check(c.local)
	}
	for _, rec := range queue("bounces") {
		if !strings.Contains(rec, "\nS <>\n") || !strings.Contains(rec, "\nA orig-rcpt=dev-bounces+bob=example.net@lists.example.org\n") {
			t.Errorf("bounce record:\n%s", rec)
		}
	}

	// Not the list's: .qmail-dev-default turns mlm-accept's 67 into a
	// bounce. qmail's own VERP form with a "-" is not mlm's.
	for _, local := range []string{"dev-nonsense", "dev-bounces-bob=example.net"} {
		if r := deliver("mlm", local+"@lists.example.org", "", local); r.status != "hard" || !strings.Contains(r.out, "5.1.1 mlm-accept: ") {
			t.Errorf("%s: %+v; want hard, 5.1.1", local, r)
		}
	}
	// "+" is no separator to qmail: dev+tag looks for .qmail-default.
	if r := deliver("mlm", "dev+tag@lists.example.org", "alice@example.org", "tagged"); r.status != "hard" || !strings.Contains(r.out, "no mailbox here") {
		t.Errorf("dev+tag: %+v", r)
	}
	check("addresses that are not the list's")

	// The queue cannot be written: soft, so qmail keeps the message and
	// retries; the retry delivers it once.
	tmp := filepath.Join(list, "queue", "incoming", "tmp")
	if os.Geteuid() == 0 {
		os.Chown(tmp, 0, 0)
		os.Chmod(tmp, 0o700)
	} else {
		os.Chmod(tmp, 0o500)
	}
	if r := deliver("mlm", "dev@lists.example.org", "alice@example.org", "while broken"); r.status != "soft" || !strings.Contains(r.out, "4.3.0 mlm-accept: incoming: ") {
		t.Errorf("unwritable queue: %+v; want soft, 4.3.0", r)
	}
	check("a post to an unwritable queue")
	os.Chown(tmp, qmailUID(), qmailUID())
	os.Chmod(tmp, 0o700)
	if r := deliver("mlm", "dev@lists.example.org", "alice@example.org", "while broken"); r.status != "success" {
		t.Errorf("retry: %+v", r)
	}
	want["incoming"]++
	check("the retry")

	// The same through .qmail-dev-default, its 67 rule leaving 75 alone.
	reqs := filepath.Join(list, "queue", "requests")
	if err := os.Rename(reqs, reqs+".away"); err != nil {
		t.Fatal(err)
	}
	if r := deliver("mlm", "dev-request@lists.example.org", "alice@example.org", "no queue"); r.status != "soft" || !strings.Contains(r.out, "4.3.0 mlm-accept: requests: ") {
		t.Errorf("missing queue: %+v; want soft, 4.3.0", r)
	}
	os.Rename(reqs+".away", reqs)
	if r := deliver("mlm", "dev-request@lists.example.org", "alice@example.org", "no queue"); r.status != "success" {
		t.Errorf("retry: %+v", r)
	}
	want["requests"]++
	check("the retry of a request")

	// Why --rcpt: with a virtual domain qmail's RECIPIENT is
	// mlm-dev@lists.example.org, not an address of the list.
	plain := map[string]string{".qmail-dev": strings.Replace(files[".qmail-dev"], ` --rcpt="$EXT@$HOST"`, "", 1)}
	if plain[".qmail-dev"] == files[".qmail-dev"] {
		t.Fatal("no --rcpt in .qmail-dev")
	}
	r := qmailLocal(t, qmailAddr(qmailHome(t, plain), "mlm", "dev@lists.example.org", "alice@example.org"), msg("plain"), env)
	if r.status != "soft" || !strings.Contains(r.out, `"mlm-dev@lists.example.org": not an address of this list`) {
		t.Errorf("without --rcpt: %+v", r)
	}
	check("a delivery without --rcpt")
}

// TestNewlistQmailNames: the .qmail files mlm-newlist --mta qmail names
// are the ones qmail-local looks for, for a list whose local part has
// capitals or a dot (qmail-local lowers the extension and reads a dot
// as a colon): a post to the list installed under those names is
// queued.
func TestNewlistQmailNames(t *testing.T) {
	for _, local := range []string{"dev.team", "Dev"} {
		dir := filepath.Join(openTempDir(t, "mlm-list-"), local)
		out, err := exec.Command(filepath.Join(binDir, "mlm-newlist"), "--mta", "qmail", "-b", binDir, dir, local+"@lists.example.org").CombinedOutput()
		if err != nil {
			t.Fatalf("mlm-newlist: %v: %s", err, out)
		}
		files := map[string]string{}
		var name string
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.LastIndex(l, "In .qmail-"); strings.HasPrefix(l, "#") && i >= 0 {
				name = strings.TrimSuffix(l[i+len("In "):], ":")
			} else if strings.HasPrefix(l, "|") && name != "" {
				files[name] = l + "\n"
				name = ""
			}
		}
		if len(files) != 2 {
			t.Fatalf("%s: .qmail files printed: %v\n%s", local, files, out)
		}
		if os.Geteuid() == 0 { // qmail delivers as the list's user, here nobody
			filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, qmailUID(), qmailUID()) })
		}
		home := qmailHome(t, files)
		r := qmailLocal(t, qmailAddr(home, "mlm", local+"@lists.example.org", "alice@example.org"),
			[]byte("From: alice@example.org\nSubject: x\n\nhi\n"), []string{"PATH=/usr/bin:/bin"})
		if r.status != "success" {
			t.Errorf("%s: files %v: delivery %+v", local, files, r)
		}
		if n := queued(t, dir, "incoming"); n != 1 {
			t.Errorf("%s: incoming holds %d posts; want 1", local, n)
		}
	}
}
