package config

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strings"
)

// The parts of a repo tool manifest (openxt-manifest's default.xml,
// stable-N.xml, zeus.xml) that say where layers come from.
type manifestRemote struct {
	Name     string `xml:"name,attr"`
	Fetch    string `xml:"fetch,attr"`
	Revision string `xml:"revision,attr"`
}

type manifestDefault struct {
	Remote   string `xml:"remote,attr"`
	Revision string `xml:"revision,attr"`
	SyncJ    string `xml:"sync-j,attr"`
}

type manifestProject struct {
	Name       string `xml:"name,attr"`
	Path       string `xml:"path,attr"`
	Remote     string `xml:"remote,attr"`
	Revision   string `xml:"revision,attr"`
	Upstream   string `xml:"upstream,attr"`
	DestBranch string `xml:"dest-branch,attr"`
	Groups     string `xml:"groups,attr"`
	CloneDepth string `xml:"clone-depth,attr"`
	Inner      []struct {
		XMLName xml.Name
	} `xml:",any"`
	line int
}

// MigrateManifest converts a repo manifest into an xtbuild.toml: every
// project that is a layer repository becomes a [[layer]] (URL from its
// remote's fetch URL and its name; a pinned SHA becomes commit, with
// upstream as the branch it is fetched from; refs/tags/X a tag; anything
// else a branch), oe-core's branch sets build.release and oe_branch,
// bitbake's sets bitbake_branch, and <default revision> becomes build.branch,
// which layers of kind openxt without a revision of their own follow.
// Projects that are not layers (bordel, OpenXT source repositories) and
// manifest features xtbuild has no use for are listed in the notes. file
// names the manifest in the notes.
func MigrateManifest(src []byte, file, outDir string) (*Migration, error) {
	m := newMigrator(outDir, "the repo manifest "+file)
	remotes := map[string]manifestRemote{}
	var def manifestDefault
	var projects []manifestProject
	d := xml.NewDecoder(bytes.NewReader(src))
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", file, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			line, _ := d.InputPos()
			if depth == 1 {
				if t.Name.Local != "manifest" {
					return nil, fmt.Errorf("migrate: %s: root element <%s>, want <manifest>", file, t.Name.Local)
				}
				continue
			}
			depth-- // DecodeElement/Skip consume the element
			switch t.Name.Local {
			case "remote":
				var r manifestRemote
				if err := d.DecodeElement(&r, &t); err != nil {
					return nil, fmt.Errorf("migrate: %s:%d: %w", file, line, err)
				}
				remotes[r.Name] = r
			case "default":
				if err := d.DecodeElement(&def, &t); err != nil {
					return nil, fmt.Errorf("migrate: %s:%d: %w", file, line, err)
				}
				if def.SyncJ != "" {
					m.noteAt(file, line, "<default sync-j=%q>: xtbuild clones with XTBUILD_JOBS (default 8) in parallel", def.SyncJ)
				}
			case "project":
				var p manifestProject
				if err := d.DecodeElement(&p, &t); err != nil {
					return nil, fmt.Errorf("migrate: %s:%d: %w", file, line, err)
				}
				p.line = line
				projects = append(projects, p)
			default:
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("migrate: %s:%d: %w", file, line, err)
				}
				m.noteAt(file, line, "<%s> is not taken over: xtbuild has no equivalent; carry it over by hand if it matters", t.Name.Local)
			}
		case xml.EndElement:
			depth--
		}
	}
	if def.Revision != "" && !hexCommitRE.MatchString(def.Revision) && !strings.HasPrefix(def.Revision, "refs/") {
		m.set("build", "branch", tomlString(def.Revision), "<default revision>")
	}

	m.layers = nil
	m.layersChanged = true
	have := map[string]bool{}
	for _, p := range projects {
		l, ok := m.manifestLayer(file, p, remotes, def)
		if !ok {
			continue
		}
		if have[l.Name] {
			m.noteAt(file, p.line, "project %s: a second layer named %s is left out", p.Name, l.Name)
			continue
		}
		have[l.Name] = true
		m.layers = append(m.layers, l)
	}
	if len(m.layers) == 0 {
		return nil, fmt.Errorf("migrate: %s lists no layer repositories", file)
	}
	m.layers = append(m.layers, boardOnlyLayers(have)...)
	m.noteAt(file, 0, "layers are in manifest order, with the built-in profile's sublayers for the layers it has and the repository root for the others; bordel's bblayers.conf holds the real BBLAYERS (migrate the bordel template for it)")
	return m.finish(InputManifest)
}

// isLayerProject tells layer repositories from the other projects a
// manifest checks out (bordel, OpenXT's component sources).
func isLayerProject(p manifestProject) bool {
	dir := p.Path
	if dir == "" {
		dir = p.Name
	}
	if strings.HasPrefix(dir, "layers/") {
		return true
	}
	base := path.Base(dir)
	return base == "bitbake" || base == "openembedded-core" || base == "poky" || base == "xenclient-oe" || strings.HasPrefix(base, "meta-")
}

func (m *migrator) manifestLayer(file string, p manifestProject, remotes map[string]manifestRemote, def manifestDefault) (Layer, bool) {
	where := p.Path
	if where == "" {
		where = p.Name
	}
	if !isLayerProject(p) {
		if path.Base(p.Name) == "bordel" {
			m.noteAt(file, p.line, "project %s: bordel itself, which xtbuild replaces", p.Name)
		} else {
			m.noteAt(file, p.line, "project %s (%s) is not a layer: an OpenXT source repository repo checks out beside the layers; point mirrors.openxt_git at a mirror holding it instead", p.Name, where)
		}
		return Layer{}, false
	}
	remoteName := p.Remote
	if remoteName == "" {
		remoteName = def.Remote
	}
	r, ok := remotes[remoteName]
	if !ok {
		m.noteAt(file, p.line, "project %s: no remote %q; add the layer by hand", p.Name, remoteName)
		return Layer{}, false
	}
	if !strings.Contains(r.Fetch, "://") && !strings.HasPrefix(r.Fetch, "/") {
		m.noteAt(file, p.line, "project %s: remote %s has a relative fetch URL %q (relative to where the manifest was fetched from); add the layer by hand", p.Name, r.Name, r.Fetch)
		return Layer{}, false
	}
	name := path.Base(where)
	l := Layer{
		Name: name,
		URL:  strings.TrimSuffix(r.Fetch, "/") + "/" + p.Name,
		Kind: layerKindFor(p.Name),
		Path: strings.TrimPrefix(path.Clean(where), "layers/"),
	}
	if l.Path == l.Name {
		l.Path = ""
	}
	rev, fromDefault := p.Revision, false
	if rev == "" {
		rev = r.Revision
	}
	if rev == "" {
		rev, fromDefault = def.Revision, true
	}
	upstream := strings.TrimPrefix(p.Upstream, "refs/heads/")
	switch {
	case rev == "":
		m.noteAt(file, p.line, "project %s: no revision and no <default revision>; add the layer by hand", p.Name)
		return Layer{}, false
	case hexCommitRE.MatchString(rev):
		l.Commit = rev
		l.Branch = upstream
		if upstream == "" {
			m.noteAt(file, p.line, "project %s: pinned to %s without upstream=; setupoe fetches the default branch for its kind to find it", p.Name, rev)
		}
	case strings.HasPrefix(rev, "refs/tags/"):
		l.Tag = strings.TrimPrefix(rev, "refs/tags/")
	case strings.HasPrefix(rev, "refs/heads/"):
		l.Branch = strings.TrimPrefix(rev, "refs/heads/")
	case strings.HasPrefix(rev, "refs/"):
		m.noteAt(file, p.line, "project %s: revision %s is neither a branch nor a tag; add the layer by hand", p.Name, rev)
		return Layer{}, false
	case fromDefault && l.Kind == "openxt":
		// Follows build.branch, set from <default revision>.
	default:
		l.Branch = rev
	}
	if p.DestBranch != "" || p.Groups != "" || p.CloneDepth != "" {
		m.noteAt(file, p.line, "project %s: dest-branch, groups and clone-depth are not taken over", p.Name)
	}
	for _, in := range p.Inner {
		m.noteAt(file, p.line, "project %s: <%s> is not taken over", p.Name, in.XMLName.Local)
	}
	if prof, ok := profileLayer(name); ok {
		l.Sublayers = prof.Sublayers
	} else if l.Kind == "bitbake" {
		l.Sublayers = []string{}
	} else {
		l.Sublayers = []string{"."}
		m.noteAt(file, p.line, "project %s: its BBLAYERS entries are not in a manifest; the repository root is taken as the layer (check against bblayers.conf)", p.Name)
	}
	// The series: oe-core's branch (or the branch its pinned commit is on).
	branch := l.Branch
	if branch == "" {
		branch = l.Tag
	}
	switch name {
	case "openembedded-core", "poky":
		if _, known := LookupRelease(branch); known {
			m.set("build", "release", tomlString(branch), p.Name)
			m.set("build", "oe_branch", tomlString(branch), p.Name)
		} else {
			m.noteAt(file, p.line, "project %s: %q is not a Yocto release xtbuild generates for; build.release keeps the profile's value: the layers and the generated conf will not match", p.Name, branch)
		}
	case "bitbake":
		if branch != "" {
			m.set("build", "bitbake_branch", tomlString(branch), p.Name)
		}
	}
	return l, true
}
