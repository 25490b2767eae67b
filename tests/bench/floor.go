package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// floorFlag, as the only argument, makes this program the floor row's
// filter: it reads its input as the Reader does (1 MiB at a time),
// looks at every octet once to count the LFs (bytes.Count, vectorised
// as the Reader's scan is), copies every octet into an output buffer as
// a Writer does a run of under 64 KiB, and writes that out, 1 MiB at a
// time.
// It parses nothing: no envelope line, no header, nothing per record.
// So at 4 KB posts, to /dev/null, it is about the least a filter that
// checks every line and passes every octet on can cost, and what is left
// below it for 0.5 of cat is all of a filter's work for each record. It
// is no floor at 1 MB posts or into a pipe: the stream's Writer writes
// a run of 64 KiB or more from where it is, not copied (writeLines),
// and, into a pipe, its buffer a pipe's worth at a time (fit), so pass
// and filters can come out above it there.
const floorFlag = "-floor"

func floorMain() int {
	in := make([]byte, 1<<20)
	out := make([]byte, 1<<20)
	lfs := 0
	for {
		n, err := os.Stdin.Read(in)
		if n > 0 {
			lfs += bytes.Count(in[:n], []byte{'\n'})
			copy(out, in[:n])
			if _, werr := os.Stdout.Write(out[:n]); werr != nil {
				fmt.Fprintf(os.Stderr, "bench %s: %v\n", floorFlag, werr)
				return 75
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", floorFlag, err)
			return 75
		}
	}
	if lfs == 0 {
		fmt.Fprintf(os.Stderr, "bench %s: no lines in the input\n", floorFlag)
		return 65
	}
	return 0
}

// passFlag, as the only argument, makes this program the pass row's
// filter: the stream's Reader and Writer and nothing between them, each
// record read, checked and written as it came (stream.CopyRecord), as a
// filter passes on what it leaves alone. It is the least a filter that
// writes the stream through the Writer costs: what a filter costs above
// it is its own work for each record. mlm-split writes a message of 64
// KiB or more past the Writer, with sendfile(2) from its input file
// (lib/spool): into a pipe it can cost less than pass at large posts,
// and to /dev/null, where a write costs nothing, more.
const passFlag = "-pass"

func passMain() int {
	r, w := stream.NewReader(os.Stdin), stream.NewWriter(os.Stdout)
	r.ReuseHeader()
	err := r.Each(func(h *stream.Header) error { return stream.CopyRecord(w, r, h) })
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", passFlag, err)
		return sysexit.Code(err)
	}
	return 0
}
