package targets

import (
	"slices"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/buildbot"
	"github.com/xtbuild/xtbuild/config"
)

func profileConfig(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	c, err := config.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c.Buildbot.ConfigRepo = "https://example.org/openxt-build.git"
	if edit != nil {
		edit(c)
	}
	t.Setenv(c.Buildbot.WorkerPasswordEnv, "pw")
	return c
}

// Config steps are not Mage targets (package-index, copy, extra_pkgs
// have none): the builder runs them as `step NAME`; only setupoe keeps its
// own target.
func TestBuildbotConfigRunsStepsByName(t *testing.T) {
	c := profileConfig(t, func(c *config.Config) { c.Build.Steps = append(c.Build.Steps, "license") })
	bc, err := buildbotConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if bc.Fanout {
		t.Error("one worker: fan-out without asking for it")
	}
	args := map[string][]string{}
	var names []string
	for _, s := range bc.Steps {
		args[s.Name] = s.Args
		names = append(names, s.Name)
	}
	for name, want := range map[string][]string{
		"setupoe":       {"setupoe"},
		"package-index": {"step", "package-index"},
		"dom0":          {"step", "dom0"},
		"license":       {"step", "license"},
	} {
		if !slices.Equal(args[name], want) {
			t.Errorf("step %s runs %v, want %v", name, args[name], want)
		}
	}
	// Dependencies first (stubinitramfs before dom0 before package-index).
	if i, j, k := slices.Index(names, "stubinitramfs"), slices.Index(names, "dom0"), slices.Index(names, "package-index"); i < 0 || !(i < j && j < k) {
		t.Errorf("step order %v", names)
	}
	// The generated file says so too.
	out, err := buildbot.Generate(bc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `target("package-index", ["./xtbuild","step","package-index"]))`) {
		t.Errorf("master.cfg does not run package-index as a step:\n%s", out)
	}
}

func TestBuildbotConfigFanout(t *testing.T) {
	tests := []struct {
		name    string
		workers []string
		mode    string
		want    bool
	}{
		{"one worker auto", []string{"w1"}, "auto", false},
		{"two workers auto", []string{"w1", "w2"}, "auto", true},
		{"two workers off", []string{"w1", "w2"}, "off", false},
		{"one worker on", []string{"w1"}, "on", true},
		{"unset", []string{"w1", "w2"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := profileConfig(t, func(c *config.Config) {
				c.Buildbot.Workers, c.Buildbot.Fanout = tt.workers, tt.mode
				c.Build.Steps = append(c.Build.Steps, "license", "ship")
			})
			bc, err := buildbotConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			if bc.Fanout != tt.want {
				t.Fatalf("fanout %v, want %v", bc.Fanout, tt.want)
			}
			kinds := map[string]string{}
			deps := map[string][]string{}
			for _, s := range bc.Steps {
				kinds[s.Name], deps[s.Name] = s.Kind, s.Depends
			}
			for name, want := range map[string]string{
				"setupoe": buildbot.Setup, "installer": buildbot.Parallel, "dom0": buildbot.Parallel,
				"package-index": buildbot.Parallel, "license": buildbot.Final, "ship": buildbot.Final,
			} {
				if kinds[name] != want {
					t.Errorf("%s: kind %q, want %q", name, kinds[name], want)
				}
			}
			// Only bitbake steps are dependencies among step builders.
			if !slices.Equal(deps["dom0"], []string{"stubinitramfs"}) || len(deps["installer"]) != 0 {
				t.Errorf("depends: dom0 %v, installer %v", deps["dom0"], deps["installer"])
			}
			if _, err := buildbot.Generate(bc); err != nil {
				t.Fatal(err)
			}
		})
	}
}
