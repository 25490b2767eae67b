package tests

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mlm/lib/mlmtest"
)

// sshd is an OpenSSH server on 127.0.0.1 that lets the test's user in
// with a key of the test's own: config is an ssh_config(5) with the host
// alias "deliver" for it.
type sshd struct {
	config string
	cmd    *exec.Cmd
	argv   []string
	addr   string
	keys   string // the authorized_keys file
	key    string // the test user's public key, a line
}

// restrict lets the test's key run command alone, whatever the client
// asks for, as examples/hosts/outgoing advises.
func (s *sshd) restrict(t *testing.T, command string) {
	t.Helper()
	line := fmt.Sprintf("restrict,command=%q %s", command, s.key)
	if err := os.WriteFile(s.keys, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startSSHD starts Debian's sshd as the tests' hosts' link. It needs
// root, as sshd does to log a user in.
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no sshd (Debian's openssh-server package)")
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh (Debian's openssh-client package)")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting sshd needs root")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// Its privilege separation directory, which the package leaves to
	// the boot (tmpfiles.d) to make.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "user"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	userKey, err := os.ReadFile(filepath.Join(dir, "user.pub"))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := os.ReadFile(filepath.Join(dir, "host.pub"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sshd{addr: freePort(t), config: filepath.Join(dir, "ssh_config"), keys: filepath.Join(dir, "authorized_keys"), key: string(userKey)}
	host, port, _ := net.SplitHostPort(s.addr)
	files := map[string]string{
		"authorized_keys": string(userKey),
		"known_hosts":     fmt.Sprintf("[%s]:%s %s", host, port, hostKey),
		"sshd_config": fmt.Sprintf("ListenAddress %s\nHostKey %s\nAuthorizedKeysFile %s\nPidFile none\n"+
			"StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
			s.addr, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys")),
		"ssh_config": fmt.Sprintf("Host deliver\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n"+
			"  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
			host, port, u.Username, filepath.Join(dir, "user"), filepath.Join(dir, "known_hosts")),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.argv = []string{bin, "-D", "-e", "-f", filepath.Join(dir, "sshd_config")}
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

// start starts the server and waits until it listens.
func (s *sshd) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.argv[0], s.argv[1:]...)
	var errb bytes.Buffer
	s.cmd.Stderr = &errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		if i == 500 {
			s.stop()
			t.Fatalf("sshd does not listen on %s: %s", s.addr, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server; the sessions it started end with it.
func (s *sshd) stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// TestExampleHosts: examples/hosts/outgoing, the outgoing stages of a
// list host that hands what it would deliver to a host dedicated to
// delivery, over OpenSSH, into the outgoing queue of the list's
// directory there. Each post reaches every member once, through the
// delivery host's stages, into Postfix's smtp-sink. While the delivery
// host cannot be reached the record waits on the list host, whole, and
// goes once it can. A record handed over again after it was delivered
// (a connection lost after the other end had it) is not sent again. The
// key restricted to the one command, as the example advises, hands
// records over as well, and runs nothing else.
func TestExampleHosts(t *testing.T) {
	s := startSSHD(t)
	addr, dump := smtpSink(t, 100)
	base := openTempDir(t, "mlm-hosts-")
	listHost := filepath.Join(openTempDir(t, "mlm-list-"), "dev")
	deliverHost := filepath.Join(base, "dev") // /srv/lists/dev of the delivery host
	mlm(t, "", nil, "mlm-newlist", "-p", "open", listHost, "dev@lists.example.org")
	mlm(t, "", nil, "mlm-newlist", "-p", "open", deliverHost, "dev@lists.example.org")
	if err := os.WriteFile(filepath.Join(deliverHost, "relay"), []byte(addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The list host's relay goes nowhere: nothing may be sent from it.
	if err := os.WriteFile(filepath.Join(listHost, "relay"), []byte(freePort(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mlm(t, "bob@example.net\ncarol@example.net\n", nil, "mlm-sub", listHost)
	stages := strings.ReplaceAll(exampleText(t, "hosts/outgoing", base), "mlm@deliver.example.org", "-F "+s.config+" deliver")
	if err := os.WriteFile(filepath.Join(listHost, "stages", "outgoing"), []byte(stages), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "mlm-run"), append(args, dir)...)
		cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("mlm-run %s: %v: %s", dir, err, errb.String())
		}
		return errb.String()
	}
	waiting := func(dir string) int {
		return queued(t, dir, "incoming") + queued(t, dir, "outgoing") + queued(t, dir, "retry")
	}
	want := func(n int, what string) {
		t.Helper()
		rcpts, bodies := sinkMessages(t, dump, 2*n)
		var w []string
		for range n {
			w = append(w, "<bob@example.net>", "<carol@example.net>")
		}
		slices.Sort(w)
		if strings.Join(rcpts, " ") != strings.Join(w, " ") {
			t.Errorf("%s: the sink has %q; want each member %d times", what, rcpts, n)
		}
		for _, b := range bodies {
			if b != "hello\n" {
				t.Errorf("%s: a body is %q; want the post's", what, b)
			}
		}
	}

	postTo(t, listHost, "one")
	run(listHost)
	if n := waiting(listHost); n != 0 {
		t.Fatalf("%d records wait on the list host after its run; want them handed over", n)
	}
	if n := queued(t, deliverHost, "outgoing"); n != 1 {
		t.Fatalf("%d records in the delivery host's outgoing queue; want the post", n)
	}
	run(deliverHost)
	want(1, "the first post")

	// From here on the key may run the one command alone: asked for
	// another, the server runs that one (on no input, nothing).
	enqueue := filepath.Join(binDir, "mlm-enqueue") + " " + filepath.Join(deliverHost, "queue", "outgoing")
	s.restrict(t, enqueue)
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh", "-F", s.config, "deliver", "touch", other).CombinedOutput(); err != nil {
		t.Errorf("ssh with the restricted key: %v: %s", err, out)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("the restricted key ran a command of the client's")
	}

	// The delivery host unreachable: the record waits, whole, and goes
	// once it can.
	s.stop()
	postTo(t, listHost, "two")
	if msg := run(listHost); !strings.Contains(msg, "255") {
		t.Errorf("mlm-run of the list host, the delivery host down: stderr %q; want ssh's 255 reported", msg)
	}
	ids := mlmtest.Names(t, filepath.Join(listHost, "queue", "outgoing", "new"))
	if len(ids) != 1 {
		t.Fatalf("%d records wait in the list host's outgoing queue; want the post", len(ids))
	}
	held, err := os.ReadFile(filepath.Join(listHost, "queue", "outgoing", "new", ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	s.start(t)
	run(listHost, "-f")
	if n := waiting(listHost); n != 0 {
		t.Fatalf("%d records wait on the list host once the delivery host is back", n)
	}
	run(deliverHost)
	want(2, "the second post")

	// The same record handed over again, after it went: the delivery
	// host's journal keeps it from being sent twice.
	if err := os.WriteFile(filepath.Join(listHost, "queue", "outgoing", "new", ids[0]), held, 0o600); err != nil {
		t.Fatal(err)
	}
	run(listHost, "-f")
	if n := queued(t, deliverHost, "outgoing"); n != 1 {
		t.Fatalf("%d records in the delivery host's outgoing queue; want the record again", n)
	}
	run(deliverHost)
	if n := waiting(deliverHost); n != 0 {
		t.Errorf("%d records wait on the delivery host", n)
	}
	want(2, "the second post handed over twice")
}
