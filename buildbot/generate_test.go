package buildbot

import (
	"bytes"
	"flag"
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
		Builder:            "openxt",
		ConfigRepo:         "https://example.org/openxt-build.git",
		ConfigBranch:       "main",
		Compile:            []string{"go", "run", "mage.go", "-compile", "./xtbuild"},
		Command:            []string{"./xtbuild"},
		Steps:              []string{"setupoe", "initramfs", "dom0", "ndvm", "uivm", "installer", "ship"},
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

func TestGenerateGolden(t *testing.T) {
	got, err := Generate(openxtConfig())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "master.cfg.golden")
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
}

// TestGeneratedConfigPassesCheckconfig runs the real `buildbot checkconfig`
// on the generated file: it executes the Python and builds every object.
func TestGeneratedConfigPassesCheckconfig(t *testing.T) {
	requireBuildbot(t)
	dir := t.TempDir()
	cfg := openxtConfig()
	if err := os.WriteFile(filepath.Join(dir, "changehook.passwd"), []byte("poller:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "master.cfg"), cfg); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "master.cfg")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.cfg mode %v, want 0600", fi.Mode().Perm())
	}
	out, err := exec.Command("buildbot", "checkconfig", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Config file is good") {
		t.Fatalf("buildbot checkconfig: %v\n%s", err, out)
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
		{"flag as step", func(c *Config) { c.Steps = []string{"-v"} }, "not a Mage target"},
		{"duplicate step", func(c *Config) { c.Steps = []string{"dom0", "dom0"} }, "listed twice"},
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
