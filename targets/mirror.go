package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/steps"
)

// MirrorPopulate files completed downloads from DL_DIR into the mirror.
func MirrorPopulate(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error { return mirror.RunPopulate(ctx, e.Config, Stdout) })
}

// MirrorVerify re-hashes the mirror against its index.
func MirrorVerify(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error { return mirror.RunVerify(ctx, e.Config, Stdout) })
}

// MirrorServe serves the mirror read-only over HTTP until interrupted.
func MirrorServe(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		return mirror.RunServe(ctx, e.Config, e.Options.Listen, Stdout)
	})
}

// MirrorAdd verifies a hand-downloaded license-walled file and files it.
func MirrorAdd(ctx context.Context, file string) error {
	return run(func(ctx context.Context, e *steps.Env) error { return mirror.RunAdd(ctx, e.Config, file, Stdout) })
}
