package buildstats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// BuildStatsFile is the per-build summary file inside <BUILDNAME>/.
const BuildStatsFile = "build_stats"

// Failure is one "Failed at: <PF> at task: <task>" line.
type Failure struct {
	PF   string
	Task string
}

// Summary is the content of a build_stats file.
type Summary struct {
	HostInfo   string
	Started    float64
	HasStarted bool
	// Elapsed and CPUUsage are written at BuildCompleted; a killed build has neither.
	Elapsed     float64
	HasElapsed  bool
	CPUUsage    float64 // percent of the host's CPU time used by the bitbake server
	HasCPUUsage bool
	Failures    []Failure
	RootfsSizes []string
	Warnings    int
}

// ParseSummary reads a build_stats file's content.
func ParseSummary(b []byte) Summary {
	var s Summary
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		s.parseLine(strings.TrimSpace(string(line)))
	}
	return s
}

func (s *Summary) parseLine(line string) {
	if line == "" {
		return
	}
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		s.Warnings++
		return
	}
	key, val := line[:colon], strings.TrimSpace(line[colon+1:])
	ok := true
	switch key {
	case "Host Info":
		s.HostInfo = val
	case "Build Started":
		s.Started, ok = parseFloat(val)
		s.HasStarted = ok
	case "Elapsed time":
		s.Elapsed, ok = parseFloat(strings.TrimSpace(strings.TrimSuffix(val, "seconds")))
		s.HasElapsed = ok
	case "CPU usage":
		s.CPUUsage, ok = parseFloat(strings.TrimSpace(strings.TrimSuffix(val, "%")))
		s.HasCPUUsage = ok
	case "Failed at":
		pf, task, found := strings.Cut(val, " at task: ")
		if !found {
			ok = false
			break
		}
		s.Failures = append(s.Failures, Failure{PF: strings.TrimSpace(pf), Task: strings.TrimSpace(task)})
	case "Uncompressed Rootfs size":
		s.RootfsSizes = append(s.RootfsSizes, val)
	default:
		// host_stats output and future additions: ignore.
	}
	if !ok {
		s.Warnings++
	}
}

// Build is one bitbake invocation: a <BUILDNAME> directory.
type Build struct {
	Name    string // BUILDNAME, the directory's base name
	Dir     string
	Summary Summary
	// HasSummary is false when build_stats is missing (a partial copy).
	HasSummary bool
	Tasks      []Task // sorted by start time, then PF, then name
	Warnings   []string
	// EndHint, when set by the caller, is when bitbake exited; it bounds a
	// build that was killed before writing its end.
	EndHint float64
	// Host is the build host's CPU, disk, memory and pressure samples
	// (see host.go); never nil after ReadBuild.
	Host *Host
}

// Start is the earliest known time of the build.
func (b *Build) Start() float64 {
	start, ok := 0.0, false
	if b.Summary.HasStarted {
		start, ok = b.Summary.Started, true
	}
	for i := range b.Tasks {
		if t := &b.Tasks[i]; t.HasStarted && (!ok || t.Started < start) {
			start, ok = t.Started, true
		}
	}
	return start
}

// End is the latest known time of the build: its recorded end, or the last
// task event when the build was killed before BuildCompleted.
func (b *Build) End() float64 {
	end := b.Start()
	if b.Summary.HasStarted && b.Summary.HasElapsed {
		end = b.Summary.Started + b.Summary.Elapsed
	}
	if !b.Completed() && b.EndHint > end {
		end = b.EndHint
	}
	for i := range b.Tasks {
		t := &b.Tasks[i]
		if t.HasEnded && t.Ended > end {
			end = t.Ended
		}
		if t.HasStarted && t.Started > end {
			end = t.Started
		}
	}
	return end
}

// Completed reports whether bitbake reached BuildCompleted.
func (b *Build) Completed() bool { return b.Summary.HasElapsed }

// IsBuildDir reports whether dir is a <BUILDNAME> directory rather than the
// buildstats base that holds several of them.
func IsBuildDir(dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, BuildStatsFile)); err == nil {
		return true, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("read buildstats dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), BuildStatsFile)); err == nil {
			return false, nil
		}
	}
	return true, nil
}

// ReadDir reads dir, which is either one <BUILDNAME> directory or the
// buildstats base holding several; builds come back in name order, which is
// chronological for bitbake's timestamp BUILDNAMEs.
func ReadDir(ctx context.Context, dir string) ([]*Build, error) {
	single, err := IsBuildDir(dir)
	if err != nil {
		return nil, err
	}
	if single {
		b, err := ReadBuild(ctx, dir)
		if err != nil {
			return nil, err
		}
		return []*Build{b}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read buildstats base: %w", err)
	}
	var builds []*Build
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := ReadBuild(ctx, filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		builds = append(builds, b)
	}
	return builds, nil
}

// ReadBuild reads one <BUILDNAME> directory. Task files are read in parallel:
// a full image build has ~10 000 of them.
func ReadBuild(ctx context.Context, dir string) (*Build, error) {
	b := &Build{Name: filepath.Base(dir), Dir: dir}
	switch data, err := os.ReadFile(filepath.Join(dir, BuildStatsFile)); {
	case err == nil:
		b.Summary = ParseSummary(data)
		b.HasSummary = true
		if b.Summary.Warnings > 0 {
			b.Warnings = append(b.Warnings, fmt.Sprintf("%s: %d unreadable lines", BuildStatsFile, b.Summary.Warnings))
		}
	case errors.Is(err, fs.ErrNotExist):
		b.Warnings = append(b.Warnings, BuildStatsFile+" is missing (partial buildstats?)")
	default:
		return nil, fmt.Errorf("read %s: %w", BuildStatsFile, err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read build dir: %w", err)
	}
	var recipes []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != HostDataDir {
			recipes = append(recipes, e.Name())
		}
	}
	if b.Host, err = ReadHost(dir); err != nil {
		return nil, err
	}
	b.Warnings = append(b.Warnings, b.Host.Warnings...)

	workers := min(max(runtime.GOMAXPROCS(0)*2, 2), 16)
	perRecipe := make([][]Task, len(recipes))
	warnings := make([][]string, len(recipes))
	errs := make([]error, len(recipes))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 0, 8192)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(recipes) || ctx.Err() != nil {
					return
				}
				perRecipe[i], warnings[i], buf, errs[i] = readRecipe(filepath.Join(dir, recipes[i]), recipes[i], buf)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read buildstats: %w", err)
	}
	n := 0
	for i := range recipes {
		if errs[i] != nil {
			return nil, errs[i]
		}
		n += len(perRecipe[i])
	}
	b.Tasks = make([]Task, 0, n)
	for i := range recipes {
		b.Tasks = append(b.Tasks, perRecipe[i]...)
		b.Warnings = append(b.Warnings, warnings[i]...)
	}
	SortTasks(b.Tasks)
	return b, nil
}

// SortTasks orders tasks by start (unstarted last), then PF and name, so that
// output never depends on directory order.
func SortTasks(ts []Task) {
	sort.Slice(ts, func(i, j int) bool {
		a, b := &ts[i], &ts[j]
		if a.HasStarted != b.HasStarted {
			return a.HasStarted
		}
		if a.Started != b.Started {
			return a.Started < b.Started
		}
		if a.PF != b.PF {
			return a.PF < b.PF
		}
		return a.Name < b.Name
	})
}

func readRecipe(dir, pf string, buf []byte) ([]Task, []string, []byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, buf, fmt.Errorf("read recipe dir %s: %w", pf, err)
	}
	tasks := make([]Task, 0, len(entries))
	var warnings []string
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		buf, err = readFileInto(filepath.Join(dir, e.Name()), buf[:0])
		if err != nil {
			return nil, nil, buf, fmt.Errorf("read task file %s/%s: %w", pf, e.Name(), err)
		}
		t := ParseTaskBytes(buf, pf, e.Name())
		if t.Warnings > 0 {
			warnings = append(warnings, fmt.Sprintf("%s/%s: %d unreadable lines", pf, e.Name(), t.Warnings))
		}
		tasks = append(tasks, t)
	}
	return tasks, warnings, buf, nil
}

// readFileInto reads a small file reusing buf, avoiding an allocation per
// task file.
func readFileInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
}
