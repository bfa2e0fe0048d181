package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/stage"
)

// A build fanned out over workers (docs/buildbot.md): each step builder
// publishes its step to the stage tree (Publish, stage:put), a step that
// needs earlier steps' outputs restores them first (Fetch, stage:get), and
// the final builder restores every published step (Collect, stage:collect).
// Restored steps are recorded as this build's own: their manifest entries
// go into manifest.json and their stamps name the worker that built them,
// so Run resumes after them and the provenance says who built what.

// Publish puts the finished step name of this build dir into the stage
// tree. The step must be done here with this config and layer lock.
func Publish(ctx context.Context, b *pipe.Build, name string) error {
	lk, err := buildlock.Acquire(b.Config.BuildDir())
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if err := Resolve(b, name); err != nil {
		return err
	}
	s, ok := planStep(b.Plan, name)
	if !ok {
		return fmt.Errorf("stage:put: step %s is not in the plan", name)
	}
	c := b.Config
	if !stampValid(c, s.Name, stampKey(c, s)) {
		return fmt.Errorf("stage:put: step %s is not done in %s with this config and layer lock; run `step %s` first", name, c.BuildDir(), name)
	}
	worker := stampWorker(c, s.Name)
	if worker == "" {
		worker = b.Options.WorkerName()
	}
	return stage.Publish(ctx, b, s, stage.Meta{ConfigHash: c.Source.Hash, LockHash: lockHash(c), Worker: worker})
}

// Fetch restores the published steps that the named steps depend on (not
// the steps themselves), so a step builder runs only its own step. With no
// names it restores every step published so far: the master triggers
// steps in the order of the step graph, so that covers whatever the next
// step needs.
func Fetch(ctx context.Context, b *pipe.Build, names ...string) error {
	return adopt(ctx, b, "stage:get", func(published []string) ([]string, error) {
		if len(names) == 0 {
			return published, nil
		}
		deps, err := plan.Order(b.Config, names)
		if err != nil {
			return nil, err
		}
		var want, missing []string
		for _, d := range deps {
			if slices.Contains(names, d) || b.Config.Steps[d].Kind == config.KindSetupOE {
				continue
			}
			if !slices.Contains(published, d) {
				missing = append(missing, d)
				continue
			}
			want = append(want, d)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("stage:get: %s needs %s, not published in the stage tree (has its builder run stage:put?)", strings.Join(names, ", "), strings.Join(missing, ", "))
		}
		return want, nil
	})
}

// Collect restores every step published for this build, all of which must
// come from this build's layer lock, so the steps left (license, ship,
// upload) run here as in a one-host build.
func Collect(ctx context.Context, b *pipe.Build) error {
	return adopt(ctx, b, "stage:collect", func(published []string) ([]string, error) {
		if len(published) == 0 {
			return nil, fmt.Errorf("stage:collect: nothing published for %s in %s", b.Plan.Name, b.Config.Fanout.Stage)
		}
		return published, nil
	})
}

// adopt restores the steps pick chooses among the published ones, in
// build order, and records them as done.
func adopt(ctx context.Context, b *pipe.Build, what string, pick func(published []string) ([]string, error)) error {
	c := b.Config
	lk, err := buildlock.Acquire(c.BuildDir())
	if err != nil {
		return err
	}
	defer lk.Unlock()
	// The plan of every step the config knows: the stage may hold any.
	if err := Resolve(b, plan.KnownSteps(c)...); err != nil {
		return err
	}
	if b.Lock == nil {
		return fmt.Errorf("%s: no %s: run setupoe first (with the parent build's lock and XTBUILD_LOCKED=1)", what, c.LockFile())
	}
	published, err := stage.Published(c, b.Plan.Name)
	if err != nil {
		return err
	}
	for _, p := range published {
		if _, ok := planStep(b.Plan, p); !ok {
			return fmt.Errorf("%s: the stage holds step %q, which this config does not define", what, p)
		}
	}
	want, err := pick(published)
	if err != nil {
		return err
	}
	// A step already done here with this config and lock (built here, or
	// restored earlier) is not fetched again.
	var ordered, here []string
	for _, s := range b.Plan.Steps {
		switch {
		case !slices.Contains(want, s.Name):
		case !b.Options.Force && stampValid(c, s.Name, stampKey(c, s)):
			here = append(here, s.Name)
		default:
			ordered = append(ordered, s.Name)
		}
	}
	if len(here) > 0 {
		b.Term.Printf("%s: already done here: %s", what, strings.Join(here, ", "))
	}
	if len(ordered) == 0 {
		b.Term.Printf("%s: nothing to restore", what)
		return nil
	}
	started := time.Now().UTC()
	ixs, err := stage.Restore(ctx, b, ordered, stage.Meta{ConfigHash: c.Source.Hash, LockHash: lockHash(c), Worker: b.Options.WorkerName()})
	if err != nil {
		return err
	}
	var done []string
	for _, ix := range ixs {
		s, _ := planStep(b.Plan, ix.Step)
		if ix.ConfigHash != c.Source.Hash {
			b.Log.Debug("stage: step published with another config hash", "step", s.Name, "theirs", ix.ConfigHash, "ours", c.Source.Hash)
		}
		if err := updateManifest(b, s.Name, ix.Outputs); err != nil {
			return err
		}
		if err := writeStamp(c, s.Name, stampKey(c, s), ix.Worker); err != nil {
			return err
		}
		done = append(done, s.Name)
	}
	var notHere []string
	if what == "stage:collect" {
		for _, s := range b.Plan.Steps {
			if s.Kind == config.KindBitbake && slices.Contains(c.Build.Steps, s.Name) && !slices.Contains(done, s.Name) {
				notHere = append(notHere, s.Name)
			}
		}
	}
	if len(notHere) > 0 {
		b.Term.Printf("%s: not published, so built here if a later step needs them: %s", what, strings.Join(notHere, ", "))
	}
	b.Term.Printf("%s: %s done (restored from the stage tree)", what, strings.Join(done, ", "))
	return writeProvenance(b, done, started)
}

func planStep(p *plan.Plan, name string) (plan.Step, bool) {
	for _, s := range p.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return plan.Step{}, false
}

// Clean removes this build's tree from the stage tree (stage:clean), as
// the final builder's last step does: the steps were collected here, and
// the shared filesystem would otherwise keep every build's images.
func Clean(ctx context.Context, b *pipe.Build) error {
	if err := Resolve(b); err != nil {
		return err
	}
	removed, err := stage.Remove(ctx, b.Config, b.Plan.Name)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		b.Term.Printf("stage:clean: nothing staged for %s in %s", b.Plan.Name, b.Config.Fanout.Stage)
		return nil
	}
	b.Term.Printf("stage:clean: removed %s (%s) from %s", b.Plan.Name, strings.Join(removed, ", "), b.Config.Fanout.Stage)
	return nil
}
