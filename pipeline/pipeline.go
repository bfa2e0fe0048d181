// Package pipeline runs a build: the configured steps in dependency order,
// each a pipe.Step of the kind its config names (kinds.go lists them), under
// the build-dir lock, with resume stamps, manifest.json updated after every
// step, the provenance rewritten to cover what was built so far, the summary
// and the build report. Every target that builds (build, board, the step
// targets that buildbot runs one by one, rebuild) goes through Run.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/layers"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/steps"
)

// Result is one row of the build summary.
type Result struct {
	Step     string
	Status   string // ok, skipped, done earlier, failed, interrupted, not run
	Duration time.Duration
	Log      string
}

// Resolve fills b's plan for the named steps (the configured list when
// none), and its lock and build date from xtbuild.lock when setupoe has
// written one. Targets call it once; Run calls it when b has no plan yet.
func Resolve(b *pipe.Build, names ...string) error {
	p, err := plan.Resolve(b.Config, nil, names...)
	if err != nil {
		return err
	}
	b.Plan = p
	return refreshLock(b)
}

// refreshLock reads the lock and the build date it implies (the newest
// locked layer commit, as local.conf's SOURCE_DATE_EPOCH_FALLBACK). An
// explicit SOURCE_DATE_EPOCH option wins, as the reproducible-builds
// convention says.
func refreshLock(b *pipe.Build) error {
	lock, err := layers.ReadLock(b.Config.LockFile())
	if err != nil {
		return err
	}
	b.Lock = lock
	if !b.Options.SourceDateEpoch.IsZero() {
		b.Date = b.Options.SourceDateEpoch
		return nil
	}
	ep, err := bbconf.LayerEpoch(b.Config)
	if err != nil {
		return err
	}
	if ep != nil {
		b.Date = time.Unix(ep.Unix, 0).UTC()
	}
	return nil
}

// Run runs the plan's steps, dependencies first, under the build-dir lock.
// A step whose stamp matches the current config and layer lock is skipped,
// so re-running after a failure resumes at the failed step;
// XTBUILD_FORCE=1 runs everything again. After every completed step the
// manifest and the provenance cover everything built so far.
func Run(ctx context.Context, b *pipe.Build, names ...string) ([]Result, error) {
	c := b.Config
	lk, err := buildlock.Acquire(c.BuildDir())
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	if b.Plan == nil || len(names) > 0 {
		if err := Resolve(b, names...); err != nil {
			return nil, err
		}
	}
	p := b.Plan
	// License-walled files (ACMs) must be in the mirror before bitbake
	// starts, not discovered missing hours into a build.
	if needsBitbake(p) && !b.Options.CopyOnly {
		if err := mirror.CheckACMs(c); err != nil {
			return nil, err
		}
	}
	var results []Result
	var buildErr error
	usedBitbake := false
	var done []string
	started := time.Now().UTC()
	for _, s := range p.Steps {
		if buildErr != nil {
			results = append(results, Result{Step: s.Name, Status: "not run"})
			continue
		}
		key := stampKey(c, s)
		if s.Kind != config.KindSetupOE && !b.Options.Force && stampValid(c, s.Name, key) {
			b.Term.Printf("[%s] done earlier with this config and layer lock; skipping (XTBUILD_FORCE=1 rebuilds)", s.Name)
			results = append(results, Result{Step: s.Name, Status: "done earlier"})
			done = append(done, s.Name)
			continue
		}
		st, err := kinds.For(s)
		if err != nil {
			return results, err
		}
		start := time.Now()
		b.Term.Printf("=== step %s (%s) started %s", s.Name, s.Kind, start.UTC().Format(time.RFC3339))
		removeStamp(c, s.Name)
		err = runStep(ctx, b, st)
		r := Result{Step: s.Name, Duration: time.Since(start).Round(time.Second), Status: "ok"}
		if s.Kind == config.KindBitbake && !b.Options.CopyOnly {
			r.Log = steps.LogPath(b, s.Name)
			usedBitbake = true
		}
		switch {
		case errors.Is(err, pipe.ErrSkip):
			b.Term.Printf("[%s] %v", s.Name, err)
			r.Status, err = "skipped", nil
		case err == nil:
			err = writeStamp(c, s.Name, key, b.Options.WorkerName())
		case ctx.Err() != nil:
			r.Status = "interrupted"
		default:
			r.Status = "failed"
		}
		if err != nil {
			if r.Status == "ok" {
				r.Status = "failed"
			}
			buildErr = err
		} else {
			done = append(done, s.Name)
			if s.Kind == config.KindSetupOE {
				if err := refreshLock(b); err != nil {
					buildErr = err
				}
			}
			if s.Kind != config.KindSetupOE && buildErr == nil {
				// Every finished step leaves a provenance covering what
				// is built so far: buildbot runs step targets one by one.
				if err := writeProvenance(b, done, started); err != nil {
					buildErr = err
				}
			}
		}
		results = append(results, r)
	}
	if usedBitbake && c.Build.ServerTimeout > 0 {
		steps.StopServer(context.WithoutCancel(ctx), b)
	}
	printSummary(b, results)
	// The report is written for failed builds too: that is when it helps most.
	if usedBitbake {
		if err := steps.Report(context.WithoutCancel(ctx), b, p); err != nil {
			b.Log.Warn("build report", "err", err)
		}
	}
	return results, buildErr
}

// runStep runs one step and records its artifacts in manifest.json.
func runStep(ctx context.Context, b *pipe.Build, st pipe.Step) error {
	arts, err := st.Run(ctx, b)
	if err != nil {
		return err
	}
	if st.Kind() == config.KindSetupOE {
		return nil
	}
	return updateManifest(b, st.String(), arts)
}

func needsBitbake(p *plan.Plan) bool {
	for _, s := range p.Steps {
		if s.Kind == config.KindBitbake {
			return true
		}
	}
	return false
}

// updateManifest swaps a step's artifacts into manifest.json.
func updateManifest(b *pipe.Build, step string, arts []manifest.Artifact) error {
	if err := os.MkdirAll(b.OutDir(), 0o755); err != nil {
		return err
	}
	path := filepath.Join(b.OutDir(), manifest.File)
	m, err := manifest.Read(path)
	if err != nil {
		return err
	}
	m.Name, m.ConfigHash, m.LockHash = b.Plan.Name, b.Config.Source.Hash, lockHash(b.Config)
	m.Replace(step, arts)
	return m.Write(path)
}

func printSummary(b *pipe.Build, results []Result) {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tDURATION\tLOG")
	for _, r := range results {
		d := "-"
		if r.Duration > 0 || r.Status == "ok" || r.Status == "failed" {
			d = r.Duration.String()
		}
		log := r.Log
		if log == "" {
			log = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Step, r.Status, d, log)
	}
	tw.Flush()
	b.Term.Printf("%s", strings.TrimRight(sb.String(), "\n"))
}
