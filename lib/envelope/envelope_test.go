package envelope

import (
	"bufio"
	"io"
	"testing"
	"time"
)

func TestParseFromLine(t *testing.T) {
	good := map[string]string{
		"From alice@example.org Sat Nov 28 12:00:00 2026\n": "alice@example.org",
		"From MAILER-DAEMON Sat Nov 28 12:00:00 2026\r\n":   "",
		"From <> Sat Nov 28 12:00:00 2026":                  "",
		"From <bob@x.y>  Sat":                               "bob@x.y",
		"From \"john smith\"@example.org  Sat Nov 28":       `"john smith"@example.org`,
		"From <\"a >b\"@x.y> Sat":                           `"a >b"@x.y`,
		"From \"a,b\"@example.org Sat":                      `"a,b"@example.org`,
		"From  Sat Dec  5 01:29:33 2026\n":                  "", // procmail -f ''
		"From - Tue Jan 16 12:34:56 2024\n":                 "", // Thunderbird's (R88 F3)
	}
	for in, want := range good {
		if got, err := ParseFromLine([]byte(in)); err != nil || got != want {
			t.Errorf("ParseFromLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"From root Sat", "From - Sat", "From  x", "From: a@b", "Fro", "From a\x00@b Sat", "From <a@b Sat", "From \"a b@x Sat", "From \"a b\" Sat",
		"From <a@b>Sat", "From <a@b>x@evil Sat"} {
		if got, err := ParseFromLine([]byte(in)); err == nil {
			t.Errorf("ParseFromLine(%q) = %q; want error", in, got)
		}
	}
}

func TestFromLineTime(t *testing.T) {
	for in, want := range map[string]int64{
		"From a@b Sat Nov 28 12:00:00 2026\n":                       1795867200,
		"From a@b  Sat Nov  1 12:00:00 2026 remote":                 1793534400,
		"From MAILER-DAEMON Sat Nov 28 12:00:00 2026":               1795867200,
		"From \"john smith\"@example.org  Sat Nov 28 12:00:00 2026": 1795867200,
		"From <\"a b\"@x> Sat Nov 28 12:00:00 2026":                 1795867200,
		// A numeric zone after the year is the date's offset from UTC.
		"From a@b Sat Nov 28 13:00:00 2026 +0100\n":      1795867200,
		"From a@b Sat Nov 28 06:30:00 2026 -0530 remote": 1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 +0000\r\n":    1795867200,
		// Anything else there is no zone: the date is UTC.
		"From a@b Sat Nov 28 12:00:00 2026 +01":    1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 +2400":  1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 +0160":  1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 +01000": 1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 0100":   1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 +01a0":  1795867200,
		"From a@b Sat Nov 28 12:00:00 2026 *0100":  1795867200,
	} {
		if got, ok := FromLineTime([]byte(in)); !ok || got.Unix() != want {
			t.Errorf("FromLineTime(%q) = %v, %v; want %d", in, got.Unix(), ok, want)
		}
	}
	// A year of five digits is no asctime date, nor its first four.
	for _, in := range []string{"From a@b", "From a@b yesterday", "Subject: x", "From a@b Sat Jan  1 00:00:00 10000", "From a@b Sat Nov 28 12:00:00 20261 remote"} {
		if _, ok := FromLineTime([]byte(in)); ok {
			t.Errorf("FromLineTime(%q): want no time", in)
		}
	}
}

func TestStartsWithFromLine(t *testing.T) {
	for b, want := range map[string]bool{
		"From alice@example.org  Sat Nov 28 12:00:00 2026\n": true,
		"From MAILER-DAEMON Sat Nov 28 12:00:00 2026":        true,
		"From : Alice <alice@example.org>\n":                 false, // RFC 5322 §4.5.6
		"From \t: Alice\n":                                   false,
		"From    ":                                           false,
		"From \nSubject: x\n":                                false, // white space alone on its line
		"From \r\nSubject: x\r\n":                            false,
		"From \t\n":                                          false,
		"From a@b.c Sat Dec  5 10:00:00 2026\rSubject: x\r":  false, // lines that end in CR alone
		"From a@b.c Sat Dec  5 10:00:00 2026\r\nSubject: x":  true,
		"From: Alice\n":                                      false,
		"From":                                               false,
		"Subject: x\n":                                       false,
	} {
		if got := StartsWithFromLine([]byte(b)); got != want {
			t.Errorf("StartsWithFromLine(%q) = %v; want %v", b, got, want)
		}
	}
}

// TestPeekFirstLineHeldOpen: a first line that has come whole is
// returned at once, though the writer keeps its pipe open: a short
// message (under FromLook octets) from an MTA that keeps it open waited
// for more, past mlm-accept's deadline, its verdict lost (a critical
// read).
func TestPeekFirstLineHeldOpen(t *testing.T) {
	for _, msg := range []string{"Subject: x\n\nhi\n", "From a@b.example Sat Nov 28 12:00:00 2026\nSubject: x\n", "Subject: " + string(make([]byte, 300)) + "\n"} {
		pr, pw := io.Pipe()
		go pw.Write([]byte(msg))
		got := make(chan []byte, 1)
		go func() { got <- PeekFirstLine(bufio.NewReaderSize(pr, 64<<10)) }()
		select {
		case b := <-got:
			if len(b) == 0 || b[len(b)-1] != '\n' {
				t.Errorf("%.20q: got %q", msg, b)
			}
		case <-time.After(30 * time.Second): // a safety net, not a measure: it never returned
			t.Errorf("%.20q (%d octets), pipe held open: PeekFirstLine waits for more", msg, len(msg))
		}
		pw.Close()
	}
}
