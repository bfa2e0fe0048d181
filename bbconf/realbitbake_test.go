package bbconf

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

// TestRealBitbakeResolvesDirs generates the conf for a build of bare
// oe-core and asks real BitBake (`bitbake -e`) where TMPDIR,
// DEPLOY_DIR_IMAGE and BUILDSTATS_BASE are: they must be the directories
// xtbuild reads deploy outputs and buildstats from. BITBAKE_DIR and
// OECORE_DIR name checkouts of one release (e.g. bitbake 2.8 and
// openembedded-core scarthgap, or 1.46 and dunfell).
func TestRealBitbakeResolvesDirs(t *testing.T) {
	bbDir := testenv.NeedEnv(t, "BITBAKE_DIR", "a BitBake checkout, see docs/real-bitbake.md")
	oeDir := testenv.NeedEnv(t, "OECORE_DIR", "an openembedded-core checkout of BITBAKE_DIR's release")
	release := coreSeries(t, oeDir)
	work := t.TempDir()
	layers := filepath.Join(work, "layers")
	os.MkdirAll(layers, 0o755)
	for name, dir := range map[string]string{"bitbake": bbDir, "openembedded-core": oeDir} {
		abs, _ := filepath.Abs(dir)
		if err := os.Symlink(abs, filepath.Join(layers, name)); err != nil {
			t.Fatal(err)
		}
	}
	toml := fmt.Sprintf(`[build]
release = %q
distro = "nodistro"
machine = "qemux86-64"
[paths]
layers_dir = %q
[local_conf]
extra = []
[[layer]]
name = "bitbake"
url = "unused"
kind = "bitbake"
branch = "x"
sublayers = []
[[layer]]
name = "openembedded-core"
url = "unused"
kind = "oe"
branch = "x"
sublayers = ["meta"]
`, release, layers)
	c, err := config.Parse(filepath.Join(work, "xtbuild.toml"), []byte(toml), work, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(c, "n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(layers, "bitbake", "bin", "bitbake"), "-e")
	cmd.Dir = c.BuildDir()
	cmd.Env = append(os.Environ(), "BUILDDIR="+c.BuildDir(), "LANG=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bitbake -e: %v\n%s", err, tail(out))
	}
	got := map[string]string{}
	re := regexp.MustCompile(`^(TMPDIR|DEPLOY_DIR_IMAGE|BUILDSTATS_BASE)="(.*)"$`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			got[m[1]] = strings.TrimSuffix(m[2], "/")
		}
	}
	d := BuildDirs(c)
	for name, want := range map[string]string{"TMPDIR": d.Tmp, "DEPLOY_DIR_IMAGE": d.DeployImage("qemux86-64"), "BUILDSTATS_BASE": d.Buildstats} {
		if got[name] != want {
			t.Errorf("BitBake resolves %s to %q; xtbuild reads %q", name, got[name], want)
		}
	}
	t.Logf("%s: TMPDIR=%s DEPLOY_DIR_IMAGE=%s BUILDSTATS_BASE=%s", release, got["TMPDIR"], got["DEPLOY_DIR_IMAGE"], got["BUILDSTATS_BASE"])
}

// coreSeries reads LAYERSERIES_CORENAMES from oe-core's layer.conf.
func coreSeries(t *testing.T, oeDir string) string {
	data, err := os.ReadFile(filepath.Join(oeDir, "meta", "conf", "layer.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`LAYERSERIES_CORENAMES = "(\w+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no LAYERSERIES_CORENAMES in %s/meta/conf/layer.conf", oeDir)
	}
	return string(m[1])
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
