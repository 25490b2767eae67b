package mlmtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mlm/lib/stream"
	"mlm/lib/sysexit"
)

// Posts is a stream of n records of the 4 KB post `make bench` sends, from
// poster@example.org to dev@lists.example.org, as mlm-accept writes them
// (no recipients): what a filter's Go benchmark reads.
func Posts(tb testing.TB, n int) []byte {
	tb.Helper()
	var post strings.Builder
	post.WriteString("From: Poster <poster@example.org>\nTo: dev@lists.example.org\n" +
		"Subject: bench\nDate: Sun, 29 Nov 2026 12:00:00 +0000\nMessage-ID: <bench.1@example.org>\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
	for i := 1; post.Len() < 4096; i++ {
		fmt.Fprintf(&post, "line %03d: the quick brown fox jumps over the lazy dog, 0123456789.\n", i)
	}
	var rec bytes.Buffer
	h := &stream.Header{ID: "1764417600.b1.bench", Attrs: []stream.Attr{{Name: "list", Value: "dev@lists.example.org"}},
		Sender: stream.Path{Mailbox: "poster@example.org"}}
	if err := stream.WriteRecord(&rec, h, strings.NewReader(post.String()), nil); err != nil {
		tb.Fatal(err)
	}
	return bytes.Repeat(rec.Bytes(), n)
}

// Base64Lines is s in base64, in lines of 76 characters (RFC 2045 §6.8),
// each ended by LF: a body part as mail programs write one.
func Base64Lines(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\n")
		e = e[76:]
	}
	return b.String() + e + "\n"
}

// BenchRecords measures run on a stream of 1,000 Posts, the figure in
// octets a second.
func BenchRecords(b *testing.B, run func(in io.Reader) error) {
	in := Posts(b, 1000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := run(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// ListDir makes a list directory of the files named in files, with their
// contents (and the directories their names hold, stages/ say), in a
// temporary directory, and returns its path.
func ListDir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// AgedFile writes data to the file at path, mode 0600, and sets its
// times age ago: a file a sweep should or should not take as old.
func AgedFile(tb testing.TB, path, data string, age time.Duration) string {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
	then := time.Now().Add(-age)
	if err := os.Chtimes(path, then, then); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Message reads the next record of r and returns its header and its
// message, failing the test if they cannot be read.
func Message(tb testing.TB, r *stream.Reader) (*stream.Header, string) {
	tb.Helper()
	h, err := r.Next()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := io.ReadAll(r.Message())
	if err != nil {
		tb.Fatal(err)
	}
	return h, string(m)
}

// oneLine reports whether what a program reports of a failure (what
// sysexit.Report writes) is one line of printable text, as an MTA may
// quote it in a bounce.
func oneLine(report string) bool {
	line, ok := strings.CutSuffix(report, "\n")
	return ok && utf8.ValidString(line) && !strings.ContainsFunc(line, sysexit.IsControl)
}

// Refused reports whether err is a failure. A failure must have one of
// the exit statuses in codes and be reported, by report (sysexit.Report,
// or sysexit.ReportDSN for a program an MTA runs), on one line of
// printable text; the test fails otherwise.
func Refused(tb testing.TB, report func(io.Writer, string, error) int, prog string, err error, codes ...int) bool {
	tb.Helper()
	if err == nil {
		return false
	}
	var b bytes.Buffer
	code := report(&b, prog, err)
	if !slices.Contains(codes, code) || !oneLine(b.String()) {
		tb.Fatalf("%s failed with %d, reported as %q; want one of %v, on one line", prog, code, b.String(), codes)
	}
	return true
}
