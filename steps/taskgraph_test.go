package steps

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/report"
)

// stepWorld is a World after setupoe with a memory-resident server of 60 s
// and the plan resolved, ready to run single steps.
func stepWorld(t *testing.T, opts config.Options) (*standin.World, *pipe.Build) {
	t.Helper()
	w := newWorld(t, "")
	f := filepath.Join(w.Work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, []byte(strings.Replace(string(data), "server_timeout = 0", "server_timeout = 60", 1)), 0o644)
	e := w.Env(opts)
	if err := SetupOE(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	p, err := plan.Resolve(e.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Plan = p
	t.Cleanup(func() { StopServer(context.Background(), e) })
	return w, e
}

func planStep(t *testing.T, e *pipe.Build, name string) plan.Step {
	t.Helper()
	for _, s := range e.Plan.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s", name)
	return plan.Step{}
}

// After its build, a bitbake step runs `bitbake -g` with the same targets
// on the same memory-resident server (nothing parsed again), keeps
// task-depends.dot and pn-buildlist as taskgraph/<STEP>.*, and names its
// worker next to its buildstats; the report then takes the critical path
// from the graph instead of inferring it from timing.
//
// (installer: dom0 needs stubinitramfs's image in the deploy dir.)
func TestBitbakeStepKeepsTaskGraphAndWorker(t *testing.T) {
	w, e := stepWorld(t, config.Options{Worker: "worker-a"})
	s := planStep(t, e, "installer")
	if _, err := BitbakeStep(s).Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	calls := w.Calls()
	if len(calls) != 2 {
		t.Fatalf("bitbake calls %v", calls)
	}
	args, _ := json.Marshal(calls[1]["args"])
	if string(args) != `["-g","xenclient-installer-image"]` || calls[1]["parsed"].(float64) != 0 || calls[1]["machine"] != "openxt-installer" {
		t.Errorf("second call %v: want -g with the build's targets on the warm server", calls[1])
	}
	out := e.OutDir()
	dot, err := os.ReadFile(TaskGraphPath(out, "installer"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(e.Config.BuildDir(), "repos", "xenclient-oe", "recipes", "images", "xenclient-installer-image.bb")
	want := "digraph depends {\n" +
		`"xenclient-installer-image.do_build" [label="xenclient-installer-image do_build\n:1.0-r0\n` + recipe + "\"]\n" +
		`"xenclient-installer-image.do_build" -> "xenclient-installer-image.do_image_complete"` + "\n" +
		`"xenclient-installer-image.do_image_complete" [label="xenclient-installer-image do_image_complete\n:1.0-r0\n` + recipe + "\"]\n" +
		`"xenclient-installer-image.do_image_complete" -> "xenclient-installer-image.do_rootfs"` + "\n" +
		`"xenclient-installer-image.do_rootfs" [label="xenclient-installer-image do_rootfs\n:1.0-r0\n` + recipe + "\"]\n" +
		"}\n"
	if string(dot) != want {
		t.Errorf("task-depends.dot:\n%s\nwant:\n%s", dot, want)
	}
	if pn, _ := os.ReadFile(filepath.Join(out, TaskGraphDir, "installer.pn-buildlist")); string(pn) != "xenclient-installer-image\n" {
		t.Errorf("pn-buildlist %q", pn)
	}
	if got := ReadWorker(out, "installer"); got != "worker-a" {
		t.Errorf("worker %q", got)
	}
	if log, _ := os.ReadFile(LogPath(e, "installer")); !strings.Contains(string(log), "NOTE: Task dependencies saved to 'task-depends.dot'") {
		t.Errorf("step log lacks the -g run:\n%s", log)
	}

	if err := Report(context.Background(), e, e.Plan); err != nil {
		t.Fatal(err)
	}
	var r report.Report
	data, _ := os.ReadFile(filepath.Join(out, ReportDir, "report.json"))
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Critical.Source != "task-depends.dot" || len(r.Critical.Tasks) != 3 || len(r.Workers) != 1 || r.Workers[0].Name != "worker-a" {
		t.Errorf("report: critical path from %s over %d tasks, workers %+v", r.Critical.Source, len(r.Critical.Tasks), r.Workers)
	}
}

// A failing -g is a warning: the step still succeeds and no stale graph of
// an earlier run stays behind for the report.
func TestTaskGraphFailureIsAWarning(t *testing.T) {
	w, e := stepWorld(t, config.Options{})
	s := planStep(t, e, "installer")
	if _, err := BitbakeStep(s).Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	if _, err := os.Stat(TaskGraphPath(e.OutDir(), "installer")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XTBUILD_FAKE_GRAPH_FAIL", "1")
	if _, err := BitbakeStep(s).Run(context.Background(), e); err != nil {
		t.Fatalf("a failed bitbake -g failed the step: %v", err)
	}
	if _, err := os.Stat(TaskGraphPath(e.OutDir(), "installer")); !os.IsNotExist(err) {
		t.Errorf("stale task graph kept: %v", err)
	}
	if !strings.Contains(w.Out.String(), "[installer] WARNING: no task graph kept") {
		t.Errorf("no warning:\n%s", w.Out)
	}
	host, _ := os.Hostname()
	if got := ReadWorker(e.OutDir(), "installer"); got != host {
		t.Errorf("worker %q, want the host name %q", got, host)
	}
}

// A failed build still gets its graph (the report explains failures); the
// step's error stays the build's.
func TestFailedBuildKeepsItsErrorAndGraph(t *testing.T) {
	w, e := stepWorld(t, config.Options{})
	t.Setenv("XTBUILD_FAKE_FAIL", "xenclient-dom0-image:do_rootfs")
	_, err := BitbakeStep(planStep(t, e, "dom0")).Run(context.Background(), e)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "dom0" {
		t.Fatalf("error %v\n%s", err, w.Out)
	}
	if _, err := os.Stat(TaskGraphPath(e.OutDir(), "dom0")); err != nil {
		t.Error(err)
	}
}

// Steps run by two workers (as XTBUILD_WORKER names them on a fanned-out
// build) give a report with a band per worker, and the critical path comes
// from the two steps' graphs merged.
func TestReportHasABandPerWorker(t *testing.T) {
	w, e := stepWorld(t, config.Options{Worker: "worker-a"})
	if _, err := BitbakeStep(planStep(t, e, "stubinitramfs")).Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	e.Options.Worker = "worker-b"
	if _, err := BitbakeStep(planStep(t, e, "dom0")).Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	if err := Report(context.Background(), e, e.Plan); err != nil {
		t.Fatal(err)
	}
	var r report.Report
	data, _ := os.ReadFile(filepath.Join(e.OutDir(), ReportDir, "report.json"))
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Workers) != 2 || r.Workers[0].Name != "worker-a" || r.Workers[1].Name != "worker-b" ||
		strings.Join(r.Workers[1].Steps, ",") != "dom0" || r.Workers[1].FirstLane != r.Workers[0].Lanes {
		t.Errorf("workers %+v", r.Workers)
	}
	if r.Critical.Source != "task-depends.dot" || len(r.Warnings) != 0 {
		t.Errorf("critical path from %s, warnings %q", r.Critical.Source, r.Warnings)
	}
	for _, tk := range r.Tasks {
		if want := map[string]string{"stubinitramfs": "worker-a", "dom0": "worker-b"}[tk.Step]; tk.Worker != want {
			t.Errorf("task %s %s of step %s on %q", tk.PF, tk.Task, tk.Step, tk.Worker)
		}
	}
	page, _ := os.ReadFile(filepath.Join(e.OutDir(), ReportDir, "index.html"))
	if !strings.Contains(string(page), ">worker worker-b: dom0, 3 tasks, up to 1 in parallel</text>") {
		t.Error("page lacks worker-b's band")
	}
}
