// Package stage carries the outputs of a fanned-out build's steps between
// workers through a shared directory tree (a filesystem every worker
// mounts, `[fanout] stage`):
//
//	<stage>/<NAME>/steps/<step>/manifest.json   what the step holds (Index)
//	<stage>/<NAME>/steps/<step>/out/...         files of build-output/<NAME>/
//	<stage>/<NAME>/steps/<step>/deploy/...      files of BitBake's DEPLOY_DIR
//	<stage>/<NAME>/steps/.<step>.lock           taken while a step is written or read
//
// Publish writes a step's directory with the upload mechanism (prepared
// beside, verified at the destination, renamed into place; see upload/),
// from the files the step left on this worker: its entries of manifest.json
// (their hashes are reused), its buildstats and task graph, and the deploy
// files a later step may read from DEPLOY_DIR (see deployFiles). Restore
// copies published steps back into a build dir, verifying every file's
// sha256 before it is renamed into place, and refuses steps built from
// another layer lock. Marking restored steps done is the pipeline's job.
package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/buildlock"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/upload"
)

// Areas of a staged step: files relative to build-output/<NAME>/ and files
// relative to DEPLOY_DIR.
const (
	AreaOut    = "out"
	AreaDeploy = "deploy"
	// IndexFile is the staged step's index, written last.
	IndexFile = upload.ManifestName
)

// Index is a staged step's manifest.json. Artifacts (the upload mechanism
// reads them to skip re-hashing) lists every file the step directory holds,
// by its path there (out/..., deploy/...).
type Index struct {
	Name       string              `json:"name"`
	ConfigHash string              `json:"config_hash"`
	LockHash   string              `json:"lock_hash"`
	Artifacts  []manifest.Artifact `json:"artifacts"`
	Step       string              `json:"step"`
	Worker     string              `json:"worker"`
	// Outputs are the step's entries of the build's manifest.json, as the
	// worker recorded them (paths relative to build-output/<NAME>).
	Outputs []manifest.Artifact `json:"outputs"`
	// Same lists deploy files with the bytes of a file the step directory
	// holds (an image in DEPLOY_DIR is the file raw/ links to): they are
	// stored once and restored as a local link or copy of it.
	Same []Alias `json:"same,omitempty"`
}

// Alias is a staged path whose bytes are those of the held file As.
type Alias struct {
	Path string `json:"path"`
	As   string `json:"as"`
}

// Meta is what the caller knows about the build: the hashes of its config
// and layer lock, and the worker running this process.
type Meta struct {
	ConfigHash, LockHash, Worker string
}

// ErrOtherLock is returned (wrapped) when the stage holds a step built from
// another layer lock than this build's.
var ErrOtherLock = errors.New("built from another layer lock")

// ErrNoStage is returned (wrapped) when [fanout] stage is not configured.
var ErrNoStage = errors.New("no stage tree: set [fanout] stage (or XTBUILD_FANOUT_STAGE) to a directory every worker mounts")

// StepsDir is <stage>/<NAME>/steps. The stage root may be a symlink (a
// mount point elsewhere); below it no symlink is followed (inside), so
// nothing is written through, or read from behind, a link planted in the
// shared tree.
func StepsDir(c *config.Config, name string) (string, error) {
	if c.Fanout.Stage == "" {
		return "", ErrNoStage
	}
	p, err := inside(c.Fanout.Stage, name+"/steps")
	if err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}
	return p, nil
}

func lockStep(ctx context.Context, stepsDir, step string) (*buildlock.Lock, error) {
	return buildlock.Wait(ctx, filepath.Join(stepsDir, "."+step+".lock"))
}

// ReadIndex reads a staged step's index; a step not published gives
// fs.ErrNotExist.
func ReadIndex(stepsDir, step string) (*Index, error) {
	dir, err := inside(stepsDir, step)
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, err
	}
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("stage %s: %s: %w", step, IndexFile, err)
	}
	if ix.Step != step {
		return nil, fmt.Errorf("stage %s: %s names step %q", step, IndexFile, ix.Step)
	}
	return &ix, nil
}

// Published lists the steps the stage holds for build name, sorted.
func Published(c *config.Config, name string) ([]string, error) {
	dir, err := StepsDir(c, name)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), IndexFile)); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// sameOutputs reports whether two staged indexes hold the same step
// artifacts and deploy files (buildstats and task graphs differ from run
// to run and do not count).
func sameOutputs(a, b *Index) bool {
	key := func(ix *Index) []string {
		var out []string
		for _, f := range ix.Artifacts {
			if strings.HasPrefix(f.Path, AreaOut+"/buildstats/") || strings.HasPrefix(f.Path, AreaOut+"/taskgraph/") {
				continue
			}
			out = append(out, f.Path+" "+f.SHA256)
		}
		for _, a := range ix.Same {
			out = append(out, a.Path+" = "+ix.sha(a.As))
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// Publish puts step s's outputs from this build dir into the stage tree.
// Publishing a step again from the same lock with the same artifacts does
// nothing (whichever worker built it first stays recorded); from another
// lock it is refused, and with other artifacts it is refused unless
// b.Options.Force (then the step directory is replaced).
func Publish(ctx context.Context, b *pipe.Build, s plan.Step, meta Meta) error {
	stepsDir, err := StepsDir(b.Config, b.Plan.Name)
	if err != nil {
		return err
	}
	if s.Kind == config.KindSetupOE {
		return fmt.Errorf("stage: step %s (setupoe) has no outputs to publish; every worker runs it", s.Name)
	}
	ix, files, err := gather(ctx, b, s, meta)
	if err != nil {
		return err
	}
	lk, err := lockStep(ctx, stepsDir, s.Name)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	old, err := ReadIndex(stepsDir, s.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case old.LockHash != ix.LockHash:
		return fmt.Errorf("stage: step %s at %s was published by worker %s from lock %.12s, this build's lock is %.12s: %w; one build NAME must be built from one lock",
			s.Name, filepath.Join(stepsDir, s.Name), old.Worker, old.LockHash, ix.LockHash, ErrOtherLock)
	case sameOutputs(old, ix):
		b.Term.Printf("stage: %s already published by worker %s with the same %d files; nothing to do", s.Name, old.Worker, len(old.Artifacts))
		return nil
	case !b.Options.Force:
		return fmt.Errorf("stage: step %s at %s was published by worker %s from this lock with other artifacts (the step is not reproducible, or its outputs changed); XTBUILD_FORCE=1 replaces it",
			s.Name, filepath.Join(stepsDir, s.Name), old.Worker)
	default:
		// Replaced: the old directory moves aside and comes back if the
		// new one cannot be published.
		final, aside := filepath.Join(stepsDir, s.Name), filepath.Join(stepsDir, "."+s.Name+".replaced")
		os.RemoveAll(aside)
		if err := os.Rename(final, aside); err != nil {
			return fmt.Errorf("stage: move the old %s aside: %w", s.Name, err)
		}
		defer func() {
			if _, err := os.Stat(filepath.Join(final, IndexFile)); err != nil {
				os.RemoveAll(final)
				os.Rename(aside, final)
			}
			os.RemoveAll(aside)
		}()
	}

	// The upload mechanism publishes a directory: make one of hard links
	// (copies across filesystems) in this build dir's state area.
	local := filepath.Join(b.Config.BuildDir(), ".xtbuild", "stage", s.Name)
	defer os.RemoveAll(local)
	err = atomicfile.ReplaceDir(local, func(tmp string) error {
		for _, f := range ix.Artifacts {
			dst := filepath.Join(tmp, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := linkOrCopy(ctx, files[f.Path], dst); err != nil {
				return fmt.Errorf("stage %s: %w", s.Name, err)
			}
		}
		data, err := json.MarshalIndent(ix, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(filepath.Join(tmp, IndexFile), append(data, '\n'), 0o644)
	})
	if err != nil {
		return err
	}
	st, err := upload.Publish(ctx, upload.Options{
		Src: local, Name: s.Name, Dest: "file://" + filepath.Join(b.Config.Fanout.Stage, b.Plan.Name),
		Branch: "steps", NoLatest: true, Term: b.Term, Log: b.Log,
	})
	if err != nil {
		return fmt.Errorf("stage: publish %s: %w", s.Name, err)
	}
	b.Term.Printf("stage: %s published by worker %s to %s (%d files, %d bytes, %d verified)",
		s.Name, ix.Worker, filepath.Join(stepsDir, s.Name), st.Files, st.Bytes, st.Verified)
	return nil
}

func linkOrCopy(ctx context.Context, src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return atomicfile.CopyNew(ctx, src, dst, 0o644)
}

// gather makes the index of step s and maps each staged path to the file
// on this worker it comes from.
func gather(ctx context.Context, b *pipe.Build, s plan.Step, meta Meta) (*Index, map[string]string, error) {
	outDir := b.OutDir()
	m, err := manifest.Read(filepath.Join(outDir, manifest.File))
	if err != nil {
		return nil, nil, err
	}
	ix := &Index{Name: b.Plan.Name, ConfigHash: meta.ConfigHash, LockHash: meta.LockHash, Step: s.Name, Worker: meta.Worker, Outputs: []manifest.Artifact{}}
	files := map[string]string{}
	known := map[string]manifest.Artifact{} // staged path -> entry with a hash
	var toHash []string                     // staged paths still to hash
	add := func(staged, src string) {
		if _, dup := files[staged]; !dup {
			files[staged] = src
		}
	}
	for _, a := range m.Artifacts {
		if a.Step != s.Name {
			continue
		}
		src, err := inside(outDir, a.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: manifest entry %s: %w", s.Name, a.Path, err)
		}
		if err := regular(src); err != nil {
			return nil, nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		ix.Outputs = append(ix.Outputs, a)
		staged := AreaOut + "/" + a.Path
		add(staged, src)
		known[staged] = manifest.Artifact{Path: staged, Size: a.Size, SHA256: a.SHA256, Step: s.Name, Machine: a.Machine}
	}
	// Buildstats (with the worker file) and the task graph, when the step
	// left them.
	for _, rel := range []string{"buildstats/" + s.Name, "taskgraph/" + s.Name + ".dot"} {
		err := walkRegular(outDir, rel, func(r, p string) { add(AreaOut+"/"+r, p); toHash = append(toHash, AreaOut+"/"+r) })
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
	}
	var deployPaths []string
	if s.Kind == config.KindBitbake {
		dep := bbconf.BuildDirs(b.Config).Deploy
		df, err := deployFiles(dep, s)
		if err != nil {
			return nil, nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		for rel, src := range df {
			staged := AreaDeploy + "/" + rel
			add(staged, src)
			deployPaths = append(deployPaths, staged)
			// Deploy files are usually the very inodes raw/ links to: their
			// hash is the manifest entry's.
			var reuse *manifest.Artifact
			for k, a := range known {
				if strings.HasPrefix(k, AreaOut+"/") && sameFile(files[k], src) {
					reuse = &a
					break
				}
			}
			if reuse != nil {
				known[staged] = manifest.Artifact{Path: staged, Size: reuse.Size, SHA256: reuse.SHA256, Step: s.Name, Machine: s.Machine}
			} else {
				toHash = append(toHash, staged)
			}
		}
	}
	sort.Strings(toHash)
	srcs := make([]string, len(toHash))
	for i, p := range toHash {
		srcs[i] = files[p]
	}
	hashed, err := manifest.Artifacts(ctx, "", srcs, s.Name, s.Machine)
	if err != nil {
		return nil, nil, err
	}
	for i, a := range hashed {
		a.Path = toHash[i]
		known[toHash[i]] = a
	}
	// A deploy file with the bytes of an output is stored once.
	held := map[string]string{} // size and sha256 -> out/ path
	for p, a := range known {
		if strings.HasPrefix(p, AreaOut+"/") {
			k := fmt.Sprint(a.Size, a.SHA256)
			if q, ok := held[k]; !ok || p < q {
				held[k] = p
			}
		}
	}
	sort.Strings(deployPaths)
	for _, p := range deployPaths {
		a := known[p]
		if as, ok := held[fmt.Sprint(a.Size, a.SHA256)]; ok {
			ix.Same = append(ix.Same, Alias{Path: p, As: as})
			delete(known, p)
		}
	}
	for _, a := range known {
		ix.Artifacts = append(ix.Artifacts, a)
	}
	sort.Slice(ix.Artifacts, func(i, j int) bool { return ix.Artifacts[i].Path < ix.Artifacts[j].Path })
	if len(ix.Artifacts) == 0 {
		return nil, nil, fmt.Errorf("stage %s: nothing to publish: no manifest entries, buildstats or deploy files (was the step built here?)", s.Name)
	}
	return ix, files, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// deployFiles is what step s leaves in DEPLOY_DIR for later steps (dom0
// reads the stubdomain initramfs and kernel from deploy/images/
// xenclient-stubdomain/, BitBake cannot express that dependency across
// MACHINEs) and for the license step (the images' licences CSVs): the
// files its artifact patterns match, every stable link name in
// images/<MACHINE>/ (IMAGE_LINK_NAME, KERNEL_IMAGE_LINK_NAME: the newest
// image, kernel, modules; timestamped files stay behind) resolved to its
// file, and <image>-licences.csv of each of its images. Keys are paths
// relative to DEPLOY_DIR; links whose target leaves DEPLOY_DIR are refused.
func deployFiles(deploy string, s plan.Step) (map[string]string, error) {
	out := map[string]string{}
	realDeploy, err := filepath.EvalSymlinks(deploy)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	take := func(p string) error {
		rel, err := filepath.Rel(deploy, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("deploy file %s is outside %s", p, deploy)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("deploy file %s: %w", p, err)
		}
		if r, err := filepath.Rel(realDeploy, real); err != nil || strings.HasPrefix(r, "..") {
			return fmt.Errorf("deploy file %s leads to %s, outside the deploy dir; refusing to publish it", p, real)
		}
		st, err := os.Stat(real)
		if err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			out[filepath.ToSlash(rel)] = real
		}
		return nil
	}
	for _, a := range s.Artifacts {
		matches, err := filepath.Glob(filepath.Join(deploy, filepath.FromSlash(strings.ReplaceAll(a.From, "{machine}", s.Machine))))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if err := take(m); err != nil {
				return nil, err
			}
		}
	}
	if s.Machine == "" {
		return out, nil
	}
	imgDir := filepath.Join(deploy, "images", s.Machine)
	ents, err := os.ReadDir(imgDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(imgDir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				continue // a dangling link names nothing to carry
			}
			if err := take(p); err != nil {
				return nil, err
			}
			continue
		}
		for _, img := range s.Images {
			if e.Name() == img+"-licences.csv" && e.Type().IsRegular() {
				if err := take(p); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// inside joins a slash-separated relative path to base, refusing absolute
// paths, paths that climb out of base and existing symlinks on the way.
func inside(base, rel string) (string, error) {
	if err := cleanRel(rel); err != nil {
		return "", fmt.Errorf("%w inside %s", err, base)
	}
	p := base
	for _, c := range strings.Split(rel, "/") {
		p = filepath.Join(p, c)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(base, filepath.FromSlash(rel)), nil
		}
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s is a symlink; refusing to follow it", p)
		}
	}
	return p, nil
}

// cleanRel refuses a path that is not clean, slash-separated and relative,
// or that climbs out of its base.
func cleanRel(rel string) error {
	if rel == "" || path.IsAbs(rel) || strings.Contains(rel, "\\") || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("path %q is not a clean relative path", rel)
	}
	return nil
}

func regular(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

// walkRegular calls fn for every regular file under base/rel (a file or a
// directory; none when missing), with its slash path relative to base.
// Symlinks and other special files are refused.
func walkRegular(base, rel string, fn func(rel, p string)) error {
	root, err := inside(base, rel)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type().IsRegular():
			r, _ := filepath.Rel(base, p)
			fn(filepath.ToSlash(r), p)
			return nil
		}
		return fmt.Errorf("%s is a %v, not a regular file; refusing to publish it", p, d.Type())
	})
}
