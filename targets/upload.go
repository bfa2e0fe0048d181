package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/upload"
)

// Upload publishes build-output/<NAME> to upload.destination.
func Upload(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		if err := pipeline.Resolve(b); err != nil {
			return err
		}
		_, err := upload.PublishBuild(ctx, b)
		return err
	})
}
