package upload

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/xtbuild/xtbuild/manifest"
)

// ManifestName is the file uploaded last, just before the build is renamed
// into place: a reader that finds it knows every other file is complete.
const ManifestName = "manifest.json"

type fileEntry struct {
	rel   string // slash-separated, relative to the build root
	local string // path on this machine
	size  int64
	mtime time.Time
	// listed is the sha256 manifest.json records for this file, when the
	// manifest can stand in for hashing it here (see trustManifest).
	listed *sum
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
	// listed counts the files whose manifest hash is trusted, and
	// manifestNote says why the manifest is not used at all ("" if it is).
	listed       int
	manifestNote string
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
			st.files = append(st.files, fileEntry{rel: rel, local: p, size: info.Size(), mtime: info.ModTime()})
			st.bytes += info.Size()
		case t&fs.ModeSymlink != 0:
			target, err := readlink(p)
			if err != nil {
				return err
			}
			if err := checkLink(root, rel); err != nil {
				return err
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
	st.trustManifest()
	return st, nil
}

// trustManifest takes the sha256 sums that the build recorded in
// manifest.json (manifest.Manifest, written when artifacts were collected) as
// the expected hashes of the files they list, so those files are not hashed
// here a second time. A sum is taken only when the file has the listed size
// and was not modified after manifest.json was last written; any other file
// is hashed while it is sent.
//
// Trusting it never weakens the check: the destination still hashes every
// byte it stored and must match the listed sum. If it does not, the file is
// hashed here after all, and when that differs from the listed sum too (a
// stale manifest) the file's own bytes decide, with a warning. A stale or
// wrong manifest can therefore cost a re-read, never let a corrupted
// transfer through.
func (st *sourceTree) trustManifest() {
	if st.manifest < 0 {
		st.manifestNote = "no " + ManifestName
		return
	}
	mf := st.files[st.manifest]
	m, err := manifest.Read(mf.local)
	if err != nil {
		st.manifestNote = err.Error()
		return
	}
	byRel := make(map[string]int, len(st.files))
	for i, f := range st.files {
		byRel[f.rel] = i
	}
	for _, a := range m.Artifacts {
		i, ok := byRel[a.Path]
		if !ok || i == st.manifest {
			continue
		}
		f := &st.files[i]
		var s sum
		if f.size != a.Size || f.mtime.After(mf.mtime) || len(a.SHA256) != 2*len(s) {
			continue
		}
		if _, err := hex.Decode(s[:], []byte(a.SHA256)); err != nil {
			continue
		}
		f.listed = &s
		st.listed++
	}
}

func readlink(p string) (string, error) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", p, err)
	}
	return filepath.ToSlash(target), nil
}

// maxLinkHops bounds the symlinks followed while resolving one link, as
// the kernel's ELOOP limit (40 on Linux) does.
const maxLinkHops = 40

// checkLink refuses symlink rel (slash path under root) when following it
// leaves the build. Reading a target as text is not enough: in
// "p/q -> .." then "up -> p/q/.." each target looks inside the build, but
// the kernel resolves ".." against where p/q really leads, so up is the
// root's parent. checkLink therefore walks the real tree component by
// component as the kernel does, following every symlink on the way (all
// hops, at most maxLinkHops), and fails as soon as the path climbs above
// root, even if it would come back in later (the destination's parent is
// not the build's). Components that do not exist are taken as plain
// directories, which can only make the check stricter than the kernel.
func checkLink(root, rel string) error {
	first, err := readlink(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	refuse := func(why string) error {
		return fmt.Errorf("build symlink %s -> %s points outside the build (%s); refusing to publish it", rel, first, why)
	}
	// dir holds the resolved components, all real directories inside
	// root (or names that do not exist); todo the components still to walk.
	dir := strings.Split(path.Dir(rel), "/")
	if path.Dir(rel) == "." {
		dir = nil
	}
	var todo []string
	push := func(target string) {
		todo = append(strings.Split(target, "/"), todo...)
	}
	if path.IsAbs(first) {
		return refuse("absolute target")
	}
	push(first)
	hops := 1
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				return refuse("climbs above the build root")
			}
			dir = dir[:len(dir)-1]
			continue
		}
		here := append(dir, c)
		fi, err := os.Lstat(filepath.Join(root, filepath.Join(here...)))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// A directory, a file (the kernel would stop at the next
			// component) or a missing name: keep walking it as a name.
			dir = here
			continue
		}
		if hops++; hops > maxLinkHops {
			return fmt.Errorf("build symlink %s -> %s: too many levels of symbolic links (more than %d); refusing to publish it", rel, first, maxLinkHops)
		}
		target, err := readlink(filepath.Join(root, filepath.Join(here...)))
		if err != nil {
			return err
		}
		if path.IsAbs(target) {
			return refuse("via " + path.Join(here...) + " -> " + target + ", an absolute target")
		}
		push(target)
	}
	return nil
}

// openSource opens a build file for reading without following a symlink
// in its last component: a file swapped for a link after readSource
// checked the tree is refused instead of read through.
func openSource(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}

// untrust drops every manifest sum.
func (st *sourceTree) untrust(why string) {
	for i := range st.files {
		st.files[i].listed = nil
	}
	st.listed, st.manifestNote = 0, why
}
