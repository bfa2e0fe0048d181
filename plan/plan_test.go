package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
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
	want := "setupoe stubinitramfs dom0 installer uivm ndvm syncvm usbvm license"
	if strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	dom0 := p.Steps[2]
	if strings.Join(dom0.Command, " ") != "bitbake xenclient-dom0-image" || dom0.Env["MACHINE"] != "xenclient-dom0" || !dom0.Requested || p.Steps[1].Requested {
		t.Errorf("dom0 %+v", dom0)
	}
	var text, js bytes.Buffer
	p.WriteText(&text)
	for _, w := range []string{"build openxt-dev-123-master", "3.  dom0", "MACHINE=xenclient-dom0 bitbake xenclient-dom0-image", "aaaaaaaaaaaa (lock)", "stubinitramfs (dependency)"} {
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

// lines reads a testdata file without its comments.
func lines(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, strings.Fields(l))
		}
	}
	return out
}

// The built-in profile's steps run bordel's build-manifest, in its order,
// with the ordering BitBake cannot express (the stubdomain initramfs, which
// dom0's devicemodel-stubdom takes from the deploy dir, before dom0;
// package-index after dom0's packages).
func TestProfileIsBordelBuildManifest(t *testing.T) {
	c, err := config.Parse("", nil, "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	pos := map[string]int{}
	for i, s := range p.Steps {
		pos[s.Name] = i
		if s.Kind == config.KindBitbake {
			got = append(got, commandLine(s))
		}
	}
	var want []string
	for _, f := range lines(t, "bordel-master-build-manifest") {
		want = append(want, strings.Join(f, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("bitbake steps:\n%s\nwant bordel's build-manifest:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Asked for alone, dom0 still gets the stubdomain initramfs first.
	p, _ = Resolve(c, nil, "dom0")
	var order []string
	for _, s := range p.Steps {
		order = append(order, s.Name)
	}
	if strings.Join(order, " ") != "setupoe stubinitramfs dom0" {
		t.Errorf("dom0 alone: %v", order)
	}
	p, _ = Resolve(c, nil, "package-index")
	if n := len(p.Steps); n < 2 || p.Steps[n-2].Name != "dom0" {
		t.Errorf("package-index not after dom0: %+v", p.Steps)
	}
}

// The repository is bordel's images-manifest: every row's MACHINE, image
// id, deploy file, type and mount point, staged under bordel's names.
func TestProfileRepositoryIsImagesManifest(t *testing.T) {
	c, err := config.Parse("", nil, "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := Repository(c)
	rows := lines(t, "bordel-master-images-manifest")
	if len(repo) != len(rows) {
		t.Fatalf("%d repository entries, images-manifest has %d", len(repo), len(rows))
	}
	// What bordel's stage_repository makes of each row: deploy file,
	// repository file, XC-PACKAGES format and mount point.
	staged := map[string][4]string{
		"control": {"images/openxt-installer/control.tar.bz2", "control.tar.bz2", "tarbz2", "/"},
		"dom0":    {"images/xenclient-dom0/xenclient-dom0-image-xenclient-dom0.ext3.gz", "dom0-rootfs.ext3.gz", "ext3gz", "/"},
		"uivm":    {"images/xenclient-uivm/xenclient-uivm-image-xenclient-uivm.ext3.vhd.gz", "uivm-rootfs.ext3.vhd.gz", "vhdgz", "/storage/uivm"},
		"ndvm":    {"images/xenclient-ndvm/xenclient-ndvm-image-xenclient-ndvm.ext3.disk.vhd.gz", "ndvm-rootfs.ext3.disk.vhd.gz", "vhdgz", "/storage/ndvm"},
		"syncvm":  {"images/xenclient-syncvm/xenclient-syncvm-image-xenclient-syncvm.ext3.vhd.gz", "syncvm-rootfs.ext3.vhd.gz", "vhdgz", "/storage/syncvm"},
		"file":    {"images/usbvm/usbvm-image-usbvm.ext4.disk.vhd.gz", "usbvm.vhd.gz", "gz", "/storage/disks//usbvm.vhd"},
	}
	for i, row := range rows {
		r, f := c.Repo[i], repo[i]
		if f.Machine != row[0] || r.ID != row[1] || r.Source != row[2] || r.Type != row[3] || r.Destination != row[4] || r.Mount != row[5] {
			t.Errorf("entry %d = %+v (machine %s), images-manifest says %v", i, r, f.Machine, row)
		}
		want := staged[r.ID]
		if got := [4]string{f.Deploy, f.File, f.Format, f.Mount}; got != want {
			t.Errorf("%s staged as %v, bordel stages %v", r.ID, got, want)
		}
		// The step that deploys it copies it to raw/<file>.
		found := false
		for _, a := range StepArtifacts(c, r.Step) {
			found = found || (a.From == f.Deploy && a.To == f.File)
		}
		if !found {
			t.Errorf("step %s does not stage %s", r.Step, f.File)
		}
	}
}
