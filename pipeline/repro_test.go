package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/config"
	"github.com/xtbuild/xtbuild/internal/standin"
	"github.com/xtbuild/xtbuild/internal/testenv"
	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/provenance"
	"github.com/xtbuild/xtbuild/signing"
)

// fullBuild is the whole OpenXT chain through ship, signed with real
// development keys kept apart from the stand-in CA files setupoe checks.
const fullBuild = standin.DevSigningTOML

// Two builds of the same lock into two fresh directories, with no
// SOURCE_DATE_EPOCH anywhere, give byte-identical media, repository and
// manifest: every date comes from the lock, never from the clock.
func TestTwoBuildsOfOneLockAreIdentical(t *testing.T) {
	for _, tool := range []string{"xorriso", "mkfs.fat", "mcopy", "mmd"} {
		testenv.LookPath(t, tool, "xorriso dosfstools mtools")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	os.Unsetenv("SOURCE_DATE_EPOCH")
	w := newWorld(t, fullBuild)
	steps := []string{"ship"} // and everything it depends on: every image, the licences
	if err := signing.GenerateKeys(context.Background(), filepath.Join(w.Work, "keys"), signing.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	first := w.Env(config.Options{})
	if _, err := Run(context.Background(), first, steps...); err != nil {
		t.Fatalf("first build: %v\n%s", err, w.Out)
	}
	if first.Date.IsZero() {
		t.Fatal("no build date after setupoe")
	}

	// The second directory gets the same config, lock and keys, nothing else.
	second := filepath.Join(w.Root, "second")
	for _, f := range []string{"xtbuild.toml", "xtbuild.lock", "keys/prod-cacert.pem", "keys/dev-cacert.pem",
		"keys/dev-signing-cert.pem", "keys/dev-signing-key.pem"} {
		data, err := os.ReadFile(filepath.Join(w.Work, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(second, f)), 0o755)
		if err := os.WriteFile(filepath.Join(second, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(second, "xtbuild.toml"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	b := w.Env(config.Options{Locked: true})
	b.Config = c
	if _, err := Run(context.Background(), b, steps...); err != nil {
		t.Fatalf("second build: %v\n%s", err, w.Out)
	}
	if !b.Date.Equal(first.Date) {
		t.Fatalf("build dates %v and %v from one lock", first.Date, b.Date)
	}

	outA, outB := first.OutDir(), b.OutDir()
	if outA == outB {
		t.Fatal("both builds wrote to one directory")
	}
	same := func(rel string) {
		t.Helper()
		a, errA := os.ReadFile(filepath.Join(outA, rel))
		bb, errB := os.ReadFile(filepath.Join(outB, rel))
		if errA != nil || errB != nil {
			t.Errorf("%s: %v / %v", rel, errA, errB)
			return
		}
		if !bytes.Equal(a, bb) {
			t.Errorf("%s differs between two builds of one lock (%d and %d bytes)", rel, len(a), len(bb))
		}
	}
	same("iso/installer.iso")
	same("update/update.tar")
	same(manifest.File)
	repo := manifest.Files(filepath.Join(outA, "repository"))
	if len(repo) < 5 {
		t.Fatalf("repository holds %v", repo)
	}
	for _, f := range repo {
		rel, _ := filepath.Rel(outA, f)
		if !strings.HasSuffix(rel, "XC-SIGNATURE") {
			same(rel)
		}
	}
	m, err := manifest.Read(filepath.Join(outA, manifest.File))
	if err != nil {
		t.Fatal(err)
	}
	var shipped bool
	for _, a := range m.Artifacts {
		shipped = shipped || a.Path == "iso/installer.iso"
	}
	if !shipped {
		t.Errorf("the manifest does not list the ISO: %+v", m.Artifacts)
	}
}

// Buildbot runs the step targets one by one; each run leaves a signed
// provenance that covers everything built so far.
func TestStepByStepLeavesSignedProvenance(t *testing.T) {
	w := newWorld(t, fullBuild)
	keys := filepath.Join(w.Work, "keys")
	if err := signing.GenerateKeys(context.Background(), keys, signing.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	prov := filepath.Join(w.OutDir(), provenance.File)
	for i, step := range []string{"setupoe", "dom0", "uivm"} {
		// A fresh build context per step target, as separate processes have.
		if _, err := Run(context.Background(), w.Env(config.Options{}), step); err != nil {
			t.Fatalf("%s: %v\n%s", step, err, w.Out)
		}
		if i == 0 {
			if _, err := os.Stat(prov); err == nil {
				t.Error("setupoe alone wrote a provenance: nothing is built yet")
			}
			continue
		}
		doc, err := provenance.Verify(prov, "", filepath.Join(keys, "dev-cacert.pem"))
		if err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
		subj := doc.Subjects()
		if subj["raw/dom0-rootfs.ext3.gz"] == "" || (step == "uivm") != (subj["raw/uivm-rootfs.ext3.vhd.gz"] != "") {
			t.Errorf("after %s the provenance's subjects are %v", step, subj)
		}
		// The steps cover the earlier step targets' artifacts too, so a
		// rebuild from this provenance builds all of them.
		want := "setupoe,stubinitramfs,dom0"
		if step == "uivm" {
			want = "setupoe,stubinitramfs,dom0,uivm"
		}
		if got := strings.Join(doc.Steps(), ","); got != want {
			t.Errorf("after %s the provenance records steps %s, want %s", step, got, want)
		}
	}
}
