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
	"github.com/xtbuild/xtbuild/poller"
)

// BuildbotConfig writes master.cfg: one builder that checks out the config
// repository, compiles the targets, runs one ShellCommand per configured
// step, then sign and upload; plus the change hook the poller feeds.
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
		b.Term.Printf("wrote %s (builder %s, %d steps)", out, bc.Builder, len(bc.Steps))
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
	bc := buildbot.Config{
		Title: b.Title, Builder: b.Builder, ConfigRepo: b.ConfigRepo, ConfigBranch: b.ConfigBranch,
		Compile: []string{"go", "run", "mage.go", "-compile", "./xtbuild"},
		Command: []string{"./xtbuild"},
		Steps:   c.Build.Steps,
		Sign:    "sign",
		Env:     b.Env, BuildNumberEnv: "XTBUILD_ID",
		Listen: b.Listen, WorkerPort: b.WorkerPort, WebPort: b.WebPort, URL: b.URL,
		TreeStableTimer:    time.Duration(b.TreeStableSeconds) * time.Second,
		ChangeHookAuthFile: b.ChangeHookAuth,
	}
	if c.Upload.Destination != "" {
		bc.Upload = "upload"
	}
	for _, w := range b.Workers {
		bc.Workers = append(bc.Workers, buildbot.Worker{Name: w, Password: pass})
	}
	return bc, nil
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
