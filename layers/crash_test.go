package layers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

// The crash and interrupt tests re-run this test binary as a small setupoe:
// it loads the config named by XTBUILD_LAYERS_HELPER, syncs the layers with
// SIGINT/SIGTERM cancelling the context, and exits with the documented code
// (0 ok, 1 failure, 130 interrupted). Printing "synced" means it succeeded.
func TestMain(m *testing.M) {
	if path := os.Getenv("XTBUILD_LAYERS_HELPER"); path != "" {
		os.Exit(helperMain(path))
	}
	code := m.Run()
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

func helperMain(path string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := config.Parse(path, data, filepath.Dir(path), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res, err := Sync(ctx, c, Options{Force: os.Getenv("XTBUILD_FORCE") == "1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if ctx.Err() != nil {
			return exitcode.Interrupted
		}
		return 1
	}
	for _, r := range res {
		fmt.Printf("%s %s %s\n", r.Name, r.Action, r.Commit)
	}
	fmt.Println("synced")
	return 0
}

// bigRepo makes a layer with files files of about 2 KiB each in one commit
// (git fast-import, so it takes a fraction of a second), the shape of a
// large layer's checkout.
func bigRepo(t testing.TB, dir string, files int, seed string) *gittest.Repo {
	t.Helper()
	r := gittest.New(t, dir, "main")
	rewrite(t, r, files, seed)
	return r
}

// rewrite commits new content for every one of files files.
func rewrite(t testing.TB, r *gittest.Repo, files int, seed string) string {
	t.Helper()
	var in bytes.Buffer
	parent := gittest.Git(t, r.Dir, "rev-parse", "HEAD")
	fmt.Fprintf(&in, "commit refs/heads/main\ncommitter T <t@example.org> 1700000000 +0000\ndata 8\nrewrite\nfrom %s\n", parent)
	for i := 0; i < files; i++ {
		body := strings.Repeat(fmt.Sprintf("SUMMARY = \"recipe %d %s\"\n", i, seed), 60)
		fmt.Fprintf(&in, "M 644 inline recipes-%d/r%d/r%d.bb\ndata %d\n%s\n", i%50, i, i, len(body), body)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = r.Dir
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
	gittest.Git(t, r.Dir, "reset", "-q", "--hard", "main")
	return r.Head()
}

// crashFiles is the size of the big layer in the crash tests.
const crashFiles = 2000

// crashSetup writes a config of one big and two small layers to disk for
// the helper process.
func crashSetup(t *testing.T) (cfgPath string, c *config.Config, big *gittest.Repo, small []*gittest.Repo) {
	t.Helper()
	root := t.TempDir()
	big = bigRepo(t, filepath.Join(root, "up", "meta-big"), crashFiles, "v0")
	var b strings.Builder
	b.WriteString("[[layer]]\nname = \"meta-big\"\nurl = \"" + big.Dir + "\"\nbranch = \"main\"\nsublayers = [\".\"]\n\n")
	for _, n := range []string{"meta-a", "meta-b"} {
		r := gittest.New(t, filepath.Join(root, "up", n), "main")
		small = append(small, r)
		b.WriteString("[[layer]]\nname = \"" + n + "\"\nurl = \"" + r.Dir + "\"\nbranch = \"main\"\nsublayers = [\".\"]\n\n")
	}
	work := filepath.Join(root, "work")
	os.MkdirAll(work, 0o755)
	cfgPath = filepath.Join(work, "xtbuild.toml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(cfgPath, []byte(b.String()), work, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, c, big, small
}

func helper(ctx context.Context, cfgPath string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "XTBUILD_LAYERS_HELPER="+cfgPath)
	return cmd
}

// verifyLayers checks that every layer is exactly its upstream's head with
// a clean worktree: what a successful setupoe promises.
func verifyLayers(t *testing.T, c *config.Config, want map[string]string) error {
	t.Helper()
	for _, l := range c.Layers {
		dir := c.LayerDir(l)
		out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
		if err != nil {
			return fmt.Errorf("%s: rev-parse: %v", l.Name, err)
		}
		if got := strings.TrimSpace(string(out)); got != want[l.Name] {
			return fmt.Errorf("%s: HEAD %s, want %s", l.Name, got, want[l.Name])
		}
		st, err := exec.Command("git", "-C", dir, "status", "--porcelain").Output()
		if err != nil {
			return fmt.Errorf("%s: status: %v", l.Name, err)
		}
		if len(st) > 0 {
			lines := strings.Split(strings.TrimSpace(string(st)), "\n")
			return fmt.Errorf("%s: worktree differs from HEAD in %d paths (%s ...)", l.Name, len(lines), lines[0])
		}
	}
	return nil
}

// TestCrashAtRandomPoints SIGKILLs the sync at random moments (cold clones
// and updates of a 2000-file layer), then reruns it: a rerun that reports
// success must leave every layer complete and clean. The kill loop stops
// after 12 tries or 15 s, whichever comes first (a loaded machine gets fewer
// tries, never a longer test).
func TestCrashAtRandomPoints(t *testing.T) {
	testenvGit(t)
	cfgPath, c, big, small := crashSetup(t)
	// How long an uninterrupted cold sync takes sets the kill window.
	start := time.Now()
	if out, err := helper(context.Background(), cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("first sync: %v\n%s", err, out)
	}
	full := time.Since(start)
	os.RemoveAll(c.LayersDir())
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const tries = 12
	var killed, repaired, midClone, midCheckout int
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < tries && time.Now().Before(deadline); i++ {
		if i%3 == 1 {
			rewrite(t, big, crashFiles, fmt.Sprintf("v%d", i)) // an update: every file changes
			small[0].Commit("README", fmt.Sprintf("r%d\n", i), "move")
		}
		if i%4 == 3 {
			os.RemoveAll(c.LayersDir()) // a cold clone
		}
		cmd := helper(context.Background(), cfgPath)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(full))))
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
		}
		cmd.Wait()
		// What the kill interrupted: a clone (a .partial directory) or a
		// checkout over an existing tree (a pending state record).
		if p, _ := filepath.Glob(filepath.Join(c.LayersDir(), "*.partial")); len(p) > 0 {
			midClone++
		}
		for _, l := range c.Layers {
			if readState(c.LayerDir(l)).status == "pending" {
				midCheckout++
				break
			}
		}
		out, err := helper(context.Background(), cfgPath).CombinedOutput()
		if err != nil {
			t.Fatalf("try %d: rerun after kill failed: %v\n%s", i, err, out)
		}
		want := map[string]string{"meta-big": big.Head(), "meta-a": small[0].Head(), "meta-b": small[1].Head()}
		if err := verifyLayers(t, c, want); err != nil {
			t.Fatalf("try %d: rerun reported success over a broken layer: %v\n%s", i, err, out)
		}
		if strings.Contains(string(out), "repaired") {
			repaired++
		}
	}
	if killed == 0 {
		t.Fatal("no kill landed")
	}
	t.Logf("%d kills (window %v): %d inside a clone, %d inside a checkout of an existing tree; %d reruns reported a repair; 0 broken layers reported as synced", killed, full.Round(time.Millisecond), midClone, midCheckout, repaired)
}

// TestInterruptStopsPromptly sends SIGINT during a cold sync: the process
// must exit 130 promptly, and the rerun must complete the layers.
func TestInterruptStopsPromptly(t *testing.T) {
	testenvGit(t)
	cfgPath, c, big, small := crashSetup(t)
	for i := 0; i < 2; i++ {
		os.RemoveAll(c.LayersDir())
		cmd := helper(context.Background(), cfgPath)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Signal once the helper has started syncing (its handler is in
		// place), at a different point of the clone each time.
		for w := 0; w < 2000; w++ {
			if _, err := os.Stat(c.LayersDir()); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(100*i) * time.Millisecond)
		sent := time.Now()
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		took := time.Since(sent)
		var ee *exec.ExitError
		if strings.Contains(out.String(), "synced") {
			t.Logf("try %d: finished before the signal", i)
			continue
		}
		if !errors.As(err, &ee) || ee.ExitCode() != exitcode.Interrupted {
			t.Fatalf("try %d: exit %v after SIGINT, want %d\n%s", i, err, exitcode.Interrupted, out.String())
		}
		if took > 2*time.Second {
			t.Errorf("try %d: took %v to stop after SIGINT", i, took)
		}
		rerun, err := helper(context.Background(), cfgPath).CombinedOutput()
		if err != nil {
			t.Fatalf("rerun: %v\n%s", err, rerun)
		}
		want := map[string]string{"meta-big": big.Head(), "meta-a": small[0].Head(), "meta-b": small[1].Head()}
		if err := verifyLayers(t, c, want); err != nil {
			t.Fatalf("try %d: %v\n%s", i, err, rerun)
		}
	}
}

func testenvGit(t *testing.T) {
	t.Helper()
	testenv.LookPath(t, "git", "git")
}
