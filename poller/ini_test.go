package poller

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestParseINITwobitConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/twobit-gitpoller.conf")
	if err != nil {
		t.Fatal(err)
	}
	// twobit evaluated poll-interval: [bitbake] says 60*5.
	c, err := ParseINI(data, "/etc/twobit-gitpoller/twobit-gitpoller.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseDir != "/var/lib/twobit-gitpoller" || len(c.Repos) != 3 || len(c.Orgs) != 1 {
		t.Fatalf("config = %+v", c)
	}
	obs, bb, java := c.Repos[0], c.Repos[1], c.Repos[2]
	if obs.GitDir != "/var/lib/twobit-gitpoller/oe-build-scripts.git" || obs.PollInterval.D() != 300*time.Second ||
		!slices.Equal(obs.Projects, []string{"core-image-minimal", "meta-measured", "meta-selinux"}) {
		t.Errorf("oe-build-scripts = %+v", obs)
	}
	if bb.GitDir != "/var/lib/twobit-gitpoller/bitbake.git" || bb.PollInterval.D() != 5*time.Minute || bb.Name != "bitbake" {
		t.Errorf("bitbake = %+v", bb)
	}
	if !java.Mirror || len(java.Projects) != 0 {
		t.Errorf("meta-java should be mirror-only: %+v", java)
	}
	wantArgv := []string{"/usr/share/buildbot/contrib/git_buildbot.py", "--master=localhost:9989", "--username=pbchange",
		"--auth=changeme", "--logfile=/tmp/git_buildbot.log", "--verbose", "--verbose", "--verbose",
		"--project={project}", "--repository={repository}"}
	// Two distinct hook settings (the org overrides the port): two hooks.
	if len(c.Hooks) != 2 || !slices.Equal(c.Hooks[0].Command, wantArgv) || c.Hooks[1].Command[1] != "--master=localhost:9990" {
		t.Fatalf("hooks = %+v", c.Hooks)
	}
	if !slices.Equal(obs.Deliver, []string{"ini-hook-1"}) || !slices.Equal(c.Orgs[0].Deliver, []string{"ini-hook-2"}) {
		t.Errorf("deliver: %v %v", obs.Deliver, c.Orgs[0].Deliver)
	}
	if o := c.Orgs[0]; o.Name != "openxt" || o.API != DefaultGitHubAPI || o.Clone != "https" || o.BaseDir != "/var/lib/twobit-gitpoller/openxt" {
		t.Errorf("org = %+v", o)
	}
}

func TestParsePyList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"[]", nil, false},
		{"['a']", []string{"a"}, false},
		{`['a', "b c",]`, []string{"a", "b c"}, false},
		{`['it\'s']`, []string{"it's"}, false},
		{"'a'", nil, true},
		{"[a]", nil, true},
		{"['a' 'b']", nil, true},
		{"['a", nil, true},
	}
	for _, tt := range tests {
		got, err := parsePyList(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("parsePyList(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestLoadDetectsINI(t *testing.T) {
	p := t.TempDir() + "/poller.conf"
	os.WriteFile(p, []byte("[r]\ntype = git\nbasedir = /srv\nurl = https://example.org/x.git\n"), 0o644)
	c, err := Load(p)
	if err != nil || len(c.Repos) != 1 || c.Repos[0].GitDir != "/srv/x.git" {
		t.Fatalf("Load(ini) = %+v, %v", c, err)
	}
}
