// Package buildstatsgen writes buildstats trees in the exact format of
// oe-core's buildstats class. It serves the stand-in bitbake used in tests
// (Writer, event by event, as bitbake appends to the files) and benchmarks
// (Synthesize, a whole scheduled build of any size with its task graph).
package buildstatsgen

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IOStats is /proc/<pid>/io as the class copies it.
type IOStats struct {
	Rchar, Wchar, Syscr, Syscw, ReadBytes, WriteBytes, CancelledWriteBytes int64
}

// Rusage is one getrusage() result.
type Rusage struct {
	Utime, Stime                                            float64
	MaxRSS, MinFlt, MajFlt, InBlock, OuBlock, Nvcsw, Nivcsw int64
}

// TaskEnd is what the class writes when a task succeeds or fails.
type TaskEnd struct {
	Failed  bool
	Started float64 // used for "Elapsed time" (Ended-Started)
	Ended   float64
	// Ticks are utime, stime, cutime, cstime from /proc/<pid>/stat.
	Ticks [4]int64
	// IO is nil on kernels without CONFIG_TASK_IO_ACCOUNTING: no IO lines.
	IO          *IOStats
	Rusage      Rusage
	ChildRusage Rusage
	// NoElapsed drops the elapsed/CPU block, as the class does for a task that
	// failed before TaskStarted.
	NoElapsed bool
}

// Writer appends buildstats events to one <BUILDNAME> directory the way the
// buildstats class does. It deliberately appends in place (no atomic rename):
// the point is to leave exactly what bitbake leaves, including half-written
// files when the writer is stopped mid-build.
type Writer struct {
	Dir string // ${TMPDIR}/buildstats/<BUILDNAME>
}

func (w *Writer) appendTo(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create buildstats dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open buildstats file: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("append buildstats file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close buildstats file: %w", err)
	}
	return nil
}

// BuildStarted writes the head of build_stats. hostInfo holds the fields of
// platform.uname() (empty ones are skipped, like the class does).
func (w *Writer) BuildStarted(at float64, hostInfo ...string) error {
	return w.appendTo(filepath.Join(w.Dir, "build_stats"), BuildStartedText(at, hostInfo...))
}

// BuildStartedText is the text BuildStarted appends.
func BuildStartedText(at float64, hostInfo ...string) string {
	var b strings.Builder
	b.WriteString("Host Info: ")
	for _, f := range hostInfo {
		if f != "" {
			b.WriteString(f + " ")
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Build Started: %0.2f \n", at)
	return b.String()
}

// TaskStarted creates the task file with its start record.
func (w *Writer) TaskStarted(pf, task string, at float64) error {
	return w.appendTo(filepath.Join(w.Dir, pf, task), TaskStartedText(at))
}

// TaskStartedText is the text TaskStarted appends.
func TaskStartedText(at float64) string {
	return fmt.Sprintf("Event: TaskStarted \nStarted: %0.2f \n", at)
}

// TaskFinished appends the end record and, for a failure, the "Failed at"
// line of build_stats.
func (w *Writer) TaskFinished(pf, task string, e TaskEnd) error {
	if err := w.appendTo(filepath.Join(w.Dir, pf, task), TaskEndText(pf, task, e)); err != nil {
		return err
	}
	if e.Failed {
		return w.appendTo(filepath.Join(w.Dir, "build_stats"), fmt.Sprintf("Failed at: %s at task: %s \n", pf, task))
	}
	return nil
}

// TaskEndText is the end record of a task file.
func TaskEndText(pf, task string, e TaskEnd) string {
	var b strings.Builder
	if !e.NoElapsed {
		fmt.Fprintf(&b, "%s: %s\n", pf, task)
		fmt.Fprintf(&b, "Elapsed time: %0.2f seconds\n", e.Ended-e.Started)
		for i, k := range [4]string{"utime", "stime", "cutime", "cstime"} {
			fmt.Fprintf(&b, "%s: %d\n", k, e.Ticks[i])
		}
		if io := e.IO; io != nil {
			fmt.Fprintf(&b, "IO rchar: %d\nIO wchar: %d\nIO syscr: %d\nIO syscw: %d\n", io.Rchar, io.Wchar, io.Syscr, io.Syscw)
			fmt.Fprintf(&b, "IO read_bytes: %d\nIO write_bytes: %d\nIO cancelled_write_bytes: %d\n", io.ReadBytes, io.WriteBytes, io.CancelledWriteBytes)
		}
		writeRusage(&b, "rusage", e.Rusage)
		writeRusage(&b, "Child rusage", e.ChildRusage)
	}
	if e.Failed {
		b.WriteString("Status: FAILED \n")
	} else {
		b.WriteString("Status: PASSED \n")
	}
	fmt.Fprintf(&b, "Ended: %0.2f \n", e.Ended)
	return b.String()
}

// pyFloat prints a float the way Python's str() does for the magnitudes
// getrusage returns (shortest round-trip form, always with a decimal point).
func pyFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

func writeRusage(b *strings.Builder, prefix string, r Rusage) {
	fmt.Fprintf(b, "%s ru_utime: %s\n", prefix, pyFloat(r.Utime))
	fmt.Fprintf(b, "%s ru_stime: %s\n", prefix, pyFloat(r.Stime))
	for _, kv := range []struct {
		k string
		v int64
	}{{"ru_maxrss", r.MaxRSS}, {"ru_minflt", r.MinFlt}, {"ru_majflt", r.MajFlt}, {"ru_inblock", r.InBlock},
		{"ru_oublock", r.OuBlock}, {"ru_nvcsw", r.Nvcsw}, {"ru_nivcsw", r.Nivcsw}} {
		fmt.Fprintf(b, "%s %s: %d\n", prefix, kv.k, kv.v)
	}
}

// RootfsSize appends the line the class writes after do_rootfs (du -sh output).
func (w *Writer) RootfsSize(du string) error {
	return w.appendTo(filepath.Join(w.Dir, "build_stats"), "Uncompressed Rootfs size: "+du+"\n")
}

// BuildCompleted appends the tail of build_stats. BuildCompleted fires for
// failed builds too; a killed bitbake never writes it.
func (w *Writer) BuildCompleted(elapsed, cpuPercent float64) error {
	return w.appendTo(filepath.Join(w.Dir, "build_stats"), BuildCompletedText(elapsed, cpuPercent))
}

// BuildCompletedText is the text BuildCompleted appends; cpuPercent < 0
// leaves out the CPU line (the class skips it when it could not measure).
func BuildCompletedText(elapsed, cpuPercent float64) string {
	s := fmt.Sprintf("Elapsed time: %0.2f seconds \n", elapsed)
	if cpuPercent >= 0 {
		s += fmt.Sprintf("CPU usage: %0.1f%% \n", cpuPercent)
	}
	return s
}
