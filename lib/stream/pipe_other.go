//go:build !linux

package stream

import "os"

// pipeSize is what the pipe f holds: 0, where mlm cannot ask, so that a
// Writer to a pipe keeps its first buffer.
func pipeSize(f *os.File) int { return 0 }
