package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// makeStream writes a valid MLM1 stream of about mb MiB in the memory
// directory: records as mlm-accept writes them, each with the post (its
// own Message-ID) and one recipient.
func (b *bench) makeStream(mb int, post []byte) (string, int64, int, error) {
	name := filepath.Join(b.shm, "stream.mlm")
	f, err := os.Create(name)
	if err != nil {
		return "", 0, 0, err
	}
	lines := strings.Split(strings.TrimSuffix(string(post), "\n"), "\n")
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	want := int64(mb) << 20
	n := 0
	for size < want {
		n++
		var rec bytes.Buffer
		fmt.Fprintf(&rec, "MLM1 1764417600.b%d.bench\nA list=%s\nA orig-rcpt=%s\nA state=new\nA received=1764417600\nA trace=mlm-accept:1764417600\nS <%s>\n",
			n, listAddr, listAddr, poster)
		for _, l := range lines {
			if strings.HasPrefix(l, "Message-ID:") {
				l = fmt.Sprintf("Message-ID: <bench.%d@example.org>", n)
			}
			rec.WriteString(":" + l + "\n")
		}
		fmt.Fprintf(&rec, "R <%s>\nE 1\n", memberAddr(n))
		size += int64(rec.Len())
		if _, err := w.Write(rec.Bytes()); err != nil {
			f.Close()
			return "", 0, 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", 0, 0, err
	}
	return name, size, n, f.Close()
}

// filters measures each filter on the stream against cat, the reps
// interleaved so that a change of load falls on all of them alike.
func (b *bench) filters(rows []*row, stream string) {
	for rep := 0; rep < b.reps; rep++ {
		for _, r := range rows {
			if r.status != "" {
				continue
			}
			timeout, ok := b.timeout()
			if !ok {
				r.status = "skipped (max-time)"
				continue
			}
			u, err := b.measure(timeout, job{argv: r.argv, stdin: stream})
			b.logf("%s rep %d: %v", r.name(), rep+1, fmtRun(u, err))
			r.record(b, u, err)
		}
	}
}

// rcptCounter counts the R lines of a stream written to it.
type rcptCounter struct {
	n       int
	midLine bool
}

func (c *rcptCounter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if !c.midLine && p[0] == 'R' {
			c.n++
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.midLine = true
			break
		}
		c.midLine = false
		p = p[i+1:]
	}
	return total, nil
}

// expand measures mlm-members on one post to a list of n members.
func (b *bench) expand(r *row, n int) {
	parent, err := os.MkdirTemp(b.work, "expand.")
	if err != nil {
		r.fail(b, err)
		return
	}
	defer os.RemoveAll(parent)
	dir := filepath.Join(parent, "list")
	t0 := time.Now()
	if err := b.run(time.Minute, "", "", "mlm-newlist", "-p", "open", dir, listAddr); err != nil {
		r.fail(b, err)
		return
	}
	if err := b.run(10*time.Minute, b.membersFile(n), "", "mlm-sub", dir); err != nil {
		r.fail(b, err)
		return
	}
	b.logf("mlm-sub of %s members: %.1f s", commas(int64(n)), time.Since(t0).Seconds())
	rec := filepath.Join(parent, "post.mlm")
	if err := b.run(time.Minute, b.post, "", "mlm-accept", "-o", rec, "-f", poster, "-r", listAddr, dir); err != nil {
		r.fail(b, err)
		return
	}
	syscall.Sync()
	for rep := 0; rep < b.reps; rep++ {
		timeout, ok := b.timeout()
		if !ok {
			r.status = "skipped (max-time)"
			return
		}
		c := &rcptCounter{}
		u, err := b.measure(timeout, job{argv: []string{"mlm-members", dir}, stdin: rec, stdout: c})
		b.logf("%s rep %d: %v", r.name(), rep+1, fmtRun(u, err))
		if err == nil && c.n != n {
			err = fmt.Errorf("mlm-members wrote %d recipients for %d members", c.n, n)
		}
		if !r.record(b, u, err) {
			return
		}
	}
}

// accept measures mlm-accept taking n posts one after the other, one
// process each as an MTA runs it, into a list on the disk (each post
// fsynced, file and directory, before it exits).
func (b *bench) accept(r *row, n int) {
	for rep := 0; rep < b.reps; rep++ {
		timeout, ok := b.timeout()
		if !ok {
			r.status = "skipped (max-time)"
			return
		}
		parent, err := os.MkdirTemp(b.work, "accept.")
		if err != nil {
			r.fail(b, err)
			return
		}
		dir := filepath.Join(parent, "list")
		if err := b.run(time.Minute, "", "", "mlm-newlist", "-p", "open", dir, listAddr); err != nil {
			r.fail(b, err)
			return
		}
		syscall.Sync()
		const loop = `i=0; while [ "$i" -lt "$1" ]; do mlm-accept -f "$2" -r "$3" "$4" < "$5" || exit; i=$((i+1)); done`
		u, err := b.measure(timeout, job{argv: []string{"sh", "-c", loop, "sh",
			fmt.Sprint(n), poster, listAddr, dir, b.post}})
		b.logf("%s rep %d: %v", r.name(), rep+1, fmtRun(u, err))
		if err == nil {
			es, rerr := os.ReadDir(filepath.Join(dir, "queue", "incoming", "new"))
			if rerr != nil {
				err = rerr
			} else if len(es) != n {
				err = fmt.Errorf("mlm-accept: %d records in queue/incoming/new after %d posts", len(es), n)
			}
		}
		os.RemoveAll(parent)
		if !r.record(b, u, err) {
			return
		}
	}
}
