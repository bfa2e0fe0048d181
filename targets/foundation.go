package targets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/doctor"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/plan"
)

// Plan prints the resolved build without running anything.
func Plan(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		lock, err := layers.ReadLock(b.Config.LockFile())
		if err != nil {
			return err
		}
		var locked plan.Locked
		if lock != nil && lock.Stale(b.Config.Layers) == "" {
			locked = lock.Commit
		}
		p, err := plan.Resolve(b.Config, locked)
		if err != nil {
			return err
		}
		if b.Options.JSON {
			return p.WriteJSON(Stdout)
		}
		return p.WriteText(Stdout)
	})
}

// SetupOE clones or updates the layers and generates the BitBake config.
// It holds the build-dir lock build takes (a setupoe step inside build runs
// under build's).
func SetupOE(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		// Through the pipeline: under the build-dir lock, like build.
		_, err := pipeline.Run(ctx, b, "setupoe")
		return err
	})
}

// Doctor checks the build host.
func Doctor(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return doctor.Print(Stdout, doctor.Run(ctx, b.Config, doctor.System()))
	})
}

// Migrate converts an OpenXT .config, an openxt-manifest XML or a bordel template or build dir into xtbuild.toml.
func Migrate(ctx context.Context, path string) error {
	ctx, stop := interruptContext()
	defer stop()
	opts, err := config.LoadOptions(os.Getenv)
	if err != nil {
		return finish(nil, err)
	}
	return finish(nil, migrate(path, outputConfigPath(opts), opts.Force))
}

// outputConfigPath is the file init and migrate write: XTBUILD_CONFIG or
// xtbuild.toml.
func outputConfigPath(opts config.Options) string {
	if opts.ConfigFile != "" {
		return opts.ConfigFile
	}
	return config.DefaultFile
}

func migrate(src, dst string, force bool) error {
	if _, err := os.Stat(src); err != nil {
		return exitcode.UsageError(fmt.Errorf("migrate: %w", err))
	}
	if err := refuseOverwrite(dst, force); err != nil {
		return err
	}
	dstDir, _ := filepath.Abs(filepath.Dir(dst))
	// An OpenXT .config, an openxt-manifest XML or a bordel template or
	// build dir, told apart by content.
	m, err := config.MigratePath(src, dstDir)
	if err != nil {
		return exitcode.UsageError(err)
	}
	if err := atomicfile.WriteFile(dst, m.TOML, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(Stdout, "wrote %s from %s (%s)\n", dst, src, m.Kind)
	for _, n := range m.Notes {
		where := src
		if n.File != "" {
			where = filepath.Join(src, n.File)
			if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
				where = src
			}
		}
		if n.Line > 0 {
			where = fmt.Sprintf("%s:%d", where, n.Line)
		}
		fmt.Fprintf(Stdout, "  %s: %s\n", where, n.Text)
	}
	return nil
}

// Init writes the built-in profile as a starting xtbuild.toml.
func Init(ctx context.Context) error {
	opts, err := config.LoadOptions(os.Getenv)
	if err != nil {
		return finish(nil, err)
	}
	dst := outputConfigPath(opts)
	if err := refuseOverwrite(dst, opts.Force); err != nil {
		return finish(nil, err)
	}
	if err := atomicfile.WriteFile(dst, config.ProfileTOML(), 0o644); err != nil {
		return finish(nil, err)
	}
	fmt.Fprintf(Stdout, "wrote %s (the built-in OpenXT profile); edit it, then run plan\n", dst)
	return nil
}

func refuseOverwrite(dst string, force bool) error {
	if _, err := os.Stat(dst); err == nil && !force {
		return exitcode.UsageError(fmt.Errorf("%s exists; move it away or set XTBUILD_FORCE=1 to overwrite it", dst))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
