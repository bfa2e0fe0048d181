package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// WriteJSON writes the report as JSON (the same figures as the page).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report json: %w", err)
	}
	return nil
}

// fmtDur prints seconds the way a build log reader wants them: 12.3s, 4m05s,
// 1h02m03s.
func fmtDur(s float64) string {
	neg := s < 0
	if neg {
		s = -s
	}
	var out string
	switch {
	case s < 60:
		out = fmt.Sprintf("%.1fs", s)
	case s < 3600:
		t := int64(math.Round(s))
		out = fmt.Sprintf("%dm%02ds", t/60, t%60)
	default:
		t := int64(math.Round(s))
		out = fmt.Sprintf("%dh%02dm%02ds", t/3600, t/60%60, t%60)
	}
	if neg {
		return "-" + out
	}
	return out
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// WriteText writes the terminal summary (also what buildbot logs show).
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	title := r.Title
	if title == "" {
		title = r.ID
	}
	p("Build report: %s: %s\n", title, strings.ToUpper(r.Status))
	for _, f := range r.Failures {
		p("  FAILED: %s %s (step %s, after %s)\n", f.PF, f.Task, f.Step, fmtDur(f.Duration))
	}
	p("Wall %s, %d tasks (%d real, %d setscene", fmtDur(r.Wall), r.Totals.Tasks, r.Totals.Real, r.Totals.Setscene)
	if r.Totals.Unfinished > 0 {
		p(", %d unfinished", r.Totals.Unfinished)
	}
	p("), task time %s, CPU %s, up to %d in parallel\n", fmtDur(r.Totals.TaskTime), fmtDur(r.Totals.CPU), r.Lanes)
	if line := r.HostData.hostText(); line != "" {
		p("Host: %s\n", line)
	}
	if r.Sstate.Reused+r.Sstate.Real > 0 {
		p("sstate: %d of %d sstate-capable tasks restored (%s)\n", r.Sstate.Reused, r.Sstate.Reused+r.Sstate.Real, pct(r.Sstate.Ratio))
	}
	if len(r.Steps) > 1 {
		p("\nSteps:\n")
		for _, s := range r.Steps {
			p("  %-20s %10s  %6d tasks  %6d setscene  CPU %s", s.Name, fmtDur(s.Wall), s.Totals.Tasks, s.Totals.Setscene, fmtDur(s.Totals.CPU))
			if r.multiWorker() {
				p("  on %s", s.Worker)
			}
			p("\n")
		}
	}
	if r.multiWorker() {
		p("\nWorkers (each on its own clock):\n")
		for _, w := range r.Workers {
			p("  %-20s busy %10s  %6d tasks  %6d setscene  up to %d in parallel  steps %s\n", workerLabel(w), fmtDur(w.Busy), w.Totals.Tasks, w.Totals.Setscene, w.Lanes, strings.Join(w.Steps, ", "))
			if line := w.HostData.hostText(); line != "" {
				p("    host: %s\n", line)
			}
		}
	}
	p("\nCritical path (%s): %s over %d tasks\n", r.Critical.Source, fmtDur(r.Critical.Total), len(r.Critical.Tasks))
	crit := r.Critical.Tasks
	if len(crit) > 12 {
		// The long ones matter; keep order but show only the heaviest dozen.
		keep := slices.Clone(crit)
		sortRefsByDuration(keep)
		cut := keep[11].Duration
		var sel []TaskRef
		for _, t := range crit {
			if t.Duration >= cut && len(sel) < 12 {
				sel = append(sel, t)
			}
		}
		crit = sel
		p("  (the %d longest of them, in order)\n", len(crit))
	}
	for _, t := range crit {
		p("  %10s  %s %s\n", fmtDur(t.Duration), t.PF, t.Task)
	}
	n := min(10, len(r.TopTasks))
	p("\nTop %d tasks:\n", n)
	for _, t := range r.TopTasks[:n] {
		p("  %10s  CPU %10s  %s %s\n", fmtDur(t.Duration), fmtDur(t.CPU), t.PF, t.Task)
	}
	n = min(10, len(r.TopRecipes))
	p("\nTop %d recipes:\n", n)
	for _, rt := range r.TopRecipes[:n] {
		p("  %10s  CPU %10s  %s (%d tasks)\n", fmtDur(rt.Time), fmtDur(rt.CPU), rt.PN, rt.Tasks)
	}
	if len(r.Sstate.Rebuilt) > 0 {
		p("\nRebuilt although the previous build restored them from sstate (%d recipes):\n", len(r.Sstate.Rebuilt))
		for i, rr := range r.Sstate.Rebuilt {
			if i == 10 {
				p("  ... and %d more\n", len(r.Sstate.Rebuilt)-10)
				break
			}
			p("  %10s  %s: %s\n", fmtDur(rr.Time), rr.PN, strings.Join(rr.Tasks, " "))
		}
	}
	if c := r.Comparison; c != nil {
		p("\nAgainst %s: wall %s -> %s (%s), CPU %s -> %s\n", c.Against, fmtDur(c.WallBefore), fmtDur(c.WallAfter),
			signedPct(c.WallBefore, c.WallAfter), fmtDur(c.CPUBefore), fmtDur(c.CPUAfter))
		p("  %d tasks slower by more than %s and %s, %d faster, %d new, %d vanished\n",
			len(c.Slower), pct(c.Threshold), fmtDur(c.MinDelta), c.Faster, len(c.New), len(c.Vanished))
		for i, d := range c.Slower {
			if i == 10 {
				p("  ... and %d more\n", len(c.Slower)-10)
				break
			}
			p("  %10s -> %10s (x%.2f)  %s %s\n", fmtDur(d.Before), fmtDur(d.After), d.Ratio, d.PN, d.Task)
		}
	}
	for _, w := range r.Warnings {
		p("warning: %s\n", w)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report text: %w", err)
	}
	return nil
}

func signedPct(before, after float64) string {
	if before <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.0f%%", (after/before-1)*100)
}

// Save writes index.html and report.json into outDir and records the build in
// outDir/history (keeping the newest HistoryKeep), all atomically.
func (r *Report) Save(outDir string) error {
	if err := os.MkdirAll(filepath.Join(outDir, HistoryDir), 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(outDir, IndexFile), page.Bytes(), 0o644); err != nil {
		return err
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(outDir, JSONFile), js.Bytes(), 0o644); err != nil {
		return err
	}
	hist := filepath.Join(outDir, HistoryDir)
	if err := atomicfile.WriteFile(filepath.Join(hist, historyName(r)), js.Bytes(), 0o644); err != nil {
		return err
	}
	return pruneHistory(hist, HistoryKeep)
}

func pruneHistory(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := parseHistoryName(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // the zero-padded start time leads
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return fmt.Errorf("prune history: %w", err)
		}
		names = names[1:]
	}
	return nil
}

// Run is what `build` and `mage report` call: Generate, Save into outDir
// (history in outDir/history unless opts says otherwise) and print the text
// summary to stdout. It returns the report even for a failed build: the
// report of a failure is the one people read most.
func Run(ctx context.Context, opts Options, outDir string, stdout io.Writer) (*Report, error) {
	if opts.HistoryDir == "" {
		opts.HistoryDir = filepath.Join(outDir, HistoryDir)
	}
	r, err := Generate(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := r.Save(outDir); err != nil {
		return r, err
	}
	if err := r.WriteText(stdout); err != nil {
		return r, err
	}
	fmt.Fprintf(stdout, "Report: %s\n", filepath.Join(outDir, IndexFile))
	return r, nil
}
