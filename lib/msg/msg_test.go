package msg

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name, in, raw, body, subject string
	}{
		{"lf", "Subject: a\nX: 1\n\nbody\n", "Subject: a\nX: 1\n\n", "body\n", "a"},
		{"crlf", "Subject: b\r\n\r\nbody", "Subject: b\r\n\r\n", "body", "b"},
		{"folded", "Subject: c\n d\n\n", "Subject: c\n d\n\n", "", "c d"},
		{"no body", "Subject: e\n", "Subject: e\n", "", "e"},
		{"no newline", "Subject: f", "Subject: f", "", "f"},
		{"empty", "", "", "", ""},
		{"body only", "\nbody", "\n", "body", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			h, err := ReadHeader(br, MaxHeader)
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(br)
			if string(h.Raw) != tc.raw || string(rest) != tc.body {
				t.Errorf("raw %q, body %q; want %q, %q", h.Raw, rest, tc.raw, tc.body)
			}
			if got := h.Fields.Get("Subject"); got != tc.subject {
				t.Errorf("Subject = %q; want %q", got, tc.subject)
			}
		})
	}
}

func TestReadHeaderLimits(t *testing.T) {
	in := "Subject: x\n" + strings.Repeat("X-Long: "+strings.Repeat("y", 100)+"\n", 100) + "\nbody"
	br := bufio.NewReader(strings.NewReader(in))
	h, err := ReadHeader(br, 1000)
	if !errors.Is(err, ErrHeaderTooLong) {
		t.Fatalf("err = %v; want ErrHeaderTooLong", err)
	}
	rest, _ := io.ReadAll(br)
	if string(h.Raw)+string(rest) != in {
		t.Errorf("octets lost after a too-long header")
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader("no colon here\n\n")), MaxHeader); err == nil {
		t.Errorf("unparsable header: want error")
	}
}

// FuzzReadHeader: Raw followed by the rest of the input is the input,
// whatever it is.
func FuzzReadHeader(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody", 100)
	f.Add("a: b\n c\n\n", 5)
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max <= 0 {
			max = MaxHeader
		}
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		h, _ := ReadHeader(br, max)
		rest, _ := io.ReadAll(br)
		if string(h.Raw)+string(rest) != in {
			t.Fatalf("octets changed: %q + %q != %q", h.Raw, rest, in)
		}
	})
}
