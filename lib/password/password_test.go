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
	for _, bad := range []string{"", "s3cret", "pbkdf2-sha256$x$00$00", "md5$1$00$00"} {
		if Check(bad, "s3cret") {
			t.Errorf("Check with stored %q = true", bad)
		}
	}
}
