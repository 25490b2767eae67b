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
# error (75), so the mail waits; so is a member file of lines none of
# which is an address (saved as UTF-16, say), and a notmetoo or kind=skip
# file a line of which is not text in UTF-8 (nottext), before the first
# record. It adds no attributes; its address
# check follows mlm-members' in the main, and it compares local parts
# and domains in ASCII case only, where mlm-members folds other letters
# too; it keys an
# A-label as its U-label as mlm-members does (dkey), but for one with a
# capital letter outside the blocks capital knows, which it takes as a
# U-label where mlm-members leaves the A-label.
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
	# The local part in lower case too: Bob@ is bob@ (addr.Key).
	l = tolower(substr(a, 1, at - 1)); d = dkey(substr(a, at + 1))
	if (l !~ /^".*"$/) return l "@" d
	# Quotes that are not needed go, UTF-8 being atext (RFC 6531); in
	# those that are, only the pairs "\\" and "\"" stay (addr.Key).
	v = unquoted(l)
	if (v ~ /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\200-\377-]+(\.[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\200-\377-]+)*$/) return v "@" d
	gsub(/[\\"]/, "\\\\&", v)
	return "\"" v "\"@" d
}
# dkey is a domain as mlm-members compares it (addr.DomainKey): in ASCII
# lower case, and each A-label that IDNA makes (RFC 5890) as its
# U-label, bob@xn--bcher-kva.example as bob@bücher.example; an A-label
# that decodes to ASCII only, to what no U-label holds (harm, a capital
# letter), or that is not the one encoding of what it decodes to, stays.
function dkey(d,    n, lab, i, u, r) {
	d = tolower(d)
	if (d !~ /^xn--|\.xn--/) return d
	n = split(d, lab, ".")
	for (i = 1; i <= n; i++) {
		if (lab[i] ~ /^xn--/ && (u = ulabel(substr(lab[i], 5))) != "") lab[i] = u
		r = r (i > 1 ? "." : "") lab[i]
	}
	return r
}
# ulabel returns the U-label, in UTF-8, of the A-label "xn--" s, or ""
# if dkey leaves it as it is: s decoded as Punycode (RFC 3492) as Go's
# idna package decodes it, checked, and encoded again (puny).
function ulabel(s,    cp, len, pos, i, n, bias, oldi, w, k, t, dg, j, u) {
	if (s !~ /^[a-z0-9-]+$/) return ""
	for (pos = length(s); pos > 0 && substr(s, pos, 1) != "-"; pos--) ;
	if (pos == 1 || pos == length(s)) return "" # malformed; ASCII only
	len = 0
	for (j = 1; j < pos; j++) cp[++len] = index(ascii, substr(s, j, 1)) + 31
	i = 0; n = 128; bias = 72; pos++
	while (pos <= length(s)) {
		oldi = i; w = 1
		for (k = 36; ; k += 36) {
			if (pos > length(s)) return ""
			dg = index(digits, substr(s, pos++, 1)) - 1
			if ((i += dg * w) > 2147483647) return ""
			t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias
			if (dg < t) break
			if ((w *= 36 - t) > 2147483647) return ""
		}
		if (len >= 1024) return ""
		bias = adapt(i - oldi, len + 1, oldi == 0)
		n += int(i / (len + 1)); i %= len + 1
		if (n > 1114111) return ""
		for (j = len; j > i; j--) cp[j + 1] = cp[j]
		cp[i + 1] = n; len++; i++
	}
	for (j = 1; j <= len; j++) {
		if (cp[j] >= 55296 && cp[j] <= 57343 || capital(cp[j])) return "" # a surrogate is U+FFFD to Go
		u = u enc8(cp[j])
	}
	if (u !~ /[\200-\377]/ || u ~ /^xn--/ || u ~ harm || puny(cp, len) != s) return ""
	return u
}
# capital reports a capital letter whose small one is not ASCII (which
# addr.Lower lowers) in Latin-1, Latin Extended-A, Greek and Cyrillic's
# first blocks; mlm-members knows them all, this stand-in only these.
function capital(c) {
	if (c >= 192 && c <= 222) return c != 215
	if (c >= 256 && c <= 311) return c % 2 == 0 && c != 304
	if (c >= 313 && c <= 328) return c % 2 == 1
	if (c >= 330 && c <= 375) return c % 2 == 0
	if (c >= 376 && c <= 382) return c == 376 || c % 2 == 1
	if (c >= 902 && c <= 939) return c != 903 && c != 907 && c != 909 && c != 912 && c != 930
	return c >= 1021 && c <= 1071
}
function adapt(delta, npoints, first,    k) {
	delta = first ? int(delta / 700) : int(delta / 2)
	delta += int(delta / npoints)
	for (k = 0; delta > 455; k += 36) delta = int(delta / 35)
	return k + int(36 * delta / (delta + 38))
}
# puny encodes the code points cp[1..len] as Punycode (RFC 3492).
function puny(cp, len,    out, b, h, n, delta, bias, m, j, q, k, t) {
	for (j = 1; j <= len; j++) if (cp[j] < 128) { out = out sprintf("%c", cp[j]); b++ }
	h = b; if (b > 0) out = out "-"
	n = 128; delta = 0; bias = 72
	while (h < len) {
		m = 1114112
		for (j = 1; j <= len; j++) if (cp[j] >= n && cp[j] < m) m = cp[j]
		delta += (m - n) * (h + 1); n = m
		for (j = 1; j <= len; j++) {
			if (cp[j] < n) delta++
			if (cp[j] != n) continue
			q = delta
			for (k = 36; ; k += 36) {
				t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias
				if (q < t) break
				out = out substr(digits, t + (q - t) % (36 - t) + 1, 1)
				q = int((q - t) / (36 - t))
			}
			out = out substr(digits, q + 1, 1)
			bias = adapt(delta, h + 1, h == b); delta = 0; h++
		}
		delta++; n++
	}
	return out
}
# enc8 is the code point c in UTF-8.
function enc8(c) {
	if (c < 128) return sprintf("%c", c)
	if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
	if (c < 65536) return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
	return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64, 128 + int(c / 64) % 64, 128 + c % 64)
}
# nottext reports a line that is not text in UTF-8, as one of a file in
# another encoding or with other line ends is (members.notText): a CR
# within it, or octets that are not UTF-8 (Latin-1, UTF-16's, a NUL, a
# surrogate's or an overlong form, which Go's utf8.Valid refuses too).
function nottext(s) {
	return s ~ /\r/ || s !~ /^([\001-\177]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])*$/
}
function skipfiles(    f) {
	for (f in kbad) {
		sub(/.*\//, "", f)
		print "mlm-members.sh: " f ": a line is not text in UTF-8 (saved as UTF-16 or Latin-1, or with CR line ends?); its members are not known" > "/dev/stderr"
		exit 75
	}
}
END { if (!checked) { checked = 1; skipfiles() } }
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
	# for ulabel: the printable ASCII from 32 on, and Punycode's digits
	for (i = 32; i < 127; i++) ascii = ascii sprintf("%c", i)
	digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	listloc = tolower(list); sub(/@.*/, "", listloc)
	split("request subscribe unsubscribe owner bounces accept reject drop", cl, " ")
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
	listdom = list; sub(/^.*@/, "", listdom); listdom = dkey(listdom) # dkey needs harm
	# The list address makes the S line: one that is no mailbox would
	# make a line every reader refuses (65), the post in bad/, where
	# mlm-members waits (75) for the setting to be mended.
	if (!mailbox(list)) {
		print "mlm-members.sh: address: " list " is not an address" > "/dev/stderr"
		exit 75
	}
}
# bad refuses the stream, as a reader must (mlm-stream(5) rule 3).
function bad(why) {
	print "mlm-members.sh: line " NR - fnr0 ": " why > "/dev/stderr"
	exit 65
}
kind != "stream" {
	if (FNR == 1) sub(/^\357\273\277/, "") # a byte-order mark (Notepad's), as mlm-members drops it
	sub("^" ws "+", ""); sub(ws "+$", "")
	if ($0 == "" || $0 ~ /^#/) next
	if (!mailbox($0)) {
		if (kind == "member") { print "mlm-members.sh: " file ": line " FNR ": not an address; skipped" > "/dev/stderr"; nbad++ }
		else if (nottext($0)) kbad[FILENAME] = 1
		next
	}
	if (kind == "member") naddr++
	else kgood[FILENAME] = 1
	k = key($0)
	if (kind == "skip") skip[k] = 1
	else if (kind == "notmetoo") notme[k] = 1
	else if (own(k)) print "mlm-members.sh: " file ": an address of the list itself; skipped" > "/dev/stderr"
	else if (!(k in skip) && !(k in listed)) { listed[k] = 1; m[++n] = $0; mk[n] = k }
	next
}
# digest, nomail or notmetoo a line of which is not text in UTF-8 is no
# file of the members its other lines give, whose members would get the
# posts: 75 before the first record, or for no record at all (END). A
# line of text that is no address (one typed by hand, "Bob <bob@x>") is
# skipped, as by mlm-members.
kind == "stream" && !checked { checked = 1; fnr0 = NR - 1; skipfiles() }
kind == "stream" && /^[SRE] / && /[\000-\037\177]/ { bad("control octet in envelope line") }
/^MLM1 / {
	if (index($2, ",")) {
		print "mlm-members.sh: record " $2 ": the id of a post cannot have a \",\"" > "/dev/stderr"
		exit 65
	}
	split("", seen); c = 0
}
/^S / {
	poster = mbox($0); pk = key(poster)
	if (substr($0, 3, 1) != "<" || length($0) < 4 + length(poster) || substr($0, 4 + length(poster), 1) != ">" || poster != "" && !mailbox(poster)) bad("bad sender line")
	at = index(list, "@"); print "S <" substr(list, 1, at - 1) "-bounces" substr(list, at) ">"; next
}
/^R / { seen[key(mbox($0))] = 1; c++ }
/^E / {
	if ($0 !~ /^E (0|[1-9][0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?)$/ || substr($0, 3) + 0 != c) bad("count " substr($0, 3) ", but " c " recipient lines")
	for (i = 1; i <= n; i++) {
		k = mk[i] # each member's key, made once, not for each record
		if (k in seen || (k == pk && k in notme)) continue
		seen[k] = 1; print "R <" m[i] ">"; c++
	}
	if (c == 0 && file != "subscribers") {
		print "mlm-members.sh: " file ": no one to send to" > "/dev/stderr"
		exit 75
	}
	if (naddr == 0 && nbad > 0) { # lines, none an address: not read as it should be
		print "mlm-members.sh: " file ": no line is an address; no one to send to" > "/dev/stderr"
		exit 75
	}
	print "E " c; next
}
{ print }
