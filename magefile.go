//go:build mage

// xtbuild drives Yocto/OpenEmbedded builds of OpenXT-style measured-launch
// platforms. Options are XTBUILD_* environment variables (README); exit
// codes: 0 ok, 1 failure, 2 bad config or usage, 130 interrupted.
package main

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/xtbuild/xtbuild/targets"
)

// Plan prints the resolved build (steps, machines, images, bitbake commands, layer revisions) without running anything.
func Plan(ctx context.Context) error { return targets.Plan(ctx) }

// Setupoe clones or updates the layers (in parallel), writes xtbuild.lock and generates conf/local.conf and conf/bblayers.conf. XTBUILD_LOCKED=1 refuses anything but the lock's commits; XTBUILD_FORCE=1 discards local layer changes.
func Setupoe(ctx context.Context) error { return targets.SetupOE(ctx) }

// Doctor checks the build host: /bin/sh, host tools, free disk, git identity, locale, Python, user; each failure says how to fix it.
func Doctor(ctx context.Context) error { return targets.Doctor(ctx) }

// Migrate converts an OpenXT .config, an openxt-manifest XML or a bordel template or build dir into xtbuild.toml, listing what it could not take over. XTBUILD_FORCE=1 overwrites an existing xtbuild.toml.
func Migrate(ctx context.Context, path string) error { return targets.Migrate(ctx, path) }

// Init writes the built-in OpenXT profile as a starting xtbuild.toml.
func Init(ctx context.Context) error { return targets.Init(ctx) }

// Build runs every configured step (build.steps or XTBUILD_STEPS), dependencies first; completed steps are skipped on a re-run (XTBUILD_FORCE=1 rebuilds).
func Build(ctx context.Context) error { return targets.Build(ctx) }

// Step runs the named step (any step the config defines) after its dependencies.
func Step(ctx context.Context, name string) error { return targets.Step(ctx, name) }

// Stubinitramfs builds the qemu stubdomain initramfs (MACHINE xenclient-stubdomain).
func Stubinitramfs(ctx context.Context) error { return targets.Step(ctx, "stubinitramfs") }

// Dom0 builds the dom0 root filesystem, after stubinitramfs. XTBUILD_COPY_ONLY=1 only copies its outputs.
func Dom0(ctx context.Context) error { return targets.Step(ctx, "dom0") }

// Uivm builds the UI VM image.
func Uivm(ctx context.Context) error { return targets.Step(ctx, "uivm") }

// Ndvm builds the network VM image.
func Ndvm(ctx context.Context) error { return targets.Step(ctx, "ndvm") }

// Syncvm builds the synchronizer VM image.
func Syncvm(ctx context.Context) error { return targets.Step(ctx, "syncvm") }

// Usbvm builds the USB VM image.
func Usbvm(ctx context.Context) error { return targets.Step(ctx, "usbvm") }

// Installer builds the host installer and control.tar.bz2 (MACHINE openxt-installer).
func Installer(ctx context.Context) error { return targets.Step(ctx, "installer") }

// License collects every image's licences CSV into raw/licences/ (after all images).
func License(ctx context.Context) error { return targets.Step(ctx, "license") }

// Recipes generates the layer that bakes the xt tools into images (recipes.dir, default build/meta-xtbuild-tools); setupoe does it too when recipes.enabled.
func Recipes(ctx context.Context) error { return targets.Recipes(ctx) }

// Report writes build-output/<NAME>/report/index.html (timeline, critical path, sstate reuse, regressions) from the kept buildstats; build runs it at the end. XTBUILD_AGAINST=DIR compares with another build.
func Report(ctx context.Context) error { return targets.Report(ctx) }

// Keys creates the OpenXT signing inputs in certs/: prod CA, dev CA and a dev signing cert (child of the dev CA), keys 0600, never overwriting. The passphrase env (PASSPHRASE) encrypts them when set.
func Keys(ctx context.Context) error { return targets.Keys(ctx) }

// Sign writes and signs repository/packages.main with the dev key; XTBUILD_RELEASE=1 re-signs it with the production key and re-assembles the ISO and update.
func Sign(ctx context.Context) error { return targets.Sign(ctx) }

// Verify checks the repository as a device does: exit 0 valid, 1 signature invalid, 2 metadata invalid; XTBUILD_DEV=1 also accepts the dev CA.
func Verify(ctx context.Context) error { return targets.Verify(ctx) }

// Ship signs the repository and assembles the installer ISO, netboot and update tarballs (after every image it needs).
func Ship(ctx context.Context) error { return targets.Step(ctx, "ship") }

// Poll runs the git poller: mirrors many repos, fetches them in parallel and feeds each moved ref to a post-receive hook and/or buildbot's change hook (config: TOML or twobit-git-poller INI).
func Poll(ctx context.Context, config string) error { return targets.Poll(ctx, config) }

// Buildbot holds the buildbot targets.
type Buildbot mg.Namespace

// Config writes the buildbot master.cfg ([buildbot]): checkout, compile, one ShellCommand per step, sign, upload, and the change hook the poller feeds.
func (Buildbot) Config(ctx context.Context) error { return targets.BuildbotConfig(ctx) }

// Mirror holds the source mirror targets.
type Mirror mg.Namespace

// Populate copies (hard-links) completed downloads from DL_DIR into the mirror with a sha256 index; incremental and safe to interrupt.
func (Mirror) Populate(ctx context.Context) error { return targets.MirrorPopulate(ctx) }

// Verify re-hashes every mirror file against the index; exit 1 on any missing or corrupt file.
func (Mirror) Verify(ctx context.Context) error { return targets.MirrorVerify(ctx) }

// Serve serves the mirror read-only over HTTP for other build hosts (XTBUILD_LISTEN, default 127.0.0.1:8000).
func (Mirror) Serve(ctx context.Context) error { return targets.MirrorServe(ctx) }

// Add verifies a hand-downloaded license-walled file (an Intel SINIT ACM) against its [[acm]] sha256 and files it into the mirror.
func (Mirror) Add(ctx context.Context, file string) error { return targets.MirrorAdd(ctx, file) }

// Board builds a board profile (its MACHINE, image, layers and tools; see plan and docs/reproducible.md) and writes its signed provenance.
func Board(ctx context.Context, name string) error { return targets.Board(ctx, name) }

// Rebuild recreates a build from its provenance.json alone (same layer commits, config and mirror files, XTBUILD_LOCKED semantics) and compares the result. XTBUILD_DIR, XTBUILD_CA, XTBUILD_UNSIGNED.
func Rebuild(ctx context.Context, provenance string) error { return targets.Rebuild(ctx, provenance) }

// Repro holds the reproducibility targets.
type Repro mg.Namespace

// Compare compares two builds (manifests, provenance files or build-output trees) down to tar, cpio and ISO members; exit 0 only when identical. XTBUILD_JSON=1 for JSON.
func (Repro) Compare(ctx context.Context, a, b string) error { return targets.ReproCompare(ctx, a, b) }

// Upload publishes build-output/<NAME> to upload.destination (file:// or sftp:// with known_hosts checked): atomic, verified, resumable, explicit permissions, latest pointer last.
func Upload(ctx context.Context) error { return targets.Upload(ctx) }

// Stage holds the targets that carry step outputs between the workers of a fanned-out build ([fanout] stage).
type Stage mg.Namespace

// Put publishes a finished step's outputs (its artifacts, buildstats, task graph and the deploy files later steps read) to <stage>/<NAME>/steps/<step>/: atomic, verified, idempotent; XTBUILD_WORKER names the worker.
func (Stage) Put(ctx context.Context, step string) error { return targets.StagePut(ctx, step) }

// Get restores every step published so far into this build dir, verified, and marks them done, so the next step builds only itself.
func (Stage) Get(ctx context.Context) error { return targets.StageGet(ctx) }

// Getfor restores only the published steps the named step depends on (their outputs and deploy files), verified, and marks them done.
func (Stage) Getfor(ctx context.Context, step string) error { return targets.StageGet(ctx, step) }

// Collect restores every published step of this build (all from this build's layer lock), verified, merged into manifest.json and marked done; then license, ship, sign, upload and report run as on one host.
func (Stage) Collect(ctx context.Context) error { return targets.StageCollect(ctx) }

// Clean removes this build's tree (<stage>/<NAME>) from the stage once the final builder is done with it, after waiting for any worker still putting or restoring a step; the generated buildbot master runs it last.
func (Stage) Clean(ctx context.Context) error { return targets.StageClean(ctx) }

// Hashserv runs BitBake's own bitbake-hashserv (hash equivalence server) from the cloned bitbake with [hashserv] (bind, database, read_only, upstream) until Ctrl-C; workers point [mirrors] hashserve at it.
func Hashserv(ctx context.Context) error { return targets.Hashserv(ctx) }

// Prserv runs BitBake's own bitbake-prserv (PR server daemon) from the cloned bitbake with [prserv] (bind, database, read_only) until Ctrl-C, then stops it; workers point [mirrors] prserv at it.
func Prserv(ctx context.Context) error { return targets.Prserv(ctx) }

// Sstate holds the shared-state targets.
type Sstate mg.Namespace

// Publish copies the sstate objects of this build dir's SSTATE_DIR that mirrors.sstate_publish lacks into it: temp name, verified (size, sha256), then linked into place; idempotent, safe with several workers at once.
func (Sstate) Publish(ctx context.Context) error { return targets.SstatePublish(ctx) }
