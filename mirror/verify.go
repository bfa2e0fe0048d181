package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// ProblemKind classifies what Verify found wrong with a file.
type ProblemKind string

const (
	Missing    ProblemKind = "missing"    // indexed, not in the mirror
	Corrupt    ProblemKind = "corrupt"    // content does not match the index
	Unindexed  ProblemKind = "unindexed"  // in the mirror, not in the index
	Unreadable ProblemKind = "unreadable" // cannot be read (permissions, a symlink leaving the mirror, ...)
)

// Problem is one file that failed verification.
type Problem struct {
	Name   string // slash path relative to the mirror root
	Kind   ProblemKind
	Want   string // indexed sha256 (Corrupt)
	Got    string // computed sha256 (Corrupt)
	Size   int64  // bytes read (Corrupt)
	Detail string // error text (Unreadable)
}

func (p Problem) String() string {
	switch p.Kind {
	case Corrupt:
		return fmt.Sprintf("%s: %s: sha256 %s, index says %s (%d bytes read)", p.Kind, p.Name, p.Got, p.Want, p.Size)
	case Unreadable:
		return fmt.Sprintf("%s: %s: %s", p.Kind, p.Name, p.Detail)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Name)
}

// Report is the outcome of Verify.
type Report struct {
	Files    int   // indexed files checked
	Bytes    int64 // bytes hashed
	Problems []Problem
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Jobs is the number of files hashed at once (0: GOMAXPROCS).
	Jobs int
}

// Verify re-hashes every indexed file of the mirror, several files at once,
// and compares them with the index. It reports indexed files that are
// missing or differ, and files present but not indexed. The error is nil
// only when there is no problem; it carries exit code 1 otherwise.
// Files are opened through os.Root, so a symlink leading out of the mirror
// is reported as unreadable rather than followed.
func Verify(ctx context.Context, mirrorDir string) (Report, error) {
	return VerifyWith(ctx, mirrorDir, VerifyOptions{})
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, mirrorDir string, opts VerifyOptions) (Report, error) {
	var rep Report
	root, err := os.OpenRoot(mirrorDir)
	if err != nil {
		return rep, fmt.Errorf("open mirror: %w", err)
	}
	defer root.Close()
	lk, err := lockShared(mirrorDir)
	if err != nil {
		return rep, err
	}
	defer lk.Unlock()
	idx, err := ReadIndex(mirrorDir)
	if err != nil {
		return rep, err
	}
	present, err := mirrorFiles(root)
	if err != nil {
		return rep, err
	}
	for _, name := range present {
		if _, ok := idx[name]; !ok {
			rep.Problems = append(rep.Problems, Problem{Name: name, Kind: Unindexed})
		}
	}

	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, name := range largestFirst(root, idx) {
		want := idx[name]
		g.Go(func() error {
			buf := bufPool.Get().(*[]byte)
			defer bufPool.Put(buf)
			p, n, err := verifyOne(gctx, root, name, want, *buf)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Files++
			rep.Bytes += n
			if p != nil {
				rep.Problems = append(rep.Problems, *p)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Name < rep.Problems[j].Name })
	if len(rep.Problems) > 0 {
		return rep, exitcode.With(exitcode.Failure, fmt.Errorf("verify mirror %s: %d of %d files have problems", mirrorDir, len(rep.Problems), len(idx)+countKind(rep.Problems, Unindexed)))
	}
	return rep, nil
}

func countKind(ps []Problem, k ProblemKind) int {
	n := 0
	for _, p := range ps {
		if p.Kind == k {
			n++
		}
	}
	return n
}

// verifyOne hashes one file. Only a cancelled context is an error; anything
// wrong with the file is a Problem.
func verifyOne(ctx context.Context, root *os.Root, name, want string, buf []byte) (*Problem, int64, error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &Problem{Name: name, Kind: Missing}, 0, nil
	}
	if err != nil {
		return &Problem{Name: name, Kind: Unreadable, Detail: err.Error()}, 0, nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return &Problem{Name: name, Kind: Unreadable, Detail: "not a regular file"}, 0, nil
	}
	sum, n, err := hashFile(ctx, f, buf)
	if ctx.Err() != nil {
		return nil, n, ctx.Err()
	}
	if err != nil {
		return &Problem{Name: name, Kind: Unreadable, Detail: err.Error()}, n, nil
	}
	if sum != want {
		return &Problem{Name: name, Kind: Corrupt, Want: want, Got: sum, Size: n}, n, nil
	}
	return nil, n, nil
}

// mirrorFiles lists the non-directory entries of the mirror that could be
// indexed: everything except hidden names and the index itself.
func mirrorFiles(root *os.Root) ([]string, error) {
	var names []string
	err := fs.WalkDir(root.FS(), ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == "." {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !e.IsDir() && path != IndexName {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list mirror: %w", err)
	}
	return names, nil
}

// largestFirst orders the work so one big file does not start last and
// leave the other workers idle at the end.
func largestFirst(root *os.Root, idx Index) []string {
	names := idx.Names()
	size := make(map[string]int64, len(names))
	for _, n := range names {
		if fi, err := root.Stat(n); err == nil {
			size[n] = fi.Size()
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return size[names[i]] > size[names[j]] })
	return names
}
