package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test re-run this binary as the xtpoll command, so crash
// tests can SIGKILL a real poller process.
func TestMain(m *testing.M) {
	if args := os.Getenv("XTPOLL_TEST_MAIN_ARGS"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, argv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

var gitEnv = []string{
	"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.org",
	"GIT_COMMITTER_NAME=Carl Committer", "GIT_COMMITTER_EMAIL=carl@example.org",
	"GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent", "GIT_TERMINAL_PROMPT=0",
}

// gitc runs the real git CLI in dir and returns its trimmed stdout.
func gitc(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

var commitClock = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// commit writes files (name -> content) in the work repo and commits them
// with strictly increasing dates, returning the new commit id.
func commit(t testing.TB, dir, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		gitc(t, dir, "add", name)
	}
	commitClock = commitClock.Add(time.Minute)
	d := commitClock.Format(time.RFC3339)
	cmd := exec.Command("git", "commit", "-q", "--allow-empty", "-m", msg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(gitEnv, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	return gitc(t, dir, "rev-parse", "HEAD")
}

// newUpstream makes a repository with one commit on master.
func newUpstream(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gitc(t, dir, "init", "-q", "-b", "master")
	return commit(t, dir, "initial", map[string]string{"README": "hello " + filepath.Base(dir) + "\n"})
}

// recordingHook writes a hook script that appends "<name>|<project>|<line>"
// for every stdin line to log, and returns its path.
func recordingHook(t testing.TB, dir, log string) string {
	t.Helper()
	p := filepath.Join(dir, "record-hook.sh")
	script := `#!/bin/sh
# Stand-in for git_buildbot.py: records the post-receive input it is given.
test -n "$GIT_DIR" || { echo "GIT_DIR not set" >&2; exit 3; }
while read old new ref; do
  [ -z "$ref" ] && break
  echo "$XTPOLL_NAME|$1|$old $new $ref" >> ` + shellQuote(log) + `
done
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// validated fills defaults, failing the test on a config error.
func validated(t testing.TB, c *Config) *Config {
	t.Helper()
	if err := c.Validate(c.BaseDir); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCycle(t testing.TB, p *Poller) Result {
	t.Helper()
	res, err := p.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func line(name, project, old, new, ref string) string {
	return fmt.Sprintf("%s|%s|%s %s %s", name, project, old, new, ref)
}
