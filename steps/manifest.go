package steps

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// ManifestFile is the artifact manifest's name inside build-output/<NAME>/.
const ManifestFile = "manifest.json"

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

// ReadManifest loads a manifest; a missing file gives an empty one.
func ReadManifest(path string) (*Manifest, error) {
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

// HashFiles hashes files in parallel, each in one streaming pass, and
// returns size and hex sha256 per path (same order).
func HashFiles(paths []string) ([]int64, []string, error) {
	sizes := make([]int64, len(paths))
	sums := make([]string, len(paths))
	errs := make([]error, len(paths))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for i := range jobs {
				sizes[i], sums[i], errs[i] = hashFile(paths[i], buf)
			}
		}()
	}
	for i := range paths {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return sizes, sums, errors.Join(errs...)
}

func hashFile(path string, buf []byte) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// relSlash is p relative to base with forward slashes.
func relSlash(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}
