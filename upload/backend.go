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
	// are taken to be on the destination already. It sets mode and reports
	// bytes sent through sent; durability is syncTree's (put may sync the
	// file itself when syncTree cannot do it in one go).
	// With hashLocal it hashes the whole local file as read (the bytes it
	// sends); a backend that can hash at the destination while receiving
	// returns that sum too.
	put(ctx context.Context, f fileEntry, p string, offset int64, mode fs.FileMode, hashLocal bool, sent func(int)) (putResult, error)
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
	// syncTree makes the files under dir (the given paths) durable before
	// dir is renamed into place, where put did not already sync each.
	syncTree(ctx context.Context, dir string, files []string) error
	// syncDir makes renames in directory p durable where possible.
	syncDir(ctx context.Context, p string) error
	// broken reports whether the connection is gone, which makes the last
	// error a transient one worth a reconnect.
	broken() bool
	close() error
}

// putResult is what a put learned about the file's content.
type putResult struct {
	local       sum  // sha256 of the local file as read, if hashedLocal
	hashedLocal bool //
	remote      sum  // sha256 at the destination, hashed while receiving, if hashedRemote
	// hashedRemote is set when the destination hashed the stored bytes
	// during the transfer (sftp with a hashing shell, large files).
	hashedRemote bool
}

// resumeAt prepares a put that continues at offset: dst and src are
// positioned after the first offset bytes (they are on the destination
// already). With hashLocal those bytes are hashed, and the running hash of
// the whole file is returned; otherwise it returns nil.
func resumeAt(src io.ReadSeeker, dst io.Seeker, offset int64, name string, hashLocal bool) (hash.Hash, error) {
	var h hash.Hash
	if hashLocal {
		h = sha256.New()
	}
	if offset == 0 {
		return h, nil
	}
	if h != nil {
		if _, err := io.CopyN(h, src, offset); err != nil {
			return nil, fmt.Errorf("hash first %d bytes of %s: %w", offset, name, err)
		}
	} else if _, err := src.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := dst.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return h, nil
}

// source is what put reads: the file, counted for progress, with ctx
// checked between reads, and teed into h when hashing locally.
func source(ctx context.Context, src io.Reader, h hash.Hash, sent func(int)) io.Reader {
	var r io.Reader = countingReader{ctxReader{ctx, src}, sent}
	if h != nil {
		r = io.TeeReader(r, h)
	}
	return r
}

func (r *putResult) finishLocal(h hash.Hash) {
	if h != nil {
		r.local = sum(h.Sum(nil))
		r.hashedLocal = true
	}
}
