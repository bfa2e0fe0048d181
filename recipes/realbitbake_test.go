package recipes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// TestToolsLayerRealBitBake adds the generated layer to a real
// configuration and runs real BitBake on it: `bitbake -p` must parse every
// recipe with no error although an image the configuration names
// (xenclient-dom0-image) is provided by none of the layers, and
// `bitbake -g` must resolve the packagegroup and an image that carries the
// tools. BB_NO_NETWORK is set: parsing the layer needs no network.
//
// It needs a BitBake checkout of the release's branch (BITBAKE_DIR), the
// layer directories (OE_LAYERS, space-separated, core first) and the
// release series (OE_RELEASE), and must run as a normal user because
// BitBake refuses root. docs/real-bitbake.md ("tools layer") has the runs.
func TestToolsLayerRealBitBake(t *testing.T) {
	bbDir := testenv.NeedEnv(t, "BITBAKE_DIR", "a BitBake checkout of the release's branch")
	layerList := testenv.NeedEnv(t, "OE_LAYERS", "space-separated layer directories, openembedded-core/meta first")
	release := testenv.NeedEnv(t, "OE_RELEASE", "the Yocto series of those layers, e.g. scarthgap")
	if os.Geteuid() == 0 {
		t.Fatal("BitBake refuses to run as root; run this test as a normal user")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	work := os.Getenv("OE_WORKDIR")
	if work == "" {
		work = t.TempDir()
	}
	build := filepath.Join(work, "build-"+release)
	if err := os.RemoveAll(build); err != nil {
		t.Fatal(err)
	}

	// The layer as setupoe generates it: a git source at a real commit and a
	// real vendor tarball.
	o := gitOptions(t, release)
	o.Dir = filepath.Join(work, "meta-xtbuild-tools-"+release)
	o.Source.URL = "file://" + o.ModuleRoot
	o.LayerDepends = []string{"core"} // as the profiles have it: the images need no collection
	o.Images = map[string][]string{
		"xenclient-dom0-image": {"tpm", "txt"},                      // no layer here provides it
		"core-image-minimal":   {"ds1077l", "tpm", "txt", "serial"}, // oe-core's
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "")
	vf, ok, err := VendorTarball(ctx, filepath.Join(vendorModule(t), "app"), filepath.Join(work, "mirror"))
	if err != nil || !ok {
		t.Fatalf("vendor tarball: %v", err)
	}
	o.Vendor = Vendor{URL: "file://" + vf.Path, SHA256: vf.SHA256, Licenses: vf.Licenses}
	if err := os.RemoveAll(o.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(ctx, o); err != nil {
		t.Fatal(err)
	}

	confVersion := "2"
	if release == "dunfell" {
		confVersion = "1" // dunfell's sanity check wants its own
	}
	local := fmt.Sprintf(`MACHINE ??= "qemux86-64"
DISTRO ?= "nodistro"
CONF_VERSION = %q
TMPDIR = "${TOPDIR}/tmp"
DL_DIR = "${TOPDIR}/downloads"
SSTATE_DIR = "${TOPDIR}/sstate"
BB_NO_NETWORK = "1"
`, confVersion)
	layers := append(strings.Fields(layerList), o.Dir)
	bblayers := "LCONF_VERSION = \"7\"\nBBPATH = \"${TOPDIR}\"\nBBFILES ?= \"\"\nBBLAYERS = \" \\\n"
	for _, l := range layers {
		bblayers += "    " + l + " \\\n"
	}
	bblayers += "    \"\n"
	for name, text := range map[string]string{"local.conf": local, "bblayers.conf": bblayers} {
		p := filepath.Join(build, "conf", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	bitbake := func(args ...string) (string, time.Duration) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bbDir, "bin", "bitbake"), args...)
		cmd.Dir = build
		cmd.Env = append(os.Environ(), "PATH="+filepath.Join(bbDir, "bin")+":"+os.Getenv("PATH"), "BUILDDIR="+build)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		t.Logf("bitbake %s: %s", strings.Join(args, " "), d.Round(time.Second))
		if err != nil {
			t.Fatalf("bitbake %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 60))
		}
		return string(out), d
	}
	out, _ := bitbake("-p")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ERROR") || strings.Contains(l, "No recipes available") {
			t.Errorf("bitbake -p: %s", l)
		}
	}
	t.Logf("bitbake -p: %s", lastLine(out, "Parsing of"))

	bitbake("-g", PackageGroup)
	deps, err := os.ReadFile(filepath.Join(build, "pn-buildlist"))
	if err != nil || !strings.Contains("\n"+string(deps), "\n"+RecipeName+"\n") {
		t.Fatalf("pn-buildlist of %s lacks %s: %v\n%s", PackageGroup, RecipeName, err, deps)
	}
	bitbake("-g", "core-image-minimal")
	deps, err = os.ReadFile(filepath.Join(build, "pn-buildlist"))
	if err != nil || !strings.Contains("\n"+string(deps), "\n"+PackageGroup+"\n") {
		t.Fatalf("pn-buildlist of core-image-minimal lacks %s: %v", PackageGroup, err)
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func lastLine(s, prefix string) string {
	found := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			found = strings.TrimSpace(l)
		}
	}
	return found
}
