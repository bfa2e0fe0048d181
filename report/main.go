package report

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// stepFlag collects repeated -buildstats STEP[@WORKER]=DIR values.
type stepFlag []StepBuildstats

func (s *stepFlag) String() string { return fmt.Sprint(*s) }

func (s *stepFlag) Set(v string) error {
	step, dir, ok := strings.Cut(v, "=")
	if !ok {
		step, dir = "build", v
	}
	step, worker, withWorker := strings.Cut(step, "@")
	if step == "" || dir == "" || (withWorker && worker == "") {
		return errors.New("want STEP=DIR, STEP@WORKER=DIR or DIR")
	}
	*s = append(*s, StepBuildstats{Step: step, Dir: dir, Worker: worker})
	return nil
}

// listFlag collects a repeated flag's values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// Main is the `report` command line, for Mage targets and the standalone
// binary: it writes <out>/index.html, <out>/report.json and the history
// entry, then prints the text summary (or the JSON with -json).
//
// Exit codes: 0 report written (whatever the build's own status), 1 the
// report could not be made, 2 usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var steps stepFlag
	fs.Var(&steps, "buildstats", "`STEP[@WORKER]=DIR` buildstats of a step (a <BUILDNAME> dir or the buildstats base) and the worker that ran it; repeat per step, in order")
	var graphs listFlag
	fs.Var(&graphs, "task-depends", "task-depends.dot from `bitbake -g`; repeat for several (they are merged); optional: without one the critical path is inferred from timing")
	against := fs.String("against", "", "compare with this `DIR` (a report dir, a report.json or a buildstats dir) instead of the previous build in -out's history")
	out := fs.String("out", "report", "output `DIR` for index.html, report.json and history/")
	threshold := fs.Float64("threshold", 0.25, "relative slowdown reported as a regression (0.25 = 25%)")
	minDelta := fs.Duration("min-delta", 10*time.Second, "ignore slowdowns smaller than this")
	title := fs.String("title", "", "title of the page (e.g. the config name)")
	asJSON := fs.Bool("json", false, "print the JSON report instead of the text summary")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: report [flags] [DIR...]\n\nReport on BitBake buildstats: timeline, critical path, sstate reuse, regressions.\n"+
			"Bare DIR arguments are buildstats of a step named \"build\".\nExit codes: 0 report written (whatever the build's status), 1 error, 2 usage.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, a := range fs.Args() {
		steps = append(steps, StepBuildstats{Step: "build", Dir: a})
	}
	if len(steps) == 0 {
		fmt.Fprintln(stderr, "report: no buildstats given (-buildstats STEP=DIR or DIR)")
		fs.Usage()
		return 2
	}
	opts := Options{Title: *title, Buildstats: steps, TaskGraphs: graphs, Against: *against,
		Threshold: *threshold, MinDelta: minDelta.Seconds(), Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	var err error
	if *asJSON {
		var r *Report
		if r, err = Run(ctx, opts, *out, io.Discard); err == nil {
			err = r.WriteJSON(stdout)
		}
	} else {
		_, err = Run(ctx, opts, *out, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	return 0
}
