// Package password stores and checks a list password as a salted
// PBKDF2-HMAC-SHA256 hash (RFC 8018), so the list directory never holds
// the password itself: "pbkdf2-sha256$ITERATIONS$SALT$HASH", salt and
// hash in hex. It is part of mlm's internals, not a public API.
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"mlm/lib/ascii"
)

// Iterations is the work factor of new hashes: what OWASP's password
// storage advice gives for PBKDF2-HMAC-SHA256 (about 0.12 s of one
// processor here). A stored hash keeps its own count, so hashes made with
// fewer still check until the password is set again.
const Iterations = 600_000

// Hash returns the stored form of a password.
func Hash(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, pw, salt, Iterations, 32)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%x$%x", Iterations, salt, key), nil
}

// Check reports whether pw matches the stored hash. A hash longer than
// 32 octets matches none, and so does one shorter than 16 (MinHash),
// and a count of iterations that is not all decimal digits.
func Check(stored, pw string) bool {
	h, ok := parse(stored)
	if !ok || pw == "" {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, h.salt, h.iter, len(h.want))
	return err == nil && subtle.ConstantTimeCompare(got, h.want) == 1
}

// Cost returns the work of a Check of the stored hash, in iterations of
// PBKDF2 (Iterations for a hash Hash writes): 0 for a hash Check
// matches nothing with, which costs nothing to check.
func Cost(stored string) int {
	h, _ := parse(stored)
	return h.iter
}

// hash is a stored hash, read.
type hash struct {
	iter       int
	salt, want []byte
}

// parse reads a stored hash; false for one Check matches nothing with.
func parse(stored string) (hash, bool) {
	f := strings.Split(stored, "$")
	if len(f) != 4 || f[0] != "pbkdf2-sha256" || !ascii.Digits(f[1]) {
		return hash{}, false
	}
	iter, err := strconv.Atoi(f[1])
	salt, err1 := hex.DecodeString(f[2])
	want, err2 := hex.DecodeString(f[3])
	// The work is the iterations for each 32 octets of the hash: more
	// than SHA-256's own, which Hash never writes, would make a check
	// of a hash of one long line take hours, not the 2 s at most that
	// the bound on iterations allows.
	if err != nil || err1 != nil || err2 != nil || iter < 1 || iter > MaxIterations || len(want) < MinHash || len(want) > sha256.Size {
		return hash{}, false
	}
	return hash{iter, salt, want}, true
}

// MaxIterations is the largest count of iterations Check takes: a
// check of a larger one would take more than some 2 s.
const MaxIterations = 10_000_000

// MinHash is the shortest hash Check takes, in octets: a shorter one
// (a file cut short, or written by hand) would let a guess pass once in
// 2^(8n) tries, once in 256 for one octet (found by make fuzz), where
// Hash writes 32.
const MinHash = 16
