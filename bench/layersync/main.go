// Command layersync runs layers.Sync on a config file and prints the wall
// time, the CPU time of the process and of its git children, and the peak
// resident set of the process and of its largest git child (a child's
// includes the pages it shares with xtbuild until it execs git);
// bench/layers.sh drives it.
//
//	go run ./bench/layersync CONFIG [full]
//
// CPUPROFILE=FILE writes a Go CPU profile of the sync (go tool pprof).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/layers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path := os.Args[1]
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := config.Parse(path, data, filepath.Dir(path), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err := config.LoadOptions(os.Getenv) // XTBUILD_JOBS, as the mage targets read it
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if p := os.Getenv("CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
	}
	start := time.Now()
	res, err := layers.Sync(ctx, c, layers.Options{Jobs: env.Jobs, FullHistory: len(os.Args) > 2 && os.Args[2] == "full"})
	took := time.Since(start)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	how := map[string]int{}
	for _, r := range res {
		how[r.Action+"/"+r.Fetch]++
	}
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	fmt.Printf("%.3f s  cpu %.2f s (sys %.2f) + git %.2f s  self-peak-RSS %d MiB  largest-git-child-RSS %d MiB  %v\n",
		took.Seconds(), cpu(self), float64(self.Stime.Nano())/1e9, cpu(kids), hwm()/1024, kids.Maxrss/1024, how)
}

// cpu is user plus system time in seconds.
func cpu(r syscall.Rusage) float64 {
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
}

func hwm() int {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
