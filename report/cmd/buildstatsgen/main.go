// Command buildstatsgen writes a synthetic BitBake buildstats tree (and its
// task-depends.dot) for trying out and benchmarking the build report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/report/buildstatsgen"
)

func main() {
	var spec buildstatsgen.Spec
	flag.IntVar(&spec.Recipes, "recipes", 100, "package recipes (an image recipe is added); ~930 give ~10 000 tasks")
	flag.IntVar(&spec.Threads, "threads", 8, "BB_NUMBER_THREADS")
	flag.Uint64Var(&spec.Seed, "seed", 1, "random seed (same seed, same tree)")
	flag.Float64Var(&spec.Start, "start", 0, "BuildStarted epoch seconds (default 1764000000)")
	flag.Float64Var(&spec.Sstate, "sstate", 0, "fraction of recipes restored from sstate")
	flag.IntVar(&spec.FailRecipe, "fail", 0, "make do_compile of recipe number N (1-based) fail")
	flag.Float64Var(&spec.KillAfter, "kill-after", 0, "kill the build after this many seconds")
	flag.BoolVar(&spec.NoIO, "no-io", false, "leave out IO lines")
	flag.Float64Var(&spec.Scale, "scale", 1, "multiply real task durations")
	flag.StringVar(&spec.GraphPath, "graph", "", "also write task-depends.dot here")
	out := flag.String("out", "", "the <BUILDNAME> directory to write (required)")
	var slow slowFlag
	flag.Var(&slow, "slow", "`PN:TASK=FACTOR` multiply one task's duration (repeatable)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	spec.Slow = slow
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := buildstatsgen.Synthesize(ctx, *out, spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildstatsgen:", err)
		os.Exit(1)
	}
	fmt.Printf("%d task files (%d setscene) in %d recipes, %.0f s of build", res.Tasks, res.Setscene, res.Recipes, res.End-res.Start)
	if res.Failed != "" {
		fmt.Printf(", failed at %s", res.Failed)
	}
	if res.Killed > 0 {
		fmt.Printf(", %d tasks killed", res.Killed)
	}
	fmt.Println()
}

type slowFlag map[string]float64

func (s *slowFlag) String() string { return fmt.Sprint(map[string]float64(*s)) }

func (s *slowFlag) Set(v string) error {
	key, f, ok := strings.Cut(v, "=")
	factor, err := strconv.ParseFloat(f, 64)
	if !ok || err != nil || factor <= 0 {
		return fmt.Errorf("want PN:TASK=FACTOR, got %q", v)
	}
	if *s == nil {
		*s = map[string]float64{}
	}
	(*s)[key] = factor
	return nil
}
