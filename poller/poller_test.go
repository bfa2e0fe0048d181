package poller

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	a, b, c := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	tests := []struct {
		name          string
		before, after Refs
		want          []Event
	}{
		{"unchanged", Refs{"refs/heads/m": a}, Refs{"refs/heads/m": a}, nil},
		{"updated", Refs{"refs/heads/m": a}, Refs{"refs/heads/m": b}, []Event{{a, b, "refs/heads/m"}}},
		{"created", Refs{}, Refs{"refs/tags/v1": c}, []Event{{ZeroRev, c, "refs/tags/v1"}}},
		{"deleted", Refs{"refs/heads/x": a}, Refs{}, []Event{{a, ZeroRev, "refs/heads/x"}}},
		{"mixed, sorted by ref", Refs{"refs/heads/b": a, "refs/heads/a": a}, Refs{"refs/heads/c": b, "refs/heads/a": c},
			[]Event{{a, c, "refs/heads/a"}, {a, ZeroRev, "refs/heads/b"}, {ZeroRev, b, "refs/heads/c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff(tt.before, tt.after); !slices.Equal(got, tt.want) {
				t.Errorf("Diff = %v, want %v", got, tt.want)
			}
		})
	}
}

// sixtyRepos makes n upstream repositories and a poller config over them
// with one recording hook.
func sixtyRepos(t testing.TB, n int) (root string, ups []string, cfg *Config, log string) {
	root = t.TempDir()
	log = filepath.Join(root, "hook.log")
	cfg = &Config{BaseDir: filepath.Join(root, "mirrors"), Parallel: 8}
	for i := range n {
		up := filepath.Join(root, "up", fmt.Sprintf("repo%02d", i))
		newUpstream(t, up)
		ups = append(ups, up)
		cfg.Repos = append(cfg.Repos, RepoConfig{URL: up, Projects: []string{"proj"}})
	}
	cfg.Hooks = []HookConfig{{Name: "rec", Command: []string{recordingHook(t, root, log), "{project}"}, Retries: 0}}
	return root, ups, validated(t, cfg), log
}

func TestSixtyReposOnlyMovedRefsReported(t *testing.T) {
	_, ups, cfg, log := sixtyRepos(t, 60)
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res := mustCycle(t, p)
	if res.Cloned != 60 || res.Failed != 0 || res.Events != 0 {
		t.Fatalf("first cycle = %+v, want 60 clones, no events (the first clone is a baseline)", res)
	}
	if got := readLines(t, log); len(got) != 0 {
		t.Fatalf("first cycle reported %v", got)
	}

	// Move refs in three repositories only: an update; a new branch; a
	// deleted branch plus a new annotated tag.
	old5 := gitc(t, ups[5], "rev-parse", "HEAD")
	new5 := commit(t, ups[5], "change 5", map[string]string{"a.txt": "a\n"})
	gitc(t, ups[17], "branch", "feature")
	head17 := gitc(t, ups[17], "rev-parse", "HEAD")
	gitc(t, ups[42], "branch", "doomed")
	res = mustCycle(t, p) // picks up "doomed" creation first
	if res.Fetched != 3 || res.Events != 3 {
		t.Fatalf("second cycle = %+v, want 3 fetched, 3 events", res)
	}
	head42 := gitc(t, ups[42], "rev-parse", "HEAD")
	gitc(t, ups[42], "branch", "-D", "doomed")
	gitc(t, ups[42], "tag", "-a", "-m", "release", "v1.0")
	tag42 := gitc(t, ups[42], "rev-parse", "refs/tags/v1.0")
	res = mustCycle(t, p)
	if res.Fetched != 1 || res.Events != 2 || res.Failed != 0 {
		t.Fatalf("third cycle = %+v, want 1 fetched, 2 events", res)
	}
	want := []string{
		line("repo05", "proj", old5, new5, "refs/heads/master"),
		line("repo17", "proj", ZeroRev, head17, "refs/heads/feature"),
		line("repo42", "proj", ZeroRev, head42, "refs/heads/doomed"),
		line("repo42", "proj", head42, ZeroRev, "refs/heads/doomed"),
		line("repo42", "proj", ZeroRev, tag42, "refs/tags/v1.0"),
	}
	got := readLines(t, log)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("hook saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Nothing moved: nothing fetched, nothing reported.
	if res = mustCycle(t, p); res.Fetched != 0 || res.Events != 0 || res.Polled != 60 {
		t.Fatalf("idle cycle = %+v", res)
	}
	if n := len(readLines(t, log)); n != len(want) {
		t.Fatalf("idle cycle added lines: %d", n)
	}
	// The mirror pruned the deleted branch like `git fetch --prune` would.
	if out := gitc(t, cfg.Repos[42].GitDir, "for-each-ref", "--format=%(refname)"); strings.Contains(out, "doomed") {
		t.Fatalf("mirror still has the deleted branch:\n%s", out)
	}
}

// TestPostReceiveFormatMatchesGit pushes the same ref changes to a bare
// repository with a real post-receive hook and checks the poller's hook gets
// the very lines git gave.
func TestPostReceiveFormatMatchesGit(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	newUpstream(t, work)
	gitc(t, work, "branch", "old-feature")
	bare := filepath.Join(root, "server.git")
	gitc(t, root, "init", "-q", "--bare", bare)
	gitLog := filepath.Join(root, "git-post-receive.log")
	hook := "#!/bin/sh\ncat >> " + shellQuote(gitLog) + "\n"
	if err := os.WriteFile(filepath.Join(bare, "hooks", "post-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	gitc(t, work, "push", "-q", bare, "refs/heads/*:refs/heads/*")
	os.Remove(gitLog)

	log := filepath.Join(root, "poller.log")
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "mirrors"),
		Repos: []RepoConfig{{URL: bare, Name: "server"}},
		Hooks: []HookConfig{{Name: "rec", Command: []string{recordingHook(t, root, log)}}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCycle(t, p)

	commit(t, work, "more", map[string]string{"b.txt": "b\n"})
	gitc(t, work, "tag", "-a", "-m", "annotated", "v2")
	gitc(t, work, "tag", "light")
	gitc(t, work, "branch", "new-feature")
	gitc(t, work, "push", "-q", bare, "master", "new-feature", "v2", "light", ":old-feature")
	mustCycle(t, p)

	fromGit := readLines(t, gitLog)
	var fromPoller []string
	for _, l := range readLines(t, log) {
		fromPoller = append(fromPoller, l[strings.LastIndexByte(l, '|')+1:])
	}
	slices.Sort(fromGit)
	slices.Sort(fromPoller)
	if len(fromGit) != 5 || !slices.Equal(fromGit, fromPoller) {
		t.Fatalf("git post-receive got\n%s\npoller hook got\n%s", strings.Join(fromGit, "\n"), strings.Join(fromPoller, "\n"))
	}
}

func TestHookFailureRetriedThenDelivered(t *testing.T) {
	root := t.TempDir()
	up := filepath.Join(root, "up")
	newUpstream(t, up)
	log := filepath.Join(root, "hook.log")
	counter := filepath.Join(root, "count")
	// Fails its first three runs, then records.
	script := filepath.Join(root, "flaky.sh")
	body := "#!/bin/sh\nn=$(cat " + shellQuote(counter) + " 2>/dev/null || echo 0)\necho $((n+1)) > " + shellQuote(counter) +
		"\n[ $n -lt 3 ] && { echo \"master down ($n)\" >&2; exit 1; }\ncat >> " + shellQuote(log) + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := validated(t, &Config{BaseDir: filepath.Join(root, "m"), Repos: []RepoConfig{{URL: up}},
		Hooks: []HookConfig{{Name: "flaky", Command: []string{script}, Retries: 1, RetryDelay: Duration(time.Millisecond)}}})
	p, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCycle(t, p)
	c1 := commit(t, up, "one", nil)
	// Two attempts this cycle, both fail: the event stays pending.
	if res := mustCycle(t, p); res.Failed != 1 || res.Events != 0 {
		t.Fatalf("cycle with failing hook = %+v", res)
	}
	if got := readLines(t, log); len(got) != 0 {
		t.Fatalf("failing hook recorded %v", got)
	}
	// Attempt 3 fails, attempt 4 succeeds: delivered once.
	if res := mustCycle(t, p); res.Failed != 0 || res.Events != 1 {
		t.Fatalf("retry cycle = %+v", res)
	}
	mustCycle(t, p)
	got := readLines(t, log)
	if len(got) != 1 || !strings.HasSuffix(got[0], c1+" refs/heads/master") {
		t.Fatalf("hook log = %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name, toml, wantErr string
	}{
		{"ok", "basedir = '/srv/m'\n[[repo]]\nurl = 'https://example.org/a.git'\n", ""},
		{"unknown key", "basedir = '/srv/m'\nbogus = 1\n", "unknown keys: bogus"},
		{"traversal", "basedir = '/srv/m'\n[[repo]]\nurl = 'x'\ngitdir = '../../etc'\n", "leaves basedir"},
		{"dup gitdir", "basedir = '/srv/m'\n[[repo]]\nurl = 'a/x'\n[[repo]]\nurl = 'b/x'\n", "already used"},
		{"bad deliver", "basedir = '/srv/m'\n[[repo]]\nurl = 'x'\ndeliver = ['nope']\n", "unknown hook"},
		{"bad url", "basedir = '/srv/m'\n[[change_hook]]\nname = 'bb'\nurl = 'ftp://x'\n", "http(s)"},
		{"bad org", "basedir = '/srv/m'\n[[org]]\nname = '../x'\n", "plain GitHub login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			os.WriteFile(p, []byte(tt.toml), 0o644)
			c, err := Load(p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Repos[0].GitDir != "/srv/m/a.git" || c.PollInterval.D() != DefaultPollInterval || c.StateFile != "/srv/m/xtpoll-state.json" {
					t.Fatalf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
