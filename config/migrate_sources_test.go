package config_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/plan"
)

// updating reports -update, the flag the package's own tests define
// (reference_test.go); it rewrites these golden files too.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// migrateAndPlan runs migrate on a test input, compares with the golden
// file, loads the result and resolves the plan as `plan` does.
func migrateAndPlan(t *testing.T, input, golden string) (*config.Migration, *config.Config, *plan.Plan) {
	t.Helper()
	out := t.TempDir()
	m, err := config.MigratePath(input, out)
	if err != nil {
		t.Fatal(err)
	}
	got := m.TOML
	// The build dir path differs per checkout.
	if abs, err := filepath.Abs(filepath.Dir(input)); err == nil {
		got = bytes.ReplaceAll(got, []byte(abs), []byte("/TESTDATA"))
	}
	if updating() {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run TestMigrate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("migrated TOML differs from %s (run with -update):\n%s", golden, got)
	}
	c, err := config.Parse(filepath.Join(out, "xtbuild.toml"), m.TOML, out, nil)
	if err != nil {
		t.Fatalf("migrated config does not load: %v", err)
	}
	p, err := plan.Resolve(c, nil)
	if err != nil {
		t.Fatalf("plan refuses the migrated config: %v", err)
	}
	return m, c, p
}

func layerOf(t *testing.T, c *config.Config, name string) config.Layer {
	t.Helper()
	l, ok := c.Layer(name)
	if !ok {
		t.Fatalf("no layer %s", name)
	}
	return l
}

func notesText(m *config.Migration) string {
	var b strings.Builder
	for _, n := range m.Notes {
		b.WriteString(n.File + ": " + n.Text + "\n")
	}
	return b.String()
}

func wantNotes(t *testing.T, m *config.Migration, wants ...string) {
	t.Helper()
	all := notesText(m)
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("notes lack %q:\n%s", w, all)
		}
	}
}

// openxt-manifest's default.xml shape: OpenXT master on dunfell.
func TestMigrateManifestMaster(t *testing.T) {
	m, c, p := migrateAndPlan(t, "testdata/migrate/manifest-master.xml", "testdata/migrate/manifest-master.xtbuild.toml")
	if m.Kind != config.InputManifest {
		t.Errorf("kind %v", m.Kind)
	}
	if c.Build.Release != "dunfell" || c.Build.OEBranch != "dunfell" || c.Build.BitbakeBranch != "1.46" || c.Build.Branch != "master" {
		t.Errorf("release %s oe %s bitbake %s branch %s", c.Build.Release, c.Build.OEBranch, c.Build.BitbakeBranch, c.Build.Branch)
	}
	for name, want := range map[string][3]string{ // url, branch, tag
		"bitbake":                      {"https://github.com/openembedded/bitbake", "1.46", ""},
		"openembedded-core":            {"https://github.com/openembedded/openembedded-core", "dunfell", ""},
		"meta-java":                    {"http://git.yoctoproject.org/git/meta-java", "dunfell", ""},
		"meta-qt5":                     {"https://github.com/meta-qt5/meta-qt5", "dunfell", ""},
		"xenclient-oe":                 {"https://github.com/openxt/xenclient-oe", "master", ""},
		"meta-openxt-haskell-platform": {"https://github.com/openxt/meta-openxt-haskell-platform", "", "ghc6"},
		"meta-vglass":                  {"https://gitlab.com/vglass/meta-vglass", "master", ""},
	} {
		l := layerOf(t, c, name)
		if l.URL != want[0] || l.Branch != want[1] || l.Tag != want[2] {
			t.Errorf("%s = url %s branch %q tag %q, want %v", name, l.URL, l.Branch, l.Tag, want)
		}
	}
	if _, ok := c.Layer("bordel"); ok {
		t.Error("bordel became a layer")
	}
	if len(p.Layers) == 0 || len(p.Steps) == 0 {
		t.Errorf("empty plan: %+v", p)
	}
	wantNotes(t, m, "project openxt/bordel: bordel itself", `<default sync-j="1">`)
}

// openxt-manifest's stable-9.xml shape: pyro, a pinned commit, OpenXT's
// component sources beside the layers.
func TestMigrateManifestStable9(t *testing.T) {
	m, c, _ := migrateAndPlan(t, "testdata/migrate/manifest-stable-9.xml", "testdata/migrate/manifest-stable-9.xtbuild.toml")
	if c.Build.Branch != "stable-9" || c.Build.BitbakeBranch != "1.34" {
		t.Errorf("branch %s bitbake %s", c.Build.Branch, c.Build.BitbakeBranch)
	}
	if l := layerOf(t, c, "meta-selinux"); l.Commit != "0123456789abcdef0123456789abcdef01234567" || l.Branch != "pyro" {
		t.Errorf("meta-selinux = %+v", l)
	}
	if l := layerOf(t, c, "xenclient-oe"); l.Branch != "stable-9" {
		t.Errorf("xenclient-oe follows %q", l.Branch)
	}
	wantNotes(t, m,
		`"pyro" is not a Yocto release xtbuild generates for`,
		"project openxt/idl (openxt/idl) is not a layer",
		"project openxt/xenclient-oe: <copyfile> is not taken over",
	)
}

// bordel's templates/master shape.
func TestMigrateBordelTemplate(t *testing.T) {
	m, c, p := migrateAndPlan(t, "testdata/migrate/bordel-master", "testdata/migrate/bordel-master.xtbuild.toml")
	if m.Kind != config.InputBordel {
		t.Errorf("kind %v", m.Kind)
	}
	if l := layerOf(t, c, "meta-openembedded"); strings.Join(l.Sublayers, " ") != "meta-oe meta-python meta-networking meta-gnome meta-multimedia meta-filesystems meta-xfce" {
		t.Errorf("meta-openembedded sublayers %v", l.Sublayers)
	}
	var order []string
	for _, l := range c.Layers {
		order = append(order, l.Name)
	}
	if got := strings.Join(order, " "); !strings.HasPrefix(got, "bitbake openembedded-core meta-openembedded meta-intel meta-java meta-selinux xenclient-oe meta-openxt-ocaml-platform meta-openxt-haskell-platform meta-virtualization meta-qt5 meta-vglass") {
		t.Errorf("layer order %s", got)
	}
	if c.Version.Version != "agrypnotic" || c.Version.Release != "10.0.0" || c.Build.ID != "0" ||
		strings.Join(c.Version.UpgradeableReleases, " ") != "9.0.0 9.0.1 9.0.2" || c.Mirrors.PRServ != "localhost:0" {
		t.Errorf("version %+v id %q prserv %q", c.Version, c.Build.ID, c.Mirrors.PRServ)
	}
	if c.Signing.DevSigningCert != "certs/dev-cacert.pem" || c.Signing.DevSigningKey != "certs/dev-cakey.pem" {
		t.Errorf("dev signer %s %s", c.Signing.DevSigningCert, c.Signing.DevSigningKey)
	}
	if c.Build.RmWork {
		t.Error("rm_work although the template leaves it commented out")
	}
	// build-manifest's eight lines, in order, after setupoe.
	var steps []string
	for _, s := range p.Steps {
		if s.Kind == config.KindBitbake {
			steps = append(steps, s.Machine+":"+strings.Join(s.Images, ","))
		}
	}
	want := "openxt-installer:xenclient-installer-image xenclient-stubdomain:xenclient-stubdomain-initramfs-image " +
		"xenclient-dom0:xenclient-dom0-image xenclient-uivm:xenclient-uivm-image xenclient-ndvm:xenclient-ndvm-image " +
		"xenclient-syncvm:xenclient-syncvm-image usbvm:usbvm-image xenclient-dom0:package-index"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("plan steps:\n%s\nwant:\n%s", got, want)
	}
	// images-manifest: usbvm's file entry is taken over row for row.
	var usb *config.RepoImage
	for i := range c.Repo {
		if c.Repo[i].Source == "usbvm-image" {
			usb = &c.Repo[i]
		}
	}
	if usb == nil || *usb != (config.RepoImage{Step: "usbvm", ID: "file", Source: "usbvm-image", Type: "ext4.disk.vhd.gz", Destination: "usbvm.vhd", Mount: "/storage/disks/"}) {
		t.Errorf("usbvm repository entry %+v (all: %+v)", usb, c.Repo)
	}
	extra := strings.Join(c.LocalConf.Extra, "\n")
	for _, w := range []string{`MIRRORS += "`, "https://www.seabios.org/downloads/", `GLIBC_GENERATE_LOCALES += "`, `XENCLIENT_PACKAGE_FEED_URI ?= "file:///storage/ipk"`, `SSTATE_DUPWHITELIST`} {
		if !strings.Contains(extra, w) {
			t.Errorf("[local_conf] extra lacks %q:\n%s", w, extra)
		}
	}
	wantNotes(t, m,
		"CONF_VERSION: xtbuild writes the CONF_VERSION",
		"KERNEL_MODULE_SIG_CERT: `mage keys` makes kernel_cert.pem",
		"require openxt.conf: xtbuild writes the build identity",
		"REPO_DEV_SIGNING_DEV (sic)",
		"the Yocto series is not part of a bordel template",
	)
}

// A build dir bordel configured: auto.conf's paths point at the existing
// caches, rm_work and the sstate mirror carry over.
func TestMigrateBordelBuildDir(t *testing.T) {
	m, c, _ := migrateAndPlan(t, "testdata/migrate/bordel-build", "testdata/migrate/bordel-build.xtbuild.toml")
	abs, _ := filepath.Abs("testdata/migrate/bordel-build")
	if c.Paths.Downloads != filepath.Join(abs, "downloads") || c.Paths.CertsDir != filepath.Join(abs, "certs") || c.Mirrors.OpenXTGit != filepath.Join(abs, "mirror") {
		t.Errorf("paths: downloads %s certs %s git mirror %s", c.Paths.Downloads, c.Paths.CertsDir, c.Mirrors.OpenXTGit)
	}
	if !c.Build.RmWork || strings.Join(c.Mirrors.Sstate, " ") != "http://sstate.example.org/openxt/PATH" || c.Build.Distro != "openxt-main" {
		t.Errorf("rm_work %v sstate %v distro %s", c.Build.RmWork, c.Mirrors.Sstate, c.Build.Distro)
	}
	wantNotes(t, m, "DEPLOY_DIR: xtbuild collects deploy files", "OPENXT_TAG")
}

// The kind is told from the content: a manifest under any name, a .config.
func TestMigrateDetectsInputKind(t *testing.T) {
	dir := t.TempDir()
	xml, _ := os.ReadFile("testdata/migrate/manifest-master.xml")
	os.WriteFile(filepath.Join(dir, "whatever.config"), xml, 0o644)
	m, err := config.MigratePath(filepath.Join(dir, "whatever.config"), dir)
	if err != nil || m.Kind != config.InputManifest {
		t.Errorf("manifest content: %v %v", m, err)
	}
	sh, _ := os.ReadFile("testdata/migrate/buildbot.config")
	os.WriteFile(filepath.Join(dir, "default.xml"), sh, 0o644)
	m, err = config.MigratePath(filepath.Join(dir, "default.xml"), dir)
	if err != nil || m.Kind != config.InputShellConfig {
		t.Errorf(".config content: %v %v", m, err)
	}
	os.WriteFile(filepath.Join(dir, "pom.xml"), []byte("<?xml version=\"1.0\"?>\n<project/>\n"), 0o644)
	if _, err := config.MigratePath(filepath.Join(dir, "pom.xml"), dir); err == nil || !strings.Contains(err.Error(), "root <project>") {
		t.Errorf("other XML: %v", err)
	}
	if _, err := config.MigratePath(t.TempDir(), dir); err == nil || !strings.Contains(err.Error(), "neither bblayers.conf") {
		t.Errorf("empty dir: %v", err)
	}
}
