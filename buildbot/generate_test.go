package buildbot

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func openxtConfig() Config {
	return Config{
		Builder:      "openxt",
		ConfigRepo:   "https://example.org/openxt-build.git",
		ConfigBranch: "main",
		Compile:      []string{"go", "run", "mage.go", "-compile", "./xtbuild"},
		Command:      []string{"./xtbuild"},
		Steps: []Step{
			{Name: "setupoe", Kind: Setup},
			{Name: "initramfs", Args: []string{"step", "initramfs"}, Kind: Parallel},
			{Name: "dom0", Args: []string{"step", "dom0"}, Kind: Parallel, Depends: []string{"initramfs"}},
			{Name: "ndvm", Args: []string{"step", "ndvm"}, Kind: Parallel},
			{Name: "uivm", Args: []string{"step", "uivm"}, Kind: Parallel},
			{Name: "installer", Args: []string{"step", "installer"}, Kind: Parallel},
			{Name: "package-index", Args: []string{"step", "package-index"}, Kind: Parallel, Depends: []string{"dom0"}},
			{Name: "ship", Args: []string{"step", "ship"}, Kind: Final},
		},
		Sign:               "sign",
		Upload:             "upload",
		Env:                map[string]string{"XTBUILD_RELEASE": "1", "XTBUILD_LOCKED": "1"},
		BuildNumberEnv:     "XTBUILD_BUILD_NUMBER",
		Workers:            []Worker{{Name: "longhaul", Password: `pa"ss'\word`}},
		Projects:           []string{"openxt"},
		Branches:           []string{"master"},
		TreeStableTimer:    5 * time.Minute,
		ChangeHookAuthFile: "changehook.passwd",
		PBChangeUser:       "pbchange",
		PBChangePassword:   "changepw",
	}
}

// fanoutConfig is openxtConfig fanned out over three workers, force
// builds behind a login, listening on IPv6 loopback.
func fanoutConfig() Config {
	c := openxtConfig()
	c.Fanout = true
	c.Workers = []Worker{{Name: "w1", Password: "pw1"}, {Name: "w2", Password: "pw2", MaxBuilds: 2}, {Name: "w3", Password: "pw3"}}
	c.ForceAuthFile = "force.passwd"
	c.Listen = "::1"
	return c
}

func TestGenerateGolden(t *testing.T) {
	for _, tt := range []struct {
		golden string
		cfg    Config
	}{
		{"master.cfg.golden", openxtConfig()},
		{"master-fanout.cfg.golden", fanoutConfig()},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := Generate(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("master.cfg differs from %s (run with -update after checking):\n%s", golden, got)
			}
		})
	}
}

func TestLevels(t *testing.T) {
	levels, err := Levels(openxtConfig().Steps)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, l := range levels {
		var names []string
		for _, s := range l {
			names = append(names, s.Name)
		}
		got = append(got, names)
	}
	want := [][]string{{"initramfs", "ndvm", "uivm", "installer"}, {"dom0"}, {"package-index"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("levels %v, want %v", got, want)
	}
}

// An IPv6 listen address must reach Twisted with its colons escaped.
func TestEndpointEscapesIPv6(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "tcp:9989:interface=127.0.0.1",
		"::1":       `tcp:9989:interface=\:\:1`,
		"fd00::2":   `tcp:9989:interface=fd00\:\:2`,
	} {
		if got := endpoint(9989, in); got != want {
			t.Errorf("endpoint(%q) = %q, want %q", in, got, want)
		}
	}
	c := openxtConfig()
	c.Listen = "::1"
	out, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `c['buildbotURL'] = "http://[::1]:8010/"`) {
		t.Errorf("URL for ::1 not bracketed:\n%s", out)
	}
}

// TestGeneratedConfigPassesCheckconfig runs the real `buildbot checkconfig`
// on the generated file: it executes the Python and builds every object.
func TestGeneratedConfigPassesCheckconfig(t *testing.T) {
	requireBuildbot(t)
	t.Parallel()
	for name, cfg := range map[string]Config{"single": openxtConfig(), "fanout": fanoutConfig()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, f := range []string{"changehook.passwd", "force.passwd"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("poller:secret\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(filepath.Join(dir, "master.cfg"), cfg); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(filepath.Join(dir, "master.cfg")); fi.Mode().Perm() != 0o600 {
				t.Fatalf("master.cfg mode %v, want 0600", fi.Mode().Perm())
			}
			// Without the web plugin on the path (no buildbot-www here)
			// the config says what to run instead of failing later.
			out, err := exec.Command("buildbot", "checkconfig", dir).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "PYTHONPATH="+filepath.Join(dir, WebPluginDir)+" buildbot start "+dir) {
				t.Errorf("checkconfig without a web UI: %v, want the fix named\n%s", err, out)
			}
			out, err = masterCommand(dir, "checkconfig").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Config file is good") {
				t.Fatalf("buildbot checkconfig: %v\n%s", err, out)
			}
		})
	}
}

func TestGenerateRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bad builder", func(c *Config) { c.Builder = "a b" }, "builder name"},
		{"no steps", func(c *Config) { c.Steps = nil }, "at least one step"},
		{"flag as step", func(c *Config) { c.Steps = []Step{{Name: "x", Args: []string{"-v"}}} }, "not a Mage target"},
		{"space in step", func(c *Config) { c.Steps = []Step{{Name: "a b"}} }, "use letters"},
		{"duplicate step", func(c *Config) { c.Steps = []Step{{Name: "dom0"}, {Name: "dom0"}} }, "listed twice"},
		{"reserved step", func(c *Config) { c.Steps = []Step{{Name: "report"}} }, "listed twice"},
		{"bad listen", func(c *Config) { c.Listen = "127.0.0.1 x" }, "not an IP address"},
		{"fanout kind", func(c *Config) { c.Fanout = true; c.Steps[1].Kind = "" }, "is not setup, parallel or final"},
		{"fanout final dep", func(c *Config) { c.Fanout = true; c.Steps[1].Depends = []string{"ship"} }, "only a parallel step"},
		{"fanout step named final", func(c *Config) { c.Fanout = true; c.Steps[1].Name = "final" }, "listed twice"},
		{"fanout cycle", func(c *Config) { c.Fanout = true; c.Steps[1].Depends = []string{"dom0"} }, "dependency cycle"},
		{"bad env", func(c *Config) { c.Env = map[string]string{"A-B": "1"} }, "not a variable name"},
		{"no workers", func(c *Config) { c.Workers = nil }, "at least one worker"},
		{"half PB", func(c *Config) { c.PBChangePassword = "" }, "both user and password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openxtConfig()
			tt.edit(&c)
			if _, err := Generate(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// requireBuildbot skips when Debian's buildbot is not installed, except in
// CI (CI set), where its absence is a failure.
func requireBuildbot(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"buildbot", "buildbot-worker", "git"} {
		testenv.LookPath(t, bin, bin)
	}
}

// masterCommand runs `buildbot VERB dir` the way docs/buildbot.md says to
// on a host without buildbot-www: with the plugin Write put beside
// master.cfg on PYTHONPATH.
func masterCommand(dir, verb string) *exec.Cmd {
	cmd := exec.Command("buildbot", verb, dir)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(dir, WebPluginDir))
	return cmd
}
