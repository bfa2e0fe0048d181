package layers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/internal/gitwire"
)

// A cold layer (a new clone, a new store mirror) pinned to a commit is
// fetched in process when its URL is a local repository (file:///path or
// /path) or a git daemon (git://), and git's configuration has nothing
// that would change such a fetch (readHostConfig): one `git upload-pack`
// (C git's serving side, run here for a local URL, as git fetch runs it)
// and gitwire's protocol v2 client instead of git fetch's four client-side
// processes (fetch, its sh wrapper, unpack-objects or index-pack, the
// connectivity rev-list). On a cold setup of many small layers those
// processes were most of the CPU (docs/performance.md, Layers).
//
// What lands is what git fetch --depth 1 <commit> leaves: a pack and its
// index (version 2) in objects/pack, the shallow file, and in a mirror the
// pin ref. The pack's checksum is checked, objects are hashed as they are
// indexed, and the commit's whole tree is checked present before the fetch
// counts as done (git fetch's connectivity check). Anything else (HTTP,
// SSH, a server without protocol v2, any error) goes to C git, after what
// was written is removed.

// errNoWire says the URL's transport is not one gitwire speaks.
var errNoWire = errors.New("not a local or git:// URL")

// wireObjects is the pack size (objects) up to which a received pack is
// indexed in process; a larger one is piped into `git index-pack`, which
// is two to three times faster per object than go-git's parser but costs a
// process (docs/performance.md, Layers).
var wireObjects = 256

// dialWire opens a protocol v2 session with the upload-pack of url.
func dialWire(ctx context.Context, url string) (*gitwire.Conn, error) {
	// git decodes %-escapes in URLs; such URLs are left to it.
	if strings.Contains(url, "%") {
		return nil, errNoWire
	}
	local := func(path string) (*gitwire.Conn, error) {
		return gitwire.DialLocal(gitRunner{}.command(ctx, "", "upload-pack", "--", path))
	}
	switch {
	case strings.HasPrefix(url, "file:///"):
		return local(strings.TrimPrefix(url, "file://"))
	case strings.HasPrefix(url, "/"):
		return local(url)
	case strings.HasPrefix(url, "git://"):
		host, path, ok := strings.Cut(strings.TrimPrefix(url, "git://"), "/")
		if !ok || host == "" || strings.Contains(host, "@") {
			return nil, errNoWire
		}
		return gitwire.DialDaemon(ctx, host, "/"+path)
	}
	return nil, errNoWire
}

// fetchWire fetches commit at depth 1 into gitdir, an empty repository (a
// checkout's .git, or a mirror, which also gets the pin ref). With commit
// "" it fetches what the branch or tag ref names instead, found with
// ls-refs in the same session (an annotated tag with the commit it tags).
// A non-empty local is the ref to write for it (the followed branch's or
// tag's local name). It returns the commit. On failure it removes what it
// wrote, so C git can try next.
func fetchWire(ctx context.Context, g gitRunner, url, gitdir, commit, ref, local string, mirror bool) (_ string, err error) {
	if local != "" && !safeRefName(local) {
		return "", errNoWire
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := dialWire(ctx, url)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			cancel() // stop the server rather than read a pack nobody wants
		}
		if cerr := conn.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			undoWire(gitdir, commit, local, mirror)
		}
	}()
	want := commit // what is asked for: the commit, or an annotated tag
	if commit == "" {
		refs, err := conn.LsRefs([]string{ref})
		if err != nil {
			return "", err
		}
		for _, r := range refs {
			if r.Name == ref {
				want, commit = r.Oid, r.Oid
				if r.Peeled != "" {
					commit = r.Peeled // the tag object comes with its commit
				}
			}
		}
		if commit == "" {
			return "", fmt.Errorf("no %s upstream", ref)
		}
	}
	req := gitwire.FetchRequest{Wants: []string{want}, Depth: 1, Progress: g.progress != nil}
	err = conn.Fetch(req, g.progress, func(shallow []string, pack io.Reader) error {
		// The shallow file first: a kill after the pack landed must not
		// leave a commit whose parents git would look for.
		if len(shallow) > 0 {
			sort.Strings(shallow)
			if err := atomicfile.WriteFile(filepath.Join(gitdir, "shallow"), []byte(strings.Join(shallow, "\n")+"\n"), 0o644); err != nil {
				return err
			}
		}
		return storePack(ctx, g, gitdir, pack)
	})
	if err != nil {
		return "", err
	}
	if err := connected(gitdir, commit); err != nil {
		return "", err
	}
	refs := map[string]string{}
	if mirror {
		refs[pinRef(commit)] = commit
	}
	if local != "" {
		refs[local] = want // a tag's ref names the tag object, as git fetch writes it
	}
	for r, oid := range refs {
		p := filepath.Join(gitdir, filepath.FromSlash(r))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := atomicfile.WriteFile(p, []byte(oid+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	return commit, nil
}

// safeRefName says whether name is a ref git would accept
// (git-check-ref-format) and that is safe to write as a loose ref file
// under the git dir; others are left to git.
func safeRefName(name string) bool {
	if !strings.HasPrefix(name, "refs/") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.Contains(name, "@{") || strings.Contains(name, "//") {
		return false
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	return true
}

// undoWire returns an empty repository to empty after a failed fetchWire.
func undoWire(gitdir, commit, local string, mirror bool) {
	os.RemoveAll(filepath.Join(gitdir, "objects", "pack"))
	os.Remove(filepath.Join(gitdir, "shallow"))
	if mirror && commit != "" {
		os.Remove(filepath.Join(gitdir, filepath.FromSlash(pinRef(commit))))
	}
	if local != "" {
		os.Remove(filepath.Join(gitdir, filepath.FromSlash(local)))
	}
}

// storePack writes the pack read from r into gitdir's objects/pack with
// its index: in process for a small pack, through `git index-pack --stdin`
// for a large one.
func storePack(ctx context.Context, g gitRunner, gitdir string, r io.Reader) error {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("read pack header: %w", err)
	}
	if string(hdr[:4]) != "PACK" {
		return errors.New("the server sent no pack")
	}
	if v := binary.BigEndian.Uint32(hdr[4:8]); v != 2 && v != 3 {
		return fmt.Errorf("pack version %d", v)
	}
	in := io.MultiReader(bytes.NewReader(hdr[:]), r)
	packDir := filepath.Join(gitdir, "objects", "pack")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(hdr[8:]) > uint32(wireObjects) {
		_, err := g.runInput(ctx, "", in, "--git-dir", gitdir, "index-pack", "--stdin")
		if err != nil {
			// What a failed or killed index-pack leaves.
			tmps, _ := filepath.Glob(filepath.Join(packDir, "tmp_pack_*"))
			for _, f := range tmps {
				os.Remove(f)
			}
		}
		return err
	}
	f, err := atomicfile.Create(filepath.Join(packDir, "tmp_pack"), 0o444)
	if err != nil {
		return err
	}
	defer f.Abort()
	sum := &trailerSum{h: sha1.New()}
	if _, err := io.Copy(io.MultiWriter(f, sum), in); err != nil {
		return fmt.Errorf("receive pack: %w", err)
	}
	if !sum.ok() {
		return errors.New("receive pack: checksum mismatch or data after the pack")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	iw := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(f.File), iw)
	if err != nil {
		return err
	}
	if _, err := p.Parse(); err != nil {
		return fmt.Errorf("index pack: %w", err)
	}
	idx, err := iw.Index()
	if err != nil {
		return fmt.Errorf("index pack: %w", err)
	}
	base := filepath.Join(packDir, "pack-"+hex.EncodeToString(sum.trailer[:]))
	fi, err := atomicfile.Create(base+".idx", 0o444)
	if err != nil {
		return err
	}
	defer fi.Abort()
	bw := bufio.NewWriter(fi)
	if _, err := idxfile.NewEncoder(bw).Encode(idx); err != nil {
		return fmt.Errorf("write pack index: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write pack index: %w", err)
	}
	// The pack before its index, as git does: an index makes a pack
	// visible.
	if err := f.CommitAs(base + ".pack"); err != nil {
		return err
	}
	return fi.Commit()
}

// trailerSum hashes a pack as it streams past and checks that it ends
// with the SHA-1 of everything before it (its last 20 bytes).
type trailerSum struct {
	h       hash.Hash
	trailer [20]byte
	n       int // bytes held in trailer
}

func (s *trailerSum) Write(p []byte) (int, error) {
	total := len(p)
	if s.n+len(p) > len(s.trailer) {
		// Hash what can no longer be part of the trailer.
		drop := s.n + len(p) - len(s.trailer)
		if drop <= s.n {
			s.h.Write(s.trailer[:drop])
			copy(s.trailer[:], s.trailer[drop:s.n])
			s.n -= drop
		} else {
			s.h.Write(s.trailer[:s.n])
			s.h.Write(p[:drop-s.n])
			p = p[drop-s.n:]
			s.n = 0
		}
	}
	s.n += copy(s.trailer[s.n:], p)
	return total, nil
}

func (s *trailerSum) ok() bool {
	return s.n == len(s.trailer) && bytes.Equal(s.h.Sum(nil), s.trailer[:])
}

// connected checks that commit and its whole tree are in gitdir (what git
// fetch's connectivity check asks of a shallow fetch): every tree is read,
// every blob looked up. Gitlinks name other repositories' commits.
func connected(gitdir, commit string) error {
	st := openObjects(gitdir)
	defer st.Close()
	c, err := object.GetCommit(st, plumbing.NewHash(commit))
	if err != nil {
		return fmt.Errorf("fetched pack lacks commit %s: %w", commit, err)
	}
	var walk func(h plumbing.Hash) error
	walk = func(h plumbing.Hash) error {
		t, err := object.GetTree(st, h)
		if err != nil {
			return fmt.Errorf("fetched pack lacks tree %s of %s: %w", h, commit, err)
		}
		for _, e := range t.Entries {
			switch e.Mode {
			case filemode.Dir:
				if err := walk(e.Hash); err != nil {
					return err
				}
			case filemode.Submodule:
			default:
				if err := st.HasEncodedObject(e.Hash); err != nil {
					return fmt.Errorf("fetched pack lacks %s (%s) of %s: %w", e.Name, e.Hash, commit, err)
				}
			}
		}
		return nil
	}
	return walk(c.TreeHash)
}
