package password

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	h, err := Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !Check(h, "s3cret") {
		t.Errorf("Check(right password) = false")
	}
	for _, pw := range []string{"", "s3cret ", "S3cret"} {
		if Check(h, pw) {
			t.Errorf("Check(%q) = true", pw)
		}
	}
	// Made with 200,000 rounds, the count before; independently checked
	// with Python's hashlib.pbkdf2_hmac.
	old := "pbkdf2-sha256$200000$30313233343536373839616263646566$e7aa70c6d47b870d09e4371b01ef8881ebff91938d548977a1a2c939da76b852"
	if !Check(old, "s3cret") {
		t.Errorf("Check(hash of 200000 rounds) = false")
	}
	if Check(old, "s3creT") {
		t.Errorf("Check(hash of 200000 rounds, wrong password) = true")
	}
	for _, bad := range []string{"", "s3cret", "pbkdf2-sha256$x$00$00", "md5$1$00$00"} {
		if Check(bad, "s3cret") {
			t.Errorf("Check with stored %q = true", bad)
		}
	}
}

// TestHashLength: a stored hash longer than SHA-256's 32 octets, which
// Hash never writes, matches no password, even the one it was made
// from. PBKDF2 makes a block of 32 octets at a time, each of the full
// count of iterations: a password file of one long line (1 MiB of hex,
// up to 10,000,000 iterations) made each Approved field a post gave
// take hours of mlm-auth's time, where the bound on iterations is to
// keep a check to about 2 s. Refused before the work, it costs nothing.
func TestHashLength(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, n := range []int{33, 64, 2048} {
		key, err := pbkdf2.Key(sha256.New, "s3cret", salt, 1, n)
		if err != nil {
			t.Fatal(err)
		}
		stored := fmt.Sprintf("pbkdf2-sha256$1$%x$%x", salt, key)
		if Check(stored, "s3cret") {
			t.Errorf("Check(hash of %d octets) = true; want false", n)
		}
	}
	// The longest that Hash writes still matches.
	key, err := pbkdf2.Key(sha256.New, "s3cret", salt, 1, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	if !Check(fmt.Sprintf("pbkdf2-sha256$1$%x$%x", salt, key), "s3cret") {
		t.Errorf("Check(hash of %d octets) = false; want true", sha256.Size)
	}
}

// TestHashTooShort: a stored hash of fewer than 16 octets matches no
// password, even the one it was made from: a guess would pass a hash
// of one octet once in 256 tries (make fuzz found one, "Y" of a hash
// of one octet); and neither does a count of iterations with a sign,
// which strconv.Atoi takes.
func TestHashTooShort(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, "s3cret", salt, 1, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 8, 15} {
		if stored := fmt.Sprintf("pbkdf2-sha256$1$%x$%x", salt, key[:n]); Check(stored, "s3cret") {
			t.Errorf("Check(hash of %d octets) = true; want false", n)
		}
	}
	if stored := fmt.Sprintf("pbkdf2-sha256$1$%x$%x", salt, key[:16]); !Check(stored, "s3cret") {
		t.Errorf("Check(hash of %d octets) = false; want true", MinHash)
	}
	if stored := fmt.Sprintf("pbkdf2-sha256$+1$%x$%x", salt, key); Check(stored, "s3cret") {
		t.Errorf("Check(%q) = true; want false", stored)
	}
	if Check("pbkdf2-sha256$+1$$88", "Y") || Check("pbkdf2-sha256$1$$88", "Y") {
		t.Errorf("Check of fuzz's input = true; want false")
	}
}

// TestIterationsBounds: a stored hash whose count of iterations is
// none, or negative, matches no password, even the hash PBKDF2 makes
// of it with that count (with none, one HMAC, as quick to guess as a
// plain hash): the count is the hash's strength, and Hash never writes
// one under 1.
func TestIterationsBounds(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, "s3cret", salt, 0, sha256.Size)
	if err != nil {
		t.Skipf("PBKDF2 of 0 iterations: %v", err)
	}
	for _, iter := range []string{"0", "-1", "-0"} {
		stored := fmt.Sprintf("pbkdf2-sha256$%s$%x$%x", iter, salt, key)
		if Check(stored, "s3cret") {
			t.Errorf("Check(hash of %s iterations) = true; want false", iter)
		}
	}
}

// TestIterationsTooMany: a stored hash of more than 10,000,000
// iterations matches no password, even the one it was made from, as
// mlm-listdir(5) says: a check of it would take seconds of each post's
// time. The hash, of s3cret with 10,000,001 iterations, was made once
// with Go's crypto/pbkdf2 and checked with Python's
// hashlib.pbkdf2_hmac, so that the test does no such work itself.
func TestIterationsTooMany(t *testing.T) {
	stored := "pbkdf2-sha256$10000001$30313233343536373839616263646566$93f11d3269831d2b057861f58137e74831562d79325a21b18b1a60ca36afd5da"
	if Check(stored, "s3cret") {
		t.Errorf("Check(hash of 10000001 iterations) = true; want false")
	}
}

// FuzzCheck: whatever the password file holds (a value an administrator
// may write by hand), Check takes a password only for a hash of the form
// mlm-listdir(5) gives, "pbkdf2-sha256$ITERATIONS$SALT$HASH", of 1 to
// 10,000,000 iterations and a hash of 16 to 32 octets, that PBKDF2 makes
// of the password (crypto/pbkdf2, here the reference); and the same
// line, its hex in upper case, checks alike.
func FuzzCheck(f *testing.F) {
	salt := []byte("0123456789abcdef")
	for _, n := range []int{1, 2, 1000} {
		key, _ := pbkdf2.Key(sha256.New, "s3cret", salt, n, sha256.Size)
		f.Add(fmt.Sprintf("pbkdf2-sha256$%d$%x$%x", n, salt, key), "s3cret")
		f.Add(fmt.Sprintf("pbkdf2-sha256$%d$%x$%x", n, salt, key[:16]), "s3cret")
		f.Add(fmt.Sprintf("pbkdf2-sha256$%d$%x$%x", n, salt, key[:15]), "s3cret")
	}
	f.Add("pbkdf2-sha256$0$00$00", "x")
	f.Add("pbkdf2-sha256$+1$$00", "x")
	f.Add("pbkdf2-sha256$1$zz$00", "x")
	f.Fuzz(func(t *testing.T, stored, pw string) {
		fs := strings.Split(stored, "$")
		if len(fs) == 4 {
			if n, err := strconv.Atoi(fs[1]); err == nil && n > 1000 {
				return // seconds a check: not for a fuzzer
			}
		}
		want := false
		m := regexp.MustCompile(`^pbkdf2-sha256\$([0-9]+)\$((?:[0-9a-fA-F]{2})*)\$((?:[0-9a-fA-F]{2}){16,32})$`).FindStringSubmatch(stored)
		if m != nil && pw != "" {
			n, _ := strconv.Atoi(m[1])
			s, _ := hex.DecodeString(m[2])
			h, _ := hex.DecodeString(m[3])
			key, err := pbkdf2.Key(sha256.New, pw, s, n, len(h))
			want = n >= 1 && err == nil && bytes.Equal(key, h)
		}
		if got := Check(stored, pw); got != want {
			t.Errorf("Check(%q, %q) = %v; want %v", stored, pw, got, want)
		}
		if len(fs) == 4 {
			up := strings.Join([]string{fs[0], fs[1], strings.ToUpper(fs[2]), strings.ToUpper(fs[3])}, "$")
			if got := Check(up, pw); got != want {
				t.Errorf("Check(%q, %q) = %v; want %v, as of %q", up, pw, got, want, stored)
			}
		}
	})
}

// TestCost: a check's cost is the hash's iterations; a hash Check
// matches nothing with costs none.
func TestCost(t *testing.T) {
	h, err := Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for stored, want := range map[string]int{
		h: Iterations,
		"pbkdf2-sha256$1$0011$cd40eec6eec30c148654953c2dbec69ae1d91b58a3a4cfee2254609f87e42a1f":        1,
		"pbkdf2-sha256$10000001$0011$cd40eec6eec30c148654953c2dbec69ae1d91b58a3a4cfee2254609f87e42a1f": 0,
		"pbkdf2-sha256$5$0011$cd40":                    0, // a hash too short
		"sha1$5$0011$cd40eec6eec30c148654953c2dbec69a": 0,
		"": 0,
	} {
		if got := Cost(stored); got != want {
			t.Errorf("Cost(%q) = %d; want %d", stored, got, want)
		}
	}
}
