package report

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xtbuild/xtbuild/report/buildstats"
)

// File names inside the output directory.
const (
	IndexFile  = "index.html"
	JSONFile   = "report.json"
	HistoryDir = "history"
	// HistoryKeep is how many builds the history keeps.
	HistoryKeep = 30
)

// historyName is "<start epoch, 12 digits>-<id>.json": the start time first so
// that the previous build is found from names alone, without decoding every
// entry (each holds ~1.5 MB of task records for a full image build).
func historyName(r *Report) string {
	id := r.ID
	safe := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-' {
			return c
		}
		return '_'
	}, id)
	if len(safe) > 80 || safe != id {
		sum := sha256.Sum256([]byte(id))
		safe = safe[:min(len(safe), 60)] + "~" + hex.EncodeToString(sum[:6])
	}
	return fmt.Sprintf("%012d-%s.json", int64(math.Floor(r.Start)), safe)
}

func parseHistoryName(name string) (start int64, ok bool) {
	stamp, _, found := strings.Cut(name, "-")
	if !found || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	n, err := strconv.ParseInt(stamp, 10, 64)
	return n, err == nil
}

// findPrevious loads the build to compare with: Options.Against when given,
// else the newest history entry that started before this build.
func findPrevious(ctx context.Context, opts Options, cur *Report) (*Report, string, error) {
	if opts.Against != "" {
		return loadAgainst(ctx, opts.Against)
	}
	if opts.HistoryDir == "" {
		return nil, "", nil
	}
	entries, err := os.ReadDir(opts.HistoryDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read history: %w", err)
	}
	own := historyName(cur)
	var best string
	var bestStart int64
	for _, e := range entries {
		start, ok := parseHistoryName(e.Name())
		if !ok || e.Name() == own || float64(start) >= math.Floor(cur.Start) {
			continue
		}
		if best == "" || start > bestStart || start == bestStart && e.Name() > best {
			best, bestStart = e.Name(), start
		}
	}
	if best == "" {
		return nil, "", nil
	}
	path := filepath.Join(opts.HistoryDir, best)
	r, err := loadJSON(path)
	if err != nil {
		return nil, "", err
	}
	if r.ID == cur.ID {
		return nil, "", nil
	}
	return r, path, nil
}

func loadAgainst(ctx context.Context, path string) (*Report, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("stat --against: %w", err)
	}
	if !fi.IsDir() {
		r, err := loadJSON(path)
		return r, path, err
	}
	if j := filepath.Join(path, JSONFile); fileExists(j) {
		r, err := loadJSON(j)
		return r, j, err
	}
	// A raw buildstats directory (one build or the base of several).
	builds, err := buildstats.ReadDir(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("read --against buildstats: %w", err)
	}
	if len(builds) == 0 {
		return nil, "", fmt.Errorf("no buildstats in %s", path)
	}
	opts := Options{}
	opts.defaults()
	r := analyse([]stepBuilds{{name: "build", builds: builds}}, nil, opts)
	return r, path, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func loadJSON(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read previous report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode previous report %s: %w", path, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("previous report %s has schema %d, want %d", path, r.Schema, SchemaVersion)
	}
	return &r, nil
}

type taskKeyPair struct{ pn, task string }

type taskAgg struct {
	pf         string
	dur        float64
	unfinished bool
}

func aggregate(tasks []TaskRecord) map[taskKeyPair]*taskAgg {
	m := make(map[taskKeyPair]*taskAgg, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		k := taskKeyPair{t.PN, t.Task}
		a := m[k]
		if a == nil {
			a = &taskAgg{pf: t.PF}
			m[k] = a
		}
		a.dur += t.Duration
		a.unfinished = a.unfinished || t.Status == "unfinished"
	}
	return m
}

// compare fills Comparison and Sstate.Rebuilt against prev.
func (r *Report) compare(prev *Report, source string, opts Options) {
	c := &Comparison{Against: prev.ID, Source: source, WallBefore: prev.Wall, WallAfter: r.Wall,
		CPUBefore: prev.Totals.CPU, CPUAfter: r.Totals.CPU, Threshold: opts.Threshold, MinDelta: opts.MinDelta,
		Slower: []TaskDelta{}, New: []TaskKey{}, Vanished: []TaskKey{}}
	now, before := aggregate(r.Tasks), aggregate(prev.Tasks)
	for k, a := range now {
		b, ok := before[k]
		if !ok {
			c.New = append(c.New, TaskKey{PN: k.pn, Task: k.task, Duration: round2(a.dur)})
			continue
		}
		if a.unfinished || b.unfinished {
			continue // a killed run's length says nothing about speed
		}
		delta := a.dur - b.dur
		if math.Abs(delta) < opts.MinDelta || b.dur <= 0 {
			continue
		}
		ratio := a.dur / b.dur
		switch {
		case ratio-1 > opts.Threshold:
			c.Slower = append(c.Slower, TaskDelta{PN: k.pn, Task: k.task, Before: round2(b.dur), After: round2(a.dur),
				Delta: round2(delta), Ratio: round2(ratio)})
		case 1/ratio-1 > opts.Threshold:
			c.Faster++
		}
	}
	for k, b := range before {
		if _, ok := now[k]; !ok {
			c.Vanished = append(c.Vanished, TaskKey{PN: k.pn, Task: k.task, Duration: round2(b.dur)})
		}
	}
	slices.SortFunc(c.Slower, func(a, b TaskDelta) int {
		if x := cmp.Compare(b.Delta, a.Delta); x != 0 {
			return x
		}
		return cmp.Or(strings.Compare(a.PN, b.PN), strings.Compare(a.Task, b.Task))
	})
	byKey := func(a, b TaskKey) int {
		if x := cmp.Compare(b.Duration, a.Duration); x != 0 {
			return x
		}
		return cmp.Or(strings.Compare(a.PN, b.PN), strings.Compare(a.Task, b.Task))
	}
	slices.SortFunc(c.New, byKey)
	slices.SortFunc(c.Vanished, byKey)
	r.Comparison = c

	// Rebuilt: real runs now of tasks the previous build restored from sstate.
	r.Sstate.HasPrevious = true
	rebuilt := map[string]*RebuiltRecipe{}
	for k, a := range now {
		if strings.HasSuffix(k.task, buildstats.SetsceneSuffix) {
			continue
		}
		scene, ok := before[taskKeyPair{k.pn, k.task + buildstats.SetsceneSuffix}]
		if !ok {
			continue
		}
		if _, ranReal := before[k]; ranReal {
			continue
		}
		rr := rebuilt[k.pn]
		if rr == nil {
			rr = &RebuiltRecipe{PN: k.pn, PF: a.pf, PFBefore: scene.pf}
			rebuilt[k.pn] = rr
		}
		rr.Tasks = append(rr.Tasks, k.task)
	}
	// The time a rebuild cost: every real task of the recipe.
	realTime := map[string]float64{}
	for k, a := range now {
		if rebuilt[k.pn] != nil && !strings.HasSuffix(k.task, buildstats.SetsceneSuffix) {
			realTime[k.pn] += a.dur
		}
	}
	for pn, rr := range rebuilt {
		slices.Sort(rr.Tasks)
		rr.Time = round2(realTime[pn])
		r.Sstate.Rebuilt = append(r.Sstate.Rebuilt, *rr)
	}
	slices.SortFunc(r.Sstate.Rebuilt, func(a, b RebuiltRecipe) int {
		if x := cmp.Compare(b.Time, a.Time); x != 0 {
			return x
		}
		return strings.Compare(a.PN, b.PN)
	})
}
