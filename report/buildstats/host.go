package buildstats

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Host data: besides one directory per recipe, oe-core's buildstats class
// (meta/lib/buildstats.py, SystemStats, dunfell and later) samples the build
// host about once a second and appends to files in the <BUILDNAME>
// directory. Each file is a series of blocks separated by a blank line; a
// block is the sample's epoch time ("%.0f") on its first line, then the data:
//
//	reduced_proc_stat.log       user system iowait            (fractions of all CPU time since the last sample)
//	reduced_proc_diskstats.log  read write util               (read/write are KiB/s × 100 as buildstats computes them, util 0..1)
//	reduced_proc_meminfo.log    MemTotal MemFree Buffers Cached SwapTotal SwapFree  (kB)
//	reduced_proc_pressure/{cpu,io,memory}.log  avg10 avg60 avg300 delta  (/proc/pressure "some" line; delta is µs stalled since the last sample)
//	monitor_disk.log            one "<device>: <bytes used>" line per device BB_DISKMON_DIRS watches
//
// pybootchartgui (scripts/pybootchartgui) draws these as the CPU, disk,
// pressure, disk-space and memory charts; the report does the same.

// HostDataDir is the directory of pressure logs; it is host data, not a recipe.
const HostDataDir = "reduced_proc_pressure"

// Sample is one timed sample: Time in epoch seconds, Values in the column
// order of its file.
type Sample struct {
	Time   float64
	Values []float64
}

// DiskUsage is one monitor_disk.log sample: bytes used per watched device.
type DiskUsage struct {
	Time float64
	Used map[string]float64
}

// Host is the host data of one <BUILDNAME> directory. Series that the host
// or the release did not record are empty.
type Host struct {
	CPU       []Sample // user, system, iowait
	Disk      []Sample // read, write (KiB/s × 100), util
	Memory    []Sample // MemTotal, MemFree, Buffers, Cached, SwapTotal, SwapFree (kB)
	PSI       map[string][]Sample
	DiskSpace []DiskUsage
	// Warnings names blocks that could not be read (a sample cut short by a
	// killed build is the usual one).
	Warnings []string
}

// Empty reports whether no host data was recorded.
func (h *Host) Empty() bool {
	if h == nil {
		return true
	}
	n := len(h.CPU) + len(h.Disk) + len(h.Memory) + len(h.DiskSpace)
	for _, s := range h.PSI {
		n += len(s)
	}
	return n == 0
}

// PSIResources are the /proc/pressure resources buildstats records, in the
// order the report draws them.
var PSIResources = []string{"cpu", "io", "memory"}

// hostFile names a columnar host-data file and how many columns a sample has.
type hostFile struct {
	name    string
	columns int
	dst     func(h *Host) *[]Sample
}

var hostFiles = []hostFile{
	{"reduced_proc_stat.log", 3, func(h *Host) *[]Sample { return &h.CPU }},
	{"reduced_proc_diskstats.log", 3, func(h *Host) *[]Sample { return &h.Disk }},
	{"reduced_proc_meminfo.log", 6, func(h *Host) *[]Sample { return &h.Memory }},
}

// ReadHost reads the host data of one <BUILDNAME> directory. A missing file
// is no error (the host or release did not record it); an unreadable one is.
func ReadHost(dir string) (*Host, error) {
	h := &Host{PSI: map[string][]Sample{}}
	read := func(rel string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read host data %s: %w", rel, err)
		}
		return b, true, nil
	}
	for _, f := range hostFiles {
		b, ok, err := read(f.name)
		if err != nil {
			return nil, err
		}
		if ok {
			*f.dst(h) = parseColumns(b, f.columns, f.name, &h.Warnings)
		}
	}
	for _, res := range PSIResources {
		rel := filepath.Join(HostDataDir, res+".log")
		b, ok, err := read(rel)
		if err != nil {
			return nil, err
		}
		if ok {
			h.PSI[res] = parseColumns(b, 4, rel, &h.Warnings)
		}
	}
	b, ok, err := read("monitor_disk.log")
	if err != nil {
		return nil, err
	}
	if ok {
		h.DiskSpace = parseDiskUsage(b, &h.Warnings)
	}
	return h, nil
}

// blocks splits a host-data file into its timed blocks: the time line and the
// data lines of each. A trailing block without its blank line (the build was
// killed while writing) is still returned; the caller checks its shape.
func blocks(b []byte, fn func(no int, time float64, timeOK bool, lines []string)) {
	no := 0
	for len(b) > 0 {
		var block []byte
		if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
			block, b = b[:i], b[i+2:]
		} else {
			block, b = b, nil
		}
		block = bytes.Trim(block, "\n")
		if len(block) == 0 {
			continue
		}
		no++
		lines := strings.Split(string(block), "\n")
		t, err := strconv.ParseFloat(strings.TrimSpace(lines[0]), 64)
		fn(no, t, err == nil, lines[1:])
	}
}

func parseColumns(b []byte, columns int, name string, warnings *[]string) []Sample {
	var out []Sample
	bad := 0
	blocks(b, func(_ int, t float64, ok bool, lines []string) {
		if !ok || len(lines) != 1 {
			bad++
			return
		}
		fields := strings.Fields(lines[0])
		if len(fields) != columns {
			bad++
			return
		}
		vals := make([]float64, columns)
		for i, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				bad++
				return
			}
			vals[i] = v
		}
		out = append(out, Sample{Time: t, Values: vals})
	})
	if bad > 0 {
		*warnings = append(*warnings, fmt.Sprintf("%s: %d unreadable samples", name, bad))
	}
	return out
}

func parseDiskUsage(b []byte, warnings *[]string) []DiskUsage {
	var out []DiskUsage
	bad := 0
	blocks(b, func(_ int, t float64, ok bool, lines []string) {
		if !ok || len(lines) == 0 {
			bad++
			return
		}
		du := DiskUsage{Time: t, Used: make(map[string]float64, len(lines))}
		for _, l := range lines {
			// The device is everything before the last colon: a watched
			// directory's device name may itself hold a colon.
			i := strings.LastIndexByte(l, ':')
			if i <= 0 {
				bad++
				return
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(l[i+1:]), 64)
			if err != nil {
				bad++
				return
			}
			du.Used[l[:i]] = v
		}
		out = append(out, du)
	})
	if bad > 0 {
		*warnings = append(*warnings, fmt.Sprintf("monitor_disk.log: %d unreadable samples", bad))
	}
	return out
}

// MergeHost joins the host data of several builds (the bitbake runs of every
// step) into one set of series ordered by time.
func MergeHost(hs []*Host) *Host {
	out := &Host{PSI: map[string][]Sample{}}
	for _, h := range hs {
		if h == nil {
			continue
		}
		out.CPU = append(out.CPU, h.CPU...)
		out.Disk = append(out.Disk, h.Disk...)
		out.Memory = append(out.Memory, h.Memory...)
		out.DiskSpace = append(out.DiskSpace, h.DiskSpace...)
		for k, v := range h.PSI {
			out.PSI[k] = append(out.PSI[k], v...)
		}
		out.Warnings = append(out.Warnings, h.Warnings...)
	}
	byTime := func(s []Sample) {
		sort.SliceStable(s, func(i, j int) bool { return s[i].Time < s[j].Time })
	}
	byTime(out.CPU)
	byTime(out.Disk)
	byTime(out.Memory)
	for _, v := range out.PSI {
		byTime(v)
	}
	sort.SliceStable(out.DiskSpace, func(i, j int) bool { return out.DiskSpace[i].Time < out.DiskSpace[j].Time })
	return out
}
