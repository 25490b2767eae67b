package main

import (
	"fmt"
	"testing"

	"mlm/lib/mlmtest"
)

func TestMain(m *testing.M) { mlmtest.Main(m, prog, main) }

func TestScript(t *testing.T) { mlmtest.Run(t) }

func TestKeySet(t *testing.T) {
	s := newKeySet()
	for i := 0; i < 100_000; i++ {
		if !s.add(fmt.Sprint(i)) {
			t.Fatalf("add(%d): new key taken as seen", i)
		}
	}
	for i := 0; i < 100_000; i += 7 {
		if s.add(fmt.Sprint(i)) {
			t.Fatalf("add(%d) again: taken as new", i)
		}
	}
}
