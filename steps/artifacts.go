package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/atomicfile"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/plan"
)

// collectArtifacts copies (hard-links where possible) a step's deploy
// outputs into outDir/raw and returns their manifest entries. Deploy files
// are usually symlinks to timestamped images; the link target is taken.
func collectArtifacts(ctx context.Context, deployDir, outDir string, step plan.Step) ([]manifest.Artifact, error) {
	type pair struct{ src, dst string }
	var pairs []pair
	seen := map[string]bool{}
	for _, a := range step.Artifacts {
		pattern := filepath.Join(deployDir, filepath.FromSlash(strings.ReplaceAll(a.From, "{machine}", step.Machine)))
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("step %s: artifact pattern %s: %w", step.Name, a.From, err)
		}
		sort.Strings(matches)
		var files []string
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
				files = append(files, m)
			}
		}
		if len(files) == 0 {
			if a.Optional {
				continue
			}
			return nil, fmt.Errorf("step %s: no deploy output matches %s (looked in %s)", step.Name, a.From, deployDir)
		}
		toDir := strings.HasSuffix(a.To, "/")
		if !toDir && len(files) > 1 {
			return nil, fmt.Errorf("step %s: %s matches %d files but is copied to the single file %s", step.Name, a.From, len(files), a.To)
		}
		for _, f := range files {
			dst := filepath.Join(outDir, "raw", filepath.FromSlash(a.To))
			if toDir {
				dst = filepath.Join(dst, filepath.Base(f))
			}
			if seen[dst] {
				continue
			}
			seen[dst] = true
			pairs = append(pairs, pair{f, dst})
		}
	}
	var dsts []string
	for _, p := range pairs {
		if err := atomicfile.LinkOrCopy(p.src, p.dst, 0o644); err != nil {
			return nil, fmt.Errorf("step %s: %w", step.Name, err)
		}
		dsts = append(dsts, p.dst)
	}
	return manifest.Artifacts(ctx, outDir, dsts, step.Name, step.Machine)
}

// collectLicences is OpenXT's license step: every image's licences CSV
// into raw/licences/<short>-licences.csv (xenclient- and -image stripped).
func collectLicences(ctx context.Context, deployDir, outDir string, c *config.Config) ([]manifest.Artifact, error) {
	csvs, _ := filepath.Glob(filepath.Join(deployDir, "images", "*", "*-licences.csv"))
	sort.Strings(csvs)
	var dsts []string
	for _, f := range csvs {
		base := strings.TrimSuffix(filepath.Base(f), "-licences.csv")
		short := strings.TrimPrefix(strings.TrimSuffix(base, "-image"), "xenclient-")
		dst := filepath.Join(outDir, "raw", "licences", short+"-licences.csv")
		if err := atomicfile.LinkOrCopy(f, dst, 0o644); err != nil {
			return nil, err
		}
		dsts = append(dsts, dst)
	}
	if _, ok := c.Steps["dom0"]; ok {
		if _, err := os.Stat(filepath.Join(outDir, "raw", "licences", "dom0-licences.csv")); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("step license: no dom0 licences CSV in %s (was dom0 built?)", filepath.Join(deployDir, "images"))
		}
	}
	return manifest.Artifacts(ctx, outDir, dsts, "license", "")
}
