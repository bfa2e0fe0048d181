package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xtbuild/xtbuild/buildbot"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/poller"
)

// BuildbotConfig writes master.cfg: one builder that checks out the config
// repository, compiles the targets, runs one ShellCommand per step of the
// plan, then sign and upload; or, fanned out ([buildbot] fanout), a parent
// builder triggering one builder per bitbake step and a final builder
// (docs/scale-out.md); plus the change hook the poller feeds.
func BuildbotConfig(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		bc, err := buildbotConfig(b.Config)
		if err != nil {
			return err
		}
		out := b.Config.Abs(b.Config.Buildbot.Output)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := buildbot.Write(out, bc); err != nil {
			return err
		}
		shape := "one builder"
		if bc.Fanout {
			shape = "fan-out over " + fmt.Sprint(len(bc.Workers)) + " workers"
		}
		b.Term.Printf("wrote %s (builder %s, %d steps, %s)", out, bc.Builder, len(bc.Steps), shape)
		b.Term.Printf("wrote %s (web plugin; without buildbot-www start the master with PYTHONPATH=%[1]s)", filepath.Join(filepath.Dir(out), buildbot.WebPluginDir))
		return nil
	})
}

func buildbotConfig(c *config.Config) (buildbot.Config, error) {
	b := c.Buildbot
	if b.ConfigRepo == "" {
		return buildbot.Config{}, exitcode.UsageError(fmt.Errorf("buildbot.config_repo is not set: name the git repository holding xtbuild.toml"))
	}
	pass := os.Getenv(b.WorkerPasswordEnv)
	if pass == "" {
		return buildbot.Config{}, exitcode.UsageError(fmt.Errorf("set %s to the workers' password (it is written into master.cfg, mode 0600)", b.WorkerPasswordEnv))
	}
	steps, err := buildbotSteps(c)
	if err != nil {
		return buildbot.Config{}, err
	}
	bc := buildbot.Config{
		Title: b.Title, Builder: b.Builder, ConfigRepo: b.ConfigRepo, ConfigBranch: b.ConfigBranch,
		Compile: []string{"go", "run", "mage.go", "-compile", "./xtbuild"},
		Command: []string{"./xtbuild"},
		Steps:   steps,
		Sign:    "sign",
		Env:     b.Env, BuildNumberEnv: "XTBUILD_ID",
		Listen: b.Listen, WorkerPort: b.WorkerPort, WebPort: b.WebPort, URL: b.URL,
		TreeStableTimer:    time.Duration(b.TreeStableSeconds) * time.Second,
		ChangeHookAuthFile: b.ChangeHookAuth,
		ForceAuthFile:      b.ForceAuth,
		Fanout:             b.Fanout == "on" || (b.Fanout != "off" && len(b.Workers) >= 2),
	}
	if b.Xtbuild != "" {
		bc.Compile, bc.Command = nil, []string{b.Xtbuild}
	}
	if c.Upload.Destination != "" {
		bc.Upload = "upload"
	}
	for _, w := range b.Workers {
		bc.Workers = append(bc.Workers, buildbot.Worker{Name: w, Password: pass})
	}
	return bc, nil
}

// buildbotSteps turns the plan's steps (dependencies first) into builder
// steps: setupoe runs as its own target, every other step as `step NAME`
// (config step names need not be Mage targets). Bitbake steps are the
// parallel ones of a fan-out; the rest run in its final builder.
func buildbotSteps(c *config.Config) ([]buildbot.Step, error) {
	p, err := plan.Resolve(c, nil)
	if err != nil {
		return nil, err
	}
	kind := map[string]string{}
	var out []buildbot.Step
	for _, s := range p.Steps {
		bs := buildbot.Step{Name: s.Name, Args: []string{"step", s.Name}, Kind: buildbot.Final}
		switch s.Kind {
		case config.KindSetupOE:
			bs.Args, bs.Kind = []string{"setupoe"}, buildbot.Setup
		case config.KindBitbake:
			bs.Kind = buildbot.Parallel
		}
		for _, d := range s.Depends {
			switch kind[d] {
			case buildbot.Parallel:
				bs.Depends = append(bs.Depends, d)
			case buildbot.Final:
				if bs.Kind == buildbot.Parallel {
					return nil, exitcode.UsageError(fmt.Errorf("step %s (bitbake) depends on %s (%s), which a fan-out runs last: make %s depend on bitbake steps only", s.Name, d, c.Steps[d].StepKind(), s.Name))
				}
			}
		}
		if bs.Kind != buildbot.Parallel {
			bs.Depends = nil
		}
		kind[s.Name] = bs.Kind
		out = append(out, bs)
	}
	return out, nil
}

// Poll runs the git poller daemon with the given config (TOML, or
// twobit-git-poller's INI).
func Poll(ctx context.Context, configFile string) error {
	ctx, stop := interruptContext()
	defer stop()
	if code := poller.Main(ctx, []string{"-config", configFile}, Stdout, os.Stderr); code != 0 {
		return &exitcode.Error{Code: code, Err: fmt.Errorf("poll: exit %d", code)}
	}
	return nil
}
