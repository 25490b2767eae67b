package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	mlmenvelope "mlm/lib/envelope"
)

// TestMembersStandIn: contrib/mlm-members.sh gives the recipients and the
// status mlm-members gives, on member files with what mlm-members skips:
// CRLF and bad lines, the list's own addresses (quoted too), duplicates,
// digest and nomail members, the poster in notmetoo; and it refuses what
// mlm-members refuses.
func TestMembersStandIn(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	dir := newList(t)
	files := map[string]string{
		"subscribers": "\ufeffalice@example.org\r\nbob@Example.NET\nbob@example.net\n\"carol\"@example.com\ncarol@example.com\n" +
			"dev-owner@lists.example.org\n\"dev-owner\"@Lists.example.org\nDev+x@lists.example.org\nBob <x@y>\n" +
			"carol@example.org> NOTIFY=NEVER\nno-at\ndig@example.org\nnm@example.org\nposter@example.org\n# comment\n\n  spaced@example.org  \n" +
			// bad forms mlm-members skips, good ones it keeps, and
			// quoted pairs that make another mailbox
			"a..b@x.org\n.a@x.org\na@x..org\na@-x.org\na@x_y.org\na(b)@x.org\na,b@x.org\na@x.org.\n" +
			"\"john doe\"@x.org\n\"a\\\"b\"@x.org\na@[IPv6:::1]\nu@bücher.de\n\"a\\\\b\"@x.org\nab@x.org\n",
		"digest":   "dig@example.org\n",
		"nomail":   "nm@example.org\n",
		"notmetoo": "poster@example.org\n",
		"owner":    "dev-owner@lists.example.org\n\"dev\"@lists.example.org\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nR <already@example.org>\nR <Alice@EXAMPLE.org>\nE 2\n"
	bare := "MLM1 p2\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	comma := "MLM1 base,2\nS <poster@example.org>\n:x\nE 0\n"
	envelope := regexp.MustCompile(`(?m)^[RE] .*$`)
	run := func(argv []string, in string) (string, int) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(in)
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.Join(envelope.FindAllString(out.String(), -1), "\n"), code
	}
	goProg := filepath.Join(binDir, "mlm-members")
	sh := filepath.Join(root, "contrib", "mlm-members.sh")
	// same runs mlm-members and the stand-in on the list with in, and
	// fails the test where they differ, or the stand-in's output does
	// not hold contains.
	same := func(what, in, contains string) {
		t.Helper()
		want, wantCode := run([]string{goProg, dir}, in)
		got, code := run([]string{"sh", sh, dir}, in)
		if got != want || code != wantCode || !strings.Contains(got, contains) {
			t.Errorf("%s: mlm-members.sh gave %d:\n%q\nmlm-members %d:\n%q", what, code, got, wantCode, want)
		}
	}
	for _, tc := range []struct {
		name, in string
		args     []string
	}{
		{"subscribers", post, []string{dir}},
		{"owner, the list's own alone", bare, []string{"-l", "owner", dir}},
		{"an id with a comma", comma, []string{dir}},
	} {
		want, wantCode := run(append([]string{goProg}, tc.args...), tc.in)
		got, code := run(append([]string{"sh", sh}, tc.args...), tc.in)
		if got != want || code != wantCode {
			t.Errorf("%s: mlm-members.sh gave %d:\n%s\nmlm-members %d:\n%s", tc.name, code, got, wantCode, want)
		}
	}
	// A stream a reader refuses (mlm-stream(5) rule 3) is refused, 65,
	// its record left without its E line, not made good: the stand-in
	// wrote a fresh S line and E count over a lost R line, a CR, a bad
	// count, and mlm-check took it (from a review).
	for name, in := range map[string]string{
		"a lost recipient line":         "MLM1 r\nS <a@b.example>\n:x\nR <c@d.example>\nE 2\n",
		"a count of no recipient":       "MLM1 r\nS <a@b.example>\n:x\nR <c@d.example>\nE 0\n",
		"a CR on the S line":            "MLM1 r\nS <a@b.example>\r\n:x\nE 0\n",
		"a control octet on the S line": "MLM1 r\nS junk\x01\n:x\nE 0\n",
		"a count 01":                    "MLM1 r\nS <a@b.example>\n:x\nR <c@d.example>\nE 01\n",
		"a count zz":                    "MLM1 r\nS <a@b.example>\n:x\nE zz\n",
	} {
		_, wantCode := run([]string{goProg, dir}, in)
		got, code := run([]string{"sh", sh, dir}, in)
		if code != 65 || wantCode != 65 || strings.Contains(got, "E ") {
			t.Errorf("%s: mlm-members.sh gave %d:\n%s\nmlm-members %d", name, code, got, wantCode)
		}
	}
	// An address file with CRLF and spaces reads as the Go programs read
	// it, trimmed: the sender is the bounce address, without the CR
	// that made mlm-check refuse the stream. (From a review.)
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte(" dev@lists.example.org \r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	envelope = regexp.MustCompile(`(?m)^[SRE] .*$`)
	same("address with CRLF", post, "S <dev-bounces@lists.example.org>\n")
	// And one with Unicode spaces at its ends (a no-break space, as a
	// copy from a web page leaves it): the stand-in wrote the space into
	// the sender and, no longer knowing dev-owner@ for the list's own,
	// gave it the post, a loop. (From a review.)
	for _, sp := range []string{"\u00a0", "\u2003", "\u202f", "\u3000", "\u0085"} {
		if err := os.WriteFile(filepath.Join(dir, "address"), []byte(sp+"dev@lists.example.org "+sp+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("address in %q", sp), post, "S <dev-bounces@lists.example.org>\n")
	}
	// A list address that is no mailbox waits (75), as mlm-members
	// waits for the setting to be mended: the stand-in wrote it into an
	// S line every reader refuses, and the post went to bad/ (from a
	// review).
	for _, a := range []string{"dev@lists..example.org", "a@b@c.example", "dev@-x.example", "<dev@x.example>", "dev.@x.example"} {
		if err := os.WriteFile(filepath.Join(dir, "address"), []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("address %q", a), post, "")
	}
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// So are a member file's lines, read trimmed of Unicode spaces too:
	// the stand-in wrote "m@example.org<U+00A0>", which mlm-split and
	// every reader refuse (65), so the post went to bad/ and reached no
	// member at all.
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte("dev@lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sp := range []string{"\u00a0", "\u2003", "\u202f", "\u3000", "\u0085", "\u1680", "\u2028", "\u205f", "\v"} {
		if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n"+sp+"m@example.org "+sp+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("a member in %q", sp), bare, "R <m@example.org>\n")
	}
	// A member line that is no mailbox the stream takes is skipped, as
	// mlm-members skips it: the stand-in wrote it as a recipient, which
	// mlm-split refuses (65), and the post reached no one.
	for _, m := range []string{
		"m@example.org\u00a0Maria", "m@exa\u200bmple.org", "m@example\u3002org", "m@example.org\ufffd",
		"m@exam\xffple.org", "m\xed\xa0\x80@example.org", "m@" + strings.Repeat("x", 64) + ".org",
		"m@" + strings.Repeat("x.", 126) + "org", strings.Repeat("m", 250) + "@x.org",
		"\"m\\\u00e9\"@example.org", "m@[1.2.3]", "m@[256.1.1.1]", "m@[IPv6:1:2]", "m@[IPv6:::1%eth0]", "m@[x.y:z]",
		// and a member's local part may not hold what a domain may not
		// (in quotes, a space it may), nor any format character
		"m\u202en@example.org", "m\u00a0n@example.org", "\"m\u2028n\"@example.org", "\"m\u00a0n\"@example.org",
		"m@x\u0890y.org", "m@x\U000110cdy.org", "m@x\U000e0041y.org",
	} {
		if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n"+m+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("a member %q", m), bare, "")
	}
	// A member file of lines none of which is an address (saved as
	// UTF-16) is no list without members: both wait, 75, where the post
	// went to no one.
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("\xff\xfea\x00@\x00x\x00.\x00o\x00r\x00g\x00\n\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, wantCode := run([]string{goProg, dir}, bare); wantCode != 75 {
		t.Errorf("mlm-members on a UTF-16 member file: %d; want 75", wantCode)
	}
	if _, code := run([]string{"sh", sh, dir}, bare); code != 75 {
		t.Errorf("mlm-members.sh on a UTF-16 member file: %d; want 75", code)
	}
	// So is a nomail, digest or notmetoo file of such lines, whose
	// members all got the posts: both fail, 75, before the first
	// record, as for no record at all.
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\nnm@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"digest", "nomail", "notmetoo"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("\xff\xfen\x00m\x00@\x00x\x00.\x00o\x00r\x00g\x00\n\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{bare, ""} {
			if got, wantCode := run([]string{goProg, dir}, in); wantCode != 75 {
				t.Errorf("mlm-members on a UTF-16 %s, %d octets in: %d, %q; want 75", name, len(in), wantCode, got)
			}
			if got, code := run([]string{"sh", sh, dir}, in); code != 75 {
				t.Errorf("mlm-members.sh on a UTF-16 %s, %d octets in: %d, %q; want 75", name, len(in), code, got)
			}
		}
		// And one in Latin-1, or with CR line ends; not one of text
		// whose lines are no address, a line typed by hand: it leaves
		// out no one, and both send (R87 F1, R90 F6).
		for text, want := range map[string]int{"n\xf6m@x.org\n": 75, "nm@x.org\ralice@example.org\r": 75, "Nm Smith <nm@x.org>\n": 0,
			"nm@x.org\nj\xf6rg@x.org\n": 75, "nm@x.org\nNm Smith <nm@x.org>\n": 0,
			"nm@x.org\nj\xed\xa0\x80@x.org\n": 75, "nm@x.org\nj\xe0\x80\xaf@x.org\n": 75} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, wantCode := run([]string{goProg, dir}, bare)
			if wantCode != want {
				t.Errorf("mlm-members on %s %q: %d, %q; want %d", name, text, wantCode, got, want)
			}
			if got2, code := run([]string{"sh", sh, dir}, bare); code != wantCode || got2 != got {
				t.Errorf("mlm-members.sh on %s %q: %d, %q; mlm-members %d, %q", name, text, code, got2, wantCode, got)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A poster, or a recipient there already, whose quoted local part
	// holds a space is the whole mailbox, not its part up to the space:
	// the stand-in sent "john smith"@, in notmetoo, his own post, and
	// "a b"@, a recipient already, a second copy.
	for name, text := range map[string]string{
		"subscribers": "alice@example.org\n\"john smith\"@example.org\n\"a b\"@example.org\n",
		"notmetoo":    "\"john smith\"@example.org\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	quoted := "MLM1 p3\nS <\"john smith\"@example.org> BODY=8BITMIME\n:Subject: x\n:\n:body\nR <\"a b\"@example.org> NOTIFY=NEVER\nE 1\n"
	same("quoted poster and recipient", quoted, "")
	// A member twice, quoted and not, is one as mlm-members has it
	// (addr.Key): quotes around UTF-8 atext are not needed, and a
	// quoted pair of what needs none is the octet. The stand-in sent
	// "jürgen"@ a second copy, and "a b"@ too.
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("\"j\u00fcrgen\"@x.org\nj\u00fcrgen@x.org\n\"a\\ b\"@x.org\n\"a b\"@x.org\n\"q\\\\r\"@x.org\n\"q\\\\\\r\"@x.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	same("members quoted and not", bare, "")
	// An address of the list quoted with what is no dot-atom, delivered
	// to the list all the same, is the list's own: the stand-in sent the
	// post to "dev+a b"@, back to the list.
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n\"dev+a b\"@lists.example.org\n\"DEV-owner+x y\"@Lists.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	same("the list's own, quoted", bare, "")
	// Every command address of the list is its own, -bounces too, the
	// sender the stand-in gives every post: sent the post, it brings
	// it back into the list's bounce queue.
	var own strings.Builder
	for _, c := range mlmenvelope.Commands {
		own.WriteString("dev-" + c + "@lists.example.org\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n"+own.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	same("the list's command addresses", bare, "R <alice@example.org>\nE 1")
	// A member in notmetoo misses his own posts alone; another's
	// reach him.
	for name, text := range map[string]string{"subscribers": "alice@example.org\nposter@example.org\n", "notmetoo": "poster@example.org\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	same("notmetoo, his own post", bare, "R <alice@example.org>\nE 1")
	other := "MLM1 p4\nS <other@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	same("notmetoo, another's post", other, "R <poster@example.org>\nE 2")
}

// TestMembersStandInCommand: the stand-in runs no members-command; a
// list with one makes it fail, 75, so the post waits for mlm-members,
// which runs it, and does not go to the subscribers file the command
// stands in for.
func TestMembersStandInCommand(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	dir := newList(t)
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("stale@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "members-command"), []byte("echo\nm@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	post := "MLM1 p\nS <poster@example.org>\n:x\nE 0\n"
	if out, code := filterRun(t, post, filepath.Join(binDir, "mlm-members"), dir); code != 0 || !strings.Contains(out, "R <m@example.org>\nE 1\n") {
		t.Fatalf("mlm-members: exit %d, %q; want the command's member", code, out)
	}
	if out, code := filterRun(t, post, "sh", filepath.Join(root, "contrib", "mlm-members.sh"), dir); code != 75 || out != "" {
		t.Errorf("mlm-members.sh with a members-command: exit %d, %q; want 75 and nothing", code, out)
	}
}

// TestStandInUsage: the sh stand-ins of contrib/ without their DIR, or
// with more, are a usage error, 64, as mlm-members says: they exited 2
// (the shell's ${1:?}), a status no mlm program gives (STYLE.md), and
// took a second DIR in silence.
func TestStandInUsage(t *testing.T) {
	dir := newList(t)
	for _, args := range [][]string{{}, {dir, dir}, {"-l", "owner"}} {
		want := exec.Command(filepath.Join(binDir, "mlm-members"), args...)
		want.Stdin = strings.NewReader("")
		err := want.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 {
			t.Fatalf("mlm-members %q: %v; want exit 64", args, err)
		}
		for _, script := range []string{"mlm-members.sh", "mlm-hdr.sh"} {
			if script == "mlm-hdr.sh" && len(args) > 0 && args[0] == "-l" {
				continue
			}
			cmd := exec.Command("sh", append([]string{filepath.Join(root, "contrib", script)}, args...)...)
			cmd.Stdin = strings.NewReader("")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			if !errors.As(err, &ee) || ee.ExitCode() != 64 || out.Len() != 0 || !strings.Contains(errb.String(), "usage: "+script) {
				t.Errorf("%s %q: %v, stdout %q, stderr %q; want exit 64, a usage line", script, args, err, out.String(), errb.String())
			}
		}
	}
	// -l names a member file of the four mlm-members takes, not any
	// file of the list (nomail) or out of it: 64, with nothing written.
	var ee *exec.ExitError
	for _, file := range []string{"nomail", "../subscribers", "address"} {
		if err := exec.Command(filepath.Join(binDir, "mlm-members"), "-l", file, dir).Run(); !errors.As(err, &ee) || ee.ExitCode() != 64 {
			t.Fatalf("mlm-members -l %s: %v; want exit 64", file, err)
		}
		cmd := exec.Command("sh", filepath.Join(root, "contrib", "mlm-members.sh"), "-l", file, dir)
		cmd.Stdin = strings.NewReader("MLM1 p\nS <a@x.example>\n:x\nE 0\n")
		out, err := cmd.Output()
		if !errors.As(err, &ee) || ee.ExitCode() != 64 || len(out) != 0 {
			t.Errorf("mlm-members.sh -l %s: %v, stdout %q; want exit 64 and nothing", file, err, out)
		}
	}
}

// TestUnwrapStandInOptions: contrib/mlm-unwrap.pl has none of
// mlm-unwrap's options, and refuses them, 64, writing nothing: it ignored
// them, so -e (envelopes wanted) and -d DIR (files wanted) wrote the
// messages on standard output and exited 0.
func TestUnwrapStandInOptions(t *testing.T) {
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("no perl")
	}
	rec := "MLM1 t\nS <>\n:Subject: x\n:\nE 0\n"
	for _, args := range [][]string{{"-e"}, {"-d", t.TempDir()}} {
		cmd := exec.Command("perl", append([]string{filepath.Join(root, "contrib", "mlm-unwrap.pl")}, args...)...)
		cmd.Stdin = strings.NewReader(rec)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "mlm-unwrap: ") {
			t.Errorf("mlm-unwrap.pl %q: %v, stdout %q, stderr %q; want exit 64 and one line", args, err, out.String(), errb.String())
		}
	}
	// "--" alone ends no options, as mlm-unwrap takes it: the message.
	if out, code := filterRun(t, rec, "perl", filepath.Join(root, "contrib", "mlm-unwrap.pl"), "--"); code != 0 || out != "Subject: x\n\n" {
		t.Errorf("mlm-unwrap.pl --: %d, %q; want 0 and the message", code, out)
	}
}

// TestWrapStandInMemory: contrib/mlm-wrap.pl wraps a message whose
// lines are longer than a stream line in bounded memory, as mlm-wrap
// does, and writes what mlm-wrap writes: it read a line at a time, and a
// 64 MiB line, with or without its LF, was 64 MiB of Perl string and
// more (72 MiB peak).
func TestWrapStandInMemory(t *testing.T) {
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("no perl")
	}
	if testing.Short() {
		t.Skip("short")
	}
	long := strings.Repeat("x", 64<<20)
	for _, m := range []string{"Subject: long\n\n" + long + "\nend\n", "From a@example.org Sat Nov 28 12:00:00 2026\n\n" + long} {
		in := filepath.Join(t.TempDir(), "m.eml")
		if err := os.WriteFile(in, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		run := func(name string, argv ...string) (string, int64) {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(filepath.Join(binDir, "peakrss"), append(argv, "-F", "-i", "t", "-r", "b@example.net")...)
			cmd.Stdin = f
			h := sha256.New()
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = h, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v: %s", name, err, errb.String())
			}
			var kib int64
			if _, err := fmt.Sscanf(errb.String(), "peakrss: %d\n", &kib); err != nil {
				t.Fatalf("%s: peakrss said %q", name, errb.String())
			}
			return string(h.Sum(nil)), kib
		}
		want, _ := run("mlm-wrap", filepath.Join(binDir, "mlm-wrap"))
		got, kib := run("mlm-wrap.pl", "perl", filepath.Join(root, "contrib", "mlm-wrap.pl"))
		t.Logf("mlm-wrap.pl: peak RSS %d KiB", kib)
		if got != want {
			t.Errorf("mlm-wrap.pl wrote another stream than mlm-wrap for a line of 64 MiB")
		}
		if kib > 32<<10 {
			t.Errorf("mlm-wrap.pl: peak RSS %d KiB for a line of 64 MiB; want under 32 MiB", kib)
		}
	}
}

// filterRun runs argv with in on its standard input, and returns what it
// wrote on its standard output and its exit status.
func filterRun(t *testing.T, in string, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestHdrStandInAddress: contrib/mlm-hdr.sh reads the address file as
// the Go programs do, its first line trimmed of Unicode's white space
// too (a no-break space, as a copy from a web page leaves it), and adds
// the List-Id mlm-hdr adds: it refused such an address, 75, so every
// post waited for ever, as mlm-members.sh did before a review.
func TestHdrStandInAddress(t *testing.T) {
	dir := newList(t)
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	listID := regexp.MustCompile(`(?m)^:List-Id: .*$`)
	run := func(argv ...string) (string, int) {
		out, code := filterRun(t, post, argv...)
		if code != 0 {
			return "", code
		}
		return listID.FindString(out), 0
	}
	for _, sp := range []string{" ", "\u00a0", "\u2003", "\u202f", "\u3000", "\u0085", "\r"} {
		if err := os.WriteFile(filepath.Join(dir, "address"), []byte(sp+"dev@lists.example.org"+sp+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want, wantCode := run(filepath.Join(binDir, "mlm-hdr"), dir)
		got, code := run("sh", filepath.Join(root, "contrib", "mlm-hdr.sh"), dir)
		if got != want || code != wantCode || want != ":List-Id: <dev.lists.example.org>" {
			t.Errorf("address in %q: mlm-hdr.sh gave %d %q; mlm-hdr %d %q", sp, code, got, wantCode, want)
		}
	}
}

// TestHdrStandInBadAddress: contrib/mlm-hdr.sh refuses, 75, a list
// address whose List-Id would be no list-id of RFC 2919 (labels of
// atext joined by single dots), as mlm-hdr refuses such an address: it
// wrote '<dev..lists.example.org>' or '<dev.[192.0.2.1]>' into every
// post where mlm-hdr kept the posts waiting for the list to be mended.
func TestHdrStandInBadAddress(t *testing.T) {
	dir := newList(t)
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	listID := regexp.MustCompile(`(?m)^:List-Id: .*$`)
	run := func(argv ...string) (string, int) { return filterRun(t, post, argv...) }
	for _, a := range []string{"dev.@lists.example.org", "dev..x@lists.example.org", "dev@lists.example.org.", "dev@[192.0.2.1]", "\"dev\"@lists.example.org", "dev(c)@lists.example.org", "dev@localhost",
		// and (from a review) two @, not UTF-8, a list-id over 255 octets
		"a@b@lists.example.org", "dev@lists.ex\xffample.org", strings.Repeat("d", 64) + "@" + strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("z", 63) + ".org"} {
		if err := os.WriteFile(filepath.Join(dir, "address"), []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want, wantCode := run(filepath.Join(binDir, "mlm-hdr"), dir)
		got, code := run("sh", filepath.Join(root, "contrib", "mlm-hdr.sh"), dir)
		// A refusal writes nothing; a pass, the post with its List-Id.
		if code != wantCode || listID.FindString(got) != listID.FindString(want) || code != 0 && got != "" {
			t.Errorf("address %q: mlm-hdr.sh gave %d %q; mlm-hdr %d %q", a, code, got, wantCode, want)
		}
	}
}

// TestMembersStandInALabels: contrib/mlm-members.sh keys a domain's
// A-labels as their U-labels, as mlm-members does (addr.DomainKey): a
// member spelt both ways is one, a recipient there already in one
// spelling gets no second copy in the other, and the list's own address
// spelt the other way is skipped, not sent the post, a loop.
func TestMembersStandInALabels(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	dir := newList(t)
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	envelope := regexp.MustCompile(`(?m)^[SRE] .*$`)
	run := func(in string, argv ...string) string {
		out, code := filterRun(t, in, argv...)
		if code != 0 {
			return fmt.Sprintf("exit %d", code)
		}
		return strings.Join(envelope.FindAllString(out, -1), "\n")
	}
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nR <carol@xn--bcher-kva.example>\nE 1\n"
	for _, tc := range []struct{ address, subscribers string }{
		{"dev@lists.example.org", "bob@xn--bcher-kva.example\nbob@b\u00fccher.example\nBob@XN--BCHER-KVA.example\ncarol@b\u00fccher.example\n" +
			"al@mail.xn--bcher-kva.xn--p1ai\nal@mail.b\u00fccher.\u0440\u0444\n" +
			// A-labels IDNA did not make stay as they are
			"x@xn--abc-.example\nx@xn--zz-zzzz.example\nx@xn--.example\nx@xn--bcher-kva-.example\nx@xn--x-qgn.example\nx@xn---kva.example\n" +
			"y@xn--bcher-kva.example.\ny@b\u00fccher.example.\nz@axn--bcher-kva.example\n"},
		{"dev@lists.xn--bcher-kva.example", "alice@example.org\ndev-owner@lists.b\u00fccher.example\n\"dev\"@Lists.B\u00fccher.example\n"},
		{"dev@lists.b\u00fccher.example", "alice@example.org\ndev-owner@lists.xn--bcher-kva.example\nDEV+x@LISTS.XN--BCHER-KVA.EXAMPLE\n"},
	} {
		write("address", tc.address+"\n")
		write("subscribers", tc.subscribers)
		want := run(post, filepath.Join(binDir, "mlm-members"), dir)
		got := run(post, "sh", filepath.Join(root, "contrib", "mlm-members.sh"), dir)
		if got != want {
			t.Errorf("list %s, members %q: mlm-members.sh gave\n%s\nmlm-members\n%s", tc.address, tc.subscribers, got, want)
		}
	}
}

// TestMembersStandInDanglingLink: contrib/mlm-members.sh takes a member
// file, or members-command, that is a symbolic link to nothing for a
// file it cannot read, 75, as mlm-members does (3af5201), and so do it
// and contrib/mlm-hdr.sh an address file linked so: they took one
// for a missing file, so a post whose subscribers file is linked to a
// file system not mounted went to nobody, exit 0, one whose
// members-command is so linked went to the subscribers file's members,
// and a list whose address file is so linked was no list, 67, a bounce.
func TestMembersStandInDanglingLink(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	code := func(dir string, argv ...string) int {
		_, code := filterRun(t, post, append(argv, dir)...)
		return code
	}
	for _, tc := range []struct {
		link string
		args []string
	}{
		{"address", nil},
		{"subscribers", nil},
		{"members-command", nil},
		{"digest", nil},
		{"nomail", nil},
		{"notmetoo", nil},
		{"owner", []string{"-l", "owner"}},
		{"digest", []string{"-l", "digest"}},
		// not read for another file, by either
		{"notmetoo", []string{"-l", "owner"}},
	} {
		dir := newList(t)
		if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "owner"), []byte("carol@example.org\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tc.link)
		os.Remove(path)
		if err := os.Symlink(filepath.Join(dir, "not-mounted", tc.link), path); err != nil {
			t.Fatal(err)
		}
		want := code(dir, append([]string{filepath.Join(binDir, "mlm-members")}, tc.args...)...)
		got := code(dir, append([]string{"sh", filepath.Join(root, "contrib", "mlm-members.sh")}, tc.args...)...)
		if got != want {
			t.Errorf("%s a link to nothing, %q: mlm-members.sh exit %d; mlm-members %d", tc.link, tc.args, got, want)
		}
	}
	// And contrib/mlm-hdr.sh, whose one file is the address.
	dir := newList(t)
	path := filepath.Join(dir, "address")
	os.Remove(path)
	if err := os.Symlink(filepath.Join(dir, "not-mounted", "address"), path); err != nil {
		t.Fatal(err)
	}
	want := code(dir, filepath.Join(binDir, "mlm-hdr"))
	if got := code(dir, "sh", filepath.Join(root, "contrib", "mlm-hdr.sh")); got != want {
		t.Errorf("address a link to nothing: mlm-hdr.sh exit %d; mlm-hdr %d", got, want)
	}
}

// TestStandInDanglingListDir: a list directory that is a symbolic link
// to nothing, or in a directory of lists that is one (its file system
// not mounted), is 75 to the stand-ins as to mlm-members and mlm-hdr
// (listdir.Open), where they took it for no list, 67, and the MTA
// bounced the post; a path not there through no such link is 67 to all.
// So is a list directory that is a regular file, or a link to one, or
// is under one: no directory to read the address in (ENOTDIR), 75 to
// the Go programs, where the stand-ins said no such list.
func TestStandInDanglingListDir(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	top := openTempDir(t, "mlm-lists-")
	gone := filepath.Join(top, "not-mounted")
	if err := os.Symlink(filepath.Join(gone, "dev"), filepath.Join(top, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(gone, filepath.Join(top, "lists")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "file"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "file"), filepath.Join(top, "linked")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want int
	}{
		{filepath.Join(top, "dev"), 75},
		{filepath.Join(top, "lists", "dev"), 75},
		{filepath.Join(top, "typo"), 67},
		{filepath.Join(top, "file"), 75},
		{filepath.Join(top, "linked"), 75},
		{filepath.Join(top, "linked", "dev"), 75},
	} {
		for _, p := range [][2]string{{"mlm-members", "mlm-members.sh"}, {"mlm-hdr", "mlm-hdr.sh"}} {
			_, want := filterRun(t, post, filepath.Join(binDir, p[0]), tc.dir)
			_, got := filterRun(t, post, "sh", filepath.Join(root, "contrib", p[1]), tc.dir)
			if want != tc.want || got != want {
				t.Errorf("%s: %s exit %d, %s %d; want %d", tc.dir, p[1], got, p[0], want, tc.want)
			}
		}
	}
}

// TestStandInFIFO: a member file or address file that is a FIFO, or an
// address file that is a directory, is 75 to the stand-ins as to
// mlm-members and mlm-hdr (listdir.OpenFile), where mlm-members.sh's
// awk waited for a writer to a FIFO subscribers file for ever, and an
// address that was no regular file was no list, 67, a bounce.
func TestStandInFIFO(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	post := "MLM1 p1\nS <poster@example.org>\n:Subject: x\n:\n:body\nE 0\n"
	code := func(argv ...string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a safety net
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(post)
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Errorf("%q waits on a FIFO", argv)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	for _, tc := range []struct {
		file, kind string
		args       []string
	}{
		{"subscribers", "fifo", nil},
		{"digest", "fifo", nil},
		{"owner", "fifo", []string{"-l", "owner"}},
		{"address", "fifo", nil},
		{"address", "dir", nil},
	} {
		dir := newList(t)
		path := filepath.Join(dir, tc.file)
		os.Remove(path)
		var err error
		if tc.kind == "fifo" {
			err = syscall.Mkfifo(path, 0o600)
		} else {
			err = os.Mkdir(path, 0o700)
		}
		if err != nil {
			t.Skip("no FIFO here:", err)
		}
		want := code(append(append([]string{filepath.Join(binDir, "mlm-members")}, tc.args...), dir)...)
		got := code(append(append([]string{"sh", filepath.Join(root, "contrib", "mlm-members.sh")}, tc.args...), dir)...)
		if want != 75 || got != want {
			t.Errorf("%s a %s, %q: mlm-members.sh exit %d, mlm-members %d; want 75", tc.file, tc.kind, tc.args, got, want)
		}
		if tc.file == "address" {
			want := code(filepath.Join(binDir, "mlm-hdr"), dir)
			if got := code("sh", filepath.Join(root, "contrib", "mlm-hdr.sh"), dir); want != 75 || got != want {
				t.Errorf("address a %s: mlm-hdr.sh exit %d, mlm-hdr %d; want 75", tc.kind, got, want)
			}
		}
	}
}

// TestStandInNextStageFails: a sh stand-in of contrib/ whose next stage
// stops reading and fails, as mlm-members does at a bad record (65),
// dies of awk's SIGPIPE as the Go program does, and mlm-pipeline's
// status is that stage's, as with the Go program: the script exited 75
// for awk's death (status 141), so the post waited and was tried again
// for ever where it was to go to bad/.
func TestStandInNextStageFails(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	dir := newList(t)
	if err := os.WriteFile(filepath.Join(dir, "subscribers"), []byte("alice@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Far more than the pipe between the stages holds, so that the
	// first stage still writes once the second has gone.
	var b strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&b, "MLM1 p%d\nS <poster@example.org>\n:Subject: x\n:\n:%s\nE 0\n", i, strings.Repeat("x", 1000))
	}
	in := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fails := []string{"--", "sh", "-c", "head -c 1 >/dev/null; exit 65"}
	for _, stage := range [][]string{
		{filepath.Join(binDir, "mlm-members"), dir},
		{"sh", filepath.Join(root, "contrib", "mlm-members.sh"), dir},
		{filepath.Join(binDir, "mlm-hdr"), dir},
		{"sh", filepath.Join(root, "contrib", "mlm-hdr.sh"), dir},
	} {
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(binDir, "mlm-pipeline"), append(stage, fails...)...)
		cmd.Stdin = f
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err = cmd.Run()
		f.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 65 {
			t.Errorf("mlm-pipeline %q: %v, %q; want exit 65, the next stage's", stage, err, errb.String())
		}
	}
}
