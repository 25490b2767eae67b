#!/bin/sh
# archive.sh QUEUEDIR MBOX: append the records waiting in a queue
# directory to an mbox archive, after checking them.
# Illustrates mlm-check(1) and mlm-mbox(1); cat of record files is a
# stream (mlm-stream(5)).
set -eu
queue=$1
mbox=$2
set -- "$queue"/new/*
[ -e "$1" ] || exit 0 # nothing waiting
mlm-check "$@"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat "$@" | mlm-mbox -x >"$tmp"
cat "$tmp" >>"$mbox"
