// Package sstate publishes a build dir's sstate objects to the shared
// sstate directory that other workers restore from (SSTATE_MIRRORS
// file:///dir/PATH, or the same dir served over HTTP).
//
// A published object is never half visible and never replaced: each file
// is copied to a temporary name in its final directory (a dot name no
// SSTATE_MIRRORS lookup asks for), synced, re-read and checked against the
// source's size and sha256, then hard-linked to its final name, which
// fails when the name exists. Two publishers racing for one object both
// end with the same verified object in place, one of them counting it as
// already present. Objects present at the destination are left as they
// are (same name means same task hash); a present object whose size
// differs from ours is reported as a conflict, not touched.
package sstate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/term"
)

// objectSuffixes are the names BitBake gives sstate objects and their
// signature files: .tar.zst since BitBake 2.0 (kirkstone), .tgz before,
// each with a .siginfo beside it (and .sig when SSTATE_SIG_KEY signs).
var objectSuffixes = []string{".tar.zst", ".tgz", ".tar.zst.siginfo", ".tgz.siginfo", ".tar.zst.sig", ".tgz.sig"}

// IsObject says whether name (a base name) is an sstate object or one of
// its companion files. BitBake's own temporary files (the object name plus
// a random suffix) and ours (a leading dot) are not.
func IsObject(name string) bool {
	if !strings.HasPrefix(name, "sstate:") {
		return false
	}
	for _, s := range objectSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Result counts what a Publish did.
type Result struct {
	Copied    int   // files copied and verified
	Bytes     int64 // bytes copied
	Present   int   // files the destination already had
	Conflicts int   // present with a different size: left alone, warned
}

func (r Result) String() string {
	s := fmt.Sprintf("%d sstate files published (%s), %d already present", r.Copied, term.Bytes(r.Bytes), r.Present)
	if r.Conflicts > 0 {
		s += fmt.Sprintf(", %d conflicting (left alone)", r.Conflicts)
	}
	return s
}

// Publish copies the sstate files under src (a build dir's SSTATE_DIR)
// that dst lacks into dst, keeping their relative paths. Symlinks in src
// are not followed; a missing src publishes nothing.
func Publish(ctx context.Context, src, dst string, log *slog.Logger) (Result, error) {
	var res Result
	if src == "" || dst == "" {
		return res, errors.New("sstate publish: source and destination must be set")
	}
	sa, err1 := filepath.Abs(src)
	da, err2 := filepath.Abs(dst)
	if err := errors.Join(err1, err2); err != nil {
		return res, err
	}
	if sa == da || strings.HasPrefix(da+"/", sa+"/") || strings.HasPrefix(sa+"/", da+"/") {
		return res, fmt.Errorf("sstate publish: %s and %s overlap", src, dst)
	}
	files, err := list(sa)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(da, 0o755); err != nil {
		return res, fmt.Errorf("sstate publish: %w", err)
	}
	// Signature files first, then objects, so an object never appears
	// before its .siginfo; within each phase a few copies at once overlap
	// their fsyncs.
	split := sort.Search(len(files), func(i int) bool { return !isSig(files[i]) })
	for _, phase := range [][]string{files[:split], files[split:]} {
		if err := publishAll(ctx, sa, da, phase, &res, log); err != nil {
			return res, err
		}
	}
	return res, nil
}

// parallelCopies bounds the copies one publisher runs at once.
const parallelCopies = 4

// publishAll publishes files with a few workers; the first error stops it.
func publishAll(ctx context.Context, src, dst string, files []string, res *Result, log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(parallelCopies, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range next {
				n, st, err := publishOne(ctx, filepath.Join(src, rel), filepath.Join(dst, rel))
				if err != nil {
					cancel(fmt.Errorf("publish %s: %w", rel, err))
					continue
				}
				mu.Lock()
				switch st {
				case copied:
					res.Copied++
					res.Bytes += n
					log.Debug("sstate published", "file", rel, "bytes", n)
				case present:
					res.Present++
				case conflict:
					res.Conflicts++
					log.Warn("sstate object already published with a different size; left alone", "file", rel, "dest", filepath.Join(dst, rel))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, rel := range files {
		select {
		case next <- rel:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// list returns the sstate files under dir, relative, signature files first
// so an object never appears without its .siginfo.
func list(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.Type().IsRegular() && IsObject(d.Name()) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool {
		si, sj := isSig(out[i]), isSig(out[j])
		if si != sj {
			return si
		}
		return out[i] < out[j]
	})
	return out, nil
}

func isSig(p string) bool { return strings.HasSuffix(p, ".siginfo") || strings.HasSuffix(p, ".sig") }

type state int

const (
	copied state = iota
	present
	conflict
)

// publishOne puts src at dst unless dst exists: copy to a temp name beside
// dst, verify, link into place.
func publishOne(ctx context.Context, src, dst string) (int64, state, error) {
	sst, err := os.Stat(src)
	if err != nil {
		return 0, 0, err
	}
	if dstSt, err := os.Stat(dst); err == nil {
		if dstSt.Size() != sst.Size() {
			return 0, conflict, nil
		}
		return 0, present, nil
	}
	srcSum, err := fileSum(src)
	if err != nil {
		return 0, 0, err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	tmpf, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return 0, 0, err
	}
	tmp := tmpf.Name()
	tmpf.Close()
	os.Remove(tmp)
	defer os.Remove(tmp)
	if err := atomicfile.CopyNew(ctx, src, tmp, 0o644); err != nil {
		return 0, 0, err
	}
	// Verify what landed, not what we meant to write.
	tmpSt, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	sum, err := fileSum(tmp)
	if err != nil {
		return 0, 0, err
	}
	if tmpSt.Size() != sst.Size() || sum != srcSum {
		return 0, 0, fmt.Errorf("copy verification failed: %d bytes sha256 %x, source %d bytes sha256 %x", tmpSt.Size(), sum, sst.Size(), srcSum)
	}
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another publisher won the race; theirs is the same object
			// unless the sizes say otherwise.
			if other, err := os.Stat(dst); err == nil && other.Size() == sst.Size() {
				return 0, present, nil
			}
			return 0, conflict, nil
		}
		return 0, 0, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return 0, 0, err
	}
	return sst.Size(), copied, nil
}

func fileSum(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", p, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
