#!/bin/bash
# Real-BitBake check of the shared services (docs/real-bitbake.md#shared-services).
#
#   bench/real-services.sh REPOS WORK
#
# With the built-in OpenXT profile set up from local clones (REPOS: one
# repository per layer name, as for bench/real-bitbake.sh; GIT_MIRRORS: bare
# mirrors <repo>.git setupoe pins the AUTOREV recipes from), as the non-root
# user $RUN_AS (default bb), from WORK/openxt:
#   xtbuild setupoe                     (config: [mirrors] hashserve/prserv
#                                        and [hashserv]/[prserv] on loopback)
#   xtbuild hashserv &  xtbuild prserv &  (BitBake's own servers, cloned bitbake)
#   bitbake -p                          (BB_HASHSERVE/PRSERV_HOST point at them)
#   MACHINE=$MACHINE bitbake -g $TARGET (the task graph asks hashserv for unihashes)
#   bitbake-hashclient stats, then SIGINT to both targets
# and prints each result. The stand-ins (meta-vglass, ghc/ghc-pkg, CA
# certificates) are bench/real-standins.sh's, as in bench/real-bitbake.sh.
#
# CORE=scarthgap (or kirkstone, dunfell) runs the same against plain
# openembedded-core of that series and its bitbake instead of the OpenXT
# profile (WORK/core-<series>; MACHINE qemux86-64, TARGET core-image-minimal).
set -euo pipefail

[ $# -eq 2 ] || { sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 2; }
REPOS=$(realpath "$1"); WORK=$(realpath -m "$2")
RUN_AS=${RUN_AS:-bb}
GIT_MIRRORS=${GIT_MIRRORS:-/work/oe/gitmirrors}
HS_PORT=${HS_PORT:-18686} PR_PORT=${PR_PORT:-18585}
CORE=${CORE:-}
declare -A BB_BRANCH=([dunfell]=1.46 [kirkstone]=2.0 [scarthgap]=2.8)
if [ -n "$CORE" ]; then
	MACHINE=${MACHINE:-qemux86-64} TARGET=${TARGET:-core-image-minimal} DIR=$WORK/core-$CORE
else
	MACHINE=${MACHINE:-xenclient-ndvm} TARGET=${TARGET:-xenclient-ndvm-image} DIR=$WORK/openxt
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)

. "$SRC/bench/real-standins.sh"
say() { echo "--- $(date -u +%H:%M:%S) $*"; }

mkdir -p "$WORK/bin"
(cd "$SRC" && go run mage.go -compile "$WORK/bin/xtbuild")
chown -R "$RUN_AS" "$WORK"

VG=$WORK/meta-vglass
standin_vglass "$VG"
standin_hosttools "$WORK/stubs"
standin_certs "$DIR"
services_toml() {
	printf '[hashserv]\nbind = "127.0.0.1:%s"\ndatabase = "services/hashserv.db"\n' "$HS_PORT"
	printf '[prserv]\nbind = "127.0.0.1:%s"\ndatabase = "services/prserv.sqlite3"\n' "$PR_PORT"
}
if [ -n "$CORE" ]; then cat >"$DIR/xtbuild.toml" <<EOF
# Written by bench/real-services.sh: plain openembedded-core $CORE, the shared services on loopback.
[build]
release = "$CORE"
oe_branch = "$CORE"
bitbake_branch = "${BB_BRANCH[$CORE]}"
distro = "nodistro"
machine = "$MACHINE"
steps = ["setupoe"]
[mirrors]
offline = true
hashserve = "127.0.0.1:$HS_PORT"
prserv = "127.0.0.1:$PR_PORT"
$(services_toml)
[recipes]
enabled = false
[[layer]]
name = "bitbake"
url = "file://$REPOS/bitbake"
kind = "bitbake"
branch = "${BB_BRANCH[$CORE]}"
sublayers = []
[[layer]]
name = "openembedded-core"
url = "file://$REPOS/openembedded-core"
branch = "$CORE"
sublayers = ["meta"]
EOF
else {
	echo "# Written by bench/real-services.sh: the built-in profile, local layers, the shared services on loopback."
	echo "[mirrors]"
	echo "offline = true"
	echo "git_dir = \"$GIT_MIRRORS\""
	echo "hashserve = \"127.0.0.1:$HS_PORT\""
	echo "prserv = \"127.0.0.1:$PR_PORT\""
	echo "[mirrors.layers]"
	for r in "$REPOS"/*/; do echo "$(basename "$r") = \"file://${REPOS}/$(basename "$r")\""; done
	echo "meta-vglass = \"file://$VG\""
	services_toml
} >"$DIR/xtbuild.toml"
fi
chown -R "$RUN_AS" "$DIR"

xt() { as_user env -C "$DIR" HOME="$WORK" XTBUILD_PLAIN=1 "$WORK/bin/xtbuild" "$@"; }
say "setupoe"
xt setupoe >"$DIR/setupoe.log" 2>&1 || { tail -20 "$DIR/setupoe.log"; exit 1; }
grep -E '^(wrote|layer bitbake)' "$DIR/setupoe.log" | sed 's/^/    /' || true
BD=$DIR/build
BB=$(ls -d "$BD"/repos/bitbake 2>/dev/null || ls -d "$BD"/*/bitbake)
say "bitbake checkout $BB: $(as_user git -C "$BB" log -1 --format='%h %s') ($(grep __version__ "$BB/lib/bb/__init__.py"))"
grep -E 'BB_HASHSERVE|BB_SIGNATURE_HANDLER|PRSERV_HOST' "$BD/conf/local.conf" | sed 's/^/    local.conf: /'

for s in hashserv prserv; do
	as_user bash -c 'cd "$1" && echo $$ >"$1/$2.pid" && exec env HOME="$3" XTBUILD_PLAIN=1 "$4" "$2"' _ "$DIR" "$s" "$WORK" "$WORK/bin/xtbuild" >"$DIR/$s.log" 2>&1 &
done
for s in hashserv prserv; do
	for _ in $(seq 240); do grep -q 'listening on' "$DIR/$s.log" && break; sleep 0.5; done
	say "$s: $(grep -m1 'listening on' "$DIR/$s.log" || { echo "did not start:"; tail -5 "$DIR/$s.log"; })"
done
say "processes: $(ps -o pid,user,args -u "$RUN_AS" | grep -E 'bitbake-(hashserv|prserv)' | grep -v grep | sed 's/  */ /g' | tr '\n' ';')"

PASS=BB_ENV_PASSTHROUGH_ADDITIONS # BitBake 2.0 renamed BB_ENV_EXTRAWHITE
grep -q '__version__ = "1\.' "$BB/lib/bb/__init__.py" && PASS=BB_ENV_EXTRAWHITE
run_bb() { # log args... -> "rc seconds"
	local log=$1; shift
	local start rc=0
	start=$(date +%s.%N)
	as_user env -i HOME="$WORK" LANG=C.UTF-8 BUILDDIR="$BD" MACHINE="$MACHINE" "$PASS=MACHINE" \
		PATH="$WORK/stubs:$BB/bin:$BD/repos/openembedded-core/scripts:/usr/local/bin:/usr/bin:/bin" \
		bash -c 'cd "$BUILDDIR" && exec bitbake "$@"' bitbake "$@" >"$log" 2>&1 || rc=$?
	echo "$rc $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}")"
}
read -r rc secs < <(run_bb "$DIR/parse.log" -p)
say "MACHINE=$MACHINE bitbake -p: exit $rc, ${secs}s; $(grep -E '^Parsing of' "$DIR/parse.log" | tail -1)"
grep -E '^ERROR' "$DIR/parse.log" | head -10 | sed 's/^/    /' || true
say "bitbake-hashclient stats after -p: $(as_user "$BB/bin/bitbake-hashclient" --address "127.0.0.1:$HS_PORT" stats 2>&1 | tr -s ' \n' ' ')"
read -r rc secs < <(run_bb "$DIR/graph.log" -g "$TARGET")
say "MACHINE=$MACHINE bitbake -g $TARGET: exit $rc, ${secs}s"
grep -E '^ERROR' "$DIR/graph.log" | head -10 | sed 's/^/    /' || true
say "bitbake-hashclient stats after -g: $(as_user "$BB/bin/bitbake-hashclient" --address "127.0.0.1:$HS_PORT" stats 2>&1 | tr -s ' \n' ' ')"

for s in hashserv prserv; do
	pid=$(cat "$DIR/$s.pid")
	kill -INT "$pid"
	for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$pid" 2>/dev/null; then say "$s (pid $pid) still running 60 s after SIGINT"; fi
	say "$s after SIGINT: $(grep -E 'stopped|level=(ERROR|WARN)' "$DIR/$s.log" | tail -3 | tr '\n' ' ')"
done
wait
say "left running: $(ps -o pid,args -u "$RUN_AS" | grep -E 'bitbake-(hashserv|prserv)' | grep -v grep || echo none); PR pid file: $(ls /tmp/PRServer_127.0.0.1_"$PR_PORT".pid 2>/dev/null || echo none)"
