package upload

import (
	"context"
	"errors"

	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
)

// Step is the upload kind: publish build-output/<NAME> to
// upload.destination. It produces no artifact of its own.
func Step(s plan.Step) pipe.Step { return step{pipe.Named{Step: s}} }

type step struct{ pipe.Named }

func (s step) Run(ctx context.Context, b *pipe.Build) ([]manifest.Artifact, error) {
	_, err := PublishBuild(ctx, b)
	return nil, err
}

// PublishBuild publishes the build in b as configured.
func PublishBuild(ctx context.Context, b *pipe.Build) (Stats, error) {
	c := b.Config
	if c.Upload.Destination == "" {
		return Stats{}, exitcode.UsageError(errors.New("upload: set upload.destination (file:///path or sftp://user@host/path) or XTBUILD_UPLOAD_DESTINATION"))
	}
	o, err := OptionsFromConfig(c)
	if err != nil {
		return Stats{}, exitcode.UsageError(err)
	}
	o.Src, o.Name, o.Term, o.Log = b.OutDir(), b.Plan.Name, b.Term, b.Log
	o.KnownHosts, o.Identity = c.Abs(o.KnownHosts), c.Abs(o.Identity)
	b.Log.Debug("upload", "src", o.Src, "dest", o.Dest, "branch", o.Branch)
	st, err := Publish(ctx, o)
	if err == nil {
		b.Log.Debug("uploaded", "dest", st.Dest, "files", st.Files, "sent", st.Sent, "skipped", st.Skipped, "verified", st.Verified)
	}
	return st, err
}
