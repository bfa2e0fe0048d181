package buildstats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realBuild is a buildstats directory written by oe-core scarthgap's own
// buildstats class under real BitBake 2.8 (see testdata/real-scarthgap/README.md).
var realBuild = filepath.Join("..", "testdata", "real-scarthgap", "20261205085051")

// TestReadRealBuild: the host data oe-core writes beside the recipes is read
// as host data, and reduced_proc_pressure/ is not taken for a recipe.
func TestReadRealBuild(t *testing.T) {
	b, err := ReadBuild(context.Background(), realBuild)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Warnings) != 0 {
		t.Errorf("warnings on real buildstats: %q", b.Warnings)
	}
	pfs := map[string]int{}
	for _, task := range b.Tasks {
		pfs[task.PF]++
	}
	want := map[string]int{"toy-alpha-1.0-r0": 1, "toy-beta-1.0-r0": 1, "toy-gamma-1.0-r0": 1} // `bitbake -f -c work`: only do_work ran
	if len(pfs) != len(want) {
		t.Errorf("recipes %v, want %v", pfs, want)
	}
	for pf, n := range want {
		if pfs[pf] != n {
			t.Errorf("%s: %d tasks, want %d", pf, pfs[pf], n)
		}
	}
	h := b.Host
	if h == nil || h.Empty() {
		t.Fatal("no host data read")
	}
	if len(h.CPU) < 5 || len(h.Disk) < 5 || len(h.Memory) < 5 || len(h.DiskSpace) < 5 {
		t.Errorf("samples: cpu %d disk %d mem %d diskspace %d", len(h.CPU), len(h.Disk), len(h.Memory), len(h.DiskSpace))
	}
	for _, s := range h.CPU {
		sum := 0.0
		for _, v := range s.Values {
			if v < 0 || v > 1 {
				t.Fatalf("cpu sample %v out of range", s)
			}
			sum += v
		}
		if sum > 1.0001 {
			t.Fatalf("cpu sample %v sums to %v", s, sum)
		}
	}
	if m := h.Memory[0].Values; m[0] != 24683744 || len(m) != 6 {
		t.Errorf("first meminfo sample %v, want MemTotal 24683744", m)
	}
	if len(h.PSI["cpu"]) == 0 || len(h.PSI["io"]) == 0 || len(h.PSI["memory"]) != 0 {
		t.Errorf("pressure samples: cpu %d io %d memory %d", len(h.PSI["cpu"]), len(h.PSI["io"]), len(h.PSI["memory"]))
	}
	if _, ok := h.DiskSpace[0].Used["/dev/vda"]; !ok {
		t.Errorf("monitor_disk sample %v lacks /dev/vda", h.DiskSpace[0])
	}
	start, end := b.Start(), b.End()
	for _, s := range h.CPU {
		if s.Time < start-2 || s.Time > end+2 {
			t.Errorf("cpu sample at %v outside the build %v..%v", s.Time, start, end)
		}
	}
}

// TestHostDataDamage: a block cut short by a kill, a non-numeric value and a
// wrong column count are counted as unreadable samples; the good ones stay.
func TestHostDataDamage(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("reduced_proc_stat.log", "100\n0.5 0.25 0.0\n\n101\n0.5 x 0.1\n\n102\n0.1 0.1\n\n103\n0.2 0.2 0.2\n\n104\n")
	write("reduced_proc_pressure/io.log", "100\n1.0 2.0 3.0 400\n\n")
	write("monitor_disk.log", "100\n/dev/sda1: 1000\nmapper:vg-root: 20\n\n101\nbroken\n\n")
	h, err := ReadHost(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.CPU) != 2 || h.CPU[1].Time != 103 {
		t.Errorf("cpu samples %v", h.CPU)
	}
	if len(h.PSI["io"]) != 1 || h.PSI["io"][0].Values[3] != 400 {
		t.Errorf("io pressure %v", h.PSI["io"])
	}
	if len(h.DiskSpace) != 1 || h.DiskSpace[0].Used["mapper:vg-root"] != 20 {
		t.Errorf("disk space %v", h.DiskSpace)
	}
	got := strings.Join(h.Warnings, "; ")
	for _, w := range []string{"reduced_proc_stat.log: 3 unreadable samples", "monitor_disk.log: 1 unreadable samples"} {
		if !strings.Contains(got, w) {
			t.Errorf("warnings %q lack %q", got, w)
		}
	}
}

func TestMergeHostOrdersByTime(t *testing.T) {
	a := &Host{CPU: []Sample{{Time: 200, Values: []float64{1, 0, 0}}}, PSI: map[string][]Sample{"cpu": {{Time: 200}}}}
	b := &Host{CPU: []Sample{{Time: 100, Values: []float64{0, 1, 0}}}, PSI: map[string][]Sample{"cpu": {{Time: 100}}}}
	m := MergeHost([]*Host{a, nil, b})
	if len(m.CPU) != 2 || m.CPU[0].Time != 100 || m.PSI["cpu"][0].Time != 100 {
		t.Errorf("merged %+v", m)
	}
}
