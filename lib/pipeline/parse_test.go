package pipeline

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, text string
		want       [][]string
		err        string
	}{
		{"one", "cat", [][]string{{"cat"}}, ""},
		{"stages", "mlm-auth /srv/lists/dev\nmlm-hdr -a X-List:dev\n", [][]string{{"mlm-auth", "/srv/lists/dev"}, {"mlm-hdr", "-a", "X-List:dev"}}, ""},
		{"blanks", " \t a\t\tb  c \t\n", [][]string{{"a", "b", "c"}}, ""},
		{"comments and blank lines", "# head\n\n  \t\n\t# indented\ncat\n#cat\n", [][]string{{"cat"}}, ""},
		{"hash inside a line is a word", "echo #1 a#b", [][]string{{"echo", "#1", "a#b"}}, ""},
		{"dashes are words", "a -- b", [][]string{{"a", "--", "b"}}, ""},
		{"no quoting", `sh -c 'exit 1' "x y" \ z $HOME`, [][]string{{"sh", "-c", "'exit", "1'", `"x`, `y"`, `\`, "z", "$HOME"}}, ""},
		{"8-bit kept", "echo caf\xc3\xa9 \xff", [][]string{{"echo", "caf\xc3\xa9", "\xff"}}, ""},
		{"empty", "", nil, "no stages"},
		{"only comments", "# a\n\n#b\n", nil, "no stages"},
		{"CR", "cat\r\n", nil, "line 1: control octet 0x0d"},
		{"NUL", "cat\nx\x00y\n", nil, "line 2: control octet 0x00"},
		{"DEL", "# \x7f\n", nil, "line 1: control octet 0x7f"},
		{"vertical tab", "a\vb", nil, "line 1: control octet 0x0b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.text)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Parse(%q) = %q, %v; want error %q", tc.text, got, err, tc.err)
				}
				return
			}
			if err != nil || !equal(got, tc.want) {
				t.Errorf("Parse(%q) = %q, %v; want %q", tc.text, got, err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want [][]string
		err  string
	}{
		{"one", []string{"cat"}, [][]string{{"cat"}}, ""},
		{"three", []string{"a", "-x", "--", "b", "--long", "y", "--", "c"}, [][]string{{"a", "-x"}, {"b", "--long", "y"}, {"c"}}, ""},
		{"only --", []string{"a", "---", "-", "--x"}, [][]string{{"a", "---", "-", "--x"}}, ""},
		{"empty word kept", []string{"", "--", "b"}, [][]string{{""}, {"b"}}, ""},
		{"none", nil, nil, "no stages"},
		{"leading", []string{"--", "a"}, nil, "stage 1 is empty"},
		{"trailing", []string{"a", "--"}, nil, "stage 2 is empty"},
		{"double", []string{"a", "--", "--", "b"}, nil, "stage 2 is empty"},
		{"lone", []string{"--"}, nil, "stage 1 is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.args)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Split(%q) = %q, %v; want error %q", tc.args, got, err, tc.err)
				}
				return
			}
			if err != nil || !equal(got, tc.want) {
				t.Errorf("Split(%q) = %q, %v; want %q", tc.args, got, err, tc.want)
			}
		})
	}
}

// TestSplitCopies: the stages do not share the caller's array, so
// appending to a stage cannot overwrite the next one.
func TestSplitCopies(t *testing.T) {
	args := []string{"a", "--", "b"}
	s, err := Split(args)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(s[0], "x")
	if args[1] != "--" || s[1][0] != "b" {
		t.Errorf("append to stage 1 changed args to %q, stages to %q", args, s)
	}
}

func equal(a, b [][]string) bool {
	return slices.EqualFunc(a, b, slices.Equal)
}

// FuzzParse: a parsed file has only non-empty stages of words without
// blanks or control octets, no stage starts with a comment word, and
// writing the stages back one per line parses to the same stages.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"cat", "a b\n# c\n\n d\te\n", "x\r\n", "#", "a\x00", "echo #1 -- \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		stages, err := Parse(text)
		if err != nil {
			return
		}
		var lines []string
		for _, s := range stages {
			if len(s) == 0 || strings.HasPrefix(s[0], "#") {
				t.Fatalf("Parse(%q) has stage %q", text, s)
			}
			for _, w := range s {
				if w == "" || strings.ContainsAny(w, " \t\n\r\x00\x7f") {
					t.Fatalf("Parse(%q) has word %q", text, w)
				}
			}
			lines = append(lines, strings.Join(s, " "))
		}
		again, err := Parse(strings.Join(lines, "\n"))
		if err != nil || !equal(again, stages) {
			t.Fatalf("Parse(%q) = %q; written back it parses as %q, %v", text, stages, again, err)
		}
	})
}

// FuzzSplit: Split fails exactly when a stage would be empty, and joining
// its stages with "--" gives the arguments back.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"a", "a\x00--\x00b", "--\x00a", "a\x00--", "a\x00--\x00--\x00b", "", "--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		stages, err := Split(args)
		empty := args[0] == "--" || args[len(args)-1] == "--"
		for i := 1; i < len(args); i++ {
			empty = empty || args[i-1] == "--" && args[i] == "--"
		}
		if (err != nil) != empty {
			t.Fatalf("Split(%q) = %q, %v; want error: %v", args, stages, err, empty)
		}
		if err != nil {
			return
		}
		var back []string
		for i, st := range stages {
			if i > 0 {
				back = append(back, "--")
			}
			if slices.Contains(st, "--") {
				t.Fatalf("Split(%q) has stage %q", args, st)
			}
			back = append(back, st...)
		}
		if !slices.Equal(back, args) {
			t.Fatalf("Split(%q) = %q; joined back %q", args, stages, back)
		}
	})
}
