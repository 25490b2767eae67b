# members.awk: add the addresses of the first file (one per line, "#"
# comments) as recipients of every record of the MLM1 stream that
# follows, and fix the E count. No checks and no de-duplication: an
# mlm-enqueue or mlm-check downstream refuses a bad address.
# usage: LC_ALL=C awk -f members.awk subscribers -
FILENAME == ARGV[1] {
	sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "")
	if ($0 != "" && $0 !~ /^#/) m[++n] = $0
	next
}
/^R / { c++ }
/^E / { for (i = 1; i <= n; i++) print "R <" m[i] ">"; print "E " c + n; c = 0; next }
{ print }
