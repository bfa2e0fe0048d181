package poller

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// checkMirror looks for the damage an interrupted write can leave in a
// mirror, cheaply enough to run on every start: each pack index must be
// complete (its size matches its object count, its SHA-1 trailer matches)
// and belong to a complete pack (same object count, same checksum at the end
// of the pack), and every branch and tag must name a readable object (a
// commit with its tree, or a tag and what it points at). It does not inflate
// every object (that is `git fsck`, too slow for 60 mirrors at start-up).
func checkMirror(dir string, repo *git.Repository) error {
	idxs, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.idx"))
	if err != nil {
		return err
	}
	for _, idx := range idxs {
		if err := checkPack(idx); err != nil {
			return fmt.Errorf("pack %s: %w", filepath.Base(idx), err)
		}
	}
	refs, err := localRefs(repo)
	if err != nil {
		return err
	}
	for ref, h := range refs {
		if err := checkTip(repo, plumbing.NewHash(h)); err != nil {
			return fmt.Errorf("%s (%s): %w", ref, h, err)
		}
	}
	return nil
}

func checkTip(repo *git.Repository, h plumbing.Hash) error {
	for range 10 { // tags of tags, bounded
		obj, err := repo.Object(plumbing.AnyObject, h)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *object.Tag:
			h = o.Target
			continue
		case *object.Commit:
			if _, err := o.Tree(); err != nil {
				return fmt.Errorf("tree of commit: %w", err)
			}
		}
		return nil
	}
	return errors.New("tag chain too long")
}

// checkPack verifies the structure of a pack index (version 1 or 2) and the
// header and trailing checksum of its pack.
func checkPack(idxPath string) error {
	data, err := os.ReadFile(idxPath)
	if err != nil {
		return err
	}
	const trailer = 2 * sha1.Size
	var fanout []byte
	var n, want uint64
	v2 := len(data) >= 8 && bytes.Equal(data[:4], []byte{0xff, 't', 'O', 'c'})
	if v2 {
		if binary.BigEndian.Uint32(data[4:8]) != 2 {
			return fmt.Errorf("unknown index version %d", binary.BigEndian.Uint32(data[4:8]))
		}
		if len(data) < 8+1024+trailer {
			return fmt.Errorf("index truncated (%d bytes)", len(data))
		}
		fanout = data[8 : 8+1024]
		n = uint64(binary.BigEndian.Uint32(fanout[1020:]))
		want = 8 + 1024 + n*(sha1.Size+4+4) + trailer
		if uint64(len(data)) >= want {
			off := data[8+1024+n*(sha1.Size+4) : 8+1024+n*(sha1.Size+8)]
			for i := uint64(0); i < n; i++ {
				if off[i*4]&0x80 != 0 {
					want += 8 // a 64-bit offset
				}
			}
		}
	} else {
		if len(data) < 1024+trailer {
			return fmt.Errorf("index truncated (%d bytes)", len(data))
		}
		fanout = data[:1024]
		n = uint64(binary.BigEndian.Uint32(fanout[1020:]))
		want = 1024 + n*(4+sha1.Size) + trailer
	}
	if uint64(len(data)) != want {
		return fmt.Errorf("index has %d bytes, %d objects need %d", len(data), n, want)
	}
	if sum := sha1.Sum(data[:len(data)-sha1.Size]); !bytes.Equal(sum[:], data[len(data)-sha1.Size:]) {
		return errors.New("index checksum mismatch")
	}
	packSum := data[len(data)-trailer : len(data)-sha1.Size]
	f, err := os.Open(strings.TrimSuffix(idxPath, ".idx") + ".pack")
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < 12+sha1.Size {
		return fmt.Errorf("pack truncated (%d bytes)", fi.Size())
	}
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != "PACK" || uint64(binary.BigEndian.Uint32(hdr[8:])) != n {
		return fmt.Errorf("pack header does not match its index (%d objects)", n)
	}
	var end [sha1.Size]byte
	if _, err := f.ReadAt(end[:], fi.Size()-sha1.Size); err != nil {
		return err
	}
	if !bytes.Equal(end[:], packSum) {
		return errors.New("pack checksum differs from its index (pack truncated or replaced)")
	}
	return nil
}
