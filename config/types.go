package config

// Config is the whole typed configuration. The `doc` tags are the source of
// docs/config.md (see Reference); keep them one or two sentences.
type Config struct {
	Build     Build             `toml:"build" doc:"What is built and how it is named (OpenXT's BRANCH, ID, NAME_SITE, BUILD_TYPE, STEPS)."`
	Version   Version           `toml:"version" doc:"Product version numbers (OpenXT's version file)."`
	Paths     Paths             `toml:"paths" doc:"Where things live. Relative paths are relative to the config file's directory and may not escape it."`
	Mirrors   Mirrors           `toml:"mirrors" doc:"Source, git and sstate mirrors, hash equivalence and PR servers, offline builds."`
	Signing   Signing           `toml:"signing" doc:"Repository signing certificates and keys (OpenXT's REPO_*_CACERT, REPO_DEV_SIGNING_*)."`
	Upload    Upload            `toml:"upload" doc:"Where finished builds and the shared download cache go."`
	Fanout    Fanout            `toml:"fanout" doc:"A build fanned out over several buildbot workers: where step builders publish their outputs for the final builder (stage:put, stage:get, stage:collect)."`
	LocalConf LocalConf         `toml:"local_conf" doc:"Extra settings for the generated conf/local.conf."`
	Host      Host              `toml:"host" doc:"Host requirements checked by doctor."`
	Layers    []Layer           `toml:"layer" doc:"Layer repositories, in BBLAYERS order. A [[layer]] list in your file replaces the profile's list."`
	Steps     map[string]Step   `toml:"steps" doc:"Step definitions, keyed by step name. Keys you set are merged into the profile's step of that name; a new name adds a step."`
	Boards    map[string]Board  `toml:"boards" doc:"Target board profiles: a MACHINE, an image and the layers and tools it needs."`
	Buildbot  Buildbot          `toml:"buildbot" doc:"The buildbot master configuration buildbot:config generates: one builder running the steps, or a fan-out over several workers (docs/scale-out.md)."`
	HashServ  HashServ          `toml:"hashserv" doc:"The hashserv target: BitBake's own bitbake-hashserv (hash equivalence server) from the cloned bitbake, shared by workers through mirrors.hashserve."`
	PRServ    PRServ            `toml:"prserv" doc:"The prserv target: BitBake's own bitbake-prserv (PR server) from the cloned bitbake, shared by workers through mirrors.prserv."`
	ACMs      []ACM             `toml:"acm" doc:"License-walled files (Intel SINIT ACMs) that must be dropped into the mirror by hand."`
	Recipes   Recipes           `toml:"recipes" doc:"The generated layer that bakes xtbuild's tools (the xt binary) into images."`
	Srcrev    map[string]string `toml:"srcrev" doc:"Commits for recipes that follow a branch (SRCREV = \"${AUTOREV}\"), keyed by recipe (or recipe:name for a named SRC_URI entry); they win over what setupoe resolves and pin recipes it does not find."`
	Repo      []RepoImage       `toml:"repository" doc:"The signed repository's images, in XC-PACKAGES order (bordel's images-manifest). A [[repository]] list in your file replaces the profile's list."`

	// Source says where this configuration came from; not part of the TOML.
	Source Source `toml:"-"`
	// LayerPool is every [[layer]], board_only ones included; Layers holds
	// the main build's after Load.
	LayerPool []Layer `toml:"-"`
}

// Source records the origin of a loaded configuration.
type Source struct {
	File string // config file path as given, "" for the built-in profile only
	Dir  string // absolute directory relative paths are resolved against
	Hash string // sha256 of the resolved configuration (hex)
}

// Build holds the build identity and the step list.
type Build struct {
	NameSite       string   `bb:"data" toml:"name_site" doc:"First part of the build NAME (NAME_SITE)."`
	BuildType      string   `bb:"data" toml:"build_type" doc:"Second part of the build NAME, e.g. dev (BUILD_TYPE). Does not change local.conf."`
	ID             string   `bb:"data" toml:"id" doc:"Build ID, digits only (ID, -i). Empty gives NAME <site>-<type>--<branch> as OpenXT did."`
	Branch         string   `bb:"data" toml:"branch" doc:"OpenXT branch: default branch of layers marked openxt, OPENXT_BRANCH in local.conf and last part of NAME (BRANCH)."`
	Name           string   `bb:"data" toml:"name" doc:"Explicit build NAME, overriding <name_site>-<build_type>-<id>-<branch> (-N)."`
	OEBranch       string   `toml:"oe_branch" doc:"Default branch for upstream OE layers marked oe (OE_BRANCH)."`
	BitbakeBranch  string   `toml:"bitbake_branch" doc:"Default branch of the bitbake repository (BB_BRANCH)."`
	Release        string   `bb:"data" toml:"release" doc:"Yocto release series (e.g. scarthgap): LAYERSERIES_COMPAT of generated layers and the override syntax used."`
	Distro         string   `bb:"data" toml:"distro" doc:"DISTRO written to local.conf."`
	Machine        string   `bb:"data" toml:"machine" doc:"MACHINE ??= default in local.conf, for a plain bitbake run in the build dir; steps set their own MACHINE."`
	Steps          []string `toml:"steps" doc:"Steps run by build, in order (STEPS, -s)."`
	Threads        int      `range:"0,4096" toml:"threads" doc:"BB_NUMBER_THREADS; 0 leaves BitBake's default (number of CPUs) (OE_BB_THREADS)."`
	ParallelMake   int      `range:"0,4096" toml:"parallel_make" doc:"make -j value for PARALLEL_MAKE; 0 leaves BitBake's default."`
	RmWork         bool     `toml:"rm_work" doc:"Inherit rm_work to delete work dirs after each recipe (the opposite of INHIBIT_RMWORK)."`
	SourcePackages bool     `toml:"source_packages" doc:"Collect source packages and source info (-S)."`
	FreezeURIs     bool     `toml:"freeze_uris" doc:"Inherit OpenXT's freezer class and run -c freezeall before each image (FREEZE_URIS)."`
	CollectLogs    bool     `toml:"collect_logs" doc:"Keep task logs and sigdata with the build output (the opposite of NEVER_GET_LOG)."`
	PackageFeedURL string   `bb:"data" toml:"package_feed_url" doc:"Base URL of the on-device opkg feed; XENCLIENT_PACKAGE_FEED_URI becomes <url>/<branch>/<name>/packages/ipk (NETBOOT_HTTP_URL)."`
	ServerTimeout  int      `range:"0,86400" toml:"server_timeout" doc:"Seconds the memory-resident bitbake server stays up between steps (BB_SERVER_TIMEOUT); 0 runs one bitbake process per step."`
}

// Version mirrors OpenXT's version file.
type Version struct {
	Release             string   `bb:"data" toml:"release" doc:"Release identifier (RELEASE), e.g. 9.0.0."`
	Version             string   `bb:"data" toml:"version" doc:"Marketing version (VERSION); the ISO label is OpenXT-<version>."`
	ToolsMajor          int      `range:"0,65535" toml:"tools_major" doc:"Guest tools major version (XC_TOOLS_MAJOR)."`
	ToolsMinor          int      `range:"0,65535" toml:"tools_minor" doc:"Guest tools minor version (XC_TOOLS_MINOR)."`
	ToolsMicro          int      `range:"0,65535" toml:"tools_micro" doc:"Guest tools micro version (XC_TOOLS_MICRO)."`
	ToolsBuild          int      `range:"-1,65535" toml:"tools_build" doc:"Guest tools build number; -1 derives it as ID mod 65536 (XC_TOOLS_BUILD)."`
	UpgradeableReleases []string `toml:"upgradeable_releases" doc:"Releases this one may upgrade (UPGRADEABLE_RELEASES), the upgrade-from: line."`
}

// Paths are resolved against the config file's directory.
type Paths struct {
	BuildDir  string `bb:"data" toml:"build_dir" doc:"BitBake TOPDIR: conf/, layers and tmp live here."`
	LayersDir string `bb:"data" toml:"layers_dir" doc:"Where layer repositories are cloned, relative to build_dir."`
	OutputDir string `toml:"output_dir" doc:"Where finished builds are assembled (build-output/<NAME>)."`
	Downloads string `bb:"data" toml:"downloads" doc:"DL_DIR, the download cache (OE_BUILD_CACHE_DL). Often an absolute path on shared storage."`
	Sstate    string `bb:"data" toml:"sstate" doc:"SSTATE_DIR; {branch} is replaced by the build branch as OpenXT did."`
	Ccache    string `bb:"data" toml:"ccache" doc:"CCACHE_DIR exported to BitBake."`
	Mirror    string `bb:"data" toml:"mirror" doc:"Local source mirror directory (mirror:populate, mirror:serve, ACM drop-ins)."`
	DeployDir string `bb:"data" toml:"deploy_dir" doc:"DEPLOY_DIR; empty keeps BitBake's ${TMPDIR}/deploy. bordel puts it beside TMPDIR (${TOPDIR}/deploy) so it outlives tmp."`
	LockFile  string `toml:"lock_file" doc:"Layer lock file recording exact commits."`
	CertsDir  string `bb:"data" toml:"certs_dir" doc:"Directory where keys creates certificates and keys."`
	GitCache  string `toml:"git_cache" doc:"Host-wide store of bare layer mirrors that build-dir checkouts borrow objects from (git alternates), so a second build dir costs only a checkout. Point it at the poller's basedir to borrow the poller's mirrors. Empty: each checkout holds its own objects."`
}

// Mirrors configures where sources and sstate come from.
type Mirrors struct {
	Tarball           string            `bb:"data" toml:"tarball" doc:"Tarball mirror tried before upstream for every ftp/http/https/git source: PREMIRRORS (OE_TARBALL_MIRROR)."`
	OpenXT            string            `bb:"data" toml:"openxt" doc:"OPENXT_MIRROR: where non-fetchable sources (ACM zips, old tarballs) live."`
	OpenXTGit         string            `bb:"data" toml:"openxt_git" doc:"OPENXT_GIT_MIRROR, host/path without scheme; also {openxt_git} in layer URLs."`
	OpenXTGitProtocol string            `bb:"data" toml:"openxt_git_protocol" doc:"OPENXT_GIT_PROTOCOL (git, https, file); also {openxt_git_protocol} in layer URLs."`
	OEGit             string            `bb:"data" toml:"oe_git" doc:"Mirror for upstream OE git repositories; {oe_git} in layer URLs (OE_GIT_MIRROR)."`
	Sources           []string          `bb:"data" toml:"sources" doc:"Extra source mirrors written to MIRRORS (tried after upstream)."`
	OwnMirror         string            `bb:"data" toml:"own_mirror" doc:"SOURCE_MIRROR_URL with INHERIT += own-mirrors: a mirror tried first for every source."`
	Offline           bool              `toml:"offline" doc:"BB_NO_NETWORK: fetch only from DL_DIR and the premirrors (air-gapped hosts)."`
	GenerateTarballs  bool              `toml:"generate_tarballs" doc:"BB_GENERATE_MIRROR_TARBALLS, so git sources can be mirrored as tarballs."`
	Sstate            []string          `bb:"data" toml:"sstate" doc:"SSTATE_MIRRORS URLs (file:// or http(s)://), tried in order; PATH is appended."`
	HashServe         string            `bb:"data" toml:"hashserve" doc:"BB_HASHSERVE: hash equivalence server (host:port, unix://path or auto)."`
	HashServeUpstream string            `bb:"data" toml:"hashserve_upstream" doc:"BB_HASHSERVE_UPSTREAM for a local auto server."`
	PRServ            string            `bb:"data" toml:"prserv" doc:"PRSERV_HOST: PR server (host:port or localhost:0)."`
	SstatePublish     string            `toml:"sstate_publish" doc:"Absolute directory sstate:publish copies the build dir's new sstate objects into (shared storage); list file:///same/dir in sstate so every worker restores from it."`
	GitDir            string            `bb:"data" toml:"git_dir" doc:"Directory of bare git mirrors named <repository>.git (as the poller keeps them): setupoe resolves AUTOREV recipes' branches there and writes PREMIRRORS to them."`
	Layers            map[string]string `toml:"layers" doc:"Clone URL per layer name, used instead of the [[layer]] url (and of a board's own layer of that name): point the profile at local clones or a mirror without restating its layers."`
}

// Fanout configures a build whose steps run on several workers.
type Fanout struct {
	Stage string `toml:"stage" doc:"Absolute path of the shared stage tree (NFS or another filesystem every worker mounts): stage:put publishes a step's outputs to <stage>/<NAME>/steps/<step>/, stage:get and stage:collect take them from there."`
}

// Signing points at the four OpenXT inputs plus the release signer.
type Signing struct {
	ProdCACert         string `bb:"data" toml:"prod_ca_cert" doc:"Production CA certificate baked into images (REPO_PROD_CACERT)."`
	DevCACert          string `bb:"data" toml:"dev_ca_cert" doc:"Development CA certificate baked into images (REPO_DEV_CACERT)."`
	DevSigningCert     string `bb:"data" toml:"dev_signing_cert" doc:"Development signing certificate, a child of the dev CA (REPO_DEV_SIGNING_CERT)."`
	DevSigningKey      string `bb:"data" toml:"dev_signing_key" doc:"Private key of the dev signing certificate (REPO_DEV_SIGNING_KEY)."`
	ReleaseSigningCert string `toml:"release_signing_cert" doc:"Production signing certificate used by sign with XTBUILD_RELEASE=1."`
	ReleaseSigningKey  string `toml:"release_signing_key" doc:"Private key of the production signing certificate."`
	PassphraseEnv      string `toml:"passphrase_env" doc:"Environment variable holding the passphrase of encrypted keys (OpenXT read PASSPHRASE)."`
	KeyType            string `toml:"key_type" doc:"Key type created by keys: rsa2048, rsa4096 or ecdsa-p256."`
	ValidDays          int    `range:"1,36500" toml:"valid_days" doc:"Validity of certificates created by keys, in days."`
}

// Upload says where builds are published.
type Upload struct {
	Destination string `toml:"destination" doc:"Where upload publishes builds: file:///path or sftp://user@host[:port]/path (BUILD_RSYNC_DESTINATION)."`
	SyncCache   string `toml:"sync_cache" doc:"Shared download cache to pre-seed DL_DIR from (SYNC_CACHE_OE)."`
	KnownHosts  string `toml:"known_hosts" doc:"known_hosts file used to check SFTP host keys; empty uses ~/.ssh/known_hosts."`
	Identity    string `toml:"identity" doc:"SSH private key for SFTP uploads; empty uses ~/.ssh/id_ed25519 or id_rsa."`
	DirMode     string `toml:"dir_mode" doc:"Octal mode of uploaded directories, independent of umask."`
	FileMode    string `toml:"file_mode" doc:"Octal mode of uploaded files, independent of umask."`
	Transport   string `toml:"transport" doc:"auto or sftp: auto sends the new files of an SFTP upload as one tar stream over an SSH exec channel, hashed and flushed by the server as they land, when the account may run commands and the server has GNU tar (else file by file over SFTP); sftp always writes file by file over SFTP."`
}

// LocalConf holds extra local.conf content.
type LocalConf struct {
	Extra []string `toml:"extra" doc:"Lines appended verbatim to local.conf, each checked as BitBake syntax. The one place for raw BitBake: expansions and inline Python are allowed here and nowhere else."`
}

// Host lists doctor's host requirements.
type Host struct {
	MinFreeGiB int      `range:"0,1048576" toml:"min_free_gib" doc:"Free disk space required in the build dir, in GiB (an OpenXT build took about 150)."`
	Tools      []string `toml:"tools" doc:"Commands that must be on PATH."`
}

// Layer is one git repository holding one or more BitBake layers.
type Layer struct {
	Name        string   `toml:"name" doc:"Short name; also the checkout directory under layers_dir unless path is set."`
	URL         string   `toml:"url" doc:"Clone URL: https://, git://, ssh, file:// or a local path; {openxt_git}, {openxt_git_protocol} and {oe_git} are expanded."`
	Branch      string   `toml:"branch" doc:"Branch to follow. Empty uses the default for its kind (build.branch, oe_branch, bitbake_branch)."`
	Tag         string   `toml:"tag" doc:"Tag to check out instead of a branch."`
	Commit      string   `toml:"commit" doc:"Pinned commit (full SHA-1); wins over branch and tag, which then only say where it is fetched from."`
	Kind        string   `toml:"kind" doc:"openxt, oe, bitbake or other: selects the default branch."`
	Path        string   `bb:"data" toml:"path" doc:"Checkout directory relative to layers_dir (default: name)."`
	Sublayers   []string `bb:"data" toml:"sublayers" doc:"Layer directories inside the repository added to BBLAYERS (\".\" for the root). Empty adds none (bitbake itself)."`
	BoardOnly   bool     `toml:"board_only" doc:"Only for board builds that name this layer; left out of the main build."`
	FullHistory bool     `toml:"full_history" doc:"Clone the whole history instead of a shallow fetch of the one commit the build needs (for developing in the layer); XTBUILD_FULL_HISTORY=1 does it for every layer."`
}

// Step is one build step.
type Step struct {
	Kind      string     `toml:"kind" doc:"bitbake (default), setupoe, license, ship, sign, upload or copy."`
	Machine   string     `bb:"data" toml:"machine" doc:"MACHINE for the bitbake invocation."`
	Images    []string   `bb:"data" toml:"images" doc:"BitBake targets (image recipes) built by the step."`
	Task      string     `toml:"task" doc:"Task to run instead of the default (bitbake -c TASK)."`
	Depends   []string   `toml:"depends" doc:"Steps that must complete first (the ordering BitBake cannot express across MACHINEs)."`
	Artifacts []Artifact `toml:"artifacts" doc:"Deploy outputs copied into build-output/<NAME>/raw/."`
	Doc       string     `toml:"doc" doc:"One-line description shown by plan and mage -l."`
}

// Artifact maps deploy files into the output tree.
type Artifact struct {
	From     string `toml:"from" doc:"Glob relative to the deploy dir, e.g. images/{machine}/xenclient-dom0-image-{machine}.ext3.gz."`
	To       string `toml:"to" doc:"Path under raw/; a trailing / keeps the file name."`
	Optional bool   `toml:"optional" doc:"Do not fail when nothing matches."`
}

// Board is a target board profile.
type Board struct {
	Machine string   `bb:"data" toml:"machine" doc:"MACHINE of the board."`
	Image   string   `bb:"data" toml:"image" doc:"Image recipe built for the board."`
	Layers  []string `toml:"layers" doc:"Names of [[layer]] entries the board needs in BBLAYERS beyond the common ones."`
	Tools   []string `toml:"tools" doc:"xtbuild tools carried by the image: ds1077l, tpm, txt, serial."`
	Doc     string   `toml:"doc" doc:"One-line description."`
	// A board on another Yocto release than the main build brings its own
	// bitbake and core layers (see config/boards.go).
	Release       string     `toml:"release" doc:"Yocto series of the board's layers; empty means build.release."`
	OEBranch      string     `toml:"oe_branch" doc:"Default branch of the board's oe layers; empty means build.oe_branch."`
	BitbakeBranch string     `toml:"bitbake_branch" doc:"Default branch of the board's bitbake layer; empty means build.bitbake_branch."`
	Distro        string     `bb:"data" toml:"distro" doc:"DISTRO of the board build; empty means build.distro, or nodistro for a board with its own bitbake."`
	Repos         []Layer    `toml:"layer" doc:"The board's own layer repositories ([[boards.<name>.layer]], same keys as [[layer]]). One of kind bitbake makes the board standalone: it then uses none of the main build's layers."`
	Artifacts     []Artifact `toml:"artifacts" doc:"Deploy outputs beyond the image files (images/{machine}/<image>-{machine}.*), e.g. kernel, tboot, ACMs."`
	ACMs          []ACM      `toml:"acm" doc:"License-walled files the board's image needs, added to [[acm]] for board builds."`
	LocalConf     []string   `toml:"local_conf" doc:"Lines added to local.conf for board builds, each checked as BitBake syntax; raw BitBake like [local_conf] extra."`
}

// RepoImage is one line of bordel's images-manifest: an image a bitbake
// step deploys, staged into raw/ and signed into the repository.
type RepoImage struct {
	Step        string `toml:"step" doc:"The bitbake step that deploys the image; its MACHINE is the manifest's first column."`
	ID          string `toml:"id" doc:"Image id in XC-PACKAGES (dom0, uivm, control, or file for a plain file)."`
	Source      string `toml:"source" doc:"Source label: the deploy file is images/<machine>/<source>-<machine>.<type>, or <source>.<type> for control."`
	Type        string `toml:"type" doc:"Image type, the deploy file's extension (ext3.gz, ext3.vhd.gz, tar.bz2); it also gives the XC-PACKAGES format."`
	Destination string `toml:"destination" doc:"Destination label: the file in the repository is <destination>.<type> (for id file, <destination>.<format>)."`
	Mount       string `toml:"mount" doc:"Mount point of the image on the device (for id file, the directory the file goes to)."`
}

// ACM is a license-walled file that a person must download by hand.
type ACM struct {
	Name   string `toml:"name" doc:"File name as the recipe fetches it from the mirror."`
	SHA256 string `toml:"sha256" doc:"Expected sha256 of the file."`
	Source string `toml:"source" doc:"Where a person gets it (URL of the license page)."`
}

// Recipes configures the generated tools layer (recipes/).
type Recipes struct {
	Enabled      bool                `toml:"enabled" doc:"Generate the layer with recipes and add it to BBLAYERS."`
	Dir          string              `bb:"data" toml:"dir" doc:"Layer directory, relative to build_dir."`
	Source       string              `toml:"source" doc:"git (fetch the project's repository at its HEAD commit) or local (this checkout, for development)."`
	URL          string              `bb:"data" toml:"url" doc:"Git URL of the xtbuild repository, for source = git."`
	Branch       string              `bb:"data" toml:"branch" doc:"Branch holding SRCREV, for source = git."`
	LocalPath    string              `bb:"data" toml:"local_path" doc:"Checkout used for source = local (default: the config file's directory)."`
	License      string              `bb:"data" toml:"license" doc:"SPDX license of xtbuild, the recipe's LICENSE."`
	LicenseFile  string              `bb:"data" toml:"license_file" doc:"License file whose md5 goes into LIC_FILES_CHKSUM."`
	Version      string              `bb:"data" toml:"version" doc:"PV of the tools recipe."`
	VendorURL    string              `bb:"data" toml:"vendor_url" doc:"Base URL of the mirror holding the vendored Go modules tarball (default: the local mirror as file://)."`
	Priority     int                 `range:"1,99" toml:"priority" doc:"BBFILE_PRIORITY of the layer."`
	LayerDepends []string            `bb:"data" toml:"layer_depends" doc:"LAYERDEPENDS of the layer."`
	Images       map[string][]string `toml:"images" doc:"Image recipe → tools it carries (ds1077l, tpm, txt, serial); boards add theirs."`
}

// Buildbot configures the generated master.cfg (buildbot/).
type Buildbot struct {
	Title             string            `toml:"title" doc:"Name of the master in its web API."`
	Builder           string            `toml:"builder" doc:"Builder (and scheduler) name."`
	ConfigRepo        string            `toml:"config_repo" doc:"Git URL of the repository holding xtbuild.toml and the magefile, checked out by the first step."`
	ConfigBranch      string            `toml:"config_branch" doc:"Branch of config_repo to build."`
	Workers           []string          `toml:"workers" doc:"Worker names; their password comes from the environment variable named by worker_password_env."`
	WorkerPasswordEnv string            `toml:"worker_password_env" doc:"Environment variable holding the workers' password when buildbot:config runs."`
	Listen            string            `toml:"listen" doc:"Address the master binds."`
	WorkerPort        int               `range:"1,65535" toml:"worker_port" doc:"Port workers connect to."`
	WebPort           int               `range:"1,65535" toml:"web_port" doc:"Port of the REST API and /change_hook/base."`
	URL               string            `toml:"url" doc:"The master's public URL (default http://listen:web_port/)."`
	TreeStableSeconds int               `range:"0,86400" toml:"tree_stable_seconds" doc:"Seconds to wait for pushes to settle before a build starts."`
	ChangeHookAuth    string            `toml:"change_hook_auth" doc:"File with user:password protecting /change_hook (relative to the master dir)."`
	ForceAuth         string            `toml:"force_auth" doc:"File with user:password lines (relative to the master dir) of who may log in to the web service and force, stop or rebuild builds; empty: nobody can."`
	Xtbuild           string            `toml:"xtbuild" doc:"Absolute path of a prebuilt xtbuild on every worker, run as each step's command; empty: each build compiles ./xtbuild from the checked-out magefile (go run mage.go -compile)."`
	Fanout            string            `toml:"fanout" doc:"auto, on or off: on generates a parent builder that fans the bitbake steps out to one builder each on any worker (docs/scale-out.md); auto is on with two or more workers."`
	Env               map[string]string `toml:"env" doc:"Environment of every step, e.g. XTBUILD_LOCKED = \"1\"."`
	Output            string            `toml:"output" doc:"Where buildbot:config writes master.cfg."`
}
