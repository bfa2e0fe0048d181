package ship

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// Info lines for what ship writes (raw/info/* may add more, e.g. sources).
var infoLines = []string{
	"installer: iso/installer.iso",
	"netboot: netboot",
	"ota-update: update/update.tar",
	"repository: repository",
}

// writeUpdate writes update/update.tar: packages.main as the OTA payload.
func writeUpdate(ctx context.Context, in ShipInput) error {
	es, err := repositoryEntries(in)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(in.OutDir, "update", "update.tar"), 0o644, func(w io.Writer) error {
		return writeTar(ctx, w, es, in.SourceDateEpoch)
	})
}

func repositoryEntries(in ShipInput) ([]entry, error) {
	es, err := walkTree(filepath.Join(in.RepositoryDir, "packages.main"), "packages.main")
	if err != nil {
		return nil, err
	}
	es = append(es, entry{rel: "packages.main", dir: true})
	sortEntries(es)
	return es, nil
}

// addBootFiles appends the installer boot files under prefix, refusing a
// name that is already in the tree.
func addBootFiles(es []entry, boot []bootFile, prefix string) ([]entry, error) {
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.rel] = true
	}
	for _, b := range boot {
		rel := pathJoin(prefix, b.name)
		if seen[rel] {
			return nil, fmt.Errorf("%s is both a boot file and in the installer's own tree", rel)
		}
		seen[rel] = true
		es = append(es, entry{rel: rel, src: b.src})
	}
	sortEntries(es)
	return es, nil
}

// writeNetboot fills netboot/ with raw/installer/netboot/* and the boot
// files, plus netboot.tar.gz of the same (do_build.sh: tar, then gzip -9).
func writeNetboot(ctx context.Context, in ShipInput, boot []bootFile) error {
	es, err := walkTree(filepath.Join(in.RawDir, "installer", "netboot"), "")
	if err != nil {
		return err
	}
	if es, err = addBootFiles(es, boot, ""); err != nil {
		return err
	}
	for _, e := range es {
		if e.rel == "netboot.tar.gz" {
			return errors.New("raw/installer/netboot already holds a netboot.tar.gz")
		}
	}
	return atomicfile.ReplaceDir(filepath.Join(in.OutDir, "netboot"), func(tmp string) error {
		for _, e := range es {
			dst := filepath.Join(tmp, filepath.FromSlash(e.rel))
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
			if err := atomicfile.CopyNew(ctx, e.src, dst, mode); err != nil {
				return fmt.Errorf("copy %s: %w", e.src, err)
			}
		}
		return writeAtomic(filepath.Join(tmp, "netboot.tar.gz"), 0o644, func(w io.Writer) error {
			return writeTarGz(ctx, w, es, in.SourceDateEpoch)
		})
	})
}

// copyLicences copies raw/licences/ (the license step's CSVs) to licences/.
func copyLicences(ctx context.Context, in ShipInput) error {
	src := filepath.Join(in.RawDir, "licences")
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		in.Log.Warn("no raw/licences: skipping licences (run the license step first)")
		return nil
	}
	es, err := walkTree(src, "")
	if err != nil {
		return err
	}
	return atomicfile.ReplaceDir(filepath.Join(in.OutDir, "licences"), func(tmp string) error {
		for _, e := range es {
			if err := ctx.Err(); err != nil {
				return err
			}
			dst := filepath.Join(tmp, filepath.FromSlash(e.rel))
			if e.dir {
				if err := os.MkdirAll(dst, 0o755); err != nil {
					return err
				}
				continue
			}
			if err := atomicfile.CopyNew(ctx, e.src, dst, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeInfo writes the info file: the sorted, de-duplicated lines of
// raw/info/* and of what ship made, as do_build.sh's `sort` did.
func writeInfo(in ShipInput) error {
	set := map[string]bool{}
	for _, l := range infoLines {
		set[l] = true
	}
	dir := filepath.Join(in.RawDir, "info")
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if l := strings.TrimRight(sc.Text(), " \t\r"); l != "" {
					set[l] = true
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	lines := make([]string, 0, len(set))
	for l := range set {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return atomicfile.WriteFile(filepath.Join(in.OutDir, "info"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
