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

func mac(secret []byte, action, list, id string, expiry int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(action + "\x00" + strings.ToLower(list) + "\x00" + id + "\x00" + strconv.FormatInt(expiry, 10)))
	return enc.EncodeToString(m.Sum(nil)[:15]) // 120 bits, 24 characters
}

// MaxLen is the length of the longest token Make gives: an expiry of 13
// base-36 digits (any time after 1970 an int64 holds), "-" and the
// MAC's 24 characters.
const MaxLen = 13 + 1 + 24

// Len is the length of the tokens Make gives for any expiry before the
// year 4453 (seven base-36 digits): those of every list, whose posts
// wait at most ten years (modexpire).
const Len = 7 + 1 + 24

// Make returns the token for action on the record id of list, valid
// until expiry: "<expiry in base 36>-<mac>".
func Make(secret []byte, action, list, id string, expiry time.Time) string {
	e := expiry.Unix()
	return strconv.FormatInt(e, 36) + "-" + mac(secret, action, list, id, e)
}

// Check reports whether token is the one Make gave for action on id of
// list, and still valid at now. Its case does not matter: Make's has one,
// and a mail program or an MTA may change an address's (RFC 5321 §2.4).
func Check(secret []byte, action, list, id, token string, now time.Time) error {
	es, m, ok := strings.Cut(ascii.Lower(token), "-")
	e, err := strconv.ParseInt(es, 36, 64)
	if !ok || err != nil || strconv.FormatInt(e, 36) != es {
		// (Also a sign or leading zeros, which ParseInt takes: the
		// same cookie spelt as Make never spells it.)
		return ErrForged
	}
	if !hmac.Equal([]byte(m), []byte(mac(secret, action, list, id, e))) {
		return ErrForged
	}
	if now.Unix() > e {
		return ErrExpired
	}
	return nil
}
