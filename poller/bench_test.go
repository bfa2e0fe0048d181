package poller

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Benchmarks: one poll cycle over 60 local repositories, against what
// buildbot's GitPoller costs per repository, a sequential `git fetch`.
//
//	go test ./poller -run '^$' -bench . -benchtime 20x

func benchPoller(b *testing.B) (*Poller, []string) {
	_, ups, cfg, _ := sixtyRepos(b, 60)
	p, err := New(cfg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	mustCycle(b, p)
	return p, ups
}

func BenchmarkCycle60NoChange(b *testing.B) {
	p, _ := benchPoller(b)
	b.ResetTimer()
	for range b.N {
		if res := mustCycle(b, p); res.Fetched != 0 || res.Polled != 60 {
			b.Fatalf("cycle %+v", res)
		}
	}
	b.StopTimer()
	reportPeakRSS(b)
}

func BenchmarkCycle60OneChange(b *testing.B) {
	p, ups := benchPoller(b)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		commit(b, ups[i%len(ups)], "bench", nil)
		b.StartTimer()
		if res := mustCycle(b, p); res.Fetched != 1 || res.Events != 1 {
			b.Fatalf("cycle %+v", res)
		}
	}
	b.StopTimer()
	reportPeakRSS(b)
}

// sequentialFetch is the baseline: a `git clone --mirror` per repository
// and one `git fetch` after another, as one GitPoller per repo would do.
func sequentialMirrors(b *testing.B) ([]string, []string) {
	root := b.TempDir()
	var ups, mirrors []string
	for i := range 60 {
		up := filepath.Join(root, "up", strconv.Itoa(i))
		newUpstream(b, up)
		m := filepath.Join(root, "m", strconv.Itoa(i)+".git")
		gitc(b, root, "clone", "-q", "--mirror", up, m)
		ups, mirrors = append(ups, up), append(mirrors, m)
	}
	return ups, mirrors
}

func fetchAll(b *testing.B, mirrors []string) {
	for _, m := range mirrors {
		cmd := exec.CommandContext(context.Background(), "git", "--git-dir", m, "fetch", "-q", "--prune", "origin")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git fetch: %v\n%s", err, out)
		}
	}
}

func BenchmarkSequentialGitFetch60NoChange(b *testing.B) {
	_, mirrors := sequentialMirrors(b)
	b.ResetTimer()
	for range b.N {
		fetchAll(b, mirrors)
	}
}

func BenchmarkSequentialGitFetch60OneChange(b *testing.B) {
	ups, mirrors := sequentialMirrors(b)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		commit(b, ups[i%len(ups)], "bench", nil)
		b.StartTimer()
		fetchAll(b, mirrors)
	}
}

// reportPeakRSS reports the process's peak resident set (VmHWM).
func reportPeakRSS(b *testing.B) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			b.ReportMetric(float64(kb)/1024, "MiB-peak-RSS")
		}
	}
}
