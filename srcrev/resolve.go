package srcrev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/xtbuild/xtbuild/layers"
)

// Origin says where a pin's commit came from.
const (
	FromConfig  = "config"  // the [srcrev] table
	FromMirror  = "mirror"  // the branch head in the bare mirror
	FromNetwork = "network" // the branch head by git ls-remote
	FromLock    = "lock"    // xtbuild.lock, in locked mode
)

// Pin is a source fixed to a commit.
type Pin struct {
	Source
	Commit string
	From   string
	// Mirror is the bare mirror holding the source ("" if none): the
	// target of its PREMIRRORS line.
	Mirror string
}

// Options steer Resolve.
type Options struct {
	// GitDir holds bare mirrors named <repo>.git ([mirrors] git_dir).
	GitDir string
	// Overrides is [srcrev]: key (recipe, or recipe:name) to commit.
	// Keys no scanned source has pin that recipe's SRCREV all the same.
	Overrides map[string]string
	// Network allows git ls-remote for sources without a mirror.
	Network bool
	// Locked takes every commit from Lock and refuses any difference
	// between the lock and the layers or the overrides (XTBUILD_LOCKED=1).
	Locked bool
	Lock   []layers.LockedSrcrev
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Resolve fixes every source to a commit. The errors of all sources are
// returned together, each naming the recipe.
func Resolve(ctx context.Context, srcs []Source, o Options) ([]Pin, error) {
	for k, c := range o.Overrides {
		if !commitRE.MatchString(c) {
			return nil, fmt.Errorf("[srcrev] %s = %q: want a full 40-digit lower-case commit id", k, c)
		}
	}
	pins := make([]Pin, len(srcs))
	errs := make([]error, len(srcs))
	known := map[string]bool{}
	for _, s := range srcs {
		known[s.Key()] = true
	}
	lock := map[string]layers.LockedSrcrev{}
	for _, l := range o.Lock {
		lock[lockKey(l)] = l
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, s := range srcs {
		pins[i] = Pin{Source: s}
		if o.GitDir != "" {
			if m := filepath.Join(o.GitDir, s.Repo+".git"); isDir(m) {
				pins[i].Mirror = m
			}
		}
		if c, ok := o.Overrides[s.Key()]; ok {
			pins[i].Commit, pins[i].From = c, FromConfig
		}
		if o.Locked {
			l, ok := lock[s.Key()]
			switch {
			case !ok:
				errs[i] = fmt.Errorf("%s follows %s %s, but xtbuild.lock has no commit for it; run setupoe without XTBUILD_LOCKED to record one", s.Key(), s.URL, s.Branch)
			case l.URL != s.URL || l.Branch != s.Branch:
				errs[i] = fmt.Errorf("%s: the layers now fetch %s branch %s, xtbuild.lock has %s branch %s", s.Key(), s.URL, s.Branch, l.URL, l.Branch)
			case pins[i].From == FromConfig && pins[i].Commit != l.Commit:
				errs[i] = fmt.Errorf("%s: [srcrev] says %s, xtbuild.lock has %s", s.Key(), pins[i].Commit, l.Commit)
			default:
				pins[i].Commit, pins[i].From = l.Commit, FromLock
			}
			continue
		}
		if pins[i].From == FromConfig {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			p := &pins[i]
			var err error
			switch {
			case p.Mirror != "":
				p.Commit, err = mirrorHead(p.Mirror, p.Branch)
				p.From = FromMirror
			case o.Network:
				p.Commit, err = remoteHead(ctx, p.URL, p.Branch)
				p.From = FromNetwork
			default:
				where := "no [mirrors] git_dir is configured"
				if o.GitDir != "" {
					where = "no mirror " + filepath.Join(o.GitDir, p.Repo+".git")
				}
				err = fmt.Errorf("network use is off and %s; pin it in [srcrev]", where)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s (%s branch %s): %w", p.Key(), p.URL, p.Branch, err)
			}
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Overrides for recipes the scan did not find (not AUTOREV, or read
	// only by BitBake) still pin that recipe's SRCREV.
	var extra []string
	for k := range o.Overrides {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		recipe, name, _ := strings.Cut(k, ":")
		s := Source{Recipe: recipe, Name: "default", Var: "SRCREV"}
		if name != "" {
			s.Name, s.Var = name, "SRCREV_"+name
		}
		p := Pin{Source: s, Commit: o.Overrides[k], From: FromConfig}
		if o.Locked {
			if l, ok := lock[k]; !ok || l.Commit != p.Commit {
				errs = append(errs, fmt.Errorf("%s: [srcrev] pins %s, xtbuild.lock has %q", k, p.Commit, l.Commit))
			}
		}
		pins = append(pins, p)
	}
	if o.Locked {
		for k := range lock {
			if !known[k] && o.Overrides[k] == "" {
				errs = append(errs, fmt.Errorf("%s is in xtbuild.lock but no configured layer follows a branch for it any more", k))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(pins, func(i, j int) bool { return pins[i].Key() < pins[j].Key() })
	return pins, nil
}

func lockKey(l layers.LockedSrcrev) string {
	if l.Name == "" || l.Name == "default" {
		return l.Recipe
	}
	return l.Recipe + ":" + l.Name
}

// Locked converts pins into lock entries.
func Locked(pins []Pin) []layers.LockedSrcrev {
	out := make([]layers.LockedSrcrev, len(pins))
	for i, p := range pins {
		name := p.Name
		if name == "default" {
			name = ""
		}
		out[i] = layers.LockedSrcrev{Recipe: p.Recipe, Name: name, URL: p.URL, Branch: p.Branch, Commit: p.Commit, From: p.From}
	}
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// mirrorHead reads refs/heads/<branch> of a bare mirror.
func mirrorHead(dir, branch string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", fmt.Errorf("open mirror %s: %w", dir, err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return "", fmt.Errorf("mirror %s has no branch %s: %w", dir, branch, err)
	}
	return ref.Hash().String(), nil
}

// remoteHead is git ls-remote <url> refs/heads/<branch>.
func remoteHead(ctx context.Context, u, branch string) (string, error) {
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{u}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("ls-remote: %w", err)
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, r := range refs {
		if r.Name() == want {
			return r.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("ls-remote: no branch %s", branch)
}
