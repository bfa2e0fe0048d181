package layers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gitcfg "github.com/go-git/go-git/v5/plumbing/format/config"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/poller"
)

// The layer store ([paths] git_cache) holds one bare mirror per upstream
// URL, shared by every build dir on the host. Checkouts borrow its objects
// through .git/objects/info/alternates, as `git clone --reference` does, so
// a second build dir of the same layers fetches nothing.
//
// Safety:
//   - every change to a mirror happens under an flock on <mirror>.lock, so
//     concurrent builds fetch one after the other and see each other's
//     objects;
//   - a new mirror is initialised beside its final name and renamed into
//     place, so a kill never leaves a half-made mirror under the real name;
//   - every commit a checkout uses is kept by a ref refs/xtbuild/pins/<sha>
//     in the mirror, so no fetch --prune and no gc there can delete objects a
//     checkout borrows. Pins are never removed by xtbuild (docs/performance.md
//     says how to drop them by hand);
//   - a checkout whose mirror has disappeared is noticed (the alternates
//     target is checked on every sync, the warm path included) and the mirror
//     is fetched again.
//
// An existing mirror named as the poller names its own
// (poller.MirrorDirName) is used when its origin is the layer's URL, so
// git_cache may point at the poller's basedir; mirrors xtbuild creates get
// the name plus a hash of the URL.
type store struct {
	dir string
}

// mirrorPath picks the mirror directory for url: an existing mirror of url
// under the poller's name for it, else a name of xtbuild's own that holds
// a hash of the URL (two upstreams ending in the same "/repo" must never
// share a mirror, even when they are created at the same moment).
func (s store) mirrorPath(url string) string {
	name := poller.MirrorDirName(url)
	p := filepath.Join(s.dir, name)
	if u, err := originURL(p); err == nil && sameURL(u, url) {
		return p
	}
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(s.dir, strings.TrimSuffix(name, ".git")+"-"+hex.EncodeToString(sum[:6])+".git")
}

// originURL reads remote.origin.url of a bare repository without running git.
func originURL(gitdir string) (string, error) {
	f, err := os.Open(filepath.Join(gitdir, "config"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	cfg := gitcfg.New()
	if err := gitcfg.NewDecoder(f).Decode(cfg); err != nil {
		return "", err
	}
	return cfg.Section("remote").Subsection("origin").Option("url"), nil
}

func sameURL(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }

// mirror is a locked mirror; release unlocks it.
type mirror struct {
	dir     string
	lk      *buildlock.Lock
	created bool // made by this open: it holds no object yet
}

func (m *mirror) release() { m.lk.Unlock() }

// open locks (waiting for other builds) and if needed creates the mirror
// of url.
func (s store) open(ctx context.Context, g gitRunner, url string) (*mirror, error) {
	p := s.mirrorPath(url)
	lk, err := buildlock.Wait(ctx, p+".lock")
	if err != nil {
		return nil, err
	}
	m := &mirror{dir: p, lk: lk}
	if _, err := os.Stat(filepath.Join(p, "objects")); err == nil {
		if u, err := originURL(p); err != nil || !sameURL(u, url) {
			m.release()
			return nil, fmt.Errorf("mirror %s is not a mirror of %s (origin %q); move it away", p, url, u)
		}
		// What a killed in-process fetch (fetchWire) left; the mirror's
		// lock, which the caller holds, guards every write there.
		atomicfile.RemoveTemps(filepath.Join(p, "objects", "pack"))
		return m, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		m.release()
		return nil, err
	}
	tmp := p + ".partial"
	os.RemoveAll(tmp) // an earlier run was killed making it; we hold the lock
	if err := initRepo(tmp, true, url); err != nil {
		m.release()
		return nil, fmt.Errorf("create mirror %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		m.release()
		return nil, fmt.Errorf("create mirror %s: %w", p, err)
	}
	m.created = true
	return m, nil
}

// pinRef is the mirror ref that keeps commit's objects for the checkouts.
func pinRef(commit string) string { return "refs/xtbuild/pins/" + commit }

// pin keeps commit's objects in the mirror for the checkouts that use it.
func (m *mirror) pin(ctx context.Context, g gitRunner, commit string) error {
	if _, err := os.Stat(filepath.Join(m.dir, filepath.FromSlash(pinRef(commit)))); err == nil {
		return nil // a fetch by id wrote it, or an earlier build dir's sync
	}
	_, err := g.run(ctx, m.dir, "update-ref", pinRef(commit), commit)
	return err
}

// lend makes the checkout at dir borrow the mirror's objects: alternates,
// plus the mirror's shallow boundary so git does not look for parents that
// were never fetched.
func (m *mirror) lend(dir string) error {
	alt := filepath.Join(dir, ".git", "objects", "info", "alternates")
	want := filepath.Join(m.dir, "objects") + "\n"
	if data, err := os.ReadFile(alt); err != nil || string(data) != want {
		if err := os.MkdirAll(filepath.Dir(alt), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(alt, []byte(want), 0o644); err != nil {
			return err
		}
	}
	shallow, err := os.ReadFile(filepath.Join(m.dir, "shallow"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	mine := filepath.Join(dir, ".git", "shallow")
	have, _ := os.ReadFile(mine)
	merged := mergeLines(have, shallow)
	if string(merged) == string(have) {
		return nil
	}
	return atomicfile.WriteFile(mine, merged, 0o644)
}

func mergeLines(a, b []byte) []byte {
	seen := map[string]bool{}
	var out []string
	for _, l := range strings.Split(string(a)+"\n"+string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return []byte(strings.Join(out, "\n") + "\n")
}
