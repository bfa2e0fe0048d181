package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/report/buildstats"
	"github.com/xtbuild/xtbuild/report/taskgraph"
)

type stepBuilds struct {
	name   string
	worker string
	builds []*buildstats.Build
}

// cpuBuckets is the resolution of the CPU chart.
const cpuBuckets = 300

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func analyse(steps []stepBuilds, g *taskgraph.Graph, opts Options) *Report {
	r := &Report{Schema: SchemaVersion, Title: opts.Title}
	var ids []string
	first := true
	completed, failed := true, false
	for _, s := range steps {
		for _, b := range s.builds {
			ids = append(ids, b.Name)
			if st, en := b.Start(), b.End(); first || st < r.Start {
				r.Start = st
				if first {
					r.End = en
				}
				first = false
			}
			r.End = max(r.End, b.End())
			if r.Host == "" {
				r.Host = b.Summary.HostInfo
			}
			completed = completed && b.Completed()
			failed = failed || len(b.Summary.Failures) > 0
			for _, w := range b.Warnings {
				r.Warnings = append(r.Warnings, b.Name+": "+w)
			}
		}
	}
	r.ID = strings.Join(ids, "+")
	r.Wall = round2(r.End - r.Start)
	// Host data describes one machine: merged over the builds of each
	// worker, never across workers.
	hosts := map[string][]*buildstats.Host{}
	for _, s := range steps {
		for _, b := range s.builds {
			hosts[s.worker] = append(hosts[s.worker], b.Host)
		}
	}
	if len(hosts) == 1 {
		for _, hs := range hosts {
			r.HostData = hostData(buildstats.MergeHost(hs), r.Start)
		}
	}

	pfToPN := map[string]string{}
	if g != nil {
		for i := range g.Nodes {
			if pf := g.Nodes[i].PF(); pf != "" {
				pfToPN[pf] = g.Nodes[i].PN
			}
		}
		if g.Warnings > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("task graph: %d unreadable lines", g.Warnings))
		}
	}
	pn := func(pf string) string {
		if p, ok := pfToPN[pf]; ok {
			return p
		}
		return pnOf(pf)
	}

	for _, s := range steps {
		ss := StepSummary{Name: s.name, Worker: s.worker, Completed: true}
		stepFirst := true
		for _, b := range s.builds {
			ss.Builds = append(ss.Builds, b.Name)
			ss.Completed = ss.Completed && b.Completed()
			bEnd := b.End()
			if st := b.Start() - r.Start; stepFirst || st < ss.Start {
				ss.Start = st
			}
			if en := bEnd - r.Start; stepFirst || en > ss.End {
				ss.End = en
			}
			stepFirst = false
			for i := range b.Tasks {
				t := &b.Tasks[i]
				rec := TaskRecord{Step: s.name, Worker: s.worker, PF: t.PF, PN: pn(t.PF), Task: t.Name, Setscene: t.Setscene(), Status: t.Status.String()}
				start := t.Started
				if !t.HasStarted {
					// Failed before TaskStarted: only the end record exists.
					start = bEnd
					if t.HasEnded {
						start = t.Ended
					}
				}
				rec.Start = round2(start - r.Start)
				end := start
				if d, ok := t.Duration(); ok && t.Finished() {
					end = start + d
				} else if !t.Finished() {
					// Killed or still running: it ran until the build stopped.
					end = max(bEnd, start)
				}
				// Round the end, not the length, so that a task starting when
				// another ended never overlaps it on the timeline.
				rec.Duration = round2(round2(end-r.Start) - rec.Start)
				rec.CPU, rec.HasCPU = t.CPUSeconds()
				rec.CPU = round2(rec.CPU)
				if t.IO.Present {
					rec.ReadBytes, rec.WriteBytes = t.IO.ReadBytes, t.IO.WriteBytes
				}
				r.Tasks = append(r.Tasks, rec)
				ss.Totals.add(&rec)
			}
		}
		ss.Start, ss.End = round2(ss.Start), round2(ss.End)
		ss.Wall = round2(ss.End - ss.Start)
		r.Steps = append(r.Steps, ss)
	}
	slices.SortStableFunc(r.Tasks, func(a, b TaskRecord) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		if c := strings.Compare(a.PF, b.PF); c != 0 {
			return c
		}
		return strings.Compare(a.Task, b.Task)
	})
	for i := range r.Tasks {
		t := &r.Tasks[i]
		r.Totals.add(t)
		if t.Status == "failed" {
			r.Failures = append(r.Failures, t.ref())
		}
	}
	r.Totals.round()
	for i := range r.Steps {
		r.Steps[i].Totals.round()
	}
	switch {
	case failed || r.Totals.Failed > 0:
		r.Status = "failed"
	case !completed || r.Totals.Unfinished > 0:
		r.Status = "incomplete"
	default:
		r.Status = "passed"
	}

	r.Workers = workerSummaries(steps, r)
	if len(hosts) > 1 {
		for i := range r.Workers {
			r.Workers[i].HostData = hostData(buildstats.MergeHost(hosts[r.Workers[i].Name]), r.Start)
		}
	}
	r.Lanes = assignLanes(r.Tasks, r.Workers)
	r.topLists(opts.Top)
	if g != nil {
		r.criticalFromGraph(g)
	} else {
		r.criticalFromTiming()
	}
	r.cpuProfile()
	r.Sstate.Reused, r.Sstate.Real = sstateCounts(r.Tasks)
	if n := r.Sstate.Reused + r.Sstate.Real; n > 0 {
		r.Sstate.Ratio = round2(float64(r.Sstate.Reused) / float64(n))
	}
	return r
}

func (t *Totals) add(rec *TaskRecord) {
	t.Tasks++
	if rec.Setscene {
		t.Setscene++
	} else {
		t.Real++
	}
	switch rec.Status {
	case "failed":
		t.Failed++
	case "unfinished":
		t.Unfinished++
	}
	t.TaskTime += rec.Duration
	t.CPU += rec.CPU
}

func (t *Totals) round() { t.TaskTime, t.CPU = round2(t.TaskTime), round2(t.CPU) }

// workerSummaries lists the workers in the order of their first step's
// start (then by name) with their figures; lanes are set by assignLanes.
// Every worker's times are its own buildstats' clock: the merged timeline
// is only as true as the workers' clocks agree (see docs/performance.md).
func workerSummaries(steps []stepBuilds, r *Report) []WorkerSummary {
	idx := map[string]int{}
	var ws []WorkerSummary
	for i, s := range steps {
		j, ok := idx[s.worker]
		if !ok {
			j = len(ws)
			idx[s.worker] = j
			ws = append(ws, WorkerSummary{Name: s.worker, Start: r.Steps[i].Start, End: r.Steps[i].End})
		}
		w := &ws[j]
		w.Steps = append(w.Steps, s.name)
		w.Start, w.End = min(w.Start, r.Steps[i].Start), max(w.End, r.Steps[i].End)
		for _, b := range s.builds {
			if w.Host == "" {
				w.Host = b.Summary.HostInfo
			}
		}
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		ws[idx[t.Worker]].Totals.add(t)
	}
	for i := range ws {
		ws[i].Totals.round()
		ws[i].Busy = round2(busyTime(r.Tasks, ws[i].Name))
	}
	slices.SortStableFunc(ws, func(a, b WorkerSummary) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ws
}

// busyTime is the length of the union of one worker's task intervals
// (tasks are sorted by start).
func busyTime(tasks []TaskRecord, worker string) float64 {
	var busy, curStart, curEnd float64
	open := false
	for i := range tasks {
		t := &tasks[i]
		if t.Worker != worker {
			continue
		}
		s, e := t.Start, t.Start+t.Duration
		switch {
		case !open:
			curStart, curEnd, open = s, e, true
		case s > curEnd:
			busy += curEnd - curStart
			curStart, curEnd = s, e
		default:
			curEnd = max(curEnd, e)
		}
	}
	if open {
		busy += curEnd - curStart
	}
	return busy
}

// assignLanes puts each task on the lowest-numbered lane of its worker's
// band free at its start (interval partitioning), so a band's lane count is
// that worker's peak parallelism, i.e. the number of bitbake worker slots in
// use there. Bands follow each other in the order of ws; it returns the
// total number of lanes.
func assignLanes(tasks []TaskRecord, ws []WorkerSummary) int {
	laneEnd := make(map[string][]float64, len(ws))
	for i := range tasks {
		t := &tasks[i]
		ends := laneEnd[t.Worker]
		lane := -1
		for l, end := range ends {
			if end <= t.Start+1e-6 {
				lane = l
				break
			}
		}
		if lane < 0 {
			lane = len(ends)
			ends = append(ends, 0)
		}
		t.Lane = lane
		ends[lane] = t.Start + t.Duration
		laneEnd[t.Worker] = ends
	}
	first := map[string]int{}
	total := 0
	for i := range ws {
		ws[i].FirstLane, ws[i].Lanes = total, len(laneEnd[ws[i].Name])
		first[ws[i].Name] = total
		total += ws[i].Lanes
	}
	for i := range tasks {
		tasks[i].Lane += first[tasks[i].Worker]
	}
	return total
}

func (r *Report) topLists(top int) {
	refs := make([]TaskRef, 0, len(r.Tasks))
	recipes := map[string]*RecipeTotal{}
	types := map[string]*TaskTypeTotal{}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		refs = append(refs, t.ref())
		rt := recipes[t.PN]
		if rt == nil {
			rt = &RecipeTotal{PN: t.PN, PF: t.PF}
			recipes[t.PN] = rt
		}
		rt.Tasks++
		rt.Time += t.Duration
		rt.CPU += t.CPU
		base := strings.TrimSuffix(t.Task, buildstats.SetsceneSuffix)
		tt := types[base]
		if tt == nil {
			tt = &TaskTypeTotal{Task: base}
			types[base] = tt
		}
		if t.Setscene {
			rt.Setscene++
			tt.Setscene++
			tt.SetsceneTime += t.Duration
		} else {
			tt.Real++
			tt.RealTime += t.Duration
		}
		tt.CPU += t.CPU
	}
	sortRefsByDuration(refs)
	r.TopTasks = refs[:min(top, len(refs))]
	for _, rt := range recipes {
		rt.Time, rt.CPU = round2(rt.Time), round2(rt.CPU)
		r.TopRecipes = append(r.TopRecipes, *rt)
	}
	slices.SortFunc(r.TopRecipes, func(a, b RecipeTotal) int {
		if c := cmp.Compare(b.Time, a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.PN, b.PN)
	})
	r.TopRecipes = r.TopRecipes[:min(top, len(r.TopRecipes))]
	for _, tt := range types {
		tt.RealTime, tt.SetsceneTime, tt.CPU = round2(tt.RealTime), round2(tt.SetsceneTime), round2(tt.CPU)
		r.TaskTypes = append(r.TaskTypes, *tt)
	}
	slices.SortFunc(r.TaskTypes, func(a, b TaskTypeTotal) int {
		if c := cmp.Compare(b.RealTime+b.SetsceneTime, a.RealTime+a.SetsceneTime); c != 0 {
			return c
		}
		return strings.Compare(a.Task, b.Task)
	})
}

// sstateCounts counts setscene runs against real runs of the task types that
// have a setscene variant somewhere in the build.
func sstateCounts(tasks []TaskRecord) (reused, real int) {
	hasScene := map[string]bool{}
	for i := range tasks {
		if tasks[i].Setscene {
			hasScene[strings.TrimSuffix(tasks[i].Task, buildstats.SetsceneSuffix)] = true
		}
	}
	for i := range tasks {
		switch t := &tasks[i]; {
		case t.Setscene:
			reused++
		case hasScene[t.Task] || knownSetsceneTasks[t.Task]:
			real++
		}
	}
	return reused, real
}

// knownSetsceneTasks are oe-core's sstate-backed tasks, so a build that
// restored nothing still shows how much it could have reused.
var knownSetsceneTasks = map[string]bool{
	"do_populate_sysroot": true, "do_package": true, "do_packagedata": true, "do_package_qa": true,
	"do_package_write_rpm": true, "do_package_write_ipk": true, "do_package_write_deb": true,
	"do_populate_lic": true, "do_deploy": true, "do_deploy_source_date_epoch": true,
	"do_create_spdx": true, "do_create_recipe_spdx": true, "do_image_complete": true, "do_shared_workdir": true,
}

// criticalFromGraph weighs each graph node with the time its real run or its
// setscene took in this build (0 when it did not run) and takes the longest
// dependency chain. Chains are cut at nodes that did not run for real: a task
// restored from sstate, or not run at all, held nothing up behind its
// dependencies. A task that ran more than once (several steps, or a step
// run again) counts with its longest real run, else its longest setscene;
// that run is the one on the path.
func (r *Report) criticalFromGraph(g *taskgraph.Graph) {
	type key struct{ pn, task string }
	best := map[key]int{} // the run that represents the node
	for i := range r.Tasks {
		t := &r.Tasks[i]
		k := key{t.PN, strings.TrimSuffix(t.Task, buildstats.SetsceneSuffix)}
		j, ok := best[k]
		if !ok {
			best[k] = i
			continue
		}
		o := &r.Tasks[j]
		if (o.Setscene && !t.Setscene) || (o.Setscene == t.Setscene && t.Duration > o.Duration) {
			best[k] = i
		}
	}
	weight := map[key]float64{}
	ranReal := map[key]bool{}
	recs := map[key][]int{}
	for k, i := range best {
		weight[k] = r.Tasks[i].Duration
		ranReal[k] = !r.Tasks[i].Setscene
		recs[k] = []int{i}
	}
	path, total, cycles := g.LongestPath(func(n int) (float64, bool) {
		k := key{g.Nodes[n].PN, g.Nodes[n].Task}
		// Only a real run waited for the node's dependencies; a setscene
		// restored the output without them.
		return weight[k], ranReal[k]
	})
	if cycles > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("task graph: %d dependency cycles ignored", cycles))
	}
	r.Critical = CriticalPath{Source: "task-depends.dot", Total: round2(total)}
	for _, n := range path {
		k := key{g.Nodes[n].PN, g.Nodes[n].Task}
		for _, i := range recs[k] {
			r.Tasks[i].Critical = true
			r.Critical.Tasks = append(r.Critical.Tasks, r.Tasks[i].ref())
		}
	}
	if len(r.Critical.Tasks) == 0 && len(r.Tasks) > 0 {
		// The graph describes another build (no task matched): fall back.
		r.Warnings = append(r.Warnings, "task graph matches no task of these buildstats: critical path inferred from timing")
		r.criticalFromTiming()
	}
}

// criticalFromTiming infers a chain without the graph: from the task that
// ended last, step back to the task that ended last before it started,
// preferring the same recipe within a second (intra-recipe order is a real
// dependency). It is what a reader does by eye on the timeline.
func (r *Report) criticalFromTiming() {
	r.Critical = CriticalPath{Source: "timing"}
	n := len(r.Tasks)
	if n == 0 {
		return
	}
	end := func(i int) float64 { return r.Tasks[i].Start + r.Tasks[i].Duration }
	byEnd := make([]int, n)
	for i := range byEnd {
		byEnd[i] = i
	}
	sort.SliceStable(byEnd, func(a, b int) bool { return end(byEnd[a]) < end(byEnd[b]) })
	cur := byEnd[n-1]
	chain := []int{cur}
	const slack = 0.05 // timestamps are rounded to 10 ms
	for {
		start := r.Tasks[cur].Start
		// Last task (in end order) that ended by this start.
		k := sort.Search(n, func(i int) bool { return end(byEnd[i]) > start+slack }) - 1
		best := -1
		for j := k; j >= 0; j-- {
			c := byEnd[j]
			if c == cur || r.Tasks[c].Start >= start {
				continue
			}
			if best < 0 {
				best = c
			}
			if end(best)-end(c) > 1 {
				break
			}
			if r.Tasks[c].PN == r.Tasks[cur].PN {
				best = c
				break
			}
		}
		if best < 0 {
			break
		}
		cur = best
		chain = append(chain, cur)
	}
	slices.Reverse(chain)
	var total float64
	for _, i := range chain {
		r.Tasks[i].Critical = true
		r.Critical.Tasks = append(r.Critical.Tasks, r.Tasks[i].ref())
		total += r.Tasks[i].Duration
	}
	r.Critical.Total = round2(total)
}

func (r *Report) cpuProfile() {
	if r.Wall <= 0 {
		return
	}
	nb := cpuBuckets
	bucket := r.Wall / float64(nb)
	cores := make([]float64, nb)
	running := make([]float64, nb)
	for i := range r.Tasks {
		t := &r.Tasks[i]
		if t.Duration <= 0 {
			if t.CPU > 0 {
				b := min(int(t.Start/bucket), nb-1)
				cores[max(b, 0)] += t.CPU
			}
			continue
		}
		rate := t.CPU / t.Duration
		s, e := t.Start, t.Start+t.Duration
		for b := max(int(s/bucket), 0); b < nb; b++ {
			lo, hi := float64(b)*bucket, float64(b+1)*bucket
			if lo >= e {
				break
			}
			overlap := math.Min(hi, e) - math.Max(lo, s)
			if overlap <= 0 {
				continue
			}
			cores[b] += overlap * rate
			running[b] += overlap
		}
	}
	for b := range nb {
		cores[b] = round2(cores[b] / bucket)
		running[b] = round2(running[b] / bucket)
	}
	r.CPU = CPUProfile{Bucket: round2(bucket), Cores: cores, Running: running}
}
