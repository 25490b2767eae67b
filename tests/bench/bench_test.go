package main

import (
	"fmt"
	"strings"
	"testing"
)

// The setup says at what session count smtp-source runs in the round
// trip rows: mlm-sendmail's default, conns.
func TestSetupNotesRTTSessions(t *testing.T) {
	notes := strings.Join(setupNotes(&bench{}, false, true), "\n")
	if want := fmt.Sprintf("smtp-source -s %d ", conns); !strings.Contains(notes, want) {
		t.Errorf("the round trip rows run %q, the setup says:\n%s", want, notes)
	}
}
