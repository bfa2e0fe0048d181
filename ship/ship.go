// Package ship assembles OpenXT's deliverables in build-output/<NAME>/ from
// raw/ and the signed repository, as do_build.sh's `ship` step did: the OTA
// update tarball, the netboot tree and tarball, the hybrid BIOS/UEFI installer
// ISO, the licences and the info file. Given the same inputs and build
// date every output is byte-identical.
package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Tools are the external programs ship runs; empty fields mean the Debian
// command names (packages xorriso, dosfstools, mtools).
type Tools struct {
	Xorriso, MkfsFat, Mmd, Mcopy string
}

func (t Tools) withDefaults() Tools {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return Tools{def(t.Xorriso, "xorriso"), def(t.MkfsFat, "mkfs.fat"), def(t.Mmd, "mmd"), def(t.Mcopy, "mcopy")}
}

// ShipInput is everything Assemble reads.
type ShipInput struct {
	// OutDir is build-output/<NAME>; outputs are written under it.
	OutDir string
	// RawDir defaults to OutDir/raw (bitbake artifacts, installer/, licences/,
	// info/, grubx64.efi, isohdpfx.bin).
	RawDir string
	// RepositoryDir defaults to OutDir/repository; it holds packages.main.
	RepositoryDir string
	// Version labels the ISO (OpenXT-<Version>) and fills $OPENXT_VERSION.
	Version string
	// BuildID fills $OPENXT_BUILD_ID in bootmsg.txt.
	BuildID string
	// SourceDateEpoch stamps every file date: the build date (see
	// pipe.Build.Date). Required: ship never uses the clock.
	SourceDateEpoch time.Time
	// Log receives what was assembled (nil: slog.Default()).
	Log *slog.Logger
	// Isohdpfx and GrubEFI default to RawDir/isohdpfx.bin and
	// RawDir/grubx64.efi.
	Isohdpfx, GrubEFI string
	Tools             Tools
}

func (in ShipInput) resolve() (ShipInput, error) {
	if in.OutDir == "" {
		return in, errors.New("ship: no output directory")
	}
	if in.Version == "" || in.BuildID == "" {
		return in, errors.New("ship: version and build ID are required")
	}
	if strings.ContainsAny(in.Version, " \t\r\n/") {
		return in, fmt.Errorf("ship: version %q is not usable in a volume label", in.Version)
	}
	if label := "OpenXT-" + in.Version; len(label) > 32 {
		return in, fmt.Errorf("ship: volume label %q is longer than ISO 9660's 32 characters", label)
	}
	if in.RawDir == "" {
		in.RawDir = filepath.Join(in.OutDir, "raw")
	}
	if in.RepositoryDir == "" {
		in.RepositoryDir = filepath.Join(in.OutDir, "repository")
	}
	if in.Isohdpfx == "" {
		in.Isohdpfx = filepath.Join(in.RawDir, "isohdpfx.bin")
	}
	if in.GrubEFI == "" {
		in.GrubEFI = filepath.Join(in.RawDir, "grubx64.efi")
	}
	if in.SourceDateEpoch.IsZero() {
		// Never the clock: two builds of one lock must give the same media.
		return in, errors.New("ship: no build date (SourceDateEpoch): it comes from the layer lock, so run setupoe first")
	}
	if in.Log == nil {
		in.Log = slog.Default()
	}
	in.SourceDateEpoch = in.SourceDateEpoch.UTC().Truncate(time.Second)
	in.Tools = in.Tools.withDefaults()
	return in, nil
}

// Assemble writes, under in.OutDir: update/update.tar, netboot/ (files and
// netboot.tar.gz), iso/installer.iso, licences/ and info. Every input is
// checked before anything is written, and a missing one is named.
func Assemble(ctx context.Context, in ShipInput) error {
	in, err := in.resolve()
	if err != nil {
		return err
	}
	boot, err := collectInputs(in)
	if err != nil {
		return err
	}
	for _, t := range []string{in.Tools.Xorriso, in.Tools.MkfsFat, in.Tools.Mmd, in.Tools.Mcopy} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("ship: %w (Debian packages: xorriso dosfstools mtools)", err)
		}
	}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"update", func() error { return writeUpdate(ctx, in) }},
		{"netboot", func() error { return writeNetboot(ctx, in, boot) }},
		{"installer iso", func() error { return writeISO(ctx, in, boot) }},
		{"licences", func() error { return copyLicences(ctx, in) }},
		{"info", func() error { return writeInfo(in) }},
	} {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		if err := step.run(); err != nil {
			return fmt.Errorf("ship %s: %w", step.name, err)
		}
		in.Log.Info("shipped", "part", step.name, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// bootFile is one installer boot file: where it comes from and its name on
// the ISO (isolinux/) and in netboot/.
type bootFile struct {
	src, name string
}

// collectInputs checks every input and returns the installer boot files.
func collectInputs(in ShipInput) ([]bootFile, error) {
	inst := filepath.Join(in.RawDir, "installer")
	var missing []string
	need := func(p string) {
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, p)
		}
	}
	needDir := func(p string) {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			missing = append(missing, p+"/")
		}
	}
	pm := filepath.Join(in.RepositoryDir, "packages.main")
	for _, f := range []string{"XC-PACKAGES", "XC-REPOSITORY", "XC-SIGNATURE"} {
		need(filepath.Join(pm, f))
	}
	needDir(filepath.Join(inst, "iso"))
	need(filepath.Join(inst, "iso", "isolinux.bin"))
	needDir(filepath.Join(inst, "netboot"))
	need(in.Isohdpfx)
	need(in.GrubEFI)

	// Required boot chain: tboot -> xen -> dom0 kernel + installer rootfs.
	boot := []bootFile{
		{filepath.Join(inst, "vmlinuz"), "vmlinuz"},
		{filepath.Join(inst, "xen.gz"), "xen.gz"},
		{filepath.Join(inst, "tboot.gz"), "tboot.gz"},
		{filepath.Join(inst, "rootfs.cpio.gz"), "rootfs.gz"},
	}
	for _, b := range boot {
		need(b.src)
	}
	// Optional: SINIT ACMs, their licence, CPU microcode.
	var opt []string
	for _, pat := range []string{"*.acm", "license-*.txt", "microcode_intel.bin"} {
		m, _ := filepath.Glob(filepath.Join(inst, pat))
		opt = append(opt, m...)
	}
	sort.Strings(opt)
	for _, p := range opt {
		boot = append(boot, bootFile{p, filepath.Base(p)})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ship: missing inputs: %s", strings.Join(missing, ", "))
	}
	return boot, nil
}
