// Package layers clones and updates the layer repositories with go-git, in
// parallel, checks out the pinned (or locked, or branch-head) commit of each,
// and records exact commits in the lock file. It never destroys local
// changes unless told to (XTBUILD_FORCE), and never falls back to another
// branch when the requested one does not exist.
package layers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/xtbuild/xtbuild/config"
)

// DefaultJobs bounds parallel clones and fetches.
const DefaultJobs = 8

// Options control a sync.
type Options struct {
	Jobs   int   // parallel repositories (default DefaultJobs)
	Locked bool  // check out exactly the lock's commits; refuse a stale lock
	Force  bool  // discard local changes that stand in the way
	Lock   *Lock // the current lock file, if any
	// Status receives progress per repository (for a TTY status line);
	// Done receives one line per finished repository. Both may be nil.
	Status func(layer, msg string)
	Done   func(r Result)
}

// Result is what happened to one layer.
type Result struct {
	Name   string
	URL    string
	Dir    string
	Ref    string // refs/heads/..., refs/tags/... or "" when only a commit was asked
	Commit string
	Action string // cloned, updated, fetched, unchanged
}

// Sync brings every layer of c to its target commit. It returns results in
// config order, and an error joining every layer that failed (the others
// still complete).
func Sync(ctx context.Context, c *config.Config, opts Options) ([]Result, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = DefaultJobs
	}
	if opts.Locked {
		if why := opts.Lock.Stale(c.Layers); why != "" {
			return nil, fmt.Errorf("XTBUILD_LOCKED=1 but %s does not match the config: %s; run setupoe without XTBUILD_LOCKED to re-lock", filepath.Base(c.LockFile()), why)
		}
	}
	if err := os.MkdirAll(c.LayersDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create layers dir: %w", err)
	}
	results := make([]Result, len(c.Layers))
	errs := make([]error, len(c.Layers))
	sem := make(chan struct{}, opts.Jobs)
	var wg sync.WaitGroup
	for i, l := range c.Layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("layer %s: %w", l.Name, ctx.Err())
				return
			}
			defer func() { <-sem }()
			t := target{layer: l, url: resolveURL(c, l.URL), dir: c.LayerDir(l)}
			if opts.Locked {
				locked, _ := opts.Lock.Find(l.Name)
				t.commit = locked.Commit
			} else {
				t.commit = l.Commit
			}
			r, err := syncOne(ctx, t, opts)
			if err != nil {
				errs[i] = fmt.Errorf("layer %s: %w", l.Name, err)
				return
			}
			results[i] = r
			if opts.Done != nil {
				opts.Done(r)
			}
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// NewLock records the results as a lock for c's layers.
func NewLock(c *config.Config, results []Result) *Lock {
	l := &Lock{LayersHash: LayersHash(c.Layers)}
	for _, r := range results {
		l.Layers = append(l.Layers, LockedLayer{Name: r.Name, URL: r.URL, Ref: r.Ref, Commit: r.Commit})
	}
	return l
}

// resolveURL makes a relative local path absolute against the config dir;
// URLs with a scheme and scp-style host:path are left alone.
func resolveURL(c *config.Config, u string) string {
	if strings.Contains(u, "://") || filepath.IsAbs(u) {
		return u
	}
	if i := strings.Index(u, ":"); i > 0 && !strings.Contains(u[:i], "/") {
		return u // user@host:path
	}
	return c.Abs(u)
}

type target struct {
	layer  config.Layer
	url    string
	dir    string
	commit string // wanted commit, "" to follow the ref
}

func (t target) ref() plumbing.ReferenceName {
	switch {
	case t.layer.Tag != "":
		return plumbing.NewTagReferenceName(t.layer.Tag)
	case t.layer.Branch != "":
		return plumbing.NewBranchReferenceName(t.layer.Branch)
	}
	return ""
}

// trackingRef is where a fetched ref is stored locally.
func (t target) trackingRef() plumbing.ReferenceName {
	r := t.ref()
	if r.IsBranch() {
		return plumbing.NewRemoteReferenceName("origin", r.Short())
	}
	return r
}

func (t target) refspecs() []gitconfig.RefSpec {
	r := t.ref()
	if r == "" {
		return []gitconfig.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	}
	return []gitconfig.RefSpec{gitconfig.RefSpec(fmt.Sprintf("+%s:%s", r, t.trackingRef()))}
}

func syncOne(ctx context.Context, t target, opts Options) (Result, error) {
	res := Result{Name: t.layer.Name, URL: t.url, Dir: t.dir, Ref: string(t.ref())}
	status := func(msg string) {
		if opts.Status != nil {
			opts.Status(t.layer.Name, msg)
		}
	}
	repo, err := git.PlainOpen(t.dir)
	fresh := false
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		if err := ensureEmpty(t.dir); err != nil {
			return res, err
		}
		status("cloning")
		repo, err = clone(ctx, t, progressWriter(status))
		if err != nil {
			os.RemoveAll(t.dir)
			return res, err
		}
		fresh = true
		res.Action = "cloned"
	case err != nil:
		return res, fmt.Errorf("open %s: %w", t.dir, err)
	default:
		if err := checkOrigin(repo, t); err != nil {
			return res, err
		}
	}

	want, fetched, err := resolveTarget(ctx, repo, t, fresh, status)
	if err != nil {
		return res, err
	}
	res.Commit = want.String()
	if res.Action == "" && fetched {
		res.Action = "fetched"
	}

	head, err := repo.Head()
	if err == nil && head.Hash() == want && !fresh {
		if res.Action == "" {
			res.Action = "unchanged"
		}
		return res, nil
	}
	wt, err := repo.Worktree()
	if err != nil {
		return res, fmt.Errorf("worktree: %w", err)
	}
	if !fresh && !opts.Force {
		if err := checkSafeToMove(repo, wt, head); err != nil {
			return res, err
		}
	}
	status("checking out " + want.String()[:12])
	if err := wt.Checkout(&git.CheckoutOptions{Hash: want, Force: true}); err != nil {
		return res, fmt.Errorf("check out %s: %w", want, err)
	}
	if !fresh {
		res.Action = "updated"
	}
	return res, nil
}

// ensureEmpty allows cloning into a missing or empty directory only: an
// existing non-git directory may be someone's work.
func ensureEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s exists, is not a git repository and is not empty; move it away", dir)
	}
	return nil
}

func clone(ctx context.Context, t target, progress *statusWriter) (*git.Repository, error) {
	opts := &git.CloneOptions{URL: t.url, NoCheckout: true, Progress: progress, Tags: git.NoTags}
	if r := t.ref(); r != "" {
		opts.ReferenceName = r
		opts.SingleBranch = true
	} else {
		opts.Tags = git.AllTags
	}
	repo, err := git.PlainCloneContext(ctx, t.dir, false, opts)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) || isNoMatchingRef(err) {
			return nil, missingRef(ctx, t)
		}
		return nil, fmt.Errorf("clone %s: %w", t.url, err)
	}
	return repo, nil
}

// checkOrigin refuses to reuse a checkout of a different repository.
func checkOrigin(repo *git.Repository, t target) error {
	rem, err := repo.Remote("origin")
	if err != nil {
		return fmt.Errorf("%s has no origin remote; move it away or fix it", t.dir)
	}
	urls := rem.Config().URLs
	if len(urls) == 0 || strings.TrimSuffix(urls[0], "/") != strings.TrimSuffix(t.url, "/") {
		return fmt.Errorf("%s is a clone of %v, not %s; move it away or change the layer url", t.dir, urls, t.url)
	}
	return nil
}

// resolveTarget finds the commit to check out, fetching only when the
// repository does not already have what is asked for: a pinned commit that
// is present needs no network at all.
func resolveTarget(ctx context.Context, repo *git.Repository, t target, fresh bool, status func(string)) (plumbing.Hash, bool, error) {
	fetched := false
	if t.commit != "" {
		want := plumbing.NewHash(t.commit)
		if _, err := repo.CommitObject(want); err == nil {
			return want, false, nil
		}
		// Not on the followed ref (or not fetched yet): fetch everything.
		status("fetching")
		all := target{layer: config.Layer{Name: t.layer.Name}, url: t.url}
		if _, err := fetch(ctx, repo, all); err != nil {
			return plumbing.ZeroHash, false, err
		}
		if _, err := repo.CommitObject(want); err != nil {
			return plumbing.ZeroHash, true, fmt.Errorf("commit %s not found in %s (fetched every branch and tag)", t.commit, t.url)
		}
		return want, true, nil
	}
	if !fresh {
		status("fetching")
		got, err := fetch(ctx, repo, t)
		if err != nil {
			if isNoMatchingRef(err) {
				return plumbing.ZeroHash, false, missingRef(ctx, t)
			}
			return plumbing.ZeroHash, false, err
		}
		fetched = got
	}
	ref, err := repo.Reference(t.trackingRef(), true)
	if err != nil {
		return plumbing.ZeroHash, fetched, missingRef(ctx, t)
	}
	h := ref.Hash()
	// Annotated tags point at a tag object; check out the commit it names.
	if tag, err := repo.TagObject(h); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return plumbing.ZeroHash, fetched, fmt.Errorf("tag %s does not point at a commit: %w", t.layer.Tag, err)
		}
		h = c.Hash
	}
	return h, fetched, nil
}

// fetch reports whether anything new arrived.
func fetch(ctx context.Context, repo *git.Repository, t target) (bool, error) {
	err := repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: t.refspecs(), Tags: git.NoTags, Force: true})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fetch %s: %w", t.url, err)
	}
	return true, nil
}

func isNoMatchingRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// missingRef builds the error for a branch or tag that does not exist,
// naming what does exist. OpenXT silently fell back to master here.
func missingRef(ctx context.Context, t target) error {
	kind, name := "branch", t.layer.Branch
	if t.layer.Tag != "" {
		kind, name = "tag", t.layer.Tag
	}
	rem := git.NewRemote(nil, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{t.url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return fmt.Errorf("%s %q does not exist in %s", kind, name, t.url)
	}
	var have []string
	for _, r := range refs {
		if (kind == "branch" && r.Name().IsBranch()) || (kind == "tag" && r.Name().IsTag()) {
			have = append(have, r.Name().Short())
		}
	}
	sort.Strings(have)
	if len(have) > 12 {
		have = append(have[:12], "...")
	}
	return fmt.Errorf("%s %q does not exist in %s (it has: %s)", kind, name, t.url, strings.Join(have, ", "))
}

// checkSafeToMove refuses to move HEAD over uncommitted changes or away from
// commits that no ref holds (they would become unreachable).
func checkSafeToMove(repo *git.Repository, wt *git.Worktree, head *plumbing.Reference) error {
	st, err := wt.Status()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if !st.IsClean() {
		var files []string
		for f, s := range st {
			if s.Worktree != git.Unmodified || s.Staging != git.Unmodified {
				files = append(files, f)
			}
		}
		sort.Strings(files)
		if len(files) > 5 {
			files = append(files[:5], fmt.Sprintf("and %d more", len(files)-5))
		}
		return fmt.Errorf("local changes in %s (%s); commit or stash them, or set XTBUILD_FORCE=1 to discard them", wt.Filesystem.Root(), strings.Join(files, ", "))
	}
	if head == nil || head.Name() != plumbing.HEAD {
		return nil // HEAD is on a branch: its commits stay on that branch
	}
	headCommit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil
	}
	refs, err := repo.References()
	if err != nil {
		return fmt.Errorf("list refs: %w", err)
	}
	held := false
	refs.ForEach(func(r *plumbing.Reference) error {
		if held || r.Type() != plumbing.HashReference {
			return nil
		}
		c, err := repo.CommitObject(r.Hash())
		if err != nil {
			return nil
		}
		if ok, _ := headCommit.IsAncestor(c); ok || c.Hash == headCommit.Hash {
			held = true
		}
		return nil
	})
	if !held {
		return fmt.Errorf("HEAD %s in %s is a local commit no branch holds; create a branch for it, or set XTBUILD_FORCE=1", head.Hash().String()[:12], wt.Filesystem.Root())
	}
	return nil
}
