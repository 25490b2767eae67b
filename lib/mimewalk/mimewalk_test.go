package mimewalk

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"mlm/lib/mlmtest"
)

// nested is a body of depth multiparts, one inside the other, each with
// a text part beside the next; closed says whether each has its close
// delimiter.
func nested(depth int, closed bool) (ct, body string) {
	var b strings.Builder
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: text/plain\n\nt%d\n--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i, i, i+1)
	}
	fmt.Fprintf(&b, "--b%d\n\nleaf\n", depth)
	if closed {
		for i := depth; i >= 1; i-- {
			fmt.Fprintf(&b, "--b%d--\n", i)
		}
	}
	return "multipart/mixed; boundary=b1", b.String()
}

// flat is a multipart of n text parts.
func flat(n int) (ct, body string) {
	return "multipart/mixed; boundary=x", strings.Repeat("--x\n\nx\n", n) + "--x--\n"
}

// inner is a message of a multipart of three parts, for the encoded
// messages of TestWalk.
const inner = "Subject: x\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i\n\n--i\n\n--i--\n"

func TestWalk(t *testing.T) {
	ct1, deep100 := nested(100, true)
	_, deep101 := nested(101, true)
	_, open101 := nested(101, false)
	_, open5 := nested(5, false)
	ctf, parts10k := flat(10_000)
	_, parts10k1 := flat(10_001)
	tests := []struct {
		name, ct, body string
		err            error
		parts, depth   int
	}{
		{"not multipart", "text/plain", "--x\n\n--x--\n", nil, 0, 0},
		{"no type", "", "--x\n", nil, 0, 0},
		{"bad type", "multipart/mixed; boundary=", "--\n", ErrType, 0, 0},
		{"bad type, no multipart", "text/plain; charset=", "--\n", nil, 0, 0},
		// Python's email takes the first, and walks the parts.
		{"boundary given twice", "multipart/mixed; boundary=a; boundary=b", "--a\n\nx\n--a--\n", ErrType, 0, 0},
		// Go's mime takes the RFC 2231 form, Python's email the other.
		{"boundary given twice, once in RFC 2231's form", "multipart/mixed; boundary=a; boundary*=utf-8''b", "--a\n\nx\n--a--\n", ErrType, 0, 0},
		{"boundary given twice, RFC 2231 continuation first", "multipart/mixed; Boundary*0=b; boundary*1=c; BOUNDARY=\"a\"", "--a\n\nx\n--a--\n", ErrType, 0, 0},
		{"boundary in RFC 2231's form", "multipart/mixed; boundary*=utf-8''b; x*=''y", "--b\n\nx\n--b--\n", nil, 1, 1},
		{"RFC 2231, in us-ascii, a language", "multipart/mixed; boundary*=US-ASCII'en'%62", "--b\n\nx\n--b--\n", nil, 1, 1},
		// Go's mime drops a boundary in RFC 2231's form with no charset
		// or another, or a bad %-escape, and reads continuations
		// otherwise than Python's email, which takes each.
		{"RFC 2231, no charset", "multipart/mixed; boundary*=''b", "--b\n\nx\n--b--\n", ErrType, 0, 0},
		{"RFC 2231, Latin-1", "multipart/mixed; boundary*=iso-8859-1''b", "--b\n\nx\n--b--\n", ErrType, 0, 0},
		{"RFC 2231, no quotes", "multipart/mixed; boundary*=b", "--b\n\nx\n--b--\n", ErrType, 0, 0},
		{"RFC 2231, bad escape", "multipart/mixed; boundary*=utf-8''%ZZ", "--%ZZ\n\nx\n--%ZZ--\n", ErrType, 0, 0},
		{"RFC 2231, continuations", "multipart/mixed; boundary*0*=''x; boundary*1=y", "--xy\n\nx\n--xy--\n", ErrType, 0, 0},
		{"RFC 2231, continuations Go reads", "multipart/mixed; boundary*0=x; boundary*1=y", "--xy\n\nx\n--xy--\n", ErrType, 0, 0},
		{"comments", "multipart/mixed (a (nested) comment); boundary=x (another \\) one)", "--x\n\nhi\n--x\n\n--x--\n", nil, 2, 1},
		{"comment first", "(c) multipart/mixed; boundary=\"x\"", "--x\n\n--x--\n", nil, 1, 1},
		// Python's email takes a comment after the boundary for part
		// of it: its delimiters count too.
		{"comment, as Python's email reads it", "multipart/mixed; boundary=x (c)", "--x (c)\n\na\n--x\n\nb\n--x (c)--\n", nil, 2, 1},
		// Go's close ("--x--") is none to Python's email, and Python's
		// none to Go's: the walk reads on after either.
		{"comment, either close", "multipart/mixed; boundary=x (c)", "--x (c)\n\n--x--\n--x (c)\n\n--x (c)--\n--x\n", nil, 3, 1},
		// Both delimiters go with the multipart: after the outer
		// delimiter that ends it, "--x (c)" is a body line.
		{"comment, inside, after its multipart", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=x (c)\n\n--x (c)\n\n--o\n\n--x (c)\n\n--x\n\n--o--\n", nil, 3, 2},
		{"quotes and a comment, as Python's email reads it", "multipart/mixed; boundary=\"x\" (c)", "--\"x\" (c)\n\na\n--x\n\nb\n--x--\n", nil, 2, 1},
		// Python's email takes off angle brackets around a value as it
		// does quotes, and again after them, and takes a ";" after
		// "\\"" for one in quotes.
		{"angle brackets, as Python's email reads them", "multipart/mixed; boundary=<x>", "--x\n\n--x\n\n--x--\n", nil, 2, 1},
		{"angle brackets in quotes", "multipart/mixed; boundary=\"<x>\"", "--x\n\n--x\n\n--x--\n", nil, 2, 1},
		{"a quoted backslash, as Python's email reads it", `multipart/mixed; boundary="x\\"; y=z`,
			"--\"x\\\\\"; y=z\n\n--\"x\\\\\"; y=z\n\n--\"x\\\\\"; y=z--\n", nil, 2, 1},
		{"RFC 2231, a comment, as Python's email reads it", "multipart/mixed; boundary*=utf-8''x%20(c)", "--x (c)\n\n--x (c)\n\n--x (c)--\n", nil, 2, 1},
		// A boundary Python's email alone reads, in what the others
		// take for a comment, delimits as it alone: "--" is no
		// delimiter, and its close delimiter closes it.
		{"boundary to Python's email alone", "multipart/mixed; x=a (; boundary=b; y=c)", "--b\n\n--\n\n--b--\n--b\n\n", nil, 1, 1},
		// Python's email drops a boundary's trailing white space of any
		// kind (str.rstrip), a form feed too.
		{"boundary ends in a form feed", "multipart/mixed; boundary=\"x\f\"", "--x\n\n--x\n\n--x--\n", nil, 2, 1},
		// A value already quoted stays as it is where another is quoted
		// for mime.ParseMediaType: its close delimiter closes it.
		{"quoted, beside one not quoted", "multipart/mixed; boundary=\"a\"; x=b=c", "--a\n\n--a--\n--a\n\n", nil, 1, 1},
		{"no comment in quotes", "multipart/mixed; boundary=\"x (y)\" (z)", "--x (y)\n\n--x\n\n--x (y)--\n", nil, 1, 1},
		{"quoted-pair in quotes", "multipart/mixed; boundary=\"x\\\" (y\" (z)", "--x\" (y\n\n--x\" (y--\n", nil, 1, 1},
		{"unclosed comment", "multipart/mixed; boundary=x (z", "--x\n\n--x--\n", nil, 1, 1},
		// A value with a tspecial that should be quoted and is not,
		// which mime.ParseMediaType refuses and mail readers take.
		{"unquoted boundary", "multipart/mixed; boundary=----=_Part_1", "------=_Part_1\n\nhi\n------=_Part_1\n\n------=_Part_1--\n", nil, 2, 1},
		{"unquoted, comment", "multipart/mixed; boundary=a=b (c); charset=us-ascii", "--a=b\n\n--a=b--\n", nil, 1, 1},
		{"unquoted inner", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/alternative; boundary=i?j\n\n--i?j\n\n--i?j--\n--o--\n", nil, 2, 2},
		{"simple", "multipart/mixed; boundary=x", "pre\n--x\nContent-Type: text/plain\n\nhi\n--x\n\nho\n--x--\nepi\n--x\n", nil, 2, 1},
		{"crlf and padding", "multipart/mixed; boundary=\"a b\"", "--a b \r\n\r\nhi\r\n--a b\t\r\n\r\n--a b-- \r\n", nil, 2, 1},
		// Its close delimiter is Go's "--a --" or Python's "--a--",
		// after which the other reads on: none closes it for both.
		{"boundary ends in space", "multipart/mixed; boundary=\"a \"", "--a \n\nhi\n--a\t\n\n--a --\n--a \n\n--a--\n--a\n", nil, 4, 1},
		// "--", the boundary and "--", with nothing between, closes a
		// multipart: "--x --" is a body line to Python's email.
		{"space before the close", "multipart/mixed; boundary=x", "--x\n\n--x --\n--x\n\n--x\t--\n--x\n\n--x--\n--x\n", nil, 3, 1},
		{"space-ended inside", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=\"i \"\n\n--i \n\n--i --\n--o\n\n--o--\n", nil, 3, 2},
		// Go's mime/multipart reads on past a close delimiter before
		// the first delimiter line, in a message of LF line ends.
		{"close before the first part", "multipart/mixed; boundary=x", "--x--\n--x\n\n--x\n\n--x--\n--x\n", nil, 2, 1},
		// Python's email passes over a close delimiter line right
		// after a delimiter line, and reads on.
		{"close after a delimiter", "multipart/mixed; boundary=x", "--x\n--x--\n--x\n\n--x\r--x--\r--x--\n--x\n\n--x--\n--x\n", nil, 4, 1},
		{"close after a delimiter, inside", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n--i--\n--i\n\na\n--i\n\nb\n--i--\n--o--\n", nil, 4, 2},
		// Python's email and Go's mime/multipart take an empty one.
		{"empty boundary", "multipart/mixed; boundary=\"\"", "--\n\nhi\n--\t\n\n----\n--\n", nil, 2, 1},
		{"boundary of spaces", "multipart/mixed; boundary=\"  \"", "--  \n\nhi\n--  \n\n--  --\n", nil, 2, 1},
		{"spaces, message inside", "multipart/mixed; boundary=\" \"",
			"-- \nContent-Type: message/rfc822\n\nSubject: x\n\n-- \n\n-- --\n", nil, 2, 2},
		{"not at line start", "multipart/mixed; boundary=x", "a--x\n --x\n--xy\n", nil, 0, 1},
		{"unclosed", "multipart/mixed; boundary=x", "--x\n\nno end", nil, 1, 1},
		{"depth 100", ct1, deep100, nil, 199, 100},
		{"depth 101", ct1, deep101, ErrDepth, 200, 100},
		{"depth 101 unclosed", ct1, open101, ErrDepth, 200, 100},
		{"depth 5 unclosed", ct1, open5, nil, 9, 5},
		{"10,000 parts", ctf, parts10k, nil, 10_000, 1},
		{"10,001 parts", ctf, parts10k1, ErrParts, 10_001, 1},
		{"outer delimiter closes inner", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--o\n\n--o--\n", nil, 3, 2},
		{"same boundary inside", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=o\n\n--o\n\n--o--\n", nil, 2, 1},
		// White space inside a part's boundary is the boundary's.
		{"two spaces in a part's boundary", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=\"a  b\"\n\n--a  b\n\n--a  b\n\n--a  b--\n--o--\n", nil, 3, 2},
		{"a tab in a part's folded boundary", "multipart/mixed; boundary=o",
			"--o\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"a\tb\"\r\n\r\n--a\tb\r\n\r\n--a\tb\r\n\r\n--a\tb--\r\n--o--\r\n", nil, 3, 2},
		// A field's name has no case.
		{"content-type in lower case", "multipart/mixed; boundary=o",
			"--o\ncontent-type: multipart/mixed; boundary=i\n\n--i\n\n--i\n\n--i--\n--o--\n", nil, 3, 2},
		{"content-transfer-encoding in upper case", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nCONTENT-TRANSFER-ENCODING: base64\n\n" + mlmtest.Base64Lines(inner) + "--o\n\n--o--\n", nil, 5, 3},
		{"folded content-type", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed;\n boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 2},
		// ... and so does a close delimiter: what follows it is
		// epilogue, no header (a line that is no field there is none
		// after a multipart's type).
		{"close delimiter ends a header", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\nContent-Type: multipart/mixed; boundary=z\n--i--\njunk\n--o--\n", nil, 2, 2},
		{"delimiter ends a header", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n--o\n\n--o--\n", nil, 2, 1},
		{"message/rfc822", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\n\nSubject: x\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 3},
		// A message in base64 or quoted-printable, which RFC 2046
		// forbids, is walked as readers read it: decoded.
		{"base64 message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n--o--\n", nil, 1, 2},
		{"base64 message, multipart inside", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: BASE64\n\n" + mlmtest.Base64Lines(inner) + "--o\n\n--o--\n", nil, 5, 3},
		{"base64 message, unclosed", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(inner), nil, 4, 3},
		{"quoted-printable message, multipart inside", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n" +
				"Subject: x\r\nContent-Type: multipart/mixed; bound=\r\nary=3D\"i\"\r\n\r\n--i\r\n\r\n-=\n-i\n\n--=69--\n--o--\n", nil, 3, 3},
		// One in another encoding, which no reader decodes, is walked
		// as it is, as Python's email reads it.
		{"x-uuencode message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: x-uuencode\n\n" + inner + "--o--\n", nil, 4, 3},
		// A field named so only in Unicode's case (U+017F, LONG S, folds
		// to s) is no Content-Transfer-Encoding: the message is walked.
		{"long s in field name", "multipart/mixed; boundary=o",
			"--o\nContent-Tran\u017ffer-Encoding: base64\nContent-Type: message/rfc822\n\nSubject: x\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 3},
		// Content-Type or Content-Transfer-Encoding given twice: some
		// readers take the first (Python's email, go-message), others
		// the last (mutt). Where that makes a multipart or message of
		// a part for one and not the other, the part cannot be read.
		{"content-type twice", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", ErrType, 1, 1},
		{"content-type twice, message last", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain\nX: y\nContent-Type:\n message/rfc822\n\nSubject: x\n--o--\n", ErrType, 1, 1},
		{"transfer-encoding twice, message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n--o--\n", ErrType, 1, 1},
		{"content-type twice, the same", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed;  boundary=i\nContent-Type: multipart/mixed;\n boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 2},
		{"content-type twice, neither structured", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain\nContent-Type: text/html\nContent-Transfer-Encoding: base64\nContent-Transfer-Encoding: 7bit\n\nx\n--o--\n", nil, 1, 1},
		{"the first and last the same", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain\nContent-Type: message/rfc822\nContent-Type: text/plain\n\nx\n--o--\n", nil, 1, 1},
		// Any message type but delivery-status is a message to
		// Python's email.
		{"message/news", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/news\n\nSubject: x\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 3},
		{"message/x-anything, in base64", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/x-anything\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines(inner) + "--o\n\n--o--\n", nil, 5, 3},
		// A delivery-status is blocks of fields to Python's email,
		// each a part of the type it gives.
		{"delivery-status", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/delivery-status\n\nA: 1\n\nB: 2\n--o--\n", nil, 3, 2},
		{"delivery-status, a multipart in a block", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/delivery-status\n\nA: 1\n\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n\nC: 3\n--o--\n", nil, 5, 3},
		// Each block is a part, and the blocks count to the limit as
		// any parts do: 10,000 in all is within it, 10,001 past it.
		{"delivery-status, 10,000 parts", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/delivery-status\n\n" + strings.Repeat("A: 1\n\n", 9_998) + "--o--\n", nil, 10_000, 2},
		{"delivery-status, 10,001 parts", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/delivery-status\n\n" + strings.Repeat("A: 1\n\n", 9_999) + "--o--\n", ErrParts, 10_001, 2},
		// A line that is no field ends a part's header for Python's
		// email, without a blank line, and starts its body; other
		// readers pass over it. Where that makes a multipart or
		// message of the part for one and not the other, the part
		// cannot be read.
		{"no field after a multipart's type", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\njunk\n--i\nx\n--i\nx\n--i--\n--o--\n", ErrType, 1, 1},
		{"a name with a space", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\njunk line: x\n--i\nx\n--i--\n--o--\n", ErrType, 1, 1},
		// The name alone makes it no field: every line after it has a
		// colon, the delimiters too (a boundary with a colon), so the
		// walk, reading on, would take them all for fields.
		{"a name with a space, then fields", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=\"a:b\"\nx y: z\n--a:b\nx: 1\n--a:b\nx: 1\n--a:b\n\n--a:b--\n--o--\n", ErrType, 1, 1},
		{"a name with DEL, then fields", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=\"a:b\"\nx\x7fy: z\n--a:b\nx: 1\n--a:b\nx: 1\n--a:b\n\n--a:b--\n--o--\n", ErrType, 1, 1},
		{"space before the colon", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\nX :y\n--i\nx\n--i--\n--o--\n", ErrType, 1, 1},
		{"the first delimiter in the header", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n--i\nx\n--i--\n--o--\n", ErrType, 1, 1},
		{"no field in a simple part's header", "multipart/mixed; boundary=o",
			"--o\njunk\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 2},
		{"a From_ line", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\nFrom x\n\n--i\n\n--i--\n--o--\n", nil, 2, 2},
		{"space before the colon, simple part", "multipart/mixed; boundary=o",
			"--o\nContent-Type : multipart/mixed; boundary=i\n\n--i\n\n--i--\n--o--\n", nil, 2, 2},
		{"digest default", "multipart/digest; boundary=d",
			"--d\n\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--d--\n", nil, 2, 3},
		{"long content-type", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain;\n x=\"" + strings.Repeat("y", MaxField) + "\"\n\n--o--\n", ErrField, 1, 1},
		// MaxField octets of field, its line end counted, are read;
		// one more is too long.
		{"content-type of MaxField octets", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain; x=\"" + strings.Repeat("y", MaxField-31) + "\"\n\n--o--\n", nil, 1, 1},
		{"content-type of MaxField+1 octets", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain; x=\"" + strings.Repeat("y", MaxField-30) + "\"\n\n--o--\n", ErrField, 1, 1},
		{"long other field", "multipart/mixed; boundary=o",
			"--o\nX-Long: " + strings.Repeat("y", 3*MaxField) + "\n\n--o\n\n--o--\n", nil, 2, 1},
		// Only a long Content-Type is a fault; a long
		// Content-Transfer-Encoding is dropped, as another field is.
		{"long transfer-encoding", "multipart/mixed; boundary=o",
			"--o\nContent-Transfer-Encoding: 7bit (" + strings.Repeat("y", MaxField) + ")\n\n--o\n\n--o--\n", nil, 2, 1},
		// ... but in a message part's header it may hide "base64",
		// padded past what the walk keeps, which readers trim and
		// decode: the part cannot be read.
		{"long transfer-encoding, message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64" + strings.Repeat(" ", 2*MaxField) + "\n\n" + mlmtest.Base64Lines(inner) + "--o--\n", ErrType, 1, 1},
		{"long transfer-encoding, message, last", "multipart/mixed; boundary=o",
			"--o\nContent-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: base64\n" + strings.Repeat(" \n", MaxField) + "Content-Type: message/rfc822\n\n" + mlmtest.Base64Lines(inner) + "--o--\n", ErrType, 1, 1},
		// It is the part's own: the next part's message is walked.
		{"long transfer-encoding, then a message", "multipart/mixed; boundary=o",
			"--o\nContent-Transfer-Encoding: 7bit (" + strings.Repeat("y", MaxField) + ")\n\n--o\nContent-Type: message/rfc822\n\nSubject: x\n--o--\n", nil, 2, 2},
		// White space before the colon, more than the walk keeps of
		// the line, which go-message drops from the name: the field is
		// too long to read.
		{"long space before the colon", "multipart/mixed; boundary=o",
			"--o\nContent-Type" + strings.Repeat(" ", 2*MaxField) + ": multipart/mixed; boundary=i\n\n--i\n\nx\n--i\n\ny\n--i--\n--o--\n", ErrField, 1, 1},
		{"long space before the colon, transfer-encoding", "multipart/mixed; boundary=o",
			"--o\nContent-Transfer-Encoding" + strings.Repeat("\t", 2*MaxField) + ": base64\nContent-Type: message/rfc822\n\n" + mlmtest.Base64Lines(inner) + "--o--\n", ErrType, 1, 1},
		{"long padding", "multipart/mixed; boundary=o",
			"--o" + strings.Repeat(" ", 2*MaxField) + "\n\n--o" + strings.Repeat("y", 2*MaxField) + "\n--o--\n", nil, 1, 1},
		// Text after the padding, past what is kept of the line: no
		// delimiter ("--o" and spaces alone would be), so the outer
		// part goes on and the inner multipart's parts count.
		{"long padding, then text", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--o" + strings.Repeat(" ", 2*MaxField) + "x\n--i\n\n--i\n\n--i--\n--o--\n", nil, 4, 2},
		{"only CRs", "multipart/mixed; boundary=o", "--o\n" + strings.Repeat("\r", 2*MaxField) + "\n\n--o--\n", nil, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 7, 4096, len(tc.body) + 1} {
				w := New(tc.ct, Default)
				for b := []byte(tc.body); len(b) > 0; {
					n := min(chunk, len(b))
					w.Write(b[:n])
					b = b[n:]
				}
				if !errors.Is(w.Err(), tc.err) || w.Parts() != tc.parts || w.Depth() != tc.depth {
					t.Errorf("in pieces of %d: err %v, %d parts, depth %d; want %v, %d, %d",
						chunk, w.Err(), w.Parts(), w.Depth(), tc.err, tc.parts, tc.depth)
				}
			}
		})
	}
}

// encodedNest is a body of n multiparts, each of one part: a message in
// enc (base64 or quoted-printable) whose body is the next multipart; the
// last message is a text. Each multipart has a boundary of its own, as
// the raw lines of a quoted-printable message show its delimiters to the
// walk around it as they do to mail readers.
func encodedNest(n int, enc string) (ct, body string) {
	m := "Subject: leaf\n\nleaf\n"
	for k := 1; ; k++ {
		var e strings.Builder
		if enc == "base64" {
			e.WriteString(mlmtest.Base64Lines(m))
		} else {
			qw := quotedprintable.NewWriter(&e)
			qw.Write([]byte(m))
			qw.Close()
			e.WriteString("\n")
		}
		ct = fmt.Sprintf("multipart/mixed; boundary=b%d", k)
		body = fmt.Sprintf("--b%d\nContent-Type: message/rfc822\nContent-Transfer-Encoding: %s\n\n%s--b%d--\n", k, enc, e.String(), k)
		if k == n {
			return ct, body
		}
		m = "Subject: level\nContent-Type: " + ct + "\n\n" + body
	}
}

// TestEncodedNesting: messages in base64 or quoted-printable nested in
// each other count as deep as they are when decoded, which mail readers
// do, and their parts count with the walk's: a body nested past the
// limits in them goes past the walk's.
func TestEncodedNesting(t *testing.T) {
	for _, tc := range []struct {
		enc   string
		n     int
		lim   Limits
		err   error
		depth int
	}{
		{"quoted-printable", 50, Default, nil, 100},
		{"quoted-printable", 51, Default, ErrDepth, 100},
		{"base64", 5, Limits{Depth: 10, Parts: 100}, nil, 10},
		{"base64", 6, Limits{Depth: 10, Parts: 100}, ErrDepth, 10},
		{"base64", 5, Limits{Depth: 100, Parts: 4}, ErrParts, 9},
	} {
		ct, body := encodedNest(tc.n, tc.enc)
		for _, chunk := range []int{1, 61, len(body)} {
			w := New(ct, tc.lim)
			for b := []byte(body); len(b) > 0; {
				k := min(chunk, len(b))
				w.Write(b[:k])
				b = b[k:]
			}
			if !errors.Is(w.Err(), tc.err) || w.Depth() != tc.depth {
				t.Errorf("%d levels of %s, %+v, in pieces of %d (%d octets): %v, depth %d; want %v, depth %d",
					tc.n, tc.enc, tc.lim, chunk, len(body), w.Err(), w.Depth(), tc.err, tc.depth)
			}
			if want := fmt.Sprintf("(over %d levels)", tc.lim.Depth); tc.err == ErrDepth && !strings.HasSuffix(fmt.Sprint(w.Err()), want) {
				t.Errorf("%d levels of %s: %v; want it to end %q", tc.n, tc.enc, w.Err(), want)
			}
			if want := fmt.Sprintf("(over %d)", tc.lim.Parts); tc.err == ErrParts && !strings.HasSuffix(fmt.Sprint(w.Err()), want) {
				t.Errorf("%d levels of %s: %v; want it to end %q", tc.n, tc.enc, w.Err(), want)
			}
		}
	}
}

// TestBase64Padding: a base64 message whose "=" padding comes in the
// middle, as where each line was encoded on its own, is decoded as
// Thunderbird decodes it, a quad at a time, each "=" a sextet of its
// quad and one octet fewer, so that what follows a padded quad is decoded
// on its own: a structure nested past the limits in it goes past the
// walk's. Valid base64 decodes as encoding/base64 decodes it.
func TestBase64Padding(t *testing.T) {
	ct, body := nested(101, true)
	var enc strings.Builder
	for _, l := range strings.SplitAfter("Subject: x\nContent-Type: "+ct+"\n\n"+body, "\n") {
		if l != "" {
			enc.WriteString(base64.StdEncoding.EncodeToString([]byte(l)) + "\n")
		}
	}
	m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + enc.String() + "--o--\n"
	if err := Check("multipart/mixed; boundary=o", []byte(m)); !errors.Is(err, ErrDepth) {
		t.Errorf("101 deep, each line in base64 of its own: %v; want ErrDepth", err)
	}
	for _, tc := range []struct{ in, out string }{
		{"QQ==QUJD", "AABC"},
		{"QUI=\nQQ==\n", "ABA"},
		{"Q=QQ", "@\x04"},
		{"QQ=\n=QUJD", "AABC"},
		// Three "=" or four still give one octet.
		{"LQ==L===LQ==", "-,-"},
		{"====QUJD", "\x00ABC"},
	} {
		e := &encoded{}
		e.base64([]byte(tc.in))
		if string(e.out) != tc.out {
			t.Errorf("%q decodes to %q; want %q", tc.in, e.out, tc.out)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := make([]byte, r.IntN(200))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		in := []byte(mlmtest.Base64Lines(string(b)))
		e := &encoded{}
		for len(in) > 0 {
			k := min(len(in), 1+r.IntN(9))
			e.base64(in[:k])
			in = in[k:]
		}
		if !bytes.Equal(e.out, b) {
			t.Fatalf("%q decodes to %q", mlmtest.Base64Lines(string(b)), e.out)
		}
	}
}

// TestEncodedLongLine: a message in base64 with a line longer than the
// walk keeps of a line, or written as one line, is decoded whole, every
// octet once, as readers decode it: a structure nested past the limits
// in it goes past the walk's.
func TestEncodedLongLine(t *testing.T) {
	ct, body := nested(101, true)
	long := "X-Long: " + strings.Repeat("a", 8*1024) + "\n" // 8,201 octets, 3 to a quad
	rest := "Content-Type: " + ct + "\n\n" + body
	for name, enc := range map[string]string{
		"one line":               base64.StdEncoding.EncodeToString([]byte(long+rest)) + "\n",
		"a long line, then more": base64.StdEncoding.EncodeToString([]byte(long)) + "\n" + mlmtest.Base64Lines(rest),
	} {
		m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + enc + "--o--\n"
		for _, chunk := range []int{1, 1000, len(m)} {
			w := New("multipart/mixed; boundary=o", Default)
			for b := []byte(m); len(b) > 0; b = b[min(chunk, len(b)):] {
				w.Write(b[:min(chunk, len(b))])
			}
			if !errors.Is(w.Err(), ErrDepth) {
				t.Errorf("101 deep, in base64, %s, in pieces of %d: %v; want ErrDepth", name, chunk, w.Err())
			}
		}
	}
}

// TestQuotedPrintableBogus: an "=" that begins no escape in a
// quoted-printable message is decoded as Thunderbird decodes it: the "="
// and the two octets after it are themselves, none of them the start of
// an escape or a soft line break. A message whose empty lines, that end
// its headers, were run into the line before by an "=" in those two
// octets, as "X: = =" before them, hid a structure nested past the
// limits from the walk; Thunderbird walks it whole.
func TestQuotedPrintableBogus(t *testing.T) {
	ct, body := nested(101, true)
	var enc strings.Builder
	qw := quotedprintable.NewWriter(&enc)
	qw.Write([]byte("Subject: x\nContent-Type: " + ct + "\n\n" + body))
	qw.Close()
	m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n" +
		strings.ReplaceAll(enc.String(), "\r\n\r\n", "\r\nX: = =\r\n\r\n") + "\n--o--\n"
	if err := Check("multipart/mixed; boundary=o", []byte(m)); !errors.Is(err, ErrDepth) {
		t.Errorf("101 deep, each empty line after \"X: = =\": %v; want ErrDepth", err)
	}
	for _, tc := range []struct{ in, out string }{
		{"X: = =\r\n\r\n", "X: = =\r\n\r\n"},
		{"=A=0A=0A", "=A=0A\n"},
		{"==41", "==41"},
		{"=\r=41=\n=\r\n=3D", "A="},
		{"=4", ""},
		// Hex digits in lower case too, as readers take them.
		{"=2d=2D=3d=3D=0a", "--==\n"},
	} {
		for _, chunk := range []int{1, len(tc.in)} {
			e := &encoded{qp: true}
			for b := []byte(tc.in); len(b) > 0; b = b[min(chunk, len(b)):] {
				e.quotedPrintable(b[:min(chunk, len(b))])
			}
			if string(e.out) != tc.out {
				t.Errorf("%q in pieces of %d decodes to %q; want %q", tc.in, chunk, e.out, tc.out)
			}
		}
	}
}

// TestEncodedLastLine: the last line of a message in base64 or
// quoted-printable, which its decoded octets may end without a line end,
// is a line to mail readers all the same: a delimiter there is a part.
// The walk dropped it, and a multipart of such messages had twice the
// parts it counted.
func TestEncodedLastLine(t *testing.T) {
	m := "Subject: x\nContent-Type: multipart/mixed; boundary=i\n\n--i"
	// In base64 without its "=" padding too, the last quad of two or
	// three characters giving one or two octets, the delimiter's last
	// (m with one space or two after its subject, to put them there).
	unpadded := func(pad string) string {
		return strings.TrimRight(mlmtest.Base64Lines(strings.Replace(m, "x\n", "x"+pad+"\n", 1)), "=\n") + "\n"
	}
	for _, one := range []struct{ enc, e string }{
		{"base64", mlmtest.Base64Lines(m)},
		{"base64", unpadded(" ")},
		{"base64", unpadded("  ")},
		{"quoted-printable", strings.ReplaceAll(m, "=", "=3D") + "=\n"},
	} {
		enc, e := one.enc, one.e
		body := strings.Repeat("--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: "+enc+"\n\n"+e, 3) + "--o--\n"
		for _, tc := range []struct {
			lim   Limits
			err   error
			parts int
		}{{Default, nil, 6}, {Limits{Depth: 100, Parts: 5}, ErrParts, 6}} {
			for _, chunk := range []int{1, len(body)} {
				w := New("multipart/mixed; boundary=o", tc.lim)
				for b := []byte(body); len(b) > 0; b = b[min(chunk, len(b)):] {
					w.Write(b[:min(chunk, len(b))])
				}
				if !errors.Is(w.Err(), tc.err) || tc.err == nil && w.Parts() != tc.parts {
					t.Errorf("3 messages in %s ending %q, %+v, in pieces of %d: %v, %d parts; want %v, %d",
						enc, e[len(e)-6:], tc.lim, chunk, w.Err(), w.Parts(), tc.err, tc.parts)
				}
			}
		}
	}
}

// TestEncodedRaw: a message/rfc822 part in base64 whose lines are no
// such encoding, but a message as it is, is walked as it is too: Python's
// email parses a message part's lines as they come, whatever its
// Content-Transfer-Encoding, and walks the structure in them, which
// decoding turns to garbage. (Quoted-printable turns little of it: what
// it does turn, the decoded walk finds unreadable.)
func TestEncodedRaw(t *testing.T) {
	ct, body := nested(101, true)
	for _, enc := range []string{"base64", "BASE64", "x-uuencode", "base64 (a comment)"} {
		m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: " + enc + "\n\nSubject: x\nContent-Type: " + ct + "\n\n" + body + "--o--\n"
		for _, chunk := range []int{1, len(m)} {
			w := New("multipart/mixed; boundary=o", Default)
			for b := []byte(m); len(b) > 0; b = b[min(chunk, len(b)):] {
				w.Write(b[:min(chunk, len(b))])
			}
			if !errors.Is(w.Err(), ErrDepth) || !strings.HasSuffix(w.Err().Error(), "(over 100 levels)") {
				t.Errorf("101 deep, as it is, in a message in %s, in pieces of %d: %v; want ErrDepth", enc, chunk, w.Err())
			}
		}
	}
	for _, enc := range []string{"base64", "x-uuencode"} {
		w := NewPart("message/rfc822", enc, Limits{Depth: 10, Parts: 5})
		w.Write([]byte(strings.Repeat("Content-Type: message/rfc822\n\n", 10)))
		if !errors.Is(w.Err(), ErrDepth) {
			t.Errorf("body of 11 messages in one, as they are, in %s: %v; want ErrDepth", enc, w.Err())
		}
	}
}

// TestEnd: the body's last line, without a line end, is walked at End:
// a delimiter there is the 10,001st part, "--" alone too, the delimiter
// of an empty boundary, as Python's email reads it.
func TestEnd(t *testing.T) {
	for _, b := range []string{"x", ""} {
		ct := `multipart/mixed; boundary="` + b + `"`
		body := []byte(strings.Repeat("--"+b+"\n\nx\n", 10_000) + "--" + b)
		w := New(ct, Default)
		w.Write(body)
		if w.Err() != nil || w.Parts() != 10_000 {
			t.Fatalf("boundary %q, before End: %v, %d parts; want none yet, 10000", b, w.Err(), w.Parts())
		}
		w.End()
		if !errors.Is(w.Err(), ErrParts) || w.Parts() != 10_001 {
			t.Errorf("boundary %q, after End: %v, %d parts; want ErrParts, 10001", b, w.Err(), w.Parts())
		}
		if err := Check(ct, body); !errors.Is(err, ErrParts) {
			t.Errorf("boundary %q, Check: %v; want ErrParts", b, err)
		}
	}
}

// TestHuge: 16,000 levels and 100,000 parts stop at the limits, in one
// pass, without holding the body.
func TestHuge(t *testing.T) {
	ct, body := nested(16_000, true)
	if err := Check(ct, []byte(body)); !errors.Is(err, ErrDepth) {
		t.Errorf("16,000 deep: %v; want ErrDepth", err)
	}
	ct, body = flat(100_000)
	if err := Check(ct, []byte(body)); !errors.Is(err, ErrParts) {
		t.Errorf("100,000 parts: %v; want ErrParts", err)
	}
	// A boundary too long for its delimiter lines to be seen, which
	// readers see all the same: the Content-Type is too long, as a
	// part's would be.
	long := strings.Repeat("b", MaxField)
	ct, body = "multipart/mixed; boundary="+long, strings.Repeat("--"+long+"\n\nx\n", 3)+"--"+long+"--\n"
	if err := Check(ct, []byte(body)); !errors.Is(err, ErrField) {
		t.Errorf("boundary of %d octets: %v; want ErrField", len(long), err)
	}
	// A boundary that ends in space, which RFC 2046 forbids and readers
	// take (Go's with the space, Python's without), or is nothing else.
	for _, b := range []string{"x ", "  "} {
		ct, body = `multipart/mixed; boundary="`+b+`"`, strings.Repeat("--"+b+"\n\nx\n", 100_000)+"--"+b+"--\n"
		if err := Check(ct, []byte(body)); !errors.Is(err, ErrParts) {
			t.Errorf("100,000 parts, boundary %q: %v; want ErrParts", b, err)
		}
	}
	// The boundary a reader takes where it is not quoted as it should be.
	ct, body = "multipart/mixed; boundary=x=y", strings.Repeat("--x=y\n\nx\n", 100_000)+"--x=y--\n"
	if err := Check(ct, []byte(body)); !errors.Is(err, ErrParts) {
		t.Errorf("100,000 parts, boundary not quoted: %v; want ErrParts", err)
	}
}

// TestBareCR: a bare CR ends a line, as it does once the message is
// sent (lib/wire makes it a CRLF), so a structure written with bare CRs,
// or with CRLFs, walks as the same one with LFs; a bomb cannot hide in
// one long line.
func TestBareCR(t *testing.T) {
	for _, tc := range []struct {
		depth int
		want  error
	}{{5, nil}, {150, ErrDepth}} {
		ct, lf := nested(tc.depth, true)
		for name, body := range map[string]string{"LF": lf, "CR": strings.ReplaceAll(lf, "\n", "\r"),
			"CRLF": strings.ReplaceAll(lf, "\n", "\r\n")} {
			w := New(ct, Default)
			w.Write([]byte(body))
			if !errors.Is(w.Err(), tc.want) || tc.want == nil && (w.Depth() != tc.depth || w.Parts() != 2*tc.depth-1) {
				t.Errorf("%d deep, %s line ends: %v, depth %d, %d parts", tc.depth, name, w.Err(), w.Depth(), w.Parts())
			}
		}
	}
}

// FuzzMIME: any body, in any pieces, gives the same result, never a
// panic, and the walk stays within its limits and buffers.
func FuzzMIME(f *testing.F) {
	ct, body := nested(4, true)
	f.Add(ct, body, 3)
	ct, body = flat(3)
	f.Add(ct, body, 1)
	f.Add("multipart/digest; boundary=d", "--d\n\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--d--\n", 5)
	f.Add("message/rfc822", "Content-Type: multipart/mixed; boundary=\"x y\"\r\n\r\n--x y\r\n\r\n--x y--\r\n", 2)
	f.Add("multipart/mixed; boundary=o", "--o\nContent-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n", 1)
	f.Add("multipart/mixed; boundary=c", "--c\rContent-Type: text/plain\r\r\nx\r\n--c--\r", 1)
	ct, body = encodedNest(2, "base64")
	f.Add(ct, body, 3)
	ct, body = encodedNest(3, "quoted-printable")
	f.Add(ct, body, 2)
	f.Fuzz(func(t *testing.T, ct, body string, chunk int) {
		lim := Limits{Depth: 3, Parts: 5}
		if Flat(ct) && !New(ct, lim).Done() {
			t.Fatalf("Flat(%q), but a Walker for it is not Done", ct)
		}
		whole := New(ct, lim)
		whole.Write([]byte(body))
		chunk = 1 + abs(chunk)%17
		w := New(ct, lim)
		for b := []byte(body); len(b) > 0; {
			n := min(chunk, len(b))
			w.Write(b[:n])
			b = b[n:]
			// So are the Walkers of the encoded messages it is in.
			stacked := 0
			for x := w; x != nil; {
				stacked += len(x.stack)
				if len(x.line) > MaxField+4 || len(x.field) > MaxField || stacked > lim.Depth {
					t.Fatalf("buffers past their bounds: line %d, field %d, stack %d", len(x.line), len(x.field), stacked)
				}
				e := x.encTop()
				if e == nil {
					break
				}
				stacked-- // the message's level, in both
				x = e.sub
			}
			if tw := w.twin; tw != nil && (len(tw.line) > MaxField+4 || len(tw.field) > MaxField || len(tw.stack) > lim.Depth || tw.twin != nil) {
				t.Fatalf("the twin's buffers past their bounds: line %d, field %d, stack %d", len(tw.line), len(tw.field), len(tw.stack))
			}
		}
		if fmt.Sprint(w.Err()) != fmt.Sprint(whole.Err()) || w.Parts() != whole.Parts() || w.Depth() != whole.Depth() {
			t.Fatalf("in pieces of %d: %v %d %d; whole: %v %d %d", chunk, w.Err(), w.Parts(), w.Depth(), whole.Err(), whole.Parts(), whole.Depth())
		}
		if w.Depth() > lim.Depth || w.Parts() > lim.Parts+1 {
			t.Fatalf("past the limits: depth %d, %d parts", w.Depth(), w.Parts())
		}
		if w.Depth() == 0 && w.Parts() > 0 {
			t.Fatalf("%d parts without a multipart", w.Parts())
		}
		// The leaves, and the headers in message parts: the same in
		// pieces as whole, in order, apart, within the body.
		whole, w = New(ct, lim), New(ct, lim)
		wholeLeaves, leaves := onLeaves(whole, true), onLeaves(w, true)
		whole.Write([]byte(body))
		whole.End()
		for b := []byte(body); len(b) > 0; b = b[min(chunk, len(b)):] {
			w.Write(b[:min(chunk, len(b))])
		}
		w.End()
		if !slices.Equal(*leaves, *wholeLeaves) {
			t.Fatalf("leaves in pieces of %d: %+v; whole: %+v", chunk, *leaves, *wholeLeaves)
		}
		var end int64
		for _, l := range *leaves {
			if l.Start < end || l.End < l.Start || l.End > int64(len(body)) {
				t.Fatalf("leaf %+v after %d, in a body of %d", l, end, len(body))
			}
			end = l.End
		}
	})
}

// onLeaves has w keep the leaves it finds, in order, and if headers,
// the headers in message parts (OnHeader) among them.
func onLeaves(w *Walker, headers bool) *[]Leaf {
	var ls []Leaf
	keep := func(l Leaf) { ls = append(ls, l) }
	w.OnLeaf(keep)
	if headers {
		w.OnHeader(keep)
	}
	return &ls
}

// TestLeaves: each leaf's body is what a mail reader gives as the
// part's, and its type and encoding are the part's.
func TestLeaves(t *testing.T) {
	type leaf struct {
		typ, enc, body string
		inMessage      bool
	}
	for _, tc := range []struct {
		name, ct, body string
		want           []leaf
	}{
		{"alternative", "multipart/alternative; boundary=a",
			"pre\n--a\nContent-Type: text/plain\n\nline 1\nline 2\n--a\nContent-Type: text/html\nContent-Transfer-Encoding: Base64\n\nPGI+\n--a--\nepilogue\n",
			[]leaf{{"text/plain", "", "line 1\nline 2", false}, {"text/html", "base64", "PGI+", false}}},
		{"CRLF", "multipart/mixed; boundary=a",
			"--a\r\n\r\nx\r\n\r\n--a\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--a--\r\n",
			[]leaf{{"", "", "x\r\n", false}, {"application/pdf", "", "%PDF", false}}},
		{"empty body", "multipart/mixed; boundary=a",
			"--a\nContent-Type: text/plain\n\n--a\n\n\n--a--\n",
			[]leaf{{"text/plain", "", "", false}, {"", "", "", false}}},
		{"nested, unclosed", "multipart/mixed; boundary=o",
			"--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nplain\n--i\nContent-Type: text/html\n\nhtml\n--o\nContent-Type: text/x-diff\n\ndiff\n",
			[]leaf{{"", "", "plain", false}, {"text/html", "", "html", false}, {"text/x-diff", "", "diff\n", false}}},
		{"message", "multipart/mixed; boundary=o",
			"--o\n\nbody\n--o\nContent-Type: message/rfc822\n\nSubject: fwd\nContent-Type: text/plain\n\nforwarded\n--o--\n",
			[]leaf{{"", "", "body", false}, {"text/plain", "", "forwarded", true}}},
		{"encoded message", "multipart/mixed; boundary=o",
			"--o\n\nbody\n--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("Subject: x\n\nhidden\n") + "--o--\n",
			[]leaf{{"", "", "body", false}, {"message/rfc822", "base64", strings.TrimSuffix(mlmtest.Base64Lines("Subject: x\n\nhidden\n"), "\n"), false}}},
		{"digest", "multipart/digest; boundary=d",
			"--d\n\nSubject: one\n\nfirst\n--d--\n",
			[]leaf{{"", "", "first", true}}},
		{"no line end", "multipart/mixed; boundary=a", "--a\n\nlast", []leaf{{"", "", "last", false}}},
		{"bare CR", "multipart/mixed; boundary=a", "--a\r\rx\r--a--\r", []leaf{{"", "", "x", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(tc.ct, Default)
			ls := onLeaves(w, false)
			w.Write([]byte(tc.body))
			w.End()
			var got []leaf
			for _, l := range *ls {
				got = append(got, leaf{l.Type, l.Encoding, tc.body[l.Start:l.End], l.InMessage})
			}
			if !slices.Equal(got, tc.want) || w.Err() != nil {
				t.Errorf("leaves %+v, %v; want %+v", got, w.Err(), tc.want)
			}
		})
	}
}

// TestHeaderLeaves: OnHeader gives the header of each part in a message
// part, the forwarded message's own and its parts', as it is in the
// body, before the empty line; not the post's parts', nor a header in
// a message part in base64, which is a leaf.
func TestHeaderLeaves(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		want           []string
	}{
		{"message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: text/plain\n\nbody\n--o\nContent-Type: message/rfc822\n\nSubject: fwd\nApproved: pw\n\nforwarded\n--o--\n",
			[]string{"Subject: fwd\nApproved: pw\n"}},
		{"its parts", "message/rfc822",
			"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nX: 1\r\n\r\none\r\n--i\r\n\r\ntwo\r\n--i--\r\n",
			[]string{"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=i\r\n", "X: 1\r\n", ""}},
		{"digest", "multipart/digest; boundary=d",
			"--d\n\nSubject: one\n\nfirst\n--d--\n",
			[]string{"Subject: one\n"}},
		{"encoded message", "multipart/mixed; boundary=o",
			"--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + mlmtest.Base64Lines("Subject: x\n\nhidden\n") + "--o--\n",
			nil},
		{"no message", "multipart/mixed; boundary=o", "--o\nX: 1\n\nbody\n--o--\n", nil},
		// A header no empty line ends (a critical read): a delimiter's,
		// whose line end before it is the delimiter's, or the body's
		// end.
		{"delimited", "multipart/mixed; boundary=o", "--o\nContent-Type: message/rfc822\n\nFrom: x\nApproved: pw\n--o--\n",
			[]string{"From: x\nApproved: pw"}},
		{"at the end", "message/rfc822", "From: x\r\nApproved: pw\r\n", []string{"From: x\r\nApproved: pw\r\n"}},
		{"parts, one delimited", "message/rfc822",
			"Content-Type: multipart/mixed; boundary=i\n\n--i\nA: 1\n--i\nB: 2\n\nbody\n--i--\n",
			[]string{"Content-Type: multipart/mixed; boundary=i\n", "A: 1", "B: 2\n"}},
		{"a part's, delimited", "message/rfc822",
			"Content-Type: multipart/mixed; boundary=i\n\n--i\nApproved: pw\nContent-Type: text/plain\n--i--\n",
			[]string{"Content-Type: multipart/mixed; boundary=i\n", "Approved: pw\nContent-Type: text/plain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(tc.ct, Default)
			var got []string
			w.OnLeaf(func(Leaf) {})
			w.OnHeader(func(l Leaf) {
				if !l.InMessage {
					t.Errorf("header %+v not in a message", l)
				}
				got = append(got, tc.body[l.Start:l.End])
			})
			w.Write([]byte(tc.body))
			w.End()
			if !slices.Equal(got, tc.want) || w.Err() != nil {
				t.Errorf("headers %q, %v; want %q", got, w.Err(), tc.want)
			}
		})
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestAmbiguous: first and last fields that differ only in white space,
// or an encoding only in case, read one way to every reader.
func TestAmbiguous(t *testing.T) {
	for _, tc := range []struct {
		ct, lastCT, cte, lastCTE string
		want                     bool
	}{
		{"message/rfc822", "message/rfc822", "base64", "BASE64", false},
		{"message/rfc822", "message/rfc822", "Quoted-Printable", "quoted-printable", false},
		{"multipart/mixed;  boundary=x", "multipart/mixed;\tboundary=x", "", "", false},
		{"message/rfc822", "message/rfc822", "7bit", "base64", true},
		{"text/plain", "multipart/mixed; boundary=x", "", "", true},
		{"text/plain", "text/html", "7bit", "base64", false},
	} {
		if got := Ambiguous(tc.ct, tc.lastCT, tc.cte, tc.lastCTE); got != tc.want {
			t.Errorf("Ambiguous(%q, %q, %q, %q) = %v; want %v", tc.ct, tc.lastCT, tc.cte, tc.lastCTE, got, tc.want)
		}
	}
}

// TestFlat: a type Flat calls flat gives a Walker that is Done at once.
func TestFlat(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		flat bool
	}{
		{"", true},
		{"text/plain; charset=us-ascii", true},
		{" TEXT/HTML ", true},
		{"application/octet-stream; name=\"multipart/mixed\"", true},
		{"message/delivery-status", false},
		{"message/partial; id=x", false}, // a message to Python's email
		{"Message/News", false},
		{"multipart/mixed; boundary=b", false},
		{" Multipart/Alternative ; boundary=b", false},
		{"multipart/mixed", false}, // no boundary: Done, but Flat is unsure
		{"message/rfc822", false},
		{"MESSAGE/GLOBAL", false},
		{"multİpart/mixed; boundary=b", false}, // ToLower makes it multipart
		{"(a comment) multipart/mixed; boundary=b", false},
		{"text/plain (multipart/mixed)", true},
	} {
		if got := Flat(tc.ct); got != tc.flat {
			t.Errorf("Flat(%q) = %v; want %v", tc.ct, got, tc.flat)
		}
		if Flat(tc.ct) && !New(tc.ct, Default).Done() {
			t.Errorf("Flat(%q), but a Walker for it is not Done", tc.ct)
		}
	}
}

// TestEncodedChainLinear: messages in quoted-printable nested straight
// in each other, whose lines quoted-printable leaves as they are (no
// "=", no long line), are walked by Walkers in number linear in their
// depth, not a pair more for each Walker that sees one: the decoded and
// the undecoded walk both see each inner one, and 2^depth Walkers would
// be a walk no limit bounds. So 120 levels stop at the depth limit.
func TestEncodedChainLinear(t *testing.T) {
	chain := func(n int) []byte {
		return []byte(strings.Repeat("Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n", n) + "bottom\n")
	}
	w := New("message/rfc822", Limits{Depth: 30, Parts: 100})
	w.Write(chain(12))
	if n := walkers(w); n > 2*12+1 {
		t.Fatalf("12 levels: %d Walkers; want at most %d", n, 2*12+1)
	}
	if err := Check("message/rfc822", chain(120)); !errors.Is(err, ErrDepth) {
		t.Errorf("120 levels: %v; want ErrDepth", err)
	}
}

// walkers counts w and the Walkers of the encoded messages it is in,
// and theirs, and its twin.
func walkers(w *Walker) int {
	n := 1
	if w.twin != nil {
		n += walkers(w.twin)
	}
	for _, l := range w.stack {
		if e := l.enc; e != nil {
			n += walkers(e.sub)
		}
	}
	return n
}

// newAsIs is a Walker that walks every message part as it is from the
// start, as Python's email does: what a twin must count. A body in
// quoted-printable is its lines as they are, as a twin knows.
func newAsIs(contentType, cte string, lim Limits) *Walker {
	w := &Walker{lim: lim, bounds: map[string]int{}, asIs: true}
	w.enter(contentType, cte)
	return w
}

// randomBody is a body of lines drawn from delimiters, header fields and
// encoded lines, each ending in LF, CRLF or a bare CR.
func randomBody(r *rand.Rand) string {
	lines := []string{
		"--a", "--a--", "--b", "--b--", "--d", "--d--", "", "", "", "x", " folded", "Subject: x",
		"Content-Type: multipart/mixed; boundary=a", "Content-Type: multipart/mixed; boundary=b",
		"Content-Type: multipart/digest; boundary=d", "Content-Type: message/rfc822",
		"Content-Type: message/global", "Content-Type: text/plain",
		"Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable",
		"Content-Transfer-Encoding: x-uuencode", "Content-Transfer-Encoding: 7bit",
		"Content-Type: multipart/mixed; boundary=3Dc", "--c", "=2D-c", "--=",
		strings.TrimSpace(mlmtest.Base64Lines("Content-Type: multipart/mixed; boundary=e\n\n--e\n\n--e\n")),
	}
	var b strings.Builder
	for range r.IntN(40) {
		b.WriteString(lines[r.IntN(len(lines))])
		b.WriteString([]string{"\n", "\n", "\r\n", "\r"}[r.IntN(4)])
	}
	return b.String()
}

// TestTwin: the twin, a copy of the top Walker made where it meets its
// first encoded message part, counts what a Walker that walks every
// message part as it is from the start counts, however the body is cut
// into pieces; without a twin, the top Walker does.
func TestTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cts := []string{"multipart/mixed; boundary=a", "message/rfc822", "multipart/digest; boundary=d", "multipart/mixed; boundary=b"}
	ctes := []string{"", "base64", "quoted-printable", "x-uuencode", "7bit"}
	lim := Limits{Depth: 4, Parts: 8}
	for range 50_000 {
		ct, cte, body := cts[r.IntN(len(cts))], ctes[r.IntN(len(ctes))], randomBody(r)
		want := newAsIs(ct, cte, lim)
		want.Write([]byte(body))
		chunk := 1 + r.IntN(len(body)+1)
		w := NewPart(ct, cte, lim)
		for b := []byte(body); len(b) > 0; b = b[min(chunk, len(b)):] {
			w.Write(b[:min(chunk, len(b))])
		}
		got := w.twin
		if got == nil {
			got = w
		}
		if fmt.Sprint(got.err) != fmt.Sprint(want.err) || got.Parts() != want.Parts() || got.deep != want.deep {
			t.Fatalf("%q, %q, %q in pieces of %d: twin %v: %v, %d parts, depth %d; as it is: %v, %d, %d",
				ct, cte, body, chunk, w.twin != nil, got.err, got.Parts(), got.deep, want.err, want.Parts(), want.deep)
		}
	}
}

// TestTwinWalksOn: a multipart the twin cannot read, in the lines as
// they are of a message part in quoted-printable, does not end
// the twin's walk: a message part after it nested past the limits, as it
// is, is past the walk's. A Content-Type too long to read is the walk's
// fault, as it is the decoded walk's.
func TestTwinWalksOn(t *testing.T) {
	ct, body := nested(101, true)
	bomb := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nSubject: x\nContent-Type: " + ct + "\n\n" + body
	for _, tc := range []struct {
		name, enc, first string
		err              error
	}{
		// As quoted-printable writes it, which the decoded walk reads.
		{"boundary broken by a soft line break", "quoted-printable", "Content-Type: multipart/mixed; bound=\nary=3D\"a\"\n\n--a\n\n--a--\n", ErrDepth},
		{"long content-type", "base64", "Content-Type: text/plain; x=\"" + strings.Repeat("y", MaxField) + "\"\n\nx\n", ErrField},
	} {
		m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: " + tc.enc + "\n\n" + tc.first + bomb + "--o--\n"
		for _, chunk := range []int{1, len(m)} {
			w := New("multipart/mixed; boundary=o", Default)
			for b := []byte(m); len(b) > 0; b = b[min(chunk, len(b)):] {
				w.Write(b[:min(chunk, len(b))])
			}
			if !errors.Is(w.Err(), tc.err) {
				t.Errorf("%s, then 101 deep, as they are, in a message in base64, in pieces of %d: %v; want %v", tc.name, chunk, w.Err(), tc.err)
			}
		}
	}
}

// TestTwinType: a multipart whose Content-Type cannot be read, in the
// lines as they are of a message part in base64 or an encoding no reader
// decodes, which no encoding wrote so, is a fault, as it is anywhere but
// in quoted-printable: Python's email takes the first boundary of
// "boundary=a; boundary=b" and walks its parts, past the limit.
func TestTwinType(t *testing.T) {
	many := "Content-Type: multipart/mixed; boundary=a; boundary=b\n\n" + strings.Repeat("--a\n\nx\n", 10_001) + "--a--\n"
	for _, tc := range []struct {
		enc string
		err error
	}{{"base64", ErrType}, {"x-uuencode", ErrType}, {"quoted-printable", ErrType}} {
		m := "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: " + tc.enc + "\n\n" + many + "--o--\n"
		if err := Check("multipart/mixed; boundary=o", []byte(m)); !errors.Is(err, tc.err) {
			t.Errorf("10,001 parts under boundary=a; boundary=b, as they are, in a message in %s: %v; want %v", tc.enc, err, tc.err)
		}
	}
}

// goParts counts the parts of a multipart body, at every level, and its
// depth, as Go's mime/multipart reads it, a part's multipart read in
// turn: up to the first error, and no more than limit parts. A multipart
// of no part is no level.
func goParts(ct string, body []byte, limit int) (parts, depth int) {
	mt, params, err := mime.ParseMediaType(ct)
	b, ok := params["boundary"]
	if err != nil || !strings.HasPrefix(mt, "multipart/") || !ok {
		return 0, 0
	}
	r := multipart.NewReader(bytes.NewReader(body), b)
	for parts < limit {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		parts, depth = parts+1, max(depth, 1)
		inner, err := io.ReadAll(p)
		if err != nil {
			break
		}
		n, d := goParts(p.Header.Get("Content-Type"), inner, limit-parts)
		parts, depth = parts+n, max(depth, 1+d)
	}
	return parts, depth
}

// FuzzGoReader: the walk counts no fewer parts, and no shallower a
// nesting, than Go's mime/multipart reads in the same body, where it
// reads it without error: Go's reader is one of those whose parts the
// limits bound.
func FuzzGoReader(f *testing.F) {
	ct, body := nested(4, true)
	f.Add(ct, body)
	ct, body = flat(3)
	f.Add(ct, body)
	f.Add("multipart/mixed; boundary=\"a \"", "--a \r\n\r\nx\r\n--a --\r\n--a \r\n\r\n")
	f.Add("multipart/mixed; boundary=o", "--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\n--i --\n--i\n\n--o--\n")
	f.Add("multipart/mixed; boundary=\"\"", "--\n\nx\n--\n\n----\n")
	f.Add("multipart/mixed; boundary=x", "--x--\n--x\n\n--x\n\n")
	f.Fuzz(func(t *testing.T, ct, body string) {
		lim := Limits{Depth: 20, Parts: 50}
		w := New(ct, lim)
		w.Write([]byte(body))
		w.End()
		if w.Err() != nil {
			return
		}
		parts, depth := goParts(ct, []byte(body), lim.Parts+1)
		if w.Parts() < parts || w.Depth() < depth {
			t.Fatalf("walk: %d parts, %d deep; Go's mime/multipart: %d parts, %d deep", w.Parts(), w.Depth(), parts, depth)
		}
	})
}

// TestDecoder: NewDecoder reads as mail readers decode, in pieces of
// any size.
func TestDecoder(t *testing.T) {
	for _, tc := range []struct{ enc, in, want string }{
		{"base64", "QXBwcm92\r\nZWQ6IHMzY3I=\r\n", "Approved: s3cr"},
		{"base64", "QXB*wc\tm92ZWQ=QQ", "ApprovedA"}, // junk skipped; padding ends a quad; a last quad of two sextets
		{"base64", "QUJ", "AB"},
		{"quoted-printable", "s3cr=3Dt=\nwo =\r\nend\n=ZZ", "s3cr=two end\n=ZZ"},
		{"7bit", "as =3D is\n", "as =3D is\n"},
		{"", "x", "x"},
	} {
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(NewDecoder(r, tc.enc))
			if string(got) != tc.want || err != nil {
				t.Errorf("%s %q: %q, %v; want %q", tc.enc, tc.in, got, err, tc.want)
			}
		}
	}
}

// eolAt is the length of the line end at b's start (LF, CRLF, bare CR), or 0.
func eolAt(b []byte) int {
	switch {
	case len(b) >= 2 && b[0] == '\r' && b[1] == '\n':
		return 2
	case len(b) >= 1 && (b[0] == '\n' || b[0] == '\r'):
		return 1
	}
	return 0
}

// checkHeaderEnds is a sharper property of OnHeader's leaves than order:
// each holds no empty line, and ends where a header ends: at the body's
// end, at an empty line, or at the line end before a delimiter line
// ("--..."), never at a delimiter line itself (a delimiter right after
// a delimiter, which Python's email passes over).
func checkHeaderEnds(body []byte, heads []Leaf) error {
	for _, h := range heads {
		b := body[h.Start:h.End]
		for i := 0; i < len(b); i++ {
			if n := eolAt(b[i:]); n > 0 && (i == 0 || eolAt(b[i-1:]) == 1 && !(b[i-1] == '\r' && b[i] == '\n')) {
				return fmt.Errorf("header %d-%d %q holds an empty line", h.Start, h.End, b)
			}
		}
		rest := body[h.End:]
		if len(rest) == 0 || eolAt(rest) > 0 && (h.End == 0 || eolAt(body[h.End-1:]) > 0 && !(body[h.End-1] == '\r' && rest[0] == '\n')) {
			continue // the end, or an empty line
		}
		if n := eolAt(rest); n > 0 && bytes.HasPrefix(rest[n:], []byte("--")) {
			continue
		}
		if len(b) == 0 && bytes.HasPrefix(rest, []byte("--")) {
			// An empty header at a delimiter line: an empty message
			// whose part's header a blank line ended, not one a
			// delimiter line began (the line before is no delimiter).
			prev := body[:h.Start]
			switch {
			case bytes.HasSuffix(prev, []byte("\r\n")):
				prev = prev[:len(prev)-2]
			case len(prev) > 0:
				prev = prev[:len(prev)-1]
			}
			i := max(bytes.LastIndexAny(prev, "\r\n")+1, 0)
			if !bytes.HasPrefix(body[i:], []byte("--")) {
				continue
			}
		}
		return fmt.Errorf("header %d-%d %q ends before %.20q", h.Start, h.End, b, rest)
	}
	return nil
}

// FuzzHeaderEnds: OnHeader's headers, fed in pieces of any size, end
// where readers end them (checkHeaderEnds; a critical read's: a part's
// header after a close delimiter right after a delimiter was given
// empty, and its fields not at all).
func FuzzHeaderEnds(f *testing.F) {
	f.Add("message/rfc822", "From: x\nContent-Type: multipart/mixed; boundary=i\n\n--i\n--i--\nApproved: pw\n\nbody\n--i--\n", 3)
	f.Add("multipart/mixed; boundary=o", "--o\nContent-Type: message/rfc822\n\nFrom: x\nApproved: pw\n--o\nContent-Type: message/rfc822\n\nA: 1\r\rb\r--o--\n", 5)
	f.Add("message/rfc822", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: a\r\n--d\r\nX: 1\r\n\r\n--d--\r\n", 2)
	f.Fuzz(func(t *testing.T, ct, body string, chunk int) {
		chunk = 1 + abs(chunk)%17
		w := New(ct, Limits{Depth: 5, Parts: 20})
		var heads []Leaf
		w.OnLeaf(func(Leaf) {})
		w.OnHeader(func(l Leaf) { heads = append(heads, l) })
		for b := []byte(body); len(b) > 0; b = b[min(chunk, len(b)):] {
			w.Write(b[:min(chunk, len(b))])
		}
		w.End()
		if err := checkHeaderEnds([]byte(body), heads); err != nil {
			t.Fatal(err)
		}
	})
}
