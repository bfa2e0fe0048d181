package poller

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Change is one buildbot change, the fields of /change_hook/base.
type Change struct {
	Revision string
	Branch   string
	Author   string
	Comments string
	Files    []string
	When     time.Time // zero: let the master stamp the arrival time
}

// Changes turns one ref event into buildbot changes with the rules of
// buildbot's contrib git_buildbot.py, so switching transports changes
// nothing a scheduler sees:
//   - branch updated: every commit in old..new, oldest first; a force push
//     first gives a "Rewind branch" change at the merge base.
//   - branch created: the commits on no other branch, oldest first.
//   - tag created: one change for the tagged commit, branch = tag name.
//   - deletions, tag moves and refs outside heads/tags: nothing.
//
// heads are the mirror's branches after the fetch; max caps the commits
// reported for one event (the newest are kept).
func Changes(ctx context.Context, repo *git.Repository, ev Event, heads Refs, max int) ([]Change, error) {
	switch {
	case ev.Deleted():
		return nil, nil
	case strings.HasPrefix(ev.Ref, "refs/tags/"):
		if !ev.Created() {
			return nil, nil
		}
		c, err := peelCommit(repo, plumbing.NewHash(ev.New))
		if err != nil {
			return nil, fmt.Errorf("resolve tag %s: %w", ev.Ref, err)
		}
		ch, err := commitChange(ctx, c, strings.TrimPrefix(ev.Ref, "refs/tags/"))
		if err != nil {
			return nil, err
		}
		return []Change{ch}, nil
	case !strings.HasPrefix(ev.Ref, "refs/heads/"):
		return nil, nil
	}
	branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
	newC, err := repo.CommitObject(plumbing.NewHash(ev.New))
	if err != nil {
		return nil, fmt.Errorf("read commit %s of %s: %w", ev.New, ev.Ref, err)
	}
	var out []Change
	var exclude []*object.Commit
	if ev.Created() {
		for ref, h := range heads {
			if ref == ev.Ref || !strings.HasPrefix(ref, "refs/heads/") {
				continue
			}
			c, err := repo.CommitObject(plumbing.NewHash(h))
			if err != nil {
				return nil, fmt.Errorf("read head %s: %w", ref, err)
			}
			exclude = append(exclude, c)
		}
	} else {
		oldC, err := repo.CommitObject(plumbing.NewHash(ev.Old))
		if err != nil {
			return nil, fmt.Errorf("read old commit %s of %s: %w", ev.Old, ev.Ref, err)
		}
		bases, err := oldC.MergeBase(newC)
		if err != nil {
			return nil, fmt.Errorf("merge base of %s: %w", ev.Ref, err)
		}
		if len(bases) == 0 || bases[0].Hash != oldC.Hash {
			// A rewind: report where the branch now forks off the old line.
			rw := Change{Revision: ZeroRev, Branch: branch, Author: "dummy", Comments: "Rewind branch"}
			if len(bases) > 0 {
				rw.Revision = bases[0].Hash.String()
				rw.Files, err = changedFiles(ctx, oldC, bases[0])
				if err != nil {
					return nil, err
				}
			}
			out = append(out, rw)
		}
		exclude = append(exclude, oldC)
	}
	commits, err := commitsBetween(newC, exclude, max)
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", ev.Ref, err)
	}
	for _, c := range commits {
		ch, err := commitChange(ctx, c, branch)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

func peelCommit(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		t, err := repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return repo.CommitObject(h)
		}
		if err != nil {
			return nil, err
		}
		h = t.Target
	}
	return nil, fmt.Errorf("tag chain too long at %s", h)
}

func commitChange(ctx context.Context, c *object.Commit, branch string) (Change, error) {
	ch := Change{
		Revision: c.Hash.String(),
		Branch:   branch,
		Author:   fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		Comments: strings.TrimRight(c.Message, "\n"),
		When:     c.Committer.When,
	}
	var parent *object.Commit
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return ch, fmt.Errorf("read parent of %s: %w", c.Hash, err)
		}
		parent = p
	}
	files, err := changedFiles(ctx, parent, c)
	if err != nil {
		return ch, err
	}
	if c.NumParents() > 1 {
		files = append(files, "merge") // git_buildbot.py's marker for merges
	}
	ch.Files = files
	return ch, nil
}

// changedFiles lists the paths that differ between two commits (all of to's
// files when from is nil), sorted.
func changedFiles(ctx context.Context, from, to *object.Commit) ([]string, error) {
	toTree, err := to.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", to.Hash, err)
	}
	var fromTree *object.Tree
	if from != nil {
		if fromTree, err = from.Tree(); err != nil {
			return nil, fmt.Errorf("read tree of %s: %w", from.Hash, err)
		}
	}
	diff, err := object.DiffTreeWithOptions(ctx, fromTree, toTree, nil)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", to.Hash, err)
	}
	seen := map[string]bool{}
	var files []string
	for _, d := range diff {
		for _, n := range []string{d.From.Name, d.To.Name} {
			if n != "" && !seen[n] {
				seen[n] = true
				files = append(files, n)
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

// commitsBetween returns the commits reachable from tip and from none of
// exclude, oldest first, at most max (the newest ones). It walks newest
// first and paints commits reached from the excluded side, stopping once
// only painted commits remain queued (git's own limit_list approach), so it
// reads the new commits plus a small frontier, never the whole history.
func commitsBetween(tip *object.Commit, exclude []*object.Commit, max int) ([]*object.Commit, error) {
	const (
		fromTip     = 1
		fromExclude = 2
	)
	flags := map[plumbing.Hash]uint8{}
	q := &commitQueue{}
	push := func(c *object.Commit, f uint8) {
		old := flags[c.Hash]
		if old|f == old {
			return
		}
		flags[c.Hash] = old | f
		heap.Push(q, c)
	}
	for _, c := range exclude {
		push(c, fromExclude)
	}
	push(tip, fromTip)
	var order []*object.Commit
	seen := map[plumbing.Hash]bool{}
	slop := 5 // extra rounds after everything is painted, for clock skew
	for q.Len() > 0 {
		if q.allPainted(flags, fromExclude) {
			if slop == 0 {
				break
			}
			slop--
		}
		c := heap.Pop(q).(*object.Commit)
		f := flags[c.Hash]
		if f == fromTip && !seen[c.Hash] {
			seen[c.Hash] = true
			order = append(order, c)
			if max > 0 && len(order) > 4*max+1000 {
				break // unrelated history: stop reading, keep the newest
			}
		}
		err := c.Parents().ForEach(func(p *object.Commit) error {
			push(p, f)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read parents of %s: %w", c.Hash, err)
		}
	}
	var out []*object.Commit
	for _, c := range order {
		if flags[c.Hash] == fromTip {
			out = append(out, c)
		}
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	slices.Reverse(out)
	return out, nil
}

// commitQueue orders commits newest committer time first.
type commitQueue []*object.Commit

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	return q[i].Committer.When.After(q[j].Committer.When)
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(*object.Commit)) }
func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

func (q commitQueue) allPainted(flags map[plumbing.Hash]uint8, paint uint8) bool {
	for _, c := range q {
		if flags[c.Hash]&paint == 0 {
			return false
		}
	}
	return true
}
