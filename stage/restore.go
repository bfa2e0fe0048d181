package stage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
)

// Restore copies the published steps named, in that order, into this
// build dir: out/ files into build-output/<NAME>/, deploy/ files into
// DEPLOY_DIR. Every step must be published for this build NAME from this
// layer lock (meta.LockHash); a mix of locks is refused before anything is
// written. Each file is copied beside its destination, its sha256 checked
// against the index, and only then renamed into place. A deploy file two
// steps both hold is the later step's. It returns the steps' indexes.
func Restore(ctx context.Context, b *pipe.Build, steps []string, meta Meta) ([]*Index, error) {
	stepsDir, err := StepsDir(b.Config, b.Plan.Name)
	if err != nil {
		return nil, err
	}
	// Hold every step's lock while reading: a step being replaced
	// (XTBUILD_FORCE=1) is not read half old, half new. Locks are taken in
	// name order; Publish holds one at a time.
	sorted := append([]string(nil), steps...)
	sort.Strings(sorted)
	for _, s := range sorted {
		lk, err := lockStep(ctx, stepsDir, s)
		if err != nil {
			return nil, err
		}
		defer func(lk *buildlock.Lock) { lk.Unlock() }(lk)
	}
	var ixs []*Index
	var wrong []string
	for _, s := range steps {
		ix, err := ReadIndex(stepsDir, s)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stage: step %s is not published in %s (did its builder run stage:put?)", s, stepsDir)
		}
		if err != nil {
			return nil, err
		}
		if err := checkIndex(ix); err != nil {
			return nil, err
		}
		if ix.Name != b.Plan.Name {
			return nil, fmt.Errorf("stage: step %s in %s belongs to build %q, not %q", s, stepsDir, ix.Name, b.Plan.Name)
		}
		if ix.LockHash != meta.LockHash {
			wrong = append(wrong, fmt.Sprintf("%s (worker %s, lock %.12s)", s, ix.Worker, ix.LockHash))
		}
		ixs = append(ixs, ix)
	}
	if len(wrong) > 0 {
		return nil, fmt.Errorf("stage: this build's lock is %.12s but %s: %w; refusing to mix them in one build",
			meta.LockHash, strings.Join(wrong, ", "), ErrOtherLock)
	}
	bases := map[string]string{AreaOut: b.OutDir(), AreaDeploy: bbconf.BuildDirs(b.Config).Deploy}
	deployFrom := map[string]*Index{}
	for _, ix := range ixs {
		if err := restoreStep(ctx, b, filepath.Join(stepsDir, ix.Step), ix, bases); err != nil {
			return nil, err
		}
		for _, p := range ix.paths() {
			if rel, ok := strings.CutPrefix(p, AreaDeploy+"/"); ok {
				if prev := deployFrom[rel]; prev != nil && prev.sha(p) != ix.sha(p) {
					b.Log.Warn("stage: deploy file held by two steps with different content; the later one is kept", "file", rel, "earlier", prev.Step, "later", ix.Step)
				}
				deployFrom[rel] = ix
			}
		}
		b.Term.Printf("stage: %s (built by worker %s) restored: %d files verified", ix.Step, ix.Worker, len(ix.Artifacts)+len(ix.Same))
	}
	return ixs, nil
}

// sha is the sha256 of staged path p, held or an alias.
func (ix *Index) sha(p string) string {
	for _, a := range ix.Same {
		if a.Path == p {
			p = a.As
		}
	}
	for _, a := range ix.Artifacts {
		if a.Path == p {
			return a.SHA256
		}
	}
	return ""
}

// paths lists every staged path, held files and aliases.
func (ix *Index) paths() []string {
	var out []string
	for _, a := range ix.Artifacts {
		out = append(out, a.Path)
	}
	for _, a := range ix.Same {
		out = append(out, a.Path)
	}
	return out
}

// checkIndex refuses an index whose paths leave their areas, and outputs
// that the step directory does not hold with the same hash.
func checkIndex(ix *Index) error {
	held := map[string]manifest.Artifact{}
	for _, a := range ix.Artifacts {
		area, rel, ok := strings.Cut(a.Path, "/")
		if !ok || (area != AreaOut && area != AreaDeploy) {
			return fmt.Errorf("stage: step %s lists %q, outside out/ and deploy/", ix.Step, a.Path)
		}
		if err := cleanRel(rel); err != nil {
			return fmt.Errorf("stage: step %s: %w", ix.Step, err)
		}
		if len(a.SHA256) != 64 {
			return fmt.Errorf("stage: step %s: %s has no sha256", ix.Step, a.Path)
		}
		held[a.Path] = a
	}
	for _, a := range ix.Same {
		area, rel, _ := strings.Cut(a.Path, "/")
		if area != AreaDeploy || cleanRel(rel) != nil {
			return fmt.Errorf("stage: step %s: alias %q is not a clean path under deploy/", ix.Step, a.Path)
		}
		if _, ok := held[a.As]; !ok {
			return fmt.Errorf("stage: step %s: alias %s names %s, which the step does not hold", ix.Step, a.Path, a.As)
		}
	}
	for _, o := range ix.Outputs {
		h, ok := held[AreaOut+"/"+o.Path]
		if !ok || h.SHA256 != o.SHA256 || h.Size != o.Size || o.Step != ix.Step {
			return fmt.Errorf("stage: step %s: output %s is not held as recorded", ix.Step, o.Path)
		}
	}
	return nil
}

type pending struct {
	a        manifest.Artifact
	tmp, dst string
}

func restoreStep(ctx context.Context, b *pipe.Build, dir string, ix *Index, bases map[string]string) error {
	var ps []pending
	defer func() {
		for _, p := range ps {
			os.Remove(p.tmp)
		}
	}()
	for _, a := range ix.Artifacts {
		area, rel, _ := strings.Cut(a.Path, "/")
		src, err := inside(dir, a.Path)
		if err != nil {
			return fmt.Errorf("stage %s: %w", ix.Step, err)
		}
		if err := regular(src); err != nil {
			return fmt.Errorf("stage %s: %w", ix.Step, err)
		}
		dst, err := inside(bases[area], rel)
		if err != nil {
			return fmt.Errorf("stage %s: restore %s: %w", ix.Step, a.Path, err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".xtbuild-stage")
		os.Remove(tmp)
		if err := atomicfile.CopyNew(ctx, src, tmp, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", ix.Step, err)
		}
		ps = append(ps, pending{a: a, tmp: tmp, dst: dst})
	}
	tmps := make([]string, len(ps))
	for i, p := range ps {
		tmps[i] = p.tmp
	}
	sizes, sums, err := manifest.SHA256(ctx, tmps)
	if err != nil {
		return fmt.Errorf("stage %s: %w", ix.Step, err)
	}
	for i, p := range ps {
		if sizes[i] != p.a.Size || sums[i] != p.a.SHA256 {
			return fmt.Errorf("stage %s: %s has sha256 %s (%d bytes) in the stage, its index says %s (%d bytes); not restored",
				ix.Step, p.a.Path, sums[i], sizes[i], p.a.SHA256, p.a.Size)
		}
	}
	// Aliases: a local link (or copy) of the verified file.
	tmpOf := map[string]string{}
	for _, p := range ps {
		tmpOf[p.a.Path] = p.tmp
	}
	for _, al := range ix.Same {
		_, rel, _ := strings.Cut(al.Path, "/")
		dst, err := inside(bases[AreaDeploy], rel)
		if err != nil {
			return fmt.Errorf("stage %s: restore %s: %w", ix.Step, al.Path, err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".xtbuild-stage")
		os.Remove(tmp)
		if err := os.Link(tmpOf[al.As], tmp); err != nil {
			if err := atomicfile.CopyNew(ctx, tmpOf[al.As], tmp, 0o644); err != nil {
				return fmt.Errorf("stage %s: %w", ix.Step, err)
			}
		}
		ps = append(ps, pending{tmp: tmp, dst: dst})
	}
	for _, p := range ps {
		if err := atomicfile.Install(p.tmp, p.dst, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", ix.Step, err)
		}
	}
	ps = nil
	return nil
}
