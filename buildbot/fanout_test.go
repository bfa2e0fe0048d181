package buildbot

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The stand-in for ./xtbuild in the fan-out test: a parent's setupoe writes
// a fresh xtbuild.lock, a locked (child) setupoe records the lock it was
// given; every call is logged with the worker, build number, target and
// start/end times; a target named in a fail-<name> marker fails.
const fanoutStandIn = `#!/bin/sh
# Stand-in for ./xtbuild in the buildbot fan-out test.
log() { echo "$(date +%s%N) $XTBUILD_WORKER $XTBUILD_BUILD_NUMBER $XTBUILD_ID $*" >> "$XTBUILD_STANDIN_LOG"; }
name="$*"
case "$1" in
setupoe)
  if [ "$XTBUILD_LOCKED" = 1 ]; then log setupoe-locked "$(cat xtbuild.lock)"; else
    echo "lock-$(date +%s%N)" > xtbuild.lock; log setupoe-parent "$(cat xtbuild.lock)"; fi ;;
step) log start "$2"; sleep "${XTBUILD_STANDIN_SLEEP:-0}"; name="$2" ;;
*) log run "$*" ;;
esac
if [ -e "$XTBUILD_STANDIN_DIR/fail-$name" ]; then
  echo "xtbuild: $name failed (stand-in)" >&2
  log failed "$name"
  exit 1
fi
[ "$1" = step ] && log end "$2"
exit 0
`

// bbMaster is a real buildbot master with workers on loopback.
type bbMaster struct {
	t                  *testing.T
	dir, api, web      string
	builders, workers  map[int]string
	forceUser, forcePW string
}

// createMaster makes a master dir under root with the force_auth file.
func createMaster(t *testing.T, root string) *bbMaster {
	t.Helper()
	m := &bbMaster{t: t, dir: filepath.Join(root, "master"), forceUser: "ada", forcePW: "forcepw"}
	run(t, root, "buildbot", "create-master", "-r", "-q", m.dir)
	os.WriteFile(filepath.Join(m.dir, "force.passwd"), []byte(m.forceUser+":"+m.forcePW+"\n"), 0o600)
	return m
}

// startMaster writes cfg into a new master dir, starts the master and the
// named workers (each in its own dir, all with password "workerpw") and
// waits until every worker is connected.
func startMaster(t *testing.T, root string, cfg Config, workers ...string) *bbMaster {
	t.Helper()
	m := createMaster(t, root)
	cfg.ForceAuthFile = "force.passwd"
	cfg.WorkerPort, cfg.WebPort = freePort(t), freePort(t)
	cfg.Workers = nil
	for _, w := range workers {
		cfg.Workers = append(cfg.Workers, Worker{Name: w, Password: "workerpw"})
	}
	if err := Write(filepath.Join(m.dir, "master.cfg"), cfg); err != nil {
		t.Fatal(err)
	}
	m.start(root, cfg.WorkerPort, cfg.WebPort, workers...)
	return m
}

// start starts the master with the master.cfg in its dir and the named
// workers (password "workerpw"), and waits until every worker is connected.
func (m *bbMaster) start(root string, workerPort, webPort int, workers ...string) {
	t := m.t
	t.Helper()
	if out, err := masterCommand(m.dir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(m.dir, "twistd.log"))
		t.Fatalf("buildbot start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { exec.Command("buildbot", "stop", m.dir).Run() })
	for _, w := range workers {
		wd := filepath.Join(root, "worker-"+w)
		run(t, root, "buildbot-worker", "create-worker", "-r", "-q", wd, fmt.Sprintf("127.0.0.1:%d", workerPort), w, "workerpw")
		run(t, root, "buildbot-worker", "start", wd)
		t.Cleanup(func() { exec.Command("buildbot-worker", "stop", wd).Run() })
	}
	m.web = fmt.Sprintf("http://127.0.0.1:%d", webPort)
	m.api = m.web + "/api/v2"
	waitUntil(t, 90*time.Second, "workers connected", func() bool {
		var ws struct {
			Workers []struct {
				WorkerID    int    `json:"workerid"`
				Name        string `json:"name"`
				ConnectedTo []any  `json:"connected_to"`
			} `json:"workers"`
		}
		getJSON(t, m.api+"/workers", &ws)
		n := 0
		m.workers = map[int]string{}
		for _, w := range ws.Workers {
			m.workers[w.WorkerID] = w.Name
			if len(w.ConnectedTo) > 0 {
				n++
			}
		}
		return n == len(workers)
	})
	var bs struct {
		Builders []struct {
			BuilderID int    `json:"builderid"`
			Name      string `json:"name"`
		} `json:"builders"`
	}
	getJSON(t, m.api+"/builders", &bs)
	m.builders = map[int]string{}
	for _, b := range bs.Builders {
		m.builders[b.BuilderID] = b.Name
	}
}

// force logs in with the force_auth user and forces a build of builder.
func (m *bbMaster) force(builder string) {
	m.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest("GET", m.web+"/auth/login", nil)
	req.SetBasicAuth(m.forceUser, m.forcePW)
	resp, err := c.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	resp.Body.Close()
	body := `{"jsonrpc":"2.0","method":"force","id":1,"params":{"reason":"test","owner":"test"}}`
	resp, err = c.Post(m.api+"/forceschedulers/"+builder+"-force", "application/json", bytes.NewBufferString(body))
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		m.t.Fatalf("force %s: %s\n%s", builder, resp.Status, b)
	}
}

// bbBuild is a finished build as the REST API reports it.
type bbBuild struct {
	BuildID    int    `json:"buildid"`
	BuilderID  int    `json:"builderid"`
	WorkerID   int    `json:"workerid"`
	Number     int    `json:"number"`
	Complete   bool   `json:"complete"`
	Results    *int   `json:"results"`
	StartedAt  int64  `json:"started_at"`
	CompleteAt *int64 `json:"complete_at"`
	Properties map[string][]any
	Builder    string `json:"-"`
	Worker     string `json:"-"`
}

// waitParent waits for build number n of the parent builder to complete
// and returns every build of that fan-out (the parent's and those whose
// fanout_id is n), keyed by builder name.
func (m *bbMaster) waitParent(parent string, n int, timeout time.Duration) map[string]bbBuild {
	m.t.Helper()
	var parentID int
	for id, name := range m.builders {
		if name == parent {
			parentID = id
		}
	}
	waitUntil(m.t, timeout, fmt.Sprintf("%s #%d complete", parent, n), func() bool {
		var bs struct{ Builds []bbBuild }
		getJSON(m.t, fmt.Sprintf("%s/builders/%d/builds?number=%d", m.api, parentID, n), &bs)
		return len(bs.Builds) == 1 && bs.Builds[0].Complete
	})
	var bs struct{ Builds []bbBuild }
	getJSON(m.t, m.api+"/builds?property=fanout_id&property=*", &bs)
	out := map[string]bbBuild{}
	for _, b := range bs.Builds {
		b.Builder, b.Worker = m.builders[b.BuilderID], m.workers[b.WorkerID]
		id := fmt.Sprint(b.Properties["fanout_id"])
		if (b.Builder == parent && b.Number == n) || (b.Builder != parent && id == fmt.Sprintf("[%d Trigger]", n)) {
			if _, dup := out[b.Builder]; dup {
				m.t.Fatalf("two builds of %s in fan-out %d", b.Builder, n)
			}
			out[b.Builder] = b
		}
	}
	return out
}

func result(b bbBuild) int {
	if b.Results == nil {
		return -1
	}
	return *b.Results
}

// TestFanoutOnTwoWorkers runs the generated fan-out master with two real
// workers and a stand-in ./xtbuild: four steps (three independent, one
// after the first) spread over both workers, every dependent
// starts after what it needs finished (buildbot's own timestamps), every
// step builder got the parent's lock and build number, and the final
// builder runs last. Then a failing step: its dependents are not
// triggered, the independent steps still run, the final builder does not,
// and the parent is red.
func TestFanoutOnTwoWorkers(t *testing.T) {
	requireBuildbot(t)
	if testing.Short() {
		t.Skip("-short: skipping the two-worker buildbot fan-out (about a minute)")
	}
	t.Parallel()
	root := t.TempDir()
	repo := filepath.Join(root, "xtbuild-config")
	logPath := filepath.Join(root, "stand-in.log")
	os.MkdirAll(repo, 0o755)
	run(t, repo, "git", "init", "-q", "-b", "master")
	os.WriteFile(filepath.Join(repo, "xtbuild-standin.sh"), []byte(fanoutStandIn), 0o755)
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-q", "-m", "initial")
	cfg := Config{
		Title: "xtbuild-fanout", Builder: "xt", ConfigRepo: repo, ConfigBranch: "master",
		Command: []string{"sh", "./xtbuild-standin.sh"},
		Steps: []Step{
			{Name: "setupoe", Kind: Setup},
			{Name: "a", Args: []string{"step", "a"}, Kind: Parallel},
			{Name: "b", Args: []string{"step", "b"}, Kind: Parallel},
			{Name: "c", Args: []string{"step", "c"}, Kind: Parallel},
			{Name: "d", Args: []string{"step", "d"}, Kind: Parallel, Depends: []string{"a"}},
			{Name: "license", Args: []string{"step", "license"}, Kind: Final},
		},
		Sign:           "sign",
		Fanout:         true,
		Env:            map[string]string{"XTBUILD_STANDIN_LOG": logPath, "XTBUILD_STANDIN_DIR": root, "XTBUILD_STANDIN_SLEEP": "1"},
		BuildNumberEnv: "XTBUILD_ID",
	}
	m := startMaster(t, root, cfg, "w1", "w2")

	m.force("xt")
	builds := m.waitParent("xt", 1, 3*time.Minute)
	for _, name := range []string{"xt", "xt-a", "xt-b", "xt-c", "xt-d", "xt-final"} {
		b, ok := builds[name]
		if !ok || result(b) != 0 {
			t.Fatalf("fan-out 1: %s build %+v (present %v), want success; all: %+v", name, b, ok, builds)
		}
	}
	usedWorkers := map[string]bool{}
	for _, name := range []string{"xt-a", "xt-b", "xt-c", "xt-d"} {
		usedWorkers[builds[name].Worker] = true
	}
	if !usedWorkers["w1"] || !usedWorkers["w2"] {
		t.Errorf("step builds ran on %v, want both workers", usedWorkers)
	}
	after := func(later, earlier string) {
		t.Helper()
		if l, e := builds[later], builds[earlier]; e.CompleteAt == nil || l.StartedAt < *e.CompleteAt {
			t.Errorf("%s started at %d, before %s completed (%v)", later, l.StartedAt, earlier, e.CompleteAt)
		}
	}
	after("xt-d", "xt-a")
	for _, s := range []string{"xt-a", "xt-b", "xt-c", "xt-d"} {
		after("xt-final", s)
	}

	// The stand-in's own log: finer than the API's seconds.
	type call struct {
		at                    int64
		worker, num, id, what string
		arg                   string
	}
	var calls []call
	data, _ := os.ReadFile(logPath)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, " ", 6)
		if len(f) < 5 {
			t.Fatalf("stand-in log line %q", l)
		}
		var c call
		fmt.Sscan(f[0], &c.at)
		c.worker, c.num, c.id, c.what = f[1], f[2], f[3], f[4]
		if len(f) == 6 {
			c.arg = f[5]
		}
		calls = append(calls, c)
	}
	var parentLock string
	stepAt := map[string][2]int64{}
	var runs []string
	for _, c := range calls {
		if c.num != "1" || c.id != "1" || (c.worker != "w1" && c.worker != "w2") {
			t.Errorf("call %+v: want build number 1 (XTBUILD_BUILD_NUMBER and XTBUILD_ID) on w1 or w2", c)
		}
		switch c.what {
		case "setupoe-parent":
			parentLock = c.arg
		case "setupoe-locked":
			if c.arg != parentLock || parentLock == "" {
				t.Errorf("a step builder set up from lock %q, parent wrote %q", c.arg, parentLock)
			}
		case "start":
			stepAt[c.arg] = [2]int64{c.at, 0}
		case "end":
			stepAt[c.arg] = [2]int64{stepAt[c.arg][0], c.at}
		case "run":
			runs = append(runs, c.arg)
		}
	}
	for _, dep := range [][2]string{{"d", "a"}} {
		if stepAt[dep[0]][0] < stepAt[dep[1]][1] || stepAt[dep[1]][1] == 0 {
			t.Errorf("step %s started at %d, before %s ended at %d", dep[0], stepAt[dep[0]][0], dep[1], stepAt[dep[1]][1])
		}
	}
	// Each step builder ran stage:getfor, sstate:publish, stage:put; the final
	// builder stage:collect, license, sign, report, stage:clean.
	sort.Strings(runs)
	want := []string{"report", "sign", "sstate:publish", "sstate:publish", "sstate:publish", "sstate:publish",
		"stage:clean", "stage:collect", "stage:getfor a", "stage:getfor b", "stage:getfor c", "stage:getfor d",
		"stage:put a", "stage:put b", "stage:put c", "stage:put d"}
	if !slices.Equal(runs, want) {
		t.Errorf("targets run: %q\nwant %q", runs, want)
	}
	if _, ok := stepAt["license"]; !ok {
		t.Error("final builder did not run license")
	}

	// A failing a: d (its dependent) are not triggered, b and c run,
	// no final build, the parent is red.
	os.WriteFile(filepath.Join(root, "fail-a"), nil, 0o644)
	m.force("xt")
	builds = m.waitParent("xt", 2, 3*time.Minute)
	if result(builds["xt"]) != 2 {
		t.Errorf("parent with a failed step: results %d, want 2 (failure)", result(builds["xt"]))
	}
	if result(builds["xt-a"]) != 2 || result(builds["xt-b"]) != 0 || result(builds["xt-c"]) != 0 {
		t.Errorf("a %d b %d c %d, want 2 0 0", result(builds["xt-a"]), result(builds["xt-b"]), result(builds["xt-c"]))
	}
	for _, name := range []string{"xt-d", "xt-final"} {
		if b, ok := builds[name]; ok {
			t.Errorf("%s ran after a failed: %+v", name, b)
		}
	}
}
