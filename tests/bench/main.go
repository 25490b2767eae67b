// Command bench measures mlm's main job, one post to a large list, from
// mlm-accept through the list's queues and stages to an SMTP server,
// against mlmmj 1.3.0 doing the same, against Postfix's smtp-source
// pushing the same recipients (the limit) and against mlm-sendmail alone
// on the same batches (the client), all into Postfix's smtp-sink
// on 127.0.0.1; and, in the same run, the throughput of mlm's filters on
// large streams against cat (of 4 KB posts, where the work for each record
// counts most, and of 1 MB posts, where the work for each octet does),
// the expansion of a list of a million, and
// mlm-accept's posts a second. It prints one table of median runs, then a
// profile of mlm's run on the largest list.
//
// `make bench` builds the programs and runs it. Every run has a time
// limit and the whole a budget; a run that delivers the wrong recipients
// fails the bench (status 1).
//
// Usage:
//
//	go run ./tests/bench [-members 10000,100000] [-reps 3] [-stream-mb 1024] [-stream-posts 4,1024] ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type bench struct {
	ctx   context.Context
	pprof struct { // the programs built with the profiler (pprofBin), once
		goTool, bin string
		err         error
	}
	bin        string // mlm's programs
	self       string // this program, the rusage wrapper
	work       string // on the disk: lists, queues
	shm        string // in memory if there is room: the sink's dumps, the stream
	tmpfsDisk  bool   // work is on tmpfs: its fsyncs are free
	post       string
	reps       int
	filterReps int
	pipe       bool // the pipelining client's rows are run
	verp       bool // mlmmj's VERP rows are run
	verpN      int  // the members of mlm's and mlmmj's own VERP rows (-mlmmj-verp), 0 if none
	chain      bool // the filter sets into a pipe, and their chain rows, are run
	runTimeout time.Duration
	deadline   time.Time
	smtpSink   string
	smtpSource string

	mlmmjReceive string
	mlmmjVersion string

	members  map[memberSet]string
	spreadN  int                             // the members of the spread rows, if any
	millionN int                             // the members of the million row, if it ran
	atOnce   struct{ profile, million bool } // which printed what mlm-run and its stages hold at once
	rssFloor int64                           // KiB: the peak RSS of true, the least a run shows
	launched string                          // why no C launcher starts the commands, if none does ("" if one does)
	n        atomic.Int64
	failures []string
}

// errSkipped says a run was not started: the budget is spent.
var errSkipped = errors.New("skipped (max-time)")

func main() {
	if len(os.Args) > 1 && os.Args[1] == wrapFlag {
		wrapMain(os.Args[2:])
		return
	}
	if len(os.Args) == 2 && os.Args[1] == floorFlag {
		os.Exit(floorMain())
	}
	if len(os.Args) == 2 && os.Args[1] == passFlag {
		os.Exit(passMain())
	}
	if len(os.Args) > 1 && os.Args[1] == pipeFlag {
		os.Exit(pipeMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == sampleFlag {
		os.Exit(sampleMain(os.Args[2:]))
	}
	os.Exit(benchMain())
}

func benchMain() int {
	reps := 3
	if v, err := strconv.Atoi(os.Getenv("MLM_BENCH_REPS")); err == nil && v > 0 {
		reps = v
	}
	var (
		fBin      = flag.String("bin", "bin", "the directory of mlm's programs")
		fMembers  = flag.String("members", "10000,100000", "list sizes for delivery, comma-separated")
		fReps     = flag.Int("reps", reps, "repetitions of each run, of which the median is shown (env MLM_BENCH_REPS)")
		fFReps    = flag.Int("filter-reps", 7, "repetitions of each filter's run, a fraction of a second each")
		fSessions = flag.String("sessions", "1,2,4,8,16,"+strconv.Itoa(conns), "smtp-source session counts to try; the best is the limit")
		fStreamMB = flag.Int("stream-mb", 1024, "size of the stream for the filters, in MiB")
		fPostsKB  = flag.String("stream-posts", "4,1024", "sizes of the posts in the filters' streams, in KiB, comma-separated: a stream and a set of rows each")
		fOut      = flag.String("filter-out", "null,pipe", "where the filters' timed runs write, comma-separated, a set of rows each: null (/dev/null), pipe (a pipe as mlm-run's, which the bench reads and counts)")
		fExpand   = flag.Int("expand", 1000000, "members of the list that mlm-members expands")
		fMillion  = flag.Int("million", 1000000, "members of the million row: mlm alone, end to end, and what its processes hold at once")
		fAccept   = flag.Int("accept", 1000, "posts that mlm-accept takes, one process each")
		fMaxTime  = flag.Duration("max-time", 30*time.Minute, "budget of the whole bench; runs past it are skipped")
		fTimeout  = flag.Duration("run-timeout", 3*time.Minute, "time limit of each run, killed after it")
		fOnly     = flag.String("only", "batch,verp,spread,rtt,filters,expand,million,accept,profile", "what to measure, comma-separated (spread: mlm and mlmmj at the smallest of -members, the members' domains spread)")
		fRTT      = flag.Duration("rtt", 10*time.Millisecond, "the round trip of the rtt rows' sink, behind a lag")
		fRTTRcpt  = flag.Int("rtt-rcpt", 2000, "recipients of the rtt rows")
		fSystems  = flag.String("systems", "mlm,daemon,client,mlmmj,limit,pipe", "which senders the delivery rows measure (daemon: mlm with mlm-run -D; client: mlm-sendmail alone; pipe: the bench's own pipelining client)")
		fDisk     = flag.String("disk", os.TempDir(), "where the lists and queues go: a real disk, for the fsyncs")
		fProfVERP = flag.Bool("profile-verp", false, "profile mlm's VERP run too")
		fVERPN    = flag.Int("mlmmj-verp", 1000, "members of a VERP set that mlmmj finishes within the run limit: mlm and mlmmj, measured as the other rows (0: none)")
	)
	flag.Parse()
	if flag.NArg() > 0 || *fReps < 1 {
		flag.Usage()
		return 64
	}
	sizes, err := ints(*fMembers)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: -members: %v\n", err)
		return 64
	}
	// Smallest first: a size that timed out skips the larger ones.
	sizes = slices.Compact(slices.Sorted(slices.Values(sizes)))
	sessions, err := ints(*fSessions)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: -sessions: %v\n", err)
		return 64
	}
	postsKB, err := ints(*fPostsKB)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: -stream-posts: %v\n", err)
		return 64
	}
	postsKB = slices.Compact(slices.Sorted(slices.Values(postsKB)))
	only := set(*fOnly)
	systems := set(*fSystems)
	outs := set(*fOut)
	for o := range outs {
		if o != "null" && o != "pipe" {
			fmt.Fprintf(os.Stderr, "bench: -filter-out: %q is neither null nor pipe\n", o)
			return 64
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{ctx: ctx, reps: *fReps, filterReps: max(*fFReps, 1), runTimeout: *fTimeout, members: map[memberSet]string{}}
	b.pipe = systems["pipe"] && (only["batch"] || only["verp"])
	b.deadline = time.Now().Add(*fMaxTime)
	if err := b.setup(*fBin, *fDisk, *fStreamMB); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 75
	}
	defer os.RemoveAll(b.work)
	if b.shm != b.work {
		defer os.RemoveAll(b.shm)
	}
	load0 := loadavg()

	verpN := *fVERPN
	if !only["verp"] {
		verpN = 0
	}
	b.verp, b.verpN, b.chain = only["verp"] && systems["mlmmj"], verpN, only["filters"] && outs["pipe"]
	ready := func(rs map[string]*row) { b.ready(rs, systems) }
	rows, batchRows := planDelivery(sizes, verpN, only, ready) // rows in the order of the table
	add := func(r *row) *row { rows = append(rows, r); return r }
	// The post to members whose domains are spread as a list of people's
	// are (spreadAddr), at the first size: mlm-split batches by domain,
	// small domains together, and the ten large domains of the rows above
	// are its best case. mlm and mlmmj, on the same members; mlm/limit is
	// to that size's limit row, whose batches are full.
	if only["spread"] && len(sizes) > 0 {
		n := sizes[0]
		b.spreadN = n
		rs := deliveryRows("spread", n)
		m, j := rs["mlm"], rs["mlmmj"]
		m.vsLimit, m.vsClient = batchRows["limit/batch/"+fmt.Sprint(n)], nil
		batchRows["mlm/spread/"+fmt.Sprint(n)], batchRows["mlmmj/spread/"+fmt.Sprint(n)] = add(m), add(j)
		ready(map[string]*row{"mlm": m, "mlmmj": j})
	}
	// VERP to a sink a network's round trip away: what each turn of the
	// conversation costs, which loopback hides. Both at mlm-sendmail's
	// default count of connections.
	var rttClient, rttLimit *row
	if only["rtt"] && *fRTT > 0 {
		what := fmt.Sprintf("%s rcpt, VERP 1 rcpt/tx, %g ms round trip", commas(int64(*fRTTRcpt)), float64(*fRTT)/float64(time.Millisecond))
		rttClient = add(&row{who: "mlm-sendmail alone", what: what, unit: "rcpt/s", work: float64(*fRTTRcpt)})
		rttLimit = add(&row{who: "limit", what: what, unit: "rcpt/s", work: float64(*fRTTRcpt)})
		rttClient.vsLimit = rttLimit
		if b.smtpSource == "" {
			rttLimit.status = "smtp-source not installed (apt-get install postfix)"
		}
	}
	// One set of filter rows for each post size and output: the 4 KB
	// post, where the work for each record counts most, and larger ones,
	// where the work for each octet does; to /dev/null, where cat pays
	// for its read alone, and into a pipe, as a stage writes.
	var filterSets []*filterSet
	if only["filters"] {
		for _, kb := range postsKB {
			for _, pipe := range []bool{false, true} {
				if !outs[map[bool]string{false: "null", true: "pipe"}[pipe]] {
					continue
				}
				fs := newFilterSet(b.self, kb, pipe)
				for _, r := range fs.rows {
					add(r)
				}
				filterSets = append(filterSets, fs)
			}
		}
	}
	var expandRow, acceptRow, millionRow *row
	if only["expand"] {
		expandRow = add(&row{who: "mlm-members DIR", what: fmt.Sprintf("%s members, 1 post", commas(int64(*fExpand))),
			unit: "rcpt/s", work: float64(*fExpand)})
	}
	// The post to a million members, end to end as the delivery rows
	// run: mlm alone (mlmmj would take some 8 minutes a run), for what
	// its processes hold, together as well as each.
	if only["million"] && *fMillion > 0 {
		millionRow = add(&row{who: "mlm", what: fmt.Sprintf("%s members, %d rcpt/tx", commas(int64(*fMillion)), batch),
			unit: "rcpt/s", work: float64(*fMillion)})
		if !systems["mlm"] {
			millionRow.status = "not run (-systems)"
		}
	}
	if only["accept"] {
		acceptRow = add(&row{who: "mlm-accept DIR", what: fmt.Sprintf("%s posts, fsync, 1 process each", commas(int64(*fAccept))),
			unit: "posts/s", work: float64(*fAccept)})
	}

	// The measuring, cheapest first, so that a spent budget skips the
	// slow rows (mlmmj's) rather than the rest.
	// steps is a row's repetitions, for interleave; nil for a row not
	// to run. smtp-source's session counts are tried as it is made.
	steps := func(r *row, who, mode string, n int) func() bool {
		verp, spread := mode == "verp", mode == "spread"
		switch who {
		case "mlm":
			return b.deliverySteps(r, func() (delivered, error) { return b.mlmOnce(n, mlmOpts{verp: verp, spread: spread}) })
		case "daemon":
			return b.deliverySteps(r, func() (delivered, error) { return b.daemonOnce(n, verp) })
		case "client":
			return b.deliverySteps(r, func() (delivered, error) { return b.mlmOnce(n, mlmOpts{verp: verp, client: true}) })
		case "mlmmj":
			return b.deliverySteps(r, func() (delivered, error) { return b.mlmmjOnce(memberSet{n, spread}, verp) })
		}
		per := batch
		if verp {
			per = 1
		}
		if who == "pipe" {
			return b.limitSteps(r, n, per, sessions, func(s int) (delivered, error) { return b.pipeOnce(n, per, s, verp) })
		}
		return b.limitSteps(r, n, per, sessions, func(s int) (delivered, error) { return b.limitOnce(n, per, s, 0) })
	}
	d := &deliverer{rows: batchRows, timedOut: timeouts{}, steps: steps, interleave: b.interleave}
	timedOut, deliverAt := d.timedOut, d.at
	deliver := func(mode string, whos ...string) {
		for _, n := range sizes {
			deliverAt(mode, n, whos...)
		}
	}
	deliver("batch", "limit", "pipe", "mlm", "daemon", "client")
	deliver("verp", "limit", "pipe", "mlm", "daemon", "client")
	if rttClient != nil {
		n := *fRTTRcpt
		ss := []func() bool{b.deliverySteps(rttClient, func() (delivered, error) {
			return b.mlmOnce(n, mlmOpts{verp: true, client: true, rtt: *fRTT})
		})}
		if rttLimit.status == "" {
			ss = append([]func() bool{b.limitSteps(rttLimit, n, 1, []int{conns}, func(s int) (delivered, error) {
				return b.limitOnce(n, 1, s, *fRTT)
			})}, ss...)
		}
		b.interleave(ss...)
	}
	b.runFilters(filterSets, postsKB, *fStreamMB)
	if expandRow != nil {
		b.expand(expandRow, *fExpand)
	}
	if acceptRow != nil {
		b.accept(acceptRow, *fAccept)
	}
	var profile []string
	if only["profile"] && len(sizes) > 0 && systems["mlm"] {
		profile = b.profile(slices.Max(sizes), false)
		if *fProfVERP {
			profile = append(append(profile, ""), b.profile(slices.Max(sizes), true)...)
		}
	}
	if millionRow != nil && millionRow.status == "" {
		b.million(millionRow, *fMillion, timedOut)
	}
	deliver("batch", "mlmmj")
	if only["verp"] {
		mlmmjVERP(batchRows, sizes, verpN, b.timeout, func(n int, whos ...string) { deliverAt("verp", n, whos...) })
	}
	deliver("spread", "mlm", "mlmmj")
	load1 := loadavg()

	// The table.
	fmt.Printf("mlm bench: %s, %d CPUs, load %s at start, %s at the end; the median run (by wall time) of %d each\n",
		runtime.GOOS, runtime.NumCPU(), load0, load1, b.reps)
	fmt.Printf("(of %d each for the filters, whose runs are short, a rep starting with the row after the last's first),\n", b.filterReps)
	fmt.Printf("the delivery rows of a size taking turns (a run of smtp-source, of the pipelining client, of mlm, of mlm with mlm-run -D,\n")
	verpWords := ""
	if b.verp {
		verpWords = "; its VERP rows smallest first,\na size the last one's rate says would take over 80% of the run limit not run but estimated, \"~\""
	}
	fmt.Printf("of mlm-sendmail alone, then again), mlmmj's after all the others (its runs are long%s), and the spread rows' two last\n", verpWords)
	fmt.Printf("delivery: one 4,096-octet post, from its hand-over to the last 250, into Postfix smtp-sink on 127.0.0.1\n")
	fmt.Printf("(a fresh sink per run, dumping to %s); lists and queues in %s\n", b.shm, b.work)
	fmt.Printf("wall: from the start of a run's command (mlm's: of mlm-accept, then of mlm-run) to the exit of its last process,\n")
	fmt.Printf("as the C parent that starts it times it (without one, the measuring wrapper), not their own starts (the log gives\n")
	fmt.Printf("both); CPU: user+sys of every process of the run, not the parent's or the wrapper's, nor the sink's (its own column);\n")
	fmt.Printf("peak RSS: the largest ")
	where := atOnceWhere(b.atOnce.profile, b.atOnce.million)
	if b.launched == "" {
		fmt.Printf("process of the run, each started by a small C parent with fork(2), so that none counts the Go wrapper's\n")
		fmt.Printf("size as one started by vfork would (true shows %.1f MiB); not the sum of those that run at once\n", float64(b.rssFloor)/1024)
		if where != "" {
			fmt.Printf("(mlm-run's and its stages': %s)\n", where)
		}
		fmt.Println()
	} else {
		fmt.Printf("process of the run (floor %.1f MiB, the measuring wrapper's, which Linux counts in a child started by vfork:\n", float64(b.rssFloor)/1024)
		fmt.Printf("%s)\n", b.launched)
		if where != "" {
			fmt.Printf("what mlm-run and its stages hold at once: %s\n", where)
		}
		fmt.Println()
	}
	printTable(rows)
	var pipes bool
	for i, fs := range filterSets {
		if fs.recs > 0 && (i == 0 || filterSets[i-1].kb != fs.kb) {
			fmt.Printf("\nfilters, %s posts: %s records, one recipient each, read from %s; mlm/limit is the ratio to the cat row above",
				kiB(fs.kb), commas(int64(fs.recs)), b.shm)
		}
		pipes = pipes || fs.recs > 0 && fs.pipe
	}
	if slices.ContainsFunc(filterSets, func(fs *filterSet) bool { return fs.recs > 0 }) {
		fmt.Printf("\n  (at 0.5 a filter takes twice cat's time a record: the same read and write, and as long again for all its\n" +
			"   own work. The floor row reads, counts the LFs and copies every octet, 1 MiB a write, parsing nothing; the\n" +
			"   pass row reads and writes the stream through its Reader and Writer and does nothing else: at 4 KB posts to\n" +
			"   /dev/null what a filter takes over pass (\"over pass\") is its own work. Neither is a floor everywhere: the\n" +
			"   Writer writes a run of 64 KiB or more uncopied, and into a pipe its buffer a pipe's worth at a time, and\n" +
			"   mlm-split sends a message of 64 KiB or more from its input file with sendfile(2), past the Writer: into a\n" +
			"   pipe cheaper than pass's write, to /dev/null dearer (its \"over pass\" at 1 MB posts is mostly that); so at\n" +
			"   1 MB posts and into a pipe, filters can come out above both (see floor.go). To /dev/null, a write costs\n" +
			"   nothing, and cat pays for its read alone)\n")
	}
	if pipes {
		fmt.Printf("  (into a pipe: as a stage writes under mlm-run, into a pipe of mlm-run's size (lib/pipeline's GrowPipe),\n" +
			"   which the bench reads as fast as it can, counting the octets and doing nothing else with them: a next\n" +
			"   stage parses what it reads, and is slower; so these rows are a filter and its write into a pipe, not a\n" +
			"   pipeline, but the last: mlm-auth, mlm-hdr and mlm-members joined by mlm-pipeline, as mlm-run joins the\n" +
			"   incoming queue's stages (its pipes as big), all three at once on this machine's CPUs, the last writing\n" +
			"   into the pipe; its rate is the chain's, the slowest stage's as the others take their share of the CPUs\n" +
			"   (its peak RSS the largest stage's, not their sum). mlm-run starts such a chain for each post, and the start\n" +
			"   of its processes is most of what a post costs there; this chain, started once, takes the whole stream.\n" +
			"   cat and the filters both write there (mlm-check, which writes nothing, is not in these sets),\n" +
			"   and each timed run must have written as many octets as the run whose output is checked; no \"over pass\"\n" +
			"   in these sets: the pipe's part of every row varies from run to run, and a filter that writes past the\n" +
			"   Writer, as mlm-split does at large posts, can take less than pass)\n")
	}
	fmt.Println()
	fmt.Println("setup:")
	for _, l := range setupNotes(b, only["filters"], rttClient != nil) {
		fmt.Println("  " + l)
	}
	if len(profile) > 0 {
		fmt.Println()
		for _, l := range profile {
			fmt.Println(l)
		}
	}
	return b.exit()
}

// runFilters measures the filter sets, those of a post size on one
// stream of streamMB MiB, all their rows' reps in turn (filters), so
// that a change of load falls on each output's rows alike; then each
// set's rows are checked (checkFilters).
func (b *bench) runFilters(filterSets []*filterSet, postsKB []int, streamMB int) {
	for _, kb := range postsKB {
		var sets []*filterSet
		for _, fs := range filterSets {
			if fs.kb == kb {
				sets = append(sets, fs)
			}
		}
		if len(sets) == 0 {
			continue
		}
		b.logf("writing a stream of %d MiB of %d KiB posts in %s", streamMB, kb, b.shm)
		stream, size, recs, msgs, err := b.makeStream(streamMB, post(kb<<10))
		var dir string
		if err == nil {
			dir, err = b.filterList()
		}
		var rows []*row
		for _, fs := range sets {
			fs.recs = recs
			for _, r := range fs.rows {
				r.work = float64(size) / (1 << 20)
				r.what = fmt.Sprintf("%s MiB stream, %s posts, %s", commas(size>>20), kiB(kb), fs.into())
				for i, a := range r.argv {
					if a == "DIR" {
						r.argv[i] = dir
					}
				}
				if err != nil {
					r.fail(b, err)
				}
			}
			rows = append(rows, fs.rows...)
		}
		if err == nil {
			b.filters(rows, stream)
			done := map[string]checkedRun{}
			for _, fs := range sets {
				b.checkFilters(fs, stream, msgs, done)
				fs.notes()
			}
		}
		os.Remove(stream)
	}
}

// exit prints the runs that failed, after the table, and is the bench's
// exit status: 1 if a run failed, else 75 if the bench was interrupted,
// else 0.
func (b *bench) exit() int {
	if len(b.failures) > 0 {
		fmt.Println()
		for _, f := range b.failures {
			fmt.Printf("FAILED: %s\n", f)
		}
		fmt.Fprintf(os.Stderr, "bench: %d runs FAILED; see above\n", len(b.failures))
		return 1
	}
	if b.ctx.Err() != nil {
		return 75
	}
	return 0
}

// filterSet is the filter rows of one post size and output.
type filterSet struct {
	kb        int
	pipe      bool // the timed runs write into a pipe, not to /dev/null
	rows      []*row
	pass      *row             // the Reader and Writer alone
	own       map[*row]bool    // the filters that write the stream: at 4 KB posts to /dev/null, their own work is over pass
	out       map[*row]outKind // what each must write
	unchecked map[*row]bool    // rows whose output the bench's time left unchecked
	recs      int
}

// newFilterSet is the rows of the filters on a stream of posts of kb
// KiB, writing into a pipe or to /dev/null: cat, the floor and pass,
// then mlm's filters, each compared with cat (self runs the floor and
// pass). mlm-check, which writes nothing, is in the /dev/null set only:
// into a pipe it would do the same work again, against a cat that
// writes.
func newFilterSet(self string, kb int, pipe bool) *filterSet {
	cat := &row{who: "cat", unit: "MiB/s", argv: []string{"cat"}, intoPipe: pipe}
	floor := &row{who: "floor (read, count LFs, copy)", unit: "MiB/s", argv: []string{self, floorFlag}, vsLimit: cat, intoPipe: pipe}
	pass := &row{who: "pass (stream Reader to Writer)", unit: "MiB/s", argv: []string{self, passFlag}, vsLimit: cat, intoPipe: pipe}
	fs := &filterSet{kb: kb, pipe: pipe, rows: []*row{cat, floor, pass}, pass: pass, own: map[*row]bool{},
		out: map[*row]outKind{cat: outSame, floor: outSame, pass: outSame}, unchecked: map[*row]bool{}}
	for _, f := range [][]string{{"mlm-check"}, {"mlm-unwrap"}, {"mlm-auth", "DIR"}, {"mlm-hdr", "DIR"},
		{"mlm-members", "DIR"}, {"mlm-split", "DIR"}, {"mlm-throttle", "DIR"},
		{"mlm-throttle", "-r", "1000000000", "DIR"}} {
		if pipe && f[0] == "mlm-check" {
			continue
		}
		r := &row{who: strings.Join(f, " "), unit: "MiB/s", argv: slices.Clone(f), vsLimit: cat, intoPipe: pipe}
		fs.rows = append(fs.rows, r)
		// mlm-check writes nothing, mlm-unwrap writes mail.
		fs.own[r] = f[0] != "mlm-check" && f[0] != "mlm-unwrap"
		// The others pass every record on, the list being open and
		// without members; mlm-throttle passes them as they came.
		switch f[0] {
		case "mlm-check":
			fs.out[r] = outNone
		case "mlm-unwrap":
			fs.out[r] = outMail
		case "mlm-throttle":
			fs.out[r] = outSame
		default:
			fs.out[r] = outStream
		}
	}
	// Into a pipe, the incoming queue's filters too, as mlm-run joins
	// them (mlm-pipeline: lib/pipeline's pipes), all at once on the
	// machine's CPUs: a chain's rate, that of its slowest stage with the
	// others taking their share of the CPUs, where the other rows are a
	// filter alone. (Not its mlm-enqueue, which writes a queue's file.)
	if pipe {
		r := &row{who: chainWho, unit: "MiB/s", vsLimit: cat, intoPipe: true,
			argv: []string{"mlm-pipeline", "mlm-auth", "DIR", "--", "mlm-hdr", "DIR", "--", "mlm-members", "DIR"}}
		fs.rows = append(fs.rows, r)
		fs.out[r] = outStream
	}
	return fs
}

// chainWho names the chain row of a filter set into a pipe.
const chainWho = "mlm-auth | mlm-hdr | mlm-members DIR"

// into says where the set's timed runs write.
func (fs *filterSet) into() string {
	if fs.pipe {
		return "into a pipe"
	}
	return "to /dev/null"
}

// notes gives each row that ran its median time a record, and those
// that write the stream what they take over pass, in a set to
// /dev/null: into a pipe, every row's time has the pipe's in it, which
// varies from run to run, and mlm-split's sendfile(2) of a message
// takes it below pass at large posts (and, to /dev/null, above it by
// more than its own work: the note says so only in the footnote).
func (fs *filterSet) notes() {
	ok := func(r *row) bool { return len(r.runs) > 0 && r.status == "" && fs.recs > 0 }
	for _, r := range fs.rows {
		if !ok(r) {
			continue
		}
		ns := r.med().wall.Nanoseconds() / int64(fs.recs)
		r.note = fmt.Sprintf("%s ns a record", commas(ns))
		if fs.own[r] && ok(fs.pass) && !fs.pipe {
			r.note += fmt.Sprintf(", %s over pass", commas(ns-fs.pass.med().wall.Nanoseconds()/int64(fs.recs)))
		}
		if fs.unchecked[r] {
			r.note += "; its output not checked (max-time)"
		}
	}
}

// deliveryWhos are the systems of the delivery rows, in the table's
// order.
var deliveryWhos = []string{"mlm", "daemon", "client", "mlmmj", "limit", "pipe"}

// deliveryRows is the rows of one delivery mode and list size, by who
// (deliveryWhos), each compared with the rows it is measured against:
// mlm's two with mlmmj, the limit and mlm-sendmail alone, mlm-sendmail
// alone with the limit.
func deliveryRows(mode string, n int) map[string]*row {
	rs := map[string]*row{}
	for _, who := range deliveryWhos {
		what := fmt.Sprintf("%s members, %d rcpt/tx", commas(int64(n)), batch)
		switch mode {
		case "verp":
			what = fmt.Sprintf("%s members, VERP 1 rcpt/tx", commas(int64(n)))
		case "spread":
			what = fmt.Sprintf("%s members, %d rcpt/tx, spread", commas(int64(n)), batch)
		}
		if who == "limit" || who == "client" || who == "pipe" {
			what = strings.Replace(what, "members", "rcpt", 1)
		}
		rs[who] = &row{who: who, what: what, unit: "rcpt/s", work: float64(n)}
	}
	m, dm, c, j, l, p := rs["mlm"], rs["daemon"], rs["client"], rs["mlmmj"], rs["limit"], rs["pipe"]
	m.vsMlmmj, m.vsLimit, m.vsClient = j, l, c
	dm.who, dm.vsMlmmj, dm.vsLimit, dm.vsClient = "mlm, mlm-run -D", j, l, c
	c.who, c.vsLimit, c.vsClient = "mlm-sendmail alone", l, p
	p.who, p.tool, p.vsLimit = "pipelining client", "pipelined", l
	return rs
}

// setup finds the programs and makes the work directories and the post.
func (b *bench) setup(bin, disk string, streamMB int) error {
	var err error
	if b.bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(b.bin, "mlm-run")); err != nil {
		return fmt.Errorf("no mlm-run in %s: run `make` first (%v)", b.bin, err)
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	b.smtpSink = lookPath("smtp-sink", "/usr/sbin/smtp-sink")
	if b.smtpSink == "" {
		return errors.New("no smtp-sink: apt-get install postfix (it is in /usr/sbin)")
	}
	b.smtpSource = lookPath("smtp-source", "/usr/sbin/smtp-source")
	b.mlmmjReceive = lookPath("mlmmj-receive", "/usr/bin/mlmmj-receive")
	if b.mlmmjReceive != "" {
		out, _ := exec.Command(b.mlmmjReceive, "-V").CombinedOutput()
		b.mlmmjVersion = "?"
		if f := strings.Fields(string(out)); len(f) > 0 {
			b.mlmmjVersion = f[len(f)-1]
		}
	}
	if b.work, err = os.MkdirTemp(disk, "mlmbench."); err != nil {
		return err
	}
	b.shm = b.work
	var fs syscall.Statfs_t
	if syscall.Statfs(b.work, &fs) == nil && fs.Type == 0x01021994 { // TMPFS_MAGIC
		b.tmpfsDisk = true
	}
	need := uint64(streamMB)<<20 + 2<<30 // the stream and the dumps
	if syscall.Statfs("/dev/shm", &fs) == nil && fs.Bavail*uint64(fs.Bsize) > need {
		if b.shm, err = os.MkdirTemp("/dev/shm", "mlmbench."); err != nil {
			b.shm = b.work
		}
	}
	// smtp-sink, run as root, writes its dump as nobody: the way there
	// must be open to it.
	if err := os.Chmod(b.shm, 0o755); err != nil {
		return err
	}
	b.post = filepath.Join(b.work, "post.eml")
	if err := os.WriteFile(b.post, post(postSize), 0o644); err != nil {
		return err
	}
	// Each command started from a small C parent, so that its peak RSS
	// is its own, not the Go wrapper's (launchC).
	if launch, err := buildLauncher(b.work); err != nil {
		b.launched = err.Error()
		b.logf("no C launcher, so every peak RSS counts the wrapper's: %v", err)
	} else if err := os.Setenv(launchEnv, launch); err != nil {
		return err
	}
	u, err := b.measure(time.Minute, job{argv: []string{"true"}})
	if err != nil {
		return err
	}
	b.rssFloor = u.rssKB
	return nil
}

// lookPath finds a program in PATH, else at a known place.
func lookPath(name, known string) string {
	if p, err := exec.LookPath(name); err == nil {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
	}
	if _, err := os.Stat(known); err == nil {
		return known
	}
	return ""
}

// post is a post of size octets; the one every system sends has 4,096.
func post(size int) []byte {
	var sb strings.Builder
	sb.WriteString("From: Poster <" + poster + ">\nTo: " + listAddr + "\nSubject: bench: a post of " + kiB(size>>10) + "\n" +
		"Date: Sun, 29 Nov 2026 12:00:00 +0000\nMessage-ID: <bench@example.org>\nMIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=us-ascii\n\n")
	for i := 1; sb.Len() < size; i++ {
		l := fmt.Sprintf("line %03d: the quick brown fox jumps over the lazy dog, 0123456789.\n", i%1000)
		if rest := size - sb.Len(); len(l) > rest {
			l = strings.Repeat("x", rest-1) + "\n"
		}
		sb.WriteString(l)
	}
	return []byte(sb.String())
}

// kiB names a size given in KiB as the tables do: "4 KB", "1 MB".
func kiB(kb int) string {
	if kb >= 1024 && kb%1024 == 0 {
		return commas(int64(kb>>10)) + " MB"
	}
	return commas(int64(kb)) + " KB"
}

// membersFile is a file of the members of m, one a line.
func (b *bench) membersFile(m memberSet) string {
	if f, ok := b.members[m]; ok {
		return f
	}
	name := filepath.Join(b.work, fmt.Sprintf("members.%d", m.n))
	if m.spread {
		name += ".spread"
	}
	var sb strings.Builder
	for i := 1; i <= m.n; i++ {
		sb.WriteString(m.addr(i))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(name, []byte(sb.String()), 0o644); err != nil {
		panic(err) // the work directory is gone: nothing else will work
	}
	b.members[m] = name
	return name
}

// filterList is a list of no members, policy open, for the filters.
func (b *bench) filterList() (string, error) {
	parent, err := os.MkdirTemp(b.work, "filters.")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(parent, "list")
	return dir, b.run(time.Minute, "", "", "mlm-newlist", "-p", "open", dir, listAddr)
}

func (b *bench) env() []string {
	env := []string{"PATH=" + b.bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "MLM_") {
			env = append(env, e)
		}
	}
	return env
}

func (b *bench) seq() int64 { return b.n.Add(1) }

// timeout is the time limit of the next run: the run timeout, or what is
// left of the budget; false when nothing is left.
func (b *bench) timeout() (time.Duration, bool) {
	left := time.Until(b.deadline)
	if left < time.Second || b.ctx.Err() != nil {
		return 0, false
	}
	return min(left, b.runTimeout), true
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// deliverySteps is a delivery row's repetitions, one a call, for
// interleave: reps of them, or fewer if one fails, times out or is
// skipped.
func (b *bench) deliverySteps(r *row, once func() (delivered, error)) func() bool {
	return func() bool {
		if r.status != "" || len(r.runs) >= b.reps {
			return false
		}
		d, err := once()
		b.logf("%s rep %d: %s", r.name(), len(r.runs)+1, fmtRun(d.u, err))
		switch {
		case errors.Is(err, errSkipped):
			r.status = "skipped (max-time)"
			return false
		case errors.Is(err, errTimeout):
			r.status = "timeout"
			r.partial = float64(d.st.rcpt) / d.u.wall.Seconds()
			r.note = fmt.Sprintf("killed at %.0f s with %s of %s received", d.u.wall.Seconds(),
				commas(int64(d.st.rcpt)), commas(int64(r.work)))
			return false
		case err != nil:
			r.fail(b, err)
			return false
		}
		r.runs = append(r.runs, d.u)
		r.note = fmt.Sprintf("%s tx", commas(int64(d.st.tx)))
		if strings.HasPrefix(r.who, "mlmmj") && d.st.tx > 0 {
			// What its wall time is made of: see the setup notes.
			idle := d.u.wall - d.u.user - d.u.sys - d.u.sink
			r.note += fmt.Sprintf("; %.1f ms a tx idle", float64(idle.Microseconds())/1000/float64(d.st.tx))
		}
		return len(r.runs) < b.reps
	}
}

// interleave runs rows' repetitions in turn, one of each row, then the
// next of each, until every row is done (each step reports whether its
// row has more): a machine that grows slower or faster as the bench
// runs then moves every row compared alike, not the row that ran last.
func (b *bench) interleave(steps ...func() bool) {
	for more := true; more; {
		more = false
		for _, step := range steps {
			if step() {
				more = true
			}
		}
	}
}

// limitSteps tries smtp-source, a run of once each, with each session
// count once, at once, then gives the runs of the best as steps, for
// interleave, reps of them afresh: the run that chose it is not one of
// them, which would pull the limit up by the luck of the choosing. What
// it sends is whole transactions: per recipients each.
func (b *bench) limitSteps(r *row, n, per int, sessions []int, once func(sessions int) (delivered, error)) func() bool {
	best, tried := b.limitSweep(r, n, per, sessions, once)
	if best != 0 {
		r.note = fmt.Sprintf("%s -s %d; once each: %s", r.toolName(), best, strings.Join(tried, ", "))
	}
	return func() bool {
		if best == 0 || r.status != "" || r.cut || len(r.runs) >= b.reps {
			return false
		}
		b.limitRun(r, best, tried, once)
		return r.status == "" && !r.cut && len(r.runs) < b.reps
	}
}

// limitSweep tries smtp-source (or the pipelining client) with each
// session count once, a run of once each, and returns the best, or 0
// with the row's status set, and what each gave.
func (b *bench) limitSweep(r *row, n, per int, sessions []int, once func(sessions int) (delivered, error)) (int, []string) {
	sent := (n + per - 1) / per * per
	r.work = float64(sent)
	// The row is named by what smtp-source sends: whole transactions.
	r.what = strings.Replace(r.what, commas(int64(n))+" rcpt", commas(int64(sent))+" rcpt", 1)
	best, bestRate := 0, 0.0
	var tried []string
	for _, s := range sessions {
		d, err := once(s)
		b.logf("%s -s %d: %s", r.name(), s, fmtRun(d.u, err))
		switch {
		case errors.Is(err, errSkipped):
			r.status = "skipped (max-time)"
			return 0, tried
		case errors.Is(err, errTimeout):
			tried = append(tried, fmt.Sprintf("s%d timeout", s))
			continue
		case err != nil:
			r.fail(b, err)
			return 0, tried
		}
		rate := r.work / d.u.wall.Seconds()
		tried = append(tried, fmt.Sprintf("s%d %s", s, commas(int64(rate))))
		if rate > bestRate {
			best, bestRate = s, rate
		}
	}
	if best == 0 {
		r.status, r.note = "timeout", strings.Join(tried, ", ")
	}
	return best, tried
}

// limitRun is one run of smtp-source at the session count chosen.
func (b *bench) limitRun(r *row, best int, tried []string, once func(sessions int) (delivered, error)) {
	d, err := once(best)
	b.logf("%s -s %d: %s", r.name(), best, fmtRun(d.u, err))
	switch {
	case errors.Is(err, errTimeout) && len(r.runs) == 0:
		r.status, r.partial = "timeout", float64(d.st.rcpt)/d.u.wall.Seconds()
		r.note = fmt.Sprintf("%s -s %d killed at %.0f s; once each: %s", r.toolName(), best, d.u.wall.Seconds(), strings.Join(tried, ", "))
	case errors.Is(err, errTimeout):
		r.cut = true // the runs it has still tell, though not exactly
	case errors.Is(err, errSkipped):
		r.status = "skipped (max-time)"
	case err != nil:
		r.fail(b, err)
	default:
		r.runs = append(r.runs, d.u)
	}
}

func fmtRun(u usage, err error) string {
	if err != nil {
		return fmt.Sprintf("%v (%.2f s)", err, u.wall.Seconds())
	}
	return fmt.Sprintf("%.3f s (%.3f s with the wrapper's start), CPU %.3f s, %d KiB", u.wall.Seconds(), u.outer.Seconds(), u.cpu().Seconds(), u.rssKB)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func set(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		m[strings.TrimSpace(f)] = true
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// row is one line of the table.
type row struct {
	who, what string
	unit      string
	work      float64 // units of unit's numerator per run
	argv      []string
	runs      []usage
	status    string // in place of the figures: timeout, FAILED, not run
	note      string
	partial   float64 // a rate estimated: from a run killed at its timeout, or from a smaller row (estimateFrom)
	cut       bool    // a run of the row was killed: its figures leave it out, and are no exact rate
	vsMlmmj   *row
	vsLimit   *row
	vsClient  *row
	tool      string  // of a row whose sessions are swept (limitSteps): its sender, "" for smtp-source
	intoPipe  bool    // a filter row whose timed runs write into a pipe the bench reads (intoPipe)
	wrote     []int64 // the octets each of those runs wrote into it
}

func (r *row) name() string { return strings.TrimSpace(r.who + " " + r.what) }

// toolName is the sender of a row whose sessions are swept.
func (r *row) toolName() string {
	if r.tool == "" {
		return "smtp-source"
	}
	return r.tool
}

func (r *row) fail(b *bench, err error) {
	r.status, r.note = "FAILED", err.Error()
	b.failures = append(b.failures, r.name()+": "+err.Error())
}

// record takes the outcome of one run of r: its figures, or a timeout or
// a failure, which end the row. It reports whether the row goes on.
func (r *row) record(b *bench, u usage, err error) bool {
	switch {
	case errors.Is(err, errTimeout):
		r.status, r.note = "timeout", fmt.Sprintf("killed at %.0f s", u.wall.Seconds())
		return false
	case err != nil:
		r.fail(b, err)
		return false
	}
	r.runs = append(r.runs, u)
	return true
}

// med is the median run, by wall time: every figure of one run, so that
// the CPU, the peak RSS and the sink's CPU shown are a run's own, not
// medians of each taken from different runs. Of an even number, the
// mean of the two middle runs, figure by figure.
func (r *row) med() usage {
	runs := slices.Clone(r.runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].wall < runs[j].wall })
	if len(runs)%2 == 1 {
		return runs[len(runs)/2]
	}
	a, b := runs[len(runs)/2-1], runs[len(runs)/2]
	return usage{
		wall:  (a.wall + b.wall) / 2,
		outer: (a.outer + b.outer) / 2,
		user:  (a.user + b.user) / 2,
		sys:   (a.sys + b.sys) / 2,
		rssKB: (a.rssKB + b.rssKB) / 2,
		sink:  (a.sink + b.sink) / 2,
	}
}

// rate is work a second, measured (exact) or estimated from a run cut
// short (not exact). A row that ended early, at a run killed at its
// timeout or at the budget, has only the runs before: their median is
// no median of the repetitions, and those that finished are the faster
// ones, so it is not exact either.
func (r *row) rate() (rate float64, exact bool) {
	if len(r.runs) > 0 && r.status != "FAILED" {
		return r.work / r.med().wall.Seconds(), !r.cut && r.status == ""
	}
	return r.partial, false
}

func ratio(a, b *row) string {
	if a == nil || b == nil {
		return ""
	}
	ra, ea := a.rate()
	rb, eb := b.rate()
	if ra <= 0 || rb <= 0 {
		return "-"
	}
	s := fmt.Sprintf("%.2f", ra/rb)
	if ra/rb >= 10 {
		s = fmt.Sprintf("%.0f", ra/rb)
	}
	if !ea || !eb {
		s = "~" + s
	}
	return s
}

func printTable(rows []*row) {
	head := []string{"run", "rate", "wall s", "CPU s", "peak RSS", "sink CPU s", "mlm/mlmmj", "mlm/limit", "mlm/client", "note"}
	var cells [][]string
	for _, r := range rows {
		c := []string{r.name(), "", "", "", "", "", ratio(r, r.vsMlmmj), ratio(r, r.vsLimit), ratio(r, r.vsClient), r.note}
		if rate, exact := r.rate(); exact {
			m := r.med()
			c[1] = fmt.Sprintf("%s %s", commas(int64(rate+0.5)), r.unit)
			c[2] = fmt.Sprintf("%.3f", m.wall.Seconds())
			c[3] = fmt.Sprintf("%.3f", m.cpu().Seconds())
			c[4] = fmt.Sprintf("%.1f MiB", float64(m.rssKB)/1024)
			if m.sink > 0 {
				c[5] = fmt.Sprintf("%.3f", m.sink.Seconds())
			}
		} else {
			c[1] = r.status
			if rate > 0 {
				c[1] = fmt.Sprintf("%s (~%s %s)", r.status, commas(int64(rate+0.5)), r.unit)
			}
		}
		cells = append(cells, c)
	}
	w := make([]int, len(head))
	for i, h := range head {
		w[i] = len(h)
	}
	for _, c := range cells {
		for i := 0; i < len(c)-1; i++ {
			w[i] = max(w[i], len([]rune(c[i])))
		}
	}
	line := func(c []string) {
		var sb strings.Builder
		for i, s := range c {
			if i == len(c)-1 {
				sb.WriteString(s)
				break
			}
			pad := strings.Repeat(" ", w[i]-len([]rune(s)))
			if i == 0 || i == len(c)-1 {
				sb.WriteString(s + pad)
			} else {
				sb.WriteString(pad + s)
			}
			sb.WriteString("  ")
		}
		fmt.Println(strings.TrimRight(sb.String(), " "))
	}
	line(head)
	for _, c := range cells {
		line(c)
	}
}

// planDelivery makes the delivery rows of sizes, batch and VERP as
// only asks, in the table's order, by "who/mode/size"; and, if verpN is
// not among sizes, mlm's and mlmmj's VERP rows of verpN members, among
// the VERP rows in the order of size (mlmmjVERP). ready readies each
// size's rows (bench.ready); a lone mlm row of verpN whose mlmmj row
// will not run is not run either: it is there to be compared with it.
func planDelivery(sizes []int, verpN int, only map[string]bool, ready func(map[string]*row)) ([]*row, map[string]*row) {
	var rows []*row
	by := map[string]*row{}
	for _, mode := range []string{"batch", "verp"} {
		if !only[mode] {
			continue
		}
		ns := sizes
		if mode == "verp" {
			ns = verpSizes(sizes, verpN)
		}
		for _, n := range ns {
			rs := deliveryRows(mode, n)
			alone := !slices.Contains(sizes, n)
			if alone {
				m := rs["mlm"]
				m.vsLimit, m.vsClient = nil, nil
				rs = map[string]*row{"mlm": m, "mlmmj": rs["mlmmj"]}
			}
			for _, who := range deliveryWhos {
				if r := rs[who]; r != nil {
					by[who+"/"+mode+"/"+fmt.Sprint(n)] = r
					rows = append(rows, r)
				}
			}
			ready(rs)
			if m, j := rs["mlm"], rs["mlmmj"]; alone && j.status != "" && m.status == "" {
				m.status = "not run (no mlmmj row to compare)"
			}
		}
	}
	return rows, by
}

// verpSizes is sizes and verpN (if not 0), smallest first, once each.
func verpSizes(sizes []int, verpN int) []int {
	ns := slices.Clone(sizes)
	if verpN > 0 {
		ns = append(ns, verpN)
	}
	return slices.Compact(slices.Sorted(slices.Values(ns)))
}

// mlmmjVERP runs mlmmj's VERP rows of by (planDelivery), smallest first,
// by run: with mlm's at verpN if verpN is not among sizes. mlmmj sends
// a transaction for each recipient, each waiting some 40 ms on the
// sink's delayed ACK (the setup notes): some 23 a second, 7 minutes a
// run at 10,000 members, past the run limit. So each row of a size
// measured gives its rate to the next sizes (estimateFrom, with the
// limit of the next run, if any is left): a size that rate would not
// end within it is not run, and the rate stands for its own, estimated.
func mlmmjVERP(by map[string]*row, sizes []int, verpN int, limit func() (time.Duration, bool), run func(n int, whos ...string)) {
	var last *row
	for _, n := range verpSizes(sizes, verpN) {
		j := by["mlmmj/verp/"+fmt.Sprint(n)]
		if j == nil {
			continue
		}
		if d, ok := limit(); ok {
			estimateFrom(j, last, n, d)
		}
		if slices.Contains(sizes, n) {
			run(n, "mlmmj")
		} else {
			// mlm's row of this size is there to be compared with
			// mlmmj's measured.
			if m := by["mlm/verp/"+fmt.Sprint(n)]; m != nil && j.status != "" && m.status == "" {
				m.status = "not run (no mlmmj row to compare)"
			}
			run(n, "mlm", "mlmmj")
		}
		if rate, exact := j.rate(); exact && rate > 0 {
			last = j
		}
	}
}

// estimateFrom marks r, a row of n members, not run if small, the same
// system's row of fewer members, gave a rate at which a run of n would
// take over 80% of limit, the time the next run may take (the run limit,
// or what is left of the budget; a run's time varies, and a run killed
// at the limit costs all of it for a rate of one cut run): small's rate
// stands for r's, estimated, for the ratios ("~"), and the note says so.
func estimateFrom(r, small *row, n int, limit time.Duration) {
	if r == nil || r.status != "" || small == nil || small.work >= float64(n) {
		return
	}
	rate, exact := small.rate()
	if !exact || rate <= 0 {
		return
	}
	took := time.Duration(float64(n) / rate * float64(time.Second))
	if took <= limit*4/5 {
		return
	}
	r.status, r.partial = "not run", rate
	r.note = fmt.Sprintf("would take ~%s a run, over 80%% of the %s a run may take now, at the rate of its %s-member row",
		took.Round(time.Second), max(limit.Round(time.Second), time.Second), commas(int64(small.work)))
}

// A deliverer runs the delivery rows of a mode and a size that compare,
// their repetitions in turn, and keeps the timeouts: a system's row of
// a size at or above one its row of the mode timed out at is not run.
type deliverer struct {
	rows     map[string]*row // by "who/mode/size" (planDelivery)
	timedOut timeouts
	// steps is a row's repetitions, one a call (bench.deliverySteps,
	// limitSteps), nil for none; interleave runs them in turn.
	steps      func(r *row, who, mode string, n int) func() bool
	interleave func(...func() bool)
}

// at runs whos' rows of mode at n.
func (d *deliverer) at(mode string, n int, whos ...string) {
	var ss []func() bool
	ran := map[string]*row{} // who -> its row, run at this size
	for _, who := range whos {
		r := d.rows[who+"/"+mode+"/"+fmt.Sprint(n)]
		if r == nil || r.status != "" {
			continue
		}
		if d.timedOut.skip(r, who+"/"+mode, n) {
			continue
		}
		if s := d.steps(r, who, mode, n); s != nil {
			ss, ran[who] = append(ss, s), r
		}
	}
	d.interleave(ss...)
	for who, r := range ran {
		if r.status == "timeout" {
			d.timedOut.note(who+"/"+mode, n)
		}
	}
}

// timeouts are the smallest sizes at which a system's rows of a mode
// timed out, by "who/mode".
type timeouts map[string]int

// note notes a timeout of key's row at n.
func (t timeouts) note(key string, n int) {
	if m, ok := t[key]; !ok || n < m {
		t[key] = n
	}
}

// before returns the size at which key's rows timed out, if it is n or
// smaller: a row of n then is not run.
func (t timeouts) before(key string, n int) (int, bool) {
	m, ok := t[key]
	return m, ok && m <= n
}

// skip marks r, a row of key's of n, not run if key's rows timed out at
// n or a smaller size, and says whether it did.
func (t timeouts) skip(r *row, key string, n int) bool {
	m, ok := t.before(key, n)
	if ok {
		r.status, r.note = "not run", fmt.Sprintf("%s timed out", commas(int64(m)))
	}
	return ok
}

// ready names the systems of a size's rows, and says why any will not
// run: not installed, or not in systems.
func (b *bench) ready(rs map[string]*row, systems map[string]bool) {
	if j := rs["mlmmj"]; j != nil && b.mlmmjReceive == "" {
		j.status = "mlmmj: not installed (apt-get install mlmmj)"
	} else if j != nil {
		j.who = "mlmmj " + b.mlmmjVersion
	}
	if l := rs["limit"]; l != nil && b.smtpSource == "" {
		l.status = "smtp-source not installed (apt-get install postfix)"
	}
	for who, r := range rs {
		if !systems[who] && r.status == "" {
			r.status = "not run (-systems)"
		}
	}
}

// atOnceWhere says where the table's readers find what mlm-run and its
// stages hold at once: the profile's memory line, the million row's
// note, both or neither ("").
func atOnceWhere(profile, million bool) string {
	switch {
	case profile && million:
		return "the million row's note, and \"memory at once\" in the profile below"
	case profile:
		return "\"memory at once\" in the profile below"
	case million:
		return "the million row's note"
	}
	return ""
}

// spreadDomains says how the domains of n members are spread
// (spreadAddr): ": at 10,000 members, D domains, S with one member".
func spreadDomains(n int) string {
	if n == 0 {
		return ""
	}
	count := memberSet{n, true}.domains()
	one := 0
	for _, c := range count {
		if c == 1 {
			one++
		}
	}
	return fmt.Sprintf(": at %s members, %s domains, %s with one member", commas(int64(n)), commas(int64(len(count))), commas(int64(one)))
}

// setupNotes says how each system was set up.
func setupNotes(b *bench, filters, rtt bool) []string {
	notes := []string{
		"mlm: mlm-newlist -p open; relay = the sink; maxrcpt 100; members by mlm-sub; the post through",
		"  mlm-accept -f -r DIR (as an alias runs it), then one `mlm-run DIR`: the default stages",
		"  (mlm-auth, mlm-hdr, mlm-members, mlm-enqueue; mlm-split, mlm-throttle, mlm-sendmail, mlm-enqueue),",
		"  mlm-sendmail at its default of " + strconv.Itoa(conns) + " connections (-c), which smtp-source's session counts include,",
		"  every queue write fsynced; VERP rows: stages/outgoing with `mlm-split -v .`",
		"mlm, mlm-run -D: the same, with `mlm-run -D DIR` started first, untimed, as mlm-run@.service keeps it, woken by",
		"  the record mlm-accept writes (it watches the queues); timed from mlm-accept's start until the list's queues",
		"  are empty, as a watch of them tells: the outgoing record removed, after mlm-sendmail's last 250 (one",
		"  mlm-run's row ends at its exit, a directory's fsync and a look at the other queues later); CPU: mlm-accept's",
		"  and the daemon's and its stages' meanwhile (/proc, in ticks of 10 ms); peak RSS: the daemon's and its",
		"  stages' over the daemon's whole life (not mlm-accept's, which the bench starts itself, for the timing)",
		"mlm-sendmail alone: the same list; the batches made first, untimed, by mlm-accept, mlm-auth, mlm-hdr,",
		"  mlm-members and mlm-split (-v for VERP); timed: `mlm-sendmail DIR` on them, its journal fsynced;",
		"  mlm/client is mlm end to end over it: what the queues and the other stages cost",
	}
	if b.mlmmjReceive != "" {
		notes = append(notes,
			"mlmmj "+b.mlmmjVersion+": list directory made by hand as mlmmj-make-ml does; control/listaddress, relayhost 127.0.0.1,",
			"  smtpport = the sink, maxverprecips 100 and an empty control/verp (batches of 100, no VERP);",
			"  VERP rows: no control/verp, mlmmj's default (one transaction per recipient, sender list+bounces-N-rcpt);",
			"  subscribers in subscribers.d/m; the post through `mlmmj-receive -F -L DIR -s SENDER`",
			"  (mlmmj-process, mlmmj-send); timed until every process of it has exited;",
			"  mlmmj-send writes a transaction's final \".\" in a write of its own, Nagle's algorithm on, so the",
			"  kernel holds it until the sink's delayed ACK, some 40 ms, before the 250: most of its wall time, as",
			"  the note's idle a transaction (wall less its CPU and the sink's) shows; mlm-sendmail sets TCP_NODELAY.",
			"  That is mlmmj 1.3.0 as Debian ships it, and the ratio mlm/mlmmj is mostly that wait, not CPU")
	}
	if b.mlmmjReceive != "" && b.verp {
		notes[len(notes)-1] += ";"
		notes = append(notes,
			"  its VERP rows smallest first, a size run only if the rate of the last one measured would end a run",
			"  within 80% of the run limit, else that rate standing for its own, estimated (\"~\")")
		if b.verpN > 0 {
			notes[len(notes)-1] += ": " + commas(int64(b.verpN)) + " members (-mlmmj-verp)"
			notes = append(notes, "  among them, with mlm's row of as many beside it if -members has no such size")
		}
	}
	if b.smtpSource != "" {
		notes = append(notes,
			"limit: smtp-source -m N/r -r r -s S -d -N -F post (connections kept, distinct recipients, no PIPELINING),",
			"  each S tried once, then the best S run afresh as often as the other rows; smtp-source waits for the",
			"  reply to each command, which mlm-sendmail pipelines (RFC 2920), so mlm/limit over 1 is that, not room",
			"  under a ceiling: the nearest to one here is the pipelining client")
	}
	if b.pipe {
		notes = append(notes,
			"pipelining client: the bench's own (pipe.go), which does nothing but send: MAIL, the RCPTs and DATA in",
			"  one write (RFC 2920), then the message and its final dot with the next transaction's commands, the same",
			"  members and sink as mlm's, its runs checked as mlm's are; each session count tried once, the best run",
			"  afresh; in mlm-sendmail alone's row, mlm/client is mlm-sendmail alone over it")
	}
	if rtt {
		notes = append(notes, "round trip rows: the sink behind a relay in the bench that holds what it passes, each way, for half",
			"  the round trip; mlm-sendmail alone as above; smtp-source -s "+strconv.Itoa(conns)+" (as many connections as mlm-sendmail)")
	}
	if filters {
		notes = append(notes, "filters: the list as above, no members, so the rows are each filter's cost a record, not",
			"  the work of a list with members: mlm-auth reads no member file (the list is open), mlm-members",
			"  passes the one recipient and expands none (its expansion is the 1,000,000-member row), mlm-split",
			"  has one recipient a record; mlm-throttle DIR has no rate set, so it charges nothing;",
			"  with -r 1000000000 every record is charged in the state file under flock, at a rate that never waits;",
			"  the timed runs write to /dev/null, or into a pipe; one more run of each, untimed, into a pipe, checks what",
			"  it writes: cat, floor, pass and mlm-throttle the input byte for byte, mlm-check nothing, mlm-unwrap the",
			"  messages' octets, the others a valid stream of as many records, one recipient each, the marks of its",
			"  stages in every one (mlm-auth's trace, mlm-hdr's List-Id, mlm-members' state and trace, mlm-split's",
			"  parent); and each timed run into a pipe must have written as many octets as it")
		if b.chain {
			notes = append(notes, "  the chain: `mlm-pipeline mlm-auth DIR -- mlm-hdr DIR -- mlm-members DIR`, checked as they are")
		}
	}
	notes = append(notes, "members: m0000001@d1.example and on, in 10 domains, so that each domain's batches are full but",
		"  one: mlm-split batches by domain (mlmmj, smtp-source and the pipelining client do not), and this is its best",
		"  case; spread rows: the same post to members whose domains are spread as a list of people's are, 30% at",
		"  gmail.example, 10% each at yahoo.example and outlook.example, the rest over n/2 small domains, each",
		"  drawn by a hash of the member's number"+spreadDomains(b.spreadN)+", mlm and mlmmj",
		"  on the same members; there mlm-split puts the batches of the small domains together (its -d), and",
		"  mlm/limit is to the limit row's",
		"each run is checked: every member once (no other address), at most 100 per transaction",
		"  and no more transactions than each domain's full ones and one part-full; VERP: one per transaction,",
		"  a distinct sender each, which names its recipient (+local=domain@); every transaction's body the post's;",
		"  queues empty after the run")
	if b.millionN > 0 {
		notes = append(notes, "million row: mlm as its rows above, to "+commas(int64(b.millionN))+" members in the 10 domains")
		if b.atOnce.million {
			notes[len(notes)-1] += "; \"at once\" is what"
			notes = append(notes, "  mlm-run and its stages held together, their resident sets added up, in one run more under the bench's",
				fmt.Sprintf("  sampler (every %v, a page they share counted once for each; a peak between two samples is missed)", sampleEvery))
		}
	}
	if b.tmpfsDisk {
		notes = append(notes, "WARNING: the lists and queues are on tmpfs, where fsync costs nothing: give -disk a real disk")
	}
	return notes
}
