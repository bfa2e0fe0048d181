package provenance_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/manifest"
	"github.com/xtbuild/xtbuild/pipeline"
	. "github.com/xtbuild/xtbuild/provenance"

	"github.com/xtbuild/xtbuild/layers"
)

// The provenance of a stand-in build passes the in-toto and SLSA
// validators, records every artifact, layer, mirror file and the ACM, and
// its signature verifies with the openssl CLI.
func TestProvenanceOfStandInBuild(t *testing.T) {
	w := newWorld(t)
	prov := w.build()
	if prov != filepath.Join(w.outDir(), File) {
		t.Fatalf("provenance at %s", prov)
	}
	if err := opensslVerify(t, prov, prov+SignatureSuffix, w.keys.DevCACert); err != nil {
		t.Fatalf("openssl smime -verify: %v", err)
	}
	doc, err := Verify(prov, "", w.keys.DevCACert)
	if err != nil {
		t.Fatal(err)
	}
	// The validators of the field's own library, on the parsed file.
	if err := doc.Statement.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := doc.Provenance.Validate(); err != nil {
		t.Fatal(err)
	}
	m, _ := manifest.Read(filepath.Join(w.outDir(), manifest.File))
	subj := doc.Subjects()
	if len(subj) != len(m.Artifacts) || len(subj) < 4 {
		t.Fatalf("subjects %v, manifest %d artifacts", subj, len(m.Artifacts))
	}
	for _, a := range m.Artifacts {
		if subj[a.Path] != a.SHA256 {
			t.Errorf("subject %s: %s, manifest %s", a.Path, subj[a.Path], a.SHA256)
		}
	}
	c := w.config()
	lock, _ := layers.ReadLock(c.LockFile())
	for _, l := range lock.Layers {
		dep := doc.Dependency(PrefixLayer + l.Name)
		if dep == nil || dep.GetDigest()["gitCommit"] != l.Commit || dep.GetUri() != "git+file://"+l.URL {
			t.Errorf("layer %s: %v", l.Name, dep)
		}
	}
	lockData, _ := os.ReadFile(c.LockFile())
	if dep := doc.Dependency(LockResource); dep == nil || !bytes.Equal(dep.GetContent(), lockData) {
		t.Error("lock file not recorded byte for byte")
	}
	if dep := doc.Dependency(PrefixACM + acmName); dep == nil || dep.GetDigest()["sha256"] != c.ACMs[0].SHA256 {
		t.Errorf("ACM %v", dep)
	}
	if dep := doc.Dependency(PrefixMirror + "busybox-1.36.1.tar.bz2"); dep == nil || dep.GetDigest()["sha256"] != sum([]byte("stand-in busybox source\n")) {
		t.Errorf("mirror file %v", dep)
	}
	if doc.Dependency(PrefixMirror+acmName) != nil {
		t.Error("ACM listed twice")
	}
	if doc.Dependency(PrefixCert+"dev_ca_cert") == nil {
		t.Error("dev CA certificate not recorded")
	}
	if doc.External("configSha256") != c.Source.Hash || doc.External("config") != string(c.Canonical()) || doc.Name() != "openxt-dev-42-master" {
		t.Errorf("config in provenance: %s", doc.External("configSha256"))
	}
	if strings.Join(doc.Steps(), ",") != "setupoe,stubinitramfs,installer" {
		t.Errorf("steps %v", doc.Steps())
	}
	v := doc.Provenance.GetRunDetails().GetBuilder().GetVersion()
	if v["bitbake"] != "2.8.0" || v["xtbuild"] != "v0.1.0-test" || v["distro"] == "" || v["kernel"] == "" {
		t.Errorf("builder facts %v", v)
	}
	md := doc.Provenance.GetRunDetails().GetMetadata()
	if !md.GetFinishedOn().AsTime().After(md.GetStartedOn().AsTime()) {
		t.Errorf("times %v %v", md.GetStartedOn(), md.GetFinishedOn())
	}
	plan := doc.Provenance.GetBuildDefinition().GetInternalParameters().GetFields()["plan"].GetListValue().GetValues()
	if len(plan) != 3 || plan[2].GetStructValue().GetFields()["machine"].GetStringValue() != "openxt-installer" {
		t.Errorf("plan %v", plan)
	}
}

// One changed commit breaks the signature: Verify, openssl and Rebuild
// all refuse the file.
func TestTamperedProvenanceIsRefused(t *testing.T) {
	w := newWorld(t)
	prov := w.build()
	data, _ := os.ReadFile(prov)
	lock, _ := layers.ReadLock(w.config().LockFile())
	commit := lock.Layers[1].Commit
	forged := strings.Repeat("0", 40)
	tampered := bytes.Replace(data, []byte(`"gitCommit": "`+commit+`"`), []byte(`"gitCommit": "`+forged+`"`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("commit not found in provenance")
	}
	os.WriteFile(prov, tampered, 0o644)
	if _, err := Verify(prov, "", w.keys.DevCACert); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify: %v", err)
	}
	if err := opensslVerify(t, prov, prov+SignatureSuffix, w.keys.DevCACert); err == nil {
		t.Fatal("openssl accepted the tampered file")
	}
	before := w.bitbakeCalls()
	_, err := pipeline.Rebuild(context.Background(), w.env(), prov, filepath.Join(w.root, "rebuild"), RebuildOptions{CAFile: w.keys.DevCACert}, nil)
	if !errors.Is(err, ErrSignature) || w.bitbakeCalls() != before {
		t.Fatalf("Rebuild: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.root, "rebuild", "xtbuild.toml")); err == nil {
		t.Error("rebuild wrote a tree from a refused provenance")
	}
}

// A rebuild from the provenance alone, in a fresh directory with only the
// local upstream repositories and the mirror, gives the same manifest byte
// for byte.
func TestRebuildFromProvenanceGivesIdenticalManifest(t *testing.T) {
	w := newWorld(t)
	prov := w.build()
	// Only the provenance, its signature and the trusted CA leave the
	// original tree.
	elsewhere := filepath.Join(w.root, "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	for _, f := range []string{prov, prov + SignatureSuffix, w.keys.DevCACert} {
		data, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(elsewhere, filepath.Base(f)), data, 0o644)
	}
	mirrorCopy := filepath.Join(w.root, "mirror-copy")
	copyTree(t, filepath.Join(w.work, "mirror"), mirrorCopy)
	fresh := filepath.Join(w.root, "fresh")
	before := w.bitbakeCalls()
	res, err := pipeline.Rebuild(context.Background(), w.env(), filepath.Join(elsewhere, File), fresh, RebuildOptions{
		CAFile: filepath.Join(elsewhere, "dev-cacert.pem"), MirrorDir: mirrorCopy,
	}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if w.bitbakeCalls()-before != 2 {
		t.Errorf("rebuild ran bitbake %d times", w.bitbakeCalls()-before)
	}
	orig, _ := os.ReadFile(filepath.Join(w.outDir(), manifest.File))
	again, err := os.ReadFile(filepath.Join(fresh, "build-output", "openxt-dev-42-master", manifest.File))
	if err != nil || !bytes.Equal(orig, again) {
		t.Fatalf("manifests differ (%v):\n%s\n---\n%s", err, orig, again)
	}
	if !res.Report.Identical || res.Report.Compared < 4 {
		t.Errorf("report %s", res.Report.Text())
	}
	if _, err := os.Stat(filepath.Join(fresh, "mirror", acmName)); err != nil {
		t.Error("ACM not restored into the rebuilt mirror")
	}
	// The trees compare identical too, member by member where it matters.
	r, err := Compare(context.Background(), w.outDir(), filepath.Join(fresh, "build-output", "openxt-dev-42-master"))
	if err != nil || !r.Identical {
		t.Errorf("compare: %v %s", err, r.Text())
	}
	// And the rebuild's own provenance names the same subjects.
	if r, err := Compare(context.Background(), prov, res.Provenance); err != nil || !r.Identical {
		t.Errorf("provenance compare: %v %s", err, r.Text())
	}
}

// A locked commit that upstream no longer has stops the rebuild in
// setupoe, naming the commit, before bitbake runs.
func TestRebuildRefusesCommitThatCannotBeFetched(t *testing.T) {
	w := newWorld(t)
	prov := w.build()
	lock, _ := layers.ReadLock(w.config().LockFile())
	gone := lock.Layers[1].Commit
	// Upstream rewrites history: the locked commit disappears.
	runGit(t, w.layer.Dir, "reset", "-q", "--hard", "HEAD~1")
	runGit(t, w.layer.Dir, "commit", "-q", "--allow-empty", "-m", "rewritten")
	runGit(t, w.layer.Dir, "reflog", "expire", "--expire=now", "--all")
	runGit(t, w.layer.Dir, "gc", "-q", "--prune=now")
	before := w.bitbakeCalls()
	_, err := pipeline.Rebuild(context.Background(), w.env(), prov, filepath.Join(w.root, "fresh"), RebuildOptions{CAFile: w.keys.DevCACert, MirrorDir: filepath.Join(w.work, "mirror")}, nil)
	if err == nil || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "setupoe") {
		t.Fatalf("error %v", err)
	}
	if w.bitbakeCalls() != before {
		t.Error("bitbake ran")
	}
}

// A mirror file whose bytes changed is refused, naming it; a missing ACM
// is refused with where to get it.
func TestRebuildRefusesMirrorMismatch(t *testing.T) {
	w := newWorld(t)
	prov := w.build()
	bad := filepath.Join(w.root, "bad-mirror")
	copyTree(t, filepath.Join(w.work, "mirror"), bad)
	os.WriteFile(filepath.Join(bad, "busybox-1.36.1.tar.bz2"), []byte("Stand-in busybox source\n"), 0o644)
	_, err := pipeline.Rebuild(context.Background(), w.env(), prov, filepath.Join(w.root, "fresh1"), RebuildOptions{CAFile: w.keys.DevCACert, MirrorDir: bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "busybox-1.36.1.tar.bz2 has sha256") {
		t.Fatalf("error %v", err)
	}
	os.Remove(filepath.Join(bad, acmName))
	os.WriteFile(filepath.Join(bad, "busybox-1.36.1.tar.bz2"), []byte("stand-in busybox source\n"), 0o644)
	_, err = pipeline.Rebuild(context.Background(), w.env(), prov, filepath.Join(w.root, "fresh2"), RebuildOptions{CAFile: w.keys.DevCACert, MirrorDir: bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "ACM "+acmName) || !strings.Contains(err.Error(), "intel.com") {
		t.Fatalf("error %v", err)
	}
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.org", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, _ := os.ReadFile(p)
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}

// A board build (the board's own step, build dir and lock, shared clones)
// records its board; the rebuild re-derives the board from the main config
// and reproduces the manifest.
func TestBoardBuildProvenanceAndRebuild(t *testing.T) {
	w := newWorld(t)
	f := filepath.Join(w.work, "xtbuild.toml")
	data, _ := os.ReadFile(f)
	board := `
[boards.standin]
machine = "openxt-installer"
image = "xenclient-installer-image"
tools = ["tpm", "txt"]
artifacts = [{ from = "images/{machine}/tboot.gz", to = "boot/" }]
`
	os.WriteFile(f, append(data, board...), 0o644)
	c := w.config()
	d, err := c.ForBoard("standin")
	if err != nil {
		t.Fatal(err)
	}
	e := w.env()
	e.Config, e.Main, e.Board = d, c, "standin"
	if _, err := pipeline.Run(context.Background(), e); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	prov := filepath.Join(w.work, "build-output", "openxt-dev-42-master-standin", File)
	if _, err := os.Stat(prov); err != nil {
		t.Fatalf("board build left no provenance: %v", err)
	}
	if prov != filepath.Join(w.work, "build-output", "openxt-dev-42-master-standin", File) {
		t.Errorf("provenance at %s", prov)
	}
	// The board shares the main build's clones.
	if _, err := os.Stat(filepath.Join(w.work, "build", "repos", "xenclient-oe", ".git")); err != nil {
		t.Errorf("clones not shared: %v", err)
	}
	doc, err := ReadFile(prov)
	if err != nil {
		t.Fatal(err)
	}
	subj := doc.Subjects()
	if doc.Board() != "standin" || subj["raw/image/xenclient-installer-image-openxt-installer.cpio.gz"] == "" || subj["raw/boot/tboot.gz"] == "" {
		t.Fatalf("board %q subjects %v", doc.Board(), subj)
	}
	fresh := filepath.Join(w.root, "fresh")
	res, err := pipeline.Rebuild(context.Background(), w.env(), prov, fresh, RebuildOptions{AllowUnsigned: true, MirrorDir: filepath.Join(w.work, "mirror")}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	orig, _ := os.ReadFile(filepath.Join(filepath.Dir(prov), manifest.File))
	again, _ := os.ReadFile(filepath.Join(fresh, "build-output", "openxt-dev-42-master-standin", manifest.File))
	if !bytes.Equal(orig, again) || !res.Report.Identical {
		t.Errorf("manifests differ:\n%s\n---\n%s", orig, again)
	}
	if _, err := os.Stat(filepath.Join(fresh, "xtbuild-standin.lock")); err != nil {
		t.Errorf("board lock not restored: %v", err)
	}
}
