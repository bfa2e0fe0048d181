package steps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/report"
)

// ReportDir is the build report's directory inside build-output/<NAME>/.
const ReportDir = "report"

// Report writes build-output/<NAME>/report/ (index.html, report.json) from
// the buildstats, worker names and task graphs the steps kept (also those
// stage:collect brought from other workers), compared with the previous
// build in this build dir (or XTBUILD_AGAINST), and prints the text
// summary. It reads only what steps wrote on disk.
func Report(ctx context.Context, e *Env, p *plan.Plan) error {
	outDir := filepath.Join(p.OutputDir, p.Name)
	var stats []report.StepBuildstats
	for _, s := range p.Steps {
		runs, _ := filepath.Glob(filepath.Join(outDir, "buildstats", s.Name, "*"))
		sort.Strings(runs) // BUILDNAMEs are timestamps: oldest first
		worker := ReadWorker(outDir, s.Name)
		graph := ""
		if _, err := os.Stat(TaskGraphPath(outDir, s.Name)); err == nil {
			graph = TaskGraphPath(outDir, s.Name)
		}
		for _, r := range runs {
			if st, err := os.Stat(r); err == nil && st.IsDir() {
				stats = append(stats, report.StepBuildstats{Step: s.Name, Dir: r, Worker: worker, TaskGraph: graph})
			}
		}
	}
	if len(stats) == 0 {
		e.Term.Printf("report: no buildstats yet in %s", outDir)
		return nil
	}
	var w termWriter = termWriter{e}
	_, err := report.Run(ctx, report.Options{
		Title:      p.Name,
		Buildstats: stats,
		Against:    e.Options.Against,
		HistoryDir: filepath.Join(e.Config.BuildDir(), StateDir, "report-history"),
		Logger:     e.Log,
	}, filepath.Join(outDir, ReportDir), w)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	e.Term.Printf("report: %s", filepath.Join(outDir, ReportDir, "index.html"))
	return nil
}

// termWriter sends the report's text summary through the terminal writer.
type termWriter struct{ e *Env }

func (t termWriter) Write(b []byte) (int, error) {
	t.e.Term.Printf("%s", string(b))
	return len(b), nil
}
