package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/pipe"
)

// World is a build tree wired to the stand-in bitbake: a "bitbake"
// repository whose bin/bitbake runs the stand-in, and a layer with the
// OpenXT image recipes the default steps build.
type World struct {
	t testing.TB
	// Root holds everything; Work is the directory with xtbuild.toml.
	Root, Work string
	// Record is the stand-in's invocation log (JSON lines).
	Record string
	// Out is the terminal output of the steps.
	Out *bytes.Buffer
	// Layer is the upstream xenclient-oe repository.
	Layer *gittest.Repo
}

// ImageRecipes are the image recipes of the World's xenclient-oe layer.
var ImageRecipes = map[string]string{
	"xenclient-initramfs-image":            `IMAGE_FSTYPES = "cpio.gz"`,
	"xenclient-stubdomain-initramfs-image": `IMAGE_FSTYPES = "cpio.gz"`,
	"xenclient-dom0-image": `IMAGE_FSTYPES = "ext3.gz"
XTBUILD_FAKE_READS = "images/xenclient-stubdomain/xenclient-stubdomain-initramfs-image-xenclient-stubdomain.cpio.gz"`,
	"xenclient-uivm-image":   `IMAGE_FSTYPES = "ext3.vhd.gz"`,
	"xenclient-ndvm-image":   `IMAGE_FSTYPES = "ext3.disk.vhd.gz"`,
	"xenclient-syncvm-image": `IMAGE_FSTYPES = "ext3.vhd.gz"`,
	"usbvm-image":            `IMAGE_FSTYPES = "ext4.disk.vhd.gz"`,
	"xenclient-installer-image": `IMAGE_FSTYPES = "cpio.gz"
XTBUILD_FAKE_DEPLOY = "bzImage-${MACHINE}.bin xen.gz tboot.gz control.tar.bz2 gm45.acm ivb_snb.acm iso/isolinux.cfg iso/isolinux.bin netboot/pxelinux.cfg isohdpfx.bin grub-efi-bootx64.efi"`,
	"xenclient-installer-part2-image": `IMAGE_FSTYPES = "tar.bz2"`,
}

// DevSigningTOML is the [signing] table of a World whose keys a test makes
// with signing.GenerateKeys into keys/: the CAs and the dev signer.
const DevSigningTOML = `
[signing]
prod_ca_cert = "keys/prod-cacert.pem"
dev_ca_cert = "keys/dev-cacert.pem"
dev_signing_cert = "keys/dev-signing-cert.pem"
dev_signing_key = "keys/dev-signing-key.pem"
`

// NewWorld makes the tree; extraTOML is appended to its xtbuild.toml, bin
// is the stand-in (see Main).
func NewWorld(t testing.TB, bin, extraTOML string) *World {
	t.Helper()
	root := t.TempDir()
	w := &World{t: t, Root: root, Work: filepath.Join(root, "work"), Record: filepath.Join(root, "bitbake-calls.jsonl"), Out: &bytes.Buffer{}}
	bb := BitbakeRepo(t, filepath.Join(root, "up", "bitbake"))
	w.Layer = gittest.New(t, filepath.Join(root, "up", "xenclient-oe"), "master")
	for name, body := range ImageRecipes {
		w.Layer.Commit("recipes/images/"+name+".bb", "SUMMARY = \""+name+"\"\nLICENSE = \"MIT\"\n"+body+"\ninherit image\n", "add "+name)
	}
	os.MkdirAll(filepath.Join(w.Work, "certs"), 0o755)
	for _, f := range []string{"prod-cacert.pem", "dev-cacert.pem"} {
		os.WriteFile(filepath.Join(w.Work, "certs", f), []byte("stand-in certificate\n"), 0o644)
	}
	// The stand-in models BitBake 2.8 (scarthgap) and writes its deploy
	// outputs under TMPDIR, so the build says so.
	toml := fmt.Sprintf(`[build]
id = "42"
steps = ["setupoe", "stubinitramfs", "dom0", "installer"]
server_timeout = 0
release = "scarthgap"
oe_branch = "scarthgap"
bitbake_branch = "2.8"

[paths]
deploy_dir = ""

[[layer]]
name = "bitbake"
url = %q
kind = "bitbake"
sublayers = []

[[layer]]
name = "xenclient-oe"
url = %q
kind = "openxt"
sublayers = ["."]
%s`, bb.Dir, w.Layer.Dir, extraTOML)
	os.WriteFile(filepath.Join(w.Work, "xtbuild.toml"), []byte(toml), 0o644)
	Setenv(t, bin, w.Record)
	return w
}

// Env loads the World's config into a build context printing to Out.
func (w *World) Env(opts config.Options) *pipe.Build {
	w.t.Helper()
	c, err := config.Load(filepath.Join(w.Work, "xtbuild.toml"), func(string) string { return "" })
	if err != nil {
		w.t.Fatal(err)
	}
	return &pipe.Build{Config: c, Options: opts, Term: term.NewPlain(w.Out), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// Calls returns the stand-in's invocations so far.
func (w *World) Calls() []map[string]any {
	data, _ := os.ReadFile(w.Record)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		out = append(out, m)
	}
	return out
}

// Builds returns the stand-in's build invocations so far: Calls without
// the `bitbake -g` run that follows each step's build (its task graph).
func (w *World) Builds() []map[string]any {
	var out []map[string]any
	for _, c := range w.Calls() {
		if args, _ := c["args"].([]any); len(args) > 0 && args[0] == "-g" {
			continue
		}
		out = append(out, c)
	}
	return out
}

// OutDir is the build's build-output/<NAME>.
func (w *World) OutDir() string { return filepath.Join(w.Work, "build-output", "openxt-dev-42-master") }

// SameFile reports an error unless rel holds the same bytes under the two
// build outputs a and b (a fanned-out and a one-host build, two builds of
// one lock).
func SameFile(t testing.TB, a, b, rel string) {
	t.Helper()
	x, errA := os.ReadFile(filepath.Join(a, rel))
	y, errB := os.ReadFile(filepath.Join(b, rel))
	if errA != nil || errB != nil {
		t.Errorf("%s: %v / %v", rel, errA, errB)
		return
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s differs between %s and %s (%d and %d bytes)", rel, a, b, len(x), len(y))
	}
}
