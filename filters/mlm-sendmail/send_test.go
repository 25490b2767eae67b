package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mlm/lib/smtpout"
	"mlm/lib/smtpsink"
	"mlm/lib/smtpsink/sinktest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// list makes a list directory with the queues mlm-sendmail writes to.
func list(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644)
	for _, d := range []string{"tmp", "new", "cur", "bad"} {
		os.MkdirAll(filepath.Join(dir, "queue", "bounces", d), 0o700)
	}
	return dir
}

func rule(t *testing.T, s string) smtpsink.Rule {
	r, err := smtpsink.ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// record is one record of the given recipients.
func record(id string, rcpts ...string) string {
	var b bytes.Buffer
	var ps []stream.Path
	for _, r := range rcpts {
		ps = append(ps, stream.Path{Mailbox: r})
	}
	h := &stream.Header{ID: id, Attrs: []stream.Attr{{Name: "received", Value: "1795867200"}}, Sender: stream.Path{Mailbox: "dev-bounces@lists.example.org"}}
	stream.WriteRecord(&b, h, strings.NewReader("Subject: x\n\n.line\nbody\n"), ps)
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
	srv := sinktest.Sink(t, smtpsink.Options{Replies: []smtpsink.Rule{
		rule(t, "t450*=450 4.2.0 mailbox busy"),
		rule(t, "t451*=451 4.3.0 try later"),
		rule(t, "f550*=550 5.1.1 no such user"),
		rule(t, "f553*=553 5.1.3 bad address"),
	}})
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
	if !strings.Contains(out, "MLM1 p1,1,r\n") || !strings.Contains(out, "R <t450@example.org>\nR <t451@example.org>\nE 2\n") {
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

func TestRetryStillDeferred(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{Replies: []smtpsink.Rule{rule(t, "*=451 4.3.0 later")}})
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

func TestLostReply(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{DropAfterDot: 2})
	var in string
	for i := 0; i < 6; i++ {
		in += record(fmt.Sprintf("p4,%d", i+1), fmt.Sprintf("m%d@x.org", i))
	}
	var out, errb bytes.Buffer
	a := &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1, Timeout: 2 * time.Second, Lifetime: time.Hour, Verbose: true}
	if err := run(a, strings.NewReader(in), &out, &errb); err != nil {
		t.Fatal(err)
	}
	var lost int
	fmt.Sscanf(errb.String()[strings.Index(errb.String(), "lost-replies="):], "lost-replies=%d", &lost)
	// The recipients whose reply was lost are not sent again at once:
	// they wait in retry records, and go out once from there.
	if n := strings.Count(out.String(), "\nR <"); n != lost || lost == 0 {
		t.Errorf("%d deferred, %d lost replies: %s", n, lost, errb.String())
	}
	a.Retry = true
	if err := run(a, &out, &bytes.Buffer{}, &errb); err != nil {
		t.Fatal(err)
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

// TestPartlyTried: a batch whose relay goes away after a 451 writes no
// retry record until the whole batch has an outcome, so a later, larger
// set of deferred recipients is never dropped as a duplicate record.
func TestPartlyTried(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{MaxRcpt: 1, Replies: []smtpsink.Rule{rule(t, "a@*=451 4.3.0 later")}, DropAfterRcpt: 2})
	out, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, record("p9,1", "a@x.org", "b@x.org"))
	if sysexit.Code(err) != sysexit.TempFail || out != "" {
		t.Fatalf("untried recipients: %v, output %q; want 75 and no retry record", err, out)
	}
	srv2 := sinktest.Sink(t, smtpsink.Options{Replies: []smtpsink.Rule{rule(t, "*=451 4.3.0 later")}})
	out, err = send(t, &args{Dir: dir, Relay: []string{srv2.Addr()}}, record("p9,1", "a@x.org", "b@x.org"))
	if err != nil || !strings.Contains(out, "R <a@x.org>\nR <b@x.org>\nE 2\n") {
		t.Errorf("complete batch: %v, %q; want both deferred", err, out)
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
	// All down: 75, nothing journaled, nothing lost.
	b := &args{Dir: dir, Relay: []string{refusing}, Timeout: time.Second}
	if _, err := send(t, b, record("p6,1", "z@x.org")); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("all relays down: %v; want 75", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "state", "journal", "p6")); err == nil && len(b) > 0 {
		t.Errorf("journal written with no delivery: %q", b)
	}
}

func TestLMTP(t *testing.T) {
	dir := list(t)
	srv := sinktest.Sink(t, smtpsink.Options{LMTP: true, LMTPReply: []smtpsink.Rule{
		rule(t, "full*=452 4.2.2 mailbox full"),
		rule(t, "gone*=550 5.1.1 gone"),
	}})
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
// are synced, its next transaction goes out, and that one's final dot
// waits until the lines are on disk: the server takes no second message
// before the first one's outcome is durable.
func TestSyncOverlap(t *testing.T) {
	var synced atomic.Bool
	data2 := make(chan struct{}) // closed at the server's second 354
	replies354, dots, dotTooSoon := 0, 0, false
	w := &watch{line: func(l string) {
		switch {
		case strings.HasPrefix(l, "1> 354"):
			if replies354++; replies354 == 2 {
				close(data2)
			}
		case l == "1< .\r\n":
			if dots++; dots == 2 && !synced.Load() {
				dotTooSoon = true
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
	first := true
	s.j.fsync = func(f *os.File) error { // one at a time: syncMu
		if !first {
			return f.Sync()
		}
		first = false
		select {
		case <-data2:
		case <-time.After(20 * time.Second):
			return errors.New("test: no second transaction went out while the first one's journal was synced")
		}
		err := f.Sync()
		synced.Store(true)
		return err
	}
	err = s.run(strings.NewReader(record("p1", "a@x.example")+record("p2", "b@x.example")), &errb)
	if err != nil || errb.Len() > 0 {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	if got := strings.Join(delivered(srv), " "); got != "a@x.example b@x.example" {
		t.Errorf("delivered %q", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if dotTooSoon || dots != 2 {
		t.Errorf("the second final dot came before the first transaction's journal was synced (dots %d)", dots)
	}
	for post, want := range map[string]string{"p1": "D a@x.example\n", "p2": "D b@x.example\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, "state", "journal", post)); string(b) != want {
			t.Errorf("journal of %s: %q, %v; want %q", post, b, err, want)
		}
	}
}

// TestSyncFails: a journal fsync that fails while the connection goes on
// makes the exit status 75 and stops the sending: a message the server
// would take after it could go out again when the records are tried
// again, so the next record's final dot is never sent.
func TestSyncFails(t *testing.T) {
	for _, tc := range []struct {
		failing   int    // which fsync fails
		delivered string // what the server takes
	}{
		{1, "a@x.example"},             // the next dot waited for it
		{2, "a@x.example b@x.example"}, // the end of the run did
	} {
		srv := sinktest.Sink(t, smtpsink.Options{})
		var out, errb bytes.Buffer
		s, err := newSender(&args{Dir: list(t), Relay: []string{srv.Addr()}, Conns: 1, Timeout: 5 * time.Second, Lifetime: time.Hour}, &out)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		s.j.fsync = func(f *os.File) error { // one at a time: syncMu
			if n++; n == tc.failing {
				return errors.New("input/output error")
			}
			return f.Sync()
		}
		err = s.run(strings.NewReader(record("p1", "a@x.example")+record("p2", "b@x.example")+record("p3", "c@x.example")), &errb)
		if sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("fsync %d fails: run = %v (exit %d); want exit 75", tc.failing, err, sysexit.Code(err))
		}
		if got := strings.Join(delivered(srv), " "); got != tc.delivered {
			t.Errorf("fsync %d fails: the server took %q; want %q", tc.failing, got, tc.delivered)
		}
	}
}

// TestLargeRecord: a record of more recipients than a transaction
// carries goes out a transaction at a time, and each transaction's final
// dot waits for the journal lines of the ones before it.
func TestLargeRecord(t *testing.T) {
	var rcpts []string
	for i := range 2*smtpout.MaxPipelined + 10 {
		rcpts = append(rcpts, fmt.Sprintf("m%04d@x.example", i))
	}
	dir := list(t)
	journal := filepath.Join(dir, "state", "journal", "p1")
	var seen []int // journal lines at each final dot
	w := &watch{line: func(l string) {
		if l == "1< .\r\n" {
			b, _ := os.ReadFile(journal)
			seen = append(seen, bytes.Count(b, []byte("\n")))
		}
	}}
	srv := sinktest.Sink(t, smtpsink.Options{Debug: w})
	if _, err := send(t, &args{Dir: dir, Relay: []string{srv.Addr()}, Conns: 1}, record("p1", rcpts...)); err != nil {
		t.Fatal(err)
	}
	if n := len(delivered(srv)); n != len(rcpts) {
		t.Errorf("%d of %d recipients delivered", n, len(rcpts))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if want := []int{0, smtpout.MaxPipelined, 2 * smtpout.MaxPipelined}; !slices.Equal(seen, want) {
		t.Errorf("journal lines at each final dot: %v; want %v", seen, want)
	}
}
