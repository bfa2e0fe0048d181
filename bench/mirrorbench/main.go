// Command mirrorbench drives the mirror package for bench/mirror.sh:
//
//	mirrorbench populate DL_DIR MIRROR
//	mirrorbench verify MIRROR
//	mirrorbench serve MIRROR ADDR          (until SIGINT/SIGTERM)
//	mirrorbench fetch [-c N] [-n PASSES] INDEX BASEURL
//
// fetch is the load generator used against both xtbuild's server and
// nginx: it downloads every file named in INDEX (a SHA256SUMS file) PASSES
// times over N keep-alive connections and prints the bytes it received.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/mirror"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "populate":
		need(4)
		var st mirror.Stats
		st, err = mirror.Populate(ctx, os.Args[2], os.Args[3], mirror.Options{})
		if err == nil {
			fmt.Printf("%d added, %d unchanged\n", st.Added, st.Unchanged)
		}
	case "verify":
		need(3)
		var rep mirror.Report
		rep, err = mirror.Verify(ctx, os.Args[2])
		for _, p := range rep.Problems {
			fmt.Println(p)
		}
	case "serve":
		need(4)
		var srv *mirror.Server
		if srv, err = mirror.Listen(os.Args[2], os.Args[3], nil); err == nil {
			err = srv.Serve(ctx)
		}
	case "fetch":
		err = fetch(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mirrorbench:", err)
		os.Exit(1)
	}
}

func need(n int) {
	if len(os.Args) != n {
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mirrorbench populate DL MIRROR | verify MIRROR | serve MIRROR ADDR | fetch [-c N] [-n PASSES] INDEX BASEURL")
	os.Exit(2)
}

func fetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ExitOnError)
	conc := fs.Int("c", 4, "concurrent connections")
	passes := fs.Int("n", 1, "times every file is downloaded")
	fs.Parse(args)
	if fs.NArg() != 2 {
		usage()
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	idx, err := mirror.ParseIndex(data)
	if err != nil {
		return err
	}
	base := fs.Arg(1)
	tr := &http.Transport{MaxIdleConnsPerHost: *conc, DisableCompression: true}
	client := &http.Client{Transport: tr}
	jobs := make(chan string)
	var total atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for name := range jobs {
				n, err := get(ctx, client, base+name, buf)
				total.Add(n)
				if err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	start := time.Now()
	names := idx.Names()
	for range *passes {
		for _, n := range names {
			jobs <- n
		}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%d bytes in %.3f s = %.1f MiB/s\n", total.Load(), el.Seconds(), float64(total.Load())/el.Seconds()/(1<<20))
	return firstErr
}

func get(ctx context.Context, c *http.Client, url string, buf []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}
