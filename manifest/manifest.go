// Package manifest owns the build's artifact list: Artifact, Manifest,
// reading and writing manifest.json, and parallel file hashing (the one
// implementation every package uses).
package manifest

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// File is the artifact manifest's name inside build-output/<NAME>/.
const File = "manifest.json"

// Manifest lists every artifact of a build with its hash. provenance/ and
// signing read it from disk.
type Manifest struct {
	Name       string     `json:"name"`
	ConfigHash string     `json:"config_hash"`
	LockHash   string     `json:"lock_hash,omitempty"`
	Artifacts  []Artifact `json:"artifacts"`
}

// Artifact is one file under build-output/<NAME>/.
type Artifact struct {
	Path    string `json:"path"` // relative to build-output/<NAME>, slash-separated
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Step    string `json:"step"`
	Machine string `json:"machine,omitempty"`
}

// Read loads a manifest; a missing file gives an empty one.
func Read(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Manifest{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// Replace swaps in a step's artifacts (steps run separately; each owns its
// entries) and keeps the list sorted by path.
func (m *Manifest) Replace(step string, arts []Artifact) {
	kept := m.Artifacts[:0]
	paths := map[string]bool{}
	for _, a := range arts {
		paths[a.Path] = true
	}
	for _, a := range m.Artifacts {
		if a.Step != step && !paths[a.Path] {
			kept = append(kept, a)
		}
	}
	m.Artifacts = append(kept, arts...)
	sort.Slice(m.Artifacts, func(i, j int) bool { return m.Artifacts[i].Path < m.Artifacts[j].Path })
}

// Write stores the manifest atomically.
func (m *Manifest) Write(path string) error {
	if m.Artifacts == nil {
		m.Artifacts = []Artifact{}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// SHA256 hashes files in parallel with HashFiles and returns each file's
// size and hex sha256, in the order of paths.
func SHA256(ctx context.Context, paths []string) ([]int64, []string, error) {
	ds, err := HashFiles(ctx, paths, crypto.SHA256, 0)
	if err != nil {
		return nil, nil, err
	}
	sizes := make([]int64, len(ds))
	sums := make([]string, len(ds))
	for i, d := range ds {
		sizes[i], sums[i] = d.Size, hex.EncodeToString(d.Sum)
	}
	return sizes, sums, nil
}

// Artifacts hashes files under base and returns their manifest entries,
// produced by step (and machine, when there is one).
func Artifacts(ctx context.Context, base string, files []string, step, machine string) ([]Artifact, error) {
	sizes, sums, err := SHA256(ctx, files)
	if err != nil {
		return nil, err
	}
	arts := make([]Artifact, len(files))
	for i, f := range files {
		arts[i] = Artifact{Path: RelSlash(base, f), Size: sizes[i], SHA256: sums[i], Step: step, Machine: machine}
	}
	return arts, nil
}

// RelSlash is p relative to base with forward slashes.
func RelSlash(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// Files lists the regular files under dir in lexical walk order (none when
// dir does not exist).
func Files(dir string) []string {
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files
}
