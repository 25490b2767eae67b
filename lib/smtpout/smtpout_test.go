package smtpout

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// backend is a go-smtp server that requires TLS and AUTH PLAIN and
// keeps what it is given.
type backend struct {
	mu    sync.Mutex
	users []string
	data  []string
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
	s.b.mu.Lock()
	s.b.users = append(s.b.users, s.user)
	s.b.data = append(s.b.data, string(b))
	s.b.mu.Unlock()
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

func TestStartTLSAndAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	be := &backend{}
	srv := smtp.NewServer(be)
	srv.Domain = "sink"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	opts := Options{Helo: "lists.example.org", Timeout: 5 * time.Second,
		TLS: &tls.Config{RootCAs: pool}, User: "list", Password: "s3cret"} // ServerName from the address
	c, err := Dial(context.Background(), l.Addr().String(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	res, err := c.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("Subject: x\n\nbody\n"), false)
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
	ac, err := Dial(context.Background(), l.Addr().String(), anon)
	if err != nil {
		t.Fatal(err)
	}
	res, err = ac.Send(stream.Path{Mailbox: "dev-bounces@lists.example.org"}, []stream.Path{{Mailbox: "a@example.org"}}, memMsg("x\n"), false)
	ac.Close()
	if len(res) != 0 || sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "MAIL: 530") {
		t.Errorf("MAIL refused: %v, %v; want a temporary error and no results", res, err)
	}

	// A wrong password fails the connection with the server's class
	// (go-smtp says 454, temporary); an untrusted certificate is a
	// temporary failure (the site must fix it; mail waits).
	bad := opts
	bad.Password = "guess"
	if _, err := Dial(context.Background(), l.Addr().String(), bad); err == nil || !strings.Contains(err.Error(), "AUTH: 454") || sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("wrong password: %v; want AUTH: 454, temporary", err)
	}
	untrusted := opts
	untrusted.TLS = &tls.Config{}
	if _, err := Dial(context.Background(), l.Addr().String(), untrusted); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("untrusted certificate: %v; want temporary", err)
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
