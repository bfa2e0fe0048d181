package steps

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Progress follows bitbake's plain (non-TTY) console output: the lines it
// prints when stdout is a pipe, as buildbot and our runner see it.
// Assumptions about the format are listed in docs/steps.md.
type Progress struct {
	Done, Total int    // "Running task N of M"
	Setscene    bool   // the current counter is the setscene phase
	Current     string // recipe file:task of the last started task
	Parsed      int    // recipes parsed (not from cache) by this invocation
	Cached      int    // recipes loaded from the parse cache
	Failed      []FailedTask
	Errors      []string // ERROR: lines, in order
	Summary     string   // "Tasks Summary: ..." line
	started     time.Time
	startedDone int
	inSummary   bool
	lastLog     string
}

// FailedTask is one task bitbake reported as failed.
type FailedTask struct {
	Task string // recipe file:do_task, as bitbake names it
	Log  string // its log file, when bitbake said
}

var (
	runningRE = regexp.MustCompile(`^NOTE: Running (setscene )?task (\d+) of (\d+) \((.*)\)$`)
	failedRE  = regexp.MustCompile(`^ERROR: Task \((.*)\) failed with exit code '(-?\d+)'`)
	logfileRE = regexp.MustCompile(`^ERROR: Logfile of failure stored in: (\S+)`)
	parsedRE  = regexp.MustCompile(`^Parsing of (\d+) \.bb files complete \((\d+) cached, (\d+) parsed\)`)
	cachedRE  = regexp.MustCompile(`^Loaded (\d+) entries from dependency cache`)
	summaryRE = regexp.MustCompile(`^NOTE: Tasks Summary: (.*)$`)
	sumTaskRE = regexp.MustCompile(`^  (\S+:do_\S+)$`)
	sumLogRE  = regexp.MustCompile(`^    log: (\S+)$`)
	// bb.parse.ParseError's text: "ParseError at FILE:LINE: MSG", or
	// "ParseError in WHERE: MSG" without a line (e.g. a missing INHERIT).
	parseErrRE = regexp.MustCompile(`(ParseError (?:at|in) .*)$`)
)

// Feed consumes one output line.
func (p *Progress) Feed(line string, now time.Time) {
	line = strings.TrimRight(line, "\r")
	if m := runningRE.FindStringSubmatch(line); m != nil {
		setscene := m[1] != ""
		done, _ := strconv.Atoi(m[2])
		total, _ := strconv.Atoi(m[3])
		if setscene != p.Setscene || p.started.IsZero() {
			p.started, p.startedDone = now, done
		}
		p.Setscene, p.Done, p.Total, p.Current = setscene, done, total, m[4]
		return
	}
	if m := parsedRE.FindStringSubmatch(line); m != nil {
		p.Cached, _ = strconv.Atoi(m[2])
		p.Parsed, _ = strconv.Atoi(m[3])
		return
	}
	if m := summaryRE.FindStringSubmatch(line); m != nil {
		p.Summary = m[1]
		return
	}
	if strings.HasPrefix(line, "Summary: ") && strings.Contains(line, "failed:") {
		p.inSummary = true
		return
	}
	if p.inSummary {
		if m := sumTaskRE.FindStringSubmatch(line); m != nil {
			p.addFailed(m[1], "")
			return
		}
		if m := sumLogRE.FindStringSubmatch(line); m != nil && len(p.Failed) > 0 {
			p.Failed[len(p.Failed)-1].Log = m[1]
			return
		}
		p.inSummary = false
	}
	if m := failedRE.FindStringSubmatch(line); m != nil {
		p.addFailed(m[1], "")
	}
	if m := logfileRE.FindStringSubmatch(line); m != nil {
		// bitbake prints the log line just before the "Task ... failed" line.
		p.pendingLog(m[1])
	}
	if strings.HasPrefix(line, "ERROR: ") {
		p.Errors = append(p.Errors, strings.TrimPrefix(line, "ERROR: "))
	} else if m := parseErrRE.FindStringSubmatch(line); m != nil {
		// The last line of the traceback under "ERROR: Unable to parse
		// .../BBHandler.py": BitBake's own words for what is wrong.
		p.Errors = append(p.Errors, m[1])
	}
}

func (p *Progress) addFailed(task, log string) {
	for i := range p.Failed {
		if p.Failed[i].Task == task {
			if log != "" {
				p.Failed[i].Log = log
			}
			return
		}
	}
	p.Failed = append(p.Failed, FailedTask{Task: task, Log: log})
	if p.lastLog != "" {
		p.Failed[len(p.Failed)-1].Log = p.lastLog
		p.lastLog = ""
	}
}

func (p *Progress) pendingLog(path string) { p.lastLog = path }

// Percent is the share of tasks done in the current phase.
func (p *Progress) Percent() float64 {
	if p.Total == 0 {
		return 0
	}
	return 100 * float64(p.Done) / float64(p.Total)
}

// ETA extrapolates the rate since the phase started; 0 when unknown.
func (p *Progress) ETA(now time.Time) time.Duration {
	done := p.Done - p.startedDone
	if done <= 0 || p.Total == 0 || p.started.IsZero() {
		return 0
	}
	per := now.Sub(p.started) / time.Duration(done)
	return per * time.Duration(p.Total-p.Done)
}

// Line renders the TTY status line of a step.
func (p *Progress) Line(step string, now time.Time, elapsed time.Duration) string {
	if p.Total == 0 {
		return fmt.Sprintf("%s: parsing (%s)", step, elapsed.Round(time.Second))
	}
	phase := "tasks"
	if p.Setscene {
		phase = "setscene"
	}
	eta := ""
	if d := p.ETA(now); d > 0 {
		eta = ", ETA " + d.Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %s %d/%d (%.0f%%)%s, %s", step, phase, p.Done, p.Total, p.Percent(), eta, shortTask(p.Current))
}

// Reason summarises why a failed run failed, for the last line of output.
func (p *Progress) Reason() string {
	if len(p.Failed) > 0 {
		f := p.Failed[0]
		s := "task " + shortTask(f.Task) + " failed"
		if f.Log != "" {
			s += " (log: " + f.Log + ")"
		}
		if len(p.Failed) > 1 {
			s += fmt.Sprintf(" and %d more", len(p.Failed)-1)
		}
		return s
	}
	// BitBake's ParseError text first: the "Unable to parse" line before
	// it names BitBake's own parser file, not the user's.
	for _, e := range p.Errors {
		if strings.HasPrefix(e, "ParseError ") {
			return e
		}
	}
	for _, e := range p.Errors {
		if strings.HasPrefix(e, "Unable to parse") {
			continue
		}
		return e
	}
	if len(p.Errors) > 0 {
		return p.Errors[0]
	}
	return ""
}

// shortTask turns /path/recipes/foo_1.0.bb:do_compile into foo_1.0.bb:do_compile.
func shortTask(t string) string {
	if i := strings.LastIndex(t, "/"); i >= 0 {
		return t[i+1:]
	}
	return t
}
