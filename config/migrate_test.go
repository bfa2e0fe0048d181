package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateRealisticConfig(t *testing.T) {
	src, err := os.ReadFile("testdata/migrate/buildbot.config")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Migrate(src, "/srv/openxt", "/srv/openxt")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "migrate", "buildbot.xtbuild.toml")
	if *update {
		os.WriteFile(golden, m.TOML, 0o644)
	}
	want, _ := os.ReadFile(golden)
	if !bytes.Equal(m.TOML, want) {
		t.Errorf("migrated TOML differs from %s (run with -update):\n%s", golden, m.TOML)
	}
	// The result loads and means what the .config meant.
	c, err := Parse("xtbuild.toml", m.TOML, "/srv/openxt", nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"branch":      {c.Build.Branch, "stable-9"},
		"oe branch":   {c.Build.OEBranch, "pyro"},
		"name site":   {c.Build.NameSite, "longhaul"},
		"downloads":   {c.Paths.Downloads, "/mnt/openembedded/downloads"},
		"prod cert":   {c.Signing.ProdCACert, "/var/lib/buildbot/slaves/openxt_certs/prod-cacert.pem"},
		"signing key": {c.Signing.DevSigningKey, "/var/lib/buildbot/slaves/openxt_certs/dev-cakey.pem"},
		"upload":      {c.Upload.Destination, "sftp://builds@www.example.org/srv/www/builds"},
		"tarball":     {c.Mirrors.Tarball, "http://openxt.example.org/mirror/"},
		"steps":       {strings.Join(c.Build.Steps, ","), "setupoe,stubinitramfs,dom0,uivm,ndvm,syncvm,installer,license,ship"}, // steps the master profile has
		"feed":        {c.Build.PackageFeedURL, "http://openxt.example.org/builds"},
	}
	for what, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", what, v[0], v[1])
		}
	}
	if c.Build.RmWork || c.Build.CollectLogs || c.Build.Threads != 16 || c.Build.ID != "" {
		t.Errorf("rm_work=%v collect_logs=%v threads=%d id=%q", c.Build.RmWork, c.Build.CollectLogs, c.Build.Threads, c.Build.ID)
	}
	layer := func(n string) Layer { l, _ := c.Layer(n); return l }
	if l := layer("xenclient-oe"); l.URL != "file:///var/lib/git/openxt/xenclient-oe.git" || l.Branch != "stable-9" {
		t.Errorf("xenclient-oe = %+v", l)
	}
	if l := layer("openembedded-core"); l.URL != "file:///var/lib/git/openembedded-core.git" || l.Branch != "pyro" {
		t.Errorf("oe-core = %+v", l)
	}
	if l := layer("bitbake"); l.Branch != "1.34" {
		t.Errorf("bitbake = %+v", l)
	}
	if l := layer("meta-selinux"); l.Commit != "b1dac7e2b8ae3e56c8c1c7cd2a4e9d0b35ad58f2" {
		t.Errorf("meta-selinux = %+v", l)
	}
	if l := layer("meta-java"); l.URL != "git://git.yoctoproject.org/meta-java" || l.Commit != "a73939323984fca1e919d3408d3301ccdbceac9c" {
		t.Errorf("meta-java = %+v", l)
	}
	// Everything not taken over is listed with its line.
	var notes []string
	for _, n := range m.Notes {
		notes = append(notes, n.Text)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{
		"ID=noid: not a numeric build id",
		"ALLOW_SWITCH_BRANCH_FAIL=true: xtbuild never falls back",
		"XC_TOOLS_BUILD: uses command substitution, which is never executed",
		"not an assignment, ignored: if [ -f local.settings ]",
		"STEPS: sdk left out",
		"STEPS: dom0cp: run the dom0 target with XTBUILD_COPY_ONLY=1 instead",
		"CERTDIR=/var/lib/buildbot/slaves/openxt_certs: not understood by xtbuild",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
}

func TestParseShellConfig(t *testing.T) {
	src := "A=1\nB=\"$A two\"\nC='${A}'\nD=${A}x # comment\nexport E=\"multi\nline\"\nF=${UNSET:-dflt}\nG=a\\ b\nH=$(id -u)\nI=\"x\" ; J=y\n"
	as, notes := ParseShellConfig(src)
	got := map[string]string{}
	for _, a := range as {
		got[a.Name] = a.Value
	}
	want := map[string]string{"A": "1", "B": "1 two", "C": "${A}", "D": "1x", "E": "multi\nline", "F": "dflt", "G": "a b", "I": "x"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["H"]; ok || len(notes) != 1 || !strings.Contains(notes[0].Text, "command substitution") {
		t.Errorf("H not refused: %v %v", got["H"], notes)
	}
}

func TestUploadURL(t *testing.T) {
	for in, want := range map[string]string{
		"/home/builds":               "file:///home/builds",
		"builds@host:/srv/www":       "sftp://builds@host/srv/www",
		"builds@host:public_html/xt": "sftp://builds@host/~/public_html/xt",
	} {
		if got := uploadURL(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
