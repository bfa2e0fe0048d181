package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
)

func TestResolveOrderNameAndCommands(t *testing.T) {
	c, err := config.Parse("xtbuild.toml", []byte("[build]\nid = \"123\"\nsteps = [\"setupoe\", \"dom0\", \"license\"]\n"), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(c, func(name string) (string, bool) {
		if name == "xenclient-oe" {
			return strings.Repeat("a", 40), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "openxt-dev-123-master" {
		t.Errorf("name %s", p.Name)
	}
	var order []string
	for _, s := range p.Steps {
		order = append(order, s.Name)
	}
	// Dependencies first; license after every image it collects.
	want := "setupoe initramfs stubinitramfs dom0 uivm ndvm installer license"
	if strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	dom0 := p.Steps[3]
	if strings.Join(dom0.Command, " ") != "bitbake xenclient-dom0-image" || dom0.Env["MACHINE"] != "xenclient-dom0" || !dom0.Requested || p.Steps[1].Requested {
		t.Errorf("dom0 %+v", dom0)
	}
	var text, js bytes.Buffer
	p.WriteText(&text)
	for _, w := range []string{"build openxt-dev-123-master", "4.  dom0", "MACHINE=xenclient-dom0 bitbake xenclient-dom0-image", "aaaaaaaaaaaa (lock)", "stubinitramfs (dependency)"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, text.String())
		}
	}
	if err := p.WriteJSON(&js); err != nil || !json.Valid(js.Bytes()) {
		t.Errorf("json: %v", err)
	}
}

func TestBuildNameWithoutID(t *testing.T) {
	c, _ := config.Parse("", nil, "/srv", nil)
	if got := BuildName(c); got != "openxt-dev--master" {
		t.Errorf("%s (OpenXT's NAME without an ID)", got)
	}
}
