package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
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

// FuzzParseSize: -m's SIZE is taken only as digits, at least 1, and
// one suffix K, M or G, which multiplies it by 1024, 1024² or 1024³,
// and only where the product fits; its value is that product.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "1K", "1G", "100M", "0", "-1", "+1", "1T", "", "K", "9223372036854775807", "8589934592G", " 1", "1k", "01M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		digits, mult := s, int64(1)
		if k := strings.IndexAny(s, "KMG"); k >= 0 && k == len(s)-1 {
			digits, mult = s[:k], map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}[s[k]]
		}
		valid := digits != "" && strings.Trim(digits, "0123456789") == ""
		v, perr := strconv.ParseInt(digits, 10, 64)
		valid = valid && perr == nil && v >= 1 && v <= math.MaxInt64/mult
		if valid != (err == nil) {
			t.Fatalf("parseSize(%q) = %d, %v; want valid %v", s, n, err, valid)
		}
		if valid && n != v*mult {
			t.Fatalf("parseSize(%q) = %d; want %d", s, n, v*mult)
		}
	})
}
