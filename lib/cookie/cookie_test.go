package cookie

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
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
	// 80 bits of MAC, in 16 characters; earlier versions gave 24 (120
	// bits), which a moderator may still answer with.
	if e, m, _ := strings.Cut(tok, "-"); len(tok) > Len || e != strconv.FormatInt(now.Add(time.Hour).Unix(), 36) || len(m) != 16 {
		t.Errorf("token %q: want the expiry and a MAC of 16 characters", tok)
	}
	old := oldMake(secret, "accept", "dev@x.org", "1.M1P1", now.Add(time.Hour))
	if !strings.HasPrefix(old, tok) || len(old) != len(tok)+8 {
		t.Fatalf("earlier token %q: want %q and 8 characters more", old, tok)
	}
	if err := Check(secret, "accept", "dev@x.org", "1.M1P1", strings.ToUpper(old), now); err != nil {
		t.Errorf("Check(a token of earlier versions) = %v", err)
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
		"moved expiry": Check(secret, "accept", "dev@x.org", "1.M1P1", "zzzzzz"+tok[len(tok)-17:], now),
		// A MAC of other than its 16 characters or the 24 of earlier
		// versions: the 16 and a part of the rest, or the 24 with one
		// changed.
		"20 of 24":  Check(secret, "accept", "dev@x.org", "1.M1P1", old[:len(old)-4], now),
		"24, wrong": Check(secret, "accept", "dev@x.org", "1.M1P1", old[:len(old)-1]+flip(old[len(old)-1]), now),
		"15 of 16":  Check(secret, "accept", "dev@x.org", "1.M1P1", tok[:len(tok)-1], now),
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

// oldMake is Make as versions before 80-bit MACs had it: the MAC's
// first 120 bits, in 24 characters.
func oldMake(secret []byte, action, list, id string, expiry time.Time) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(action + "\x00" + strings.ToLower(list) + "\x00" + id + "\x00" + strconv.FormatInt(expiry.Unix(), 10)))
	return strconv.FormatInt(expiry.Unix(), 36) + "-" + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)[:15])
}

// flip is another base32 character than c.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func FuzzCheck(f *testing.F) {
	f.Add("lq2x3k-abcdefghijklmnop")
	f.Add("lq2x3k-abcdefghijklmnopqrstuvwx")
	f.Add("ZZZZZZZZ-abcdefghijklmnop") // (past 4453, in upper case)
	f.Fuzz(func(t *testing.T, tok string) {
		secret := []byte("k")
		at := time.Unix(mustExpiry(tok), 0)
		err := Check(secret, "accept", "l@x", "id", tok, time.Unix(0, 0))
		if err == nil && ascii.Lower(tok) != Make(secret, "accept", "l@x", "id", at) &&
			ascii.Lower(tok) != oldMake(secret, "accept", "l@x", "id", at) {
			t.Fatalf("accepted a token neither Make nor earlier versions would give: %q", tok)
		}
		// Expiry (mlm-accept's first look) takes a spelling of the
		// expiry where Check does: the fuzzed token's expiry, with the
		// MAC made for the time it spells in place of its own.
		es, m, _ := strings.Cut(tok, "-")
		_, mac := cutMAC(Make(secret, "accept", "l@x", "id", time.Unix(mustExpiry(es), 0)))
		if len(m) == 24 {
			_, mac = cutMAC(oldMake(secret, "accept", "l@x", "id", time.Unix(mustExpiry(es), 0)))
		}
		made := es + "-" + mac
		cerr := Check(secret, "accept", "l@x", "id", made, time.Unix(0, 0))
		e, ok := Expiry(made)
		if (cerr == nil) != ok || ok && e.Unix() != mustExpiry(es) {
			t.Fatalf("token %q: Check says %v, Expiry %v, %v", made, cerr, e, ok)
		}
	})
}

func cutMAC(tok string) (string, string) { e, m, _ := strings.Cut(tok, "-"); return e, m }

// TestExpiry: a token's shape, and its time, without the secret.
func TestExpiry(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	for tok, ok := range map[string]bool{
		Make([]byte("k"), "accept", "l@x", "id", at):                  true,
		oldMake([]byte("k"), "accept", "l@x", "id", at):               true,
		strings.ToUpper(Make([]byte("k"), "accept", "l@x", "id", at)): true,
		"":                                false,
		"x.y":                             false,
		"tsrx00-":                         false,
		"tsrx00-abcdefghijklmno":          false, // 15
		"tsrx00-abcdefghijklmnopq":        false, // 17
		"tsrx00-abcdefghijklmno1":         false, // not base32
		"tsrx00-abcdefghijklmn0p":         false,
		"0tsrx00-abcdefghijklmnop":        false, // a leading zero
		"+tsrx00-abcdefghijklmnop":        false,
		"-tsrx00-abcdefghijklmnop":        false,
		"tsrx00-abcdefghijklmnop-":        false,
		"tsrx00--abcdefghijklmnop":        false,
		"tsrx00-abcdefghijklmnop":         true,
		"zzzzzzzzzzzzzz-abcdefghijklmnop": false, // past an int64
	} {
		e, got := Expiry(tok)
		if got != ok || ok && e.Unix() != mustExpiry(tok) {
			t.Errorf("Expiry(%q) = %v, %v; want ok %v", tok, e, got, ok)
		}
	}
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
		if len(tok) > MaxLen || expiry < 36*36*36*36*36*36*36 && len(tok) > Len {
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
		// mlm-accept's first look takes it, in any case, and the
		// earlier versions' too, with the time it was made for.
		for _, t2 := range []string{tok, strings.ToUpper(tok), oldMake(secret, action, list, id, time.Unix(expiry, 0))} {
			if e, ok := Expiry(t2); !ok || e.Unix() != expiry {
				t.Fatalf("Expiry(%q) = %v, %v; want %d", t2, e, ok, expiry)
			}
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
