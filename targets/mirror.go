package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/pipe"
)

// MirrorPopulate files completed downloads from DL_DIR into the mirror.
func MirrorPopulate(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return mirror.RunPopulate(ctx, b.Config, Stdout, b.Log)
	})
}

// MirrorVerify re-hashes the mirror against its index.
func MirrorVerify(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error { return mirror.RunVerify(ctx, b.Config, Stdout) })
}

// MirrorServe serves the mirror read-only over HTTP until interrupted.
func MirrorServe(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return mirror.RunServe(ctx, b.Config, b.Options.Listen, Stdout, b.Log)
	})
}

// MirrorAdd verifies a hand-downloaded license-walled file and files it.
func MirrorAdd(ctx context.Context, file string) error {
	return run(func(ctx context.Context, b *pipe.Build) error { return mirror.RunAdd(ctx, b.Config, file, Stdout) })
}
