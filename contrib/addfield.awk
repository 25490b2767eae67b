# addfield.awk: add a header field at the top of every message of an
# MLM1 stream, in the message's own line ending (LF or CRLF).
# usage: LC_ALL=C awk -v field='X-Mailing-List: dev' -f addfield.awk
# The stand-in for the simplest use of mlm-hdr: a filter that knows the
# S line comes right before the message. It reads the line ending from
# the message's first stream line: one whose first line is over 65,534
# octets (split into ";" pieces) gets the field with LF, CRLF or not.
# The field is checked to be one line with a name, nothing more: not
# for control octets, nor for the 998 octets of RFC 5322 (mlm-hdr -a
# refuses both, 64).
BEGIN {
	if (field !~ /^[!-9;-~]+:[^\r\n]*$/) {
		print "addfield.awk: field must be NAME: VALUE on one line" > "/dev/stderr"
		exit 64
	}
}
pending { print ":" field (/^:.*\r$/ ? "\r" : ""); pending = 0 }
{ print }
/^S / { pending = 1 }
END { if (pending) print ":" field }
