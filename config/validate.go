package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/bbsyntax"
)

// Step kinds.
const (
	KindBitbake = "bitbake"
	KindSetupOE = "setupoe"
	KindLicense = "license"
	KindShip    = "ship"
	KindUpload  = "upload"
)

var (
	stepKinds  = []string{KindBitbake, KindSetupOE, KindLicense, KindShip, KindUpload}
	layerKinds = []string{"openxt", "oe", "bitbake", "other"}
	keyTypes   = []string{"rsa2048", "rsa4096", "ecdsa-p256"}
	toolNames  = []string{"ds1077l", "tpm", "txt", "serial"}
	digitsRE   = regexp.MustCompile(`^[0-9]+$`)
	shaRE      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
)

// StepKind is the effective kind of a step (bitbake when unset).
func (s Step) StepKind() string {
	if s.Kind == "" {
		return KindBitbake
	}
	return s.Kind
}

type validator struct {
	file string
	kl   keyLines
	env  map[string]string // key → the XTBUILD_* variable that set it
	errs Errors
}

func (v *validator) add(key, format string, args ...any) {
	for k, name := range v.env {
		if key == k || strings.HasPrefix(key, k+"[") || strings.HasPrefix(key, k+".") {
			v.errs = append(v.errs, &FieldError{File: "environment", Key: name + " (" + key + ")", Msg: fmt.Sprintf(format, args...)})
			return
		}
	}
	// Line 0 means the key came from the profile or environment, not the file.
	v.errs = append(v.errs, &FieldError{File: v.file, Line: v.kl.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// validateTagged applies the tag rules (datavalues.go) to the values as the
// file and environment set them, before normalize derives others from them.
func validateTagged(c *Config, file string, kl keyLines, env map[string]string) Errors {
	v := &validator{file: file, kl: kl, env: env}
	v.checkTagged(c)
	return v.errs
}

func validate(c *Config, file string, kl keyLines, env map[string]string) Errors {
	v := &validator{file: file, kl: kl, env: env}
	b := c.Build
	v.required("build.name_site", b.NameSite)
	v.required("build.build_type", b.BuildType)
	v.required("build.branch", b.Branch)
	for key, val := range map[string]string{"build.name_site": b.NameSite, "build.build_type": b.BuildType} {
		if val != "" && !nameRE.MatchString(val) {
			v.add(key, "%q: use letters, digits, '.', '_', '+' or '-'", val)
		}
	}
	if b.Branch != "" && (strings.Contains(b.Branch, "..") || strings.ContainsAny(b.Branch, " \t~^:?*[\\")) {
		v.add("build.branch", "%q is not a valid git branch name", b.Branch)
	}
	if b.ID != "" && !digitsRE.MatchString(b.ID) {
		v.add("build.id", "invalid build id %q: digits only", b.ID)
	}
	if b.Name != "" && (!nameRE.MatchString(b.Name) || strings.Contains(b.Name, "..")) {
		v.add("build.name", "%q cannot be a directory name", b.Name)
	}
	if _, ok := LookupRelease(b.Release); !ok {
		names := make([]string, len(Releases))
		for i, r := range Releases {
			names[i] = r.Name
		}
		v.add("build.release", "unsupported Yocto release %q (supported: %s)", b.Release, strings.Join(names, ", "))
	}
	v.confValue("build.distro", b.Distro)
	v.confValue("build.branch", b.Branch)
	v.confValue("build.package_feed_url", b.PackageFeedURL)
	v.validatePaths(c)
	v.validateMirrors(c.Mirrors)
	v.validateLayers(c)
	v.validateSteps(c)
	v.validateSigning(c.Signing)
	v.validateUpload(c.Upload)
	v.validateBuildbot(c.Buildbot)
	v.validateFanout(c.Fanout)
	for i, line := range c.LocalConf.Extra {
		key := fmt.Sprintf("local_conf.extra[%d]", i)
		if strings.ContainsAny(line, "\n\r") {
			v.add(key, "one BitBake line per entry (no line breaks)")
			continue
		}
		for _, e := range bbsyntax.Check(line+"\n", bbsyntax.Conf) {
			v.add(key, "not valid BitBake syntax: %s", e.Msg)
		}
	}
	v.validateBoards(c)
	v.validateRepository(c)
	v.validateLayerURLs(c)
	v.confValue("build.machine", b.Machine)
	if b.Machine != "" && !nameRE.MatchString(b.Machine) {
		v.add("build.machine", "%q is not a MACHINE name", b.Machine)
	}
	v.relPath("paths.deploy_dir", c.Paths.DeployDir, false)
	v.validateMirrorConfig(c)
	v.validateServices(c)
	v.validateSrcrev(c)
	v.validateRecipes(c.Recipes)
	seenACM := map[string]bool{}
	for i, a := range c.ACMs {
		key := fmt.Sprintf("acm[%d]", i)
		if a.Name == "" || strings.ContainsAny(a.Name, "/\\") || a.Name == "." || a.Name == ".." {
			v.add(key+".name", "%q must be a plain file name", a.Name)
		}
		if seenACM[a.Name] {
			v.add(key+".name", "%q listed twice", a.Name)
		}
		seenACM[a.Name] = true
		if !sha256RE.MatchString(a.SHA256) {
			v.add(key+".sha256", "want 64 lower-case hex digits, got %q", a.SHA256)
		}
	}
	return v.errs
}

func (v *validator) required(key, val string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, "missing required value")
	}
}

// confValue checks a value that is written into local.conf.
func (v *validator) confValue(key, val string) {
	if _, err := bbsyntax.Quote(val); err != nil {
		v.add(key, "cannot be written to local.conf: %v", err)
	}
}

// relPath rejects relative paths that climb out of their base directory.
func (v *validator) relPath(key, p string, required bool) {
	if p == "" {
		if required {
			v.add(key, "missing required value")
		}
		return
	}
	v.confValue(key, p)
	if filepath.IsAbs(p) {
		return
	}
	if c := filepath.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
		v.add(key, "relative path %q escapes its base directory; use an absolute path", p)
	}
}

func (v *validator) validatePaths(c *Config) {
	p := c.Paths
	v.relPath("paths.build_dir", p.BuildDir, true)
	v.relPath("paths.layers_dir", p.LayersDir, true)
	v.relPath("paths.output_dir", p.OutputDir, true)
	v.relPath("paths.downloads", p.Downloads, true)
	v.relPath("paths.sstate", p.Sstate, true)
	v.relPath("paths.ccache", p.Ccache, false)
	v.relPath("paths.mirror", p.Mirror, true)
	v.relPath("paths.lock_file", p.LockFile, true)
	v.relPath("paths.git_cache", p.GitCache, false)
	v.relPath("paths.certs_dir", p.CertsDir, true)
}

func (v *validator) validateMirrors(m Mirrors) {
	for key, val := range map[string]string{
		"mirrors.tarball": m.Tarball, "mirrors.openxt": m.OpenXT, "mirrors.openxt_git": m.OpenXTGit,
		"mirrors.openxt_git_protocol": m.OpenXTGitProtocol, "mirrors.oe_git": m.OEGit,
		"mirrors.own_mirror": m.OwnMirror, "mirrors.hashserve": m.HashServe,
		"mirrors.hashserve_upstream": m.HashServeUpstream, "mirrors.prserv": m.PRServ,
	} {
		v.confValue(key, val)
		if strings.ContainsAny(val, " \t") {
			v.add(key, "%q must not contain spaces", val)
		}
	}
	for _, list := range []struct {
		key  string
		vals []string
	}{{"mirrors.sources", m.Sources}, {"mirrors.sstate", m.Sstate}} {
		for i, u := range list.vals {
			key := fmt.Sprintf("%s[%d]", list.key, i)
			v.confValue(key, u)
			if !strings.Contains(u, "://") || strings.ContainsAny(u, " \t") {
				v.add(key, "%q is not a URL (file:///path, http://host/path)", u)
			}
		}
	}
}

func (v *validator) validateLayers(c *Config) {
	seenName, seenPath := map[string]bool{}, map[string]bool{}
	for i, l := range c.Layers {
		key := fmt.Sprintf("layer[%d]", i)
		if !nameRE.MatchString(l.Name) {
			v.add(key+".name", "layer name %q: use letters, digits, '.', '_', '+' or '-'", l.Name)
		} else if seenName[l.Name] {
			v.add(key+".name", "layer %q is listed twice", l.Name)
		}
		seenName[l.Name] = true
		if strings.TrimSpace(l.URL) == "" {
			v.add(key+".url", "missing required value")
		}
		if strings.Contains(l.URL, "{") {
			v.add(key+".url", "unknown placeholder in %q (known: {openxt_git}, {openxt_git_protocol}, {oe_git})", l.URL)
		}
		if l.Commit != "" && !shaRE.MatchString(l.Commit) {
			v.add(key+".commit", "want a full 40-digit lower-case commit id, got %q", l.Commit)
		}
		if l.Branch != "" && l.Tag != "" {
			v.add(key+".tag", "set branch or tag, not both")
		}
		if !contains(layerKinds, l.Kind) {
			v.add(key+".kind", "unknown kind %q (known: %s)", l.Kind, strings.Join(layerKinds, ", "))
		}
		if l.Branch == "" && l.Tag == "" && l.Commit == "" {
			v.add(key+".branch", "no branch, tag or commit to check out")
		}
		v.relPath(key+".path", l.Path, true)
		if seenPath[filepath.Clean(l.Path)] {
			v.add(key+".path", "checkout directory %q is used by another layer", l.Path)
		}
		seenPath[filepath.Clean(l.Path)] = true
		for j, s := range l.Sublayers {
			v.relPath(fmt.Sprintf("%s.sublayers[%d]", key, j), s, true)
		}
	}
}

func (v *validator) validateSteps(c *Config) {
	known := make([]string, 0, len(c.Steps))
	for name := range c.Steps {
		known = append(known, name)
	}
	sort.Strings(known)
	for _, name := range known {
		s := c.Steps[name]
		key := "steps." + name
		if !nameRE.MatchString(name) {
			v.add(key, "step name %q: use letters, digits, '.', '_', '+' or '-'", name)
		}
		if !contains(stepKinds, s.StepKind()) {
			v.add(key+".kind", "unknown kind %q (known: %s)", s.Kind, strings.Join(stepKinds, ", "))
		}
		if s.StepKind() == KindBitbake {
			if s.Machine == "" {
				v.add(key+".machine", "missing required value for a bitbake step")
			}
			if len(s.Images) == 0 {
				v.add(key+".images", "a bitbake step needs at least one target")
			}
		}
		v.confValue(key+".machine", s.Machine)
		for i, img := range s.Images {
			if !nameRE.MatchString(img) {
				v.add(fmt.Sprintf("%s.images[%d]", key, i), "%q is not a BitBake target name", img)
			}
		}
		for i, d := range s.Depends {
			if _, ok := c.Steps[d]; !ok {
				v.add(fmt.Sprintf("%s.depends[%d]", key, i), "depends on unknown step %q (known: %s)", d, strings.Join(known, ", "))
			}
		}
		for i, a := range s.Artifacts {
			akey := fmt.Sprintf("%s.artifacts[%d]", key, i)
			v.relPath(akey+".from", a.From, true)
			v.relPath(akey+".to", a.To, true)
			if _, err := filepath.Match(strings.ReplaceAll(a.From, "{machine}", "m"), ""); err != nil {
				v.add(akey+".from", "bad pattern %q: %v", a.From, err)
			}
		}
	}
	if cycle := findCycle(c.Steps); cycle != nil {
		// Report the cycle at a depends list the file sets, rotated to start there.
		cycle = cycle[:len(cycle)-1]
		at := 0
		for i, n := range cycle {
			if _, ok := v.kl.exact["steps."+n+".depends"]; ok {
				at = i
				break
			}
		}
		rot := append(append([]string{}, cycle[at:]...), cycle[:at]...)
		rot = append(rot, rot[0])
		v.add("steps."+rot[0]+".depends", "dependency cycle: %s", strings.Join(rot, " -> "))
	}
	if len(c.Build.Steps) == 0 {
		v.add("build.steps", "no steps to run")
	}
	for i, s := range c.Build.Steps {
		if _, ok := c.Steps[s]; !ok {
			v.add(fmt.Sprintf("build.steps[%d]", i), "unknown step %q (known: %s)", s, strings.Join(known, ", "))
		}
	}
}

// findCycle returns a dependency cycle as a path that starts and ends with
// the same step, or nil.
func findCycle(steps map[string]Step) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	names := make([]string, 0, len(steps))
	for n := range steps {
		names = append(names, n)
	}
	sort.Strings(names)
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range steps[n].Depends {
			if _, ok := steps[d]; !ok {
				continue
			}
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						return append(append([]string{}, stack[i:]...), d)
					}
				}
			case white:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, n := range names {
		if color[n] == white {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

func (v *validator) validateSigning(s Signing) {
	for key, p := range map[string]string{
		"signing.prod_ca_cert": s.ProdCACert, "signing.dev_ca_cert": s.DevCACert,
		"signing.dev_signing_cert": s.DevSigningCert, "signing.dev_signing_key": s.DevSigningKey,
		"signing.release_signing_cert": s.ReleaseSigningCert, "signing.release_signing_key": s.ReleaseSigningKey,
	} {
		v.relPath(key, p, true)
	}
	if !contains(keyTypes, s.KeyType) {
		v.add("signing.key_type", "unknown key type %q (known: %s)", s.KeyType, strings.Join(keyTypes, ", "))
	}
}

func (v *validator) validateUpload(u Upload) {
	if u.Destination != "" && !strings.HasPrefix(u.Destination, "file://") && !strings.HasPrefix(u.Destination, "sftp://") {
		v.add("upload.destination", "%q: want file:///path or sftp://user@host[:port]/path", u.Destination)
	}
	for key, m := range map[string]string{"upload.dir_mode": u.DirMode, "upload.file_mode": u.FileMode} {
		if n, err := strconv.ParseUint(m, 8, 32); err != nil || n > 0o777 {
			v.add(key, "want an octal mode such as 0755, got %q", m)
		}
	}
	switch u.Transport {
	case "", "auto", "sftp":
	default:
		v.add("upload.transport", "%q: want auto or sftp", u.Transport)
	}
}

func (v *validator) validateFanout(f Fanout) {
	if f.Stage == "" {
		return
	}
	if !filepath.IsAbs(f.Stage) || filepath.Clean(f.Stage) != f.Stage || f.Stage == "/" {
		v.add("fanout.stage", "%q: want a clean absolute directory every worker mounts, such as /srv/xtbuild-stage", f.Stage)
	}
}

func (v *validator) validateBoards(c *Config) {
	names := make([]string, 0, len(c.Boards))
	for n := range c.Boards {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := c.Boards[n]
		key := "boards." + n
		if !nameRE.MatchString(n) {
			v.add(key, "board name %q: use letters, digits, '.', '_', '+' or '-'", n)
		}
		if b.Machine == "" {
			v.add(key+".machine", "missing required value")
		}
		if b.Image == "" {
			v.add(key+".image", "missing required value")
		}
		for i, l := range b.Layers {
			if _, ok := c.Layer(l); !ok {
				v.add(fmt.Sprintf("%s.layers[%d]", key, i), "unknown layer %q", l)
			}
		}
		for i, t := range b.Tools {
			if !contains(toolNames, t) {
				v.add(fmt.Sprintf("%s.tools[%d]", key, i), "unknown tool %q (known: %s)", t, strings.Join(toolNames, ", "))
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (v *validator) validateRecipes(r Recipes) {
	v.relPath("recipes.dir", r.Dir, true)
	if r.Source != "git" && r.Source != "local" {
		v.add("recipes.source", "want git or local, got %q", r.Source)
	}
	if r.Source == "git" && r.URL == "" {
		v.add("recipes.url", "missing required value for source = git")
	}
	names := make([]string, 0, len(r.Images))
	for img := range r.Images {
		names = append(names, img)
	}
	sort.Strings(names)
	for _, img := range names {
		for i, t := range r.Images[img] {
			if !contains(toolNames, t) {
				v.add(fmt.Sprintf("recipes.images.%s[%d]", img, i), "unknown tool %q (known: %s)", t, strings.Join(toolNames, ", "))
			}
		}
	}
}

// validateRepository checks [[repository]]: each entry names a bitbake step
// and gives every images-manifest column as one word; ids and repository
// files are unique.
func (v *validator) validateRepository(c *Config) {
	ids, dests := map[string]bool{}, map[string]bool{}
	for i, r := range c.Repo {
		key := fmt.Sprintf("repository[%d]", i)
		if s, ok := c.Steps[r.Step]; !ok {
			v.add(key+".step", "unknown step %q", r.Step)
		} else if s.StepKind() != KindBitbake {
			v.add(key+".step", "step %q is not a bitbake step", r.Step)
		}
		for _, f := range []struct{ name, val string }{{"id", r.ID}, {"source", r.Source}, {"type", r.Type}, {"destination", r.Destination}, {"mount", r.Mount}} {
			if f.val == "" || strings.ContainsAny(f.val, " \t\r\n") {
				v.add(key+"."+f.name, "want one non-empty word, got %q", f.val)
			}
		}
		if !nameRE.MatchString(r.Source) || !nameRE.MatchString(r.Destination) || !nameRE.MatchString(r.Type) {
			v.add(key, "source, type and destination must be plain file name parts (%q, %q, %q)", r.Source, r.Type, r.Destination)
		}
		if r.Mount != "" && !strings.HasPrefix(r.Mount, "/") {
			v.add(key+".mount", "%q must be an absolute path", r.Mount)
		}
		if r.ID != "file" && ids[r.ID] {
			v.add(key+".id", "image id %q listed twice", r.ID)
		}
		ids[r.ID] = true
		if dests[r.Destination+"."+r.Type] {
			v.add(key+".destination", "%q listed twice", r.Destination)
		}
		dests[r.Destination+"."+r.Type] = true
	}
}

// validateLayerURLs checks [mirrors.layers]: every key names a layer of the
// configuration (a [[layer]] or a board's own layer).
func (v *validator) validateLayerURLs(c *Config) {
	known := map[string]bool{}
	for _, l := range c.Layers {
		known[l.Name] = true
	}
	for _, b := range c.Boards {
		for _, l := range b.Repos {
			known[l.Name] = true
		}
	}
	names := make([]string, 0, len(c.Mirrors.Layers))
	for n := range c.Mirrors.Layers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		key := "mirrors.layers." + n
		if !known[n] {
			all := make([]string, 0, len(known))
			for k := range known {
				all = append(all, k)
			}
			sort.Strings(all)
			v.add(key, "no layer named %q (known: %s)", n, strings.Join(all, ", "))
		}
		if strings.TrimSpace(c.Mirrors.Layers[n]) == "" {
			v.add(key, "missing URL")
		}
	}
}
