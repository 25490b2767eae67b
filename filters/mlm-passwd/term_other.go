//go:build !linux

package main

import "os"

// noEcho is not done where mlm cannot ask the terminal: ok is false, and
// the password is read as from any file.
func noEcho(f *os.File) (restore func(), ok bool) { return nil, false }
