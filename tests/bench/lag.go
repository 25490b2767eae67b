package main

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// lag is a TCP relay on 127.0.0.1 that holds what it forwards, each
// way, for half a round trip: a sink behind it answers as one across a
// network would, so the rows over it show what each turn of a
// conversation costs, the one thing loopback hides. (Linux's netem
// would do it in the kernel, where it is there; this needs nothing.)
type lag struct {
	ln   net.Listener
	port int
	wg   sync.WaitGroup
}

// startLag relays connections to port, each way after rtt/2.
func startLag(port int, rtt time.Duration) (*lag, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &lag{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() { delayed(s, c, rtt/2); close(done) }()
				delayed(c, s, rtt/2)
				<-done
			}()
		}
	}()
	return l, nil
}

// close stops taking connections and waits for those open to end.
func (l *lag) close() {
	l.ln.Close()
	l.wg.Wait()
}

// delayed copies src to dst, each piece d after it was read, in order;
// src's end is passed on as dst's, after the pieces before it.
func delayed(dst, src net.Conn, d time.Duration) {
	type piece struct {
		b  []byte
		at time.Time
	}
	ch := make(chan piece, 1024)
	go func() {
		defer close(ch)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				ch <- piece{b[:n], time.Now().Add(d)}
			}
			if err != nil {
				return
			}
		}
	}()
	for p := range ch {
		time.Sleep(time.Until(p.at))
		if _, err := dst.Write(p.b); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, src) // (a write that failed leaves the reader to drain)
}
