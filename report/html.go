package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/report/buildstats"
)

// The page is one file with no script and no external asset: it must open
// offline, from buildbot's artifact view and with JavaScript disabled. Hover
// text is SVG <title>, navigation is plain anchors.

// Task kinds give the timeline its colours; CSS classes are "k-<kind>".
var taskKinds = []struct{ kind, label, colour string }{
	{"fetch", "fetch", "#4e79a7"},
	{"unpack", "unpack/patch", "#76b7b2"},
	{"configure", "configure", "#f28e2b"},
	{"compile", "compile", "#edc948"},
	{"install", "install", "#59a14f"},
	{"sysroot", "sysroot", "#9c755f"},
	{"package", "package", "#b07aa1"},
	{"image", "image/deploy", "#ff9da7"},
	{"other", "other", "#bab0ac"},
}

func kindOf(task string) string {
	t := strings.TrimSuffix(strings.TrimPrefix(task, "do_"), buildstats.SetsceneSuffix)
	switch {
	case t == "fetch":
		return "fetch"
	case t == "unpack" || strings.HasPrefix(t, "patch"):
		return "unpack"
	case strings.HasPrefix(t, "configure"):
		return "configure"
	case strings.HasPrefix(t, "compile"):
		return "compile"
	case t == "install":
		return "install"
	case strings.Contains(t, "sysroot"):
		return "sysroot"
	case strings.HasPrefix(t, "package") || t == "populate_lic" || strings.Contains(t, "spdx"):
		return "package"
	case strings.HasPrefix(t, "rootfs") || strings.HasPrefix(t, "image") || strings.HasPrefix(t, "deploy") || strings.HasPrefix(t, "bundle"):
		return "image"
	}
	return "other"
}

// contentSecurityPolicy forbids scripts and every external fetch.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

const (
	critColour   = "#c2185b"
	failedColour = "#d62728"
)

const css = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{font-size:1.5em;margin:.8em 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
.status{font-size:.7em;padding:.15em .5em;border-radius:.3em;color:#fff;vertical-align:middle}
.st-passed{background:#2e7d32}.st-failed{background:` + failedColour + `}.st-incomplete{background:#ef6c00}
.facts{color:#444;margin:.2em 0}.facts b{color:#000}
nav a{margin-right:1em}
.scroll{overflow-x:auto;border:1px solid #ddd;background:#fcfcfc}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.15em .7em;text-align:left;border-bottom:1px solid #eee;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.crit td:first-child{border-left:4px solid ` + critColour + `}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:1.4em;height:.8em;margin-right:.3em;vertical-align:middle;border:1px solid #888}
.warn{color:#a15c00}.bad{color:` + failedColour + `}.good{color:#2e7d32}.muted{color:#777}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg .axis line{stroke:#ccc}svg .step line{stroke:#555;stroke-dasharray:4 3}svg .step text{font-weight:bold}
svg .worker line{stroke:#888}svg .worker text{font-weight:bold;fill:#000}
rect.bar{stroke:#fff;stroke-width:.4px}
rect.ss{fill:url(#ss)}
rect.unfinished{fill-opacity:.45;stroke:#333;stroke-width:1px;stroke-dasharray:3 2}
rect.failed{fill:` + failedColour + `;stroke:#000;stroke-width:1.5px}
rect.crit{stroke:` + critColour + `;stroke-width:2.5px}
polyline.critline{fill:none;stroke:` + critColour + `;stroke-width:1.5px;stroke-opacity:.85}
text.failmark{fill:` + failedColour + `;font-weight:bold;font-size:13px}
.cpu .cores{fill:#4e79a7;fill-opacity:.35;stroke:#4e79a7}.cpu .running{fill:none;stroke:#f28e2b;stroke-width:1.5px}
`

// WriteHTML writes the self-contained page.
func (r *Report) WriteHTML(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	p := func(s string) { bw.WriteString(s) }
	pf := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	esc := html.EscapeString

	title := r.Title
	if title == "" {
		title = r.ID
	}
	p("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	p("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n")
	// No script may run and nothing may load: the page works offline and
	// with JavaScript off because it never needed either.
	p("<meta http-equiv=\"Content-Security-Policy\" content=\"" + contentSecurityPolicy + "\">\n")
	pf("<title>Build report: %s</title>\n<style>%s", esc(title), css)
	for _, k := range taskKinds {
		pf("rect.k-%s,i.k-%s{fill:%s;background:%s}\n", k.kind, k.kind, k.colour, k.colour)
	}
	p("</style></head><body>\n")
	pf("<h1>Build report: %s <span class=\"status st-%s\" id=\"status\">%s</span></h1>\n", esc(title), esc(r.Status), strings.ToUpper(esc(r.Status)))
	pf("<p class=\"facts\">Build <b>%s</b>, started %s UTC", esc(r.ID), time.Unix(int64(r.Start), 0).UTC().Format("2006-01-02 15:04:05"))
	switch {
	case r.multiWorker():
		pf(" on <b>%d workers</b>", len(r.Workers))
	case r.Host != "":
		pf(" on <b>%s</b>", esc(r.Host))
	}
	p(".</p>\n")
	pf("<p class=\"facts\">Wall <b>%s</b> &middot; <b>%d</b> tasks (%d real, %d setscene", fmtDur(r.Wall), r.Totals.Tasks, r.Totals.Real, r.Totals.Setscene)
	if r.Totals.Unfinished > 0 {
		pf(", <span class=\"warn\">%d unfinished</span>", r.Totals.Unfinished)
	}
	pf(") &middot; task time %s &middot; CPU %s &middot; up to %d tasks in parallel", fmtDur(r.Totals.TaskTime), fmtDur(r.Totals.CPU), r.Lanes)
	if r.Sstate.Reused+r.Sstate.Real > 0 {
		pf(" &middot; sstate reuse <b>%s</b>", pct(r.Sstate.Ratio))
	}
	p("</p>\n")
	for _, f := range r.Failures {
		pf("<p class=\"bad\" id=\"failure\">&#10006; Failed: <b>%s %s</b> in step %s, %s after it started.</p>\n", esc(f.PF), esc(f.Task), esc(f.Step), fmtDur(f.Duration))
	}
	p("<nav><a href=\"#timeline\">Timeline</a>")
	if r.hasHostData() {
		p("<a href=\"#host\">Host</a>")
	}
	p("<a href=\"#critical\">Critical path</a><a href=\"#cpu\">CPU</a><a href=\"#steps\">Steps</a>")
	p("<a href=\"#top\">Top tasks &amp; recipes</a><a href=\"#sstate\">sstate</a><a href=\"#regressions\">Regressions</a></nav>\n")

	p("<section id=\"timeline\"><h2>Timeline</h2>\n<p class=\"legend\">")
	for _, k := range taskKinds {
		pf("<span><i class=\"k-%s\"></i>%s</span>", k.kind, k.label)
	}
	p(`<span><svg width="22" height="12"><rect width="22" height="12" class="ss" style="fill:url(#ss)"/></svg> setscene (sstate)</span>`)
	pf(`<span><i style="background:%s"></i>failed</span><span><i style="background:none;border:2px solid %s"></i>critical path</span>`, failedColour, critColour)
	p("<span><i style=\"background:#ddd;border-style:dashed\"></i>unfinished</span></p>\n")
	if r.multiWorker() {
		pf("<p class=\"muted\">One band per worker (%d), one lane per parallel slot on it; hover over a bar for recipe, task, duration and CPU. Each worker's times are its own clock's: the bands line up only as well as the workers' clocks agree.</p>\n", len(r.Workers))
	} else {
		p("<p class=\"muted\">One lane per parallel slot; hover over a bar for recipe, task, duration and CPU.</p>\n")
	}
	p("<div class=\"scroll\">")
	r.timelineSVG(bw)
	p("</div>\n")
	r.hostChartsHTML(bw)
	p("</section>\n")

	pf("<section id=\"critical\"><h2>Critical path: %s over %d tasks</h2>\n", fmtDur(r.Critical.Total), len(r.Critical.Tasks))
	if r.Critical.Source == "timing" {
		p("<p class=\"warn\">No task-depends.dot: the chain is inferred from timing (each task's predecessor is the task that ended last before it started).</p>\n")
	} else {
		p("<p class=\"muted\">The longest chain of dependent tasks in task-depends.dot, weighted by the time each task (or its setscene) took in this build.</p>\n")
	}
	p("<table id=\"critical-path\"><tr><th class=\"n\">#</th><th>recipe</th><th>task</th><th>step</th><th class=\"n\">start</th><th class=\"n\">duration</th><th class=\"n\">CPU</th></tr>\n")
	for i, t := range r.Critical.Tasks {
		pf("<tr class=\"crit\"><td class=\"n\">%d</td><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">+%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			i+1, esc(t.PF), esc(t.Task), esc(t.Step), clock(t.Start), fmtDur(t.Duration), fmtDur(t.CPU))
	}
	p("</table></section>\n")

	p("<section id=\"cpu\"><h2>CPU utilisation</h2>\n<p class=\"muted\">Blue: cores busy (task CPU time spread over each task's run). Orange: tasks running.</p>\n<div class=\"scroll\">")
	r.cpuSVG(bw)
	p("</div></section>\n")

	p("<section id=\"steps\"><h2>Steps</h2>\n<table><tr><th>step</th><th>builds</th><th class=\"n\">start</th><th class=\"n\">wall</th><th class=\"n\">tasks</th><th class=\"n\">real</th><th class=\"n\">setscene</th><th class=\"n\">failed</th><th class=\"n\">task time</th><th class=\"n\">CPU</th></tr>\n")
	for _, s := range r.Steps {
		note := ""
		if r.multiWorker() {
			note = " <span class=\"muted\">on " + esc(s.Worker) + "</span>"
		}
		if !s.Completed {
			note += " <span class=\"warn\">(did not complete)</span>"
		}
		pf("<tr><td>%s%s</td><td>%s</td><td class=\"n\">+%s</td><td class=\"n\">%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			esc(s.Name), note, esc(strings.Join(s.Builds, ", ")), clock(s.Start), fmtDur(s.Wall), s.Totals.Tasks, s.Totals.Real, s.Totals.Setscene, s.Totals.Failed, fmtDur(s.Totals.TaskTime), fmtDur(s.Totals.CPU))
	}
	pf("<tr><th>total</th><th></th><th></th><th class=\"n\">%s</th><th class=\"n\">%d</th><th class=\"n\">%d</th><th class=\"n\">%d</th><th class=\"n\">%d</th><th class=\"n\">%s</th><th class=\"n\">%s</th></tr>\n",
		fmtDur(r.Wall), r.Totals.Tasks, r.Totals.Real, r.Totals.Setscene, r.Totals.Failed, fmtDur(r.Totals.TaskTime), fmtDur(r.Totals.CPU))
	p("</table>\n")
	if r.multiWorker() {
		p("<h3>Workers</h3>\n<table id=\"workers\"><tr><th>worker</th><th>host</th><th>steps</th><th class=\"n\">start</th><th class=\"n\">end</th><th class=\"n\">busy</th><th class=\"n\">tasks</th><th class=\"n\">setscene</th><th class=\"n\">parallel</th><th class=\"n\">CPU</th></tr>\n")
		for _, w := range r.Workers {
			pf("<tr><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">+%s</td><td class=\"n\">+%s</td><td class=\"n\">%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td></tr>\n",
				esc(workerLabel(w)), esc(w.Host), esc(strings.Join(w.Steps, ", ")), clock(w.Start), clock(w.End), fmtDur(w.Busy), w.Totals.Tasks, w.Totals.Setscene, w.Lanes, fmtDur(w.Totals.CPU))
		}
		p("</table>\n")
	}
	p("</section>\n")

	pf("<section id=\"top\"><h2>Top %d tasks</h2>\n<table id=\"top-tasks\"><tr><th>recipe</th><th>task</th><th>step</th><th class=\"n\">duration</th><th class=\"n\">CPU</th><th class=\"n\">cores</th></tr>\n", len(r.TopTasks))
	for _, t := range r.TopTasks {
		pf("<tr><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			esc(t.PF), esc(t.Task), esc(t.Step), fmtDur(t.Duration), fmtDur(t.CPU), cores(t.CPU, t.Duration))
	}
	pf("</table>\n<h2>Top %d recipes</h2>\n<table id=\"top-recipes\"><tr><th>recipe</th><th class=\"n\">tasks</th><th class=\"n\">setscene</th><th class=\"n\">task time</th><th class=\"n\">CPU</th></tr>\n", len(r.TopRecipes))
	for _, rt := range r.TopRecipes {
		pf("<tr><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			esc(rt.PF), rt.Tasks, rt.Setscene, fmtDur(rt.Time), fmtDur(rt.CPU))
	}
	p("</table>\n<h2>By task type</h2>\n<table id=\"task-types\"><tr><th>task</th><th class=\"n\">real</th><th class=\"n\">setscene</th><th class=\"n\">reused</th><th class=\"n\">real time</th><th class=\"n\">setscene time</th><th class=\"n\">CPU</th></tr>\n")
	for _, tt := range r.TaskTypes {
		reused := ""
		if tt.Setscene > 0 {
			reused = pct(float64(tt.Setscene) / float64(tt.Setscene+tt.Real))
		}
		pf("<tr><td><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" class=\"k-%s\"/></svg> %s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
			kindOf(tt.Task), esc(tt.Task), tt.Real, tt.Setscene, reused, fmtDur(tt.RealTime), fmtDur(tt.SetsceneTime), fmtDur(tt.CPU))
	}
	p("</table></section>\n")

	p("<section id=\"sstate\"><h2>sstate reuse</h2>\n")
	pf("<p>%d setscene tasks restored output from the sstate cache; %d sstate-capable tasks ran for real (reuse %s). Per task type: see <a href=\"#task-types\">By task type</a>.</p>\n",
		r.Sstate.Reused, r.Sstate.Real, pct(r.Sstate.Ratio))
	switch {
	case !r.Sstate.HasPrevious:
		p("<p class=\"muted\">No previous build of this config to compare with.</p>\n")
	case len(r.Sstate.Rebuilt) == 0:
		p("<p class=\"good\">No recipe ran real tasks that the previous build restored from sstate.</p>\n")
	default:
		pf("<p class=\"warn\">%d recipes ran real tasks although the previous build of this config restored them from sstate: their task signatures changed. Worth a look (<code>bitbake-diffsigs</code>).</p>\n", len(r.Sstate.Rebuilt))
		p("<table id=\"rebuilt\"><tr><th>recipe</th><th>now</th><th>before</th><th>tasks that ran for real</th><th class=\"n\">real task time</th></tr>\n")
		for _, rr := range r.Sstate.Rebuilt {
			pf("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%s</td></tr>\n", esc(rr.PN), esc(rr.PF), esc(rr.PFBefore), esc(strings.Join(rr.Tasks, " ")), fmtDur(rr.Time))
		}
		p("</table>\n")
	}
	p("</section>\n")

	p("<section id=\"regressions\"><h2>Regressions</h2>\n")
	if c := r.Comparison; c == nil {
		p("<p class=\"muted\">No previous build to compare with.</p>\n")
	} else {
		pf("<p>Against <b>%s</b> (%s): wall %s &rarr; %s (%s), CPU %s &rarr; %s.</p>\n", esc(c.Against), esc(c.Source),
			fmtDur(c.WallBefore), fmtDur(c.WallAfter), signedPct(c.WallBefore, c.WallAfter), fmtDur(c.CPUBefore), fmtDur(c.CPUAfter))
		pf("<p>%d tasks slower by more than %s and %s; %d faster; %d new; %d vanished.</p>\n",
			len(c.Slower), pct(c.Threshold), fmtDur(c.MinDelta), c.Faster, len(c.New), len(c.Vanished))
		if len(c.Slower) > 0 {
			p("<table id=\"slower\"><tr><th>recipe</th><th>task</th><th class=\"n\">before</th><th class=\"n\">now</th><th class=\"n\">delta</th><th class=\"n\">ratio</th></tr>\n")
			for _, d := range c.Slower {
				pf("<tr><td>%s</td><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n bad\">+%s</td><td class=\"n\">&times;%.2f</td></tr>\n",
					esc(d.PN), esc(d.Task), fmtDur(d.Before), fmtDur(d.After), fmtDur(d.Delta), d.Ratio)
			}
			p("</table>\n")
		}
		keyTable := func(id, heading string, keys []TaskKey) {
			if len(keys) == 0 {
				return
			}
			const limit = 200
			pf("<h3>%s (%d)</h3>\n<table id=\"%s\"><tr><th>recipe</th><th>task</th><th class=\"n\">duration</th></tr>\n", heading, len(keys), id)
			for i, k := range keys {
				if i == limit {
					pf("<tr><td colspan=\"3\" class=\"muted\">&hellip; %d more in report.json</td></tr>\n", len(keys)-limit)
					break
				}
				pf("<tr><td>%s</td><td>%s</td><td class=\"n\">%s</td></tr>\n", esc(k.PN), esc(k.Task), fmtDur(k.Duration))
			}
			p("</table>\n")
		}
		keyTable("new", "New tasks", c.New)
		keyTable("vanished", "Vanished tasks", c.Vanished)
	}
	p("</section>\n")

	if len(r.Warnings) > 0 {
		p("<section id=\"warnings\"><h2>Warnings</h2><ul>\n")
		for _, w := range r.Warnings {
			pf("<li class=\"warn\">%s</li>\n", esc(w))
		}
		p("</ul></section>\n")
	}
	p("<p class=\"muted\">Written by xtbuild report from BitBake buildstats; the same figures are in report.json.</p>\n</body></html>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report html: %w", err)
	}
	return nil
}

// clock prints an offset from the build start as H:MM:SS.
func clock(s float64) string {
	t := int64(math.Round(math.Max(s, 0)))
	return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
}

func cores(cpu, dur float64) string {
	if dur <= 0 {
		return ""
	}
	return strconv.FormatFloat(cpu/dur, 'f', 2, 64)
}

// num prints a coordinate with at most one decimal: enough for a screen and
// it keeps a 10 000-bar SVG small.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

const (
	laneHeight = 12
	laneGap    = 3
	svgLeft    = 34
	svgRight   = 20
	svgTop     = 34
)

// timelineWidth gives about two pixels per second up to a cap, so an hour-long
// build stays readable in a scrolling box and a six-hour one stays small.
func timelineWidth(wall float64) float64 {
	return math.Min(math.Max(wall*2, 1100), 24000)
}

// tickStep picks a round interval that puts ticks at least 90 px apart; for
// absurd spans (a damaged timestamp) it falls back to whatever does.
func tickStep(wall, width float64) float64 {
	wall = math.Max(wall, 1)
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400} {
		if s*width/wall >= 90 {
			return s
		}
	}
	return math.Ceil(wall * 90 / math.Max(width, 1))
}

// workerLabel names a worker on the page: its name, else its host.
func workerLabel(w WorkerSummary) string {
	switch {
	case w.Name != "":
		return w.Name
	case w.Host != "":
		return w.Host
	}
	return "this host"
}

// bandHead is the height of the label row above each worker's band of
// lanes (only drawn when the build ran on several workers).
const bandHead = 16

// multiWorker says whether the timeline is split into worker bands.
func (r *Report) multiWorker() bool { return len(r.Workers) > 1 }

// laneY is the top of a lane: lanes follow each other, and with several
// workers each worker's band starts with its label row.
func (r *Report) laneY(lane int) int {
	y := svgTop + lane*(laneHeight+laneGap)
	if r.multiWorker() {
		for _, w := range r.Workers {
			if lane >= w.FirstLane {
				y += bandHead
			}
		}
	}
	return y
}

// band is the vertical extent of a worker's band (label row included).
func (r *Report) band(w WorkerSummary) (top, bottom int) {
	top = r.laneY(w.FirstLane) - bandHead
	bottom = r.laneY(w.FirstLane+max(w.Lanes, 1)-1) + laneHeight + laneGap
	return top, bottom
}

func (r *Report) timelineSVG(bw *bufio.Writer) {
	width := timelineWidth(r.Wall)
	scale := (width - svgLeft - svgRight) / math.Max(r.Wall, 1)
	lanes := max(r.Lanes, 1)
	height := r.laneY(lanes-1) + laneHeight + laneGap + 10
	if r.multiWorker() {
		// A worker without tasks still gets its (empty) band.
		last := r.Workers[len(r.Workers)-1]
		_, b := r.band(last)
		height = max(height, b+10)
	}
	fmt.Fprintf(bw, "<svg id=\"timeline-svg\" width=\"%s\" height=\"%d\" role=\"img\" aria-label=\"task timeline\">\n", num(width), height)
	bw.WriteString(`<defs><pattern id="ss" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d9f2d0"/><rect width="3" height="6" fill="#4caf50"/></pattern></defs>` + "\n")
	// Time axis.
	bw.WriteString("<g class=\"axis\">")
	step := tickStep(r.Wall, width-svgLeft-svgRight)
	for t := 0.0; t <= r.Wall+1e-9; t += step {
		x := svgLeft + t*scale
		fmt.Fprintf(bw, "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%d\"/><text x=\"%s\" y=\"%d\">%s</text>", num(x), svgTop-4, num(x), height-8, num(x+2), svgTop-6, clock(t))
	}
	first := map[int]bool{}
	for _, w := range r.Workers {
		first[w.FirstLane] = true
	}
	local := 0
	for l := range lanes {
		if r.multiWorker() && first[l] {
			local = 0
		}
		local++
		fmt.Fprintf(bw, "<text x=\"4\" y=\"%d\">%d</text>", r.laneY(l)+laneHeight-2, local)
	}
	bw.WriteString("</g>\n")
	// Worker bands: a rule and the worker's name above its lanes.
	if r.multiWorker() {
		bw.WriteString("<g class=\"worker\">")
		for i, w := range r.Workers {
			top, _ := r.band(w)
			fmt.Fprintf(bw, "<line x1=\"0\" y1=\"%d\" x2=\"%s\" y2=\"%d\"/><text id=\"worker-%d\" x=\"4\" y=\"%d\">worker %s: %s, %d tasks, up to %d in parallel</text>",
				top, num(width), top, i+1, top+bandHead-4, html.EscapeString(workerLabel(w)), html.EscapeString(strings.Join(w.Steps, ", ")), w.Totals.Tasks, w.Lanes)
		}
		bw.WriteString("</g>\n")
	}
	// Step boundaries: a dashed line where each step started, across the
	// band of the worker that ran it.
	if len(r.Steps) > 1 {
		bw.WriteString("<g class=\"step\">")
		for _, s := range r.Steps {
			x := svgLeft + s.Start*scale
			if r.multiWorker() {
				// Steps overlap in time here: no label row fits them all,
				// the worker's label lists them and the line names its step.
				for _, w := range r.Workers {
					if w.Name == s.Worker {
						top, bottom := r.band(w)
						fmt.Fprintf(bw, "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%d\"><title>step %s starts</title></line>", num(x), top+bandHead, num(x), bottom, html.EscapeString(s.Name))
					}
				}
				continue
			}
			fmt.Fprintf(bw, "<line x1=\"%s\" y1=\"2\" x2=\"%s\" y2=\"%d\"/><text x=\"%s\" y=\"12\">%s</text>", num(x), num(x), height-8, num(x+3), html.EscapeString(s.Name))
		}
		bw.WriteString("</g>\n")
	}
	bw.WriteString("<g class=\"tasks\">\n")
	var crit []string
	var marks []string
	for i := range r.Tasks {
		t := &r.Tasks[i]
		x := svgLeft + t.Start*scale
		w := math.Max(t.Duration*scale, 1)
		y := r.laneY(t.Lane)
		class := "bar k-" + kindOf(t.Task)
		if t.Setscene {
			class += " ss"
		}
		switch t.Status {
		case "failed":
			class += " failed"
			marks = append(marks, fmt.Sprintf("<text class=\"failmark\" x=\"%s\" y=\"%d\">&#10006;</text>", num(x+w+1), y+laneHeight-1))
		case "unfinished":
			class += " unfinished"
		}
		if t.Critical {
			class += " crit"
			crit = append(crit, num(x+w/2)+","+strconv.Itoa(y+laneHeight/2))
		}
		fmt.Fprintf(bw, "<rect class=\"%s\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"%d\"><title>%s %s\n%s wall, CPU %s", class, num(x), y, num(w), laneHeight,
			html.EscapeString(t.PF), html.EscapeString(t.Task), fmtDur(t.Duration), cpuText(t))
		if r.multiWorker() {
			fmt.Fprintf(bw, "\nstep %s on %s, +%s, %s</title></rect>\n", html.EscapeString(t.Step), html.EscapeString(t.Worker), clock(t.Start), t.Status)
		} else {
			fmt.Fprintf(bw, "\nstep %s, +%s, %s</title></rect>\n", html.EscapeString(t.Step), clock(t.Start), t.Status)
		}
	}
	bw.WriteString("</g>\n")
	if len(crit) > 1 {
		// Critical tasks are in start order in r.Tasks, which is chain order.
		fmt.Fprintf(bw, "<polyline class=\"critline\" points=\"%s\"/>\n", strings.Join(crit, " "))
	}
	for _, m := range marks {
		bw.WriteString(m)
	}
	bw.WriteString("</svg>")
}

func cpuText(t *TaskRecord) string {
	if !t.HasCPU {
		return "not recorded"
	}
	s := fmtDur(t.CPU)
	if t.Duration > 0 {
		s += " (" + cores(t.CPU, t.Duration) + " cores)"
	}
	return s
}

func (r *Report) cpuSVG(bw *bufio.Writer) {
	const w, h, left, bottom, top = 1100.0, 190.0, 40.0, 22.0, 8.0
	n := len(r.CPU.Cores)
	fmt.Fprintf(bw, "<svg class=\"cpu\" id=\"cpu-svg\" width=\"%s\" height=\"%s\" role=\"img\" aria-label=\"CPU use over time\">\n", num(w), num(h))
	if n == 0 {
		bw.WriteString("<text x=\"10\" y=\"20\">no data</text></svg>")
		return
	}
	peak := 1.0
	for i := range n {
		peak = math.Max(peak, math.Max(r.CPU.Cores[i], r.CPU.Running[i]))
	}
	peak = math.Ceil(peak)
	plotW, plotH := w-left-10, h-bottom-top
	xs := func(i int) float64 { return left + float64(i)*plotW/float64(n) }
	ys := func(v float64) float64 { return top + plotH - v/peak*plotH }
	bw.WriteString("<g class=\"axis\">")
	gstep := math.Max(1, math.Ceil(peak/5))
	for v := 0.0; v <= peak; v += gstep {
		fmt.Fprintf(bw, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><text x=\"4\" y=\"%s\">%s</text>", num(left), num(ys(v)), num(left+plotW), num(ys(v)), num(ys(v)+4), strconv.FormatFloat(v, 'f', -1, 64))
	}
	tstep := tickStep(r.Wall, plotW)
	for t := 0.0; t <= r.Wall; t += tstep {
		x := left + t/r.Wall*plotW
		fmt.Fprintf(bw, "<text x=\"%s\" y=\"%s\">%s</text>", num(x), num(h-6), clock(t))
	}
	bw.WriteString("</g>\n")
	var area strings.Builder
	fmt.Fprintf(&area, "%s,%s", num(left), num(ys(0)))
	var line strings.Builder
	for i := range n {
		fmt.Fprintf(&area, " %s,%s %s,%s", num(xs(i)), num(ys(r.CPU.Cores[i])), num(xs(i+1)), num(ys(r.CPU.Cores[i])))
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%s,%s", num((xs(i)+xs(i+1))/2), num(ys(r.CPU.Running[i])))
	}
	fmt.Fprintf(&area, " %s,%s", num(left+plotW), num(ys(0)))
	fmt.Fprintf(bw, "<polygon class=\"cores\" points=\"%s\"><title>cores busy</title></polygon>\n", area.String())
	fmt.Fprintf(bw, "<polyline class=\"running\" points=\"%s\"><title>tasks running</title></polyline>\n</svg>", line.String())
}
