package ship

import (
	"context"
	"os"
	"path/filepath"

	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
)

// Parts are the directories of build-output/<NAME> that Assemble writes.
var Parts = []string{"iso", "netboot", "update", "licences", "info"}

// Step is the second half of the ship kind: the update tarball, netboot
// tree, installer ISO, licences and info, stamped with the build date.
func Step(s plan.Step) pipe.Step { return step{pipe.Named{Step: s}} }

type step struct{ pipe.Named }

func (s step) Run(ctx context.Context, b *pipe.Build) ([]manifest.Artifact, error) {
	if err := AssembleBuild(ctx, b); err != nil {
		return nil, err
	}
	var files []string
	for _, sub := range Parts {
		files = append(files, manifest.Files(filepath.Join(b.OutDir(), sub))...)
	}
	return manifest.Artifacts(ctx, b.OutDir(), files, s.Step.Name, "")
}

// AssembleBuild assembles the media of the build in b with its build date.
func AssembleBuild(ctx context.Context, b *pipe.Build) error {
	return AssembleIn(ctx, b, b.OutDir())
}

// AssembleIn assembles the media of the build in b in outDir, from
// outDir's raw/ and repository/: a re-signature assembles them in the new
// output it prepares beside the build's own.
func AssembleIn(ctx context.Context, b *pipe.Build, outDir string) error {
	date, err := b.RequireDate("ship")
	if err != nil {
		return err
	}
	return Assemble(ctx, ShipInput{OutDir: outDir, Version: b.Config.Version.Version, BuildID: b.Config.Build.ID, SourceDateEpoch: date, Log: b.Log})
}

// HasMedia reports whether outDir holds media that carry the repository
// (the update tarball or the installer ISO): a new signature must then be
// shipped in them too.
func HasMedia(outDir string) bool {
	for _, f := range []string{filepath.Join("iso", "installer.iso"), filepath.Join("update", "update.tar")} {
		if _, err := os.Lstat(filepath.Join(outDir, f)); err == nil {
			return true
		}
	}
	return false
}
