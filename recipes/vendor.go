package recipes

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// VendorFile is a vendored-modules tarball written by VendorTarball.
type VendorFile struct {
	Name   string // xtbuild-vendor-<first 16 hex digits of sha256>.tar.gz
	Path   string // where it was written
	SHA256 string
	// Licenses are the vendored modules' license files (VendoredLicenses).
	Licenses []ModuleLicense
}

// vendorEpoch is the mtime of every tarball member, so the tarball depends
// on nothing but the vendored files.
var vendorEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// VendorTarball runs `go mod vendor` for the module at moduleRoot (the tools
// module, not the repository root) and packs
// the result as a reproducible tar.gz (sorted members, fixed times and
// owners) named after its sha256 into outDir, the mirror the recipe's
// SRC_URI is served from. It returns ok=false and writes nothing when the
// module has no dependencies to vendor. The go command must find the
// modules in its cache or through GOPROXY.
func VendorTarball(ctx context.Context, moduleRoot, outDir string) (VendorFile, bool, error) {
	tmp, err := os.MkdirTemp("", "xtbuild-vendor-")
	if err != nil {
		return VendorFile{}, false, fmt.Errorf("create vendor temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	vdir := filepath.Join(tmp, "vendor")
	cmd := exec.CommandContext(ctx, "go", "mod", "vendor", "-o", vdir)
	cmd.Dir = moduleRoot
	// The module's own go.mod decides; a workspace or GOFLAGS must not.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return VendorFile{}, false, fmt.Errorf("go mod vendor in %s: %w: %s", moduleRoot, err, strings.TrimSpace(out.String()))
	}
	if _, err := os.Stat(filepath.Join(vdir, "modules.txt")); err != nil {
		return VendorFile{}, false, nil
	}
	lics, err := VendoredLicenses(tmp)
	if err != nil {
		return VendorFile{}, false, err
	}
	data, err := packVendor(vdir)
	if err != nil {
		return VendorFile{}, false, err
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	vf := VendorFile{Name: "xtbuild-vendor-" + hexSum[:16] + ".tar.gz", SHA256: hexSum, Licenses: lics}
	vf.Path = filepath.Join(outDir, vf.Name)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return VendorFile{}, false, fmt.Errorf("create mirror dir: %w", err)
	}
	if _, err := atomicfile.WriteIfChanged(vf.Path, data, 0o644); err != nil {
		return VendorFile{}, false, err
	}
	return vf, true, nil
}

// packVendor tars dir as "vendor/..." deterministically.
func packVendor(dir string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk vendor dir: %w", err)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil, err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		hdr := &tar.Header{Name: "vendor/" + filepath.ToSlash(rel), ModTime: vendorEpoch, Format: tar.FormatPAX}
		switch {
		case st.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		case st.Mode().IsRegular():
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
			if st.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			return nil, fmt.Errorf("vendor tree holds %s, neither file nor directory", p)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			if _, err := tw.Write(b); err != nil {
				return nil, fmt.Errorf("tar %s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
