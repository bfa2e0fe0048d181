package buildstats

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../testdata/buildstats"

func readFixture(t *testing.T, name string) *Build {
	t.Helper()
	builds, err := ReadDir(context.Background(), filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 1 {
		t.Fatalf("%s: %d builds, want 1", name, len(builds))
	}
	return builds[0]
}

func find(t *testing.T, b *Build, pf, task string) *Task {
	t.Helper()
	for i := range b.Tasks {
		if b.Tasks[i].PF == pf && b.Tasks[i].Name == task {
			return &b.Tasks[i]
		}
	}
	t.Fatalf("%s/%s not found", pf, task)
	return nil
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestFixtures(t *testing.T) {
	tests := []struct {
		name                    string
		tasks, setscene, failed int
		unfinished              int
		completed, io           bool
		elapsed                 float64
		failures                []Failure
	}{
		{name: "complete", tasks: 16, completed: true, io: true, elapsed: 174},
		{name: "failed", tasks: 10, failed: 1, completed: true, io: true, elapsed: 81,
			failures: []Failure{{PF: "busybox-1.36.1-r0", Task: "do_compile"}}},
		{name: "killed", tasks: 10, unfinished: 1, io: true},
		{name: "noio", tasks: 16, completed: true, elapsed: 174},
		{name: "setscene", tasks: 4, setscene: 4, completed: true, io: true, elapsed: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := readFixture(t, tc.name)
			if len(b.Warnings) > 0 {
				t.Errorf("warnings: %v", b.Warnings)
			}
			if len(b.Tasks) != tc.tasks {
				t.Fatalf("%d tasks, want %d", len(b.Tasks), tc.tasks)
			}
			var setscene, failed, unfinished, withIO, withCPU int
			for i := range b.Tasks {
				tk := &b.Tasks[i]
				if tk.Setscene() {
					setscene++
				}
				if tk.Status == StatusFailed {
					failed++
				}
				if !tk.Finished() {
					unfinished++
					continue
				}
				if tk.IO.Present {
					withIO++
				}
				if _, ok := tk.CPUSeconds(); ok {
					withCPU++
				}
				if d, ok := tk.Duration(); !ok || !tk.HasElapsed || !near(d, tk.Elapsed) {
					t.Errorf("%s/%s: duration %v (%v) vs elapsed %v", tk.PF, tk.Name, d, ok, tk.Elapsed)
				}
			}
			finished := tc.tasks - unfinished
			if setscene != tc.setscene || failed != tc.failed || unfinished != tc.unfinished || withCPU != finished {
				t.Errorf("setscene %d failed %d unfinished %d withCPU %d", setscene, failed, unfinished, withCPU)
			}
			if tc.io != (withIO == finished) || !tc.io && withIO != 0 {
				t.Errorf("%d of %d finished tasks have IO lines, want io=%v", withIO, finished, tc.io)
			}
			s := b.Summary
			if b.Completed() != tc.completed || tc.completed && !near(s.Elapsed, tc.elapsed) {
				t.Errorf("completed %v elapsed %v", b.Completed(), s.Elapsed)
			}
			if s.HostInfo != "Linux buildhost 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 x86_64" {
				t.Errorf("host info %q (trailing space must be trimmed)", s.HostInfo)
			}
			if len(s.Failures) != len(tc.failures) || len(tc.failures) > 0 && s.Failures[0] != tc.failures[0] {
				t.Errorf("failures %v, want %v", s.Failures, tc.failures)
			}
			if !near(b.Start(), s.Started) {
				t.Errorf("start %v, build_stats says %v", b.Start(), s.Started)
			}
		})
	}
}

func TestCompleteValues(t *testing.T) {
	b := readFixture(t, "complete")
	c := find(t, b, "busybox-1.36.1-r0", "do_compile")
	if !near(c.Started, 1764000062) || !near(c.Ended, 1764000122) || !near(c.Elapsed, 60) || c.Status != StatusPassed {
		t.Errorf("do_compile times %+v", c)
	}
	if cpu, _ := c.CPUSeconds(); math.Abs(cpu-90) > 1e-6 {
		t.Errorf("do_compile CPU %v, want 90 (60 s at 1.5 cores)", cpu)
	}
	if c.IO.ReadBytes != 4096*60 || c.IO.WriteBytes != 8192*60 || c.Rusage.MaxRSS != 61234 || c.ChildRusage.OuBlock != 2048 {
		t.Errorf("IO/rusage %+v %+v", c.IO, c.ChildRusage)
	}
	if c.BaseName() != "do_compile" || c.Setscene() {
		t.Error("do_compile is not a setscene task")
	}
	if len(b.Summary.RootfsSizes) != 1 || !strings.HasPrefix(b.Summary.RootfsSizes[0], "18M") {
		t.Errorf("rootfs sizes %q", b.Summary.RootfsSizes)
	}
	if !near(b.End(), 1764000174) {
		t.Errorf("end %v", b.End())
	}
	// Sorted by start, then PF, then name.
	if b.Tasks[0].PF != "busybox-1.36.1-r0" || b.Tasks[0].Name != "do_fetch" || b.Tasks[1].PF != "zlib-native-1.3.1-r0" {
		t.Errorf("order: %s/%s, %s/%s", b.Tasks[0].PF, b.Tasks[0].Name, b.Tasks[1].PF, b.Tasks[1].Name)
	}
}

func TestKilledTask(t *testing.T) {
	b := readFixture(t, "killed")
	k := find(t, b, "busybox-1.36.1-r0", "do_compile")
	if !k.HasStarted || k.HasEnded || k.HasElapsed || k.Status != StatusUnknown || k.Finished() {
		t.Errorf("killed task parsed as %+v", k)
	}
	if _, ok := k.CPUSeconds(); ok {
		t.Error("killed task has no CPU figures")
	}
	if _, ok := k.Duration(); ok {
		t.Error("killed task has no duration")
	}
	// Without BuildCompleted the build ends at the last event it recorded.
	if b.Completed() || !near(b.End(), 1764007200+62) {
		t.Errorf("completed %v end %v", b.Completed(), b.End())
	}
	b.EndHint = 1764007200 + 90
	if !near(b.End(), 1764007290) {
		t.Errorf("end with hint %v", b.End())
	}
}

func TestParseTaskLines(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*Task) bool
		warnings int
	}{
		{"trailing spaces and CRLF", "Event: TaskStarted \r\nStarted: 100.50 \r\nStatus: PASSED \r\nEnded: 110.25 \r\n",
			func(t *Task) bool { d, ok := t.Duration(); return ok && near(d, 9.75) && t.Status == StatusPassed }, 0},
		{"truncated mid-line", "Event: TaskStarted \nStarted: 100.00 \nx-1.0-r0: do_compile\nElapsed time: 5.00 seconds\nutime: 1",
			func(t *Task) bool { return t.HasElapsed && t.HasProcStat && t.Utime == 1 && !t.Finished() }, 0},
		{"only the end record (failed before TaskStarted)", "Status: FAILED \nEnded: 50.00 \n",
			func(t *Task) bool { return !t.HasStarted && t.HasEnded && t.Status == StatusFailed && t.Finished() }, 0},
		{"garbage", "Started: soon\nno colon here\nStatus: MAYBE\nIO read_bytes: many\n",
			func(t *Task) bool { return !t.HasStarted && t.Status == StatusUnknown && !t.IO.Present }, 4},
		{"unknown keys are not errors", "Started: 1.00 \nIO future_key: 7\nrusage ru_new: 3\nSomething new: 1\n",
			func(t *Task) bool { return t.HasStarted && !t.IO.Present && !t.Rusage.Present }, 0},
		{"ticks fallback for CPU", "utime: 100\nstime: 50\ncutime: 250\ncstime: 100\n",
			func(t *Task) bool { c, ok := t.CPUSeconds(); return ok && near(c, 5) }, 0},
		{"NaN rejected", "Started: nan\nEnded: inf\n", func(t *Task) bool { return !t.HasStarted && !t.HasEnded }, 2},
		{"ended before started", "Started: 10\nEnded: 5\nElapsed time: 3.00 seconds\n",
			func(t *Task) bool { d, ok := t.Duration(); return ok && near(d, 3) }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := ParseTaskBytes([]byte(tc.in), "x-1.0-r0", "do_compile")
			if !tc.check(&tk) {
				t.Errorf("parsed %+v", tk)
			}
			if tk.Warnings != tc.warnings {
				t.Errorf("%d warnings, want %d", tk.Warnings, tc.warnings)
			}
			viaReader, err := ParseTask(strings.NewReader(tc.in), "x-1.0-r0", "do_compile")
			if err != nil || viaReader != tk {
				t.Errorf("ParseTask differs from ParseTaskBytes: %+v, %v", viaReader, err)
			}
		})
	}
}

func TestSummaryLines(t *testing.T) {
	s := ParseSummary([]byte("Host Info: Linux h 6.1 x86_64 \nBuild Started: 1000.00 \nFailed at: glib-2.0-1_2.78.0-r0 at task: do_compile \n" +
		"Failed at: broken line\nElapsed time: 12.50 seconds \nCPU usage: 87.5% \n"))
	if s.HostInfo != "Linux h 6.1 x86_64" || !near(s.Started, 1000) || !near(s.Elapsed, 12.5) || !near(s.CPUUsage, 87.5) {
		t.Errorf("summary %+v", s)
	}
	if len(s.Failures) != 1 || s.Failures[0] != (Failure{PF: "glib-2.0-1_2.78.0-r0", Task: "do_compile"}) || s.Warnings != 1 {
		t.Errorf("failures %+v warnings %d", s.Failures, s.Warnings)
	}
}

// TestReadDirBase: the buildstats base with several BUILDNAMEs (a step that
// ran bitbake twice) gives one Build per directory, in name order; stray
// files (host_stats, reduced_proc_*) are ignored.
func TestReadDirBase(t *testing.T) {
	base := t.TempDir()
	for _, fx := range []string{"setscene", "complete"} {
		src := filepath.Join(fixtures, fx)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(filepath.Join(base, entries[0].Name()), os.DirFS(filepath.Join(src, entries[0].Name()))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "20251124160000", "reduced_proc_pressure.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	builds, err := ReadDir(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 2 || builds[0].Name != "20251124160000" || len(builds[0].Tasks) != 16 || len(builds[1].Tasks) != 4 {
		t.Fatalf("got %d builds", len(builds))
	}
}

func TestMissingSummary(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a-1-r0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a-1-r0", "do_fetch"), []byte("Event: TaskStarted \nStarted: 5.00 \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBuild(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.HasSummary || len(b.Warnings) != 1 || len(b.Tasks) != 1 || !near(b.Start(), 5) {
		t.Errorf("build %+v", b)
	}
	if _, err := ReadBuild(context.Background(), filepath.Join(dir, "nope")); err == nil {
		t.Error("a missing directory is an error")
	}
}

func FuzzParseTask(f *testing.F) {
	for _, fx := range []string{"complete/20251124160000/busybox-1.36.1-r0/do_compile", "killed/20251124180000/busybox-1.36.1-r0/do_compile",
		"setscene/20251125160000/busybox-1.36.1-r0/do_package_write_ipk_setscene", "noio/20251124190000/busybox-1.36.1-r0/do_install"} {
		data, err := os.ReadFile(filepath.Join(fixtures, fx))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("Started: 1e300\nEnded: -1e300\nutime: 99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk := ParseTaskBytes(data, "p-1-r0", "do_x")
		if d, ok := tk.Duration(); ok && (d < 0 || d != d) {
			t.Fatalf("negative or NaN duration %v", d)
		}
		if tk.HasStarted && math.Abs(tk.Started) > 1e15 {
			t.Fatalf("absurd start accepted: %v", tk.Started)
		}
		viaReader, err := ParseTask(strings.NewReader(string(data)), "p-1-r0", "do_x")
		if err == nil && viaReader != tk {
			t.Fatalf("reader and bytes parsers disagree")
		}
	})
}

func FuzzParseSummary(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(fixtures, "failed/20251124170000/build_stats"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := ParseSummary(data)
		for _, fl := range s.Failures {
			if strings.Contains(fl.PF, " at task: ") {
				t.Fatalf("failure PF not split: %q", fl.PF)
			}
		}
		if s.HasElapsed && s.Elapsed != s.Elapsed {
			t.Fatal("NaN elapsed")
		}
	})
}
