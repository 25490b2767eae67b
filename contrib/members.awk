# members.awk: add the addresses of a member file (one per line, "#"
# comments) as recipients of every record of the MLM1 stream that
# follows, make the list's bounce address the sender, and fix the E
# count: the core of mlm-members(1), as contrib/mlm-members.sh runs it.
#
# Like mlm-members it skips, each with a line on standard error, a line
# that is no address and the list's own addresses (the list and its
# command addresses in its domain, "quoted" forms too, which would bring
# the mail back to the list); and without a line, an address there
# already and, with kind=skip files before the member file (digest,
# nomail), the addresses those hold, and the poster if the notmetoo file
# holds the poster. A record id with a "," is refused (65): a post's
# delivery journal is named by its id up to the first ",". With file
# other than "subscribers", a record left with no recipient at all is an
# error (75), so the mail waits. It adds no attributes; its address
# check follows mlm-members' in the main, and it compares domains in
# ASCII case only, where mlm-members folds other letters too.
#
# usage: MLM_LIST=ADDR LC_ALL=C awk -v file=NAME -f members.awk \
#     kind=notmetoo NOTMETOO kind=skip DIGEST kind=skip NOMAIL \
#     kind=member FILE kind=stream -
# (file operands that do not exist: /dev/null; relative ones start "./")
# unquoted returns a quoted local part with the quotes and each quoted
# pair undone, one octet at a time; any other as it is.
function unquoted(l,    u, v, i, ch) {
	if (l !~ /^".*"$/) return l
	u = substr(l, 2, length(l) - 2); v = ""
	for (i = 1; i <= length(u); i++) {
		ch = substr(u, i, 1)
		if (ch == "\\") ch = substr(u, ++i, 1)
		v = v ch
	}
	return v
}
function key(a,    at, l, d, v) {
	at = length(a)
	while (at > 0 && substr(a, at, 1) != "@") at--
	l = substr(a, 1, at - 1); d = tolower(substr(a, at + 1))
	if (l !~ /^".*"$/) return l "@" d
	# Quotes that are not needed go, UTF-8 being atext (RFC 6531); in
	# those that are, only the pairs "\\" and "\"" stay (addr.Key).
	v = unquoted(l)
	if (v ~ /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\200-\377-]+(\.[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\200-\377-]+)*$/) return v "@" d
	gsub(/[\\"]/, "\\\\&", v)
	return "\"" v "\"@" d
}
function own(k,    l, d, i) {
	l = tolower(k); d = l; sub(/@[^@]*$/, "", l); sub(/^.*@/, "", d)
	# Its quotes undone, whatever they held: "dev+a b"@ is delivered
	# to dev@ (envelope.Own).
	l = unquoted(l)
	sub(/\+.*/, "", l)
	if (d != listdom) return 0
	if (l == listloc) return 1
	for (i in cmds) if (l == listloc "-" i) return 1
	return 0
}
# mbox returns the mailbox of an S or R line: up to the first ">" not
# in a quoted string ("john smith"@ holds a space, which ends $2).
function mbox(line,    i, ch, q) {
	for (i = 4; i <= length(line); i++) {
		ch = substr(line, i, 1)
		if (q && ch == "\\") i++
		else if (ch == "\"") q = !q
		else if (!q && ch == ">") break
	}
	return substr(line, 4, i - 4)
}
# literal reports an address literal's inside as the stream takes it:
# IPv4, IPv6 (RFC 4291's text form, no zone) or tag:text.
function literal(t,    n, g, i, e, v4) {
	if (t ~ /^[0-9.]+$/) return ipv4(t)
	if (t !~ /^[Ii][Pp][Vv]6:/) return t ~ /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?:[!-Z^-~]+$/ && t !~ /[">]/
	t = substr(t, 6)
	if (t ~ /\./) {
		# A final IPv4 part counts as two groups.
		v4 = t; sub(/^.*:/, "", v4)
		if (!ipv4(v4)) return 0
		t = substr(t, 1, length(t) - length(v4)) "0:0"
	}
	if (t !~ /^[0-9A-Fa-f:]+$/ || t ~ /:::/ || t ~ /::.*::/ || t ~ /^:[^:]/ || t ~ /[^:]:$/) return 0
	e = (t ~ /::/); gsub(/::/, ":x:", t); sub(/^:/, "", t); sub(/:$/, "", t)
	n = split(t, g, ":")
	for (i = 1; i <= n; i++) if (g[i] != "x" && length(g[i]) > 4) return 0
	return e ? n - 1 < 8 : n == 8
}
function ipv4(t,    n, o, i) {
	n = split(t, o, ".")
	if (n != 4) return 0
	for (i = 1; i <= 4; i++) if (o[i] !~ /^(0|[1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$/) return 0
	return 1
}
function mailbox(a,    at, l, d, n, i, lab) {
	if (a ~ /[\001-\037\177]/ || length(a) > 254 || a !~ utf8) return 0
	at = length(a)
	while (at > 0 && substr(a, at, 1) != "@") at--
	if (at < 2) return 0
	l = substr(a, 1, at - 1); d = substr(a, at + 1)
	# What the stream refuses in a domain (mlm-split would refuse the
	# record, 65, and the post reach no one): more than 255 octets, a
	# label of more than 63, a character no U-label may hold.
	if (d !~ /^\[/) {
		if (length(d) > 255 || d ~ harm) return 0
		n = split(d, lab, ".")
		for (i = 1; i <= n; i++) if (length(lab[i]) > 63) return 0
	}
	# A quoted string, or a dot-atom: atoms of octets that are no
	# specials, space or dot, one dot between two.
	if (l !~ /^"([^"\\]|\\[ -~])*"$/ && l !~ /^[^][()<>:;@\\,." \t]+(\.[^][()<>:;@\\,." \t]+)*$/) return 0
	if (l ~ (l ~ /^"/ ? cf : harm)) return 0
	# An address literal, or labels of letters, digits and inner
	# hyphens (a label with octets past ASCII, IDN, taken as it is).
	if (d ~ /^\[/) return literal(substr(d, 2, length(d) - 2)) && d ~ /\]$/
	return d ~ /^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?|[^.]*[^\001-\177][^.]*)(\.([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?|[^.]*[^\001-\177][^.]*))*$/
}
BEGIN {
	list = ENVIRON["MLM_LIST"]
	listloc = tolower(list); sub(/@.*/, "", listloc)
	listdom = tolower(list); sub(/^.*@/, "", listdom)
	split("request subscribe unsubscribe owner bounces accept reject", cl, " ")
	for (i in cl) cmds[cl[i]] = 1
	# White space as mlm-members trims a line of it (strings.TrimSpace):
	# CR and the ASCII blanks, and Unicode's in UTF-8, the no-break
	# space a copy from a web page leaves among them.
	ws = "([ \t\n\v\f\r]|\302[\205\240]|\341\232\200|\342\200[\200-\212\250\251\257]|\342\201\237|\343\200\200)"
	# UTF-8 as RFC 3629 has it; and what no domain nor a member's local
	# part may hold (addr.harmful): a space or separator, a control, a
	# format character but the joiners, a full stop other than ".",
	# U+FFFD; in a quoted local part (cf) a space may be.
	utf8 = "^([\001-\177]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])*$"
	cf = "\302[\200-\237\255]|\330[\200-\205\234]|\333\235|\334\217|\340\242[\220\221]|\340\243\242|\341\240\216|\342\200[\213\216\217\250-\256]|\342\201[\240-\244\246-\257]|\343\200\202|\357\273\277|\357\274\216|\357\275\241|\357\277[\271-\273\275]|\360\221\202\275|\360\221\203\215|\360\223\220[\260-\277]|\360\233\262[\240-\243]|\360\235\205[\263-\272]|\363\240\200[\201\240-\277]|\363\240\201[\200-\277]"
	harm = cf "|\302\240|\341\232\200|\342\200[\200-\212\257]|\342\201\237|\343\200\200"
}
kind != "stream" {
	if (FNR == 1) sub(/^\357\273\277/, "") # a byte-order mark (Notepad's), as mlm-members drops it
	sub("^" ws "+", ""); sub(ws "+$", "")
	if ($0 == "" || $0 ~ /^#/) next
	if (!mailbox($0)) {
		if (kind == "member") print "mlm-members.sh: " file ": line " FNR ": not an address; skipped" > "/dev/stderr"
		next
	}
	k = key($0)
	if (kind == "skip") skip[k] = 1
	else if (kind == "notmetoo") notme[k] = 1
	else if (own(k)) print "mlm-members.sh: " file ": an address of the list itself; skipped" > "/dev/stderr"
	else if (!(k in skip) && !(k in listed)) { listed[k] = 1; m[++n] = $0; mk[n] = k }
	next
}
/^MLM1 / {
	if (index($2, ",")) {
		print "mlm-members.sh: record " $2 ": the id of a post cannot have a \",\"" > "/dev/stderr"
		exit 65
	}
	split("", seen); c = 0
}
/^S / {
	poster = mbox($0); pk = key(poster)
	at = index(list, "@"); print "S <" substr(list, 1, at - 1) "-bounces" substr(list, at) ">"; next
}
/^R / { seen[key(mbox($0))] = 1; c++ }
/^E / {
	for (i = 1; i <= n; i++) {
		k = mk[i] # each member's key, made once, not for each record
		if (k in seen || (k == pk && k in notme)) continue
		seen[k] = 1; print "R <" m[i] ">"; c++
	}
	if (c == 0 && file != "subscribers") {
		print "mlm-members.sh: " file ": no one to send to" > "/dev/stderr"
		exit 75
	}
	print "E " c; next
}
{ print }
