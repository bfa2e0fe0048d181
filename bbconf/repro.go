package bbconf

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/layers"
)

// reproSupport is what a Yocto release series offers for reproducible
// builds, read from each branch of openembedded-core:
//   - before sumo: nothing;
//   - sumo … honister: the reproducible_build class, which a distro must
//     inherit, switched by BUILD_REPRODUCIBLE_BINARIES, with
//     REPRODUCIBLE_TIMESTAMP_ROOTFS for image files; dunfell added
//     SOURCE_DATE_EPOCH_FALLBACK;
//   - kirkstone on: always on (bitbake.conf sets SOURCE_DATE_EPOCH per
//     recipe), BUILD_REPRODUCIBLE_BINARIES gone, SOURCE_DATE_EPOCH_FALLBACK
//     and REPRODUCIBLE_TIMESTAMP_ROOTFS in bitbake.conf.
type reproSupport struct {
	known    bool
	class    bool // INHERIT += "reproducible_build" and BUILD_REPRODUCIBLE_BINARIES
	rootfs   bool // REPRODUCIBLE_TIMESTAMP_ROOTFS
	fallback bool // SOURCE_DATE_EPOCH_FALLBACK
}

// seriesOrder lists the release series oldest first.
var seriesOrder = []string{
	"dizzy", "fido", "jethro", "krogoth", "morty", "pyro", "rocko",
	"sumo", "thud", "warrior", "zeus", "dunfell", "gatesgarth", "hardknott", "honister",
	"kirkstone", "langdale", "mickledore", "nanbield", "scarthgap", "styhead", "walnascar",
}

func seriesIndex(name string) int {
	for i, s := range seriesOrder {
		if s == name {
			return i
		}
	}
	return -1
}

func reproSupportOf(release string) reproSupport {
	i := seriesIndex(release)
	switch {
	case i < 0:
		return reproSupport{}
	case i < seriesIndex("sumo"):
		return reproSupport{known: true}
	case i < seriesIndex("kirkstone"):
		return reproSupport{known: true, class: true, rootfs: true, fallback: i >= seriesIndex("dunfell")}
	}
	return reproSupport{known: true, rootfs: true, fallback: true}
}

// Epoch is the timestamp reproducible builds use where a source has no date
// of its own: the committer time of the newest locked layer commit, so it
// moves only when the layers do and is the same for anyone with the lock.
type Epoch struct {
	Unix   int64
	Layer  string // the layer holding the newest commit
	Commit string
}

// LayerEpoch reads the lock and the layer clones for the epoch. It returns
// nil (and no error) when there is no lock matching the config's layers or
// a layer is not cloned yet; a locked commit missing from its clone is an
// error.
func LayerEpoch(c *config.Config) (*Epoch, error) {
	lock, err := layers.ReadLock(c.LockFile())
	if err != nil {
		return nil, err
	}
	if lock == nil || lock.Stale(c.Layers) != "" {
		return nil, nil
	}
	var best *Epoch
	for _, l := range c.Layers {
		commit, ok := lock.Commit(l.Name)
		if !ok {
			continue
		}
		repo, err := git.PlainOpen(c.LayerDir(l))
		if errors.Is(err, git.ErrRepositoryNotExists) {
			// Not cloned yet (setupoe writes local.conf after cloning):
			// no epoch rather than a guess.
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("source date epoch: open layer %s: %w", l.Name, err)
		}
		co, err := repo.CommitObject(plumbing.NewHash(commit))
		if err != nil {
			return nil, fmt.Errorf("source date epoch: layer %s: locked commit %s: %w", l.Name, commit, err)
		}
		if t := co.Committer.When.Unix(); best == nil || t > best.Unix {
			best = &Epoch{Unix: t, Layer: l.Name, Commit: commit}
		}
	}
	return best, nil
}

// ReproConf renders the reproducibility block of local.conf for the
// configured release (see reproSupport) with the layer epoch.
func ReproConf(c *config.Config) ([]byte, error) {
	w := &writer{}
	if err := reproLines(w, c); err != nil {
		return nil, err
	}
	return w.bytes("reproducibility settings")
}

func reproLines(w *writer, c *config.Config) error {
	rel := c.Build.Release
	rs := reproSupportOf(rel)
	w.comment("Reproducibility (%s)", rel)
	if !rs.known {
		w.comment("%s is not a release series xtbuild knows reproducibility settings for; none set.", rel)
		w.blank()
		return nil
	}
	if !rs.class && !rs.rootfs {
		w.comment("%s predates OpenEmbedded's reproducible-build support (sumo); nothing to set.", rel)
		w.blank()
		return nil
	}
	if rs.class {
		w.set("INHERIT", "+=", "reproducible_build")
		w.set("BUILD_REPRODUCIBLE_BINARIES", "=", "1")
	}
	ep, err := LayerEpoch(c)
	if err != nil {
		return err
	}
	if ep == nil {
		w.comment("No current layer lock yet: the release's default timestamps apply until setupoe locks the layers.")
		w.blank()
		return nil
	}
	w.comment("Timestamps where a source has none: newest locked layer commit, %s %s (%s).",
		ep.Layer, ep.Commit, time.Unix(ep.Unix, 0).UTC().Format(time.RFC3339))
	epoch := strconv.FormatInt(ep.Unix, 10)
	if rs.fallback {
		w.set("SOURCE_DATE_EPOCH_FALLBACK", "=", epoch)
	}
	if rs.rootfs {
		w.set("REPRODUCIBLE_TIMESTAMP_ROOTFS", "=", epoch)
	}
	w.blank()
	return nil
}
