package buildbot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/poller"
)

// The stand-in for the Mage targets (bitbake cannot run here): it lives in
// the config repository, so it only exists if the checkout step worked;
// it records each call and fails the target named in a marker file.
const standIn = `#!/bin/sh
# Stand-in for ./xtbuild TARGET in the buildbot integration test.
target="$1"
echo "stand-in: running $target (XTBUILD_RELEASE=$XTBUILD_RELEASE build $XTBUILD_BUILD_NUMBER)"
echo "$XTBUILD_BUILD_NUMBER $target $XTBUILD_RELEASE" >> "$XTBUILD_STANDIN_LOG"
if [ -e "$XTBUILD_STANDIN_DIR/fail-$target" ]; then
  echo "xtbuild: $target failed (stand-in)" >&2
  exit 1
fi
`

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.org",
		"GIT_COMMITTER_NAME=Ada Author", "GIT_COMMITTER_EMAIL=ada@example.org", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

type apiBuild struct {
	BuildID     int    `json:"buildid"`
	Number      int    `json:"number"`
	Complete    bool   `json:"complete"`
	Results     *int   `json:"results"`
	StateString string `json:"state_string"`
}

type apiStep struct {
	Name    string `json:"name"`
	Results *int   `json:"results"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v\n%s", url, err, b)
	}
}

// TestPollerToBuildbot runs a real buildbot master and worker on loopback
// with the generated config; the poller notices a push to the config
// repository and posts it to /change_hook/base; the build runs the stand-in
// steps and goes green; with one step failing, the next build goes red.
func TestPollerToBuildbot(t *testing.T) {
	requireBuildbot(t)
	root := t.TempDir()
	masterDir, workerDir := filepath.Join(root, "master"), filepath.Join(root, "worker")
	repo := filepath.Join(root, "xtbuild-config")
	standInLog := filepath.Join(root, "stand-in.log")

	// The config repository the builder checks out (and the poller watches).
	os.MkdirAll(repo, 0o755)
	run(t, repo, "git", "init", "-q", "-b", "master")
	os.WriteFile(filepath.Join(repo, "xtbuild-standin.sh"), []byte(standIn), 0o755)
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-q", "-m", "initial")

	webPort, workerPort := freePort(t), freePort(t)
	run(t, root, "buildbot", "create-master", "-r", "-q", masterDir)
	os.WriteFile(filepath.Join(masterDir, "changehook.passwd"), []byte("poller:hookpw\n"), 0o600)
	steps := []string{"setupoe", "dom0", "installer"}
	cfg := Config{
		Title:              "xtbuild-integration",
		Builder:            "openxt",
		ConfigRepo:         repo,
		ConfigBranch:       "master",
		Command:            []string{"sh", "./xtbuild-standin.sh"},
		Steps:              []Step{{Name: "setupoe"}, {Name: "dom0"}, {Name: "installer"}},
		Sign:               "sign",
		Upload:             "upload",
		Env:                map[string]string{"XTBUILD_RELEASE": "1", "XTBUILD_STANDIN_LOG": standInLog, "XTBUILD_STANDIN_DIR": root},
		BuildNumberEnv:     "XTBUILD_BUILD_NUMBER",
		Workers:            []Worker{{Name: "w1", Password: "workerpw"}},
		WorkerPort:         workerPort,
		WebPort:            webPort,
		Projects:           []string{"xtbuild"},
		ChangeHookAuthFile: "changehook.passwd",
	}
	if err := Write(filepath.Join(masterDir, "master.cfg"), cfg); err != nil {
		t.Fatal(err)
	}
	if out, err := masterCommand(masterDir, "start").CombinedOutput(); err != nil {
		t.Fatalf("buildbot start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("buildbot", "stop", masterDir).Run() })
	run(t, root, "buildbot-worker", "create-worker", "-r", "-q", workerDir, fmt.Sprintf("127.0.0.1:%d", workerPort), "w1", "workerpw")
	run(t, root, "buildbot-worker", "start", workerDir)
	t.Cleanup(func() { exec.Command("buildbot-worker", "stop", workerDir).Run() })
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v2", webPort)
	waitUntil(t, 60*time.Second, "worker connected", func() bool {
		var w struct {
			Workers []struct {
				ConnectedTo []any `json:"connected_to"`
			} `json:"workers"`
		}
		getJSON(t, api+"/workers", &w)
		return len(w.Workers) == 1 && len(w.Workers[0].ConnectedTo) == 1
	})

	// The poller, pointed at the master's change hook with basic auth.
	t.Setenv("XT_TEST_CHANGE_HOOK_PW", "hookpw")
	pc := &poller.Config{
		BaseDir: filepath.Join(root, "mirrors"),
		Repos:   []poller.RepoConfig{{URL: repo, Projects: []string{"xtbuild"}}},
		ChangeHooks: []poller.ChangeHookConfig{{Name: "buildbot", URL: fmt.Sprintf("http://127.0.0.1:%d/change_hook/base", webPort),
			User: "poller", PasswordEnv: "XT_TEST_CHANGE_HOOK_PW", Retries: 2, RetryDelay: poller.Duration(time.Second)}},
	}
	if err := pc.Validate(root); err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(pc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	cycle := func() poller.Result {
		res, err := p.Cycle(context.Background())
		if err != nil || res.Failed != 0 {
			t.Fatalf("poll cycle: %+v, %v", res, err)
		}
		return res
	}
	cycle() // baseline

	build := func(n int, msg string) (apiBuild, []apiStep) {
		os.WriteFile(filepath.Join(repo, "NOTES"), []byte(msg+"\n"), 0o644)
		run(t, repo, "git", "add", "NOTES")
		run(t, repo, "git", "commit", "-q", "-m", msg)
		rev := run(t, repo, "git", "rev-parse", "HEAD")
		if res := cycle(); res.Events != 1 {
			t.Fatalf("poller delivered %d events, want 1", res.Events)
		}
		var ch struct {
			Changes []struct {
				Revision, Author, Comments, Project, Branch, Repository string
				Files                                                   []string
			} `json:"changes"`
		}
		getJSON(t, api+"/changes?order=-changeid&limit=1", &ch)
		if len(ch.Changes) != 1 || ch.Changes[0].Revision != rev || ch.Changes[0].Comments != msg ||
			ch.Changes[0].Author != "Ada Author <ada@example.org>" || ch.Changes[0].Project != "xtbuild" ||
			ch.Changes[0].Branch != "master" || ch.Changes[0].Repository != repo || !slices.Equal(ch.Changes[0].Files, []string{"NOTES"}) {
			t.Fatalf("master's newest change = %+v, want revision %s", ch.Changes, rev)
		}
		var b apiBuild
		waitUntil(t, 90*time.Second, fmt.Sprintf("build %d complete", n), func() bool {
			var bs struct{ Builds []apiBuild }
			getJSON(t, fmt.Sprintf("%s/builds?number=%d", api, n), &bs)
			if len(bs.Builds) == 1 && bs.Builds[0].Complete {
				b = bs.Builds[0]
				return true
			}
			return false
		})
		var ss struct{ Steps []apiStep }
		getJSON(t, fmt.Sprintf("%s/builds/%d/steps", api, b.BuildID), &ss)
		return b, ss.Steps
	}

	b1, steps1 := build(1, "first change")
	if b1.Results == nil || *b1.Results != 0 {
		t.Fatalf("build 1: results %v (%s), want 0 (success); steps %+v", b1.Results, b1.StateString, steps1)
	}
	var names []string
	for _, s := range steps1 {
		if s.Results == nil || *s.Results != 0 {
			t.Errorf("build 1 step %s: results %v", s.Name, s.Results)
		}
		names = append(names, s.Name)
	}
	wantSteps := append([]string{"worker_preparation", "checkout"}, append(steps, "sign", "upload")...)
	if !slices.Equal(names, wantSteps) {
		t.Fatalf("build 1 steps %v, want %v", names, wantSteps)
	}

	// A failing dom0: red build, the following steps never run.
	os.WriteFile(filepath.Join(root, "fail-dom0"), nil, 0o644)
	b2, steps2 := build(2, "second change")
	if b2.Results == nil || *b2.Results != 2 {
		t.Fatalf("build 2: results %v (%s), want 2 (failure)", b2.Results, b2.StateString)
	}
	for _, s := range steps2 {
		if s.Name == "dom0" && (s.Results == nil || *s.Results != 2) {
			t.Errorf("dom0 step results %v, want 2", s.Results)
		}
	}
	calls, _ := os.ReadFile(standInLog)
	want := "1 setupoe 1\n1 dom0 1\n1 installer 1\n1 sign 1\n1 upload 1\n2 setupoe 1\n2 dom0 1\n"
	if string(calls) != want {
		t.Fatalf("stand-in calls:\n%s\nwant:\n%s", calls, want)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
