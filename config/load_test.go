package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileLoadsWithoutFile(t *testing.T) {
	c, err := Parse("", nil, "/srv/x", nil)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	// bordel's templates/master/build-manifest, in order.
	if got := strings.Join(c.Build.Steps, ","); got != "setupoe,installer,stubinitramfs,dom0,uivm,ndvm,syncvm,usbvm,package-index" {
		t.Errorf("default steps = %s", got)
	}
	for _, s := range []string{"stubinitramfs", "dom0", "uivm", "ndvm", "syncvm", "usbvm", "installer", "package-index", "license", "ship"} {
		if _, ok := c.Steps[s]; !ok {
			t.Errorf("profile lacks OpenXT step %s", s)
		}
	}
	if c.Steps["dom0"].Machine != "xenclient-dom0" || c.Steps["installer"].Machine != "openxt-installer" {
		t.Errorf("machines: dom0=%s installer=%s", c.Steps["dom0"].Machine, c.Steps["installer"].Machine)
	}
	if l, _ := c.Layer("xenclient-oe"); l.URL != "https://github.com/OpenXT/xenclient-oe.git" || l.Branch != "master" {
		t.Errorf("xenclient-oe layer resolved to %+v", l)
	}
	if c.BuildDir() != "/srv/x/build" {
		t.Errorf("build dir %s", c.BuildDir())
	}
	if len(c.Source.Hash) != 64 {
		t.Errorf("hash %q", c.Source.Hash)
	}
}

// Every class of config mistake, with the exact message a user sees.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"unknown key with suggestion", "[build]\nbranhc = \"x\"\n",
			[]string{`cfg.toml:2: build.branhc: unknown key (did you mean "branch"?)`}},
		{"unknown table", "[bulid]\nid = \"1\"\n",
			[]string{`cfg.toml:2: bulid.id: unknown key`, `cfg.toml:1: bulid: unknown key (did you mean "build"?)`}},
		{"unknown key in array of tables", "[[layer]]\nname = \"a\"\nurl = \"/a\"\nbranch = \"m\"\n\n[[layer]]\nname = \"b\"\nurl = \"/b\"\nbranch = \"m\"\nsublayer = [\".\"]\n",
			[]string{`cfg.toml:10: layer.sublayer: unknown key (did you mean "sublayers"?)`}},
		{"unknown key in step", "[steps.dom0]\nmachin = \"x\"\n",
			[]string{`cfg.toml:2: steps.dom0.machin: unknown key (did you mean "machine"?)`}},
		{"wrong type", "[build]\nthreads = \"eight\"\n",
			[]string{`cfg.toml:2: build.threads: wrong type: value is string, want integer`}},
		{"wrong type in array", "[build]\nsteps = \"dom0\"\n",
			[]string{`cfg.toml:2: build.steps: wrong type: value is string, want slice`}},
		{"syntax error", "[build\nid = \"1\"\n",
			[]string{`cfg.toml:1: expected '.' or ']' to end table name, but got '\n' instead`}},
		{"missing required", "[build]\nbranch = \"\"\n",
			[]string{`cfg.toml:2: build.branch: missing required value`}},
		{"missing layer url", "[[layer]]\nname = \"a\"\nbranch = \"m\"\n",
			[]string{`cfg.toml:1: layer[0].url: missing required value`}},
		{"bad id", "[build]\nid = \"12a\"\n",
			[]string{`cfg.toml:2: build.id: invalid build id "12a": digits only`}},
		{"unknown step in list", "[build]\nsteps = [\"dom0\", \"dom1\"]\n",
			[]string{`cfg.toml:2: build.steps[1]: unknown step "dom1" (known: copy, dom0, installer, license, ndvm, package-index, setupoe, ship, stubinitramfs, syncvm, uivm, usbvm)`}},
		{"unknown dependency", "[steps.dom0]\ndepends = [\"stubinitramfs\", \"nope\"]\n",
			[]string{`cfg.toml:2: steps.dom0.depends[1]: depends on unknown step "nope" (known: copy, dom0, installer, license, ndvm, package-index, setupoe, ship, stubinitramfs, syncvm, uivm, usbvm)`}},
		{"dependency cycle", "[steps.stubinitramfs]\ndepends = [\"dom0\"]\n",
			[]string{`cfg.toml:2: steps.stubinitramfs.depends: dependency cycle: stubinitramfs -> dom0 -> stubinitramfs`}},
		{"relative stage", "[fanout]\nstage = \"stage\"\n",
			[]string{`cfg.toml:2: fanout.stage: "stage": want a clean absolute directory every worker mounts, such as /srv/xtbuild-stage`}},
		{"unclean stage", "[fanout]\nstage = \"/srv/../stage\"\n",
			[]string{`cfg.toml:2: fanout.stage: "/srv/../stage": want a clean absolute directory every worker mounts, such as /srv/xtbuild-stage`}},
		{"escaping relative path", "[paths]\nbuild_dir = \"../../etc\"\n",
			[]string{`cfg.toml:2: paths.build_dir: relative path "../../etc" escapes its base directory; use an absolute path`}},
		{"escaping layer path", "[[layer]]\nname = \"a\"\nurl = \"/a\"\nbranch = \"m\"\npath = \"../../x\"\n",
			[]string{`cfg.toml:5: layer[0].path: relative path "../../x" escapes its base directory; use an absolute path`}},
		{"unquotable conf value", "[build]\ndistro = \"a\\\"b'c\"\n",
			[]string{`cfg.toml:2: build.distro: cannot be written to local.conf: value cannot be written as a BitBake string: contains both ' and "`}},
		{"bad extra line", "[local_conf]\nextra = ['FOO = bar']\n",
			[]string{`cfg.toml:2: local_conf.extra[0]: not valid BitBake syntax: value must be quoted: FOO = bar`}},
		{"unsupported release", "[build]\nrelease = \"pyro\"\n",
			[]string{`cfg.toml:2: build.release: unsupported Yocto release "pyro" (supported: zeus, dunfell, kirkstone, langdale, mickledore, nanbield, scarthgap, styhead, walnascar)`}},
		{"branch and tag", "[[layer]]\nname = \"a\"\nurl = \"/a\"\nbranch = \"m\"\ntag = \"v1\"\n",
			[]string{`cfg.toml:5: layer[0].tag: set branch or tag, not both`}},
		{"bad commit", "[[layer]]\nname = \"a\"\nurl = \"/a\"\ncommit = \"abc\"\n",
			[]string{`cfg.toml:4: layer[0].commit: want a full 40-digit lower-case commit id, got "abc"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cfg.toml", []byte(tt.toml), "/srv", nil)
			if err == nil {
				t.Fatal("no error")
			}
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("error type %T: %v", err, err)
			}
			if es.ExitStatus() != 2 {
				t.Errorf("exit status %d", es.ExitStatus())
			}
			got := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("missing error\n want: %s\n  got: %s", w, strings.Join(got, "\n       "))
				}
			}
		})
	}
}

func TestStepOverrideMergesKeyByKey(t *testing.T) {
	c, err := Parse("cfg.toml", []byte("[steps.dom0]\nmachine = \"my-dom0\"\n\n[steps.mytool]\nmachine = \"m\"\nimages = [\"my-image\"]\n"), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Steps["dom0"]
	if d.Machine != "my-dom0" || len(d.Images) != 1 || d.Images[0] != "xenclient-dom0-image" || len(d.Depends) != 1 || d.Depends[0] != "stubinitramfs" {
		t.Errorf("dom0 after override: %+v", d)
	}
	if c.Steps["mytool"].Images[0] != "my-image" {
		t.Errorf("new step missing")
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{"XTBUILD_ID": "42", "XTBUILD_STEPS": "dom0, uivm", "XTBUILD_THREADS": "16", "XTBUILD_BRANCH": "stable-9", "XTBUILD_FANOUT_STAGE": "/srv/stage"}
	c, err := Parse("cfg.toml", []byte("[build]\nid = \"1\"\nthreads = 4\n"), "/srv", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Build.ID != "42" || c.Build.Threads != 16 || strings.Join(c.Build.Steps, ",") != "dom0,uivm" || c.Build.Branch != "stable-9" {
		t.Errorf("overrides not applied: %+v", c.Build)
	}
	if c.Fanout.Stage != "/srv/stage" {
		t.Errorf("fanout.stage %q", c.Fanout.Stage)
	}
	// openxt layers follow the overridden branch.
	if l, _ := c.Layer("xenclient-oe"); l.Branch != "stable-9" {
		t.Errorf("xenclient-oe branch %s", l.Branch)
	}
	_, err = Parse("cfg.toml", nil, "/srv", func(k string) string {
		if k == "XTBUILD_THREADS" {
			return "many"
		}
		return ""
	})
	if err == nil || err.Error() != `environment: XTBUILD_THREADS: not an integer: "many"` {
		t.Errorf("bad env error = %v", err)
	}
}

func TestEnvSelectsConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "other.toml")
	os.WriteFile(p, []byte("[build]\nid = \"7\"\n"), 0o644)
	c, err := Load("", func(k string) string {
		if k == "XTBUILD_CONFIG" {
			return p
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Build.ID != "7" || c.Source.Dir != dir {
		t.Errorf("loaded %+v from %s", c.Build, c.Source.Dir)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml"), nil); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file error = %v", err)
	}
}

func TestOptions(t *testing.T) {
	o, err := LoadOptions(func(k string) string {
		return map[string]string{"XTBUILD_LOCKED": "1", "XTBUILD_FORCE": "yes", "XTBUILD_JOBS": "3", "XTBUILD_EXEC_GIT": "1"}[k]
	})
	if err != nil || !o.Locked || !o.Force || o.Jobs != 3 || o.Release || !o.ExecGit || o.FullHistory {
		t.Errorf("options %+v, %v", o, err)
	}
	if _, err := LoadOptions(func(k string) string {
		if k == "XTBUILD_LOCKED" {
			return "perhaps"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "XTBUILD_LOCKED: not a boolean") {
		t.Errorf("bad option error = %v", err)
	}
}

// XTBUILD_WORKER names the worker; without it the host name does.
func TestWorkerOption(t *testing.T) {
	o, err := LoadOptions(func(k string) string { return map[string]string{"XTBUILD_WORKER": " worker-2 "}[k] })
	if err != nil || o.Worker != "worker-2" || o.WorkerName() != "worker-2" {
		t.Errorf("options %+v, %v", o, err)
	}
	host, _ := os.Hostname()
	if o, _ := LoadOptions(func(string) string { return "" }); o.WorkerName() != host || host == "" {
		t.Errorf("default worker %q, host %q", o.WorkerName(), host)
	}
	if _, err := LoadOptions(func(k string) string { return map[string]string{"XTBUILD_WORKER": "a/b"}[k] }); err == nil || !strings.Contains(err.Error(), "XTBUILD_WORKER") {
		t.Errorf("worker with a slash: %v", err)
	}
}

func TestHashStable(t *testing.T) {
	a, _ := Parse("cfg.toml", []byte("[build]\nid = \"1\"\n"), "/srv", nil)
	b, _ := Parse("cfg.toml", []byte("# comment\n[build]\nid = \"1\"\n"), "/srv", nil)
	c, _ := Parse("cfg.toml", []byte("[build]\nid = \"2\"\n"), "/srv", nil)
	if a.Source.Hash != b.Source.Hash {
		t.Error("comment changed the config hash")
	}
	if a.Source.Hash == c.Source.Hash {
		t.Error("different id, same hash")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[build]\nid = \"1\"\n"))
	f.Add([]byte("[[layer]]\nname = \"a\"\nurl = \"/a\"\nbranch = \"m\"\n[steps.x]\nmachine='m'\nimages=['i']\ndepends=['x']\n"))
	f.Add([]byte("[local_conf]\nextra = ['A = \"b\"', \"\"\"\nx\"\"\"]\n"))
	f.Add(ProfileTOML())
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("fuzz.toml", src, "/srv", nil)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range err.(Errors) {
				if e.Line < 0 || e.Line > strings.Count(string(src), "\n")+1 {
					t.Fatalf("line %d out of range: %v", e.Line, e)
				}
			}
			return
		}
		// A config that loads must plan and produce BitBake-valid values.
		if c.Source.Hash == "" {
			t.Fatal("loaded config without hash")
		}
	})
}

// Tables in a file replace the profile's, as docs/config.md says: a
// [recipes.images] table is the whole image map, not merged into the
// profile's (only [steps.X] and [boards.X] merge key by key).
func TestFileMapsReplaceProfileMaps(t *testing.T) {
	c, err := Parse("cfg.toml", []byte("[recipes.images]\ncore-image-minimal = [\"tpm\"]\n\n[buildbot.env]\nXTBUILD_LOCKED = \"1\"\n"), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Recipes.Images) != 1 || strings.Join(c.Recipes.Images["core-image-minimal"], ",") != "tpm" {
		t.Errorf("recipes.images = %v, want only core-image-minimal", c.Recipes.Images)
	}
	p, _ := Parse("", nil, "/srv", nil)
	if len(p.Recipes.Images) == 0 {
		t.Error("profile lost its recipes.images")
	}
	if len(c.Buildbot.Env) != 1 {
		t.Errorf("buildbot.env = %v", c.Buildbot.Env)
	}
}

// [mirrors.layers] points layers at other URLs (local clones, a mirror)
// without restating the profile's [[layer]] list; board layers too.
func TestLayerURLOverrides(t *testing.T) {
	c, err := Parse("cfg.toml", []byte("[mirrors.layers]\nxenclient-oe = \"file:///srv/repos/xenclient-oe\"\nbitbake = \"/srv/repos/bitbake\"\n"), "/srv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Layer("xenclient-oe"); l.URL != "file:///srv/repos/xenclient-oe" || l.Branch != "master" {
		t.Errorf("xenclient-oe %+v", l)
	}
	if l, _ := c.Layer("openembedded-core"); l.URL != "https://github.com/openembedded/openembedded-core.git" {
		t.Errorf("oe-core changed: %+v", l)
	}
	d, err := c.ForBoard("apu1d-scarthgap")
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := d.Layer("bitbake"); l.URL != "/srv/repos/bitbake" || l.Branch != "2.8" {
		t.Errorf("board bitbake %+v", l)
	}
	_, err = Parse("cfg.toml", []byte("[mirrors.layers]\nmeta-nope = \"/x\"\n"), "/srv", nil)
	if err == nil || !strings.Contains(err.Error(), `cfg.toml:2: mirrors.layers.meta-nope: no layer named "meta-nope"`) {
		t.Errorf("unknown layer: %v", err)
	}
}
