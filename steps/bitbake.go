package steps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
)

// SetupOEStep is the setupoe kind: see SetupOE.
func SetupOEStep(s plan.Step) pipe.Step { return setupOEStep{pipe.Named{Step: s}} }

type setupOEStep struct{ pipe.Named }

func (s setupOEStep) Run(ctx context.Context, e *Env) ([]manifest.Artifact, error) {
	return nil, SetupOE(ctx, e)
}

// BitbakeStep is the bitbake kind: one bitbake invocation for one MACHINE
// (unless XTBUILD_COPY_ONLY), then its deploy outputs linked into raw/.
func BitbakeStep(s plan.Step) pipe.Step { return bitbakeStep{pipe.Named{Step: s}} }

type bitbakeStep struct{ pipe.Named }

func (s bitbakeStep) Run(ctx context.Context, e *Env) ([]manifest.Artifact, error) {
	outDir := e.OutDir()
	if !e.Options.CopyOnly {
		if err := runBitbakeStep(ctx, e, s.Step, outDir, LogPath(e, s.Step.Name)); err != nil {
			return nil, err
		}
	}
	return collectArtifacts(ctx, deployDir(e), outDir, s.Step)
}

// LicenseStep is the license kind: every image's licence manifest into
// raw/licences (OpenXT's license step).
func LicenseStep(s plan.Step) pipe.Step { return licenseStep{pipe.Named{Step: s}} }

type licenseStep struct{ pipe.Named }

func (s licenseStep) Run(ctx context.Context, e *Env) ([]manifest.Artifact, error) {
	return collectLicences(ctx, deployDir(e), e.OutDir(), e.Config)
}

// LogPath is where a bitbake step's full output goes.
func LogPath(e *Env, step string) string { return filepath.Join(e.OutDir(), "logs", step+".log") }

// deployDir is BitBake's DEPLOY_DIR.
func deployDir(e *Env) string { return bbconf.BuildDirs(e.Config).Deploy }

func runBitbakeStep(ctx context.Context, e *Env, s plan.Step, outDir, logPath string) error {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("step log: %w", err)
	}
	defer logf.Close()
	bsDir := bbconf.BuildDirs(e.Config).Buildstats
	before := snapshotDirs(bsDir)
	_, runErr := runBitbake(ctx, e, s, s.Command, logf, logPath)
	// Keep this step's buildstats with the build (also on failure: the
	// report explains failed builds too), and which worker made them.
	if err := keepBuildstats(bsDir, before, filepath.Join(outDir, "buildstats", s.Name)); err != nil {
		e.Log.Warn("keep buildstats", "step", s.Name, "err", err)
	}
	if err := writeWorker(e, outDir, s.Name); err != nil {
		e.Log.Warn("write worker name", "step", s.Name, "err", err)
	}
	if ctx.Err() != nil {
		return runErr // interrupted: no further bitbake run
	}
	// The task graph, for the report's critical path. It never changes the
	// step's outcome: without it the report infers the path from timing.
	if err := keepTaskGraph(ctx, e, s, outDir, logf, logPath); err != nil {
		e.Log.Warn("task graph", "step", s.Name, "err", err)
		e.Term.Printf("[%s] WARNING: no task graph kept (%v); the report infers this step's critical path from timing", s.Name, err)
		if runErr == nil && ctx.Err() != nil {
			return fmt.Errorf("step %s: interrupted while writing its task graph: %w", s.Name, ctx.Err())
		}
	}
	return runErr
}

// snapshotDirs records the buildstats run directories and their mtimes.
func snapshotDirs(dir string) map[string]time.Time {
	out := map[string]time.Time{}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if info, err := en.Info(); err == nil && en.IsDir() {
			out[en.Name()] = info.ModTime()
		}
	}
	return out
}

// keepBuildstats links every buildstats run directory that appeared or
// changed during the step into dst.
func keepBuildstats(src string, before map[string]time.Time, dst string) error {
	after := snapshotDirs(src)
	for name, mt := range after {
		if old, ok := before[name]; ok && old.Equal(mt) {
			continue
		}
		if err := linkTree(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	return nil
}

func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return atomicfile.LinkOrCopy(p, target, 0o644)
	})
}
