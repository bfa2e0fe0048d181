package ship

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/signing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// needTools returns nothing but fails (in CI) or skips (elsewhere) when the
// Debian tools ship runs are missing.
func needTools(t *testing.T) {
	t.Helper()
	for tool, pkg := range map[string]string{"xorriso": "xorriso", "mkfs.fat": "dosfstools", "mmd": "mtools", "mcopy": "mtools", "mdir": "mtools", "mtype": "mtools", "openssl": "openssl", "tar": "tar"} {
		testenv.LookPath(t, tool, pkg)
	}
}

// syslinuxFile returns a boot file from Debian's isolinux/syslinux-common
// packages: the real BIOS boot loader, so the El Torito entry is genuine.
func syslinuxFile(t *testing.T, path string) []byte {
	t.Helper()
	testenv.NeedFile(t, path, "isolinux syslinux-common")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture lays out build-output/<NAME>/ as the build steps leave it: raw/
// with the installer tree and a signed repository. Kernel, Xen, tboot, the
// installer rootfs, ACMs and the GRUB EFI binary are stand-ins (bitbake
// makes the real ones); isolinux.bin, ldlinux.c32, mboot.c32 and
// isohdpfx.bin are Debian's real ones.
func fixture(t *testing.T) (outDir string, keys signing.KeyFiles) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "openxt-dev-190412-stable-9")
	raw := filepath.Join(out, "raw")
	inst := filepath.Join(raw, "installer")
	write(t, filepath.Join(inst, "iso", "isolinux.bin"), syslinuxFile(t, "/usr/lib/ISOLINUX/isolinux.bin"))
	write(t, filepath.Join(inst, "iso", "ldlinux.c32"), syslinuxFile(t, "/usr/lib/syslinux/modules/bios/ldlinux.c32"))
	write(t, filepath.Join(inst, "iso", "mboot.c32"), syslinuxFile(t, "/usr/lib/syslinux/modules/bios/mboot.c32"))
	write(t, filepath.Join(inst, "iso", "libcom32.c32"), syslinuxFile(t, "/usr/lib/syslinux/modules/bios/libcom32.c32"))
	write(t, filepath.Join(raw, "isohdpfx.bin"), syslinuxFile(t, "/usr/lib/ISOLINUX/isohdpfx.bin"))
	write(t, filepath.Join(inst, "iso", "isolinux.cfg"), []byte("DEFAULT xenclient\nDISPLAY bootmsg.txt\nLABEL xenclient\n  KERNEL mboot.c32\n  APPEND tboot.gz --- xen.gz --- vmlinuz root=/dev/ram start_install=new eject_cdrom=1 answerfile=/install/answers/default.ans --- rootfs.gz --- gm45.acm\n"))
	write(t, filepath.Join(inst, "iso", "bootmsg.txt"), []byte("\nOpenXT $OPENXT_VERSION (Build $OPENXT_BUILD_ID)\n"))
	write(t, filepath.Join(inst, "iso", "grub.cfg"), []byte("menuentry \"OpenXT Install\" {\n linux /isolinux/vmlinuz answerfile=/install/answers/uefi.ans\n initrd /isolinux/rootfs.gz\n}\n"))
	write(t, filepath.Join(inst, "netboot", "pxelinux.cfg"), []byte("DEFAULT xenclient\nLABEL xenclient\n  KERNEL @TFTP_PATH@/mboot.c32\n"))
	write(t, filepath.Join(inst, "netboot", "network.ans"), []byte("<interactive>false</interactive>\n"))
	write(t, filepath.Join(inst, "netboot", "mboot.c32"), syslinuxFile(t, "/usr/lib/syslinux/modules/bios/mboot.c32"))
	for name, content := range map[string]string{
		"vmlinuz": "stand-in bzImage", "xen.gz": "stand-in xen", "tboot.gz": "stand-in tboot",
		"rootfs.cpio.gz": "stand-in installer rootfs", "gm45.acm": "stand-in ACM", "skl.acm": "stand-in ACM 2",
		"license-SINIT-ACMs.txt": "Intel licence", "microcode_intel.bin": "stand-in microcode",
	} {
		write(t, filepath.Join(inst, name), []byte(content))
	}
	write(t, filepath.Join(raw, "grubx64.efi"), append([]byte("MZ stand-in GRUB EFI image"), make([]byte, 300<<10)...))
	write(t, filepath.Join(raw, "licences", "dom0-licences.csv"), []byte("busybox,GPLv2\n"))
	write(t, filepath.Join(raw, "licences", "uivm-licences.csv"), []byte("xorg,MIT\n"))
	write(t, filepath.Join(raw, "info", "sources"), []byte("sources: iso/source.iso\n"))

	// A real dev-signed repository.
	keysDir := filepath.Join(t.TempDir(), "certs")
	if err := signing.GenerateKeys(context.Background(), keysDir, signing.KeyOptions{Algorithm: signing.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	keys = signing.KeyPaths(keysDir)
	s, err := signing.LoadSigner(keys.DevSigningCert, keys.DevSigningKey, "")
	if err != nil {
		t.Fatal(err)
	}
	m := signing.Manifest{
		{Name: "control", Format: "tarbz2", Required: true, File: "control.tar.bz2", Destination: "/"},
		{Name: "dom0", Format: "ext3gz", Required: true, File: "dom0-rootfs.ext3.gz", Destination: "/"},
	}
	write(t, filepath.Join(raw, "control.tar.bz2"), bytes.Repeat([]byte("c"), 5000))
	write(t, filepath.Join(raw, "dom0-rootfs.ext3.gz"), bytes.Repeat([]byte("d"), 70000))
	meta := signing.RepoMeta{Build: "190412", Version: "9.0.2", Release: "9.0.2"}
	if err := signing.WriteRepository(context.Background(), raw, filepath.Join(out, "repository", "packages.main"), m, meta, s, nil); err != nil {
		t.Fatal(err)
	}
	return out, keys
}

var epoch = time.Unix(1700000000, 0)

func input(out string) ShipInput {
	return ShipInput{OutDir: out, Version: "9.0.2", BuildID: "190412", SourceDateEpoch: epoch}
}

func xorriso(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("xorriso", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestAssembleISO(t *testing.T) {
	needTools(t)
	out, keys := fixture(t)
	in := input(out)
	// The caller's logger gets ship's lines, debug included (XTBUILD_DEBUG).
	var logged bytes.Buffer
	in.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := Assemble(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "level=DEBUG msg=run argv=") || !strings.Contains(logged.String(), "msg=shipped part=\"installer iso\"") {
		t.Errorf("ship did not log through ShipInput.Log:\n%s", logged.String())
	}
	iso := filepath.Join(out, "iso", "installer.iso")

	report := xorriso(t, "-indev", iso, "-report_el_torito", "plain")
	for _, want := range []string{
		"Volume id    : 'OpenXT-9.0.2'",
		"Boot record  : El Torito , MBR isohybrid",
		"GPT",
		"El Torito cat path : /isolinux/boot.cat",
		"El Torito boot img :   1  BIOS  y   none",
		"El Torito boot img :   2  UEFI  y   none",
		"El Torito img path :   1  /isolinux/isolinux.bin",
		"El Torito img opts :   1  boot-info-table",
		"El Torito img path :   2  /isolinux/efiboot.img",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("El Torito report lacks %q:\n%s", want, report)
		}
	}

	list := xorriso(t, "-indev", iso, "-find", "/", "-type", "f")
	for _, want := range []string{
		"/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/isolinux/mboot.c32", "/isolinux/isolinux.cfg",
		"/isolinux/bootmsg.txt", "/isolinux/efiboot.img", "/isolinux/vmlinuz", "/isolinux/xen.gz",
		"/isolinux/tboot.gz", "/isolinux/rootfs.gz", "/isolinux/gm45.acm", "/isolinux/skl.acm",
		"/isolinux/license-SINIT-ACMs.txt", "/isolinux/microcode_intel.bin", "/isolinux/grub.cfg",
		"/packages.main/XC-PACKAGES", "/packages.main/XC-REPOSITORY", "/packages.main/XC-SIGNATURE",
		"/packages.main/control.tar.bz2", "/packages.main/dom0-rootfs.ext3.gz",
	} {
		if !strings.Contains(list, "'"+want+"'") {
			t.Errorf("ISO lacks %s:\n%s", want, list)
		}
	}

	// Pull files back out and check them.
	ex := t.TempDir()
	xorriso(t, "-osirrox", "on", "-indev", iso,
		"-extract", "/isolinux/bootmsg.txt", filepath.Join(ex, "bootmsg.txt"),
		"-extract", "/isolinux/efiboot.img", filepath.Join(ex, "efiboot.img"),
		"-extract", "/packages.main", filepath.Join(ex, "packages.main"))
	msg, _ := os.ReadFile(filepath.Join(ex, "bootmsg.txt"))
	if !bytes.Contains(msg, []byte("OpenXT 9.0.2 (Build 190412)")) || bytes.Contains(msg, []byte("$OPENXT")) {
		t.Errorf("bootmsg.txt not filled: %q", msg)
	}
	dir, err := exec.Command("mdir", "-i", filepath.Join(ex, "efiboot.img"), "::EFI/BOOT").CombinedOutput()
	if err != nil || !bytes.Contains(dir, []byte("BOOTX64  EFI")) {
		t.Errorf("efiboot.img has no EFI/BOOT/BOOTX64.EFI: %v\n%s", err, dir)
	}
	grub, _ := exec.Command("mtype", "-i", filepath.Join(ex, "efiboot.img"), "::EFI/BOOT/BOOTX64.EFI").Output()
	if want, _ := os.ReadFile(filepath.Join(out, "raw", "grubx64.efi")); !bytes.Equal(grub, want) {
		t.Errorf("BOOTX64.EFI (%d bytes) differs from grubx64.efi (%d bytes)", len(grub), len(want))
	}
	// The repository on the ISO is what a device verifies.
	res, err := signing.Verify(context.Background(), filepath.Join(ex, "packages.main"), signing.VerifyOptions{ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert, AllowDev: true})
	if err != nil || !res.OK() {
		t.Fatalf("repository on the ISO does not verify: %v %v", err, res.Problems)
	}
}

func TestAssembleOtherOutputs(t *testing.T) {
	needTools(t)
	out, keys := fixture(t)
	if err := Assemble(context.Background(), input(out)); err != nil {
		t.Fatal(err)
	}
	tarList := func(args ...string) string {
		b, err := exec.Command("tar", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tar %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	nb := tarList("-tvzf", filepath.Join(out, "netboot", "netboot.tar.gz"))
	for _, want := range []string{"root/root", " pxelinux.cfg\n", " network.ans\n", " mboot.c32\n", " vmlinuz\n", " xen.gz\n", " tboot.gz\n", " rootfs.gz\n", " gm45.acm\n", " microcode_intel.bin\n", "2023-11-14 22:13"} {
		if !strings.Contains(nb, want) {
			t.Errorf("netboot.tar.gz lacks %q:\n%s", want, nb)
		}
	}
	for _, f := range []string{"pxelinux.cfg", "rootfs.gz", "xen.gz", "netboot.tar.gz"} {
		if _, err := os.Stat(filepath.Join(out, "netboot", f)); err != nil {
			t.Error(err)
		}
	}

	// update.tar unpacks to a repository the device accepts.
	ex := t.TempDir()
	tarList("-xf", filepath.Join(out, "update", "update.tar"), "-C", ex)
	res, err := signing.Verify(context.Background(), filepath.Join(ex, "packages.main"), signing.VerifyOptions{ProdCAFile: keys.ProdCACert, DevCAFile: keys.DevCACert, AllowDev: true})
	if err != nil || !res.OK() {
		t.Fatalf("update.tar repository does not verify: %v %v", err, res.Problems)
	}

	info, _ := os.ReadFile(filepath.Join(out, "info"))
	golden(t, "info.golden", info)
	for _, f := range []string{"dom0-licences.csv", "uivm-licences.csv"} {
		if _, err := os.Stat(filepath.Join(out, "licences", f)); err != nil {
			t.Error(err)
		}
	}
}

// Same inputs and SOURCE_DATE_EPOCH, different trees, times and runs: the
// same bytes.
func TestAssembleReproducible(t *testing.T) {
	needTools(t)
	outA, _ := fixture(t)
	if err := Assemble(context.Background(), input(outA)); err != nil {
		t.Fatal(err)
	}
	// A second tree with identical content (the repository copied, since a
	// new signature would carry a new signing time) and fresh mtimes.
	outB := filepath.Join(t.TempDir(), filepath.Base(outA))
	os.MkdirAll(outB, 0o755)
	for _, d := range []string{"raw", "repository"} {
		if b, err := exec.Command("cp", "-r", filepath.Join(outA, d), filepath.Join(outB, d)).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, b)
		}
	}
	later := time.Now().Add(time.Hour)
	filepath.Walk(outB, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, later, later) })
	os.Chmod(filepath.Join(outB, "raw", "installer", "vmlinuz"), 0o600) // modes differ too
	if err := Assemble(context.Background(), input(outB)); err != nil {
		t.Fatal(err)
	}
	// And a rerun over existing outputs.
	if err := Assemble(context.Background(), input(outA)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"iso/installer.iso", "netboot/netboot.tar.gz", "update/update.tar", "info"} {
		a, _ := os.ReadFile(filepath.Join(outA, f))
		b, _ := os.ReadFile(filepath.Join(outB, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs (%d vs %d bytes)", f, len(a), len(b))
		}
	}
	// A different epoch changes the ISO (the dates are really in it).
	in := input(outB)
	in.SourceDateEpoch = epoch.Add(time.Hour)
	if err := Assemble(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(outA, "iso/installer.iso"))
	b, _ := os.ReadFile(filepath.Join(outB, "iso/installer.iso"))
	if bytes.Equal(a, b) {
		t.Error("epoch has no effect on the ISO")
	}
}

func TestAssembleMissingInputs(t *testing.T) {
	needTools(t)
	for _, tc := range []struct{ remove, want string }{
		{"raw/installer/rootfs.cpio.gz", "rootfs.cpio.gz"},
		{"raw/grubx64.efi", "grubx64.efi"},
		{"raw/isohdpfx.bin", "isohdpfx.bin"},
		{"raw/installer/iso/isolinux.bin", "isolinux.bin"},
		{"repository/packages.main/XC-SIGNATURE", "XC-SIGNATURE"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			out, _ := fixture(t)
			os.Remove(filepath.Join(out, tc.remove))
			err := Assemble(context.Background(), input(out))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
			for _, f := range []string{"iso/installer.iso", "update/update.tar", "netboot"} {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					t.Errorf("%s written although inputs were missing", f)
				}
			}
		})
	}
}

func TestInputValidation(t *testing.T) {
	for _, in := range []ShipInput{
		{Version: "9", BuildID: "1"},
		{OutDir: "x", BuildID: "1"},
		{OutDir: "x", Version: "9 0", BuildID: "1"},
		{OutDir: "x", Version: strings.Repeat("9", 30), BuildID: "1"},
	} {
		if _, err := in.resolve(); err == nil {
			t.Errorf("accepted %+v", in)
		}
	}
	// No build date: refused, never the clock.
	if _, err := (ShipInput{OutDir: "x", Version: "9", BuildID: "1"}).resolve(); err == nil || !strings.Contains(err.Error(), "no build date") {
		t.Errorf("accepted a missing build date (err %v)", err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
