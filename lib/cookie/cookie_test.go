package cookie

import (
	"testing"
	"time"
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
	for name, err := range map[string]error{
		"other action": Check(secret, "reject", "dev@x.org", "1.M1P1", tok, now),
		"other id":     Check(secret, "accept", "dev@x.org", "1.M1P2", tok, now),
		"other list":   Check(secret, "accept", "web@x.org", "1.M1P1", tok, now),
		"other secret": Check([]byte("x"), "accept", "dev@x.org", "1.M1P1", tok, now),
		"garbage":      Check(secret, "accept", "dev@x.org", "1.M1P1", "zz", now),
		"moved expiry": Check(secret, "accept", "dev@x.org", "1.M1P1", "zzzzzz"+tok[len(tok)-25:], now),
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
		if Check(secret, "accept", "l@x", "id", tok, time.Unix(0, 0)) == nil && tok != Make(secret, "accept", "l@x", "id", time.Unix(mustExpiry(tok), 0)) {
			t.Fatalf("accepted a token Make would not give: %q", tok)
		}
	})
}

func mustExpiry(tok string) int64 {
	var e int64
	for _, c := range tok {
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
