package bbconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/layers"
)

const reproTOML = `
[build]
release = "%s"

[[layer]]
name = "bitbake"
url = "https://git.openembedded.org/bitbake"
kind = "bitbake"
sublayers = []

[[layer]]
name = "openembedded-core"
url = "https://git.openembedded.org/openembedded-core"
kind = "oe"
sublayers = ["meta"]
`

// commitAt commits a file with the given committer date.
func commitAt(t *testing.T, dir, date string) string {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "stamp"), []byte(date), 0o644)
	gittest.Git(t, dir, "add", "stamp")
	cmd := exec.Command("git", "commit", "-q", "-m", "at "+date)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	return gittest.Git(t, dir, "rev-parse", "HEAD")
}

// reproWorld is a config dir whose two layers are cloned with commits of
// known dates and locked; release is set afterwards so series the config
// does not accept for the main build (zeus, fido: boards) are covered.
func reproWorld(t *testing.T, release string, lock bool) *config.Config {
	t.Helper()
	dir := t.TempDir()
	src := strings.Replace(reproTOML, "%s", "dunfell", 1)
	c, err := config.Parse("xtbuild.toml", []byte(src), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Build.Release = release
	dates := map[string]string{"bitbake": "2021-11-03T11:31:01Z", "openembedded-core": "2020-09-10T12:21:45Z"}
	l := &layers.Lock{LayersHash: layers.LayersHash(c.Layers)}
	for _, ly := range c.Layers {
		r := gittest.New(t, c.LayerDir(ly), "main")
		l.Layers = append(l.Layers, layers.LockedLayer{Name: ly.Name, URL: ly.URL, Ref: "refs/heads/main", Commit: commitAt(t, r.Dir, dates[ly.Name])})
	}
	if lock {
		if _, err := l.Write(c.LockFile()); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestReproGolden(t *testing.T) {
	tests := []struct {
		name, release string
		lock          bool
	}{
		{"scarthgap", "scarthgap", true},
		{"kirkstone", "kirkstone", true},
		{"dunfell", "dunfell", true},
		{"zeus", "zeus", true},
		{"fido", "fido", true},
		{"unknown", "rocky", true},
		{"scarthgap-unlocked", "scarthgap", false},
		{"zeus-unlocked", "zeus", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := reproWorld(t, tt.release, tt.lock)
			got, err := ReproConf(c)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("repro", tt.name+".conf"), got)
		})
	}
}

// The epoch is the newest locked commit's committer time, whichever layer
// holds it, and it reaches the generated local.conf.
func TestLayerEpochIsNewestLockedCommit(t *testing.T) {
	c := reproWorld(t, "scarthgap", true)
	ep, err := LayerEpoch(c)
	if err != nil {
		t.Fatal(err)
	}
	if ep == nil || ep.Unix != 1635939061 || ep.Layer != "bitbake" {
		t.Fatalf("epoch %+v", ep)
	}
	local, err := LocalConf(c, "n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`SOURCE_DATE_EPOCH_FALLBACK = "1635939061"`, `REPRODUCIBLE_TIMESTAMP_ROOTFS = "1635939061"`} {
		if !strings.Contains(string(local), want+"\n") {
			t.Errorf("local.conf lacks %s", want)
		}
	}
	// A newer commit in the other layer, once locked, moves the epoch.
	oe, _ := c.Layer("openembedded-core")
	newer := commitAt(t, c.LayerDir(oe), "2023-01-02T03:04:05Z")
	lock, _ := layers.ReadLock(c.LockFile())
	for i := range lock.Layers {
		if lock.Layers[i].Name == "openembedded-core" {
			lock.Layers[i].Commit = newer
		}
	}
	lock.Write(c.LockFile())
	if ep, _ = LayerEpoch(c); ep.Unix != 1672628645 || ep.Layer != "openembedded-core" || ep.Commit != newer {
		t.Errorf("epoch after relock %+v", ep)
	}
}

func TestLayerEpochMissingCommit(t *testing.T) {
	c := reproWorld(t, "scarthgap", true)
	lock, _ := layers.ReadLock(c.LockFile())
	lock.Layers[1].Commit = strings.Repeat("ab", 20)
	lock.Write(c.LockFile())
	_, err := LocalConf(c, "n")
	if err == nil || !strings.Contains(err.Error(), "openembedded-core: locked commit abababab") {
		t.Fatalf("error %v", err)
	}
	// A lock for other layer definitions is stale: no epoch, no error.
	c.Layers = c.Layers[:1]
	if ep, err := LayerEpoch(c); ep != nil || err != nil {
		t.Errorf("stale lock: %+v %v", ep, err)
	}
}

// Before the layers are cloned there is no epoch, and no error.
func TestLayerEpochBeforeClone(t *testing.T) {
	c := reproWorld(t, "scarthgap", true)
	os.RemoveAll(c.LayersDir())
	if ep, err := LayerEpoch(c); ep != nil || err != nil {
		t.Errorf("epoch %+v, %v", ep, err)
	}
}
