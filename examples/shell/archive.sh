#!/bin/sh
# archive.sh QUEUEDIR MBOX: append the records waiting in a queue
# directory to an mbox archive, after checking them.
# Illustrates mlm-check(1) and mlm-mbox(1); cat of record files is a
# stream (mlm-stream(5)).
# Each run appends what waits then, up to 1,000 records, and removes
# those records once the archive is on disk (sync FILE, coreutils'); a
# record that comes meanwhile waits for the next run. Run it on a queue of its own, that
# no mlm-run takes from, under mlm-lock(1), lest two runs archive one
# record twice.
set -eu
queue=$1
mbox=$2
# Every record, one whose id starts with "." too (a stream's id may;
# sh's * leaves such names out), and not a pattern that matched none.
# Those are added one at a time, each a copy of the list: few, where
# all added so would take minutes for a queue of some 10,000.
set -- "$queue"/new/*
[ -e "$1" ] || shift
for f in "$queue"/new/.[!.]* "$queue"/new/..?*; do
	if [ -e "$f" ]; then set -- "$@" "$f"; fi
done
[ $# -gt 0 ] || exit 0 # nothing waiting
# At most 1,000 a run, the first by name (the oldest: an id starts
# with its time); the rest wait for the next. A queue left to grow
# would else pass the system's limit of a command's arguments (some
# 30,000 records), and every run fail. (eval sets the first 1,000 of
# "$@" again, by their numbers: no name goes through it.)
max=1000
if [ $# -gt $max ]; then
	# shellcheck disable=SC2016 # ${N} is for eval to expand
	eval "set --$(i=1; while [ $i -le $max ]; do printf ' "${%d}"' "$i"; i=$((i + 1)); done)"
fi
mlm-check "$@"
stream=$(mktemp)
tmp=$(mktemp)
trap 'rm -f "$stream" "$tmp"' EXIT
trap 'exit 75' INT TERM HUP # (sh runs the EXIT trap on exit, not on a signal)
# Not a pipe: a record gone meanwhile fails cat, and so the script,
# where in a pipe only mlm-mbox's status would count.
cat "$@" >"$stream"
mlm-mbox -x <"$stream" >"$tmp"
# An append that fails (a full disk) may have put part of a message in:
# the archive is cut back to what it held, lest the next run's append
# follow that part, its first From_ line in the middle of a line.
size=0
[ ! -e "$mbox" ] || size=$(wc -c <"$mbox")
if ! { cat "$tmp" >>"$mbox" && sync "$mbox"; }; then
	truncate -s "$size" "$mbox"
	exit 75
fi
rm -f -- "$@"
