package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/signing"
)

// RebuildResult is a rebuild's outcome: the steps' results and the
// comparison with the recorded build.
type RebuildResult struct {
	*provenance.RebuildResult
	Config *config.Config // the rebuilt build's config
	Steps  []Result
}

// Rebuild recreates the build recorded in a provenance file in workDir
// (provenance.Prepare), builds the recorded steps with locked layers in a
// build context of its own (terminal and logger from b), and compares the
// result with the recorded subjects (provenance's Finish), signing the new
// provenance with s when given.
func Rebuild(ctx context.Context, b *pipe.Build, provenancePath, workDir string, opts provenance.RebuildOptions, s *signing.Signer) (*RebuildResult, error) {
	if opts.Log == nil {
		opts.Log = b.Log
	}
	r, err := provenance.Prepare(ctx, provenancePath, workDir, opts)
	if err != nil {
		return nil, err
	}
	rb := &pipe.Build{
		Config: r.Config, Main: r.Main, Board: r.Board(),
		Options: config.Options{Locked: true, Jobs: b.Options.Jobs, Commit: b.Options.Commit},
		Log:     b.Log, Term: b.Term, Version: b.Version,
	}
	started := time.Now().UTC()
	results, err := Run(ctx, rb, r.Steps()...)
	res := &RebuildResult{Config: r.Config, Steps: results}
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	fin, err := r.Finish(provenance.BuildInfo{Started: started, Finished: time.Now().UTC(), Version: b.Version, Commit: b.Options.Commit}, s)
	res.RebuildResult = fin
	return res, err
}
