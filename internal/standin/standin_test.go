package standin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var bin string

func TestMain(m *testing.M) { os.Exit(Main(m, &bin)) }

// buildDir makes a build dir whose BBLAYERS are a core layer declaring
// coreSeries and a second layer compatible with layerSeries.
func buildDir(t *testing.T, local, coreSeries, layerSeries string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"build/conf/bblayers.conf":     "BBPATH = \"${TOPDIR}\"\nBBLAYERS = \"" + root + "/core " + root + "/meta-x\"\n",
		"build/conf/local.conf":        local,
		"core/conf/layer.conf":         "BBPATH .= \":${LAYERDIR}\"\nBBFILE_COLLECTIONS += \"core\"\nLAYERSERIES_CORENAMES = \"" + coreSeries + "\"\nLAYERSERIES_COMPAT_core = \"" + coreSeries + "\"\n",
		"meta-x/conf/layer.conf":       "BBPATH .= \":${LAYERDIR}\"\nBBFILE_COLLECTIONS += \"x\"\nLAYERSERIES_COMPAT_x = \"" + layerSeries + "\"\n",
		"meta-x/recipes/demo-image.bb": "LICENSE = \"MIT\"\nIMAGE_FSTYPES = \"ext4\"\n",
	}
	for n, c := range files {
		p := filepath.Join(root, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "build")
}

func run(t *testing.T, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "demo-image")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BUILDDIR="+dir, "LANG=C.UTF-8", "MACHINE=demo", "BB_ENV_PASSTHROUGH_ADDITIONS=MACHINE", "XTBUILD_FAKE_BITBAKE_DIR=/srv/bitbake", "XTBUILD_FAKE_RECORD=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestStandInBuildsGoodConfig(t *testing.T) {
	dir := buildDir(t, "TMPDIR = \"${TOPDIR}/tmp\"\n", "scarthgap", "scarthgap")
	if out, err := run(t, dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp/deploy/images/demo/demo-image-demo.ext4")); err != nil {
		t.Fatal(err)
	}
}

// A line BitBake cannot parse stops the run with BitBake 2.8's ParseError
// report (/work/shared/fixtures/bitbake-2.8/parse-error-local-conf.log).
func TestStandInFailsOnBrokenLocalConf(t *testing.T) {
	dir := buildDir(t, "TMPDIR = \"${TOPDIR}/tmp\"\nthis is not valid\n", "scarthgap", "scarthgap")
	out, err := run(t, dir)
	want := "ERROR: Unable to parse /srv/bitbake/lib/bb/parse/parse_py/ConfHandler.py\n" +
		"Traceback (most recent call last):\n" +
		"  File \"/srv/bitbake/lib/bb/parse/parse_py/ConfHandler.py\", line 200, in feeder\n" +
		"    raise ParseError(\"unparsed line: '%s'\" % s, fn, lineno);\n" +
		"    " + strings.Repeat("^", 55) + "\n" +
		"bb.parse.ParseError: ParseError at " + dir + "/conf/local.conf:2: unparsed line: 'this is not valid'\n"
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("err %v, output:\n%s\nwant:\n%s", err, out, want)
	}
	if strings.Contains(out, "Running task") {
		t.Error("tasks ran after a parse error")
	}
}

func TestStandInFailsOnSeriesMismatch(t *testing.T) {
	dir := buildDir(t, "TMPDIR = \"${TOPDIR}/tmp\"\n", "scarthgap", "dunfell")
	out, err := run(t, dir)
	want := "ERROR: Layer x is not compatible with the core layer which only supports these series: scarthgap (layer is compatible with dunfell)\n"
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// BitBake before 2.0 lets MACHINE in through BB_ENV_EXTRAWHITE only; 2.x
// refuses the old name.
func TestStandInEnvironmentFilterFollowsRelease(t *testing.T) {
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "lib", "bb"), 0o755)
	os.WriteFile(filepath.Join(old, "lib", "bb", "__init__.py"), []byte("__version__ = \"1.46.0\"\n"), 0o644)
	for _, tc := range []struct {
		bbdir, pass string
		ok          bool
		want        string
	}{
		{old, "BB_ENV_EXTRAWHITE=MACHINE", true, ""},
		{old, "BB_ENV_PASSTHROUGH_ADDITIONS=MACHINE", false, "not passed through BB_ENV_EXTRAWHITE"},
		{"/srv/bitbake", "BB_ENV_PASSTHROUGH_ADDITIONS=MACHINE", true, ""},
		{"/srv/bitbake", "BB_ENV_EXTRAWHITE=MACHINE", false, "ERROR: Shell environment variable BB_ENV_EXTRAWHITE has been renamed to BB_ENV_PASSTHROUGH_ADDITIONS"},
	} {
		dir := buildDir(t, "TMPDIR = \"${TOPDIR}/tmp\"\n", "dunfell", "dunfell")
		cmd := exec.Command(bin, "demo-image")
		cmd.Dir = dir
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "BB_ENV_") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "BUILDDIR="+dir, "LANG=C.UTF-8", "MACHINE=demo", tc.pass, "XTBUILD_FAKE_BITBAKE_DIR="+tc.bbdir, "XTBUILD_FAKE_RECORD=")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s with %s: err %v, output:\n%s", tc.bbdir, tc.pass, err, out)
		}
	}
}
