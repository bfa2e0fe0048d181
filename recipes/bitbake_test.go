package recipes

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

// bitbakeRepo is the read-only BitBake mirror some hosts have; CI does not.
const bitbakeRepo = "/work/.mirror/openembedded+bitbake/repo"

// bitbakeScript parses each file named on stdin with the given BitBake's
// own parser: statements only for recipes (inherit needs OE's classes),
// statements and evaluation for layer.conf, which holds plain assignments.
// PN is set as given, with OVERRIDES = "pn-${PN}" as in a recipe's context.
// It prints, per file, the error ("" if none) and the value of the variable
// asked for after evaluation.
const bitbakeScript = `
import sys, json, logging
sys.path.insert(0, sys.argv[1])
import bb, bb.parse, bb.data
from bb.parse.parse_py import ConfHandler, BBHandler
logging.disable(logging.CRITICAL)
out = []
for path, var, pn in json.load(sys.stdin):
    for g in ("__infunc__", "__body__", "__residue__"):
        setattr(BBHandler, g, [])
    BBHandler.__inpython__ = False
    BBHandler.__classname__ = ""
    BBHandler.cached_statements = {}
    d = bb.data.init()
    d.setVar("LAYERDIR", "/layer")
    d.setVar("PN", pn)
    d.setVar("OVERRIDES", "pn-${PN}")
    val = None
    try:
        if path.endswith(".conf"):
            ConfHandler.handle(path, d, 0)
        else:
            st = BBHandler.get_statements(path, path, path.rsplit("/", 1)[-1])
            if var:
                st.eval(d)
        if var:
            val = d.getVar(var)
        out.append(["", val])
    except BaseException as e:
        out.append(["%s: %s" % (type(e).__name__, e), None])
print(json.dumps(out))
`

// bitbakeLib extracts lib/ of a BitBake branch once per test binary run.
func bitbakeLib(t *testing.T, branch string) string {
	t.Helper()
	if _, err := os.Stat(bitbakeRepo); err != nil {
		t.Skipf("skipped: no BitBake checkout at %s (the search tool's fetch brings it; cannot run in CI)", bitbakeRepo)
	}
	testenv.LookPath(t, "python3", "python3")
	dir := filepath.Join(t.TempDir(), "bitbake-"+branch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `git --git-dir="$1" archive "$2" lib | tar -x -C "$3"`, "sh", bitbakeRepo, branch, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot extract BitBake %s from %s: %v: %s", branch, bitbakeRepo, err, out)
	}
	return filepath.Join(dir, "lib")
}

// TestGeneratedLayerWithRealBitBake parses the generated layer of every
// supported release with that release's own BitBake parser and evaluates
// layer.conf and the image appends, so an override written in the wrong
// syntax for the release fails here the way it would fail (or silently do
// nothing) in a build.
func TestGeneratedLayerWithRealBitBake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python for every release")
	}
	for _, r := range config.Releases {
		t.Run(r.Name, func(t *testing.T) {
			if r.Bitbake == "1.44" {
				t.Skip("BitBake 1.44 (zeus) does not run on the host's Python 3.11")
			}
			lib := bitbakeLib(t, r.Bitbake)
			o := gitOptions(t, r.Name)
			if _, err := Generate(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			files, err := Files(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			// Every file parsed once; layer.conf evaluated in the context of
			// each configured image, of an image without tools and of an
			// image nobody configured.
			type query struct{ file, variable, pn string }
			var qs []query
			for _, n := range sortedKeys(files) {
				if n == "conf/layer.conf" {
					continue
				}
				qs = append(qs, query{n, "", RecipeName})
			}
			qs = append(qs, query{"conf/layer.conf", "LAYERSERIES_COMPAT_" + Collection, RecipeName})
			for _, img := range append(sortedImageNames(), "core-image-minimal") {
				qs = append(qs, query{"conf/layer.conf", "IMAGE_INSTALL", img})
			}
			var in [][3]string
			for _, q := range qs {
				in = append(in, [3]string{filepath.Join(o.Dir, filepath.FromSlash(q.file)), q.variable, q.pn})
			}
			data, _ := json.Marshal(in)
			cmd := exec.Command("python3", "-c", bitbakeScript, lib)
			cmd.Stdin = strings.NewReader(string(data))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("BitBake %s parser: %v\n%s", r.Bitbake, err, stderr.String())
			}
			var res [][2]*string
			if err := json.Unmarshal(out, &res); err != nil || len(res) != len(qs) {
				t.Fatalf("parser output %s: %v", out, err)
			}
			for i, q := range qs {
				if e := res[i][0]; e != nil && *e != "" {
					t.Errorf("BitBake %s rejects %s: %s", r.Bitbake, q.file, *e)
					continue
				}
				val := ""
				if res[i][1] != nil {
					val = *res[i][1]
				}
				switch q.variable {
				case "LAYERSERIES_COMPAT_" + Collection:
					if val != r.Name {
						t.Errorf("LAYERSERIES_COMPAT = %q, want %q", val, r.Name)
					}
				case "IMAGE_INSTALL":
					want := imagePackages(sampleImages[q.pn])
					if got := strings.Fields(val); strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("IMAGE_INSTALL of %s after BitBake %s evaluation = %q, want %q", q.pn, r.Bitbake, val, want)
					}
				}
			}
		})
	}
}

func sortedImageNames() []string {
	var n []string
	for img := range sampleImages {
		n = append(n, img)
	}
	sort.Strings(n)
	return n
}

// imagePackages is what an image with these tools must end up installing.
func imagePackages(tools []string) []string {
	set := map[string]bool{}
	for _, t := range tools {
		set[t] = true
	}
	if len(set) == len(Tools) {
		return []string{PackageGroup}
	}
	var out []string
	for _, t := range Tools {
		if set[t.Name] {
			out = append(out, PackageName(t.Name))
		}
	}
	return out
}
