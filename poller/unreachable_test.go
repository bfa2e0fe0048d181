package poller

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangingServer accepts connections and never answers: a git host that is
// down behind a firewall dropping packets.
func hangingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String() + "/hang.git"
}

func TestUnreachableRepoDoesNotBlockOthers(t *testing.T) {
	root, ups, cfg, log := sixtyRepos(t, 10)
	cfg.Repos = append(cfg.Repos,
		RepoConfig{URL: hangingServer(t), GitDir: filepath.Join(root, "mirrors", "hang.git"), Name: "hang"},
		RepoConfig{URL: filepath.Join(root, "does-not-exist"), GitDir: filepath.Join(root, "mirrors", "gone.git"), Name: "gone"})
	cfg.Parallel = 2 // the hanging repo holds one slot; one is left for all the rest
	cfg.PollInterval = Duration(100 * time.Millisecond)
	cfg.Timeout = Duration(20 * time.Second)
	cfg.MaxBackoff = Duration(time.Minute)
	validated(t, cfg)
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Wait for the baseline of every reachable repository.
	waitFor(t, 10*time.Second, "baseline", func() bool {
		n := 0
		for _, up := range ups {
			if _, ok := p.state.Delivered(filepath.Join(root, "mirrors", filepath.Base(up)+".git"), "rec"); ok {
				n++
			}
		}
		return n == len(ups)
	})
	start := time.Now()
	c := commit(t, ups[3], "pushed while a host hangs", nil)
	waitFor(t, 5*time.Second, "event from a healthy repo", func() bool {
		return strings.Contains(strings.Join(readLines(t, log), "\n"), c)
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("event took %v", took)
	}
	// Let the unreachable repo fail for a while: polled every 100 ms it
	// would fail ~20 times in 2 s; backing off (100, 200, 400, 800 ms, ...)
	// only about 5 times.
	time.Sleep(2 * time.Second)
	gone := p.repos[filepath.Join(root, "mirrors", "gone.git")]
	gone.mu.Lock()
	failures, next := gone.failures, time.Until(gone.next)
	gone.mu.Unlock()
	if failures < 3 || failures > 8 {
		t.Fatalf("unreachable repo: %d failures (next try in %v); want a doubling backoff", failures, next)
	}
	hang := p.repos[filepath.Join(root, "mirrors", "hang.git")]
	hang.mu.Lock()
	busy := hang.busy
	hang.mu.Unlock()
	if !busy {
		t.Fatal("the hanging repo should still be stuck in its poll (20 s timeout)")
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {7, 60 * time.Minute}, {50, 60 * time.Minute}}
	for _, tt := range tests {
		if got := backoff(time.Minute, time.Hour, tt.failures); got != tt.want {
			t.Errorf("backoff(1m, 1h, %d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}
