#!/bin/sh
# mlm-members.sh [-l FILE] DIR: a stand-in for mlm-members(1) that
# expands every record to the addresses in DIR/FILE (subscribers by
# default) and makes the list's bounce address the sender
# (contrib/members.awk). A record that would go to no one from another
# file than subscribers fails with 75, so that it waits.
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
dir=${1:?usage: mlm-members.sh [-l FILE] DIR}
case $file in
subscribers | digest | moderators | owner) ;;
*) echo "mlm-members.sh: -l $file: not a member file" >&2; exit 64 ;;
esac
list=$(sed -n 1p "$dir/address") || exit 75
src=$dir/$file
[ -e "$src" ] || src=/dev/null
here=$(dirname "$(readlink -f "$0")")
LC_ALL=C exec awk -v list="$list" -v file="$file" -f "$here/members.awk" "$src" -
