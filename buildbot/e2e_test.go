package buildbot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/signing"
)

// fanoutSteps are the bitbake steps `ship` needs in the OpenXT profile:
// six independent images and dom0 after stubinitramfs.
var fanoutSteps = []string{"installer", "stubinitramfs", "dom0", "uivm", "ndvm", "syncvm", "usbvm"}

// rig is a config repository for the OpenXT steps with the stand-in
// bitbake, a shared sstate dir and stage tree, and a real master (its
// master.cfg written by the compiled `xtbuild buildbot:config`) with real
// workers on loopback.
type rig struct {
	root, xt, record string
	w                *standin.World
	m                *bbMaster
	env              map[string]string
}

// buildTools compiles the Mage targets the way a worker would (go run
// mage.go -compile) and the stand-in bitbake.
func buildTools(t *testing.T) (xt, fake string) {
	t.Helper()
	tools := t.TempDir()
	xt = filepath.Join(tools, "xtbuild")
	compile := exec.Command("go", "run", "mage.go", "-compile", xt)
	compile.Dir = ".."
	if out, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("compile xtbuild: %v\n%s", err, out)
	}
	fake, err := standin.Build(tools)
	if err != nil {
		t.Fatal(err)
	}
	return xt, fake
}

func newRig(t *testing.T, xt, fake, taskMS string, workers ...string) *rig {
	t.Helper()
	r := &rig{root: t.TempDir(), xt: xt}
	root := r.root
	shared, stage := filepath.Join(root, "sstate-shared"), filepath.Join(root, "stage")
	os.MkdirAll(shared, 0o755)
	m := createMaster(t, root)
	workerPort, webPort := freePort(t), freePort(t)
	r.record = filepath.Join(root, "bitbake-calls.jsonl")
	r.env = map[string]string{
		"XTBUILD_FAKE_BITBAKE": fake, "XTBUILD_FAKE_RECORD": r.record, "XTBUILD_FAKE_TASK_MS": taskMS,
		"XTBUILD_STEPS": "setupoe,ship",
	}
	envTOML, _ := json.Marshal(r.env)
	workersTOML, _ := json.Marshal(workers)
	w := standin.NewWorld(t, fake, fmt.Sprintf(standin.DevSigningTOML+`
[fanout]
stage = %q

[mirrors]
sstate = ["file://%s/"]
sstate_publish = %q
`, stage, shared, shared))
	bbTOML := fmt.Sprintf(`
[buildbot]
builder = "xt"
config_repo = %q
config_branch = "master"
workers = %s
worker_password_env = "XT_TEST_WORKER_PW"
worker_port = %d
web_port = %d
force_auth = "force.passwd"
fanout = "on"
output = %q
xtbuild = %q
env = %s
`, w.Work, workersTOML, workerPort, webPort, filepath.Join(m.dir, "master.cfg"), xt,
		strings.NewReplacer(`":"`, `" = "`).Replace(string(envTOML)))
	// ship pulls in every image of the profile and license.
	toml, _ := os.ReadFile(filepath.Join(w.Work, "xtbuild.toml"))
	toml = bytes.Replace(toml, []byte(`steps = ["setupoe", "stubinitramfs", "dom0", "installer"]`), []byte(`steps = ["setupoe", "ship"]`), 1)
	os.WriteFile(filepath.Join(w.Work, "xtbuild.toml"), append(toml, bbTOML...), 0o644)
	if err := signing.GenerateKeys(context.Background(), filepath.Join(w.Work, "keys"), signing.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, w.Work, "git", "init", "-q", "-b", "master")
	run(t, w.Work, "git", "add", ".")
	run(t, w.Work, "git", "commit", "-q", "-m", "build config")

	gen := exec.Command(xt, "buildbot:config")
	gen.Dir = w.Work
	gen.Env = append(os.Environ(), "XT_TEST_WORKER_PW=workerpw")
	if out, err := gen.CombinedOutput(); err != nil || !strings.Contains(string(out), fmt.Sprintf("fan-out over %d workers", len(workers))) {
		t.Fatalf("xtbuild buildbot:config: %v\n%s", err, out)
	}
	m.start(root, workerPort, webPort, workers...)
	r.w, r.m = w, m
	return r
}

// oneHost runs `xtbuild build` and `xtbuild sign` (what the single builder
// runs) in a fresh clone of the config repository named dir, with extra
// environment, and returns its build-output dir and wall time.
func (r *rig) oneHost(t *testing.T, dir string, lock []byte, env ...string) (string, time.Duration) {
	t.Helper()
	d := filepath.Join(r.root, dir)
	run(t, r.root, "git", "clone", "-q", r.w.Work, d)
	if lock != nil {
		os.WriteFile(filepath.Join(d, "xtbuild.lock"), lock, 0o644)
	}
	benv := append(os.Environ(), env...)
	for k, v := range r.env {
		benv = append(benv, k+"="+v)
	}
	start := time.Now()
	for _, target := range []string{"build", "sign"} {
		cmd := exec.Command(r.xt, target)
		cmd.Dir, cmd.Env = d, benv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: xtbuild %s: %v\n%s", dir, target, err, tail(string(out), 40))
		}
	}
	return filepath.Join(d, "build-output", "openxt-dev-1-master"), time.Since(start)
}

func requireFanoutTools(t *testing.T) {
	t.Helper()
	requireBuildbot(t)
	for _, tool := range []string{"xorriso", "mkfs.fat", "mcopy", "mmd"} {
		testenv.LookPath(t, tool, "xorriso dosfstools mtools")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	os.Unsetenv("SOURCE_DATE_EPOCH")
}

// TestFanoutBuildsOpenXTOnTwoWorkers is the fan-out as it runs for real:
// the master.cfg that the compiled `xtbuild buildbot:config` writes, a real
// buildbot master and two real workers on loopback, and the real xtbuild
// targets in every step (setupoe from local git layers, step with the
// stand-in bitbake, stage:*, sstate:publish, ship, sign, report). It
// checks that both workers built images, that dom0 started only after
// stubinitramfs finished and the final builder after every image (from
// buildbot's API), that the final tree matches a one-host build of the
// parent's lock byte for byte, and that this second build, in a fresh
// build dir as the other worker, restored every sstate task from what the
// fan-out published (100% sstate reuse in its report).
func TestFanoutBuildsOpenXTOnTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the two-worker fan-out of the OpenXT steps (real buildbot and xtbuild, about a minute and a half)")
	}
	requireFanoutTools(t)
	xt, fake := buildTools(t)
	r := newRig(t, xt, fake, "20", "w1", "w2")
	m, record, root := r.m, r.record, r.root
	start := time.Now()
	calls0 := countLines(record)
	m.force("xt")
	builds := m.waitParent("xt", 1, 5*time.Minute)
	t.Logf("fan-out over two workers: %v", time.Since(start).Round(time.Second))
	names := []string{"xt", "xt-final"}
	for _, s := range fanoutSteps {
		names = append(names, "xt-"+s)
	}
	for _, name := range names {
		if b, ok := builds[name]; !ok || result(b) != 0 {
			t.Errorf("%s: %+v (present %v), want success", name, b, ok)
		}
	}
	if t.Failed() {
		log, _ := os.ReadFile(filepath.Join(m.dir, "twistd.log"))
		t.Fatalf("builds: %+v\ntwistd.log tail:\n%s", builds, tail(string(log), 60))
	}
	// Each image was built for real once in the fan-out (plus its -g run);
	// nothing was there to restore yet.
	if n := countLines(record) - calls0; n != 2*len(fanoutSteps) {
		t.Errorf("the fan-out ran bitbake %d times, want %d (a build and a -g run per image)", n, 2*len(fanoutSteps))
	}
	ran := map[string][]string{}
	for _, s := range fanoutSteps {
		ran[builds["xt-"+s].Worker] = append(ran[builds["xt-"+s].Worker], s)
	}
	if len(ran["w1"]) == 0 || len(ran["w2"]) == 0 {
		t.Errorf("steps per worker %v, want both workers", ran)
	}
	t.Logf("steps per worker: %v; final on %s", ran, builds["xt-final"].Worker)
	after := func(later, earlier string) {
		t.Helper()
		if l, e := builds[later], builds[earlier]; e.CompleteAt == nil || l.StartedAt < *e.CompleteAt {
			t.Errorf("%s started at %d, before %s completed (%v)", later, l.StartedAt, earlier, e.CompleteAt)
		}
	}
	after("xt-dom0", "xt-stubinitramfs")
	for _, s := range fanoutSteps {
		after("xt-final", "xt-"+s)
	}

	// The final tree, in the final builder's checkout on its worker.
	name := "openxt-dev-1-master"
	final := filepath.Join(root, "worker-"+builds["xt-final"].Worker, "xt-final", "build", "build-output", name)

	// The second build: one host, a fresh build dir, the parent's lock,
	// the same build number, as the other worker.
	other := "w1"
	if builds["xt-final"].Worker == "w1" {
		other = "w2"
	}
	lock, err := os.ReadFile(filepath.Join(m.dir, "fanout", "xt", "1", "xtbuild.lock"))
	if err != nil {
		t.Fatal(err)
	}
	before := countLines(record)
	one, _ := r.oneHost(t, "second", lock, "XTBUILD_LOCKED=1", "XTBUILD_ID=1", "XTBUILD_WORKER="+other)
	t.Logf("second build ran bitbake %d times", countLines(record)-before)
	same := func(rel string) { t.Helper(); standin.SameFile(t, final, one, rel) }
	same(manifest.File)
	same("iso/installer.iso")
	repo := manifest.Files(filepath.Join(final, "repository"))
	if len(repo) < 5 {
		t.Fatalf("fanned-out repository holds %v", repo)
	}
	for _, p := range repo {
		rel, _ := filepath.Rel(final, p)
		same(rel)
	}

	var rep struct {
		Sstate struct {
			Reused int     `json:"reused"`
			Real   int     `json:"real"`
			Ratio  float64 `json:"ratio"`
		} `json:"sstate"`
	}
	data, err := os.ReadFile(filepath.Join(one, "report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Sstate.Reused == 0 || rep.Sstate.Real != 0 || rep.Sstate.Ratio != 1 {
		t.Errorf("second build's sstate reuse: %+v, want every sstate task restored (ratio 1)", rep.Sstate)
	}
}

func countLines(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestFanoutWallTime measures the fan-out on one and on two workers, and a
// one-host build, all from an empty sstate, with XTBUILD_FAKE_TASK_MS per
// stand-in task (docs/scale-out.md has the figures). It only runs when
// XTBUILD_MEASURE_FANOUT is set (to the task time in ms, e.g. 400).
func TestFanoutWallTime(t *testing.T) {
	taskMS := testenv.NeedEnv(t, "XTBUILD_MEASURE_FANOUT", "the stand-in task time in ms for the fan-out measurement, e.g. 400")
	requireFanoutTools(t)
	xt, fake := buildTools(t)
	r1 := newRig(t, xt, fake, taskMS, "w1")
	_, solo := r1.oneHost(t, "solo", nil, "XTBUILD_ID=1")
	t.Logf("one host, xtbuild build+sign, task %s ms: %v", taskMS, solo.Round(100*time.Millisecond))
	for _, workers := range [][]string{{"w1"}, {"w1", "w2"}} {
		r := r1
		if len(workers) > 1 {
			r = newRig(t, xt, fake, taskMS, workers...)
		}
		start := time.Now()
		r.m.force("xt")
		builds := r.m.waitParent("xt", 1, 15*time.Minute)
		if result(builds["xt"]) != 0 {
			t.Fatalf("fan-out on %v failed: %+v", workers, builds)
		}
		var crit time.Duration
		for _, s := range []string{"xt-stubinitramfs", "xt-dom0", "xt-final"} {
			crit += time.Duration(*builds[s].CompleteAt-builds[s].StartedAt) * time.Second
		}
		t.Logf("fan-out on %d worker(s), task %s ms: %v (stubinitramfs+dom0+final builds: %v)", len(workers), taskMS, time.Since(start).Round(100*time.Millisecond), crit)
	}
}
