#!/bin/sh
# mlm-members.sh DIR: a stand-in for mlm-members(1) that expands every
# record to the addresses in DIR/subscribers (contrib/members.awk).
# Tested in place of mlm-members in the post path (tests/testdata/path).
set -eu
dir=${1:?usage: mlm-members.sh DIR}
here=$(dirname "$(readlink -f "$0")")
LC_ALL=C exec awk -f "$here/members.awk" "$dir/subscribers" -
