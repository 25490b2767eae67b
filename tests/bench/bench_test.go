package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A row whose runs were cut short, by a run killed at its timeout or by
// the budget, has no median of the runs asked for: its rate is no exact
// figure, and a ratio with it says so.
func TestRateCutShort(t *testing.T) {
	full := &row{work: 1000, unit: "rcpt/s", runs: []usage{{wall: time.Second}, {wall: time.Second}, {wall: time.Second}}}
	if _, exact := full.rate(); !exact {
		t.Fatal("a row of whole runs: rate not exact")
	}
	for _, status := range []string{"timeout", "skipped (max-time)"} {
		// One run done, the next killed or never started.
		r := &row{work: 1000, unit: "rcpt/s", runs: []usage{{wall: time.Second / 2}}, status: status}
		if _, exact := r.rate(); exact {
			t.Errorf("%s after one run: rate exact, from the run that finished alone", status)
		}
		if s := ratio(r, full); !strings.HasPrefix(s, "~") {
			t.Errorf("%s after one run: ratio %q, not marked ~", status, s)
		}
		if s := ratio(full, r); !strings.HasPrefix(s, "~") {
			t.Errorf("%s after one run: ratio against it %q, not marked ~", status, s)
		}
	}
}

// The setup says at what session count smtp-source runs in the round
// trip rows: mlm-sendmail's default, conns.
func TestSetupNotesRTTSessions(t *testing.T) {
	notes := strings.Join(setupNotes(&bench{}, false, true), "\n")
	if want := fmt.Sprintf("smtp-source -s %d ", conns); !strings.Contains(notes, want) {
		t.Errorf("the round trip rows run %q, the setup says:\n%s", want, notes)
	}
}
