package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migration is the result of reading an OpenXT .config, an openxt-manifest
// XML or a bordel template or build directory.
type Migration struct {
	Kind  InputKind // what was read
	TOML  []byte    // the equivalent xtbuild.toml
	Notes []Note    // variables and lines not taken over, with why
}

// Note is something in the input that was not taken over (or was taken over
// with a caveat). File is empty for a single-file input.
type Note struct {
	File string
	Line int
	Text string
}

type tomlEntry struct {
	key, value, from string
}

type migrator struct {
	sections      map[string][]tomlEntry
	notes         []Note
	vars          map[string]ShellAssignment
	layers        []Layer
	layersChanged bool
	used          map[string]bool
	relBase       string // directory of the .config, for relative paths
	outDir        string // directory the xtbuild.toml is written to
	from          string // what was read, for the header ("an OpenXT .config")
	steps         map[string]Step
	stepOrder     []string
	stepDepends   map[string][]string // profile steps whose depends the input narrows
	dependsOrder  []string
	repo          []RepoImage // [[repository]], replacing the profile's list when set
}

var (
	sectionOrder = []string{"build", "version", "paths", "mirrors", "signing", "upload", "local_conf"}
	hexCommitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// Migrate converts an OpenXT .config (read from configDir) into an
// xtbuild.toml to be written into outDir. Only the values the .config sets
// are written; everything else keeps the built-in profile's value, which
// follows OpenXT's defaults.
func Migrate(src []byte, configDir, outDir string) (*Migration, error) {
	assigns, shellNotes := ParseShellConfig(string(src))
	prof, _ := profile()
	var notes []Note
	for _, n := range shellNotes {
		notes = append(notes, Note{Line: n.Line, Text: n.Text})
	}
	m := &migrator{
		sections: map[string][]tomlEntry{},
		notes:    notes,
		vars:     map[string]ShellAssignment{},
		layers:   prof.Layers,
		used:     map[string]bool{},
		relBase:  configDir,
		outDir:   outDir,
	}
	for _, a := range assigns {
		m.vars[a.Name] = a // the last assignment wins, as in sh
	}
	m.mapVars()
	for _, a := range assigns {
		if !m.used[a.Name] && m.vars[a.Name].Line == a.Line {
			m.note(a, "not understood by xtbuild; left out")
		}
	}
	out := m.render()
	// The result must load; a mistake here would hand the user a broken file.
	if _, err := Parse("xtbuild.toml", out, outDir, nil); err != nil {
		return nil, fmt.Errorf("migrated config does not validate: %w", err)
	}
	sortNotes(m.notes)
	return &Migration{Kind: InputShellConfig, TOML: out, Notes: m.notes}, nil
}

func sortNotes(n []Note) {
	sort.SliceStable(n, func(i, j int) bool {
		if n[i].File != n[j].File {
			return n[i].File < n[j].File
		}
		return n[i].Line < n[j].Line
	})
}

func (m *migrator) get(name string) (ShellAssignment, bool) {
	a, ok := m.vars[name]
	if ok {
		m.used[name] = true
	}
	return a, ok
}

func (m *migrator) note(a ShellAssignment, why string) {
	m.used[a.Name] = true
	m.notes = append(m.notes, Note{Line: a.Line, Text: fmt.Sprintf("%s=%s: %s", a.Name, a.Value, why)})
}

func (m *migrator) set(section, key, value, from string) {
	m.sections[section] = append(m.sections[section], tomlEntry{key, value, from})
}

func (m *migrator) str(section, key, name string) {
	if a, ok := m.get(name); ok {
		m.set(section, key, tomlString(a.Value), name)
	}
}

// path maps a path variable; relative paths were relative to OpenXT's TOPDIR
// (the .config's directory), so they are made absolute when the new file
// lives elsewhere.
func (m *migrator) path(section, key, name string, suffix string) {
	a, ok := m.get(name)
	if !ok || a.Value == "" {
		return
	}
	p := filepath.Join(a.Value, suffix)
	if !filepath.IsAbs(p) && filepath.Clean(m.relBase) != filepath.Clean(m.outDir) {
		p = filepath.Join(m.relBase, p)
	}
	m.set(section, key, tomlString(p), name)
}

func (m *migrator) mapVars() {
	m.str("build", "name_site", "NAME_SITE")
	m.str("build", "build_type", "BUILD_TYPE")
	if a, ok := m.get("ID"); ok && a.Value != "" {
		if regexp.MustCompile(`^[0-9]+$`).MatchString(a.Value) {
			m.set("build", "id", tomlString(a.Value), "ID")
		} else {
			m.note(a, "not a numeric build id (OpenXT's -i rejected it too); set XTBUILD_ID per build")
		}
	}
	m.str("build", "branch", "BRANCH")
	m.str("build", "oe_branch", "OE_BRANCH")
	if a, ok := m.vars["OE_BRANCH"]; ok {
		if _, known := LookupRelease(a.Value); known {
			m.set("build", "release", tomlString(a.Value), "OE_BRANCH")
		} else {
			m.notes = append(m.notes, Note{Line: a.Line, Text: fmt.Sprintf("OE_BRANCH=%s is not a Yocto release xtbuild generates for; build.release keeps the profile's value: set it to match your layers", a.Value)})
		}
	}
	m.str("build", "bitbake_branch", "BB_BRANCH")
	if a, ok := m.get("STEPS"); ok {
		m.mapSteps(a)
	}
	if a, ok := m.get("OE_BB_THREADS"); ok {
		if n, err := strconv.Atoi(a.Value); err == nil && n >= 0 {
			m.set("build", "threads", strconv.Itoa(n), "OE_BB_THREADS")
		} else {
			m.note(a, "not a number; left out")
		}
	}
	// OpenXT inherited rm_work unless INHIBIT_RMWORK was non-empty.
	inhibit, ok := m.get("INHIBIT_RMWORK")
	m.set("build", "rm_work", strconv.FormatBool(!ok || inhibit.Value == ""), "INHIBIT_RMWORK")
	if a, ok := m.get("NEVER_GET_LOG"); ok && a.Value != "" {
		m.set("build", "collect_logs", "false", "NEVER_GET_LOG")
	}
	if a, ok := m.get("FREEZE_URIS"); ok {
		m.set("build", "freeze_uris", strconv.FormatBool(a.Value == "yes"), "FREEZE_URIS")
	}
	m.str("build", "package_feed_url", "NETBOOT_HTTP_URL")
	if a, ok := m.get("XC_TOOLS_BUILD"); ok && a.Value != "" {
		if n, err := strconv.Atoi(a.Value); err == nil && n >= 0 && n <= 65535 {
			m.set("version", "tools_build", strconv.Itoa(n), "XC_TOOLS_BUILD")
		} else {
			m.note(a, "not a 16-bit number; left out")
		}
	}

	if _, ok := m.vars["OE_BUILD_CACHE"]; ok {
		m.path("paths", "downloads", "OE_BUILD_CACHE", "downloads")
		m.path("paths", "sstate", "OE_BUILD_CACHE", "sstate-cache/{branch}")
		m.path("paths", "ccache", "OE_BUILD_CACHE", "cache")
	}
	if _, ok := m.vars["OE_BUILD_CACHE_DL"]; ok {
		m.dropKey("paths", "downloads")
		m.path("paths", "downloads", "OE_BUILD_CACHE_DL", "")
	}

	m.str("mirrors", "tarball", "OE_TARBALL_MIRROR")
	m.str("mirrors", "openxt", "OPENXT_MIRROR")
	if a, ok := m.get("OPENXT_GIT_MIRROR"); ok {
		// 2014-06 configs carried the scheme: git://github.com/OpenXT.
		v := a.Value
		if scheme, rest, found := strings.Cut(v, "://"); found {
			v = rest
			if _, set := m.vars["OPENXT_GIT_PROTOCOL"]; !set {
				m.set("mirrors", "openxt_git_protocol", tomlString(scheme), "OPENXT_GIT_MIRROR")
			}
		}
		m.set("mirrors", "openxt_git", tomlString(strings.TrimSuffix(v, "/")), "OPENXT_GIT_MIRROR")
	}
	m.str("mirrors", "openxt_git_protocol", "OPENXT_GIT_PROTOCOL")
	m.str("mirrors", "oe_git", "OE_GIT_MIRROR")

	m.path("signing", "prod_ca_cert", "REPO_PROD_CACERT", "")
	m.path("signing", "dev_ca_cert", "REPO_DEV_CACERT", "")
	m.path("signing", "dev_signing_cert", "REPO_DEV_SIGNING_CERT", "")
	m.path("signing", "dev_signing_key", "REPO_DEV_SIGNING_KEY", "")

	if a, ok := m.get("BUILD_RSYNC_DESTINATION"); ok && a.Value != "" {
		m.set("upload", "destination", tomlString(uploadURL(a.Value)), "BUILD_RSYNC_DESTINATION")
	}
	if a, ok := m.get("SYNC_CACHE_OE"); ok && a.Value != "" {
		m.set("upload", "sync_cache", tomlString(a.Value), "SYNC_CACHE_OE")
	}

	var extra []string
	for _, name := range []string{"XEN_VERSION", "XEN_SRC_URI", "XEN_SRC_MD5SUM", "XEN_SRC_SHA256SUM", "XEN_VERSION_BRANCH"} {
		if a, ok := m.get(name); ok {
			extra = append(extra, tomlString(fmt.Sprintf("%s = %q", name, a.Value)))
		}
	}
	if len(extra) > 0 {
		m.set("local_conf", "extra", "["+strings.Join(extra, ", ")+"]", "XEN_*")
	}

	for name, why := range map[string]string{
		"DEBUG":                    "use XTBUILD_DEBUG=1 for debug logs",
		"ALLOW_SWITCH_BRANCH_FAIL": "xtbuild never falls back to another branch; a missing branch is an error",
		"WIN_BUILD_OUTPUT":         "Windows tools builds are not part of xtbuild",
		"XC_TOOLS_OBJECTS_ORIGIN":  "Windows tools builds are not part of xtbuild",
		"PASSPHRASE":               "keep passphrases out of config files: export PASSPHRASE when signing",
		"CONFIG":                   "use XTBUILD_CONFIG to select a config file",
	} {
		if a, ok := m.vars[name]; ok {
			m.note(a, why)
		}
	}
	m.mapLayers()
}

func (m *migrator) dropKey(section, key string) {
	es := m.sections[section][:0]
	for _, e := range m.sections[section] {
		if e.key != key {
			es = append(es, e)
		}
	}
	m.sections[section] = es
}

// uploadURL turns an rsync destination into an upload URL.
func uploadURL(dest string) string {
	if strings.HasPrefix(dest, "/") {
		return "file://" + dest
	}
	if host, path, ok := strings.Cut(dest, ":"); ok && !strings.Contains(host, "/") {
		if !strings.HasPrefix(path, "/") {
			// rsync's host:dir is relative to the home directory.
			path = "/~/" + path
		}
		return "sftp://" + host + path
	}
	return "file://" + dest
}

// unsupportedSteps are OpenXT steps with no xtbuild equivalent.
var unsupportedSteps = map[string]string{
	"sdk":             "the Windows SDK tarball is not built by xtbuild",
	"sourceinfo":      "source info collection is not supported",
	"source":          "source ISO builds (-S) are not supported",
	"sysroot":         "removed from OpenXT in 2019",
	"xctools":         "Windows tools builds are not part of xtbuild",
	"debian":          "Debian tools packaging is not part of xtbuild",
	"sync_cache":      "use mirror:populate and a shared paths.downloads instead",
	"sync_cache_back": "use mirror:populate instead",
	"packages_tree":   "not supported",
	"nilfvm":          "a no-op in OpenXT",
	"vpnvm":           "a no-op in OpenXT",
}

func (m *migrator) mapSteps(a ShellAssignment) {
	prof, _ := profile()
	var steps []string
	for _, s := range splitList(a.Value) {
		base, isCp := strings.CutSuffix(s, "cp")
		_, known := prof.Steps[s]
		copyOnly := isCp && !known && prof.Steps[base].StepKind() == KindBitbake && prof.Steps[base].Machine != ""
		switch {
		case copyOnly:
			m.notes = append(m.notes, Note{Line: a.Line, Text: fmt.Sprintf("STEPS: %s: run the %s target with XTBUILD_COPY_ONLY=1 instead", s, strings.TrimSuffix(s, "cp"))})
		case unsupportedSteps[s] != "":
			m.notes = append(m.notes, Note{Line: a.Line, Text: fmt.Sprintf("STEPS: %s left out: %s", s, unsupportedSteps[s])})
		case known:
			steps = append(steps, s)
		default:
			m.notes = append(m.notes, Note{Line: a.Line, Text: fmt.Sprintf("STEPS: unknown step %q left out", s)})
		}
	}
	quoted := make([]string, len(steps))
	for i, s := range steps {
		quoted[i] = tomlString(s)
	}
	m.set("build", "steps", "["+strings.Join(quoted, ", ")+"]", "STEPS")
}

// layerPrefix derives OpenXT's variable prefix from a repository name:
// openembedded → OE, - → _, upper case (setup_build's rule);
// xenclient-oe is XENCLIENT.
func layerPrefix(name string) string {
	if name == "xenclient-oe" {
		return "XENCLIENT"
	}
	return strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(name, "openembedded", "oe"), "-", "_"))
}

// oeGitMirrored are the repositories OpenXT fetched from OE_GIT_MIRROR.
var oeGitMirrored = map[string]bool{"bitbake": true, "openembedded-core": true, "meta-openembedded": true, "meta-java": true}

func (m *migrator) mapLayers() {
	known := map[string]bool{}
	for i := range m.layers {
		l := &m.layers[i]
		p := layerPrefix(l.Name)
		known[p] = true
		if repo, ok := m.get(p + "_REPO"); ok && repo.Value != "" {
			l.URL = repo.Value
			m.layersChanged = true
		} else if _, ok := m.vars["OE_GIT_MIRROR"]; ok && oeGitMirrored[l.Name] {
			l.URL = "{oe_git}/" + l.Name + ".git"
			m.layersChanged = true
		}
		if tag, ok := m.get(p + "_TAG"); ok && tag.Value != "" {
			m.applyRef(l, tag.Value)
		}
	}
	// *_REPO variables for layers the profile does not have (meta-java, extra).
	for name, a := range m.vars {
		p, ok := strings.CutSuffix(name, "_REPO")
		if !ok || known[p] || a.Value == "" {
			continue
		}
		m.used[name] = true
		lname := strings.ToLower(strings.ReplaceAll(p, "_", "-"))
		if d, ok := m.get(p + "_DIR"); ok && d.Value != "" {
			lname = d.Value
		}
		l := Layer{Name: lname, URL: a.Value, Kind: "oe", Sublayers: []string{"."}}
		if tag, ok := m.get(p + "_TAG"); ok && tag.Value != "" {
			m.applyRef(&l, tag.Value)
		}
		m.layers = append(m.layers, l)
		m.layersChanged = true
	}
}

func (m *migrator) applyRef(l *Layer, v string) {
	if hexCommitRE.MatchString(v) {
		l.Commit = v
	} else {
		l.Branch = v
	}
	m.layersChanged = true
}

func (m *migrator) render() []byte {
	var b strings.Builder
	from := m.from
	if from == "" {
		from = "an OpenXT .config"
	}
	fmt.Fprintf(&b, "# xtbuild.toml migrated from %s by `mage migrate`.\n", from)
	b.WriteString("# Keys not listed keep the built-in profile's value (docs/config.md).\n")
	for _, sec := range sectionOrder {
		es := m.sections[sec]
		if len(es) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", sec)
		for _, e := range es {
			fmt.Fprintf(&b, "%s = %s  # %s\n", e.key, e.value, e.from)
		}
	}
	for _, name := range m.stepOrder {
		s := m.steps[name]
		fmt.Fprintf(&b, "\n[steps.%s]\n", name)
		fmt.Fprintf(&b, "machine = %s\nimages = %s\ndepends = %s\n", tomlString(s.Machine), tomlList(s.Images), tomlList(s.Depends))
		if s.Doc != "" {
			fmt.Fprintf(&b, "doc = %s\n", tomlString(s.Doc))
		}
		if len(s.Artifacts) == 0 {
			b.WriteString("artifacts = []\n")
		} else {
			b.WriteString("artifacts = [\n")
			for _, a := range s.Artifacts {
				fmt.Fprintf(&b, "  { from = %s, to = %s", tomlString(a.From), tomlString(a.To))
				if a.Optional {
					b.WriteString(", optional = true")
				}
				b.WriteString(" },\n")
			}
			b.WriteString("]\n")
		}
	}
	for _, name := range m.dependsOrder {
		fmt.Fprintf(&b, "\n[steps.%s]\ndepends = %s\n", name, tomlList(m.stepDepends[name]))
	}
	if len(m.repo) > 0 {
		b.WriteString("\n# The repository's images (images-manifest) replace the profile's list as a whole.\n")
		for _, r := range m.repo {
			fmt.Fprintf(&b, "\n[[repository]]\nstep = %s\nid = %s\nsource = %s\ntype = %s\ndestination = %s\nmount = %s\n",
				tomlString(r.Step), tomlString(r.ID), tomlString(r.Source), tomlString(r.Type), tomlString(r.Destination), tomlString(r.Mount))
		}
	}
	if m.layersChanged {
		b.WriteString("\n# The layer list replaces the profile's list as a whole.\n")
		for _, l := range m.layers {
			b.WriteString("\n[[layer]]\n")
			fmt.Fprintf(&b, "name = %s\nurl = %s\n", tomlString(l.Name), tomlString(l.URL))
			for _, kv := range [][2]string{{"branch", l.Branch}, {"tag", l.Tag}, {"commit", l.Commit}, {"kind", l.Kind}, {"path", l.Path}} {
				if kv[1] != "" {
					fmt.Fprintf(&b, "%s = %s\n", kv[0], tomlString(kv[1]))
				}
			}
			fmt.Fprintf(&b, "sublayers = %s\n", tomlList(l.Sublayers))
			if l.BoardOnly {
				b.WriteString("board_only = true\n")
			}
		}
	}
	if len(m.notes) > 0 {
		fmt.Fprintf(&b, "\n# Not taken over from %s:\n", from)
		sortNotes(m.notes)
		for _, n := range m.notes {
			where := fmt.Sprintf("line %d", n.Line)
			switch {
			case n.File == "" && n.Line == 0:
				where = "overall"
			case n.File != "" && n.Line > 0:
				where = fmt.Sprintf("%s:%d", n.File, n.Line)
			case n.File != "":
				where = n.File
			}
			fmt.Fprintf(&b, "#   %s: %s\n", where, strings.ReplaceAll(n.Text, "\n", " "))
		}
	}
	return []byte(b.String())
}

func tomlList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = tomlString(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
