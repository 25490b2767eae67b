package tests

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback address no one listens on (a small race
// with other programs, acceptable in tests).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mlm runs a built program with stdin and environment, and fails the
// test unless it exits 0.
func mlm(t *testing.T, stdin string, env []string, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, prog), args...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", prog, args, err, errb.String())
	}
	return out.String()
}

// TestDeliverSmtpSink: a post to 1,000 members with MAX_RCPT 100, from
// mlm-accept to Postfix's smtp-sink through the list's default stages:
// exactly 10 transactions, every member exactly once, the body as sent.
func TestDeliverSmtpSink(t *testing.T) {
	sink, err := exec.LookPath("smtp-sink")
	if err != nil {
		if sink, err = exec.LookPath("/usr/sbin/smtp-sink"); err != nil {
			t.Skip("no smtp-sink (Debian's postfix package)")
		}
	}
	dir := newList(t)
	dump := filepath.Join(filepath.Dir(dir), "dump")
	os.Mkdir(dump, 0o777)
	os.Chmod(dump, 0o777) // smtp-sink writes as nobody
	addr := freePort(t)
	os.WriteFile(filepath.Join(dir, "relay"), []byte(addr+"\n"), 0o644)
	var members strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&members, "member%04d@example.org\n", i)
	}
	mlm(t, members.String(), nil, "mlm-sub", dir)
	srv := exec.Command(sink, "-u", "nobody", "-d", dump+"/%M.", addr, "100")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	for i := 0; i < 100; i++ { // until it listens
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := "Agenda:\n.dot line\nR <mallory@example.net>\n\nend\n"
	post := "From: Member One <member0001@example.org>\nSubject: notes\n\n" + body
	mlm(t, post, []string{"SENDER=member0001@example.org", "RECIPIENT=dev@lists.example.org"}, "mlm-accept", dir)
	mlm(t, "", nil, "mlm-run", dir)

	files, _ := filepath.Glob(filepath.Join(dump, "*"))
	for i := 0; len(files) < 10 && i < 100; i++ { // smtp-sink writes as it goes
		time.Sleep(20 * time.Millisecond)
		files, _ = filepath.Glob(filepath.Join(dump, "*"))
	}
	if len(files) != 10 {
		t.Fatalf("%d transactions; want 10", len(files))
	}
	var rcpts []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, msg, _ := strings.Cut(string(b), "\nX-Rcpt-Args")
		lines := strings.Split("X-Rcpt-Args"+msg, "\n")
		n := 0
		for ; strings.HasPrefix(lines[n], "X-Rcpt-Args: "); n++ {
			rcpts = append(rcpts, strings.TrimPrefix(lines[n], "X-Rcpt-Args: "))
		}
		message := strings.Join(lines[n:], "\n")
		_, gotBody, _ := strings.Cut(message, "\n\n")
		// smtp-sink ends the dump with an empty line of its own.
		if gotBody != body+"\n" {
			t.Errorf("%s: body %q; want %q", filepath.Base(f), gotBody, body)
		}
	}
	sort.Strings(rcpts)
	var want []string
	for i := 1; i <= 1000; i++ {
		want = append(want, fmt.Sprintf("<member%04d@example.org>", i))
	}
	if strings.Join(rcpts, " ") != strings.Join(want, " ") {
		t.Errorf("recipients: %d, not every member exactly once", len(rcpts))
	}
	for _, q := range []string{"incoming", "outgoing", "retry", "bounces"} {
		if n := entries(t, filepath.Join(dir, "queue", q, "new")); len(n) != 0 {
			t.Errorf("queue %s still holds %v", q, n)
		}
	}
}
