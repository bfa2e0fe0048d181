package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/bbsyntax"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/layers"
)

// setupoe pins a recipe that follows a branch from the bare mirror in
// [mirrors] git_dir, records it in the lock, writes the pin and the
// PREMIRRORS line, and in locked mode keeps the commit when upstream moves.
func TestSetupOEPinsAutorevRecipes(t *testing.T) {
	w := newWorld(t, "")
	up := gittest.New(t, filepath.Join(w.Root, "up", "argo-src"), "master")
	first := up.Commit("README", "argo\n", "first")
	gitDir := filepath.Join(w.Root, "gitmirrors")
	os.MkdirAll(gitDir, 0o755)
	gittest.Git(t, gitDir, "clone", "-q", "--mirror", up.Dir, "linux-xen-argo.git")
	layer := gittest.New(t, filepath.Join(w.Root, "up", "meta-oxt"), "main")
	layer.Commit("conf/layer.conf", "BBPATH .= \":${LAYERDIR}\"\nBBFILES += \"${LAYERDIR}/recipes-*/*/*.bb\"\n", "layer")
	layer.Commit("recipes-openxt/argo/argo.inc", "SRC_URI = \"git://github.com/OpenXT/linux-xen-argo.git;protocol=https\"\nSRCREV = \"${AUTOREV}\"\n", "inc")
	layer.Commit("recipes-openxt/argo/libargo_git.bb", "require argo.inc\nBBCLASSEXTEND = \"native\"\n", "recipe")
	f := filepath.Join(w.Work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, append(data, []byte("\n[[layer]]\nname = \"meta-oxt\"\nurl = \""+layer.Dir+"\"\nbranch = \"main\"\nsublayers = [\".\"]\n")...), 0o644)
	// [mirrors] git_dir goes into the existing table of the file.
	data, _ = os.ReadFile(f)
	if strings.Contains(string(data), "[mirrors]\n") {
		data = []byte(strings.Replace(string(data), "[mirrors]\n", "[mirrors]\ngit_dir = \""+gitDir+"\"\n", 1))
	} else {
		data = append(data, []byte("\n[mirrors]\ngit_dir = \""+gitDir+"\"\n")...)
	}
	os.WriteFile(f, data, 0o644)

	e := w.Env(config.Options{})
	if err := SetupOE(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	lock, err := layers.ReadLock(e.Config.LockFile())
	if err != nil || len(lock.Srcrevs) != 1 || lock.Srcrevs[0].Recipe != "libargo" || lock.Srcrevs[0].Commit != first || lock.Srcrevs[0].From != "mirror" {
		t.Fatalf("lock srcrevs %+v, %v; want libargo at %s", lock.Srcrevs, err, first)
	}
	conf, err := os.ReadFile(filepath.Join(e.Config.BuildDir(), bbconf.SrcrevConfFile))
	if err != nil {
		t.Fatal(err)
	}
	pin := bbconfPinLine(e.Config, "libargo", first)
	mirror := "git://github.com/OpenXT/linux-xen-argo.git git://" + filepath.Join(gitDir, "linux-xen-argo.git") + ";protocol=file"
	// The native variant (BBCLASSEXTEND) is a recipe of its own for
	// BitBake: unpinned it asks the network (real BitBake stopped on
	// xenclient-rpcgen-native with BB_NO_NETWORK).
	for _, want := range []string{pin, mirror, bbconfPinLine(e.Config, "libargo-native", first)} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("%s lacks %q:\n%s", bbconf.SrcrevConfFile, want, conf)
		}
	}
	if errs := bbsyntax.Check(string(conf), bbsyntax.Conf); len(errs) > 0 {
		t.Errorf("srcrev conf: %v", errs)
	}
	local, _ := os.ReadFile(filepath.Join(e.Config.BuildDir(), "conf/local.conf"))
	if !strings.Contains(string(local), "include "+bbconf.SrcrevConfFile+"\n") {
		t.Errorf("local.conf does not include the pins:\n%s", local)
	}

	// Upstream moves; the mirror follows. Locked: still the first commit.
	second := up.Commit("README", "argo 2\n", "second")
	gittest.Git(t, filepath.Join(gitDir, "linux-xen-argo.git"), "fetch", "-q", up.Dir, "+refs/heads/*:refs/heads/*")
	if err := SetupOE(context.Background(), w.Env(config.Options{Locked: true})); err != nil {
		t.Fatalf("locked: %v\n%s", err, w.Out)
	}
	conf, _ = os.ReadFile(filepath.Join(e.Config.BuildDir(), bbconf.SrcrevConfFile))
	if !strings.Contains(string(conf), pin) {
		t.Errorf("locked run moved the pin:\n%s", conf)
	}
	// Unlocked: the new head.
	if err := SetupOE(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	conf, _ = os.ReadFile(filepath.Join(e.Config.BuildDir(), bbconf.SrcrevConfFile))
	if !strings.Contains(string(conf), bbconfPinLine(e.Config, "libargo", second)) {
		t.Errorf("unlocked run did not follow the branch:\n%s", conf)
	}
}

func bbconfPinLine(c *config.Config, recipe, commit string) string {
	if c.ReleaseInfo().ColonOverrides {
		return "SRCREV:pn-" + recipe + " = \"" + commit + "\""
	}
	return "SRCREV_pn-" + recipe + " = \"" + commit + "\""
}
