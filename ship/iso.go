package ship

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xtbuild/xtbuild/internal/atomicfile"
)

// efiImageSize is OpenXT's 5 MiB efiboot.img; it grows only when the GRUB
// image would not fit.
const efiImageSize = 5 << 20

// writeISO stages the installer tree and runs xorriso as do_build.sh did
// since 2017 (hybrid isolinux BIOS + EFI El Torito, MBR/GPT), adding only
// what makes the bytes reproducible.
func writeISO(ctx context.Context, in ShipInput, boot []bootFile) error {
	isoDir := filepath.Join(in.OutDir, "iso")
	if err := os.MkdirAll(isoDir, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(isoDir, ".staging-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	es, err := walkTree(filepath.Join(in.RawDir, "installer", "iso"), "isolinux")
	if err != nil {
		return err
	}
	kept := es[:0]
	for _, e := range es {
		switch e.rel {
		case "isolinux/boot.cat", "isolinux/efiboot.img":
			// Made here; a stale copy from raw/ would shadow it.
			in.Log.Warn("ignoring generated file found in raw/installer/iso", "file", e.rel)
			continue
		case "isolinux/bootmsg.txt":
			data, err := os.ReadFile(e.src)
			if err != nil {
				return err
			}
			e.data = fillBootmsg(data, in.Version, in.BuildID)
		}
		kept = append(kept, e)
	}
	es = append(kept, entry{rel: "isolinux", dir: true})
	if es, err = addBootFiles(es, boot, "isolinux"); err != nil {
		return err
	}
	repo, err := repositoryEntries(in)
	if err != nil {
		return err
	}
	es = append(es, repo...)
	sortEntries(es)
	if err := materialize(ctx, stage, es); err != nil {
		return fmt.Errorf("stage iso: %w", err)
	}
	if err := makeEFIBoot(ctx, in, filepath.Join(stage, "isolinux", "efiboot.img")); err != nil {
		return err
	}

	out := filepath.Join(isoDir, "installer.iso")
	tmp := filepath.Join(isoDir, fmt.Sprintf(".installer.iso.tmp-%d", os.Getpid()))
	os.Remove(tmp)
	defer os.Remove(tmp)
	stamp := in.SourceDateEpoch.Format("20060102150405") + "00"
	args := []string{"-as", "mkisofs",
		"-o", tmp,
		"-isohybrid-mbr", in.Isohdpfx,
		"-c", "isolinux/boot.cat",
		"-b", "isolinux/isolinux.bin", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot",
		"-e", "isolinux/efiboot.img", "-no-emul-boot",
		"-isohybrid-gpt-basdat",
		"-r", "-J", "-l",
		"-V", "OpenXT-" + in.Version,
		"-f", "-quiet",
		// Reproducibility: volume dates, and every file's mtime/atime/ctime
		// (ctime cannot be set on the staging files themselves); the
		// SOURCE_DATE_EPOCH variable below also fixes the GPT GUIDs.
		"--modification-date=" + stamp,
		"--set_all_file_dates", stamp,
		stage,
	}
	if err := in.run(ctx, in.epochEnv(), in.Tools.Xorriso, args...); err != nil {
		return err
	}
	return atomicfile.Install(tmp, out, 0o644)
}

// fillBootmsg replaces the boot banner placeholders.
func fillBootmsg(data []byte, version, buildID string) []byte {
	data = bytes.ReplaceAll(data, []byte("$OPENXT_VERSION"), []byte(version))
	return bytes.ReplaceAll(data, []byte("$OPENXT_BUILD_ID"), []byte(buildID))
}

// makeEFIBoot builds the FAT image holding EFI/BOOT/BOOTX64.EFI with
// mkfs.fat and mtools, as OpenXT did from 2018 on (no root, no loop mount).
func makeEFIBoot(ctx context.Context, in ShipInput, img string) error {
	st, err := os.Stat(in.GrubEFI)
	if err != nil {
		return err
	}
	size := int64(efiImageSize)
	if need := st.Size() + 1<<20; need > size {
		size = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	f, err := os.OpenFile(img, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	env := append(in.epochEnv(), "MTOOLS_SKIP_CHECK=1")
	// The volume serial is normally time-derived; take it from the epoch.
	serial := fmt.Sprintf("%08X", uint32(in.SourceDateEpoch.Unix()))
	if err := in.run(ctx, env, in.Tools.MkfsFat, "-i", serial, img); err != nil {
		return err
	}
	if err := in.run(ctx, env, in.Tools.Mmd, "-i", img, "::EFI", "::EFI/BOOT"); err != nil {
		return err
	}
	return in.run(ctx, env, in.Tools.Mcopy, "-i", img, in.GrubEFI, "::EFI/BOOT/BOOTX64.EFI")
}

func (in ShipInput) epochEnv() []string {
	return []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(in.SourceDateEpoch.Unix(), 10), "TZ=UTC"}
}

// run executes one tool with argv (never a shell), its output kept for the
// error message.
func (in ShipInput) run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	in.Log.Debug("run", "argv", cmd.Args)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(string(out))
		if len(msg) > 4000 {
			msg = "…" + msg[len(msg)-4000:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return nil
}
