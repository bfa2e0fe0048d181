package standin

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/mirror"
	"github.com/xtbuild/xtbuild/report"
)

// sstateWorld is one set of layers with build dirs that share them, as
// workers building the same lock do.
type sstateWorld struct {
	t    *testing.T
	root string
}

func newSstateWorld(t *testing.T) *sstateWorld {
	t.Helper()
	first := buildDir(t, "", "scarthgap", "scarthgap")
	return &sstateWorld{t: t, root: filepath.Dir(first)}
}

// build makes build dir name with local.conf local (TMPDIR added) and runs
// the stand-in on demo-image there.
func (w *sstateWorld) build(name, local string) (dir, out string) {
	w.t.Helper()
	dir = filepath.Join(w.root, name)
	os.MkdirAll(filepath.Join(dir, "conf"), 0o755)
	bbl, err := os.ReadFile(filepath.Join(w.root, "build", "conf", "bblayers.conf"))
	if err != nil {
		w.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "conf", "bblayers.conf"), bbl, 0o644)
	os.WriteFile(filepath.Join(dir, "conf", "local.conf"), []byte("TMPDIR = \"${TOPDIR}/tmp\"\n"+local), 0o644)
	out, err = run(w.t, dir)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return dir, out
}

var objectRE = regexp.MustCompile(`^([0-9a-f]{2})/([0-9a-f]{2})/sstate:demo-image:demo-oe-linux:1\.0:r0:demo:12:([0-9a-f]{64})_image_complete\.tar\.zst$`)

// objects lists the sstate objects (not siginfo) under dir.
func objects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".siginfo") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// deployed reads the deploy dir: name -> content or "-> target".
func deployed(t *testing.T, dir string) map[string]string {
	t.Helper()
	d := filepath.Join(dir, "tmp", "deploy", "images", "demo")
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(d, e.Name())
		if l, err := os.Readlink(p); err == nil {
			m[e.Name()] = "-> " + l
			continue
		}
		b, _ := os.ReadFile(p)
		m[e.Name()] = string(b)
	}
	return m
}

func taskStats(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "tmp", "buildstats", "*", "demo-image-1.0-r0", "do_*"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

// sstateReuse is what the report (report.Generate) counts from the
// buildstats of dir's last run.
func sstateReuse(t *testing.T, dir string) report.SstateSummary {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(dir, "tmp", "buildstats", "*"))
	if len(runs) == 0 {
		t.Fatal("no buildstats")
	}
	r, err := report.Generate(context.Background(), report.Options{Title: "t", HistoryDir: t.TempDir(),
		Buildstats: []report.StepBuildstats{{Step: "demo", Dir: runs[len(runs)-1]}}})
	if err != nil {
		t.Fatal(err)
	}
	return r.Sstate
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameDeploy(t *testing.T, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("deploy dirs differ: %d vs %d files: %v vs %v", len(a), len(b), names(a), names(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("deploy %s differs after restore", k)
		}
	}
}

// A built image task leaves its object in SSTATE_DIR in oe-core's layout;
// another build dir restores it from SSTATE_MIRRORS (file://, and http://
// from mirror:serve's handler)
// as a setscene task with the same deploy bytes; a changed input misses.
func TestStandInSstateMirror(t *testing.T) {
	w := newSstateWorld(t)
	shared := filepath.Join(w.root, "shared-sstate")
	a, out := w.build("a", "SSTATE_DIR = \""+shared+"\"\n")
	if !strings.Contains(out, "Sstate summary: Wanted 1 Local 0 Mirrors 0 Missed 1 Current 0 (0% match, 0% complete)") {
		t.Errorf("first build summary:\n%s", out)
	}
	objs := objects(t, shared)
	if len(objs) != 1 || !objectRE.MatchString(objs[0]) {
		t.Fatalf("objects in SSTATE_DIR: %q", objs)
	}
	if m := objectRE.FindStringSubmatch(objs[0]); m[1] != m[3][:2] || m[2] != m[3][2:4] {
		t.Errorf("prefix dirs %s/%s do not match hash %s", m[1], m[2], m[3])
	}
	if _, err := os.Stat(filepath.Join(shared, objs[0]+".siginfo")); err != nil {
		t.Error(err)
	}
	if got := strings.Join(taskStats(t, a), " "); got != "do_build do_image_complete do_rootfs" {
		t.Errorf("first build tasks: %s", got)
	}
	want := deployed(t, a)
	if r := sstateReuse(t, a); r.Reused != 0 || r.Real != 1 {
		t.Errorf("report of the first build: %+v, want 1 real do_image_complete", r)
	}

	// zstd itself must read the object: a real .tar.zst.
	zstd := testenv.LookPath(t, "zstd", "zstd")
	list, err := exec.Command("sh", "-c", `"$1" -dc "$2" | tar -tf -`, "sh", zstd, filepath.Join(shared, objs[0])).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "demo-image-demo.ext4") {
		t.Errorf("zstd | tar: %v\n%s", err, list)
	}

	// The shared dir served over HTTP by mirror:serve's read-only handler.
	h, err := mirror.NewHandler(shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct{ name, mirror string }{
		{"file", "file://.* file://" + shared + "/PATH"},
		{"http", "file://.* " + srv.URL + "/PATH;downloadfilename=PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "file" {
				// do_build a second after the restore: an image deployed
				// again there would add a newer timestamped file.
				t.Setenv("XTBUILD_FAKE_TASK_MS", "1100")
			}
			own := filepath.Join(w.root, "own-"+tc.name)
			b, out := w.build("b-"+tc.name, "SSTATE_DIR = \""+own+"\"\nSSTATE_MIRRORS = \"file://.* file:///nonexistent/PATH \\n "+tc.mirror+" \\n\"\n")
			if !strings.Contains(out, "Sstate summary: Wanted 1 Local 0 Mirrors 1 Missed 0 Current 0 (100% match, 100% complete)") || strings.Contains(out, "WARNING") ||
				!strings.Contains(out, "NOTE: Running setscene task 1 of 1 (") || strings.Contains(out, "do_rootfs") {
				t.Errorf("restore output:\n%s", out)
			}
			if !strings.Contains(out, "Attempted 3 tasks of which 2 didn't need to be rerun") {
				t.Errorf("summary:\n%s", out)
			}
			if got := strings.Join(taskStats(t, b), " "); got != "do_build do_image_complete_setscene" {
				t.Errorf("restored build tasks: %s", got)
			}
			sameDeploy(t, want, deployed(t, b))
			if r := sstateReuse(t, b); r.Reused != 1 || r.Real != 0 || r.Ratio != 1 {
				t.Errorf("report of the restored build: %+v, want 100%% reuse", r)
			}
			if got := objects(t, own); len(got) != 1 || got[0] != objs[0] {
				t.Errorf("object not fetched into SSTATE_DIR: %q", got)
			}
			// The next run finds it locally.
			_, out = w.build("b-"+tc.name, "SSTATE_DIR = \""+own+"\"\n")
			if !strings.Contains(out, "Wanted 1 Local 1 Mirrors 0 Missed 0") {
				t.Errorf("second run:\n%s", out)
			}
		})
	}

	// A changed recipe is a changed input: a new object, the task runs.
	os.WriteFile(filepath.Join(w.root, "meta-x", "recipes", "demo-image.bb"), []byte("LICENSE = \"MIT\"\nIMAGE_FSTYPES = \"ext4\"\nSUMMARY = \"changed\"\n"), 0o644)
	c, out := w.build("c", "SSTATE_DIR = \""+filepath.Join(w.root, "own-c")+"\"\nSSTATE_MIRRORS = \"file://.* file://"+shared+"/PATH\"\n")
	if !strings.Contains(out, "Missed 1") || !strings.Contains(out, "do_rootfs") {
		t.Errorf("changed input restored:\n%s", out)
	}
	img := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, "tmp", "deploy", "images", "demo", "demo-image-demo.ext4"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if img(c) == img(a) {
		t.Error("changed input, same image bytes")
	}
}

// Before BitBake 2.0 objects are .tgz files (SSTATE_VERSION 3).
func TestStandInSstateTgzBefore2(t *testing.T) {
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "lib", "bb"), 0o755)
	os.WriteFile(filepath.Join(old, "lib", "bb", "__init__.py"), []byte("__version__ = \"1.46.0\"\n"), 0o644)
	dir := buildDir(t, "TMPDIR = \"${TOPDIR}/tmp\"\nSSTATE_DIR = \"${TOPDIR}/sst\"\n", "dunfell", "dunfell")
	cmd := exec.Command(bin, "demo-image")
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BB_ENV_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "BUILDDIR="+dir, "LANG=C.UTF-8", "MACHINE=demo", "BB_ENV_EXTRAWHITE=MACHINE", "XTBUILD_FAKE_BITBAKE_DIR="+old, "XTBUILD_FAKE_RECORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	objs := objects(t, filepath.Join(dir, "sst"))
	if len(objs) != 1 || !strings.HasSuffix(objs[0], "_image_complete.tgz") || !strings.Contains(objs[0], ":3:") {
		t.Fatalf("objects: %q", objs)
	}
	if out, err := exec.Command("tar", "-tzf", filepath.Join(dir, "sst", objs[0])).CombinedOutput(); err != nil {
		t.Errorf("tar -tzf: %v\n%s", err, out)
	}
}
