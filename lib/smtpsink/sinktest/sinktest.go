// Package sinktest starts lib/smtpsink servers for tests. (lib/smtpout's own
// tests cannot import it: smtpsink imports smtpout.)
package sinktest

import (
	"testing"

	"mlm/lib/smtpsink"
)

// Sink starts a test SMTP server (lib/smtpsink) on 127.0.0.1 that keeps
// what it accepts, stopped when the test ends.
func Sink(t testing.TB, o smtpsink.Options) *smtpsink.Server {
	t.Helper()
	o.Keep = true
	s, err := smtpsink.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Reply parses a reply for a Sink's options, failing the test if it is
// not one.
func Reply(t testing.TB, s string) *smtpsink.Reply {
	t.Helper()
	r, err := smtpsink.ParseReply(s)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}
