// mlm-enqueue writes each record of an MLM1 stream durably into a queue
// directory, one file per record named by its id. See mlm-enqueue(1).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mlm/lib/cli"
	"mlm/lib/clock"
	"mlm/lib/listdir"
	"mlm/lib/queue"
	"mlm/lib/spool"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-enqueue"

type args struct {
	Pass  bool          `short:"p" help:"Also pass each record on, on standard output, once it is durable in the queue."`
	Delay time.Duration `short:"t" placeholder:"DURATION" help:"Make the records ready only after DURATION (e.g. 10m)."`
	Max   string        `short:"m" placeholder:"SIZE" help:"Take no more records once the queue holds SIZE octets (e.g. 1G), waiting and claimed: exit 75, those before queued."`
	Queue string        `arg:"" placeholder:"QUEUEDIR" help:"The queue directory (with tmp/, new/, cur/, bad/)."`
}

func main() {
	var a args
	cli.Main(prog, "Write an MLM1 stream into a queue, one file per record.", &a, func() error {
		if a.Pass {
			// With -p, its standard output carries its work, the
			// records passed on: one closed (">&-") lost them,
			// status 0 (R89 F5).
			if err := cli.CheckStdout(); err != nil {
				return err
			}
		}
		return run(&a, os.Stdin, os.Stdout)
	}, cli.OneCPU)
}

// run queues every record of in; it returns only once each is durable.
// With -p it writes each to out too, once it is.
func run(a *args, in io.Reader, out io.Writer) error {
	if a.Delay < 0 {
		return sysexit.Errorf(sysexit.Usage, "--delay: %v is negative", a.Delay)
	}
	// An empty name is no directory (open(2)), not the working one.
	if _, err := os.Stat(filepath.Join(a.Queue, "new")); a.Queue == "" || errors.Is(err, fs.ErrNotExist) {
		return sysexit.Errorf(sysexit.TempFail, "%s: not a queue directory", listdir.Name(a.Queue))
	}
	if err := listdir.CheckQueueRW(a.Queue); err != nil {
		return err
	}
	q := queue.New(a.Queue)
	room, err := roomIn(q, a.Queue, a.Max)
	if err != nil {
		return err
	}
	var notBefore time.Time
	if a.Delay > 0 {
		notBefore = clock.Now().Add(a.Delay)
	}
	r := stream.NewReader(in)
	if a.Pass {
		return pass(r, q, notBefore, out, room)
	}
	return r.Each(func(h *stream.Header) error {
		if err := room.check(q, h.ID); err != nil {
			return err
		}
		var n int64
		found, err := q.PutFound(h.ID, notBefore, func(f io.Writer) error {
			w := stream.NewWriter(&counter{f, &n})
			if err := stream.CopyRecord(w, r, h); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
		room.add(found, n)
		return nil
	})
}

// room is what -m leaves of a queue: its octets, waiting and claimed,
// counted when the run starts, and those of each record the run puts
// there since. Without -m it has no bound. A post to a million members
// that the relay defers whole makes a retry record of every batch,
// each with its own copy of the message: 100 GB of a 10 MiB post, with
// no bound (R79); bounded, the post waits in its queue instead (75),
// and its delivery journal keeps a run tried again from sending what
// went before.
type room struct {
	queue    string
	max, has int64
}

// roomIn parses -m's SIZE and counts what q holds against it.
func roomIn(q *queue.Queue, name, size string) (*room, error) {
	rm := &room{queue: listdir.Name(name)}
	if size == "" {
		return rm, nil
	}
	max, err := parseSize(size)
	if err != nil {
		return nil, sysexit.Errorf(sysexit.Usage, "-m: %q: %v", size, err)
	}
	_, has, _, err := q.Holds(math.MaxInt, max)
	if err != nil {
		return nil, err
	}
	rm.max, rm.has = max, has
	return rm, nil
}

// check says whether the queue may take the record id: while it holds
// less than -m's SIZE, however large that record; and past it, if it
// holds the record already, which adds nothing (a post run again finds
// the retry records of its first run there: R80).
func (rm *room) check(q *queue.Queue, id string) error {
	if rm.max > 0 && rm.has >= rm.max && !q.Has(id) {
		return sysexit.Errorf(sysexit.TempFail, "%s: queue full: %d octets or more, as -m allows; the rest waits", rm.queue, rm.max)
	}
	return nil
}

// add counts a record of n octets put in the queue, unless it was
// there already.
func (rm *room) add(found bool, n int64) {
	if !found {
		rm.has += n
	}
}

// parseSize reads a SIZE: octets, or with a suffix K, M or G, of 1024,
// 1024² or 1024³; at least 1.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || strings.HasPrefix(s, "+") {
		return 0, errors.New("not a positive number of octets, K, M or G")
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// counter counts the octets written through it into *n.
type counter struct {
	w io.Writer
	n *int64
}

func (c *counter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	*c.n += int64(k)
	return k, err
}

// pass queues every record of r, as run does, and writes each to out
// once it is durable in q (or was there already): a stage in the middle
// of a pipeline, that keeps a copy of what goes on, in a queue of its
// own (an archive's). Each record is held in a spool meanwhile, in
// memory up to spool.MemLimit and beyond that in a temporary file, so
// that what goes on is what was queued, and only once it is: a record
// the next stage acted on that the queue then lost, or took twice when
// the run was tried again, would make the copy differ from what went on.
func pass(r *stream.Reader, q *queue.Queue, notBefore time.Time, out io.Writer, room *room) error {
	held := spool.New(spool.MemLimit)
	defer held.Close()
	bw := bufio.NewWriterSize(out, 64<<10)
	err := r.Each(func(h *stream.Header) error {
		if err := room.check(q, h.ID); err != nil {
			return err
		}
		if err := held.Reset(); err != nil {
			return err
		}
		w := stream.NewWriter(held)
		if err := stream.CopyRecord(w, r, h); err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
		var n int64
		found, err := q.PutFound(h.ID, notBefore, func(f io.Writer) error {
			var err error
			n, err = io.Copy(f, held.Reader())
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
		room.add(found, n)
		// What goes on is what the queue holds: a record found there
		// already goes on as it was queued (a run tried again gives it
		// with later trace times, from the stages before); one done
		// with since, gone from the queue, as it came.
		var src io.Reader = held.Reader()
		if found {
			f, err := q.Found(h.ID)
			if err != nil {
				return fmt.Errorf("%s: %w", h.ID, err)
			}
			if f != nil {
				defer f.Close()
				src = f
			}
		}
		_, err = io.Copy(bw, src)
		return sysexit.Temp(err)
	})
	// What was queued goes on, whatever stopped the rest.
	if ferr := bw.Flush(); err == nil {
		err = sysexit.Temp(ferr)
	}
	return err
}
