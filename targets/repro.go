package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/steps"
)

// Board builds one board profile: its own MACHINE, image, layers and tools.
func Board(ctx context.Context, name string) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		main := e.Config
		d, err := main.ForBoard(name)
		if err != nil {
			return err
		}
		e.Config = d
		registerKinds(e)
		started := time.Now().UTC()
		_, err = steps.Build(ctx, e)
		if err != nil {
			return err
		}
		return writeProvenance(e, main, provenance.BuildInfo{Board: name, Started: started, Finished: time.Now().UTC()})
	})
}

// writeProvenance records and signs the build's provenance; a build that
// produced no artifact (only setupoe ran) has nothing to attest.
func writeProvenance(e *steps.Env, main *config.Config, info provenance.BuildInfo) error {
	info.Version, info.Commit = buildVersion()
	path, err := provenance.Write(main, info)
	if err != nil {
		if strings.Contains(err.Error(), "no artifacts") {
			e.Log.Info("no provenance: the build produced no artifacts")
			return nil
		}
		return err
	}
	s, err := provenance.DevSigner(main)
	if err != nil {
		e.Term.Printf("provenance: %s (unsigned: %v)", path, err)
		return nil
	}
	sig, err := provenance.Sign(path, s)
	if err != nil {
		return err
	}
	e.Term.Printf("provenance: %s, signed in %s", path, filepath.Base(sig))
	return nil
}

// buildVersion is xtbuild's module version and VCS commit, when known.
func buildVersion() (version, commit string) {
	return "devel", os.Getenv("XTBUILD_COMMIT")
}

// Rebuild recreates a build from its provenance file alone and compares.
func Rebuild(ctx context.Context, provenanceFile string) error {
	return run(func(ctx context.Context, e *steps.Env) error {
		c := e.Config
		dir := e.Options.Dir
		if dir == "" {
			dir = "rebuild-" + strings.TrimSuffix(filepath.Base(filepath.Dir(provenanceFile)), "/")
		}
		ca := e.Options.CA
		if ca == "" {
			ca = c.Abs(c.Signing.DevCACert)
		}
		registerKinds(e)
		version, commit := buildVersion()
		opts := provenance.RebuildOptions{CAFile: ca, AllowUnsigned: e.Options.Unsigned, MirrorDir: c.Abs(c.Paths.Mirror),
			Env: *e, Version: version, Commit: commit}
		if s, err := provenance.DevSigner(c); err == nil {
			opts.Signer = s
		}
		res, err := provenance.Rebuild(ctx, provenanceFile, dir, opts)
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
	return run(func(ctx context.Context, e *steps.Env) error {
		r, err := provenance.Compare(ctx, a, b)
		if err != nil {
			return exitcode.With(2, err)
		}
		if e.Options.JSON {
			Stdout.Write(r.JSON())
		} else {
			fmt.Fprint(Stdout, r.Text())
		}
		if !r.Identical {
			return fmt.Errorf("repro:compare: %s and %s differ", a, b)
		}
		return nil
	})
}
