package pipeline

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/provenance"
)

// writeProvenance records and signs (with the dev key, when there is one)
// the provenance of what the build has produced so far: the steps done and
// the artifacts manifest.json lists. It is rewritten after every step, so a
// build run step by step (as buildbot does) ends with a provenance too.
func writeProvenance(b *pipe.Build, done []string, started time.Time) error {
	built, err := stepsBuilt(b, done)
	if err != nil {
		return err
	}
	workers := map[string]string{}
	for _, s := range built {
		if w := stampWorker(b.Config, s); w != "" {
			workers[s] = w
		}
	}
	info := provenance.BuildInfo{Board: b.Board, Steps: built, Started: started, Finished: time.Now().UTC(), Version: b.Version, Commit: b.Options.Commit, Workers: workers}
	path, err := provenance.Write(b.MainConfig(), info)
	if err != nil {
		if provenance.IsEmpty(err) {
			b.Log.Debug("no provenance yet: nothing built", "steps", done)
			return nil
		}
		return err
	}
	s, err := provenance.DevSigner(b.MainConfig())
	if err != nil {
		b.Term.Printf("provenance: %s (unsigned: %v)", path, err)
		return nil
	}
	sig, err := provenance.Sign(path, s)
	if err != nil {
		return err
	}
	b.Term.Printf("provenance: %s, signed in %s", path, filepath.Base(sig))
	return nil
}

// stepsBuilt is every step the provenance covers, in build order: those of
// this run and those whose artifacts earlier runs left in manifest.json (a
// buildbot build runs one step per process).
func stepsBuilt(b *pipe.Build, done []string) ([]string, error) {
	m, err := manifest.Read(filepath.Join(b.OutDir(), manifest.File))
	if err != nil {
		return nil, err
	}
	names := append([]string(nil), done...)
	for _, a := range m.Artifacts {
		if _, ok := b.Config.Steps[a.Step]; ok && !slices.Contains(names, a.Step) {
			names = append(names, a.Step)
		}
	}
	closure, err := plan.Order(b.Config, names)
	if err != nil {
		return nil, err
	}
	// One order whatever the runs were: the configured list's, dependencies
	// first, then any other step.
	all, err := plan.Order(b.Config, append(append([]string(nil), b.Config.Build.Steps...), plan.KnownSteps(b.Config)...))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if slices.Contains(closure, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
