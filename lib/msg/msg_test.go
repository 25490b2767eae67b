package msg

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"mlm/lib/sysexit"
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

// TestReadHeaderSpaceLine: a first line of nothing but space or a form
// feed is no empty line, and no field: refused as go-message refuses it.
// Taken for an empty header, it would become a field's line once a
// filter added fields before it.
func TestReadHeaderSpaceLine(t *testing.T) {
	for _, in := range []string{"\f", " ", " \n\nbody", "\f\r\n\r\nbody", "\v\n"} {
		_, err := ReadHeader(bufio.NewReader(strings.NewReader(in)), MaxHeader)
		if sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("ReadHeader(%q) = %v; want a refusal (65)", in, err)
		}
		if err := CheckBlock(cutBlock(in, MaxHeader), MaxHeader); sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("CheckBlock(%q) = %v; want a refusal (65)", in, err)
		}
	}
	for _, in := range []string{"", "\n", "\r\n", "\r"} {
		if h, err := ReadHeader(bufio.NewReader(strings.NewReader(in)), MaxHeader); err != nil || len(h.Fields.Map()) != 0 {
			t.Errorf("ReadHeader(%q) = %v, %v; want no fields", in, h.Fields.Map(), err)
		}
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

func TestCheckOctets(t *testing.T) {
	for _, ok := range []string{"", "Subject: x\r\n\r\n", "Subject: x\n", "Subject: x\r", "A: 1\r\n b\r\n"} {
		if err := CheckOctets([]byte(ok)); err != nil {
			t.Errorf("CheckOctets(%q) = %v; want nil", ok, err)
		}
	}
	for in, want := range map[string]string{
		"From: Evil\rBcc: x <a@b>\n\n":             "header: bare CR in field From",
		"Subject: x\r\nX-A: b\r\n c\rList-Id: y\n": "header: bare CR in field X-A",
		"From: a\x00b <a@b>\n":                     "header: NUL octet in field From",
		"A: 1\n\x00B: 2\n":                         "header: NUL octet in line 2",
		"A: 1\n\rB: 2\n":                           "header: bare CR in line 2",
		"Bad Name\r: 1\n":                          "header: bare CR in line 1",
		"Subject: x\rB":                            "header: bare CR in field Subject",
	} {
		err := CheckOctets([]byte(in))
		if err == nil || err.Error() != want || sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("CheckOctets(%q) = %v (%d); want %q (65)", in, err, sysexit.Code(err), want)
		}
	}
}

// FuzzCheckOctets: a block CheckOctets passes has no NUL, and no CR but
// before an LF or at its very end, so every reader splits it into the
// lines mlm sees.
func FuzzCheckOctets(f *testing.F) {
	f.Add([]byte("From: Evil\rBcc: x\n"))
	f.Add([]byte("A: 1\r\n\r"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if CheckOctets(raw) != nil {
			return
		}
		for i, c := range raw {
			if c == 0 || c == '\r' && i+1 < len(raw) && raw[i+1] != '\n' {
				t.Fatalf("CheckOctets(%q) passed octet %d", raw, i)
			}
		}
	})
}

// TestReadHeaderFields: MaxFields fields are read, one more is a data
// error; continuation lines are no fields; what was read is kept.
func TestReadHeaderFields(t *testing.T) {
	in := strings.Repeat("X: 1\n y\n", MaxFields) + "\nbody"
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader(in)), MaxHeader); err != nil {
		t.Errorf("%d fields: %v", MaxFields, err)
	}
	in = "Subject: x\n" + in
	br := bufio.NewReader(strings.NewReader(in))
	h, err := ReadHeader(br, MaxHeader)
	if !errors.Is(err, ErrTooManyFields) || sysexit.Code(err) != sysexit.DataErr {
		t.Fatalf("%d fields: %v; want ErrTooManyFields, 65", MaxFields+1, err)
	}
	if rest, _ := io.ReadAll(br); string(h.Raw)+string(rest) != in {
		t.Errorf("octets lost after too many fields")
	}
}

// FuzzParses: scan says yes exactly where go-message reads the block
// without an error, so that CheckBlock refuses what ReadHeader refuses.
func FuzzParses(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\n", "a: b\n c\n\n", " x: y\n", "no colon\n\n", "X\xc2\xa0: a\n",
		"\xc2\xa0\n", "X: a\n\r\r\n\n", "X: a\nY\n c: d\n", ": empty name\n", " \t: x\n",
		"X: a\n\r\nno colon\n", "X: a\r\r\nY: b\r", "\v\n", "X:\n\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := parse([]byte(raw))
		if _, got := scan([]byte(raw)); got != (err == nil) {
			t.Fatalf("scan(%q) says %v; go-message: %v", raw, got, err)
		}
	})
}

// TestReadHeaderLongLine: a line exactly as long as the reader's buffer
// (and longer) comes in pieces; the LF that ends it is not the empty line
// that ends the header, with LF or CRLF line ends.
func TestReadHeaderLongLine(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		for _, n := range []int{15, 16, 17, 31, 32, 33} {
			long := "X-Pad: " + strings.Repeat("y", n-7)
			in := long + eol + "From: eve@example.org" + eol + eol + "body" + eol
			for _, size := range []int{16, 4096} {
				br := bufio.NewReaderSize(strings.NewReader(in), size)
				h, err := ReadHeader(br, MaxHeader)
				if err != nil {
					t.Fatal(err)
				}
				if got := h.Fields.Get("From"); got != "eve@example.org" {
					t.Errorf("eol %q, line of %d, buffer %d: From = %q; header %q", eol, n, size, got, h.Raw)
				}
				if string(h.Raw) != strings.TrimSuffix(in, "body"+eol) {
					t.Errorf("eol %q, line of %d, buffer %d: header %q", eol, n, size, h.Raw)
				}
			}
		}
	}
}

// cutBlock is the header block of in as a stream.Reader's HeaderBlock
// gives it with max: whole lines up to and including the first empty
// one, stopping once past max octets.
func cutBlock(in string, max int) []byte {
	var raw []byte
	for off := 0; off < len(in) && len(raw) <= max; {
		n := strings.IndexByte(in[off:], '\n') + 1
		if n == 0 {
			n = len(in) - off
		}
		line := in[off : off+n]
		raw = append(raw, line...)
		if line == "\n" || line == "\r\n" {
			break
		}
		off += n
	}
	return raw
}

// countFields counts the fields of a block as readBlock does, one line
// at a time: every line but an empty one and those that start with space
// or tab.
func countFields(raw []byte) int {
	n := 0
	for _, l := range strings.SplitAfter(string(raw), "\n") {
		if l != "" && l != "\n" && l != "\r\n" && l[0] != ' ' && l[0] != '\t' {
			n++
		}
	}
	return n
}

// checkCheckBlock: CheckBlock refuses a block read from a stream exactly
// where ReadHeader and CheckOctets refuse it, classified the same; for
// the same reason but where the block is both too long and of too many
// fields, which ReadHeader tells by the order it meets them in.
func checkCheckBlock(t *testing.T, in string, max int) {
	t.Helper()
	h, want := ReadHeader(bufio.NewReader(strings.NewReader(in)), max)
	if want == nil {
		want = CheckOctets(h.Raw)
	}
	block := cutBlock(in, max)
	if fields, _ := scan(block); fields != countFields(block) {
		t.Fatalf("scan(%q) counts %d fields; readBlock %d", block, fields, countFields(block))
	}
	got := CheckBlock(block, max)
	// ResetChecked answers as CheckBlock does, and splits the block as
	// Reset does.
	var e Edit
	if err := e.ResetChecked(block, max); (err == nil) != (got == nil) || (err != nil && err.Error() != got.Error()) {
		t.Fatalf("ResetChecked of %q, max %d: %v; CheckBlock: %v", block, max, err, got)
	}
	if ref := NewEdit(block); !bytes.Equal(e.Bytes(), ref.Bytes()) || len(e.fields) != len(ref.fields) {
		t.Fatalf("ResetChecked of %q: %q, %d fields; Reset: %q, %d", block, e.Bytes(), len(e.fields), ref.Bytes(), len(ref.fields))
	}
	switch {
	case (got == nil) != (want == nil) || sysexit.Code(got) != sysexit.Code(want):
		t.Fatalf("CheckBlock of %q, max %d: %v; ReadHeader and CheckOctets: %v", in, max, got, want)
	case got == nil:
	case errors.Is(want, ErrHeaderTooLong) || errors.Is(want, ErrTooManyFields):
		if !errors.Is(got, ErrHeaderTooLong) && !errors.Is(got, ErrTooManyFields) {
			t.Fatalf("CheckBlock of %q, max %d: %v; ReadHeader: %v", in, max, got, want)
		}
	case got.Error() != want.Error():
		t.Fatalf("CheckBlock of %q, max %d: %v; ReadHeader and CheckOctets: %v", in, max, got, want)
	}
}

func TestCheckBlock(t *testing.T) {
	many := strings.Repeat("X: y\n", MaxFields)
	for _, in := range []string{
		"Subject: x\r\n\r\nbody", "a: b\n c\n\nbody", "", "\n", "\r\n", "\r", "\r\r\n\r", " x: y\n", "no colon\n\n",
		"X: a\rList-Id: <forged>\n\n", "X: \x00\n\n", "X: a\n\r\nno colon\n", "X: a\r\r\nY: b\r",
		many + "\n", many + "Z: 1\n\n", many + " more\n\n", many + "\r", many + "\r\r\n\n", many[5:] + "\r\r\n\r",
		many[5:] + "X: y\r\r\r\n\n", many[5:] + "X: y\r\n\r\n", "0 0:\n\n", "X\x80: z\n\n", "X\x7f: z\n\n",
	} {
		for _, max := range []int{0, 3, 10, 1 << 20} {
			checkCheckBlock(t, in, max)
		}
	}
	// Past the empty line, which HeaderBlock stops at, a CR alone is
	// a field to CheckBlock, and so to ResetChecked.
	var e Edit
	if err := e.ResetChecked([]byte(many+"\n\r"), MaxHeader); !errors.Is(err, ErrTooManyFields) {
		t.Errorf("ResetChecked of %d fields, the empty line and a CR: %v", MaxFields, err)
	}
	if err := CheckBlock([]byte(many+"Z: 1\n\n"), MaxHeader); !errors.Is(err, ErrTooManyFields) {
		t.Errorf("CheckBlock of %d fields: %v", MaxFields+1, err)
	}
	if err := CheckBlock([]byte("X: 12345\n"), 5); !errors.Is(err, ErrHeaderTooLong) {
		t.Errorf("CheckBlock past max: %v", err)
	}
}

func FuzzCheckBlock(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody", uint16(100))
	f.Add("X: a\rY: b\n\n", uint16(4))
	f.Fuzz(func(t *testing.T, in string, max uint16) {
		checkCheckBlock(t, in, int(max))
		// And on octets after the empty line, which a block cut as a
		// Reader cuts it has not.
		var e Edit
		got, want := e.ResetChecked([]byte(in), int(max)), CheckBlock([]byte(in), int(max))
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("ResetChecked of %q, max %d: %v; CheckBlock: %v", in, max, got, want)
		}
	})
}
