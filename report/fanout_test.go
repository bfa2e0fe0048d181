package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fanoutOptions is the fan-out fixture (fanoutBuilds) as steps.Report
// passes it: each step with its worker and its own task graph.
func fanoutOptions(t *testing.T) Options {
	return Options{Title: "fanout", Buildstats: []StepBuildstats{
		{Step: "toolchain", Dir: fixtureDir(t, "fanout/toolchain"), Worker: "worker-a", TaskGraph: filepath.Join("testdata", "fanout", "toolchain.dot")},
		{Step: "image", Dir: fixtureDir(t, "fanout/image"), Worker: "worker-a", TaskGraph: graphFile},
		{Step: "installer", Dir: fixtureDir(t, "fanout/installer"), Worker: "worker-b", TaskGraph: filepath.Join("testdata", "fanout", "installer.dot")},
	}}
}

// The three steps' graphs merged give the critical path across workers,
// worked out by hand from fanoutBuilds: zlib-native's real chain on
// worker-a (48 s) feeds the installer's do_compile on worker-b, then
// compile, install, rootfs, image_complete (177 s) = 225 s; the image's
// chain through busybox is 193 s. Timing alone cannot see that link.
func TestFanoutMergesGraphsAndWorkers(t *testing.T) {
	r := generate(t, fanoutOptions(t))
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q", r.Warnings)
	}
	want := []string{"zlib-native:do_fetch", "zlib-native:do_unpack", "zlib-native:do_configure", "zlib-native:do_compile",
		"zlib-native:do_install", "zlib-native:do_populate_sysroot", "xt-installer-image:do_compile", "xt-installer-image:do_install",
		"xt-installer-image:do_rootfs", "xt-installer-image:do_image_complete"}
	if got := critNames(r); r.Critical.Source != "task-depends.dot" || !slices.Equal(got, want) || !near(r.Critical.Total, 225) {
		t.Errorf("critical path (%s) %.2f %v\nwant 225 %v", r.Critical.Source, r.Critical.Total, got, want)
	}
	// The zlib-native run on the path is the real one of step toolchain,
	// not the setscene restores of the other two steps.
	for _, c := range r.Critical.Tasks {
		if c.PN == "zlib-native" && c.Step != "toolchain" {
			t.Errorf("critical %s %s from step %s", c.PF, c.Task, c.Step)
		}
	}
	if !near(r.Wall, 239) || r.Lanes != 3 || len(r.Workers) != 2 {
		t.Fatalf("wall %v lanes %d workers %+v", r.Wall, r.Lanes, r.Workers)
	}
	a, b := r.Workers[0], r.Workers[1]
	if a.Name != "worker-a" || !slices.Equal(a.Steps, []string{"toolchain", "image"}) || a.FirstLane != 0 || a.Lanes != 2 || a.Totals.Tasks != 17 ||
		!near(a.Start, 0) || !near(a.End, 209) || !near(a.Busy, 48+152) {
		t.Errorf("worker a %+v", a)
	}
	if b.Name != "worker-b" || !slices.Equal(b.Steps, []string{"installer"}) || b.FirstLane != 2 || b.Lanes != 1 || b.Totals.Tasks != 6 ||
		!near(b.Start, 56) || !near(b.End, 239) || !near(b.Busy, 181) {
		t.Errorf("worker b %+v", b)
	}
	for _, tk := range r.Tasks {
		if (tk.Worker == "worker-b") != (tk.Lane == 2) || (tk.Worker == "worker-b") != (tk.Step == "installer") {
			t.Errorf("task %s %s of %s on %s in lane %d", tk.PF, tk.Task, tk.Step, tk.Worker, tk.Lane)
		}
	}
	// sstate: two zlib-native setscenes; six real runs of sstate-capable
	// tasks (zlib-native and busybox do_populate_sysroot, busybox do_package
	// and do_package_write_ipk, both images' do_image_complete).
	if r.Sstate.Reused != 2 || r.Sstate.Real != 6 || r.Sstate.Ratio != 0.25 {
		t.Errorf("sstate %+v", r.Sstate)
	}

	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`<g class="worker">`, `id="worker-1" x="4" y="`, `>worker worker-a: toolchain, image, 17 tasks, up to 2 in parallel</text>`,
		`>worker worker-b: installer, 6 tasks, up to 1 in parallel</text>`, `<table id="workers">`, "step installer on worker-b, +0:01:01, passed"} {
		if !strings.Contains(page.String(), s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// Bars of worker-b lie below worker-b's label, those of worker-a above it.
	labelY := regexp.MustCompile(`id="worker-2" x="4" y="(\d+)"`).FindStringSubmatch(page.String())
	if labelY == nil {
		t.Fatal("no label of worker-b")
	}
	for _, m := range regexp.MustCompile(`<rect class="bar [^"]*" x="[^"]*" y="(\d+)"[^>]*><title>([^\n]*)\n[^\n]*\nstep (\w+) on ([\w-]+)`).FindAllStringSubmatch(page.String(), -1) {
		below := len(m[1]) > len(labelY[1]) || (len(m[1]) == len(labelY[1]) && m[1] > labelY[1])
		if below != (m[4] == "worker-b") {
			t.Errorf("bar %s of %s at y=%s, worker-b's label at y=%s", m[2], m[4], m[1], labelY[1])
		}
	}
	checkGolden(t, "fanout", r)
}

// checkGolden compares the report's text, JSON and HTML with
// testdata/golden/<name>.{txt,json,html}; -update rewrites them.
func checkGolden(t *testing.T, name string, r *Report) {
	t.Helper()
	outs := map[string]func(*bytes.Buffer) error{
		".txt":  func(b *bytes.Buffer) error { return r.WriteText(b) },
		".json": func(b *bytes.Buffer) error { return r.WriteJSON(b) },
		".html": func(b *bytes.Buffer) error { return r.WriteHTML(b) },
	}
	for ext, write := range outs {
		var got bytes.Buffer
		if err := write(&got); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name+ext)
		if *update {
			if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./report -run Fanout -update)", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s differs from the golden file (run with -update and review the diff)", path)
		}
	}
}

// A step without a task graph, next to steps with one: the merged graph
// still gives the path, and a warning names the step.
func TestFanoutStepWithoutGraph(t *testing.T) {
	opts := fanoutOptions(t)
	opts.Buildstats[2].TaskGraph = ""
	r := generate(t, opts)
	if r.Critical.Source != "task-depends.dot" || !near(r.Critical.Total, 193) {
		t.Errorf("critical path (%s) %.2f %v", r.Critical.Source, r.Critical.Total, critNames(r))
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "no task graph for step(s) installer") {
		t.Errorf("warnings %q", r.Warnings)
	}
	// And a graph file that went missing is named too.
	opts.Buildstats[2].TaskGraph = filepath.Join(t.TempDir(), "installer.dot")
	r = generate(t, opts)
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "installer.dot is missing") {
		t.Errorf("warnings %q", r.Warnings)
	}
}

// Host data of two workers is drawn per worker, never merged into one
// machine's chart (the real scarthgap buildstats, as if two workers had
// recorded them).
func TestHostDataPerWorker(t *testing.T) {
	dir := filepath.Join("testdata", "real-scarthgap", "20261205085051")
	r := generate(t, Options{Buildstats: []StepBuildstats{
		{Step: "a", Dir: dir, Worker: "w1"},
		{Step: "b", Dir: dir, Worker: "w2"},
	}})
	if r.HostData != nil || len(r.Workers) != 2 || r.Workers[0].HostData == nil || r.Workers[1].HostData == nil {
		t.Fatalf("host data %v, workers %+v", r.HostData != nil, r.Workers)
	}
	var page, text bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{`id="host"`, `id="host-w1"`, `id="host-w1-cpu"`, `id="host-w2-cpu"`, `id="host-w2-psi-io"`, `href="#host"`} {
		if !strings.Contains(page.String(), id) {
			t.Errorf("page lacks %s", id)
		}
	}
	if strings.Contains(page.String(), `id="host-cpu"`) {
		t.Error("a merged host chart is drawn")
	}
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Count(text.String(), "    host: CPU busy ") != 2 {
		t.Errorf("text lacks one host line per worker:\n%s", text.String())
	}
}

// oe-core's buildstats class names a task restored from sstate
// do_<task>_setscene; a build that restored everything shows 100 % reuse.
func TestAllSetsceneIsFullReuse(t *testing.T) {
	r := one(t, "setscene", true)
	if r.Sstate.Reused != 4 || r.Sstate.Real != 0 || r.Sstate.Ratio != 1 {
		t.Fatalf("sstate %+v", r.Sstate)
	}
	var text, page bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "sstate: 4 of 4 sstate-capable tasks restored (100%)") || !strings.Contains(page.String(), "sstate reuse <b>100%</b>") {
		t.Errorf("text:\n%s", text.String())
	}
}

// The command line takes the worker with each step and several graphs.
func TestMainFanoutCLI(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"-out", t.TempDir(), "-json",
		"-task-depends", filepath.Join("testdata", "fanout", "toolchain.dot"), "-task-depends", graphFile, "-task-depends", filepath.Join("testdata", "fanout", "installer.dot"),
		"-buildstats", "toolchain@worker-a=" + fixtureDir(t, "fanout/toolchain"),
		"-buildstats", "image@worker-a=" + fixtureDir(t, "fanout/image"),
		"-buildstats", "installer@worker-b=" + fixtureDir(t, "fanout/installer")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Workers) != 2 || r.Workers[1].Name != "worker-b" || !near(r.Critical.Total, 225) || len(r.Warnings) != 0 {
		t.Errorf("workers %+v critical %v warnings %q", r.Workers, r.Critical.Total, r.Warnings)
	}
	if code := Main(context.Background(), []string{"-buildstats", "a@=x"}, &stdout, &stderr); code != 2 {
		t.Errorf("empty worker: exit %d, want 2", code)
	}
}
