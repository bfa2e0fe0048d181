// Package plan resolves the configuration into the build that will run:
// the build NAME, the steps in execution order with their machines, targets
// and exact bitbake command lines, and the layer revisions. Everything
// downstream reads the plan, never the raw config.
package plan

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// Plan is the resolved build.
type Plan struct {
	Name       string  `json:"name"`
	ConfigHash string  `json:"config_hash"`
	BuildDir   string  `json:"build_dir"`
	OutputDir  string  `json:"output_dir"`
	Steps      []Step  `json:"steps"`
	Layers     []Layer `json:"layers"`
	Boards     []Board `json:"boards,omitempty"`
	// Repository is what sign puts into packages.main, in order; each
	// file is staged into raw/ by the step named in it.
	Repository []RepoFile `json:"repository,omitempty"`
}

// Board is a board profile buildable with `board NAME`.
type Board struct {
	Name    string   `json:"name"`
	Machine string   `json:"machine"`
	Image   string   `json:"image"`
	Tools   []string `json:"tools,omitempty"`
	Layers  []string `json:"layers"`
	Doc     string   `json:"doc,omitempty"`
}

// Step is one step of the plan.
type Step struct {
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Machine   string            `json:"machine,omitempty"`
	Images    []string          `json:"images,omitempty"`
	Depends   []string          `json:"depends,omitempty"`
	Command   []string          `json:"command,omitempty"` // exact bitbake argv
	Env       map[string]string `json:"env,omitempty"`     // per-step environment
	Artifacts []config.Artifact `json:"artifacts,omitempty"`
	Doc       string            `json:"doc,omitempty"`
	// Requested is false for steps pulled in only as dependencies.
	Requested bool `json:"requested"`
}

// Layer is one layer repository and the revision it will be at.
type Layer struct {
	Name     string   `json:"name"`
	URL      string   `json:"url"`
	Ref      string   `json:"ref"`              // branch or tag followed
	Commit   string   `json:"commit,omitempty"` // pinned or locked commit
	Pinning  string   `json:"pinning"`          // "config", "lock" or "branch head"
	Dir      string   `json:"dir"`
	Sublayer []string `json:"sublayers,omitempty"`
}

// BuildName is OpenXT's NAME: <name_site>-<build_type>-<id>-<branch>, or
// the explicit build.name.
func BuildName(c *config.Config) string {
	if c.Build.Name != "" {
		return c.Build.Name
	}
	return strings.Join([]string{c.Build.NameSite, c.Build.BuildType, c.Build.ID, strings.ReplaceAll(c.Build.Branch, "/", "_")}, "-")
}

// Locked gives the locked commit of a layer by name, if any.
type Locked func(name string) (commit string, ok bool)

// Resolve builds the plan for the configured step list (or for only the
// given steps, when names are passed), dependencies first.
func Resolve(c *config.Config, locked Locked, names ...string) (*Plan, error) {
	if len(names) == 0 {
		names = c.Build.Steps
	}
	order, err := Order(c, names)
	if err != nil {
		return nil, err
	}
	requested := map[string]bool{}
	for _, n := range names {
		requested[n] = true
	}
	p := &Plan{
		Name:       BuildName(c),
		ConfigHash: c.Source.Hash,
		BuildDir:   c.BuildDir(),
		OutputDir:  c.Abs(c.Paths.OutputDir),
	}
	p.Repository = Repository(c)
	for _, n := range order {
		s := c.Steps[n]
		ps := Step{
			Name: n, Kind: s.StepKind(), Machine: s.Machine, Images: s.Images,
			Depends: s.Depends, Artifacts: StepArtifacts(c, n), Doc: s.Doc, Requested: requested[n],
		}
		if ps.Kind == config.KindBitbake {
			ps.Command = BitbakeArgs(s)
			ps.Env = map[string]string{"MACHINE": s.Machine}
		}
		p.Steps = append(p.Steps, ps)
	}
	for _, l := range c.Layers {
		pl := Layer{Name: l.Name, URL: l.URL, Dir: c.LayerDir(l), Sublayer: l.Sublayers}
		pl.Ref = l.Branch
		if l.Tag != "" {
			pl.Ref = "tag " + l.Tag
		}
		switch {
		case l.Commit != "":
			pl.Commit, pl.Pinning = l.Commit, "config"
		case locked != nil:
			if commit, ok := locked(l.Name); ok {
				pl.Commit, pl.Pinning = commit, "lock"
			}
		}
		if pl.Pinning == "" {
			pl.Pinning = "branch head"
		}
		p.Layers = append(p.Layers, pl)
	}
	for _, name := range c.BoardNames() {
		d, err := c.ForBoard(name)
		if err != nil {
			return nil, err
		}
		b := c.Boards[name]
		pb := Board{Name: name, Machine: b.Machine, Image: b.Image, Tools: b.Tools, Doc: b.Doc}
		for _, l := range d.Layers {
			pb.Layers = append(pb.Layers, l.Name)
		}
		p.Boards = append(p.Boards, pb)
	}
	return p, nil
}

// StepArtifacts is what a step copies into raw/: its own artifacts, then
// the repository images it deploys (to raw/<file>).
func StepArtifacts(c *config.Config, step string) []config.Artifact {
	arts := append([]config.Artifact{}, c.Steps[step].Artifacts...)
	for _, f := range Repository(c) {
		if f.Step == step {
			arts = append(arts, config.Artifact{From: f.Deploy, To: f.File})
		}
	}
	if len(arts) == 0 {
		return nil
	}
	return arts
}

// BitbakeArgs is the argv of a bitbake step (MACHINE goes in the environment).
func BitbakeArgs(s config.Step) []string {
	args := []string{"bitbake"}
	if s.Task != "" {
		args = append(args, "-c", s.Task)
	}
	return append(args, s.Images...)
}

// Order returns the steps to run for names: each step after its
// dependencies, otherwise in the order given. Unknown names are a usage
// error listing the known steps.
func Order(c *config.Config, names []string) ([]string, error) {
	for _, n := range names {
		if _, ok := c.Steps[n]; !ok {
			return nil, exitcode.UsageError(fmt.Errorf("unknown step %q (known steps: %s)", n, strings.Join(KnownSteps(c), ", ")))
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		if seen[n] {
			return nil
		}
		for _, p := range path {
			if p == n {
				return exitcode.UsageError(fmt.Errorf("dependency cycle: %s -> %s", strings.Join(path, " -> "), n))
			}
		}
		for _, d := range c.Steps[n].Depends {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		seen[n] = true
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// KnownSteps lists the defined step names, sorted.
func KnownSteps(c *config.Config) []string {
	names := make([]string, 0, len(c.Steps))
	for n := range c.Steps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OutDir is build-output/<NAME>, where every step's outputs go.
func (p *Plan) OutDir() string { return filepath.Join(p.OutputDir, p.Name) }
