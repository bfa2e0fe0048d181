package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/steps"
)

// Build runs the configured step list (build.steps, XTBUILD_STEPS); the
// pipeline writes the signed provenance of what it produced.
func Build(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		_, err := pipeline.Run(ctx, b)
		return err
	})
}

// Step runs one named step with its dependencies first. Unknown names fail
// with the list of known steps.
func Step(ctx context.Context, name string) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		_, err := pipeline.Run(ctx, b, name)
		return err
	})
}

// Recipes generates the tools layer (meta-xtbuild-tools) from the config.
func Recipes(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		changed, err := steps.ToolsLayer(ctx, b)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			b.Term.Printf("recipes: %s is up to date", steps.ToolsLayerDir(b.Config))
		}
		for _, f := range changed {
			b.Term.Printf("recipes: %s", f)
		}
		return nil
	})
}

// Report writes the build report for the current build from its kept buildstats.
func Report(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		if err := pipeline.Resolve(b); err != nil {
			return err
		}
		return steps.Report(ctx, b, b.Plan)
	})
}
