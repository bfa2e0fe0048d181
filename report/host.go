package report

import (
	"bufio"
	"fmt"
	"html"
	"math"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/report/buildstats"
)

// hostPoints bounds each host series in report.json and the page: a six-hour
// build samples about 21 600 times; averaging into this many buckets keeps
// the page small and still shows every minute-scale change.
const hostPoints = 1000

// HostPoint is one (possibly averaged) host sample: T seconds from the build
// start, V the values in the series' column order.
type HostPoint struct {
	T float64   `json:"t"`
	V []float64 `json:"v"`
}

// HostData is the build host's state over the build, from the host data
// oe-core's buildstats class records (see buildstats.Host), in the units the
// page draws.
type HostData struct {
	// CPU: user, system, iowait, as percent of all the host's CPU time.
	CPU []HostPoint `json:"cpu,omitempty"`
	// Disk: read MiB/s, write MiB/s, utilisation percent.
	Disk []HostPoint `json:"disk,omitempty"`
	// Memory: used (total - free - buffers - cached), buffers + cached and
	// swap used, in GiB; MemTotalGiB is the host's memory.
	Memory      []HostPoint `json:"memory,omitempty"`
	MemTotalGiB float64     `json:"mem_total_gib,omitempty"`
	// Pressure per resource (cpu, io, memory): avg10 percent and the seconds
	// stalled per second since the previous sample ("some" line of
	// /proc/pressure).
	Pressure map[string][]HostPoint `json:"pressure,omitempty"`
	// DiskSpace per device BB_DISKMON_DIRS watches: GiB used.
	DiskSpace map[string][]HostPoint `json:"disk_space,omitempty"`
}

const (
	kib = 1024.0
	gib = 1024.0 * 1024.0 * 1024.0
)

// hostData converts the merged host samples into the report's series,
// relative to start.
func hostData(h *buildstats.Host, start float64) *HostData {
	if h.Empty() {
		return nil
	}
	d := &HostData{}
	d.CPU = convert(h.CPU, start, func(v []float64) []float64 {
		return []float64{v[0] * 100, v[1] * 100, v[2] * 100}
	})
	d.Disk = convert(h.Disk, start, func(v []float64) []float64 {
		// buildstats writes sectors/2 × 100 / seconds: KiB/s × 100.
		return []float64{v[0] / 100 / kib, v[1] / 100 / kib, v[2] * 100}
	})
	d.Memory = convert(h.Memory, start, func(v []float64) []float64 {
		total, free, buffers, cached, swapTotal, swapFree := v[0], v[1], v[2], v[3], v[4], v[5]
		d.MemTotalGiB = math.Max(d.MemTotalGiB, total*kib/gib)
		return []float64{(total - free - buffers - cached) * kib / gib, (buffers + cached) * kib / gib, (swapTotal - swapFree) * kib / gib}
	})
	for _, res := range buildstats.PSIResources {
		s := h.PSI[res]
		if len(s) == 0 {
			continue
		}
		if d.Pressure == nil {
			d.Pressure = map[string][]HostPoint{}
		}
		prev := math.NaN()
		d.Pressure[res] = convert(s, start, func(v []float64) []float64 {
			return []float64{v[0], v[3] / 1e6}
		})
		// delta is per sample interval; make it per second.
		for i, p := range d.Pressure[res] {
			if !math.IsNaN(prev) && p.T > prev {
				d.Pressure[res][i].V[1] = round2(p.V[1] / (p.T - prev))
			}
			prev = p.T
		}
	}
	if len(h.DiskSpace) > 0 {
		d.DiskSpace = map[string][]HostPoint{}
		byDev := map[string][]buildstats.Sample{}
		for _, du := range h.DiskSpace {
			for dev, used := range du.Used {
				byDev[dev] = append(byDev[dev], buildstats.Sample{Time: du.Time, Values: []float64{used}})
			}
		}
		for dev, s := range byDev {
			d.DiskSpace[dev] = convert(s, start, func(v []float64) []float64 { return []float64{v[0] / gib} })
		}
	}
	d.MemTotalGiB = round2(d.MemTotalGiB)
	return d
}

// convert maps samples to report units and averages them into at most
// hostPoints buckets of equal time.
func convert(s []buildstats.Sample, start float64, f func([]float64) []float64) []HostPoint {
	if len(s) == 0 {
		return nil
	}
	pts := make([]HostPoint, len(s))
	for i, x := range s {
		pts[i] = HostPoint{T: x.Time - start, V: f(x.Values)}
	}
	if len(pts) > hostPoints {
		lo, hi := pts[0].T, pts[len(pts)-1].T
		width := (hi - lo) / hostPoints
		var out []HostPoint
		for i := 0; i < len(pts); {
			b := min(int((pts[i].T-lo)/width), hostPoints-1)
			sum := HostPoint{V: make([]float64, len(pts[i].V))}
			n := 0
			for ; i < len(pts) && min(int((pts[i].T-lo)/width), hostPoints-1) == b; i++ {
				sum.T += pts[i].T
				for k, v := range pts[i].V {
					sum.V[k] += v
				}
				n++
			}
			sum.T /= float64(n)
			for k := range sum.V {
				sum.V[k] /= float64(n)
			}
			out = append(out, sum)
		}
		pts = out
	}
	for i := range pts {
		pts[i].T = round2(pts[i].T)
		for k, v := range pts[i].V {
			pts[i].V[k] = round2(v)
		}
	}
	return pts
}

// psiLabel names a /proc/pressure resource in a chart title.
var psiLabel = map[string]string{"cpu": "CPU", "io": "I/O", "memory": "Memory"}

// hostSeries is one drawn series of a host chart: column col of the points.
type hostSeries struct {
	label, colour string
	col           int
	area          bool // stacked area (in order) rather than a line
}

// peak is the largest value of column col.
func peak(pts []HostPoint, col int) float64 {
	m := 0.0
	for _, p := range pts {
		m = math.Max(m, p.V[col])
	}
	return m
}

// hostChartsHTML draws the host charts under the task timeline, on the
// timeline's time scale so that a stall lines up with the tasks running then.
// With several workers each gets its own set, under its name.
func (r *Report) hostChartsHTML(bw *bufio.Writer) {
	if r.HostData != nil {
		r.hostCharts(bw, r.HostData, "host", "<h3 id=\"host\">Build host</h3>\n")
		return
	}
	heading := "<h3 id=\"host\">Build hosts</h3>\n"
	for i, w := range r.Workers {
		if w.HostData == nil {
			continue
		}
		id := fmt.Sprintf("host-w%d", i+1)
		if r.hostCharts(bw, w.HostData, id, heading+fmt.Sprintf("<h4 id=\"%s\">Worker %s</h4>\n", id, html.EscapeString(workerLabel(w)))) {
			heading = ""
		}
	}
}

func (r *Report) hasHostData() bool {
	if r.HostData != nil {
		return true
	}
	for _, w := range r.Workers {
		if w.HostData != nil {
			return true
		}
	}
	return false
}

// hostCharts draws one machine's charts with ids <id>-cpu, <id>-disk, ...
// after heading; it reports whether there was anything to draw.
func (r *Report) hostCharts(bw *bufio.Writer, d *HostData, id, heading string) bool {
	type chart struct {
		id, title string
		pts       []HostPoint
		series    []hostSeries
		yMax      float64
		unit      string
	}
	var charts []chart
	if len(d.CPU) > 0 {
		charts = append(charts, chart{id + "-cpu", "Host CPU (all cores)", d.CPU, []hostSeries{
			{"user", "#4e79a7", 0, true}, {"system", "#f28e2b", 1, true}, {"iowait", "#e15759", 2, true}}, 100, "%"})
	}
	if len(d.Disk) > 0 {
		tput := math.Max(peak(d.Disk, 0), peak(d.Disk, 1))
		// Utilisation is drawn on the throughput scale: scale it into a copy.
		pts := make([]HostPoint, len(d.Disk))
		top := math.Max(niceCeil(tput), 1)
		for i, p := range d.Disk {
			pts[i] = HostPoint{T: p.T, V: []float64{p.V[0], p.V[1], p.V[2] / 100 * top}}
		}
		charts = append(charts, chart{id + "-disk", fmt.Sprintf("Disk throughput (peak %s MiB/s) and utilisation (shaded, 0–100%%)", num(tput)), pts, []hostSeries{
			{"utilisation", "#bab0ac", 2, true}, {"read MiB/s", "#59a14f", 0, false}, {"write MiB/s", "#b07aa1", 1, false}}, top, "MiB/s"})
	}
	for _, res := range buildstats.PSIResources {
		pts := d.Pressure[res]
		if len(pts) == 0 {
			continue
		}
		stall := peak(pts, 1)
		top := 100.0
		scaled := make([]HostPoint, len(pts))
		for i, p := range pts {
			v1 := 0.0
			if stall > 0 {
				v1 = p.V[1] / math.Max(stall, 1) * top
			}
			scaled[i] = HostPoint{T: p.T, V: []float64{p.V[0], v1}}
		}
		charts = append(charts, chart{id + "-psi-" + res, fmt.Sprintf("%s pressure: avg10 (peak %s%%) and time stalled (shaded, peak %s s/s)", psiLabel[res], num(peak(pts, 0)), num(stall)), scaled, []hostSeries{
			{"stalled", "#f1ce63", 1, true}, {"avg10 %", "#e15759", 0, false}}, top, "%"})
	}
	if len(d.Memory) > 0 {
		charts = append(charts, chart{id + "-memory", fmt.Sprintf("Memory (host has %s GiB)", num(d.MemTotalGiB)), d.Memory, []hostSeries{
			{"used", "#4e79a7", 0, true}, {"buffers + cached", "#a0cbe8", 1, true}, {"swap used", "#e15759", 2, false}}, math.Max(d.MemTotalGiB, 1), "GiB"})
	}
	if len(d.DiskSpace) > 0 {
		devs := make([]string, 0, len(d.DiskSpace))
		for dev := range d.DiskSpace {
			devs = append(devs, dev)
		}
		sort.Strings(devs)
		colours := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"}
		for i, dev := range devs {
			pts := d.DiskSpace[dev]
			charts = append(charts, chart{fmt.Sprintf("%s-diskspace-%d", id, i), fmt.Sprintf("Disk space used on %s (peak %s GiB)", dev, num(peak(pts, 0))), pts,
				[]hostSeries{{"used GiB", colours[i%len(colours)], 0, true}}, math.Max(niceCeil(peak(pts, 0)), 1), "GiB"})
		}
	}
	if len(charts) == 0 {
		return false
	}
	bw.WriteString(heading)
	bw.WriteString("<p class=\"muted\">Sampled about once a second by oe-core's buildstats class (as pybootchartgui draws it), on the timeline's time scale.</p>\n<div class=\"scroll\">")
	for _, c := range charts {
		r.hostChartSVG(bw, c.id, c.title, c.pts, c.series, c.yMax, c.unit)
	}
	bw.WriteString("</div>\n")
	return true
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func (r *Report) hostChartSVG(bw *bufio.Writer, id, title string, pts []HostPoint, series []hostSeries, yMax float64, unit string) {
	const h, top, bottom = 110.0, 18.0, 6.0
	width := timelineWidth(r.Wall)
	scale := (width - svgLeft - svgRight) / math.Max(r.Wall, 1)
	plotH := h - top - bottom
	x := func(t float64) string { return num(svgLeft + math.Max(0, math.Min(t, r.Wall))*scale) }
	y := func(v float64) string { return num(top + plotH - math.Min(v, yMax)/yMax*plotH) }
	fmt.Fprintf(bw, "<svg class=\"host\" id=\"%s\" width=\"%s\" height=\"%s\" role=\"img\" aria-label=\"%s\">\n", id, num(width), num(h), html.EscapeString(title))
	fmt.Fprintf(bw, "<text x=\"%d\" y=\"12\" font-weight=\"bold\">%s</text>", svgLeft, html.EscapeString(title))
	lx := svgLeft + 8*len(title) + 20
	for _, s := range series {
		fmt.Fprintf(bw, "<rect x=\"%d\" y=\"4\" width=\"10\" height=\"8\" fill=\"%s\"/><text x=\"%d\" y=\"12\">%s</text>", lx, s.colour, lx+13, html.EscapeString(s.label))
		lx += 20 + 7*len(s.label)
	}
	fmt.Fprintf(bw, "\n<g class=\"axis\"><line x1=\"%d\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><line x1=\"%d\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/><text x=\"2\" y=\"%s\">%s</text></g>\n",
		svgLeft, y(0), num(width-svgRight), y(0), svgLeft, y(yMax), num(width-svgRight), y(yMax), num(top+8), html.EscapeString(num(yMax)+unit))
	base := make([]float64, len(pts))
	for _, s := range series {
		if s.area {
			var b strings.Builder
			for i, p := range pts {
				fmt.Fprintf(&b, "%s,%s ", x(p.T), y(base[i]+p.V[s.col]))
			}
			for i := len(pts) - 1; i >= 0; i-- {
				fmt.Fprintf(&b, "%s,%s ", x(pts[i].T), y(base[i]))
			}
			for i, p := range pts {
				base[i] += p.V[s.col]
			}
			fmt.Fprintf(bw, "<polygon fill=\"%s\" fill-opacity=\".7\" points=\"%s\"><title>%s</title></polygon>\n", s.colour, strings.TrimSpace(b.String()), html.EscapeString(s.label))
			continue
		}
		var b strings.Builder
		for _, p := range pts {
			fmt.Fprintf(&b, "%s,%s ", x(p.T), y(p.V[s.col]))
		}
		fmt.Fprintf(bw, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"><title>%s</title></polyline>\n", s.colour, strings.TrimSpace(b.String()), html.EscapeString(s.label))
	}
	bw.WriteString("</svg>")
}

// hostText is the terminal summary line of the host data.
func (d *HostData) hostText() string {
	if d == nil {
		return ""
	}
	var parts []string
	if len(d.CPU) > 0 {
		busy, iowait := 0.0, 0.0
		for _, p := range d.CPU {
			busy += p.V[0] + p.V[1]
			iowait = math.Max(iowait, p.V[2])
		}
		parts = append(parts, fmt.Sprintf("CPU busy %s%% on average (iowait peak %s%%)", num(busy/float64(len(d.CPU))), num(iowait)))
	}
	if len(d.Memory) > 0 {
		parts = append(parts, fmt.Sprintf("memory used peak %s of %s GiB", num(peak(d.Memory, 0)), num(d.MemTotalGiB)))
	}
	for _, res := range buildstats.PSIResources {
		if pts := d.Pressure[res]; len(pts) > 0 {
			parts = append(parts, fmt.Sprintf("%s pressure avg10 peak %s%%", res, num(peak(pts, 0))))
		}
	}
	return strings.Join(parts, ", ")
}
