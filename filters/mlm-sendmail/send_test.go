package main

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"golang.org/x/sys/unix"

	"mlm/lib/addr"
	"mlm/lib/ascii"
	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/smtpout"
	"mlm/lib/smtpsink"
	"mlm/lib/smtpsink/sinktest"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// list makes a list directory with the queues mlm-sendmail writes to.
func list(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644)
	for _, d := range []string{"tmp", "new", "cur", "bad"} {
		os.MkdirAll(filepath.Join(dir, "queue", "bounces", d), 0o700)
	}
	return dir
}

// listJournal is a new list directory (list) whose post has the
// journal text already, and the journal's file name.
func listJournal(t *testing.T, post, text string) (dir, name string) {
	t.Helper()
	dir = list(t)
	name = filepath.Join(dir, "state", "journal", post)
	os.MkdirAll(filepath.Dir(name), 0o700)
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, name
}

// rules parses a sink's RCPT replies, "pattern=reply" each.
func rules(t *testing.T, ss ...string) []smtpsink.Rule {
	var rs []smtpsink.Rule
	for _, s := range ss {
		r, err := smtpsink.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// record is one record of the given recipients.
func record(id string, rcpts ...string) string {
	return recordOf(id, "Subject: x\n\n.line\nbody\n", rcpts...)
}

// recordOf is one record of the message to the given recipients.
func recordOf(id, msg string, rcpts ...string) string {
	return recordAttrs(id, msg, nil, rcpts...)
}

// recordAttrs is recordOf with more attributes after "received".
func recordAttrs(id, msg string, attrs []stream.Attr, rcpts ...string) string {
	var b bytes.Buffer
	var ps []stream.Path
	for _, r := range rcpts {
		ps = append(ps, stream.Path{Mailbox: r})
	}
	h := &stream.Header{ID: id, Attrs: append([]stream.Attr{{Name: "received", Value: "1795867200"}}, attrs...), Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}}
	stream.WriteRecord(&b, h, strings.NewReader(msg), ps)
	return b.String()
}

// send runs mlm-sendmail on in and returns its stdout.
func send(t *testing.T, a *args, in string) (string, error) {
	t.Helper()
	if a.Timeout == 0 {
		a.Timeout = 2 * time.Second
	}
	if a.Conns == 0 {
		a.Conns = 2
	}
	if a.Lifetime == 0 {
		a.Lifetime = 120 * time.Hour
	}
	var out, errb bytes.Buffer
	err := run(a, strings.NewReader(in), &out, &errb)
	return out.String(), err
}

// delivered lists the recipients the sink accepted, with repeats.
func delivered(s *smtpsink.Server) []string {
	var got []string
	for _, m := range s.Messages() {
		for _, r := range m.Rcpts {
			got = append(got, r.Mailbox)
		}
	}
	sort.Strings(got)
	return got
}

func TestMixedReplies(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450*=450 4.2.0 mailbox busy", "t451*=451 4.3.0 try later", "f550*=550 5.1.1 no such user", "f553*=553 5.1.3 bad address")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}}
	in := record("p1,1", "ok1@example.org", "t450@example.org", "ok2@example.org", "t451@example.org", "f550@example.org", "f553@example.org", "ok3@example.org")
	out, err := send(t, a, in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := strings.Join(delivered(srv), " "); got != "ok1@example.org ok2@example.org ok3@example.org" {
		t.Errorf("delivered %s", got)
	}
	// 4xx: one record on stdout with the deferred recipients.
	if !strings.Contains(out, "MLM1 p1,1,r-") || !strings.Contains(out, "R <t450@example.org>\nR <t451@example.org>\nE 2\n") {
		t.Errorf("deferred record:\n%s", out)
	}
	// 5xx: a bounce record each, with the reply and enhanced code.
	bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*"))
	if len(bounces) != 2 {
		t.Fatalf("bounce records %v", bounces)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", "p1,1,b5"))
	if !bytes.Contains(b, []byte("A rcpt=f550@example.org\nA status=5.1.1\nA reply=550%205.1.1%20no%20such%20user\n")) {
		t.Errorf("bounce record:\n%s", b)
	}
	// The same batch again (a crash before its queue file was removed):
	// nothing is sent twice, 5xx are not retried.
	if _, err := send(t, a, in); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered(srv)); n != 3 {
		t.Errorf("after a re-run %d deliveries; want 3", n)
	}
	// The retry record, now accepted: delivered once, and 250s untouched.
	srv2 := sinktest.Sink(t, smtpsink.Options{})
	a2 := &args{Dir: dir, Relay: []string{srv2.Addr()}, Retry: true}
	if _, err := send(t, a2, out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(delivered(srv2), " "); got != "t450@example.org t451@example.org" {
		t.Errorf("retry delivered %s", got)
	}
	if _, err := send(t, a2, out); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered(srv2)); n != 2 {
		t.Errorf("a second retry sent again: %d", n)
	}
}

// TestErrorLimit: a relay that closes with 421 once a connection has
// had 20 refusals (Postfix's smtpd_hard_error_limit, on by default) and
// a batch of 100 with 25 unknown users: the 20 refusals read before the
// 421 stand, and the rest goes on another connection, in the same run:
// every member delivered, every unknown user bounced, nothing deferred.
// (It was refused again on every connection, the batch deferred whole,
// and every member bounced at the end of the lifetime: a review.)
func TestErrorLimit(t *testing.T) {
	mlmtest.Fault(t, "smtp", "mlm-sendmail: 421 and the connection closed after 20 refused RCPTs (Postfix's smtpd_hard_error_limit), 25 unknown users in a batch of 100", "in one run: every member delivered, the 25 bounced, nothing deferred")
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{ErrorLimit: 20, Replies: rules(t, "u*=550 5.1.1 no such user")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second}
	var to, members []string
	for i := range 100 {
		if i%4 == 1 {
			to = append(to, fmt.Sprintf("u%02d@example.org", i))
		} else {
			m := fmt.Sprintf("m%02d@example.org", i)
			to, members = append(to, m), append(members, m)
		}
	}
	out, err := send(t, a, record("p1,1", to...))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if out != "" {
		t.Errorf("deferred:\n%s", out)
	}
	if got, want := strings.Join(delivered(srv), " "), strings.Join(members, " "); got != want {
		t.Errorf("delivered %s; want %s", got, want)
	}
	if bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(bounces) != 25 {
		t.Errorf("%d bounce records; want 25", len(bounces))
	}
	if got := srv.Counts(); got.Connections != 2 || got.Dropped != 1 {
		t.Errorf("server: %v; want 2 connections, one closed at the limit", got)
	}
}

// TestErrorLimitMembersFirst: TestErrorLimit's relay, and a batch of 100
// with 50 unknown users, one in two, more than its two tries can refuse:
// the members a connection took before its 421 go first on the next, in
// a transaction of their own, and are delivered there, before that
// connection meets the rest of the unknown users. Connection 1: 20 refused, 20
// taken, 421; connection 2: those 20 delivered, then 20 refused, 20
// taken, 421; the 40 left deferred. They all waited behind the unknown
// users, to the retry queue (a review).
func TestErrorLimitMembersFirst(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{ErrorLimit: 20, Replies: rules(t, "u*=550 5.1.1 no such user")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second}
	var to []string
	for i := range 100 {
		if i%2 == 1 {
			to = append(to, fmt.Sprintf("u%02d@example.org", i))
		} else {
			to = append(to, fmt.Sprintf("m%02d@example.org", i))
		}
	}
	out, err := send(t, a, record("p1,1", to...))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var first []string
	for i := 0; i < 40; i += 2 {
		first = append(first, fmt.Sprintf("m%02d@example.org", i))
	}
	if got, want := strings.Join(delivered(srv), " "), strings.Join(first, " "); got != want {
		t.Errorf("delivered %s; want %s", got, want)
	}
	if bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(bounces) != 40 {
		t.Errorf("%d bounce records; want 40", len(bounces))
	}
	if n := strings.Count(out, "\nR <"); n != 40 {
		t.Errorf("%d recipients deferred; want 40:\n%s", n, out)
	}
}

// TestRelayTurnFromOpen: relays A (closes every connection at once) and
// B (takes its first transaction, then refuses every MAIL 451). Record
// 1 goes over from A to B; record 2, on that connection to B, is
// refused, and its turn goes on from B: A, B, A, each relay twice. It
// went on from the lane's first relay, A, whatever the connection in
// hand: B, then B, A, B, one relay three times and the other once (a
// review).
func TestRelayTurnFromOpen(t *testing.T) {
	var aDials, bMails atomic.Int64
	a := mlmtest.Serve(t, func(_ int, c net.Conn) { aDials.Add(1) })
	b := mlmtest.Serve(t, func(_ int, c net.Conn) {
		io.WriteString(c, "220 b\r\n")
		br := bufio.NewReader(c)
		refused := false
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			switch u := strings.ToUpper(strings.TrimSpace(l)); {
			case strings.HasPrefix(u, "EHLO"):
				io.WriteString(c, "250 b\r\n") // no PIPELINING: a reply a command
			case strings.HasPrefix(u, "MAIL"):
				refused = bMails.Add(1) > 1
				if refused {
					io.WriteString(c, "451 4.3.0 try later\r\n")
				} else {
					io.WriteString(c, "250 ok\r\n")
				}
			case refused && (strings.HasPrefix(u, "RCPT") || u == "DATA"):
				io.WriteString(c, "503 5.5.1 MAIL first\r\n")
			case u == "DATA":
				io.WriteString(c, "354 go on\r\n")
				for l != ".\r\n" && err == nil {
					l, err = br.ReadString('\n')
				}
				io.WriteString(c, "250 taken\r\n")
			case u == "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	})
	in := record("p1,1", "m1@x.org") + record("p1,2", "m2@x.org")
	out, err := send(t, &args{Dir: list(t), Relay: []string{a, b}, Conns: 1, Timeout: 5 * time.Second}, in)
	if err != nil || !strings.Contains(out, "R <m2@x.org>\n") || strings.Contains(out, "m1@x.org") {
		t.Errorf("run: %v, standard output %q; want 0, record 2 deferred, record 1 not", err, out)
	}
	// Record 1: A, then B. Record 2: B (the connection in hand), A, B, A.
	if a, b := aDials.Load(), bMails.Load(); a != 3 || b != 3 {
		t.Errorf("relay A dialled %d times, relay B given %d MAILs; want 3 and 3 (1 and 1 for record 1, 2 and 2 for record 2)", a, b)
	}
}

// TestBounceLongReply: a bounce record's message keeps every line
// within the 998 octets RFC 5322 section 2.1.1 allows, a reply of
// smtpout.MaxReplyText octets of text (a 5xx, or a 4xx past the
// lifetime) among them, and still says the whole reply.
func TestBounceLongReply(t *testing.T) {
	text := strings.Repeat("no-such-user ", smtpout.MaxReplyText/13)
	for _, tc := range []struct {
		name, reply string
		expired     bool
	}{
		{"5xx", "550 5.1.1 " + text, false},
		{"4xx past the lifetime", "451 4.3.0 " + text, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := list(t)
			srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*="+tc.reply)})
			a := &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: tc.expired}
			if tc.expired {
				os.Setenv("MLM_NOW", fmt.Sprint(1795867200+6*24*3600))
				defer os.Unsetenv("MLM_NOW")
			}
			if _, err := send(t, a, record("p4,1,r", "a@example.org")); err != nil {
				t.Fatal(err)
			}
			m, ent := bounceMessage(t, dir, "p4,1,r,b1")
			for _, l := range strings.Split(m, "\n") {
				if len(l) > 998 {
					t.Errorf("line of %d octets: %.60q…", len(l), l)
				}
			}
			body, _ := io.ReadAll(ent.Body)
			if !strings.Contains(string(body), strings.TrimSpace(text)) {
				t.Errorf("the reply is not whole in the body:\n%s", body)
			}
		})
	}
}

// TestBounceUTF8: a bounce record's message whose text is not ASCII
// (an RFC 6531 recipient, a server's UTF-8 reply) says it is UTF-8: a
// message with no charset is US-ASCII (RFC 2045 section 5.2), and
// Python's email shows "j\ufffd\ufffdrg" for "jörg".
func TestBounceUTF8(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=550 5.2.2 Postfach übervoll")})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p6,1", "jörg@example.org", "bob@example.org")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p6,1,b1", "p6,1,b2"} {
		m, ent := bounceMessage(t, dir, id)
		_, params, _ := ent.Header.ContentType()
		if params["charset"] != "utf-8" {
			t.Errorf("%s: charset %q; want utf-8 in:\n%s", id, params["charset"], m)
		}
	}
}

// TestBounceNotUTF8: a server's reply in Latin-1, or with a control
// octet, goes into the bounce record's message as \xHH, as on standard
// error: its text is then ASCII or UTF-8 labelled so, never 8-bit octets
// under no charset (US-ASCII, RFC 2045 section 5.2), nor a control a
// message line may not hold; the reply attribute keeps it as it came.
func TestBounceNotUTF8(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=550 5.2.2 Postfach \xfcbervoll\x01")})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p6,1", "bob@example.org")); err != nil {
		t.Fatal(err)
	}
	m, ent := bounceMessage(t, dir, "p6,1,b1")
	body, _ := io.ReadAll(ent.Body)
	_, params, _ := ent.Header.ContentType()
	if !utf8.Valid(body) || strings.ContainsFunc(string(body), func(r rune) bool { return r < ' ' && r != '\n' }) ||
		!ascii.Is(m) && params["charset"] != "utf-8" {
		t.Errorf("bounce message, charset %q:\n%q", params["charset"], m)
	}
	if !strings.Contains(string(body), `Postfach \xfcbervoll\x01`) {
		t.Errorf("the reply is not in the body as \\xHH:\n%q", body)
	}
	f, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", "p6,1,b1"))
	if !bytes.Contains(f, []byte("A reply=550%205.2.2%20Postfach%20\xfcbervoll%01\n")) {
		t.Errorf("reply attribute not as it came:\n%q", f)
	}
}

// TestBounceFields: a bounce record's message has the fields RFC 5322
// section 3.6 requires of every message, From and Date, readable as an
// address and a date.
func TestBounceFields(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=550 5.1.1 no such user")})
	os.Setenv("MLM_NOW", "1795867260")
	defer os.Unsetenv("MLM_NOW")
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p5,1", "a@example.org")); err != nil {
		t.Fatal(err)
	}
	m, ent := bounceMessage(t, dir, "p5,1,b1")
	h := mail.Header{Header: ent.Header}
	if as, err := h.AddressList("From"); err != nil || len(as) != 1 {
		t.Errorf("From: %v, %v; want one address in:\n%s", as, err, m)
	}
	if d, err := h.Date(); err != nil || d.Unix() != 1795867260 {
		t.Errorf("Date: %v, %v; want the time of the run in:\n%s", d, err, m)
	}
}

func TestRetryStillDeferred(t *testing.T) {
	dir := list(t)
	// In the lifetime: a day after the records' "received".
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+24*3600))
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	_, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true}, record("p2,1,r", "a@example.org"))
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("retry still deferred: %v; want 75", err)
	}
	// Past the lifetime it fails for good, with a bounce record.
	os.Setenv("MLM_NOW", fmt.Sprint(1795867200+6*24*3600))
	defer os.Unsetenv("MLM_NOW")
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true}, record("p2,1,r", "a@example.org")); err != nil {
		t.Errorf("expired: %v; want 0", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", "p2,1,r,b1"))
	if !bytes.Contains(b, []byte("A status=5.4.7\n")) {
		t.Errorf("expiry bounce:\n%s", b)
	}
}

// TestRetryNoRelayExpires: a retry record whose recipients no relay
// takes (here none answers) waits, until past the lifetime it fails
// them for good, with a bounce record, as a relay that kept deferring
// them would: it does not stay in the retry queue forever.
func TestRetryNoRelayExpires(t *testing.T) {
	dir := list(t)
	// In the lifetime: a day after the records' "received".
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+24*3600))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := l.Addr().String()
	l.Close()
	a := func() *args { return &args{Dir: dir, Relay: []string{refusing}, Retry: true, Timeout: time.Second} }
	if _, err := send(t, a(), record("p2,1,r", "a@example.org", "b@example.org")); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("no relay, in the lifetime: %v; want 75", err)
	}
	os.Setenv("MLM_NOW", fmt.Sprint(1795867200+6*24*3600))
	defer os.Unsetenv("MLM_NOW")
	if out, err := send(t, a(), record("p2,1,r", "a@example.org", "b@example.org")); err != nil || out != "" {
		t.Errorf("no relay, expired: %v, retry record %q; want 0 and none", err, out)
	}
	for _, id := range []string{"p2,1,r,b1", "p2,1,r,b2"} {
		b, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", id))
		if !bytes.Contains(b, []byte("A status=5.4.7\n")) || !bytes.Contains(b, []byte("no relay took it: ")) {
			t.Errorf("expiry bounce %s:\n%s", id, b)
		}
	}
	if j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p2")); string(j) != "F a@example.org\nF b@example.org\n" {
		t.Errorf("journal %q", j)
	}
}

// TestOutgoingNoRelayDeferred: a record of the outgoing queue that no
// relay takes (none answers) is deferred, to a retry record whose
// lifetime runs from then, however old the post (one paced over days,
// a host stopped for days): its recipients fail for good only once that
// record is past it, with 5.4.7 and the reason. It waited in the
// outgoing queue for ever, and nobody was told (a review).
func TestOutgoingNoRelayDeferred(t *testing.T) {
	dir := list(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := l.Addr().String()
	l.Close()
	day := int64(24 * 3600)
	// A week after the post came: deferred, not failed.
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+7*day))
	out, err := send(t, &args{Dir: dir, Relay: []string{refusing}, Timeout: time.Second}, record("p3,1", "a@example.org", "b@example.org"))
	if err != nil || !strings.Contains(out, fmt.Sprintf("\nA deferred-at=%d\n", 1795867200+7*day)) {
		t.Fatalf("no relay: %v, retry record %q; want 0 and one deferred now", err, out)
	}
	if fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); len(fs) > 0 {
		t.Errorf("no relay, a week after the post came: %d bounce records; want none", len(fs))
	}
	a := &args{Dir: dir, Relay: []string{refusing}, Timeout: time.Second, Retry: true}
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+11*day))
	if _, err := send(t, a, out); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("its retry, in its lifetime: %v; want 75", err)
	}
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+13*day))
	if again, err := send(t, a, out); err != nil || again != "" {
		t.Errorf("its retry, past its lifetime: %v, %q; want 0 and nothing", err, again)
	}
	bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "p3,1,r-*"))
	if len(bounces) != 2 {
		t.Fatalf("bounce records %v; want two", bounces)
	}
	for _, f := range bounces {
		if b, _ := os.ReadFile(f); !bytes.Contains(b, []byte("A status=5.4.7\n")) || !bytes.Contains(b, []byte("no relay took it: ")) {
			t.Errorf("expiry bounce %s:\n%s", f, b)
		}
	}
}

// TestLifetimeFromDeferral: a post that goes out late (approved on the
// sixth day of moderation) has its recipients' lifetime counted from
// their first deferral, which the record of them says, not from its
// acceptance: the retry right after is deferred again, not bounced.
func TestLifetimeFromDeferral(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.7.1 greylisted")})
	sixDays := int64(6 * 24 * 3600)
	os.Setenv("MLM_NOW", fmt.Sprint(1795867200+sixDays))
	defer os.Unsetenv("MLM_NOW")
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p4,1", "b@example.org", "a@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	r := stream.NewReader(strings.NewReader(out))
	h, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Get("deferred-at"); v != fmt.Sprint(1795867200+sixDays) {
		t.Errorf("deferred-at %q; want the time of the deferral", v)
	}
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true}, out); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("retry right after: %v; want 75", err)
	}
	if fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); len(fs) > 0 {
		t.Errorf("retry right after bounced %d recipients", len(fs))
	}
	// Six days after the deferral, it is past the lifetime.
	os.Setenv("MLM_NOW", fmt.Sprint(1795867200+2*sixDays))
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true}, out); err != nil {
		t.Errorf("expired: %v; want 0", err)
	}
	if fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); len(fs) != 2 {
		t.Errorf("expired: %d bounce records; want 2", len(fs))
	}
	// Without -R too, as a site's own retry stages send it: failed, not
	// written out again, where its chain went on for ever (a review).
	dir2 := list(t)
	if again, err := send(t, &args{Dir: dir2, Relay: []string{srv.Addr()}}, out); err != nil || again != "" {
		t.Errorf("expired, without -R: %v, %q; want 0 and nothing", err, again)
	}
	if fs, _ := os.ReadDir(filepath.Join(dir2, "queue", "bounces", "new")); len(fs) != 2 {
		t.Errorf("expired, without -R: %d bounce records; want 2", len(fs))
	}
}

// TestDeferredAtKept: a record that has a deferred-at already (a retry
// record sent again without -R) keeps it in the record of the
// recipients it defers again, as mlm-sendmail(1) says: a new one at each
// deferral would restart the lifetime, and they would be tried for ever.
func TestDeferredAtKept(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.7.1 greylisted")})
	os.Setenv("MLM_NOW", "1796000000")
	defer os.Unsetenv("MLM_NOW")
	in := recordAttrs("p5,1,r-0123abcd", "Subject: x\n\nbody\n", []stream.Attr{{Name: "deferred-at", Value: "1795900000"}}, "b@example.org")
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, in)
	if err != nil {
		t.Fatal(err)
	}
	h, err := stream.NewReader(strings.NewReader(out)).Next()
	if err != nil {
		t.Fatalf("retry record %q: %v", out, err)
	}
	var got []string
	for _, a := range h.Attrs {
		if a.Name == "deferred-at" {
			got = append(got, a.Value)
		}
	}
	if len(got) != 1 || got[0] != "1795900000" {
		t.Errorf("deferred-at %q; want the record's own, 1795900000, once", got)
	}
}

// TestJournalSwept: at the end of a run, the journal of a post done for
// longer than the lifetime and two days is removed; the run's own stays.
func TestJournalSwept(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	old := agedJournal(t, dir, "old", (120+49)*time.Hour)
	// Past the lifetime but not two days more: kept.
	recent := agedJournal(t, dir, "recent", (120+47)*time.Hour)
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p5,1", "a@example.org")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Errorf("the old journal is still there")
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a journal not written to for the lifetime and 47 hours: %v; want it kept two days past the lifetime", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "journal", "p5")); err != nil {
		t.Errorf("the run's own journal: %v", err)
	}
}

// TestJournalSweptLongLifetime: an -l within two days of the longest
// duration keeps every journal: the lifetime and two days, added, wrapped
// round below 0, and the sweep removed every journal, fresh ones too.
// (From a review.)
func TestJournalSweptLongLifetime(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	old := agedJournal(t, dir, "old", (120+49)*time.Hour)
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Lifetime: math.MaxInt64 - time.Hour}, record("p5,1", "a@example.org")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("a journal of a week with -l %v: %v; want it kept", time.Duration(math.MaxInt64-time.Hour), err)
	}
}

// agedJournal writes the delivery journal of the post name in the list
// dir, one line, last written age ago, and returns its path.
func agedJournal(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	f := filepath.Join(dir, "state", "journal", name)
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		t.Fatal(err)
	}
	return mlmtest.AgedFile(t, f, "D a@example.org\n", age)
}

// TestRetryID: the record of a batch's deferred recipients is named by
// the set of the batch's recipients: the same batch, in any order, the
// same name (the retry queue takes it once, whatever it defers each
// time); another batch, another name (the queue keeps both).
func TestRetryID(t *testing.T) {
	ps := func(ms ...string) []stream.Path {
		var rs []stream.Path
		for _, m := range ms {
			rs = append(rs, stream.Path{Mailbox: m})
		}
		return rs
	}
	b := retryID("p,1", ps("b@x.example"))
	bc := retryID("p,1", ps("b@x.example", "c@x.example"))
	cb := retryID("p,1", ps("c@x.example", "b@x.example"))
	if bc != cb || b == bc {
		t.Errorf("ids %s, %s, %s: want the last two alike, the first not", b, bc, cb)
	}
	if err := stream.CheckID(bc); err != nil || !strings.HasPrefix(bc, "p,1,r-") || len(bc) != len("p,1,r-")+8 {
		t.Errorf("id %s: %v; want p,1,r- and 8 hex digits", bc, err)
	}
}

// TestRetryRecordAgain: a batch run again, deferring fewer of its
// recipients than the first time, makes a record of the same name, which
// the retry queue takes once; so no recipient is in two retry records.
func TestRetryRecordAgain(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	first, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p8,1", "a@example.org", "b@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	srv2 := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "b@example.org=451 4.3.0 later")})
	again, err := send(t, &args{Dir: dir, Relay: []string{srv2.Addr()}}, record("p8,1", "a@example.org", "b@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	id := func(out string) string { l, _, _ := strings.Cut(out, "\n"); return l }
	if id(first) != id(again) || !strings.HasSuffix(again, "\nR <b@example.org>\nE 1\n") {
		t.Errorf("the batch again: %q; want the same id as %q, with b alone", id(again), id(first))
	}
}

func TestTooManyRecipients(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{MaxRcpt: 2})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p3,1", "a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org")); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered(srv)); n != 5 {
		t.Errorf("%d delivered; want 5", n)
	}
	if c := srv.Counts(); c.Transactions != 3 {
		t.Errorf("%d transactions; want 3 (452 continues in a new one)", c.Transactions)
	}
}

// TestTooManyReplies: what a server refuses as too many goes in another
// transaction, 552 5.5.3 as 452 (RFC 5321 4.5.3.1.10; a 552 without it,
// a full mailbox, is permanent, as Postfix takes it); what it refuses
// alone in a transaction is deferred with the server's own reply, and a
// reply lost after the data defers only the recipients it had taken.
func TestTooManyReplies(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "many*=552 5.5.3 too many recipients", "busy*=452 4.2.2 mailbox full", "full*=552 5.2.2 mailbox full")})
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour, Verbose: true}
	err := run(a, strings.NewReader(record("p1,1", "a@x.example", "many@x.example", "busy@x.example", "full@x.example")), &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(delivered(srv), " "); got != "a@x.example" {
		t.Errorf("delivered %q", got)
	}
	// many and busy refused alone in the next transaction: deferred,
	// each with the server's reply (the first names the record).
	if o := out.String(); !strings.Contains(o, "R <many@x.example>\nR <busy@x.example>\nE 2\n") ||
		!strings.Contains(o, "A deferred=452%204.5.3%20too%20many%20recipients:%20552%205.5.3%20too%20many%20recipients\n") {
		t.Errorf("deferred record:\n%s", o)
	}
	if bs, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(bs) != 1 || !strings.HasSuffix(bs[0], "p1,1,b4") {
		t.Errorf("bounce records %v; want full's alone", bs)
	}
	if c := srv.Counts(); c.Transactions != 1 {
		t.Errorf("%d transactions taken; want 1", c.Transactions)
	}

	// A lost reply: of the transaction's recipients, the one taken is
	// deferred as lost, the one refused as too many goes on at once.
	dir = list(t)
	srv = sinktest.Sink(t, smtpsink.Options{MaxRcpt: 1, DropAfterDot: 2})
	out.Reset()
	errb.Reset()
	a = &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour, Verbose: true}
	err = run(a, strings.NewReader(record("p2,1", "z@x.example")+record("p3,1", "a@x.example", "b@x.example")), &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "lost-replies=1\n") {
		t.Errorf("stats: %s; want lost-replies=1", errb.String())
	}
	if o := out.String(); !strings.Contains(o, "MLM1 p3,1,r-") || !strings.Contains(o, "\nR <a@x.example>\nE 1\n") {
		t.Errorf("deferred record:\n%s", o)
	}
	if got := strings.Join(delivered(srv), " "); got != "a@x.example b@x.example z@x.example" {
		t.Errorf("the server took %q; want z, a (its reply lost) and b", got)
	}
}

// TestLostReply: recipients whose reply was lost after the data are not
// sent again at once, but deferred, to a retry record, however old it
// is (never bounced: the server may have the message); they reach the
// server from there, and only they can arrive twice.
func TestLostReply(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{DropAfterDot: 2})
	var in string
	for i := 0; i < 6; i++ {
		in += record(fmt.Sprintf("p4,%d", i+1), fmt.Sprintf("m%d@x.org", i))
	}
	lostIn := func(errb string) int {
		var n int
		fmt.Sscanf(errb[strings.Index(errb, "lost-replies="):], "lost-replies=%d", &n)
		return n
	}
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 2 * time.Second, Lifetime: time.Hour, Verbose: true}
	if err := run(a, strings.NewReader(in), &out, &errb); err != nil {
		t.Fatal(err)
	}
	lost := lostIn(errb.String())
	if n := strings.Count(out.String(), "\nR <"); n != lost || lost == 0 {
		t.Errorf("%d deferred, %d lost replies: %s", n, lost, errb.String())
	}
	// The retry records, past their lifetime (an hour): every second
	// transaction still loses its reply, and its recipient is deferred
	// again (exit 75), not bounced, until a reply comes.
	a.Retry = true
	retry := out.String()
	for try := 0; ; try++ {
		errb.Reset()
		err := run(a, strings.NewReader(retry), &bytes.Buffer{}, &errb)
		lost += lostIn(errb.String())
		if err == nil {
			break
		}
		if sysexit.Code(err) != sysexit.TempFail || try == 5 {
			t.Fatalf("retry %d: %v", try+1, err)
		}
	}
	if bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(bounces) > 0 {
		t.Errorf("bounces for lost replies: %v", bounces)
	}
	seen := map[string]int{}
	got := delivered(srv)
	for _, r := range got {
		seen[r]++
	}
	if len(seen) != 6 {
		t.Errorf("recipients delivered: %v; want all six", seen)
	}
	if dups := len(got) - len(seen); dups > lost {
		t.Errorf("%d duplicates, %d lost replies", dups, lost)
	}
}

// TestPartlyTried: a batch whose relay goes away after a 451 is
// deferred whole, in one retry record: the recipient the relay deferred
// and the one no relay took; never a retry record of part of the batch,
// which a later, larger set of deferred recipients would find there and
// be dropped as a duplicate of.
func TestPartlyTried(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{MaxRcpt: 1, Replies: rules(t, "a@*=451 4.3.0 later"), DropAfterRcpt: 2})
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, record("p9,1", "a@x.org", "b@x.org"))
	if err != nil || strings.Count(out, "MLM1 ") != 1 || !strings.Contains(out, "R <a@x.org>\nR <b@x.org>\nE 2\n") {
		t.Errorf("untried recipients: %v, output %q; want 0 and one retry record of both", err, out)
	}
}

func TestRelayPool(t *testing.T) {
	dir := list(t)
	refusing := func() string { // a port nobody listens on
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	stalling := sinktest.Sink(t, smtpsink.Options{Stall: true})
	healthy := sinktest.Sink(t, smtpsink.Options{})
	a := &args{Dir: dir, Relay: []string{refusing, stalling.Addr(), healthy.Addr()}, Conns: 3, Timeout: time.Second}
	var in string
	for i := 0; i < 9; i++ {
		in += record(fmt.Sprintf("p5,%d", i+1), fmt.Sprintf("m%d@x.org", i))
	}
	if _, err := send(t, a, in); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := len(delivered(healthy)); n != 9 {
		t.Errorf("healthy relay got %d; want 9", n)
	}
	// All down: deferred, to a retry record (and its lifetime), nothing
	// journaled, nothing lost; the retry record, with all still down,
	// waits (75).
	b := &args{Dir: dir, Relay: []string{refusing}, Timeout: time.Second}
	out, err := send(t, b, record("p6,1", "z@x.org"))
	if err != nil || !strings.Contains(out, "\nA deferred=451%204.4.1%20no%20relay%20took%20it:%20") || !strings.Contains(out, "\nR <z@x.org>\nE 1\n") {
		t.Errorf("all relays down: %v, retry record %q; want 0 and z deferred", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", "journal", "p6")); err == nil && len(b) > 0 {
		t.Errorf("journal written with no delivery: %q", b)
	}
	b.Retry = true
	if again, err := send(t, b, out); sysexit.Code(err) != sysexit.TempFail || again != "" {
		t.Errorf("its retry, all relays down: %v, %q; want 75 and nothing", err, again)
	}
}

// TestRelayRoundRobin: each connection starts at the relay its number
// picks (mlm-sendmail(1): "tried in turn from the one the connection's
// number picks"), and keeps it for the records after: with two relays
// and -c 2, each relay gets one connection. The first MAIL is answered
// only once a second MAIL has come, so that both connections carry a
// record whichever is quicker.
func TestRelayRoundRobin(t *testing.T) {
	var mu sync.Mutex
	mails := 0
	second := make(chan struct{})
	hold := func() {
		mu.Lock()
		mails++
		n := mails
		mu.Unlock()
		switch n {
		case 1:
			select {
			case <-second:
			case <-time.After(10 * time.Second): // (a failure below says why)
			}
		case 2:
			close(second)
		}
	}
	a := sinktest.Sink(t, smtpsink.Options{DelayAt: "mail", Hold: hold})
	b := sinktest.Sink(t, smtpsink.Options{DelayAt: "mail", Hold: hold})
	var in string
	for i := range 4 {
		in += record(fmt.Sprintf("p%d,1", i+1), fmt.Sprintf("m%d@x.org", i))
	}
	if _, err := send(t, &args{Dir: list(t), Relay: []string{a.Addr(), b.Addr()}, Conns: 2, Timeout: 20 * time.Second}, in); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := len(delivered(a)) + len(delivered(b)); n != 4 {
		t.Errorf("delivered %d; want 4", n)
	}
	if ca, cb := a.Counts().Connections, b.Counts().Connections; ca != 1 || cb != 1 {
		t.Errorf("connections: %d to the first relay, %d to the second; want one each", ca, cb)
	}
}

// sayWatch takes standard error over for the test (dial writes there):
// hold, a sink's Options.Hold, waits until the line of a give-back
// ("said once") has come, up to 10 s (a failure of the test then says
// why); said restores standard error and returns what was written.
// The worker that gives a record back so finds the held one still
// running, there to take it, however slow the machine.
func sayWatch(t *testing.T) (hold func(), said func() string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	var text strings.Builder
	given, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(r)
		var once sync.Once
		for {
			l, err := br.ReadString('\n')
			text.WriteString(l)
			if strings.Contains(l, "(said once)") {
				once.Do(func() { close(given) })
			}
			if err != nil {
				return
			}
		}
	}()
	hold = func() {
		select {
		case <-given:
		case <-time.After(10 * time.Second):
		}
	}
	said = func() string {
		os.Stderr = stderr
		w.Close()
		<-done
		return text.String()
	}
	t.Cleanup(func() {
		if os.Stderr == w {
			said()
		}
	})
	return hold, said
}

// TestRelayConnLimit: a relay that serves one connection of the run and
// greets a further one with 421 (its limit of connections from one
// client) gets every record over the one it serves, none deferred: the
// worker refused gives its record back and ends (giveBack). It was
// deferred to the retry queue, minutes later, and with -c 20 and a
// limit of 2, 92 of a post's 100 batches were. The transactions' dots
// are answered once a record has been given back, so that one is
// whatever the timing.
func TestRelayConnLimit(t *testing.T) {
	hold, stderr := sayWatch(t)
	srv := sinktest.Sink(t, smtpsink.Options{MaxConns: 1, DelayAt: "dot", Hold: hold})
	var in string
	for i := range 6 {
		in += record(fmt.Sprintf("p%d,1", i+1), fmt.Sprintf("m%d@x.org", i))
	}
	out, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 4, Timeout: 20 * time.Second}, in)
	said := stderr()
	if err != nil || out != "" {
		t.Errorf("run: %v, standard output %q; want 0 and nothing deferred", err, out)
	}
	if n := len(delivered(srv)); n != 6 {
		t.Errorf("delivered %d; want 6", n)
	}
	if n := srv.Counts().Connections; n < 2 || n > 4 {
		t.Errorf("%d connections; want one served and one to three refused", n)
	}
	want := srv.Addr() + ": greeting: 421 4.7.0 too many connections from you: a connection past the 1 of this run's it serves; the run keeps to those (said once)\n"
	if said != prog+": "+want {
		t.Errorf("standard error %q; want %q once", said, prog+": "+want)
	}
}

// TestRelayConnLimitRetry: TestRelayConnLimit with -R, the retry
// queue's stage, whose journal keeps what each record of a post takes on
// for the run: a record given back had its recipients taken on by
// itself, and the worker that took it found nothing to send, and ended
// it, exit 0, with nothing delivered, deferred or said (a review; 3 of 6
// lost). Every recipient is delivered now.
func TestRelayConnLimitRetry(t *testing.T) {
	hold, stderr := sayWatch(t)
	srv := sinktest.Sink(t, smtpsink.Options{MaxConns: 1, DelayAt: "dot", Hold: hold})
	var in string
	for i := range 6 {
		in += record(fmt.Sprintf("p1,%d,r-0000000%d", i+1, i+1), fmt.Sprintf("m%d@x.org", i))
	}
	out, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 4, Retry: true, Timeout: 20 * time.Second, Lifetime: 100000 * time.Hour}, in)
	said := stderr()
	if n := len(delivered(srv)); err != nil || out != "" || n != 6 {
		t.Errorf("run: %v, standard output %q, delivered %d of 6: %v; want 0, nothing, 6 (standard error %q)", err, out, n, delivered(srv), said)
	}
	if n := srv.Counts().Connections; n < 2 {
		t.Errorf("%d connections: no refusal, the case was not met", n)
	}
}

// TestRelayConnLimitBatchTwice: a batch and its retry record in one run
// (no -R), one given back while the other is on its way: the record's
// own recipients stayed among those its batch had taken on, and it was
// ended with them unsent, exit 0 (a review; 19 runs of 20). Each run
// here, a delay of its own at the dot, must deliver or defer every
// recipient.
func TestRelayConnLimitBatchTwice(t *testing.T) {
	for k := range 10 {
		srv := sinktest.Sink(t, smtpsink.Options{MaxConns: 2, DelayAt: "dot", Delay: time.Duration(50+20*k) * time.Millisecond})
		in := record("p1,1", "a@x.org") + record("p1,2", "c@x.org") + record("p1,2,r-00000001", "b@x.org")
		out, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 3, Timeout: 5 * time.Second}, in)
		if got := len(delivered(srv)) + strings.Count(out, "\nR <"); err != nil || got != 3 {
			t.Errorf("run %d: %v, standard output %q, delivered %v; want all three delivered or deferred", k, err, out, delivered(srv))
		}
	}
}

// TestRelayConnLimitBroken: a record whose connection breaks off before
// any reply to its transaction (a connection the relay had closed, say),
// and whose dial after is refused while the run's other connection is
// open, goes over that one: none of its recipients had an outcome. It
// was a try, and the record was deferred after it. Connection 0 is the
// sink's, its first dot answered once the third connection has come;
// connection 1 closes at MAIL; the others are refused with 421. The
// dots are answered once a record has been given back.
func TestRelayConnLimitBroken(t *testing.T) {
	var conns atomic.Int64
	hold, stderr := sayWatch(t)
	srv := sinktest.Sink(t, smtpsink.Options{DelayAt: "dot", Hold: hold})
	addr := mlmtest.Serve(t, func(n int, c net.Conn) {
		conns.Add(1)
		switch n {
		case 0:
			passOn(c, srv.Addr())
		case 1:
			io.WriteString(c, "220 x\r\n")
			br := bufio.NewReader(c)
			for {
				l, err := br.ReadString('\n')
				switch u := strings.ToUpper(l); {
				case err != nil || strings.HasPrefix(u, "MAIL"):
					return
				case strings.HasPrefix(u, "EHLO"):
					io.WriteString(c, "250-x\r\n250 PIPELINING\r\n")
				default:
					io.WriteString(c, "250 ok\r\n")
				}
			}
		default:
			io.WriteString(c, "421 4.7.0 too many connections\r\n")
		}
	})
	in := record("p1,1", "m1@x.org") + record("p1,2", "m2@x.org") + record("p1,3", "m3@x.org")
	out, err := send(t, &args{Dir: list(t), Relay: []string{addr}, Conns: 2, Timeout: 20 * time.Second}, in)
	said := stderr()
	if n := len(delivered(srv)); err != nil || out != "" || n != 3 {
		t.Errorf("run: %v, standard output %q, delivered %v; want 0, nothing, all three (standard error %q)", err, out, delivered(srv), said)
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("%d connections: no refusal, the case was not met", n)
	}
}

// TestRelayConnLimitEndedFirst: a relay serving one connection at
// once. The worker that has it holds its record's final dot, finds the
// input ended and no record given back yet, while the dials of the two
// others are being refused: it waits for them (last), and takes the
// records they give back. It ended, and the last of those two, alone,
// was refused again while that connection still closed, and deferred
// both records (a review, 19 runs of 20).
func TestRelayConnLimitEndedFirst(t *testing.T) {
	if out, journal, err := oneSlotRun(t, 0); err != nil || out != "" || journal != "D a@x.org,D b@x.org,D c@x.org" {
		t.Errorf("run: %v, standard output %q, journal %q; want 0, nothing deferred, all three delivered", err, out, journal)
	}
}

// TestRelayConnLimitCloseLag: TestRelayConnLimitEndedFirst's relay,
// but one that counts a connection out 5 ms after it ends, as an MTA
// whose count lives in another process may. The last worker, once the
// run's connection has closed on its side, dialled twice at once, both
// refused, and deferred the records (a review, 9 runs of 10); it waits
// between its tries now.
func TestRelayConnLimitCloseLag(t *testing.T) {
	if out, journal, err := oneSlotRun(t, 5*time.Millisecond); err != nil || out != "" || journal != "D a@x.org,D b@x.org,D c@x.org" {
		t.Errorf("run: %v, standard output %q, journal %q; want 0, nothing deferred, all three delivered", err, out, journal)
	}
}

// oneSlotRun delivers three records, -c 3, to a relay that serves one
// connection at once, greets any other with 421, and counts one out lag
// after it ends. The first connection's dot is answered 300 ms late;
// the dials of connections 1 and 2 come 20 ms after its data. It
// returns the run's standard output, its journal's lines, sorted and
// joined by commas, and its error.
func oneSlotRun(t *testing.T, lag time.Duration) (string, string, error) {
	var mu sync.Mutex
	open := 0
	first := make(chan struct{})
	var once sync.Once
	addr := mlmtest.Serve(t, func(n int, c net.Conn) {
		if n == 1 || n == 2 { // (not the dials after: the lag is the case)
			<-first
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		if open >= 1 {
			mu.Unlock()
			io.WriteString(c, "421 4.7.0 too many connections from you\r\n")
			return
		}
		open++
		mu.Unlock()
		defer func() { time.Sleep(lag); mu.Lock(); open--; mu.Unlock() }()
		serveSMTP(c, func() {
			once.Do(func() { close(first) })
			time.Sleep(300 * time.Millisecond)
		})
	})
	dir := list(t)
	in := record("p1,1", "a@x.org") + record("p1,2", "b@x.org") + record("p1,3", "c@x.org")
	out, err := send(t, &args{Dir: dir, Relay: []string{addr}, Conns: 3, Timeout: 5 * time.Second, Lifetime: time.Hour}, in)
	journal, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
	lines := strings.Split(strings.TrimSpace(string(journal)), "\n")
	sort.Strings(lines)
	return out, strings.Join(lines, ","), err
}

// serveSMTP plays a relay offering PIPELINING on c: the greeting, 250
// to every command, 354 to DATA, and after the data dot, then 250.
func serveSMTP(c net.Conn, dot func()) {
	say := func(l ...string) { io.WriteString(c, strings.Join(l, "\r\n")+"\r\n") }
	say("220 fake ESMTP")
	br := bufio.NewReader(c)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		switch u := strings.ToUpper(strings.TrimRight(l, "\r\n")); {
		case strings.HasPrefix(u, "EHLO"):
			say("250-fake", "250 PIPELINING")
		case u == "DATA":
			say("354 go")
			for {
				d, err := br.ReadString('\n')
				if err != nil || d == ".\r\n" {
					break
				}
			}
			dot()
			say("250 taken")
		case u == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// TestRelayConnLimitListenQueue: a relay that serves one connection at
// a time, the rest waiting in its listen queue, and -c 2. The worker with
// the connection, the input ended, ends and closes it, and the other's
// dial, queued behind it, is served. A worker that waited, its connection
// open, for the dials of others that might give it a record (a mend of
// a review's) waited on that one, and it on the worker, for -t: the dial
// timed out, said as a refusal of a connection past the one served.
func TestRelayConnLimitListenQueue(t *testing.T) {
	addr := mlmtest.ServeSerial(t, func(_ int, c net.Conn) {
		c.SetDeadline(time.Now().Add(time.Minute))
		serveSMTP(c, func() { time.Sleep(50 * time.Millisecond) })
	})
	_, stderr := sayWatch(t)
	dir := list(t)
	out, err := send(t, &args{Dir: dir, Relay: []string{addr}, Conns: 2, Timeout: 20 * time.Second, Lifetime: time.Hour}, record("p1,1", "a@x.org")+record("p1,2", "b@x.org"))
	said := stderr()
	journal, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
	if err != nil || out != "" || said != "" || strings.Count(string(journal), "D ") != 2 {
		t.Errorf("run: %v, standard output %q, standard error %q, journal %q; want 0, both delivered, nothing said", err, out, said, journal)
	}
}

// TestStartTLSRequired: with -S, a relay that does not offer STARTTLS
// takes nothing: the message never goes in clear, and the recipient is
// deferred, to a retry record, nothing journaled.
func TestStartTLSRequired(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, StartTLS: true}, record("p1,1", "a@x.org"))
	if err != nil || !strings.Contains(out, "STARTTLS") || !strings.Contains(out, "\nR <a@x.org>\nE 1\n") {
		t.Errorf("run: %v, retry record %q; want 0 and a deferred for want of STARTTLS", err, out)
	}
	if got := delivered(srv); len(got) != 0 {
		t.Errorf("a relay without STARTTLS took %v; want nothing", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); err == nil && len(b) > 0 {
		t.Errorf("journal %q; want nothing", b)
	}
}

func TestLMTP(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{LMTP: true, LMTPReply: rules(t, "full*=452 4.2.2 mailbox full", "gone*=550 5.1.1 gone")})
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, LMTP: true}, record("p7,1", "ok@x.org", "full@x.org", "gone@x.org"))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p7"))
	if string(j) != "D ok@x.org\nF gone@x.org\n" && string(j) != "F gone@x.org\nD ok@x.org\n" {
		t.Errorf("journal %q", j)
	}
	if !strings.Contains(out, "R <full@x.org>\nE 1\n") {
		t.Errorf("deferred:\n%s", out)
	}
}

// TestLMTP421: an LMTP server that answers the data 250 for the first
// two recipients, then 421 (closing) for the third, and closes: the two
// are journaled delivered, the third and fourth deferred with the 421,
// to a retry record, and not lost replies; the retry, over a new
// connection, delivers only them, no duplicate of the first two. With
// PIPELINING the record's dot is held, and its reply read by Release;
// without it, by Send.
func TestLMTP421(t *testing.T) {
	for _, ext := range []string{"PIPELINING", ""} {
		t.Run("ext="+ext, func(t *testing.T) {
			healthy := sinktest.Sink(t, smtpsink.Options{LMTP: true})
			relay := mlmtest.Serve(t, func(n int, c net.Conn) {
				if n == 0 {
					closeAfterData(c, ext, "250 2.0.0 a delivered\r\n250 2.0.0 b delivered\r\n421 4.3.2 shutting down\r\n")
					return
				}
				passOn(c, healthy.Addr()) // the next: through to the healthy sink
			})
			dir := list(t)
			a := &args{Dir: dir, Relay: []string{relay}, LMTP: true, Conns: 1}
			out, err := send(t, a, record("p8,1", "a@x.org", "b@x.org", "c@x.org", "d@x.org"))
			if err != nil {
				t.Fatal(err)
			}
			if j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p8")); string(j) != "D a@x.org\nD b@x.org\n" {
				t.Errorf("journal %q; want a and b delivered", j)
			}
			if !strings.Contains(out, "A deferred=421%204.3.2%20shutting%20down\n") || !strings.HasSuffix(out, "R <c@x.org>\nR <d@x.org>\nE 2\n") {
				t.Errorf("retry record:\n%s\nwant c and d deferred by the 421", out)
			}
			a.Retry = true
			if _, err := send(t, a, out); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got := delivered(healthy); strings.Join(got, " ") != "c@x.org d@x.org" {
				t.Errorf("the retry delivered %v; want c and d only", got)
			}
		})
	}
}

// passOn serves a connection by passing it on to the server at addr,
// both ways, and closes it.
func passOn(c net.Conn, addr string) {
	defer c.Close()
	s, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer s.Close()
	go io.Copy(s, c)
	io.Copy(c, s)
}

// closeAfterData serves a connection as an LMTP server offering ext,
// if not empty: the greeting, 250 to every command, 354 to DATA, and
// after the data replies, then the connection closed.
func closeAfterData(c net.Conn, ext, replies string) {
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "220 fake LMTP\r\n")
	inData := false
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		switch u := strings.ToUpper(l); {
		case inData && l == ".":
			io.WriteString(c, replies)
			return
		case inData:
		case strings.HasPrefix(u, "LHLO") && ext != "":
			io.WriteString(c, "250-fake\r\n250 "+ext+"\r\n")
		case u == "DATA":
			io.WriteString(c, "354 go ahead\r\n")
			inData = true
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func TestExtensions(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	var b bytes.Buffer
	w := stream.NewWriter(&b)
	w.WriteHeader(&stream.Header{ID: "p8,1", Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}})
	w.Write([]byte("Subject: caf\xc3\xa9\n\n8-bit body \xff\n"))
	w.Recipient(stream.Path{Mailbox: "jos\xc3\xa9@example.org"})
	w.End()
	w.Flush()
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, b.String()); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()
	if len(m) != 1 {
		t.Fatalf("%d messages", len(m))
	}
	if p := strings.Join(m[0].Sender.Params, " "); !strings.Contains(p, "BODY=8BITMIME") || !strings.Contains(p, "SMTPUTF8") {
		t.Errorf("MAIL parameters %q; want BODY=8BITMIME and SMTPUTF8", p)
	}
	if string(m[0].Data) != "Subject: caf\xc3\xa9\r\n\r\n8-bit body \xff\r\n" {
		t.Errorf("data %q", m[0].Data)
	}
}

// TestHas8bit holds has8bit to its definition for every octet at every
// place of a short run and around it.
func TestHas8bit(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{0x7f}, n)
				b[pos] = byte(c)
				if got, want := has8bit(b), c >= 0x80; got != want {
					t.Fatalf("has8bit(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// watch passes each line of the SMTP conversation a sink writes to its
// Debug writer ("1> 354 ..." from the server, "1< .\r\n" from the client)
// to line, one at a time, as the server writes or reads it.
type watch struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if w.buf = append(w.buf, b); b == '\n' {
			w.line(string(w.buf))
			w.buf = w.buf[:0]
		}
	}
	return len(p), nil
}

// TestSyncOverlap: while the journal lines of a connection's transaction
// are synced, its next transactions go out, and the final dots of
// unsyncedMax-1 of them; the one after sends its message, but its final
// dot waits until the lines are on disk: the server takes unsyncedMax
// messages of a connection, the first among them, and no more before
// the first one's outcome is durable.
func TestSyncOverlap(t *testing.T) {
	const n = unsyncedMax + 1 // records
	var synced atomic.Bool
	bodyN := make(chan struct{}) // closed at the last message's last line
	bodies, dots, dotsBefore := 0, 0, 0
	w := &watch{line: func(l string) {
		switch {
		case l == "1< body\r\n":
			if bodies++; bodies == n {
				close(bodyN)
			}
		case l == "1< .\r\n":
			dots++
			if !synced.Load() {
				dotsBefore++
			}
		}
	}}
	srv := sinktest.Sink(t, smtpsink.Options{Debug: w})
	dir := list(t)
	var out, errb bytes.Buffer
	s, err := newSender(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	holdFirstFsync(t, s, bodyN, func(f *os.File) error {
		err := f.Sync()
		synced.Store(true)
		return err
	})
	var in string
	want := map[string]string{}
	for i := 1; i <= n; i++ {
		post, rcpt := fmt.Sprintf("p%d", i), fmt.Sprintf("m%d@x.example", i)
		in += record(post, rcpt)
		want[post] = "D " + rcpt + "\n"
	}
	err = s.run(strings.NewReader(in), &errb)
	if err != nil || errb.Len() > 0 {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	if got := len(delivered(srv)); got != n {
		t.Errorf("delivered %d; want %d", got, n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if dots != n || dotsBefore != unsyncedMax {
		t.Errorf("%d of %d final dots came before the first transaction's journal was synced; want %d (the first's among them)", dotsBefore, dots, unsyncedMax)
	}
	for post, want := range want {
		if b, err := os.ReadFile(filepath.Join(dir, "state", "journal", post)); string(b) != want {
			t.Errorf("journal of %s: %q, %v; want %q", post, b, err, want)
		}
	}
}

// holdFirstFsync makes the sender's first journal fsync wait until
// until is closed, and then end as end does; the fsyncs after it are
// real. If until is not closed within 20 s, the test fails.
func holdFirstFsync(t *testing.T, s *sender, until <-chan struct{}, end func(*os.File) error) {
	first := true
	s.j.fsync = func(f *os.File) error { // one at a time
		if !first {
			return f.Sync()
		}
		first = false
		select {
		case <-until:
			return end(f)
		case <-time.After(20 * time.Second):
			t.Error("the last message did not go out while the first one's journal was synced")
			return errors.New("test: timed out")
		}
	}
}

// TestSyncFails: a journal fsync that fails makes the exit status 75
// and stops the sending: a message the server took after it could go out
// again when the records are tried again, so no final dot waiting for it
// is sent, and no record after it is tried; the last record's failure
// is found at the end of the run. The dots of the unsyncedMax-1
// transactions after the one whose fsync failed do not wait for it, and
// go out unless the failure is known by then. The same with -s, where
// each fsync is waited for before the next program runs.
func TestSyncFails(t *testing.T) {
	all := []string{"a@x.example", "b@x.example", "c@x.example"}
	for _, tc := range []struct {
		failing  int  // which fsync fails
		sendmail bool // -s
	}{
		{1, false}, // b's dot goes unless the failure is known by then; c's waits for it
		{2, false},
		{3, false}, // the end of the run waits for it
		{1, true},
		{2, true},
	} {
		dir := list(t)
		a := &args{Dir: dir, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}
		var srv *smtpsink.Server
		if tc.sendmail {
			a.Sendmail = sendmailScript(t, filepath.Join(dir, "taken"))
		} else {
			srv = sinktest.Sink(t, smtpsink.Options{})
			a.Relay = []string{srv.Addr()}
		}
		var out, errb bytes.Buffer
		s, err := newSender(a, &out)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		s.j.fsync = func(f *os.File) error { // one at a time
			if n++; n == tc.failing {
				return errors.New("input/output error")
			}
			return f.Sync()
		}
		err = s.run(strings.NewReader(record("p1", all[0])+record("p2", all[1])+record("p3", all[2])), &errb)
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("fsync %d fails (-s %v): run = %v (exit %d); want exit 75", tc.failing, tc.sendmail, err, sysexit.Code(err))
		}
		var got string
		most := min(tc.failing+unsyncedMax-1, len(all))
		if tc.sendmail {
			b, _ := os.ReadFile(filepath.Join(dir, "taken"))
			got = strings.Join(strings.Fields(string(b)), " ")
			most = tc.failing
		} else {
			got = strings.Join(delivered(srv), " ")
		}
		ok := false
		for k := tc.failing; k <= most; k++ {
			ok = ok || got == strings.Join(all[:k], " ")
		}
		if !ok {
			t.Errorf("fsync %d fails (-s %v): taken %q; want the first %d to %d of %q", tc.failing, tc.sendmail, got, tc.failing, most, all)
		}
	}
}

// TestSyncFailsRunning: a journal fsync fails while the transactions
// after it go out, with final dots not held (records of more than
// smtpout.ChainMax recipients): the dots of unsyncedMax-1 of them go out,
// and the next one's message does, but its dot, which waits for the
// fsync, never goes; the exit status is 75.
func TestSyncFailsRunning(t *testing.T) {
	const n = unsyncedMax + 1    // records
	bodyN := make(chan struct{}) // closed at the last message's last line
	bodies := 0
	w := &watch{line: func(l string) {
		if l == "1< body\r\n" {
			if bodies++; bodies == n {
				close(bodyN)
			}
		}
	}}
	srv := sinktest.Sink(t, smtpsink.Options{Debug: w})
	var out, errb bytes.Buffer
	s, err := newSender(&args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	holdFirstFsync(t, s, bodyN, func(*os.File) error { return errors.New("input/output error") })
	var in string
	for i := 1; i <= n; i++ {
		var rcpts []string
		for k := range smtpout.ChainMax + 1 {
			rcpts = append(rcpts, fmt.Sprintf("m%d-%d@x.example", i, k))
		}
		in += record(fmt.Sprintf("p%d", i), rcpts...)
	}
	err = s.run(strings.NewReader(in), &errb)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run = %v (exit %d); want exit 75", err, sysexit.Code(err))
	}
	if got, want := len(delivered(srv)), unsyncedMax*(smtpout.ChainMax+1); got != want {
		t.Errorf("the server took %d recipients; want %d, those of the first %d records", got, want, unsyncedMax)
	}
}

// sendmailScript is a program for -s that appends its recipients to
// file, a line each, and a line for each run to file.runs.
func sendmailScript(t *testing.T, file string) string {
	t.Helper()
	prog := filepath.Join(t.TempDir(), "sendmail")
	script := "#!/bin/sh\n# -i -f SENDER -- RCPT...\nshift 4\ncat > /dev/null\nprintf '%s\\n' \"$@\" >> " + file + "\necho run >> " + file + ".runs\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog
}

// TestSyncFailsEverywhere: once a journal fsync has failed, no other
// connection sends a final dot either, nor fsyncs (TestJournalSyncFails).
func TestSyncFailsEverywhere(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{})
	var out, errb bytes.Buffer
	s, err := newSender(&args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 2, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	s.j.fsync = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 {
			return errors.New("input/output error")
		}
		return f.Sync()
	}
	var in string
	for i := range 20 {
		in += record("p1,"+strconv.Itoa(i), fmt.Sprintf("m%d@x.example", i))
	}
	err = s.run(strings.NewReader(in), &errb)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run = %v; want exit 75", err)
	}
	// Each connection had at most unsyncedMax transactions whose dots
	// did not wait for the fsync that failed: at most that many more
	// messages each.
	if n := len(delivered(srv)); n > 2*unsyncedMax {
		t.Errorf("the server took %d messages after the first fsync failed; want at most %d", n, 2*unsyncedMax)
	}
	if calls != 1 {
		t.Errorf("%d fsyncs; want 1: none after the failure", calls)
	}
}

// TestBounceFails: a bounce record that cannot be written leaves its
// recipient for the next try, but the lines of those the server took are
// journaled all the same: the next try sends them nothing.
func TestBounceFails(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "f550*=550 5.1.1 no such user")})
	tmp := filepath.Join(dir, "queue", "bounces", "tmp")
	if err := os.RemoveAll(tmp); err != nil { // no bounce record can be written
		t.Fatal(err)
	}
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second}
	in := record("p1,1", "ok1@x.example", "f550@x.example", "ok2@x.example")
	if _, err := send(t, a, in); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("no bounce record written: %v; want exit 75", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, a, in); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(delivered(srv), " "); got != "ok1@x.example ok2@x.example" {
		t.Errorf("the server took %q; want each once", got)
	}
	if bs, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(bs) != 1 {
		t.Errorf("bounce records %v; want 1", bs)
	}
}

// TestLargeRecord: a record of more recipients than a transaction
// carries, or than the server takes at once (452), goes out a
// transaction at a time, and each transaction's outcomes are in the
// journal before the next one's final dot (that they are on disk by
// then is TestSyncOverlap's).
func TestLargeRecord(t *testing.T) {
	var rcpts []string
	for i := range 2*smtpout.MaxPipelined + 10 {
		rcpts = append(rcpts, fmt.Sprintf("m%04d@x.example", i))
	}
	for _, tc := range []struct {
		maxRcpt int   // the server's, 0: none
		seen    []int // journal lines at each final dot
	}{
		{0, []int{0, 500, 1000}},
		{300, []int{0, 300, 500, 800, 1000}},
	} {
		dir := list(t)
		journal := filepath.Join(dir, "state", "journal", "p1")
		var seen []int
		w := &watch{line: func(l string) {
			if l == "1< .\r\n" {
				b, _ := os.ReadFile(journal)
				seen = append(seen, bytes.Count(b, []byte("\n")))
			}
		}}
		srv := sinktest.Sink(t, smtpsink.Options{Debug: w, MaxRcpt: tc.maxRcpt})
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, record("p1", rcpts...)); err != nil {
			t.Fatal(err)
		}
		if n := len(delivered(srv)); n != len(rcpts) {
			t.Errorf("server limit %d: %d of %d recipients delivered", tc.maxRcpt, n, len(rcpts))
		}
		w.mu.Lock()
		if !slices.Equal(seen, tc.seen) {
			t.Errorf("server limit %d: journal lines at each final dot: %v; want %v", tc.maxRcpt, seen, tc.seen)
		}
		w.mu.Unlock()
	}
}

// TestSendmailLarge: -s runs the program once for every 500 recipients,
// so a large record neither overflows its argument list nor waits on one
// run for all.
func TestSendmailLarge(t *testing.T) {
	dir := list(t)
	taken := filepath.Join(dir, "taken")
	var rcpts []string
	for i := range 2*smtpout.MaxPipelined + 1 {
		rcpts = append(rcpts, fmt.Sprintf("member%04d@example.org", i))
	}
	if _, err := send(t, &args{Dir: dir, Sendmail: sendmailScript(t, taken), Conns: 1}, record("p1,1", rcpts...)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(taken)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); !slices.Equal(got, rcpts) {
		t.Errorf("the program got %d recipients; want the %d of the record, in order", len(got), len(rcpts))
	}
	if b, _ := os.ReadFile(taken + ".runs"); bytes.Count(b, []byte("\n")) != 3 {
		t.Errorf("the program ran %d times for %d recipients; want 3", bytes.Count(b, []byte("\n")), len(rcpts))
	}
	j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
	if n := bytes.Count(j, []byte("\n")); n != len(rcpts) {
		t.Errorf("%d journal lines; want %d", n, len(rcpts))
	}
}

// TestSendmailStops: with -s, a stop (another connection's journal
// fsync failed) ends the program's runs, the one-per-recipient runs after
// a batch exit 67 included: the recipients left are not given to it,
// and the record is not finished (no retry record of what it deferred):
// it is tried again whole.
func TestSendmailStops(t *testing.T) {
	dir := list(t)
	taken, started, goFile := filepath.Join(dir, "taken"), filepath.Join(dir, "started"), filepath.Join(dir, "go")
	prog := filepath.Join(t.TempDir(), "sendmail")
	// More than one recipient: 67, so one run each. m00's run says it
	// has begun and waits (20 s at most) until the other record's fsync
	// has failed, then defers m00 (75).
	script := "#!/bin/sh\nshift 4\ncat > /dev/null\nif [ $# -gt 1 ]; then exit 67; fi\n" +
		"if [ \"$1\" = m00@x.example ]; then : > " + started + "; i=0\n" +
		"  while [ ! -e " + goFile + " ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; exit 75; fi\n" +
		"printf '%s\\n' \"$@\" >> " + taken + "\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := newSender(&args{Dir: dir, Sendmail: prog, Conns: 2, Timeout: time.Minute, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	s.j.fsync = func(f *os.File) error { // a's, once m00's run has begun
		deadline := time.Now().Add(20 * time.Second)
		for _, err := os.Stat(started); err != nil; _, err = os.Stat(started) {
			if time.Now().After(deadline) {
				t.Error("m00's run never began")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.stopped.Store(true) // as the failure does, before m00's run ends
		if err := os.WriteFile(goFile, nil, 0o644); err != nil {
			t.Error(err)
		}
		return errors.New("input/output error")
	}
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("m%02d@x.example", i))
	}
	err = s.run(strings.NewReader(record("p2,1", many...)+record("p1,1", "a@x.example")), &bytes.Buffer{})
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run = %v; want exit 75", err)
	}
	b, _ := os.ReadFile(taken)
	if got := strings.Join(strings.Fields(string(b)), " "); got != "a@x.example" {
		t.Errorf("the program took %q; want a alone", got)
	}
	if out.Len() > 0 {
		t.Errorf("a record cut short by the stop was finished:\n%s", out.String())
	}
}

// outWatch is an output that calls write before each Write.
type outWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	write func()
}

func (o *outWatch) Write(p []byte) (int, error) {
	o.write()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// TestSyncWaited: the end of the run waits for a journal fsync still
// running, and a record of deferred recipients goes out only once its
// journal lines are on disk. The fsync is held for a second, or until
// what must wait for it happens anyway.
func TestSyncWaited(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		out      bool // a record of deferred recipients is written
	}{
		{"the end of the run", record("p1,1", "a@x.example"), false},
		// A message larger than the output's buffer, which it must
		// flush at once.
		{"a record of deferred recipients", recordOf("p1,1", "Subject: x\n\n"+strings.Repeat("body\n", 30000), "a@x.example", "t451@x.example"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t451*=451 4.3.0 later")})
			var synced, early atomic.Bool
			release := make(chan struct{}, 1)
			out := &outWatch{write: func() {
				if !synced.Load() {
					early.Store(true)
				}
				select {
				case release <- struct{}{}:
				default:
				}
			}}
			s, err := newSender(&args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, out)
			if err != nil {
				t.Fatal(err)
			}
			s.j.fsync = func(f *os.File) error {
				select {
				case <-release:
				case <-time.After(time.Second):
				}
				err := f.Sync()
				synced.Store(true)
				return err
			}
			err = s.run(strings.NewReader(tc.in), &bytes.Buffer{})
			if !synced.Load() {
				early.Store(true)
			}
			select { // an fsync still held goes
			case release <- struct{}{}:
			default:
			}
			if err != nil {
				t.Fatal(err)
			}
			if early.Load() {
				t.Errorf("%s came before the journal's fsync ended", tc.name)
			}
			if got := out.buf.Len() > 0; got != tc.out {
				t.Errorf("a record of deferred recipients written: %v; want %v", got, tc.out)
			}
		})
	}
}

// TestGatherSettles: an fsync waits for the connections whose final
// dots go out only until each has written its lines or found it has
// none: no connection is left counted as one to wait for, so a run ends
// though the wait's time limit is never reached. Over SMTP, with
// deferred and failed recipients among those taken; over LMTP, where
// they are refused after the dot; and with -s.
func TestGatherSettles(t *testing.T) {
	for _, way := range []string{"smtp", "lmtp", "-s"} {
		viaSendmail := way == "-s"
		dir := list(t)
		replies := rules(t, "t450*=450 4.2.0 mailbox busy", "f550*=550 5.1.1 no such user")
		o := smtpsink.Options{Replies: replies}
		if way == "lmtp" {
			o = smtpsink.Options{LMTP: true, LMTPReply: replies}
		}
		srv := sinktest.Sink(t, o)
		a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 4, Timeout: 5 * time.Second, Lifetime: time.Hour, LMTP: way == "lmtp"}
		if viaSendmail {
			a.Relay, a.Sendmail = nil, sendmailScript(t, filepath.Join(dir, "taken"))
		}
		var out, errb bytes.Buffer
		s, err := newSender(a, &out)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		fsyncs := 0
		s.j.fsync = func(f *os.File) error { mu.Lock(); fsyncs++; mu.Unlock(); return f.Sync() }
		s.j.after = func(time.Duration) <-chan time.Time { return nil } // a limit never reached
		var in string
		want := 0
		for i := range 40 {
			rcpt := fmt.Sprintf("m%d@x.example", i)
			switch i % 10 {
			case 9: // the last record among them: none ends the run at its dot
				rcpt = "t450-" + rcpt
			case 7:
				rcpt = "f550-" + rcpt
			}
			if viaSendmail || i%10 != 9 {
				want++
			}
			in += record("p1,"+strconv.Itoa(i), rcpt)
		}
		done := make(chan error, 1)
		go func() { done <- s.run(strings.NewReader(in), &errb) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: run: %v: %s", way, err, errb.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the run did not end: an fsync waits for a connection that will write nothing", way)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
		for _, w := range s.j.writers {
			if w.dot != "" {
				t.Errorf("%s: a connection left at its final dot, for an fsync to wait for", way)
			}
		}
		mu.Lock()
		if n := bytes.Count(b, []byte("\n")); n != want || fsyncs == 0 {
			t.Errorf("%s: %d journal lines, %d fsyncs; want %d lines, and an fsync at least", way, n, fsyncs, want)
		}
		mu.Unlock()
	}
}

// TestSpoolReuse: the spool of a record done with serves the next one,
// and every message goes out as it came, whatever the one before it
// held: shorter, longer, or more than the memory holds (a spool with a
// file is not kept).
func TestSpoolReuse(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{})
	sizes := []int{3000, 10, spool.MemLimit + 500000, 20, 5000, 10, 7000, 30, 4000, 10, 200, 6000}
	var in string
	var msgs []string
	for i, n := range sizes {
		line := strings.Repeat(string(rune('a'+i)), 99) + "\n"
		m := "Subject: " + strconv.Itoa(i) + "\n\n" + strings.Repeat(line, n/100+1)
		msgs = append(msgs, m)
		in += recordOf("p1,"+strconv.Itoa(i), m, fmt.Sprintf("m%d@x.example", i))
	}
	var out, errb bytes.Buffer
	s, err := newSender(&args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(strings.NewReader(in), &errb); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	got := srv.Messages()
	if len(got) != len(msgs) {
		t.Fatalf("%d messages taken; want %d", len(got), len(msgs))
	}
	for i, m := range got {
		if want := strings.ReplaceAll(msgs[i], "\n", "\r\n"); string(m.Data) != want {
			t.Errorf("message %d (%d octets): %d octets taken, not the same", i, len(msgs[i]), len(m.Data))
		}
	}
	// Records are read while those before them are delivered: at most
	// four are under way at once (one being read, one waiting for the
	// connection, one going out and the one before it, whose final dot
	// goes with its commands), and four spools serve all, but for the
	// large message's, closed, and the one made after it.
	if n := s.made.Load(); n > 5 {
		t.Errorf("%d spools made for %d records; want 5 at most", n, len(sizes))
	}

	// Kept and given again: a spool that held its message in memory,
	// empty; not kept: one that took a file, or one more than there is
	// room for.
	small, large := spool.New(spool.MemLimit), spool.New(spool.MemLimit)
	io.WriteString(small, "x")
	io.WriteString(large, strings.Repeat("x", spool.MemLimit+1))
	s.spools = make(chan *spool.Spool, 1)
	s.done(large)
	if sp := s.newSpool(); sp == large {
		t.Error("a spool with a file was kept")
	}
	s.done(small)
	s.done(spool.New(spool.MemLimit))
	if sp := s.newSpool(); sp != small || sp.Len() != 0 {
		t.Errorf("newSpool after done: %p, %d octets; want the spool done with, %p, empty", sp, sp.Len(), small)
	}
}

// TestGatherWaits: with two connections, the one whose reply to its dot
// comes first waits, before its fsync, for the other, whose dot is out,
// to write its lines too: one fsync for both. The server holds each
// reply to a dot until the order is set: the first until the second dot
// has come, the second until the first connection waits.
func TestGatherWaits(t *testing.T) {
	var mu sync.Mutex
	holds, fsyncs := 0, 0
	second, waited := make(chan struct{}), make(chan struct{})
	hold := func() {
		mu.Lock()
		holds++
		n := holds
		mu.Unlock()
		var until chan struct{}
		switch n {
		case 1:
			until = second
		case 2:
			close(second)
			until = waited
		default:
			return
		}
		select {
		case <-until:
		case <-time.After(20 * time.Second):
		}
	}
	srv := sinktest.Sink(t, smtpsink.Options{DelayAt: "dot", Hold: hold})
	dir := list(t)
	var out, errb bytes.Buffer
	s, err := newSender(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	s.j.took = time.Minute // as if an fsync took that long: only the other connection ends the wait
	s.j.after = func(time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-waited:
		default:
			close(waited)
		}
		return nil
	}
	s.j.fsync = func(f *os.File) error { mu.Lock(); fsyncs++; mu.Unlock(); return f.Sync() }
	if err := s.run(strings.NewReader(record("p1,1", "a@x.example")+record("p1,2", "b@x.example")), &errb); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	select {
	case <-waited:
	default:
		t.Fatal("no fsync waited for the connection whose dot was out")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
	mu.Lock()
	defer mu.Unlock()
	if fsyncs != 1 || bytes.Count(b, []byte("\n")) != 2 {
		t.Errorf("%d fsyncs for journal %q; want 1 for both lines", fsyncs, b)
	}
}

// eofSignal is an input that closes eof when it is read to its end: the
// stream's last record has been read, and handed to the workers.
type eofSignal struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofSignal) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// TestHeldDot: a record's final dot goes out with the next record's
// commands, on one connection. The server here answers the first
// record's commands only once the second record waits for the worker,
// and its dot only once it has read the second's MAIL, RCPT and DATA: a
// sender that waited for the reply to the dot first would time out.
// The reply to a held dot settles its record as any does: a 451 makes
// the record of deferred recipients, message and all.
func TestHeldDot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	in := &eofSignal{r: strings.NewReader(record("p1,1", "a@x.example") + record("p1,2", "b@x.example")), eof: make(chan struct{})}
	var conv strings.Builder
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		say := func(lines ...string) { io.WriteString(c, strings.Join(lines, "\r\n")+"\r\n") }
		read := func(n int) error {
			for range n {
				l, err := br.ReadString('\n')
				if err != nil {
					return fmt.Errorf("after %q: %v", conv.String(), err)
				}
				conv.WriteString(l)
			}
			return nil
		}
		data := func() error {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return err
				}
				if l == ".\r\n" {
					conv.WriteString(l)
					return nil
				}
			}
		}
		say("220 fake ESMTP")
		if err := read(1); err != nil {
			served <- err
			return
		}
		say("250-fake", "250 PIPELINING")
		if err := read(3); err != nil {
			served <- err
			return
		}
		select {
		case <-in.eof:
		case <-time.After(20 * time.Second):
			served <- errors.New("the input was never read to its end")
			return
		}
		say("250 ok", "250 ok", "354 go")
		if err := data(); err != nil {
			served <- err
			return
		}
		if err := read(3); err != nil { // the second record's, before the dot's reply
			served <- err
			return
		}
		say("451 4.3.0 not now", "250 ok", "250 ok", "354 go")
		if err := data(); err != nil {
			served <- err
			return
		}
		say("250 2.0.0 taken")
		if err := read(1); err != nil {
			served <- err
			return
		}
		say("221 bye")
		served <- nil
	}()
	dir := list(t)
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{ln.Addr().String()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}
	if err := run(a, in, &out, &errb); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	want := "MAIL FROM:<dev-bounces@lists.example.org>\r\nRCPT TO:<a@x.example>\r\nDATA\r\n.\r\n" +
		"MAIL FROM:<dev-bounces@lists.example.org>\r\nRCPT TO:<b@x.example>\r\nDATA\r\n.\r\nQUIT\r\n"
	if got := conv.String(); !strings.HasSuffix(got, want) {
		t.Errorf("the server read\n%q\nwant it to end in\n%q", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); string(b) != "D b@x.example\n" {
		t.Errorf("journal %q; want b delivered, a not final", b)
	}
	if o := out.String(); !strings.Contains(o, "MLM1 p1,1,r-") || !strings.Contains(o, ":.line\n:body\n") || !strings.HasSuffix(o, "R <a@x.example>\nE 1\n") {
		t.Errorf("deferred record:\n%s", o)
	}
}

// TestHeldSurplusNoBounce: a reply nobody asked for after the reply to
// a held dot (a's) shifts the replies to the next record's commands by
// one: b's own 450 would be read as MAIL's 250's successor and c's 550
// as b's, and the 554 to DATA as RSET's reply. No recipient is failed on
// another's reply: the second record is tried again on a new connection
// and delivered there, and a's reply counts as lost (it could as well
// have been the surplus): a is deferred, not journaled. (From a review,
// which found b bounced with c's 550.)
func TestHeldSurplusNoBounce(t *testing.T) {
	in := &eofSignal{r: strings.NewReader(record("p1,1", "a@x.example") + record("p1,2", "b@x.example", "c@x.example")), eof: make(chan struct{})}
	relay := mlmtest.Serve(t, func(n int, c net.Conn) {
		first := n == 0
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		say := func(l ...string) { io.WriteString(c, strings.Join(l, "\r\n")+"\r\n") }
		line := func() string { l, _ := br.ReadString('\n'); return strings.TrimRight(l, "\r\n") }
		data := func() {
			for l := line(); l != "." && l != ""; l = line() {
			}
		}
		say("220 fake ESMTP")
		line()
		say("250-fake", "250 PIPELINING")
		if first {
			for range 3 {
				line()
			}
			<-in.eof
			say("250 ok", "250 ok", "354 go")
			data()
			for range 4 {
				line()
			}
			say("250 2.0.0 a taken", "250 unasked", "250 ok", "450 4.2.0 b greylisted",
				"550 5.1.1 c no such user", "554 5.5.1 no valid recipients")
		}
		for l := line(); l != ""; l = line() {
			switch l {
			case "QUIT":
				say("221 bye")
				return
			case "DATA":
				say("354 go")
				data()
				say("250 ok")
			default:
				say("250 ok")
			}
		}
	})
	dir := list(t)
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{relay}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}
	if err := run(a, in, &out, &errb); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); string(b) != "D b@x.example\nD c@x.example\n" {
		t.Errorf("journal %q; want b and c delivered on the second connection, a not final", b)
	}
	if o := out.String(); !strings.Contains(o, "MLM1 p1,1,r-") || !strings.HasSuffix(o, "R <a@x.example>\nE 1\n") {
		t.Errorf("deferred record:\n%s", o)
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*")); len(n) != 0 {
		t.Errorf("bounce records %v; want none", n)
	}
}

// TestHeldLostNotATry: a record whose commands went out behind the held
// final dot of the record before, on a connection lost on that dot's
// reply (smtpout.ErrBefore), has not been tried: its recipient still has
// both tries of the one relay, and the second connection failing (a 421
// greeting) leaves it the third, which delivers it; the record before is
// deferred as a lost reply. Counted as a try, the failed connection
// after it was the relay's last, and the record came back untried (75).
func TestHeldLostNotATry(t *testing.T) {
	in := &eofSignal{r: strings.NewReader(record("p1,1", "a@x.example") + record("p1,2", "b@x.example")), eof: make(chan struct{})}
	healthy := sinktest.Sink(t, smtpsink.Options{})
	relay := mlmtest.Serve(t, func(n int, c net.Conn) {
		switch n {
		case 0: // a's dot held, b's commands behind it; no reply to the dot
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			say := func(l ...string) { io.WriteString(c, strings.Join(l, "\r\n")+"\r\n") }
			line := func() string { l, _ := br.ReadString('\n'); return strings.TrimRight(l, "\r\n") }
			say("220 fake ESMTP")
			line()
			say("250-fake", "250 PIPELINING")
			for range 3 {
				line()
			}
			<-in.eof
			say("250 ok", "250 ok", "354 go")
			for l := line(); l != "." && l != ""; l = line() {
			}
			for range 3 { // b's MAIL, RCPT and DATA
				line()
			}
		case 1: // b's first try: the relay busy
			io.WriteString(c, "421 4.3.2 busy\r\n")
			c.Close()
		default:
			passOn(c, healthy.Addr())
		}
	})
	dir := list(t)
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{relay}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}
	if err := run(a, in, &out, &errb); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); string(b) != "D b@x.example\n" {
		t.Errorf("journal %q; want b delivered, a not final", b)
	}
	if got := delivered(healthy); strings.Join(got, " ") != "b@x.example" {
		t.Errorf("delivered %v; want b", got)
	}
	if o := out.String(); !strings.Contains(o, "MLM1 p1,1,r-") || !strings.HasSuffix(o, "R <a@x.example>\nE 1\n") {
		t.Errorf("deferred record:\n%s\nwant a deferred as a lost reply", o)
	}
}

// TestHeldStopped: a final dot held when the sending stops (a journal
// fsync failed) is not sent: the server takes nothing, nothing is
// written to the journal, and the record fails, to be tried again.
func TestHeldStopped(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{})
	dir := list(t)
	var out bytes.Buffer
	s, err := newSender(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.j.close()
	j := &job{h: &stream.Header{ID: "p1,1", Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}}, msg: s.newSpool(), rcpts: []stream.Path{{Mailbox: "a@x.example"}}}
	io.WriteString(j.msg, "Subject: x\n\nbody\n")
	l := &lane{w: s.j.newWriter()}
	s.deliver(l, j)
	if l.c == nil || s.failed.Load() {
		t.Fatalf("deliver: connection kept %v, failed %v; want the connection kept, its dot held", l.c != nil, s.failed.Load())
	}
	s.stopped.Store(true)
	s.release(l)
	if l.c != nil || !s.failed.Load() {
		t.Errorf("release once stopped: connection kept %v, failed %v; want it closed, the record failed", l.c != nil, s.failed.Load())
	}
	if got := srv.Counts().Transactions; got != 0 {
		t.Errorf("the server took %d transactions", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); len(b) != 0 || out.Len() != 0 {
		t.Errorf("journal %q, output %q; want nothing", b, out.String())
	}
}

// TestHeldReleased: a record with nothing to send (its recipients are
// in the journal already) sends the final dot the lane holds, rather
// than leave the server waiting in the data until a record that sends.
func TestHeldReleased(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{})
	dir := list(t)
	jdir := filepath.Join(dir, "state", "journal")
	os.MkdirAll(jdir, 0o700)
	if err := os.WriteFile(filepath.Join(jdir, "p2"), []byte("D b@x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := newSender(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.j.close()
	job := func(id, rcpt string) *job {
		j := &job{h: &stream.Header{ID: id, Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}}, msg: s.newSpool(), rcpts: []stream.Path{{Mailbox: rcpt}}}
		io.WriteString(j.msg, "Subject: x\n\nbody\n")
		return j
	}
	l := &lane{w: s.j.newWriter()}
	defer func() { s.release(l); s.wait(l, 0); l.c.Close() }()
	s.deliver(l, job("p1,1", "a@x.example"))
	if got := srv.Counts().Transactions; got != 0 || l.c == nil {
		t.Fatalf("first record: the server took %d transactions, connection kept %v; want its dot held", got, l.c != nil)
	}
	s.deliver(l, job("p2,1", "b@x.example"))
	if got := srv.Counts().Transactions; got != 1 || l.c == nil || s.failed.Load() {
		t.Errorf("a record with nothing to send: the server took %d transactions, connection kept %v, failed %v; want the held dot sent, the connection kept", got, l.c != nil, s.failed.Load())
	}
	s.wait(l, 0)
	if b, _ := os.ReadFile(filepath.Join(jdir, "p1")); string(b) != "D a@x.example\n" {
		t.Errorf("journal of the held record: %q", b)
	}
}

// TestMail421: a 421 to MAIL (a relay that timed the idle connection out
// and said so before it closed it, or one going down) ends the session,
// and the recipients go again over a new connection; they are not
// deferred, nor under -R bounced, for what no relay said of them.
func TestMail421(t *testing.T) {
	healthy := sinktest.Sink(t, smtpsink.Options{})
	relay := mlmtest.Serve(t, func(n int, c net.Conn) {
		if n%2 == 0 { // each run's first: no PIPELINING, 421 to MAIL
			replyToMAIL(c, "220 closing ESMTP\r\n", "421 4.4.2 closing: idle timeout exceeded\r\n", true)
			return
		}
		passOn(c, healthy.Addr()) // each run's second: through to the healthy sink
	})
	for _, retry := range []bool{false, true} {
		a := &args{Dir: list(t), Relay: []string{relay}, Conns: 1, Retry: retry}
		if retry {
			a.Lifetime = time.Nanosecond // any deferral would bounce
		}
		out, err := send(t, a, record(fmt.Sprintf("p%v,1", retry), "a@x.org", "b@x.org"))
		if err != nil || out != "" {
			t.Errorf("-R %v: run = %v, stdout %q; want both delivered", retry, err, out)
		}
		if bounces, _ := os.ReadDir(filepath.Join(a.Dir, "queue", "bounces", "new")); len(bounces) != 0 {
			t.Errorf("-R %v: %d bounces", retry, len(bounces))
		}
	}
	if got := delivered(healthy); strings.Join(got, " ") != "a@x.org a@x.org b@x.org b@x.org" {
		t.Errorf("delivered %v; want each once a run", got)
	}
}

// TestDSNParams: of a path's DSN parameters, RET and ENVID go on MAIL and
// NOTIFY and ORCPT on RCPT, to a server that offers DSN; one on the other
// command's path is left out, not sent to be refused (a 5xx to MAIL
// would stop the record for good, one to RCPT bounce the member).
func TestDSNParams(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{DSN: true})
	var b bytes.Buffer
	w := stream.NewWriter(&b)
	w.WriteHeader(&stream.Header{ID: "p9,1", Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org",
		Params: []string{"RET=HDRS", "NOTIFY=NEVER", "ENVID=e1"}}})
	w.Write([]byte("Subject: x\n\nbody\n"))
	w.Recipient(stream.Path{Mailbox: "a@example.org", Params: []string{"NOTIFY=FAILURE", "RET=FULL", "ORCPT=RFC822;a@example.org"}})
	w.End()
	w.Flush()
	if _, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}}, b.String()); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()
	if len(m) != 1 || len(m[0].Rcpts) != 1 {
		t.Fatalf("%d messages", len(m))
	}
	if p := strings.Join(m[0].Sender.Params, " "); p != "RET=HDRS ENVID=e1" {
		t.Errorf("MAIL parameters %q; want RET=HDRS ENVID=e1", p)
	}
	if p := strings.Join(m[0].Rcpts[0].Params, " "); p != "NOTIFY=FAILURE ORCPT=RFC822;a@example.org" {
		t.Errorf("RCPT parameters %q; want NOTIFY=FAILURE ORCPT=RFC822;a@example.org", p)
	}
}

// TestVERPDSNParams: a record of verp=yes keeps its sender's DSN
// parameters on each recipient's MAIL, the sender VERP-encoded or not,
// as a record without verp=yes does (TestDSNParams): RET and ENVID are
// the list's word on what a bounce holds and which post it names.
func TestVERPDSNParams(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{DSN: true})
	var b bytes.Buffer
	w := stream.NewWriter(&b)
	w.WriteHeader(&stream.Header{ID: "p9,1", Attrs: []stream.Attr{{Name: "verp", Value: "yes"}},
		Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org", Params: []string{"RET=HDRS", "ENVID=e1"}}})
	w.Write([]byte("Subject: x\n\nbody\n"))
	w.Recipient(stream.Path{Mailbox: "a@example.org"})
	w.Recipient(stream.Path{Mailbox: "t" + strings.Repeat("l", 60) + "@example.org"}) // too long to encode
	w.End()
	w.Flush()
	if _, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}}, b.String()); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()
	if len(m) != 2 {
		t.Fatalf("%d messages; want 2", len(m))
	}
	for _, m := range m {
		if p := strings.Join(m.Sender.Params, " "); p != "RET=HDRS ENVID=e1" {
			t.Errorf("MAIL FROM:<%s> parameters %q; want RET=HDRS ENVID=e1", m.Sender.Mailbox, p)
		}
	}
}

// TestHeloChecked: the -H name is a domain (or an address literal), so
// nothing else reaches the EHLO line: a usage error otherwise.
func TestHeloChecked(t *testing.T) {
	for _, h := range []string{"lists.example.org\r\nRSET", "a b", "-x", "lists..example.org"} {
		_, err := send(t, &args{Dir: list(t), Relay: []string{"127.0.0.1:1"}, Helo: h}, record("p1,1", "a@x.org"))
		if sysexit.Code(err) != sysexit.Usage || !strings.HasPrefix(err.Error(), "-H: ") {
			t.Errorf("-H %q: %v; want a usage error", h, err)
		}
	}
	for _, h := range []string{"mx.lists.example.org", "[127.0.0.1]"} {
		srv := sinktest.Sink(t, smtpsink.Options{})
		if _, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Helo: h}, record("p1,1", "a@x.org")); err != nil {
			t.Errorf("-H %q: %v", h, err)
		}
	}
}

// TestHeloALabels: the name in EHLO is a domain of ASCII letters,
// digits and hyphens (RFC 5321 section 2.3.5), so a list's domain in
// U-labels, the default, or a -H so spelt, goes as A-labels, not as
// UTF-8, which a server may refuse, and which no SMTPUTF8 can have
// allowed (EHLO comes before any extension). One IDNA cannot convert
// is a usage error, as any other bad -H is.
func TestHeloALabels(t *testing.T) {
	for _, c := range []struct{ address, helo, want string }{
		{"dev@b\u00fccher.example", "", "EHLO xn--bcher-kva.example"},
		{"dev@lists.example.org", "mx.b\u00fccher.example", "EHLO mx.xn--bcher-kva.example"},
		{"dev@Lists.Example.ORG", "", "EHLO Lists.Example.ORG"},
	} {
		dir := list(t)
		os.WriteFile(filepath.Join(dir, "address"), []byte(c.address+"\n"), 0o644)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			conn, err := l.Accept()
			l.Close() // another try is refused at once
			if err != nil {
				got <- err.Error()
				return
			}
			defer conn.Close()
			io.WriteString(conn, "220 fake\r\n")
			line, _ := bufio.NewReader(conn).ReadString('\n')
			io.WriteString(conn, "421 4.3.2 bye\r\n")
			got <- strings.TrimRight(line, "\r\n")
		}()
		send(t, &args{Dir: dir, Relay: []string{l.Addr().String()}, Helo: c.helo, Conns: 1}, record("p1,1", "a@x.org"))
		if g := <-got; g != c.want {
			t.Errorf("address %q, -H %q: %q; want %q", c.address, c.helo, g, c.want)
		}
	}
	_, err := send(t, &args{Dir: list(t), Relay: []string{"127.0.0.1:1"}, Helo: "xn--a.b\u00fccher.example"}, record("p1,1", "a@x.org"))
	if sysexit.Code(err) != sysexit.Usage || !strings.HasPrefix(err.Error(), "-H: ") {
		t.Errorf("-H not convertible: %v; want a usage error", err)
	}
}

// TestDurationsChecked: a -t of no time can deliver nothing (every
// connection times out at once: exit 75 for ever, and with -R every
// recipient bounced at the end of the lifetime), and a negative -l
// fails every deferred recipient of a retry at once: both are usage
// errors, 64, before anything is tried.
func TestDurationsChecked(t *testing.T) {
	for _, a := range []*args{
		{Timeout: 0, Lifetime: time.Hour},
		{Timeout: -time.Second, Lifetime: time.Hour},
		{Timeout: time.Second, Lifetime: -time.Hour, Retry: true},
	} {
		a.Dir, a.Relay, a.Conns = list(t), []string{"127.0.0.1:1"}, 1
		var out, errb bytes.Buffer
		err := run(a, strings.NewReader(record("p1,1", "a@x.org")), &out, &errb)
		if sysexit.Code(err) != sysexit.Usage {
			t.Errorf("-t %v -l %v: %v; want a usage error", a.Timeout, a.Lifetime, err)
		}
	}
}

// TestSendmailLongStderr: what a -s program says on standard error is
// a reply's text, of which the first 1000 octets are kept, as of a
// server's: a program that says 100,000 octets on one line and fails the
// address has it bounced, with a bounce record that holds 1000 of them,
// and one that defers it has a retry record whose deferred attribute
// does too.
func TestSendmailLongStderr(t *testing.T) {
	for _, code := range []int{67, 75} {
		dir := list(t)
		prog := filepath.Join(t.TempDir(), "sendmail")
		script := fmt.Sprintf("#!/bin/sh\nshift 4\ncat >/dev/null\nhead -c 100000 /dev/zero | tr '\\0' x >&2\necho >&2\nexit %d\n", code)
		os.WriteFile(prog, []byte(script), 0o755)
		out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1}, record("p8,1", "a@x.example"))
		if err != nil {
			t.Errorf("exit %d: %v", code, err)
			continue
		}
		var h *stream.Header
		if code == 67 {
			f, err := os.Open(filepath.Join(dir, "queue", "bounces", "new", "p8,1,b1"))
			if err != nil {
				t.Errorf("exit 67: %v", err)
				continue
			}
			h, err = stream.NewReader(f).Next()
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		} else if h, err = stream.NewReader(strings.NewReader(out)).Next(); err != nil {
			t.Fatalf("exit 75: retry record: %v", err)
		}
		name := map[int]string{67: "reply", 75: "deferred"}[code]
		v, _ := h.Get(name)
		r, err := smtpout.ParseReply(v)
		if err != nil || len(r.Text) > smtpout.MaxReplyText || !strings.Contains(r.Text, "xxxx") {
			t.Errorf("exit %d: %s of %d octets, text %d: %v; want at most %d of text", code, name, len(v), len(r.Text), err, smtpout.MaxReplyText)
		}
	}
}

// TestRelaysChecked: a relay that is not host:port (no port, as
// "localhost" written for port 25, or a port that is none) can take
// nothing: each run exited 75 after dialing it, and with -R every
// recipient bounced with "no relay took it" once the lifetime ran out.
// On the command line it is a usage error, 64; in the relay file a bad
// setting, 75, before anything is tried, so that mail waits until the
// list is mended (mlm-listdir(5)), and nobody bounces.
func TestRelaysChecked(t *testing.T) {
	for _, r := range []string{"localhost", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:x y", "[::1]"} {
		a := &args{Dir: list(t), Relay: []string{r}, Conns: 1, Timeout: time.Second, Lifetime: time.Hour, Retry: true}
		var out, errb bytes.Buffer
		err := run(a, strings.NewReader(record("p1,1", "a@x.org")), &out, &errb)
		if sysexit.Code(err) != sysexit.Usage {
			t.Errorf("-r %q: %v; want a usage error", r, err)
		}
		a.Relay = nil
		// (Named by its line, which a comment and a blank line
		// before it put past its place among the relays.)
		os.WriteFile(filepath.Join(a.Dir, "relay"), []byte("# relays\n\n127.0.0.1:1\n"+r+"\n"), 0o644)
		err = run(a, strings.NewReader(record("p1,1", "a@x.org")), &out, &errb)
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "relay: line 4:") {
			t.Errorf("relay file with %q: %v; want a temporary failure naming line 4", r, err)
		}
		if ents, _ := os.ReadDir(filepath.Join(a.Dir, "queue", "bounces", "new")); len(ents) != 0 {
			t.Errorf("relay file with %q: %d bounce records; want none", r, len(ents))
		}
	}
}

// TestSendmailRefusesAll: 77 is the program's own permission (Postfix's
// "not allowed to submit mail"), not the addresses': nobody is failed
// for good, and all wait for the retry. 67, as 65 and 68 do, fails the
// addresses it is given, each one alone when a batch is refused (a batch
// is one domain, which may be dead), and so one address refused among
// others fails alone.
func TestSendmailRefusesAll(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		failed       int
	}{
		{"77", "echo 'sendmail: fatal: User mlm(1001) is not allowed to submit mail' >&2; exit 77", 0},
		{"67 for all", "exit 67", 3},
		{"67 for one", "if [ $# -gt 1 ] || [ \"$1\" = b@x.example ]; then exit 67; fi", 1},
		{"65 for one", "if [ $# -gt 1 ] || [ \"$1\" = b@x.example ]; then exit 65; fi", 1},
		{"68 for one", "if [ $# -gt 1 ] || [ \"$1\" = b@x.example ]; then exit 68; fi", 1},
	} {
		dir := list(t)
		prog := filepath.Join(t.TempDir(), "sendmail")
		os.WriteFile(prog, []byte("#!/bin/sh\nshift 4\ncat >/dev/null\n"+tc.script+"\n"), 0o755)
		_, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1}, record("p8,1", "a@x.example", "b@x.example", "c@x.example"))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p8"))
		b, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*"))
		if n := bytes.Count(j, []byte("\nF ")) + bytes.Count(j[:min(len(j), 2)], []byte("F ")); n != tc.failed || len(b) != tc.failed {
			t.Errorf("%s: %d failed in the journal %q, %d bounce records; want %d", tc.name, n, j, len(b), tc.failed)
		}
	}
}

// TestSendmailChildHolds: the program's timeout ends it, and a child
// it leaves holding stderr keeps the run 2 seconds more at most; a child
// it leaves to read the message gets all of it within the timeout, or
// the run did not send.
func TestSendmailChildHolds(t *testing.T) {
	saved := smtpout.DataTimeout
	smtpout.DataTimeout = 2 * time.Second
	defer func() { smtpout.DataTimeout = saved }()
	msg := "Subject: x\n\n" + strings.Repeat("a line of the body\n", 60000)
	for _, tc := range []struct {
		name, script string
		sent, quick  bool
		timeout      time.Duration // of the program and its data; 2 s if 0
	}{
		{"hangs", "cat >/dev/null\nsleep 30\n", false, false, 0},
		{"leaves a child", "cat >/dev/null\nsleep 30 &\nexit 0\n", true, false, 0},
		{"leaves a slow reader", "exec 3<&0\n{ sleep 6; cat >/dev/null; } <&3 &\nexit 0\n", false, false, 0},
		{"leaves a reader", "exec 3<&0\n{ sleep 0.5; cat >\"$0.got\"; } <&3 &\nexit 0\n", true, false, 0},
		{"leaves a reader that stops", "exec 3<&0\n{ sleep 0.3; head -c 1000 >/dev/null; } <&3 &\nexit 0\n", false, false, 0},
		// Its status decides at once: no waiting for a reader, nor for
		// the timeouts, long here so that a slow machine's run is not
		// taken for one that waited.
		{"fails, leaving a reader", "exec 3<&0\nsleep 60 <&3 >/dev/null 2>&1 &\nexit 75\n", false, true, 30 * time.Second},
	} {
		timeout := cmp.Or(tc.timeout, 2*time.Second)
		smtpout.DataTimeout = timeout
		dir := list(t)
		prog := filepath.Join(t.TempDir(), "sendmail")
		os.WriteFile(prog, []byte("#!/bin/sh\n"+tc.script), 0o755)
		start := time.Now()
		out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1, Timeout: timeout}, recordOf("p1,1", msg, "a@x.example"))
		if d := time.Since(start); d > 15*time.Second || tc.quick && d > timeout/2 {
			t.Errorf("%s: the run took %v, with a timeout of %v", tc.name, d, timeout)
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1"))
		if sent := bytes.HasPrefix(j, []byte("D ")); sent != tc.sent || tc.sent == (out != "") {
			t.Errorf("%s: journal %q, retry record of %d octets; want sent %v", tc.name, j, len(out), tc.sent)
		}
		if tc.name == "leaves a reader" {
			if got, _ := os.ReadFile(prog + ".got"); len(got) != len(msg) {
				t.Errorf("%s: the reader got %d octets of %d", tc.name, len(got), len(msg))
			}
		}
	}
}

// TestSendmailKilledAfterTaking: a program killed (by the timeout, or
// another signal) after the whole message went to it may have queued
// it, as a server whose reply to the final dot was lost may have the
// data: its recipients are deferred as lost replies, "may have been
// delivered", 4.4.2, not as a run that sent nothing, which one killed
// before it read a message of more than the pipe holds is. Deferred as
// if it had not sent, a retry gave them the post a second time with no
// word of it. (From a review.)
func TestSendmailKilledAfterTaking(t *testing.T) {
	saved := smtpout.DataTimeout
	smtpout.DataTimeout = 2 * time.Second
	defer func() { smtpout.DataTimeout = saved }()
	for _, tc := range []struct {
		name, script, want string
	}{
		{"took it, then hung", "cat >/dev/null\nsleep 30\n", "451%204.4.2%20"},
		{"took it, then killed", "cat >/dev/null\nkill -9 $$\n", "451%204.4.2%20"},
		{"hung before reading", "sleep 30\n", "451%204.3.0%20"},
	} {
		dir := list(t)
		prog := filepath.Join(t.TempDir(), "sendmail")
		os.WriteFile(prog, []byte("#!/bin/sh\n"+tc.script), 0o755)
		msg := "Subject: x\n\n" + strings.Repeat("a line of the body\n", 60000) // over the pipe's 64 KiB
		out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1, Timeout: 2 * time.Second}, recordOf("p1,1", msg, "a@x.example"))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		out, _, _ = strings.Cut(out, "\nS ") // the attributes
		lost := strings.Contains(out, "may%20have%20been%20delivered")
		if !strings.Contains(out, "\nA deferred="+tc.want) || lost != (tc.want == "451%204.4.2%20") {
			t.Errorf("%s: retry record %q; want it deferred %s", tc.name, out, tc.want)
		}
	}
}

// TestSendmailSplitSettles: a batch refused for an address is run one
// address at a time, and each run's outcome is in the journal as it
// ends, before the next runs: a crash between them sends none of those
// done again. (The program delivers b only if a's D is on disk.)
func TestSendmailSplitSettles(t *testing.T) {
	dir := list(t)
	journal := filepath.Join(dir, "state", "journal", "p1")
	prog := filepath.Join(t.TempDir(), "sendmail")
	script := "#!/bin/sh\nshift 4\ncat >/dev/null\nif [ $# -gt 1 ]; then exit 67; fi\n" +
		"if [ \"$1\" = b@x.example ] && ! grep -qx 'D a@x.example' " + journal + "; then exit 75; fi\n"
	os.WriteFile(prog, []byte(script), 0o755)
	if _, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1}, record("p1,1", "a@x.example", "b@x.example")); err != nil {
		t.Fatal(err)
	}
	if j, _ := os.ReadFile(journal); string(j) != "D a@x.example\nD b@x.example\n" {
		t.Errorf("journal %q; want a, then b, delivered", j)
	}
}

// TestRetrySameRcptTwoRecords: two retry records of one post that share
// a recipient (a batch's, made under two maxrcpt), in one run, send it
// once, on one connection or two: the second leaves it to the first.
func TestRetrySameRcptTwoRecords(t *testing.T) {
	// In the lifetime: a day after the records' "received".
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+24*3600))
	for _, conns := range []int{1, 2} {
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{})
		in := record("p5,1,r-aaaaaaaa", "a@x.example") + record("p5,1,r-bbbbbbbb", "a@x.example", "b@x.example")
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Conns: conns}, in); err != nil {
			t.Errorf("-c %d: %v", conns, err)
		}
		if got := delivered(srv); !slices.Equal(got, []string{"a@x.example", "b@x.example"}) {
			t.Errorf("-c %d: delivered %v; want a and b once each", conns, got)
		}
	}
}

// TestMailRefusedFailsOver: a relay that refuses MAIL for now ("452
// 4.3.1 insufficient system storage") is left for the next relay of the
// pool, which takes every recipient: none waits for a retry behind it.
// With no other relay, its recipients are deferred with its reply, to a
// retry record, whose lifetime ends them: not the record tried again
// whole, for ever. A 5xx to MAIL, the session's, defers them too.
func TestMailRefusedFailsOver(t *testing.T) {
	full := &smtpsink.Reply{Code: 452, Enhanced: "4.3.1", Text: "insufficient system storage"}
	dir := list(t)
	bad := sinktest.Sink(t, smtpsink.Options{MailReply: full})
	good := sinktest.Sink(t, smtpsink.Options{})
	var in strings.Builder
	var want []string
	for i := range 10 {
		r := fmt.Sprintf("m%d@x.example", i)
		in.WriteString(record(fmt.Sprintf("p%d,1", i), r))
		want = append(want, r)
	}
	out, err := send(t, &args{Dir: dir, Relay: []string{bad.Addr(), good.Addr()}, Conns: 2}, in.String())
	if err != nil || out != "" {
		t.Errorf("%v, retry records %q; want 0 and none", err, out)
	}
	if got := delivered(good); !slices.Equal(got, want) {
		t.Errorf("the good relay took %v; want all 10", got)
	}
	dir = list(t)
	out, err = send(t, &args{Dir: dir, Relay: []string{bad.Addr()}}, record("q1,1", "a@x.example"))
	if err != nil || !strings.Contains(out, "\nA deferred=452%204.3.1%20insufficient%20system%20storage\n") {
		t.Errorf("one relay, refusing MAIL: %v, retry records %q; want 0 and one, deferred 452", err, out)
	}
	os.Setenv("MLM_NOW", fmt.Sprint(time.Now().Unix()+6*24*3600)) // past deferred-at's lifetime
	defer os.Unsetenv("MLM_NOW")
	if _, err := send(t, &args{Dir: dir, Relay: []string{bad.Addr()}, Retry: true}, out); err != nil {
		t.Errorf("its retry, expired: %v", err)
	}
	b, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "q1,1,r-*,b1"))
	if len(b) != 1 {
		t.Fatalf("expired retry's bounces: %v; want one", b)
	}
	if b, _ := os.ReadFile(b[0]); !bytes.Contains(b, []byte("A status=5.4.7\n")) || !bytes.Contains(b, []byte("452 4.3.1")) {
		t.Errorf("expired retry's bounce:\n%s", b)
	}
	// One relay refuses MAIL and the other is down: deferred whichever
	// is tried last.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, relays := range [][]string{{bad.Addr(), dead}, {dead, bad.Addr()}} {
		out, err = send(t, &args{Dir: list(t), Relay: relays, Conns: 1}, record("q3,1", "a@x.example"))
		if err != nil || !strings.Contains(out, "\nA deferred=452%204.3.1") {
			t.Errorf("relays %v: %v, retry records %q; want 0 and one, deferred 452", relays, err, out)
		}
	}
	banned := sinktest.Sink(t, smtpsink.Options{MailReply: &smtpsink.Reply{Code: 554, Enhanced: "5.7.1", Text: "client host rejected"}})
	out, err = send(t, &args{Dir: list(t), Relay: []string{banned.Addr()}}, record("q2,1", "a@x.example"))
	if err != nil || !strings.Contains(out, "\nA deferred=451%204.4.1%20no%20relay%20took%20it:%20") {
		t.Errorf("one relay, 554 to MAIL: %v, retry records %q; want 0 and one, deferred 451", err, out)
	}
}

// TestLostReplyExpires: a retry whose reply to the final dot is lost (a
// relay that answers too late) is deferred while in its lifetime, the
// one window for a second copy; past it, it is not sent again for ever:
// it fails, with a bounce record that says it may have been delivered,
// and the runs after send nothing.
func TestLostReplyExpires(t *testing.T) {
	dir := list(t)
	// In the lifetime: a day after the records' "received".
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+24*3600))
	srv := sinktest.Sink(t, smtpsink.Options{Delay: 700 * time.Millisecond, DelayAt: "dot"})
	// Claimed, as under mlm-run: the sweep keeps the post's journal.
	os.MkdirAll(filepath.Join(dir, "queue", "retry", "cur"), 0o700)
	os.WriteFile(filepath.Join(dir, "queue", "retry", "cur", "p3,1,r"), nil, 0o600)
	a := func() *args {
		return &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Conns: 1, Timeout: 300 * time.Millisecond, DataTime: 200 * time.Millisecond}
	}
	if _, err := send(t, a(), record("p3,1,r", "a@example.org")); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("lost, in the lifetime: %v; want 75", err)
	}
	os.Setenv("MLM_NOW", fmt.Sprint(1795867200+6*24*3600))
	defer os.Unsetenv("MLM_NOW")
	for run := range 2 {
		if _, err := send(t, a(), record("p3,1,r", "a@example.org")); err != nil {
			t.Errorf("lost, expired, run %d: %v; want 0", run+1, err)
		}
	}
	if n := len(delivered(srv)); n != 2 {
		t.Errorf("%d copies went out; want 2, one a run until the lifetime ended", n)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", "p3,1,r,b1"))
	if !bytes.Contains(b, []byte("A status=5.4.7\n")) || !bytes.Contains(b, []byte("may have been delivered")) {
		t.Errorf("bounce record:\n%s", b)
	}
}

// TestSendmailStderrHeld: a child the program leaves holding stderr,
// after it took the message and exited 0, keeps the run 2 seconds, not
// the whole timeout: a batch of such runs, address by address, ends
// long before the queue runner's timeout.
func TestSendmailStderrHeld(t *testing.T) {
	saved := smtpout.DataTimeout
	smtpout.DataTimeout = 30 * time.Second
	defer func() { smtpout.DataTimeout = saved }()
	dir := list(t)
	prog := filepath.Join(t.TempDir(), "sendmail")
	os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\nsleep 20 &\nexit 0\n"), 0o755)
	start := time.Now()
	if out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1, Timeout: 30 * time.Second}, record("p1,1", "a@x.example")); err != nil || out != "" {
		t.Errorf("%v, retry record %q; want sent", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the run took %v", d)
	}
}

// TestSendmailExit0AtDeadline: a program that took the message and
// exited 0 just as the timeout came (here it stops this process, its
// parent, past the deadline, as a loaded host might) has sent: the
// kill that found it gone is no failure of it.
func TestSendmailExit0AtDeadline(t *testing.T) {
	saved := smtpout.DataTimeout
	smtpout.DataTimeout = 2 * time.Second
	defer func() { smtpout.DataTimeout = saved }()
	for i := range 3 {
		dir := list(t)
		prog := filepath.Join(t.TempDir(), "sendmail")
		os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\nkill -STOP $PPID\n(sleep 3; kill -CONT $PPID) </dev/null >/dev/null 2>&1 &\nexit 0\n"), 0o755)
		out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1, Timeout: 2 * time.Second}, record("p1,1", "a@x.example"))
		if j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p1")); err != nil || string(j) != "D a@x.example\n" || out != "" {
			t.Errorf("run %d: %v, journal %q, retry record of %d octets; want sent", i+1, err, j, len(out))
		}
	}
}

// verpRecord is a record of verp=yes of the message to the recipients,
// as mlm-split -v writes one from post p1.
func verpRecord(id, msg string, rcpts ...string) string {
	return recordAttrs(id, msg, []stream.Attr{{Name: "parent", Value: "p1"}, {Name: "verp", Value: "yes"}}, rcpts...)
}

// TestVERPRecord: a record of verp=yes goes to each recipient in a
// transaction of its own, the sender VERP-encoded with it, or as it is
// where it cannot be; each recipient's outcome is what a record of its
// own would have had (the ids "ID,n" of mlm-split's --verp before):
// bounce, retry record, journal. Two records, one of a message too
// large for memory, are read at once by several connections from the
// spool each shares: every recipient gets its own record's message,
// whole, once.
func TestVERPRecord(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450*=450 4.2.0 mailbox busy", "f550*=550 5.1.1 no such user")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 4}
	long := "t450" + strings.Repeat("l", 56) + "@example.org" // too long to encode, and deferred
	small := "Subject: small\n\nbody\n"
	large := "Subject: large\n\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", (spool.MemLimit+1<<16)/64)
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf("m%02d@example.net", i))
	}
	in := verpRecord("p1,1", small, "ok1@example.org", "t450@example.org", "f550@example.org", long, "ok2@example.org") +
		verpRecord("p1,2", large, many...)
	out, err := send(t, a, in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := map[string]string{"ok1@example.org": small, "ok2@example.org": small}
	for _, m := range many {
		want[m] = large
	}
	got := map[string]int{}
	for _, m := range srv.Messages() {
		if len(m.Rcpts) != 1 {
			t.Fatalf("a transaction to %d recipients; want 1", len(m.Rcpts))
		}
		rcpt := m.Rcpts[0].Mailbox
		got[rcpt]++
		sender := "dev-bounces@lists.example.org"
		if v, ok := addr.VERP(sender, rcpt); ok {
			sender = v
		}
		if m.Sender.Mailbox != sender {
			t.Errorf("to %s: sender %s; want %s", rcpt, m.Sender.Mailbox, sender)
		}
		if string(m.Data) != strings.ReplaceAll(want[rcpt], "\n", "\r\n") {
			t.Errorf("to %s: %d octets, not its record's message (%d)", rcpt, len(m.Data), len(want[rcpt]))
		}
	}
	if len(got) != len(want) {
		t.Errorf("delivered to %d recipients; want %d", len(got), len(want))
	}
	for r, n := range got {
		if n != 1 {
			t.Errorf("%s got %d copies", r, n)
		}
	}
	// 4xx: one retry record of the record's deferred recipients, each at
	// its place in it (in the order the connections end them), verp=yes
	// and the sender as the record's, named by the recipients it holds.
	r := stream.NewReader(strings.NewReader(out))
	h, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	if _, err := io.Copy(io.Discard, r.Message()); err != nil {
		t.Fatal(err)
	}
	if err := r.EachRecipient(func(p stream.Path) error { rcpts = append(rcpts, p.Mailbox); return nil }); err != nil {
		t.Fatal(err)
	}
	places := strings.Fields(attrOf(h, verpN))
	var pairs []string
	for i := range min(len(places), len(rcpts)) {
		pairs = append(pairs, places[i]+" "+rcpts[i])
	}
	slices.Sort(pairs)
	parent, _ := h.Get("parent")
	all := []stream.Path{{Mailbox: "t450@example.org"}, {Mailbox: long}}
	if h.ID != retryID("p1,1", all) || parent != "p1,1" || !h.VERP() || h.Sender.Mailbox != "dev-bounces@lists.example.org" ||
		len(places) != len(rcpts) || !slices.Equal(pairs, []string{"2 t450@example.org", "4 " + long}) {
		t.Errorf("retry record %s: parent %s, verp %v, sender %s, %q; want %s, p1,1, verp=yes, the record's sender, places 2 and 4",
			h.ID, parent, h.VERP(), h.Sender.Mailbox, pairs, retryID("p1,1", all))
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("more than one retry record:\n%s", out)
	}
	// Tried again (-R): each recipient as the transaction its own retry
	// record would have been, the sender encoded (or not, and
	// verp=no), its bounce record so named, and its lock so held.
	srvR := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450@*=550 5.1.1 gone now")})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srvR.Addr()}, Retry: true}, out); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ms := srvR.Messages(); len(ms) != 1 || ms[0].Rcpts[0].Mailbox != long || ms[0].Sender.Mailbox != "dev-bounces@lists.example.org" {
		t.Errorf("retry delivered %+v; want %s alone, sender not encoded", ms, long)
	}
	own := retryID("p1,1,2", []stream.Path{{Mailbox: "t450@example.org"}})
	if _, err := os.Stat(filepath.Join(dir, "queue", "bounces", "new", own+",b1")); err != nil {
		t.Errorf("the retry's bounce record: %v; want %s,b1, its own record's", err, own)
	}
	// Sent without -R and deferred again in part: a retry record of the
	// first record, p1,1, its place there, one verp-n, named by the
	// recipient alone, as the first delivery's would be.
	srvN := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450@*=451 4.3.0 later")})
	outN, err := send(t, &args{Dir: list(t), Relay: []string{srvN.Addr()}}, out)
	if err != nil {
		t.Fatal(err)
	}
	hN, err := stream.NewReader(strings.NewReader(outN)).Next()
	if err != nil || hN.ID != retryID("p1,1", []stream.Path{{Mailbox: "t450@example.org"}}) || attrOf(hN, verpN) != "2" || strings.Count(outN, "\nA verp-n=") != 1 {
		t.Errorf("its retry record without -R: %v, %v:\n%s\nwant p1,1's, verp-n 2 alone", hN, err, outN)
	}
	// All deferred again: named apart from the record itself, which the
	// retry queue has claimed, the same each time.
	srvA := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	var ids []string
	for range 2 {
		outA, err := send(t, &args{Dir: list(t), Relay: []string{srvA.Addr()}}, out)
		hA, rerr := stream.NewReader(strings.NewReader(outA)).Next()
		if err != nil || rerr != nil {
			t.Fatal(err, rerr)
		}
		ids = append(ids, hA.ID)
		if hA.ID == h.ID || lockKey(hA.ID) != "p1,1" || strings.Count(outA, "\nA verp-n=") != 1 {
			t.Errorf("all deferred again without -R: %s; want p1,1,r-HASH, not %s", hA.ID, h.ID)
		}
	}
	if ids[0] != ids[1] {
		t.Errorf("all deferred again, twice: %s then %s; want one name", ids[0], ids[1])
	}
	// And that one, all deferred again: not the first's name back (two
	// runs at once of the two, both queued, each dropped its new record
	// as the other's), nor its own.
	renamed := strings.Replace(out, "MLM1 "+h.ID+"\n", "MLM1 "+ids[0]+"\n", 1)
	outB, err := send(t, &args{Dir: list(t), Relay: []string{srvA.Addr()}}, renamed)
	hB, rerr := stream.NewReader(strings.NewReader(outB)).Next()
	if err != nil || rerr != nil || hB.ID == h.ID || hB.ID == ids[0] || lockKey(hB.ID) != "p1,1" {
		t.Errorf("all deferred again of %s: %v, %v, %v; want a third name of p1,1", ids[0], hB, err, rerr)
	}
	// That one deferred in part: the name of the first's in part, so
	// that two of one post, both queued after a stop, make one record,
	// where each made one of its own, kept apart (a review).
	outC, err := send(t, &args{Dir: list(t), Relay: []string{srvN.Addr()}}, renamed)
	hC, rerr := stream.NewReader(strings.NewReader(outC)).Next()
	if err != nil || rerr != nil || hC.ID != hN.ID || attrOf(hC, verpN) != "2" {
		t.Errorf("deferred in part, of %s: %v, %v, %v; want %s, as of %s", ids[0], hC, err, rerr, hN.ID, h.ID)
	}
	// 5xx: the bounce record named by the recipient's own id.
	if _, err := os.Stat(filepath.Join(dir, "queue", "bounces", "new", "p1,1,3,b1")); err != nil {
		t.Errorf("bounce record: %v", err)
	}
	// Again (a crash before the queue file went): nothing twice.
	if _, err := send(t, a, in); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != len(want) {
		t.Errorf("after a re-run %d transactions; want %d", n, len(want))
	}
	// An id that cannot take ",n" is bad input, and nothing is sent.
	srv2 := sinktest.Sink(t, smtpsink.Options{})
	_, err = send(t, &args{Dir: dir, Relay: []string{srv2.Addr()}}, verpRecord("q"+strings.Repeat("x", stream.MaxID-2), small, "a@example.org", "b@example.org"))
	if sysexit.Code(err) != sysexit.DataErr || len(srv2.Messages()) != 0 {
		t.Errorf("an id too long: %v (%d), %d sent", err, sysexit.Code(err), len(srv2.Messages()))
	}
}

// TestServerTextOneLine: a relay's reply text is the relay's to choose,
// control octets and all (an escape sequence, a bare CR in a line); the
// lines mlm-sendmail writes on standard error about it, which reach a
// terminal or cron's mail, hold none of them.
func TestServerTextOneLine(t *testing.T) {
	relay := mlmtest.Serve(t, func(n int, c net.Conn) {
		if n%2 == 0 { // refused at the greeting
			io.WriteString(c, "421 4.3.2 busy\x1b]0;owned\x07\x1b[2J\rmlm-sendmail: all delivered\r\n")
			c.Close()
			return
		}
		replyToMAIL(c, "220 x ESMTP\r\n", "451 4.3.0 no\x1b[8m\x85\r\n", false) // refused at MAIL
	})
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	_, err = send(t, &args{Dir: list(t), Relay: []string{relay, relay}, Conns: 1}, record("p1,1", "a@x.org"))
	os.Stderr = saved
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.Name())
	if len(b) == 0 {
		t.Fatal("nothing on standard error")
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.ContainsFunc(strings.TrimSuffix(line, "\n"), sysexit.IsControl) {
			t.Errorf("stderr line %q holds a control character", line)
		}
	}
}

// TestJournalName: a record whose post cannot name a journal file ("."
// and "..", which the stream allows as ids, and "" of an id starting
// with ",") is bad input (65), sent to no one, where opening state/journal/..
// was a 75 the record was tried again for ever on.
func TestJournalName(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{})
	for _, id := range []string{".", "..", "..,1", ",1", ".,r"} {
		dir := list(t)
		_, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record(id, "a@example.org"))
		if sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("record %q: %v (exit %d); want 65", id, err, sysexit.Code(err))
		}
	}
	if got := delivered(srv); len(got) != 0 {
		t.Errorf("delivered to %v; want no one", got)
	}
}

// replyToMAIL serves a connection: the greeting, then 250 to every
// command but MAIL, which gets mail, and the connection closed after it
// if hangUp.
func replyToMAIL(c net.Conn, greeting, mail string, hangUp bool) {
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, greeting)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(strings.ToUpper(l), "MAIL") {
			io.WriteString(c, mail)
			if hangUp {
				return
			}
			continue
		}
		io.WriteString(c, "250 ok\r\n")
	}
}

// TestDuplicateRecipient: a recipient a record names twice (its key
// the same: "a@x.example" and "a@X.Example") is sent the post once, in
// one RCPT, and has one journal line: an LMTP server, or a relay that
// does not merge them, would deliver it once for each RCPT.
func TestDuplicateRecipient(t *testing.T) {
	for _, retry := range []bool{false, true} {
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{})
		in := record("p8,1", "a@x.example", "b@x.example", "a@x.example", "a@X.Example")
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Retry: retry}, in); err != nil {
			t.Fatalf("retry %v: %v", retry, err)
		}
		if got := delivered(srv); !slices.Equal(got, []string{"a@x.example", "b@x.example"}) {
			t.Errorf("retry %v: delivered %v; want a and b once each", retry, got)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", "p8"))
		if got := string(b); got != "D a@x.example\nD b@x.example\n" {
			t.Errorf("retry %v: journal %q; want a line each for a and b", retry, got)
		}
	}
}

// TestSameBatchTwice: a batch that comes twice in one run (a queue item
// fed again by hand into the same stream, a stage's input concatenated)
// is a record tried again: the second skips the recipients the first
// took on, whether it comes while the first is on its way (its final dot
// held, or on another connection) or after the first is journaled.
func TestSameBatchTwice(t *testing.T) {
	for _, n := range []int{2, 12} { // held final dot; not held
		var rcpts []string
		for i := range n {
			rcpts = append(rcpts, fmt.Sprintf("r%02d@x.example", i))
		}
		for _, conns := range []int{1, 2} {
			dir := list(t)
			srv := sinktest.Sink(t, smtpsink.Options{})
			in := record("p9,1", rcpts...) + record("p9,1", rcpts...)
			if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: conns}, in); err != nil {
				t.Errorf("%d recipients, -c %d: %v", n, conns, err)
			}
			if got := delivered(srv); !slices.Equal(got, rcpts) {
				t.Errorf("%d recipients, -c %d: delivered %v; want each once", n, conns, got)
			}
		}
	}
}

// TestRetryRecordsOfBatchTwice: two retry records of one batch in one
// run (a site's runner that feeds its retry queue to one process), the
// second sharing a recipient with the first, which is on its way (its
// final dot held): the second sends the others, writes no retry record
// of its deferred, and the run ends 75, so that, kept whole, it holds
// the shared one still, whose retry record from the first could have its
// name and be dropped (a review); refused whole, its others waited for
// the shared one's lifetime (another).
func TestRetryRecordsOfBatchTwice(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "d*=451 4.3.0 later")})
	in := record("p9,1,r-0000000a", "r00@x.example", "r01@x.example") + record("p9,1,r-0000000b", "r00@x.example", "r02@x.example", "d1@x.example")
	out, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 1}, in)
	if sysexit.Code(err) != sysexit.TempFail || out != "" {
		t.Errorf("%v, %q; want 75 and no retry record", err, out)
	}
	if got := delivered(srv); !slices.Equal(got, []string{"r00@x.example", "r01@x.example", "r02@x.example"}) {
		t.Errorf("delivered %v; want r00, r01, r02 once each", got)
	}
}

// TestSizeFits: a message goes to a server whose SIZE it fits exactly,
// as SIZE counts it (RFC 1870 §3): the octets sent after the 354, so a
// line that ends in CRLF is sent as it is and counts two octets, not
// four; and not the dots that stuffing doubles on the wire.
func TestSizeFits(t *testing.T) {
	for _, tc := range []struct {
		id, msg string
		crs     int // the CRs the wire adds
	}{
		{"crlf", "Subject: x\r\n\r\n" + strings.Repeat("a line of the body\r\n", 50), 0},
		{"dots", "Subject: x\n\n" + strings.Repeat(".a line of the body\n", 50), 52},
	} {
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{Size: int64(len(tc.msg) + tc.crs)})
		out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, recordOf(tc.id+",1", tc.msg, "a@x.example"))
		if err != nil {
			t.Fatalf("%s: run: %v", tc.id, err)
		}
		if got := delivered(srv); !slices.Equal(got, []string{"a@x.example"}) {
			b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", tc.id))
			t.Errorf("%s: delivered %v; want a@x.example (journal %q, out %q)", tc.id, got, b, out)
		}
	}
}

// TestPipeliningMishandled: a relay that offers PIPELINING and
// mishandles it, swallowing the commands after the first one a read
// brings or answering them last first, is spoken to without it once a
// pipelined transaction has failed so (smtpout.ErrPipelining): the try
// the loop makes again goes through, and every recipient is delivered
// once, in one run, journaled, nothing deferred. Before, both tries of
// each record failed the same way: exit 75, nothing delivered. A relay
// that pipelines well is still pipelined.
func TestPipeliningMishandled(t *testing.T) {
	in := record("p1,1", "a@x.example", "b@x.example") + record("p1,2", "c@x.example") + record("p2,1", "d@x.example", "e@x.example")
	for _, tc := range []struct {
		name string
		how  mlmtest.Pipelining
	}{
		{"swallowed", mlmtest.PipelineSwallow},
		{"reversed", mlmtest.PipelineReverse},
		{"well", mlmtest.PipelineOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mlmtest.Fault(t, "smtp", "mlm-sendmail: PIPELINING offered, pipelined commands "+tc.name,
				"the relay spoken to without PIPELINING for the rest of the run (pipelined well: still pipelined); each recipient delivered once, journaled, exit 0")
			r := mlmtest.StartPipelineRelay(t, tc.how)
			dir := list(t)
			out, err := send(t, &args{Dir: dir, Relay: []string{r.Addr()}}, in)
			if err != nil || out != "" {
				t.Fatalf("run = %v, stdout %q; want every recipient delivered", err, out)
			}
			if got := strings.Join(r.Delivered(), " "); got != "a@x.example b@x.example c@x.example d@x.example e@x.example" {
				t.Errorf("delivered %q; want each recipient once", got)
			}
			for post, want := range map[string]string{"p1": "D a@x.example D b@x.example D c@x.example", "p2": "D d@x.example D e@x.example"} {
				b, _ := os.ReadFile(filepath.Join(dir, "state", "journal", post))
				lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
				slices.Sort(lines)
				if got := strings.Join(lines, " "); got != want {
					t.Errorf("journal of %s: %q; want %q", post, got, want)
				}
			}
			// Each of the two connections (-c 2) pipelines its first
			// transaction; the well-pipelined relay sees them all so.
			if n := r.Pipelined(); tc.how != mlmtest.PipelineOK && n > 2 || tc.how == mlmtest.PipelineOK && n < 3 {
				t.Errorf("%d reads of several commands", n)
			}
		})
	}
}

// TestVERPDuplicateRecipient: a record of verp=yes that names a
// recipient twice (the same key: "a@x.example" and "a@X.Example") sends
// the post to it once, as any record does, not once for each of its
// per-recipient records, on one connection or several.
func TestVERPDuplicateRecipient(t *testing.T) {
	for _, conns := range []int{1, 2} {
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{})
		in := verpRecord("p8,1", "Subject: x\n\nbody\n", "a@x.example", "b@x.example", "a@x.example", "a@X.Example")
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: conns}, in); err != nil {
			t.Fatalf("-c %d: %v", conns, err)
		}
		if got := delivered(srv); !slices.Equal(got, []string{"a@x.example", "b@x.example"}) {
			t.Errorf("-c %d: delivered %v; want a and b once each", conns, got)
		}
	}
}

// TestIDsFit: a record whose bounce records, or retry record and its
// bounce records, would have ids longer than a queue takes is bad input
// (65), and nothing is sent: it could neither bounce a recipient nor
// defer one, and was tried again for ever, exit 75, a failed recipient
// refused every time and never told. One octet shorter, every id fits:
// the bounce, the retry record and, past its lifetime, the retry's
// bounce are written.
func TestIDsFit(t *testing.T) {
	id := func(n int) string { return "p" + strings.Repeat("x", n-3) + ",1" }
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "f*=550 5.1.1 no such user", "t*=451 4.3.0 later")})
	expired := func() func() {
		os.Setenv("MLM_NOW", fmt.Sprint(time.Now().Unix()+6*24*3600)) // past deferred-at's lifetime
		return func() { os.Unsetenv("MLM_NOW") }
	}
	// A retry record past its lifetime whose bounce's id is one octet
	// too long.
	end := expired()
	in := recordAttrs(id(queue.MaxID-len(",b1")+1), "Subject: x\n\nbody\n", []stream.Attr{{Name: "deferred-at", Value: fmt.Sprint(time.Now().Unix())}}, "t@x.example")
	_, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Retry: true}, in)
	end()
	if sysexit.Code(err) != sysexit.DataErr || len(srv.Messages()) != 0 {
		t.Errorf("a retry record, expired, its bounce's id too long: %v (%d); want 65", err, sysexit.Code(err))
	}
	longest := queue.MaxID - len(",r-12345678,b1")
	rcpts := []string{"a@x.example", "f@x.example", "t@x.example"}
	for _, verp := range []bool{false, true} {
		rec := record
		n := longest
		if verp {
			rec = func(id string, rcpts ...string) string { return verpRecord(id, "Subject: x\n\nbody\n", rcpts...) }
			n -= len(",3")
		}
		sent := len(srv.Messages())
		_, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}}, rec(id(n+1), rcpts...))
		if sent = len(srv.Messages()) - sent; sysexit.Code(err) != sysexit.DataErr || sent != 0 {
			t.Errorf("verp %v, an id too long: %v (%d), %d sent; want 65 and none", verp, err, sysexit.Code(err), sent)
		}
		dir := list(t)
		out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, rec(id(n), rcpts...))
		if err != nil || !strings.Contains(out, "R <t@x.example>\nE 1\n") {
			t.Fatalf("verp %v, the longest id: %v, retry records %q", verp, err, out)
		}
		end := expired()
		_, err = send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true}, out)
		end()
		if err != nil {
			t.Errorf("verp %v, its retry, expired: %v", verp, err)
		}
		b, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "p*"))
		if len(b) != 2 {
			t.Errorf("verp %v: %d bounces; want f's and t's", verp, len(b))
		}
	}
}

// TestTwoAtOnce: two mlm-sendmail that deliver records of one batch at
// once (the same record, fed by hand while the queue runner has it, or
// a batch run again after a crash while its retry record runs) do not
// both send a recipient: the one that finds the batch locked by the
// other sends nothing, exit 75, and its run again, once the other is
// done, skips what the other delivered. Another batch of the post, whose
// recipients are others, goes at once.
func TestTwoAtOnce(t *testing.T) {
	// In the lifetime: a day after the records' "received".
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+24*3600))
	atDot := make(chan bool, 1)
	goOn := make(chan struct{})
	var first atomic.Bool
	srv := sinktest.Sink(t, smtpsink.Options{DelayAt: "dot", Hold: func() {
		if first.CompareAndSwap(false, true) {
			atDot <- true
			<-goOn // the first run's dot answered once the others have run
		}
	}})
	dir := list(t)
	run := func(retry bool, in string) error {
		_, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: time.Minute, Retry: retry}, in)
		return err
	}
	batch := record("p3,1", "a@x.example", "b@x.example")
	retry := recordAttrs("p3,1,r-0123abcd", "Subject: x\n\n.line\nbody\n", []stream.Attr{{Name: "deferred-at", Value: "1795867200"}}, "b@x.example")
	done := make(chan error, 1)
	go func() { done <- run(false, batch) }()
	<-atDot
	if err := run(false, batch); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("the same batch, at once: %v; want 75", err)
	}
	if err := run(true, retry); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("its retry record, at once: %v; want 75", err)
	}
	if err := run(false, record("p3,2", "c@x.example")); err != nil {
		t.Errorf("another batch of the post, at once: %v; want 0", err)
	}
	close(goOn)
	if err := <-done; err != nil {
		t.Errorf("the first run: %v", err)
	}
	if err := run(false, batch); err != nil {
		t.Errorf("the same batch again: %v", err)
	}
	if err := run(true, retry); err != nil {
		t.Errorf("its retry record again: %v", err)
	}
	if got := delivered(srv); !slices.Equal(got, []string{"a@x.example", "b@x.example", "c@x.example"}) {
		t.Errorf("delivered %v; want a, b and c once each", got)
	}
}

// bounceMessage returns the message of the bounce record id in dir's
// bounces queue, as it is and parsed.
func bounceMessage(t *testing.T, dir, id string) (string, *message.Entity) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "queue", "bounces", "new", id))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, m := mlmtest.Message(t, stream.NewReader(f))
	ent, err := message.Read(strings.NewReader(m))
	if err != nil {
		t.Fatal(err)
	}
	return m, ent
}

// TestRetryMark: the retry record of a batch looked up in a journal of
// other batches' lines carries where the journal stood (journal-from),
// one such attribute however often it is deferred in a run without -R,
// each time the latest; the retry run, reading the journal from there,
// delivers the deferred recipient only.
func TestRetryMark(t *testing.T) {
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "D o%d@x.org\n", i)
	}
	dir, _ := listJournal(t, "p9", b.String())
	greylist := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "later@*=451 4.7.1 greylisted")})
	out, err := send(t, &args{Dir: dir, Relay: []string{greylist.Addr()}}, record("p9,2", "ok@x.org", "later@x.org"))
	if err != nil {
		t.Fatal(err)
	}
	marks := func(out string, at int) {
		t.Helper()
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "A journal-from="); ok {
				got = append(got, v)
			}
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], fmt.Sprint(at, ":")) {
			t.Errorf("journal-from %q; want one, at %d:\n%s", got, at, out)
		}
	}
	marks(out, b.Len())
	if !strings.HasSuffix(out, "R <later@x.org>\nE 1\n") {
		t.Fatalf("retry record:\n%s", out)
	}
	// Deferred again, by a run without -R (fed by hand): the mark is
	// where the journal stands now, with ok's line.
	again, err := send(t, &args{Dir: dir, Relay: []string{greylist.Addr()}}, out)
	if err != nil {
		t.Fatal(err)
	}
	marks(again, b.Len()+len("D ok@x.org\n"))
	healthy := sinktest.Sink(t, smtpsink.Options{})
	if _, err := send(t, &args{Dir: dir, Relay: []string{healthy.Addr()}, Retry: true}, again); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := delivered(healthy); strings.Join(got, " ") != "later@x.org" {
		t.Errorf("the retry delivered %v; want later only", got)
	}
}

// TestRetryRunRace: a retry run of many records of one post, over 20
// connections, some with a journal-from and some without: each looks up
// its recipients whole (interest, catching up, unknown under one hold of
// the journal's lock), so none reads from where another's mark put the
// read, past lines of its own recipients. Before, records of a0..a39,
// delivered early in the journal, were sent again.
func TestRetryRunRace(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "D a%d@x.org\n", i)
	}
	for i := range 200_000 {
		fmt.Fprintf(&b, "D m%d@x.org\n", i)
	}
	dir, name := listJournal(t, "p9", b.String())
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	from := mark{f, int64(b.Len())}.value()
	f.Close()
	var in strings.Builder
	for i := range 40 {
		in.WriteString(record(fmt.Sprintf("p9,%d,r-%08x", i+1, i), fmt.Sprintf("a%d@x.org", i)))
		in.WriteString(recordAttrs(fmt.Sprintf("p9,%d,r-%08x", i+101, i), "Subject: x\n\nbody\n", []stream.Attr{{Name: journalFrom, Value: from}}, fmt.Sprintf("b%d@x.org", i)))
	}
	srv := sinktest.Sink(t, smtpsink.Options{})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Conns: 20}, in.String()); err != nil {
		t.Fatal(err)
	}
	got := delivered(srv)
	if len(got) != 40 || !strings.HasPrefix(got[0], "b") || !strings.HasPrefix(got[39], "b") {
		t.Errorf("delivered %v; want b0..b39 only (a0..a39 are in the journal)", got)
	}
}

// TestRetryWantAcrossPosts: a retry run whose records are of two posts
// keeps the keys it wants for each post apart: k, wanted for post p,
// is wanted for post q too only once a record of q asks for it, and q's
// journal is read again for it then. Before, q's journal, read first for
// another recipient, was not read again, and k got q a second time.
func TestRetryWantAcrossPosts(t *testing.T) {
	dir, name := listJournal(t, "q", "D k@x.org\n")
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "k2@*=451 4.7.1 greylisted")})
	// Deferred now: k2 is not past its lifetime.
	now := []stream.Attr{{Name: deferredAt, Value: fmt.Sprint(time.Now().Unix())}}
	rec := func(id string, rcpts ...string) string { return recordAttrs(id, "Subject: x\n\nbody\n", now, rcpts...) }
	in := rec("q,1,r-aaaaaaaa", "x@x.org") + rec("p,1,r-bbbbbbbb", "k@x.org", "k2@x.org") + rec("q,2,r-cccccccc", "k@x.org", "k2@x.org")
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Conns: 1}, in); sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("retry run: %v; want 75 (k2 deferred)", err)
	}
	if j, _ := os.ReadFile(name); string(j) != "D k@x.org\nD x@x.org\n" {
		t.Errorf("journal of q %q; want k's line once, and x's", j)
	}
	if got := delivered(srv); strings.Join(got, " ") != "k@x.org x@x.org" {
		t.Errorf("delivered %v; want k (for p) and x", got)
	}
}

// TestLifetimeZero: -l 0 is a lifetime, not a bad option (only a
// negative one is): a retry's recipient still deferred fails for good
// at once, with a bounce record, rather than every retry of the queue
// failing 64 and staying there.
func TestLifetimeZero(t *testing.T) {
	dir := list(t)
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+1))
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Conns: 1, Timeout: 2 * time.Second, Lifetime: 0}
	var out, errb bytes.Buffer
	if err := run(a, strings.NewReader(record("p2,1,r", "a@example.org")), &out, &errb); err != nil {
		t.Fatalf("-l 0: %v (%d); want 0", err, sysexit.Code(err))
	}
	if b := bounceRecord(dir, "p2,1,r,b1"); !strings.Contains(b, "A status=5.4.7\n") {
		t.Errorf("-l 0, the bounce record:\n%s", b)
	}
}

// bounceRecord is the record id in dir's bounces queue, "" if there is
// none.
func bounceRecord(dir, id string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "queue", "bounces", "new", id))
	return string(b)
}

// TestLifetimeBoundary: a recipient deferred exactly the lifetime ago
// is not older than it (mlm-sendmail(1)'s -l): it is deferred again,
// exit 75, not failed; a second later it fails, with 5.4.7.
func TestLifetimeBoundary(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	a := func() *args { return &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Lifetime: time.Hour} }
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+3600))
	if _, err := send(t, a(), record("p2,1,r", "a@example.org")); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("deferred the lifetime ago: %v; want 75", err)
	}
	if fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); len(fs) > 0 {
		t.Errorf("deferred the lifetime ago: %d bounce records; want none", len(fs))
	}
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+3601))
	if _, err := send(t, a(), record("p2,1,r", "a@example.org")); err != nil {
		t.Errorf("a second later: %v; want 0", err)
	}
	if b := bounceRecord(dir, "p2,1,r,b1"); !strings.Contains(b, "A status=5.4.7\n") {
		t.Errorf("a second later, the bounce record:\n%s", b)
	}
}

// TestLifetimeNoTime: a retry record with neither deferred-at nor
// received (a hand-made one), or with a time that is no number, never
// expires (mlm-sendmail(1)'s -l): its recipient still deferred is
// deferred again, exit 75, however late it is, with no bounce record.
func TestLifetimeNoTime(t *testing.T) {
	t.Setenv("MLM_NOW", fmt.Sprint(1795867200+10*365*86400))
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	for name, rec := range map[string]string{
		"no time":         strings.Replace(record("p2,1,r", "a@example.org"), "A received=1795867200\n", "", 1),
		"not a number":    strings.Replace(record("p2,1,r", "a@example.org"), "A received=1795867200\n", "A received=soon\n", 1),
		"bad deferred-at": recordAttrs("p2,1,r", "Subject: x\n\nbody\n", []stream.Attr{{Name: "deferred-at", Value: "x"}}, "a@example.org"),
	} {
		if name != "bad deferred-at" && strings.Contains(rec, "1795867200") {
			t.Fatalf("%s: the record still has its time:\n%s", name, rec)
		}
		dir := list(t)
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Retry: true, Lifetime: time.Hour}, rec); sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("%s: %v; want 75", name, err)
		}
		if fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); len(fs) > 0 {
			t.Errorf("%s: %d bounce records; want none", name, len(fs))
		}
	}
}

// TestBounceLineAtLimit: a bounce record's message whose line of the
// recipient and the reply is 999 octets, one past the 998 a message line
// may have (RFC 5322 section 2.1.1), goes quoted-printable, as a longer
// one does; one of 998 goes as it is.
func TestBounceLineAtLimit(t *testing.T) {
	for _, n := range []int{998, 999} {
		line := "a@example.org: 550 5.1.1 "
		line += strings.Repeat("x", n-len(line))
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=550 5.1.1 "+line[len("a@example.org: 550 5.1.1 "):])})
		if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, record("p4,1", "a@example.org")); err != nil {
			t.Fatal(err)
		}
		m, ent := bounceMessage(t, dir, "p4,1,b1")
		for _, l := range strings.Split(m, "\n") {
			if len(l) > 998 {
				t.Errorf("a line of %d: a line of %d octets in the bounce message: %.60q…", n, len(l), l)
			}
		}
		body, _ := io.ReadAll(ent.Body)
		if string(body) != line+"\n" {
			t.Errorf("a line of %d: body %.80q…; want the line whole", n, body)
		}
		if qp := strings.Contains(m, "quoted-printable"); qp != (n > 998) {
			t.Errorf("a line of %d: quoted-printable %v", n, qp)
		}
	}
}

// TestSendmailStderrCutUTF8: a -s program's words, cut to the 1000
// octets a reply's text keeps, are cut where a UTF-8 character starts,
// as a server's are: the retry record's deferred attribute is UTF-8, not
// a character's first octet at its end, which the bounce of its
// recipient would show as \xc3.
func TestSendmailStderrCutUTF8(t *testing.T) {
	dir := list(t)
	prog := filepath.Join(t.TempDir(), "sendmail")
	// The text is "PROG: exit 75: " and the line: its octet 1000, the
	// first one cut off, is the second of an "é".
	line := strings.Repeat("x", smtpout.MaxReplyText-len(prog+": exit 75: ")-1) + strings.Repeat("é", 10)
	v := deferredBy(t, dir, prog, "echo '"+line+"' >&2\nexit 75\n")
	if want := "451 4.3.0 " + prog + ": exit 75: " + line[:len(line)-20]; v != want {
		t.Errorf("deferred %q\nwant %q", v, want)
	}
}

// deferredBy runs mlm-sendmail -s prog, prog a shell script that reads
// the message and then runs body, on a record to one recipient, and
// returns the deferred attribute of the retry record it writes.
func deferredBy(t *testing.T, dir, prog, body string) string {
	t.Helper()
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nshift 4\ncat >/dev/null\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := send(t, &args{Dir: dir, Sendmail: prog, Conns: 1}, record("p8,1", "a@x.example"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := stream.NewReader(strings.NewReader(out)).Next()
	if err != nil {
		t.Fatalf("retry record %q: %v", out, err)
	}
	v, _ := h.Get("deferred")
	return v
}

// TestSendmailStderrFirstLine: of what a -s program that fails says on
// standard error, the first line is the text of its reply, as
// mlm-sendmail(1) says; the lines after it (a usage summary, a stack)
// are not.
func TestSendmailStderrFirstLine(t *testing.T) {
	dir := list(t)
	prog := filepath.Join(t.TempDir(), "sendmail")
	if v := deferredBy(t, dir, prog, "echo 'queue file write error' >&2\necho 'usage: sendmail ...' >&2\nexit 75\n"); v != "451 4.3.0 "+prog+": exit 75: queue file write error" {
		t.Errorf("deferred %q; want the first line alone", v)
	}
}

// TestDuplicateRecipientPair: a record of two recipients, one address
// twice (its domain's case aside), sends the post once, as a larger
// record does (TestDuplicateRecipient).
func TestDuplicateRecipientPair(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, record("p8,1", "a@x.example", "a@X.Example")); err != nil {
		t.Fatal(err)
	}
	if got := delivered(srv); !slices.Equal(got, []string{"a@x.example"}) {
		t.Errorf("delivered %v; want a once", got)
	}
}

// TestSendmailRelayUnchecked: with -s no relay is needed, nor checked
// (mlm-sendmail(1)): a relay file left with a line that is not
// host:port, from before the list took to a program, does not keep its
// mail from going.
func TestSendmailRelayUnchecked(t *testing.T) {
	dir := list(t)
	os.WriteFile(filepath.Join(dir, "relay"), []byte("localhost\n"), 0o644)
	taken := filepath.Join(dir, "taken")
	if _, err := send(t, &args{Dir: dir, Sendmail: sendmailScript(t, taken), Conns: 1}, record("p1,1", "a@x.example")); err != nil {
		t.Fatalf("-s, a relay file of localhost: %v", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "a@x.example\n" {
		t.Errorf("the program got %q; want a@x.example", b)
	}
}

// TestRetryRecordNotWritten: the record of the deferred recipients
// that standard output does not take fails the run, 75: the queue runner
// keeps the batch, whose run again defers them again, rather than
// removing it as done, with the recipients in no queue at all.
func TestRetryRecordNotWritten(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=451 4.3.0 later")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 2 * time.Second, Lifetime: 120 * time.Hour}
	var errb bytes.Buffer
	// Every write fails, as to a standard output whose reader
	// (mlm-enqueue queue/retry) has died.
	err := run(a, strings.NewReader(record("p8,1", "a@example.org")), &mlmtest.FailAfter{N: 0}, &errb)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("standard output failing: %v (%d); want 75", err, sysexit.Code(err))
	}
}

// TestVERPOneRecipient: a record of verp=yes to one recipient (a
// small list, or the last batch of a post) goes with the sender
// VERP-encoded too, as a record of several recipients' does, so that a
// bounce of it names the recipient in its address.
func TestVERPOneRecipient(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}}, verpRecord("p1,1", "Subject: x\n\nbody\n", "bob@example.org")); err != nil {
		t.Fatal(err)
	}
	want, _ := addr.VERP("dev-bounces@lists.example.org", "bob@example.org")
	if ms := srv.Messages(); len(ms) != 1 || ms[0].Sender.Mailbox != want {
		t.Errorf("%d transactions; want one from %s", len(ms), want)
	}
}

// TestIDsFitNoRecipients: a record of no recipient (mlm-accept's E 0,
// sent to delivery by mistake) goes nowhere, exit 0, whatever its id's
// length: it has no bounce or retry record to name, and so no id too
// long for one.
func TestIDsFitNoRecipients(t *testing.T) {
	id := "p" + strings.Repeat("x", queue.MaxID-1)
	if _, err := send(t, &args{Dir: list(t), Relay: []string{"127.0.0.1:1"}}, record(id)); err != nil {
		t.Errorf("a record of no recipient, its id %d octets: %v; want 0", len(id), err)
	}
}

// TestAuthFile: -a takes the user and the password from the first line
// of its file, separated by a space, without the spaces around them or
// the CR of a CRLF line; a file without both is a usage error, 64,
// before anything is sent, not an AUTH with no password.
func TestAuthFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, user, password string
		code                       int
	}{
		{"user and password", "mlm s3cret\nmore\n", "mlm", "s3cret", 0},
		{"no password", "mlm\n", "", "", sysexit.Usage},
		{"CRLF", "mlm s3cret\r\n", "mlm", "s3cret", 0},
		{"byte-order mark", "\ufeffmlm s3cret\n", "mlm", "s3cret", 0},
		// Not read whole: a first line of 1 MiB or more is a file that
		// is not what its name says, as in a list's settings.
		{"a line of 2 MiB", strings.Repeat("x", 2<<20), "", "", sysexit.TempFail},
	} {
		dir := list(t)
		file := filepath.Join(t.TempDir(), "auth")
		os.WriteFile(file, []byte(tc.file), 0o600)
		s, err := newSender(&args{Dir: dir, Relay: []string{"127.0.0.1:1"}, Auth: file, Timeout: time.Second, Conns: 1}, io.Discard)
		if sysexit.Code(err) != tc.code {
			t.Errorf("%s: %v; want exit %d", tc.name, err, tc.code)
			continue
		}
		if err == nil && (s.opts.User != tc.user || s.opts.Password != tc.password) {
			t.Errorf("%s: user %q, password %q; want %q, %q", tc.name, s.opts.User, s.opts.Password, tc.user, tc.password)
		}
		if s != nil {
			s.j.close()
		}
	}
}

// TestAuthFIFO: -a naming a FIFO fails with 75, as a list's setting
// that is one does, rather than waiting for a writer for ever.
func TestAuthFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "auth")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := newSender(&args{Dir: list(t), Relay: []string{"127.0.0.1:1"}, Auth: fifo, Timeout: time.Second, Conns: 1}, io.Discard)
		if s != nil {
			s.j.close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if sysexit.Code(err) != sysexit.TempFail || !strings.Contains(fmt.Sprint(err), "FIFO") {
			t.Errorf("-a FIFO: %v; want 75, a FIFO", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("-a FIFO: still waiting after a minute")
	}
}

// sinkUntilConns is a sink that holds its replies to final dots until n
// connections are open, or 20 s have passed: a sender opens them only
// with records read while the first transactions wait.
func sinkUntilConns(t *testing.T, n int64) *smtpsink.Server {
	var srv atomic.Pointer[smtpsink.Server]
	var once sync.Once
	open := make(chan bool)
	s := sinktest.Sink(t, smtpsink.Options{DelayAt: "dot", Hold: func() {
		once.Do(func() {
			for k := 0; k < 2000 && srv.Load().Counts().Connections < n; k++ {
				time.Sleep(10 * time.Millisecond)
			}
			close(open)
		})
		<-open
	}})
	srv.Store(s)
	return s
}

// TestHeldRecordsUseEveryConnection: past maxHeld recipients in hand,
// records are still read while fewer than -c are: records larger than
// it (mlm-split's at a large maxrcpt) go over every connection, not one
// at a time. The first final dot's reply waits until four connections
// are open, which only records read meanwhile open. (Records of more
// than smtpout.ChainMax recipients: a smaller one's dot would go out
// with the next record's commands, over the same connection.)
func TestHeldRecordsUseEveryConnection(t *testing.T) {
	defer func(m, h int) { maxHeld, hardHeld = m, h }(maxHeld, hardHeld)
	maxHeld, hardHeld = 2, 1000
	sink := sinkUntilConns(t, 4)
	var in strings.Builder
	for i := 1; i <= 8; i++ {
		var rcpts []string
		for j := range smtpout.ChainMax + 1 {
			rcpts = append(rcpts, fmt.Sprintf("r%d.%d@example.org", i, j))
		}
		in.WriteString(record(fmt.Sprintf("p%d,1", i), rcpts...))
	}
	a := &args{Dir: list(t), Relay: []string{sink.Addr()}, Conns: 4, Timeout: time.Minute, Lifetime: time.Hour}
	if _, err := send(t, a, in.String()); err != nil {
		t.Fatal(err)
	}
	if c := sink.Counts(); c.Connections != 4 || c.Recipients != 8*(smtpout.ChainMax+1) {
		t.Errorf("%v; want %d recipients over 4 connections", c, 8*(smtpout.ChainMax+1))
	}
}

// TestDialErrorNamesRelayOnce: a relay that cannot be reached is named
// once in the line on standard error, not again before the dialler's
// own words ("127.0.0.1:1: dial tcp 127.0.0.1:1: ...").
func TestDialErrorNamesRelayOnce(t *testing.T) {
	s, err := newSender(&args{Dir: list(t), Relay: []string{"127.0.0.1:1"}, Timeout: time.Second, Conns: 1}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.j.close()
	var said bytes.Buffer
	done := stderrTo(t, &said)
	_, err = s.dial(0, false)
	done()
	line := said.Bytes()
	if err == nil {
		t.Skip("something listens on 127.0.0.1:1")
	}
	if n := strings.Count(string(line), "127.0.0.1:1"); n != 1 || !strings.HasPrefix(string(line), prog+": ") {
		t.Errorf("standard error %q: the relay named %d times; want once, after %q", line, n, prog+": ")
	}
}

// TestConnsBelowOne: -c below 1 is one connection (mlm-sendmail(1)):
// the record is delivered, not left to no connection at all.
func TestConnsBelowOne(t *testing.T) {
	for _, n := range []int{0, -1} {
		dir := list(t)
		srv := sinktest.Sink(t, smtpsink.Options{})
		a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: n, Timeout: 2 * time.Second, Lifetime: time.Hour}
		var out, errb bytes.Buffer
		if err := run(a, strings.NewReader(record("p1,1", "a@example.org")), &out, &errb); err != nil {
			t.Errorf("-c %d: %v", n, err)
		}
		if got := delivered(srv); !slices.Equal(got, []string{"a@example.org"}) {
			t.Errorf("-c %d: delivered %v; want a", n, got)
		}
	}
}

// pacedRun runs a sender on n records, p1,1 to pN,1 (to r1@ to rN@),
// fed one at a time as mlm-throttle paces them: each once the one
// before is delivered (delivered(s, i)) and its worker is back at the
// wait for the next (its dot's reply read, the outcome settled: not on
// a sink's count alone, which comes before the worker is back); then
// after(i), if set. It returns the sender and its standard error once
// the run has ended.
func pacedRun(t *testing.T, a *args, n int, delivered func(s *sender, i int) bool, after func(i int)) (*sender, *bytes.Buffer) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var out, errb bytes.Buffer
	s, err := newSender(a, &out)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.run(pr, &errb) }()
	for i := 1; i <= n; i++ {
		io.WriteString(pw, record(fmt.Sprintf("p%d,1", i), fmt.Sprintf("r%d@example.org", i)))
		for k := 0; !delivered(s, i) || s.waiting.Load() < 1; k++ {
			if k == 2000 {
				t.Fatalf("record %d not delivered, or its worker not back", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if after != nil {
			after(i)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return s, &errb
}

// TestPacedOneConnection: records that come one at a time, each after
// the one before is delivered (as mlm-throttle paces them), go over one
// connection, reused, not a connection each up to -c, every one of
// them left idle until the run ended. Records that come together still
// open more.
func TestPacedOneConnection(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 5, Timeout: 10 * time.Second, Lifetime: time.Hour}
	pacedRun(t, a, 5, func(_ *sender, i int) bool { return srv.Counts().Recipients >= int64(i) }, nil)
	if c := srv.Counts(); c.Connections != 1 || c.Transactions != 5 {
		t.Errorf("paced: %v; want 5 transactions over one connection", c)
	}

	// 20 records at once, 5 connections at most: more than one. The
	// first final dot's reply waits for a second connection, which
	// only records read while the first is busy open.
	srv = sinkUntilConns(t, 2)
	a.Relay = []string{srv.Addr()}
	var in strings.Builder
	for i := 1; i <= 20; i++ {
		in.WriteString(record(fmt.Sprintf("q%d,1", i), fmt.Sprintf("s%d@example.org", i)))
	}
	if _, err := send(t, a, in.String()); err != nil {
		t.Fatal(err)
	}
	if c := srv.Counts(); c.Connections < 2 || c.Connections > 5 || c.Recipients != 20 {
		t.Errorf("at once: %v; want 20 recipients over 2 to 5 connections", c)
	}
}

// TestPartedRecord: a record of more than partRcpts recipients goes as
// parts of partRcpts, each a record of its own, ID,k, as mlm-split's
// batches are: its transactions, its bounce records (ID,k,bN) and its
// retry record (ID,k,r-HASH, parent=ID,k); every recipient once, and
// nothing twice when the record is run again. A record of verp=yes so
// too, each recipient's job of its part (ID,k,n). Held whole, as
// before: a record of partRcpts, a retry record (whose batch's lock its
// parts would not share), and one whose id leaves no room for ",k".
func TestPartedRecord(t *testing.T) {
	defer func(n int) { partRcpts = n }(partRcpts)
	partRcpts = 3
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450*=450 4.2.0 mailbox busy", "f550*=550 5.1.1 no such user")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 3}
	rcpts := []string{"ok1@example.org", "ok2@example.org", "ok3@example.org", "ok4@example.org", "t450@example.org",
		"ok5@example.org", "f550@example.org", "ok6@example.org"}
	in := recordAttrs("p1", "Subject: x\n\nbody\n", []stream.Attr{{Name: "parent", Value: "p0"}}, rcpts...)
	out, err := send(t, a, in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := strings.Join(delivered(srv), " "); got != "ok1@example.org ok2@example.org ok3@example.org ok4@example.org ok5@example.org ok6@example.org" {
		t.Errorf("delivered %s", got)
	}
	// The parts' transactions: ok1-ok3, ok4 (t450 deferred, ok5 the
	// third of part 2), ok6 (f550 failed).
	var txns []string
	for _, m := range srv.Messages() {
		var rs []string
		for _, r := range m.Rcpts {
			rs = append(rs, r.Mailbox)
		}
		txns = append(txns, strings.Join(rs, " "))
	}
	sort.Strings(txns)
	if want := []string{"ok1@example.org ok2@example.org ok3@example.org", "ok4@example.org ok5@example.org", "ok6@example.org"}; !slices.Equal(txns, want) {
		t.Errorf("transactions %q; want %q", txns, want)
	}
	r := stream.NewReader(strings.NewReader(out))
	var retries []string
	if err := r.Each(func(h *stream.Header) error {
		parent, _ := h.Get("parent")
		var rs []string
		io.Copy(io.Discard, r.Message())
		r.EachRecipient(func(p stream.Path) error { rs = append(rs, p.Mailbox); return nil })
		if !strings.HasPrefix(h.ID, "p1,2,r-") {
			t.Errorf("retry record %s; want p1,2,r-HASH", h.ID)
		}
		retries = append(retries, fmt.Sprintf("parent=%s %s", parent, strings.Join(rs, " ")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"parent=p1,2 t450@example.org"}; !slices.Equal(retries, want) {
		t.Errorf("retry records %q; want %q", retries, want)
	}
	bounces, _ := filepath.Glob(filepath.Join(dir, "queue", "bounces", "new", "*"))
	if len(bounces) != 1 || filepath.Base(bounces[0]) != "p1,3,b1" {
		t.Errorf("bounce records %v; want p1,3,b1", bounces)
	}
	// Run again (a crash before its queue file was removed): the same
	// parts, so the same retry record; nothing is sent twice.
	again, err := send(t, a, in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(delivered(srv)); n != 6 {
		t.Errorf("after a re-run %d deliveries; want 6", n)
	}
	first, _ := stream.NewReader(strings.NewReader(out)).Next()
	if h, err := stream.NewReader(strings.NewReader(again)).Next(); err != nil || first == nil || h.ID != first.ID {
		t.Errorf("the re-run's retry record: %v, %v; want the first run's, %v", h, err, first)
	}

	// verp=yes: each recipient once, alone, the sender encoded; the
	// deferred one in its part's retry record, at its place in it.
	srv2 := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "t450*=450 4.2.0 mailbox busy")})
	a2 := &args{Dir: list(t), Relay: []string{srv2.Addr()}, Conns: 3}
	var many []string
	for i := range 7 {
		many = append(many, fmt.Sprintf("m%d@example.net", i))
	}
	many[4] = "t450@example.net"
	out, err = send(t, a2, verpRecord("p2", "Subject: v\n\nbody\n", many...))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got := map[string]int{}
	for _, m := range srv2.Messages() {
		rcpt := m.Rcpts[0].Mailbox
		got[rcpt]++
		if v, _ := addr.VERP("dev-bounces@lists.example.org", rcpt); len(m.Rcpts) != 1 || m.Sender.Mailbox != v || string(m.Data) != "Subject: v\r\n\r\nbody\r\n" {
			t.Errorf("to %v: sender %s, %q; want alone, sender %s, the message", m.Rcpts, m.Sender.Mailbox, m.Data, v)
		}
	}
	if len(got) != 6 || got["t450@example.net"] != 0 {
		t.Errorf("delivered %v; want each of 6 once", got)
	}
	for r, n := range got {
		if n != 1 {
			t.Errorf("%s got %d copies", r, n)
		}
	}
	if h, err := stream.NewReader(strings.NewReader(out)).Next(); err != nil || !strings.HasPrefix(h.ID, "p2,2,r-") {
		t.Errorf("retry record %v, %v; want p2,2,r-HASH (part 2's)", h, err)
	} else if parent, _ := h.Get("parent"); parent != "p2,2" || attrOf(h, verpN) != "2" || !h.VERP() {
		t.Errorf("retry record %s: parent %q, verp-n %q; want p2,2, 2 (its second recipient), verp=yes", h.ID, parent, attrOf(h, verpN))
	}

	// A record of parts found bad at its end (its count not its
	// recipients'): the parts before it have gone, the rest not; 65.
	srv3 := sinktest.Sink(t, smtpsink.Options{})
	bad := strings.Replace(record("p6", rcpts...), "E 8\n", "E 9\n", 1)
	if _, err := send(t, &args{Dir: list(t), Relay: []string{srv3.Addr()}, Conns: 3}, bad); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("a record whose count is not its recipients': %v; want exit 65", err)
	}
	if got := delivered(srv3); len(got) != 6 {
		t.Errorf("delivered %v; want the two parts before the end, 6", got)
	}

	// Held whole: one transaction each.
	for _, tc := range []struct {
		name, id string
		n        int
	}{
		{"partRcpts", "p3", 3},
		{"a retry record", "p4,1,r-12345678", 5},
		{"an id without room", "p5," + strings.Repeat("x", queue.MaxID-20), 5},
	} {
		srv := sinktest.Sink(t, smtpsink.Options{})
		var rs []string
		for i := range tc.n {
			rs = append(rs, fmt.Sprintf("r%d@example.org", i))
		}
		if _, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 3}, record(tc.id, rs...)); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c := srv.Counts(); c.Transactions != 1 || c.Recipients != int64(tc.n) {
			t.Errorf("%s: %+v; want its %d recipients in one transaction", tc.name, c, tc.n)
		}
	}
}

// TestPartedRecordLocked: the parts of record ID hold ID's own lock as
// well, as the record held whole did: while another process delivers
// its batch (a retry record of it, ID,r-HASH, made when it went whole),
// no part goes, and the record is not tried now (75), its recipients
// read past; the lock is let go once the last part has ended, so the
// record goes when tried again.
func TestPartedRecordLocked(t *testing.T) {
	defer func(n int) { partRcpts = n }(partRcpts)
	partRcpts = 3
	dir, name := listJournal(t, "p1", "")
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := byteOf(lockKey("p1,r-12345678"), unix.F_WRLCK)
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Skip("no OFD locks:", err)
	}
	var rs []string
	for k := range 8 {
		rs = append(rs, fmt.Sprintf("m%d@x.example", k))
	}
	srv := sinktest.Sink(t, smtpsink.Options{})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2}
	in := record("p1", rs...) + record("p2", "other@x.example")
	if _, err := send(t, a, in); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("run = %v; want 75", err)
	}
	if got := delivered(srv); !slices.Equal(got, []string{"other@x.example"}) {
		t.Errorf("delivered %v while another process holds batch p1's lock; want the next record's alone", got)
	}
	lk.Type = unix.F_UNLCK
	unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	s, err := newSender(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2, Timeout: 2 * time.Second, Lifetime: time.Hour}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.j.close()
	if err := s.run(strings.NewReader(record("p1", rs...)), io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(s.j.busy) != 0 || len(s.j.locked) != 0 {
		t.Errorf("after the run, batches still locked: %v", s.j.busy)
	}
	if n := len(delivered(srv)); n != 9 {
		t.Errorf("%d delivered; want the 8 of p1 too", n)
	}
}

// TestJournalOutOfDescriptors: a process out of descriptors short of
// maxKept journals (a low limit, many connections) lets go of the idle
// ones and opens the next post's journal all the same: each record of a
// new post failed (75) from there, and each run again at the same post
// (a review).
func TestJournalOutOfDescriptors(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{})
	var in strings.Builder
	var want []string
	for i := range 3 * maxKept {
		r := fmt.Sprintf("r%d@example.org", i)
		in.WriteString(record(fmt.Sprintf("p%d,1", i), r))
		want = append(want, r)
	}
	sort.Strings(want)
	// Room for a third of maxKept journals, the connection, the sink's.
	restore := fewDescriptors(t, maxKept/3)
	var out, errs bytes.Buffer
	err := run(&args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 2 * time.Second, Lifetime: time.Hour}, strings.NewReader(in.String()), &out, &errs)
	restore()
	if err != nil || out.Len() > 0 {
		t.Fatalf("%d posts with room for %d journals: %v\n%.300s", 3*maxKept, maxKept/3, err, errs.String())
	}
	if got := delivered(srv); !slices.Equal(got, want) {
		t.Errorf("delivered %d of %d, or some twice", len(got), len(want))
	}
}

// TestIdleClosed: a relay that closes a connection left idle (its
// timeout's 421, as Postfix's smtpd_timeout: the pace of mlm-throttle
// may leave one so) has the next record dial anew, at no cost to its
// tries and with nothing said, where the 421 was read as MAIL's reply,
// said, and counted a try (R79).
func TestIdleClosed(t *testing.T) {
	var mu sync.Mutex
	mails := 0
	addr := mlmtest.Serve(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		say := func(s string) { io.WriteString(c, s+"\r\n") }
		say("220 idle ESMTP")
		for {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			l, err := br.ReadString('\n')
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				say("421 4.4.2 idle Error: timeout exceeded")
				c.Close()
				return
			}
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
			case strings.HasPrefix(cmd, "EHLO"):
				say("250 idle")
			case strings.HasPrefix(cmd, "MAIL"):
				mu.Lock()
				mails++
				mu.Unlock()
				say("250 ok")
			case cmd == "DATA":
				say("354 go ahead")
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
				}
				say("250 2.0.0 taken")
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("250 ok")
			}
		}
	})
	dir := list(t)
	a := &args{Dir: dir, Relay: []string{addr}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}
	s, errb := pacedRun(t, a, 2, func(s *sender, i int) bool { return s.stats.delivered.Load() >= int64(i) }, func(i int) {
		if i == 1 {
			time.Sleep(1100 * time.Millisecond) // idle: past the relay's timeout, and goneIdle
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if n := s.stats.txns.Load(); n != 2 || mails != 2 || errb.Len() != 0 {
		t.Errorf("%d transactions tried, %d MAIL taken, standard error %q; want 2, 2 and nothing", n, mails, errb.String())
	}
}

// TestBouncesFull: the bounces queue holds a record for each recipient
// failed only up to maxqueued (as mlm-accept refuses bounces then), not
// without bound in a queue no stage empties by default (R93 F2); past
// it, a recipient fails without one, in the journal, and standard error
// says so once. The bound is looked at once in bounceLook records: at
// most so many go past it in a run, and none in the next.
func TestBouncesFull(t *testing.T) {
	mlmtest.Fault(t, "input", "recipients refused for good (550) while the bounces queue holds maxqueued records", "no more bounce records, one line on standard error, the recipients failed in the journal; at most 64 past the bound in a run")
	dir := list(t)
	os.WriteFile(filepath.Join(dir, "maxqueued"), []byte("3\n"), 0o644)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "*=550 5.1.1 no such user")})
	var rcpts []string
	for i := range bounceLook + 10 {
		rcpts = append(rcpts, fmt.Sprintf("d%d@example.org", i))
	}
	bounces := func() int { fs, _ := os.ReadDir(filepath.Join(dir, "queue", "bounces", "new")); return len(fs) }
	for n, want := range []int{bounceLook, bounceLook} {
		var out, errb, stderr bytes.Buffer
		a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second}
		said := stderrTo(t, &stderr)
		err := run(a, strings.NewReader(record(fmt.Sprintf("p%d", n), rcpts...)), &out, &errb)
		said()
		if err != nil {
			t.Fatalf("run %d: %v; want 0", n+1, err)
		}
		if got := bounces(); got != want {
			t.Errorf("run %d: %d bounce records; want %d", n+1, got, want)
		}
		if c := strings.Count(stderr.String(), "queue/bounces: full (3 records, as maxqueued allows): no more bounce records this run"); c != 1 {
			t.Errorf("run %d: said %d times that the queue is full; want once:\n%s", n+1, c, stderr.String())
		}
		j, _ := os.ReadFile(filepath.Join(dir, "state", "journal", fmt.Sprintf("p%d", n)))
		if c := strings.Count(string(j), "F "); c != len(rcpts) {
			t.Errorf("run %d: %d recipients failed in the journal; want %d", n+1, c, len(rcpts))
		}
	}
	// A queue stages take (a bounce processor behind) has ten times the
	// room: of maxqueued 7, 70 records, which the next run's first look
	// finds it does not hold, where it holds 7 and more.
	os.WriteFile(filepath.Join(dir, "maxqueued"), []byte("7\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "stages"), 0o755)
	os.WriteFile(filepath.Join(dir, "stages", "bounces"), []byte("site-bounces .\n"), 0o644)
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second}
	if err := run(a, strings.NewReader(record("p2", rcpts...)), &out, &errb); err != nil {
		t.Fatalf("a served queue: %v; want 0", err)
	}
	if got := bounces(); got != 2*bounceLook {
		t.Errorf("a served queue of %d records, room for 70: %d bounce records after a run; want %d", bounceLook, got, 2*bounceLook)
	}
}

// stderrTo has what is written on standard error go to w too, until
// done is called, which returns once all of it has.
func stderrTo(t *testing.T, w io.Writer) (done func()) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(io.MultiWriter(w, stderr), r)
	}()
	return func() {
		os.Stderr = stderr
		pw.Close()
		<-copied
		r.Close()
	}
}

// attrOf is the value of h's attribute name, "" if it has none.
func attrOf(h *stream.Header, name string) string { v, _ := h.Get(name); return v }

// TestVERPRetryRecords: a record of verp=yes that defers recipients of
// more than verpRetryMax places makes a retry record of each
// verpRetryMax places, each its own name, of the same sets at each run:
// together they hold each deferred recipient once, at its place in the
// record. Cut in the order the transactions ended, a re-run made other
// sets, which the retry queue kept beside the first (a review). A retry
// record of places of more than one such cut, sent without -R, is cut
// alike. A retry record whose verp-n does not give a place from 1 for
// each recipient, or whose id is no retry record's, is bad input (65),
// and nothing is sent.
func TestVERPRetryRecords(t *testing.T) {
	defer func(old int) { verpRetryMax = old }(verpRetryMax)
	verpRetryMax = 3
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "d*=451 4.3.0 later")})
	// sets gives each record of out as "places: recipients", sorted by
	// place, the records sorted.
	sets := func(out string) []string {
		t.Helper()
		r := stream.NewReader(strings.NewReader(out))
		var got []string
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, r.Message())
			var ms []string
			r.EachRecipient(func(p stream.Path) error { ms = append(ms, p.Mailbox); return nil })
			places := strings.Fields(attrOf(h, verpN))
			if !strings.HasPrefix(h.ID, "p1,1,r-") || len(places) != len(ms) {
				t.Fatalf("retry record %s: %d places for %d recipients", h.ID, len(places), len(ms))
			}
			pairs := make([]string, len(ms))
			for i := range ms {
				pairs[i] = fmt.Sprintf("%3s %s", places[i], ms[i])
			}
			slices.Sort(pairs)
			got = append(got, strings.Join(pairs, ", "))
		}
		slices.Sort(got)
		return got
	}
	ids := func(out string) (ids []string) {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "MLM1 ") {
				ids = append(ids, l)
			}
		}
		slices.Sort(ids)
		return ids
	}
	rcpts := []string{"d1@example.net", "k1@example.net", "d2@example.net", "k2@example.net", "d3@example.net", "d4@example.net", "k3@example.net", "d5@example.net"}
	want := []string{"  1 d1@example.net,   3 d2@example.net", "  5 d3@example.net,   6 d4@example.net", "  8 d5@example.net"}
	var first string
	for run := range 4 {
		out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1 + run}, verpRecord("p1,1", "Subject: v\n\nbody\n", rcpts...))
		if err != nil {
			t.Fatal(err)
		}
		if got := sets(out); !slices.Equal(got, want) {
			t.Fatalf("run %d, -c %d: retry records\n%q\nwant\n%q", run, 1+run, got, want)
		}
		if run == 0 {
			first = out
		} else if !slices.Equal(ids(out), ids(first)) {
			t.Errorf("run %d: ids %q; want those of the first, %q", run, ids(out), ids(first))
		}
	}
	// A retry record of places 2, 5 and 6 sent without -R, all deferred:
	// cut as its record was, 2 apart from 5 and 6.
	in := recordAttrs("p1,1,r-12345678", "Subject: v\n\nbody\n", []stream.Attr{{Name: "parent", Value: "p1"}, {Name: "verp", Value: "yes"}, {Name: verpN, Value: "6 2 5"}}, "d4@example.net", "d9@example.net", "d3@example.net")
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sets(out), []string{"  2 d9@example.net", "  5 d3@example.net,   6 d4@example.net"}; !slices.Equal(got, want) {
		t.Errorf("retry records of a retry record\n%q\nwant\n%q", got, want)
	}
	// d2's transaction locked by another process: places 1 to 3, kept
	// in the record (75), make none (TestVERPRetryAgain); the others do.
	other := newJournal(filepath.Join(dir, "state", "journal"))
	defer other.close()
	if err := other.lock("p1", "p1,1,3", nil); err != nil {
		t.Fatal(err)
	}
	out, err = send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2}, verpRecord("p1,1", "Subject: v\n\nbody\n", rcpts...))
	if got := sets(out); sysexit.Code(err) != sysexit.TempFail || !slices.Equal(got, want[1:]) {
		t.Errorf("d2 locked: %v, retry records\n%q\nwant 75,\n%q", err, got, want[1:])
	}
	other.unlock("p1,1,3")
	// The retry record of places 2, 5 and 6 again, d3's transaction
	// (place 5) locked: none at all, 2's neither, as the record, kept
	// whole, holds it; written, it made one its next run wrote again
	// beside the one it had become by then (a review).
	if err := other.lock("p1", "p1,1,5", nil); err != nil {
		t.Fatal(err)
	}
	out, err = send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 2}, in)
	if got := sets(out); sysexit.Code(err) != sysexit.TempFail || len(got) != 0 {
		t.Errorf("retry record, d3 locked: %v, retry records\n%q\nwant 75, none", err, got)
	}
	other.unlock("p1,1,5")
	for _, c := range []struct{ id, places string }{
		{"p1,1,r-12345678", "1 2 3"},
		{"p1,1,r-12345678", "1"},
		{"p1,1,r-12345678", "1 0"},
		{"p1,1,r-12345678", "1 +2"},
		{"p1,1,x", "1 2"},
	} {
		in := recordAttrs(c.id, "Subject: v\n\nbody\n", []stream.Attr{{Name: "verp", Value: "yes"}, {Name: verpN, Value: c.places}}, "a@example.net", "b@example.net")
		srv2 := sinktest.Sink(t, smtpsink.Options{})
		_, err := send(t, &args{Dir: dir, Relay: []string{srv2.Addr()}, Retry: true}, in)
		if sysexit.Code(err) != sysexit.DataErr || len(srv2.Messages()) != 0 {
			t.Errorf("%s, verp-n %q: %v (%d), %d sent; want 65, none", c.id, c.places, err, sysexit.Code(err), len(srv2.Messages()))
		}
	}
}

// TestVERPRetryAgain: a record of verp=yes that could not try every
// recipient (one's lock held by another process: 75) writes no retry
// record: kept whole, it holds those it deferred, and run again once it
// can, makes one of all it defers. One of those it had tried was a set
// of its own each time, and two records sharing recipients, run at once,
// made one more at each pass (a review); and one named by all the
// record's recipients had the name of the one written on the re-run,
// which the queue dropped, and the recipient only it held (another).
func TestVERPRetryAgain(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "d*=451 4.3.0 later")})
	a := &args{Dir: dir, Relay: []string{srv.Addr()}}
	in := verpRecord("p1,1", "Subject: v\n\nbody\n", "d1@example.net", "k1@example.net", "d2@example.net")
	other := newJournal(filepath.Join(dir, "state", "journal"))
	defer other.close()
	if err := other.lock("p1", "p1,1,3", nil); err != nil {
		t.Fatal(err)
	}
	first, err := send(t, a, in)
	if sysexit.Code(err) != sysexit.TempFail {
		t.Fatalf("with d2's transaction locked: %v; want 75", err)
	}
	other.unlock("p1,1,3")
	again, err := send(t, a, in)
	if err != nil {
		t.Fatal(err)
	}
	if first != "" || !strings.Contains(again, "\nR <d1@example.net>\nR <d2@example.net>\nE 2\n") && !strings.Contains(again, "\nR <d2@example.net>\nR <d1@example.net>\nE 2\n") {
		t.Errorf("retry records:\n%s\nthen\n%s\nwant none, then d1's and d2's", first, again)
	}
}

// TestRetryOfRetryRecord: a batch's retry record sent without -R (a site's
// own stages) and deferred again makes a retry record of the batch, under
// its lock, named the same at each run and apart from itself and the
// first, an id no longer than the first's, where it was named after
// itself (ID,r-H,r-H): 11 octets more at each deferral, and the lock of
// no batch, which a re-run of the batch did not wait for.
func TestRetryOfRetryRecord(t *testing.T) {
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "d*=451 4.3.0 later")})
	a := func() *args { return &args{Dir: list(t), Relay: []string{srv.Addr()}} }
	first, err := send(t, a(), record("p1,1", "d1@example.net", "k1@example.net", "d2@example.net"))
	if err != nil {
		t.Fatal(err)
	}
	head := func(out string) *stream.Header {
		t.Helper()
		h, err := stream.NewReader(strings.NewReader(out)).Next()
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return h
	}
	x := head(first).ID
	var ys []string
	for range 2 {
		out, err := send(t, a(), first)
		if err != nil {
			t.Fatal(err)
		}
		h := head(out)
		parent, _ := h.Get("parent")
		if lockKey(h.ID) != "p1,1" || h.ID == x || len(h.ID) != len(x) || parent != "p1,1" || !strings.HasSuffix(out, "\nR <d1@example.net>\nR <d2@example.net>\nE 2\n") {
			t.Errorf("retry record of %s: %s, parent %s:\n%s\nwant p1,1,r-HASH, not %s, parent p1,1, d1 and d2", x, h.ID, parent, out, x)
		}
		ys = append(ys, h.ID)
	}
	if ys[0] != ys[1] {
		t.Errorf("two runs of %s: %s then %s; want one name", x, ys[0], ys[1])
	}
	// Its retry records, in turn: names never seen before in the chain,
	// where one of them back (Y, Z, Y) had two runs at once of the two,
	// both queued after a stop, each drop its new record as the other's
	// (as a verp=yes one did: a review).
	second := strings.Replace(first, "MLM1 "+x+"\n", "MLM1 "+ys[0]+"\n", 1)
	seen := []string{x, ys[0]}
	in := second
	for range 3 {
		out, err := send(t, a(), in)
		if err != nil {
			t.Fatal(err)
		}
		z := head(out).ID
		if lockKey(z) != "p1,1" || slices.Contains(seen, z) {
			t.Errorf("retry record of %s: %s; want a name of p1,1 not in %q", seen[len(seen)-1], z, seen)
		}
		// One parent and one deferred, not one more each round.
		if strings.Count(out, "\nA parent=") != 1 || strings.Count(out, "\nA deferred=") != 1 {
			t.Errorf("retry record of %s:\n%s\nwant one parent and one deferred", seen[len(seen)-1], out)
		}
		in = out
		seen = append(seen, z)
	}
	// Under -R, it waits for the batch's lock, which a re-run of the
	// batch holds.
	b := a()
	other := newJournal(filepath.Join(b.Dir, "state", "journal"))
	defer other.close()
	if err := other.lock("p1", "p1,1", nil); err != nil {
		t.Fatal(err)
	}
	b.Retry = true
	n := len(srv.Messages())
	if _, err := send(t, b, second); sysexit.Code(err) != sysexit.TempFail || len(srv.Messages()) != n {
		t.Errorf("%s with -R, the batch's lock held: %v, %d sent; want 75, none", ys[0], err, len(srv.Messages())-n)
	}
}

// TestRetryRecordLongID: a retry record sent without -R whose id is near
// what a queue takes is sent: its own retry record is of its batch, as
// long as it, where the room of one 11 octets longer was asked, and it
// went to bad/ (65) for an id it would never make (a review).
func TestRetryRecordLongID(t *testing.T) {
	batch := "p" + strings.Repeat("x", 216) + ",1"
	x := retryID(batch, []stream.Path{{Mailbox: "d1@example.net"}})
	if len(x)+len(",b1") > queue.MaxID || len(x)+len(",b1")+len(",r-")+8 <= queue.MaxID {
		t.Fatalf("id of %d octets: not the case", len(x))
	}
	srv := sinktest.Sink(t, smtpsink.Options{Replies: rules(t, "d*=451 4.3.0 later")})
	out, err := send(t, &args{Dir: list(t), Relay: []string{srv.Addr()}}, record(x, "d1@example.net"))
	h, rerr := stream.NewReader(strings.NewReader(out)).Next()
	if err != nil || rerr != nil || lockKey(h.ID) != batch || len(h.ID) != len(x) {
		t.Errorf("a retry record of %d octets, deferred again: %v, %v, %q; want 0 and a retry record of %s", len(x), err, rerr, out, batch)
	}
}
