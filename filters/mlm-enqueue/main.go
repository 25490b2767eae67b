// mlm-enqueue writes each record of an MLM1 stream durably into a queue
// directory, one file per record named by its id. See mlm-enqueue(1).
package main

import (
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
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

const prog = "mlm-enqueue"

type args struct {
	Delay time.Duration `short:"t" placeholder:"DURATION" help:"Make the records ready only after DURATION (e.g. 10m)."`
	Queue string        `arg:"" placeholder:"QUEUEDIR" help:"The queue directory (with tmp/, new/, cur/, bad/)."`
}

func main() {
	var a args
	cli.Main(prog, "Write an MLM1 stream into a queue, one file per record.", &a, func() error {
		return run(&a, os.Stdin)
	}, cli.OneCPU)
}

// run queues every record of in; it returns only once each is durable.
func run(a *args, in io.Reader) error {
	if a.Delay < 0 {
		return sysexit.Errorf(sysexit.Usage, "--delay: %v is negative", a.Delay)
	}
	// An empty name is no directory (open(2)), not the working one.
	if _, err := os.Stat(filepath.Join(a.Queue, "new")); a.Queue == "" || errors.Is(err, fs.ErrNotExist) {
		return sysexit.Errorf(sysexit.TempFail, "%s: not a queue directory", listdir.Name(a.Queue))
	}
	if err := listdir.CheckUser(a.Queue); err != nil {
		return err
	}
	q := queue.New(a.Queue)
	var notBefore time.Time
	if a.Delay > 0 {
		notBefore = clock.Now().Add(a.Delay)
	}
	r := stream.NewReader(in)
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
