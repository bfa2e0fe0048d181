package recipes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// HeadCommit returns the commit checked out in the repository containing
// dir (the recipe's SRCREV) and whether the working tree has uncommitted
// changes, which a git-sourced recipe would not see.
func HeadCommit(ctx context.Context, dir string) (commit string, dirty bool, err error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "", false, fmt.Errorf("open repository at %s: %w", dir, err)
	}
	ref, err := repo.Head()
	if err != nil {
		return "", false, fmt.Errorf("read HEAD of %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return ref.Hash().String(), false, nil // bare repository: nothing to be dirty
	}
	st, err := wt.Status()
	if err != nil {
		return "", false, fmt.Errorf("status of %s: %w", dir, err)
	}
	return ref.Hash().String(), !st.IsClean(), nil
}

// fileAtCommit reads name (slash-separated) from commit's tree in the
// repository containing dir.
func fileAtCommit(ctx context.Context, dir, commit, name string) ([]byte, error) {
	if dir == "" {
		return nil, errors.New("no module root given")
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", dir, err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("find commit %s: %w", commit, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The tree is relative to the repository root, dir may lie below it.
	if wt, err := repo.Worktree(); err == nil {
		if abs, err := filepath.Abs(dir); err == nil {
			if rel, err := filepath.Rel(wt.Filesystem.Root(), abs); err == nil && rel != "." {
				name = path.Join(filepath.ToSlash(rel), name)
			}
		}
	}
	f, err := c.File(name)
	if err != nil {
		return nil, fmt.Errorf("find %s in commit %s: %w", name, commit, err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}
