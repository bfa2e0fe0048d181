// Package srcrev locks what follows branch heads: it finds the recipes of
// the configured layers whose SRCREV is ${AUTOREV}, resolves each source's
// branch to a commit (from bare git mirrors or with git ls-remote), and
// gives the pins that make the whole source tree fixed (SRCREV_pn-<recipe>
// lines, PREMIRRORS to the mirrors) and the entries of xtbuild.lock.
//
// Finding the recipes is a static reading of the layers (see store): it
// needs no BitBake and no network, which is the point: with ${AUTOREV}
// BitBake itself needs the network to parse.
package srcrev

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Source is one git source of a recipe whose revision is ${AUTOREV}.
type Source struct {
	Recipe string // PN
	Name   string // the SRC_URI entry's name= ("default" without one)
	// Var is the variable BitBake reads the revision from first:
	// SRCREV, or SRCREV_<name> for a named source.
	Var  string
	File string // the recipe file
	// FetchURL is the SRC_URI entry without parameters, as BitBake matches
	// it against PREMIRRORS: git://host/path.
	FetchURL string
	// URL is what git clones: protocol://[user@]host/path (or the path for
	// protocol=file).
	URL    string
	Branch string
	// Repo names the bare mirror that holds it: <Repo>.git (the last path
	// element of the URL, without .git).
	Repo string
	// Extend is the recipe's BBCLASSEXTEND: BitBake makes one more recipe
	// of it per entry, each with a PN of its own (see PNs).
	Extend []string
}

// PNs are the recipe names BitBake gives this source's recipe: PN itself
// and one per BBCLASSEXTEND entry, as the classes name them (native:
// PN-native, nativesdk: nativesdk-PN, multilib:<v>: <v>-PN,
// mcextend:<mc>: PN-<mc>). A pn- override must name each of them, or the
// variants keep ${AUTOREV} and ask the network for a branch head.
func (s Source) PNs() []string {
	pns := []string{s.Recipe}
	add := func(pn string) {
		if !slices.Contains(pns, pn) {
			pns = append(pns, pn)
		}
	}
	for _, e := range s.Extend {
		class, arg, _ := strings.Cut(e, ":")
		switch {
		case class == "native" && !strings.HasSuffix(s.Recipe, "-native"):
			add(s.Recipe + "-native")
		case class == "nativesdk" && !strings.HasPrefix(s.Recipe, "nativesdk-"):
			add("nativesdk-" + s.Recipe)
		case class == "multilib" && arg != "":
			add(arg + "-" + s.Recipe)
		case class == "mcextend" && arg != "":
			add(s.Recipe + "-" + arg)
		}
	}
	return pns
}

// Key names the source in [srcrev] and the lock: the recipe, plus
// ":<name>" for a named source.
func (s Source) Key() string {
	if s.Name == "" || s.Name == "default" {
		return s.Recipe
	}
	return s.Recipe + ":" + s.Name
}

// Problem is an AUTOREV recipe whose source cannot be read statically.
type Problem struct {
	Recipe, File, Msg string
}

func (p Problem) Error() string { return fmt.Sprintf("%s (%s): %s", p.Recipe, p.File, p.Msg) }

// Scanner reads layers the way BitBake finds recipes: each layer's
// conf/layer.conf gives BBFILES, the configuration files give global
// variables, and every .bb is read with its includes and .bbappends.
type Scanner struct {
	layers []string
	global *store
	p      *parser
}

// NewScanner reads the layer.conf of each layer directory (BBLAYERS order).
func NewScanner(layerDirs []string) (*Scanner, error) {
	s := &Scanner{layers: layerDirs, global: newStore(), p: &parser{bbpath: layerDirs}}
	for _, d := range layerDirs {
		s.global.setVar("LAYERDIR", d)
		if err := s.p.file(s.global, filepath.Join(d, "conf", "layer.conf")); errors.Is(err, fs.ErrNotExist) {
			continue // not a layer (yet): BitBake will say so
		} else if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d, err)
		}
		// BBFILES of this layer, expanded now while LAYERDIR is its own.
		bbf, _ := s.global.get("BBFILES")
		s.global.setVar("BBFILES", bbf)
	}
	delete(s.global.vars, "LAYERDIR")
	return s, nil
}

// Set sets a global variable, as local.conf would.
func (s *Scanner) Set(name, value string) { s.global.setVar(name, value) }

// Conf reads a configuration file (local.conf, a distro conf) into the
// global variables; a relative name is searched in BBPATH like BitBake's
// require. A missing file is an error.
func (s *Scanner) Conf(name string) error {
	p := name
	if !filepath.IsAbs(name) {
		var ok bool
		if p, ok = s.p.find("/", name); !ok {
			return fmt.Errorf("%s not found in the layers", name)
		}
	}
	return s.p.file(s.global, p)
}

// ConfText reads configuration text, e.g. the local.conf about to be
// written, as if it were the file at path.
func (s *Scanner) ConfText(path string, text []byte) error {
	return s.p.text(s.global, path, text)
}

// Distro reads conf/distro/${DISTRO}.conf when a layer has it.
func (s *Scanner) Distro() error {
	d, ok := s.global.get("DISTRO")
	if !ok || d == "" || strings.Contains(d, "${") {
		return nil
	}
	if _, found := s.p.find("/", "conf/distro/"+d+".conf"); !found {
		return nil
	}
	return s.Conf("conf/distro/" + d + ".conf")
}

// recipeFiles globs BBFILES.
func (s *Scanner) recipeFiles() (bbs, appends []string, err error) {
	bbf, _ := s.global.get("BBFILES")
	seen := map[string]bool{}
	for _, pat := range strings.Fields(bbf) {
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, nil, fmt.Errorf("BBFILES pattern %s: %w", pat, err)
		}
		for _, f := range m {
			if seen[f] {
				continue
			}
			seen[f] = true
			switch {
			case strings.HasSuffix(f, ".bb"):
				bbs = append(bbs, f)
			case strings.HasSuffix(f, ".bbappend"):
				appends = append(appends, f)
			}
		}
	}
	sort.Strings(bbs)
	return bbs, appends, nil
}

// appendsFor lists the .bbappends BitBake applies to a recipe file: same
// base name, or a '%' wildcard matching the rest of the version.
func appendsFor(bb string, appends []string) []string {
	base := strings.TrimSuffix(filepath.Base(bb), ".bb")
	var out []string
	for _, a := range appends {
		ab := strings.TrimSuffix(filepath.Base(a), ".bbappend")
		if ab == base || (strings.HasSuffix(ab, "%") && strings.HasPrefix(base, strings.TrimSuffix(ab, "%"))) {
			out = append(out, a)
		}
	}
	return out
}

// Scan reads every recipe and returns the git sources whose revision is
// ${AUTOREV}, sorted by key, and the AUTOREV recipes it could not read.
func (s *Scanner) Scan() ([]Source, []Problem, error) {
	bbs, appends, err := s.recipeFiles()
	if err != nil {
		return nil, nil, err
	}
	var out []Source
	var problems []Problem
	seen := map[string]string{}
	for _, bb := range bbs {
		srcs, prob := s.recipe(bb, appendsFor(bb, appends))
		problems = append(problems, prob...)
		for _, src := range srcs {
			// Several versions of one PN: the same key twice with the same
			// source is one pin; different sources cannot share a pin.
			if prev, ok := seen[src.Key()]; ok {
				if prev != src.URL+"@"+src.Branch {
					problems = append(problems, Problem{src.Recipe, bb, fmt.Sprintf("two recipe files of %s follow different sources (%s and %s@%s); pin it in [srcrev]", src.Recipe, prev, src.URL, src.Branch)})
				}
				continue
			}
			seen[src.Key()] = src.URL + "@" + src.Branch
			out = append(out, src)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, problems, nil
}

func (s *Scanner) recipe(bb string, appends []string) ([]Source, []Problem) {
	d := s.global.clone()
	base := strings.TrimSuffix(filepath.Base(bb), ".bb")
	pn, pv := base, "1.0"
	if i := strings.Index(base, "_"); i >= 0 {
		pn, pv = base[:i], base[i+1:]
	}
	for k, v := range map[string]string{"PN": pn, "BPN": pn, "PV": pv, "BP": "${BPN}-${PV}", "FILE": bb, "FILE_DIRNAME": filepath.Dir(bb)} {
		d.setVar(k, v)
	}
	s.p.missing = nil
	for _, f := range append([]string{bb}, appends...) {
		if err := s.p.file(d, f); err != nil {
			// An unreadable recipe is BitBake's business, unless it is one
			// of those this package must pin.
			if mentionsAutorev(append([]string{bb}, appends...)) {
				return nil, []Problem{{pn, bb, err.Error()}}
			}
			return nil, nil
		}
	}
	// PN may be set by the recipe (rare); BitBake's is what overrides see.
	if v, ok := d.get("PN"); ok && v != "" && !strings.Contains(v, "${") {
		pn = v
	}
	srcURI, _ := d.get("SRC_URI")
	var extend []string
	if v, ok := d.get("BBCLASSEXTEND"); ok {
		for _, e := range strings.Fields(v) {
			if !strings.Contains(e, "${") { // an unset variable: nothing BitBake would extend by
				extend = append(extend, e)
			}
		}
	}
	var out []Source
	var problems []Problem
	for _, entry := range strings.Fields(srcURI) {
		scheme, rest, ok := strings.Cut(entry, "://")
		if !ok || (scheme != "git" && scheme != "gitsm") {
			continue
		}
		params := map[string]string{}
		parts := strings.Split(rest, ";")
		for _, p := range parts[1:] {
			if k, v, ok := strings.Cut(p, "="); ok {
				params[k] = v
			}
		}
		name := "default"
		if n := params["name"]; n != "" {
			name = strings.Split(n, ",")[0]
		}
		variable := "SRCREV"
		rev, ok := d.get("SRCREV_" + name)
		if ok {
			variable = "SRCREV_" + name
		} else {
			rev, _ = d.get("SRCREV")
		}
		if !strings.Contains(rev, "AUTOREV") {
			continue
		}
		if name != "default" {
			variable = "SRCREV_" + name
		}
		src := Source{Recipe: pn, Name: name, Var: variable, File: bb, Extend: extend}
		if strings.Contains(entry, "${") {
			msg := fmt.Sprintf("SRC_URI entry %s uses variables xtbuild cannot read without BitBake", entry)
			if len(s.p.missing) > 0 {
				msg += " (required files not found: " + strings.Join(s.p.missing, ", ") + ")"
			}
			problems = append(problems, Problem{pn, bb, msg + "; pin " + src.Key() + " in [srcrev]"})
			continue
		}
		hostPath := parts[0]
		host, p, _ := strings.Cut(hostPath, "/")
		p = "/" + p
		src.FetchURL = scheme + "://" + hostPath
		src.Branch = params["branch"]
		if src.Branch == "" {
			src.Branch = "master" // BitBake's default
		}
		proto := params["protocol"]
		if proto == "" {
			proto = "git"
			if host == "" {
				proto = "file"
			}
		}
		switch proto {
		case "file":
			src.URL = p
		default:
			u := url.URL{Scheme: proto, Host: host, Path: p}
			if user := params["user"]; user != "" {
				u.User = url.User(user)
			}
			src.URL = u.String()
		}
		src.Repo = strings.TrimSuffix(path.Base(p), ".git")
		out = append(out, src)
	}
	return out, problems
}

// mentionsAutorev: whether a recipe's own files say AUTOREV at all.
func mentionsAutorev(files []string) bool {
	for _, n := range files {
		if b, err := os.ReadFile(n); err == nil && strings.Contains(string(b), "AUTOREV") {
			return true
		}
	}
	return false
}
