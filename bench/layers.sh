#!/usr/bin/env bash
# Cold and warm layer setup of a realistic 60-layer set, side by side:
#   xtbuild (layers.Sync: parallel, shallow pinned commits, optional store)
#   sequential `git clone` (full history) of each repo
#   sequential `git clone --depth 1` of each pinned commit (init + fetch
#     --depth 1 <sha> + checkout: clone cannot name a commit)
# The set: three large real repositories from the snapshots in /work/.mirror
# (bitbake 22 MiB packed / 11k commits, xenclient-oe 19 MiB, toolstack-data
# 15 MiB; the oe-core and meta-openembedded snapshots here miss objects) plus 57 small generated layers (5 commits
# of 10 recipes). All URLs are file:// so C git uses its real transport,
# not local hardlinks. Every layer is pinned to its current HEAD.
# When kas is installed (Debian: apt-get install kas), kas checkout of the
# same 60 pinned repos runs in each round too: cold, with KAS_REPO_REF_DIR
# (a directory of bare clones named as kas names them, filled once before
# the rounds, untimed, as xtbuild's store is for its second build dir) and
# warm. kas ends with an error about a missing init-build-env script (there
# is no poky here) after its checkout; every repo's HEAD is checked.
# After the rounds, one untimed pass measures the CPU of the serving side
# (git-upload-pack and its pack-objects, run here for file:// URLs) for the
# sequential clones and for xtbuild's cold setup: the upload-pack command is
# wrapped in /usr/bin/time (remote.origin.uploadpack), whose figure
# includes pack-objects. That CPU is spent on this host only because the
# upstreams are local; it bounds what any client can reach here.
#   bash bench/layers.sh [runs]      (STORE_ONLY=1: only the shared-store rows; NO_KAS=1: no kas rows;
#                                     GIT_DAEMON=1: every URL git:// through a local git daemon;
#                                     BENCH_DIR=/dev/shm: work on tmpfs, where creating a file is cheap)
set -euo pipefail
runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d "${BENCH_DIR:-/tmp}/xtbuild-layerbench.XXXXXX")
trap 'rm -rf "$root"' EXIT
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.org GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.org
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z
urls=()
for big in openembedded+bitbake OpenXT+xenclient-oe OpenXT+toolstack-data; do
	urls+=("file:///work/.mirror/$big/repo")
done
for i in $(seq -w 0 56); do
	d=$root/up/meta-$i
	mkdir -p "$d/conf" "$d/recipes"
	git -C "$d" init -q -b main
	echo 'BBPATH .= ":${LAYERDIR}"' > "$d/conf/layer.conf"
	for c in 1 2 3 4 5; do
		for f in $(seq 0 9); do printf 'SUMMARY = "r%s %s"\nLICENSE = "MIT"\n' "$f" "$c" > "$d/recipes/r$f.bb"; done
		git -C "$d" add -A && git -C "$d" commit -q -m "c$c"
	done
	urls+=("file://$d")
done
shas=()
for u in "${urls[@]}"; do shas+=("$(git --git-dir="${u#file://}" rev-parse HEAD 2>/dev/null || git -C "${u#file://}" rev-parse HEAD)"); done
if [ -n "${GIT_DAEMON:-}" ]; then
	# The same repositories through a real `git daemon` on loopback (git://,
	# a network transport: what git.yoctoproject.org serves), for every row.
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	git daemon --export-all --reuseaddr --listen=127.0.0.1 --port="$port" --base-path=/ --pid-file="$root/daemon.pid" --detach /
	trap 'kill "$(cat "$root/daemon.pid")" 2>/dev/null; rm -rf "$root"' EXIT
	for i in "${!urls[@]}"; do urls[$i]="git://127.0.0.1:$port${urls[$i]#file://}"; done
	until git ls-remote "${urls[0]}" HEAD >/dev/null 2>&1; do sleep 0.1; done
fi
mkcfg() { # mkcfg DIR [git_cache]
	mkdir -p "$1"
	{
		for i in "${!urls[@]}"; do printf '[[layer]]\nname = "l%02d"\nurl = "%s"\ncommit = "%s"\nsublayers = ["."]\n\n' "$i" "${urls[$i]}" "${shas[$i]}"; done
		if [ -n "${2:-}" ]; then printf '[paths]\ngit_cache = "%s"\n' "$2"; fi
	} > "$1/xtbuild.toml"
}
now() { date +%s.%N; }
# Before each timed row: write back what the previous row left, so no row
# pays for the one before it.
settle() { sync; sleep 1; }
# No row's output is deleted until the bench ends: it is moved aside, and
# the rounds start once creating a file is cheap (bench/fsquiet.sh: on
# this VM's journal-less ext4 an rm -rf makes new files dearer for a minute
# or more, which would slow down whichever row came next).
. "$repo/bench/fsquiet.sh"
mkdir -p "$root/trash"
discard() { local d; for d in "$@"; do [ -e "$d" ] && mv "$d" "$root/trash/$(basename "$d")"; done; return 0; }
fs_quiet "$root/trash"
kas=
if [ -z "${NO_KAS:-}" ] && command -v kas >/dev/null; then
	kas=1
	{
		printf 'header:\n  version: 12\nmachine: qemux86-64\nrepos:\n'
		for i in "${!urls[@]}"; do printf '  l%02d:\n    url: "%s"\n    refspec: "%s"\n' "$i" "${urls[$i]}" "${shas[$i]}"; done
	} > "$root/kas.yml"
	for u in "${urls[@]}"; do # kas's qualified_name: netloc + path, with / : @ * as dots
		q=$(printf '%s' "${u#*://}" | tr '/:@*' '....')
		git clone -q --bare "$u" "$root/kasref/$q"
	done
fi
kasrun() { # kasrun WORKDIR [refdir]: time one kas checkout, check every HEAD
	mkdir -p "$1"; cp "$root/kas.yml" "$1/"
	local s e i
	s=$(now)
	(cd "$1" && KAS_WORK_DIR=$1 KAS_REPO_REF_DIR=${2:-} kas checkout kas.yml >"$1/kas.log" 2>&1 || true)
	e=$(now)
	for i in "${!urls[@]}"; do
		if [ "$(git -C "$1/l$(printf %02d "$i")" rev-parse HEAD 2>/dev/null)" != "${shas[$i]}" ]; then
			echo "kas did not check out l$i" >&2; tail -5 "$1/kas.log" >&2; exit 1
		fi
	done
	printf '%.3f s' "$(echo "$e - $s" | bc)"
}
go build -o "$root/layersync" "$repo/bench/layersync"
seqrows() { # sequential git clone, then sequential shallow fetches of the pins
	local w s i
	w=$root/seq-$r; mkdir -p "$w"; settle; s=$(now)
	for i in "${!urls[@]}"; do git clone -q "${urls[$i]}" "$w/l$i"; done
	printf 'sequential git clone          %.3f s\n' "$(echo "$(now) - $s" | bc)"; discard "$w"
	w=$root/shallow-$r; mkdir -p "$w"; settle; s=$(now)
	for i in "${!urls[@]}"; do
		git init -q "$w/l$i" && git -C "$w/l$i" fetch -q --depth 1 "${urls[$i]}" "${shas[$i]}" && git -C "$w/l$i" -c advice.detachedHead=false checkout -q "${shas[$i]}"
	done
	printf 'sequential clone --depth 1    %.3f s\n' "$(echo "$(now) - $s" | bc)"; discard "$w"
}
xtrows() { # xtbuild cold without a store, then its warm no-op
	mkcfg "$root/x-$r"; settle
	printf 'xtbuild cold (no store)       %s\n' "$("$root/layersync" "$root/x-$r/xtbuild.toml")"
	settle; printf 'xtbuild warm no-op            %s\n' "$("$root/layersync" "$root/x-$r/xtbuild.toml")"
	discard "$root/x-$r"
}
for r in $(seq "$runs"); do
	echo "== run $r (creating a file: $(fs_probe "$root/trash/probe-r$r") ms of system time)"
	if [ -z "${STORE_ONLY:-}" ]; then
	# Odd rounds time the sequential loops first, even rounds xtbuild
	# first, so neither side always inherits the other's page cache and
	# writeback.
	if [ $((r % 2)) = 1 ]; then seqrows; xtrows; else xtrows; seqrows; fi
	if [ -n "$kas" ]; then
		settle; printf 'kas checkout cold             %s\n' "$(kasrun "$root/k-$r")"
		settle; printf 'kas checkout warm             %s\n' "$(kasrun "$root/k-$r")"
		settle; printf 'kas checkout, KAS_REPO_REF_DIR %s\n' "$(kasrun "$root/kr-$r" "$root/kasref")"
		discard "$root/k-$r" "$root/kr-$r"
	fi
	fi
	mkcfg "$root/s1-$r" "$root/cache-$r"; mkcfg "$root/s2-$r" "$root/cache-$r"
	settle; printf 'xtbuild cold, empty store     %s\n' "$("$root/layersync" "$root/s1-$r/xtbuild.toml")"
	settle; printf 'xtbuild 2nd build dir, store  %s\n' "$("$root/layersync" "$root/s2-$r/xtbuild.toml")"
	settle; printf 'xtbuild warm no-op, store     %s\n' "$("$root/layersync" "$root/s2-$r/xtbuild.toml")"
	discard "$root/s1-$r" "$root/s2-$r" "$root/cache-$r"
done
if [ -z "${STORE_ONLY:-}" ] && [ -z "${GIT_DAEMON:-}" ] && [ -x /usr/bin/time ]; then
	echo "== serving side (untimed pass)"
	srv() { # srv FILE: wrapped upload-pack command that appends "user sys" to FILE
		printf "/usr/bin/time -a -o %s -f '%%U %%S' git-upload-pack" "$1"
	}
	sum() { awk '{c += $1 + $2; n++} END {printf "%.2f s CPU in %d upload-packs", c, n}' "$1"; }
	w=$root/floor-seq; mkdir -p "$w"
	for i in "${!urls[@]}"; do git clone -q -u "$(srv "$root/srv-clone")" "${urls[$i]}" "$w/l$i"; done
	printf 'serving side of sequential git clone   %s\n' "$(sum "$root/srv-clone")"; discard "$w"
	mkcfg "$root/floor-x"
	GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.uploadpack GIT_CONFIG_VALUE_0="$(srv "$root/srv-x")" \
		"$root/layersync" "$root/floor-x/xtbuild.toml" >/dev/null
	printf 'serving side of xtbuild cold           %s (%d cores)\n' "$(sum "$root/srv-x")" "$(nproc)"
fi
