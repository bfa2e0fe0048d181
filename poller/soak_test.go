package poller

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// soakDuration bounds the kill loop of TestKillPollerDuringDeliveries.
const soakDuration = 12 * time.Second

// TestKillPollerDuringDeliveries is the poller half of the crash test of
// issue #18: the real xtpoll command (built from cmd/xtpoll) polls three
// real repositories that keep receiving pushes, and posts to a local HTTP
// change hook; its whole process group (git children included, as systemd
// would) is SIGKILLed over and over, half the time from inside the change
// hook while a POST is being accepted, half the time at a random moment
// (fetch, journal, state). Then, pushes stopped, one `xtpoll -once` must
// deliver the rest. Asserted: no pushed commit is missing from the posts, at
// most one duplicate POST per kill, mirrors pass git fsck and equal their
// upstreams. The figures are in docs/reliability.md.
func TestKillPollerDuringDeliveries(t *testing.T) {
	goTool := testenv.LookPath(t, "go", "golang-go")
	root := t.TempDir()
	bin := filepath.Join(root, "xtpoll")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/xtbuild/xtbuild/cmd/xtpoll")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build xtpoll: %v\n%s", err, out)
	}

	// Upstreams: bare repositories, each pushed to from a work clone, with
	// branches master and dev.
	const nrepos = 3
	var ups []string
	var works []map[string]*pusher // branch -> its work clone
	for i := range nrepos {
		up := filepath.Join(root, fmt.Sprintf("up%d.git", i))
		work := filepath.Join(root, fmt.Sprintf("work%d", i))
		newUpstream(t, work)
		gitc(t, work, "branch", "dev")
		gitc(t, root, "clone", "-q", "--bare", work, up)
		w := map[string]*pusher{}
		for _, b := range []string{"master", "dev"} {
			dir := filepath.Join(root, fmt.Sprintf("work%d-%s", i, b))
			gitc(t, root, "clone", "-q", "-b", b, up, dir)
			w[b] = newPusher(t, dir, b)
		}
		ups, works = append(ups, up), append(works, w)
	}
	rcv := newChangeReceiver(t)
	cfg := filepath.Join(root, "xtpoll.toml")
	toml := "basedir = " + tomlString(filepath.Join(root, "mirrors")) + "\npoll_interval = '50ms'\ntimeout = '20s'\n" +
		"[[change_hook]]\nname = 'bb'\nurl = " + tomlString(rcv.URL) + "\nretries = 5\nretry_delay = '20ms'\n"
	for _, up := range ups {
		toml += "[[repo]]\nurl = " + tomlString(up) + "\n"
	}
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"-config", cfg, "-log-level", "warn"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	if out, err := run("-once").CombinedOutput(); err != nil {
		t.Fatalf("baseline: %v\n%s", err, out)
	}

	// Pushes: 1-3 commits with 32 KiB of fresh data each on master or dev,
	// now and then a new tag; every commit is expected as a change of its
	// branch, every tag as a change named after it.
	var mu sync.Mutex
	want := map[string]bool{} // "branch rev"
	stop := make(chan struct{})
	pushErr := make(chan error, 1)
	var pushes int
	var pushers sync.WaitGroup
	for i := range nrepos {
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for n := 0; ; {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(mrand.IntN(100)) * time.Millisecond):
				}
				branch := []string{"master", "dev"}[mrand.IntN(2)]
				pu := works[i][branch]
				revs, err := pu.push(1+mrand.IntN(3), &n)
				if err == nil && mrand.IntN(6) == 0 {
					tag := fmt.Sprintf("t%d-%d", i, n)
					if err = gitRun(pu.dir, "tag", tag, revs[len(revs)-1]); err == nil {
						err = gitRun(pu.dir, "push", "-q", "origin", tag)
					}
					mu.Lock()
					want[tag+" "+revs[len(revs)-1]] = err == nil
					mu.Unlock()
				}
				if err != nil {
					select {
					case pushErr <- err:
					default:
					}
					return
				}
				mu.Lock()
				for _, r := range revs {
					want[branch+" "+r] = true
				}
				pushes++
				mu.Unlock()
			}
		}()
	}

	// Kills.
	var cur atomic.Int64    // process group of the running poller
	var killAt atomic.Int64 // kill when the receiver has recorded this many posts
	var inPost atomic.Int64
	rcv.mu.Lock()
	rcv.hook = func(n int) {
		if int64(n) == killAt.Load() {
			if pg := cur.Load(); pg > 0 {
				syscall.Kill(-int(pg), syscall.SIGKILL) // the master took it; no reply
				inPost.Add(1)
			}
		}
	}
	rcv.mu.Unlock()
	kills := 0
	deadline := time.Now().Add(soakDuration)
	for time.Now().Before(deadline) {
		cmd := run()
		var dbg safeBuffer
		cmd.Stderr = &dbg
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cur.Store(int64(cmd.Process.Pid))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Half the time: kill from the change hook while it accepts the
		// next POST or the one after (or after 5 s if none comes); else at
		// a random moment.
		wait := time.Duration(100+mrand.IntN(2000)) * time.Millisecond
		if mrand.IntN(2) == 0 {
			killAt.Store(int64(len(rcv.got()) + 1 + mrand.IntN(2)))
			wait = 5 * time.Second
		}
		start := time.Now()
		var err error
		select {
		case err = <-done:
		case <-time.After(wait):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		killAt.Store(0)
		cur.Store(0)
		wait = time.Since(start).Round(time.Millisecond)
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("poller ended by itself (%v) instead of being killed", err)
		}
		kills++
		if testing.Verbose() {
			t.Logf("kill %d after %v, %d posts so far; poller log: %s", kills, wait, len(rcv.got()), tail(dbg.Bytes(), 300))
		}
	}
	close(stop)
	pushers.Wait()
	select {
	case err := <-pushErr:
		t.Fatalf("push: %v", err)
	default:
	}

	// Recovery: one run delivers everything that is left.
	if out, err := run("-once").CombinedOutput(); err != nil {
		t.Fatalf("xtpoll -once after %d kills: %v\n%s", kills, err, out)
	}
	counts := map[string]int{}
	for _, p := range rcv.got() {
		counts[strings.TrimSpace(p)]++
	}
	lost, dups, unexpected := 0, 0, 0
	for k := range want {
		if counts[k] == 0 {
			lost++
			t.Errorf("lost: %s", k)
		}
	}
	for k, n := range counts {
		if !want[k] {
			unexpected++
			t.Errorf("posted but never pushed: %s", k)
		}
		dups += n - 1
	}
	t.Logf("%d s, %d repositories, %d pushes of %d changes, %d kills (%d while the master accepted a POST), %d POSTs: %d lost, %d duplicates",
		int(soakDuration.Seconds()), nrepos, pushes, len(want), kills, inPost.Load(), len(rcv.got()), lost, dups)
	if dups > kills {
		t.Errorf("%d duplicate POSTs for %d kills: more than one per kill", dups, kills)
	}
	if kills < 3 || len(want) < 10 {
		t.Errorf("too little happened to prove anything: %d kills, %d changes", kills, len(want))
	}
	for i, up := range ups {
		m := filepath.Join(root, "mirrors", filepath.Base(up))
		if out, err := exec.Command("git", "--git-dir", m, "fsck", "--no-dangling").CombinedOutput(); err != nil {
			t.Errorf("mirror %d: git fsck: %v\n%s", i, err, out)
		}
		if a, b := gitc(t, up, "for-each-ref"), gitc(t, m, "for-each-ref"); a != b {
			t.Errorf("mirror %d differs from its upstream:\n%s\n---\n%s", i, b, a)
		}
	}
}

// pusher commits to one branch of a work clone in process (go-git: the
// machine is shared, process starts are what is slow) and pushes with git.
type pusher struct {
	dir, branch string
	repo        *git.Repository
}

func newPusher(t *testing.T, dir, branch string) *pusher {
	r, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &pusher{dir: dir, branch: branch, repo: r}
}

// push makes n commits, each adding 32 KiB of random data, and pushes the
// branch; it returns the new commit ids.
func (p *pusher) push(n int, seq *int) ([]string, error) {
	wt, err := p.repo.Worktree()
	if err != nil {
		return nil, err
	}
	var revs []string
	for range n {
		*seq++
		data := make([]byte, 32<<10)
		rand.Read(data)
		name := fmt.Sprintf("f%d.bin", *seq)
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
			return nil, err
		}
		if _, err := wt.Add(name); err != nil {
			return nil, err
		}
		sig := &object.Signature{Name: "Ada Author", Email: "ada@example.org", When: time.Now()}
		h, err := wt.Commit("change "+name, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			return nil, err
		}
		revs = append(revs, h.String())
	}
	return revs, gitRun(p.dir, "push", "-q", "origin", p.branch)
}

// gitRun runs git in dir; safe to call from any goroutine.
func gitRun(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
