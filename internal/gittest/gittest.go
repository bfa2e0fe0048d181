// Package gittest makes real git repositories for tests with the git CLI.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a non-bare repository in a temp dir.
type Repo struct {
	T   testing.TB
	Dir string
}

// Git runs git in dir with a fixed identity and dates, returning stdout.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// New makes a repository at dir with one commit on branch, holding a
// conf/layer.conf so it looks like a layer.
func New(t testing.TB, dir, branch string) *Repo {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "init", "-q", "-b", branch)
	r := &Repo{T: t, Dir: dir}
	r.Commit("conf/layer.conf", "BBPATH .= \":${LAYERDIR}\"\n", "initial")
	return r
}

// Commit writes file with content and commits it; it returns the new commit.
func (r *Repo) Commit(file, content, msg string) string {
	r.T.Helper()
	p := filepath.Join(r.Dir, file)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.T.Fatal(err)
	}
	Git(r.T, r.Dir, "add", file)
	Git(r.T, r.Dir, "commit", "-q", "-m", msg)
	return r.Head()
}

// Head is the current commit.
func (r *Repo) Head() string { return Git(r.T, r.Dir, "rev-parse", "HEAD") }
