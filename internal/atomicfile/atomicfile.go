// Package atomicfile writes files so that readers see either the old content
// or the new content, never a partial file: data goes to a temporary file in
// the same directory, is synced, renamed over the target, and the directory
// is synced so the rename survives a crash.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a pending atomic write. Write to it, then Commit (or Abort).
type File struct {
	*os.File
	path string
	perm fs.FileMode
	done bool
}

// Create starts an atomic write of path with the given permissions. The
// permissions are applied explicitly, independent of the process umask.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(filepath.Base(path)))
	if err != nil {
		return nil, fmt.Errorf("create temp file for %s: %w", path, err)
	}
	return &File{File: tmp, path: path, perm: perm}, nil
}

// tempPattern is the name of the temporary file of a write of name, for
// os.CreateTemp and filepath.Glob alike.
func tempPattern(name string) string { return "." + name + ".tmp-*" }

// RemoveTemps removes the temporary files that writes into dir left when
// their process was killed before Commit or Abort. Only call it while no
// write into dir can be pending (under the lock that guards dir).
func RemoveTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, tempPattern("*")))
	for _, f := range tmps {
		os.Remove(f)
	}
}

// Commit syncs the data and renames the temporary file into place.
func (f *File) Commit() error { return f.CommitAs(f.path) }

// CommitAs is Commit to another name in the same directory, for a file
// named after its content (a git pack after its checksum).
func (f *File) CommitAs(path string) error {
	if filepath.Dir(path) != filepath.Dir(f.path) {
		f.Abort()
		return fmt.Errorf("atomicfile: %s is not in the directory of %s", path, f.path)
	}
	f.path = path
	if f.done {
		return errors.New("atomicfile: commit after commit/abort")
	}
	f.done = true
	tmp := f.File.Name()
	fail := func(err error) error {
		f.File.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.File.Chmod(f.perm); err != nil {
		return fail(fmt.Errorf("chmod %s: %w", tmp, err))
	}
	if err := f.File.Sync(); err != nil {
		return fail(fmt.Errorf("sync %s: %w", tmp, err))
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", f.path, err)
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort discards the pending write. It is safe to call after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteStream atomically replaces path with what fill writes.
func WriteStream(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteNew is WriteFile that never replaces an existing file: the synced
// temp file is hard-linked into place, which fails if path exists. Keys
// are written this way. The temp file is created 0600, so secret data is
// never readable by others, even for an instant.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	tmp := f.File.Name()
	defer os.Remove(tmp)
	f.done = true
	err = func() error {
		defer f.File.Close()
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.File.Chmod(perm); err != nil {
			return err
		}
		return f.File.Sync()
	}()
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write %s: refusing to overwrite an existing file: %w", path, err)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// WriteFrom atomically replaces path with everything read from r.
func WriteFrom(path string, r io.Reader, perm fs.FileMode) (int64, error) {
	f, err := Create(path, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Abort()
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, f.Commit()
}

// WriteIfChanged writes data only when the file's content or mode differs, so
// re-running a generator leaves mtimes alone. It reports whether it wrote.
func WriteIfChanged(path string, data []byte, perm fs.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == perm.Perm() {
			return false, nil
		}
	}
	if err := WriteFile(path, data, perm); err != nil {
		return false, err
	}
	return true, nil
}

// SyncDir fsyncs a directory so renames and links in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
