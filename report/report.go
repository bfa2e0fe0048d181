// Package report turns BitBake buildstats (and optionally the task graph from
// `bitbake -g`) into one self-contained HTML page per build, a plain-text
// summary and JSON with the same figures: where the time went (timeline,
// critical path, top tasks and recipes, CPU use), what came from sstate and
// what was rebuilt although the previous build reused it, and what got slower
// since the previous build.
//
// The report reads only what bitbake left on disk; it knows nothing of the
// steps that ran it beyond the step names the caller passes.
package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/report/buildstats"
	"github.com/xtbuild/xtbuild/report/taskgraph"
)

// SchemaVersion is the version of report.json's layout.
const SchemaVersion = 1

// StepBuildstats names the buildstats a build step left. Dir is either one
// ${TMPDIR}/buildstats/<BUILDNAME> directory or the buildstats base holding
// several (each bitbake invocation of the step makes one).
type StepBuildstats struct {
	Step string
	Dir  string
	// Ended, when known, is when the step's bitbake exited. A killed build
	// records no end, so tasks it left unfinished are drawn up to Ended
	// instead of stopping at the last event in the files.
	Ended time.Time
	// Worker names the machine (buildbot worker) that ran the step; the
	// timeline has one band of lanes per worker. Empty: the build's host.
	Worker string
	// TaskGraph is the step's task-depends.dot (`bitbake -g` for the same
	// targets); optional. The graphs of all steps are merged for the
	// critical path.
	TaskGraph string
}

// Options says what to report on and what to compare with.
type Options struct {
	// Title names the build in the page, e.g. the config name.
	Title string
	// Buildstats lists each step's buildstats, in the order the steps ran.
	Buildstats []StepBuildstats
	// TaskDepends is task-depends.dot from `bitbake -g`; optional. It is
	// merged with the steps' own TaskGraphs; without any graph the critical
	// path is inferred from timing.
	TaskDepends string
	// TaskGraphs are more build-wide task-depends.dot files, merged too.
	TaskGraphs []string
	// Against is the build to compare with: a report directory (holding
	// report.json), a report.json file, or a buildstats directory. When empty
	// the previous build is taken from HistoryDir.
	Against string
	// HistoryDir keeps one JSON per build (see Save); the newest entry older
	// than this build is "the previous build". Usually <OutDir>/history.
	HistoryDir string
	// Threshold is the relative slowdown that counts as a regression
	// (default 0.25, i.e. 25 % slower).
	Threshold float64
	// MinDelta is the absolute slowdown in seconds below which a task is never
	// reported, however large the ratio (default 10 s): short tasks are noisy.
	MinDelta float64
	// Top is the length of the top-N lists (default 25).
	Top int
	// Logger receives diagnostics (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Threshold <= 0 {
		o.Threshold = 0.25
	}
	if o.MinDelta <= 0 {
		o.MinDelta = 10
	}
	if o.Top <= 0 {
		o.Top = 25
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Report holds every figure of the page; it is also the JSON document.
type Report struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"` // the BUILDNAMEs it covers, joined with "+"
	Title  string `json:"title,omitempty"`
	Status string `json:"status"` // passed, failed or incomplete (killed)
	Host   string `json:"host,omitempty"`
	// Start and End are epoch seconds; every other time is seconds from Start.
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Wall  float64 `json:"wall"`

	Totals     Totals          `json:"totals"`
	Steps      []StepSummary   `json:"steps"`
	Failures   []TaskRef       `json:"failures,omitempty"`
	Lanes      int             `json:"lanes"`   // timeline lanes, all workers' together
	Workers    []WorkerSummary `json:"workers"` // in order of their first task
	Critical   CriticalPath    `json:"critical_path"`
	TopTasks   []TaskRef       `json:"top_tasks"`
	TopRecipes []RecipeTotal   `json:"top_recipes"`
	TaskTypes  []TaskTypeTotal `json:"task_types"`
	CPU        CPUProfile      `json:"cpu"`
	HostData   *HostData       `json:"host_data,omitempty"` // one worker's; see WorkerSummary
	Sstate     SstateSummary   `json:"sstate"`
	Comparison *Comparison     `json:"comparison,omitempty"`
	Tasks      []TaskRecord    `json:"tasks"`
	Warnings   []string        `json:"warnings,omitempty"`

	opts Options
}

// Totals sums the whole build.
type Totals struct {
	Tasks      int     `json:"tasks"`
	Real       int     `json:"real"`
	Setscene   int     `json:"setscene"`
	Failed     int     `json:"failed"`
	Unfinished int     `json:"unfinished"`
	TaskTime   float64 `json:"task_time"` // sum of task wall times
	CPU        float64 `json:"cpu"`       // sum of task CPU seconds
}

// WorkerSummary is one worker's share of the build and its band of the
// timeline: lanes FirstLane .. FirstLane+Lanes-1.
type WorkerSummary struct {
	// Name is StepBuildstats.Worker ("" when the caller named none).
	Name  string   `json:"name"`
	Steps []string `json:"steps"`
	// Host is the host line of its buildstats (build_stats "Host Info").
	Host      string  `json:"host,omitempty"`
	FirstLane int     `json:"first_lane"`
	Lanes     int     `json:"lanes"` // its peak parallelism
	Start     float64 `json:"start"`
	End       float64 `json:"end"`
	Busy      float64 `json:"busy"` // seconds with at least one task running
	Totals    Totals  `json:"totals"`
	// HostData is this worker's host data when the build had several
	// workers (Report.HostData then stays empty: one chart must not mix
	// two machines).
	HostData *HostData `json:"host_data,omitempty"`
}

// StepSummary is one step's share of the build.
type StepSummary struct {
	Name      string   `json:"name"`
	Worker    string   `json:"worker,omitempty"`
	Builds    []string `json:"builds"`
	Start     float64  `json:"start"`
	End       float64  `json:"end"`
	Wall      float64  `json:"wall"`
	Completed bool     `json:"completed"`
	Totals    Totals   `json:"totals"`
}

// TaskRef names one task with its figures.
type TaskRef struct {
	Step     string  `json:"step,omitempty"`
	PF       string  `json:"pf"`
	PN       string  `json:"pn"`
	Task     string  `json:"task"`
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
	CPU      float64 `json:"cpu"`
}

// TaskRecord is one task file, placed on the timeline.
type TaskRecord struct {
	Step     string  `json:"step"`
	Worker   string  `json:"worker,omitempty"`
	PF       string  `json:"pf"`
	PN       string  `json:"pn"`
	Task     string  `json:"task"`
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
	CPU      float64 `json:"cpu"`
	// HasCPU is false when the task file recorded no CPU figures.
	HasCPU     bool   `json:"has_cpu"`
	Status     string `json:"status"` // passed, failed, unfinished
	Setscene   bool   `json:"setscene,omitempty"`
	Lane       int    `json:"lane"`
	Critical   bool   `json:"critical,omitempty"`
	ReadBytes  int64  `json:"read_bytes,omitempty"`
	WriteBytes int64  `json:"write_bytes,omitempty"`
}

func (t *TaskRecord) ref() TaskRef {
	return TaskRef{Step: t.Step, PF: t.PF, PN: t.PN, Task: t.Task, Start: t.Start, Duration: t.Duration, CPU: t.CPU}
}

// RecipeTotal sums one recipe's tasks.
type RecipeTotal struct {
	PN       string  `json:"pn"`
	PF       string  `json:"pf"`
	Tasks    int     `json:"tasks"`
	Setscene int     `json:"setscene"`
	Time     float64 `json:"time"`
	CPU      float64 `json:"cpu"`
}

// TaskTypeTotal sums one kind of task (do_compile, ...); setscene runs are
// counted under the task they stand in for.
type TaskTypeTotal struct {
	Task         string  `json:"task"`
	Real         int     `json:"real"`
	Setscene     int     `json:"setscene"`
	RealTime     float64 `json:"real_time"`
	SetsceneTime float64 `json:"setscene_time"`
	CPU          float64 `json:"cpu"`
}

// CriticalPath is the longest chain of dependent tasks by elapsed time.
type CriticalPath struct {
	// Source is "task-depends.dot" or "timing" (inferred: each task's
	// predecessor is the one that ended last before it started).
	Source string    `json:"source"`
	Total  float64   `json:"total"`
	Tasks  []TaskRef `json:"tasks"`
}

// CPUProfile is CPU use over time: each task's CPU seconds spread evenly over
// its run, summed per bucket.
type CPUProfile struct {
	Bucket float64 `json:"bucket"` // seconds per sample
	// Cores is the average number of cores busy in each bucket.
	Cores []float64 `json:"cores"`
	// Running is the average number of tasks running in each bucket.
	Running []float64 `json:"running"`
}

// SstateSummary tells what came from the sstate cache.
type SstateSummary struct {
	// Reused counts setscene runs; Real counts real runs of the tasks that
	// have a setscene variant (so it is comparable with Reused).
	Reused int     `json:"reused"`
	Real   int     `json:"real"`
	Ratio  float64 `json:"ratio"`
	// Rebuilt lists recipes that ran real tasks although the previous build
	// restored those same tasks from sstate: their signatures changed.
	Rebuilt []RebuiltRecipe `json:"rebuilt,omitempty"`
	// HasPrevious is false when no previous build was available to compare.
	HasPrevious bool `json:"has_previous"`
}

// RebuiltRecipe is one recipe of SstateSummary.Rebuilt.
type RebuiltRecipe struct {
	PN       string   `json:"pn"`
	PF       string   `json:"pf"`
	PFBefore string   `json:"pf_before"`
	Tasks    []string `json:"tasks"`
	Time     float64  `json:"time"`
}

// Comparison is the regression check against an earlier build.
type Comparison struct {
	Against    string      `json:"against"` // its ID
	Source     string      `json:"source"`  // where it was read from
	WallBefore float64     `json:"wall_before"`
	WallAfter  float64     `json:"wall_after"`
	CPUBefore  float64     `json:"cpu_before"`
	CPUAfter   float64     `json:"cpu_after"`
	Threshold  float64     `json:"threshold"`
	MinDelta   float64     `json:"min_delta"`
	Slower     []TaskDelta `json:"slower"`
	Faster     int         `json:"faster"` // tasks faster by the same margins
	New        []TaskKey   `json:"new"`
	Vanished   []TaskKey   `json:"vanished"`
}

// TaskDelta is a task that got slower.
type TaskDelta struct {
	PN     string  `json:"pn"`
	Task   string  `json:"task"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Delta  float64 `json:"delta"`
	Ratio  float64 `json:"ratio"` // After/Before
}

// TaskKey names a task across builds: recipe name (not PF, so a version bump
// still matches) and task.
type TaskKey struct {
	PN       string  `json:"pn"`
	Task     string  `json:"task"`
	Duration float64 `json:"duration"`
}

// Generate reads the buildstats and task graph, analyses them and loads the
// build to compare with. It writes nothing; see Save and Run.
func Generate(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if len(opts.Buildstats) == 0 {
		return nil, errors.New("generate report: no buildstats given")
	}
	var steps []stepBuilds
	for _, sb := range opts.Buildstats {
		builds, err := buildstats.ReadDir(ctx, sb.Dir)
		if err != nil {
			return nil, fmt.Errorf("read buildstats of step %s: %w", sb.Step, err)
		}
		if !sb.Ended.IsZero() {
			end := float64(sb.Ended.UnixNano()) / 1e9
			for _, b := range builds {
				if !b.Completed() {
					b.EndHint = end
				}
			}
		}
		steps = append(steps, stepBuilds{name: sb.Step, worker: sb.Worker, builds: builds})
	}
	graph, warnings, err := readGraphs(opts)
	if err != nil {
		return nil, err
	}
	r := analyse(steps, graph, opts)
	r.Warnings = append(warnings, r.Warnings...)
	r.opts = opts

	prev, source, err := findPrevious(ctx, opts, r)
	if err != nil {
		// A broken history must not cost the report of the build at hand.
		r.Warnings = append(r.Warnings, "previous build: "+err.Error())
		opts.Logger.Warn("report: cannot load previous build", "err", err)
	}
	if prev != nil {
		r.compare(prev, source, opts)
	}
	return r, nil
}

// readGraphs reads and merges every task graph the options name: the
// build-wide TaskDepends and each step's TaskGraph. A missing file is a
// warning (bitbake -g may not have run); a step with buildstats but no
// graph, when others have one, is named in a warning: its tasks carry no
// dependencies, so the path through them is incomplete.
func readGraphs(opts Options) (*taskgraph.Graph, []string, error) {
	var paths, warnings []string
	seen := map[string]bool{}
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	add(opts.TaskDepends)
	for _, p := range opts.TaskGraphs {
		add(p)
	}
	buildWide := len(paths) > 0
	var without []string
	for _, sb := range opts.Buildstats {
		add(sb.TaskGraph)
		if sb.TaskGraph == "" && !slices.Contains(without, sb.Step) {
			without = append(without, sb.Step)
		}
	}
	var files []io.Reader
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			warnings = append(warnings, "task graph "+p+" is missing")
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open task graph: %w", err)
		}
		defer f.Close()
		files = append(files, f)
	}
	if len(files) == 0 {
		if len(warnings) > 0 {
			warnings[len(warnings)-1] += ": critical path inferred from timing"
		}
		return nil, warnings, nil
	}
	if !buildWide && len(without) > 0 {
		warnings = append(warnings, "no task graph for step(s) "+strings.Join(without, ", ")+": their tasks have no dependencies on the critical path")
	}
	g, err := taskgraph.ParseAll(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("parse task graphs %s: %w", strings.Join(paths, ", "), err)
	}
	return g, warnings, nil
}

// pnOf derives PN from a buildstats directory name PN-[PE_]PV-PR: PV and PR
// carry no dashes in OE metadata, PN may.
func pnOf(pf string) string {
	i := strings.LastIndexByte(pf, '-')
	if i <= 0 {
		return pf
	}
	j := strings.LastIndexByte(pf[:i], '-')
	if j <= 0 {
		return pf[:i]
	}
	return pf[:j]
}

func sortRefsByDuration(refs []TaskRef) {
	slices.SortStableFunc(refs, func(a, b TaskRef) int {
		if c := cmp.Compare(b.Duration, a.Duration); c != 0 {
			return c
		}
		if c := strings.Compare(a.PF, b.PF); c != 0 {
			return c
		}
		return strings.Compare(a.Task, b.Task)
	})
}
