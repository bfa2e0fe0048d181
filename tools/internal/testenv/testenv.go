// Package testenv decides, for the tools module's tests, what happens when a
// real tool they need (swtpm, tcsd, tpm-tools, a Go toolchain) is missing.
//
// It has the same semantics as the main module's internal/testenv: under CI
// (CI=true, set by .ci/run, which installs every tool the tests use) a
// missing tool fails the test; elsewhere the test skips and names the
// package to install, so the skip shows in `go test -v` and is never silent.
//
// It is a copy rather than an import because the tools are a separate Go
// module (github.com/xtbuild/xtbuild/tools, built by OE releases with an
// older Go): a module cannot import another module's internal packages,
// and the tools module must not depend on the build-host module at all.
// Keep the two in step; both are a few lines.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
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
