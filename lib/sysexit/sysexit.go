// Package sysexit defines the exit statuses mlm programs use and carries
// them on errors, so that a failure is classified where its cause is known
// and mapped to a status in one place. It is part of mlm's internals, not a
// public API.
//
// The codes are those of sysexits.h that every MTA reads the same way
// (see mlm-exit(7)): an error nobody classified is EX_TEMPFAIL, because a
// deferred message can still be delivered and a bounced one cannot.
package sysexit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Exit statuses (sysexits.h names).
const (
	OK       = 0  // done; output complete and, where owed, durable
	No       = 1  // predicates and query modes only: "no", "none found"
	Usage    = 64 // EX_USAGE: bad flags or arguments
	DataErr  = 65 // EX_DATAERR: the input is unacceptable as data
	NoUser   = 67 // EX_NOUSER: no such list or user
	TempFail = 75 // EX_TEMPFAIL: may work later; any unclassified error
	NoPerm   = 77 // EX_NOPERM: policy refusal
)

// Error is an error classified with an exit status and, for programs an
// MTA runs, optionally an RFC 3463 enhanced status code.
type Error struct {
	Code int
	DSN  string // e.g. "5.1.1"; "" means the default for Code
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Temp classifies err as temporary (EX_TEMPFAIL). Temp(nil) is nil.
func Temp(err error) error { return Perm(TempFail, err) }

// Perm classifies err with code. Perm(code, nil) is nil. Despite the name
// it is the general constructor; Temp is Perm(TempFail, err).
func Perm(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Errorf is Perm(code, fmt.Errorf(format, a...)).
func Errorf(code int, format string, a ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}

// WithDSN classifies err with code and the enhanced status code dsn.
func WithDSN(code int, dsn string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, DSN: dsn, Err: err}
}

// DSN returns the enhanced status code for err: the one it carries, else
// the usual one for its exit status.
func DSN(err error) string {
	var e *Error
	if errors.As(err, &e) && e.DSN != "" {
		return e.DSN
	}
	switch Code(err) {
	case Usage:
		return "5.3.5" // system incorrectly configured: a bad alias line
	case DataErr:
		return "5.6.0"
	case NoUser:
		return "5.1.1"
	case NoPerm:
		return "5.7.1"
	}
	return "4.3.0"
}

// Code returns the exit status for err: 0 for nil, the outermost
// classification if there is one, and TempFail otherwise.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return TempFail
}

// Report writes "prog: err" to w unless err is nil or silent, and
// returns err's exit status. The line is one line of text whatever err
// says: a control character in it (a post's own octets, which a
// parser's error may quote), C0, DEL or C1, a format character, a line
// or paragraph separator, or an octet that is not UTF-8, is written as
// \xHH, octet by octet, since the line may reach a terminal, or a
// bounce by way of the MTA.
func Report(w io.Writer, prog string, err error) int {
	if err != nil && err.Error() != "" {
		fmt.Fprintf(w, "%s: %s\n", prog, OneLine(err.Error()))
	}
	return Code(err)
}

// OneLine writes the control characters of s, its format characters
// (U+202E turns the text after it round, so that a line reads as
// another) and line and paragraph separators (U+2028, which some log
// viewers break lines at), and its octets that are not UTF-8, as \xHH.
func OneLine(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, hidden) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if hidden(r) || r == utf8.RuneError && n == 1 {
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Cut returns s if it is n octets long or shorter, else its first n
// octets, or up to three fewer where the n+1st is inside a UTF-8
// character, cut where that character starts, so that it is not split
// into octets that OneLine would write as \xHH. Octets that are no
// character are cut at n. A character the end of s cuts short counts
// as one.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := n; i > n-utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]); {
		i--
		if utf8.RuneStart(s[i]) {
			if _, size := utf8.DecodeRuneInString(s[i:]); size > n-i || !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
		}
	}
	return s[:n]
}

// IsControl reports whether r is a control character: C0, DEL or C1.
func IsControl(r rune) bool { return r < ' ' || r >= 0x7f && r < 0xa0 }

// hidden reports the characters OneLine escapes: the controls, and
// beyond ASCII the format characters (Cf) and line and paragraph
// separators (Zl, Zp).
func hidden(r rune) bool {
	return IsControl(r) || r >= 0xa0 && unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Silent is a failure with exit status code that has been reported
// already (by a child that printed its own reason), so it prints nothing.
func Silent(code int) error {
	if code == OK {
		return nil
	}
	return &Error{Code: code, Err: errors.New("")}
}

// ReportDSN is Report for programs an MTA runs: the line starts with the
// enhanced status code, "4.3.0 prog: reason", which Postfix and others
// take as the delivery status.
func ReportDSN(w io.Writer, prog string, err error) int {
	if err != nil && err.Error() != "" {
		fmt.Fprintf(w, "%s %s: %s\n", DSN(err), prog, OneLine(err.Error()))
	}
	return Code(err)
}

// Exit reports err on standard error and exits with its status.
func Exit(prog string, err error) {
	os.Exit(Report(os.Stderr, prog, err))
}

// ErrNo is the silent "no" of predicates and query modes (exit 1).
var ErrNo = Silent(No)

// Bare is err without the operation and path an *fs.PathError puts
// before its reason, for a message that names the file itself:
// "NAME: no such file or directory", not "NAME: open /x/NAME: no such
// file or directory".
func Bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
