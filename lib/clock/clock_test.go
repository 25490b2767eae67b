package clock

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestNowFixed(t *testing.T) {
	t.Setenv(ModeEnv, "")
	t.Setenv(Env, "1795867200")
	if got := Now(); !got.Equal(time.Unix(1795867200, 0)) {
		t.Errorf("Now() = %v; want 1795867200", got)
	}
	// The time stands still: a sleep returns at once.
	start := time.Now()
	Sleep(time.Hour)
	if time.Since(start) > time.Second || !Now().Equal(time.Unix(1795867200, 0)) {
		t.Errorf("Sleep under %s moved or waited", Env)
	}
}

func TestNowReal(t *testing.T) {
	for _, v := range []string{"", "x", "12a"} {
		t.Setenv(Env, v)
		t.Setenv(ModeEnv, "")
		if d := time.Since(Now()); d < 0 || d > time.Minute {
			t.Errorf("with %s=%q, Now() is %v from the real time", Env, v, d)
		}
	}
	t.Setenv(ModeEnv, "real")
	start := time.Now()
	Sleep(20 * time.Millisecond)
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("real Sleep returned early")
	}
}

func TestGetRejects(t *testing.T) {
	for _, v := range []string{"fake:", "Fake", "virtual", "fake;x"} {
		t.Setenv(ModeEnv, v)
		if _, err := Get(); err == nil {
			t.Errorf("Get() with %s=%q: want error", ModeEnv, v)
		}
		// Now ignores it, as it ignores a bad MLM_NOW.
		t.Setenv(Env, "5")
		if got := Now(); !got.Equal(time.Unix(5, 0)) {
			t.Errorf("Now() with %s=%q = %v; want 5", ModeEnv, v, got)
		}
	}
}

func TestFakeProcess(t *testing.T) {
	t.Setenv(ModeEnv, "fake")
	t.Setenv(Env, "100")
	if got := Now(); !got.Equal(time.Unix(100, 0)) {
		t.Fatalf("Now() = %v; want 100", got)
	}
	Sleep(1500 * time.Millisecond)
	SleepUntil(time.Unix(50, 0)) // never back
	if got := Now(); !got.Equal(time.Unix(101, 5e8)) {
		t.Errorf("Now() after sleeping 1.5s = %v; want 101.5", Format(got))
	}
}

func TestFakeFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clock")
	t.Setenv(ModeEnv, "fake:"+file)
	t.Setenv(Env, "")
	if got := Now(); !got.Equal(time.Unix(0, 0)) {
		t.Fatalf("Now() on a missing file = %v; want the epoch", got)
	}
	Sleep(2 * time.Second)
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "2\n" {
		t.Fatalf("file = %q, %v; want %q", b, err, "2\n")
	}
	// A second clock on the same file, as another process would have.
	other := &Fake{File: file}
	if got := other.Now(); !got.Equal(time.Unix(2, 0)) {
		t.Errorf("other.Now() = %v; want 2", got)
	}
	other.SleepUntil(time.Unix(7, 25e7))
	if got := Now(); !got.Equal(time.Unix(7, 25e7)) {
		t.Errorf("Now() after the other slept = %v; want 7.25", Format(got))
	}
}

// TestFakeFileShared: processes that sleep at once share one time, the
// latest they slept until, not the sum of their sleeps.
func TestFakeFileShared(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(file, []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &Fake{File: file}
			c.SleepUntil(time.Unix(1000+int64(i), 0))
		}()
	}
	wg.Wait()
	if got := (&Fake{File: file}).Now(); !got.Equal(time.Unix(1020, 0)) {
		t.Errorf("Now() = %v; want 1020", Format(got))
	}
}

func TestFakeFileBad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clock")
	if err := os.WriteFile(file, []byte("soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Now() on a bad file did not panic")
		}
	}()
	(&Fake{File: file}).Now()
}

func TestFormatParse(t *testing.T) {
	tests := []struct {
		t time.Time
		s string
	}{
		{time.Unix(0, 0), "0"},
		{time.Unix(1795867200, 0), "1795867200"},
		{time.Unix(1795867200, 5e8), "1795867200.5"},
		{time.Unix(12, 1), "12.000000001"},
		{time.Unix(-3, -25e7), "-3.25"},
		{time.Unix(0, -25e7), "-0.25"},
		{time.Unix(99999999999, 5e8), "99999999999.5"},
		{time.Unix(-99999999999, 0), "-99999999999"},
	}
	for _, tc := range tests {
		if got := Format(tc.t); got != tc.s {
			t.Errorf("Format(%v) = %q; want %q", tc.t, got, tc.s)
		}
		if got, err := Parse(tc.s); err != nil || !got.Equal(tc.t) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.s, got, err, tc.t)
		}
	}
	for _, s := range []string{"", ".", "1.", ".5", "+1", "--1", "1.+5", "1.1234567890", "1e3", "1 ", "100000000000", "99999999999999999999"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q): want error", s)
		}
	}
}

// FuzzParse: a time Parse takes, Format writes so that Parse reads it
// back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1795867200", "1795867200.5", "-3.25", "12.000000001", "99999999999", "-99999999999.999999999", "01.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(Format(tm))
		if err != nil || !back.Equal(tm) {
			t.Errorf("Parse(%q) = %v; Format gives %q, which Parse reads as %v, %v", s, tm, Format(tm), back, err)
		}
	})
}
