package poller

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// mirrorRefSpecs mirror branches and tags only: GitHub advertises
// refs/pull/* too, which would multiply the mirror's size for nothing.
var mirrorRefSpecs = []gitconfig.RefSpec{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
}

// mirror is one bare mirror of a remote repository.
//
// Crash safety: objects and refs are written by C git's fetch, never by
// go-git (whose pack writer wrote the .idx in place: a kill left a truncated
// index behind refs that already named its objects). C git writes a pack and
// its index under temporary names and renames the index into place last, so
// git never sees a partial pack; loose objects go through a temporary file
// too. core.fsync=committed,pack-metadata makes it fsync objects, packs and
// indexes before it updates a ref, and every ref update is a lock file
// renamed over the old one. A kill at any point therefore leaves the old or
// the new state of each ref, with its objects present. Mirrors written by
// earlier versions (or damaged otherwise) are checked once per process
// (check) and cloned afresh when damaged.
type mirror struct {
	dir  string
	url  string
	auth transport.AuthMethod
}

// open opens the mirror, or clones it when the directory does not exist
// yet. With verify set it first checks the mirror's packs and refs and
// replaces a damaged mirror with a fresh clone (reported as created).
func (m *mirror) open(ctx context.Context, verify bool) (repo *git.Repository, created bool, problem error, err error) {
	if verify {
		m.removeLeftovers()
		if err := removeStaleLocks(m.dir); err != nil {
			return nil, false, nil, err
		}
	}
	repo, err = git.PlainOpen(m.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := m.clone(ctx); err != nil {
			return nil, false, nil, err
		}
		repo, err = m.reopen()
		return repo, err == nil, nil, err
	}
	if err != nil {
		// A mirror whose config or HEAD is unreadable is damaged too.
		if !verify {
			return nil, false, nil, fmt.Errorf("open mirror %s: %w", m.dir, err)
		}
		problem = err
	} else if verify {
		problem = checkMirror(m.dir, repo)
	}
	if problem == nil {
		return repo, false, nil, nil
	}
	if err := m.clone(ctx); err != nil {
		return nil, false, problem, fmt.Errorf("mirror %s is damaged (%v); re-cloning failed: %w", m.dir, problem, err)
	}
	repo, err = m.reopen()
	return repo, err == nil, problem, err
}

func (m *mirror) reopen() (*git.Repository, error) {
	repo, err := git.PlainOpen(m.dir)
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", m.dir, err)
	}
	return repo, nil
}

// clone makes a complete new mirror in a temporary directory beside the
// mirror and renames it into place, replacing a damaged one (moved aside
// first, removed after). A kill leaves either the old mirror, no mirror (the
// next poll clones again) or the new one, plus temporary directories that
// removeLeftovers deletes.
func (m *mirror) clone(ctx context.Context) error {
	parent := filepath.Dir(m.dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create mirror parent: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(m.dir)+".clone-*")
	if err != nil {
		return fmt.Errorf("create temp mirror: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	r, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("init mirror: %w", err)
	}
	// mirror=true lets `git remote update` and git_buildbot.py's git calls
	// treat the directory like one made by `git clone --mirror`.
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{m.url}, Mirror: true, Fetch: mirrorRefSpecs}); err != nil {
		return fmt.Errorf("configure mirror remote: %w", err)
	}
	if err := gitFetch(ctx, tmp, m.url, m.auth); err != nil {
		return fmt.Errorf("clone %s: %w", redactURL(m.url), err)
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return err
	}
	// The damaged mirror moves aside, the clone takes its place, the old
	// tree goes; a kill in between leaves leftovers removeLeftovers finds.
	if err := atomicfile.SwapDir(tmp, m.dir); err != nil {
		return fmt.Errorf("move clone into %s: %w", m.dir, err)
	}
	return nil
}

// removeLeftovers deletes the temporary clones and damaged mirrors a kill
// left beside this mirror.
func (m *mirror) removeLeftovers() {
	base := "." + filepath.Base(m.dir)
	for _, pat := range []string{base + ".clone-*", base + ".broken-*"} {
		old, _ := filepath.Glob(filepath.Join(filepath.Dir(m.dir), pat))
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
}

// removeStaleLocks deletes the lock files a killed git left in the mirror
// (refs/**/*.lock, packed-refs.lock, ...): git refuses to update a ref whose
// lock exists, so one kill during a fetch would stop that mirror for good.
// Called at start-up only: xtpoll is the only writer of its mirrors, and a
// git it started does not outlive it when its process group is killed
// (systemd kills the whole unit).
func removeStaleLocks(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	var errs []error
	for _, top := range []string{"refs", "."} {
		root := filepath.Join(dir, top)
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && p != root {
				if top == "." {
					return filepath.SkipDir // only the top level of the git dir
				}
				return nil
			}
			if strings.HasSuffix(p, ".lock") && d.Type().IsRegular() {
				if err := os.Remove(p); err != nil {
					errs = append(errs, err)
				}
			}
			return nil
		})
	}
	return errors.Join(errs...)
}

// remoteRefs lists the remote's branches and tags without fetching
// anything: the equivalent of `git ls-remote`, one round trip.
func (m *mirror) remoteRefs(ctx context.Context, repo *git.Repository) (Refs, error) {
	rem, err := repo.Remote("origin")
	if err != nil {
		return nil, fmt.Errorf("find origin remote: %w", err)
	}
	list, err := rem.ListContext(ctx, &git.ListOptions{Auth: m.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return Refs{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %s", redactURL(m.url), scrub(err.Error(), m.url))
	}
	refs := Refs{}
	for _, r := range list {
		if r.Type() == plumbing.HashReference && tracked(r.Name().String()) {
			refs[r.Name().String()] = r.Hash().String()
		}
	}
	return refs, nil
}

// fetch brings the mirror's branches and tags level with the remote,
// deleting those the remote deleted.
func (m *mirror) fetch(ctx context.Context) error {
	return gitFetch(ctx, m.dir, m.url, m.auth)
}

// gitFetch runs C git's fetch in the bare repository dir: branches and
// tags, forced and pruned, objects and refs fsynced (see mirror).
func gitFetch(ctx context.Context, dir, url string, auth transport.AuthMethod) error {
	args := []string{"--git-dir", dir,
		"-c", "core.fsync=committed,pack-metadata", "-c", "core.fsyncMethod=fsync",
		"fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "origin"}
	for _, rs := range mirrorRefSpecs {
		args = append(args, string(rs))
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	if ba, ok := auth.(*githttp.BasicAuth); ok && ba != nil {
		// Through the environment, not argv: other users can read argv.
		hdr := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(ba.Username+":"+ba.Password))
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0="+hdr)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// SIGTERM lets git remove its temporary files; a kill is safe too.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("git fetch: %w", ctx.Err())
		}
		return fmt.Errorf("git fetch: %v: %s", err, scrub(tail(out.Bytes(), 2048), url))
	}
	return nil
}

// localRefs reads the mirror's branches and tags.
func localRefs(repo *git.Repository) (Refs, error) {
	it, err := repo.References()
	if err != nil {
		return nil, fmt.Errorf("list mirror refs: %w", err)
	}
	refs := Refs{}
	err = it.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && tracked(r.Name().String()) {
			refs[r.Name().String()] = r.Hash().String()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list mirror refs: %w", err)
	}
	return refs, nil
}

// scrub removes the credentials of url from a message (git and go-git may
// quote the URL they were given).
func scrub(msg, url string) string {
	if red := redactURL(url); red != url {
		msg = strings.ReplaceAll(msg, url, red)
	}
	if secret := urlSecret(url); secret != "" {
		msg = strings.ReplaceAll(msg, secret, "xxxxx")
		if esc := (&neturl.URL{User: neturl.User(secret)}).User.String(); esc != secret {
			msg = strings.ReplaceAll(msg, esc, "xxxxx") // as it appears in the URL
		}
	}
	return msg
}
