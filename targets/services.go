package targets

import (
	"context"

	"github.com/xtbuild/xtbuild/bbserv"
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

// Hashserv runs BitBake's bitbake-hashserv from the cloned bitbake with
// [hashserv] until interrupted.
func Hashserv(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return bbserv.RunHashserv(ctx, b.Config, b.Options.Debug, Stdout, b.Log)
	})
}

// Prserv runs BitBake's bitbake-prserv from the cloned bitbake with
// [prserv] until interrupted.
func Prserv(ctx context.Context) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		return bbserv.RunPRServ(ctx, b.Config, b.Options.Debug, Stdout, b.Log)
	})
}
