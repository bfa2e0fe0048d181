package stage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/plan"
	"github.com/xtbuild/xtbuild/stage"
)

const (
	lock1 = "1111111111111111111111111111111111111111111111111111111111111111"
	lock2 = "2222222222222222222222222222222222222222222222222222222222222222"
)

// built is a build dir in which step dom0 left what a bitbake step
// leaves (written here directly, without running a build): its image in
// raw/ with a manifest entry, buildstats, and the deploy files.
type built struct {
	b     *pipe.Build
	w     *standin.World
	stage string
}

func newBuilt(t testing.TB, stageDir string) *built {
	t.Helper()
	if stageDir == "" {
		stageDir = filepath.Join(t.TempDir(), "stage")
	}
	w := standin.NewWorld(t, fakeBitbake, fmt.Sprintf("[fanout]\nstage = %q\n", stageDir))
	b := w.Env(config.Options{Worker: "w1"})
	p, err := plan.Resolve(b.Config, nil, plan.KnownSteps(b.Config)...)
	if err != nil {
		t.Fatal(err)
	}
	b.Plan = p
	bt := &built{b: b, w: w, stage: stageDir}
	bt.image("dom0 rootfs v1\n")
	return bt
}

func (bt *built) deploy() string { return bbconf.BuildDirs(bt.b.Config).Deploy }

func (bt *built) step(name string) plan.Step {
	for _, s := range bt.b.Plan.Steps {
		if s.Name == name {
			return s
		}
	}
	panic(name)
}

// image writes dom0's deploy outputs with content and records them as the
// dom0 step does.
func (bt *built) image(content string) {
	dir := filepath.Join(bt.deploy(), "images", "xenclient-dom0")
	os.MkdirAll(dir, 0o755)
	real := filepath.Join(dir, "xenclient-dom0-image-xenclient-dom0-20261205.rootfs.ext3.gz")
	os.WriteFile(real, []byte(content), 0o644)
	link := filepath.Join(dir, "xenclient-dom0-image-xenclient-dom0.ext3.gz")
	os.Remove(link)
	os.Symlink(filepath.Base(real), link)
	os.WriteFile(filepath.Join(dir, "xenclient-dom0-image-licences.csv"), []byte("package,license\nx,MIT\n"), 0o644)
	out := bt.b.OutDir()
	raw := filepath.Join(out, "raw", "dom0-rootfs.ext3.gz")
	os.MkdirAll(filepath.Dir(raw), 0o755)
	os.Remove(raw)
	os.Link(real, raw)
	bt.record()
}

// record writes dom0's buildstats and manifest entry, as the step does.
func (bt *built) record() {
	out := bt.b.OutDir()
	raw := filepath.Join(out, "raw", "dom0-rootfs.ext3.gz")
	bs := filepath.Join(out, "buildstats", "dom0", "20261205120000", "xenclient-dom0-image-1.0-r0")
	os.MkdirAll(bs, 0o755)
	os.WriteFile(filepath.Join(bs, "do_rootfs"), []byte("Status: PASSED\n"), 0o644)
	arts, err := manifest.Artifacts(context.Background(), out, []string{raw}, "dom0", "xenclient-dom0")
	if err != nil {
		panic(err)
	}
	m, _ := manifest.Read(filepath.Join(out, manifest.File))
	m.Replace("dom0", arts)
	m.Write(filepath.Join(out, manifest.File))
}

func (bt *built) put(lock string) error {
	return stage.Publish(context.Background(), bt.b, bt.step("dom0"), stage.Meta{LockHash: lock, Worker: bt.b.Options.Worker})
}

func (bt *built) stepDir() string { return filepath.Join(bt.stage, bt.b.Plan.Name, "steps", "dom0") }

func TestPutHoldsStepOutputsBuildstatsAndDeployFiles(t *testing.T) {
	bt := newBuilt(t, "")
	if err := bt.put(lock1); err != nil {
		t.Fatal(err)
	}
	ix, err := stage.ReadIndex(filepath.Dir(bt.stepDir()), "dom0")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, a := range ix.Artifacts {
		paths = append(paths, a.Path)
	}
	want := "deploy/images/xenclient-dom0/xenclient-dom0-image-licences.csv " +
		"out/buildstats/dom0/20261205120000/xenclient-dom0-image-1.0-r0/do_rootfs out/raw/dom0-rootfs.ext3.gz"
	if strings.Join(paths, " ") != want {
		t.Errorf("staged %v\nwant %s", paths, want)
	}
	if ix.Worker != "w1" || ix.LockHash != lock1 || len(ix.Outputs) != 1 || ix.Outputs[0].Path != "raw/dom0-rootfs.ext3.gz" {
		t.Errorf("index %+v", ix)
	}
	// The image's link name in DEPLOY_DIR is the raw/ file: stored once.
	if len(ix.Same) != 1 || ix.Same[0] != (stage.Alias{Path: "deploy/images/xenclient-dom0/xenclient-dom0-image-xenclient-dom0.ext3.gz", As: "out/raw/dom0-rootfs.ext3.gz"}) {
		t.Errorf("aliases %+v", ix.Same)
	}
	if _, err := os.Lstat(filepath.Join(bt.stepDir(), "deploy/images/xenclient-dom0/xenclient-dom0-image-xenclient-dom0.ext3.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the image is stored twice: %v", err)
	}
	// Nothing but the step directory and its lock file in the stage.
	ents, _ := os.ReadDir(filepath.Dir(bt.stepDir()))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".dom0.lock dom0" {
		t.Errorf("stage holds %v", names)
	}
}

func TestRePutIsIdempotentAndOtherLockOrContentIsRefused(t *testing.T) {
	bt := newBuilt(t, "")
	if err := bt.put(lock1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(filepath.Join(bt.stepDir(), stage.IndexFile))
	// Another worker with the same outputs (its own buildstats) changes nothing.
	bt.b.Options.Worker = "w2"
	if err := bt.put(lock1); err != nil {
		t.Fatalf("re-put: %v", err)
	}
	after, _ := os.Stat(filepath.Join(bt.stepDir(), stage.IndexFile))
	if !os.SameFile(before, after) || !strings.Contains(bt.w.Out.String(), "already published by worker w1") {
		t.Errorf("re-put replaced the step:\n%s", bt.w.Out)
	}
	if err := bt.put(lock2); !errors.Is(err, stage.ErrOtherLock) {
		t.Errorf("put from another lock: %v", err)
	}
	bt.image("dom0 rootfs v2\n")
	if err := bt.put(lock1); err == nil || !strings.Contains(err.Error(), "other artifacts") {
		t.Errorf("put of other artifacts: %v", err)
	}
	bt.b.Options.Force = true
	if err := bt.put(lock1); err != nil {
		t.Fatalf("forced put: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(bt.stepDir(), "out/raw/dom0-rootfs.ext3.gz"))
	if string(got) != "dom0 rootfs v2\n" {
		t.Errorf("forced put left %q", got)
	}
}

// Two workers putting the same step at once: the step lock serialises
// them, one publishes, the other finds it done.
func TestConcurrentPutsOfOneStep(t *testing.T) {
	stageDir := filepath.Join(t.TempDir(), "stage")
	x, y := newBuilt(t, stageDir), newBuilt(t, stageDir)
	y.b.Options.Worker = "w2"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, bt := range []*built{x, y} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = bt.put(lock1)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("puts: %v / %v", errs[0], errs[1])
	}
	if n := strings.Count(x.w.Out.String()+y.w.Out.String(), "already published"); n != 1 {
		t.Errorf("%d of two puts found the step published", n)
	}
}

func TestPutRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		spoil      func(bt *built)
	}{
		{"buildstats symlink", "not a regular file", func(bt *built) {
			os.Symlink("/etc/passwd", filepath.Join(bt.b.OutDir(), "buildstats", "dom0", "passwd"))
		}},
		{"manifest path climbing out", "not a clean relative path", func(bt *built) {
			p := filepath.Join(bt.b.OutDir(), manifest.File)
			m, _ := manifest.Read(p)
			m.Artifacts = append(m.Artifacts, manifest.Artifact{Path: "../../xtbuild.toml", Step: "dom0", SHA256: strings.Repeat("0", 64)})
			m.Write(p)
		}},
		{"deploy link leaving the deploy dir", "outside the deploy dir", func(bt *built) {
			os.Symlink("/etc/hostname", filepath.Join(bt.deploy(), "images", "xenclient-dom0", "bzImage-xenclient-dom0.bin"))
		}},
		{"raw file swapped for a link", "is a symlink; refusing to follow it", func(bt *built) {
			raw := filepath.Join(bt.b.OutDir(), "raw", "dom0-rootfs.ext3.gz")
			os.Remove(raw)
			os.Symlink("/etc/hostname", raw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bt := newBuilt(t, "")
			tc.spoil(bt)
			err := bt.put(lock1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("put: %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(bt.stepDir()); !errors.Is(err, os.ErrNotExist) {
				t.Error("a refused put left a step directory")
			}
		})
	}
}

// restoreInto restores dom0 into a second build dir sharing bt's stage.
func restoreInto(t testing.TB, bt *built, lock string, steps ...string) (*built, error) {
	t.Helper()
	other := newBuilt(t, bt.stage)
	os.RemoveAll(other.b.OutDir())
	os.RemoveAll(other.deploy())
	_, err := stage.Restore(context.Background(), other.b, steps, stage.Meta{LockHash: lock})
	return other, err
}

func TestRestoreVerifiesEveryFile(t *testing.T) {
	bt := newBuilt(t, "")
	if err := bt.put(lock1); err != nil {
		t.Fatal(err)
	}
	other, err := restoreInto(t, bt, lock1, "dom0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(other.b.OutDir(), "raw", "dom0-rootfs.ext3.gz"),
		filepath.Join(other.deploy(), "images", "xenclient-dom0", "xenclient-dom0-image-xenclient-dom0.ext3.gz")} {
		if got, _ := os.ReadFile(p); string(got) != "dom0 rootfs v1\n" {
			t.Errorf("%s holds %q", p, got)
		}
	}
	// A flipped byte in the stage (same size) is found, and nothing of the
	// step is restored.
	staged := filepath.Join(bt.stepDir(), "out", "raw", "dom0-rootfs.ext3.gz")
	os.Chmod(staged, 0o644)
	os.WriteFile(staged, []byte("dom0 rootfs v9\n"), 0o644)
	other, err = restoreInto(t, bt, lock1, "dom0")
	if err == nil || !strings.Contains(err.Error(), "out/raw/dom0-rootfs.ext3.gz has sha256") {
		t.Fatalf("restore of a corrupted stage: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other.b.OutDir(), "raw", "dom0-rootfs.ext3.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a corrupted step was restored")
	}
	if left := manifest.Files(other.b.OutDir()); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRestoreRefusesMixedLocksAndPathsLeavingTheBuild(t *testing.T) {
	bt := newBuilt(t, "")
	if err := bt.put(lock1); err != nil {
		t.Fatal(err)
	}
	// uivm from another lock beside dom0.
	uivm := bt.step("uivm")
	os.MkdirAll(filepath.Join(bt.deploy(), "images", "xenclient-uivm"), 0o755)
	os.WriteFile(filepath.Join(bt.deploy(), "images", "xenclient-uivm", "xenclient-uivm-image-licences.csv"), []byte("x\n"), 0o644)
	if err := stage.Publish(context.Background(), bt.b, uivm, stage.Meta{LockHash: lock2, Worker: "w9"}); err != nil {
		t.Fatal(err)
	}
	other, err := restoreInto(t, bt, lock1, "dom0", "uivm")
	if !errors.Is(err, stage.ErrOtherLock) || !strings.Contains(err.Error(), "uivm (worker w9, lock 222222222222)") {
		t.Fatalf("mixed locks: %v", err)
	}
	if left := manifest.Files(other.b.OutDir()); len(left) != 0 {
		t.Errorf("restored despite mixed locks: %v", left)
	}
	// An index naming a path outside its areas is refused.
	idx := filepath.Join(bt.stepDir(), stage.IndexFile)
	data, _ := os.ReadFile(idx)
	os.Chmod(idx, 0o644)
	os.WriteFile(idx, []byte(strings.Replace(string(data), `"out/raw/dom0-rootfs.ext3.gz"`, `"out/../../../evil"`, 1)), 0o644)
	if _, err := restoreInto(t, bt, lock1, "dom0"); err == nil || !strings.Contains(err.Error(), "not a clean relative path") {
		t.Fatalf("climbing index: %v", err)
	}
	os.WriteFile(idx, []byte(strings.Replace(string(data), `"as": "out/raw/dom0-rootfs.ext3.gz"`, `"as": "out/raw/other"`, 1)), 0o644)
	if _, err := restoreInto(t, bt, lock1, "dom0"); err == nil || !strings.Contains(err.Error(), "which the step does not hold") {
		t.Fatalf("alias of nothing: %v", err)
	}
}

// A stage whose build tree, steps directory or step directory is a
// symlink elsewhere is refused by put and get alike: nothing is written
// through the link (not even a lock file) and nothing is read from
// behind it.
func TestPutAndRestoreRefuseSymlinkedStageDirs(t *testing.T) {
	for _, tc := range []struct {
		name string
		rel  string // the link, relative to <stage>/<NAME>
	}{
		{"build tree", "."},
		{"steps dir", "steps"},
		{"step dir", "steps/dom0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The link points at the same place in a stage holding a
			// published copy of the step, so a get that followed it
			// would succeed.
			src := newBuilt(t, "")
			if err := src.put(lock1); err != nil {
				t.Fatal(err)
			}
			bt := newBuilt(t, "")
			link := filepath.Join(bt.stage, bt.b.Plan.Name, tc.rel)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(src.stage, src.b.Plan.Name, tc.rel), link); err != nil {
				t.Fatal(err)
			}
			before := treeOf(t, src.stage)
			other, err := restoreInto(t, bt, lock1, "dom0")
			if err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Errorf("get through a symlinked %s: %v, want it refused", tc.name, err)
			}
			if left := manifest.Files(other.b.OutDir()); len(left) != 0 {
				t.Errorf("restored through the link: %v", left)
			}
			bt.image("dom0 rootfs v2\n")
			if err := bt.put(lock1); err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Errorf("put through a symlinked %s: %v, want it refused", tc.name, err)
			}
			if after := treeOf(t, src.stage); !slices.Equal(before, after) {
				t.Errorf("the tree behind the link changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// treeOf lists every path under dir with its size.
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d", strings.TrimPrefix(p, dir), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
