package provenance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	. "github.com/xtbuild/xtbuild/provenance"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/term"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/signing"
)

// fakeBitbake is the stand-in bitbake of the steps tests
// (steps/testdata/fakebitbake), built once: BitBake itself cannot run here.
var fakeBitbake string

func TestMain(m *testing.M) { os.Exit(standin.Main(m, &fakeBitbake)) }

// world is a build tree wired to the stand-in bitbake, like the steps
// tests': local upstream repositories for bitbake and a layer with image
// recipes, real dev signing keys, and a source mirror holding one ordinary
// file and one ACM.
type world struct {
	t      *testing.T
	root   string
	work   string
	keys   signing.KeyFiles
	record string
	layer  *gittest.Repo
	out    *bytes.Buffer
}

const acmName = "3rd-gen-i5-i7-sinit-67.zip"

func newWorld(t *testing.T) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{t: t, root: root, work: filepath.Join(root, "work"), record: filepath.Join(root, "bitbake-calls.jsonl"), out: &bytes.Buffer{}}
	bb := standin.BitbakeRepo(t, filepath.Join(root, "up", "bitbake"))
	w.layer = gittest.New(t, filepath.Join(root, "up", "xenclient-oe"), "master")
	w.layer.Commit("recipes/images/xenclient-stubdomain-initramfs-image.bb", "SUMMARY = \"initramfs\"\nLICENSE = \"MIT\"\nIMAGE_FSTYPES = \"cpio.gz\"\ninherit image\n", "initramfs")
	w.layer.Commit("recipes/images/xenclient-installer-image.bb", "SUMMARY = \"installer\"\nLICENSE = \"MIT\"\nIMAGE_FSTYPES = \"cpio.gz\"\nXTBUILD_FAKE_DEPLOY = \"bzImage-${MACHINE}.bin xen.gz tboot.gz control.tar.bz2 ivb_snb.acm\"\ninherit image\n", "installer")

	w.keys = signing.KeyPaths(filepath.Join(w.work, "certs"))
	if err := signing.GenerateKeys(context.Background(), filepath.Join(w.work, "certs"), signing.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	mir := filepath.Join(w.work, "mirror")
	os.MkdirAll(mir, 0o755)
	files := map[string][]byte{"busybox-1.36.1.tar.bz2": []byte("stand-in busybox source\n"), acmName: []byte("stand-in SINIT ACM zip\n")}
	idx := mirror.Index{}
	for n, data := range files {
		os.WriteFile(filepath.Join(mir, n), data, 0o644)
		idx[n] = sum(data)
	}
	if err := idx.Write(mir); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`[build]
id = "42"
steps = ["setupoe", "stubinitramfs", "installer"]
server_timeout = 0
# The stand-in models BitBake 2.8 and deploys under TMPDIR.
release = "scarthgap"
oe_branch = "scarthgap"
bitbake_branch = "2.8"

[paths]
mirror = "mirror"
deploy_dir = ""

[signing]
prod_ca_cert = "certs/prod-cacert.pem"
dev_ca_cert = "certs/dev-cacert.pem"
dev_signing_cert = "certs/dev-signing-cert.pem"
dev_signing_key = "certs/dev-signing-key.pem"

[[acm]]
name = %q
sha256 = %q
source = "https://www.intel.com/content/www/us/en/developer/articles/tool/intel-trusted-execution-technology.html"

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
`, acmName, sum(files[acmName]), bb.Dir, w.layer.Dir)
	os.WriteFile(filepath.Join(w.work, "xtbuild.toml"), []byte(toml), 0o644)
	standin.Setenv(t, fakeBitbake, w.record)
	return w
}

func (w *world) config() *config.Config {
	w.t.Helper()
	c, err := config.Load(filepath.Join(w.work, "xtbuild.toml"), func(string) string { return "" })
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// env is a build context printing to w.out.
func (w *world) env() *pipe.Build {
	return &pipe.Build{Term: term.NewPlain(w.out), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// sum is the hex sha256 of data.
func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// build runs the configured steps through the pipeline, which writes and
// signs the provenance.
func (w *world) build() (prov string) {
	w.t.Helper()
	e := w.env()
	e.Config = w.config()
	e.Version, e.Options.Commit = "v0.1.0-test", "0123456789abcdef0123456789abcdef01234567"
	if _, err := pipeline.Run(context.Background(), e); err != nil {
		w.t.Fatalf("%v\n%s", err, w.out)
	}
	return filepath.Join(w.outDir(), File)
}

func (w *world) outDir() string { return filepath.Join(w.work, "build-output", "openxt-dev-42-master") }

// bitbakeCalls counts the stand-in's build invocations (not the `bitbake
// -g` run that follows each step's build).
func (w *world) bitbakeCalls() int {
	data, _ := os.ReadFile(w.record)
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			if args, _ := m["args"].([]any); len(args) > 0 && args[0] == "-g" {
				continue
			}
			n++
		}
	}
	return n
}

// opensslVerify runs the real openssl CLI on a detached signature.
func opensslVerify(t *testing.T, content, sig, ca string) error {
	t.Helper()
	cmd := exec.Command("openssl", "smime", "-verify", "-binary", "-inform", "PEM", "-in", sig, "-content", content, "-CAfile", ca, "-out", os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
