package smtpout

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mlm/lib/mlmtest"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// backend is a go-smtp server that requires TLS and AUTH PLAIN and
// keeps what it is given.
type backend struct {
	mu    sync.Mutex
	users []string
	data  []string   // the messages taken
	ended chan error // if set, gets how each DATA ended
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b    *backend
	user string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pw string) error {
		if user != "list" || pw != "s3cret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *session) Mail(string, *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authenticate first"}
	}
	return nil
}
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.b.mu.Lock()
		s.b.users = append(s.b.users, s.user)
		s.b.data = append(s.b.data, string(b))
		s.b.mu.Unlock()
	}
	if s.b.ended != nil {
		s.b.ended <- err
	}
	return err
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

type memMsg string

func (m memMsg) Reader() io.Reader { return strings.NewReader(string(m)) }
func (m memMsg) Len() int64        { return int64(len(m)) }

// tlsServer starts a server of the backend on 127.0.0.1 and returns
// its address and the options that pass its TLS and AUTH.
func tlsServer(t *testing.T, be *backend) (string, Options) {
	cert, pool := selfSigned(t)
	srv := smtp.NewServer(be)
	srv.Domain = "sink"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), Options{Helo: "lists.example.org", Timeout: 5 * time.Second,
		TLS: &tls.Config{RootCAs: pool}, User: "list", Password: "s3cret"} // ServerName from the address
}

func TestStartTLSAndAuth(t *testing.T) {
	be := &backend{}
	addr, opts := tlsServer(t, be)
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	res, _, err := c.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("Subject: x\n\nbody\n"), false)
	c.Close()
	if err != nil || len(res) != 1 || res[0].Reply.Code != 250 {
		t.Fatalf("Send = %v, %v", res, err)
	}
	if len(be.data) != 1 || be.users[0] != "list" || be.data[0] != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("server got %q as %q", be.data, be.users)
	}

	// Without AUTH this server answers MAIL with 530: a problem of the
	// session, not of the recipients, so a temporary error and no
	// result for anyone (no bounce for the whole list).
	anon := opts
	anon.User = ""
	ac, err := Dial(context.Background(), addr, anon)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err = ac.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("x\n"), false)
	ac.Close()
	if len(res) != 0 || sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "MAIL: 530") {
		t.Errorf("MAIL refused: %v, %v; want a temporary error and no results", res, err)
	}

	// A wrong password fails the connection with the server's class
	// (go-smtp says 454, temporary); an untrusted certificate is a
	// temporary failure (the site must fix it; mail waits).
	bad := opts
	bad.Password = "guess"
	if _, err := Dial(context.Background(), addr, bad); err == nil || !strings.Contains(err.Error(), "AUTH: 454") || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("wrong password: %v; want AUTH: 454, temporary", err)
	}
	untrusted := opts
	untrusted.TLS = &tls.Config{}
	if _, err := Dial(context.Background(), addr, untrusted); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("untrusted certificate: %v; want temporary", err)
	}
}

// sentConn keeps a copy of what the client sends.
type sentConn struct {
	net.Conn
	mu   sync.Mutex
	sent bytes.Buffer
}

func (c *sentConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.sent.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestBeforeDot: BeforeDot is called in every transaction once the
// message is written (Flush sends it) and before its final dot is, so
// the server has not taken the message yet; the dot follows when it
// returns, and never comes if it fails: the server takes nothing, and
// Send says why.
func TestBeforeDot(t *testing.T) {
	be := &backend{ended: make(chan error, 3)}
	addr, opts := tlsServer(t, be)
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	sc := &sentConn{Conn: c.conn}
	c.reset(sc)
	if _, _, err := c.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, make([]stream.Path, MaxPipelined+1), memMsg("x\n"), false); err == nil {
		t.Errorf("Send of %d recipients: no error", MaxPipelined+1)
	}
	calls := 0
	c.BeforeDot = func() error {
		calls++
		if err := c.Flush(); err != nil {
			return err
		}
		sc.mu.Lock()
		dots := strings.Count(sc.sent.String(), "\r\n.\r\n")
		sent := strings.HasSuffix(sc.sent.String(), "DATA\r\nSubject: x\r\n\r\nbody\r\n")
		sc.mu.Unlock()
		be.mu.Lock()
		taken := len(be.data)
		be.mu.Unlock()
		if !sent {
			t.Errorf("transaction %d: Flush in BeforeDot did not send the message", calls)
		}
		if dots != calls-1 || taken != calls-1 {
			t.Errorf("transaction %d: BeforeDot called with %d final dots sent and %d messages taken; want %d", calls, dots, taken, calls-1)
		}
		if calls == 3 {
			return errors.New("not now")
		}
		return nil
	}
	for i := range 2 {
		res, _, err := c.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("Subject: x\n\nbody\n"), false)
		if err != nil || len(res) != 1 || res[0].Reply.Code != 250 {
			t.Fatalf("transaction %d: Send = %v, %v", i+1, res, err)
		}
	}
	res, _, err := c.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("Subject: x\n\nbody\n"), false)
	if len(res) != 0 || err == nil || !strings.Contains(err.Error(), "not now") || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("BeforeDot failing: Send = %v, %v; want no result and its error, temporary", res, err)
	}
	// The server sees the connection end in the data, and drops it.
	c.Close()
	for i := range 3 {
		select {
		case err := <-be.ended:
			if (err == nil) != (i < 2) {
				t.Errorf("transaction %d: the server's DATA ended with %v", i+1, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("transaction %d: the server's DATA did not end", i+1)
		}
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	sc.mu.Lock()
	dots := strings.Count(sc.sent.String(), "\r\n.\r\n")
	sc.mu.Unlock()
	if calls != 3 || len(be.data) != 2 || dots != 2 {
		t.Errorf("3 transactions, the last one's BeforeDot failing: BeforeDot called %d times, %d messages taken, %d final dots sent; want 3, 2 and 2", calls, len(be.data), dots)
	}
}

func TestReplyParsing(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reply
		bad  bool
	}{
		{"250 2.1.5 ok\r\n", Reply{250, "2.1.5", "ok"}, false},
		{"550-5.1.1 no\r\n550 5.1.1 such user\r\n", Reply{550, "5.1.1", "no 5.1.1 such user"}, false},
		{"451 4.3.0\r\n", Reply{451, "4.3.0", ""}, false},
		{"250 5.1.1 class differs\r\n", Reply{250, "", "5.1.1 class differs"}, false},
		{"25O ok\r\n", Reply{}, true},
		{"250-a\r\n550 b\r\n", Reply{}, true},
		{"hello\r\n", Reply{}, true},
		{strings.Repeat("2", 3000) + "\r\n", Reply{}, true},
	} {
		a, b := net.Pipe()
		go func() { b.Write([]byte(tc.in)); b.Close() }()
		c := &Client{opts: Options{Timeout: time.Second}, Addr: "test"}
		c.reset(a)
		got, err := c.read()
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("read(%q) = %+v, %v", tc.in, got, err)
		}
		if tc.bad && sysexit.Code(err) != sysexit.TempFail {
			t.Errorf("read(%q): garbled reply is %v; want temporary", tc.in, err)
		}
		a.Close()
	}
}

// readerConn is a connection that reads from r, counts what it gave, and
// takes every write.
type readerConn struct {
	net.Conn // nil: only the methods below are used
	r        io.Reader
	n        int
}

func (c *readerConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
func (c *readerConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *readerConn) Close() error                     { return nil }
func (c *readerConn) SetDeadline(time.Time) error      { return nil }
func (c *readerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *readerConn) SetWriteDeadline(time.Time) error { return nil }

// readFrom reads one reply from in; n is the octets the client took.
func readFrom(in io.Reader) (lines []string, r Reply, n int, err error) {
	rc := &readerConn{r: in}
	c := &Client{opts: Options{Timeout: time.Second}, Addr: "test"}
	c.reset(rc)
	lines, r, err = c.readLines()
	return lines, r, rc.n, err
}

// TestReplyBound: a reply line of 1 MB without CRLF is refused as
// garbled once the client has taken its read buffer's worth, not
// buffered whole; so are more than MaxReplyLines lines.
func TestReplyBound(t *testing.T) {
	mlmtest.Fault(t, "smtp", "1 MB reply line without CRLF; 1,000 continuation lines", "garbled, temporary; the client takes at most its 16 KiB read buffer (lines: 101 and the buffer)")
	huge := io.MultiReader(strings.NewReader("220 "), strings.NewReader(strings.Repeat("x", 1<<20)))
	_, _, n, err := readFrom(huge)
	if !errors.Is(err, ErrGarbled) || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("1 MB line: %v; want a temporary garbled reply", err)
	}
	if n > readBuffer {
		t.Errorf("1 MB line: the client took %d octets; want at most %d", n, readBuffer)
	}
	endless := io.MultiReader(strings.NewReader(strings.Repeat("250-more\r\n", MaxReplyLines*10)), strings.NewReader("250 end\r\n"))
	_, _, n, err = readFrom(endless)
	if !errors.Is(err, ErrGarbled) {
		t.Errorf("%d continuation lines: %v; want garbled", MaxReplyLines*10, err)
	}
	if max := (MaxReplyLines+1)*len("250-more\r\n") + readBuffer; n > max {
		t.Errorf("continuation lines: the client took %d octets; want at most %d", n, max)
	}
	// The longest reply there is: its text is kept up to MaxReplyText,
	// cut before a character, not inside it.
	long := strings.Repeat("451-4.3.0 x"+strings.Repeat("é", 900)+"\r\n", MaxReplyLines-1) + "451 4.3.0 end\r\n"
	_, r, _, err := readFrom(strings.NewReader(long))
	if err != nil || r.Code != 451 || r.Enhanced != "4.3.0" || len(r.Text) > MaxReplyText || len(r.Text) < MaxReplyText-3 ||
		!utf8.ValidString(r.Text) || !strings.HasPrefix(r.Text, "xéé") {
		t.Errorf("%d lines of %d octets: %d, %q, text of %d octets (valid UTF-8 %v), %v; want 451 4.3.0, at most %d octets",
			MaxReplyLines, len("451-4.3.0 ")+1800, r.Code, r.Enhanced, len(r.Text), utf8.ValidString(r.Text), err, MaxReplyText)
	}
}

// TestReplyLongLine: a reply line longer than MaxReplyLine, within the
// read buffer, is read as its first MaxReplyLine octets, the rest left
// out, and the reply after it read in step: a 250 to the final dot on
// such a line was garbled, a lost reply, and every retry sent the post
// again (R92 F3). One longer than the read buffer is garbled still.
func TestReplyLongLine(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a reply line of 3,000 octets (250 to the final dot)", "read as its first 2,048 octets: the code and enhanced code stand, the rest is left out; a line over the 16 KiB read buffer is garbled")
	long := "250 2.0.0 Ok: queued as " + strings.Repeat("x", 3000)
	rc := &readerConn{r: strings.NewReader(long + "\r\n250 2.1.0 next\r\n")}
	c := &Client{opts: Options{Timeout: time.Second}, Addr: "test"}
	c.reset(rc)
	lines, r, err := c.readLines()
	if err != nil || r.Code != 250 || r.Enhanced != "2.0.0" || len(lines) != 1 || lines[0] != long[4:MaxReplyLine] {
		t.Errorf("a line of %d octets: %d %q, %d lines, %v; want 250 2.0.0, its first %d octets", len(long), r.Code, r.Enhanced, len(lines), err, MaxReplyLine)
	}
	if r, err := c.read(); err != nil || r.Code != 250 || r.Text != "next" {
		t.Errorf("the reply after it: %v, %v; want 250 2.1.0 next", r, err)
	}
	_, _, _, err = readFrom(strings.NewReader("250 " + strings.Repeat("x", readBuffer) + "\r\n"))
	if !errors.Is(err, ErrGarbled) {
		t.Errorf("a line over the read buffer: %v; want garbled", err)
	}
}

// FuzzParseReply: ParseReply never panics, gives a code from 200 to 599,
// never makes a reply longer than its input, and what it parses
// re-serialised (String) parses the same.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"250 ok", "250 2.1.5 ok", "550 5.1.1 no such user", "421", "451 4.3.0",
		"250 5.1.1 class differs", "250  two spaces", "250 2.0.0  x", "250 ", "25", "2500 x",
		"+25 x", "250-cont", "250\tx", "600 x", "199 x", "250 2.+1.0 sign", "250 2.0001.0 long",
		"250 ça va", "２５０ ok", "250 a\rb", "250 \x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReply(s)
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("ParseReply(%q) code %d", s, r.Code)
		}
		out := r.String()
		if len(out) > len(s) {
			t.Fatalf("ParseReply(%q).String() = %q, longer than its input", s, out)
		}
		r2, err := ParseReply(out)
		if err != nil || r2 != r {
			t.Fatalf("ParseReply(%q) = %+v; again from %q: %+v, %v", s, r, out, r2, err)
		}
		var b Reply
		if err := b.UnmarshalText([]byte(out)); err != nil || b != r {
			t.Fatalf("UnmarshalText(%q) = %+v, %v", out, b, err)
		}
	})
}

// FuzzReadReply: a reply from the wire never panics the client; it is
// bounded (lines, octets per line, octets taken); a reply read and
// written back as the server would reads back the same.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n", "250-a\r\n250 b\r\n", "550-5.1.1 no\r\n550 5.1.1 user\r\n", "250\r\n", "250-\r\n250 \r\n",
		"250-a\r\n550 b\r\n", "hello\r\n", "25O ok\r\n", "250 no end", "250-x\n250 lf only\n",
		"２５０ ok\r\n", "250 caf\xc3\xa9\r\n", "250 \xff\x00\r\n", "250 a\rb\r\n", strings.Repeat("2", 3000) + "\r\n",
		strings.Repeat("250-x\r\n", 200),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lines, r, n, err := readFrom(bytes.NewReader(in))
		if n > (MaxReplyLines+2)*readBuffer {
			t.Fatalf("took %d octets", n)
		}
		if err != nil {
			if sysexit.Code(err) != sysexit.TempFail {
				t.Fatalf("error %v is not temporary", err)
			}
			return
		}
		if r.Code < 200 || r.Code > 599 || len(lines) == 0 || len(lines) > MaxReplyLines {
			t.Fatalf("reply %+v in %d lines", r, len(lines))
		}
		var b strings.Builder
		for i, l := range lines {
			if len(l) > MaxReplyLine {
				t.Fatalf("line of %d octets", len(l))
			}
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			fmt.Fprintf(&b, "%d%s%s\r\n", r.Code, sep, l)
		}
		lines2, r2, _, err := readFrom(strings.NewReader(b.String()))
		if err != nil || r2 != r || !slices.Equal(lines2, lines) {
			t.Fatalf("read %q: %+v %q; written back %q: %+v %q, %v", in, r, lines, b.String(), r2, lines2, err)
		}
	})
}

// FuzzReadAgain: replies read one after another by read, which takes a
// line the same as the last reply of one line without a parse (again),
// are what a parse of each gives: the same reply, or a failure too.
func FuzzReadAgain(f *testing.F) {
	for _, s := range []string{
		"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n250 2.1.5 Ok\r\n",
		"250 ok\r\n250 ok\r\r\n250 ok \r\n250 ok\n250-ok\r\n250 ok\r\n250 ok\r\n",
		"250\r\n250\r\n250 \r\n250 \r\n", "421 4.3.0 bye\r\n421 4.3.0 bye\r\n",
		"250 ok\r\n250 ok", "250 ok\r\n25O ok\r\n", "250 ok\r\n250\tok\r\n",
		// The longest line taken, then the same with a CR: one octet too long.
		"250 " + strings.Repeat("x", MaxReplyLine-5) + "\n250 " + strings.Repeat("x", MaxReplyLine-5) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fast := &Client{opts: Options{Timeout: time.Second}, Addr: "test"}
		fast.reset(&readerConn{r: bytes.NewReader(in)})
		slow := &Client{opts: Options{Timeout: time.Second}, Addr: "test"}
		slow.reset(&readerConn{r: bytes.NewReader(in)})
		for i := 0; i < 100; i++ {
			r1, err1 := fast.read()
			slow.lastLine = "" // a parse every time
			r2, err2 := slow.read()
			if r1 != r2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("reply %d of %q: %+v, %v; parsed: %+v, %v", i+1, in, r1, err1, r2, err2)
			}
			if err1 != nil {
				return
			}
		}
	})
}

// TestIsEnhanced: an RFC 3463 status code of the reply's class, and
// nothing like one.
func TestIsEnhanced(t *testing.T) {
	for _, tc := range []struct {
		s    string
		code int
		want bool
	}{
		{"2.0.0", 250, true}, {"4.7.1", 451, true}, {"5.1.10", 550, true}, {"2.100.999", 250, true},
		{"2.0.0", 450, false}, {"2.1000.1", 250, false}, {"2.1.1000", 250, false}, {"2.1", 250, false},
		{"2.1.1.1", 250, false}, {"2.1.", 250, false}, {"2..1", 250, false}, {"+2.1.1", 250, false},
		{"2.+1.1", 250, false}, {"22.1.1", 250, false}, {"2.1.1x", 250, false}, {"", 250, false},
		{"2.0.0.", 250, false}, {".2.0.0", 250, false}, {"2.0.-1", 250, false},
	} {
		if got := isEnhanced(tc.s, tc.code); got != tc.want {
			t.Errorf("isEnhanced(%q, %d) = %v", tc.s, tc.code, got)
		}
	}
}

// cutConn fails, once cut is set, the write that carries a held dot and
// the next MAIL: the dot goes out, the rest does not (a reset part-way).
type cutConn struct {
	net.Conn
	mu  sync.Mutex
	cut bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if i := bytes.Index(p, []byte("\r\n.\r\nMAIL FROM")); cut && i >= 0 {
		n, _ := c.Conn.Write(p[:i+5])
		return n, errors.New("connection reset (cutConn)")
	}
	return c.Conn.Write(p)
}

// TestHoldWriteFailsBefore: the connection fails as a held dot and the
// next transaction's commands go out together. The held transaction's
// reply is lost; the next one's data never went, and its error is
// ErrBefore, not a try of its own. (From a review.)
func TestHoldWriteFailsBefore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "220 fake\r\n")
		buf := make([]byte, 4096)
		c.Read(buf) // EHLO
		io.WriteString(c, "250-fake\r\n250 PIPELINING\r\n")
		for got := ""; strings.Count(got, "\r\n") < 3; {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got += string(buf[:n])
		}
		io.WriteString(c, "250 ok\r\n250 ok\r\n354 go\r\n")
		io.Copy(io.Discard, c)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := &cutConn{Conn: raw}
	c := &Client{opts: Options{Helo: "lists.example.org", Timeout: 5 * time.Second, DataTimeout: 5 * time.Second}, Addr: ln.Addr().String()}
	c.reset(cc)
	if err := c.hello(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := stream.Path{Mailbox: "dev-bounces@lists.example.org"}
	var heldErr error
	done := func(_ []Result, err error) { heldErr = err }
	if _, _, held, err := c.Hold(from, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("Subject: a\n\nbody\n"), false, done); !held || err != nil {
		t.Fatalf("Hold: held %v, %v", held, err)
	}
	cc.mu.Lock()
	cc.cut = true
	cc.mu.Unlock()
	_, _, _, err = c.Hold(from, []stream.Path{{Mailbox: "b@example.org"}}, memMsg("Subject: b\n\nbody\n"), false, func([]Result, error) {})
	if !errors.Is(heldErr, ErrLostReply) || !errors.Is(err, ErrBefore) {
		t.Errorf("write failed with the held dot: held %v, next %v; want ErrLostReply and ErrBefore", heldErr, err)
	}
}

// TestCloseReadsQuitReply: Close sends QUIT and reads the server's reply
// before it closes the connection (a polite end: the server sees its
// session ended, not a client gone, and a reply waiting is not left to
// a reset). Over net.Pipe a write returns only once it is read: the
// server's 221 is taken. A server that closes after QUIT without a
// reply has Close return at once, with no error.
func TestCloseReadsQuitReply(t *testing.T) {
	for _, reply := range []bool{true, false} {
		a, b := net.Pipe()
		c := &Client{opts: Options{Timeout: 5 * time.Second}, Addr: "test"}
		c.reset(a)
		served := make(chan error, 1)
		go func() {
			defer b.Close()
			b.SetDeadline(time.Now().Add(20 * time.Second))
			l, err := bufio.NewReader(b).ReadString('\n')
			if err != nil || l != "QUIT\r\n" {
				served <- fmt.Errorf("server read %q, %v; want QUIT", l, err)
				return
			}
			if !reply {
				served <- nil
				return
			}
			_, err = io.WriteString(b, "221 2.0.0 bye\r\n")
			served <- err
		}()
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("reply %v: Close: %v", reply, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("reply %v: Close hung", reply)
		}
		if err := <-served; err != nil {
			t.Errorf("reply %v: %v; want QUIT read, and its reply taken before the close", reply, err)
		}
	}
}

// TestReplyLimits: the bounds mlm-sendmail(1) gives, in numbers, not in
// the constants (which a change would move with them): a reply line of
// 2048 octets (CRLF included, as RFC 5321 §4.5.3.1.5 counts its 512) and
// a reply of 100 lines are read; of a longer line, up to the read buffer,
// the first 2048 octets (R92 F3); one octet more than that, or one line
// more, is garbled, temporary; and of a line of 1 MB without CRLF the client takes no more
// than its 16 KiB read buffer (tests/FAULTS.md), not the megabyte.
func TestReplyLimits(t *testing.T) {
	huge := io.MultiReader(strings.NewReader("220 "), strings.NewReader(strings.Repeat("x", 1<<20)))
	if _, _, n, err := readFrom(huge); !errors.Is(err, ErrGarbled) || n > 16<<10 {
		t.Errorf("1 MB line: the client took %d octets, %v; want a garbled reply after at most %d", n, err, 16<<10)
	}
	line := func(n int) string { return "250 " + strings.Repeat("x", n-len("250 \r\n")) + "\r\n" }
	lines := func(n int) string { return strings.Repeat("250-x\r\n", n-1) + "250 x\r\n" }
	for _, tc := range []struct {
		name, in string
		ok       bool
		kept     int // of a line of one, the octets kept, "250 " in
	}{
		{"a line of 2048 octets", line(2048), true, 2046},
		{"a line of 2049 octets", line(2049), true, 2047}, // (its CR the 2048th)
		{"a line of 3000 octets", line(3000), true, 2048},
		{"a line of 16 KiB", line(16 << 10), true, 2048},
		{"a line of 16 KiB and one octet", line(16<<10 + 1), false, 0},
		{"100 lines", lines(100), true, 0},
		{"101 lines", lines(101), false, 0},
	} {
		got, r, _, err := readFrom(strings.NewReader(tc.in))
		if tc.ok && (err != nil || r.Code != 250) {
			t.Errorf("%s: reply %d, %v; want it read", tc.name, r.Code, err)
		}
		if tc.kept > 0 && (len(got) != 1 || len("250 ")+len(got[0]) != tc.kept) {
			t.Errorf("%s: lines kept %d; want one of %d octets, \"250 \" in", tc.name, lengths(got), tc.kept)
		}
		if !tc.ok && (!errors.Is(err, ErrGarbled) || sysexit.Code(err) != sysexit.TempFail) {
			t.Errorf("%s: reply %d, %v; want a temporary garbled reply", tc.name, r.Code, err)
		}
	}
}

// lengths is each line's length, "250 " in.
func lengths(lines []string) []int {
	var n []int
	for _, l := range lines {
		n = append(n, len("250 ")+len(l))
	}
	return n
}
