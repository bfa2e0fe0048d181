package targets

import (
	"context"
	"time"

	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/steps"
)

// Build runs the configured step list (build.steps, XTBUILD_STEPS) and
// writes the signed provenance of what it produced.
func Build(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		registerKinds(e)
		started := time.Now().UTC()
		if _, err := steps.Build(ctx, e); err != nil {
			return err
		}
		return writeProvenance(e, e.Config, provenance.BuildInfo{Started: started, Finished: time.Now().UTC()})
	})
}

// Step runs one named step with its dependencies first. Unknown names fail
// with the list of known steps.
func Step(ctx context.Context, name string) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		registerKinds(e)
		_, err := steps.Build(ctx, e, name)
		return err
	})
}

// registerKinds plugs in the step kinds implemented by other packages.
func registerKinds(e *steps.Env) {
	if e.Kinds == nil {
		e.Kinds = map[string]steps.KindFunc{}
	}
	for k, f := range extraKinds {
		e.Kinds[k] = f
	}
}

// extraKinds is filled by the files wiring ship and upload.
var extraKinds = map[string]steps.KindFunc{}

// Recipes generates the tools layer (meta-xtbuild-tools) from the config.
func Recipes(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		changed, err := steps.ToolsLayer(ctx, e)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			e.Term.Printf("recipes: %s is up to date", steps.ToolsLayerDir(e.Config))
		}
		for _, f := range changed {
			e.Term.Printf("recipes: %s", f)
		}
		return nil
	})
}

// Report writes the build report for the current build from its kept buildstats.
func Report(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		p, err := plan.Resolve(e.Config, nil)
		if err != nil {
			return err
		}
		return steps.Report(ctx, e, p)
	})
}
