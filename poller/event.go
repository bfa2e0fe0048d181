// Package poller keeps bare mirrors of many git repositories up to date and
// reports every ref that moved, the way a server-side post-receive hook would
// see it: to a hook command's stdin and/or to buildbot's HTTP change hook.
//
// It replaces twobit-git-poller (and reads its INI config): one daemon for
// dozens of repositories and whole GitHub organisations, instead of one
// buildbot GitPoller per repository.
package poller

import (
	"maps"
	"slices"
	"strings"
)

// ZeroRev is what post-receive shows for the missing side of a created or
// deleted ref.
const ZeroRev = "0000000000000000000000000000000000000000"

// Refs maps full ref names (refs/heads/x, refs/tags/y) to hex object names.
type Refs map[string]string

// Event is one line of post-receive input: a ref moved from Old to New.
// Old is ZeroRev for a created ref, New is ZeroRev for a deleted one.
type Event struct {
	Old, New, Ref string
}

// String formats the event exactly as git feeds post-receive: "old new ref".
func (e Event) String() string { return e.Old + " " + e.New + " " + e.Ref }

// Created reports whether the ref did not exist before.
func (e Event) Created() bool { return e.Old == ZeroRev }

// Deleted reports whether the ref no longer exists.
func (e Event) Deleted() bool { return e.New == ZeroRev }

// Diff returns the events that turn before into after, sorted by ref name.
func Diff(before, after Refs) []Event {
	var evs []Event
	for ref, n := range after {
		o, ok := before[ref]
		switch {
		case !ok:
			evs = append(evs, Event{Old: ZeroRev, New: n, Ref: ref})
		case o != n:
			evs = append(evs, Event{Old: o, New: n, Ref: ref})
		}
	}
	for ref, o := range before {
		if _, ok := after[ref]; !ok {
			evs = append(evs, Event{Old: o, New: ZeroRev, Ref: ref})
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Ref, b.Ref) })
	return evs
}

// PostReceiveInput renders events as a post-receive hook's stdin.
func PostReceiveInput(evs []Event) []byte {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// tracked reports whether a ref is one the poller mirrors and reports:
// branches and tags (git_buildbot.py ignores everything else too).
func tracked(ref string) bool {
	return strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/")
}

func (r Refs) clone() Refs { return maps.Clone(r) }
