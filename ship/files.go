package ship

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// entry is one file or directory of an output tree: its slash-separated
// path inside the tree, and its source (empty for directories or for
// generated content).
type entry struct {
	rel  string
	src  string
	dir  bool
	exec bool
	data []byte // generated content, used instead of src when non-nil
}

// walkTree lists dir recursively under prefix in lexical order. Symlinks to
// regular files are followed (deploy dirs are full of them); anything else
// that is not a file or directory is refused.
func walkTree(dir, prefix string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = pathJoin(prefix, filepath.ToSlash(rel))
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		switch {
		case st.IsDir():
			if d.Type()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%s: symlink to a directory", p)
			}
			out = append(out, entry{rel: rel, dir: true})
		case st.Mode().IsRegular():
			out = append(out, entry{rel: rel, src: p, exec: st.Mode()&0o111 != 0})
		default:
			return fmt.Errorf("%s: not a regular file or directory", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

func pathJoin(prefix, rel string) string {
	if prefix == "" {
		return rel
	}
	return prefix + "/" + rel
}

func sortEntries(es []entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].rel < es[j].rel })
}

// materialize creates the tree under root: directories, generated files, and
// hard links to sources (falling back to a copy across filesystems). Only
// for staging trees that are read, never modified, afterwards.
func materialize(ctx context.Context, root string, es []entry) error {
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(root, filepath.FromSlash(e.rel))
		if !strings.HasPrefix(dst, filepath.Clean(root)+string(filepath.Separator)) {
			return fmt.Errorf("%s escapes %s", e.rel, root)
		}
		if e.dir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if e.exec {
			mode = 0o755
		}
		if e.data != nil {
			if err := os.WriteFile(dst, e.data, mode); err != nil {
				return err
			}
			continue
		}
		if err := os.Link(e.src, dst); err == nil {
			continue
		}
		if err := atomicfile.CopyNew(context.Background(), e.src, dst, mode); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic streams an output file into place atomically, creating its
// directory first.
func writeAtomic(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteStream(path, perm, fill)
}
