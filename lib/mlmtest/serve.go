package mlmtest

import (
	"net"
	"sync"
	"testing"
)

// Serve listens on 127.0.0.1 and gives each connection it accepts to
// serve, numbered from 0, on a goroutine of its own, which closes the
// connection when serve returns. When the test ends the listener and
// every connection are closed and the goroutines waited for. It returns
// the listener's address: the one fake server of the tests (a scripted
// SMTP server, a relay that mishandles PIPELINING) listens so.
func Serve(tb testing.TB, serve func(n int, c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// ServeSerial listens on 127.0.0.1 and serves the connections it accepts
// one at a time, in turn, as an MTA at a process limit of one does: the
// others wait in the listen queue, connected, for their greeting. serve
// is given each, numbered from 0, and the connection is closed when it
// returns. When the test ends the listener is closed and the serving
// waited for. It returns the listener's address.
func ServeSerial(tb testing.TB, serve func(n int, c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(n, c)
			c.Close()
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
