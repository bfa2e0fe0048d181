package report

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/report/buildstats"
)

var graphFile = filepath.Join("testdata", "task-depends.dot")

func fixtureDir(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join("testdata", "buildstats", name)
}

func generate(t *testing.T, opts Options) *Report {
	t.Helper()
	r, err := Generate(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func one(t *testing.T, fixture string, graph bool) *Report {
	t.Helper()
	opts := Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, fixture)}}}
	if graph {
		opts.TaskDepends = graphFile
	}
	return generate(t, opts)
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.011 }

func critNames(r *Report) []string {
	var out []string
	for _, c := range r.Critical.Tasks {
		out = append(out, c.PN+":"+c.Task)
	}
	return out
}

// The critical path of the complete fixture, worked out by hand from
// fixtures_test.go: zlib-native's whole chain (48 s) then busybox configure
// through package_write_ipk (91 s) then the image (32 s) = 171 s.
var completeCritical = []string{"zlib-native:do_fetch", "zlib-native:do_unpack", "zlib-native:do_configure", "zlib-native:do_compile",
	"zlib-native:do_install", "zlib-native:do_populate_sysroot", "busybox:do_configure", "busybox:do_compile", "busybox:do_install",
	"busybox:do_package", "busybox:do_package_write_ipk", "xt-image:do_rootfs", "xt-image:do_image_complete"}

func TestAnalyseFixtures(t *testing.T) {
	tests := []struct {
		fixture       string
		status        string
		wall          float64
		tasks, lanes  int
		taskTime, cpu float64
		critTotal     float64
		crit          []string
		reused, real  int
	}{
		{"complete", "passed", 174, 16, 2, 181, 196.1, 171, completeCritical, 0, 5},
		{"noio", "passed", 174, 16, 2, 181, 196.1, 171, completeCritical, 0, 5},
		{"failed", "failed", 81, 10, 2, 85, 97.1, 78, append(slices.Clone(completeCritical[:7]), "busybox:do_compile"), 0, 1},
		// The killed do_compile has no end: it lasts until the last event (its own start).
		{"killed", "incomplete", 62, 10, 2, 67, 70.1, 60, append(slices.Clone(completeCritical[:7]), "busybox:do_compile"), 0, 1},
		// Setscene-only: setscene tasks wait for nothing, so the longest
		// chain is the longest single setscene (1.2 s).
		{"setscene", "passed", 5, 4, 2, 3.7, 1.85, 1.2, []string{"xt-image:do_image_complete_setscene"}, 4, 0},
		{"changed", "passed", 154, 11, 2, 155, 170.7, 151, []string{"busybox:do_fetch", "busybox:do_unpack", "busybox:do_configure",
			"busybox:do_compile", "busybox:do_install", "busybox:do_package", "busybox:do_package_write_ipk", "xt-image:do_rootfs",
			"xt-image:do_image_complete"}, 1, 4},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			r := one(t, tc.fixture, true)
			if r.Status != tc.status || !near(r.Wall, tc.wall) || r.Totals.Tasks != tc.tasks || r.Lanes != tc.lanes {
				t.Errorf("status %s wall %v tasks %d lanes %d", r.Status, r.Wall, r.Totals.Tasks, r.Lanes)
			}
			if !near(r.Totals.TaskTime, tc.taskTime) || !near(r.Totals.CPU, tc.cpu) {
				t.Errorf("task time %v CPU %v, want %v %v", r.Totals.TaskTime, r.Totals.CPU, tc.taskTime, tc.cpu)
			}
			if got := critNames(r); !slices.Equal(got, tc.crit) || !near(r.Critical.Total, tc.critTotal) || r.Critical.Source != "task-depends.dot" {
				t.Errorf("critical path %.2f %v\nwant %.2f %v", r.Critical.Total, got, tc.critTotal, tc.crit)
			}
			marked := 0
			for _, tk := range r.Tasks {
				if tk.Critical {
					marked++
				}
			}
			if marked != len(tc.crit) {
				t.Errorf("%d tasks marked critical, want %d", marked, len(tc.crit))
			}
			if r.Sstate.Reused != tc.reused || r.Sstate.Real != tc.real {
				t.Errorf("sstate reused %d real %d", r.Sstate.Reused, r.Sstate.Real)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings %v", r.Warnings)
			}
			// CPU profile holds the same CPU seconds as the tasks.
			var sum float64
			for _, c := range r.CPU.Cores {
				sum += c * r.CPU.Bucket
			}
			if math.Abs(sum-r.Totals.CPU) > 0.02*r.Totals.CPU+0.5 {
				t.Errorf("CPU profile integrates to %v, tasks say %v", sum, r.Totals.CPU)
			}
		})
	}
}

func TestFailedBuildDetails(t *testing.T) {
	r := one(t, "failed", true)
	if len(r.Failures) != 1 || r.Failures[0].PF != "busybox-1.36.1-r0" || r.Failures[0].Task != "do_compile" || !near(r.Failures[0].Duration, 18) {
		t.Fatalf("failures %+v", r.Failures)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "FAILED: busybox-1.36.1-r0 do_compile (step image, after 18.0s)") {
		t.Errorf("text summary:\n%s", text.String())
	}
}

func TestKilledBuildWithEndHint(t *testing.T) {
	dir := fixtureDir(t, "killed")
	// bitbake exited 90 s after BuildStarted (fixture start 1764007200).
	r := generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: dir, Ended: time.Unix(1764007290, 0)}}, TaskDepends: graphFile})
	var k *TaskRecord
	for i := range r.Tasks {
		if r.Tasks[i].Status == "unfinished" {
			k = &r.Tasks[i]
		}
	}
	if k == nil || k.Task != "do_compile" || !near(k.Duration, 28) || !near(r.Wall, 90) || r.Totals.Unfinished != 1 {
		t.Fatalf("unfinished task %+v, wall %v", k, r.Wall)
	}
}

func TestCriticalPathFromTiming(t *testing.T) {
	r := one(t, "complete", false)
	if r.Critical.Source != "timing" || !slices.Equal(critNames(r), completeCritical) || !near(r.Critical.Total, 171) {
		t.Errorf("inferred path %.2f %v", r.Critical.Total, critNames(r))
	}
	// A graph from another build matches nothing: fall back, with a warning.
	dir := t.TempDir()
	other := filepath.Join(dir, "other.dot")
	if err := os.WriteFile(other, []byte("digraph depends {\n\"foo.do_compile\" -> \"foo.do_configure\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "complete")}}, TaskDepends: other})
	if r.Critical.Source != "timing" || len(r.Warnings) != 1 {
		t.Errorf("source %s warnings %v", r.Critical.Source, r.Warnings)
	}
	// A missing graph is a warning, not an error (bitbake -g may not have run).
	r = generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "complete")}}, TaskDepends: filepath.Join(dir, "nope.dot")})
	if r.Critical.Source != "timing" || len(r.Warnings) != 1 {
		t.Errorf("missing graph: source %s warnings %v", r.Critical.Source, r.Warnings)
	}
}

func TestRegressionsAgainstDir(t *testing.T) {
	// changed vs complete, worked out by hand: busybox do_compile 60 -> 80 s
	// (+20 s, x1.33) is the only slowdown beyond 25 % and 10 s (configure
	// 12 -> 14 s is under both); zlib-native's six real tasks vanished and
	// its setscene is new.
	r := generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "changed")}}, TaskDepends: graphFile,
		Against: fixtureDir(t, "complete")})
	c := r.Comparison
	if c == nil {
		t.Fatal("no comparison")
	}
	if len(c.Slower) != 1 || c.Slower[0].PN != "busybox" || c.Slower[0].Task != "do_compile" || !near(c.Slower[0].Before, 60) ||
		!near(c.Slower[0].After, 80) || !near(c.Slower[0].Delta, 20) || !near(c.Slower[0].Ratio, 1.33) {
		t.Errorf("slower %+v", c.Slower)
	}
	var vanished []string
	for _, k := range c.Vanished {
		vanished = append(vanished, k.PN+":"+k.Task)
	}
	slices.Sort(vanished)
	wantVanished := []string{"zlib-native:do_compile", "zlib-native:do_configure", "zlib-native:do_fetch", "zlib-native:do_install",
		"zlib-native:do_populate_sysroot", "zlib-native:do_unpack"}
	if !slices.Equal(vanished, wantVanished) {
		t.Errorf("vanished %v", vanished)
	}
	if len(c.New) != 1 || c.New[0].PN != "zlib-native" || c.New[0].Task != "do_populate_sysroot_setscene" {
		t.Errorf("new %+v", c.New)
	}
	if !near(c.WallBefore, 174) || !near(c.WallAfter, 154) || c.Faster != 0 || c.Against != "20251124160000" {
		t.Errorf("comparison %+v", c)
	}
	// complete did not reuse anything, so nothing counts as rebuilt.
	if len(r.Sstate.Rebuilt) != 0 || !r.Sstate.HasPrevious {
		t.Errorf("rebuilt %+v", r.Sstate.Rebuilt)
	}
	// A stricter threshold also catches configure (x1.17) once the 10 s floor is lowered.
	r = generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "changed")}}, Against: fixtureDir(t, "complete"),
		Threshold: 0.1, MinDelta: 1})
	var slower []string
	for _, d := range r.Comparison.Slower {
		slower = append(slower, d.PN+":"+d.Task)
	}
	if !slices.Equal(slower, []string{"busybox:do_compile", "busybox:do_configure"}) || r.Comparison.Faster != 1 {
		t.Errorf("threshold 10%%: slower %v faster %d (busybox do_fetch 5 -> 4 s is faster)", slower, r.Comparison.Faster)
	}
}

// TestHistory runs three builds of one config through Run, as `build` does:
// each finds the one before it in the history, and the third sees that busybox
// and the image ran real tasks the second restored from sstate.
func TestHistory(t *testing.T) {
	out := t.TempDir()
	run := func(fixture string) *Report {
		t.Helper()
		var stdout bytes.Buffer
		r, err := Run(context.Background(), Options{Title: "xt-config", TaskDepends: graphFile,
			Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, fixture)}}}, out, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout.String(), "Report: "+filepath.Join(out, IndexFile)) {
			t.Errorf("stdout:\n%s", stdout.String())
		}
		return r
	}
	first := run("complete")
	if first.Comparison != nil || first.Sstate.HasPrevious {
		t.Error("first build has nothing to compare with")
	}
	again := run("complete") // `mage report` twice on the same build
	if again.Comparison != nil {
		t.Errorf("a build must not be compared with itself: %+v", again.Comparison)
	}
	second := run("setscene")
	if second.Comparison == nil || second.Comparison.Against != first.ID || len(second.Sstate.Rebuilt) != 0 {
		t.Fatalf("second: %+v", second.Comparison)
	}
	third := run("changed")
	if third.Comparison == nil || third.Comparison.Against != second.ID {
		t.Fatalf("third compared with %+v", third.Comparison)
	}
	rb := third.Sstate.Rebuilt
	if len(rb) != 2 || rb[0].PN != "busybox" || !slices.Equal(rb[0].Tasks, []string{"do_package_write_ipk", "do_populate_sysroot"}) ||
		!near(rb[0].Time, 122) || rb[1].PN != "xt-image" || !slices.Equal(rb[1].Tasks, []string{"do_image_complete"}) || !near(rb[1].Time, 32) {
		t.Errorf("rebuilt %+v", rb)
	}
	if len(third.Comparison.New) != 10 || len(third.Comparison.Vanished) != 3 {
		t.Errorf("new %d vanished %d, want 10 and 3", len(third.Comparison.New), len(third.Comparison.Vanished))
	}
	entries, err := os.ReadDir(filepath.Join(out, HistoryDir))
	if err != nil || len(entries) != 3 {
		t.Fatalf("history: %v %v", entries, err)
	}
	// report.json is the latest build and reads back equal.
	data, err := os.ReadFile(filepath.Join(out, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.ID != third.ID || len(back.Tasks) != len(third.Tasks) ||
		len(back.Sstate.Rebuilt) != 2 || back.Comparison == nil {
		t.Errorf("report.json: %v %+v", err, back.Comparison)
	}
	// --against a report dir: compare changed with the complete build's report.
	rep := generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "complete")}}})
	old := filepath.Join(t.TempDir(), "old")
	if err := rep.Save(old); err != nil {
		t.Fatal(err)
	}
	r := generate(t, Options{Buildstats: []StepBuildstats{{Step: "image", Dir: fixtureDir(t, "changed")}}, Against: old})
	if r.Comparison == nil || len(r.Comparison.Slower) != 1 || r.Comparison.Source != filepath.Join(old, JSONFile) {
		t.Errorf("against report dir: %+v", r.Comparison)
	}
}

func TestHistoryPrune(t *testing.T) {
	dir := t.TempDir()
	for i := range HistoryKeep + 5 {
		r := &Report{ID: "b" + strings.Repeat("x", i), Start: float64(1000 + i)}
		if err := atomicfile.WriteFile(filepath.Join(dir, historyName(r)), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := pruneHistory(dir, HistoryKeep); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != HistoryKeep || !strings.HasPrefix(entries[0].Name(), "000000001005-") {
		t.Errorf("kept %d, oldest %s", len(entries), entries[0].Name())
	}
	if n := historyName(&Report{ID: "../../etc/passwd", Start: 1}); strings.Contains(n, "/") {
		t.Errorf("history name %q has a path separator", n)
	}
}

func TestSteps(t *testing.T) {
	// Two steps: a setscene-only build then a rebuild, as one report.
	r := generate(t, Options{Buildstats: []StepBuildstats{
		{Step: "toolchain", Dir: fixtureDir(t, "setscene")},
		{Step: "image", Dir: fixtureDir(t, "changed")},
	}, TaskDepends: graphFile})
	if len(r.Steps) != 2 || r.Steps[0].Totals.Tasks != 4 || r.Steps[1].Totals.Tasks != 11 || r.Totals.Tasks != 15 {
		t.Fatalf("steps %+v", r.Steps)
	}
	if !near(r.Steps[1].Start, 86400) || !near(r.Steps[1].Wall, 154) || r.ID != "20251125160000+20251126160000" {
		t.Errorf("step 2 start %v wall %v id %s", r.Steps[1].Start, r.Steps[1].Wall, r.ID)
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<g class=\"step\">") {
		t.Error("step boundaries missing from the timeline")
	}
}

func TestPNOf(t *testing.T) {
	for pf, pn := range map[string]string{"busybox-1.36.1-r0": "busybox", "zlib-native-1.3.1-r0": "zlib-native",
		"glib-2.0-1_2.78.0-r0": "glib-2.0", "gcc-cross-x86_64-13.2.0-r0": "gcc-cross-x86_64", "odd": "odd", "a-1": "a"} {
		if got := pnOf(pf); got != pn {
			t.Errorf("pnOf(%q) = %q, want %q", pf, got, pn)
		}
	}
}

func TestMain_CLI(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"-out", out, "-task-depends", graphFile, "-title", "cli", "-json",
		"-buildstats", "image=" + fixtureDir(t, "failed")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.Status != "failed" || r.Title != "cli" {
		t.Fatalf("json: %v %s", err, r.Status)
	}
	for _, f := range []string{IndexFile, JSONFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	if code := Main(context.Background(), []string{"-out", out, fixtureDir(t, "complete")}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "Build report: 20251124160000: PASSED") {
		t.Errorf("bare dir: exit %d\n%s", code, stdout.String())
	}
	for _, args := range [][]string{{}, {"-nope"}, {"-buildstats", "=x"}} {
		if code := Main(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := Main(context.Background(), []string{"-out", out, filepath.Join(out, "missing")}, &stdout, &stderr); code != 1 {
		t.Errorf("missing dir: exit %d, want 1", code)
	}
}

func TestEmptyAndDegenerateBuilds(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "20260101000000")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "build_stats"), []byte("Host Info: Linux x \nBuild Started: 1000.00 \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := generate(t, Options{Buildstats: []StepBuildstats{{Step: "s", Dir: empty}}})
	var page, text, js bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if r.Status != "incomplete" || r.Totals.Tasks != 0 || !strings.Contains(page.String(), "</html>") {
		t.Errorf("empty build: status %s", r.Status)
	}
	if _, err := Generate(context.Background(), Options{}); err == nil {
		t.Error("no buildstats must be an error")
	}
}

// FuzzReport feeds arbitrary content as one task file of the complete fixture
// through the whole report: it must not fail, hang or lose a bar.
func FuzzReport(f *testing.F) {
	f.Add([]byte("Event: TaskStarted \nStarted: 1764000100.00 \n"))
	f.Add([]byte("Started: 1e15\nEnded: -1e15\nStatus: FAILED \n"))
	f.Add([]byte("Started: 1764000100\nEnded: 1764000050\nElapsed time: 9999999 seconds\n"))
	src := filepath.Join("testdata", "buildstats", "complete")
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "20251124160000", "busybox-1.36.1-r0", "do_fuzz"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Generate(context.Background(), Options{Buildstats: []StepBuildstats{{Step: "s", Dir: dir}}, TaskDepends: graphFile})
		if err != nil {
			t.Fatal(err)
		}
		var page bytes.Buffer
		if err := r.WriteHTML(&page); err != nil {
			t.Fatal(err)
		}
		if n := len(barRe.FindAllIndex(page.Bytes(), -1)); n != 17 {
			t.Fatalf("%d bars, want 17", n)
		}
		if page.Len() > 5<<20 {
			t.Fatalf("page of %d bytes", page.Len())
		}
		if err := r.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRealBuildstats: buildstats and task-depends.dot written by real BitBake
// 2.8 with oe-core scarthgap's buildstats class (testdata/real-scarthgap).
// The host data becomes charts under the timeline and a line of the text
// summary; none of it is taken for a recipe; the critical path comes from the
// real task graph.
func TestRealBuildstats(t *testing.T) {
	dir := filepath.Join("testdata", "real-scarthgap")
	r, err := Generate(context.Background(), Options{
		Title:       "real",
		Buildstats:  []StepBuildstats{{Step: "toy", Dir: filepath.Join(dir, "20261205085051")}},
		TaskDepends: filepath.Join(dir, "task-depends.dot"),
		HistoryDir:  t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %q", r.Warnings)
	}
	for _, rt := range r.TopRecipes {
		if !strings.HasPrefix(rt.PF, "toy-") {
			t.Errorf("top recipes hold %q", rt.PF)
		}
	}
	if r.Totals.Tasks != 3 || r.Status != "passed" {
		t.Errorf("tasks %d status %s", r.Totals.Tasks, r.Status)
	}
	if r.Critical.Source != "task-depends.dot" {
		t.Errorf("critical path source %q", r.Critical.Source)
	}
	d := r.HostData
	if d == nil {
		t.Fatal("no host data in the report")
	}
	if len(d.CPU) < 5 || len(d.Disk) < 5 || len(d.Memory) < 5 || len(d.Pressure["cpu"]) < 5 || len(d.Pressure["io"]) < 5 || len(d.DiskSpace["/dev/vda"]) < 5 {
		t.Errorf("host series too short: %+v", d)
	}
	if d.MemTotalGiB < 23 || d.MemTotalGiB > 24 {
		t.Errorf("memory total %v GiB, want 23.5 (MemTotal 24683744 kB)", d.MemTotalGiB)
	}
	for _, p := range d.CPU {
		if p.T < -2 || p.T > r.Wall+2 || p.V[0]+p.V[1]+p.V[2] > 100.01 {
			t.Errorf("cpu point %+v (wall %v)", p, r.Wall)
		}
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`id="host"`, `id="host-cpu"`, `id="host-disk"`, `id="host-psi-cpu"`, `id="host-psi-io"`, `id="host-memory"`, `id="host-diskspace-0"`} {
		if !bytes.Contains(page.Bytes(), []byte(id)) {
			t.Errorf("page lacks %s", id)
		}
	}
	if bytes.Contains(page.Bytes(), []byte("reduced_proc")) {
		t.Error("page names reduced_proc files as build content")
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Host: CPU busy ") || !strings.Contains(text.String(), "cpu pressure avg10 peak") {
		t.Errorf("text summary lacks the host line:\n%s", text.String())
	}
}

// TestHostDownsampling: a six-hour build's 21 600 samples become at most
// hostPoints averaged points that keep the mean.
func TestHostDownsampling(t *testing.T) {
	h := &buildstats.Host{PSI: map[string][]buildstats.Sample{}}
	for i := range 21600 {
		v := 0.2
		if i%2 == 1 {
			v = 0.4
		}
		h.CPU = append(h.CPU, buildstats.Sample{Time: 1000 + float64(i), Values: []float64{v, 0, 0}})
	}
	d := hostData(h, 1000)
	if len(d.CPU) > hostPoints || len(d.CPU) < hostPoints/2 {
		t.Fatalf("%d points", len(d.CPU))
	}
	sum := 0.0
	for _, p := range d.CPU {
		sum += p.V[0]
	}
	if mean := sum / float64(len(d.CPU)); math.Abs(mean-30) > 0.5 {
		t.Errorf("mean user %v%%, want 30%%", mean)
	}
	if last := d.CPU[len(d.CPU)-1].T; last < 21500 {
		t.Errorf("last point at %v s, want near 21599", last)
	}
}
