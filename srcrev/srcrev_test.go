package srcrev

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/internal/gittest"
	"github.com/xtbuild/xtbuild/layers"
)

const fixedRev = "0123456789abcdef0123456789abcdef01234567"

// writeFiles writes a tree of files under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testLayers writes two layers shaped like the real ones: a base layer
// with xen at a fixed revision (as meta-virtualization), and an OpenXT-like
// layer whose .inc, .bbappend and named sources follow branches.
func testLayers(t *testing.T, local string) (base, oxt string) {
	t.Helper()
	root := t.TempDir()
	base, oxt = filepath.Join(root, "meta-base"), filepath.Join(root, "meta-oxt")
	layerConf := "BBPATH .= \":${LAYERDIR}\"\nBBFILES += \"${LAYERDIR}/recipes-*/*/*.bb \\\n    ${LAYERDIR}/recipes-*/*/*.bbappend\"\n"
	writeFiles(t, base, map[string]string{
		"conf/layer.conf": layerConf,
		"recipes-extended/xen/xen_git.bb": "SRCREV ?= \"" + fixedRev + "\"\nXEN_REL ?= \"4.12\"\n" +
			"XEN_BRANCH ?= \"stable-${XEN_REL}\"\nSRC_URI = \"git://xenbits.example.org/xen.git;branch=${XEN_BRANCH}\"\nrequire xen.inc\n",
		"recipes-extended/xen/xen.inc":        "S = \"${WORKDIR}/git\"\n",
		"recipes-core/fixed/fixed_1.0.bb":     "SRC_URI = \"git://example.org/fixed.git;branch=main\"\nSRCREV = \"" + fixedRev + "\"\n",
		"recipes-core/tarball/tarball_1.0.bb": "SRC_URI = \"https://example.org/t.tar.gz\"\n",
	})
	writeFiles(t, oxt, map[string]string{
		"conf/layer.conf":      layerConf,
		"conf/distro/oxt.conf": "OPENXT_GIT_PROTOCOL ?= \"https\"\n",
		// One .inc, two recipes: two pins of one repository.
		"recipes-openxt/idl/idl.inc":                 "SRC_URI = \"git://github.example.org/OpenXT/idl.git;protocol=https\"\nSRCREV = \"${AUTOREV}\"\n",
		"recipes-openxt/idl/xenclient-idl_git.bb":    "require idl.inc\nPV = \"0+git${SRCPV}\"\n",
		"recipes-openxt/idl/xenclient-rpcgen_git.bb": "require recipes-openxt/idl/idl.inc\nBBCLASSEXTEND = \"native nativesdk\"\nBBCLASSEXTEND += \"multilib:lib32 ${EXTRA_EXTEND}\"\n\ndo_install() {\n\tSRCREV=nothing\n}\n",
		// An append turns the base layer's fixed xen into a branch follower.
		"recipes-extended/xen/xen_git.bbappend": "SRCREV = \"${AUTOREV}\"\nXEN_REL = \"4.21\"\n",
		// OpenXT's stable-9 style: variables from local.conf and the distro, two named sources.
		"recipes-openxt/multi/multi_1.0.bb": "SRC_URI = \"git://${OPENXT_GIT_MIRROR}/toolstack.git;protocol=${OPENXT_GIT_PROTOCOL};branch=${OPENXT_BRANCH};name=ts \\\n" +
			"           git://example.org/other.git;name=other;branch=dev \\\n           file://a.patch\"\n" +
			"SRCREV_ts = \"${AUTOREV}\"\nSRCREV_other = \"" + fixedRev + "\"\n",
		"recipes-openxt/weird/weird_git.bb": "SRCREV = \"${AUTOREV}\"\nSRC_URI = \"git://${@d.getVar('HOST')}/w.git\"\n",
	})
	if local != "" {
		writeFiles(t, root, map[string]string{"local.conf": local})
	}
	return base, oxt
}

const testLocal = "DISTRO = \"oxt\"\nOPENXT_GIT_MIRROR = \"github.example.org/OpenXT\"\nOPENXT_BRANCH = \"stable-9\"\n"

func scan(t *testing.T) ([]Source, []Problem) {
	t.Helper()
	base, oxt := testLayers(t, testLocal)
	sc, err := NewScanner([]string{base, oxt})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Conf(filepath.Join(filepath.Dir(base), "local.conf")); err != nil {
		t.Fatal(err)
	}
	if err := sc.Distro(); err != nil {
		t.Fatal(err)
	}
	srcs, problems, err := sc.Scan()
	if err != nil {
		t.Fatal(err)
	}
	return srcs, problems
}

func TestScan(t *testing.T) {
	srcs, problems := scan(t)
	want := []struct{ key, variable, url, branch, repo string }{
		{"multi:ts", "SRCREV_ts", "https://github.example.org/OpenXT/toolstack.git", "stable-9", "toolstack"},
		{"xen", "SRCREV", "git://xenbits.example.org/xen.git", "stable-4.21", "xen"},
		{"xenclient-idl", "SRCREV", "https://github.example.org/OpenXT/idl.git", "master", "idl"},
		{"xenclient-rpcgen", "SRCREV", "https://github.example.org/OpenXT/idl.git", "master", "idl"},
	}
	if len(srcs) != len(want) {
		t.Fatalf("sources %+v\nwant %d", srcs, len(want))
	}
	for i, w := range want {
		s := srcs[i]
		if s.Key() != w.key || s.Var != w.variable || s.URL != w.url || s.Branch != w.branch || s.Repo != w.repo {
			t.Errorf("source %d = %+v, want %+v", i, s, w)
		}
	}
	// BitBake makes one recipe per BBCLASSEXTEND entry, each with its own
	// PN: the pin must reach them all (real xenclient-rpcgen is native too).
	if got, want := strings.Join(srcs[3].PNs(), " "), "xenclient-rpcgen xenclient-rpcgen-native nativesdk-xenclient-rpcgen lib32-xenclient-rpcgen"; got != want {
		t.Errorf("xenclient-rpcgen PNs %q, want %q", got, want)
	}
	if got := strings.Join(srcs[2].PNs(), " "); got != "xenclient-idl" {
		t.Errorf("xenclient-idl PNs %q, want just itself", got)
	}
	if srcs[1].FetchURL != "git://xenbits.example.org/xen.git" {
		t.Errorf("xen fetch URL %s", srcs[1].FetchURL)
	}
	if len(problems) != 1 || problems[0].Recipe != "weird" || !strings.Contains(problems[0].Msg, "[srcrev]") {
		t.Errorf("problems %v, want one for weird saying to pin it", problems)
	}
}

// mirrors makes bare mirrors <name>.git under a git dir, as the poller
// keeps them, each with one branch.
func mirrors(t *testing.T, branches map[string]string) (gitDir string, work map[string]*gittest.Repo) {
	t.Helper()
	gitDir = t.TempDir()
	work = map[string]*gittest.Repo{}
	for name, branch := range branches {
		r := gittest.New(t, filepath.Join(t.TempDir(), name), branch)
		r.Commit("README", name+"\n", "first")
		gittest.Git(t, gitDir, "clone", "-q", "--mirror", r.Dir, name+".git")
		work[name] = r
	}
	return gitDir, work
}

func TestResolveFromMirrors(t *testing.T) {
	srcs, _ := scan(t)
	gitDir, work := mirrors(t, map[string]string{"idl": "master", "xen": "stable-4.21", "toolstack": "stable-9"})
	// A second branch in the xen mirror must not be taken.
	work["xen"].Commit("x", "other\n", "on master")
	gittest.Git(t, work["xen"].Dir, "checkout", "-q", "-b", "master")
	work["xen"].Commit("y", "master\n", "master only")
	gittest.Git(t, filepath.Join(gitDir, "xen.git"), "fetch", "-q", work["xen"].Dir, "+refs/heads/*:refs/heads/*")

	pins, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 4 {
		t.Fatalf("pins %+v", pins)
	}
	for _, p := range pins {
		want := gittest.Git(t, p.Mirror, "rev-parse", "refs/heads/"+p.Branch)
		if p.Commit != want || p.From != FromMirror || p.Mirror != filepath.Join(gitDir, p.Repo+".git") {
			t.Errorf("%s: %+v, want commit %s from the mirror", p.Key(), p, want)
		}
	}

	// [srcrev] wins over the branch head and may pin a recipe the scan did
	// not find.
	pins, err = Resolve(context.Background(), srcs, Options{GitDir: gitDir, Overrides: map[string]string{"xen": fixedRev, "linux-foo": fixedRev}})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Pin{}
	for _, p := range pins {
		byKey[p.Key()] = p
	}
	if p := byKey["xen"]; p.Commit != fixedRev || p.From != FromConfig {
		t.Errorf("override of xen: %+v", p)
	}
	if p := byKey["linux-foo"]; p.Commit != fixedRev || p.Var != "SRCREV" {
		t.Errorf("override of an unscanned recipe: %+v", p)
	}
	if _, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir, Overrides: map[string]string{"xen": "main"}}); err == nil || !strings.Contains(err.Error(), "commit id") {
		t.Errorf("branch name as override: %v", err)
	}

	// A missing mirror without network is an error naming the recipe.
	if err := os.RemoveAll(filepath.Join(gitDir, "toolstack.git")); err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(context.Background(), srcs, Options{GitDir: gitDir})
	if err == nil || !strings.Contains(err.Error(), "multi:ts") || !strings.Contains(err.Error(), "toolstack.git") {
		t.Errorf("missing mirror: %v", err)
	}
}

// TestResolveNetwork lists a remote's branches with go-git (the
// repository is reached over file://, the transport a test can have).
func TestResolveNetwork(t *testing.T) {
	r := gittest.New(t, filepath.Join(t.TempDir(), "upstream"), "dev")
	head := r.Commit("a", "a\n", "a")
	src := Source{Recipe: "up", Name: "default", Var: "SRCREV", URL: "file://" + r.Dir, Branch: "dev", Repo: "upstream"}
	pins, err := Resolve(context.Background(), []Source{src}, Options{Network: true})
	if err != nil {
		t.Fatal(err)
	}
	if pins[0].Commit != head || pins[0].From != FromNetwork {
		t.Errorf("pin %+v, want %s", pins[0], head)
	}
	src.Branch = "gone"
	if _, err := Resolve(context.Background(), []Source{src}, Options{Network: true}); err == nil || !strings.Contains(err.Error(), "no branch gone") {
		t.Errorf("missing branch: %v", err)
	}
}

func TestLockedRefusesDrift(t *testing.T) {
	srcs, _ := scan(t)
	gitDir, work := mirrors(t, map[string]string{"idl": "master", "xen": "stable-4.21", "toolstack": "stable-9"})
	pins, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir})
	if err != nil {
		t.Fatal(err)
	}
	lock := Locked(pins)
	// Upstream moves on; the locked build stays where the lock says.
	work["idl"].Commit("b", "b\n", "moved")
	gittest.Git(t, filepath.Join(gitDir, "idl.git"), "fetch", "-q", work["idl"].Dir, "+refs/heads/*:refs/heads/*")
	locked, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir, Locked: true, Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	for i := range locked {
		if locked[i].Commit != pins[i].Commit || locked[i].From != FromLock {
			t.Errorf("%s: locked %s (%s), lock has %s", locked[i].Key(), locked[i].Commit, locked[i].From, pins[i].Commit)
		}
	}
	unlocked, _ := Resolve(context.Background(), srcs, Options{GitDir: gitDir})
	if unlocked[2].Key() != "xenclient-idl" || unlocked[2].Commit == pins[2].Commit {
		t.Fatalf("unlocked resolution did not follow the branch: %+v", unlocked[2])
	}

	drift := []struct {
		name string
		lock func([]layers.LockedSrcrev) []layers.LockedSrcrev
		over map[string]string
		want string
	}{
		{"recipe missing from the lock", func(l []layers.LockedSrcrev) []layers.LockedSrcrev { return l[1:] }, nil, "no commit for it"},
		{"branch changed", func(l []layers.LockedSrcrev) []layers.LockedSrcrev { l[1].Branch = "stable-4.20"; return l }, nil, "branch stable-4.21"},
		{"lock entry no layer has", func(l []layers.LockedSrcrev) []layers.LockedSrcrev {
			return append(l, layers.LockedSrcrev{Recipe: "gone", Commit: fixedRev})
		}, nil, "gone is in xtbuild.lock"},
		{"override differs from the lock", func(l []layers.LockedSrcrev) []layers.LockedSrcrev { return l }, map[string]string{"xen": fixedRev}, "[srcrev] says"},
	}
	for _, d := range drift {
		t.Run(d.name, func(t *testing.T) {
			l := d.lock(append([]layers.LockedSrcrev(nil), lock...))
			_, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir, Locked: true, Lock: l, Overrides: d.over})
			if err == nil || !strings.Contains(err.Error(), d.want) {
				t.Fatalf("err = %v, want %q", err, d.want)
			}
		})
	}
}

func TestStoreOperations(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.conf": `A = "1"
A += "2"
A =+ "0"
A .= "x"
A:append = " ap"
A_prepend = "pre "
B ??= "weak"
C ??= "weak"
C ?= "set"
C ?= "ignored"
D = "${A}-${B}"
E := "${B}"
B = "strong"
F = "a b c"
F:remove = "b"
export G = "g"
G[doc] = "flag, not a value"
H = "${@oe.utils.conditional('C', 'set', 'yes', 'no', d)}"
python do_x() {
    J = "not a statement"
}
`})
	s := newStore()
	if err := (&parser{}).file(s, filepath.Join(dir, "a.conf")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"A": "pre 0 1 2x ap", "B": "strong", "C": "set", "D": "pre 0 1 2x ap-strong", "E": "weak",
		"F": "a c", "G": "g", "H": "yes",
	} {
		if got, _ := s.get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := s.get("J"); ok {
		t.Error("a function body was read as assignments")
	}
}
