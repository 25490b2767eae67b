package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sink is one Postfix smtp-sink on 127.0.0.1, dumping every transaction
// to one file, from which the recipients are counted.
type sink struct {
	cmd  *exec.Cmd
	port int
	dir  string
	dump string
	done chan error
	once sync.Once
}

// startSink starts a fresh smtp-sink on a free port, with its dump in a
// new directory under the bench's memory-backed directory.
func (b *bench) startSink() (*sink, error) {
	dir, err := os.MkdirTemp(b.shm, "sink.")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // smtp-sink -u nobody writes it
		return nil, err
	}
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := b.trySink(dir, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (b *bench) trySink(dir string, port int) (*sink, error) {
	s := &sink{port: port, dir: dir, dump: filepath.Join(dir, "dump"), done: make(chan error, 1)}
	args := []string{"-D", s.dump}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	// The backlog, 1000, is the listen(2) queue: room for every
	// connection a sender opens at once.
	args = append(args, fmt.Sprintf("127.0.0.1:%d", port), "1000")
	s.cmd = exec.Command(b.smtpSink, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &tailBuffer{max: 2048}
	s.cmd.Stderr = stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("smtp-sink exited: %v: %s", err, stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("smtp-sink on port %d did not answer", port)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop ends the sink, once; the dump stays until remove.
func (s *sink) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
}

func (s *sink) remove() { os.RemoveAll(s.dir) }

// cpu is the user and system time the sink took, once stopped.
func (s *sink) cpu() time.Duration {
	s.stop()
	if ps := s.cmd.ProcessState; ps != nil {
		return ps.UserTime() + ps.SystemTime()
	}
	return 0
}

// dumpStats is what a sink's dump holds.
type dumpStats struct {
	tx       int // transactions (messages)
	rcpt     int // recipients, all told
	maxPerTx int
	senders  int // distinct MAIL FROM addresses, when counted
	dups     int // recipients that came more than once, when checked
	strange  int // recipients that are not members, when checked
	example  string
	// With verp: recipients whose transaction's sender is not the VERP
	// sender of its system for them, and the first of them
	notVERP    int
	notVERPOne string
	badBody    int // transactions whose body is not the post's (postBody)
	firstBad   int // the first of them, from 1
}

// countDump reads a dump of smtp-sink: each transaction is smtp-sink's
// own header lines, X-Client-Addr first, X-Mail-Args, an X-Rcpt-Args
// line per recipient, then Received, then the message, then an empty
// line. Each message's body, after its header's empty line, is compared
// with the post's (postBody), but for the empty lines at its end. With
// member, each recipient is checked against the member list and for
// duplicates; with verp, the distinct envelope senders are counted, and
// each recipient's transaction's sender must be its VERP sender.
func countDump(name string, member func(string) bool, verp verpForm) (dumpStats, error) {
	var st dumpStats
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		return st, nil // no transaction at all
	}
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	seen := map[string]struct{}{}
	froms := map[string]struct{}{}
	from := "" // the transaction's sender, with verp
	want := bytes.TrimRight(postBody, "\n")
	const (
		none    = iota
		sinkHdr // smtp-sink's header lines
		msgHdr  // the message's header (after Received, its continuation lines)
		body
	)
	phase, startOfLine, per := none, true, 0
	var got []byte
	endTx := func() {
		if phase != msgHdr && phase != body {
			return
		}
		if !bytes.Equal(bytes.TrimRight(got, "\n"), want) {
			st.badBody++
			if st.firstBad == 0 {
				st.firstBad = st.tx
			}
		}
	}
	for {
		line, err := r.ReadSlice('\n')
		whole := err == nil
		if len(line) > 0 && startOfLine && bytes.HasPrefix(line, []byte("X-Client-Addr: ")) {
			endTx()
			phase, per, got = sinkHdr, 0, got[:0]
		} else if len(line) > 0 {
			switch {
			case phase == body:
				got = append(got, line...)
			case phase == msgHdr && startOfLine && whole && len(line) == 1:
				phase = body
			case phase != sinkHdr || !startOfLine:
			case bytes.HasPrefix(line, []byte("X-Rcpt-Args: ")):
				per++
				st.rcpt++
				if member != nil {
					a := angle(line)
					if _, dup := seen[a]; dup {
						st.dups++
						st.example = a
					} else {
						seen[a] = struct{}{}
					}
					if !member(a) {
						st.strange++
						st.example = a
					}
				}
				if a := angle(line); verp != nil && !verp(from, a) {
					if st.notVERP++; st.notVERPOne == "" {
						st.notVERPOne = from + " to " + a
					}
				}
			case verp != nil && bytes.HasPrefix(line, []byte("X-Mail-Args: ")):
				from = angle(line)
				froms[from] = struct{}{}
			case bytes.HasPrefix(line, []byte("Received: ")):
				phase = msgHdr
				st.tx++
				st.maxPerTx = max(st.maxPerTx, per)
			}
		}
		startOfLine = whole
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
	}
	endTx()
	st.senders = len(froms)
	return st, nil
}

// A verpForm says whether from is a system's VERP sender for rcpt.
type verpForm func(from, rcpt string) bool

// verpOf is the VERP sender form of who's rows, nil without verp: mlm's
// list-bounces+local=domain@ the list's domain (mlm-sendmail(1)),
// mlmmj's list+bounces-N-local=domain@ it, the pipelining client's
// bench+local=domain@example.org.
func verpOf(who string, verp bool) verpForm {
	if !verp {
		return nil
	}
	local, dom, _ := strings.Cut(listAddr, "@")
	return func(from, rcpt string) bool {
		at := strings.LastIndexByte(rcpt, '@')
		if at < 0 {
			return false
		}
		enc := rcpt[:at] + "=" + rcpt[at+1:]
		switch who {
		case "mlmmj":
			n, ok := strings.CutPrefix(from, local+"+bounces-")
			n, ok2 := strings.CutSuffix(n, "-"+enc+"@"+dom)
			_, err := strconv.Atoi(n)
			return ok && ok2 && err == nil
		case "pipelining client":
			return from == "bench+"+enc+"@example.org"
		}
		return from == local+"-bounces+"+enc+"@"+dom
	}
}

// angle is the address between the first < and the next >.
func angle(line []byte) string {
	i := bytes.IndexByte(line, '<')
	if i < 0 {
		return string(bytes.TrimSpace(line))
	}
	j := bytes.IndexByte(line[i:], '>')
	if j < 0 {
		return string(bytes.TrimSpace(line[i+1:]))
	}
	return string(line[i+1 : i+j])
}

// memberAddr is the i-th member, from 1: ten domains, so that mlm-split,
// which batches by domain, fills its batches: the best case for it.
func memberAddr(i int) string { return fmt.Sprintf("m%07d@d%d.example", i, i%10) }

// A memberSet is the members of a delivery run: n of them, in the ten
// domains of memberAddr, or with spread, in the domains of spreadAddr.
type memberSet struct {
	n      int
	spread bool
}

// tenDomains is the set of n members of memberAddr.
func tenDomains(n int) memberSet { return memberSet{n: n} }

// addr is the i-th member of the set, from 1.
func (m memberSet) addr(i int) string {
	if m.spread {
		return spreadAddr(i, m.n)
	}
	return memberAddr(i)
}

// spreadAddr is the i-th of n members whose domains are spread as those
// of a list of people are: a few large providers and a long tail of
// small domains. 30% at gmail.example, 10% at yahoo.example, 10% at
// outlook.example, the rest at one of n/2 small domains, each drawn by
// a hash of i, the same in every run: at 10,000 members some 3,200
// domains, most with one or two members. (A list's own counts vary; a
// shape like this one, not the ten large domains of memberAddr, is what
// batching by domain meets.)
func spreadAddr(i, n int) string {
	h := mix(uint64(i))
	switch x := h % 100; {
	case x < 30:
		return fmt.Sprintf("m%07d@gmail.example", i)
	case x < 40:
		return fmt.Sprintf("m%07d@yahoo.example", i)
	case x < 50:
		return fmt.Sprintf("m%07d@outlook.example", i)
	}
	return fmt.Sprintf("m%07d@s%d.example", i, mix(h)%uint64(max(n/2, 1)))
}

// mix is splitmix64's finalizer: a hash of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// domains is the number of the set's members at each domain.
func (m memberSet) domains() map[string]int {
	count := map[string]int{}
	for i := 1; i <= m.n; i++ {
		a := m.addr(i)
		count[a[strings.IndexByte(a, '@')+1:]]++
	}
	return count
}

// has says whether a is a member of the set.
func (m memberSet) has() func(string) bool {
	return func(a string) bool {
		if len(a) < 8 || a[0] != 'm' {
			return false
		}
		i, err := strconv.Atoi(a[1:8])
		if err != nil || i < 1 || i > m.n {
			return false
		}
		return a == m.addr(i)
	}
}

// maxTx is the most transactions a delivery to the set may take in
// batches of batch: for each domain, its full batches and one part-full.
// A sender that batches recipients of several domains together takes
// fewer; one recipient a transaction is no batching.
func (m memberSet) maxTx() int {
	tx := 0
	for _, c := range m.domains() {
		tx += (c + batch - 1) / batch
	}
	return tx
}
