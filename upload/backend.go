package upload

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
)

type sum = [sha256.Size]byte

type kind int

const (
	kindOther kind = iota
	kindDir
	kindFile
	kindLink
)

// remoteInfo is what upload needs to know about a path at the destination.
type remoteInfo struct {
	kind kind
	size int64
	mode fs.FileMode // permission bits
}

// backend is one destination protocol. Paths are slash-separated and
// already joined with the destination root. Every method must leave the
// destination in a state a later run can resume from.
type backend interface {
	// lstat does not follow symlinks; a missing path gives an error
	// matching fs.ErrNotExist.
	lstat(ctx context.Context, p string) (remoteInfo, error)
	// mkdir creates one directory and sets mode explicitly.
	mkdir(ctx context.Context, p string, mode fs.FileMode) error
	chmod(ctx context.Context, p string, mode fs.FileMode) error
	// list returns everything under root (not root itself), keyed by
	// slash path relative to root, without following symlinks.
	list(ctx context.Context, root string) (map[string]remoteInfo, error)
	// put writes local file f to p. With offset > 0 the first offset bytes
	// are taken to be on the destination already and are only hashed
	// locally. It syncs the file where the protocol allows, sets mode,
	// reports bytes sent through sent, and returns the sha256 of the whole
	// local file as read.
	put(ctx context.Context, f fileEntry, p string, offset int64, mode fs.FileMode, sent func(int)) (sum, error)
	// hash returns the sha256 of each file as stored at the destination;
	// total is their combined size, which lets a backend pick the cheaper
	// way to hash them.
	hash(ctx context.Context, paths []string, total int64) ([]sum, error)
	symlink(ctx context.Context, target, link string) error
	readlink(ctx context.Context, p string) (string, error)
	// rename moves a directory to a name that must not exist.
	rename(ctx context.Context, oldp, newp string) error
	// replace atomically renames oldp over newp (files and symlinks).
	replace(ctx context.Context, oldp, newp string) error
	removeAll(ctx context.Context, p string) error
	// syncDir makes renames in directory p durable where possible.
	syncDir(ctx context.Context, p string) error
	// broken reports whether the connection is gone, which makes the last
	// error a transient one worth a reconnect.
	broken() bool
	close() error
}

// resumeAt prepares a put that continues at offset: the first offset bytes
// of src are only hashed (they are on the destination already) and dst is
// positioned after them. It returns the running hash of the whole file.
func resumeAt(src io.Reader, dst io.Seeker, offset int64, name string) (hash.Hash, error) {
	h := sha256.New()
	if offset > 0 {
		if _, err := io.CopyN(h, src, offset); err != nil {
			return nil, fmt.Errorf("hash first %d bytes of %s: %w", offset, name, err)
		}
		if _, err := dst.Seek(offset, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return h, nil
}
