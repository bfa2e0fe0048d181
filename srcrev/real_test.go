package srcrev

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/internal/testenv"
)

// TestRealOpenXTLayers reads the real OpenXT master layers (on dunfell)
// and resolves every AUTOREV source from bare mirrors of the OpenXT
// repositories, xen and varstored, with no network:
//
//	OPENXT_LAYERS="<oe-core>/meta <meta-oe>/meta-oe ... <xenclient-oe>" \
//	SRCREV_GIT_DIR=/work/oe/gitmirrors go test ./srcrev -run Real -v
//
// Every recipe file that says AUTOREV must give at least one pinned
// source, and each pin must be the branch head of its mirror (checked with
// git itself).
func TestRealOpenXTLayers(t *testing.T) {
	list := testenv.NeedEnv(t, "OPENXT_LAYERS", "the OpenXT master layer directories in BBLAYERS order")
	gitDir := testenv.NeedEnv(t, "SRCREV_GIT_DIR", "bare mirrors of the repositories the AUTOREV recipes fetch")
	gitBin := testenv.LookPath(t, "git", "git")
	dirs := strings.Fields(list)
	start := time.Now()
	sc, err := NewScanner(dirs)
	if err != nil {
		t.Fatal(err)
	}
	sc.Set("DISTRO", "openxt-main")
	if err := sc.Distro(); err != nil {
		t.Fatal(err)
	}
	srcs, problems, err := sc.Scan()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scan: %d AUTOREV sources, %d problems in %s", len(srcs), len(problems), time.Since(start).Round(time.Millisecond))
	for _, p := range problems {
		t.Errorf("problem: %v", p)
	}
	// Every file saying AUTOREV (git grep, not our reader) is covered.
	covered := map[string]bool{}
	for _, s := range srcs {
		covered[s.File] = true
		t.Logf("%-28s %-8s %s %s", s.Key(), s.Var, s.URL, s.Branch)
	}
	for _, d := range dirs {
		out, _ := exec.Command(gitBin, "-C", d, "grep", "-lE", `^SRCREV[A-Za-z0-9_]*\s*\??\??=\s*"\$\{AUTOREV\}"`, "--", ".").Output()
		for _, f := range strings.Fields(string(out)) {
			f = filepath.Join(d, f)
			if !strings.HasSuffix(f, ".bb") {
				continue // .inc, .bbappend: through the recipes using them; classes, tests
			}
			if !covered[f] {
				t.Errorf("%s sets SRCREV to AUTOREV but gave no source", f)
			}
		}
	}
	start = time.Now()
	pins, err := Resolve(context.Background(), srcs, Options{GitDir: gitDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resolve: %d pins from %s in %s", len(pins), gitDir, time.Since(start).Round(time.Millisecond))
	for _, p := range pins {
		out, err := exec.Command(gitBin, "--git-dir", p.Mirror, "rev-parse", "refs/heads/"+p.Branch).Output()
		if err != nil || strings.TrimSpace(string(out)) != p.Commit {
			t.Errorf("%s: pinned %s, git rev-parse in %s says %s (%v)", p.Key(), p.Commit, p.Mirror, out, err)
		}
	}
	if os.Getenv("SRCREV_SHOW") != "" {
		for _, p := range pins {
			t.Logf("%s %s %s", p.Key(), p.Commit, p.From)
		}
	}
}
