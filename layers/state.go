package layers

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// stateFile records, inside a layer's .git, whether the last checkout
// xtbuild made there finished. It is written atomically:
//
//	complete <commit> <url>   after a checkout completed
//	pending <commit> <url>    before a checkout starts over an existing tree
//
// A checkout a kill interrupted therefore leaves "pending" (an update) or
// no layer directory at all (a fresh clone is built beside it and renamed
// into place only when complete), and the next sync repairs it instead of
// trusting HEAD, which git moves before the files are all written.
const stateFile = "xtbuild-state"

type layerState struct {
	status string // "complete", "pending" or "" (none: made by someone else, or an older xtbuild)
	commit string
	url    string
}

func readState(dir string) layerState {
	data, err := os.ReadFile(filepath.Join(dir, ".git", stateFile))
	if err != nil {
		return layerState{}
	}
	f := strings.Fields(string(data))
	if len(f) != 3 || (f[0] != "complete" && f[0] != "pending") {
		return layerState{}
	}
	return layerState{status: f[0], commit: f[1], url: f[2]}
}

func writeState(dir string, s layerState) error {
	p := filepath.Join(dir, ".git", stateFile)
	if err := atomicfile.WriteFile(p, []byte(fmt.Sprintf("%s %s %s\n", s.status, s.commit, s.url)), 0o644); err != nil {
		return fmt.Errorf("record checkout state: %w", err)
	}
	return nil
}

// readHead returns the commit a detached HEAD names, or "" when HEAD is a
// symbolic ref (on a branch) or unreadable. It reads the file: the warm
// no-op path runs no git process at all.
func readHead(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, ".git", "HEAD"))
	if err != nil {
		return ""
	}
	h := strings.TrimSpace(string(data))
	if len(h) != 40 || strings.HasPrefix(h, "ref:") {
		return ""
	}
	return h
}

// alternatesOK reports whether every object store the checkout borrows
// from still exists (a deleted mirror must be noticed, not trusted).
func alternatesOK(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ".git", "objects", "info", "alternates"))
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		// The object directory itself: a mirror whose objects all came
		// loose (small fetches are unpacked) has no pack/ directory.
		if !filepath.IsAbs(l) {
			l = filepath.Join(dir, ".git", "objects", l)
		}
		if fi, err := os.Stat(l); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}
