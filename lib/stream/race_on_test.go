//go:build race

package stream

// raceEnabled says the race detector is on. It makes the largest tests
// of this package ten times slower, past go test's ten minutes on a
// busy machine; they run a part of their cases under it, and all of
// them in the plain run (make check runs both).
const raceEnabled = true
