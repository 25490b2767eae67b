package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pipeFlag, as the first argument, makes this program the pipelining
// client of the "pipelined" rows:
//
//	bench -pipeline-client HOST:PORT SESSIONS PER N POST
//
// It sends the post to memberAddr(1) to memberAddr(N), PER a
// transaction, over SESSIONS connections kept open, as a client that
// does nothing else would: RFC 2920's PIPELINING, MAIL, every RCPT and
// DATA in one write, the message and its final dot written with the
// next transaction's commands, then the replies read. With PER 1 each
// transaction has a sender of its own, as VERP gives it. It is the
// nearest this bench has to a ceiling of the sink and the wire for a
// pipelining client: smtp-source pipelines nothing. It exits 0 once
// every transaction has its 250, 1 with a line on standard error at the
// first reply that is not the one expected.
const pipeFlag = "-pipeline-client"

func pipeMain(args []string) int {
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: bench -pipeline-client HOST:PORT SESSIONS PER N POST")
		return 64
	}
	var nums [3]int
	for i, a := range args[1:4] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench %s: %q: not a count\n", pipeFlag, a)
			return 64
		}
		nums[i] = n
	}
	sessions, per, n := nums[0], nums[1], nums[2]
	post, err := os.ReadFile(args[4])
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", pipeFlag, err)
		return 1
	}
	data := dataLines(post)
	txs := (n + per - 1) / per
	var next atomic.Int64 // the next transaction to send
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(sessions, txs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipeSession(args[0], data, per, n, txs, &next); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", pipeFlag, first)
		return 1
	}
	return 0
}

// dataLines is the post as DATA sends it: CRLF line ends, a line that
// starts with a dot doubled (RFC 5321 section 4.5.2), the final dot.
func dataLines(post []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.SplitAfter(bytes.TrimSuffix(post, []byte("\n")), []byte("\n")) {
		l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
		if bytes.HasPrefix(l, []byte(".")) {
			b.WriteByte('.')
		}
		b.Write(l)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// pipeSession sends transactions, taking the next from next, until
// there are none, on a connection of its own.
func pipeSession(addr string, data []byte, per, n, txs int, next *atomic.Int64) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 256<<10)
	if err := expect(r, 220, 1); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	w.WriteString("EHLO bench.example\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if err := expect(r, 250, 1); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	dot := false // a final dot written, its reply not yet read
	for {
		k := int(next.Add(1) - 1)
		if k >= txs {
			break
		}
		sender := poster
		if per == 1 { // VERP: the recipient in the sender, as mlm's
			a := memberAddr(k + 1)
			at := strings.LastIndexByte(a, '@')
			sender = "bench+" + a[:at] + "=" + a[at+1:] + "@example.org"
		}
		fmt.Fprintf(w, "MAIL FROM:<%s>\r\n", sender)
		lo, hi := k*per+1, min((k+1)*per, n)
		for i := lo; i <= hi; i++ {
			fmt.Fprintf(w, "RCPT TO:<%s>\r\n", memberAddr(i))
		}
		w.WriteString("DATA\r\n")
		if err := w.Flush(); err != nil {
			return err
		}
		if dot {
			if err := expect(r, 250, 1); err != nil {
				return fmt.Errorf("the dot before transaction %d: %w", k+1, err)
			}
		}
		if err := expect(r, 250, 1+hi-lo+1); err != nil {
			return fmt.Errorf("transaction %d, MAIL and RCPT: %w", k+1, err)
		}
		if err := expect(r, 354, 1); err != nil {
			return fmt.Errorf("transaction %d, DATA: %w", k+1, err)
		}
		w.Write(data)
		dot = true
	}
	w.WriteString("QUIT\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if dot {
		if err := expect(r, 250, 1); err != nil {
			return fmt.Errorf("the last dot: %w", err)
		}
	}
	return expect(r, 221, 1)
}

// expect reads count replies, each of which must have code.
func expect(r *bufio.Reader, code, count int) error {
	want := strconv.Itoa(code)
	for range count {
		for {
			l, err := r.ReadSlice('\n')
			if err != nil {
				return err
			}
			if len(l) < 4 || string(l[:3]) != want {
				return errors.New("reply " + strconv.Quote(string(l)) + "; want " + want)
			}
			if l[3] != '-' {
				break
			}
		}
	}
	return nil
}
