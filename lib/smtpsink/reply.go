package smtpsink

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"mlm/lib/ascii"
	"mlm/lib/smtpout"
)

// Reply is an SMTP reply, as the client side has it.
type Reply = smtpout.Reply

// ParseReply parses "CODE [ENHANCED] [TEXT]"; see smtpout.ParseReply.
var ParseReply = smtpout.ParseReply

// smtpError is the reply as go-smtp writes it. Without an enhanced code
// go-smtp supplies X.0.0, as RFC 2034 requires once ENHANCEDSTATUSCODES
// is advertised.
func smtpError(r Reply) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: r.Text}
	if r.Enhanced != "" {
		p := strings.Split(r.Enhanced, ".")
		for i := range e.EnhancedCode {
			e.EnhancedCode[i], _ = strconv.Atoi(p[i])
		}
	}
	return e
}

// Rule gives the reply for the addresses that match a shell pattern
// (path.Match); matching ignores case.
type Rule struct {
	Pattern string // lower case
	Reply   Reply
}

// ParseRule parses "PATTERN=CODE [ENHANCED] [TEXT]". The pattern ends at
// the first "=" that is followed by a reply code and a space or the end,
// so patterns may themselves hold "=" (as VERP addresses do).
func ParseRule(s string) (Rule, error) {
	for i := 0; i < len(s); i++ {
		if s[i] != '=' || !startsWithCode(s[i+1:]) {
			continue
		}
		pat := strings.ToLower(s[:i])
		if pat == "" {
			return Rule{}, fmt.Errorf("rule %q: empty pattern", s)
		}
		if _, err := path.Match(pat, ""); err != nil {
			return Rule{}, fmt.Errorf("rule %q: %v", s, err)
		}
		r, err := ParseReply(s[i+1:])
		if err != nil {
			return Rule{}, err
		}
		return Rule{Pattern: pat, Reply: r}, nil
	}
	return Rule{}, fmt.Errorf("rule %q: want PATTERN=CODE TEXT", s)
}

// UnmarshalText lets a Rule be a command-line flag.
func (r *Rule) UnmarshalText(b []byte) error {
	v, err := ParseRule(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

func startsWithCode(s string) bool {
	return len(s) >= 3 && s[0] >= '2' && s[0] <= '5' && ascii.Digits(s[:3]) && (len(s) == 3 || s[3] == ' ')
}

// match returns the reply of the first rule whose pattern matches the
// lower-cased address.
func match(rules []Rule, mailbox string) (Reply, bool) {
	if len(rules) == 0 {
		return Reply{}, false
	}
	lc := strings.ToLower(mailbox)
	for _, r := range rules {
		if ok, _ := path.Match(r.Pattern, lc); ok {
			return r.Reply, true
		}
	}
	return Reply{}, false
}

var errDropped = errors.New("connection dropped")
