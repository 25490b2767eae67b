#!/bin/sh
# mlm-hdr.sh DIR: a stand-in for mlm-hdr(1) that adds one field, the
# list's List-Id, to every message of an MLM1 stream (contrib/addfield.awk).
# Tested in place of mlm-hdr in the post path (tests/testdata/path).
set -eu
dir=${1:?usage: mlm-hdr.sh DIR}
here=$(dirname "$(readlink -f "$0")")
addr=$(sed -n '1p' "$dir/address")
id=$(printf '%s' "$addr" | tr '@' '.')
LC_ALL=C exec awk -v "field=List-Id: <$id>" -f "$here/addfield.awk"
