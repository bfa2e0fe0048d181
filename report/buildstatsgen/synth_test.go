package buildstatsgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xtbuild/xtbuild/report/buildstats"
	"github.com/xtbuild/xtbuild/report/taskgraph"
)

// TestSynthesizeConsistent checks that the synthetic tree parses back with the
// counts the generator reports and that its schedule honours the task graph
// and the thread limit, which is what makes it usable as a stand-in build.
func TestSynthesizeConsistent(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
	}{
		{"clean", Spec{Recipes: 60, Threads: 4, Seed: 1}},
		{"half-sstate", Spec{Recipes: 60, Threads: 4, Seed: 2, Sstate: 0.5}},
		{"failed", Spec{Recipes: 60, Threads: 4, Seed: 3, FailRecipe: 10}},
		{"killed", Spec{Recipes: 60, Threads: 4, Seed: 4, KillAfter: 300}},
		{"no-io", Spec{Recipes: 20, Threads: 2, Seed: 5, NoIO: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.spec.GraphPath = filepath.Join(dir, "task-depends.dot")
			bdir := filepath.Join(dir, "buildstats", "20261126080000")
			res, err := Synthesize(context.Background(), bdir, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			b, err := buildstats.ReadBuild(context.Background(), bdir)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Tasks) != res.Tasks || res.Tasks == 0 {
				t.Fatalf("parsed %d tasks, generator wrote %d", len(b.Tasks), res.Tasks)
			}
			if len(b.Warnings) != 0 {
				t.Errorf("warnings: %v", b.Warnings)
			}
			f, err := os.Open(tc.spec.GraphPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			g, err := taskgraph.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			if g.Warnings != 0 {
				t.Errorf("graph warnings: %d", g.Warnings)
			}
			byID := map[string]*buildstats.Task{}
			setscene, unfinished, failed, withIO := 0, 0, 0, 0
			for i := range b.Tasks {
				tk := &b.Tasks[i]
				if tk.Setscene() {
					setscene++
					continue
				}
				if !tk.Finished() {
					unfinished++
				}
				if tk.Status == buildstats.StatusFailed {
					failed++
				}
				if tk.IO.Present {
					withIO++
				}
				byID[tk.PF+"/"+tk.Name] = tk
			}
			if setscene != res.Setscene || unfinished != res.Killed {
				t.Errorf("setscene %d/%d, unfinished %d/%d", setscene, res.Setscene, unfinished, res.Killed)
			}
			if (res.Failed != "") != (failed == 1) || failed > 1 {
				t.Errorf("failed tasks %d, generator says %q", failed, res.Failed)
			}
			if tc.spec.NoIO && withIO != 0 || !tc.spec.NoIO && tc.spec.KillAfter == 0 && withIO == 0 {
				t.Errorf("%d tasks with IO lines, NoIO=%v", withIO, tc.spec.NoIO)
			}
			if tc.spec.KillAfter > 0 && (b.Completed() || res.Killed == 0) {
				t.Errorf("killed build: completed=%v killed=%d", b.Completed(), res.Killed)
			}
			// Dependencies that ran must have ended before the dependent started.
			checked := 0
			for i, n := range g.Nodes {
				tk := byID[n.PF()+"/"+n.Task]
				if tk == nil {
					continue
				}
				for _, d := range g.Deps[i] {
					dn := g.Nodes[d]
					dt := byID[dn.PF()+"/"+dn.Task]
					if dt != nil && (!dt.HasEnded || dt.Ended > tk.Started+0.01) {
						t.Fatalf("%s started at %.2f before its dependency %s ended at %.2f", n.ID, tk.Started, dn.ID, dt.Ended)
					}
					if dt != nil {
						checked++
					}
				}
			}
			if checked < len(b.Tasks)/3 {
				t.Errorf("only %d dependency edges joined graph and buildstats", checked)
			}
			// Never more than Threads tasks at once.
			type ev struct {
				at    float64
				delta int
			}
			var evs []ev
			for i := range b.Tasks {
				tk := &b.Tasks[i]
				end := b.End()
				if tk.HasEnded {
					end = tk.Ended
				}
				evs = append(evs, ev{tk.Started, 1}, ev{end, -1})
			}
			sortEvents := func() {
				for i := 1; i < len(evs); i++ {
					for j := i; j > 0 && (evs[j].at < evs[j-1].at || evs[j].at == evs[j-1].at && evs[j].delta < evs[j-1].delta); j-- {
						evs[j], evs[j-1] = evs[j-1], evs[j]
					}
				}
			}
			sortEvents()
			running, peak := 0, 0
			for _, e := range evs {
				running += e.delta
				peak = max(peak, running)
			}
			if peak > tc.spec.Threads {
				t.Errorf("peak concurrency %d > threads %d", peak, tc.spec.Threads)
			}
		})
	}
}

// TestSynthesizeDeterministic: the same spec gives the same bytes, so
// benchmarks and golden tests are repeatable.
func TestSynthesizeDeterministic(t *testing.T) {
	read := func() string {
		dir := t.TempDir()
		spec := Spec{Recipes: 15, Threads: 3, Seed: 9, Sstate: 0.3, GraphPath: filepath.Join(dir, "g.dot")}
		if _, err := Synthesize(context.Background(), filepath.Join(dir, "b"), spec); err != nil {
			t.Fatal(err)
		}
		var all string
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			all += rel + "\n" + string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	if a, b := read(), read(); a != b {
		t.Fatal("two runs of the same spec differ")
	}
}

// TestSynthesizeSlow: Slow changes exactly the named task, so a pair of
// builds plants a known regression (what benchmarks and docs rely on).
func TestSynthesizeSlow(t *testing.T) {
	durations := func(spec Spec) map[string]float64 {
		dir := filepath.Join(t.TempDir(), "b")
		if _, err := Synthesize(context.Background(), dir, spec); err != nil {
			t.Fatal(err)
		}
		b, err := buildstats.ReadBuild(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for i := range b.Tasks {
			d, _ := b.Tasks[i].Duration()
			out[b.Tasks[i].PF+":"+b.Tasks[i].Name] = d
		}
		return out
	}
	base := durations(Spec{Recipes: 12, Threads: 3, Seed: 5})
	slow := durations(Spec{Recipes: 12, Threads: 3, Seed: 5, Slow: map[string]float64{"synth0004:do_compile": 3}})
	if len(base) != len(slow) {
		t.Fatalf("task sets differ: %d vs %d", len(base), len(slow))
	}
	for k, d := range base {
		want := d
		if k == "synth0004-1.4-r0:do_compile" {
			want = d * 3
		}
		if diff := slow[k] - want; diff > 0.02 || diff < -0.02 {
			t.Errorf("%s: %.2f, want %.2f", k, slow[k], want)
		}
	}
}
