package main

import (
	"bytes"
	"mlm/lib/stream"
	"mlm/lib/sysexit"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

// TestPrefixes: every strict prefix of a valid stream that does not end
// on a record boundary is refused with 65.
func TestPrefixes(t *testing.T) {
	var b bytes.Buffer
	body := "Subject: x\n\nR <x@y>\nE 0\n" + strings.Repeat("z", 70000) + "\nno LF"
	rcpts := []stream.Path{{Mailbox: "a@example.org"}, {Mailbox: "b@example.org", Params: []string{"NOTIFY=NEVER"}}}
	h := &stream.Header{ID: "x", Attrs: []stream.Attr{{Name: "list", Value: "l@x"}}}
	if err := stream.WriteRecord(&b, h, strings.NewReader(body), rcpts); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if err := run(nil, strings.NewReader(s)); err != nil {
		t.Fatalf("valid record: %v", err)
	}
	for n := 1; n < len(s); n++ {
		if n > 200 && n < len(s)-200 && n%997 != 0 {
			continue // the long line: a sample is enough
		}
		if err := run(nil, strings.NewReader(s[:n])); sysexit.Code(err) != sysexit.DataErr {
			t.Fatalf("prefix of %d octets: %v; want 65", n, err)
		}
	}
}
