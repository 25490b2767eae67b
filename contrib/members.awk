# members.awk: add the addresses of the first file (one per line, "#"
# comments) as recipients of every record of the MLM1 stream that
# follows, make the list's bounce address the sender, and fix the E
# count. No checks and no de-duplication: an mlm-enqueue or mlm-check
# downstream refuses a bad address. With file other than "subscribers",
# a record left with no recipient at all is an error (exit 75).
# usage: LC_ALL=C awk -v list=ADDR -v file=NAME -f members.awk FILE -
FILENAME == ARGV[1] {
	sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "")
	if ($0 != "" && $0 !~ /^#/) m[++n] = $0
	next
}
/^S / { at = index(list, "@"); print "S <" substr(list, 1, at - 1) "-bounces" substr(list, at) ">"; next }
/^R / { c++ }
/^E / {
	if (c + n == 0 && file != "subscribers") {
		print "mlm-members.sh: " file ": no one to send to" > "/dev/stderr"
		exit 75
	}
	for (i = 1; i <= n; i++) print "R <" m[i] ">"
	print "E " c + n; c = 0; next
}
{ print }
