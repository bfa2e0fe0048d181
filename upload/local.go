package upload

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// localBackend publishes to a directory on this machine or an NFS mount.
type localBackend struct{}

const copyChunk = 1 << 20

func infoOf(fi fs.FileInfo) remoteInfo {
	ri := remoteInfo{size: fi.Size(), mode: fi.Mode().Perm()}
	switch {
	case fi.IsDir():
		ri.kind = kindDir
	case fi.Mode().IsRegular():
		ri.kind = kindFile
	case fi.Mode()&fs.ModeSymlink != 0:
		ri.kind = kindLink
	}
	return ri
}

func (localBackend) lstat(_ context.Context, p string) (remoteInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return remoteInfo{}, err
	}
	return infoOf(fi), nil
}

func (localBackend) mkdir(_ context.Context, p string, mode fs.FileMode) error {
	if err := os.Mkdir(p, 0o700); err != nil {
		return err
	}
	// Mkdir's mode is filtered by the umask; Chmod is not.
	return os.Chmod(p, mode)
}

func (localBackend) chmod(_ context.Context, p string, mode fs.FileMode) error {
	return os.Chmod(p, mode)
}

func (localBackend) list(ctx context.Context, root string) (map[string]remoteInfo, error) {
	out := map[string]remoteInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = infoOf(fi)
		return nil
	})
	return out, err
}

func (localBackend) put(ctx context.Context, f fileEntry, p string, offset int64, mode fs.FileMode, hashLocal bool, sent func(int)) (putResult, error) {
	var res putResult
	src, err := openSource(f.local)
	if err != nil {
		return res, err
	}
	defer src.Close()
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	dst, err := os.OpenFile(p, flags, 0o600)
	if err != nil {
		return res, err
	}
	defer dst.Close()
	h, err := resumeAt(src, dst, offset, f.local, hashLocal)
	if err != nil {
		return res, err
	}
	buf := make([]byte, copyChunk)
	// The struct hides dst's ReadFrom, which would copy through its own
	// 32 KiB buffer.
	if _, err := io.CopyBuffer(struct{ io.Writer }{dst}, source(ctx, src, h, sent), buf); err != nil {
		return res, fmt.Errorf("copy %s: %w", f.local, err)
	}
	pos, err := dst.Seek(0, io.SeekCurrent)
	if err != nil {
		return res, err
	}
	// A resumed file that used to be longer keeps no stale tail.
	if err := dst.Truncate(pos); err != nil {
		return res, err
	}
	if err := dst.Chmod(mode); err != nil {
		return res, err
	}
	if err := dst.Close(); err != nil {
		return res, err
	}
	res.finishLocal(h)
	return res, nil
}

func (localBackend) hash(ctx context.Context, paths []string, _ int64) ([]sum, error) {
	out := make([]sum, len(paths))
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := hashFile(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func hashFile(ctx context.Context, p string) (sum, error) {
	f, err := os.Open(p)
	if err != nil {
		return sum{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return sum{}, fmt.Errorf("hash %s: %w", p, err)
	}
	return sum(h.Sum(nil)), nil
}

// ctxReader stops a long read when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

func (localBackend) symlink(_ context.Context, target, link string) error {
	return os.Symlink(target, link)
}

func (localBackend) readlink(_ context.Context, p string) (string, error) {
	return os.Readlink(p)
}

func (localBackend) rename(_ context.Context, oldp, newp string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldp, unix.AT_FDCWD, newp, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		// Some filesystems (older NFS) lack RENAME_NOREPLACE: check, then
		// rename, accepting the small window.
		if _, serr := os.Lstat(newp); serr == nil {
			return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: fs.ErrExist}
		}
		return os.Rename(oldp, newp)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldp, New: newp, Err: err}
	}
	return nil
}

func (localBackend) replace(_ context.Context, oldp, newp string) error {
	return os.Rename(oldp, newp)
}

func (localBackend) removeAll(_ context.Context, p string) error { return os.RemoveAll(p) }

// syncTree flushes the filesystem that holds dir with syncfs(2): one
// journal commit for the whole build instead of an fsync per file, which
// concurrent writers on a busy disk pay tens of milliseconds each for.
func (localBackend) syncTree(_ context.Context, dir string, _ []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

func (localBackend) syncDir(_ context.Context, p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", p, err)
	}
	return nil
}

func (localBackend) broken() bool { return false }
func (localBackend) close() error { return nil }
