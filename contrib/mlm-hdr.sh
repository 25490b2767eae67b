#!/bin/sh
# mlm-hdr.sh DIR: a stand-in for mlm-hdr(1) that adds one field, the
# list's List-Id, to every message of an MLM1 stream (contrib/addfield.awk).
# Tested in place of mlm-hdr in the post path (tests/testdata/path).
# It does only that: it reads no listid file, adds no X-Loop (so a post
# that comes back to the list is not held as a loop), gives a post
# without a Message-ID none (receivers such as Gmail refuse it), and
# removes neither Approved: nor the poster's own List-* fields, which
# then reach every member. Of the list's address it checks that it
# makes a list-id, not that the command addresses made of it fit in an
# address (mlm-hdr refuses one too long for them, 75). An example of a
# stage in awk, not for a list that takes posts from outside.
set -eu
[ $# -eq 1 ] || { echo "usage: mlm-hdr.sh DIR" >&2; exit 64; }
dir=$1
# An address file that is a symbolic link to nothing (its file system
# not mounted) cannot be read, 75, as to mlm-hdr: not no list, 67.
if [ -L "$dir/address" ] && [ ! -e "$dir/address" ]; then
	echo "mlm-hdr.sh: address: a symbolic link to nothing" >&2
	exit 75
fi
# No address: where the list directory, or the directory of lists it is
# in, is a symbolic link to nothing (its file system not mounted), the
# list cannot be read, 75, as to mlm-hdr; so where it, or a directory it
# is in, is a file; else there is no such list, 67.
if [ ! -f "$dir/address" ]; then
	if [ -e "$dir/address" ]; then # a FIFO, a directory: not read, as by mlm-hdr
		echo "mlm-hdr.sh: address: not a file" >&2
		exit 75
	fi
	p=$(dirname -- "$dir/x") # $dir, with no trailing "/"
	while [ ! -e "$p" ] || [ -L "$p" ]; do
		if [ -L "$p" ]; then
			[ -e "$p" ] && break
			echo "mlm-hdr.sh: $dir: $p is a symbolic link to nothing" >&2
			exit 75
		fi
		q=$(dirname -- "$p")
		[ "$q" != "$p" ] || break
		p=$q
	done
	if [ -e "$p" ] && [ ! -d "$p" ]; then # a file, or a link to one: no address read in it
		echo "mlm-hdr.sh: $dir: $p is not a directory" >&2
		exit 75
	fi
	echo "mlm-hdr.sh: $dir: no such list" >&2
	exit 67
fi
# Its first line trimmed, CR and spaces too, as the Go programs read it
# (strings.TrimSpace): Unicode's in UTF-8 as well, as mlm-members.sh.
us=$(printf '\302[\205\240]|\341\232\200|\342\200[\200-\212\250\251\257]|\342\201\237|\343\200\200')
addr=$(LC_ALL=C sed -E -n "1{s/^([[:space:]]|$us)+//;s/([[:space:]]|$us)+\$//;p;}" "$dir/address") || exit 75
case $addr in
*[[:space:][:cntrl:]]*) echo "mlm-hdr.sh: address: $addr is not an address" >&2; exit 75 ;;
?*@?*) ;;
*) echo "mlm-hdr.sh: address: $addr is not an address" >&2; exit 75 ;;
esac
id=$(printf '%s' "$addr" | tr '@' '.')
# A list-id of RFC 2919, as mlm-hdr requires: labels of atext, or of
# UTF-8, joined by single dots (not "dev..x", "[192.0.2.1]", "\"dev\"").
rest=$(printf '%s' "$id" | LC_ALL=C tr -d "A-Za-z0-9!#\$%&'*+/=?^_\`{|}~.\200-\377-") || exit 75
case $id in
.* | *. | *..*) rest=. ;;
esac
# One "@" only (the domain's labels are atext too), 255 octets at most
# (RFC 2919), and UTF-8, as mlm-hdr reads the address.
case $addr in *@*@*) rest=. ;; esac
[ "$(printf '%s' "$id" | LC_ALL=C wc -c)" -le 255 ] || rest=.
printf '%s' "$addr" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 || rest=.
[ -z "$rest" ] || { echo "mlm-hdr.sh: address: $addr gives no list-id (RFC 2919)" >&2; exit 75; }
here=$(dirname "$(readlink -f "$0")")
status=0
LC_ALL=C awk -v "field=List-Id: <$id>" -f "$here/addfield.awk" || status=$?
case $status in
0 | 64 | 65 | 75) exit "$status" ;;
141) # awk died of SIGPIPE (128 + 13): the next stage stopped reading.
	# So does this, as the Go program does, and a pipeline's status is
	# that stage's (mlm-pipeline(1)), not 75.
	kill -PIPE $$ ;;
esac
exit 75 # awk's own failure (a write error): 2; or SIGPIPE ignored
