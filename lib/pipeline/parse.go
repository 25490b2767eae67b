package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// separator is the argument that separates stages on a command line.
const separator = "--"

// Parse reads a stage file (see the package comment) and returns its
// stages, each a program and its arguments.
func Parse(text string) ([][]string, error) {
	var stages [][]string
	for n, line := range strings.Split(text, "\n") {
		for i := 0; i < len(line); i++ {
			if c := line[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, fmt.Errorf("line %d: control octet %#02x", n+1, c)
			}
		}
		words := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		stages = append(stages, words)
	}
	if len(stages) == 0 {
		return nil, ErrNoStages
	}
	return stages, nil
}

// Split cuts a command line into stages at each "--", which therefore
// never reaches a stage. No stages, or an empty one, is an error.
func Split(args []string) ([][]string, error) {
	if len(args) == 0 {
		return nil, ErrNoStages
	}
	var stages [][]string
	start := 0
	for i := 0; i <= len(args); i++ {
		if i < len(args) && args[i] != separator {
			continue
		}
		if i == start {
			return nil, fmt.Errorf("stage %d is empty", len(stages)+1)
		}
		stages = append(stages, slices.Clone(args[start:i]))
		start = i + 1
	}
	return stages, nil
}
