package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/plan"
)

// KindFunc runs a step whose kind is implemented outside this package
// (ship, upload): targets/ registers them in Env.Kinds.
type KindFunc func(ctx context.Context, e *Env, p *plan.Plan, s plan.Step, outDir string) ([]Artifact, error)

// Result is one row of the build summary.
type Result struct {
	Step     string
	Status   string // ok, done earlier, failed, interrupted, not run
	Duration time.Duration
	Log      string
}

// StateDir holds resume stamps inside the build dir.
const StateDir = ".xtbuild"

// Build runs the named steps (the configured list when none), dependencies
// first, under the build-dir lock. A step whose stamp matches the current
// config and layer lock is skipped, so re-running after a failure resumes
// at the failed step; XTBUILD_FORCE=1 runs everything again.
func Build(ctx context.Context, e *Env, names ...string) ([]Result, error) {
	c := e.Config
	lk, err := buildlock.Acquire(c.BuildDir())
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	p, err := plan.Resolve(c, nil, names...)
	if err != nil {
		return nil, err
	}
	outDir := filepath.Join(p.OutputDir, p.Name)
	// License-walled files (ACMs) must be in the mirror before bitbake
	// starts, not discovered missing hours into a build.
	if needsBitbake(p) && !e.Options.CopyOnly {
		if err := mirror.CheckACMs(c); err != nil {
			return nil, err
		}
	}
	var results []Result
	var buildErr error
	usedBitbake := false
	for _, s := range p.Steps {
		if buildErr != nil {
			results = append(results, Result{Step: s.Name, Status: "not run"})
			continue
		}
		key := stampKey(c, s)
		if s.Kind != config.KindSetupOE && !e.Options.Force && stampValid(c, s.Name, key) {
			e.Term.Printf("[%s] done earlier with this config and layer lock; skipping (XTBUILD_FORCE=1 rebuilds)", s.Name)
			results = append(results, Result{Step: s.Name, Status: "done earlier"})
			continue
		}
		start := time.Now()
		logPath := filepath.Join(outDir, "logs", s.Name+".log")
		e.Term.Printf("=== step %s (%s) started %s", s.Name, s.Kind, start.UTC().Format(time.RFC3339))
		removeStamp(c, s.Name)
		err := runStep(ctx, e, p, s, outDir, logPath)
		r := Result{Step: s.Name, Duration: time.Since(start).Round(time.Second), Status: "ok"}
		if s.Kind == config.KindBitbake && !e.Options.CopyOnly {
			r.Log = logPath
			usedBitbake = true
		}
		switch {
		case err == nil:
			if werr := writeStamp(c, s.Name, key); werr != nil {
				err = werr
			}
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
		}
		results = append(results, r)
	}
	if usedBitbake && c.Build.ServerTimeout > 0 {
		stopServer(context.WithoutCancel(ctx), e)
	}
	printSummary(e, results)
	// The report is written for failed builds too: that is when it helps most.
	if usedBitbake {
		if err := Report(context.WithoutCancel(ctx), e, p); err != nil {
			e.Log.Warn("build report", "err", err)
		}
	}
	return results, buildErr
}

func needsBitbake(p *plan.Plan) bool {
	for _, s := range p.Steps {
		if s.Kind == config.KindBitbake {
			return true
		}
	}
	return false
}

func runStep(ctx context.Context, e *Env, p *plan.Plan, s plan.Step, outDir, logPath string) error {
	c := e.Config
	deployDir := bbconf.BuildDirs(c).Deploy
	var arts []Artifact
	switch s.Kind {
	case config.KindSetupOE:
		return SetupOE(ctx, e)
	case config.KindBitbake:
		if !e.Options.CopyOnly {
			if err := bitbakeStep(ctx, e, s, outDir, logPath); err != nil {
				return err
			}
		}
		var err error
		if arts, err = collectArtifacts(deployDir, outDir, s); err != nil {
			return err
		}
	case config.KindLicense:
		var err error
		if arts, err = collectLicences(deployDir, outDir, c); err != nil {
			return err
		}
	default:
		fn := e.Kinds[s.Kind]
		if fn == nil {
			return fmt.Errorf("step %s: kind %q is not available in this build of xtbuild", s.Name, s.Kind)
		}
		var err error
		if arts, err = fn(ctx, e, p, s, outDir); err != nil {
			return err
		}
	}
	return updateManifest(c, p, outDir, s.Name, arts)
}

func bitbakeStep(ctx context.Context, e *Env, s plan.Step, outDir, logPath string) error {
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
	// report explains failed builds too).
	if err := keepBuildstats(bsDir, before, filepath.Join(outDir, "buildstats", s.Name)); err != nil {
		e.Log.Warn("keep buildstats", "step", s.Name, "err", err)
	}
	return runErr
}

func updateManifest(c *config.Config, p *plan.Plan, outDir, step string, arts []Artifact) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(outDir, ManifestFile)
	m, err := ReadManifest(path)
	if err != nil {
		return err
	}
	m.Name, m.ConfigHash, m.LockHash = p.Name, c.Source.Hash, lockHash(c)
	m.Replace(step, arts)
	return m.Write(path)
}

// stampKey identifies what a step's completion depended on: the config,
// the exact layer commits, and the step's own definition.
func stampKey(c *config.Config, s plan.Step) string {
	h := sha256.New()
	def, _ := json.Marshal(s)
	fmt.Fprintf(h, "%s\n%s\n%s\n", c.Source.Hash, lockHash(c), def)
	return hex.EncodeToString(h.Sum(nil))
}

func lockHash(c *config.Config) string {
	data, err := os.ReadFile(c.LockFile())
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type stamp struct {
	Key      string    `json:"key"`
	Finished time.Time `json:"finished"`
}

func stampPath(c *config.Config, step string) string {
	return filepath.Join(c.BuildDir(), StateDir, "stamps", step+".json")
}

func stampValid(c *config.Config, step, key string) bool {
	data, err := os.ReadFile(stampPath(c, step))
	if err != nil {
		return false
	}
	var s stamp
	return json.Unmarshal(data, &s) == nil && s.Key == key
}

func writeStamp(c *config.Config, step, key string) error {
	p := stampPath(c, step)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, _ := json.Marshal(stamp{Key: key, Finished: time.Now().UTC()})
	return atomicfile.WriteFile(p, data, 0o644)
}

func removeStamp(c *config.Config, step string) { os.Remove(stampPath(c, step)) }

func printSummary(e *Env, results []Result) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
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
	e.Term.Printf("%s", strings.TrimRight(b.String(), "\n"))
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
		return linkOrCopy(p, target)
	})
}
