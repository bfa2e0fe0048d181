#!/usr/bin/env bash
# Layer sync of 60 local repositories: xtbuild (go-git, parallel) against
# kas checkout (Debian kas), side by side in one run. Needs: git, kas.
#   bash bench/layers-kas.sh [runs]
set -euo pipefail
runs=${1:-3}
root=$(mktemp -d /tmp/xtbuild-kasbench.XXXXXX)
trap 'rm -rf "$root"' EXIT
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.org GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.org
# The same shape as layers/bench_test.go: 5 commits of 10 recipes each.
for i in $(seq -w 0 59); do
	d=$root/up/meta-$i
	mkdir -p "$d/conf" "$d/recipes"
	git -C "$d" init -q -b main
	echo 'BBPATH .= ":${LAYERDIR}"' > "$d/conf/layer.conf"
	for c in 1 2 3 4 5; do
		for f in $(seq 0 9); do
			for _ in $(seq 1 $((20 + c))); do printf 'SUMMARY = "recipe"\nLICENSE = "MIT"\n'; done > "$d/recipes/r${f}_$c.bb"
		done
		git -C "$d" add -A && git -C "$d" commit -q -m "c$c"
	done
done
{
	echo 'header:'; echo '  version: 12'; echo 'machine: qemux86-64'; echo 'repos:'
	for i in $(seq -w 0 59); do printf '  meta-%s:\n    url: %s\n    refspec: main\n' "$i" "$root/up/meta-$i"; done
} > "$root/kas.yml"
# kas checkout ends with "Did not find any init-build-env script" (no poky
# here) after the repositories are checked out; the time is the checkout.
for r in $(seq "$runs"); do
	w=$root/kas-$r; mkdir -p "$w"; cp "$root/kas.yml" "$w/"
	s=$(date +%s.%N); (cd "$w" && KAS_WORK_DIR=$w kas checkout kas.yml >/dev/null 2>&1 || true); e=$(date +%s.%N)
	printf 'kas checkout cold  %.3f s\n' "$(echo "$e - $s" | bc)"
	s=$(date +%s.%N); (cd "$w" && KAS_WORK_DIR=$w kas checkout kas.yml >/dev/null 2>&1 || true); e=$(date +%s.%N)
	printf 'kas checkout warm  %.3f s\n' "$(echo "$e - $s" | bc)"
done
cd "$(dirname "$0")/.."
go test ./layers -run XXX -bench 'Sync|GitClone' -benchtime "${runs}x"
