#!/bin/sh
# demo.sh: the main job of mlm end to end, on the defaults a new list
# gets (mlm-newlist(1), mlm-run(1), mlm-sink(1)). Run by `make demo`
# after the programs are built into bin/.
#
# A list of 1,000 members in a temporary directory; mlm-sink, the test
# SMTP server, on 127.0.0.1 as its relay; three posts through
# mlm-accept as an MTA hands them over, one from a non-member (held for
# the moderator); one mlm-run; then what happened.
set -eu
bin=${MLMBIN:-$(cd "$(dirname "$0")/../bin" && pwd)}
PATH=$bin:$PATH
export PATH
tmp=$(mktemp -d)
sinkpid=
cleanup() {
	if [ -n "$sinkpid" ]; then
		kill "$sinkpid" 2>/dev/null || true
		wait "$sinkpid" 2>/dev/null || true # it writes its counters as it stops
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir "$tmp/received"
mlm-sink -A "$tmp/addr" -D "$tmp/received" -s "$tmp/stats" >/dev/null &
sinkpid=$!
i=0
while [ ! -s "$tmp/addr" ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "demo: mlm-sink did not start" >&2; exit 75; }
	sleep 0.1
done

list=$tmp/dev
mlm-newlist -o owner@example.org "$list" dev@lists.example.org >/dev/null
cp "$tmp/addr" "$list/relay"
seq -f 'member%04g@example.org' 1000 | mlm-sub "$list"
mlm-sub -l moderators "$list" moderator@example.org

post() { # sender subject
	printf 'From: %s\nTo: dev@lists.example.org\nSubject: %s\nMessage-ID: <%s.%s@example.org>\n\nHello, list.\n' \
		"$1" "$2" "$(date +%s)" "$$" |
		SENDER=$1 RECIPIENT=dev@lists.example.org mlm-accept "$list"
}
start=$(date +%s%N)
post member0001@example.org "first post"
post member0002@example.org "second post"
post stranger@example.net "a post from a non-member"
mlm-run "$list"
end=$(date +%s%N)

stats=$(cat "$tmp/stats")
field() { printf '%s\n' "$stats" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "members:                $(mlm-who -c "$list")"
echo "posts accepted:         3"
echo "held for the moderator: $(mlm-moderate "$list" list | wc -l)"
echo "SMTP transactions:      $(field transactions) (batches of at most 100, and the notice)"
echo "recipients delivered:   $(field recipients)"
echo "connections:            $(field connections)"
echo "time taken:             $(( (end - start) / 1000000 )) ms (accept, run, deliver)"
echo
echo "the header of one delivered message:"
one=$(grep -l -r "^:List-Id:" "$tmp/received" | head -n 1)
mlm-unwrap <"$one" | tr -d '\r' | sed '/^$/q'
