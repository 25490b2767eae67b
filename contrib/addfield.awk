# addfield.awk: add a header field at the top of every message of an
# MLM1 stream, in the message's own line ending (LF or CRLF).
# usage: LC_ALL=C awk -v field='X-Mailing-List: dev' -f addfield.awk
# The stand-in for the simplest use of mlm-hdr: a filter that knows the
# S line comes right before the message.
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
