package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// addBoardProfiles merges the embedded board profiles (profiles/boards.toml)
// into the profile. A board keeps its own layer repositories inside its
// table rather than in the top-level [[layer]] list: a [[layer]] list in a
// user's file replaces the profile's list, which would otherwise strand the
// embedded boards, and the main build never sees a board's repositories.
func addBoardProfiles(c *Config) {
	src, err := profileFS.ReadFile("profiles/boards.toml")
	if err != nil {
		panic(err)
	}
	var bp struct {
		Boards map[string]Board `toml:"boards"`
	}
	md, err := toml.Decode(string(src), &bp)
	if err != nil {
		panic(fmt.Sprintf("embedded board profiles: %v", err))
	}
	if und := md.Undecoded(); len(und) > 0 {
		panic(fmt.Sprintf("embedded board profiles: unknown key %s", und[0]))
	}
	if c.Boards == nil {
		c.Boards = map[string]Board{}
	}
	for name, b := range bp.Boards {
		if _, ok := c.Boards[name]; !ok {
			c.Boards[name] = b
		}
	}
}

// BoardNames lists the configured boards, sorted.
func (c *Config) BoardNames() []string {
	names := make([]string, 0, len(c.Boards))
	for n := range c.Boards {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Standalone reports whether the board brings its own bitbake (and so its
// own core layers, usually for another Yocto release than the main build).
func (b Board) Standalone() bool {
	for _, l := range b.Repos {
		if l.Kind == "bitbake" {
			return true
		}
	}
	return false
}

// ImageArtifact is the deploy glob that collects a board image's files:
// every <image>-<machine>.<type> link the image class writes (rootfs
// types, manifest, testdata).
func (b Board) ImageArtifact() Artifact {
	return Artifact{From: "images/{machine}/" + b.Image + "-{machine}.*", To: "image/"}
}

// ForBoard derives the configuration of a board build from c:
//   - layers: the board's own [[boards.<name>.layer]] repositories plus the
//     [[layer]] entries it names (board_only ones included); a board without
//     its own bitbake also gets every common (not board_only) layer of c, and
//     its own repositories replace common ones of the same name;
//   - steps: setupoe and one bitbake step, named after the board, that builds
//     the board's image for its MACHINE and collects the image files from
//     images/{machine}/ plus the board's extra artifacts;
//   - NAME <main NAME>-<board>, build dir <build_dir>/boards/<board> and lock
//     file <lock>-<board>.lock, while the layer clones stay shared with the
//     main build (layers_dir points back at the main build's);
//   - release, branches and distro from the board when it sets them, its
//     ACMs and local.conf lines added, and its image carrying its tools.
//
// An unknown board is a usage error listing the known ones. c is not
// modified.
func (c *Config) ForBoard(name string) (*Config, error) {
	b, ok := c.Boards[name]
	if !ok {
		known := "none are configured"
		if names := c.BoardNames(); len(names) > 0 {
			known = "known boards: " + strings.Join(names, ", ")
		}
		return nil, exitcode.UsageError(fmt.Errorf("unknown board %q (%s)", name, known))
	}
	if name == KindSetupOE {
		return nil, exitcode.UsageError(fmt.Errorf("board %q: the name is taken by the setupoe step", name))
	}
	d, err := c.clone()
	if err != nil {
		return nil, err
	}
	if b.Release != "" {
		d.Build.Release = b.Release
	}
	if b.OEBranch != "" {
		d.Build.OEBranch = b.OEBranch
	}
	if b.BitbakeBranch != "" {
		d.Build.BitbakeBranch = b.BitbakeBranch
	}
	switch {
	case b.Distro != "":
		d.Build.Distro = b.Distro
	case b.Standalone():
		d.Build.Distro = "nodistro" // the distro of the main build lives in its layers
	}
	d.Build.Name = mainBuildName(c) + "-" + name

	if d.Layers, err = boardLayers(c, name, b, d.Build.Release); err != nil {
		return nil, err
	}

	d.Paths.BuildDir = filepath.Join(c.Paths.BuildDir, "boards", name)
	if !filepath.IsAbs(c.Paths.LayersDir) {
		// Relative to the board's build dir, two levels below the main
		// one: the clones are shared and the config stays movable.
		d.Paths.LayersDir = filepath.Join("..", "..", c.Paths.LayersDir)
	}
	d.Paths.LockFile = strings.TrimSuffix(c.Paths.LockFile, ".lock") + "-" + name + ".lock"

	setup, ok := c.Steps[KindSetupOE]
	if !ok {
		setup = Step{Kind: KindSetupOE}
	}
	step := Step{
		Machine:   b.Machine,
		Images:    []string{b.Image},
		Depends:   []string{KindSetupOE},
		Artifacts: append([]Artifact{b.ImageArtifact()}, b.Artifacts...),
		Doc:       b.Doc,
	}
	if step.Doc == "" {
		step.Doc = fmt.Sprintf("Board %s: %s for MACHINE %s.", name, b.Image, b.Machine)
	}
	d.Steps = map[string]Step{KindSetupOE: setup, name: step}
	d.Build.Steps = []string{KindSetupOE, name}

	// The board build's tools layer serves its one image: the main build's
	// images are not built here (and a standalone board has none of them).
	tools := append([]string{}, c.Recipes.Images[b.Image]...)
	for _, t := range b.Tools {
		if !contains(tools, t) {
			tools = append(tools, t)
		}
	}
	d.Recipes.Images = map[string][]string{}
	if len(tools) > 0 {
		d.Recipes.Images[b.Image] = tools
	}
	for _, a := range b.ACMs {
		dup := false
		for _, have := range d.ACMs {
			dup = dup || have.Name == a.Name
		}
		if !dup {
			d.ACMs = append(d.ACMs, a)
		}
	}
	d.LocalConf.Extra = append(d.LocalConf.Extra, b.LocalConf...)

	normalize(d)
	v := &validator{file: "boards." + name}
	if !nameRE.MatchString(d.Build.Release) {
		v.add("boards."+name+".release", "%q is not a Yocto release name", d.Build.Release)
	}
	v.validateLayers(d)
	v.validateSteps(d)
	for i, line := range d.LocalConf.Extra {
		if strings.ContainsAny(line, "\n\r") {
			v.add(fmt.Sprintf("local_conf[%d]", i), "one BitBake line per entry (no line breaks)")
		}
	}
	for i, a := range d.ACMs {
		if !sha256RE.MatchString(a.SHA256) || a.Name == "" || strings.ContainsAny(a.Name, "/\\") {
			v.add(fmt.Sprintf("acm[%d]", i), "%q: want a plain file name and a 64-digit sha256", a.Name)
		}
	}
	if len(v.errs) > 0 {
		return nil, exitcode.UsageError(v.errs.sorted())
	}
	d.Source.Hash = hashOf(d)
	return d, nil
}

// boardLayers assembles a board's layer list (see ForBoard).
func boardLayers(c *Config, name string, b Board, release string) ([]Layer, error) {
	var out []Layer
	if !b.Standalone() {
		for _, l := range c.Layers {
			if !l.BoardOnly {
				out = append(out, l)
			}
		}
	}
	index := func(n string) int {
		for i, l := range out {
			if l.Name == n {
				return i
			}
		}
		return -1
	}
	for _, n := range b.Layers {
		l, ok := c.Layer(n)
		if !ok {
			return nil, exitcode.UsageError(fmt.Errorf("board %s: unknown layer %q", name, n))
		}
		if index(n) < 0 {
			out = append(out, l)
		}
	}
	for _, l := range b.Repos {
		if u, ok := c.Mirrors.Layers[l.Name]; ok {
			l.URL = u
		}
		if l.Kind == "" {
			l.Kind = "other"
		}
		if l.Path == "" {
			// Kept apart from the main build's checkouts of the same
			// repository, shared by boards of one release.
			l.Path = filepath.Join(release, l.Name)
		}
		if i := index(l.Name); i >= 0 {
			out[i] = l
		} else {
			out = append(out, l)
		}
	}
	// In the board's own build every selected layer is in use.
	for i := range out {
		out[i].BoardOnly = false
	}
	return out, nil
}

// mainBuildName is plan.BuildName (plan imports config, not the reverse).
func mainBuildName(c *Config) string {
	if c.Build.Name != "" {
		return c.Build.Name
	}
	return strings.Join([]string{c.Build.NameSite, c.Build.BuildType, c.Build.ID, strings.ReplaceAll(c.Build.Branch, "/", "_")}, "-")
}

// clone deep-copies the TOML-visible configuration.
func (c *Config) clone() (*Config, error) {
	var d Config
	if _, err := toml.NewDecoder(bytes.NewReader(c.Canonical())).Decode(&d); err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	d.Source = Source{File: c.Source.File, Dir: c.Source.Dir}
	return &d, nil
}
