package layers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
)

// setup makes n upstream repos and a config listing them as layers.
func setup(t *testing.T, n int, extra string) (*config.Config, []*gittest.Repo, string) {
	t.Helper()
	root := t.TempDir()
	var repos []*gittest.Repo
	var b strings.Builder
	for i := 0; i < n; i++ {
		name := "meta-" + string(rune('a'+i))
		r := gittest.New(t, filepath.Join(root, "upstream", name), "main")
		repos = append(repos, r)
		b.WriteString("[[layer]]\nname = \"" + name + "\"\nurl = \"" + r.Dir + "\"\nbranch = \"main\"\nsublayers = [\".\"]\n\n")
	}
	b.WriteString(extra)
	work := filepath.Join(root, "work")
	os.MkdirAll(work, 0o755)
	c, err := config.Parse(filepath.Join(work, "xtbuild.toml"), []byte(b.String()), work, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, repos, root
}

func head(t *testing.T, dir string) string { return gittest.Git(t, dir, "rev-parse", "HEAD") }

func TestSyncClonesThenNoop(t *testing.T) {
	c, repos, _ := setup(t, 3, "")
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Action != "cloned" || r.Commit != repos[i].Head() || head(t, r.Dir) != repos[i].Head() {
			t.Errorf("%s: %+v (upstream %s)", r.Name, r, repos[i].Head())
		}
	}
	res, err = Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != "unchanged" {
			t.Errorf("second sync of %s: %s", r.Name, r.Action)
		}
	}
	// Upstream moves: the layer follows its branch.
	moved := repos[1].Commit("recipes/x.bb", "SUMMARY = \"x\"\n", "add x")
	res, err = Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Action != "updated" || head(t, res[1].Dir) != moved || res[0].Action != "unchanged" {
		t.Errorf("after upstream move: %+v", res)
	}
}

func TestMissingBranchIsAnError(t *testing.T) {
	c, _, _ := setup(t, 1, "")
	c.Layers[0].Branch = "stable-42"
	_, err := Sync(context.Background(), c, Options{})
	if err == nil || !strings.Contains(err.Error(), `branch "stable-42" does not exist in`) || !strings.Contains(err.Error(), "(it has: main)") {
		t.Fatalf("error = %v", err)
	}
	if _, statErr := os.Stat(c.LayerDir(c.Layers[0])); !os.IsNotExist(statErr) {
		t.Error("failed clone left a directory behind")
	}
	// Same on an existing checkout: no silent fallback to another branch.
	c.Layers[0].Branch = "main"
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		t.Fatal(err)
	}
	c.Layers[0].Branch = "stable-42"
	if _, err := Sync(context.Background(), c, Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("existing checkout, missing branch: %v", err)
	}
}

func TestLocalChangesAreNeverDiscardedSilently(t *testing.T) {
	c, repos, _ := setup(t, 1, "")
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		t.Fatal(err)
	}
	dir := c.LayerDir(c.Layers[0])
	os.WriteFile(filepath.Join(dir, "conf/layer.conf"), []byte("# my local fix\n"), 0o644)
	repos[0].Commit("README", "new\n", "upstream change")
	_, err := Sync(context.Background(), c, Options{})
	if err == nil || !strings.Contains(err.Error(), "local changes in") || !strings.Contains(err.Error(), "conf/layer.conf") {
		t.Fatalf("error = %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "conf/layer.conf")); string(data) != "# my local fix\n" {
		t.Fatal("local change lost")
	}
	if _, err := Sync(context.Background(), c, Options{Force: true}); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if head(t, dir) != repos[0].Head() {
		t.Error("forced sync did not move")
	}
}

func TestLockedModeRefusesMismatch(t *testing.T) {
	c, repos, _ := setup(t, 2, "")
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lock := NewLock(c, res)
	first := repos[0].Head()
	repos[0].Commit("README", "later\n", "later")
	// Locked: stays at the locked commit although the branch moved.
	res, err = Sync(context.Background(), c, Options{Locked: true, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Commit != first || head(t, res[0].Dir) != first {
		t.Errorf("locked sync moved to %s", res[0].Commit)
	}
	// A lock that no longer matches the config is refused, naming why.
	c.Layers[1].URL = repos[0].Dir
	_, err = Sync(context.Background(), c, Options{Locked: true, Lock: lock})
	if err == nil || !strings.Contains(err.Error(), `layer "meta-b": url is`) || !strings.Contains(err.Error(), "re-lock") {
		t.Fatalf("stale lock error = %v", err)
	}
	if _, err := Sync(context.Background(), c, Options{Locked: true}); err == nil || !strings.Contains(err.Error(), "there is no lock file") {
		t.Fatalf("no lock error = %v", err)
	}
}

func TestPinnedCommitAndTag(t *testing.T) {
	c, repos, _ := setup(t, 2, "")
	pinned := repos[0].Head()
	repos[0].Commit("README", "after pin\n", "after pin")
	gittest.Git(t, repos[1].Dir, "tag", "-a", "-m", "release", "v1.0")
	tagged := repos[1].Head()
	repos[1].Commit("README", "after tag\n", "after tag")
	c.Layers[0].Commit = pinned
	c.Layers[1].Branch, c.Layers[1].Tag = "", "v1.0"
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Commit != pinned || res[1].Commit != tagged || head(t, res[1].Dir) != tagged {
		t.Errorf("pinned/tag: %+v want %s %s", res, pinned, tagged)
	}
	c.Layers[0].Commit = strings.Repeat("0", 39) + "1"
	if _, err := Sync(context.Background(), c, Options{}); err == nil || !strings.Contains(err.Error(), "not found in") {
		t.Errorf("unknown commit: %v", err)
	}
}

func TestLockRoundTrip(t *testing.T) {
	c, _, root := setup(t, 2, "")
	res, err := Sync(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "xtbuild.lock")
	l := NewLock(c, res)
	if wrote, err := l.Write(p); err != nil || !wrote {
		t.Fatal(wrote, err)
	}
	if wrote, _ := l.Write(p); wrote {
		t.Error("unchanged lock rewritten")
	}
	back, err := ReadLock(p)
	if err != nil || back.Stale(c.Layers) != "" || len(back.Layers) != 2 || back.Layers[1].Commit != res[1].Commit {
		t.Errorf("read back %+v %v", back, err)
	}
}

// A commit made on the detached checkout is held by no branch: moving the
// layer would orphan it, so sync refuses without XTBUILD_FORCE, naming it.
func TestLocalCommitIsNotOrphaned(t *testing.T) {
	c, repos, _ := setup(t, 1, "")
	if _, err := Sync(context.Background(), c, Options{}); err != nil {
		t.Fatal(err)
	}
	dir := c.LayerDir(c.Layers[0])
	os.WriteFile(filepath.Join(dir, "local.txt"), []byte("mine\n"), 0o644)
	gittest.Git(t, dir, "add", "local.txt")
	gittest.Git(t, dir, "commit", "-q", "-m", "my local work")
	mine := head(t, dir)
	repos[0].Commit("README", "upstream\n", "upstream moves")
	_, err := Sync(context.Background(), c, Options{})
	if err == nil || !strings.Contains(err.Error(), mine[:12]) || !strings.Contains(err.Error(), "XTBUILD_FORCE=1") {
		t.Fatalf("error = %v, want a refusal naming %s", err, mine[:12])
	}
	if head(t, dir) != mine {
		t.Fatal("HEAD moved away from the local commit")
	}
	if _, err := Sync(context.Background(), c, Options{Force: true}); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if head(t, dir) != repos[0].Head() {
		t.Error("forced sync did not move")
	}
}
