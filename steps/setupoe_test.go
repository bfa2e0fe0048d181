package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/exitcode"
	"github.com/xtbuild/xtbuild/internal/gittest"
)

// Re-running setupoe with nothing changed rewrites nothing.
func TestSetupOERerunIsNoop(t *testing.T) {
	w := newWorld(t, "")
	third := gittest.New(t, filepath.Join(w.Root, "up", "meta-measured"), "main")
	f := filepath.Join(w.Work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, append(data, []byte("\n[[layer]]\nname = \"meta-measured\"\nurl = \""+third.Dir+"\"\nbranch = \"main\"\nsublayers = [\".\"]\n")...), 0o644)
	e := w.Env(config.Options{})
	if err := SetupOE(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	bd := e.Config.BuildDir()
	files := []string{
		filepath.Join(bd, "conf/local.conf"), filepath.Join(bd, "conf/bblayers.conf"),
		filepath.Join(bd, EffectiveConfig), e.Config.LockFile(),
		filepath.Join(bd, "repos/meta-measured/.git/HEAD"), filepath.Join(bd, "repos/xenclient-oe/.git/index"),
	}
	mtimes := map[string]time.Time{}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[p] = st.ModTime()
	}
	if bbl, _ := os.ReadFile(files[1]); !strings.Contains(string(bbl), "${TOPDIR}/repos/meta-measured \\") {
		t.Errorf("bblayers.conf:\n%s", bbl)
	}
	time.Sleep(20 * time.Millisecond)
	w.Out.Reset()
	if err := SetupOE(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	for p, mt := range mtimes {
		if st, _ := os.Stat(p); !st.ModTime().Equal(mt) {
			t.Errorf("%s rewritten", p)
		}
	}
	if strings.Contains(w.Out.String(), "wrote") {
		t.Errorf("second run wrote files:\n%s", w.Out)
	}
	for _, want := range []string{"layer bitbake: unchanged at", "layer meta-measured: unchanged at"} {
		if !strings.Contains(w.Out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.Out)
		}
	}
}

func TestSetupOELockedRefusesMismatch(t *testing.T) {
	w := newWorld(t, "")
	if err := SetupOE(context.Background(), w.Env(config.Options{})); err != nil {
		t.Fatal(err)
	}
	// The config now pins another commit than the lock records.
	first := w.Layer.Head()
	w.Layer.Commit("README", "x\n", "later")
	f := filepath.Join(w.Work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, []byte(strings.Replace(string(data), "kind = \"openxt\"", "kind = \"openxt\"\ncommit = \""+w.Layer.Head()+"\"", 1)), 0o644)
	err := SetupOE(context.Background(), w.Env(config.Options{Locked: true}))
	if err == nil || !strings.Contains(err.Error(), "XTBUILD_LOCKED=1 but xtbuild.lock does not match the config") {
		t.Fatalf("error = %v", err)
	}
	if head := gittest.Git(t, filepath.Join(w.Work, "build/repos/xenclient-oe"), "rev-parse", "HEAD"); head != first {
		t.Error("locked setupoe moved the layer")
	}
}

func TestSetupOEWithoutCertsSaysHowToFix(t *testing.T) {
	w := newWorld(t, "")
	os.RemoveAll(filepath.Join(w.Work, "certs"))
	err := SetupOE(context.Background(), w.Env(config.Options{}))
	if err == nil || !strings.Contains(err.Error(), "go run mage.go keys") {
		t.Fatalf("error = %v", err)
	}
}

// A release whose BitBake cannot run on this host's Python is refused
// before anything is cloned, with the host to use instead (zeus's BitBake
// 1.44 stops at Python 3.9).
func TestSetupOERefusesImpossibleRelease(t *testing.T) {
	w := newWorld(t, "")
	e := w.Env(config.Options{})
	e.Config.Build.Release = "zeus"
	err := SetupOE(context.Background(), e)
	if err == nil {
		t.Skip("skipped: this host's Python runs zeus's BitBake 1.44 (Python 3.9 or older)")
	}
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "zeus") || !strings.Contains(err.Error(), "buster") {
		t.Fatalf("error %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(e.Config.BuildDir(), "repos")); statErr == nil {
		t.Error("layers were cloned before the release was refused")
	}
}
