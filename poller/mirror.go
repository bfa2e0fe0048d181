package poller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// mirrorRefSpecs mirror branches and tags only: GitHub advertises
// refs/pull/* too, which would multiply the mirror's size for nothing.
var mirrorRefSpecs = []gitconfig.RefSpec{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
}

// mirror is one bare mirror of a remote repository.
type mirror struct {
	dir  string
	url  string
	auth transport.AuthMethod
}

// open opens the mirror, or clones it when the directory does not exist
// yet. The clone happens in a temporary directory renamed into place, so an
// interrupted first clone never leaves a half mirror behind.
func (m *mirror) open(ctx context.Context) (repo *git.Repository, created bool, err error) {
	repo, err = git.PlainOpen(m.dir)
	if err == nil {
		return repo, false, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, false, fmt.Errorf("open mirror %s: %w", m.dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o755); err != nil {
		return nil, false, fmt.Errorf("create mirror parent: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(m.dir), "."+filepath.Base(m.dir)+".clone-*")
	if err != nil {
		return nil, false, fmt.Errorf("create temp mirror: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	r, err := git.PlainInit(tmp, true)
	if err != nil {
		return nil, false, fmt.Errorf("init mirror: %w", err)
	}
	// mirror=true lets `git remote update` and git_buildbot.py's git calls
	// treat the directory like one made by `git clone --mirror`.
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{m.url}, Mirror: true, Fetch: mirrorRefSpecs}); err != nil {
		return nil, false, fmt.Errorf("configure mirror remote: %w", err)
	}
	if err := fetch(ctx, r, m.auth); err != nil {
		return nil, false, fmt.Errorf("clone %s: %w", m.url, err)
	}
	if err := os.Rename(tmp, m.dir); err != nil {
		return nil, false, fmt.Errorf("move clone into %s: %w", m.dir, err)
	}
	repo, err = git.PlainOpen(m.dir)
	if err != nil {
		return nil, false, fmt.Errorf("open new mirror %s: %w", m.dir, err)
	}
	return repo, true, nil
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
		return nil, fmt.Errorf("list refs of %s: %w", m.url, err)
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
func fetch(ctx context.Context, repo *git.Repository, auth transport.AuthMethod) error {
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   mirrorRefSpecs,
		Auth:       auth,
		Tags:       git.NoTags, // the refspec already takes every tag
		Force:      true,
		Prune:      true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) || errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil
	}
	return err
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
