// Package smtpsink is an SMTP and LMTP server for tests and benchmarks,
// as Postfix's smtp-sink is: it listens on a loopback address only,
// accepts mail as fast as it can, counts it, optionally keeps it, and
// injects faults on request. mlm-sink(1) is a thin program around it;
// tests in other packages may start a Server directly. It is part of
// mlm's internals, not a public API.
//
// The protocol is go-smtp's: RFC 5321 with PIPELINING (RFC 2920),
// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), SIZE (RFC 1870), CHUNKING
// (RFC 3030), ENHANCEDSTATUSCODES (RFC 2034), optionally DSN (RFC 3461),
// or LMTP (RFC 2033) with one reply per recipient after the message.
// go-smtp undoes dot-stuffing after CRLF only (RFC 5321 §4.5.2) and keeps
// the CRLF line endings, so a kept message is the octets the client
// meant to send.
//
// Invariants, for test oracles: everything about a transaction (record
// file, ledger lines, counters, stats file) is written before its reply
// to the final dot, so a client that has read a 2xx reply finds the
// transaction in all of them. A transaction is accepted when at least
// one recipient gets a 2xx reply to the message; only its accepted
// recipients are kept and counted. A message whose reply is lost
// (DropAfterDot) is settled first: the window between the final dot and
// its reply in which a retry makes a duplicate (RFC 1047).
//
// Speed: nothing is fsynced; the ledger is buffered and flushed once per
// transaction; counters are atomic.
package smtpsink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mlm/lib/durable"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Options configure a Server. The zero value is a plain SMTP sink on
// 127.0.0.1 with a port chosen by the kernel that keeps nothing.
type Options struct {
	Addr string // host:port to listen on; a loopback address only. Default 127.0.0.1:0
	LMTP bool   // speak LMTP (LHLO, a reply per recipient after the message)
	DSN  bool   // advertise DSN and keep RET, ENVID, NOTIFY and ORCPT in records

	Dir    string // keep each accepted transaction as an MLM1 record file here
	Ledger string // append "TXN RCPT" for each accepted recipient to this file
	Stats  string // rewrite the counters line in this file after each transaction
	Keep   bool   // keep accepted messages in memory, for Messages

	Size      int64         // advertised SIZE; larger messages are refused 552 (0: no limit)
	MaxRcpt   int           // accepted recipients per transaction; more get 452 (0: no limit)
	MailReply *Reply        // reply to every MAIL, if set and not 2xx: no transaction is begun
	Replies   []Rule        // RCPT replies by address pattern, first match wins
	DataReply *Reply        // reply to the final dot (LMTP: for every recipient)
	LMTPReply []Rule        // LMTP: reply after the message by recipient pattern
	Greeting  *Reply        // the greeting; one that is not 2xx refuses service
	MaxConns  int           // connections served at once; one more is greeted 421 and closed (0: no limit)
	Stall     bool          // accept connections and never say anything
	Delay     time.Duration // wait this long before each reply
	// DelayAt, if set, limits Delay to the replies to one step:
	// "greeting", "mail", "rcpt" (each RCPT), "data" (the 354) or "dot"
	// (the reply to the final dot, given after the transaction is
	// settled; with LMTP the first of them).
	DelayAt string
	// Hold, if set, is called where Delay would wait (before each
	// reply, or DelayAt's), in its stead: the reply goes out when it
	// returns. A test orders a reply after something else with it.
	Hold func()
	// DropAfterDot closes the connection instead of replying to the final
	// dot of every DropAfterDot-th transaction, counted over the server.
	DropAfterDot int
	// DropAfterRcpt closes the connection instead of replying to the
	// DropAfterRcpt-th RCPT command of each transaction.
	DropAfterRcpt int
	// ErrorLimit, if set, is how many refused MAIL and RCPT commands
	// a connection may have since it last had a message taken (a 452
	// for too many recipients not counted): the next MAIL or RCPT
	// after them is answered "421 4.7.0 Error: too many errors" and
	// the connection closed, as Postfix's smtpd does past
	// smtpd_hard_error_limit (20 by default), but that Postfix counts
	// other errors too, and answers so whatever command comes next,
	// or none.
	ErrorLimit int
	// Count closes the channel CountReached returns once this many
	// transactions have been accepted.
	Count int64

	Debug    io.Writer // if set, the SMTP conversation is copied here
	ErrorLog io.Writer // if set, per-connection errors are written here
}

// Counts are the server's counters.
type Counts struct {
	Connections  int64 // connections accepted
	Transactions int64 // transactions accepted
	Recipients   int64 // recipients accepted (ledger lines)
	Bytes        int64 // message octets accepted, as kept
	Rejected     int64 // recipients refused, at RCPT or after the message
	Dropped      int64 // connections dropped by fault injection
}

// String is the summary line: "connections=N transactions=N recipients=N
// bytes=N rejected=N dropped=N".
func (c Counts) String() string {
	return fmt.Sprintf("connections=%d transactions=%d recipients=%d bytes=%d rejected=%d dropped=%d",
		c.Connections, c.Transactions, c.Recipients, c.Bytes, c.Rejected, c.Dropped)
}

// Message is an accepted transaction kept in memory (Options.Keep).
type Message struct {
	Txn    string // connection.transaction, as in the ledger
	Sender stream.Path
	Rcpts  []stream.Path // accepted recipients
	Data   []byte        // as received, dot-stuffing undone
}

// Server is a running sink.
type Server struct {
	opt   Options
	smtp  *smtp.Server
	ln    net.Listener
	debug io.Writer // Options.Debug, serialized

	conns, txns, rcpts, bytes, rejected, dropped atomic.Int64
	dots                                         atomic.Int64 // transactions that reached the final dot

	mu       sync.Mutex
	cond     *sync.Cond
	open     map[*conn]struct{}
	served   int         // open connections not refused by MaxConns
	active   int         // data handlers running
	stopping atomic.Bool // set under mu

	book   sync.Mutex // ledger, stats file, kept messages, first error
	ledger *os.File
	lw     *bufio.Writer
	kept   []Message
	err    error

	reached   chan struct{}
	reachOnce sync.Once
	serveDone chan struct{}
	closeOnce sync.Once
}

// Start checks o, listens and serves in the background. A listen address
// that is not loopback is a usage error (EX_USAGE); failures to listen or
// to open the ledger are temporary.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := CheckLoopback(o.Addr); err != nil {
		return nil, sysexit.Perm(sysexit.Usage, err)
	}
	if o.Size < 0 || o.MaxRcpt < 0 || o.DropAfterDot < 0 || o.DropAfterRcpt < 0 || o.ErrorLimit < 0 || o.Count < 0 || o.Delay < 0 || o.MaxConns < 0 {
		return nil, sysexit.Errorf(sysexit.Usage, "negative limit")
	}
	switch o.DelayAt {
	case "", "greeting", "mail", "rcpt", "data", "dot":
	default:
		return nil, sysexit.Errorf(sysexit.Usage, "delay at %q: want greeting, mail, rcpt, data or dot", o.DelayAt)
	}
	if len(o.LMTPReply) > 0 && !o.LMTP {
		return nil, sysexit.Errorf(sysexit.Usage, "per-recipient replies after the message need LMTP")
	}
	s := &Server{
		opt:       o,
		open:      make(map[*conn]struct{}),
		reached:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	if o.Debug != nil {
		s.debug = &lockedWriter{w: o.Debug}
	}
	if o.Dir != "" {
		if fi, err := os.Stat(o.Dir); err != nil {
			return nil, sysexit.Temp(fmt.Errorf("%s: %w", o.Dir, sysexit.Bare(err)))
		} else if !fi.IsDir() {
			return nil, sysexit.Errorf(sysexit.Usage, "%s: not a directory", o.Dir)
		}
	}
	if o.Ledger != "" {
		f, err := os.OpenFile(o.Ledger, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, sysexit.Temp(err)
		}
		s.ledger, s.lw = f, bufio.NewWriterSize(f, 64<<10)
	}
	if err := s.writeStats(); err != nil {
		s.closeLedger()
		return nil, sysexit.Temp(err)
	}
	ln, err := net.Listen("tcp", loopbackHost(o.Addr))
	if err != nil {
		s.closeLedger()
		return nil, sysexit.Temp(err)
	}
	s.ln = &listener{Listener: ln, s: s}

	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.LMTP = o.LMTP
	srv.MaxLineLength = 0 // keep long lines: the sink records what it gets
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = o.DSN
	srv.ReadTimeout = 5 * time.Minute // RFC 5321 §4.5.3.2.7
	logw := o.ErrorLog
	if logw == nil {
		logw = io.Discard
	}
	srv.ErrorLog = log.New(logw, "", 0)
	s.smtp = srv
	go func() {
		defer close(s.serveDone)
		srv.Serve(s.ln)
	}()
	return s, nil
}

// CheckLoopback returns nil if addr is host:port with host an address in
// 127.0.0.0/8 or ::1 (or the name localhost, taken as 127.0.0.1).
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("listen address %q: bad port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("listen address %q is not loopback (127.0.0.0/8 or ::1)", addr)
	}
	return nil
}

// loopbackHost maps the name localhost to 127.0.0.1 without asking a
// resolver.
func loopbackHost(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// Addr returns the address the server listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Counts returns the counters.
func (s *Server) Counts() Counts {
	return Counts{
		Connections:  s.conns.Load(),
		Transactions: s.txns.Load(),
		Recipients:   s.rcpts.Load(),
		Bytes:        s.bytes.Load(),
		Rejected:     s.rejected.Load(),
		Dropped:      s.dropped.Load(),
	}
}

// Messages returns the accepted messages kept in memory (Options.Keep).
func (s *Server) Messages() []Message {
	s.book.Lock()
	defer s.book.Unlock()
	return append([]Message(nil), s.kept...)
}

// CountReached is closed once Options.Count transactions have been
// accepted; it is never closed if Count is 0.
func (s *Server) CountReached() <-chan struct{} { return s.reached }

// Err returns the first failure to keep a transaction (record, ledger or
// stats file), classified temporary; such a transaction was refused 451.
func (s *Server) Err() error {
	s.book.Lock()
	defer s.book.Unlock()
	return s.err
}

// Shutdown stops listening and waits for the open connections to end
// until ctx is done, then closes what is left as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ln.Close()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.open)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return s.Close()
		case <-t.C:
		}
	}
	return s.Close()
}

// Close stops listening, closes every connection, waits for transactions
// in progress to end, flushes and closes the ledger and writes the stats
// file a last time. It returns Err.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.stopping.Store(true)
		open := make([]*conn, 0, len(s.open))
		for c := range s.open {
			open = append(open, c)
		}
		s.mu.Unlock()
		s.ln.Close()
		s.smtp.Close()
		for _, c := range open {
			c.Close()
		}
		s.mu.Lock()
		for s.active > 0 {
			s.cond.Wait()
		}
		s.mu.Unlock()
		<-s.serveDone
		s.book.Lock()
		if err := s.writeStats(); err != nil {
			s.fail(err)
		}
		s.book.Unlock()
		s.closeLedger()
	})
	return s.Err()
}

func (s *Server) closeLedger() {
	s.book.Lock()
	defer s.book.Unlock()
	if s.ledger == nil {
		return
	}
	if err := s.lw.Flush(); err != nil {
		s.fail(err)
	}
	if err := s.ledger.Close(); err != nil {
		s.fail(err)
	}
	s.ledger = nil
}

// enter registers a data handler; it fails once Close has begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return false
	}
	s.active++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	s.active--
	if s.active == 0 {
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

func (s *Server) isStopping() bool { return s.stopping.Load() }

// fail records the first bookkeeping failure; book must be held.
func (s *Server) fail(err error) {
	if s.err == nil {
		s.err = sysexit.Temp(err)
	}
}

// commit books an accepted transaction: ledger lines (flushed), counters,
// kept message, stats file. On failure nothing is counted and the
// transaction must be refused.
func (s *Server) commit(m *Message, size int64) error {
	s.book.Lock()
	defer s.book.Unlock()
	if s.lw != nil {
		for _, r := range m.Rcpts {
			s.lw.WriteString(m.Txn)
			s.lw.WriteByte(' ')
			s.lw.WriteString(r.Mailbox)
			s.lw.WriteByte('\n')
		}
		if err := s.lw.Flush(); err != nil {
			s.fail(fmt.Errorf("ledger: %v", err))
			return err
		}
	}
	s.rcpts.Add(int64(len(m.Rcpts)))
	s.bytes.Add(size)
	n := s.txns.Add(1)
	if s.opt.Keep {
		s.kept = append(s.kept, *m)
	}
	if err := s.writeStats(); err != nil {
		s.fail(fmt.Errorf("stats: %v", err))
	}
	if s.opt.Count > 0 && n >= s.opt.Count {
		s.reachOnce.Do(func() { close(s.reached) })
	}
	return nil
}

// touch rewrites the stats file after an event that is not an accepted
// transaction (a refused message, a dropped connection).
func (s *Server) touch() {
	if s.opt.Stats == "" {
		return
	}
	s.book.Lock()
	defer s.book.Unlock()
	if err := s.writeStats(); err != nil {
		s.fail(fmt.Errorf("stats: %v", err))
	}
}

// writeStats replaces the stats file with the counters line: a
// temporary name, then rename. book must be held (or the server not yet
// serving).
func (s *Server) writeStats() error {
	if s.opt.Stats == "" {
		return nil
	}
	return ReplaceFile(s.opt.Stats, s.Counts().String()+"\n")
}

// ReplaceFile replaces name with data, for a reader that polls it (a
// sink's counters): a temporary file of a name of its own, made
// exclusively (a name known in advance, in a directory others write,
// could be a link someone left), then a rename, which never replaces
// what is not a regular file (durable.Replaceable). No fsync: the file
// is for watching, not for keeping.
func ReplaceFile(name, data string) error {
	if err := durable.Replaceable(name); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", name, sysexit.Bare(err)) // the file's name, not the temporary one's
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// errClosing is the reply to commands that arrive while the server closes.
var errClosing = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
