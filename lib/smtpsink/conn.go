package smtpsink

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connections pass through listener.Accept, which counts and tracks them.
// Those that go-smtp must not see (--stall, a greeting that refuses
// service) are served here; the others are wrapped in a conn, whose Write
// sees each reply line as go-smtp writes it (textproto flushes every
// line) and so can replace the greeting, complete the SIZE keyword and
// delay each reply.

// lingerTime bounds how long a dropped connection is read and discarded
// before it is closed.
const lingerTime = 2 * time.Second

type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.s
		c := &conn{Conn: nc, s: s, closed: make(chan struct{}), replyStart: true}
		ok, over := s.track(c)
		if !ok {
			nc.Close()
			continue
		}
		c.seq = s.conns.Add(1)
		switch g := s.opt.Greeting; {
		case over:
			go c.refuse(tooMany)
		case s.opt.Stall:
			go c.stall()
		case g != nil && !g.OK():
			go c.refuse(*g)
		default:
			return c, nil
		}
	}
}

// track adds c to the open connections unless the server is closing,
// and reports whether it is one past Options.MaxConns, to be refused.
func (s *Server) track(c *conn) (ok, over bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return false, false
	}
	s.open[c] = struct{}{}
	if s.opt.MaxConns > 0 && s.served >= s.opt.MaxConns {
		return true, true
	}
	s.served++
	c.served = true
	return true, false
}

// tooMany is the greeting of a connection past Options.MaxConns.
var tooMany = Reply{Code: 421, Enhanced: "4.7.0", Text: "too many connections from you"}

// conn is one client connection.
type conn struct {
	net.Conn
	s   *Server
	seq int64 // connection number, from 1
	// served: counted in Server.served (not refused by MaxConns); of
	// Server.mu
	served bool

	txn        int  // transactions begun (MAIL commands accepted)
	wrote      bool // the greeting has been written
	replyStart bool // the next line written starts a reply
	readMid    bool // Options.Debug: the last octet read was not LF
	dropped    atomic.Bool
	refusals   atomic.Int64 // MAIL and RCPT commands refused since a message was taken (Options.ErrorLimit)
	closeAfter atomic.Bool  // drop the connection once this reply is written
	delayNext  atomic.Bool  // Options.DelayAt: delay the next reply

	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) Write(p []byte) (int, error) {
	if c.dropped.Load() {
		return 0, errDropped
	}
	n := len(p)
	out := p
	step := ""
	if !c.wrote {
		c.wrote, step = true, "greeting"
		if g := c.s.opt.Greeting; g != nil {
			out = []byte(g.String() + "\r\n")
		}
	} else if c.s.opt.Size > 0 && len(p) == 10 && bytes.HasPrefix(p, []byte("250")) && string(p[4:]) == "SIZE\r\n" {
		// go-smtp advertises a bare SIZE when it enforces no limit; the
		// sink enforces its own, exactly (go-smtp would refuse a message
		// of exactly the limit), and names it here.
		out = []byte(string(p[:4]) + "SIZE " + strconv.FormatInt(c.s.opt.Size, 10) + "\r\n")
	}
	if c.replyStart {
		if step == "" && (c.delayNext.Swap(false) || c.s.opt.DelayAt == "data" && bytes.HasPrefix(out, []byte("354"))) {
			step = c.s.opt.DelayAt
		}
		if !c.wait(step) {
			return 0, net.ErrClosed
		}
	}
	c.replyStart = len(out) < 4 || out[3] != '-'
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	if c.s.debug != nil {
		c.s.debug.Write(append([]byte(strconv.FormatInt(c.seq, 10)+"> "), out...))
	}
	if c.replyStart && c.closeAfter.Load() {
		c.drop()
	}
	return n, nil
}

// Read copies what the client sends to Options.Debug, each line prefixed
// with the connection number and "<".
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.s.debug != nil && n > 0 {
		var b []byte
		for q := p[:n]; len(q) > 0; {
			if !c.readMid {
				b = append(b, strconv.FormatInt(c.seq, 10)+"< "...)
			}
			i := bytes.IndexByte(q, '\n')
			if i < 0 {
				b, c.readMid = append(b, q...), true
				break
			}
			b, c.readMid, q = append(b, q[:i+1]...), false, q[i+1:]
		}
		c.s.debug.Write(b)
	}
	return n, err
}

// lockedWriter serializes the writes of all connections to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// delayAt marks the next reply as the one to step, to be delayed if
// Options.DelayAt names it.
func (c *conn) delayAt(step string) {
	if c.s.opt.DelayAt == step {
		c.delayNext.Store(true)
	}
}

// wait sleeps for Options.Delay before a reply to step ("" for one that
// is none of Options.DelayAt's), or until the connection closes; or
// calls Options.Hold instead.
func (c *conn) wait(step string) bool {
	if c.s.opt.DelayAt != "" && c.s.opt.DelayAt != step {
		return true
	}
	if c.s.opt.Hold != nil {
		c.s.opt.Hold()
		return true
	}
	if c.s.opt.Delay <= 0 {
		return true
	}
	t := time.NewTimer(c.s.opt.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		return false
	}
}

// SetReadDeadline keeps the deadline drop set: go-smtp sets its own
// before every command.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.dropped.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		// Counted out first: a client that has seen the end may
		// connect again at once, within MaxConns.
		c.s.mu.Lock()
		delete(c.s.open, c)
		if c.served {
			c.s.served--
		}
		c.s.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// drop ends the connection without another reply: it counts the drop
// and rewrites the stats file, so that a client that sees the end finds
// it counted, then sends FIN at once
// (so the client reads the replies written so far, then end of file)
// and lets go-smtp read what the client still sends, which the session
// refuses, until the client closes or lingerTime passes. Closing with
// unread input would send RST, which may destroy replies the client has
// not read yet.
func (c *conn) drop() {
	if c.dropped.Swap(true) {
		return
	}
	c.s.dropped.Add(1)
	c.s.touch()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		return
	}
	c.Close()
}

// stall reads and discards until the client or the server closes.
func (c *conn) stall() {
	defer c.Close()
	io.Copy(io.Discard, c.Conn)
}

// refuse serves a connection whose greeting refuses service. After 421
// the server closes (RFC 5321 §3.8); after any other code it answers
// every command but QUIT with 503 (§3.1).
func (c *conn) refuse(g Reply) {
	defer c.Close()
	if !c.wait("greeting") {
		return
	}
	if _, err := io.WriteString(c.Conn, g.String()+"\r\n"); err != nil {
		return
	}
	if g.Code == 421 {
		c.linger()
		return
	}
	br := bufio.NewReader(io.LimitReader(c.Conn, 1<<20))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		if !c.wait("") {
			return
		}
		if cmd == "QUIT" || strings.HasPrefix(cmd, "QUIT ") {
			io.WriteString(c.Conn, "221 2.0.0 bye\r\n")
			c.linger()
			return
		}
		if _, err := io.WriteString(c.Conn, "503 5.5.1 no service\r\n"); err != nil {
			return
		}
	}
}

// linger half-closes and discards input for a while, so that closing
// does not reset the connection under the client's unread replies.
func (c *conn) linger() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, c.Conn)
	}
}
