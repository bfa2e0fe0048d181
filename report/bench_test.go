package report

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/xtbuild/xtbuild/report/buildstatsgen"
)

// bigBuild writes a synthetic image build of about 10 000 task files, the
// size of a real core-image build (see docs/performance.md).
func bigBuild(tb testing.TB) (buildDir, graph string, tasks int) {
	tb.Helper()
	dir := tb.TempDir()
	graph = filepath.Join(dir, "task-depends.dot")
	buildDir = filepath.Join(dir, "buildstats", "20261126080000")
	res, err := buildstatsgen.Synthesize(context.Background(), buildDir, buildstatsgen.Spec{
		Recipes: 930, Threads: 16, Seed: 42, Sstate: 0.1, GraphPath: graph})
	if err != nil {
		tb.Fatal(err)
	}
	return buildDir, graph, res.Tasks
}

// BenchmarkReport10k measures what `report` does at the end of a build:
// parse ~10 000 task files and the task graph, analyse, write the page, the
// JSON and the text summary.
func BenchmarkReport10k(b *testing.B) {
	buildDir, graph, tasks := bigBuild(b)
	b.Logf("%d task files", tasks)
	var htmlSize, jsonSize int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := Generate(context.Background(), Options{Buildstats: []StepBuildstats{{Step: "image", Dir: buildDir}}, TaskDepends: graph})
		if err != nil {
			b.Fatal(err)
		}
		var page, js bytes.Buffer
		if err := r.WriteHTML(&page); err != nil {
			b.Fatal(err)
		}
		if err := r.WriteJSON(&js); err != nil {
			b.Fatal(err)
		}
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
		htmlSize, jsonSize = page.Len(), js.Len()
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(htmlSize)/(1<<20), "html-MiB")
	b.ReportMetric(float64(jsonSize)/(1<<20), "json-MiB")
	b.ReportMetric(float64(tasks), "tasks")
}

// BenchmarkReport10kWithHistory is the end-of-build path with a previous
// build in the history: Run (parse, analyse, load and compare the previous
// report.json, write index.html, report.json and the history entry).
func BenchmarkReport10kWithHistory(b *testing.B) {
	buildDir, graph, _ := bigBuild(b)
	out := b.TempDir()
	// The previous build: same graph, fewer recipes from sstate, one slower compile.
	prevDir := filepath.Join(b.TempDir(), "20261125080000")
	if _, err := buildstatsgen.Synthesize(context.Background(), prevDir, buildstatsgen.Spec{
		Recipes: 930, Threads: 16, Seed: 42, Sstate: 0.2, Start: 1_763_900_000}); err != nil {
		b.Fatal(err)
	}
	if _, err := Run(context.Background(), Options{Buildstats: []StepBuildstats{{Step: "image", Dir: prevDir}}, TaskDepends: graph}, out, io.Discard); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := Run(context.Background(), Options{Buildstats: []StepBuildstats{{Step: "image", Dir: buildDir}}, TaskDepends: graph}, out, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if r.Comparison == nil {
			b.Fatal("no comparison with the previous build")
		}
	}
}
