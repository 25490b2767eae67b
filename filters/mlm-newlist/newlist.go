package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"mlm/lib/addr"
	"mlm/lib/envelope"
	"mlm/lib/listdir"
	"mlm/lib/sysexit"
)

// run creates the list directory. It refuses a directory that exists, so
// it never changes a running list.
func run(a *args, out io.Writer) error {
	for _, m := range append([]string{a.Address}, a.Owner...) {
		if err := addr.CheckMailbox(m); err != nil {
			return sysexit.Errorf(sysexit.Usage, "%q: %v", m, err)
		}
	}
	if strings.ContainsAny(a.Address, "+\"") || strings.Contains(a.Address, "-") && hasCommandSuffix(a.Address) {
		return sysexit.Errorf(sysexit.Usage, "%q: a list address may not hold + or a quoted part, or end in a command's name", a.Address)
	}
	if err := os.Mkdir(a.Dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return sysexit.Errorf(sysexit.Usage, "%s: exists already", a.Dir)
		}
		return sysexit.Temp(err)
	}
	abs, err := filepath.Abs(a.Dir)
	if err != nil {
		return sysexit.Temp(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return sysexit.Temp(err)
	}
	files := map[string]string{
		listdir.Address: a.Address + "\n",
		listdir.Policy:  a.Policy + "\n",
		listdir.Strip:   "# Fields removed from posts before they go out.\nReturn-Path\n",
		listdir.Owner:   strings.Join(a.Owner, "\n") + "\n",
	}
	for q, text := range listdir.DefaultStages {
		files[filepath.Join(listdir.Stages, q)] = text
	}
	if err := os.Mkdir(filepath.Join(a.Dir, listdir.Stages), 0o755); err != nil {
		return sysexit.Temp(err)
	}
	d := &listdir.Dir{Path: a.Dir}
	for name, text := range files {
		if err := d.WriteFile(name, func(w io.Writer) error { _, err := io.WriteString(w, text); return err }); err != nil {
			return err
		}
	}
	if err := d.WriteFile(listdir.Secret, func(w io.Writer) error { _, err := fmt.Fprintln(w, hex.EncodeToString(secret)); return err }); err != nil {
		return err
	}
	for _, q := range listdir.Queues {
		if err := d.Queue(q).Create(); err != nil {
			return err
		}
	}
	return printSetup(out, abs, a.Address)
}

// hasCommandSuffix reports a list address that would collide with
// another list's command address (dev-request@ ...).
func hasCommandSuffix(list string) bool {
	local, _, _ := strings.Cut(list, "@")
	for _, c := range envelope.Commands {
		if strings.HasSuffix(strings.ToLower(local), "-"+c) {
			return true
		}
	}
	return false
}

// printSetup prints what the site adds to its MTA and crontab.
func printSetup(out io.Writer, dir, list string) error {
	local, _, _ := strings.Cut(list, "@")
	var b strings.Builder
	fmt.Fprintf(&b, "# %s is ready in %s.\n", list, dir)
	fmt.Fprintf(&b, "# MTA aliases (Postfix or Sendmail /etc/aliases, then newaliases;\n")
	fmt.Fprintf(&b, "# set recipient_delimiter = + for the +extensions):\n")
	fmt.Fprintf(&b, "%s: \"|mlm-accept %s\"\n", local, dir)
	for _, c := range envelope.Commands {
		fmt.Fprintf(&b, "%s-%s: \"|mlm-accept %s\"\n", local, c, dir)
	}
	fmt.Fprintf(&b, "# crontab of the user the aliases run as:\n")
	fmt.Fprintf(&b, "* * * * * mlm-run %s\n", dir)
	fmt.Fprintf(&b, "17 3 * * * mlm-moderate %s expire\n", dir)
	fmt.Fprintf(&b, "# the SMTP relay(s) for delivery, host:port per line:\n")
	fmt.Fprintf(&b, "#   echo 127.0.0.1:25 > %s/relay\n", dir)
	fmt.Fprintf(&b, "# members, moderators and the list password:\n")
	fmt.Fprintf(&b, "#   mlm-sub %s < members.txt\n", dir)
	fmt.Fprintf(&b, "#   mlm-sub -l moderators %s moderator@example.org\n", dir)
	fmt.Fprintf(&b, "#   mlm-passwd %s\n", dir)
	_, err := io.WriteString(out, b.String())
	return sysexit.Temp(err)
}
