package poller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// changeReceiver is a local HTTP server that accepts buildbot base-dialect
// change POSTs and records them in arrival order ("branch revision").
type changeReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	posts []string
	hook  func(n int) // called after recording post n (1-based), before replying
}

func newChangeReceiver(t testing.TB) *changeReceiver {
	c := &changeReceiver{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.posts = append(c.posts, r.PostForm.Get("project")+" "+r.PostForm.Get("branch")+" "+r.PostForm.Get("revision"))
		n, hook := len(c.posts), c.hook
		c.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *changeReceiver) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.posts...)
}

// count returns how often revision rev was posted for branch.
func (c *changeReceiver) count(branch, rev string) int {
	n := 0
	for _, p := range c.got() {
		f := strings.Fields(p)
		if len(f) >= 2 && f[len(f)-2] == branch && f[len(f)-1] == rev {
			n++
		}
	}
	return n
}

// TestMirrorWithTruncatedPackIndexIsRepaired reproduces what a SIGKILL during
// go-git's fetch left behind (the pack index written in place, cut short,
// while the refs already named the new commit): every later delivery failed
// with "read commit ...: EOF". A new poller must verify the mirror, re-fetch
// it and deliver the commit once.
func TestMirrorWithTruncatedPackIndexIsRepaired(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	rcv := newChangeReceiver(t)
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "m"),
		Repos:       []RepoConfig{{URL: up}},
		ChangeHooks: []ChangeHookConfig{{Name: "bb", URL: rcv.URL, RetryDelay: Duration(1)}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCycle(t, p)
	c1 := commit(t, up, "big", map[string]string{"a.txt": strings.Repeat("payload\n", 4096), "b.txt": "b\n"})

	// The damage: objects fetched into a pack whose .idx is truncated, refs moved.
	mdir := cfg.Repos[0].GitDir
	before, _ := filepath.Glob(filepath.Join(mdir, "objects", "pack", "*.idx"))
	gitc(t, mdir, "-c", "transfer.unpackLimit=1", "fetch", "-q", "origin", "+refs/heads/*:refs/heads/*")
	after, _ := filepath.Glob(filepath.Join(mdir, "objects", "pack", "*.idx"))
	idx := slices.DeleteFunc(after, func(s string) bool { return slices.Contains(before, s) })
	if len(idx) != 1 {
		t.Fatalf("want one new pack index, got %v", idx)
	}
	fi, err := os.Stat(idx[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(idx[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ { // a restarted poller, then its next cycle
		p, err := New(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Cycle(context.Background())
		if err != nil || res.Failed != 0 {
			t.Fatalf("run %d after the damage: %+v, %v", run, res, err)
		}
	}
	if n := rcv.count("master", c1); n != 1 {
		t.Fatalf("commit delivered %d times, want 1; posts %q", n, rcv.got())
	}
	if out := gitc(t, mdir, "fsck", "--no-dangling"); strings.Contains(out, "error") {
		t.Fatalf("mirror still broken: %s", out)
	}
}

// TestStaleRefLockFromKilledFetchIsRemoved: a git fetch killed while it
// updated a ref leaves refs/heads/<name>.lock, and git then refuses every
// later fetch of that ref. A restarted poller removes the stale lock, and
// does not take the lock for damage worth a fresh clone.
func TestStaleRefLockFromKilledFetchIsRemoved(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	rcv := newChangeReceiver(t)
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "m"),
		Repos:       []RepoConfig{{URL: up}},
		ChangeHooks: []ChangeHookConfig{{Name: "bb", URL: rcv.URL, RetryDelay: Duration(1)}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCycle(t, p)
	p.Close()
	c1 := commit(t, up, "after the kill", nil)
	if err := os.WriteFile(filepath.Join(cfg.Repos[0].GitDir, "refs", "heads", "master.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if res := mustCycle(t, p); res.Failed != 0 || res.Cloned != 0 || rcv.count("master", c1) != 1 {
		t.Fatalf("after a stale lock: %+v, posts %q", res, rcv.got())
	}
}
