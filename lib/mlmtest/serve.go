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
