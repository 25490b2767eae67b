package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"golang.org/x/sys/unix"

	"mlm/lib/sysexit"
)

// refEncode is the canonical encoding written the simplest way, to check
// the streaming Writer against.
func refEncode(h *Header, msg []byte, rcpts []Path) []byte {
	var b bytes.Buffer
	b.WriteString("MLM1 " + h.ID + "\n")
	for _, a := range h.Attrs {
		b.WriteString("A " + a.Name + "=" + EscapeValue(a.Value) + "\n")
	}
	b.WriteString("S " + h.Sender.String() + "\n")
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		line, nl := msg, false
		if i >= 0 {
			line, nl = msg[:i], true
			msg = msg[i+1:]
		} else {
			msg = nil
		}
		for len(line) > MaxPiece {
			b.WriteString(";" + string(line[:MaxPiece]) + "\n")
			line = line[MaxPiece:]
		}
		if nl {
			b.WriteString(":" + string(line) + "\n")
		} else if len(line) > 0 {
			b.WriteString(";" + string(line) + "\n")
		}
	}
	for _, r := range rcpts {
		b.WriteString("R " + r.String() + "\n")
	}
	b.WriteString("E " + strconv.Itoa(len(rcpts)) + "\n")
	return b.Bytes()
}

var testHeader = &Header{
	ID:     "1764417600.M512345P4711R9f3a.lists1",
	Attrs:  []Attr{{Name: "list", Value: "dev@lists.example.org"}, {Name: "trace", Value: "mlm-auth:1:approved by 100% mod\r\n"}},
	Sender: Path{Mailbox: "dev-bounces@lists.example.org", Params: []string{"BODY=8BITMIME"}},
}

var testRcpts = []Path{{Mailbox: "bob@example.net"}, {Mailbox: "carol@example.com", Params: []string{"NOTIFY=FAILURE"}}}

// encode writes one record with w, feeding the message in chunks of size
// chunk (all at once if 0).
func encode(t testing.TB, h *Header, msg []byte, rcpts []Path, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteHeader(h); err != nil {
		t.Fatalf("WriteHeader: %v", err)
	}
	for p := msg; len(p) > 0; {
		k := len(p)
		if chunk > 0 && chunk < k {
			k = chunk
		}
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[k:]
	}
	for _, r := range rcpts {
		if err := w.Recipient(r); err != nil {
			t.Fatalf("Recipient: %v", err)
		}
	}
	if err := w.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return out.Bytes()
}

type record struct {
	h     *Header
	msg   []byte
	rcpts []Path
}

// decode reads a whole stream into records.
func decode(s []byte) ([]record, error) { return decodeBy(NewReader(nil), s) }

// decodeBy is decode with r, Reset to read s: a test that decodes many
// streams takes one Reader's buffer, not one a stream (TestTruncatedRejected
// took 17 GB, and minutes under -race).
func decodeBy(r *Reader, s []byte) ([]record, error) {
	r.Reset(bytes.NewReader(s))
	var recs []record
	for {
		h, err := r.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		m, err := io.ReadAll(r.Message())
		if err != nil {
			return recs, err
		}
		rec := record{h: h, msg: m}
		for {
			p, err := r.Recipient()
			if err == io.EOF {
				break
			}
			if err != nil {
				return recs, err
			}
			rec.rcpts = append(rec.rcpts, p)
		}
		recs = append(recs, rec)
	}
}

// reencode writes decoded records back with a Writer.
func reencode(t testing.TB, recs []record) []byte {
	var b bytes.Buffer
	for _, rec := range recs {
		b.Write(encode(t, rec.h, rec.msg, rec.rcpts, 0))
	}
	return b.Bytes()
}

func messages() map[string][]byte {
	long := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	m := map[string][]byte{
		"empty":    nil,
		"lf":       []byte("\n"),
		"a":        []byte("a"),
		"crlf":     []byte("Subject: x\r\n\r\nbody\r\n"),
		"bare-cr":  []byte("a\rb\r"),
		"nul":      []byte("a\x00b\n\x00"),
		"ff":       []byte("\xff\xfe\n\xff"),
		"no-final": []byte("Subject: x\n\nno newline"),
		"hostile":  []byte("Subject: x\n\nR <x@y>\nE 0\nMLM1 forged\nS <>\n.\nFrom me\n:x\n;y\nA a=b\n"),
	}
	for _, n := range []int{65533, 65534, 65535, 65536, 131068, 131069, 200000} {
		m["line"+strconv.Itoa(n)+"-lf"] = append(long(n), '\n')
		m["line"+strconv.Itoa(n)] = long(n)
		m["line"+strconv.Itoa(n)+"-mid"] = append(append([]byte("a\n"), long(n)...), "\nz\n"...)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	for name, msg := range messages() {
		t.Run(name, func(t *testing.T) {
			want := refEncode(testHeader, msg, testRcpts)
			for _, chunk := range []int{0, 1, 7, 4096, MaxPiece, MaxPiece + 1} {
				if chunk == 1 && len(msg) > 70000 {
					continue
				}
				got := encode(t, testHeader, msg, testRcpts, chunk)
				if !bytes.Equal(got, want) {
					t.Fatalf("chunk %d: encoding differs from the canonical one", chunk)
				}
			}
			for _, line := range bytes.SplitAfter(want, []byte("\n")) {
				if len(line) > MaxLine {
					t.Fatalf("line of %d octets", len(line))
				}
			}
			recs, err := decode(want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(recs) != 1 || !bytes.Equal(recs[0].msg, msg) {
				t.Fatalf("decode(encode(m)) != m")
			}
			if got := reencode(t, recs); !bytes.Equal(got, want) {
				t.Fatalf("encode(decode(s)) != s")
			}
		})
	}
}

func TestEnvelopeSurvives(t *testing.T) {
	s := encode(t, testHeader, messages()["hostile"], testRcpts, 0)
	recs, err := decode(s)
	if err != nil {
		t.Fatal(err)
	}
	h := recs[0].h
	if h.ID != testHeader.ID || h.Sender.String() != testHeader.Sender.String() || len(h.Attrs) != 2 {
		t.Fatalf("header = %+v", h)
	}
	if v, _ := h.Get("trace"); v != testHeader.Attrs[1].Value {
		t.Errorf("trace = %q; want %q", v, testHeader.Attrs[1].Value)
	}
	if !strings.Contains(string(s), "A trace=mlm-auth:1:approved%20by%20100%25%20mod%0D%0A\n") {
		t.Errorf("attribute not escaped as specified:\n%s", s)
	}
	if len(recs[0].rcpts) != 2 || recs[0].rcpts[1].String() != "<carol@example.com> NOTIFY=FAILURE" {
		t.Errorf("recipients = %v", recs[0].rcpts)
	}
}

func TestWriterRefuses(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.Begin("bad id"); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("Begin(bad id) = %v; want data error", err)
	}
	if err := w.Attr("x", "y"); err != ErrOrder {
		t.Errorf("Attr before Begin = %v; want ErrOrder", err)
	}
	w.Begin("x")
	for _, name := range []string{"", "X", "1a", "a b", "list-Id", strings.Repeat("a", 65)} {
		if err := w.Attr(name, "v"); sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("Attr(%q) = %v; want data error", name, err)
		}
	}
	for _, s := range []string{"a\n@b", "a@b\r", "a b@c", "x"} {
		if err := w.Sender(Path{Mailbox: s}); sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("Sender(%q) = %v; want data error", s, err)
		}
	}
	if err := w.Sender(Path{Mailbox: "a@b", Params: []string{"X=a b"}}); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("Sender with bad param = %v; want data error", err)
	}
	if _, err := w.Write([]byte("x")); err != ErrOrder {
		t.Errorf("Write before Sender = %v; want ErrOrder", err)
	}
	w.Sender(Path{})
	if err := w.Recipient(Path{}); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("Recipient(<>) = %v; want data error", err)
	}
	if err := w.Recipient(Path{Mailbox: "a@b\nR <c@d>"}); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("Recipient(injection) = %v; want data error", err)
	}
}

// TestWriterSenderParams: the parameters of a sender are checked even
// when its mailbox is the one the record before had.
func TestWriterSenderParams(t *testing.T) {
	w := NewWriter(io.Discard)
	w.Begin("x")
	if err := w.Sender(Path{Mailbox: "a@b.example"}); err != nil {
		t.Fatal(err)
	}
	w.End()
	w.Begin("y")
	for _, params := range [][]string{{"X=a b"}, {"=x"}, {"BODY=8BIT\nR"}} {
		if err := w.Sender(Path{Mailbox: "a@b.example", Params: params}); sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("Sender with params %q after the same mailbox = %v; want data error", params, err)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestWriterFlushErrorIsTemp: a record that fits in the Writer's buffer
// goes out at Flush, and an error there is Flush's.
func TestWriterFlushErrorIsTemp(t *testing.T) {
	w := NewWriter(failWriter{})
	w.Begin("x")
	w.Sender(Path{})
	w.Write([]byte("a\n"))
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Flush = %v; want temporary error", err)
	}
}

func TestWriterWriteErrorIsTemp(t *testing.T) {
	w := NewWriter(failWriter{})
	w.Begin("x")
	w.Sender(Path{})
	w.Write(bytes.Repeat([]byte("a\n"), 100000))
	w.End()
	if err := w.Flush(); sysexit.Code(err) != sysexit.TempFail {
		t.Errorf("Flush = %v; want temporary error", err)
	}
}

// TestWriterErrorAfterCut: after a write that failed inside a record
// (a reader gone, a queue full), the next record's Begin, and
// WriteHeader, return that error, not ErrOrder for the record cut
// short: a review had 2,000 lines of "call out of record order" hide
// the one that said why.
func TestWriterErrorAfterCut(t *testing.T) {
	for _, next := range []string{"Begin", "WriteHeader", "WriteHeader of a header read"} {
		w := NewWriter(failWriter{})
		w.Begin("x")
		w.Sender(Path{})
		if _, err := w.Write(bytes.Repeat([]byte("a\n"), 100000)); err == nil {
			t.Fatal("a write of 200,000 octets to a failing writer did not fail")
		}
		var err error
		switch next {
		case "Begin":
			err = w.Begin("y")
		case "WriteHeader":
			err = w.WriteHeader(&Header{ID: "y"})
		default:
			h, rerr := NewReader(strings.NewReader("MLM1 y\nS <>\nE 0\n")).Next()
			if rerr != nil {
				t.Fatal(rerr)
			}
			err = w.WriteHeader(h)
		}
		if err == nil || errors.Is(err, ErrOrder) || sysexit.Code(err) != sysexit.TempFail || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s after a failed write = %v; want its temporary error, disk full", next, err)
		}
	}
}

func TestReaderRejects(t *testing.T) {
	valid := "MLM1 x\nA a=b\nS <>\n:hi\nR <r@x>\nE 1\n"
	tests := []struct {
		name, in string
		line     int64
	}{
		{"wrong count", "MLM1 x\nS <>\nR <r@x>\nE 2\n", 4},
		{"count leading zero", "MLM1 x\nS <>\nE 00\n", 3},
		{"count sign", "MLM1 x\nS <>\nE +0\n", 3},
		{"cr on envelope", "MLM1 x\nS <>\r\nE 0\n", 2},
		{"cr on end", "MLM1 x\nS <>\nE 0\r\n", 3},
		{"tab on attr", "MLM1 x\nA a=\tb\nS <>\nE 0\n", 2},
		{"nul on rcpt", "MLM1 x\nS <>\nR <a\x00@x>\nE 1\n", 3},
		{"empty line", "MLM1 x\nS <>\n\nE 0\n", 3},
		{"attr after sender", "MLM1 x\nS <>\nA a=b\nE 0\n", 3},
		{"unknown type", "MLM1 x\nS <>\nX y\nE 0\n", 3},
		{"unknown type at start", "Hello\n", 1},
		{"version 2", "MLM2 x\nS <>\nE 0\n", 1},
		{"mlm1 no space", "MLM1x\nS <>\nE 0\n", 1},
		{"no final lf", "MLM1 x\nS <>\nE 0", 3},
		{"new record before end", "MLM1 x\nS <>\n:a\nMLM1 y\nS <>\nE 0\n", 4},
		{"two senders", "MLM1 x\nS <>\nS <>\nE 0\n", 3},
		{"message after rcpt", "MLM1 x\nS <>\nR <a@b>\n:x\nE 1\n", 4},
		{"no sender", "MLM1 x\n:a\nE 0\n", 2},
		{"rcpt null", "MLM1 x\nS <>\nR <>\nE 1\n", 3},
		{"bad sender", "MLM1 x\nS <a b@c>\nE 0\n", 2},
		{"sender no brackets", "MLM1 x\nS a@b\nE 0\n", 2},
		{"bad param", "MLM1 x\nS <a@b> =x\nE 0\n", 2},
		{"two spaces", "MLM1 x\nS <a@b>  X\nE 0\n", 2},
		{"no space before param", "MLM1 x\nS <a@b>XSMTPUTF8\nE 0\n", 2},
		{"rcpt no space before param", "MLM1 x\nS <>\nR <a@b.c>-NOTIFY=NEVER\nE 1\n", 3},
		// (a review: such a line made an RCPT too long for servers,
		// which dropped the connection, every recipient on it deferred)
		{"orcpt over 500", "MLM1 x\nS <>\nR <a@b.c> ORCPT=rfc822;" + strings.Repeat("o", 494) + "\nE 1\n", 3},
		{"envid over 100", "MLM1 x\nS <> ENVID=" + strings.Repeat("e", 101) + "\nE 0\n", 2},
		{"param twice", "MLM1 x\nS <>\nR <a@b.c> NOTIFY=NEVER notify=NEVER\nE 1\n", 3},
		{"bad notify", "MLM1 x\nS <>\nR <a@b.c> NOTIFY=FAILURE,FAILURE\nE 1\n", 3},
		{"bad ret", "MLM1 x\nS <> RET=ALL\nE 0\n", 2},
		{"bad id", "MLM1 a/b\nS <>\nE 0\n", 1},
		{"bad attr name", "MLM1 x\nA Name=v\nS <>\nE 0\n", 2},
		{"upper case inside attr name", "MLM1 x\nA list-Id=v\nS <>\nE 0\n", 2},
		{"bad escape", "MLM1 x\nA a=%2a\nS <>\nE 0\n", 2},
		{"raw space in value", "MLM1 x\nA a=b c\nS <>\nE 0\n", 2},
		{"attr no equals", "MLM1 x\nA ab\nS <>\nE 0\n", 2},
		{"short piece then more", "MLM1 x\nS <>\n;ab\n:c\nE 0\n", 4},
		{"piece one short then more", "MLM1 x\nS <>\n;" + strings.Repeat("a", MaxPiece-1) + "\n:c\nE 0\n", 4},
		{"empty piece", "MLM1 x\nS <>\n;\nE 0\n", 3},
		{"full piece then empty line", "MLM1 x\nS <>\n;" + strings.Repeat("a", MaxPiece) + "\n:\nE 0\n", 4},
		{"line too long", "MLM1 x\nS <>\n:" + strings.Repeat("a", MaxLine) + "\nE 0\n", 3},
		{"attr line of MaxLine+1", "MLM1 x\nA note=" + strings.Repeat("x", MaxLine-len("A note=")) + "\nS <>\nE 0\n", 2},
		{"line of MaxLine+1 after a piece", "MLM1 x\nS <>\n;" + strings.Repeat("a", MaxPiece) + "\n:" + strings.Repeat("a", MaxLine-1) + "\nE 0\n", 4},
		{"garbage after valid", valid + "junk\n", 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode([]byte(tc.in))
			var se *SyntaxError
			if !errors.As(err, &se) || sysexit.Code(err) != sysexit.DataErr {
				t.Fatalf("decode = %v; want a syntax error", err)
			}
			if se.Line != tc.line {
				t.Errorf("error %q at line %d; want line %d", se, se.Line, tc.line)
			}
		})
	}
	if _, err := decode([]byte(valid + valid)); err != nil {
		t.Errorf("concatenated valid streams: %v", err)
	}
}

// TestAttrsAgain: attribute lines the same as the last record's, in the
// same place, read as they did there; a line that differs in a place, or
// a place the last record had not, is read and checked anew.
func TestAttrsAgain(t *testing.T) {
	in := "MLM1 a\nA list=l%20x\nA x-n=1\nS <>\nE 0\n" +
		"MLM1 b\nA list=l%20x\nA x-n=2\nA x-m=3\nS <>\nE 0\n" +
		"MLM1 c\nA x-n=2\nA list=l%20x\nS <>\nE 0\n" +
		"MLM1 d\nA x-n=2\nA list=l%20x\nA x-m=3\nS <>\nE 0\n"
	recs, err := decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"list", "l x", "x-n", "1"}, {"list", "l x", "x-n", "2", "x-m", "3"},
		{"x-n", "2", "list", "l x"}, {"x-n", "2", "list", "l x", "x-m", "3"}}
	for i, rec := range recs {
		var got []string
		for _, a := range rec.h.Attrs {
			got = append(got, a.Name, a.Value)
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("record %d: attributes %q; want %q", i, got, want[i])
		}
	}
	// A bad line where the last record had a good one is refused.
	for _, bad := range []string{"A x-n=%zz", "A X-n=2", "A x-n=2 "} {
		_, err := decode([]byte(in + "MLM1 e\nA x-n=2\n" + bad + "\nS <>\nE 0\n"))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 25 {
			t.Errorf("%q after good records: %v; want a syntax error at line 25", bad, err)
		}
	}
}

func TestTruncatedRejected(t *testing.T) {
	var s []byte
	for _, name := range []string{"hostile", "no-final", "line65535", "empty"} {
		s = append(s, encode(t, testHeader, messages()[name], testRcpts, 0)...)
	}
	checkPrefixes(t, s)
}

// checkPrefixes asserts that every strict prefix of the valid stream s that
// does not end at a record boundary is refused.
func checkPrefixes(t *testing.T, s []byte) {
	t.Helper()
	ends := map[int]bool{0: true}
	for i := 0; i < len(s); {
		j := bytes.IndexByte(s[i:], '\n')
		if s[i] == 'E' {
			ends[i+j+1] = true
		}
		i += j + 1
	}
	r := NewReader(nil)
	for n := 0; n < len(s); n++ {
		if _, err := decodeBy(r, s[:n]); (err == nil) != ends[n] {
			t.Fatalf("prefix of %d octets: err = %v", n, err)
		}
	}
}

func TestUnescape(t *testing.T) {
	for _, v := range []string{"", "a", "%", " ", "\x00\x7f\xff", "a%20b", "100%"} {
		got, err := UnescapeValue(EscapeValue(v))
		if err != nil || got != v {
			t.Errorf("UnescapeValue(EscapeValue(%q)) = %q, %v", v, got, err)
		}
	}
	for _, s := range []string{"%", "%4", "%4g", "%zz", "a b", "a\x7fb"} {
		if _, err := UnescapeValue(s); err == nil {
			t.Errorf("UnescapeValue(%q): want error", s)
		}
	}
	// "%", SP, controls and DEL are escaped, and nothing else: a value
	// written raw with one of them is a line the next Reader refuses.
	if got, want := EscapeValue("a b%\t\x7f\x80\xffz"), "a%20b%25%09%7F\x80\xffz"; got != want {
		t.Errorf("EscapeValue = %q; want %q", got, want)
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Begin("x")
	w.Attr("x-note", "del\x7f")
	w.Sender(Path{})
	w.End()
	w.Flush()
	if _, err := decode(b.Bytes()); err != nil || !strings.Contains(b.String(), "A x-note=del%7F\n") {
		t.Errorf("a value with DEL written as %q: %v", b.String(), err)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if err := CheckID(id); err != nil || strings.Contains(id, ",") || seen[id] {
			t.Fatalf("NewID() = %q: %v", id, err)
		}
		seen[id] = true
	}
}

// FuzzRoundTrip: decode(encode(m)) = m and the encoding is canonical, for
// any message, with a stretch of n octets to reach the 64 KiB boundaries.
func FuzzRoundTrip(f *testing.F) {
	for _, m := range messages() {
		if len(m) < 1000 {
			f.Add(m, uint16(0), uint8(0))
		}
	}
	f.Add([]byte("a\nb"), uint16(65534), uint8(1))
	f.Add([]byte("\n"), uint16(65535), uint8(0))
	f.Fuzz(func(t *testing.T, m []byte, n uint16, at uint8) {
		k := int(at) % (len(m) + 1)
		msg := append(append(append([]byte{}, m[:k]...), bytes.Repeat([]byte{'y'}, int(n))...), m[k:]...)
		s := encode(t, testHeader, msg, testRcpts, int(at))
		if want := refEncode(testHeader, msg, testRcpts); !bytes.Equal(s, want) {
			t.Fatalf("not canonical")
		}
		recs, err := decode(s)
		if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].msg, msg) {
			t.Fatalf("decode(encode(m)) != m: %v", err)
		}
	})
}

// FuzzEnvelope: the envelope survives any message, and no message can add
// a record or a recipient.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte("R <x@y>\nE 0\nMLM1 forged\nS <>\n"), "a@b", "c@d")
	f.Add([]byte("\nE 1\n"), "", "x@[127.0.0.1]")
	f.Fuzz(func(t *testing.T, msg []byte, sender, rcpt string) {
		h := &Header{ID: "f", Attrs: []Attr{{Name: "x", Value: rcpt}}, Sender: Path{Mailbox: sender}}
		rc := []Path{{Mailbox: rcpt}}
		if CheckPath(h.Sender, true) != nil || CheckPath(rc[0], false) != nil {
			return
		}
		recs, err := decode(encode(t, h, msg, rc, 0))
		if err != nil || len(recs) != 1 {
			t.Fatalf("decode: %v, %d records", err, len(recs))
		}
		g := recs[0]
		if g.h.ID != "f" || g.h.Sender.Mailbox != sender || len(g.rcpts) != 1 || g.rcpts[0].Mailbox != rcpt {
			t.Fatalf("envelope changed: %+v %v", g.h, g.rcpts)
		}
		if v, _ := g.h.Get("x"); v != rcpt || !bytes.Equal(g.msg, msg) {
			t.Fatalf("attribute or message changed")
		}
	})
}

// FuzzReader: any input either fails with a syntax error or is a stream
// whose re-encoding is itself, and every truncation of it is refused.
func FuzzReader(f *testing.F) {
	f.Add([]byte("MLM1 x\nA a=b%20c\nS <> SMTPUTF8\n:hi\n;x\nR <r@x> NOTIFY=NEVER\nE 1\n"))
	f.Add([]byte("MLM1 x\nS <>\nE 0\nMLM1 y\nS <a@b>\n:\nE 0\n"))
	f.Add([]byte("MLM1 x\nA a=1\nA b=2\nS <>\nE 0\nMLM1 y\nA a=1\nA b=%41\nS <>\nE 0\nMLM1 z\nA b=2\nA a=1\nS <>\nE 0\n"))
	f.Fuzz(func(t *testing.T, s []byte) {
		recs, err := decode(s)
		if err != nil {
			if sysexit.Code(err) != sysexit.DataErr {
				t.Fatalf("error not classified as data error: %v", err)
			}
			return
		}
		if got := reencode(t, recs); !bytes.Equal(got, s) {
			t.Fatalf("encode(decode(s)) != s:\n%q\n%q", s, got)
		}
		checkPrefixes(t, s)
	})
}

func TestEachRecipient(t *testing.T) {
	s := encode(t, testHeader, []byte("x\n"), testRcpts, 0)
	r := NewReader(bytes.NewReader(append(s, s...)))
	r.Next()
	var got []string
	if err := r.EachRecipient(func(p Path) error { got = append(got, p.Mailbox); return nil }); err != nil || len(got) != 2 {
		t.Fatalf("EachRecipient = %v, %v", got, err)
	}
	r.Next()
	stop := errors.New("stop")
	if err := r.EachRecipient(func(Path) error { return stop }); err != stop {
		t.Errorf("EachRecipient returned %v; want fn's error", err)
	}
	if _, err := decode([]byte("MLM1 x\nS <>\nR <a@b>\nE 2\n")); err == nil {
		t.Errorf("a wrong count passed")
	}
}

// TestEachRecipientNoCopy: EachRecipientNoCopy gives the recipients
// EachRecipient gives, plain ones and others, across reads that refill
// and move the Reader's buffer, and keeps no copy of a plain one: a
// record of 20,000 takes a few allocations, the Reader's own, where
// EachRecipient takes an arena for every 150 or so.
func TestEachRecipientNoCopy(t *testing.T) {
	var want []Path
	for i := range 20000 {
		p := Path{Mailbox: fmt.Sprintf("m%d@d%d.example", i, i%7)}
		switch i % 500 {
		case 7:
			p.Params = []string{"NOTIFY=NEVER"}
		case 9:
			p.Mailbox = fmt.Sprintf("\"m %d\"@d.example", i)
		}
		want = append(want, p)
	}
	var in bytes.Buffer
	if err := WriteRecord(&in, testHeader, strings.NewReader("x\n"), want); err != nil {
		t.Fatal(err)
	}
	read := func(r *Reader, each func(*Reader, func(Path) error) error, keep bool) []Path {
		t.Helper()
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		var got []Path
		if err := each(r, func(p Path) error {
			if keep {
				got = append(got, p.Clone())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	noCopy, each := (*Reader).EachRecipientNoCopy, (*Reader).EachRecipient
	for name, rd := range map[string]io.Reader{"whole": bytes.NewReader(in.Bytes()), "half": iotest.HalfReader(bytes.NewReader(in.Bytes()))} {
		got := read(NewReader(rd), noCopy, true)
		if len(got) != len(want) {
			t.Fatalf("%s: %d recipients; want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i].String() != want[i].String() {
				t.Fatalf("%s: recipient %d: %s; want %s", name, i+1, got[i], want[i])
			}
		}
	}
	// Plain ones alone, for the allocations: as many for all of them
	// as for one, the Reader's own.
	allocs := func(rcpts []Path, each func(*Reader, func(Path) error) error) float64 {
		t.Helper()
		var in bytes.Buffer
		if err := WriteRecord(&in, testHeader, strings.NewReader("x\n"), rcpts); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(5, func() { read(NewReader(bytes.NewReader(in.Bytes())), each, false) })
	}
	plain := slices.DeleteFunc(want, func(p Path) bool { return len(p.Params) > 0 || p.Mailbox[0] == '"' })
	if n, one, m := allocs(plain, noCopy), allocs(plain[:1], noCopy), allocs(plain, each); n != one || m < one+80 {
		t.Errorf("%v allocations for a record of %d plain recipients without a copy of each, %v for one, %v with a copy; want %v, and %v or more",
			n, len(plain), one, m, one, one+80)
	}
}

// passOn copies every record of s through a Reader and a Writer, the
// message by way of copyMsg, and returns what was written and the
// Writer's Tail after each message.
func passOn(s []byte, copyMsg func(w *Writer, r *Reader) error) ([]byte, []string, error) {
	return passOnFrom(NewReader(bytes.NewReader(s)), copyMsg)
}

// passOnFrom is passOn of what r reads.
func passOnFrom(r *Reader, copyMsg func(w *Writer, r *Reader) error) ([]byte, []string, error) {
	var b bytes.Buffer
	tails, err := passOnTo(NewWriter(&b), r, copyMsg)
	return b.Bytes(), tails, err
}

// passOnTo is passOnFrom writing with w, flushed at the end.
func passOnTo(w *Writer, r *Reader, copyMsg func(w *Writer, r *Reader) error) ([]string, error) {
	var tails []string
	err := r.Each(func(h *Header) error {
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if err := copyMsg(w, r); err != nil {
			return err
		}
		tails = append(tails, string(w.Tail()))
		return CopyRecipients(w, r)
	})
	if err == nil {
		err = w.Flush()
	}
	return tails, err
}

// The ways a filter passes a message on: io.Copy to the Writer (whole
// lines as they came), through a small buffer or a whole one (decoded
// and encoded again), and held encoded (CopyEncoded, then WriteEncoded).
var copyWays = map[string]func(w *Writer, r *Reader) error{
	"copy": func(w *Writer, r *Reader) error {
		_, err := io.Copy(w, r.Message())
		return err
	},
	"small-reads": func(w *Writer, r *Reader) error {
		_, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r.Message()}, make([]byte, 5))
		return err
	},
	"decoded": func(w *Writer, r *Reader) error {
		var b bytes.Buffer
		if _, err := io.Copy(&b, r.Message()); err != nil {
			return err
		}
		_, err := w.Write(b.Bytes())
		return err
	},
	"header-block":     func(w *Writer, r *Reader) error { return viaHeaderBlock(w, r, 1<<20) },
	"header-block-cut": func(w *Writer, r *Reader) error { return viaHeaderBlock(w, r, 7) },
	"bufio-small":      func(w *Writer, r *Reader) error { return viaBufio(w, r, 16) },
	"bufio":            func(w *Writer, r *Reader) error { return viaBufio(w, r, 5000) },
	"encoded": func(w *Writer, r *Reader) error {
		var held bytes.Buffer
		if _, err := r.CopyEncoded(&held); err != nil {
			return err
		}
		_, err := w.WriteEncoded(&held)
		return err
	},
}

// viaHeaderBlock reads the header block, of at most max octets, and
// writes it to w, then copies the body to w as it came.
func viaHeaderBlock(w *Writer, r *Reader, max int) error {
	block, err := r.HeaderBlock(nil, max)
	if err != nil {
		return err
	}
	if _, err := w.Write(block); err != nil {
		return err
	}
	_, err = io.Copy(w, r.Message())
	return err
}

// viaBufio decodes the message into a bufio.Writer of the given size
// (WriteTo decodes straight into its buffer), then writes it to w.
func viaBufio(w *Writer, r *Reader, size int) error {
	var b bytes.Buffer
	bw := bufio.NewWriterSize(&b, size)
	n, err := io.Copy(bw, r.Message())
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if n != int64(b.Len()) {
		return fmt.Errorf("io.Copy to a bufio.Writer said %d octets, wrote %d", n, b.Len())
	}
	_, err = w.Write(b.Bytes())
	return err
}

// checkPassOn: every way of passing s on gives s back when it is valid,
// and a data error at the same line when it is not; the Writer's Tail is
// each message's last octets (but after WriteEncoded, which ends the
// message without looking at it).
func checkPassOn(t *testing.T, s []byte) {
	t.Helper()
	recs, want := decode(s)
	for name, way := range copyWays {
		got, tails, err := passOn(s, way)
		switch {
		case want == nil && err != nil:
			t.Fatalf("%s: %v", name, err)
		case want == nil && !bytes.Equal(got, s):
			t.Fatalf("%s: passed on as\n%q\nnot\n%q", name, got, s)
		case want != nil && (err == nil || err.Error() != want.Error()):
			t.Fatalf("%s: error %v, want %v", name, err, want)
		}
		if want == nil && name != "encoded" {
			for i, rec := range recs {
				if tail := rec.msg[max(0, len(rec.msg)-tailLen):]; tails[i] != string(tail) {
					t.Fatalf("%s: record %d: Tail %q, want %q", name, i, tails[i], tail)
				}
			}
		}
	}
}

func TestPassOn(t *testing.T) {
	for name, msg := range messages() {
		t.Run(name, func(t *testing.T) {
			s := refEncode(testHeader, msg, testRcpts)
			checkPassOn(t, append(append(bytes.Clone(s), s...), s...))
			checkPassOn(t, s[:len(s)-1])
		})
	}
	checkPassOn(t, []byte("MLM1 x\nS <>\n:a\n;b\n:c\nE 0\n"))
	checkPassOn(t, []byte("MLM1 x\nS <>\n:a\n\n:c\nE 0\n"))
	checkPassOn(t, []byte("MLM1 x\nS <>\n:a\nX\nE 0\n"))
}

// TestWriteAttrKept: the attribute lines a Writer keeps and writes again
// are those of the same name and value, whatever their pointers: names
// and values that share one but not the other, values equal but made
// anew, more of them than it keeps, values too long to keep, values to
// escape, and a bad name, which is never kept.
func TestWriteAttrKept(t *testing.T) {
	names := []string{"a", "b", "state", "trace", "x-y"}
	values := []string{"", "a", "b", "v%", "one two", "l\xe9", strings.Repeat("w", keptLen-4), strings.Repeat("w", keptLen), "mlm-members:1796130138"}
	seed := uint32(7)
	rnd := func(n int) int { seed = seed*1664525 + 1013904223; return int(seed>>8) % n }
	var got, want bytes.Buffer
	w := NewWriter(&got)
	for i := 0; i < 3000; i++ {
		h := &Header{ID: fmt.Sprintf("r%d", i), Sender: Path{Mailbox: "s@x.example"}}
		for j := rnd(7); j > 0; j-- {
			a := Attr{Name: names[rnd(len(names))], Value: values[rnd(len(values))]}
			if rnd(2) == 0 {
				a.Name, a.Value = strings.Clone(a.Name), strings.Clone(a.Value)
			}
			h.Attrs = append(h.Attrs, a)
		}
		if err := w.Begin(h.ID); err != nil {
			t.Fatal(err)
		}
		for _, a := range h.Attrs {
			if rnd(50) == 0 {
				if err := w.WriteAttr(Attr{Name: a.Name + " ", Value: a.Value}); sysexit.Code(err) != sysexit.DataErr {
					t.Fatalf("record %d: a bad name: %v", i, err)
				}
			}
			if err := w.WriteAttr(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Sender(h.Sender); err != nil {
			t.Fatal(err)
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		want.Write(refEncode(h, nil, nil))
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("record %d (%v): written\n%q\nwant\n%q", i, h.Attrs, got.Bytes()[max(0, got.Len()-400):], want.Bytes()[max(0, want.Len()-400):])
		}
	}
}

// TestReaderGrows: a Reader of a regular file whose reads fill its
// buffer moves to one of bufMax, in the middle of a record, and passes
// every record on as it came all the same, each way, with ReuseHeader or
// not; one given at most a pipe's 64 KiB a read keeps its first buffer,
// and so does one of a reader that is not a file, whatever it gives.
func TestReaderGrows(t *testing.T) {
	var in []byte
	for i := 0; len(in) < 3*bufMax; i++ {
		for _, msg := range messages() {
			h := &Header{ID: fmt.Sprintf("r%d", i), Attrs: []Attr{{Name: "n", Value: strings.Repeat("v", i%7)}}, Sender: Path{Mailbox: "s@x.example"}}
			in = append(in, refEncode(h, bytes.Repeat(msg, 1+i%50), testRcpts)...)
		}
	}
	for _, c := range []struct {
		chunk, buf int
		file       bool
	}{{len(in), bufMax, true}, {bufSize, bufMax, true}, {64 << 10, bufSize, true}, {4093, bufSize, true}, {len(in), bufSize, false}} {
		for name, way := range copyWays {
			if raceEnabled && name != "copy" {
				continue // (40 passes of 3 MiB: minutes under -race)
			}
			for _, reuse := range []bool{false, true} {
				var rd io.Reader = &chunked{in, c.chunk}
				if c.file {
					rd = &fileChunked{chunked{in, c.chunk}}
				}
				r := NewReader(rd)
				if reuse {
					r.ReuseHeader()
				}
				got, _, err := passOnFrom(r, way)
				what := fmt.Sprintf("reads of %d, a file %v, %s, ReuseHeader %v", c.chunk, c.file, name, reuse)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if !bytes.Equal(got, in) {
					t.Fatalf("%s: %d octets in, %d passed on, not the same", what, len(in), len(got))
				}
				if len(r.buf) != c.buf {
					t.Errorf("%s: buffer of %d octets, want %d", what, len(r.buf), c.buf)
				}
			}
		}
	}
}

// TestPipeKeepsBuffer: a Reader of a pipe as large as mlm-pipeline makes
// them, and full, keeps its first buffer: its reads fill it, but a pipe
// gives no more than it holds, whatever the buffer.
func TestPipeKeepsBuffer(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, bufSize); err != nil {
		t.Skipf("a pipe of %d octets: %v", bufSize, err)
	}
	var in []byte
	for i := 0; len(in) < 3*bufMax; i++ {
		in = append(in, refEncode(&Header{ID: fmt.Sprintf("r%d", i), Sender: Path{Mailbox: "s@x.example"}}, bytes.Repeat([]byte("a line\n"), 500), testRcpts)...)
	}
	done := make(chan error, 1)
	go func() { _, err := pw.Write(in); pw.Close(); done <- err }()
	var b bytes.Buffer
	r, w := NewReader(pr), NewWriter(&b)
	filled := false
	err = r.Each(func(h *Header) error {
		filled = filled || r.filled
		return CopyRecord(w, r, h)
	})
	if err == nil {
		err = w.Flush()
	}
	if werr := <-done; err == nil {
		err = werr
	}
	switch {
	case err != nil:
		t.Fatal(err)
	case !bytes.Equal(b.Bytes(), in):
		t.Fatalf("%d octets in, %d passed on, not the same", len(in), b.Len())
	case len(r.buf) != bufSize:
		t.Errorf("buffer of %d octets, want %d (a read filled it: %v)", len(r.buf), bufSize, filled)
	}
}

// FuzzPassOn: any input is passed on whole or refused as the Reader
// alone would refuse it.
func FuzzPassOn(f *testing.F) {
	f.Add([]byte("MLM1 x\nA a=b%20c\nS <> SMTPUTF8\n:hi\n;x\nR <r@x> NOTIFY=NEVER\nE 1\n"))
	f.Add([]byte("MLM1 x\nS <>\nE 0\nMLM1 y\nS <a@b>\n:\nE 0\n"))
	f.Fuzz(func(t *testing.T, s []byte) { checkPassOn(t, s) })
}

// TestOffset: right after Next, Offset is where the record's message
// starts in the input, as CopyEncoded gives it, whatever the reads.
func TestOffset(t *testing.T) {
	var in bytes.Buffer
	w := NewWriter(&in)
	var starts []int
	for i, size := range []int{0, 10, 3 * MaxLine, 70000, 1} {
		if err := w.WriteHeader(&Header{ID: "r" + strconv.Itoa(i), Sender: Path{}}); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		starts = append(starts, in.Len())
		w.Write(bytes.Repeat([]byte("ab\n"), size/3))
		w.Write([]byte("z"[:size%3%2]))
		w.Recipient(Path{Mailbox: "a@b.example"})
		w.End()
	}
	w.Flush()
	data := in.Bytes()
	for chunk, rd := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }} {
		r := NewReader(rd(bytes.NewReader(data)))
		for i := 0; ; i++ {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			off := r.Offset()
			var msg bytes.Buffer
			if _, err := r.CopyEncoded(&msg); err != nil {
				t.Fatal(err)
			}
			if off != int64(starts[i]) || !bytes.HasPrefix(data[off:], msg.Bytes()) {
				t.Fatalf("reader %d, record %d: Offset %d, want %d", chunk, i, off, starts[i])
			}
		}
	}
}

// TestAttrChanged: an attribute read goes out as its line, escapes and
// all, only while its name and value are what the line says; changed,
// it is written (and checked) afresh.
func TestAttrChanged(t *testing.T) {
	in := "MLM1 x\nA state=new\nA note=%41b\nA a=b=c\nS <>\nE 0\n"
	cases := []struct {
		name string
		edit func(h *Header)
		want string // the attribute lines written; "" for a refusal
	}{
		{"unchanged", func(h *Header) {}, "A state=new\nA note=%41b\nA a=b=c\n"},
		{"value", func(h *Header) { h.Attrs[0].Value = "held" }, "A state=held\nA note=%41b\nA a=b=c\n"},
		{"escaped value", func(h *Header) { h.Attrs[1].Value = "%41b" }, "A state=new\nA note=%2541b\nA a=b=c\n"},
		{"name", func(h *Header) { h.Attrs[0].Name = "stat" }, "A stat=new\nA note=%41b\nA a=b=c\n"},
		{"name with =", func(h *Header) { h.Attrs[2].Name, h.Attrs[2].Value = "a=b", "c" }, ""},
	}
	for _, tc := range cases {
		r := NewReader(strings.NewReader(in))
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(h)
		var b bytes.Buffer
		w := NewWriter(&b)
		err = CopyRecord(w, r, h)
		w.Flush()
		want := ""
		if tc.want != "" {
			want = "MLM1 x\n" + tc.want + "S <>\nE 0\n"
		}
		checkWritten(t, tc.name, err, b.String(), want)
	}
}

// checkWritten fails the test unless what a Writer did was want: the
// stream written, whole, or, for want "", a refusal (EX_DATAERR).
func checkWritten(t *testing.T, name string, err error, got, want string) {
	t.Helper()
	if want == "" {
		if sysexit.Code(err) != sysexit.DataErr {
			t.Errorf("%s: %v, wrote %q; want a refusal", name, err, got)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("%s: %v, wrote %q; want %q", name, err, got, want)
	}
}

// TestRecipientChanged: a recipient as read goes out as its line came,
// unchecked; changed in any way (or a copy, Clone), it is written from
// its fields and checked like any other, so a bad one is refused. Fields
// that spell the same line but split it elsewhere are changed too.
func TestRecipientChanged(t *testing.T) {
	const (
		plain  = "<a@b.example> NOTIFY=NEVER ORCPT=rfc822;x"
		quoted = "<\"a> b\"@c.example> NOTIFY=NEVER"
		gt     = "<a@b.example> ORCPT=rfc822;>"
	)
	cases := []struct {
		name, in string
		edit     func(p *Path)
		want     string // the R line written, "R " and LF aside; "" for a refusal
	}{
		{"unchanged", plain, func(p *Path) {}, plain},
		{"unchanged, quoted", quoted, func(p *Path) {}, quoted},
		{"a copy", plain, func(p *Path) { *p = p.Clone() }, plain},
		{"a copy, quoted", quoted, func(p *Path) { *p = p.Clone() }, quoted},
		{"mailbox", plain, func(p *Path) { p.Mailbox = "d@e.example" }, "<d@e.example> NOTIFY=NEVER ORCPT=rfc822;x"},
		{"a shorter mailbox", quoted, func(p *Path) { p.Mailbox = p.Mailbox[:4] }, ""},
		{"a parameter less", plain, func(p *Path) { p.Params = p.Params[:1] }, "<a@b.example> NOTIFY=NEVER"},
		{"no parameters", plain, func(p *Path) { p.Params = nil }, "<a@b.example>"},
		{"a parameter changed", plain, func(p *Path) { p.Params[1] = "ORCPT=rfc822;y" }, "<a@b.example> NOTIFY=NEVER ORCPT=rfc822;y"},
		{"a bad parameter", plain, func(p *Path) { p.Params[1] = "ORCPT=a b" }, ""},
		{"a line in the mailbox", plain, func(p *Path) { p.Mailbox = "a@b.example\nR <c@d.example>" }, ""},
		{"a bad copy", plain, func(p *Path) { p.Params[0] = "=x"; *p = p.Clone() }, ""},
		{"two parameters as one", plain, func(p *Path) { p.Params = []string{"NOTIFY=NEVER ORCPT=rfc822;x"} }, ""},
		{"a parameter in the mailbox", gt, func(p *Path) { p.Mailbox, p.Params = "a@b.example> ORCPT=rfc822;", nil }, ""},
		{"a quoted mailbox split", quoted, func(p *Path) { p.Mailbox, p.Params = `"a`, []string{`b"@c.example>`, "NOTIFY=NEVER"} }, ""},
	}
	for _, tc := range cases {
		r := NewReader(strings.NewReader("MLM1 x\nS <>\nR " + tc.in + "\nE 1\n"))
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Recipient()
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(&p)
		var b bytes.Buffer
		w := NewWriter(&b)
		w.WriteHeader(h)
		err = w.Recipient(p)
		w.Flush()
		want := ""
		if tc.want != "" {
			want = "MLM1 x\nS <>\nR " + tc.want + "\n"
		}
		checkWritten(t, tc.name, err, b.String(), want)
	}
}

// TestCloneOwnMemory: a Path's Clone shares no memory with the Reader's.
func TestCloneOwnMemory(t *testing.T) {
	in := "MLM1 x\nS <>\nR <a@b.example> NOTIFY=NEVER\nR <c@d.example>\nE 2\n"
	r := NewReader(strings.NewReader(in))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.Recipient()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		q := p.Clone()
		if q.Mailbox != p.Mailbox || !slices.Equal(q.Params, p.Params) {
			t.Errorf("Clone of %v is %v", p, q)
		}
		if unsafe.StringData(q.Mailbox) == unsafe.StringData(p.Mailbox) {
			t.Errorf("Clone of %v shares its mailbox", p)
		}
		for i := range q.Params {
			if unsafe.StringData(q.Params[i]) == unsafe.StringData(p.Params[i]) {
				t.Errorf("Clone of %v shares its parameter %q", p, p.Params[i])
			}
		}
		if len(p.Params) > 0 && &q.Params[0] == &p.Params[0] {
			t.Errorf("Clone of %v shares its Params", p)
		}
	}
}

// TestCloneInto: CloneInto copies a recipient as read into the buffer
// it is given, and makes it over that copy, sharing nothing with the
// Reader's; with room in the buffer, a plain one takes no allocation. A
// Path not as read is cloned as Clone does, the buffer left as it was.
func TestCloneInto(t *testing.T) {
	in := "MLM1 x\nS <>\nR <a@b.example> NOTIFY=NEVER\nR <c@d.example>\nE 2\n"
	r := NewReader(strings.NewReader(in))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	in64 := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		return p >= base && p+uintptr(len(s)) <= base+uintptr(cap(buf))
	}
	var ps []Path
	if err := r.EachRecipientNoCopy(func(p Path) error {
		q, grown := p.CloneInto(buf)
		if q.String() != p.String() || !q.sameAsRead() {
			t.Errorf("CloneInto of %v is %v (as read: %v)", p, q, q.sameAsRead())
		}
		if len(grown) != len(buf)+len(p.line) || &grown[0] != &buf[:1][0] {
			t.Errorf("CloneInto of %v: a buffer of %d octets, not %d more in the same one", p, len(grown), len(p.line))
		}
		buf = grown
		if !in64(q.Mailbox) || !in64(q.line) {
			t.Errorf("CloneInto of %v: its strings are not the buffer's", p)
		}
		for _, x := range q.Params {
			if !in64(x) {
				t.Errorf("CloneInto of %v: its parameter %q is not the buffer's", p, x)
			}
		}
		ps = append(ps, p.Clone())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plain := ps[1]
	if n := testing.AllocsPerRun(100, func() { plain.CloneInto(buf[:0]) }); n != 0 {
		t.Errorf("CloneInto of %v into a buffer with room: %v allocations; want 0", plain, n)
	}
	made := Path{Mailbox: "e@f.example", Params: []string{"NOTIFY=NEVER"}}
	q, same := made.CloneInto(buf)
	if q.String() != made.String() || len(same) != len(buf) || unsafe.StringData(q.Mailbox) == unsafe.StringData(made.Mailbox) {
		t.Errorf("CloneInto of a Path not read: %v, the buffer %d octets long, not %d; want Clone's", q, len(same), len(buf))
	}
}

// TestWriterLineLimit: an envelope line over MaxLine octets is refused,
// and nothing of it written: the next reader would refuse the stream.
func TestWriterLineLimit(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Begin("x")
	if err := w.Attr("note", strings.Repeat(" ", 30000)); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("an attribute of 90,000 octets escaped: %v", err)
	}
	if err := w.Attr("note", strings.Repeat("x", MaxLine+1-len("A note=\n"))); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("an attribute of MaxLine+1 octets: %v", err)
	}
	if err := w.Attr("note", strings.Repeat("x", MaxLine-len("A note=\n"))); err != nil {
		t.Errorf("an attribute of MaxLine octets: %v", err)
	}
	// A path's line is short of it: six parameters at most, none
	// twice, ENVID of 100 octets at most and the others of 500. Those
	// of other keywords, which could make it longer, are refused.
	params := make([]string, 6000)
	for i := range params {
		params[i] = fmt.Sprintf("P%04d=NEVERX", i)
	}
	if err := w.Sender(Path{Mailbox: "a@b.example", Params: params}); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("a sender line of 78,000 octets: %v", err)
	}
	if err := w.Sender(Path{Mailbox: "a@b.example", Params: []string{"BODY=8BITMIME", "SMTPUTF8", "RET=FULL", "ENVID=" + strings.Repeat("e", 100)}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Recipient(Path{Mailbox: "c@d.example", Params: params}); sysexit.Code(err) != sysexit.DataErr {
		t.Errorf("a recipient line of 78,000 octets: %v", err)
	}
	if err := w.Recipient(Path{Mailbox: "c@d.example", Params: []string{"NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;" + strings.Repeat("o", 500-len("rfc822;"))}}); err != nil {
		t.Errorf("a recipient line of the longest parameters: %v", err)
	}
	w.End()
	w.Flush()
	if err := NewReader(&b).Each(func(*Header) error { return nil }); err != nil {
		t.Errorf("what was written is no valid stream: %v", err)
	}
}

// TestHeldMemory: a Reader keeps no earlier record alive, however its
// attributes change from record to record (here two, by turns, so that
// each record shares one with the record before).
func TestHeldMemory(t *testing.T) {
	const n = 40000
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		for k := 0; k < n; k++ {
			fmt.Fprintf(bw, "MLM1 r%d\nA list=l%d\nA received=%d\nS <>\nE 0\n", k, k/2, (k+1)/2)
		}
		bw.Flush()
		pw.Close()
	}()
	r := NewReader(pr)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var first, last uint64
	k := 0
	err := r.Each(func(*Header) error {
		switch k++; k {
		case n / 4:
			first = heap()
		case n:
			last = heap()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if last > first+2<<20 {
		t.Errorf("heap grew from %d to %d octets over %d records", first, last, n*3/4)
	}
}

// TestLongLineArena: an envelope line too long to share an arena is a
// string of its own, and leaves the arena in use to the short lines
// after it: lines over 4 KiB and short ones by turns once made each
// short line start an arena of 4 KiB.
func TestLongLineArena(t *testing.T) {
	const n = 2000
	var b bytes.Buffer
	long := strings.Repeat("x", 5000)
	for k := 0; k < n; k++ {
		fmt.Fprintf(&b, "MLM1 r%d\nA x-long=%s%d\nA x-short=%d\nS <>\nE 0\n", k, long, k, k)
	}
	data := b.Bytes()
	alloc := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.TotalAlloc
	}
	before := alloc()
	if err := NewReader(bytes.NewReader(data)).Each(func(*Header) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// The long lines themselves, the Reader's buffers and some slack;
	// an arena for every record would be 8 MiB more.
	if got, most := alloc()-before, uint64(len(data)+bufSize+bufMax+2<<20); got > most {
		t.Errorf("%d octets allocated reading %d records of %d octets; want at most %d", got, n, len(data)/n, most)
	}
}

// TestReuseHeader: after ReuseHeader, Next gives the same Header for
// each record, holding that record's id, attributes and sender only (not
// the last record's extra ones, nor an attribute a caller appended);
// what the strings of an earlier record said stays as it was; and the
// records pass on byte for byte.
func TestReuseHeader(t *testing.T) {
	in := "MLM1 a\nA list=l@x.example\nA note=one%20two\nA state=new\nS <p@x.example>\n:m\nR <r@y.example>\nE 1\n" +
		"MLM1 b\nA list=l@x.example\nS <>\nE 0\n" +
		"MLM1 c\nA list=l@x.example\nA note=three\nS <q@x.example> RET=HDRS\n:n\nE 0\n"
	want := []Header{
		{ID: "a", Attrs: []Attr{{Name: "list", Value: "l@x.example"}, {Name: "note", Value: "one two"}, {Name: "state", Value: "new"}}, Sender: Path{Mailbox: "p@x.example"}},
		{ID: "b", Attrs: []Attr{{Name: "list", Value: "l@x.example"}}},
		{ID: "c", Attrs: []Attr{{Name: "list", Value: "l@x.example"}, {Name: "note", Value: "three"}}, Sender: Path{Mailbox: "q@x.example", Params: []string{"RET=HDRS"}}},
	}
	r := NewReader(strings.NewReader(in))
	r.ReuseHeader()
	var out bytes.Buffer
	w := NewWriter(&out)
	var first *Header
	var kept []string // the first record's strings
	for i := range want {
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = h
			kept = []string{h.ID, h.Attrs[1].Value, h.Sender.Mailbox}
		} else if h != first {
			t.Errorf("record %s: a new Header", h.ID)
		}
		got := Header{ID: h.ID, Attrs: make([]Attr, len(h.Attrs)), Sender: h.Sender}
		for j, a := range h.Attrs {
			got.Attrs[j] = Attr{Name: a.Name, Value: a.Value}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("record %d: %+v, want %+v", i, got, want[i])
		}
		if err := CopyRecord(w, r, h); err != nil {
			t.Fatal(err)
		}
		h.Attrs = append(h.Attrs, Attr{Name: "trace", Value: "x"}) // after it went out
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last record: %v", err)
	}
	if !slices.Equal(kept, []string{"a", "one two", "p@x.example"}) {
		t.Errorf("the first record's strings became %q", kept)
	}
	w.Flush()
	if out.String() != in {
		t.Errorf("passed on as\n%s\nwant\n%s", out.String(), in)
	}
}

// TestHeaderAsRead: after ReuseHeader, WriteHeader writes the envelope
// lines of the record a Reader read last as they came, as far as the
// Header still says what Next gave: the id, the attributes from the
// first up to one changed, the sender. The rest is written from its
// fields, checked; a bad one is refused. A Header whose lines the Reader
// has moved since is written from its fields alone, and so is a copy of
// another record's, but for an attribute or sender it shares with the
// last; and so is any Header of a Reader without ReuseHeader.
func TestHeaderAsRead(t *testing.T) {
	const in = "MLM1 x\nA state=new\nA note=%41b\nA a=b\nS <p@x.example>\n:m\nE 0\n" +
		"MLM1 y\nA state=new\nA note=%41b\nS <q@x.example> RET=HDRS\nE 0\n"
	const attrs = "A state=new\nA note=%41b\nA a=b\n"
	cases := []struct {
		name   string
		edit   func(h *Header)
		id     bool // the MLM1 line as read
		k      int  // attributes as read
		sender bool // the S line as read
		want   string
	}{
		{"unchanged", func(h *Header) {}, true, 3, true, "MLM1 x\n" + attrs + "S <p@x.example>\n"},
		{"added", func(h *Header) { h.Attrs = append(h.Attrs, Attr{Name: "trace", Value: "t 1"}) }, true, 3, true,
			"MLM1 x\n" + attrs + "A trace=t%201\nS <p@x.example>\n"},
		{"second changed", func(h *Header) { h.Attrs[1].Value = "Ac" }, true, 1, true, "MLM1 x\nA state=new\nA note=Ac\nA a=b\nS <p@x.example>\n"},
		{"same text, changed", func(h *Header) { h.Attrs[0].Value = strings.Clone(h.Attrs[0].Value) }, true, 0, true,
			"MLM1 x\n" + attrs + "S <p@x.example>\n"},
		{"first dropped", func(h *Header) { h.Attrs = h.Attrs[1:] }, true, 0, true, "MLM1 x\nA note=%41b\nA a=b\nS <p@x.example>\n"},
		{"last dropped", func(h *Header) { h.Attrs = h.Attrs[:2] }, true, 2, true, "MLM1 x\nA state=new\nA note=%41b\nS <p@x.example>\n"},
		{"bad name", func(h *Header) { h.Attrs[2].Name = "a=b" }, true, 2, true, ""},
		{"id", func(h *Header) { h.ID = "x,1" }, false, 3, true, "MLM1 x,1\n" + attrs + "S <p@x.example>\n"},
		{"attributes copied, new id", func(h *Header) { h.ID, h.Attrs = "x,2", slices.Clone(h.Attrs) }, false, 3, true,
			"MLM1 x,2\n" + attrs + "S <p@x.example>\n"},
		{"bad id", func(h *Header) { h.ID = "x y" }, false, 3, true, ""},
		{"sender", func(h *Header) { h.Sender = Path{Mailbox: "b@x.example"} }, true, 3, false, "MLM1 x\n" + attrs + "S <b@x.example>\n"},
		{"sender parameter", func(h *Header) { h.Sender.Params = []string{"RET=FULL"} }, true, 3, false,
			"MLM1 x\n" + attrs + "S <p@x.example> RET=FULL\n"},
		{"bad sender", func(h *Header) { h.Sender.Mailbox = "p@x.example>" }, true, 3, false, ""},
	}
	for _, tc := range cases {
		r := NewReader(strings.NewReader(in))
		r.ReuseHeader()
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		tc.edit(h)
		mLine, aLines, k, sLine := h.asRead()
		if (mLine != nil) != tc.id || k != tc.k || (sLine != nil) != tc.sender {
			t.Errorf("%s: as read: id %v, %d attributes (%q), sender %v; want %v, %d, %v",
				tc.name, mLine != nil, k, aLines, sLine != nil, tc.id, tc.k, tc.sender)
		}
		var b bytes.Buffer
		w := NewWriter(&b)
		err = w.WriteHeader(h)
		w.Flush()
		checkWritten(t, tc.name, err, b.String(), tc.want)
	}

	// The second record's Header, whose sender has a parameter; a copy
	// of the first record's, once the second is read: the two
	// attributes they share as read (the Reader shares their strings),
	// the rest not; a Header read a line at a time, its lines moved in
	// the buffer by each read, nothing; nor a Reader's without
	// ReuseHeader.
	for _, way := range []string{"reuse", "moving", "no reuse"} {
		src := io.Reader(strings.NewReader(in))
		if way == "moving" {
			src = iotest.OneByteReader(src)
		}
		r := NewReader(src)
		if way != "no reuse" {
			r.ReuseHeader()
		}
		var hs []Header
		for range 2 { // not to the end: a read there moves the lines
			h, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			mLine, _, k, sLine := h.asRead()
			if want := way == "reuse"; (mLine != nil) != want || (k > 0) != want || (sLine != nil) != (want && h.ID == "x") {
				t.Errorf("record %s, %s: as read: id %v, %d attributes, sender %v", h.ID, way, mLine != nil, k, sLine != nil)
			}
			c := *h
			c.Attrs = slices.Clone(h.Attrs)
			hs = append(hs, c)
		}
		shared := 0 // attributes of the first record's copy as read
		if way == "reuse" {
			shared = 2
		}
		if mLine, _, k, sLine := hs[0].asRead(); mLine != nil || k != shared || sLine != nil {
			t.Errorf("%s: the first record's Header, after the second was read: id %v, %d attributes, sender %v",
				way, mLine != nil, k, sLine != nil)
		}
		var b bytes.Buffer
		w := NewWriter(&b)
		for i := range hs {
			if err := w.WriteHeader(&hs[i]); err != nil {
				t.Fatal(err)
			}
			w.End()
		}
		w.Flush()
		if want := "MLM1 x\n" + attrs + "S <p@x.example>\nE 0\nMLM1 y\nA state=new\nA note=%41b\nS <q@x.example> RET=HDRS\nE 0\n"; b.String() != want {
			t.Errorf("%s: written %q; want %q", way, b.String(), want)
		}
	}
}

// TestReuseHeaderAllocs: with ReuseHeader, records of more attributes
// than a Header first has room for, and a filter adding its own, cost no
// allocation a record once the first has passed.
func TestReuseHeaderAllocs(t *testing.T) {
	var in bytes.Buffer
	w := NewWriter(&in)
	h := &Header{Sender: Path{Mailbox: "p@x.example"}}
	for i := range 12 {
		h.Attrs = append(h.Attrs, Attr{Name: "a" + strconv.Itoa(i), Value: "v"})
	}
	for i := range 1100 {
		h.ID = "r" + strconv.Itoa(i)
		w.WriteHeader(h)
		io.WriteString(w, "m\n")
		w.Recipient(Path{Mailbox: "r@x.example"})
		w.End()
	}
	w.Flush()
	r := NewReader(&in)
	r.ReuseHeader()
	var out bytes.Buffer
	out.Grow(in.Len())
	ow := NewWriter(&out)
	pass := func() {
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Attrs = append(h.Attrs, Attr{Name: "trace", Value: "t"}, Attr{Name: "state", Value: "s"})
		if err := CopyRecord(ow, r, h); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if n := testing.AllocsPerRun(1000, pass); n != 0 {
		t.Errorf("%v allocations a record", n)
	}
}

// TestLineLimitEveryPath: a ":" line of MaxLine octets, LF included, is
// taken and one of MaxLine+1 refused, at its line, whichever way the
// message is read: copied to a Writer, copied encoded, skipped, read.
func TestLineLimitEveryPath(t *testing.T) {
	ways := map[string]func(r *Reader, h *Header) error{
		"CopyRecord": func(r *Reader, h *Header) error {
			w := NewWriter(io.Discard)
			if err := CopyRecord(w, r, h); err != nil {
				return err
			}
			return w.Flush()
		},
		"CopyEncoded": func(r *Reader, h *Header) error {
			if _, err := r.CopyEncoded(io.Discard); err != nil {
				return err
			}
			return r.EachRecipient(func(Path) error { return nil })
		},
		"skipped": func(r *Reader, h *Header) error { return nil },
		"ReadAll": func(r *Reader, h *Header) error {
			if _, err := io.ReadAll(r.Message()); err != nil {
				return err
			}
			return r.EachRecipient(func(Path) error { return nil })
		},
	}
	for name, way := range ways {
		for _, l := range []int{MaxLine, MaxLine + 1} {
			s := "MLM1 x\nS <>\n:a\n:" + strings.Repeat("z", l-2) + "\n:b\nR <r@x.example>\nE 1\n"
			r := NewReader(strings.NewReader(s))
			err := r.Each(func(h *Header) error { return way(r, h) })
			var se *SyntaxError
			switch {
			case l == MaxLine && err != nil:
				t.Errorf("%s: a line of MaxLine octets: %v", name, err)
			case l > MaxLine && (!errors.As(err, &se) || se.Line != 4):
				t.Errorf("%s: a line of MaxLine+1 octets: %v; want a syntax error at line 4", name, err)
			}
		}
	}
}

// A Header Next gives, without ReuseHeader, keeps no other record's
// attributes in memory: records of 20 attributes of 60 KiB each, read
// and dropped one by one, leave about one record's alive, not those of
// every record of the allocation their Headers came in (16: 19 MB).
func TestHeaderKeepsNoOtherAttrs(t *testing.T) {
	var in bytes.Buffer
	w := NewWriter(&in)
	big := strings.Repeat("v", 60<<10)
	const records, attrs = 15, 20
	for i := range records {
		h := &Header{ID: "r" + strconv.Itoa(i), Sender: Path{Mailbox: "p@x.example"}}
		for j := range attrs {
			// Values of their own: not one string the records share.
			h.Attrs = append(h.Attrs, Attr{Name: "x-a" + strconv.Itoa(j), Value: strconv.Itoa(i) + big})
		}
		w.WriteHeader(h)
		io.WriteString(w, "m\n")
		w.End()
	}
	w.Flush()
	data := in.Bytes()
	r := NewReader(bytes.NewReader(data))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range records {
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Attrs) != attrs {
			t.Fatalf("%d attributes", len(h.Attrs))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(r)
	runtime.KeepAlive(data)
	record := int64(attrs * len(big))
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("live heap grew %d KiB over %d records of %d KiB", grew>>10, records, record>>10)
	if grew > 4*record {
		t.Errorf("live heap grew %d KiB reading %d records of %d KiB, dropped: more than 4 records' worth", grew>>10, records, record>>10)
	}
}

// TestReset: a Reader Reset to another stream, after it stopped in the
// middle of a record's message of the first (and its header kept),
// reads the second as a new Reader does, and the header of the first
// is as it was; the buffer is the one it had.
func TestReset(t *testing.T) {
	stream := func(id string, n int) []byte {
		var b bytes.Buffer
		for i := range n {
			h := &Header{ID: fmt.Sprintf("%s.%d", id, i), Attrs: []Attr{{Name: "hold-reason", Value: "not a member " + id}},
				Sender: Path{Mailbox: id + "@example.org"}}
			msg := "Subject: " + id + "\n\n" + strings.Repeat("line of "+id+"\n", 1000*(i+1))
			if err := WriteRecord(&b, h, strings.NewReader(msg), []Path{{Mailbox: fmt.Sprintf("r%d@%s.example", i, id)}}); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	dump := func(r *Reader) string {
		var sb strings.Builder
		err := r.Each(func(h *Header) error {
			msg, err := io.ReadAll(r.Message())
			fmt.Fprintf(&sb, "%s %v %s %d %q\n", h.ID, h.Attrs, h.Sender.Mailbox, len(msg), msg[len(msg)-20:])
			r.EachRecipient(func(p Path) error { sb.WriteString(p.Mailbox + "\n"); return nil })
			return err
		})
		fmt.Fprintf(&sb, "%v", err)
		return sb.String()
	}
	a, b := stream("a", 3), stream("b", 4)
	want := dump(NewReader(bytes.NewReader(b)))
	r := NewReader(iotest.HalfReader(bytes.NewReader(a)))
	h, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Message().Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	first := fmt.Sprint(*h)
	buf := &r.buf[0]
	r.Reset(bytes.NewReader(b))
	if got := dump(r); got != want {
		t.Errorf("after Reset:\n%s\nwant, as a new Reader reads it:\n%s", got, want)
	}
	if fmt.Sprint(*h) != first {
		t.Errorf("the first stream's header became %v; want %v", *h, first)
	}
	if &r.buf[0] != buf {
		t.Error("Reset took a new buffer")
	}
}
