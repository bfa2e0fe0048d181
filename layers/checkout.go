package layers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// A fresh checkout (a new clone, a second build dir) is written in process
// when the tree is plain: regular files, executables, symlinks, gitlinks
// and directories with ordinary names, and no .gitattributes. That saves
// the `git checkout` process per layer, which is most of a second build
// dir's cost (docs/performance.md, Layers). Everything else goes to C git:
// attributes (eol conversion, filters, working-tree-encoding, ident), names
// git's verify_path has opinions on (.git and its NTFS and 8.3 spellings,
// backslashes, colons, control characters), user or system git
// configuration that changes what a checkout writes (readHostConfig),
// and any error on the way (the partial tree is removed first). A checkout
// of an existing worktree (update, repair) always runs C git.
//
// What is written is what `git checkout --detach` writes: the files, with
// 0666 or 0777 less the umask, symlinks as symlinks, an empty directory for
// a gitlink, an index (version 2) with each entry's stat data, and HEAD
// detached at the commit. Nothing is written through a symlink or over an
// existing file: every file is created with O_EXCL|O_NOFOLLOW and every
// directory with mkdir, in a directory that was empty.

// errNotPlain says the tree needs C git's checkout; the reason follows.
var errNotPlain = errors.New("not a plain tree")

// errLargeTree says C git checks the tree out faster than this process
// would: past a few hundred paths, inflating objects (C zlib against Go's
// compress/flate) costs more than the process start saved.
var errLargeTree = errors.New("large tree")

// maxFreshFiles is where errLargeTree starts (paths, directories
// included): measured with BenchmarkCheckout (docs/performance.md, Layers).
var maxFreshFiles = 256

// largeBlob is the size past which a blob is streamed, not held whole.
const largeBlob = 512 << 10

// treeFile is one path of the tree to write.
type treeFile struct {
	path string // slash-separated, relative to the worktree
	mode filemode.FileMode
	hash plumbing.Hash
}

// openObjects opens the repository at gitdir for reading objects: pack
// files stay open until Close (go-git otherwise opens a pack per object
// read), and blobs over largeBlob stream from the pack instead of being
// read into memory (and the cache) whole.
func openObjects(gitdir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(gitdir, osfs.WithBoundOS()), cache.NewObjectLRU(8*cache.MiByte),
		filesystem.Options{KeepDescriptors: true, LargeObjectThreshold: largeBlob})
}

// checkoutFresh writes commit's tree into the worktree of the new
// repository at dir (which holds only .git), reading objects from the
// repository at objects (dir/.git, or the store mirror it borrows from).
func checkoutFresh(ctx context.Context, objects, dir, commit string) error {
	st := openObjects(objects)
	defer st.Close()
	c, err := object.GetCommit(st, plumbing.NewHash(commit))
	if err != nil {
		return fmt.Errorf("read commit %s: %w", commit, err)
	}
	tree, err := object.GetTree(st, c.TreeHash)
	if err != nil {
		return fmt.Errorf("read tree of %s: %w", commit, err)
	}
	var files []treeFile
	if err := listTree(st, tree, "", &files); err != nil {
		return err
	}
	entries := make([]*index.Entry, 0, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := writeTreeFile(st, dir, f)
		if err != nil {
			return err
		}
		if e != nil {
			entries = append(entries, e)
		}
	}
	idx := &index.Index{Version: 2, Entries: entries}
	out, err := os.OpenFile(filepath.Join(dir, ".git", "index"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 64<<10) // the encoder writes field by field
	if err := index.NewEncoder(bw).Encode(idx); err != nil {
		out.Close()
		return fmt.Errorf("write index: %w", err)
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return fmt.Errorf("write index: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte(commit+"\n"), 0o666)
}

// listTree flattens tree in depth-first order (a directory before what it
// holds), refusing what a plain checkout does not handle; it stops reading
// trees once there are more than maxFreshFiles paths.
func listTree(st *filesystem.Storage, tree *object.Tree, prefix string, out *[]treeFile) error {
	for _, e := range tree.Entries {
		if len(*out) >= maxFreshFiles {
			return fmt.Errorf("%w: more than %d paths", errLargeTree, maxFreshFiles)
		}
		if !plainName(e.Name) {
			return fmt.Errorf("%w: path %q", errNotPlain, prefix+e.Name)
		}
		if e.Name == ".gitattributes" {
			return fmt.Errorf("%w: %s%s", errNotPlain, prefix, e.Name)
		}
		p := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(st, e.Hash)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", p, err)
			}
			*out = append(*out, treeFile{path: p, mode: e.Mode})
			if err := listTree(st, sub, p+"/", out); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Symlink, filemode.Submodule:
			*out = append(*out, treeFile{path: p, mode: e.Mode, hash: e.Hash})
		default:
			return fmt.Errorf("%w: %s has mode %o", errNotPlain, p, uint32(e.Mode))
		}
	}
	return nil
}

// plainName accepts the names any git writes as they are on Linux. It
// leaves to C git the ones its verify_path checks further: .git in any
// case or with trailing dots or spaces, the 8.3 name git~1, anything with
// a backslash, a colon or a control character, "." and "..".
func plainName(n string) bool {
	if n == "" || n == "." || n == ".." {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':' {
			return false
		}
	}
	l := strings.TrimRight(strings.ToLower(n), ". ")
	return l != ".git" && l != "git~1" && !strings.HasPrefix(l, ".git ")
}

// writeTreeFile creates one path under dir and returns its index entry
// (nil for a directory).
func writeTreeFile(st *filesystem.Storage, dir string, f treeFile) (*index.Entry, error) {
	p := filepath.Join(dir, filepath.FromSlash(f.path))
	switch f.mode {
	case filemode.Dir:
		return nil, os.Mkdir(p, 0o777)
	case filemode.Submodule:
		// As git does without submodule recursion: an empty directory, and
		// the commit in the index with no stat data.
		if err := os.Mkdir(p, 0o777); err != nil {
			return nil, err
		}
		return &index.Entry{Name: f.path, Mode: f.mode, Hash: f.hash}, nil
	}
	blob, err := object.GetBlob(st, f.hash)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	defer r.Close()
	if f.mode == filemode.Symlink {
		target, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.path, err)
		}
		if err := os.Symlink(string(target), p); err != nil {
			return nil, err
		}
	} else {
		perm := os.FileMode(0o666)
		if f.mode == filemode.Executable {
			perm = 0o777
		}
		w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	e := &index.Entry{Name: f.path, Mode: f.mode, Hash: f.hash, ModifiedAt: fi.ModTime(), Size: uint32(fi.Size())}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.CreatedAt = time.Unix(s.Ctim.Sec, s.Ctim.Nsec)
		e.Dev, e.Inode, e.UID, e.GID = uint32(s.Dev), uint32(s.Ino), s.Uid, s.Gid
	}
	return e, nil
}

// clearWorktree removes everything in dir but .git, and .git/index: what a
// failed checkoutFresh may have left before C git checks out instead.
func clearWorktree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, ".git", "index")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
