# Stand-ins shared by bench/real-bitbake.sh and bench/real-services.sh
# (sourced, not run). Each is named STAND-IN where BitBake or a user would
# see it, and docs/real-bitbake.md lists them with their limits. Callers set
# RUN_AS (the non-root user BitBake runs as).

# as_user CMD...: run CMD as $RUN_AS (directly when that is who we are).
as_user() { if [ "$(id -un)" = "$RUN_AS" ]; then "$@"; else runuser -u "$RUN_AS" -- "$@"; fi; }

# standin_vglass DIR: DIR becomes a git repository (branch master) holding
# the meta-vglass stand-in: gitlab.com/vglass/meta-vglass cannot be fetched
# here. It has the collection name xenclient-oe's LAYERDEPENDS asks for,
# no recipes, an empty qemu-dm-vglass.inc for xenclient-oe's qemu-dm.inc to
# require, and BBMASKs for xenclient-oe's appends to meta-vglass recipes,
# which would otherwise dangle (an error). Targets that need vglass's
# recipes (dom0, uivm) cannot resolve with it.
standin_vglass() {
	local vg=$1
	as_user mkdir -p "$vg/conf" "$vg/recipes-extended/qemu-dm"
	as_user tee "$vg/conf/layer.conf" >/dev/null <<'EOF'
# STAND-IN for gitlab.com/vglass/meta-vglass (not fetchable here): the
# collection name xenclient-oe's LAYERDEPENDS asks for, no recipes.
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes-*/*/*.bb ${LAYERDIR}/recipes-*/*/*.bbappend"
BBFILE_COLLECTIONS += "vglass"
BBFILE_PATTERN_vglass = "^${LAYERDIR}/"
BBFILE_PRIORITY_vglass = "9"
LAYERSERIES_COMPAT_vglass = "dunfell"
# xenclient-oe appends to these meta-vglass recipes; without them the
# appends dangle (an error), so the stand-in masks them.
BBMASK += "/xenclient-oe/recipes-kernel/ivc/kernel-module-ivc_git.bbappend"
BBMASK += "/xenclient-oe/recipes-kernel/openxtfb/kernel-module-openxtfb_git.bbappend"
BBMASK += "/xenclient-oe/recipes-kernel/openxtfb/kernel-module-pv-display-helper_git.bbappend"
EOF
	as_user tee "$vg/recipes-extended/qemu-dm/qemu-dm-vglass.inc" >/dev/null <<'EOF'
# STAND-IN: meta-vglass's qemu-dm additions are not available; this empty
# file only lets xenclient-oe's qemu-dm.inc `require` it.
EOF
	[ -d "$vg/.git" ] || as_user git -C "$vg" init -q -b master
	as_user git -C "$vg" add -A
	as_user git -C "$vg" diff --cached --quiet ||
		as_user git -C "$vg" -c user.name=xtbuild-bench -c user.email=xtbuild-bench@localhost commit -qm "meta-vglass stand-in"
}

# standin_hosttools DIR: scripts in DIR for the host tools the OpenXT
# layers require (HOSTTOOLS) and this host lacks: ghc and ghc-pkg, which
# exit 1. Parsing needs them only on PATH; a build needs GHC.
standin_hosttools() {
	local t
	as_user mkdir -p "$1"
	for t in ghc ghc-pkg; do
		if ! command -v "$t" >/dev/null; then
			printf '#!/bin/sh\necho "%s: STAND-IN for a parse-only check (install GHC to build)" >&2\nexit 1\n' "$t" | as_user tee "$1/$t" >/dev/null
			as_user chmod +x "$1/$t"
		fi
	done
}

# standin_certs DIR: throw-away self-signed CA certificates in DIR/certs
# (prod-cacert.pem, dev-cacert.pem and their keys), which setupoe requires
# because images bake them in. Existing ones are kept.
standin_certs() {
	local c
	as_user mkdir -p "$1/certs"
	for c in prod-cacert dev-cacert; do
		[ -f "$1/certs/$c.pem" ] || as_user openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=xtbuild-bench STAND-IN $c" \
			-keyout "$1/certs/${c%-cacert}-cakey.pem" -out "$1/certs/$c.pem" 2>/dev/null
	done
}
