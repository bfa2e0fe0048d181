package layers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/internal/tailbuf"
)

// git runs the git CLI. Clones, fetches and checkouts go through C git, not
// go-git (save the cold fetch from a local or git:// upstream, wire.go, and
// the first checkout of a small plain tree, checkout.go): for shallow
// fetches, alternates and checkouts of thousands of
// files it is several times faster (docs/performance.md, Layers), and as a
// child process it stops when the context is cancelled: SIGTERM first,
// which lets git remove its lock files, then SIGKILL after WaitDelay.
type gitRunner struct {
	progress io.Writer // receives git's progress (stderr) when non-nil
}

// run executes git with args in dir (dir "" for none) and returns stdout.
// The error carries the command and the tail of git's stderr.
func (g gitRunner) run(ctx context.Context, dir string, args ...string) (string, error) {
	return g.runInput(ctx, dir, nil, args...)
}

// runInput is run with stdin read from in (nil for none).
func (g gitRunner) runInput(ctx context.Context, dir string, in io.Reader, args ...string) (string, error) {
	cmd := g.command(ctx, dir, args...)
	cmd.Stdin = in
	var stdout bytes.Buffer
	stderr := tailbuf.New(4096)
	cmd.Stdout = &stdout
	if g.progress != nil {
		cmd.Stderr = io.MultiWriter(stderr, g.progress)
	} else {
		cmd.Stderr = stderr
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
	}
	if err != nil {
		return stdout.String(), &gitError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// command prepares git with args in dir: xtbuild's configuration
// overrides and environment, stopped with the context or with xtbuild.
func (g gitRunner) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	full := append([]string{"-c", "advice.detachedHead=false", "-c", "gc.auto=0", "-c", "maintenance.auto=false"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	// If xtbuild itself is killed (SIGKILL, OOM), git must not go on
	// writing a checkout the next run is repairing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.WaitDelay = 3 * time.Second
	return cmd
}

// gitEnv is the environment of every git process xtbuild starts: never a
// credential prompt, messages in English (errors are matched on).
func gitEnv() []string { return append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C") }

// ok runs git and reports whether it exited 0 (for yes/no questions such as
// cat-file -e); a cancelled context is an error.
func (g gitRunner) ok(ctx context.Context, dir string, args ...string) (bool, error) {
	_, err := g.run(ctx, dir, args...)
	var ge *gitError
	if errors.As(err, &ge) {
		return false, nil
	}
	return err == nil, err
}

type gitError struct {
	args   []string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", strings.Join(e.args, " "), e.err)
	if e.stderr != "" {
		// Keep the last lines: progress comes first, the reason last.
		lines := strings.Split(strings.ReplaceAll(e.stderr, "\r", "\n"), "\n")
		var keep []string
		for i := len(lines) - 1; i >= 0 && len(keep) < 3; i-- {
			if l := strings.TrimSpace(lines[i]); l != "" {
				keep = append([]string{l}, keep...)
			}
		}
		msg += ": " + strings.Join(keep, "; ")
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// initRepo makes an empty repository at dir (a bare one when bare is set)
// whose origin is url: the layout and configuration `git init
// --template=` followed by `git remote add origin url` write, without the
// two processes (a cold setup runs one per layer) and without template
// hooks. Callers build it beside its final name and rename it into place,
// so a kill never leaves a half-made repository under the real name.
func initRepo(dir string, bare bool, url string) error {
	gitdir := filepath.Join(dir, ".git")
	cfg := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n" +
		fmt.Sprintf("[remote \"origin\"]\n\turl = %s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n", gitConfigValue(url))
	if bare {
		gitdir = dir
		// A mirror keeps refs under their own names (fetchTarget gives
		// every refspec); no default refspec, as the poller's mirrors.
		cfg = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n" +
			fmt.Sprintf("[remote \"origin\"]\n\turl = %s\n", gitConfigValue(url))
	}
	// What git needs to see a repository (objects, refs, HEAD); git, the
	// in-process fetch and lend make the rest (objects/pack, refs/heads,
	// objects/info, ...) as they write there. Each mkdir counts on a cold
	// setup of many layers (docs/performance.md, Layers).
	if err := os.MkdirAll(gitdir, 0o755); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	for _, d := range []string{"objects", "refs"} {
		if err := os.Mkdir(filepath.Join(gitdir, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("init %s: %w", dir, err)
		}
	}
	for name, text := range map[string]string{"HEAD": "ref: refs/heads/master\n", "config": cfg} {
		if err := os.WriteFile(filepath.Join(gitdir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("init %s: %w", dir, err)
		}
	}
	return nil
}

// gitConfigValue quotes a value for a git config file.
func gitConfigValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}
