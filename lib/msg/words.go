package msg

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// DecodeText decodes the RFC 2047 encoded-words of an unstructured field
// value (Subject, Comments): each word in its charset where go-message
// knows it (UTF-8, ISO-8859-1 and US-ASCII always; the rest with
// go-message/charset imported), and a word in another charset with its
// octets taken as they are, so ASCII text inside it is still found in
// any ASCII-compatible charset, and the words in known charsets beside
// it are still decoded. If that fails (a malformed word), all the words
// are taken so. Adjacent words in one charset are decoded as one
// (joinWords), so that a character split between two of them is read
// whole. It never fails: what cannot be decoded at all is returned
// unchanged.
func DecodeText(v string) string {
	if !strings.Contains(v, "=?") {
		return v // no encoded-word: the decoders give it back as it is
	}
	v = joinWords(v)
	if s, err := words.DecodeHeader(v); err == nil {
		return s
	}
	if s, err := rawWords.DecodeHeader(v); err == nil {
		return s
	}
	return v
}

// words decodes encoded-words with go-message's charsets, and a word in
// a charset it does not know with its octets taken as they are.
var words = mime.WordDecoder{CharsetReader: func(charset string, in io.Reader) (io.Reader, error) {
	if message.CharsetReader != nil {
		if r, err := message.CharsetReader(charset, in); err == nil {
			return r, nil
		}
	}
	return in, nil
}}

// rawWords decodes encoded-words with their octets taken as they are,
// in any charset.
var rawWords = mime.WordDecoder{CharsetReader: func(_ string, in io.Reader) (io.Reader, error) { return in, nil }}

// wordParts is an encoded-word: its charset, then its encoding and text.
var wordParts = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ]\?[^?\s]*\?=)`)

// joinWords returns v with each run of encoded-words in one charset,
// only space and tab between them, made one B word of their octets. RFC
// 2047 §5 has each word hold whole characters, but GBK, Big5 and other
// mail programs split a character of more than one octet between two
// words, and decoded word by word it is two broken halves. (UTF-8 words
// the decoder joins itself.) A run with a word that does not decode is
// left as it is.
func joinWords(v string) string {
	ws := wordParts.FindAllStringSubmatchIndex(v, -1)
	var b strings.Builder
	last := 0
	for i := 0; i < len(ws); {
		cs := v[ws[i][2]:ws[i][3]]
		j := i + 1
		for j < len(ws) && strings.Trim(v[ws[j-1][1]:ws[j][0]], " \t") == "" && strings.EqualFold(v[ws[j][2]:ws[j][3]], cs) {
			j++
		}
		var octets []byte
		for k := i; k < j && j > i+1; k++ {
			// In a charset the decoder does not convert itself, a
			// word decodes to its octets as they are.
			s, err := rawWords.Decode("=?x-octets?" + v[ws[k][4]:ws[k][5]])
			if err != nil {
				octets = nil
				break
			}
			octets = append(octets, s...)
		}
		if octets != nil {
			b.WriteString(v[last:ws[i][0]])
			b.WriteString("=?" + cs + "?b?" + base64.StdEncoding.EncodeToString(octets) + "?=")
			last = ws[j-1][1]
		}
		i = j
	}
	if last == 0 {
		return v
	}
	return b.String() + v[last:]
}

// AddressList parses an address field's value (From, To) as go-message
// does. Where that fails for an encoded-word in a charset go-message does
// not know (Outlook's windows-1252, iso-8859-15, unknown-8bit), in a
// display name or a comment, the value is parsed again with the words'
// octets taken as they are: the names then read wrong, but the addresses
// are what they are in any charset. So it is for a name or comment in
// raw octets that are not UTF-8 (Latin-1, as old mail programs write
// it), which net/mail refuses: they are read as U+FFFD, and an address
// that held any is left out, since it was no mailbox.
func AddressList(v string) ([]*mail.Address, error) {
	as, err := gomail.ParseAddressList(v)
	if err == nil {
		return as, nil
	}
	p := mail.AddressParser{WordDecoder: &rawWords}
	if raw, rerr := p.ParseList(v); rerr == nil {
		return raw, nil
	}
	if !utf8.ValidString(v) {
		if raw, rerr := p.ParseList(strings.ToValidUTF8(v, "\uFFFD")); rerr == nil {
			raw = slices.DeleteFunc(raw, func(a *mail.Address) bool { return strings.ContainsRune(a.Address, utf8.RuneError) })
			if len(raw) > 0 {
				return raw, nil
			}
		}
	}
	return as, err
}

// AngleAddrs returns what each angle-addr of an address field's value v
// holds, trimmed, in order, its obsolete route ("@relay:", RFC 5322
// section 4.4) dropped: for a value that does not parse as an address
// list, whose addresses are still plain to see, as mail programs write
// them wrong: a display name with an unquoted "," or "@" or "[" ("Smith,
// Alice <alice@example.org>", "alice@example.org <alice@example.org>"),
// or a route. Angle brackets in a quoted string or a comment are not
// one; an unclosed one gives nothing. What it returns is unchecked.
//
// Only those that readers agree on: an angle-addr read by RFC 5322's
// rules (mutt's, go-message's) that Thunderbird reads as well. It takes
// an encoded-word (RFC 2047), whatever it holds, a domain literal
// ("[...]") and the octet after a backslash whole wherever they are, and
// a quoted string in a comment too, the comment ending after it: what it
// shows as display-name text is no author's address.
func AngleAddrs(v string) []string {
	rfc, tb := angleAddrs(v, false), angleAddrs(v, true)
	var out []string
	for len(rfc) > 0 && len(tb) > 0 {
		switch {
		case rfc[0][0] < tb[0][0]:
			rfc = rfc[1:]
		case rfc[0][0] > tb[0][0]:
			tb = tb[1:]
		default:
			if rfc[0] == tb[0] {
				a := strings.TrimSpace(v[rfc[0][0]:rfc[0][1]])
				if strings.HasPrefix(a, "@") {
					if _, rest, ok := strings.Cut(a, ":"); ok {
						a = strings.TrimSpace(rest)
					}
				}
				out = append(out, a)
			}
			rfc, tb = rfc[1:], tb[1:]
		}
	}
	return out
}

// angleAddrs returns where the angle-addrs of v start and end, between
// their brackets: read by RFC 5322's rules, or as Thunderbird reads them.
func angleAddrs(v string, thunderbird bool) [][2]int {
	var out [][2]int
	var end byte // the '"' or ']' that ends the string or literal i is in
	depth, start := 0, -1
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (thunderbird || end != 0 || depth > 0):
			i++ // a quoted pair
		case end != 0:
			if c == end {
				end = 0
			}
		case c == '"' && (thunderbird || depth == 0):
			end = '"'
		case c == '[' && thunderbird:
			end = ']'
		case c == '=' && thunderbird && strings.HasPrefix(v[i:], "=?"):
			i += max(encodedWordLen(v[i:]), 1) - 1
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<' && start < 0:
			start = i + 1
		case c == '>' && start >= 0:
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	return out
}

// encodedWordLen returns the length of the encoded-word v starts with,
// as Thunderbird finds one, "=?" charset "?" one of "BbQq" "?" text "?="
// with no "?" in charset or text, whatever else they hold; 0 if v starts
// with none.
func encodedWordLen(v string) int {
	cs := strings.IndexByte(v[2:], '?') + 2 // the "?" after the charset
	if cs < 2 || cs+2 >= len(v) || !strings.ContainsRune("BbQq", rune(v[cs+1])) || v[cs+2] != '?' {
		return 0
	}
	text := strings.IndexByte(v[cs+3:], '?') + cs + 3 // the "?" of "?="
	if text < cs+3 || text+1 >= len(v) || v[text+1] != '=' {
		return 0
	}
	return text + 2
}

// EncodeText returns text as it is if every octet is printable US-ASCII
// or a space; otherwise it returns RFC 2047 encoded-words (Q encoding,
// UTF-8) for it.
func EncodeText(text string) string {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < ' ' || c > '~' {
			return mime.QEncoding.Encode("utf-8", text)
		}
	}
	return text
}

// EncodePhrase returns text as it is if every octet is printable
// US-ASCII or a space (a phrase as written: atoms, quoted strings);
// otherwise it returns UTF-8 encoded-words for it that stand as a phrase,
// a display name (RFC 2047 section 5 (3)): Q encoding where the ASCII of
// text is only letters, digits, space and "!*+-/", the octets a Q word
// may hold there, and B encoding for anything else ("Dév, team").
func EncodePhrase(text string) string {
	if EncodeText(text) == text {
		return text
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x80 && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(" !*+-/", c) >= 0) {
			return mime.BEncoding.Encode("utf-8", text)
		}
	}
	return mime.QEncoding.Encode("utf-8", text)
}

var encodedWord = regexp.MustCompile(`^=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)

// IsEncodedWord reports whether s starts with an RFC 2047 encoded-word,
// "=?charset?encoding?text?=".
func IsEncodedWord(s string) bool { return encodedWord.MatchString(s) }

// QPEncode returns s quoted-printable (RFC 2045 section 6.7), with LF
// line endings: no line of it is over 76 octets. Each LF of s is a line
// break; any other CR is "=0D", so a bare CR does not become one.
func QPEncode(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteString("\n")
		}
		qw := quotedprintable.NewWriter(&b)
		qw.Binary = true // CR and LF as octets; there is no LF here
		qw.Write([]byte(line))
		qw.Close()
	}
	return strings.ReplaceAll(b.String(), "=\r\n", "=\n")
}
