package signing

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/manifest"
)

// Repository metadata file names (inside packages.main/).
const (
	PackagesFile   = "XC-PACKAGES"
	RepositoryFile = "XC-REPOSITORY"
	SignatureFile  = "XC-SIGNATURE"
	// RepositorySize is XC-REPOSITORY's fixed size: the key lines padded with
	// newlines. OpenXT: "If this is changed, the repository-signing process
	// will also need to change."
	RepositorySize = 1 << 20
)

// RepoMeta are the XC-REPOSITORY key lines.
type RepoMeta struct {
	// Product is "XenClient" in do_build.sh (the default here) and "OpenXT"
	// in build-scripts.
	Product     string
	Build       string   // build ID (`build:`)
	Version     string   // marketing version (`version:`)
	Release     string   // release identifier (`release:`)
	UpgradeFrom []string // releases this one upgrades (`upgrade-from:`, space-separated)
}

func (m RepoMeta) validate() error {
	if m.Build == "" || m.Version == "" || m.Release == "" {
		return errors.New("repository metadata needs build, version and release")
	}
	for k, v := range map[string]string{"product": m.Product, "build": m.Build, "version": m.Version, "release": m.Release} {
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("repository metadata %s %q contains a line break", k, v)
		}
	}
	for _, u := range m.UpgradeFrom {
		if u == "" || strings.ContainsAny(u, " \t\r\n") {
			return fmt.Errorf("repository metadata upgrade-from entry %q must be one word", u)
		}
	}
	return nil
}

// RepositoryContent returns XC-REPOSITORY for the given XC-PACKAGES digest:
// the eight key lines in OpenXT's order, padded with newlines to exactly
// RepositorySize bytes.
func RepositoryContent(m RepoMeta, packagesSHA256 []byte) ([]byte, error) {
	if m.Product == "" {
		m.Product = "XenClient"
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(RepositorySize)
	fmt.Fprintf(&b, "xc:main\npack:Base Pack\nproduct:%s\nbuild:%s\nversion:%s\nrelease:%s\nupgrade-from:%s\npackages:%s\n",
		m.Product, m.Build, m.Version, m.Release, strings.Join(m.UpgradeFrom, " "), hex.EncodeToString(packagesSHA256))
	if b.Len() > RepositorySize {
		return nil, fmt.Errorf("repository metadata is %d bytes, more than %d", b.Len(), RepositorySize)
	}
	b.Write(bytes.Repeat([]byte{'\n'}, RepositorySize-b.Len()))
	return b.Bytes(), nil
}

// packagesLine is one XC-PACKAGES line, as do_build.sh's echo writes it.
func packagesLine(c Component, d manifest.FileDigest) string {
	req := "optional"
	if c.Required {
		req = "required"
	}
	return fmt.Sprintf("%s %d %s %s %s %s %s\n", c.Name, d.Size, hex.EncodeToString(d.Sum), c.Format, req, c.File, c.Destination)
}

// MissingError lists required components whose files are absent from raw/.
type MissingError struct {
	Components []Component
	RawDir     string
}

func (e *MissingError) Error() string {
	var parts []string
	for _, c := range e.Components {
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Name, c.File))
	}
	return fmt.Sprintf("required component missing from %s: %s", e.RawDir, strings.Join(parts, ", "))
}

// WriteRepository builds packagesDir (build-output/<NAME>/repository/
// packages.main) from the manifest's files in rawDir: the payloads,
// XC-PACKAGES, XC-REPOSITORY and XC-SIGNATURE signed by s. A missing required
// file fails naming every such component; a missing optional one is skipped
// and the rest of the manifest still processed (and logged to log). The new directory is built
// beside the old one and swapped in by rename, so stale files from an earlier
// build never linger and a failure leaves the previous repository whole.
func WriteRepository(ctx context.Context, rawDir, packagesDir string, m Manifest, meta RepoMeta, s *Signer, log *slog.Logger) error {
	log = orDefault(log)
	if err := m.Validate(); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	if err := s.checkKey(); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	var present Manifest
	missing := &MissingError{RawDir: rawDir}
	for _, c := range m {
		st, err := os.Stat(filepath.Join(rawDir, c.File))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if c.Required {
				missing.Components = append(missing.Components, c)
				continue
			}
			log.Info("optional component missing: skipping", "component", c.Name, "file", c.File)
			continue
		case err != nil:
			return fmt.Errorf("write repository: %w", err)
		case !st.Mode().IsRegular():
			return fmt.Errorf("write repository: %s: not a regular file", filepath.Join(rawDir, c.File))
		}
		log.Debug("repository component", "component", c.Name, "file", c.File, "bytes", st.Size())
		present = append(present, c)
	}
	if len(missing.Components) > 0 {
		return fmt.Errorf("write repository: %w", missing)
	}

	parent := filepath.Dir(packagesDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(packagesDir)+".new-*")
	if err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o755); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}

	// Copy in parallel (copy_file_range underneath), then hash what landed
	// in the repository, so the metadata describes the bytes shipped.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, c := range present {
		g.Go(func() error {
			return atomicfile.CopyNew(gctx, filepath.Join(rawDir, c.File), filepath.Join(stage, c.File), 0o644)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	paths := make([]string, len(present))
	for i, c := range present {
		paths[i] = filepath.Join(stage, c.File)
	}
	digests, err := manifest.HashFiles(ctx, paths, crypto.SHA256, 0)
	if err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	if err := writeMetadata(stage, present, digests, meta, s); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	if err := atomicfile.SwapDir(stage, packagesDir); err != nil {
		return fmt.Errorf("write repository: %w", err)
	}
	committed = true
	log.Info("wrote repository", "dir", packagesDir, "components", len(present))
	return nil
}

// writeMetadata writes XC-PACKAGES, XC-REPOSITORY and XC-SIGNATURE into dir.
func writeMetadata(dir string, comps Manifest, digests []manifest.FileDigest, meta RepoMeta, s *Signer) error {
	var pk strings.Builder
	for i, c := range comps {
		pk.WriteString(packagesLine(c, digests[i]))
	}
	pkSum := crypto.SHA256.New()
	pkSum.Write([]byte(pk.String()))
	repo, err := RepositoryContent(meta, pkSum.Sum(nil))
	if err != nil {
		return err
	}
	sig, err := s.Sign(repo)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{PackagesFile, []byte(pk.String())}, {RepositoryFile, repo}, {SignatureFile, sig}} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
