// Package layers clones and updates the layer repositories in parallel with
// C git (a cold layer from a local or git:// upstream is fetched in process:
// wire.go; a small plain tree's first checkout is written in process:
// checkout.go), checks out the pinned (or locked, or branch-head) commit of each,
// and records exact commits in the lock file. It fetches only what the build
// needs (one commit, shallow) unless asked for full history, can borrow
// objects from a host-wide store of mirrors shared by build dirs, never
// destroys local changes or local commits unless told to (XTBUILD_FORCE),
// never reports success over an interrupted checkout, and never falls back
// to another branch when the requested one does not exist.
package layers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/xtbuild/xtbuild/config"
)

// DefaultJobs bounds parallel clones and fetches.
const DefaultJobs = 8

// Options control a sync.
type Options struct {
	Jobs   int  // parallel repositories (default DefaultJobs)
	Locked bool // check out exactly the lock's commits; refuse a stale lock
	Force  bool // discard local changes and local commits that stand in the way
	// FullHistory fetches whole histories (every layer) instead of the one
	// commit needed; a layer's full_history key does it for that layer.
	FullHistory bool
	// ExecGit runs C git for every fetch and checkout: no in-process
	// fetch (fetchWire) or checkout (checkoutFresh), whatever the host's
	// git configuration allows.
	ExecGit bool
	Lock    *Lock // the current lock file, if any
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
	Action string // cloned, updated, repaired, unchanged, "unchanged (local changes)"
	// Fetch says how the commit was obtained: "commit" (shallow fetch of
	// the commit by id), "ref" (shallow fetch of the branch or tag that
	// contains it), "tip" (shallow fetch of the followed branch or tag),
	// "full" (whole history) or "" (nothing fetched: already present).
	Fetch string
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
	var host hostConfig // with ExecGit, nothing in process
	if !opts.ExecGit {
		host = readHostConfig(os.Getenv)
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
			t := target{layer: l, url: resolveURL(c, l.URL), dir: c.LayerDir(l), full: opts.FullHistory || l.FullHistory, host: host}
			if cache := c.GitCache(); cache != "" {
				t.store = &store{dir: cache}
			}
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
	full   bool   // fetch whole history
	store  *store // shared mirrors, or nil
	// host: what git's configuration lets xtbuild do in process.
	host hostConfig
}

// ref is the followed branch or tag, "" when only a commit was asked.
func (t target) ref() string {
	switch {
	case t.layer.Tag != "":
		return "refs/tags/" + t.layer.Tag
	case t.layer.Branch != "":
		return "refs/heads/" + t.layer.Branch
	}
	return ""
}

// localRef is where the followed ref is stored: in a mirror under its own
// name, in a checkout branches go to refs/remotes/origin/.
func (t target) localRef(mirror bool) string {
	r := t.ref()
	if !mirror && strings.HasPrefix(r, "refs/heads/") {
		return "refs/remotes/origin/" + strings.TrimPrefix(r, "refs/heads/")
	}
	return r
}

func syncOne(ctx context.Context, t target, opts Options) (Result, error) {
	res := Result{Name: t.layer.Name, URL: t.url, Dir: t.dir, Ref: t.ref()}
	status := func(msg string) {
		if opts.Status != nil {
			opts.Status(t.layer.Name, msg)
		}
	}
	g := gitRunner{}
	if opts.Status != nil {
		g.progress = progressWriter(status)
	}
	st := readState(t.dir)
	// The warm no-op of a pinned or locked layer: three small file reads,
	// no git process, no network.
	if t.commit != "" && st.status == "complete" && st.commit == t.commit && sameURL(st.url, t.url) &&
		readHead(t.dir) == t.commit && alternatesOK(t.dir) {
		res.Commit, res.Action = t.commit, "unchanged"
		return res, nil
	}
	if _, err := os.Stat(filepath.Join(t.dir, ".git")); errors.Is(err, fs.ErrNotExist) {
		return cloneNew(ctx, g, t, res, status)
	} else if err != nil {
		return res, err
	}
	return update(ctx, g, t, st, res, opts, status)
}

// cloneNew makes a checkout beside its final place and renames it into
// place once the checkout is complete: a kill leaves only the ".partial"
// directory, which the next run removes and starts again.
func cloneNew(ctx context.Context, g gitRunner, t target, res Result, status func(string)) (Result, error) {
	if err := ensureEmpty(t.dir); err != nil {
		return res, err
	}
	tmp := t.dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return res, fmt.Errorf("remove interrupted clone %s: %w", tmp, err)
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return res, err
	}
	fail := func(err error) (Result, error) {
		os.RemoveAll(tmp)
		return res, err
	}
	status("cloning")
	if err := initRepo(tmp, false, t.url); err != nil {
		return fail(err)
	}
	want, how, objects, err := obtain(ctx, g, t, tmp, true, status)
	if err != nil {
		return fail(err)
	}
	status("checking out " + want[:12])
	if err := checkoutNew(ctx, g, t, objects, tmp, want); err != nil {
		return fail(err)
	}
	if err := writeState(tmp, layerState{status: "complete", commit: want, url: t.url}); err != nil {
		return fail(err)
	}
	os.Remove(t.dir) // an empty directory ensureEmpty allowed
	if err := os.Rename(tmp, t.dir); err != nil {
		return fail(fmt.Errorf("move clone into place: %w", err))
	}
	res.Commit, res.Fetch, res.Action = want, how, "cloned"
	return res, nil
}

// checkoutNew checks want out in the new repository at dir, in process
// when the tree and git's configuration allow it, else (and after any
// failure of that) with git.
func checkoutNew(ctx context.Context, g gitRunner, t target, objects, dir, want string) error {
	if t.host.checkout {
		err := checkoutFresh(ctx, objects, dir, want)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if err := clearWorktree(dir); err != nil {
			return fmt.Errorf("clear %s for git checkout: %w", dir, err)
		}
	}
	_, err := g.run(ctx, dir, "checkout", "-q", "--detach", want)
	return err
}

// update brings an existing checkout to its target: it repairs a checkout
// a kill interrupted, and refuses to move over local changes or local
// commits unless forced.
func update(ctx context.Context, g gitRunner, t target, st layerState, res Result, opts Options, status func(string)) (Result, error) {
	if err := checkOrigin(t); err != nil {
		return res, err
	}
	// A stale index.lock is what a killed checkout leaves; during a pending
	// checkout of ours nobody else is entitled to it.
	if st.status == "pending" {
		os.Remove(filepath.Join(t.dir, ".git", "index.lock"))
	}
	want, how, _, err := obtain(ctx, g, t, t.dir, false, status)
	if err != nil {
		return res, err
	}
	res.Commit, res.Fetch = want, how
	if st.status == "pending" {
		// Every difference in the tree is ours: the safety checks passed
		// before the interrupted checkout started.
		status("repairing interrupted checkout")
		if err := checkout(ctx, g, t, want, true); err != nil {
			return res, err
		}
		res.Action = "repaired"
		return res, nil
	}
	headNow, err := headCommit(ctx, g, t.dir)
	if err != nil {
		return res, err
	}
	if headNow == want {
		res.Action = "unchanged"
		if st.status == "complete" && st.commit == want && alternatesOK(t.dir) {
			return res, nil
		}
		// Made by an older xtbuild or by hand: trust it only when git
		// says the tree is exactly HEAD, then record that.
		dirty, err := changedFiles(ctx, g, t.dir)
		if err != nil {
			return res, err
		}
		if len(dirty) > 0 {
			res.Action = "unchanged (local changes)"
			return res, nil
		}
		return res, writeState(t.dir, layerState{status: "complete", commit: want, url: t.url})
	}
	if !opts.Force {
		if err := checkSafeToMove(ctx, g, t.dir, st, headNow); err != nil {
			return res, err
		}
	}
	status("checking out " + want[:12])
	if err := checkout(ctx, g, t, want, false); err != nil {
		return res, err
	}
	res.Action = "updated"
	return res, nil
}

// checkout moves an existing checkout to want between a "pending" and a
// "complete" record, so an interruption is repaired by the next run.
func checkout(ctx context.Context, g gitRunner, t target, want string, clean bool) error {
	if err := writeState(t.dir, layerState{status: "pending", commit: want, url: t.url}); err != nil {
		return err
	}
	if _, err := g.run(ctx, t.dir, "checkout", "-q", "-f", "--detach", want); err != nil {
		return err
	}
	if clean {
		// Files of an interrupted checkout's target that want lacks.
		if _, err := g.run(ctx, t.dir, "clean", "-q", "-f", "-d"); err != nil {
			return err
		}
	}
	return writeState(t.dir, layerState{status: "complete", commit: want, url: t.url})
}

func headCommit(ctx context.Context, g gitRunner, dir string) (string, error) {
	if h := readHead(dir); h != "" {
		return h, nil
	}
	out, err := g.run(ctx, dir, "rev-parse", "-q", "--verify", "HEAD^{commit}")
	if err != nil {
		return "", nil // unborn HEAD: nothing to keep
	}
	return strings.TrimSpace(out), nil
}

// obtain makes the wanted commit present in the checkout at dir, fetching
// as little as possible, through the store when there is one, and returns
// it with how it was fetched and the git dir that holds its objects (the
// checkout's own, or the mirror it borrows from). fresh says dir was just
// initialised (it holds no object, so there is nothing to look up before
// fetching).
func obtain(ctx context.Context, g gitRunner, t target, dir string, fresh bool, status func(string)) (string, string, string, error) {
	if t.store == nil {
		gitdir := filepath.Join(dir, ".git")
		want, how, err := fetchTarget(ctx, g, t, gitdir, false, fresh, status)
		return want, how, gitdir, err
	}
	m, err := t.store.open(ctx, g, t.url)
	if err != nil {
		return "", "", "", err
	}
	defer m.release()
	want, how, err := fetchTarget(ctx, g, t, m.dir, true, m.created, status)
	if err != nil {
		return "", "", "", err
	}
	if err := m.pin(ctx, g, want); err != nil {
		return "", "", "", err
	}
	if err := m.lend(dir); err != nil {
		return "", "", "", fmt.Errorf("borrow objects from %s: %w", m.dir, err)
	}
	if r := t.localRef(false); r != "" {
		// The checkout's own view of the followed ref (for users, and so a
		// local commit's check has a ref to compare with). A tag names
		// what the mirror's tag names when it has it (an annotated tag's
		// tag object); a pinned commit fetched by id came without it.
		value := want
		if t.layer.Tag != "" {
			if out, err := g.run(ctx, "", "--git-dir", m.dir, "rev-parse", "-q", "--verify", t.localRef(true)); err == nil {
				value = strings.TrimSpace(out)
			} else if ctx.Err() != nil {
				return "", "", "", ctx.Err()
			}
		}
		if _, err := g.run(ctx, dir, "update-ref", r, value); err != nil {
			return "", "", "", err
		}
	}
	return want, how, m.dir, nil
}

// fetchTarget resolves and fetches the target into the repository gitdir
// (a checkout's .git or a bare mirror).
//
// A pinned commit that is present needs no network. Otherwise, unless full
// history is asked for: the commit alone, shallow (servers that allow a
// reachable commit by id, as git's protocol v2 does); then the branch or
// tag at depth 1, 64 and 1024 until it contains the commit; then everything.
//
// Every git process counts (a cold setup of 60 layers is mostly process
// start-up on a build host's CPUs): an empty repository fetches a pinned
// commit from a local or git:// upstream in process (fetchWire), is not asked
// whether it has the commit, a fetch of a commit by id that succeeded is
// not asked again (git verified the commit and its tree arrived), and a
// mirror's fetch by id writes the pin ref itself.
func fetchTarget(ctx context.Context, g gitRunner, t target, gitdir string, mirror, empty bool, status func(string)) (string, string, error) {
	has := func(c string) (bool, error) {
		if mirror {
			// A pinned commit is present; the loose pin ref says so without
			// a git process (a second build dir's common case).
			if _, err := os.Stat(filepath.Join(gitdir, "refs", "xtbuild", "pins", c)); err == nil {
				return true, nil
			}
		}
		return g.ok(ctx, "", "--git-dir", gitdir, "cat-file", "-e", c+"^{commit}")
	}
	fetch := func(args ...string) error {
		full := append([]string{"--git-dir", gitdir, "fetch", "-q", "--no-tags", "--no-write-fetch-head"}, args...)
		if g.progress != nil {
			full = append(full[:3], append([]string{"--progress"}, full[3:]...)...)
		}
		_, err := g.run(ctx, "", full...)
		return err
	}
	depth := func() []string {
		if t.full {
			if _, err := os.Stat(filepath.Join(gitdir, "shallow")); err == nil {
				return []string{"--unshallow"}
			}
			return nil
		}
		return []string{"--depth", "1"}
	}
	ref, local := t.ref(), t.localRef(mirror)
	if t.commit != "" {
		want := t.commit
		if !empty {
			if ok, err := has(want); err != nil || ok {
				return want, "", err
			}
		}
		var tried []string
		if !t.full {
			status("fetching " + want[:12])
			if empty && t.host.fetch {
				_, err := fetchWire(ctx, g, t.url, gitdir, want, "", "", mirror)
				if err == nil {
					return want, "commit", nil
				}
				if ctx.Err() != nil {
					return "", "", ctx.Err()
				}
				if !errors.Is(err, errNoWire) {
					tried = append(tried, fmt.Sprintf("in process (%v)", err))
				}
			}
			src := want
			if mirror {
				src = want + ":" + pinRef(want)
			}
			err := fetch(append(depth(), "origin", src)...)
			if ctx.Err() != nil {
				return "", "", ctx.Err()
			}
			if err == nil {
				return want, "commit", nil
			}
			if ok, _ := has(want); ok {
				return want, "commit", nil
			}
			tried = append(tried, fmt.Sprintf("by id (%v)", err))
			// The branch or tag, shallow, deepened until it contains the
			// commit (pins are usually near the tip).
			for _, d := range []string{"1", "64", "1024"} {
				if ref == "" {
					break
				}
				err := fetch("--depth", d, "origin", "+"+ref+":"+local)
				if ctx.Err() != nil {
					return "", "", ctx.Err()
				}
				if ok, _ := has(want); ok {
					return want, "ref", nil
				}
				if err != nil {
					tried = append(tried, fmt.Sprintf("%s (%v)", ref, err))
					break
				}
				if d == "1024" {
					tried = append(tried, fmt.Sprintf("%s at depth %s", ref, d))
				}
			}
		}
		status("fetching full history")
		heads := "refs/remotes/origin/*"
		if mirror {
			heads = "refs/heads/*"
		}
		var unshallow []string
		if _, err := os.Stat(filepath.Join(gitdir, "shallow")); err == nil {
			unshallow = []string{"--unshallow"}
		}
		if err := fetch(append(unshallow, "origin", "+refs/heads/*:"+heads, "+refs/tags/*:refs/tags/*")...); err != nil {
			if len(tried) > 0 && ctx.Err() == nil {
				return "", "", fmt.Errorf("%w (before that: %s)", err, strings.Join(tried, "; "))
			}
			return "", "", err
		}
		if ok, err := has(want); err != nil || !ok {
			return "", "", fmt.Errorf("commit %s not found in %s (fetched every branch and tag; before that: %s)", want, t.url, strings.Join(tried, "; "))
		}
		return want, "full", nil
	}
	status("fetching " + ref)
	var wireErr error // the in-process attempt's failure, named if git fails too
	if empty && t.host.fetch && !t.full {
		// A missing branch or tag is left to git fetch, which names it.
		tip, err := fetchWire(ctx, g, t.url, gitdir, "", ref, local, mirror)
		if err == nil {
			return tip, "tip", nil
		}
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		if !errors.Is(err, errNoWire) {
			wireErr = err
		}
	}
	if err := fetch(append(depth(), "origin", "+"+ref+":"+local)...); err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		if strings.Contains(err.Error(), "couldn't find remote ref") {
			return "", "", missingRef(ctx, g, t)
		}
		if wireErr != nil {
			return "", "", fmt.Errorf("%w (before that: in process (%v))", err, wireErr)
		}
		return "", "", err
	}
	out, err := g.run(ctx, "", "--git-dir", gitdir, "rev-parse", "--verify", local+"^{commit}")
	if err != nil {
		return "", "", fmt.Errorf("%s does not point at a commit: %w", ref, err)
	}
	how := "tip"
	if t.full {
		how = "full"
	}
	return strings.TrimSpace(out), how, nil
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

// checkOrigin refuses to reuse a checkout of a different repository.
func checkOrigin(t target) error {
	u, err := exec.Command("git", "-C", t.dir, "config", "--get", "remote.origin.url").Output()
	if err != nil {
		return fmt.Errorf("%s has no origin remote; move it away or fix it", t.dir)
	}
	if got := strings.TrimSpace(string(u)); !sameURL(got, t.url) {
		return fmt.Errorf("%s is a clone of %s, not %s; move it away or change the layer url", t.dir, got, t.url)
	}
	return nil
}

// missingRef builds the error for a branch or tag that does not exist,
// naming what does exist. OpenXT silently fell back to master here.
func missingRef(ctx context.Context, g gitRunner, t target) error {
	kind, name, flag := "branch", t.layer.Branch, "--heads"
	if t.layer.Tag != "" {
		kind, name, flag = "tag", t.layer.Tag, "--tags"
	}
	out, err := g.run(ctx, "", "ls-remote", flag, t.url)
	if err != nil {
		return fmt.Errorf("%s %q does not exist in %s", kind, name, t.url)
	}
	var have []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || strings.HasSuffix(f[1], "^{}") {
			continue
		}
		have = append(have, strings.TrimPrefix(strings.TrimPrefix(f[1], "refs/heads/"), "refs/tags/"))
	}
	sort.Strings(have)
	if len(have) > 12 {
		have = append(have[:12], "...")
	}
	return fmt.Errorf("%s %q does not exist in %s (it has: %s)", kind, name, t.url, strings.Join(have, ", "))
}

// changedFiles lists paths where the worktree differs from HEAD (untracked
// files included, ignored ones not).
func changedFiles(ctx context.Context, g gitRunner, dir string) ([]string, error) {
	out, err := g.run(ctx, dir, "status", "--porcelain", "-z")
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", dir, err)
	}
	var files []string
	for _, e := range strings.Split(out, "\x00") {
		if len(e) > 3 {
			files = append(files, e[3:])
		}
	}
	sort.Strings(files)
	return files, nil
}

// checkSafeToMove refuses to move HEAD over uncommitted changes or away from
// a local commit that no ref holds (it would become unreachable and be
// lost to the next gc).
func checkSafeToMove(ctx context.Context, g gitRunner, dir string, st layerState, headNow string) error {
	files, err := changedFiles(ctx, g, dir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if len(files) > 5 {
			files = append(files[:5], fmt.Sprintf("and %d more", len(files)-5))
		}
		return fmt.Errorf("local changes in %s (%s); commit or stash them, or set XTBUILD_FORCE=1 to discard them", dir, strings.Join(files, ", "))
	}
	detached := readHead(dir)
	if detached == "" || (st.status == "complete" && st.commit == detached) {
		return nil // on a branch (its commits stay on it), or the commit xtbuild checked out
	}
	// HEAD itself is no ref: for-each-ref lists branches, remote-tracking
	// refs and tags only.
	out, err := g.run(ctx, dir, "for-each-ref", "--count=1", "--contains", detached, "--format=%(refname)")
	if err != nil {
		return fmt.Errorf("check whether %s is held by a ref: %w", detached, err)
	}
	if strings.TrimSpace(out) == "" {
		return fmt.Errorf("HEAD %s in %s is a local commit no branch holds; moving the layer would orphan it; create a branch for it (git -C %s branch NAME %s), or set XTBUILD_FORCE=1 to drop it", detached[:12], dir, dir, detached[:12])
	}
	return nil
}
