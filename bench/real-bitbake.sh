#!/bin/bash
# Real-BitBake check of xtbuild's built-in profiles (docs/real-bitbake.md).
#
#   bench/real-bitbake.sh REPOS WORK [PROFILE...]
#
# REPOS holds local clones of BitBake and the profiles' layers, one
# repository per layer name (bitbake, openembedded-core, xenclient-oe, ...),
# with the branches the profiles follow. WORK is a scratch directory.
# PROFILE is "openxt" (the main build) or a board name; the default is
# "openxt apu1d-scarthgap", the profiles that run on a current host.
#
# For each profile it writes an xtbuild.toml that changes nothing but the
# layer URLs ([mirrors.layers] -> REPOS), the network (mirrors.offline) and
# pins for the AUTOREV recipes (see below), runs setupoe, and then, as the
# non-root user $RUN_AS (default bb; BitBake refuses root for builds):
#   bitbake -p                                   (parse time recorded)
#   MACHINE=<m> bitbake -g <targets>             for every bitbake step
#   MACHINE=<m> bitbake -g packagegroup-xtbuild-tools   (TOOLS=1, default)
# and prints the layer commits, each command's result and the parse time.
#
# Stand-ins, each named as such in the output:
#   - meta-vglass (gitlab, not fetchable here): a placeholder layer with
#     collection "vglass" and an empty qemu-dm-vglass.inc, which
#     xenclient-oe's qemu-dm.inc requires. Targets that need vglass's
#     recipes fail -g and are reported as needing meta-vglass.
#   - ghc, ghc-pkg when the host has none: scripts that exit 1 (parsing
#     only needs them on PATH: HOSTTOOLS).
#   - [srcrev] pins for the recipes whose SRCREV is ${AUTOREV}: setupoe
#     offline names each one it cannot resolve ("pin it in [srcrev]"); the
#     script pins those to a fixed placeholder commit and runs setupoe
#     again (parsing never fetches; no build can use them). With
#     GIT_MIRRORS, a directory of bare mirrors <repo>.git, the config sets
#     `[mirrors] git_dir` to it instead and setupoe pins every AUTOREV
#     recipe to its branch head there, as a user's build does.
#
# GRAPH=0 skips the -g runs (parse only).
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 2; }
REPOS=$(realpath "$1"); WORK=$(realpath -m "$2"); shift 2
PROFILES=${*:-openxt apu1d-scarthgap}
RUN_AS=${RUN_AS:-bb}
TOOLS=${TOOLS:-1}
GRAPH=${GRAPH:-1}
GIT_MIRRORS=${GIT_MIRRORS:+$(realpath "$GIT_MIRRORS")}
PIN=0123456789abcdef0123456789abcdef01234567 # placeholder commit for AUTOREV recipes
SRC=$(cd "$(dirname "$0")/.." && pwd)

. "$SRC/bench/real-standins.sh"

mkdir -p "$WORK/bin"
(cd "$SRC" && go build -o "$WORK/bin/realbitbake" ./bench/realbitbake)
chown -R "$RUN_AS" "$WORK"

VG=$WORK/meta-vglass
standin_vglass "$VG"
STUBS=$WORK/stubs
standin_hosttools "$STUBS"

write_config() { # dir board pins-file (one [srcrev] key a line)
	local dir=$1 board=$2 pins=$3 urls="" name key
	for r in "$REPOS"/*/; do
		name=$(basename "$r")
		urls+="$name = \"file://${REPOS}/$name\""$'\n'
	done
	[ -d "$REPOS/meta-vglass" ] || urls+="meta-vglass = \"file://$VG\""$'\n'
	{
		echo "# Written by bench/real-bitbake.sh: the built-in profile with local layer URLs."
		echo "[mirrors]"
		echo "offline = true"
		[ -z "$GIT_MIRRORS" ] || echo "git_dir = \"$GIT_MIRRORS\""
		echo "[mirrors.layers]"
		printf '%s' "$urls"
		if [ -s "$pins" ]; then
			echo "# AUTOREV recipes pinned to a placeholder commit (parse-only check)"
			echo "[srcrev]"
			while read -r key; do printf '"%s" = "%s"\n' "$key" "$PIN"; done <"$pins"
		fi
		if [ "$TOOLS" = 1 ]; then
			echo "[recipes]"
			echo "enabled = true"
			echo "source = \"local\""
			echo "local_path = \"$SRC\""
		fi
	} | as_user tee "$dir/xtbuild.toml" >/dev/null
}

run_bb() { # builddir passvar machine args... -> prints "rc seconds"
	local bd=$1 pass=$2 m=$3; shift 3
	local start end rc=0
	start=$(date +%s.%N)
	as_user env -i HOME="$WORK" LANG=C.UTF-8 BUILDDIR="$bd" MACHINE="$m" "$pass=MACHINE" \
		PATH="$STUBS:$BBBIN:$OESCRIPTS:/usr/local/bin:/usr/bin:/bin" \
		bash -c 'cd "$BUILDDIR" && exec bitbake "$@"' bitbake "$@" >"$LOG" 2>&1 || rc=$?
	end=$(date +%s.%N)
	echo "$rc $(awk "BEGIN{printf \"%.1f\", $end - $start}")"
}

for prof in $PROFILES; do
	dir=$WORK/$prof board=""
	[ "$prof" = openxt ] || board=$prof
	as_user mkdir -p "$dir"
	standin_certs "$dir"
	: | as_user tee "$dir/pins" >/dev/null
	write_config "$dir" "$board" "$dir/pins"
	echo "=== $prof: setupoe (layers from $REPOS)"
	rc=0
	as_user env HOME="$WORK" "$WORK/bin/realbitbake" -config "$dir/xtbuild.toml" ${board:+-board "$board"} >"$dir/setupoe.out" 2>"$dir/setupoe.err" || rc=$?
	grep -E '^layer ' "$dir/setupoe.err" | sed 's/^/    /' || true
	# Offline, setupoe names each AUTOREV source it cannot resolve; pin
	# those to the placeholder and run setupoe again (with GIT_MIRRORS it
	# has pinned them itself).
	if [ "$rc" != 0 ] && [ -z "$GIT_MIRRORS" ]; then
		sed -nE 's/^(realbitbake: )?(setupoe: )?([^ ]+) \(.* branch [^)]*\): network use is off.*/\3/p' "$dir/setupoe.err" | sort -u | as_user tee "$dir/pins" >/dev/null
		if [ -s "$dir/pins" ]; then
			write_config "$dir" "$board" "$dir/pins"
			rc=0
			as_user env HOME="$WORK" "$WORK/bin/realbitbake" -config "$dir/xtbuild.toml" ${board:+-board "$board"} >"$dir/setupoe.out" 2>"$dir/setupoe.err" || rc=$?
		fi
	fi
	if [ "$rc" != 0 ]; then
		echo "--- $prof: setupoe failed:"; grep -v '^layer ' "$dir/setupoe.err" | head -20 | sed 's/^/    /'
		continue
	fi
	syntax=_ # override syntax of the release: BitBake 1.x reads the old one
	grep -q '__version__ = "1\.' "$(awk '$1=="layer" && $2=="bitbake" {print $5}' "$dir/setupoe.out")/lib/bb/__init__.py" || syntax=:
	bd=$(awk '$1 == "builddir" {print $2}' "$dir/setupoe.out")
	BBBIN=$(awk '$1=="layer" && $2=="bitbake" {print $5}' "$dir/setupoe.out")/bin
	OESCRIPTS=$(awk '$1=="layer" && $2=="openembedded-core" {print $5}' "$dir/setupoe.out")/scripts
	pass=BB_ENV_PASSTHROUGH_ADDITIONS
	[ "$syntax" = : ] || pass=BB_ENV_EXTRAWHITE
	echo "--- $prof: layers (name commit branch)"
	awk '$1 == "layer" {printf "  %-30s %s %s\n", $2, $3, $4}' "$dir/setupoe.out"
	if [ -n "$GIT_MIRRORS" ]; then
		srcrev_conf=$bd/conf/xtbuild-srcrev.conf
		echo "--- $prof: AUTOREV sources pinned by setupoe from $GIT_MIRRORS: $(grep -c '^SRCREV' "$srcrev_conf" 2>/dev/null || echo 0) ($srcrev_conf)"
	else
		echo "--- $prof: AUTOREV sources pinned to a placeholder in [srcrev]: $(wc -l <"$dir/pins") ($bd/conf/xtbuild-srcrev.conf: $(grep -c '^SRCREV' "$bd/conf/xtbuild-srcrev.conf" 2>/dev/null || echo 0) lines)"
	fi
	first_machine=$(awk '$1 == "step" {print $3; exit}' "$dir/setupoe.out")
	LOG=$dir/parse.log
	read -r rc secs < <(run_bb "$bd" "$pass" "$first_machine" -p)
	echo "--- $prof: MACHINE=$first_machine bitbake -p: exit $rc, ${secs}s; $(grep -E '^Parsing of' "$LOG" | tail -1)"
	grep -E '^(ERROR|WARNING: .*(dangling|No bb files))' "$LOG" | head -20 | sed 's/^/    /' || true
	[ "$GRAPH" = 1 ] || continue
	while read -r _ step machine targets; do
		LOG=$dir/graph-$step.log
		# shellcheck disable=SC2086 # targets is a word list
		read -r rc secs < <(run_bb "$bd" "$pass" "$machine" -g $targets)
		vg=""
		grep -qiE "vglass|disman|ivcdaemon" "$LOG" && [ "$rc" != 0 ] && vg=" (needs meta-vglass recipes: the stand-in has none)"
		echo "--- $prof: step $step: MACHINE=$machine bitbake -g $targets: exit $rc, ${secs}s$vg"
		grep -E '^ERROR' "$LOG" | head -8 | sed 's/^/    /' || true
	done < <(awk '$1 == "step"' "$dir/setupoe.out")
	if [ "$TOOLS" = 1 ]; then
		LOG=$dir/graph-tools.log
		read -r rc secs < <(run_bb "$bd" "$pass" "$first_machine" -g packagegroup-xtbuild-tools)
		echo "--- $prof: tools layer: MACHINE=$first_machine bitbake -g packagegroup-xtbuild-tools: exit $rc, ${secs}s"
		grep -E '^ERROR' "$LOG" | head -8 | sed 's/^/    /' || true
	fi
done
