// Package buildstats reads the per-task statistics that oe-core's buildstats
// class writes under ${TMPDIR}/buildstats/<BUILDNAME>/.
//
// The format is line oriented and written incrementally by event handlers, so a
// build that was interrupted (Ctrl-C, OOM, power loss) leaves files that stop
// anywhere. The parser never fails on content: every field is optional, values
// are trimmed (bitbake writes trailing spaces), and anything it cannot read is
// counted in Warnings instead of aborting the report.
package buildstats

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// SetsceneSuffix marks a task that restored its output from the sstate cache.
const SetsceneSuffix = "_setscene"

// Status is a task's final state as recorded in its file.
type Status uint8

const (
	// StatusUnknown: no Status line, the task was killed or is still running.
	StatusUnknown Status = iota
	StatusPassed
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusPassed:
		return "passed"
	case StatusFailed:
		return "failed"
	}
	return "unfinished"
}

// Rusage mirrors the getrusage fields the buildstats class records. Times are
// seconds, the rest are counts (maxrss in KiB, as Linux reports it).
type Rusage struct {
	Present bool
	Utime   float64
	Stime   float64
	MaxRSS  int64
	MinFlt  int64
	MajFlt  int64
	InBlock int64
	OuBlock int64
	Nvcsw   int64
	Nivcsw  int64
}

// IO mirrors /proc/<pid>/io as copied into the task file ("IO <key>: <n>").
// It is absent when the kernel lacks CONFIG_TASK_IO_ACCOUNTING.
type IO struct {
	Present             bool
	Rchar               int64
	Wchar               int64
	Syscr               int64
	Syscw               int64
	ReadBytes           int64
	WriteBytes          int64
	CancelledWriteBytes int64
}

// Task is one task file: <BUILDNAME>/<PF>/<task>.
type Task struct {
	PF   string // recipe directory name: PN-[PE_]PV-PR
	Name string // file name, e.g. do_compile or do_populate_sysroot_setscene

	Started    float64 // epoch seconds; valid when HasStarted
	HasStarted bool
	Ended      float64 // epoch seconds; valid when HasEnded
	HasEnded   bool
	// Elapsed is bitbake's own measurement; missing for killed tasks.
	Elapsed    float64
	HasElapsed bool
	Status     Status

	// /proc/<pid>/stat of the task's worker, in clock ticks.
	Utime, Stime, Cutime, Cstime int64
	HasProcStat                  bool

	IO          IO
	Rusage      Rusage
	ChildRusage Rusage

	// Warnings counts lines that were present but unreadable.
	Warnings int
}

// Setscene reports whether the task restored output from sstate.
func (t *Task) Setscene() bool { return strings.HasSuffix(t.Name, SetsceneSuffix) }

// BaseName is the task name without the _setscene suffix, the name the task
// graph (task-depends.dot) uses for both the real task and its setscene.
func (t *Task) BaseName() string { return strings.TrimSuffix(t.Name, SetsceneSuffix) }

// Finished reports whether the task recorded its end.
func (t *Task) Finished() bool { return t.HasEnded || t.Status != StatusUnknown }

// Duration is the wall time in seconds, from Started/Ended when both are
// present (they are what the timeline draws) and from Elapsed otherwise.
// ok is false when nothing tells how long the task ran.
func (t *Task) Duration() (d float64, ok bool) {
	if t.HasStarted && t.HasEnded && t.Ended >= t.Started {
		return t.Ended - t.Started, true
	}
	if t.HasElapsed && t.Elapsed >= 0 {
		return t.Elapsed, true
	}
	return 0, false
}

// ClockTicks is USER_HZ on every Linux build host (the kernel fixes it at 100
// for /proc regardless of CONFIG_HZ).
const ClockTicks = 100

// CPUSeconds is user+system time of the task and the children it waited for.
// It prefers getrusage (what buildstats-diff uses) and falls back to the
// /proc stat ticks; ok is false when neither was recorded.
func (t *Task) CPUSeconds() (s float64, ok bool) {
	if t.Rusage.Present || t.ChildRusage.Present {
		return t.Rusage.Utime + t.Rusage.Stime + t.ChildRusage.Utime + t.ChildRusage.Stime, true
	}
	if t.HasProcStat {
		return float64(t.Utime+t.Stime+t.Cutime+t.Cstime) / ClockTicks, true
	}
	return 0, false
}

// ParseTask reads one task file. pf and name come from its path. It returns an
// error only when reading fails; malformed content is counted in Warnings.
func ParseTask(r io.Reader, pf, name string) (Task, error) {
	t := Task{PF: pf, Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		t.parseLine(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return t, err
	}
	return t, nil
}

// ParseTaskBytes is ParseTask on content already in memory.
func ParseTaskBytes(b []byte, pf, name string) Task {
	t := Task{PF: pf, Name: name}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		t.parseLine(line)
	}
	return t
}

func (t *Task) parseLine(raw []byte) {
	line := strings.TrimSpace(string(raw))
	if line == "" {
		return
	}
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		t.Warnings++
		return
	}
	key := strings.TrimSpace(line[:colon])
	val := strings.TrimSpace(line[colon+1:])
	var ok = true
	switch key {
	case "Event":
		// "TaskStarted": carries nothing beyond Started.
	case "Started":
		t.Started, ok = parseFloat(val)
		t.HasStarted = ok
	case "Ended":
		t.Ended, ok = parseFloat(val)
		t.HasEnded = ok
	case "Elapsed time":
		t.Elapsed, ok = parseFloat(strings.TrimSpace(strings.TrimSuffix(val, "seconds")))
		t.HasElapsed = ok
	case "Status":
		switch val {
		case "PASSED":
			t.Status = StatusPassed
		case "FAILED":
			t.Status = StatusFailed
		default:
			ok = false
		}
	case "utime":
		t.Utime, ok = parseInt(val)
		t.HasProcStat = t.HasProcStat || ok
	case "stime":
		t.Stime, ok = parseInt(val)
		t.HasProcStat = t.HasProcStat || ok
	case "cutime":
		t.Cutime, ok = parseInt(val)
		t.HasProcStat = t.HasProcStat || ok
	case "cstime":
		t.Cstime, ok = parseInt(val)
		t.HasProcStat = t.HasProcStat || ok
	default:
		switch {
		case strings.HasPrefix(key, "IO "):
			ok = t.IO.set(strings.TrimSpace(key[3:]), val)
		case strings.HasPrefix(key, "Child rusage "):
			ok = t.ChildRusage.set(strings.TrimSpace(key[len("Child rusage "):]), val)
		case strings.HasPrefix(key, "rusage "):
			ok = t.Rusage.set(strings.TrimSpace(key[len("rusage "):]), val)
		case key == t.PF || val == t.Name:
			// "<PF>: <task>" header of the end record.
		default:
			// Unknown keys are tolerated silently: newer oe-core may add lines.
		}
	}
	if !ok {
		t.Warnings++
	}
}

func (io *IO) set(key, val string) bool {
	n, ok := parseInt(val)
	if !ok {
		return false
	}
	switch key {
	case "rchar":
		io.Rchar = n
	case "wchar":
		io.Wchar = n
	case "syscr":
		io.Syscr = n
	case "syscw":
		io.Syscw = n
	case "read_bytes":
		io.ReadBytes = n
	case "write_bytes":
		io.WriteBytes = n
	case "cancelled_write_bytes":
		io.CancelledWriteBytes = n
	default:
		return true // a key this version does not know; not an error
	}
	io.Present = true
	return true
}

func (r *Rusage) set(key, val string) bool {
	switch key {
	case "ru_utime", "ru_stime":
		f, ok := parseFloat(val)
		if !ok {
			return false
		}
		if key == "ru_utime" {
			r.Utime = f
		} else {
			r.Stime = f
		}
		r.Present = true
		return true
	}
	n, ok := parseInt(val)
	if !ok {
		return false
	}
	switch key {
	case "ru_maxrss":
		r.MaxRSS = n
	case "ru_minflt":
		r.MinFlt = n
	case "ru_majflt":
		r.MajFlt = n
	case "ru_inblock":
		r.InBlock = n
	case "ru_oublock":
		r.OuBlock = n
	case "ru_nvcsw":
		r.Nvcsw = n
	case "ru_nivcsw":
		r.Nivcsw = n
	default:
		return true
	}
	r.Present = true
	return true
}

func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1e15 || f < -1e15 { // NaN and absurd values are unreadable
		return 0, false
	}
	return f, true
}

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Python may print large floats for counters on some hosts.
		f, ok := parseFloat(s)
		if !ok {
			return 0, false
		}
		return int64(f), true
	}
	return n, true
}
