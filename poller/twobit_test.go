package poller

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEvalSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"300", 300, false},
		{"60*5", 300, false},
		{" 60 * 60 * 2 ", 7200, false},
		{"(1+2)*60", 180, false},
		{"90/60", 1, false}, // Python 2: int / int floors
		{"90/60.0", 1.5, false},
		{"7//2", 3, false},
		{"-7 % 3", 2, false},
		{"2**3*10", 80, false},
		{"1.5e2", 150, false},
		{"60*", 0, true},
		{"1/0", 0, true},
		{"010", 0, true},
		{"__import__('os').system('id')", 0, true},
		{"60*5 # five minutes", 0, true},
	}
	for _, tt := range tests {
		got, err := evalSeconds(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("evalSeconds(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestParseINIPython2Rules checks the value rules of Python 2's ConfigParser,
// which twobit used: ';' starts an inline comment only after whitespace, '#'
// never does; lines starting with '#', ';' or "rem" are comments, indented
// lines continue a value.
func TestParseINIPython2Rules(t *testing.T) {
	f, err := parseINI([]byte(`[DEFAULT]
a = x ; comment
b = x;y
c = x # not a comment
d: ;starts with a semicolon
e = ""
rem this line is a comment
REM so is this
; and this
# and this
f = ['p1',
  # a Python comment inside the list
  'p2']
g = 100%% %(a)s
h = 100%%
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "x", "b": "x;y", "c": "x # not a comment", "d": ";starts with a semicolon", "e": "",
		"f": "['p1',\n# a Python comment inside the list\n'p2']", "g": "100% x", "h": "100%%"}
	for k, v := range want {
		if got, _ := f.get("x", k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(f.defaults) != len(want) {
		t.Errorf("keys: %v", f.defaults)
	}
	projects, err := parsePyList(want["f"])
	if err != nil || !slices.Equal(projects, []string{"p1", "p2"}) {
		t.Errorf("projects %q, %v", projects, err)
	}
}

func writeINI(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "twobit.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTwobitCompatibility(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Load(writeINI(t, dir, `[DEFAULT]
basedir = /srv/git
poll-interval = 60*5
hook-script = /bin/true
hook-master = localhost
hook-port = 9989
hook-user = u
hook-passwd = p ; the password
hook-logfile = /tmp/l

[meta-x]
type = git
url = https://example.org/meta-x.git ; upstream
subdir = layers
hook-projects = ['x']

[local]
type = git
url = ../upstream/local-repo
gitdir = local.git

[openxt]
type = org
name = OpenXT
subdir = openxt
poll-interval = (60*2)
`))
	if err != nil {
		t.Fatal(err)
	}
	mx, local, org := cfg.Repos[0], cfg.Repos[1], cfg.Orgs[0]
	if mx.PollInterval.D() != 5*time.Minute || org.PollInterval.D() != 2*time.Minute || org.WalkInterval.D() != 2*time.Minute {
		t.Errorf("poll-interval arithmetic: %v %v %v", mx.PollInterval.D(), org.PollInterval.D(), org.WalkInterval.D())
	}
	if mx.URL != "https://example.org/meta-x.git" {
		t.Errorf("inline comment kept in url: %q", mx.URL)
	}
	if mx.GitDir != "/srv/git/layers/meta-x.git" {
		t.Errorf("subdir of a git section: gitdir %q", mx.GitDir)
	}
	if org.BaseDir != "/srv/git/openxt" {
		t.Errorf("subdir of an org: basedir %q", org.BaseDir)
	}
	if want := filepath.Join(filepath.Dir(dir), "upstream", "local-repo"); local.URL != want {
		t.Errorf("relative url = %q, want %q (the config file's directory)", local.URL, want)
	}
	if !slices.Contains(cfg.Hooks[0].Command, "--auth=p") {
		t.Errorf("hook argv %q", cfg.Hooks[0].Command)
	}

	refused := []struct{ name, ini, want string }{
		{"gitdir climbing out", "[r]\ntype = git\nbasedir = /srv/git\nurl = https://h/r.git\ngitdir = ../../etc/r.git\n", "leaves"},
		{"absolute gitdir elsewhere", "[r]\ntype = git\nbasedir = /srv/git\nurl = https://h/r.git\ngitdir = %(basedir)s/../r.git\n", "leaves"},
		{"subdir climbing out", "[r]\ntype = git\nbasedir = /srv/git\nurl = https://h/r.git\nsubdir = ../..\n", "leaves"},
		{"'#' comment in url", "[r]\ntype = git\nbasedir = /srv/git\nurl = https://h/r.git # note\n", "whitespace"},
		{"code in poll-interval", "[r]\ntype = git\nbasedir = /srv/git\nurl = https://h/r.git\npoll-interval = __import__('os')\n", "poll-interval"},
	}
	for _, tt := range refused {
		_, err := Load(writeINI(t, t.TempDir(), tt.ini))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

// TestRelativeURLFromConfigDir runs a poll from another working directory:
// a relative repository path is the config file's neighbour, as in git.
func TestRelativeURLFromConfigDir(t *testing.T) {
	root := t.TempDir()
	newUpstream(t, filepath.Join(root, "up"))
	cfgPath := filepath.Join(root, "xtpoll.toml")
	os.WriteFile(cfgPath, []byte("basedir = 'm'\n[[repo]]\nurl = 'up'\nmirror_only = true\n"), 0o644)
	t.Chdir(t.TempDir())
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if res := mustCycle(t, p); res.Cloned != 1 || res.Failed != 0 {
		t.Fatalf("cycle %+v", res)
	}
}

// TestCredentialsNotLogged polls unreachable repositories whose URLs carry a
// password and a token: neither may appear in the log or the state file.
func TestCredentialsNotLogged(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "m"), Timeout: Duration(5 * time.Second),
		Repos: []RepoConfig{
			{URL: "http://alice:pw-s3cret@127.0.0.1:1/x.git"},
			{URL: "https://tok3n-abcdef@127.0.0.1:1/y.git"},
			{URL: up},
		},
		Hooks: []HookConfig{{Name: "h", Command: []string{"true"}}}})
	var log bytes.Buffer
	p, err := New(cfg, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, _ := p.Cycle(context.Background())
	if res.Failed != 2 {
		t.Fatalf("cycle %+v\n%s", res, log.String())
	}
	state, _ := os.ReadFile(cfg.StateFile)
	for _, secret := range []string{"pw-s3cret", "tok3n-abcdef"} {
		if strings.Contains(log.String(), secret) || strings.Contains(string(state), secret) {
			t.Errorf("%s in clear:\n%s\n%s", secret, log.String(), state)
		}
	}
	if !strings.Contains(log.String(), "alice:xxxxx@127.0.0.1") {
		t.Errorf("log does not name the repository:\n%s", log.String())
	}
}
