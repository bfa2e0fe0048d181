package manifest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"

	"golang.org/x/sync/errgroup"
)

// FileDigest is the size and digest of one file.
type FileDigest struct {
	Path string
	Size int64
	Sum  []byte
}

// hashChunk is large enough that syscalls vanish next to hashing time and
// small enough that a cancelled context is noticed within a millisecond.
const hashChunk = 1 << 20

// HashFiles streams every file through h, several files at once (workers <=
// 0 means GOMAXPROCS). Results come back in the order of paths. Files are
// started largest first so one big image does not end up last on one core.
func HashFiles(ctx context.Context, paths []string, h crypto.Hash, workers int) ([]FileDigest, error) {
	if !h.Available() {
		return nil, fmt.Errorf("hash files: digest %v unavailable", h)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]FileDigest, len(paths))
	order := make([]int, len(paths))
	for i, p := range paths {
		order[i] = i
		out[i].Path = p
		if st, err := os.Stat(p); err == nil {
			out[i].Size = st.Size()
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return out[order[a]].Size > out[order[b]].Size })

	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, i := range order {
		g.Go(func() error {
			d, err := hashFile(ctx, paths[i], h)
			if err != nil {
				return err
			}
			out[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func hashFile(ctx context.Context, path string, h crypto.Hash) (FileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileDigest{}, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	md := h.New()
	buf := make([]byte, hashChunk)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return FileDigest{}, err
		}
		k, err := f.Read(buf)
		md.Write(buf[:k])
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FileDigest{}, fmt.Errorf("hash %s: %w", path, err)
		}
	}
	return FileDigest{Path: path, Size: n, Sum: md.Sum(nil)}, nil
}
