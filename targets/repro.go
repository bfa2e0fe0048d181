package targets

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/provenance"
)

// Board builds one board profile: its own MACHINE, image, layers and tools.
func Board(ctx context.Context, name string) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		d, err := b.Config.ForBoard(name)
		if err != nil {
			return err
		}
		b.Main, b.Config, b.Board = b.Config, d, name
		_, err = pipeline.Run(ctx, b)
		return err
	})
}

// Rebuild recreates a build from its provenance file alone and compares.
func Rebuild(ctx context.Context, provenanceFile string) error {
	return run(func(ctx context.Context, b *pipe.Build) error {
		c := b.Config
		dir := b.Options.Dir
		if dir == "" {
			dir = "rebuild-" + strings.TrimSuffix(filepath.Base(filepath.Dir(provenanceFile)), "/")
		}
		ca := b.Options.CA
		if ca == "" {
			ca = c.Abs(c.Signing.DevCACert)
		}
		opts := provenance.RebuildOptions{CAFile: ca, AllowUnsigned: b.Options.Unsigned, MirrorDir: c.Abs(c.Paths.Mirror)}
		s, _ := provenance.DevSigner(c)
		res, err := pipeline.Rebuild(ctx, b, provenanceFile, dir, opts, s)
		if err != nil {
			return err
		}
		fmt.Fprint(Stdout, res.Report.Text())
		if !res.Report.Identical {
			return fmt.Errorf("rebuild in %s differs from %s", dir, provenanceFile)
		}
		return nil
	})
}

// ReproCompare compares two builds (manifests, provenance files or
// build-output trees) down to archive members.
func ReproCompare(ctx context.Context, a, b string) error {
	buildA, buildB := a, b
	return run(func(ctx context.Context, bc *pipe.Build) error {
		r, err := provenance.Compare(ctx, buildA, buildB)
		if err != nil {
			return exitcode.With(2, err)
		}
		if bc.Options.JSON {
			Stdout.Write(r.JSON())
		} else {
			fmt.Fprint(Stdout, r.Text())
		}
		if !r.Identical {
			return fmt.Errorf("repro:compare: %s and %s differ", buildA, buildB)
		}
		return nil
	})
}
