package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
)

// StagePut publishes a finished step's outputs to the stage tree
// ([fanout] stage): stage:put STEP.
func StagePut(ctx context.Context, step string) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return pipeline.Publish(ctx, b, step)
	})
}

// StageGet restores the steps published so far into this build dir and
// marks them done (stage:get); with a step name, only what that step
// depends on (stage:getfor STEP).
func StageGet(ctx context.Context, steps ...string) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return pipeline.Fetch(ctx, b, steps...)
	})
}

// StageCollect restores every published step of this build, all from its
// layer lock, so license, ship, sign and upload run as on one host.
func StageCollect(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return pipeline.Collect(ctx, b)
	})
}

// StageClean removes this build's tree from the stage tree once the final
// builder is done with it (stage:clean).
func StageClean(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return pipeline.Clean(ctx, b)
	})
}
