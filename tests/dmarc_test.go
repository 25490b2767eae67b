package tests

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDMARCMunge: a list with a prefix and dmarc munge, its DNS
// dnsmasq's: the members get a post from a domain of p=reject under the
// list's From, with the author in Reply-To, and a post from a domain of
// p=none under its author's, through the default stages to smtp-sink.
func TestDMARCMunge(t *testing.T) {
	dns := dnsmasq(t, map[string]string{
		"_dmarc.reject.example": "v=DMARC1; p=reject",
		"_dmarc.none.example":   "v=DMARC1; p=none",
	})
	addr, dump := smtpSink(t, 100)
	dir := newList(t)
	for name, v := range map[string]string{"relay": addr, "prefix": "[dev]", "dmarc": "munge"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mlm(t, "alice@reject.example\nnora@none.example\nm@example.org\n", nil, "mlm-sub", dir)
	env := []string{"MLM_DNS=" + dns, "RECIPIENT=dev@lists.example.org"}
	mlm(t, "From: Alice Example <alice@reject.example>\nSubject: one\n\nbody\n", append(env, "SENDER=alice@reject.example"), "mlm-accept", dir)
	mlm(t, "From: Nora <nora@none.example>\nSubject: two\n\nbody\n", append(env, "SENDER=nora@none.example"), "mlm-accept", dir)
	mlm(t, "", env, "mlm-run", dir)

	dumps := sinkDumps(t, dump, 6) // each post to the 3 members
	want := map[string][]string{
		"Subject: [dev] one": {`From: "Alice Example via dev" <dev@lists.example.org>`, "Reply-To: Alice Example <alice@reject.example>"},
		"Subject: [dev] two": {"From: Nora <nora@none.example>"},
	}
	for _, d := range dumps {
		h := d.header
		lines := strings.Split(h, "\n")
		for subject, fields := range want {
			if !slices.Contains(lines, subject) {
				continue
			}
			for _, f := range fields {
				if !slices.Contains(lines, f) {
					t.Errorf("the post %q went without %q:\n%s", subject, f, h)
				}
			}
			name, _, _ := strings.Cut(fields[0], ":")
			if n := countFields(lines, name); n != 1 {
				t.Errorf("the post %q has %d %s fields", subject, n, name)
			}
			delete(want, subject)
		}
	}
	if len(want) > 0 {
		t.Errorf("not delivered: %v, of %d transactions", want, len(dumps))
	}
}

func countFields(lines []string, name string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			n++
		}
	}
	return n
}

// dnsmasq starts Debian's dnsmasq on a loopback port, answering TXT
// queries of the names in txt with their records, each its own, and
// NXDOMAIN for any other name in .example, until the test ends. It
// returns its address, host:port, for MLM_DNS.
func dnsmasq(t *testing.T, txt map[string]string) string {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/dnsmasq"); err != nil {
			t.Skip("no dnsmasq (Debian's dnsmasq-base package)")
		}
	}
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--port=" + port,
		"--listen-address=" + host, "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/example/",
		"--log-facility=-"}
	u, err := user.Current() // not the user dnsmasq drops to by default
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "--user="+u.Username)
	for name, v := range txt {
		args = append(args, "--txt-record="+name+","+v)
	}
	srv := exec.Command(bin, args...)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	for i := 0; ; i++ { // until it answers
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := r.LookupTXT(ctx, "probe.example.")
		cancel()
		if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			break // NXDOMAIN: an answer
		}
		if i == 200 {
			t.Fatalf("dnsmasq does not answer: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr
}
