// Package cookie makes and checks the tokens in moderation addresses
// (dev-accept+TOKEN@host): an expiry time and an HMAC-SHA256 over the
// action, the list, the held record's id and that time, keyed with the
// list's secret. A token is short enough for a local part (RFC 5321
// §4.5.3.1.1: 64 octets with the list's name) because it does not carry
// the id: the checker tries the ids it holds. It is part of mlm's
// internals, not a public API.
package cookie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strconv"
	"strings"
	"time"

	"mlm/lib/ascii"
)

// Errors of Check.
var (
	ErrForged  = errors.New("bad or forged cookie")
	ErrExpired = errors.New("expired cookie")
)

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// macs returns the MAC of a token, its first 80 bits in 16 characters,
// and the 120 bits in 24 characters that the tokens of earlier versions
// carried, of which the 16 are the start (base32 spells each 5 octets
// in 8 characters). 80 bits are plenty where each guess costs a mail:
// a forger sending a thousand a second for the ten years a post may be
// held (modexpire), each guess tried against 10,000 held posts, has
// about one chance in 400 million (3.2e15 tries of 2^80); and they leave
// a list's name 8 octets more of its local part (see listdir.MaxLocal).
func macs(secret []byte, action, list, id string, expiry int64) (short, long string) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(action + "\x00" + strings.ToLower(list) + "\x00" + id + "\x00" + strconv.FormatInt(expiry, 10)))
	long = enc.EncodeToString(m.Sum(nil)[:15])
	return long[:macLen], long
}

// macLen is the length of the MAC in the tokens Make gives.
const macLen = 16

// MaxLen is the length of the longest token Make gives: an expiry of 13
// base-36 digits (any time after 1970 an int64 holds), "-" and the
// MAC's 16 characters.
const MaxLen = 13 + 1 + macLen

// Len is the length of the tokens Make gives for any expiry before the
// year 4453 (seven base-36 digits): those of every list, whose posts
// wait at most ten years (modexpire).
const Len = 7 + 1 + macLen

// Address is the address that answers the held post id of list with
// action: its command address at (dev-accept@host) with the token as
// its +extension, as mlm-accept routes it to mlm-moderate.
func Address(secret []byte, action, list, at, id string, expiry time.Time) string {
	local, domain, _ := strings.Cut(at, "@")
	return local + "+" + Make(secret, action, list, id, expiry) + "@" + domain
}

// Answers are the addresses that answer a held post, one an action.
type Answers struct {
	Accept string // lets it through
	Reject string // refuses it, telling its sender
	Drop   string // discards it, telling no one
}

// AnswersFor returns the answer addresses of the held post id of list,
// valid until expiry, at(action) giving each action's command address
// (listdir's CommandAddress): what the hold notice and the daily
// reminder give, from one place.
func AnswersFor(secret []byte, list, id string, expiry time.Time, at func(action string) string) Answers {
	a := func(action string) string { return Address(secret, action, list, at(action), id, expiry) }
	return Answers{Accept: a("accept"), Reject: a("reject"), Drop: a("drop")}
}

// Make returns the token for action on the record id of list, valid
// until expiry: "<expiry in base 36>-<mac>".
func Make(secret []byte, action, list, id string, expiry time.Time) string {
	e := expiry.Unix()
	short, _ := macs(secret, action, list, id, e)
	return strconv.FormatInt(e, 36) + "-" + short
}

// Expiry returns the time a token is valid until, if it is spelt as Make
// spells one (or an earlier version, with 24 characters of MAC), in any
// case: a look that needs no secret, for mail to a moderation address
// before it is queued. Whether its MAC is right only Check can say.
func Expiry(token string) (time.Time, bool) {
	es, m, ok := strings.Cut(ascii.Lower(token), "-")
	e, err := strconv.ParseInt(es, 36, 64)
	if !ok || err != nil || strconv.FormatInt(e, 36) != es || len(m) != macLen && len(m) != 24 {
		return time.Time{}, false
	}
	for _, c := range []byte(m) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return time.Time{}, false
		}
	}
	return time.Unix(e, 0), true
}

// Find returns the id, of those in sets tried in order, that token was
// made for, for action on list, still valid at now, and the index of its
// set (held posts, say, before those settled). Else it returns
// ErrExpired if token was made for one of them but has expired, or
// ErrForged. It makes one HMAC for each id.
func Find(secret []byte, action, list, token string, now time.Time, sets ...[]string) (id string, set int, err error) {
	expired := false
	for i, ids := range sets {
		for _, id := range ids {
			switch Check(secret, action, list, id, token, now) {
			case nil:
				return id, i, nil
			case ErrExpired:
				expired = true
			}
		}
	}
	if expired {
		return "", -1, ErrExpired
	}
	return "", -1, ErrForged
}

// Check reports whether token is the one Make gave for action on id of
// list, or the one of 24 characters of MAC that earlier versions gave
// (in the notices of posts held before an upgrade), and still valid at
// now. Its case does not matter: Make's has one, and a mail program or
// an MTA may change an address's (RFC 5321 §2.4).
func Check(secret []byte, action, list, id, token string, now time.Time) error {
	es, m, ok := strings.Cut(ascii.Lower(token), "-")
	e, err := strconv.ParseInt(es, 36, 64)
	if !ok || err != nil || strconv.FormatInt(e, 36) != es {
		// (Also a sign or leading zeros, which ParseInt takes: the
		// same cookie spelt as Make never spells it.)
		return ErrForged
	}
	short, long := macs(secret, action, list, id, e)
	if !hmac.Equal([]byte(m), []byte(short)) && !hmac.Equal([]byte(m), []byte(long)) {
		return ErrForged
	}
	if now.Unix() > e {
		return ErrExpired
	}
	return nil
}
