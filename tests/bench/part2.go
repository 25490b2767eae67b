package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"mlm/lib/msg"
	"mlm/lib/pipeline"
	"mlm/lib/stream"
)

// makeStream writes a valid MLM1 stream of about mb MiB in the memory
// directory: records as mlm-accept writes them, each with the post (its
// own Message-ID) and one recipient. It returns the file's name, its
// size, its records and the octets of their messages, as mlm-unwrap
// writes them.
func (b *bench) makeStream(mb int, post []byte) (name string, size int64, n int, msgs int64, err error) {
	name = filepath.Join(b.shm, "stream.mlm")
	f, err := os.Create(name)
	if err != nil {
		return "", 0, 0, 0, err
	}
	lines := strings.Split(strings.TrimSuffix(string(post), "\n"), "\n")
	w := bufio.NewWriterSize(f, 1<<20)
	want := int64(mb) << 20
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
			msgs += int64(len(l)) + 1
		}
		fmt.Fprintf(&rec, "R <%s>\nE 1\n", memberAddr(n))
		size += int64(rec.Len())
		if _, err := w.Write(rec.Bytes()); err != nil {
			f.Close()
			os.Remove(name)
			return "", 0, 0, 0, err
		}
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", 0, 0, 0, err
	}
	return name, size, n, msgs, nil
}

// filters measures each filter on the stream against cat, the reps
// interleaved so that a change of load falls on all of them alike, each
// rep starting one row further on, so that no row is always first (cat
// was, and slowest in its first runs). The stream is read once first,
// untimed. A run takes a fraction of a second: filterReps of them, more
// than the deliveries', for a median that noise moves less. A row's
// runs write to /dev/null, or into a pipe (intoPipe) if the row says so.
func (b *bench) filters(rows []*row, stream string) {
	if f, err := os.Open(stream); err == nil {
		io.Copy(io.Discard, f)
		f.Close()
	}
	for rep := 0; rep < b.filterReps; rep++ {
		for i := range rows {
			r := rows[(i+rep)%len(rows)]
			if r.status != "" {
				continue
			}
			timeout, ok := b.timeout()
			if !ok {
				r.status = "skipped (max-time)"
				continue
			}
			var u usage
			var err error
			if r.intoPipe {
				var n int64
				u, n, err = b.intoPipe(timeout, job{argv: r.argv, stdin: stream})
				r.wrote = append(r.wrote, n)
			} else {
				u, err = b.measure(timeout, job{argv: r.argv, stdin: stream})
			}
			b.logf("%s rep %d: %v", r.name(), rep+1, fmtRun(u, err))
			r.record(b, u, err)
		}
	}
}

// intoPipe measures j writing into a pipe as big as mlm-run makes
// between two stages (pipeline.GrowPipe), which the bench reads as fast
// as it can, on another CPU if there is one, and does nothing else with
// (a next stage would parse it). It returns the octets read, what the
// run wrote. A process outside the run's tree that holds the pipe (the
// wrapper waits for those in it, and measure ends them at the run's
// deadline) is waited for pipeLeft, then the run fails.
func (b *bench) intoPipe(timeout time.Duration, j job) (usage, int64, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return usage{}, 0, err
	}
	pipeline.GrowPipe(pw)
	read := make(chan int64, 1)
	go func() {
		defer pr.Close()
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := pr.Read(buf)
			n += int64(k)
			if err != nil {
				read <- n
				return
			}
		}
	}()
	j.stdout = pw
	u, err := b.measure(timeout, j)
	pw.Close() // the run has ended: the reader comes to the end
	select {
	case n := <-read:
		return u, n, err
	case <-time.After(pipeLeft):
		pr.Close() // its Read returns
		n := <-read
		if err == nil {
			err = fmt.Errorf("%s: %w", strings.Join(j.argv, " "), heldOpen("output"))
		}
		return u, n, err
	}
}

// pipeLeft is how long a run's output and stderr may stay open once it
// has ended (intoPipe, measure).
var pipeLeft = 10 * time.Second

// outKind is what a filter row must write. Its timed runs are not
// read, to /dev/null, or read to be counted only, into a pipe; a run of
// its own, untimed, reads and checks what it writes (checkFilters).
type outKind int

const (
	outSame   outKind = iota // the input, byte for byte
	outNone                  // nothing
	outMail                  // the records' messages: their octets
	outStream                // a valid stream of as many records, one recipient each
)

// checkFilters runs each filter row of fs that ran well once more on
// the stream, untimed, reading its output as it comes, and fails the
// row if the output is not what the row must write (fs.out): a filter
// that wrote nothing, or cut its stream short, or dropped or mangled
// records, would otherwise show a rate for work it did not do. Of a row
// whose timed runs wrote into a pipe, each must have written as many
// octets as the checked run: those runs are then the checked one's
// like, not other runs whose output went unread. A row the bench's
// time ran out for is noted unchecked. done, if not nil, keeps each
// checked run by what it ran, for the next set on the same stream: the
// rows of the two sets of a post size run the same filters, and one
// checked run serves both.
func (b *bench) checkFilters(fs *filterSet, stream string, msgs int64, done map[string]checkedRun) {
	for _, r := range fs.rows {
		if r.status != "" || len(r.runs) == 0 {
			continue
		}
		key := fmt.Sprint(fs.out[r], "\x00", strings.Join(r.argv, "\x00"))
		c, ok := done[key]
		if !ok {
			timeout, ok := b.timeout()
			if !ok {
				fs.unchecked[r] = true
				continue
			}
			c.n, c.err = b.checkOutput(timeout, r.argv, stream, fs.out[r], fs.recs, msgs)
			if done != nil {
				done[key] = c
			}
		}
		if c.err != nil {
			r.fail(b, fmt.Errorf("its output: %w", c.err))
			continue
		}
		for i, w := range r.wrote {
			if w != c.n {
				r.fail(b, fmt.Errorf("its timed run %d wrote %s octets into its pipe, its checked run %s", i+1, commas(w), commas(c.n)))
				break
			}
		}
	}
}

// checkedRun is what a filter's checked run wrote, or how it fell short.
type checkedRun struct {
	n   int64
	err error
}

// checkOutput runs argv on input under the wrapper, as a timed run
// would, and checks what it writes (checkOut); it returns the octets
// written.
func (b *bench) checkOutput(timeout time.Duration, argv []string, input string, kind outKind, recs int, msgs int64) (int64, error) {
	pr, pw := io.Pipe()
	res := make(chan error, 1)
	c := &countReader{r: pr}
	go func() {
		err := checkOut(c, kind, input, recs, msgs, marksOf(argv))
		io.Copy(io.Discard, c) // what comes past a fault: the filter ends
		res <- err
	}()
	_, err := b.measure(timeout, job{argv: argv, stdin: input, stdout: pw})
	pw.Close()
	if cerr := <-res; err == nil {
		err = cerr
	}
	return c.n, err
}

// countReader counts the octets read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A mark is what a stage leaves in each record it passes on, which the
// check of a stream it writes looks for (checkOut): an attribute named
// attr, of the value value, or beginning with it if it ends in ":" (a
// trace's program), or of any value if it is ""; or a header field named
// field. Without them a stage that passed its input on unread would pass
// the check, its input being a valid stream already. They are the marks
// of the stages its argv names (marksOf); that a row's argv is the one
// its name says is TestFilterSet's.
type mark struct{ attr, value, field string }

// stageMarks are the marks of the filters whose rows write a stream, as
// the bench's list (open, no members) has them write.
var stageMarks = map[string][]mark{
	"mlm-auth":    {{attr: "trace", value: "mlm-auth:"}},
	"mlm-hdr":     {{field: "List-Id"}},
	"mlm-members": {{attr: "state", value: "expanded"}, {attr: "trace", value: "mlm-members:"}},
	"mlm-split":   {{attr: "parent"}},
}

// marksOf returns the marks of argv's stages: its program's, or each
// stage's of an mlm-pipeline.
func marksOf(argv []string) []mark {
	if len(argv) == 0 {
		return nil
	}
	if argv[0] != "mlm-pipeline" {
		return stageMarks[argv[0]]
	}
	stages, _ := pipeline.Split(argv[1:]) // as mlm-pipeline cuts it
	var ms []mark
	for _, st := range stages {
		ms = append(ms, stageMarks[st[0]]...)
	}
	return ms
}

// in reports whether a record, its header h and its header block hb,
// bears m.
func (m mark) in(h *stream.Header, hb []byte) bool {
	if m.field != "" {
		_, ok := msg.NewEdit(hb).Field(m.field)
		return ok
	}
	for _, a := range h.Attrs {
		if a.Name == m.attr && (m.value == "" || a.Value == m.value ||
			strings.HasSuffix(m.value, ":") && strings.HasPrefix(a.Value, m.value)) {
			return true
		}
	}
	return false
}

func (m mark) String() string {
	switch {
	case m.field != "":
		return "a " + m.field + " field"
	case m.value == "":
		return "an attribute " + m.attr
	case strings.HasSuffix(m.value, ":"):
		return "an attribute " + m.attr + "=" + m.value + "..."
	}
	return "an attribute " + m.attr + "=" + m.value
}

// checkOut reads out to its end and says how it falls short of kind,
// for the stream in the file input, of recs records whose messages are
// msgs octets; a stream's records must each bear marks.
func checkOut(out io.Reader, kind outKind, input string, recs int, msgs int64, marks []mark) error {
	switch kind {
	case outSame:
		return sameAs(out, input)
	case outNone, outMail:
		want := msgs
		if kind == outNone {
			want = 0
		}
		n, err := io.Copy(io.Discard, out)
		if err == nil && n != want {
			err = fmt.Errorf("%s octets; want %s", commas(n), commas(want))
		}
		return err
	}
	// Each record's body is the input record's, the header aside, which
	// a filter may change: a filter that dropped or cut the messages
	// would show a rate for work it did not do.
	f, err := os.Open(input)
	if err != nil {
		return err
	}
	defer f.Close()
	in := stream.NewReader(bufio.NewReaderSize(f, 1<<20))
	var hb, got, want []byte
	r := stream.NewReader(out)
	r.ReuseHeader()
	n := 0
	err = r.Each(func(h *stream.Header) error {
		n++
		ih, err := in.Next()
		if err != nil {
			return fmt.Errorf("record %s: no record %d in the input: %v", h.ID, n, err)
		}
		if hb, err = r.HeaderBlock(hb[:0], math.MaxInt); err != nil {
			return err
		}
		for _, m := range marks {
			if !m.in(h, hb) {
				return fmt.Errorf("record %s lacks %s, which its filters leave in every record", h.ID, m)
			}
		}
		if got, err = appendAll(got[:0], r.Message()); err != nil {
			return err
		}
		if hb, err = in.HeaderBlock(hb[:0], math.MaxInt); err != nil {
			return err
		}
		if want, err = appendAll(want[:0], in.Message()); err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("record %s: its body, %s octets, is not that of the input's record %s, %s octets",
				h.ID, commas(int64(len(got))), ih.ID, commas(int64(len(want))))
		}
		rcpts := 0
		if err := r.EachRecipientNoCopy(func(stream.Path) error { rcpts++; return nil }); err != nil {
			return err
		}
		if rcpts != 1 {
			return fmt.Errorf("record %s has %d recipients; want 1", h.ID, rcpts)
		}
		return nil
	})
	if err == nil && n != recs {
		err = fmt.Errorf("%s records; want %s", commas(int64(n)), commas(int64(recs)))
	}
	return err
}

// appendAll appends what r reads to b.
func appendAll(b []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// sameAs reads out to its end and says where it differs from the file
// name, if it does.
func sameAs(out io.Reader, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(out, got)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return err
		}
		m, ferr := io.ReadFull(f, want[:n])
		if i := mismatch(got[:m], want[:m]); i >= 0 {
			return fmt.Errorf("not the input: it differs at octet %s", commas(off+int64(i)))
		}
		off += int64(m)
		if m < n {
			return fmt.Errorf("not the input: longer than its %s octets", commas(off))
		}
		if ferr != nil && ferr != io.ErrUnexpectedEOF && ferr != io.EOF {
			return ferr
		}
		if err != nil { // the output's end: the input's too?
			if k, _ := f.Read(want[:1]); k > 0 {
				return fmt.Errorf("not the input: %s octets of it", commas(off))
			}
			return nil
		}
	}
}

// mismatch is the index of the first octet where a and b differ, or -1.
func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
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
	if err := b.run(10*time.Minute, b.membersFile(tenDomains(n)), "", "mlm-sub", dir); err != nil {
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

// million measures mlm's delivery to n members as the delivery rows
// do, then runs it once more under the sampler (sampled), whose largest
// sum of the processes' resident sets goes in the row's note; not if
// mlm's batch rows timed out (timedOut) at a size no larger.
func (b *bench) million(r *row, n int, timedOut timeouts) {
	if timedOut.skip(r, "mlm/batch", n) {
		return
	}
	b.millionN = n
	b.interleave(b.deliverySteps(r, func() (delivered, error) { return b.mlmOnce(n, mlmOpts{}) }))
	if r.status != "" || len(r.runs) == 0 {
		return
	}
	peak, _, err := b.sampled(n, false)
	switch {
	case errors.Is(err, errSkipped) || errors.Is(err, errTimeout):
		r.note += "; at once: not sampled, " + err.Error()
	case err != nil:
		r.fail(b, fmt.Errorf("its sampled run: %w", err))
	default:
		r.note += fmt.Sprintf("; at once: %.1f MiB, %d processes (one run more, which the sampler slows)", float64(peak.kib)/1024, peak.procs)
		b.atOnce.million = true
	}
}

// accept measures mlm-accept taking n posts one after the other, one
// process each as an MTA runs it, into a list on the disk (each post
// fsynced, file and directory, before it exits).
func (b *bench) accept(r *row, n int) {
	defer func() {
		if r.status == "" && len(r.runs) > 0 {
			r.note = b.acceptNote(r, n)
		}
	}()
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
		// Posts of their own, each its Message-ID: mlm-accept takes a
		// post it queued a moment before only as a copy, not queued again.
		posts := filepath.Join(parent, "post")
		if err := writePosts(posts, n); err != nil {
			r.fail(b, err)
			return
		}
		syscall.Sync()
		const loop = `i=0; while [ "$i" -lt "$1" ]; do mlm-accept -f "$2" -r "$3" "$4" < "$5.$i" || exit; i=$((i+1)); done`
		u, err := b.measure(timeout, job{argv: []string{"sh", "-c", loop, "sh",
			fmt.Sprint(n), poster, listAddr, dir, posts}})
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

// writePosts writes n posts as the bench's post, each with a
// Message-ID of its own, to files prefix.0 to prefix.N-1.
func writePosts(prefix string, n int) error {
	p := post(postSize)
	for i := range n {
		own := bytes.Replace(p, []byte("<bench@example.org>"), fmt.Appendf(nil, "<bench.%d@example.org>", i), 1)
		if err := os.WriteFile(fmt.Sprintf("%s.%d", prefix, i), own, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// acceptNote says what a post through mlm-accept costs beside its own
// work: the shell loop's start of a program, as the same loop running
// true(1) instead takes it, and the two fsyncs, as one of a small file on
// the disk of the lists costs.
func (b *bench) acceptNote(r *row, n int) string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	note := fmt.Sprintf("%.1f ms a post", ms(r.med().wall)/float64(n))
	// true(1) the program, not the shell's builtin, which starts none.
	const loop = `i=0; while [ "$i" -lt "$1" ]; do "$3" < "$2" || exit; i=$((i+1)); done`
	if tru, err := exec.LookPath("/bin/true"); err == nil {
		if u, err := b.measure(time.Minute, job{argv: []string{"sh", "-c", loop, "sh", fmt.Sprint(n), b.post, tru}}); err == nil {
			note += fmt.Sprintf(", of which the loop's start of a program %.1f ms (the loop with /bin/true)", ms(u.wall)/float64(n))
		}
	}
	if d, err := fsyncCost(b.work); err == nil {
		note += fmt.Sprintf("; the fsyncs of a new 4 KB file and its directory here %d µs", d.Microseconds())
	}
	return note
}

// fsyncCost is the median time, of 21, of the two fsyncs mlm-accept
// makes of a post: of a file of 4 KB made anew in dir, and of dir once
// the file is there.
func fsyncCost(dir string) (time.Duration, error) {
	sub, err := os.MkdirTemp(dir, "fsync.")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(sub)
	d, err := os.Open(sub)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	for i := range 21 {
		f, err := os.Create(filepath.Join(sub, fmt.Sprint(i)))
		if err != nil {
			return 0, err
		}
		_, err = f.Write(buf)
		t0 := time.Now()
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = d.Sync()
		}
		if err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}
