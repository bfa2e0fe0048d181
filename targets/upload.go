package targets

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/steps"
	"github.com/xtbuild/xtbuild/upload"
)

func init() { extraKinds[config.KindUpload] = uploadStep }

// Upload publishes build-output/<NAME> to upload.destination.
func Upload(ctx context.Context) error {
	return run(func(ctx context.Context, e *steps.Env) error { return publish(ctx, e) })
}

func uploadStep(ctx context.Context, e *steps.Env, p *plan.Plan, s plan.Step, out string) ([]steps.Artifact, error) {
	return nil, publish(ctx, e)
}

func publish(ctx context.Context, e *steps.Env) error {
	c := e.Config
	u := c.Upload
	if u.Destination == "" {
		return exitcode.UsageError(fmt.Errorf("upload: set upload.destination (file:///path or sftp://user@host/path) or XTBUILD_UPLOAD_DESTINATION"))
	}
	dirMode, _ := strconv.ParseUint(u.DirMode, 8, 32)
	fileMode, _ := strconv.ParseUint(u.FileMode, 8, 32)
	_, err := upload.Publish(ctx, upload.Options{
		Src: outDir(e), Name: plan.BuildName(c), Dest: u.Destination, Branch: c.Build.Branch,
		KnownHosts: c.Abs(u.KnownHosts), Identity: c.Abs(u.Identity),
		DirMode: fs.FileMode(dirMode), FileMode: fs.FileMode(fileMode), Term: e.Term,
	})
	return err
}
