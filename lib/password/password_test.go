package password

import "testing"

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
