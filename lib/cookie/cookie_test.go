package cookie

import (
	"strings"
	"testing"
	"time"

	"mlm/lib/ascii"
)

func TestCookie(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	tok := Make(secret, "accept", "dev@x.org", "1.M1P1", now.Add(time.Hour))
	if len("dev-accept+"+tok) > 64 {
		t.Errorf("local part too long: %d", len("dev-accept+"+tok))
	}
	if err := Check(secret, "accept", "DEV@x.org", "1.M1P1", tok, now); err != nil {
		t.Errorf("Check = %v", err)
	}
	// A mail program or an MTA that changes the address's case
	// changes nothing: the token has one case.
	if err := Check(secret, "accept", "dev@x.org", "1.M1P1", strings.ToUpper(tok), now); err != nil {
		t.Errorf("Check(upper case) = %v", err)
	}
	for name, err := range map[string]error{
		"other action": Check(secret, "reject", "dev@x.org", "1.M1P1", tok, now),
		"other id":     Check(secret, "accept", "dev@x.org", "1.M1P2", tok, now),
		"other list":   Check(secret, "accept", "web@x.org", "1.M1P1", tok, now),
		"other secret": Check([]byte("x"), "accept", "dev@x.org", "1.M1P1", tok, now),
		"garbage":      Check(secret, "accept", "dev@x.org", "1.M1P1", "zz", now),
		"moved expiry": Check(secret, "accept", "dev@x.org", "1.M1P1", "zzzzzz"+tok[len(tok)-25:], now),
		// The same expiry spelt otherwise is no token Make gives
		// (FuzzCheck's rule): strconv took a sign and leading zeros.
		"leading zero": Check(secret, "accept", "dev@x.org", "1.M1P1", "0"+tok, now),
		"plus sign":    Check(secret, "accept", "dev@x.org", "1.M1P1", "+"+tok, now),
	} {
		if err != ErrForged {
			t.Errorf("%s: %v; want ErrForged", name, err)
		}
	}
	if err := Check(secret, "accept", "dev@x.org", "1.M1P1", tok, now.Add(2*time.Hour)); err != ErrExpired {
		t.Errorf("late: %v; want ErrExpired", err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("lq2x3k-abcdefghijklmnopqrstuvwx")
	f.Fuzz(func(t *testing.T, tok string) {
		secret := []byte("k")
		if Check(secret, "accept", "l@x", "id", tok, time.Unix(0, 0)) == nil && ascii.Lower(tok) != Make(secret, "accept", "l@x", "id", time.Unix(mustExpiry(tok), 0)) {
			t.Fatalf("accepted a token Make would not give: %q", tok)
		}
	})
}

func mustExpiry(tok string) int64 {
	var e int64
	for _, c := range ascii.Lower(tok) {
		if c == '-' {
			break
		}
		d := int64(c - '0')
		if c >= 'a' {
			d = int64(c-'a') + 10
		}
		e = e*36 + d
	}
	return e
}

// FuzzMake: a token Make gives checks for what it was made for, until it
// expires, and for nothing else; it fits a local part as atext.
// (A time before 1970 would make a token Check refuses: never made.)
func FuzzMake(f *testing.F) {
	f.Add("accept", "dev@x.org", "1.M1P1", int64(1_800_000_000), "reject")
	f.Add("reject", "DEV@X", "a,b", int64(0), "accept\x00")
	f.Fuzz(func(t *testing.T, action, list, id string, expiry int64, other string) {
		if expiry < 0 {
			expiry = -(expiry + 1) // times before 1970 are never made
		}
		secret := []byte("0123456789abcdef")
		tok := Make(secret, action, list, id, time.Unix(expiry, 0))
		if len(tok) > 14+25 {
			t.Fatalf("token %q: %d octets", tok, len(tok))
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("token %q holds %q", tok, c)
			}
		}
		if err := Check(secret, action, list, id, tok, time.Unix(expiry, 0)); err != nil {
			t.Fatalf("Check(Make) = %v", err)
		}
		if expiry < 1<<62 {
			if err := Check(secret, action, list, id, tok, time.Unix(expiry+1, 0)); err != ErrExpired {
				t.Fatalf("Check after expiry = %v; want ErrExpired", err)
			}
		}
		if other != action {
			if err := Check(secret, other, list, id, tok, time.Unix(expiry, 0)); err != ErrForged {
				t.Fatalf("Check(%q) of a token for %q = %v; want ErrForged", other, action, err)
			}
		}
	})
}
