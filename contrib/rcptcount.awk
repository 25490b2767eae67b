# rcptcount.awk: print "ID COUNT" for every record of an MLM1 stream.
# usage: LC_ALL=C awk -f rcptcount.awk
# Body lines start with ":" or ";", so a body line "R <x@y>" is never
# counted.
/^MLM1 / { id = $2 }
/^R / { n++ }
/^E / { print id, n + 0; n = 0 }
