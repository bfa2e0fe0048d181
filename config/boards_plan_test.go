package config_test

import (
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/plan"
)

// The embedded boards plan like any build: setupoe then the board's image
// for its MACHINE, every layer pinned by the config.
func TestEmbeddedBoardsPlan(t *testing.T) {
	c, err := config.Parse("", nil, "/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"apu1d":          "MACHINE=qemux86-64-tpm bitbake core-image-tpm",
		"alix3d2":        "MACHINE=alix3d2 bitbake core-image-minimal",
		"nuc-dc53427hye": "MACHINE=intel-corei7-64_tpm-txt bitbake core-image-txt",
	}
	for board, cmd := range want {
		d, err := c.ForBoard(board)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Resolve(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Steps) != 2 || p.Steps[0].Kind != "setupoe" || p.Steps[1].Name != board {
			t.Fatalf("%s: steps %+v", board, p.Steps)
		}
		s := p.Steps[1]
		if got := "MACHINE=" + s.Env["MACHINE"] + " " + strings.Join(s.Command, " "); got != cmd {
			t.Errorf("%s: %s, want %s", board, got, cmd)
		}
		if p.Name != "openxt-dev--master-"+board || p.BuildDir != "/work/build/boards/"+board {
			t.Errorf("%s: name %s dir %s", board, p.Name, p.BuildDir)
		}
		for _, l := range p.Layers {
			if l.Pinning != "config" || len(l.Commit) != 40 || !strings.HasPrefix(l.Dir, "/work/build/repos/zeus/") {
				t.Errorf("%s: layer %+v", board, l)
			}
		}
	}
}
