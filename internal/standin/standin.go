// Package standin provides the stand-in bitbake (steps/testdata/fakebitbake)
// to tests of every package that runs builds: BitBake itself cannot run
// here. It builds the program once per test binary and makes the upstream
// "bitbake repository" whose bin/bitbake runs it.
package standin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/xtbuild/xtbuild/internal/gittest"
)

// Build compiles the stand-in bitbake into dir and returns its path.
func Build(dir string) (string, error) {
	_, here, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(here), "..", "..", "steps", "testdata", "fakebitbake")
	bin := filepath.Join(dir, "fakebitbake")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build stand-in bitbake: %v\n%s", err, out)
	}
	return bin, nil
}

// BitbakeRepo makes an upstream bitbake repository (branch 2.8) at dir
// whose bin/bitbake execs the stand-in named by $XTBUILD_FAKE_BITBAKE.
func BitbakeRepo(t testing.TB, dir string) *gittest.Repo {
	t.Helper()
	bb := gittest.New(t, dir, "2.8")
	bb.Commit("lib/bb/__init__.py", "__version__ = \"2.8.0\"\n", "version")
	bb.Commit("bin/bitbake", "#!/bin/sh\n# stand-in: runs the test's fake bitbake as this checkout\nXTBUILD_FAKE_BITBAKE_DIR=$(cd \"$(dirname \"$0\")/..\" && pwd)\nexport XTBUILD_FAKE_BITBAKE_DIR\nexec \"$XTBUILD_FAKE_BITBAKE\" \"$@\"\n", "stand-in bitbake")
	gittest.Git(t, bb.Dir, "update-index", "--chmod=+x", "bin/bitbake")
	gittest.Git(t, bb.Dir, "commit", "-q", "-m", "exec bit")
	return bb
}

// Setenv points bitbake runs at the stand-in, records its invocations in
// record, and clears the failure and delay knobs.
func Setenv(t testing.TB, bin, record string) {
	t.Setenv("XTBUILD_FAKE_BITBAKE", bin)
	t.Setenv("XTBUILD_FAKE_RECORD", record)
	t.Setenv("XTBUILD_FAKE_FAIL", "")
	t.Setenv("XTBUILD_FAKE_TASK_MS", "")
}

// Main is a TestMain body: build the stand-in into a temp dir, store its
// path in *bin, run the tests, clean up.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "xtbuild-standin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
