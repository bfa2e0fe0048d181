package mirror

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// Action says what Populate did with one download.
type Action string

const (
	Added     Action = "added"     // new in the mirror
	Replaced  Action = "replaced"  // content changed in DL_DIR: the mirror copy was replaced
	Unchanged Action = "unchanged" // already indexed with the same size and mtime (or hash)
)

// Options tune Populate.
type Options struct {
	// Copy forces copies; by default files are hard-linked when DL_DIR and
	// the mirror share a filesystem, and copied otherwise.
	Copy bool
	// Jobs is the number of files transferred at once (0: 4). Copying is
	// I/O-bound, so a few more than the CPU count pays off.
	Jobs int
	// CheckpointEvery writes the index after this much time (0: 5 s), so a
	// killed run keeps most of its work.
	CheckpointEvery time.Duration
	// OnFile, if set, is called after each download is handled (from
	// several goroutines, one call at a time).
	OnFile func(name string, a Action)
	Log    *slog.Logger
}

// Stats summarises a Populate run.
type Stats struct {
	Added, Replaced, Unchanged int
	Linked, Copied             int   // how the added/replaced files got there
	Bytes                      int64 // size of the added and replaced files
	StrayTemps                 int   // temporary files of killed runs removed
	Skipped                    []string
}

// vcsWorkDirs are DL_DIR subdirectories holding fetcher working copies
// (bare git clones, svn checkouts, ...). Their mirrorable form is the
// tarball BitBake writes at the top level when BB_GENERATE_MIRROR_TARBALLS
// is on (git2_*.tar.gz, gitshallow_*.tar.gz, hg_*.tar.gz, ...).
var vcsWorkDirs = map[string]bool{
	"git2": true, "gitsm": true, "hg": true, "svn": true, "cvs": true, "bzr": true,
	"osc": true, "p4": true, "repo": true, "perforce": true,
}

type download struct {
	name string      // name in the mirror: the file's base name
	src  string      // path in DL_DIR
	info fs.FileInfo // of the file the path resolves to
}

// Populate brings every completed download of dlDir into mirrorDir and
// updates the index. A download is complete when its "<file>.done" stamp
// exists (BitBake writes the stamp after the file, also for the git2_*
// mirror tarballs). Files already indexed with the same size and mtime are
// skipped; changed ones are replaced. Each file reaches its final name by
// rename, so an interrupted run leaves no partial file there, and the next
// run removes its temporaries and carries on. Files are never removed: a
// mirror keeps sources that upstream and DL_DIR lost.
func Populate(ctx context.Context, dlDir, mirrorDir string, opts Options) (Stats, error) {
	var st Stats
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	dlAbs, err := filepath.Abs(dlDir)
	if err != nil {
		return st, fmt.Errorf("resolve DL_DIR: %w", err)
	}
	mirAbs, err := filepath.Abs(mirrorDir)
	if err != nil {
		return st, fmt.Errorf("resolve mirror dir: %w", err)
	}
	if fi, err := os.Stat(dlAbs); err != nil {
		return st, fmt.Errorf("read DL_DIR: %w", err)
	} else if !fi.IsDir() {
		return st, fmt.Errorf("DL_DIR %s is not a directory", dlAbs)
	}
	if within(dlAbs, mirAbs) {
		return st, fmt.Errorf("DL_DIR %s lies inside the mirror %s; move one of them", dlAbs, mirAbs)
	}
	lk, err := lockMirror(mirAbs)
	if err != nil {
		return st, err
	}
	defer lk.Unlock()

	if st.StrayTemps, err = removeStrayTemps(mirAbs); err != nil {
		return st, err
	}
	if st.StrayTemps > 0 {
		log.Info("removed temporary files of an interrupted run", "count", st.StrayTemps)
	}
	idx, err := ReadIndex(mirAbs)
	if err != nil {
		return st, err
	}
	downloads, skipped, err := completedDownloads(dlAbs, mirAbs)
	if err != nil {
		return st, err
	}
	st.Skipped = skipped
	log.Debug("populate", "downloads", dlAbs, "mirror", mirAbs, "completed", len(downloads), "indexed", len(idx))
	for _, s := range skipped {
		log.Debug("not mirrored", "why", s) // returned in Stats.Skipped
	}

	p := &populator{
		mirror: mirAbs, idx: idx, opts: opts, log: log, st: &st,
		every: opts.CheckpointEvery, last: time.Now(),
	}
	if p.every <= 0 {
		p.every = 5 * time.Second
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, d := range downloads {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			buf := bufPool.Get().(*[]byte)
			defer bufPool.Put(buf)
			return p.one(gctx, d, *buf)
		})
	}
	runErr := g.Wait()
	if runErr == nil {
		runErr = ctx.Err()
	}
	// Whatever happened, record what reached the mirror.
	p.mu.Lock()
	werr := p.idx.Write(mirAbs)
	p.mu.Unlock()
	if runErr != nil {
		return st, runErr
	}
	return st, werr
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

type populator struct {
	mirror string
	opts   Options
	log    *slog.Logger

	mu    sync.Mutex // guards idx, st, last and OnFile calls
	idx   Index
	st    *Stats
	every time.Duration
	last  time.Time
}

// one mirrors a single download.
func (p *populator) one(ctx context.Context, d download, buf []byte) error {
	dst := filepath.Join(p.mirror, filepath.FromSlash(d.name))
	p.mu.Lock()
	want, indexed := p.idx[d.name]
	p.mu.Unlock()

	di, err := os.Lstat(dst)
	have := err == nil && di.Mode().IsRegular()
	if have && indexed && di.Size() == d.info.Size() {
		if di.ModTime().Equal(d.info.ModTime()) {
			return p.done(d.name, want, Unchanged, "", 0)
		}
		// Touched but maybe not changed: one read of the source decides.
		sum, _, err := hashPath(ctx, d.src, buf)
		if err != nil {
			return err
		}
		if sum == want {
			if err := os.Chtimes(dst, d.info.ModTime(), d.info.ModTime()); err != nil {
				return fmt.Errorf("set mtime of %s: %w", dst, err)
			}
			return p.done(d.name, want, Unchanged, "", 0)
		}
	}
	action := Added
	if indexed {
		action = Replaced
	}
	if have && os.SameFile(di, d.info) {
		// Already the same inode (a hard link from a run killed before it
		// wrote the index, or a DL_DIR symlink into the mirror).
		sum, n, err := hashPath(ctx, dst, buf)
		if err != nil {
			return err
		}
		if indexed && sum == want {
			action = Unchanged
		}
		return p.done(d.name, sum, action, "linked", n)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create mirror dir: %w", err)
	}
	how := "copied"
	sum, n, linked, err := p.link(ctx, d, dst, buf)
	if err != nil {
		return err
	}
	if linked {
		how = "linked"
	} else {
		if sum, n, err = copyInto(ctx, d, dst, buf); err != nil {
			return err
		}
	}
	if action == Replaced && sum != want {
		p.log.Warn("download changed in DL_DIR; mirror copy replaced", "file", d.name, "old", want, "new", sum)
	}
	return p.done(d.name, sum, action, how, n)
}

// link hard-links the download under a temporary name, hashes it and
// renames it into place. linked is false (and err nil) when a hard link is
// impossible here (another filesystem, or Options.Copy).
func (p *populator) link(ctx context.Context, d download, dst string, buf []byte) (sum string, n int64, linked bool, err error) {
	if p.opts.Copy {
		return "", 0, false, nil
	}
	// link(2) does not follow symlinks; BitBake symlinks DL_DIR entries to
	// file:// premirrors, so link the file itself.
	real, err := filepath.EvalSymlinks(d.src)
	if err != nil {
		return "", 0, false, fmt.Errorf("resolve %s: %w", d.src, err)
	}
	tmp := tempName(dst)
	if err := os.Link(real, tmp); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.EXDEV || errno == syscall.EPERM || errno == syscall.EMLINK || errno == syscall.ENOTSUP) {
			return "", 0, false, nil
		}
		return "", 0, false, fmt.Errorf("link %s into mirror: %w", d.src, err)
	}
	sum, n, err = hashPath(ctx, tmp, buf)
	if err == nil && n != d.info.Size() {
		err = fmt.Errorf("%s changed size while mirroring", d.src)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(dst))
	}
	if err != nil {
		os.Remove(tmp)
		return "", 0, false, err
	}
	return sum, n, true, nil
}

// copyInto copies and hashes the download in one pass into a temporary
// file, which gets the source's mtime and is synced and renamed into place.
func copyInto(ctx context.Context, d download, dst string, buf []byte) (string, int64, error) {
	src, err := os.Open(d.src)
	if err != nil {
		return "", 0, fmt.Errorf("open download: %w", err)
	}
	defer src.Close()
	adviseSequential(src)
	out, err := atomicfile.Create(dst, 0o644)
	if err != nil {
		return "", 0, err
	}
	sum, n, err := hashReader(ctx, src, out.File, buf)
	if err == nil && n != d.info.Size() {
		err = fmt.Errorf("%s changed size while mirroring", d.src)
	}
	if err == nil {
		err = os.Chtimes(out.Name(), d.info.ModTime(), d.info.ModTime())
	}
	if err != nil {
		out.Abort()
		return "", 0, fmt.Errorf("copy %s into mirror: %w", d.name, err)
	}
	if err := out.Commit(); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

// done records a handled download and checkpoints the index now and then.
func (p *populator) done(name, sum string, a Action, how string, n int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idx[name] = sum
	switch a {
	case Added:
		p.st.Added++
	case Replaced:
		p.st.Replaced++
	case Unchanged:
		p.st.Unchanged++
	}
	if a != Unchanged {
		p.st.Bytes += n
		switch how {
		case "linked":
			p.st.Linked++
		case "copied":
			p.st.Copied++
		}
	}
	if p.opts.OnFile != nil {
		p.opts.OnFile(name, a)
	}
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		return p.idx.Write(p.mirror)
	}
	return nil
}

// completedDownloads lists the files of dlDir that have a .done stamp, in
// lexical order of their DL_DIR paths (which decides between two files of
// the same base name). skipped lists stamped files that cannot be mirrored.
func completedDownloads(dlDir, mirrorDir string) (out []download, skipped []string, err error) {
	seen := map[string]string{} // base name → DL_DIR path it came from
	err = filepath.WalkDir(dlDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dlDir {
			return nil
		}
		name := e.Name()
		if e.IsDir() {
			rel, _ := filepath.Rel(dlDir, path)
			switch {
			case path == mirrorDir, strings.HasPrefix(name, "."),
				!strings.Contains(rel, string(filepath.Separator)) && vcsWorkDirs[name]:
				return filepath.SkipDir
			}
			// A directory with its own stamp is a fetcher's working copy.
			if _, err := os.Lstat(path + ".done"); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".done") || strings.HasSuffix(name, ".lock") {
			return nil
		}
		if st, err := os.Lstat(path + ".done"); err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dlDir, path)
		rel = filepath.ToSlash(rel)
		info, err := os.Stat(path) // follows BitBake's symlinks to premirrors
		if err != nil || !info.Mode().IsRegular() {
			skipped = append(skipped, rel+": not a regular file")
			return nil
		}
		// BitBake looks a download up in a premirror by its base name, also
		// one it keeps in a DL_DIR subdirectory (uninative/<sha>/...), so the
		// mirror is flat.
		base := filepath.Base(path)
		if err := checkRel(base); err != nil {
			skipped = append(skipped, err.Error())
			return nil
		}
		if first, dup := seen[base]; dup {
			skipped = append(skipped, fmt.Sprintf("%s: a mirror holds one file named %s, taken from %s", rel, base, first))
			return nil
		}
		seen[base] = rel
		out = append(out, download{name: base, src: path, info: info})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scan DL_DIR: %w", err)
	}
	return out, skipped, nil
}

// tempSuffix marks xtbuild's temporary files (atomicfile uses the same).
const tempSuffix = ".tmp-"

func tempName(dst string) string {
	var b [8]byte
	rand.Read(b[:])
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+tempSuffix+hex.EncodeToString(b[:]))
}

func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempSuffix)
}

// removeStrayTemps deletes temporary files a killed run left behind. The
// caller holds the mirror lock, so no live writer owns them.
func removeStrayTemps(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && isTemp(e.Name()) {
			if err := os.Remove(path); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("remove temporary files: %w", err)
	}
	return n, nil
}

// within reports whether path is dir or lies below it (both absolute).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
