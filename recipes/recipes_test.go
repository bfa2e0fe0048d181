package recipes

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/xtbuild/xtbuild/bbsyntax"
	"github.com/xtbuild/xtbuild/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureRepo makes a git repository holding the fixture license, committed
// with a fixed author and time so its commit id (the SRCREV) is stable.
func fixtureRepo(t *testing.T, dir string) string {
	t.Helper()
	lic, err := os.ReadFile("testdata/LICENSE.fixture")
	if err != nil {
		t.Fatal(err)
	}
	return commitFiles(t, dir, map[string]string{
		"LICENSE":      string(lic),
		"tools/go.mod": "module github.com/xtbuild/xtbuild/tools\n\ngo 1.22\n",
	}, "fixture")
}

// commitFiles writes files into the repository at dir (creating it) and
// commits them with a fixed signature.
func commitFiles(t *testing.T, dir string, files map[string]string, msg string) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		if repo, err = git.PlainInit(dir, false); err != nil {
			t.Fatal(err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "Fixture", Email: "fixture@example.invalid", When: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// fixtureVendorLicenses stand for what VendoredLicenses finds (that is
// tested against a real `go mod vendor` in TestVendorTarball).
var fixtureVendorLicenses = []ModuleLicense{
	{Module: "github.com/google/go-tpm", Path: "vendor/github.com/google/go-tpm/LICENSE", MD5: "175792518e4ac015ab6696d16c4f607e", SPDX: "Apache-2.0"},
	{Module: "golang.org/x/sys", Path: "vendor/golang.org/x/sys/LICENSE", MD5: "7998cb338f82d15c0eff93b7004d272a", SPDX: "BSD-3-Clause"},
	{Module: "golang.org/x/term", Path: "vendor/golang.org/x/term/LICENSE", MD5: "7998cb338f82d15c0eff93b7004d272a", SPDX: "BSD-3-Clause"},
}

const fixtureVendorSHA = "5f2b8d3c0f4e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d"

// sampleImages is the OpenXT-like configuration of the issue: TPM and TXT
// into dom0 and the installer, the oscillator into a board image, and a
// test image with every tool (which gets the packagegroup).
var sampleImages = map[string][]string{
	"xenclient-dom0-image":      {"txt", "tpm"},
	"xenclient-installer-image": {"tpm", "txt", "tpm"},
	"ds1077l-board-image":       {"ds1077l"},
	"xtbuild-test-image":        {"serial", "ds1077l", "tpm", "txt"},
	"image-without-tools":       nil,
}

func gitOptions(t *testing.T, release string) Options {
	t.Helper()
	root := filepath.Join(t.TempDir(), "xtbuild")
	rev := fixtureRepo(t, root)
	return Options{
		Dir:     filepath.Join(t.TempDir(), DefaultDir),
		Release: release,
		Images:  sampleImages,
		Source:  Source{Kind: SourceGit, URL: "https://github.com/xtbuild/xtbuild.git", Branch: "main", SRCREV: rev},
		Vendor: Vendor{URL: "https://mirror.example.org/xtbuild/xtbuild-vendor-5f2b8d3c0f4e6a7b.tar.gz", SHA256: fixtureVendorSHA,
			Licenses: fixtureVendorLicenses},
		ModuleRoot: root, LicenseFile: "LICENSE", License: "MIT", Version: "0.1",
		LayerDepends: []string{"core", "xenclient"},
	}
}

func localOptions(t *testing.T, release string) Options {
	t.Helper()
	// The checkout is called "main", as a worktree often is, so the recipe
	// must rename it to the import path.
	root := filepath.Join("/work/src", "main")
	tmp := t.TempDir()
	lic, err := os.ReadFile("testdata/LICENSE.fixture")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "LICENSE"), lic, 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		Dir:     filepath.Join(tmp, DefaultDir),
		Release: release,
		Images:  map[string][]string{"xenclient-dom0-image": {"tpm", "txt"}},
		Source:  Source{Kind: SourceLocal, LocalPath: root},
		Vendor:  Vendor{URL: "file:///work/src/mirror/xtbuild-vendor-5f2b8d3c0f4e6a7b.tar.gz", SHA256: fixtureVendorSHA, Licenses: fixtureVendorLicenses[2:]},
		// ModuleRoot is where the license is read; LocalPath is only written
		// into the recipe, so the golden file does not depend on the temp dir.
		ModuleRoot: tmp, License: "MIT",
	}
}

var goldenCases = []struct {
	name string
	opts func(t *testing.T) Options
}{
	{"scarthgap-git", func(t *testing.T) Options { return gitOptions(t, "scarthgap") }},
	{"kirkstone-git", func(t *testing.T) Options { return gitOptions(t, "kirkstone") }},
	{"dunfell-git", func(t *testing.T) Options { return gitOptions(t, "dunfell") }},
	{"walnascar-local", func(t *testing.T) Options { return localOptions(t, "walnascar") }},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Files(context.Background(), tc.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", tc.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for n, b := range files {
					p := filepath.Join(dir, filepath.FromSlash(n))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := readTree(t, dir)
			if got, exp := sortedKeys(files), sortedKeys(want); strings.Join(got, "\n") != strings.Join(exp, "\n") {
				t.Fatalf("generated files\n%s\nwant\n%s\n(run go test ./recipes -update)", strings.Join(got, "\n"), strings.Join(exp, "\n"))
			}
			for n, b := range files {
				if !bytes.Equal(b, want[n]) {
					t.Errorf("%s differs from golden file (run go test ./recipes -update):\n%s", n, b)
				}
			}
		})
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read golden tree (run go test ./recipes -update): %v", err)
	}
	return out
}

func sortedKeys(m map[string][]byte) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func modeFor(name string) bbsyntax.Mode {
	if strings.HasSuffix(name, ".conf") {
		return bbsyntax.Conf
	}
	return bbsyntax.Recipe
}

// TestGeneratedFilesParse generates the layer for every supported release
// and both source kinds and runs each file through the BitBake syntax
// checker in the mode BitBake itself would use.
func TestGeneratedFilesParse(t *testing.T) {
	for _, r := range config.Releases {
		for kind, mk := range map[string]func(*testing.T, string) Options{"git": gitOptions, "local": localOptions} {
			t.Run(r.Name+"-"+kind, func(t *testing.T) {
				files, err := Files(context.Background(), mk(t, r.Name))
				if err != nil {
					t.Fatal(err)
				}
				if len(files) != 3 {
					t.Fatalf("only %d files generated: %v", len(files), sortedKeys(files))
				}
				for n, b := range files {
					mode := modeFor(n)
					if errs := bbsyntax.Check(string(b), mode); len(errs) > 0 {
						t.Errorf("%s: %v", n, errs)
					}
					if !bytes.HasPrefix(b, []byte(Header+"\n")) {
						t.Errorf("%s does not start with the ownership header", n)
					}
					old := bbsyntax.OldOverrideSyntax(string(b), mode)
					hasColon := false
					for _, op := range []string{":append", ":prepend", ":remove", ":${PN}"} {
						hasColon = hasColon || bytes.Contains(b, []byte(op))
					}
					if r.ColonOverrides {
						if len(old) > 0 {
							t.Errorf("%s: old override syntax for %s: %v", n, r.Name, old)
						}
					} else if hasColon {
						t.Errorf("%s: colon override syntax for %s, whose BitBake %s does not know it:\n%s", n, r.Name, r.Bitbake, b)
					}
				}
				lc := string(files["conf/layer.conf"])
				if !strings.Contains(lc, `LAYERSERIES_COMPAT_xtbuild-tools = "`+r.Name+`"`) {
					t.Errorf("layer.conf lacks LAYERSERIES_COMPAT for %s:\n%s", r.Name, lc)
				}
			})
		}
	}
}

func TestOverrideSyntaxPerRelease(t *testing.T) {
	files, err := Files(context.Background(), gitOptions(t, "dunfell"))
	if err != nil {
		t.Fatal(err)
	}
	lc := string(files["conf/layer.conf"])
	if !strings.Contains(lc, `IMAGE_INSTALL_append_pn-xenclient-dom0-image = " xtbuild-tools-tpm xtbuild-tools-txt"`) {
		t.Errorf("dunfell layer.conf:\n%s", lc)
	}
	files, err = Files(context.Background(), gitOptions(t, "kirkstone"))
	if err != nil {
		t.Fatal(err)
	}
	lc = string(files["conf/layer.conf"])
	if !strings.Contains(lc, `IMAGE_INSTALL:append:pn-xenclient-dom0-image = " xtbuild-tools-tpm xtbuild-tools-txt"`) {
		t.Errorf("kirkstone layer.conf:\n%s", lc)
	}
	if !strings.Contains(lc, `IMAGE_INSTALL:append:pn-xtbuild-test-image = " packagegroup-xtbuild-tools"`) {
		t.Errorf("an image with every tool should get the packagegroup:\n%s", lc)
	}
	if strings.Contains(lc, "image-without-tools") {
		t.Errorf("an image without tools got a line:\n%s", lc)
	}
}

// TestNoDanglingAppends: the layer must not hold a .bbappend for an image,
// because BitBake stops ("No recipes available for ...") when the
// configuration's layers do not provide that image, e.g. the tools layer on
// plain oe-core with an OpenXT image configured.
func TestNoDanglingAppends(t *testing.T) {
	for _, r := range []string{"dunfell", "scarthgap"} {
		files, err := Files(context.Background(), gitOptions(t, r))
		if err != nil {
			t.Fatal(err)
		}
		for n := range files {
			if strings.HasSuffix(n, ".bbappend") {
				t.Errorf("%s: generated %s, which dangles when no layer provides the image", r, n)
			}
		}
	}
}

// TestCheckerCatchesMistakes breaks generated files the way a careless
// template change would and requires the checker to notice.
func TestCheckerCatchesMistakes(t *testing.T) {
	files, err := Files(context.Background(), gitOptions(t, "scarthgap"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := string(files[recipeDir+"/"+RecipeName+".bb"])
	layer := string(files["conf/layer.conf"])
	mutations := []struct {
		name, src string
		mode      bbsyntax.Mode
		old       bool // caught by OldOverrideSyntax rather than Check
	}{
		{"unclosed SRC_URI list", strings.Replace(recipe, "    \"\n", "", 1), bbsyntax.Recipe, false},
		{"unquoted value", strings.Replace(recipe, `SECTION = "utils"`, `SECTION = utils`, 1), bbsyntax.Recipe, false},
		{"stray quote", strings.Replace(recipe, `SECTION = "utils"`, `SECTION = "ut"ils"`, 1), bbsyntax.Recipe, false},
		{"unclosed function", strings.Replace(recipe, "\n}\n", "\n", 1), bbsyntax.Recipe, false},
		{"comment inside continuation", strings.Replace(recipe, "SRC_URI = \" \\\n", "SRC_URI = \" \\\n# fetched from git\n", 1), bbsyntax.Recipe, false},
		{"trailing comment", strings.Replace(recipe, `SECTION = "utils"`, `SECTION = "utils" # misc`, 1), bbsyntax.Recipe, false},
		{"bad operator", strings.Replace(layer, `BBFILE_COLLECTIONS += `, `BBFILE_COLLECTIONS =+= `, 1), bbsyntax.Conf, false},
		{"inherit in a conf file", layer + "inherit go\n", bbsyntax.Conf, false},
		{"function in a conf file", layer + "do_x() {\n\ttrue\n}\n", bbsyntax.Conf, false},
		{"indented assignment", strings.Replace(layer, "BBFILE_COLLECTIONS", "  BBFILE_COLLECTIONS", 1), bbsyntax.Conf, false},
		{"old override syntax on scarthgap", strings.Replace(layer, "IMAGE_INSTALL:append:pn-", "IMAGE_INSTALL_append_pn-", 1), bbsyntax.Conf, true},
		{"old override function on scarthgap", strings.Replace(recipe, "do_install:append()", "do_install_append()", 1), bbsyntax.Recipe, true},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			var errs bbsyntax.Errors
			if m.old {
				if e := bbsyntax.Check(m.src, m.mode); len(e) > 0 {
					t.Fatalf("mutation should still parse: %v", e)
				}
				errs = bbsyntax.OldOverrideSyntax(m.src, m.mode)
			} else {
				errs = bbsyntax.Check(m.src, m.mode)
			}
			if len(errs) == 0 {
				t.Fatalf("checker accepted the broken file:\n%s", m.src)
			}
		})
	}
}

// licChksumRE finds the project's own license entry: the repository is
// unpacked at ${S}/src/github.com/xtbuild/xtbuild.
var licChksumRE = regexp.MustCompile(`(?m)^    file://src/github\.com/xtbuild/xtbuild/([^;]+);md5=([0-9a-f]{32}) \\$`)

// md5sumCLI hashes a file with coreutils' md5sum, independent of our code.
func md5sumCLI(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("md5sum", path).Output()
	if err != nil {
		t.Fatalf("md5sum: %v", err)
	}
	return strings.Fields(string(out))[0]
}

func TestLicenseChecksum(t *testing.T) {
	ctx := context.Background()
	o := gitOptions(t, "scarthgap")
	files, err := Files(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	m := licChksumRE.FindStringSubmatch(string(files[recipeDir+"/"+RecipeName+".bb"]))
	if m == nil {
		t.Fatalf("no LIC_FILES_CHKSUM in the recipe")
	}
	// The recipe's path under S/src/<repository> is the file in the checkout.
	if got, want := m[2], md5sumCLI(t, filepath.Join(o.ModuleRoot, m[1])); got != want {
		t.Fatalf("LIC_FILES_CHKSUM md5 %s, md5sum of the license says %s", got, want)
	}
	if got, want := m[2], md5sumCLI(t, "testdata/LICENSE.fixture"); got != want {
		t.Fatalf("md5 %s, fixture license has %s", got, want)
	}

	// The license is read from SRCREV, not from the working tree: an
	// uncommitted edit must not change the checksum...
	licPath := filepath.Join(o.ModuleRoot, "LICENSE")
	if err := os.WriteFile(licPath, []byte("edited but not committed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files2, err := Files(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if m2 := licChksumRE.FindStringSubmatch(string(files2[recipeDir+"/"+RecipeName+".bb"])); m2 == nil || m2[2] != m[2] {
		t.Fatalf("uncommitted license edit changed the checksum: %v", m2)
	}
	// ...and a new commit with another license text must.
	o.Source.SRCREV = commitFiles(t, o.ModuleRoot, map[string]string{"LICENSE": "Another license text.\n"}, "relicense")
	files3, err := Files(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	m3 := licChksumRE.FindStringSubmatch(string(files3[recipeDir+"/"+RecipeName+".bb"]))
	if m3 == nil || m3[2] != md5sumCLI(t, licPath) {
		t.Fatalf("checksum after relicensing %v, md5sum says %s", m3, md5sumCLI(t, licPath))
	}
}

func TestLicenseChecksumLocal(t *testing.T) {
	o := localOptions(t, "scarthgap")
	files, err := Files(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	m := licChksumRE.FindStringSubmatch(string(files[recipeDir+"/"+RecipeName+".bb"]))
	if m == nil || m[2] != md5sumCLI(t, filepath.Join(o.ModuleRoot, "LICENSE")) {
		t.Fatalf("local LIC_FILES_CHKSUM %v does not match md5sum", m)
	}
}

func TestMissingLicense(t *testing.T) {
	o := gitOptions(t, "scarthgap")
	o.LicenseFile = "COPYING"
	if _, err := Files(context.Background(), o); err == nil || !strings.Contains(err.Error(), "license") {
		t.Fatalf("missing license file: err = %v", err)
	}
	o = localOptions(t, "scarthgap")
	o.ModuleRoot = t.TempDir()
	if _, err := Files(context.Background(), o); err == nil || !strings.Contains(err.Error(), "license") {
		t.Fatalf("missing local license file: err = %v", err)
	}
}

func TestUnsupportedRelease(t *testing.T) {
	for _, rel := range []string{"hardknott", "honister", "pyro", "", "Scarthgap"} {
		o := gitOptions(t, rel)
		_, err := Files(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "unsupported Yocto release") || !strings.Contains(err.Error(), `"`+rel+`"`) {
			t.Errorf("release %q: err = %v", rel, err)
		}
	}
}

func TestOptionValidation(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"relative dir", func(o *Options) { o.Dir = "meta-xtbuild-tools" }, "absolute"},
		{"unknown tool", func(o *Options) { o.Images = map[string][]string{"img": {"tpm", "flux"}} }, `unknown tool "flux"`},
		{"bad image name", func(o *Options) { o.Images = map[string][]string{"Bad Image": {"tpm"}} }, "not a recipe name"},
		{"short SRCREV", func(o *Options) { o.Source.SRCREV = "abc123" }, "SRCREV"},
		{"SRCREV not in repo", func(o *Options) { o.Source.SRCREV = strings.Repeat("ab", 20) }, "license"},
		{"bad URL scheme", func(o *Options) { o.Source.URL = "ftp://example.org/x.git" }, "want https"},
		{"URL with semicolon", func(o *Options) { o.Source.URL = "https://example.org/x.git;branch=evil" }, "cannot be written"},
		{"license outside module", func(o *Options) { o.LicenseFile = "../LICENSE" }, "inside the module"},
		{"no license name", func(o *Options) { o.License = "" }, "SPDX"},
		{"quote in license", func(o *Options) { o.License = `MIT" X="y` }, "SPDX"},
		{"bad vendor sha", func(o *Options) { o.Vendor.SHA256 = "xyz" }, "sha256"},
		{"vendor URL not a tarball", func(o *Options) { o.Vendor.URL = "https://example.org/vendor.zip" }, ".tar.gz"},
		{"bad source kind", func(o *Options) { o.Source.Kind = "svn" }, "source kind"},
		{"local relative", func(o *Options) { o.Source = Source{Kind: SourceLocal, LocalPath: "src/xtbuild"} }, "absolute"},
		{"bad layer dependency", func(o *Options) { o.LayerDepends = []string{"core xenclient"} }, "collection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := gitOptions(t, "scarthgap")
			tc.modify(&o)
			_, err := Files(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestGitFetchURL(t *testing.T) {
	tests := []struct{ in, url, proto string }{
		{"https://github.com/xtbuild/xtbuild.git", "git://github.com/xtbuild/xtbuild.git", "https"},
		{"http://git.local/xtbuild", "git://git.local/xtbuild", "http"},
		{"ssh://git@github.com/xtbuild/xtbuild.git", "git://git@github.com/xtbuild/xtbuild.git", "ssh"},
		{"git@github.com:xtbuild/xtbuild.git", "git://git@github.com/xtbuild/xtbuild.git", "ssh"},
		{"git://git.local/xtbuild.git", "git://git.local/xtbuild.git", "git"},
		{"file:///srv/git/xtbuild.git", "git:///srv/git/xtbuild.git", "file"},
	}
	for _, tc := range tests {
		u, p, err := gitFetchURL(tc.in)
		if err != nil || u != tc.url || p != tc.proto {
			t.Errorf("gitFetchURL(%q) = %q, %q, %v; want %q, %q", tc.in, u, p, err, tc.url, tc.proto)
		}
	}
	for _, bad := range []string{"", "/srv/git/xtbuild", "https://", "ftp://x/y"} {
		if _, _, err := gitFetchURL(bad); err == nil {
			t.Errorf("gitFetchURL(%q) accepted", bad)
		}
	}
}

func TestImagesFromBoards(t *testing.T) {
	got := ImagesFromBoards(map[string]config.Board{
		"a": {Machine: "m1", Image: "board-image", Tools: []string{"ds1077l"}},
		"b": {Machine: "m2", Image: "board-image", Tools: []string{"serial"}},
		"c": {Machine: "m3", Image: "other-image"},
	})
	imgs, err := normalizeImages(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].name != "board-image" || len(imgs[0].tools) != 2 ||
		imgs[0].tools[0].Name != "ds1077l" || imgs[0].tools[1].Name != "serial" {
		t.Fatalf("ImagesFromBoards = %v → %+v", got, imgs)
	}
}

// TestToolCatalogueMatchesXt keeps the catalogue in step with the registry
// of tools/cmd/xt (the main package of the tools module the recipe builds):
// every link must be an applet name xt dispatches on.
func TestToolCatalogueMatchesXt(t *testing.T) {
	registered := map[string]bool{}
	main := filepath.Join("..", ModuleDir, "cmd", Binary)
	matches, _ := filepath.Glob(filepath.Join(main, "*.go"))
	if len(matches) == 0 {
		t.Fatalf("no Go files in %s, the package GO_INSTALL names", main)
	}
	nameRE := regexp.MustCompile(`register\(applet\{\s*name:\s*"([^"]+)"`)
	for _, f := range matches {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRE.FindAllSubmatch(b, -1) {
			registered[string(m[1])] = true
		}
	}
	for _, tool := range Tools {
		if !registered[tool.Name] {
			t.Errorf("tool %s is not an applet of cmd/xt", tool.Name)
		}
		for _, l := range tool.Links {
			if !registered[l] {
				t.Errorf("link %s of tool %s is not an applet of cmd/xt, so xt would not dispatch on it", l, tool.Name)
			}
		}
	}
}
