package bbconf

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/xtbuild/xtbuild/bbsyntax"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run with -update to accept):\n%s", p, got)
	}
}

const customTOML = `
[build]
id = "1234"
branch = "stable-9"
threads = 16
parallel_make = 8
rm_work = true
package_feed_url = "http://openxt.example.org/builds/"
source_packages = true

[paths]
downloads = "/mnt/openembedded/downloads"
layers_dir = "/srv/layers"

[mirrors]
tarball = "http://mirror.example.org/tarballs"
sstate = ["file:///srv/sstate", "http://sstate.example.org/scarthgap"]
hashserve = "hashserv.example.org:8686"
prserv = "localhost:0"

[local_conf]
extra = ['PREFERRED_VERSION_xen = "4.19%"', "INHERIT += 'buildhistory'", 'BB_DISKMON_DIRS ??= "STOPTASKS,${TMPDIR},1G,100K"']

[[layer]]
name = "openembedded-core"
url = "https://git.openembedded.org/openembedded-core"
kind = "oe"
sublayers = ["meta"]

[[layer]]
name = "xenclient-oe"
url = "{openxt_git_protocol}://{openxt_git}/xenclient-oe.git"
kind = "openxt"
sublayers = ["."]
`

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
	}{
		{"profile", "", ""},
		{"custom", "xtbuild.toml", customTOML},
		// The profile is dunfell; this one covers the ":append" syntax.
		{"scarthgap", "xtbuild.toml", "[build]\nrelease = \"scarthgap\"\noe_branch = \"scarthgap\"\nbitbake_branch = \"2.8\"\n[mirrors]\ntarball = \"file:///srv/mirror\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(tt.file, []byte(tt.src), "/srv/xtbuild", nil)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Files(c, "openxt-dev-1234-stable-9")
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range files {
				golden(t, filepath.Join(tt.name, filepath.Base(name)), data)
				if errs := bbsyntax.Check(string(data), bbsyntax.Conf); len(errs) > 0 {
					t.Errorf("%s: %v", name, errs)
				}
			}
			// Byte-stable: generating again gives the same bytes.
			again, _ := Files(c, "openxt-dev-1234-stable-9")
			for name := range files {
				if !bytes.Equal(files[name], again[name]) {
					t.Errorf("%s not stable", name)
				}
			}
		})
	}
}

func TestWriteOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	c, err := config.Parse("", nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrote, err := Write(c, "n")
	if err != nil || len(wrote) != 2 {
		t.Fatalf("first write %v %v", wrote, err)
	}
	st1, _ := os.Stat(filepath.Join(c.BuildDir(), "conf/local.conf"))
	wrote, err = Write(c, "n")
	if err != nil || len(wrote) != 0 {
		t.Fatalf("second write rewrote %v %v", wrote, err)
	}
	st2, _ := os.Stat(filepath.Join(c.BuildDir(), "conf/local.conf"))
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("mtime changed")
	}
}

func TestRefusesUnwritableValues(t *testing.T) {
	c, err := config.Parse("", nil, "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Mirrors.Tarball = `http://x/"a'`
	if _, err := LocalConf(c, "n"); err == nil {
		t.Error("a value BitBake cannot parse was written")
	}
}

// TestRealBitbakeParsesGolden hands the golden files of BITBAKE_DIR's
// release to real BitBake's ConfHandler (BitBake is not vendored; CI skips
// this and relies on bbsyntax, which mirrors its rules): the dunfell ones
// (profile, custom) to a 1.x checkout, the scarthgap one to 2.x, since 2.x
// rejects the old override syntax.
func TestRealBitbakeParsesGolden(t *testing.T) {
	dir := testenv.NeedEnv(t, "BITBAKE_DIR", "a BitBake checkout, see docs/real-bitbake.md")
	testenv.LookPath(t, "python3", "python3")
	ver, err := os.ReadFile(filepath.Join(dir, "lib", "bb", "__init__.py"))
	if err != nil {
		t.Fatal(err)
	}
	pattern := "testdata/[cp]*/*.conf"
	if !bytes.Contains(ver, []byte(`__version__ = "1.`)) {
		pattern = "testdata/scarthgap/*.conf"
	}
	files, _ := filepath.Glob(pattern)
	cmd := exec.Command("python3", append([]string{"testdata/bbparse.py"}, files...)...)
	cmd.Env = append(os.Environ(), "BITBAKE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("real BitBake rejected generated files: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// With [recipes] enabled, the generated tools layer joins BBLAYERS.
func TestToolsLayerInBBLayers(t *testing.T) {
	c, err := config.Parse("xtbuild.toml", []byte("[recipes]\nenabled = true\n"), "/srv/xtbuild", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := BBLayers(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("    ${TOPDIR}/meta-xtbuild-tools \\\n    \"")) {
		t.Errorf("tools layer not last in BBLAYERS:\n%s", out)
	}
}

// Each release's oe-core checks CONF_VERSION against its own
// LOCALCONF_VERSION (meta/conf/sanity.conf): "1" up to dunfell, "2" after.
func TestConfVersionPerRelease(t *testing.T) {
	for _, tc := range []struct{ release, want string }{
		{"dunfell", `CONF_VERSION = "1"`},
		{"zeus", `CONF_VERSION = "1"`},
		{"kirkstone", `CONF_VERSION = "2"`},
		{"scarthgap", `CONF_VERSION = "2"`},
	} {
		c, err := config.Parse("xtbuild.toml", []byte("[build]\nrelease = \""+tc.release+"\"\n"), "/srv/xtbuild", nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := LocalConf(c, "n")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte("\n"+tc.want+"\n")) {
			t.Errorf("%s: want %s in local.conf:\n%s", tc.release, tc.want, out)
		}
	}
}

// A plain `bitbake -p` in the build dir needs a MACHINE: local.conf gives a
// weak default that the steps' MACHINE overrides.
func TestMachineDefault(t *testing.T) {
	c, err := config.Parse("", nil, "/srv/xtbuild", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := LocalConf(c, "n")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("\nMACHINE ??= \"xenclient-dom0\"\n")) {
		t.Errorf("no MACHINE ??= default in local.conf:\n%s", out)
	}
}

// TMPDIR must be where xtbuild looks for it: oe-core appends TCLIBCAPPEND
// ("-glibc") to whatever local.conf sets unless TCLIBCAPPEND is emptied,
// and DEPLOY_DIR and BUILDSTATS_BASE follow from these.
func TestDirsCannotDrift(t *testing.T) {
	c, err := config.Parse("", nil, "/srv/xtbuild", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := LocalConf(c, "n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nTCLIBCAPPEND = \"\"\n", "\nTMPDIR = \"${TOPDIR}/tmp\"\n", "\nDEPLOY_DIR = \"${TOPDIR}/deploy\"\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("local.conf lacks %q:\n%s", want, out)
		}
	}
	d := BuildDirs(c)
	if d.Tmp != "/srv/xtbuild/build/tmp" || d.Deploy != "/srv/xtbuild/build/deploy" || d.Buildstats != "/srv/xtbuild/build/tmp/buildstats" {
		t.Errorf("BuildDirs = %+v", d)
	}
	if got := d.DeployImage("xenclient-dom0"); got != "/srv/xtbuild/build/deploy/images/xenclient-dom0" {
		t.Errorf("DeployImage = %s", got)
	}
	// Without a deploy_dir, DEPLOY_DIR stays BitBake's ${TMPDIR}/deploy.
	c2, err := config.Parse("xtbuild.toml", []byte("[paths]\ndeploy_dir = \"\"\n"), "/srv/xtbuild", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := BuildDirs(c2); d.Deploy != "/srv/xtbuild/build/tmp/deploy" {
		t.Errorf("default deploy dir %s", d.Deploy)
	}
	out2, _ := LocalConf(c2, "n")
	if bytes.Contains(out2, []byte("DEPLOY_DIR =")) {
		t.Errorf("DEPLOY_DIR written although deploy_dir is empty:\n%s", out2)
	}
}
