package upload

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ManifestName is the file uploaded last, just before the build is renamed
// into place: a reader that finds it knows every other file is complete.
const ManifestName = "manifest.json"

type fileEntry struct {
	rel   string // slash-separated, relative to the build root
	local string // path on this machine
	size  int64
}

type linkEntry struct {
	rel, target string
}

// sourceTree is the build directory to publish.
type sourceTree struct {
	dirs  []string // parents before children
	files []fileEntry
	links []linkEntry
	bytes int64
	// manifest is the index in files of ManifestName, or -1.
	manifest int
}

// readSource walks root. Only directories, regular files and relative
// symlinks that stay inside the build are accepted: anything else would
// publish something other than the build (a device node, a link to the
// builder's home directory).
func readSource(root string) (*sourceTree, error) {
	st := &sourceTree{manifest: -1}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read build directory: %w", err)
		}
		if p == root {
			if !d.IsDir() {
				return fmt.Errorf("build %s is not a directory", root)
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("read build directory: %w", err)
		}
		rel = filepath.ToSlash(rel)
		if strings.ContainsAny(d.Name(), "\n\r\\") {
			return fmt.Errorf("build file %q: names with newlines or backslashes are not published", rel)
		}
		switch t := d.Type(); {
		case t.IsDir():
			st.dirs = append(st.dirs, rel)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			st.files = append(st.files, fileEntry{rel: rel, local: p, size: info.Size()})
			st.bytes += info.Size()
		case t&fs.ModeSymlink != 0:
			target, err := readlink(p)
			if err != nil {
				return err
			}
			if path.IsAbs(target) || !localPath(path.Join(path.Dir(rel), target)) {
				return fmt.Errorf("build symlink %s -> %s points outside the build; refusing to publish it", rel, target)
			}
			st.links = append(st.links, linkEntry{rel: rel, target: target})
		default:
			return fmt.Errorf("build file %s is a %s, not a regular file, directory or symlink", rel, t.Type())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Large files first: they dominate the time, and the small ones then
	// fill the gaps left when the big streams finish.
	sort.SliceStable(st.files, func(i, j int) bool { return st.files[i].size > st.files[j].size })
	for i, f := range st.files {
		if f.rel == ManifestName {
			st.manifest = i
		}
	}
	return st, nil
}

// localPath reports whether slash path p, relative to the build root, stays
// inside it.
func localPath(p string) bool {
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../") && !path.IsAbs(c)
}

func readlink(p string) (string, error) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", p, err)
	}
	return filepath.ToSlash(target), nil
}
