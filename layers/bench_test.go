package layers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
)

// Benchmarks: 60 local layer repositories, as in an OpenXT build.
//
//	go test ./layers -run XXX -bench . -benchtime 5x -count 3
//
// BenchmarkSyncCold60 vs BenchmarkGitCloneSequential60 is go-git's parallel
// cold clone against C git cloning the same repos one after another; the
// Warm benchmarks are a re-run with nothing to do.

const benchRepos = 60

var (
	benchOnce sync.Once
	benchRoot string
	benchDirs []string
)

func benchUpstreams(b *testing.B) []string {
	benchOnce.Do(func() {
		var err error
		benchRoot, err = os.MkdirTemp("", "xtbuild-layers-bench-")
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < benchRepos; i++ {
			dir := filepath.Join(benchRoot, "up", fmt.Sprintf("meta-%02d", i))
			r := gittest.New(b, dir, "main")
			// A small layer: a few dozen recipes over a handful of commits.
			for c := 0; c < 5; c++ {
				for f := 0; f < 10; f++ {
					p := filepath.Join(dir, "recipes", fmt.Sprintf("r%d", f), fmt.Sprintf("r%d_%d.bb", f, c))
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, []byte(strings.Repeat("SUMMARY = \"recipe\"\nLICENSE = \"MIT\"\n", 20+c)), 0o644)
				}
				gittest.Git(b, dir, "add", "-A")
				gittest.Git(b, dir, "commit", "-q", "-m", "commit "+strconv.Itoa(c))
			}
			_ = r
			benchDirs = append(benchDirs, dir)
		}
	})
	return benchDirs
}

func benchConfig(b *testing.B, work string, pinned bool) *config.Config {
	var sb strings.Builder
	for i, d := range benchUpstreams(b) {
		fmt.Fprintf(&sb, "[[layer]]\nname = \"meta-%02d\"\nurl = %q\nbranch = \"main\"\nsublayers = [\".\"]\n", i, d)
		if pinned {
			fmt.Fprintf(&sb, "commit = %q\n", gittest.Git(b, d, "rev-parse", "HEAD"))
		}
	}
	c, err := config.Parse(filepath.Join(work, "xtbuild.toml"), []byte(sb.String()), work, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkSyncCold60(b *testing.B) {
	benchUpstreams(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := b.TempDir()
		c := benchConfig(b, work, false)
		b.StartTimer()
		if _, err := Sync(context.Background(), c, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	reportRSS(b)
}

func benchWarm(b *testing.B, pinned bool) {
	work := b.TempDir()
	c := benchConfig(b, work, pinned)
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Sync(context.Background(), c, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Action != "unchanged" {
			b.Fatalf("warm sync did work: %+v", res[0])
		}
	}
	reportRSS(b)
}

// BenchmarkSyncWarm60 follows branches: one fetch per repo finds nothing new.
func BenchmarkSyncWarm60(b *testing.B) { benchWarm(b, false) }

// BenchmarkSyncWarmPinned60 has every commit pinned (or locked): no fetch at all.
func BenchmarkSyncWarmPinned60(b *testing.B) { benchWarm(b, true) }

// BenchmarkGitCloneSequential60 is the C git baseline: `git clone` of each
// repo in turn (what a shell script or kas without parallelism does).
func BenchmarkGitCloneSequential60(b *testing.B) {
	ups := benchUpstreams(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := b.TempDir()
		b.StartTimer()
		for j, d := range ups {
			if out, err := exec.Command("git", "clone", "-q", "-b", "main", d, filepath.Join(work, fmt.Sprintf("meta-%02d", j))).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
	}
}

// BenchmarkGitFetchSequential60 is the C git warm baseline: `git fetch` in
// each existing clone.
func BenchmarkGitFetchSequential60(b *testing.B) {
	ups := benchUpstreams(b)
	work := b.TempDir()
	for j, d := range ups {
		exec.Command("git", "clone", "-q", "-b", "main", d, filepath.Join(work, fmt.Sprintf("meta-%02d", j))).Run()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ups {
			if out, err := exec.Command("git", "-C", filepath.Join(work, fmt.Sprintf("meta-%02d", j)), "fetch", "-q").CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
	}
}

// reportRSS records the process's peak resident set (VmHWM).
func reportRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			b.ReportMetric(float64(kb)/1024, "peakRSS-MiB")
		}
	}
}

// checkoutBenchRepo makes a one-commit repository of n recipe files of
// about 1 KiB in directories of 16, packed as a fetch leaves it.
func checkoutBenchRepo(b *testing.B, n int) (string, string) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "up")
	r := gittest.New(b, dir, "main")
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "recipes", fmt.Sprintf("d%d", i/16), fmt.Sprintf("r%d.bb", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("SUMMARY = \"recipe %d\"\nLICENSE = \"MIT\"\n", i), 24)), 0o644)
	}
	gittest.Git(b, dir, "add", "-A")
	gittest.Git(b, dir, "commit", "-q", "-m", "tree")
	gittest.Git(b, dir, "repack", "-a", "-d", "-q")
	return filepath.Join(dir, ".git"), r.Head()
}

// The in-process fresh checkout against `git checkout` of the same tree
// from the same objects, by tree size: where the process start saved stops
// paying for Go's slower inflate (maxFreshFiles).
//
//	go test ./layers -run XXX -bench Checkout -count 5
func BenchmarkCheckout(b *testing.B) {
	defer func(n int) { maxFreshFiles = n }(maxFreshFiles)
	maxFreshFiles = 1 << 30 // measure past the limit this benchmark sets
	for _, n := range []int{16, 64, 256, 1024} {
		objects, sha := checkoutBenchRepo(b, n)
		work, made := b.TempDir(), 0
		fresh := func() string {
			made++
			d := filepath.Join(work, strconv.Itoa(made))
			if err := initRepo(d, false, "file:///nowhere"); err != nil {
				b.Fatal(err)
			}
			os.MkdirAll(filepath.Join(d, ".git", "objects", "info"), 0o755)
			os.WriteFile(filepath.Join(d, ".git", "objects", "info", "alternates"), []byte(filepath.Join(objects, "objects")+"\n"), 0o644)
			return d
		}
		b.Run(fmt.Sprintf("files=%d/in-process", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := fresh()
				b.StartTimer()
				if err := checkoutFresh(context.Background(), objects, d, sha); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("files=%d/git-checkout", n), func(b *testing.B) {
			g := gitRunner{}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := fresh()
				b.StartTimer()
				if _, err := g.run(context.Background(), d, "checkout", "-q", "--detach", sha); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
