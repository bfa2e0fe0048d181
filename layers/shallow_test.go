package layers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
)

// history makes an upstream with n commits on main.
func history(t *testing.T, dir string, n int) *gittest.Repo {
	t.Helper()
	r := gittest.New(t, dir, "main")
	for i := 0; i < n; i++ {
		r.Commit(fmt.Sprintf("recipes/r%d.bb", i%7), fmt.Sprintf("PV = \"%d\"\n", i), fmt.Sprintf("c%d", i))
	}
	return r
}

// parse makes a config in work from TOML text.
func parse(t *testing.T, work, text string) *config.Config {
	t.Helper()
	os.MkdirAll(work, 0o755)
	p := filepath.Join(work, "xtbuild.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(p, []byte(text), work, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func commits(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	fmt.Sscan(gittest.Git(t, dir, "rev-list", "--count", "HEAD"), &n)
	return n
}

// A pinned layer is fetched as that one commit (depth 1), and a locked
// re-sync into a fresh build dir (what rebuild from a provenance does: it
// writes the provenance's commits as the lock) gets exactly those commits.
func TestPinnedShallowThenLockedResync(t *testing.T) {
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-x"), 30)
	pinned := gittest.Git(t, up.Dir, "rev-parse", "HEAD~10")
	follow := history(t, filepath.Join(root, "up", "meta-y"), 20)
	text := fmt.Sprintf("[[layer]]\nname = \"meta-x\"\nurl = %q\nbranch = \"main\"\ncommit = %q\nsublayers = [\".\"]\n\n[[layer]]\nname = \"meta-y\"\nurl = %q\nbranch = \"main\"\nsublayers = [\".\"]\n", up.Dir, pinned, follow.Dir)
	c := parse(t, filepath.Join(root, "a"), text)
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Fetch != "commit" || res[0].Commit != pinned || res[1].Fetch != "tip" {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if n := commits(t, r.Dir); n != 1 {
			t.Errorf("%s: %d commits fetched, want 1 (shallow)", r.Name, n)
		}
	}
	lock := NewLock(c, res)
	follow.Commit("README", "moved\n", "upstream moves after the lock")
	c2 := parse(t, filepath.Join(root, "b"), text)
	res2, err := Sync(context.Background(), c2, Options{Locked: true, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res2 {
		if r.Commit != res[i].Commit || head(t, r.Dir) != res[i].Commit {
			t.Errorf("%s: locked re-sync at %s, lock has %s", r.Name, r.Commit, res[i].Commit)
		}
	}
	// The locked commit of the branch-following layer is no longer its tip:
	// fetched by id all the same.
	if res2[1].Fetch != "commit" {
		t.Errorf("meta-y fetched by %q, want commit", res2[1].Fetch)
	}
	// XTBUILD_FULL_HISTORY keeps whole histories.
	c3 := parse(t, filepath.Join(root, "c"), text)
	res3, err := Sync(context.Background(), c3, Options{FullHistory: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := commits(t, res3[0].Dir); n != 21 || res3[0].Fetch != "full" {
		t.Errorf("full history: %d commits, fetched %q", n, res3[0].Fetch)
	}
}

// A server that refuses an unadvertised commit by id (protocol v0 without
// uploadpack.allowReachableSHA1InWant): a commit behind the branch tip is
// found by deepening the branch's shallow fetch; one on no followed branch
// takes a full fetch. Each result says which was used.
func TestPinnedFallbacks(t *testing.T) {
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
	t.Setenv("GIT_CONFIG_VALUE_0", "0")
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-x"), 5)
	gittest.Git(t, up.Dir, "checkout", "-q", "-b", "side")
	up.Commit("side1", "s\n", "side 1")
	up.Commit("side2", "s\n", "side 2")
	gittest.Git(t, up.Dir, "checkout", "-q", "main")
	for i, tc := range []struct{ rev, how string }{{"main", "commit"}, {"main~2", "ref"}, {"side~1", "full"}} {
		pinned := gittest.Git(t, up.Dir, "rev-parse", tc.rev)
		text := fmt.Sprintf("[[layer]]\nname = \"meta-x\"\nurl = %q\nbranch = \"main\"\ncommit = %q\nsublayers = [\".\"]\n", "file://"+up.Dir, pinned)
		c := parse(t, filepath.Join(root, fmt.Sprint(i)), text)
		res, err := Sync(context.Background(), c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Fetch != tc.how || head(t, res[0].Dir) != pinned {
			t.Errorf("%s: fetched by %q at %s, want %q at %s", tc.rev, res[0].Fetch, head(t, res[0].Dir), tc.how, pinned)
		}
	}
}

// storeConfig is n layers (one with history) sharing the store at cache.
func storeConfig(t *testing.T, root string) (string, []*gittest.Repo) {
	t.Helper()
	var b strings.Builder
	var ups []*gittest.Repo
	for i, n := range []int{40, 1, 1} {
		r := history(t, filepath.Join(root, "up", fmt.Sprintf("meta-%d", i)), n)
		ups = append(ups, r)
		fmt.Fprintf(&b, "[[layer]]\nname = \"meta-%d\"\nurl = %q\nbranch = \"main\"\ncommit = %q\nsublayers = [\".\"]\n\n", i, r.Dir, r.Head())
	}
	fmt.Fprintf(&b, "[paths]\ngit_cache = %q\n", filepath.Join(root, "cache"))
	return b.String(), ups
}

// ownObjects counts the objects a checkout holds itself (not borrowed).
func ownObjects(t *testing.T, dir string) string {
	t.Helper()
	return gittest.Git(t, dir, "count-objects", "-v")
}

// Two builds in two build dirs sharing the store at the same time (two
// processes): both succeed, both borrow, the store has one mirror per layer.
func TestSharedStoreTwoBuildsAtOnce(t *testing.T) {
	root := t.TempDir()
	text, ups := storeConfig(t, root)
	var paths []string
	var cs []*config.Config
	for _, w := range []string{"a", "b"} {
		c := parse(t, filepath.Join(root, w), text)
		cs = append(cs, c)
		paths = append(paths, filepath.Join(root, w, "xtbuild.toml"))
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = helper(context.Background(), paths[i]).CombinedOutput()
		}()
	}
	wg.Wait()
	want := map[string]string{}
	for i, r := range ups {
		want[fmt.Sprintf("meta-%d", i)] = r.Head()
	}
	for i, c := range cs {
		if errs[i] != nil {
			t.Fatalf("build %d: %v\n%s", i, errs[i], outs[i])
		}
		if err := verifyLayers(t, c, want); err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		for _, l := range c.Layers {
			dir := c.LayerDir(l)
			alt, err := os.ReadFile(filepath.Join(dir, ".git", "objects", "info", "alternates"))
			if err != nil || !strings.HasPrefix(string(alt), filepath.Join(root, "cache")) {
				t.Errorf("%s does not borrow from the store: %q %v", dir, alt, err)
			}
			if cnt := "\n" + ownObjects(t, dir) + "\n"; !strings.Contains(cnt, "\ncount: 0\n") || !strings.Contains(cnt, "\nin-pack: 0\n") {
				t.Errorf("%s holds its own objects:\n%s", dir, cnt)
			}
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(root, "cache", "*.git"))
	if len(mirrors) != 3 {
		t.Errorf("store has %v, want 3 mirrors", mirrors)
	}
}

// The store's mirror loses the branch (force-push, fetch --prune) and is
// garbage-collected: the checkout keeps working, because a pin ref holds
// what it borrows. Then the mirror is deleted outright: the next sync sees
// it (even on the warm path) and fetches it again.
func TestPrunedMirrorDoesNotBreakCheckout(t *testing.T) {
	root := t.TempDir()
	text, ups := storeConfig(t, root)
	c := parse(t, filepath.Join(root, "a"), text)
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		t.Fatal(err)
	}
	dir := c.LayerDir(c.Layers[0])
	alt, _ := os.ReadFile(filepath.Join(dir, ".git", "objects", "info", "alternates"))
	mirror := filepath.Dir(strings.TrimSpace(string(alt)))
	// Upstream rewrites history; the mirror follows with --prune and gc.
	gittest.Git(t, ups[0].Dir, "reset", "-q", "--hard", "HEAD~20")
	ups[0].Commit("other", "rewritten\n", "rewritten history")
	gittest.Git(t, mirror, "fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/heads/*")
	gittest.Git(t, mirror, "reflog", "expire", "--expire=now", "--all")
	gittest.Git(t, mirror, "gc", "-q", "--prune=now")
	checkReadable := func(when string) {
		t.Helper()
		for _, args := range [][]string{{"fsck", "--connectivity-only"}, {"status", "--porcelain"}, {"log", "--oneline", "HEAD"}} {
			cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil || (args[0] == "status" && len(out) > 0) {
				t.Fatalf("%s: git %v: %v\n%s", when, args, err, out)
			}
		}
	}
	checkReadable("after prune and gc of the mirror")
	if res, err := Sync(context.Background(), c, Options{}); err != nil || res[0].Action != "unchanged" {
		t.Fatalf("sync after prune: %+v %v", res, err)
	}
	// The mirror disappears altogether.
	if err := os.RemoveAll(mirror); err != nil {
		t.Fatal(err)
	}
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatalf("sync after the mirror was deleted: %v", err)
	}
	if res[0].Fetch != "commit" {
		t.Errorf("deleted mirror not fetched again: %+v", res[0])
	}
	checkReadable("after the mirror was deleted and synced")
}

// Two upstreams whose URLs end alike (".../a/repo", ".../b/repo") get two
// mirrors, even when synced at the same time.
func TestStoreKeepsLookalikeURLsApart(t *testing.T) {
	root := t.TempDir()
	var b strings.Builder
	var ups []*gittest.Repo
	for _, n := range []string{"a", "b", "c"} {
		r := history(t, filepath.Join(root, "up", n, "repo"), 2)
		ups = append(ups, r)
		fmt.Fprintf(&b, "[[layer]]\nname = %q\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n\n", n, "file://"+r.Dir, r.Head())
	}
	fmt.Fprintf(&b, "[paths]\ngit_cache = %q\n", filepath.Join(root, "cache"))
	c := parse(t, filepath.Join(root, "w"), b.String())
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if head(t, r.Dir) != ups[i].Head() {
			t.Errorf("%s at %s, want %s", r.Name, head(t, r.Dir), ups[i].Head())
		}
	}
	if m, _ := filepath.Glob(filepath.Join(root, "cache", "*.git")); len(m) != 3 {
		t.Errorf("mirrors %v, want 3", m)
	}
}

// The warm no-op of a pinned layer in a build dir that borrows from the
// store runs no git at all, also when the mirror holds only loose objects
// (a small fetch is unpacked, and the mirror has no objects/pack).
func TestStoreWarmNoopRunsNoGit(t *testing.T) {
	testenvGit(t)
	root := t.TempDir()
	up := history(t, filepath.Join(root, "up", "meta-s"), 3)
	text := fmt.Sprintf("[[layer]]\nname = \"s\"\nurl = %q\ncommit = %q\nsublayers = [\".\"]\n\n[paths]\ngit_cache = %q\n", up.Dir, up.Head(), filepath.Join(root, "cache"))
	c := parse(t, filepath.Join(root, "work"), text)
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		t.Fatal(err)
	}
	log := logGit(t)
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != "unchanged" {
		t.Errorf("action %q", res[0].Action)
	}
	if data, _ := os.ReadFile(log); len(data) > 0 {
		t.Errorf("the warm no-op ran git:\n%s", data)
	}
}
