package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/queue"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// FuzzEnqueue: whatever stream mlm-enqueue reads, each good record
// before the first bad one, or the first whose id cannot name a queue
// file, is in the queue as new/ID, byte for byte (a record of an id
// there already is not written again); a bad stream is 65, an id that
// names no file too. With -p, what goes on is those records, in order,
// each as the queue holds it: a second record of an id goes on as the
// first was queued.
func FuzzEnqueue(f *testing.F) {
	f.Add("MLM1 x\nA list=dev@lists.example.org\nS <a@example.org>\n:Subject: x\n:\n;no end\nR <b@example.org>\nE 1\n")
	f.Add("MLM1 x\nS <>\n:a\nE 0\nMLM1 y\nS <>\n:b\nE 0\n")
	f.Add("MLM1 x\nS <>\n:a\nE 0\nMLM1 x.err\nS <>\n:b\nE 0\n")
	f.Add("MLM1 x\nS <>\n:a\nE 0\nMLM1 y\nS <>\n:b\nE 1\n")
	f.Add("MLM1 ..\nS <>\nE 0\n")
	f.Add("MLM1 x\nS <>\n:a\nE 0\nMLM1 x\nS <>\n:b\nE 0\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		// The records as read, each encoded as a writer does.
		var ids, recs []string
		r := stream.NewReader(strings.NewReader(in))
		rerr := r.Each(func(h *stream.Header) error {
			if stream.CheckID(h.ID) != nil || len(h.ID) > queue.MaxID || h.ID == "." || h.ID == ".." || strings.HasSuffix(h.ID, ".err") {
				return sysexit.Errorf(sysexit.DataErr, "no queue file name")
			}
			var b bytes.Buffer
			w := stream.NewWriter(&b)
			if err := stream.CopyRecord(w, r, h); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			ids, recs = append(ids, h.ID), append(recs, b.String())
			return nil
		})
		// With -p, each record goes on as its id was first queued.
		first := map[string]string{}
		var queued []string
		for i, id := range ids {
			if _, ok := first[id]; !ok {
				first[id] = recs[i]
			}
			queued = append(queued, first[id])
		}
		for _, pass := range []bool{false, true} {
			dir := t.TempDir()
			for _, sub := range []string{"tmp", "new", "cur", "bad"} {
				if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			err := run(&args{Pass: pass, Queue: dir}, strings.NewReader(in), &out)
			if rerr != nil && sysexit.Code(err) != sysexit.DataErr || rerr == nil && err != nil {
				t.Fatalf("-p %v, %q: %v (%d); the stream read %v", pass, in, err, sysexit.Code(err), rerr)
			}
			want := map[string]string{}
			for i, id := range ids {
				if _, ok := want[id]; !ok {
					want[id] = recs[i]
				}
			}
			names := mlmtest.Names(t, filepath.Join(dir, "new"))
			if len(names) != len(want) {
				t.Errorf("-p %v, %q: new/ holds %q; want %d records", pass, in, names, len(want))
			}
			for id, rec := range want {
				if b, err := os.ReadFile(filepath.Join(dir, "new", id)); err != nil || string(b) != rec {
					t.Errorf("-p %v, %q: new/%s = %q, %v; want %q", pass, in, id, b, err, rec)
				}
			}
			if !pass && out.Len() > 0 {
				t.Errorf("%q: without -p, %q on standard output", in, out.String())
			}
			if pass && out.String() != strings.Join(queued, "") {
				t.Errorf("-p, %q: %q went on; want %q", in, out.String(), strings.Join(queued, ""))
			}
		}
	})
}
