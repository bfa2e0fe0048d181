package steps

import (
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/plan"
)

// The main build's tools layer appends to the images [recipes.images]
// names, and a board build's to its own image only: a board's tools must not
// leak into the main build's images, nor another board's into a board's.
func TestToolImagesPerBuild(t *testing.T) {
	c, err := config.Parse("xtbuild.toml", []byte("[recipes]\nenabled = true\n[recipes.images]\nxenclient-dom0-image = [\"tpm\"]\n"), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := toolImages(c)
	if len(got) != 1 || strings.Join(got["xenclient-dom0-image"], ",") != "tpm" {
		t.Errorf("main build images %v, want only xenclient-dom0-image", got)
	}
	d, err := c.ForBoard("apu1d-scarthgap")
	if err != nil {
		t.Fatal(err)
	}
	got = toolImages(d)
	if len(got) != 1 || strings.Join(got["core-image-minimal"], ",") != "ds1077l,tpm" {
		t.Errorf("board build images %v, want only core-image-minimal", got)
	}
	for img := range got {
		if img == "core-image-tpm" || img == "core-image-txt" {
			t.Errorf("another board's image %s in apu1d-scarthgap's tools layer: %v", img, got)
		}
	}
}

// MACHINE reaches BitBake only through the release's passthrough list:
// BB_ENV_EXTRAWHITE for dunfell's BitBake 1.46, BB_ENV_PASSTHROUGH_ADDITIONS
// from BitBake 2.0 (kirkstone) on.
func TestMachinePassthroughPerRelease(t *testing.T) {
	for _, tc := range []struct{ release, want, not string }{
		{"dunfell", "BB_ENV_EXTRAWHITE", "BB_ENV_PASSTHROUGH_ADDITIONS"},
		{"zeus", "BB_ENV_EXTRAWHITE", "BB_ENV_PASSTHROUGH_ADDITIONS"},
		{"kirkstone", "BB_ENV_PASSTHROUGH_ADDITIONS", "BB_ENV_EXTRAWHITE"},
		{"scarthgap", "BB_ENV_PASSTHROUGH_ADDITIONS", "BB_ENV_EXTRAWHITE"},
	} {
		c, err := config.Parse("xtbuild.toml", []byte("[build]\nrelease = \""+tc.release+"\"\n"), "/srv", nil)
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Join(bitbakeEnv(c, plan.Step{Env: map[string]string{"MACHINE": "xenclient-dom0"}}, []string{"PATH=/usr/bin"}), "\n")
		if !strings.Contains("\n"+env+"\n", "\n"+tc.want+"=MACHINE ") || !strings.Contains(env, "\nMACHINE=xenclient-dom0") {
			t.Errorf("%s: MACHINE not passed through %s:\n%s", tc.release, tc.want, env)
		}
		if strings.Contains(env, tc.not+"=") {
			t.Errorf("%s: sets %s", tc.release, tc.not)
		}
	}
}
