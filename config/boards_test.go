package config

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/exitcode"
)

// Every embedded board derives a valid, pinned, standalone build.
func TestEmbeddedBoardsDerive(t *testing.T) {
	c, err := Parse("", nil, "/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	sha := regexp.MustCompile(`^[0-9a-f]{40}$`)
	tests := []struct {
		board, machine, image string
		layers                []string
		tools                 []string
	}{
		{"apu1d", "qemux86-64-tpm", "core-image-tpm", []string{"bitbake", "openembedded-core", "meta-measured"}, []string{"ds1077l", "tpm"}},
		{"alix3d2", "alix3d2", "core-image-minimal", []string{"bitbake", "openembedded-core", "meta-alix"}, []string{"ds1077l"}},
		{"nuc-dc53427hye", "intel-corei7-64_tpm-txt", "core-image-txt", []string{"bitbake", "openembedded-core", "meta-intel", "meta-measured", "meta-measured-bsp"}, []string{"tpm", "txt", "serial"}},
	}
	if got := strings.Join(c.BoardNames(), " "); got != "alix3d2 apu1d apu1d-scarthgap nuc-dc53427hye" {
		t.Errorf("boards %s", got)
	}
	for _, tt := range tests {
		t.Run(tt.board, func(t *testing.T) {
			d, err := c.ForBoard(tt.board)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range d.Layers {
				names = append(names, l.Name)
				if !sha.MatchString(l.Commit) {
					t.Errorf("layer %s not pinned: %q", l.Name, l.Commit)
				}
				if got := d.LayerDir(l); got != filepath.Join("/work/build/repos/zeus", l.Name) {
					t.Errorf("layer %s checkout %s", l.Name, got)
				}
			}
			if strings.Join(names, " ") != strings.Join(tt.layers, " ") {
				t.Errorf("layers %v, want %v", names, tt.layers)
			}
			bb, _ := d.Layer("bitbake")
			oe, _ := d.Layer("openembedded-core")
			if d.Build.Release != "zeus" || bb.Branch != "1.44" || oe.Branch != "zeus" || d.Build.Distro != "nodistro" {
				t.Errorf("release %s, bitbake branch %s, oe branch %s, distro %s", d.Build.Release, bb.Branch, oe.Branch, d.Build.Distro)
			}
			s := d.Steps[tt.board]
			if s.Machine != tt.machine || strings.Join(s.Images, ",") != tt.image || strings.Join(d.Build.Steps, ",") != "setupoe,"+tt.board {
				t.Errorf("step %+v, steps %v", s, d.Build.Steps)
			}
			if s.Artifacts[0].From != "images/{machine}/"+tt.image+"-{machine}.*" {
				t.Errorf("artifacts %+v", s.Artifacts)
			}
			if strings.Join(d.Recipes.Images[tt.image], ",") != strings.Join(tt.tools, ",") {
				t.Errorf("tools %v", d.Recipes.Images[tt.image])
			}
			if d.Build.Name != "openxt-dev--master-"+tt.board || d.BuildDir() != "/work/build/boards/"+tt.board || d.LockFile() != "/work/xtbuild-"+tt.board+".lock" {
				t.Errorf("name %s build dir %s lock %s", d.Build.Name, d.BuildDir(), d.LockFile())
			}
			if d.Source.Hash == "" || d.Source.Hash == c.Source.Hash {
				t.Errorf("hash %q", d.Source.Hash)
			}
			again, _ := c.ForBoard(tt.board)
			if again.Source.Hash != d.Source.Hash {
				t.Error("deriving twice gives another config hash")
			}
		})
	}
	// Deriving must not touch the main config.
	if len(c.Steps) < 5 || c.Build.Release != "dunfell" || c.Paths.BuildDir != "build" {
		t.Errorf("main config changed: %+v", c.Build)
	}
	nuc, _ := c.ForBoard("nuc-dc53427hye")
	if len(nuc.ACMs) != 3 || !strings.Contains(strings.Join(nuc.LocalConf.Extra, "\n"), "serial=115200,8n1,0xe030") {
		t.Errorf("nuc ACMs %v local.conf %v", nuc.ACMs, nuc.LocalConf.Extra)
	}
}

// The current-host board: every layer has a scarthgap branch, and the zeus
// boards say they need another host.
func TestCurrentHostBoard(t *testing.T) {
	c, err := Parse("", nil, "/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ForBoard("apu1d-scarthgap")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range d.Layers {
		names = append(names, l.Name+"@"+l.Branch)
	}
	if got := strings.Join(names, " "); got != "bitbake@2.8 openembedded-core@scarthgap" {
		t.Errorf("layers %s", got)
	}
	if got := d.Layers[1].Path; got != "scarthgap/openembedded-core" {
		t.Errorf("checkout %s", got)
	}
	// Whether the host's Python runs each board's BitBake is doctor's table:
	// doctor.TestBoardProfilesOnPython311.
	if !strings.Contains(c.Boards["apu1d"].Doc, "needs a Debian 10") {
		t.Errorf("zeus board doc does not say it needs another host: %s", c.Boards["apu1d"].Doc)
	}
}

func TestUnknownBoardListsKnownOnes(t *testing.T) {
	c, err := Parse("", nil, "/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ForBoard("apu2")
	if exitcode.Of(err) != 2 || !strings.Contains(err.Error(), `unknown board "apu2" (known boards: alix3d2, apu1d, apu1d-scarthgap, nuc-dc53427hye)`) {
		t.Fatalf("error %v", err)
	}
}

// A user's board on the main release shares the common layers and picks
// board_only ones by name; a user's [[layer]] list does not strand the
// embedded boards.
func TestUserBoardOnMainRelease(t *testing.T) {
	src := `
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

[[layer]]
name = "meta-mybsp"
url = "https://example.org/meta-mybsp.git"
branch = "main"
board_only = true
sublayers = ["."]

[boards.myboard]
machine = "genericx86-64"
image = "core-image-minimal"
layers = ["meta-mybsp"]
tools = ["tpm"]

[[boards.myboard.layer]]
name = "meta-extra"
url = "https://example.org/meta-extra.git"
branch = "main"
sublayers = ["."]

[boards.apu1d]
image = "core-image-tpm-initramfs"
`
	c, err := Parse("xtbuild.toml", []byte(src), "/w", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ForBoard("myboard")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range d.Layers {
		names = append(names, l.Name+"@"+l.Branch)
		if l.BoardOnly {
			t.Errorf("%s still board_only in the board build", l.Name)
		}
	}
	if got := strings.Join(names, " "); got != "bitbake@1.46 openembedded-core@dunfell meta-mybsp@main meta-extra@main" {
		t.Errorf("layers %s", got)
	}
	if ex, _ := d.Layer("meta-extra"); d.LayerDir(ex) != "/w/build/repos/dunfell/meta-extra" {
		t.Errorf("own repo checkout %s", d.LayerDir(ex))
	}
	if d.Build.Distro != c.Build.Distro || d.Build.Release != "dunfell" {
		t.Errorf("distro %s release %s", d.Build.Distro, d.Build.Release)
	}
	// The file's [boards.apu1d] merges key by key into the embedded board.
	apu, err := c.ForBoard("apu1d")
	if err != nil {
		t.Fatal(err)
	}
	if s := apu.Steps["apu1d"]; s.Images[0] != "core-image-tpm-initramfs" || s.Machine != "qemux86-64-tpm" || len(apu.Layers) != 3 {
		t.Errorf("merged board %+v, %d layers", s, len(apu.Layers))
	}
}

func TestBoardErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown layer", "[boards.b]\nmachine = \"m\"\nimage = \"i\"\n[[boards.b.layer]]\nname = \"x\"\nurl = \"https://e/x\"\ncommit = \"abc\"\n", "want a full 40-digit lower-case commit id"},
		{"no ref", "[boards.b]\nmachine = \"m\"\nimage = \"i\"\n[[boards.b.layer]]\nname = \"x\"\nurl = \"https://e/x\"\n", "no branch, tag or commit"},
		{"setupoe", "[boards.setupoe]\nmachine = \"m\"\nimage = \"i\"\n", "taken by the setupoe step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("xtbuild.toml", []byte(tt.src), "/w", nil)
			if err != nil {
				t.Fatal(err)
			}
			name := "b"
			if tt.name == "setupoe" {
				name = "setupoe"
			}
			_, err = c.ForBoard(name)
			if err == nil || exitcode.Of(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// board_only layers are not part of the main build (setupoe, BBLAYERS, lock).
func TestBoardOnlyLayersStayOutOfTheMainBuild(t *testing.T) {
	c, err := Parse("xtbuild.toml", []byte("[[layer]]\nname = \"bitbake\"\nurl = \"/b\"\nkind = \"bitbake\"\nsublayers = []\n\n[[layer]]\nname = \"meta-bsp\"\nurl = \"/m\"\nbranch = \"main\"\nboard_only = true\nsublayers = [\".\"]\n\n[boards.b]\nmachine = \"m\"\nimage = \"i\"\nlayers = [\"meta-bsp\"]\n"), "/w", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Layers) != 1 || c.Layers[0].Name != "bitbake" {
		t.Errorf("main build layers %+v", c.Layers)
	}
	if !strings.Contains(string(c.Canonical()), "meta-bsp") {
		t.Error("the resolved config lost the board_only layer")
	}
	d, err := c.ForBoard("b")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Layer("meta-bsp"); !ok {
		t.Errorf("board build lacks its layer: %+v", d.Layers)
	}
}
