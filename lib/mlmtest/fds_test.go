package mlmtest

import (
	"os"
	"slices"
	"strconv"
	"testing"
)

// TestNewFDs: what is open after and was not before, or named something
// else then, is new; what was closed meanwhile is not counted.
func TestNewFDs(t *testing.T) {
	before := map[string]string{"0": "/dev/null", "3": "pipe:[1]", "4": "pipe:[1]", "5": "/tmp/x"}
	after := map[string]string{"0": "/dev/null", "3": "pipe:[1]", "4": "pipe:[9]", "6": "socket:[2]", "10": "/tmp/y"}
	want := []string{"10 /tmp/y", "4 pipe:[9]", "6 socket:[2]"}
	if got := NewFDs(before, after); !slices.Equal(got, want) {
		t.Errorf("NewFDs = %q; want %q", got, want)
	}
	if got := NewFDs(after, after); len(got) != 0 {
		t.Errorf("NewFDs of the same = %q; want none", got)
	}
}

// TestOpenFDs: a pipe opened shows as its two ends, what they name, and
// the listing's own descriptor is not there.
func TestOpenFDs(t *testing.T) {
	before := OpenFDs(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	after := OpenFDs(t)
	fr, fw := strconv.Itoa(int(r.Fd())), strconv.Itoa(int(w.Fd()))
	if after[fr] == "" || after[fr] != after[fw] || after[fr][:5] != "pipe:" {
		t.Errorf("the pipe's ends %s and %s name %q and %q", fr, fw, after[fr], after[fw])
	}
	if got := NewFDs(before, after); len(got) != 2 {
		t.Errorf("new after os.Pipe: %q; want its two ends", got)
	}
	if got := NewFDs(after, OpenFDs(t)); len(got) != 0 {
		t.Errorf("new from one listing to the next: %q; want none (the listing's own left out)", got)
	}
}
