// mlm-enqueue writes each record of an MLM1 stream durably into a queue
// directory, one file per record named by its id. See mlm-enqueue(1).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	Queue string        `arg:"" placeholder:"QUEUEDIR" help:"The queue directory (with tmp/, new/, cur/, bad/)."`
}

func main() {
	var a args
	cli.Main(prog, "Write an MLM1 stream into a queue, one file per record.", &a, func() error {
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
	var notBefore time.Time
	if a.Delay > 0 {
		notBefore = clock.Now().Add(a.Delay)
	}
	r := stream.NewReader(in)
	if a.Pass {
		return pass(r, q, notBefore, out)
	}
	return r.Each(func(h *stream.Header) error {
		err := q.Put(h.ID, notBefore, func(f io.Writer) error {
			w := stream.NewWriter(f)
			if err := stream.CopyRecord(w, r, h); err != nil {
				return err
			}
			return w.Flush()
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
		return nil
	})
}

// pass queues every record of r, as run does, and writes each to out
// once it is durable in q (or was there already): a stage in the middle
// of a pipeline, that keeps a copy of what goes on, in a queue of its
// own (an archive's). Each record is held in a spool meanwhile, in
// memory up to spool.MemLimit and beyond that in a temporary file, so
// that what goes on is what was queued, and only once it is: a record
// the next stage acted on that the queue then lost, or took twice when
// the run was tried again, would make the copy differ from what went on.
func pass(r *stream.Reader, q *queue.Queue, notBefore time.Time, out io.Writer) error {
	held := spool.New(spool.MemLimit)
	defer held.Close()
	bw := bufio.NewWriterSize(out, 64<<10)
	err := r.Each(func(h *stream.Header) error {
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
		found, err := q.PutFound(h.ID, notBefore, func(f io.Writer) error {
			_, err := io.Copy(f, held.Reader())
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", h.ID, err)
		}
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
