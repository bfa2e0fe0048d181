#!/bin/sh
# Upload benchmark: publishes a generated build (2 GiB by default) to a
# throwaway local sshd with xtbuild's upload (default transport: tar
# streams; xtbuild-sftp: file by file over SFTP), rsync -a over ssh (with
# and without --fsync) and scp -r, each into a fresh directory, COUNT
# rounds of every tool in turn (the order rotated each round), and prints
# min and median seconds per tool,
# its peak RSS, and xtbuild's speed relative to each (>1 is faster).
# rsync-ssh-gcm is rsync with ssh -c aes128-gcm@openssh.com, the cipher
# upload's SSH library uses; OpenSSH's default, chacha20-poly1305, is
# slower on hosts with AES instructions (docs/performance.md, Upload).
# rsync-ssh-fsync is rsync --fsync (durability equal to upload's flush
# before the rename). xtbuild-hashsrc is upload with the build's manifest
# sums ignored (every file hashed while sending).
#
#   bench/upload.sh                      # 2 GiB, 5 rounds
#   BYTES=268435456 COUNT=3 bench/upload.sh
#   TOOLS='xtbuild|rsync-ssh|scp' bench/upload.sh   # a subset
#   SETTLE=0 bench/upload.sh             # no pause between runs (default 20 s)
#
# Needs openssh-server, openssh-client, rsync, python3 and bc. The generated build is
# cached in $TMPDIR/xtbuild-upload-bench-<bytes>.
set -eu
cd "$(dirname "$0")/.."
BYTES=${BYTES:-2147483648}
COUNT=${COUNT:-5}
TOOLS=${TOOLS:-.*}
SETTLE=${SETTLE:-20} # seconds of pause after a sync before each tool's run
out=$(mktemp)
probes=$(mktemp -d)
trap 'rm -rf "$out" "$out.test" "$probes" "$probes.round"' EXIT
. bench/fsquiet.sh
ALL="xtbuild xtbuild-sftp xtbuild-hashsrc rsync-ssh rsync-ssh-gcm rsync-ssh-fsync scp"
tools=$(for t in $ALL; do echo "$t"; done | grep -E "^($TOOLS)\$" | tr '\n' ' ')
[ -n "$tools" ] || { echo "TOOLS=$TOOLS matches none of: $ALL" >&2; exit 2; }
# Each round runs every tool once, each in its own process, the order
# rotated by one tool a round: the tool that goes first in a round runs
# faster (measured: rsync alone 6.8-7.4 s, rsync after xtbuild 8.1-9.7 s).
# Every run writes a new destination under the round's directory, which is
# removed after the round; the next round starts once creating a file is
# cheap again (bench/fsquiet.sh), so no run follows a deletion. Before
# each run: sync and SETTLE seconds of pause. Measured: a 20 s pause does
# not remove the order effect (docs/performance.md, Upload); the rotation
# is what evens it out across tools.
rotate() { # rotate N WORD...: the words, starting with the (N mod count)-th
	r_k=$(($1 % ($# - 1))) r_i=0 r_head="" r_tail=""
	shift
	for r_w; do
		if [ "$r_i" -lt "$r_k" ]; then r_tail="$r_tail $r_w"; else r_head="$r_head $r_w"; fi
		r_i=$((r_i + 1))
	done
	echo $r_head $r_tail
}
go test -c -o "$out.test" ./upload
for i in $(seq "$COUNT"); do
	fs_quiet "$probes"
	mkdir "$probes.round"
	order=$(rotate $((i - 1)) $tools)
	echo "round $i: $order"
	for t in $order; do
		sync; sleep "$SETTLE"
		(cd upload && XTBUILD_UPLOAD_BENCH_BYTES=$BYTES XTBUILD_UPLOAD_BENCH_DESTROOT="$probes.round" "$out.test" -test.run '^$' \
			-test.bench "^BenchmarkUpload\$/^$t\$" -test.benchtime 1x -test.count 1 -test.timeout 90m) | tee -a "$out"
	done
	rm -rf "$probes.round"
done
awk '
/^BenchmarkUpload\// {
	split($1, a, "/"); name = a[2]; sub(/-[0-9]+$/, "", name)
	n[name]++; t[name, n[name]] = $3 / 1e9
	for (i = 4; i < NF; i++) if ($(i + 1) == "peak-RSS-MiB" && $i > rss[name]) rss[name] = $i
}
END {
	for (k in n) {
		# sort this tool'"'"'s times (insertion sort; a handful of runs)
		for (i = 2; i <= n[k]; i++) {
			v = t[k, i]
			for (j = i - 1; j >= 1 && t[k, j] > v; j--) t[k, j + 1] = t[k, j]
			t[k, j + 1] = v
		}
		min[k] = t[k, 1]
		m = n[k]
		med[k] = (m % 2) ? t[k, (m + 1) / 2] : (t[k, m / 2] + t[k, m / 2 + 1]) / 2
	}
	printf "\n%-22s %4s %9s %9s %13s\n", "tool", "runs", "min s", "median s", "peak RSS MiB"
	for (k in n) printf "%-22s %4d %9.2f %9.2f %13.1f\n", k, n[k], min[k], med[k], rss[k]
	x = "xtbuild"
	if (x in n) for (k in n) if (k != x)
		printf "xtbuild vs %-20s min %.2fx  median %.2fx\n", k, min[k] / min[x], med[k] / med[x]
}' "$out"
