package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/report/buildstatsgen"
)

var update = flag.Bool("update", false, "rewrite golden files and fixtures")

// The fixtures model one small image (zlib-native -> busybox -> xt-image,
// graph in testdata/task-depends.dot) built several ways. Times are offsets
// in seconds from each build's BuildStarted; the expected figures in the
// tests below were worked out by hand from these tables.
const day0 = 1764000000.0

type fxTask struct {
	pf, task   string
	start, end float64 // end < 0: killed, no end record
	failed     bool
}

type fxBuild struct {
	dir       string // under testdata/buildstats
	name      string // BUILDNAME
	start     float64
	elapsed   float64 // 0: killed, no BuildCompleted
	noIO      bool
	tasks     []fxTask
	rootfsDu  string
	cpuDetail bool
}

const (
	zlib = "zlib-native-1.3.1-r0"
	bb   = "busybox-1.36.1-r0"
	img  = "xt-image-1.0-r0"
	inst = "xt-installer-image-1.0-r0"
)

// fanoutStart is BuildStarted of the fan-out fixture's first step.
const fanoutStart = day0 + 3*86400

// fanoutBuilds is one build fanned out over two workers, each step its own
// bitbake run with its own task graph (testdata/fanout/<step>.dot; the
// image step's is testdata/task-depends.dot): worker-a builds zlib-native
// (step toolchain), then the image (busybox rebuilt, zlib-native from
// sstate); worker-b meanwhile builds the installer image, whose do_compile
// needs zlib-native's sysroot. The times are each worker's own clock.
func fanoutBuilds() []fxBuild {
	return []fxBuild{
		{dir: "fanout/toolchain", name: "20251127160000", start: fanoutStart, elapsed: 51, tasks: []fxTask{
			{zlib, "do_fetch", 2, 4, false},
			{zlib, "do_unpack", 4, 5, false},
			{zlib, "do_configure", 5, 15, false},
			{zlib, "do_compile", 15, 45, false},
			{zlib, "do_install", 45, 48, false},
			{zlib, "do_populate_sysroot", 48, 50, false},
		}},
		{dir: "fanout/image", name: "20251127160055", start: fanoutStart + 55, elapsed: 154, tasks: []fxTask{
			{zlib, "do_populate_sysroot_setscene", 1, 2, false},
			{bb, "do_fetch", 2, 6, false},
			{bb, "do_unpack", 6, 8, false},
			{bb, "do_configure", 8, 22, false},
			{bb, "do_compile", 22, 102, false},
			{bb, "do_install", 102, 106, false},
			{bb, "do_package", 106, 116, false},
			{bb, "do_populate_sysroot", 106, 109, false},
			{bb, "do_package_write_ipk", 116, 121, false},
			{img, "do_rootfs", 121, 151, false},
			{img, "do_image_complete", 151, 153, false},
		}},
		{dir: "fanout/installer", name: "20251127160056", start: fanoutStart + 56, elapsed: 183, tasks: []fxTask{
			{zlib, "do_populate_sysroot_setscene", 1, 2, false},
			{inst, "do_fetch", 2, 5, false},
			{inst, "do_compile", 5, 95, false},
			{inst, "do_install", 95, 100, false},
			{inst, "do_rootfs", 100, 180, false},
			{inst, "do_image_complete", 180, 182, false},
		}},
	}
}

// completeTasks is a clean build on two slots.
var completeTasks = []fxTask{
	{zlib, "do_fetch", 2, 4, false},
	{bb, "do_fetch", 2, 7, false},
	{zlib, "do_unpack", 4, 5, false},
	{zlib, "do_configure", 5, 15, false},
	{bb, "do_unpack", 7, 9, false},
	{zlib, "do_compile", 15, 45, false},
	{zlib, "do_install", 45, 48, false},
	{zlib, "do_populate_sysroot", 48, 50, false},
	{bb, "do_configure", 50, 62, false},
	{bb, "do_compile", 62, 122, false},
	{bb, "do_install", 122, 126, false},
	{bb, "do_package", 126, 136, false},
	{bb, "do_populate_sysroot", 126, 129, false},
	{bb, "do_package_write_ipk", 136, 141, false},
	{img, "do_rootfs", 141, 171, false},
	{img, "do_image_complete", 171, 173, false},
}

func fixtureBuilds() []fxBuild {
	failed := append([]fxTask(nil), completeTasks[:9]...)
	failed = append(failed, fxTask{bb, "do_compile", 62, 80, true})
	killed := append([]fxTask(nil), completeTasks[:9]...)
	killed = append(killed, fxTask{bb, "do_compile", 62, -1, false})
	return append([]fxBuild{
		{dir: "complete", name: "20251124160000", start: day0, elapsed: 174, tasks: completeTasks, rootfsDu: "18M\t/build/tmp/work/xt-image/1.0/rootfs", cpuDetail: true},
		{dir: "failed", name: "20251124170000", start: day0 + 3600, elapsed: 81, tasks: failed},
		{dir: "killed", name: "20251124180000", start: day0 + 7200, tasks: killed},
		{dir: "noio", name: "20251124190000", start: day0 + 10800, elapsed: 174, noIO: true, tasks: completeTasks},
		// A fresh TMPDIR with a full sstate cache: only setscene tasks run.
		{dir: "setscene", name: "20251125160000", start: day0 + 86400, elapsed: 5, tasks: []fxTask{
			{zlib, "do_populate_sysroot_setscene", 2, 2.5, false},
			{bb, "do_populate_sysroot_setscene", 2, 3, false},
			{bb, "do_package_write_ipk_setscene", 2.5, 3.5, false},
			{img, "do_image_complete_setscene", 3, 4.2, false},
		}},
		// busybox's signature changed: it and the image rebuild, zlib-native
		// comes from sstate, busybox do_compile takes 80 s instead of 60.
		{dir: "changed", name: "20251126160000", start: day0 + 2*86400, elapsed: 154, tasks: []fxTask{
			{zlib, "do_populate_sysroot_setscene", 2, 3, false},
			{bb, "do_fetch", 2, 6, false},
			{bb, "do_unpack", 6, 8, false},
			{bb, "do_configure", 8, 22, false},
			{bb, "do_compile", 22, 102, false},
			{bb, "do_install", 102, 106, false},
			{bb, "do_package", 106, 116, false},
			{bb, "do_populate_sysroot", 106, 109, false},
			{bb, "do_package_write_ipk", 116, 121, false},
			{img, "do_rootfs", 121, 151, false},
			{img, "do_image_complete", 151, 153, false},
		}},
	}, fanoutBuilds()...)
}

// cpuLoad is the number of cores a fixture task keeps busy.
func cpuLoad(task string) float64 {
	switch task {
	case "do_compile":
		return 1.5
	case "do_configure", "do_rootfs":
		return 0.8
	}
	return 0.5
}

func writeFixture(t *testing.T, root string, fb fxBuild) {
	t.Helper()
	w := &buildstatsgen.Writer{Dir: filepath.Join(root, fb.dir, fb.name)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.BuildStarted(fb.start, buildstatsgen.HostInfo...))
	for _, ft := range fb.tasks {
		must(w.TaskStarted(ft.pf, ft.task, fb.start+ft.start))
		if ft.end < 0 {
			continue
		}
		dur := ft.end - ft.start
		cpu := dur * cpuLoad(ft.task)
		e := buildstatsgen.TaskEnd{Failed: ft.failed, Started: fb.start + ft.start, Ended: fb.start + ft.end,
			Rusage:      buildstatsgen.Rusage{Utime: 0.25, Stime: 0.05, MaxRSS: 61234, MinFlt: 12000, Nvcsw: 90, Nivcsw: 4},
			ChildRusage: buildstatsgen.Rusage{Utime: cpu - 0.3 - cpu*0.1, Stime: cpu * 0.1, MaxRSS: 30000, InBlock: 16, OuBlock: 2048},
		}
		e.Ticks = [4]int64{25, 5, int64((cpu - 0.3 - cpu*0.1) * 100), int64(cpu * 10)}
		if !fb.noIO {
			e.IO = &buildstatsgen.IOStats{Rchar: int64(dur * 1e6), Wchar: int64(dur * 5e5), Syscr: 100, Syscw: 50,
				ReadBytes: 4096 * int64(dur), WriteBytes: 8192 * int64(dur)}
		}
		must(w.TaskFinished(ft.pf, ft.task, e))
		if ft.task == "do_rootfs" && fb.rootfsDu != "" {
			must(w.RootfsSize(fb.rootfsDu))
		}
	}
	if fb.elapsed > 0 {
		must(w.BuildCompleted(fb.elapsed, 3.4))
	}
}

// TestFixturesUpToDate regenerates the fixture trees and compares them with
// testdata; -update rewrites testdata/buildstats.
func TestFixturesUpToDate(t *testing.T) {
	gen := t.TempDir()
	for _, fb := range fixtureBuilds() {
		writeFixture(t, gen, fb)
	}
	want := filepath.Join("testdata", "buildstats")
	if *update {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(want, os.DirFS(gen)); err != nil {
			t.Fatal(err)
		}
	}
	a, b := readTree(t, gen), readTree(t, want)
	if len(a) != len(b) {
		t.Fatalf("fixture tree has %d files, testdata %d (run go test ./report -run Fixtures -update)", len(a), len(b))
	}
	for p, content := range a {
		if b[p] != content {
			t.Errorf("%s differs from the generated fixture (run with -update)", p)
		}
	}
}

func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriterMatchesBitbakeFormat holds the writer to a task file typed by hand
// from oe-core's buildstats.bbclass (write_task_data): trailing spaces after
// Started/Status/Ended values, none after the others.
func TestWriterMatchesBitbakeFormat(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "do_compile"))
	if err != nil {
		t.Fatal(err)
	}
	got := buildstatsgen.TaskStartedText(1764000062.5) + buildstatsgen.TaskEndText(bb, "do_compile", buildstatsgen.TaskEnd{
		Started: 1764000062.5, Ended: 1764000122.75, Ticks: [4]int64{31, 7, 8012, 951},
		IO:          &buildstatsgen.IOStats{Rchar: 81234567, Wchar: 40123456, Syscr: 51234, Syscw: 20345, ReadBytes: 1048576, WriteBytes: 52428800, CancelledWriteBytes: 4096},
		Rusage:      buildstatsgen.Rusage{Utime: 0.312, Stime: 0.071, MaxRSS: 61234, MinFlt: 12345, MajFlt: 2, InBlock: 8, OuBlock: 16, Nvcsw: 91, Nivcsw: 4},
		ChildRusage: buildstatsgen.Rusage{Utime: 80.12, Stime: 9.51, MaxRSS: 301234, MinFlt: 2345678, MajFlt: 11, InBlock: 2048, OuBlock: 102400, Nvcsw: 40123, Nivcsw: 5012},
	})
	if got != string(want) {
		t.Errorf("writer output differs from the hand-typed file:\n--- got\n%s--- want\n%s", got, want)
	}
	bs := buildstatsgen.BuildStartedText(1764000000, "Linux", "buildhost", "6.1.0-28-amd64", "", "x86_64") + buildstatsgen.BuildCompletedText(174, 3.4)
	wantBS := "Host Info: Linux buildhost 6.1.0-28-amd64 x86_64 \nBuild Started: 1764000000.00 \nElapsed time: 174.00 seconds \nCPU usage: 3.4% \n"
	if bs != wantBS {
		t.Errorf("build_stats text:\n%q\nwant\n%q", bs, wantBS)
	}
	if !bytes.HasSuffix(want, []byte("Ended: 1764000122.75 \n")) || !strings.Contains(string(want), "Status: PASSED \n") {
		t.Fatal("golden file lost its trailing spaces")
	}
}
