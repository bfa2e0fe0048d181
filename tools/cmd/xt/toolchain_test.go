package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xtbuild/xtbuild/tools/internal/testenv"
)

// oldestGo is the oldest Go toolchain an OE release we build the tools with
// ships: scarthgap (Yocto 5.0) released with go_1.22.2.bb (oe-core tag
// yocto-5.0; later point releases moved to 1.22.5, 1.22.8, 1.22.12). The
// tools module's go directive must not ask for more than this.
const (
	oldestGo        = "go1.22.2"
	goDirective     = "1.22"
	toolsModulePath = "github.com/xtbuild/xtbuild/tools"
)

// moduleRoot is the tools module's directory (this package is tools/cmd/xt).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGoModDirective pins the module path and go directive the OE recipes
// rely on; raising either needs the recipes and this test's toolchain moved
// together.
func TestGoModDirective(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(b)
	if mod == nil || string(mod[1]) != toolsModulePath {
		t.Errorf("tools/go.mod module = %q, want %s", mod, toolsModulePath)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if goLine == nil || string(goLine[1]) != goDirective {
		t.Errorf("tools/go.mod go directive = %q, want %s (the Go scarthgap ships)", goLine, goDirective)
	}
	if regexp.MustCompile(`(?m)^toolchain `).Match(b) {
		t.Errorf("tools/go.mod has a toolchain line: OE's go would try to fetch it")
	}
}

// TestBuildsWithOldestGo compiles the whole tools module, on its own (no
// go.work), with the oldest Go a supported OE release ships. The toolchain
// comes from the Go module proxy (GOTOOLCHAIN=go1.22.2); when it cannot be
// had, the test is Missing (a failure under CI). Skipped with -short.
func TestBuildsWithOldestGo(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the module with " + oldestGo + "; skipped with -short")
	}
	root := moduleRoot(t)
	env := append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN="+oldestGo, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	ver := exec.Command("go", "version")
	ver.Dir, ver.Env = root, env
	out, err := ver.CombinedOutput()
	if err != nil {
		testenv.Missing(t, "Go toolchain %s not available from the Go proxy: %v\n%s", oldestGo, err, out)
	}
	if !strings.Contains(string(out), "go version "+oldestGo+" ") {
		t.Fatalf("GOTOOLCHAIN=%s runs %q", oldestGo, strings.TrimSpace(string(out)))
	}
	build := exec.Command("go", "build", "./...")
	build.Dir, build.Env = root, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOWORK=off GOTOOLCHAIN=%s go build ./... in %s: %v\n%s", oldestGo, root, err, out)
	}
	// Tests compile too (vet type-checks them), so a test helper newer than
	// the release's Go (t.Context, b.Loop) is caught here, not by a user.
	vet := exec.Command("go", "vet", "./...")
	vet.Dir, vet.Env = root, env
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("GOWORK=off GOTOOLCHAIN=%s go vet ./...: %v\n%s", oldestGo, err, out)
	}
}
