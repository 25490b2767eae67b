package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"mlm/lib/ascii"
	"mlm/lib/envelope"
	"mlm/lib/sysexit"
)

// setup is what the printed lines name.
type setup struct {
	bin   string // the programs' directory
	dir   string // the list directory, absolute
	list  string // the list address
	user  string // who runs the list's programs
	group string // and that user's group
}

// The lines printed for each MTA are those of the files in examples/
// (tests/newlist_test.go holds them to it), with {BIN}, {DIR}, {LISTS}
// (the directory holding the list directory), {LOCAL}, {QMAIL} (the
// local part as qmail-local looks for its .qmail file: in lower case, a
// '.' as ':'), {DOMAIN}, {ADDRESS}, {USER} and {GROUP} put in. Comments
// say where each part goes.
var mtaLines = map[string]string{
	"aliases": `# Aliases for Postfix's local(8), with {DOMAIN} in mydestination
# (aliases are for local domains only), and recipient_delimiter = + for
# the +extensions, "+" alone: with "-" among them, those of a list whose
# name holds a "-" reach no alias (examples/postfix/aliases). Not for Sendmail: it sets
# no RECIPIENT, and mail to every address below would be taken for a post.
# local(8) runs each command as the owner of its aliases database, and
# those of root's /etc/aliases as default_privs (nobody), so these go in
# a file of {USER}'s own in a directory of {USER}'s, {LISTS}/aliases say:
# postalias it (root's postalias makes the database as the file's owner)
# and add hash:{LISTS}/aliases to alias_maps.
# No alias owner-{LOCAL} may exist, nor owner- of any other name below:
# local(8) makes it the envelope sender of all the mail to that name
# (owner_request_special).
{ALIASES}`,

	"postfix": `# Postfix, with a pipe(8) transport running mlm-accept as {USER}
# (examples/postfix). Once per site, in /etc/postfix/master.cf; it
# serves the lists of {LISTS} alone, by their directories' names: a
# list elsewhere needs a transport of another name, and a list of
# another domain with a local part a list here has, another name here
# (mlm-accept does not compare domains: its mail would go to this one):
mlm       unix  -       n       n       -       -       pipe
  flags=q user={USER} null_sender=
  argv={BIN}/mlm-accept --sender=${sender} --rcpt=${recipient} {LISTS}/${nexthop}
# Once per site, in /etc/postfix/main.cf, with every list domain in
# relay_domains and none in mydestination:
relay_domains = {DOMAIN}
transport_maps = hash:/etc/postfix/mlm_transport
relay_recipient_maps = hash:/etc/postfix/mlm_transport
# "+" alone: with "-" among them ("+-"), the list's +extensions (VERP
# bounces, moderators' answers) of a list whose name holds a "-" are
# refused at RCPT.
recipient_delimiter = +
mlm_destination_recipient_limit = 1
# For this list, in /etc/postfix/mlm_transport; then postmap
# /etc/postfix/mlm_transport and postfix reload:
{TRANSPORT}`,

	"exim": `# Exim, for every list in {LISTS}, found by its directory's name
# (examples/exim), with {DOMAIN} one of Exim's local_domains (Debian:
# dc_other_hostnames), else refused as relaying. Debian's
# update-exim4.conf reads conf.d only with dc_use_split_config='true',
# and /etc/exim4/exim4.conf.template by default. Once per site, after
# "begin routers", in this order (the second takes the list's +TAG;
# the next two defer the mail of a list that is a symbolic link to
# nothing, and the last the domain's mail while {LISTS}/.mlm-lists,
# which mlm-newlist made, is missing: a file system not mounted),
# before the routers of local users and aliases (Debian:
# /etc/exim4/conf.d/router/350_mlm_lists, or in the template before
# system_aliases):
mlm_lists:
  driver = accept
  domains = {DOMAIN}
  local_part_suffix = -bounces+* : -accept+* : -reject+* : -drop+* : -request+* : \
                      -subscribe+* : -unsubscribe+* : -owner+* : \
                      -request : -subscribe : -unsubscribe : -owner : -bounces
  local_part_suffix_optional
  local_parts = dsearch;{LISTS}
  condition = ${if and{{!eq{$local_part_data}{.}}{!eq{$local_part_data}{..}} \
                       {!eq{$local_part_data}{lost+found}} \
                       {exists{{LISTS}/$local_part_data}} \
                       {match{${stat:{LISTS}/$local_part_data}}{\N smode=d\N}}}}
  transport = mlm_pipe
mlm_lists_tag:
  driver = accept
  domains = {DOMAIN}
  local_part_suffix = +*
  local_parts = dsearch;{LISTS}
  condition = ${if and{{!eq{$local_part_data}{.}}{!eq{$local_part_data}{..}} \
                       {!eq{$local_part_data}{lost+found}} \
                       {exists{{LISTS}/$local_part_data}} \
                       {match{${stat:{LISTS}/$local_part_data}}{\N smode=d\N}}}}
  transport = mlm_pipe
mlm_lists_gone:
  driver = redirect
  domains = {DOMAIN}
  local_part_suffix = -bounces+* : -accept+* : -reject+* : -drop+* : -request+* : \
                      -subscribe+* : -unsubscribe+* : -owner+* : \
                      -request : -subscribe : -unsubscribe : -owner : -bounces
  local_part_suffix_optional
  local_parts = dsearch;{LISTS}
  condition = ${if !exists{{LISTS}/$local_part_data}}
  allow_defer
  data = :defer: the list is not available now
mlm_lists_gone_tag:
  driver = redirect
  domains = {DOMAIN}
  local_part_suffix = +*
  local_parts = dsearch;{LISTS}
  condition = ${if !exists{{LISTS}/$local_part_data}}
  allow_defer
  data = :defer: the list is not available now
mlm_lists_absent:
  driver = redirect
  domains = {DOMAIN}
  condition = ${if !exists{{LISTS}/.mlm-lists}}
  allow_defer
  data = :defer: the lists are not available now
# Once per site, after "begin transports" (Debian:
# /etc/exim4/conf.d/transport/30_mlm_pipe, or in the template); then
# update-exim4.conf and a reload:
mlm_pipe:
  driver = pipe
  command = {BIN}/mlm-accept {LISTS}/$local_part_data
  user = {USER}
  group = {GROUP}
  temp_errors = 75:2:126:127
  timeout = 15m
  timeout_defer
  freeze_signal
  message_prefix =
  message_suffix =
  log_output
  return_fail_output
`,

	"qmail": `# qmail (examples/qmail), in the home of {USER}, the user qmail
# delivers the list's mail as ({DOMAIN}:{USER} in control/virtualdomains),
# mode 644. In .qmail-{QMAIL}:
|{BIN}/mlm-accept --rcpt="$EXT@$HOST" {DIR}
# In .qmail-{QMAIL}-default:
|{BIN}/mlm-accept --rcpt="$EXT@$HOST" {DIR}; s=$?; [ $s = 67 ] && s=100; exit $s
`,

	"procmail": `# procmail, as ~/.procmailrc of {USER} (examples/procmail/procmailrc);
# a refusal for good goes back to the MTA to bounce; on another failure
# the message is kept as it came, a file each in the directory
# mlm-failed; fed back, once mended, with:
#   for f in mlm-failed/*; do mlm-accept -r {ADDRESS} {DIR} < "$f" && rm -- "$f"; done
SHELL=/bin/sh
{PATH}LIST=${LIST:-{DIR}}
ADDRESS=${ADDRESS:-{ADDRESS}}
:0 w
| mlm-accept -r "$ADDRESS" "$LIST"
STATUS=$?
:0
* STATUS ?? ^^(64|65|67|77)^^
{
  EXITCODE=$STATUS
  HOST=refused
}
:0 w
| umask 077 && mkdir -p mlm-failed && t=$(mktemp mlm-failed/.tmp.XXXXXXXX) && cat > "$t" && sync -- "$t" && ln -- "$t" "mlm-failed/$(date +%s.%N).${t#*.tmp.}" && rm -- "$t" && sync -- mlm-failed
`,

	"maildrop": `# maildrop, as ~/.mailfilter of {USER} (examples/maildrop/mailfilter);
# the MTA runs it with the sender in SENDER, empty for the null sender,
# or as maildrop -f "$SENDER", and keeps the message when mlm-accept
# fails with 75, or cannot be run or is killed (the command makes those
# 75), and bounces it on 64, 65, 67 and 77; the command runs
# with this SHELL, not the user's login shell, and the shell, not
# maildrop, tells a SENDER set empty (a bounce) from none.
SHELL="/bin/sh"
{MLMBIN}if ($MLMBIN ne "")
{
	PATH="$MLMBIN:$PATH"
}
if ($LIST eq "")
{
	LIST="{DIR}"
}
if ($ADDRESS eq "")
{
	ADDRESS="{ADDRESS}"
}
to '| SENDER="${SENDER-$FROM}" mlm-accept -r "$ADDRESS" "$LIST"; s=$?; case $s in 0|64|65|67|77) exit $s;; esac; exit 75'
`,
}

// MTAs are the values of --mta.
var MTAs = []string{"aliases", "postfix", "exim", "qmail", "procmail", "maildrop"}

// cronLines are examples/cron/crontab's.
const cronLines = `# The crontab of {USER} (examples/cron/crontab; mlm-lock(1), mlm-run(1)):
SHELL=/bin/sh
PATH={BIN}:/usr/bin:/bin
MAILTO=postmaster
* * * * *	mlm-lock -t 50s {DIR} mlm-run {DIR}
17 3 * * *	mlm-lock {DIR} mlm-moderate {DIR} expire
7 8 * * *	mlm-lock {DIR} mlm-moderate {DIR} remind
37 3 * * *	mlm-lock {DIR} sh -c 'for q in {DIR}/queue/bounces/new {DIR}/queue/requests/new; do [ ! -d "$q" ] || find "$q/" -type f -mtime +6 -delete || exit; done'
`

// rootNote is said first of a list made by root, whose name the lines
// after it give as the user the MTA runs mlm-accept as.
const rootNote = "# Note: MTAs run no program as root, and the lines below name root, who\n# made the list: make the list's own user the owner of the directory\n# (chown -R), and name that user in them.\n"

// printSetup prints what the site adds to its MTA and crontab.
func printSetup(out io.Writer, mta string, s setup) error {
	local, domain, _ := strings.Cut(s.list, "@")
	var aliases, transport strings.Builder
	for _, c := range append([]string{""}, envelope.Commands...) {
		addr := local
		if c != "" {
			addr += "-" + c
		}
		fmt.Fprintf(&aliases, "%s: \"|%s/mlm-accept %s\"\n", addr, s.bin, s.dir)
		fmt.Fprintf(&transport, "%-34s mlm:%s\n", addr+"@"+domain, filepath.Base(s.dir))
	}
	path, mlmbin := "", ""
	if s.bin != "/usr/local/bin" {
		// Neither procmail's nor maildrop's own PATH has it.
		path = "PATH=" + s.bin + ":$PATH\n"
		mlmbin = "MLMBIN=\"" + s.bin + "\"\n"
	}
	r := strings.NewReplacer(
		"{ALIASES}", aliases.String(), "{TRANSPORT}", transport.String(),
		"{PATH}", path, "{MLMBIN}", mlmbin,
		"{BIN}", s.bin, "{DIR}", s.dir, "{LISTS}", filepath.Dir(s.dir),
		"{LOCAL}", local, "{QMAIL}", strings.ReplaceAll(ascii.Lower(local), ".", ":"), "{DOMAIN}", domain, "{ADDRESS}", s.list, "{USER}", s.user, "{GROUP}", s.group)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s is ready in %s.\n", s.list, s.dir)
	if s.user == "root" {
		// First, before lines that name root, which an admin might
		// paste as they are, and Postfix and Exim refuse.
		b.WriteString(rootNote)
	}
	b.WriteString(r.Replace(mtaLines[mta]))
	if mta == "procmail" || mta == "maildrop" {
		fmt.Fprintf(&b, "# Note: this takes all the user's mail for posts to %s.\n", s.list)
		fmt.Fprintf(&b, "# The list's other addresses (%s-request, -subscribe, -unsubscribe,\n", local)
		fmt.Fprintf(&b, "# -owner, -bounces and its +extensions, and -accept+..., -reject+...\n")
		fmt.Fprintf(&b, "# and -drop+..., the moderators' answers) need routes of their own to\n")
		fmt.Fprintf(&b, "# mlm-accept that tell it the recipient (--mta aliases, postfix, exim\n")
		fmt.Fprintf(&b, "# or qmail), never to this user: a moderator's answer taken for a post\n")
		fmt.Fprintf(&b, "# would go to every member.\n")
	}
	// Exim lowers the local part before its lookup, which is exact.
	if lower := ascii.Lower(local); mta == "exim" && filepath.Base(s.dir) != lower {
		fmt.Fprintf(&b, "# Note: the router finds a list by its directory's name, the local part\n# in lower case, and %s is not %s.\n", s.dir, lower)
	}
	b.WriteString(r.Replace(cronLines))
	fmt.Fprintf(&b, "# Then the SMTP relay(s) for delivery, host:port a line; the members,\n")
	fmt.Fprintf(&b, "# the moderators and the list password:\n")
	fmt.Fprintf(&b, "#   echo 127.0.0.1:25 > %s/relay\n", s.dir)
	fmt.Fprintf(&b, "#   mlm-sub %s < members.txt\n", s.dir)
	fmt.Fprintf(&b, "#   mlm-sub -l moderators %s moderator@example.org\n", s.dir)
	fmt.Fprintf(&b, "#   mlm-passwd %s\n", s.dir)
	fmt.Fprintf(&b, "# Mail to %[1]s-bounces waits in %[2]s/queue/bounces: no stage\n", local, s.dir)
	fmt.Fprintf(&b, "# takes it unless stages/bounces names some (mlm-listdir(5)). Mail to\n")
	fmt.Fprintf(&b, "# %[1]s-request, -subscribe and -unsubscribe goes to the owners (to\n", local)
	fmt.Fprintf(&b, "# queue/requests while ./owner names none), and posts' List-Unsubscribe\n")
	fmt.Fprintf(&b, "# names %[1]s-owner, until stages/requests names stages. The crontab's\n", local)
	fmt.Fprintf(&b, "# last job removes what has waited unread in either queue for a week.\n")
	_, err := io.WriteString(out, b.String())
	return sysexit.Temp(err)
}
