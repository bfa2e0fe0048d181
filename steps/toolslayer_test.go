package steps

import (
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
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
