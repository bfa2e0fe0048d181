package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/sstate"
)

// SstatePublish copies the build dir's new sstate objects into
// mirrors.sstate_publish, atomically and verified.
func SstatePublish(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return sstate.RunPublish(ctx, b.Config, Stdout, b.Log)
	})
}
