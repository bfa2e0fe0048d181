package steps

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
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/term"
)

// fakeBitbake is the stand-in bitbake (testdata/fakebitbake), built once.
var fakeBitbake string

func TestMain(m *testing.M) { os.Exit(standin.Main(m, &fakeBitbake)) }

// world is a build tree wired to the stand-in bitbake: a "bitbake"
// repository whose bin/bitbake runs the stand-in, and a layer with the
// OpenXT image recipes the default steps build.
type world struct {
	t      *testing.T
	root   string
	work   string
	record string
	out    *bytes.Buffer
	layer  *gittest.Repo
}

var imageRecipes = map[string]string{
	"xenclient-initramfs-image":            `IMAGE_FSTYPES = "cpio.gz"`,
	"xenclient-stubdomain-initramfs-image": `IMAGE_FSTYPES = "cpio.gz"`,
	"xenclient-dom0-image":                 `IMAGE_FSTYPES = "ext3.gz"`,
	"xenclient-uivm-image":                 `IMAGE_FSTYPES = "ext3.vhd.gz"`,
	"xenclient-ndvm-image":                 `IMAGE_FSTYPES = "ext3.disk.vhd.gz"`,
	"xenclient-installer-image": `IMAGE_FSTYPES = "cpio.gz"
XTBUILD_FAKE_DEPLOY = "bzImage-${MACHINE}.bin xen.gz tboot.gz control.tar.bz2 gm45.acm ivb_snb.acm iso/isolinux.cfg netboot/pxelinux.cfg"`,
	"xenclient-installer-part2-image": `IMAGE_FSTYPES = "tar.bz2"`,
}

func newWorld(t *testing.T, extraTOML string) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{t: t, root: root, work: filepath.Join(root, "work"), record: filepath.Join(root, "bitbake-calls.jsonl"), out: &bytes.Buffer{}}
	bb := standin.BitbakeRepo(t, filepath.Join(root, "up", "bitbake"))
	w.layer = gittest.New(t, filepath.Join(root, "up", "xenclient-oe"), "master")
	for name, body := range imageRecipes {
		w.layer.Commit("recipes/images/"+name+".bb", "SUMMARY = \""+name+"\"\nLICENSE = \"MIT\"\n"+body+"\ninherit image\n", "add "+name)
	}
	os.MkdirAll(filepath.Join(w.work, "certs"), 0o755)
	for _, f := range []string{"prod-cacert.pem", "dev-cacert.pem"} {
		os.WriteFile(filepath.Join(w.work, "certs", f), []byte("stand-in certificate\n"), 0o644)
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
%s`, bb.Dir, w.layer.Dir, extraTOML)
	os.WriteFile(filepath.Join(w.work, "xtbuild.toml"), []byte(toml), 0o644)
	standin.Setenv(t, fakeBitbake, w.record)
	return w
}

func (w *world) env(opts config.Options) *Env {
	w.t.Helper()
	c, err := config.Load(filepath.Join(w.work, "xtbuild.toml"), func(string) string { return "" })
	if err != nil {
		w.t.Fatal(err)
	}
	return &Env{Config: c, Options: opts, Term: term.NewPlain(w.out), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// calls returns the stand-in's invocations so far.
func (w *world) calls() []map[string]any {
	data, _ := os.ReadFile(w.record)
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

func (w *world) outDir() string { return filepath.Join(w.work, "build-output", "openxt-dev-42-master") }
