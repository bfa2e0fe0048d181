package steps

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/plan"
)

// TaskGraphDir holds, inside build-output/<NAME>/, each bitbake step's task
// graph: <STEP>.dot (bitbake's task-depends.dot) and <STEP>.pn-buildlist.
const TaskGraphDir = "taskgraph"

// WorkerFile, inside build-output/<NAME>/buildstats/<STEP>/, names the
// worker (config.Options.Worker, or the host name) that ran the step.
const WorkerFile = "worker"

// TaskGraphPath is where a step's task-depends.dot is kept.
func TaskGraphPath(outDir, step string) string {
	return filepath.Join(outDir, TaskGraphDir, step+".dot")
}

// graphFiles are what `bitbake -g` writes into the build dir (its cwd), in
// BitBake 1.46 as in 2.8 (cooker.generateDotGraphFiles), and the names they
// are kept under, after the step's name.
var graphFiles = []struct{ written, kept string }{
	{"task-depends.dot", ".dot"},
	{"pn-buildlist", ".pn-buildlist"},
}

// graphArgs is the step's bitbake command line with -g: the same targets
// and task, so the graph describes what the step built.
func graphArgs(command []string) []string {
	if len(command) == 0 {
		return nil
	}
	return append([]string{command[0], "-g"}, command[1:]...)
}

// keepTaskGraph runs `bitbake -g` for the step, with the build's
// environment and therefore on the same memory-resident server
// (BB_SERVER_TIMEOUT) when there is one, and copies task-depends.dot and
// pn-buildlist to build-output/<NAME>/taskgraph/. Output goes to the step
// log after the build's. Any kept graph of an earlier run of the step is
// removed first, so a failed -g never leaves a stale graph for the report.
// The files are copied, not linked: bitbake rewrites them in place.
func keepTaskGraph(ctx context.Context, e *Env, s plan.Step, outDir string, logw io.Writer, logPath string) error {
	bdir := e.Config.BuildDir()
	for _, f := range graphFiles {
		for _, p := range []string{filepath.Join(bdir, f.written), filepath.Join(outDir, TaskGraphDir, s.Name+f.kept)} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove old task graph: %w", err)
			}
		}
	}
	args := graphArgs(s.Command)
	if len(args) == 0 {
		return fmt.Errorf("step %s has no bitbake command", s.Name)
	}
	if _, err := runBitbake(ctx, e, s, args, logw, logPath); err != nil {
		return fmt.Errorf("bitbake -g: %w", err)
	}
	for _, f := range graphFiles {
		data, err := os.ReadFile(filepath.Join(bdir, f.written))
		if err != nil {
			return fmt.Errorf("bitbake -g wrote no %s: %w", f.written, err)
		}
		dst := filepath.Join(outDir, TaskGraphDir, s.Name+f.kept)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("keep %s: %w", f.written, err)
		}
	}
	return nil
}

// workerName is the worker that runs this build: XTBUILD_WORKER (buildbot's
// worker name), else the host name.
func workerName(e *Env) string {
	if w := strings.TrimSpace(e.Options.Worker); w != "" {
		return w
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// writeWorker writes buildstats/<STEP>/worker: one line, the worker's name.
func writeWorker(e *Env, outDir, step string) error {
	p := filepath.Join(outDir, "buildstats", step, WorkerFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(workerName(e)+"\n"), 0o644)
}

// ReadWorker reads a step's worker file ("" when there is none).
func ReadWorker(outDir, step string) string {
	data, err := os.ReadFile(filepath.Join(outDir, "buildstats", step, WorkerFile))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}
