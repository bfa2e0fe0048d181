package stage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/bbconf"
	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipe"
	"github.com/xtbuild/xtbuild/pipeline"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/signing"
)

// fakeBitbake is the stand-in bitbake (steps/testdata/fakebitbake), built once.
var fakeBitbake string

func TestMain(m *testing.M) { os.Exit(standin.Main(m, &fakeBitbake)) }

// fanout is a stand-in world whose config names a stage tree and real
// development keys, and "workers": build dirs of their own made from the
// same config, keys and (once setupoe ran in the world) layer lock, as
// buildbot's step builders get them.
type fanout struct {
	t     *testing.T
	w     *standin.World
	stage string
}

func newFanout(t *testing.T) *fanout {
	t.Helper()
	stageDir := filepath.Join(t.TempDir(), "stage")
	w := standin.NewWorld(t, fakeBitbake, fmt.Sprintf(standin.DevSigningTOML+`
[fanout]
stage = %q
`, stageDir))
	if err := signing.GenerateKeys(context.Background(), filepath.Join(w.Work, "keys"), signing.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	return &fanout{t: t, w: w, stage: stageDir}
}

// worker makes the build context of worker name in a directory of its
// own holding the world's config, keys, certificates and lock.
func (f *fanout) worker(name string) *pipe.Build {
	f.t.Helper()
	dir := filepath.Join(f.w.Root, "worker-"+name)
	for _, rel := range []string{"xtbuild.toml", "xtbuild.lock", "keys/prod-cacert.pem", "keys/dev-cacert.pem",
		"keys/dev-signing-cert.pem", "keys/dev-signing-key.pem", "certs/prod-cacert.pem", "certs/dev-cacert.pem"} {
		dst := filepath.Join(dir, rel)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.w.Work, rel))
		if err != nil {
			f.t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(dir, "xtbuild.toml"), func(string) string { return "" })
	if err != nil {
		f.t.Fatal(err)
	}
	b := f.w.Env(config.Options{Locked: true, Worker: name})
	b.Config = c
	return b
}

func (f *fanout) run(b *pipe.Build, steps ...string) []pipeline.Result {
	f.t.Helper()
	res, err := pipeline.Run(context.Background(), b, steps...)
	if err != nil {
		f.t.Fatalf("%s %v: %v\n%s", b.Options.Worker, steps, err, f.w.Out)
	}
	return res
}

func statuses(res []pipeline.Result) string {
	var s []string
	for _, r := range res {
		s = append(s, r.Step+"="+r.Status)
	}
	return strings.Join(s, " ")
}

// One build fanned out over two workers and collected by a third gives
// the same manifest, repository and ISO as a one-host build of the same
// lock, runs bitbake once per image, and its signed provenance names the
// worker of each step.
func TestFanOutBuildMatchesOneHostBuild(t *testing.T) {
	for _, tool := range []string{"xorriso", "mkfs.fat", "mcopy", "mmd"} {
		testenv.LookPath(t, tool, "xorriso dosfstools mtools")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	os.Unsetenv("SOURCE_DATE_EPOCH")
	f := newFanout(t)
	ctx := context.Background()

	// The one-host build; its setupoe writes the lock every worker builds from.
	solo := f.w.Env(config.Options{Worker: "solo"})
	f.run(solo, "ship")
	images := len(f.w.Builds())

	// Worker a builds the images that need nothing but setupoe.
	a, bw := f.worker("a"), f.worker("b")
	if err := pipeline.Fetch(ctx, bw, "dom0"); err == nil || !strings.Contains(err.Error(), "needs stubinitramfs, not published") {
		t.Errorf("get for dom0 before stubinitramfs is published: %v", err)
	}
	f.run(a, "installer", "stubinitramfs", "uivm", "ndvm")
	for _, s := range []string{"installer", "stubinitramfs", "uivm", "ndvm"} {
		if err := pipeline.Publish(ctx, a, s); err != nil {
			t.Fatalf("put %s: %v\n%s", s, err, f.w.Out)
		}
	}
	// stage:get on a worker that built every published step fetches nothing.
	mark := f.w.Out.Len()
	if err := pipeline.Fetch(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := f.w.Out.String()[mark:]; !strings.Contains(got, "stage:get: nothing to restore") || strings.Contains(got, "restored:") {
		t.Errorf("get on worker a:\n%s", got)
	}
	// dom0 reads stubinitramfs's image from the deploy dir (the stand-in
	// fails without it, and its bytes are an input of dom0's): worker b
	// restores it and does not build stubinitramfs itself.
	if err := pipeline.Fetch(ctx, bw, "dom0"); err != nil {
		t.Fatalf("get for dom0: %v\n%s", err, f.w.Out)
	}
	stubRel := filepath.Join("images", "xenclient-stubdomain", "xenclient-stubdomain-initramfs-image-xenclient-stubdomain.cpio.gz")
	want, _ := os.ReadFile(filepath.Join(bbconf.BuildDirs(a.Config).Deploy, stubRel))
	if got, err := os.ReadFile(filepath.Join(bbconf.BuildDirs(bw.Config).Deploy, stubRel)); err != nil || len(want) == 0 || !bytes.Equal(got, want) {
		t.Fatalf("stubdomain initramfs on worker b: %v (%d bytes, want %d)", err, len(got), len(want))
	}
	before := len(f.w.Builds())
	if got := statuses(f.run(bw, "dom0", "syncvm", "usbvm")); !strings.Contains(got, "stubinitramfs=done earlier dom0=ok") {
		t.Errorf("worker b: %s", got)
	}
	if n := len(f.w.Builds()) - before; n != 3 {
		t.Errorf("worker b ran bitbake %d times for three images", n)
	}
	for _, s := range []string{"dom0", "syncvm", "usbvm"} {
		if err := pipeline.Publish(ctx, bw, s); err != nil {
			t.Fatalf("put %s: %v\n%s", s, err, f.w.Out)
		}
	}
	if n := len(f.w.Builds()) - images; n != images {
		t.Errorf("the fan-out ran bitbake %d times, the one-host build %d", n, images)
	}
	// Without the restored deploy file dom0 cannot build: get is needed.
	c := f.worker("c")
	if err := pipeline.Fetch(ctx, c, "dom0"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(bbconf.BuildDirs(c.Config).Deploy, stubRel))
	if _, err := pipeline.Run(ctx, c, "dom0"); err == nil || !strings.Contains(f.w.Out.String(), "cp: cannot stat") {
		t.Errorf("dom0 built without the stubdomain initramfs: %v", err)
	}

	// The final builder: collect, then the rest runs without bitbake.
	fin := f.worker("final")
	f.run(fin, "setupoe")
	if err := pipeline.Collect(ctx, fin); err != nil {
		t.Fatalf("collect: %v\n%s", err, f.w.Out)
	}
	before = len(f.w.Calls())
	res := f.run(fin, "ship")
	if len(f.w.Calls()) != before {
		t.Errorf("the final builder ran bitbake: %s", statuses(res))
	}
	if got := statuses(res); !strings.Contains(got, "dom0=done earlier") || !strings.Contains(got, "license=ok") || !strings.Contains(got, "ship=ok") {
		t.Errorf("final builder: %s", got)
	}

	outA, outB := solo.OutDir(), fin.OutDir()
	same := func(rel string) { t.Helper(); standin.SameFile(t, outA, outB, rel) }
	same(manifest.File)
	same("iso/installer.iso")
	same("update/update.tar")
	repo := manifest.Files(filepath.Join(outA, "repository"))
	if len(repo) < 5 {
		t.Fatalf("repository holds %v", repo)
	}
	for _, p := range repo {
		if rel, _ := filepath.Rel(outA, p); !strings.HasSuffix(rel, "XC-SIGNATURE") {
			same(rel)
		}
	}
	// Every worker's buildstats came along for the report.
	for _, s := range []string{"installer", "dom0", "usbvm"} {
		if ents, _ := os.ReadDir(filepath.Join(outB, "buildstats", s)); len(ents) == 0 {
			t.Errorf("no buildstats of %s in the final build", s)
		}
	}

	doc, err := provenance.Verify(filepath.Join(outB, provenance.File), "", filepath.Join(f.w.Work, "keys", "dev-cacert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	workers := doc.Workers()
	for step, w := range map[string]string{"installer": "a", "stubinitramfs": "a", "uivm": "a", "ndvm": "a", "dom0": "b",
		"syncvm": "b", "usbvm": "b", "license": "final", "ship": "final"} {
		if workers[step] != w {
			t.Errorf("provenance: %s built by %q, want %q (all: %v)", step, workers[step], w, workers)
		}
	}
	subj := doc.Subjects()
	if subj["iso/installer.iso"] == "" || subj["raw/dom0-rootfs.ext3.gz"] == "" {
		t.Errorf("provenance subjects %v", subj)
	}

	// The final builder's last step: the build's stage tree goes, and
	// the final build dir keeps what it collected.
	if err := pipeline.Clean(ctx, fin); err != nil {
		t.Fatalf("stage:clean: %v", err)
	}
	if ents, err := os.ReadDir(f.stage); err != nil || len(ents) != 0 {
		t.Errorf("stage holds %v after stage:clean (%v), want nothing", ents, err)
	}
	if !strings.Contains(f.w.Out.String(), "stage:clean: removed "+fin.Plan.Name+" (") {
		t.Errorf("stage:clean did not say what it removed:\n%s", f.w.Out)
	}
	same("iso/installer.iso")
}
