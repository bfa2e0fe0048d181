// Package testenv is the one place tests decide what to do when a real
// tool they need is missing.
//
// CI runs `bash .ci/run`, which installs every tool the tests use and sets
// CI=true itself. There a missing tool is a broken CI script, so the test
// fails. On a developer's machine the test skips and says which package to
// install, so the skip shows in `go test -v` output and is never silent.
//
// Some peers cannot be in CI at all (real BitBake and the upstream layers,
// which only the developers' fetch brings). Tests that need them call
// NeedEnv: they skip everywhere, CI included, naming the variable that
// would enable them.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, which .ci/run signals with
// CI=true. Every guard reads CI through this function and no other way.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops the test because something it needs is absent: a failure
// under CI, a skip (with the reason) elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI (CI=true), install it in .ci/run: "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}

// LookPath returns the path of the named program, or stops the test as
// Missing does. pkg names the Debian package that provides it.
func LookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found (apt-get install %s)", name, pkg)
	}
	return p
}

// NeedFile stops the test as Missing does when path does not exist.
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s not found (apt-get install %s)", path, pkg)
	}
}

// NeedEnv returns the value of the environment variable name, or skips the
// test (in CI too) saying what it needs: for peers CI cannot have, such as
// real BitBake and the upstream layer clones (docs/real-bitbake.md).
func NeedEnv(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("skipped: %s not set (%s; cannot run in CI)", name, what)
	}
	return v
}
