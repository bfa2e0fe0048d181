package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// errNoExchange: the filesystem cannot exchange two names atomically.
var errNoExchange = errors.New("atomic exchange not supported")

// SwapDir puts the complete directory src at dst. Where the filesystem
// can (Linux renameat2 RENAME_EXCHANGE, every local filesystem) the two
// trees trade names in one step, so a reader, or a process killed at any
// moment, sees the old tree or the new one at dst, never a mix and never
// nothing; src then names the old tree, which is removed. Elsewhere dst
// moves aside to src+".old" and src is renamed into place, leaving a
// moment without dst (RecoverDir puts the old tree back after a crash
// there). On failure the old tree stays at dst.
func SwapDir(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		err := exchange(src, dst)
		if err == nil {
			if err := SyncDir(filepath.Dir(dst)); err != nil {
				return err
			}
			return os.RemoveAll(src)
		}
		if !errors.Is(err, errNoExchange) {
			return fmt.Errorf("swap %s into %s: %w", src, dst, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var old string
	if _, err := os.Lstat(dst); err == nil {
		old = src + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
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

// RecoverDir cleans up after a ReplaceDir of dst that was killed: it
// removes the staging trees left beside dst (a new tree not swapped in
// yet, or an old one not yet removed) and, should dst be missing after a
// two-rename SwapDir died half-way, first puts the old tree back. The
// caller must hold whatever lock serialises writers of dst.
func RecoverDir(dst string) error {
	left, err := filepath.Glob(filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".new-*"))
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		for _, p := range left {
			if strings.HasSuffix(p, ".old") {
				if err := os.Rename(p, dst); err != nil {
					return fmt.Errorf("recover %s: %w", dst, err)
				}
				break
			}
		}
	}
	for _, p := range left {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("recover %s: %w", dst, err)
		}
	}
	return nil
}

// CloneTree recreates the tree src at dst (absent or empty), without
// copying data: directories are made with their modes, regular files are
// hard-linked (copied only across filesystems), symlinks are recreated
// with their targets. skip(rel) leaves out an entry (and, for a
// directory, everything under it); rel is slash-separated. The result
// shares its files' inodes with src, so it is only for trees whose files
// are replaced (atomically, by rename), never modified in place.
func CloneTree(ctx context.Context, src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil && !(rel == "." && errors.Is(err, fs.ErrExist)) {
				return fmt.Errorf("clone %s: %w", p, err)
			}
			// Made writable for filling; the real mode is set now, as
			// only later entries go inside.
			return os.Chmod(to, info.Mode().Perm()|0o200)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			if err := os.Link(p, to); err == nil {
				return nil
			}
			return CopyNew(ctx, p, to, info.Mode().Perm())
		default:
			return fmt.Errorf("clone %s: not a file, directory or symlink", p)
		}
	})
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
