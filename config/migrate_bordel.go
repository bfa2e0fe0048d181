package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/bbsyntax"
)

// bordelLayerURLs are where the layers of OpenXT's bblayers.conf come from,
// as openxt-manifest's default.xml lists them: a bordel configuration names
// layer directories, not repositories.
var bordelLayerURLs = map[string]string{
	"bitbake":                      "https://github.com/openembedded/bitbake",
	"openembedded-core":            "https://github.com/openembedded/openembedded-core",
	"meta-openembedded":            "https://github.com/openembedded/meta-openembedded",
	"meta-intel":                   "http://git.yoctoproject.org/git/meta-intel",
	"meta-java":                    "http://git.yoctoproject.org/git/meta-java",
	"meta-selinux":                 "http://git.yoctoproject.org/git/meta-selinux",
	"meta-virtualization":          "http://git.yoctoproject.org/git/meta-virtualization",
	"meta-qt5":                     "https://github.com/meta-qt5/meta-qt5",
	"meta-openxt-ocaml-platform":   "https://github.com/openxt/meta-openxt-ocaml-platform",
	"meta-openxt-haskell-platform": "https://github.com/openxt/meta-openxt-haskell-platform",
	"xenclient-oe":                 "https://github.com/openxt/xenclient-oe",
	"meta-vglass":                  "https://gitlab.com/vglass/meta-vglass",
}

// confLine is one logical line of a BitBake conf file (continuations
// joined).
type confLine struct {
	line   int    // first physical line
	raw    string // the logical line, continuations joined with spaces
	name   string // assigned variable ("" for other statements)
	op     string
	value  string
	export bool
}

var confAssignRE = regexp.MustCompile(`^(export\s+)?([A-Za-z0-9_${}/.+:~-]+)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(?:"(.*)"|'(.*)')\s*$`)

// readConf splits a conf file into logical lines; a missing file is nil.
func readConf(path string) ([]confLine, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []confLine
	phys := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(phys); i++ {
		start := i
		l := phys[i]
		for strings.HasSuffix(l, "\\") && i+1 < len(phys) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(phys[i])
		}
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		cl := confLine{line: start + 1, raw: t}
		if m := confAssignRE.FindStringSubmatch(t); m != nil {
			cl.export, cl.name, cl.op = m[1] != "", m[2], m[3]
			cl.value = m[4] + m[5]
		}
		out = append(out, cl)
	}
	return out, nil
}

type bordelMigrator struct {
	*migrator
	dir      string // the conf directory read
	buildDir string // absolute bordel build dir (TOPDIR) when configured, else ""
	topdir   string // what ${TOPDIR} becomes in xtbuild paths
	extra    []string
	rmWork   bool
}

// MigrateBordel converts a bordel configuration into an xtbuild.toml. dir
// is a template directory (bordel's templates/<name>/) or the conf/
// directory of a build dir bordel configured, which adds auto.conf:
//   - bblayers.conf: BBLAYERS order and sublayers become the [[layer]]
//     list (repository URLs as openxt-manifest's default.xml gives them);
//   - local.conf and auto.conf: settings with a typed key go there, other
//     assignments verbatim into [local_conf] extra, what xtbuild writes
//     itself is listed in the notes;
//   - openxt.conf: build id, release, version, upgradeable releases, branch;
//   - build-manifest: one step per line, in order;
//   - images-manifest: one [[repository]] entry per image, with the step
//     that builds it.
func MigrateBordel(dir, outDir string) (*Migration, error) {
	b := &bordelMigrator{migrator: newMigrator(outDir, "the bordel configuration "+filepath.Base(dir)), dir: dir}
	prof, _ := profile()
	b.topdir = prof.Paths.BuildDir
	if _, err := os.Stat(filepath.Join(dir, "auto.conf")); err == nil || filepath.Base(dir) == "conf" {
		abs, err := filepath.Abs(filepath.Dir(dir))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		b.buildDir, b.topdir = abs, abs
		b.from = "the bordel build dir " + abs
	}
	if err := b.bblayers(); err != nil {
		return nil, err
	}
	for _, f := range []string{"local.conf", "auto.conf"} {
		if err := b.localConf(f); err != nil {
			return nil, err
		}
	}
	b.set("build", "rm_work", strconv.FormatBool(b.rmWork), `INHERIT += "rm_work"`)
	if err := b.openxtConf(); err != nil {
		return nil, err
	}
	if err := b.buildManifest(); err != nil {
		return nil, err
	}
	if err := b.imagesManifest(); err != nil {
		return nil, err
	}
	if len(b.extra) > 0 {
		b.set("local_conf", "extra", tomlList(b.extra), "bordel conf lines with no typed key")
	}
	if b.buildDir == "" {
		b.noteAt("", 0, "the Yocto series is not part of a bordel template: build.release, oe_branch and bitbake_branch keep the profile's values (OpenXT master's manifest pairs master with dunfell and bitbake 1.46); migrate the manifest for them")
	}
	return b.finish(InputBordel)
}

// path turns a bordel conf path into an xtbuild path: ${TOPDIR} becomes the
// build dir (the configured one, or build_dir for a template).
func (b *bordelMigrator) path(v string) (string, bool) {
	v = strings.ReplaceAll(v, "${TOPDIR}", b.topdir)
	if strings.Contains(v, "${") {
		return "", false
	}
	return filepath.Clean(v), true
}

func (b *bordelMigrator) bblayers() error {
	const file = "bblayers.conf"
	lines, err := readConf(filepath.Join(b.dir, file))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	type repo struct {
		name string
		subs []string
		line int
	}
	var repos []*repo
	byName := map[string]*repo{}
	for _, l := range lines {
		switch l.name {
		case "BBLAYERS":
			for _, e := range strings.Fields(l.value) {
				rest := e
				for _, pre := range []string{"${LAYERS_DIR}/", "${TOPDIR}/layers/"} {
					rest = strings.TrimPrefix(rest, pre)
				}
				if strings.HasPrefix(rest, "/") {
					if _, after, ok := strings.Cut(rest, "/layers/"); ok {
						rest = after
					}
				}
				if strings.Contains(rest, "${") || strings.HasPrefix(rest, "/") {
					b.noteAt(file, l.line, "BBLAYERS entry %s is not under the layers directory; add it by hand", e)
					continue
				}
				name, sub, _ := strings.Cut(filepath.Clean(rest), "/")
				if sub == "" {
					sub = "."
				}
				r := byName[name]
				if r == nil {
					r = &repo{name: name, line: l.line}
					byName[name] = r
					repos = append(repos, r)
				}
				r.subs = append(r.subs, sub)
			}
		case "LCONF_VERSION", "BBPATH", "BBFILES":
			// xtbuild writes these itself.
		default:
			b.noteAt(file, l.line, "%s is not taken over", l.raw)
		}
	}
	if len(repos) == 0 {
		return fmt.Errorf("migrate: %s: no BBLAYERS", filepath.Join(b.dir, file))
	}
	b.layers = nil
	b.layersChanged = true
	have := map[string]bool{}
	// BitBake is not a layer, so bblayers.conf does not name it.
	bb := Layer{Name: "bitbake", URL: bordelLayerURLs["bitbake"], Kind: "bitbake", Sublayers: []string{}}
	if pl, ok := profileLayer("bitbake"); ok {
		bb = pl
	}
	b.layers = append(b.layers, bb)
	have["bitbake"] = true
	for _, r := range repos {
		l, known := profileLayer(r.name)
		if !known {
			url, ok := bordelLayerURLs[r.name]
			if !ok {
				b.noteAt(file, r.line, "layer repository %s: no known URL; add a [[layer]] for it by hand", r.name)
				continue
			}
			l = Layer{Name: r.name, URL: url, Kind: layerKindFor(r.name)}
			if strings.HasPrefix(url, "https://github.com/openxt/") {
				l.Kind = "openxt"
			}
		}
		l.BoardOnly = false
		l.Sublayers = r.subs
		if have[l.Name] {
			continue
		}
		have[l.Name] = true
		b.layers = append(b.layers, l)
	}
	b.layers = append(b.layers, boardOnlyLayers(have)...)
	return nil
}

// Variables xtbuild generates itself, with what sets them instead.
var bordelGenerated = map[string]string{
	"CONF_VERSION":           "xtbuild writes the CONF_VERSION of the release",
	"XENCLIENT_BUILD":        "xtbuild sets it from build.id (or the build name)",
	"XENCLIENT_BUILD_BRANCH": "xtbuild sets it from build.branch",
	"XENCLIENT_RELEASE":      "xtbuild sets it from version.release",
	"XENCLIENT_VERSION":      "xtbuild sets it from version.version",
	"XENCLIENT_BUILD_DATE":   "xtbuild sets the build date",
	"OPENXT_BUILD_DATE":      "xtbuild sets the build date",
	"OPENXT_TAG":             "xtbuild sets it to build.branch",
	"DEPLOY_DIR":             "xtbuild collects deploy files from the DEPLOY_DIR BitBake resolves; a different one would have to be set in the generated conf",
	"TMPDIR":                 "xtbuild sets TMPDIR itself",
	"KERNEL_MODULE_SIG_CERT": "`mage keys` makes kernel_cert.pem in paths.certs_dir; the generated local.conf points at it",
	"KERNEL_MODULE_SIG_KEY":  "`mage keys` makes kernel_key.pem in paths.certs_dir; the generated local.conf points at it",
}

func (b *bordelMigrator) localConf(file string) error {
	lines, err := readConf(filepath.Join(b.dir, file))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	certs := func(v string) (string, bool) {
		v = strings.ReplaceAll(v, "${OPENXT_CERTS_DIR}", "{certs}")
		if !strings.HasPrefix(v, "{certs}/") || strings.Contains(v, "${") {
			return "", false
		}
		prof, _ := profile()
		return filepath.Join(prof.Paths.CertsDir, strings.TrimPrefix(v, "{certs}/")), true
	}
	for _, l := range lines {
		from := fmt.Sprintf("%s:%d %s", file, l.line, l.name)
		pathKey := func(section, key string) {
			if p, ok := b.path(l.value); ok {
				b.set(section, key, tomlString(p), from)
			} else {
				b.noteAt(file, l.line, "%s: %q expands variables other than ${TOPDIR}; set %s.%s by hand", l.name, l.value, section, key)
			}
		}
		switch {
		case l.name == "":
			if strings.HasPrefix(l.raw, "require ") || strings.HasPrefix(l.raw, "include ") {
				b.noteAt(file, l.line, "%s: xtbuild writes the build identity (openxt.conf's values) into local.conf itself", l.raw)
			} else {
				b.keepRaw(file, l)
			}
		case bordelGenerated[l.name] != "":
			b.noteAt(file, l.line, "%s: %s", l.name, bordelGenerated[l.name])
		case l.name == "BB_NUMBER_THREADS" || l.name == "PARALLEL_MAKE":
			key := map[string]string{"BB_NUMBER_THREADS": "threads", "PARALLEL_MAKE": "parallel_make"}[l.name]
			v := strings.TrimSpace(strings.TrimPrefix(l.value, "-j"))
			if strings.Contains(v, "oe.utils.cpu_count()") && !strings.ContainsAny(v, "*/+-") {
				b.set("build", key, "0", from+" (cpu_count(): BitBake's default)")
			} else if n, err := strconv.Atoi(v); err == nil {
				b.set("build", key, strconv.Itoa(n), from)
			} else {
				b.keepRaw(file, l)
			}
		case l.name == "INHERIT" && (l.op == "+=" || l.op == ".="):
			for _, c := range strings.Fields(l.value) {
				switch c {
				case "rm_work":
					b.rmWork = true
				case "buildstats":
					// Always inherited by xtbuild (the report reads it).
				default:
					b.extra = append(b.extra, fmt.Sprintf("INHERIT += %q", c))
				}
			}
		case l.name == "BB_GENERATE_MIRROR_TARBALLS":
			b.set("mirrors", "generate_tarballs", strconv.FormatBool(l.value == "1"), from)
		case l.name == "PRSERV_HOST":
			b.set("mirrors", "prserv", tomlString(l.value), from)
		case l.name == "SSTATE_MIRRORS":
			var urls []string
			f := strings.Fields(strings.ReplaceAll(l.value, `\n`, " "))
			for i := 0; i+1 < len(f); i += 2 {
				urls = append(urls, f[i+1])
			}
			b.set("mirrors", "sstate", tomlList(urls), from)
		case l.name == "DISTRO":
			b.set("build", "distro", tomlString(l.value), from)
		case l.name == "DL_DIR":
			pathKey("paths", "downloads")
		case l.name == "SSTATE_DIR":
			pathKey("paths", "sstate")
		case l.name == "CCACHE_DIR":
			pathKey("paths", "ccache")
		case l.name == "OPENXT_CERTS_DIR":
			pathKey("paths", "certs_dir")
		case l.name == "OPENXT_MIRROR":
			b.set("mirrors", "openxt", tomlString(l.value), from)
		case l.name == "OPENXT_GIT_MIRROR":
			if p, ok := b.path(l.value); ok {
				b.set("mirrors", "openxt_git", tomlString(p), from)
			} else {
				b.keepRaw(file, l)
			}
		case l.name == "OPENXT_GIT_PROTOCOL":
			b.set("mirrors", "openxt_git_protocol", tomlString(l.value), from)
		case l.name == "OPENXT_BRANCH":
			b.dropKey("build", "branch")
			b.set("build", "branch", tomlString(l.value), from)
		case l.name == "REPO_PROD_CACERT" || l.name == "REPO_DEV_CACERT" || l.name == "REPO_DEV_SIGNING_CERT" || l.name == "REPO_DEV_SIGNING_KEY" || l.name == "REPO_DEV_SIGNING_DEV":
			key := map[string]string{"REPO_PROD_CACERT": "prod_ca_cert", "REPO_DEV_CACERT": "dev_ca_cert", "REPO_DEV_SIGNING_CERT": "dev_signing_cert",
				"REPO_DEV_SIGNING_KEY": "dev_signing_key", "REPO_DEV_SIGNING_DEV": "dev_signing_key"}[l.name]
			p, ok := certs(l.value)
			if !ok {
				p, ok = b.path(l.value)
			}
			if !ok {
				b.noteAt(file, l.line, "%s: %q: set signing.%s by hand", l.name, l.value, key)
				continue
			}
			b.set("signing", key, tomlString(p), from)
			if l.name == "REPO_DEV_SIGNING_DEV" {
				b.noteAt(file, l.line, "REPO_DEV_SIGNING_DEV (sic) taken as the dev signing key, as its value says")
			}
		default:
			b.keepRaw(file, l)
		}
	}
	return nil
}

// keepRaw carries a conf line over verbatim into [local_conf] extra.
func (b *bordelMigrator) keepRaw(file string, l confLine) {
	if errs := bbsyntax.Check(l.raw+"\n", bbsyntax.Conf); len(errs) > 0 {
		b.noteAt(file, l.line, "%s: not valid BitBake syntax (%s); left out", l.raw, errs[0].Msg)
		return
	}
	b.extra = append(b.extra, l.raw)
}

func (b *bordelMigrator) openxtConf() error {
	const file = "openxt.conf"
	lines, err := readConf(filepath.Join(b.dir, file))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, l := range lines {
		from := fmt.Sprintf("%s:%d %s", file, l.line, l.name)
		switch l.name {
		case "OPENXT_BUILD_ID":
			if digitsRE.MatchString(l.value) {
				b.set("build", "id", tomlString(l.value), from)
			} else {
				b.noteAt(file, l.line, "OPENXT_BUILD_ID=%s is not a number; set XTBUILD_ID per build", l.value)
			}
		case "OPENXT_RELEASE":
			b.set("version", "release", tomlString(l.value), from)
		case "OPENXT_VERSION":
			b.set("version", "version", tomlString(l.value), from)
		case "OPENXT_UPGRADEABLE_RELEASES":
			b.set("version", "upgradeable_releases", tomlList(strings.Fields(l.value)), from)
		case "OPENXT_BUILD_BRANCH":
			b.dropKey("build", "branch")
			b.set("build", "branch", tomlString(l.value), from)
		default:
			b.noteAt(file, l.line, "%s is not taken over", l.raw)
		}
	}
	return nil
}

// readManifestLines returns a bordel manifest's non-comment lines.
func readManifestLines(path string) ([]confLine, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var out []confLine
	for i, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, confLine{line: i + 1, raw: t})
		}
	}
	return out, nil
}

func minus(all, keep []string) []string {
	var out []string
	for _, x := range all {
		if !contains(keep, x) {
			out = append(out, x)
		}
	}
	return out
}

// stepName derives a step name from an image recipe.
func stepName(image string) string {
	n := strings.TrimSuffix(strings.TrimPrefix(image, "xenclient-"), "-image")
	return n
}

func (b *bordelMigrator) buildManifest() error {
	const file = "build-manifest"
	lines, err := readManifestLines(filepath.Join(b.dir, file))
	if err != nil || lines == nil {
		return err
	}
	prof, _ := profile()
	steps := []string{}
	lineOf := map[string]int{}
	for name, s := range prof.Steps {
		if s.StepKind() == KindSetupOE {
			steps = append(steps, name)
			break
		}
	}
	for _, l := range lines {
		f := strings.Fields(l.raw)
		machine := ""
		i := 0
		for ; i < len(f) && strings.Contains(f[i], "="); i++ {
			k, v, _ := strings.Cut(f[i], "=")
			if k == "MACHINE" {
				machine = v
			} else {
				b.noteAt(file, l.line, "%s: only MACHINE is taken over from a build-manifest line", f[i])
			}
		}
		if i >= len(f) || f[i] != "bitbake" || i+1 >= len(f) || machine == "" {
			b.noteAt(file, l.line, "%q is not `MACHINE=<machine> bitbake <target>...`; left out", l.raw)
			continue
		}
		var images []string
		for _, a := range f[i+1:] {
			if strings.HasPrefix(a, "-") {
				b.noteAt(file, l.line, "bitbake option %s is not taken over", a)
				continue
			}
			images = append(images, a)
		}
		name := b.matchStep(machine, images)
		steps = append(steps, name)
		lineOf[name] = l.line
	}
	// A profile step may depend on steps bordel does not build: keep only
	// the dependencies on steps of this list, as bordel builds its lines in
	// order and nothing else.
	b.stepDepends = map[string][]string{}
	for _, name := range steps {
		d := prof.Steps[name].Depends
		var keep []string
		for _, dep := range d {
			if contains(steps, dep) {
				keep = append(keep, dep)
			}
		}
		if len(keep) != len(d) && b.stepDepends[name] == nil {
			b.stepDepends[name] = append([]string{}, keep...)
			b.dependsOrder = append(b.dependsOrder, name)
			b.noteAt(file, lineOf[name], "steps.%s: the profile's depends on %s dropped: bordel's build-manifest does not build them", name, strings.Join(minus(d, keep), ", "))
		}
	}
	b.set("build", "steps", tomlList(steps), file)
	return nil
}

// matchStep finds the profile's step building these targets for this
// machine, or adds one.
func (b *bordelMigrator) matchStep(machine string, images []string) string {
	prof, _ := profile()
	var found []string
	for name, s := range prof.Steps {
		if s.StepKind() == KindBitbake && s.Machine == machine && strings.Join(s.Images, " ") == strings.Join(images, " ") {
			found = append(found, name)
		}
	}
	if len(found) > 0 {
		best := found[0]
		for _, n := range found[1:] {
			if n < best {
				best = n
			}
		}
		return best
	}
	name := stepName(images[0])
	if !nameRE.MatchString(name) {
		name = "step"
	}
	for base, n := name, 2; ; n++ {
		_, inProfile := prof.Steps[name]
		_, inNew := b.steps[name]
		if !inProfile && !inNew {
			break
		}
		name = fmt.Sprintf("%s-%d", base, n)
	}
	b.steps[name] = Step{Machine: machine, Images: images, Doc: "from bordel's build-manifest"}
	b.stepOrder = append(b.stepOrder, name)
	return name
}

func (b *bordelMigrator) imagesManifest() error {
	const file = "images-manifest"
	lines, err := readManifestLines(filepath.Join(b.dir, file))
	if err != nil || lines == nil {
		return err
	}
	prof, _ := profile()
	for _, l := range lines {
		f := strings.Fields(l.raw)
		if len(f) != 6 {
			b.noteAt(file, l.line, "%q: want <MACHINE> <image-id> <source-label> <image-type> <destination-label> <mount-point>; left out", l.raw)
			continue
		}
		machine, id, src, typ, dst, mnt := f[0], f[1], f[2], f[3], f[4], f[5]
		// The step that builds it: one added from build-manifest, else the
		// profile's.
		builds := func(s Step) bool { return s.Machine == machine && (src == "control" || contains(s.Images, src)) }
		step := ""
		for _, name := range b.stepOrder {
			if builds(b.steps[name]) {
				step = name
				break
			}
		}
		if step == "" {
			for _, name := range slices.Sorted(maps.Keys(prof.Steps)) {
				if builds(prof.Steps[name]) {
					step = name
					break
				}
			}
		}
		if step == "" {
			b.noteAt(file, l.line, "no step builds %s for %s; add a step for it and a [[repository]] entry", src, machine)
			continue
		}
		b.repo = append(b.repo, RepoImage{Step: step, ID: id, Source: src, Type: typ, Destination: dst, Mount: mnt})
	}
	return nil
}
