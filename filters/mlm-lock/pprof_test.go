//go:build mlmpprof

package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"mlm/lib/mlmtest"
)

// TestScriptPprof runs the scripts of a build with the profiler.
func TestScriptPprof(t *testing.T) {
	testscript.Run(t, mlmtest.ScriptParams("testdata/pprof"))
}
