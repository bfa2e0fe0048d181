package buildstatsgen

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// Spec describes a synthetic build. The same Spec always produces the same
// tree, byte for byte.
type Spec struct {
	// Recipes is the number of package recipes; an image recipe is added on
	// top. A target recipe has 13 tasks that leave buildstats, a -native one 9,
	// so ~760 recipes give ~10 000 task files.
	Recipes int
	// Threads is BB_NUMBER_THREADS: how many tasks run at once (default 8).
	Threads int
	Seed    uint64
	// Start is the BuildStarted time in epoch seconds (default 1 764 000 000).
	Start float64
	// Sstate is the fraction of recipes restored from the sstate cache: they
	// run only *_setscene tasks.
	Sstate float64
	// FailRecipe, when > 0, makes do_compile of recipe number FailRecipe-1
	// fail; bitbake then starts no new task and lets running ones finish.
	FailRecipe int
	// KillAfter, when > 0, stops the build that many seconds after it started,
	// as Ctrl-C twice would: running tasks keep only their start record and
	// build_stats gets no end.
	KillAfter float64
	// NoIO leaves out the IO lines (kernel without task I/O accounting).
	NoIO bool
	// Scale multiplies every real task's duration (default 1), to model a
	// slower host or a regression between two otherwise equal builds.
	Scale float64
	// Slow multiplies the duration of single tasks, keyed "<pn>:<task>"
	// (e.g. "synth0012:do_compile"), to plant a regression.
	Slow map[string]float64
	// GraphPath, when set, receives the task-depends.dot of the build.
	GraphPath string
}

// Result tells what Synthesize wrote.
type Result struct {
	Tasks    int // task files written
	Setscene int // of which *_setscene
	Recipes  int // recipe directories written
	Failed   string
	Killed   int // tasks left without an end record
	Start    float64
	End      float64
}

type synthTask struct {
	id       int
	recipe   int
	name     string
	deps     []int // indices into tasks
	revdeps  []int
	runs     bool // leaves a buildstats file (real run or setscene)
	dur      float64
	cpu      float64 // child CPU seconds
	pending  int
	start    float64
	end      float64
	state    uint8 // 0 waiting, 1 running, 2 done, 3 killed
	failing  bool
	setscene bool
}

type synthRecipe struct {
	pn, pv   string
	native   bool
	image    bool
	restored bool
	tasks    map[string]int
}

func (r *synthRecipe) pf() string { return r.pn + "-" + r.pv + "-r0" }

var (
	targetTasks = []string{"do_fetch", "do_unpack", "do_patch", "do_prepare_recipe_sysroot", "do_configure", "do_compile",
		"do_install", "do_populate_sysroot", "do_package", "do_packagedata", "do_package_qa", "do_package_write_rpm", "do_populate_lic", "do_build"}
	nativeTasks = []string{"do_fetch", "do_unpack", "do_patch", "do_prepare_recipe_sysroot", "do_configure", "do_compile",
		"do_install", "do_populate_sysroot", "do_populate_lic", "do_build"}
	imageTasks = []string{"do_prepare_recipe_sysroot", "do_rootfs", "do_image", "do_image_complete", "do_populate_lic", "do_build"}
	// sstate-backed tasks: a restored recipe runs their _setscene variants only.
	setsceneTasks = map[string]bool{"do_populate_sysroot": true, "do_packagedata": true, "do_package_qa": true,
		"do_package_write_rpm": true, "do_populate_lic": true}
	intraDeps = map[string][]string{
		"do_unpack":                 {"do_fetch"},
		"do_patch":                  {"do_unpack"},
		"do_prepare_recipe_sysroot": {},
		"do_configure":              {"do_patch", "do_prepare_recipe_sysroot"},
		"do_compile":                {"do_configure"},
		"do_install":                {"do_compile"},
		"do_populate_sysroot":       {"do_install"},
		"do_package":                {"do_install"},
		"do_packagedata":            {"do_package"},
		"do_package_qa":             {"do_packagedata"},
		"do_package_write_rpm":      {"do_packagedata"},
		"do_populate_lic":           {"do_patch"},
		"do_rootfs":                 {"do_prepare_recipe_sysroot"},
		"do_image":                  {"do_rootfs"},
		"do_image_complete":         {"do_image"},
	}
	// median seconds per task type; durations are log-normal around them.
	medianDur = map[string]float64{"do_fetch": 1, "do_unpack": 1.5, "do_patch": 0.6, "do_prepare_recipe_sysroot": 1.2,
		"do_configure": 14, "do_compile": 45, "do_install": 4, "do_populate_sysroot": 1.5, "do_package": 8,
		"do_packagedata": 0.6, "do_package_qa": 2.5, "do_package_write_rpm": 5, "do_populate_lic": 0.4,
		"do_rootfs": 90, "do_image": 25, "do_image_complete": 3}
	// cores kept busy by the task's children.
	cpuLoad = map[string]float64{"do_configure": 0.9, "do_compile": 1.7, "do_install": 0.7, "do_package": 1.2,
		"do_package_write_rpm": 0.9, "do_rootfs": 1.1, "do_image": 0.95}
)

// HostInfo is the platform.uname() the synthetic builds claim.
var HostInfo = []string{"Linux", "buildhost", "6.1.0-28-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", "x86_64"}

// Synthesize writes a scheduled synthetic build into buildDir
// (${TMPDIR}/buildstats/<BUILDNAME>), consistent with its task graph: tasks
// start only after their dependencies ended, at most Threads at a time.
func Synthesize(ctx context.Context, buildDir string, spec Spec) (Result, error) {
	if spec.Recipes < 1 {
		return Result{}, errors.New("synthesize buildstats: need at least one recipe")
	}
	if spec.Threads <= 0 {
		spec.Threads = 8
	}
	if spec.Start == 0 {
		spec.Start = 1_764_000_000
	}
	if spec.Scale <= 0 {
		spec.Scale = 1
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	recipes, tasks := buildGraph(spec, rng)
	if spec.GraphPath != "" {
		if err := writeGraph(spec.GraphPath, recipes, tasks); err != nil {
			return Result{}, err
		}
	}
	res := schedule(spec, recipes, tasks)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("synthesize buildstats: %w", err)
	}
	if err := writeTree(ctx, buildDir, spec, recipes, tasks, &res); err != nil {
		return res, err
	}
	return res, nil
}

func buildGraph(spec Spec, rng *rand.Rand) ([]*synthRecipe, []*synthTask) {
	var recipes []*synthRecipe
	var tasks []*synthTask
	add := func(r *synthRecipe, ri int, names []string) {
		r.tasks = map[string]int{}
		for _, n := range names {
			r.tasks[n] = len(tasks)
			tasks = append(tasks, &synthTask{id: len(tasks), recipe: ri, name: n})
		}
	}
	for i := range spec.Recipes {
		r := &synthRecipe{pn: fmt.Sprintf("synth%04d", i), pv: fmt.Sprintf("1.%d", i%7)}
		if i%3 == 0 {
			r.pn += "-native"
			r.native = true
		}
		r.restored = rng.Float64() < spec.Sstate
		recipes = append(recipes, r)
		if r.native {
			add(r, i, nativeTasks)
		} else {
			add(r, i, targetTasks)
		}
	}
	img := &synthRecipe{pn: "synth-image", pv: "1.0", image: true}
	recipes = append(recipes, img)
	add(img, len(recipes)-1, imageTasks)

	dep := func(r *synthRecipe, from string, to int) {
		if f, ok := r.tasks[from]; ok {
			tasks[f].deps = append(tasks[f].deps, to)
		}
	}
	for ri, r := range recipes {
		for name, idx := range r.tasks {
			for _, d := range intraDeps[name] {
				if di, ok := r.tasks[d]; ok {
					tasks[idx].deps = append(tasks[idx].deps, di)
				}
			}
		}
		for _, n := range []string{"do_populate_sysroot", "do_package_write_rpm", "do_package_qa", "do_populate_lic", "do_image_complete"} {
			if t, ok := r.tasks[n]; ok {
				dep(r, "do_build", t)
			}
		}
		if r.image {
			for _, o := range recipes[:ri] {
				if t, ok := o.tasks["do_package_write_rpm"]; ok {
					dep(r, "do_rootfs", t)
				}
			}
			continue
		}
		// Build-time dependencies on up to three earlier recipes, natives
		// preferred, as DEPENDS usually are.
		if ri > 0 {
			for range rng.IntN(4) {
				o := recipes[rng.IntN(ri)]
				dep(r, "do_prepare_recipe_sysroot", o.tasks["do_populate_sysroot"])
				if t, ok := o.tasks["do_packagedata"]; ok {
					dep(r, "do_package_qa", t)
				}
			}
		}
	}
	for i, t := range tasks {
		t.deps = uniq(t.deps)
		for _, d := range t.deps {
			tasks[d].revdeps = append(tasks[d].revdeps, i)
		}
	}
	return recipes, tasks
}

func uniq(s []int) []int {
	seen := map[int]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

type endHeap []*synthTask

func (h endHeap) Len() int           { return len(h) }
func (h endHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h endHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)        { *h = append(*h, x.(*synthTask)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func schedule(spec Spec, recipes []*synthRecipe, tasks []*synthTask) Result {
	for _, t := range tasks {
		// One stream per task: a task keeps its duration whatever else the
		// spec changes, so two builds differ only where the spec says.
		rng := rand.New(rand.NewPCG(spec.Seed+1, uint64(t.id)^0x5851f42d4c957f2d))
		r := recipes[t.recipe]
		switch {
		case t.name == "do_build":
			t.runs = false // noexec: bitbake fires no TaskStarted for it
		case r.restored:
			t.runs = setsceneTasks[t.name]
			t.setscene = t.runs
		default:
			t.runs = true
		}
		if !t.runs {
			continue
		}
		if t.setscene {
			t.dur = 0.2 + rng.ExpFloat64()*0.8
			t.cpu = t.dur * 0.3
			continue
		}
		med := medianDur[t.name]
		t.dur = math.Max(0.05, med*math.Exp(rng.NormFloat64()*0.8)) * spec.Scale
		if f, ok := spec.Slow[r.pn+":"+t.name]; ok && f > 0 {
			t.dur *= f
		}
		load := cpuLoad[t.name]
		if load == 0 {
			load = 0.4
		}
		t.cpu = t.dur * load * (0.7 + 0.6*rng.Float64())
		if spec.FailRecipe > 0 && t.recipe == spec.FailRecipe-1 && t.name == "do_compile" {
			t.failing = true
		}
	}
	res := Result{Start: spec.Start}
	now := spec.Start + 2 // bitbake fires the first TaskStarted a moment after BuildStarted
	var ready []int
	// Setscene tasks run first (the scene queue) and have no ordering among
	// themselves; skipped tasks complete at once.
	var complete func(i int)
	complete = func(i int) {
		t := tasks[i]
		t.state = 2
		for _, r := range t.revdeps {
			tasks[r].pending--
			if tasks[r].pending == 0 && tasks[r].state == 0 {
				if tasks[r].runs && !tasks[r].setscene {
					ready = append(ready, r)
				} else if !tasks[r].runs {
					complete(r)
				}
			}
		}
	}
	var scene []int
	for i, t := range tasks {
		if t.setscene {
			scene = append(scene, i)
			continue
		}
		t.pending = len(t.deps)
		// A restored recipe's tasks count as done for dependents.
		for _, d := range t.deps {
			if recipes[tasks[d].recipe].restored {
				t.pending--
			}
		}
	}
	for i, t := range tasks {
		if recipes[t.recipe].restored || t.setscene {
			continue
		}
		if t.pending == 0 && t.state == 0 {
			if t.runs {
				ready = append(ready, i)
			} else {
				complete(i)
			}
		}
	}
	ready = append(scene, ready...)

	running := &endHeap{}
	stopped := false
	kill := math.Inf(1)
	if spec.KillAfter > 0 {
		kill = spec.Start + spec.KillAfter
	}
	for {
		for !stopped && running.Len() < spec.Threads && len(ready) > 0 {
			i := ready[0]
			ready = ready[1:]
			t := tasks[i]
			if now >= kill {
				stopped = true
				break
			}
			t.state, t.start, t.end = 1, now, now+t.dur
			heap.Push(running, t)
		}
		if running.Len() == 0 {
			break
		}
		t := heap.Pop(running).(*synthTask)
		if t.end > kill {
			// Killed: everything still running stays without an end.
			t.state = 3
			res.Killed++
			for running.Len() > 0 {
				heap.Pop(running).(*synthTask).state = 3
				res.Killed++
			}
			now = kill
			stopped = true
			break
		}
		now = t.end
		if t.failing {
			t.state = 2
			stopped = true
			res.Failed = recipes[t.recipe].pf() + ":" + t.name
			continue
		}
		if !t.setscene {
			complete(t.id)
		} else {
			t.state = 2
		}
	}
	res.End = now
	return res
}

func writeTree(ctx context.Context, buildDir string, spec Spec, recipes []*synthRecipe, tasks []*synthTask, res *Result) error {
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	var bs strings.Builder
	bs.WriteString(BuildStartedText(spec.Start, HostInfo...))
	made := map[int]bool{}
	var cpu float64
	var buf strings.Builder
	for _, t := range tasks {
		if t.state == 0 || !t.runs {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write buildstats: %w", err)
		}
		r := recipes[t.recipe]
		dir := filepath.Join(buildDir, r.pf())
		if !made[t.recipe] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create recipe dir: %w", err)
			}
			made[t.recipe] = true
			res.Recipes++
		}
		name := t.name
		if t.setscene {
			name += "_setscene"
			res.Setscene++
		}
		buf.Reset()
		buf.WriteString(TaskStartedText(t.start))
		if t.state == 2 {
			self := Rusage{Utime: round3(0.04 + t.dur*0.002), Stime: round3(0.01 + t.dur*0.001), MaxRSS: 60000 + int64(t.id%5000),
				MinFlt: 9000 + int64(t.dur*10), Nvcsw: 40 + int64(t.dur), Nivcsw: 5}
			child := Rusage{Utime: round3(t.cpu * 0.85), Stime: round3(t.cpu * 0.15), MaxRSS: 20000 + int64(t.cpu*1000),
				MinFlt: int64(t.cpu * 5000), InBlock: int64(t.dur * 8), OuBlock: int64(t.dur * 800), Nvcsw: int64(t.dur * 30), Nivcsw: int64(t.cpu * 20)}
			e := TaskEnd{Failed: t.failing, Started: t.start, Ended: t.end, Rusage: self, ChildRusage: child,
				Ticks: [4]int64{int64(self.Utime * 100), int64(self.Stime * 100), int64(child.Utime * 100), int64(child.Stime * 100)}}
			if !spec.NoIO {
				e.IO = &IOStats{Rchar: int64(t.dur * 3e6), Wchar: int64(t.dur * 2e6), Syscr: int64(t.dur * 900), Syscw: int64(t.dur * 500),
					ReadBytes: int64(t.dur*4096) * 8, WriteBytes: int64(t.dur*4096) * 200}
			}
			buf.WriteString(TaskEndText(r.pf(), name, e))
			cpu += t.cpu + self.Utime + self.Stime
			if t.failing {
				fmt.Fprintf(&bs, "Failed at: %s at task: %s \n", r.pf(), name)
			}
			if t.name == "do_rootfs" {
				bs.WriteString("Uncompressed Rootfs size: 412M\t" + "/build/tmp/work/synth-image/1.0/rootfs\n")
			}
		}
		// Whole files at once: the generator models the final state of the
		// tree, and 10 000 appends would only slow benchmarks down.
		if err := os.WriteFile(filepath.Join(dir, name), []byte(buf.String()), 0o644); err != nil {
			return fmt.Errorf("write task file: %w", err)
		}
		res.Tasks++
	}
	if res.Killed == 0 {
		elapsed := res.End - spec.Start + 1
		pct := cpu * 100 / (elapsed * float64(spec.Threads))
		bs.WriteString(BuildCompletedText(elapsed, math.Round(pct*10)/10))
		res.End = spec.Start + elapsed
	}
	if err := os.WriteFile(filepath.Join(buildDir, "build_stats"), []byte(bs.String()), 0o644); err != nil {
		return fmt.Errorf("write build_stats: %w", err)
	}
	return nil
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// writeGraph writes task-depends.dot the way `bitbake -g` does: nodes sorted
// by ID, each followed by its sorted dependencies.
func writeGraph(path string, recipes []*synthRecipe, tasks []*synthTask) error {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = recipes[t.recipe].pn + "." + t.name
	}
	order := make([]int, len(tasks))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	var b strings.Builder
	b.WriteString("digraph depends {\n")
	for _, i := range order {
		r := recipes[tasks[i].recipe]
		fmt.Fprintf(&b, "%q [label=\"%s %s\\n:%s-r0\\n/layers/meta-synth/recipes-synth/%s/%s_%s.bb\"]\n",
			ids[i], r.pn, tasks[i].name, r.pv, r.pn, r.pn, r.pv)
		deps := make([]string, 0, len(tasks[i].deps))
		for _, d := range tasks[i].deps {
			deps = append(deps, ids[d])
		}
		slices.Sort(deps)
		for _, d := range deps {
			fmt.Fprintf(&b, "%q -> %q\n", ids[i], d)
		}
	}
	b.WriteString("}\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create dir for %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, []byte(b.String()), 0o644)
}
