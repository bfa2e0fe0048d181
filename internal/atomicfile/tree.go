package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyNew copies src to dst, which must not exist yet, and syncs it. From
// file to file io.Copy uses copy_file_range, so the kernel copies (or
// reflinks) without the data passing through the process. A failed copy
// leaves no dst behind.
func CopyNew(ctx context.Context, src, dst string, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	fail := func(err error) error {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		return fail(err)
	}
	if err := out.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// LinkOrCopy puts src at dst, replacing dst atomically: a hard link when
// both are on one filesystem (no bytes copied), else an atomic copy with
// perm. Symlinks in src are resolved first, so dst is the file itself.
func LinkOrCopy(src, dst string, perm fs.FileMode) error {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".xtbuild-link"
	os.Remove(tmp)
	if err := os.Link(real, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("place %s: %w", dst, err)
		}
		return SyncDir(filepath.Dir(dst))
	}
	in, err := os.Open(real)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	if _, err := WriteFrom(dst, in, perm); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// Install moves tmp, a finished file an external tool wrote in dst's
// directory, into place atomically: mode perm, data synced, renamed, the
// directory synced.
func Install(tmp, dst string, perm fs.FileMode) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}

// SwapDir puts the complete directory src at dst by renames: an existing
// dst moves aside, src takes its place, the old tree is removed. A reader of
// dst sees the old tree or the new one, never a mix; on failure the old
// tree is put back.
func SwapDir(src, dst string) error {
	var old string
	if _, err := os.Lstat(dst); err == nil {
		old = src + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return err
	}
	if err := SyncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// ReplaceDir builds a directory beside dst with build, then swaps it in
// (SwapDir), so dst is always complete and holds nothing stale. A failed
// build leaves dst as it was.
func ReplaceDir(dst string, build func(tmp string) error) error {
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".new-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := build(tmp); err != nil {
		return err
	}
	if err := SwapDir(tmp, dst); err != nil {
		return err
	}
	done = true
	return nil
}
