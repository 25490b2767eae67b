package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	listAddr = "list@bench.example"
	poster   = "poster@example.org"
	batch    = 100  // recipients per transaction, for every system
	postSize = 4096 // octets of the post every system sends
)

// postBody is the body of that post, which every transaction must carry.
var postBody = func() []byte {
	p := post(postSize)
	return p[bytes.Index(p, []byte("\n\n"))+2:]
}()

// delivered is the outcome of one delivery run: what it took and what
// the sink got.
type delivered struct {
	u  usage
	st dumpStats
}

// conns is mlm-sendmail's default count of connections (its -c), at
// which mlm runs: the limit's session counts include it, and the rtt
// rows' smtp-source runs at it.
const conns = 20

// mlmOpts vary an mlm run.
type mlmOpts struct {
	verp       bool          // stages/outgoing with mlm-split -v
	client     bool          // mlm-sendmail alone on batches made first
	wrapStages string        // wrap every stage, writing its rusage to this file
	runPrefix  []string      // run mlm-run under this (perf, strace)
	disk       string        // where the list goes, if not in the work directory
	rtt        time.Duration // the sink behind a lag of this round trip
	spread     bool          // the members' domains spread (spreadAddr)
	env        []string      // added to mlm-accept's and mlm-run's environment
}

// newMLMList makes a list directory of n members that delivers to port.
func (b *bench) newMLMList(n, port int, o mlmOpts) (string, error) {
	where := b.work
	if o.disk != "" {
		where = o.disk
	}
	parent, err := os.MkdirTemp(where, "mlm.")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(parent, "list")
	if err := b.run(time.Minute, "", "", "mlm-newlist", "-p", "open", "-o", "owner@bench.example", dir, listAddr); err != nil {
		return "", err
	}
	files := map[string]string{
		"relay":   fmt.Sprintf("127.0.0.1:%d\n", port),
		"maxrcpt": fmt.Sprintf("%d\n", batch),
	}
	if n > 0 {
		if err := b.run(5*time.Minute, b.membersFile(memberSet{n, o.spread}), "", "mlm-sub", dir); err != nil {
			return "", err
		}
	}
	split := "mlm-split ."
	if o.verp {
		split = "mlm-split -v ."
	}
	if o.verp || o.wrapStages != "" {
		files["stages/outgoing"] = b.stages(o.wrapStages, split, "mlm-throttle .", "mlm-sendmail .", "mlm-enqueue -t 5m -m 1G queue/retry")
	}
	if o.wrapStages != "" {
		files["stages/incoming"] = b.stages(o.wrapStages, "mlm-auth .", "mlm-hdr .", "mlm-members .", "mlm-enqueue queue/outgoing")
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// stages is the text of a stages file; with wrap, each stage runs under
// the rusage wrapper.
func (b *bench) stages(wrap string, lines ...string) string {
	var sb strings.Builder
	for _, l := range lines {
		if wrap != "" {
			sb.WriteString(b.self + " " + wrapFlag + " " + wrap + " -- ")
		}
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

// mlmOnce delivers the post to n members through mlm: mlm-accept as the
// MTA runs it, then one mlm-run of the list with its stages, to the sink.
// With o.client, only mlm-sendmail is timed, the list's pipelining
// client, journal included: the batches are made first, untimed, by the
// stages mlm-run would run before it (mlm-auth, mlm-hdr, mlm-members,
// mlm-split). What the stages and queues cost end to end is the
// difference.
func (b *bench) mlmOnce(n int, o mlmOpts) (delivered, error) {
	var d delivered
	s, dir, cleanup, err := b.mlmRun(n, o)
	defer cleanup()
	if err != nil {
		return d, err
	}
	who := "mlm"
	if o.client {
		who = "mlm-sendmail alone"
		if err := b.batches(dir, o.verp); err != nil {
			return d, err
		}
	}
	timeout, ok := b.timeout()
	if !ok {
		return d, errSkipped
	}
	syscall.Sync() // the setup's dirty pages are not the run's
	start := time.Now()
	var u1 usage
	if o.client {
		u1, err = b.measure(timeout, job{argv: []string{"mlm-sendmail", dir},
			stdin: filepath.Join(filepath.Dir(dir), "batches.mlm")})
	} else {
		u1, err = b.measure(timeout, job{
			argv:  []string{"mlm-accept", "-f", poster, "-r", listAddr, dir},
			stdin: b.post,
			env:   o.env,
		})
	}
	if err == nil && !o.client {
		if o.wrapStages != "" {
			appendLine(o.wrapStages, "mlm-accept", u1)
		}
		u2, err2 := b.measure(timeout-time.Since(start), job{
			argv: append(append([]string{}, o.runPrefix...), "mlm-run", dir),
			dir:  filepath.Dir(dir),
			env:  o.env,
		})
		if o.wrapStages != "" && err2 == nil {
			appendLine(o.wrapStages, treeLine, u2)
		}
		u1, err = u1.add(u2), err2
	}
	d.u = u1
	if errors.Is(err, errTimeout) {
		d.st, _ = countDump(s.dump, nil, nil)
		return d, err
	}
	if err != nil {
		return d, err
	}
	return checked(d, s, dir, who, memberSet{n, o.spread}, o.verp)
}

// mlmRun makes what a run of mlm's delivers with: a fresh sink, behind a
// lag with o.rtt, and a list of n members in a directory of its own that
// delivers to it. cleanup, never nil, removes them.
func (b *bench) mlmRun(n int, o mlmOpts) (s *sink, dir string, cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if s, err = b.startSink(); err != nil {
		return nil, "", cleanup, err
	}
	undo = append(undo, s.remove, s.stop)
	port := s.port
	if o.rtt > 0 {
		lg, err := startLag(s.port, o.rtt)
		if err != nil {
			return nil, "", cleanup, err
		}
		undo = append(undo, lg.close)
		port = lg.port
	}
	if dir, err = b.newMLMList(n, port, o); err != nil {
		return nil, "", cleanup, err
	}
	undo = append(undo, func() { os.RemoveAll(filepath.Dir(dir)) })
	return s, dir, cleanup, nil
}

// checked ends a run of mlm's that went well: the list's queues must be
// empty, the sink's CPU is counted, and what it received must be the
// post to every member once (checkDelivery).
func checked(d delivered, s *sink, dir, who string, m memberSet, verp bool) (delivered, error) {
	if err := queuesEmpty(filepath.Join(dir, "queue")); err != nil {
		return d, err
	}
	d.u.sink = s.cpu()
	var err error
	if d.st, err = countDump(s.dump, m.has(), verpOf("mlm", verp)); err != nil {
		return d, err
	}
	return d, checkDelivery(who, m, verp, d.st)
}

// batches makes the delivery records of the post to the list in dir, as
// mlm-run's stages would, in batches.mlm beside it.
func (b *bench) batches(dir string, verp bool) error {
	split := "mlm-split ."
	if verp {
		split = "mlm-split -v ."
	}
	const prep = `mlm-accept -o ../post.mlm -f "$1" -r "$2" . < "$3" &&
mlm-auth . < ../post.mlm > ../auth.mlm && mlm-hdr . < ../auth.mlm > ../hdr.mlm &&
mlm-members . < ../hdr.mlm > ../expanded.mlm && $4 < ../expanded.mlm > ../batches.mlm`
	return b.run(5*time.Minute, "", dir, "sh", "-c", prep, "sh", poster, listAddr, b.post, split)
}

// treeLine names the line of the whole mlm-run tree in a profile.
const treeLine = "=mlm-run-tree"

// appendLine adds a line for the profile's table.
func appendLine(file, name string, u usage) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(procLine{name: name, user: u.user, sys: u.sys, rssKB: u.rssKB, wall: u.wall, faults: u.faults}.String())
}

// queuesEmpty fails if any queue of an mlm list still holds a record.
func queuesEmpty(qdir string) error {
	qs, err := os.ReadDir(qdir)
	if err != nil {
		return err
	}
	for _, q := range qs {
		for _, sub := range []string{"new", "cur", "tmp", "bad"} {
			es, err := os.ReadDir(filepath.Join(qdir, q.Name(), sub))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			if len(es) > 0 {
				return fmt.Errorf("mlm: queue/%s/%s holds %d files after the run (%s)", q.Name(), sub, len(es), es[0].Name())
			}
		}
	}
	return nil
}

// checkDelivery fails a run unless every member got the post once, in
// transactions of the right size.
func checkDelivery(who string, m memberSet, verp bool, st dumpStats) error {
	n := m.n
	switch {
	case st.rcpt != n:
		return fmt.Errorf("%s: the sink got %d recipients of %d", who, st.rcpt, n)
	case st.dups > 0:
		return fmt.Errorf("%s: %d recipients got the post twice (%s)", who, st.dups, st.example)
	case st.strange > 0:
		return fmt.Errorf("%s: %d recipients are no members (%s)", who, st.strange, st.example)
	case st.badBody > 0:
		return fmt.Errorf("%s: %d of %d transactions did not carry the post's body (the first: transaction %d)", who, st.badBody, st.tx, st.firstBad)
	case verp && st.maxPerTx != 1:
		return fmt.Errorf("%s: VERP, yet a transaction had %d recipients", who, st.maxPerTx)
	case verp && st.senders != n:
		return fmt.Errorf("%s: VERP, yet %d distinct senders for %d recipients", who, st.senders, n)
	case verp && st.notVERP > 0:
		return fmt.Errorf("%s: VERP, yet %d recipients' senders do not name them (%s)", who, st.notVERP, st.notVERPOne)
	case !verp && st.maxPerTx > batch:
		return fmt.Errorf("%s: a transaction had %d recipients, over %d", who, st.maxPerTx, batch)
	case !verp && st.tx > m.maxTx():
		return fmt.Errorf("%s: %d transactions for %d recipients in batches of %d, more than %d, each domain's full ones and one part-full", who, st.tx, n, batch, m.maxTx())
	}
	return nil
}

// newMlmmjList makes an mlmmj 1.3.0 list directory by hand, as
// mlmmj-make-ml would (without touching /etc/aliases): the directories,
// control/listaddress, the relay and its port, the subscribers in
// subscribers.d/ by first letter (all start with m). Batched: an empty
// control/verp (no VERP, by neither mlmmj nor the server) and
// control/maxverprecips 100. VERP: no control/verp, mlmmj's default, one
// transaction per recipient, the recipient in the envelope sender.
func (b *bench) newMlmmjList(m memberSet, port int, verp bool) (string, error) {
	dir, err := os.MkdirTemp(b.work, "mlmmj.")
	if err != nil {
		return "", err
	}
	for _, d := range []string{"incoming", "queue", "queue/discarded", "archive", "text", "subconf",
		"unsubconf", "bounce", "control", "moderation", "subscribers.d", "digesters.d", "requeue", "nomailsubs.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	files := map[string]string{
		"index":                 "",
		"control/listaddress":   listAddr + "\n",
		"control/owner":         "owner@bench.example\n",
		"control/relayhost":     "127.0.0.1\n",
		"control/smtpport":      fmt.Sprintf("%d\n", port),
		"control/maxverprecips": fmt.Sprintf("%d\n", batch),
	}
	if !verp {
		files["control/verp"] = ""
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	if err := copyFile(b.membersFile(m), filepath.Join(dir, "subscribers.d", "m")); err != nil {
		return "", err
	}
	return dir, nil
}

// mlmmjOnce delivers the post to n members through mlmmj: mlmmj-receive
// -F as the MTA alias runs it (without forking), which runs
// mlmmj-process and mlmmj-send, to the sink.
func (b *bench) mlmmjOnce(m memberSet, verp bool) (delivered, error) {
	var d delivered
	s, err := b.startSink()
	if err != nil {
		return d, err
	}
	defer s.remove()
	defer s.stop()
	dir, err := b.newMlmmjList(m, s.port, verp)
	if err != nil {
		return d, err
	}
	defer os.RemoveAll(dir)
	timeout, ok := b.timeout()
	if !ok {
		return d, errSkipped
	}
	syscall.Sync()
	d.u, err = b.measure(timeout, job{
		argv:  []string{b.mlmmjReceive, "-F", "-L", dir, "-s", poster},
		stdin: b.post,
	})
	if errors.Is(err, errTimeout) {
		d.st, _ = countDump(s.dump, nil, nil)
		return d, err
	}
	if err != nil {
		return d, err
	}
	// mlmmj-send returns once the last QUIT is answered; anything it
	// could not send waits in requeue/.
	for _, q := range []string{"requeue", "queue", "moderation"} {
		es, _ := os.ReadDir(filepath.Join(dir, q))
		for _, e := range es {
			if e.Name() != "discarded" {
				return d, fmt.Errorf("mlmmj: %s/%s left after the run", q, e.Name())
			}
		}
	}
	if es, _ := os.ReadDir(filepath.Join(dir, "queue", "discarded")); len(es) > 0 {
		return d, fmt.Errorf("mlmmj: the post was discarded (queue/discarded/%s)", es[0].Name())
	}
	d.u.sink = s.cpu()
	d.st, err = countDump(s.dump, m.has(), verpOf("mlmmj", verp))
	if err != nil {
		return d, err
	}
	return d, checkDelivery("mlmmj", m, verp, d.st)
}

// limitOnce has smtp-source push n recipients, per recipients a
// transaction, over sessions connections kept open (-d), the same post
// (-F), every recipient distinct (-N); with rtt, to a sink behind a lag
// of that round trip.
func (b *bench) limitOnce(n, per, sessions int, rtt time.Duration) (delivered, error) {
	msgs := (n + per - 1) / per
	anyone := func(string) bool { return true } // (for the count of duplicates)
	d, err := b.sinkRun(rtt, anyone, nil, func(port int) []string {
		return []string{b.smtpSource,
			"-m", fmt.Sprint(msgs), "-r", fmt.Sprint(per), "-s", fmt.Sprint(sessions), "-d", "-N",
			"-F", b.post, "-f", poster, "-t", "m@d1.example", "-M", "bench.example",
			fmt.Sprintf("127.0.0.1:%d", port)}
	})
	if err != nil {
		return d, err
	}
	return d, checkSource(d.st, msgs, per)
}

// sinkRun starts a fresh sink, behind a lag of that round trip if rtt is
// over 0, runs argv(port) against it under the run's time limit, and
// returns the run, with the sink's CPU, and the sink's dump counted by
// member and senders (countDump); for a run cut short, what the sink had
// by then, and errTimeout.
func (b *bench) sinkRun(rtt time.Duration, member func(string) bool, verp verpForm, argv func(port int) []string) (delivered, error) {
	var d delivered
	s, err := b.startSink()
	if err != nil {
		return d, err
	}
	defer s.remove()
	defer s.stop()
	port := s.port
	if rtt > 0 {
		lg, err := startLag(s.port, rtt)
		if err != nil {
			return d, err
		}
		defer lg.close()
		port = lg.port
	}
	timeout, ok := b.timeout()
	if !ok {
		return d, errSkipped
	}
	d.u, err = b.measure(timeout, job{argv: argv(port)})
	if errors.Is(err, errTimeout) {
		d.st, _ = countDump(s.dump, nil, nil)
		return d, err
	}
	if err != nil {
		return d, err
	}
	d.u.sink = s.cpu()
	d.st, err = countDump(s.dump, member, verp)
	return d, err
}

// pipeOnce has the bench's pipelining client (pipeFlag) send the post to
// the n members of the lists, per recipients a transaction, over
// sessions connections; with verp, a sender a transaction. Its run is
// checked as mlm's is.
func (b *bench) pipeOnce(n, per, sessions int, verp bool) (delivered, error) {
	d, err := b.sinkRun(0, tenDomains(n).has(), verpOf("pipelining client", verp), func(port int) []string {
		return []string{b.self, pipeFlag, fmt.Sprintf("127.0.0.1:%d", port),
			fmt.Sprint(sessions), fmt.Sprint(per), fmt.Sprint(n), b.post}
	})
	if err != nil {
		return d, err
	}
	return d, checkDelivery("pipelining client", tenDomains(n), verp, d.st)
}

// checkSource fails a run of smtp-source unless the sink got msgs
// transactions of per recipients each, every recipient distinct (-N),
// every one with the post's body.
func checkSource(st dumpStats, msgs, per int) error {
	if st.rcpt != msgs*per || st.tx != msgs {
		return fmt.Errorf("smtp-source: the sink got %d recipients in %d messages, not %d in %d", st.rcpt, st.tx, msgs*per, msgs)
	}
	if st.dups > 0 {
		return fmt.Errorf("smtp-source: %d recipients came more than once (%s), not distinct", st.dups, st.example)
	}
	if st.badBody > 0 {
		return fmt.Errorf("smtp-source: %d of %d transactions did not carry the post's body (the first: transaction %d)", st.badBody, st.tx, st.firstBad)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
