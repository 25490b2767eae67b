#!/bin/sh
# mlm-members.sh [-l FILE] DIR: a stand-in for mlm-members(1) that
# expands every record to the addresses in DIR/FILE (subscribers by
# default) and makes the list's bounce address the sender
# (contrib/members.awk, which says what it skips). A record that would
# go to no one from another file than subscribers fails with 75, so that
# it waits. It runs no members-command: a list with one waits (75).
# Tested in place of mlm-members in the post path (tests/testdata/path).
set -eu
file=subscribers
while getopts l: opt; do
	case $opt in
	l) file=$OPTARG ;;
	*) echo "usage: mlm-members.sh [-l FILE] DIR" >&2; exit 64 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: mlm-members.sh [-l FILE] DIR" >&2; exit 64; }
dir=$1
case $file in
subscribers | digest | moderators | owner) ;;
*) echo "mlm-members.sh: -l $file: not a member file" >&2; exit 64 ;;
esac
case $dir in
/*) ;;
*) dir=./$dir ;; # an awk operand NAME=VALUE would be an assignment
esac
# unreadable: a file it reads that is a symbolic link to nothing (its
# file system not mounted) cannot be read, 75, as to mlm-members; taken
# for a missing file, it made a list of no members, or of the
# subscribers file's where members-command is linked so. Nor can a
# FIFO, which mlm-members refuses at once (listdir.OpenFile).
unreadable() {
	for f; do
		if [ -L "$dir/$f" ] && [ ! -e "$dir/$f" ]; then
			echo "mlm-members.sh: $f: a symbolic link to nothing" >&2
			exit 75
		fi
		if [ -p "$dir/$f" ]; then # awk would wait for a writer
			echo "mlm-members.sh: $f: a FIFO, not a file" >&2
			exit 75
		fi
	done
}
unreadable address
# No address: where the list directory, or the directory of lists it is
# in, is a symbolic link to nothing (its file system not mounted), the
# list cannot be read, 75, as to mlm-members; so where it, or a directory it
# is in, is a file; else there is no such list, 67.
if [ ! -f "$dir/address" ]; then
	if [ -e "$dir/address" ]; then # a FIFO, a directory: not read, as by mlm-members
		echo "mlm-members.sh: address: not a file" >&2
		exit 75
	fi
	p=$(dirname -- "$dir/x") # $dir, with no trailing "/"
	while [ ! -e "$p" ] || [ -L "$p" ]; do
		if [ -L "$p" ]; then
			[ -e "$p" ] && break
			echo "mlm-members.sh: $dir: $p is a symbolic link to nothing" >&2
			exit 75
		fi
		q=$(dirname -- "$p")
		[ "$q" != "$p" ] || break
		p=$q
	done
	if [ -e "$p" ] && [ ! -d "$p" ]; then # a file, or a link to one: no address read in it
		echo "mlm-members.sh: $dir: $p is not a directory" >&2
		exit 75
	fi
	echo "mlm-members.sh: $dir: no such list" >&2
	exit 67
fi
# Its first line trimmed, CR and spaces too, as the Go programs read it
# (strings.TrimSpace): Unicode's in UTF-8 as well, the no-break space a
# copy from a web page leaves among them.
us=$(printf '\302[\205\240]|\341\232\200|\342\200[\200-\212\250\251\257]|\342\201\237|\343\200\200')
list=$(LC_ALL=C sed -E -n "1{s/^([[:space:]]|$us)+//;s/([[:space:]]|$us)+\$//;p;}" "$dir/address") || exit 75
case $list in
*[[:space:][:cntrl:]]*) echo "mlm-members.sh: address: $list is not an address" >&2; exit 75 ;;
?*@?*) ;;
*) echo "mlm-members.sh: address: $list is not an address" >&2; exit 75 ;;
esac
if [ "$file" = subscribers ]; then
	unreadable members-command digest nomail notmetoo subscribers
else
	unreadable "$file"
fi
if [ "$file" = subscribers ] && [ -e "$dir/members-command" ]; then
	echo "mlm-members.sh: members-command: not run by this stand-in; use mlm-members" >&2
	exit 75
fi
# at: the file, or /dev/null if there is none.
at() { if [ -e "$dir/$1" ]; then echo "$dir/$1"; else echo /dev/null; fi; }
if [ "$file" = subscribers ]; then
	notmetoo=$(at notmetoo) digest=$(at digest) nomail=$(at nomail)
else
	notmetoo=/dev/null digest=/dev/null nomail=/dev/null
fi
here=$(dirname "$(readlink -f "$0")")
status=0
MLM_LIST=$list LC_ALL=C awk -v file="$file" -f "$here/members.awk" \
	kind=notmetoo "$notmetoo" kind=skip "$digest" kind=skip "$nomail" \
	kind=member "$(at "$file")" kind=stream - || status=$?
case $status in
0 | 65 | 75) exit "$status" ;;
141) # awk died of SIGPIPE (128 + 13): the next stage stopped reading.
	# So does this, as the Go program does, and a pipeline's status is
	# that stage's (mlm-pipeline(1)), not 75.
	kill -PIPE $$ ;;
esac
exit 75 # awk's own failure (a write error): 2; or SIGPIPE ignored
